#!/usr/bin/python3
"""Packet throughput of a replaying agent with and without REST API load.

Generates (or reuses, cached like e2e.py's) a synthetic capture, then runs

  wirescope -c CFG -r FILE --loop --api 127.0.0.1:0 --workers N --ipfix udp://127.0.0.1:PORT

and, on that one agent process:

  1. idle:  no API load for --duration seconds (after --warmup);
  2. load:  wrk -tT -cC --latency -H 'Authorization: Bearer ...' against
            GET /api/v1/flows?limit=100 for the same time.

Packets per second come from GET /api/v1/status (the sources' packet
counters) sampled at the start and end of each measured interval. With
--rounds N the two phases alternate N times and the figures are summed.

The config gives a viewer token and raises api.rate_limit to 0 (off): the
default, 50 requests/s per address and per token, would answer most of
wrk's requests with 429 and measure the limiter instead of /flows.

Prints one table: Mpps without and with load, their ratio (target >= 0.90),
wrk's p50/p99 latency, requests/s and non-2xx answers; --json prints the
same as one JSON object. Exit status: 0 when both phases ran (the target is
only enforced with --enforce), 1 on a failure, 77 when the agent or wrk is
missing.
"""
import argparse
import hashlib
import http.client
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import e2e  # noqa: E402  (capture generation and the IPFIX sink)

TOKEN = "api-load-viewer-token"
TARGET_RATIO = 0.90


def log(msg, to_stderr):
    """Progress lines: on stdout, or on stderr when stdout carries the JSON."""
    print(msg, file=sys.stderr if to_stderr else sys.stdout, flush=True)


class Agent:
    """The agent on a looping replay with the API on an ephemeral port."""

    def __init__(self, cmd, err_path):
        self.err_path = err_path
        self.err = open(err_path, "w")
        self.p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.err)
        self.port = None
        deadline = time.time() + 30
        while time.time() < deadline and self.p.poll() is None:
            m = re.search(r"wirescope: api listening on ([0-9.]+):(\d+)", open(err_path).read())
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                break
            time.sleep(0.05)
        if self.port is None:
            self.stop()
            raise RuntimeError(f"the agent did not log its API address:\n{open(err_path).read()[-2000:]}")

    def get(self, path):
        c = http.client.HTTPConnection(self.host, self.port, timeout=10)
        c.request("GET", path, headers={"Authorization": "Bearer " + TOKEN})
        r = c.getresponse()
        body = r.read()
        c.close()
        if r.status != 200:
            raise RuntimeError(f"GET {path}: {r.status} {body[:300]!r}")
        return json.loads(body)

    def packets(self):
        """(monotonic time, packets read by every source so far)."""
        s = self.get("/api/v1/status")
        return time.monotonic(), sum(x["packets"] for x in s["sources"])

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.err.close()
        return self.p.returncode


def rate(agent, seconds):
    """Packets per second over the next `seconds`."""
    t0, p0 = agent.packets()
    time.sleep(seconds)
    t1, p1 = agent.packets()
    return p1 - p0, t1 - t0


def to_ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"wrk latency '{text}'")
    v = float(m.group(1))
    return v * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}[m.group(2)]


