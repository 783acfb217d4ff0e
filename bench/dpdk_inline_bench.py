#!/usr/bin/python3
"""Inline forwarding rate through DPDK ports, per worker, without hugepages
or a NIC.

The agent bridges two DPDK vdevs (`--capture dpdk --inline
net_pcap0:net_null0`): net_pcap0 replays a capture of 64-byte UDP frames
(1,024 flows) from memory forever (`infinite_rx=1`), every frame goes
through decode, the flow table, nDPI (unless --no-ndpi), the rules (with
--rules) and the inline verdict, and leaves on net_null0, which drops it
(`no-rx=1`: nothing comes the other way). The rate is what left net_null0
(`wirescope_inline_tx_packets_total{port="net_null0"}` on /metrics) over
--seconds, after a warm-up; the same run reports it against 10GbE line rate
at 64 bytes, 14.88 Mpps. The source side (net_pcap copying each frame
into an mbuf) is part of the cost, as a NIC's DMA would not be.

usage: dpdk_inline_bench.py --wirescope BIN [--seconds 5] [--rules FILE]
"""
import argparse
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

LINE_RATE_64 = 14.88e6


def write_capture(path, flows=1024):
    """Ethernet/IPv4/UDP frames of 60 bytes (64 on the wire with the FCS)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(flows):
            payload = b"\x00" * 18
            ulen = 8 + len(payload)
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, i, 0, 64, 17, 0,
                             bytes([10, 0, i >> 8, i & 255]), bytes([10, 1, 0, 1]))
            frame = (b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip +
                     struct.pack("!HHHH", 10000 + i, 5201, ulen, 0) + payload)
            f.write(struct.pack("<IIII", 1700000000, i, len(frame), len(frame)) + frame)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def forwarded(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith('wirescope_inline_tx_packets_total{port="net_null0"}'):
                return float(line.split()[-1])
    return None


def run(args, cap, label, extra):
    port = free_port()
    eal = (f"--no-huge -m 1024 --no-pci --no-shconf --no-telemetry -l 0 --log-level=*:error "
           f"--vdev net_pcap0,rx_pcap={cap},infinite_rx=1 --vdev net_null0,no-rx=1")
    cmd = [args.wirescope, "--capture", "dpdk", "--inline", "net_pcap0:net_null0", "--workers", "1",
           "--api", f"127.0.0.1:{port}", "--dpdk-eal-args", eal] + extra
    log = tempfile.NamedTemporaryFile(prefix="ws-dpdk-bench-", suffix=".log", delete=False)
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + 30
        while time.monotonic() < end and p.poll() is None:
            try:
                if forwarded(port):
                    break
            except OSError:
                pass
            time.sleep(0.2)
        time.sleep(args.warmup)
        a, t0 = forwarded(port), time.monotonic()
        time.sleep(args.seconds)
        b, t1 = forwarded(port), time.monotonic()
        mpps = (b - a) / (t1 - t0) / 1e6
        print(f"{label}: {mpps:.2f} Mpps per worker, {mpps * 1e6 / LINE_RATE_64:.3f} of 10GbE line rate at 64 B")
        return mpps
    except (OSError, TypeError) as e:
        with open(log.name) as f:
            print(f"{label}: no rate ({e}); agent output:\n{f.read()[-2000:]}")
        return None
    finally:
        p.terminate()
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
        os.unlink(log.name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wirescope", required=True)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--rules", action="append", default=[])
    args = ap.parse_args()
    r = subprocess.run([args.wirescope, "--help"], capture_output=True, text=True)
    if "--dpdk-eal-args" not in r.stdout:
        print("SKIP: this wirescope was built without DPDK")
        return 77
    with tempfile.TemporaryDirectory() as d:
        cap = os.path.join(d, "udp64.pcap")
        write_capture(cap)
        runs = [("nDPI on", []), ("--no-ndpi", ["--no-ndpi"])]
        if args.rules:
            runs.append((f"nDPI on, {len(args.rules)} rule file(s)", sum((["-S", x] for x in args.rules), [])))
        results = {label: run(args, cap, label, extra) for label, extra in runs}
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
