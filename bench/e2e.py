#!/usr/bin/python3
"""End-to-end throughput comparison on one large synthetic capture.

Generates (or reuses, cached in the build directory) a capture of at least
4M packets with over 100k concurrently active flows, then times, on that
same file:

  floor       pcap_read: a bare libpcap read loop (the fastest any
              libpcap-based reader can be)
  softflowd   softflowd -r FILE ... exporting IPFIX to a local UDP sink
  ws-1w/2w    wirescope -r FILE --workers N --ipfix udp://127.0.0.1:PORT
              (nDPI application classification on, the default)
  ws-1w-nondpi  the same, one worker, --no-ndpi
  ws-Nw-noexport  wirescope -r FILE --workers N with no output at all,
              nDPI on: the like of ndpiReader -q, which exports nothing
  ndpiReader  ndpiReader -i FILE -q (the same libndpi, its own flow table)
  ws-1w-rules the same, one worker, with --rules FILE... loaded (-S); the
              figure is Gbit/s per worker (target >= 1 with ET Open)

Every exporter sends to a UDP socket on 127.0.0.1 that this script reads and
discards. Each run is repeated --repeat times and the best wall time kept.
With --pin auto (the default) each wirescope worker is pinned to a CPU of its
own (--worker-cpus, the placement the README recommends for throughput) when
the script may use at least as many CPUs as there are workers.
Prints Mpps per run and the ratios against the targets:

  wirescope-1w / softflowd   >= 20   (throughput)
  floor time / ws-1w time    >= 0.5  (within 2x of the bare read loop)
  ws-2w / ws-1w              >= 1.7  (scaling to two workers)
  ws-Nw-noexport / ndpiReader  >= 10 (classification included, no export
                             on either side; the IPFIX runs are also shown)
  ws-1w / ws-1w-nondpi       reported: the throughput kept with nDPI on

Exit status: 0 when every run succeeded (targets are reported, and only
enforced with --enforce), 1 on a failed run or, with --enforce, a missed
target, 77 (meson's "skipped") when the wirescope binary is not built.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time


class UdpSink:
    """Reads and discards datagrams on 127.0.0.1:<ephemeral port>."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        except OSError:
            pass
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.datagrams = 0
        self.bytes = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            self.datagrams += 1
            self.bytes += len(data)

    def reset(self):
        self.datagrams = 0
        self.bytes = 0

    def close(self):
        self._stop = True
        self._thread.join(timeout=2)
        self.sock.close()


def timed(cmd, timeout):
    """Runs cmd; returns (seconds, stdout, stderr, returncode)."""
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return time.monotonic() - t0, r.stdout, r.stderr, r.returncode


def ensure_capture(args):
    """Generates the capture unless a cached one for the same config exists."""
    name = f"e2e-p{args.packets}-f{args.flows}-s{args.seed}"
    cache = args.cache_dir
    os.makedirs(cache, exist_ok=True)
    pcap = os.path.join(cache, name + ".pcap")
    truth = os.path.join(cache, name + ".truth.json")
    if os.path.exists(pcap) and os.path.exists(truth):
        t = json.load(open(truth))
        if t.get("packets") == args.packets and os.path.getsize(pcap) > 24:
            print(f"capture: reusing {pcap}")
            return pcap, t
    print(f"capture: generating {pcap} ({args.packets} packets, {args.flows} flows)")
    secs, out, err, rc = timed([args.gen, "--out", pcap + ".tmp", "--truth", truth,
                                "--packets", str(args.packets), "--flows", str(args.flows),
                                "--seed", str(args.seed)], timeout=600)
    if rc != 0:
        sys.exit(f"wirescope-gen failed: {err.strip()}")
    os.replace(pcap + ".tmp", pcap)
    print(f"capture: {out.strip()} in {secs:.1f} s")
    return pcap, json.load(open(truth))