def parse_wrk(out):
    """wrk --latency output → dict of the figures the table shows."""
    r = {"p50_ms": None, "p99_ms": None, "requests_per_s": None, "requests": None, "non_2xx": 0,
         "socket_errors": {}}
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s*{pct}(?:\.0+)?%\s+(\S+)", out, re.M)
        if m:
            r[key] = to_ms(m.group(1))
    m = re.search(r"^Requests/sec:\s+([0-9.]+)", out, re.M)
    if m:
        r["requests_per_s"] = float(m.group(1))
    m = re.search(r"^\s*(\d+) requests in", out, re.M)
    if m:
        r["requests"] = int(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if m:
        r["non_2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        r["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
    return r


def loaded_rate(agent, args, url):
    """Packets per second while wrk runs, and wrk's figures."""
    cmd = args.wrk_prefix + [args.wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{math.ceil(args.warmup + args.duration + 1)}s",
           "--latency", "--timeout", "5s", "-H", "Authorization: Bearer " + TOKEN, url]
    w = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(args.warmup)
        pkts, secs = rate(agent, args.duration)
        out, err = w.communicate(timeout=args.duration + 60)
    except BaseException:
        w.kill()
        w.wait()
        raise
    if w.returncode != 0:
        raise RuntimeError(f"wrk failed (exit {w.returncode}): {(err + out).strip()[-1000:]}")
    return pkts, secs, parse_wrk(out), out


def main():
    root = os.path.dirname(HERE)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(root, "build"),
                    help="meson build directory (default: %(default)s)")
    ap.add_argument("--wirescope", help="agent binary (default: BUILD/agent/wirescope)")
    ap.add_argument("--gen", help="wirescope-gen (default: BUILD/bench/wirescope-gen)")
    ap.add_argument("--cache-dir", help="where captures are cached (default: BUILD/bench-cache)")
    ap.add_argument("--pcap", help="replay this capture instead of a generated one")
    ap.add_argument("--packets", type=int, default=1000000, help="generated capture: packets (%(default)s)")
    ap.add_argument("--flows", type=int, default=30000, help="generated capture: flows (%(default)s)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1, help="agent workers (%(default)s)")
    ap.add_argument("--agent-arg", action="append", default=[], help="one more agent argument (repeatable)")
    ap.add_argument("--duration", type=float, default=10, help="measured seconds per phase (%(default)s)")
    ap.add_argument("--warmup", type=float, default=2, help="seconds before each measurement (%(default)s)")
    ap.add_argument("--rounds", type=int, default=1, help="idle/load alternations (%(default)s)")
    ap.add_argument("--wrk", default="/usr/bin/wrk")
    ap.add_argument("--threads", type=int, default=1, help="wrk -t (%(default)s)")
    ap.add_argument("--connections", type=int, default=4, help="wrk -c (%(default)s)")
    ap.add_argument("--path", default="/api/v1/flows?limit=100", help="what wrk asks for (%(default)s)")
    ap.add_argument("--pin", choices=("auto", "on", "off"), default="auto",
                    help="CPU placement: 'on' gives the workers the last --workers CPUs (--worker-cpus) and puts "
                         "the agent's other threads and wrk on the rest (--management-cpus, taskset); 'auto' "
                         "(default) does so when there are more CPUs than workers")
    ap.add_argument("--json", action="store_true", help="print the results as one JSON object")
    ap.add_argument("--enforce", action="store_true", help="exit 1 when the ratio misses its target")
    args = ap.parse_args()
    b = args.build_dir
    args.wirescope = args.wirescope or os.path.join(b, "agent", "wirescope")
    args.gen = args.gen or os.path.join(b, "bench", "wirescope-gen")
    args.cache_dir = args.cache_dir or os.path.join(b, "bench-cache")
    quiet = args.json  # progress to stderr when stdout is JSON

    for tool, hint in ((args.wirescope, f"ninja -C {b} agent/wirescope"), (args.wrk, "apt-get install wrk")):
        if not os.access(tool, os.X_OK):
            print(f"SKIP: {tool} missing ({hint})")
            return 77
    if args.pcap:
        pcap = os.path.abspath(args.pcap)
    else:
        if not os.access(args.gen, os.X_OK):
            sys.exit(f"{args.gen} not built: run ninja -C {b} bench/wirescope-gen (or give --pcap)")
        # e2e.ensure_capture prints its progress; keep stdout for the JSON.
        stdout = sys.stdout
        sys.stdout = sys.stderr if args.json else stdout
        try:
            pcap, _ = e2e.ensure_capture(args)
        finally:
            sys.stdout = stdout

    tmp = tempfile.mkdtemp(prefix="ws-api-load-")
    cfg = os.path.join(tmp, "agent.yaml")
    with open(cfg, "w") as f:
        f.write(f"""api:
  tokens:
    - {{name: load, role: viewer, token_sha256: "{hashlib.sha256(TOKEN.encode()).hexdigest()}"}}
  rate_limit: {{requests_per_second: 0, burst: 1}}
""")
    sink = e2e.UdpSink()
    cpus = sorted(os.sched_getaffinity(0))
    pin = args.pin == "on" or (args.pin == "auto" and len(cpus) > args.workers)
    if pin and len(cpus) <= args.workers:
        sys.exit(f"--pin on needs more CPUs than --workers ({len(cpus)} CPUs, {args.workers} workers)")
    placement = []
    args.wrk_prefix = []
    if pin:
        work, mgmt = cpus[len(cpus) - args.workers:], cpus[:len(cpus) - args.workers]
        lst = lambda v: ",".join(str(c) for c in v)  # noqa: E731
        placement = ["--worker-cpus", lst(work), "--management-cpus", lst(mgmt)]
        args.wrk_prefix = ["taskset", "-c", lst(mgmt)]
    cmd = [args.wirescope, "-c", cfg, "-r", pcap, "--loop", "--api", "127.0.0.1:0", "--workers",
           str(args.workers), "--ipfix", f"udp://127.0.0.1:{sink.port}"] + placement + args.agent_arg
    log(f"agent: {' '.join(cmd)}", quiet)
    agent = None
    res = {"capture": pcap, "workers": args.workers, "duration_s": args.duration, "rounds": args.rounds,
           "wrk": {"threads": args.threads, "connections": args.connections, "path": args.path},
           "pinned": " ".join(placement + (["wrk on"] + args.wrk_prefix[2:] if pin else [])) or "no",
           "rate_limit": "api.rate_limit.requests_per_second: 0 (off; the default 50/s would throttle wrk)"}
    idle_p = idle_s = load_p = load_s = 0.0
    wrk_runs = []
    try:
        agent = Agent(cmd, os.path.join(tmp, "agent.err"))
        url = f"http://{agent.host}:{agent.port}{args.path}"
        snap = agent.get("/api/v1/flows?limit=1")
        log(f"agent: API on {agent.host}:{agent.port}; snapshot holds {snap['snapshot']['flows']} flows", quiet)
        time.sleep(args.warmup)
        for i in range(args.rounds):
            p, s = rate(agent, args.duration)
            idle_p, idle_s = idle_p + p, idle_s + s
            log(f"round {i + 1}: idle  {p / s / 1e6:.3f} Mpps", quiet)
            p, s, w, out = loaded_rate(agent, args, url)
            load_p, load_s = load_p + p, load_s + s
            wrk_runs.append(w)
            log(f"round {i + 1}: load  {p / s / 1e6:.3f} Mpps, wrk {w['requests_per_s']} req/s, "
                f"p50 {w['p50_ms']} ms, p99 {w['p99_ms']} ms, non-2xx {w['non_2xx']}", quiet)
            if args.rounds > 1:
                time.sleep(args.warmup)
        rc = agent.stop()
        agent = None
        if rc != 0:
            raise RuntimeError(f"the agent exited with {rc}:\n{open(os.path.join(tmp, 'agent.err')).read()[-2000:]}")
    except (RuntimeError, ValueError, OSError, subprocess.TimeoutExpired) as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        if agent:
            agent.stop()
        sink.close()
        shutil.rmtree(tmp, ignore_errors=True)

    idle_mpps = idle_p / idle_s / 1e6
    load_mpps = load_p / load_s / 1e6
    ratio = load_mpps / idle_mpps if idle_mpps else 0.0
    worst = lambda k: max((w[k] for w in wrk_runs if w[k] is not None), default=None)  # noqa: E731
    res.update({
        "idle_mpps": round(idle_mpps, 4),
        "load_mpps": round(load_mpps, 4),
        "ratio": round(ratio, 4),
        "target_ratio": TARGET_RATIO,
        "target_met": ratio >= TARGET_RATIO,
        "p50_ms": worst("p50_ms"),
        "p99_ms": worst("p99_ms"),
        "requests_per_s": round(sum(w["requests_per_s"] or 0 for w in wrk_runs) / len(wrk_runs), 1),
        "non_2xx": sum(w["non_2xx"] for w in wrk_runs),
        "socket_errors": {k: sum(w["socket_errors"].get(k, 0) for w in wrk_runs)
                          for k in ("connect", "read", "write", "timeout")},
        "ipfix_datagrams": sink.datagrams,
    })
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print()
        print(f"capture {os.path.basename(pcap)}, {args.workers} worker(s), {args.rounds} x {args.duration:g} s "
              f"per phase; wrk -t{args.threads} -c{args.connections} GET {args.path}")
        print("api.rate_limit raised to 0 (off) for this run: the default 50 req/s per address/token would throttle wrk")
        print(f"CPU placement: {res['pinned']}")
        print()
        rows = [
            ("Mpps without API load", f"{idle_mpps:.3f}"),
            ("Mpps with API load", f"{load_mpps:.3f}"),
            ("ratio (target >= 0.90)", f"{ratio:.3f}{'' if ratio >= TARGET_RATIO else '  TARGET MISSED'}"),
            ("wrk latency p50", f"{res['p50_ms']:.2f} ms" if res["p50_ms"] is not None else "n/a"),
            ("wrk latency p99", f"{res['p99_ms']:.2f} ms" if res["p99_ms"] is not None else "n/a"),
            ("wrk requests/s", f"{res['requests_per_s']:.1f}"),
            ("non-2xx answers", str(res["non_2xx"])),
            ("socket errors", ", ".join(f"{k} {v}" for k, v in res["socket_errors"].items())),
        ]
        for k, v in rows:
            print(f"{k:26s} {v}")
    if args.enforce and ratio < TARGET_RATIO:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