def best_of(label, cmd, repeat, sink, timeout):
    best = None
    for _ in range(repeat):
        if sink:
            sink.reset()
        secs, out, err, rc = timed(cmd, timeout)
        if rc != 0:
            print(f"{label}: FAILED (exit {rc}): {' '.join(cmd)}\n{err.strip()[-2000:]}")
            return None
        if best is None or secs < best[0]:
            best = (secs, out.strip().splitlines()[-1] if out.strip() else "")
        if sink:
            time.sleep(0.3)  # let the last datagrams arrive before counting
    received = f", sink got {sink.datagrams} datagrams" if sink else ""
    print(f"{label:16s} {best[0]:8.3f} s{received}  | {best[1][:160]}")
    return best[0]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(root, "build"),
                    help="meson build directory (default: %(default)s)")
    ap.add_argument("--wirescope", help="agent binary (default: BUILD/agent/wirescope)")
    ap.add_argument("--gen", help="wirescope-gen (default: BUILD/bench/wirescope-gen)")
    ap.add_argument("--pcap-read", help="pcap_read (default: BUILD/bench/pcap_read)")
    ap.add_argument("--cache-dir", help="where captures are cached (default: BUILD/bench-cache)")
    ap.add_argument("--packets", type=int, default=4000000)
    ap.add_argument("--flows", type=int, default=120000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1, help="runs per tool; best time kept")
    ap.add_argument("--no-softflowd", action="store_true", help="skip softflowd")
    ap.add_argument("--no-ndpireader", action="store_true", help="skip ndpiReader")
    ap.add_argument("--enforce", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per run")
    ap.add_argument("--pin", choices=("auto", "off"), default="auto",
                    help="auto: one CPU per wirescope worker (--worker-cpus) when there are enough")
    ap.add_argument("--rules", action="append", default=[],
                    help="also run 1 worker with these rules loaded (-S, repeatable); prints Gbit/s per worker")
    args = ap.parse_args()
    b = args.build_dir
    args.wirescope = args.wirescope or os.path.join(b, "agent", "wirescope")
    args.gen = args.gen or os.path.join(b, "bench", "wirescope-gen")
    args.pcap_read = args.pcap_read or os.path.join(b, "bench", "pcap_read")
    args.cache_dir = args.cache_dir or os.path.join(b, "bench-cache")

    for tool in (args.gen, args.pcap_read):
        if not os.access(tool, os.X_OK):
            sys.exit(f"{tool} not built: run ninja -C {b} bench/wirescope-gen bench/pcap_read")
    if not os.access(args.wirescope, os.X_OK):
        print(f"SKIP: {args.wirescope} not built (ninja -C {b} agent/wirescope)")
        return 77

    pcap, truth = ensure_capture(args)
    packets = truth["packets"]
    print(f"capture: {packets} packets, {truth['frame_bytes'] / 1e9:.2f} GB, "
          f"{truth['flows']} flows, {truth['max_concurrent_flows']} concurrent at most")
    if truth["max_concurrent_flows"] < 100000 and args.packets >= 4000000:
        print("warning: fewer than 100k concurrent flows in this capture")

    sink = UdpSink()
    target = f"udp://127.0.0.1:{sink.port}"
    results = {}
    failed = False
    # Read the file once first so every run finds it in the page cache.
    timed([args.pcap_read, pcap], args.timeout)
    results["floor"] = best_of("floor", [args.pcap_read, pcap], args.repeat, None, args.timeout)
    if not args.no_softflowd:
        results["softflowd"] = best_of(
            "softflowd",
            ["softflowd", "-r", pcap, "-n", f"127.0.0.1:{sink.port}", "-v", "10", "-d", "-6",
             "-T", "vlan", "-m", "400000"], args.repeat, sink, args.timeout)
    cpus = sorted(os.sched_getaffinity(0))

    def workers(w):
        flags = ["--workers", str(w)]
        if args.pin == "auto" and w <= len(cpus):
            flags += ["--worker-cpus", ",".join(str(c) for c in cpus[:w])]
        return flags

    print(f"placement: {'one CPU per worker' if args.pin == 'auto' else 'unpinned'} "
          f"(CPUs {','.join(map(str, cpus))})")
    for w in (1, 2):
        results[f"ws-{w}w"] = best_of(
            f"ws-{w}w", [args.wirescope, "-r", pcap, "--ipfix", target] + workers(w),
            args.repeat, sink, args.timeout)
    results["ws-1w-nondpi"] = best_of(
        "ws-1w-nondpi", [args.wirescope, "-r", pcap, "--no-ndpi", "--ipfix", target] + workers(1),
        args.repeat, sink, args.timeout)
    for w in (1, 2):
        results[f"ws-{w}w-noexport"] = best_of(
            f"ws-{w}w-noexport", [args.wirescope, "-r", pcap] + workers(w), args.repeat, None, args.timeout)
    if not args.no_ndpireader:
        # -q: no per-flow listing; ndpiReader reads the file with libpcap and
        # runs nDPI on every flow, as the agent does with its defaults.
        results["ndpiReader"] = best_of("ndpiReader", ["ndpiReader", "-i", pcap, "-q"], args.repeat, None,
                                        args.timeout)
    if args.rules:
        rule_args = [a for f in args.rules for a in ("-S", f)]
        results["ws-1w-rules"] = best_of(
            "ws-1w-rules", [args.wirescope, "-r", pcap, "--ipfix", target] + workers(1) + rule_args,
            args.repeat, sink, args.timeout)
    sink.close()

    print()
    for k, secs in results.items():
        if secs is None:
            failed = True
            print(f"{k:10s}   failed")
        else:
            print(f"{k:16s} {packets / secs / 1e6:8.2f} Mpps  ({secs:.3f} s)")

    missed = []

    def ratio(name, num, den, goal):
        if results.get(num) is None or results.get(den) is None:
            return
        r = results[den] / results[num]  # time ratio = throughput ratio num/den
        ok = r >= goal
        if not ok:
            missed.append(name)
        target = f"  (target >= {goal})" if goal else ""
        print(f"{name:28s} {r:7.2f}{target}{'' if ok else '  TARGET MISSED'}")

    print()
    ratio("wirescope-1w / softflowd", "ws-1w", "softflowd", 20)
    ratio("floor time / wirescope-1w", "ws-1w", "floor", 0.5)
    ratio("wirescope-2w / wirescope-1w", "ws-2w", "ws-1w", 1.7)
    ratio("wirescope-1w / ndpiReader", "ws-1w-noexport", "ndpiReader", 10)
    ratio("wirescope-2w / ndpiReader", "ws-2w-noexport", "ndpiReader", 10)
    ratio("  with IPFIX, 1w", "ws-1w", "ndpiReader", 0.0)
    ratio("  with IPFIX, 2w", "ws-2w", "ndpiReader", 0.0)
    ratio("nDPI on / off (1 worker)", "ws-1w", "ws-1w-nondpi", 0.0)
    if results.get("ws-1w-rules"):
        gbps = truth["frame_bytes"] * 8 / results["ws-1w-rules"] / 1e9
        ok = gbps >= 1.0
        if not ok:
            missed.append("rules")
        print(f"{'with rules, per worker':28s} {gbps:7.2f}  Gbit/s (target >= 1){'' if ok else '  TARGET MISSED'}")
        ratio("wirescope-1w rules / none", "ws-1w-rules", "ws-1w", 0.0)
    if failed:
        return 1
    if missed and args.enforce:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
