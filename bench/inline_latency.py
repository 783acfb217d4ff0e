#!/usr/bin/python3
"""Inline mode on veth (needs root): latency the agent adds and its forwarding rate.

    bench/inline_latency.py BUILD/agent/wirescope [--count 2000] [--workers 1]

Latency: UDP round trips (one 8-byte datagram every 2 ms, like ping -i 0.002)
from the client namespace to an echo server, first over a direct veth link,
then through the agent bridging the middle namespace (tests/integration/
inline_common.py); each round trip crosses the agent twice, so the added
latency per hop is half the difference. p50 and p99 of both are printed.

Rate: tcpreplay --topspeed of 64-byte UDP frames (1024 flows) from the
client side; Mpps is what arrives on the server side per second of replay,
with the agent's worker count (one worker: the per-worker figure). On a veth
pair the sender, the kernel and the agent share the same cores, so this is
a floor, far under a NIC's 14.88 Mpps line rate at 64 bytes.
"""
import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import inline_common as ic  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))] if xs else float("nan")


def rtts(topo, n):
    r = topo.run_helper(topo.c, "udp-rtt", topo.s_ip, 7, n, 0.002, timeout=n * 0.01 + 60)
    return r["rtt_us"], r["lost"]


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for fr in frames:
            f.write(struct.pack("<IIII", 0, 0, len(fr), len(fr)) + fr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("wirescope")
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--frames", type=int, default=200000)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")

    # Direct link: client and server on one veth pair.
    direct = ic.Topology()
    try:
        for ns in (direct.c, direct.s):
            ic.sh(["ip", "netns", "add", ns])
        ic.sh(["ip", "link", "add", "c0", "netns", direct.c, "type", "veth", "peer", "name", "s0", "netns", direct.s])
        for ns, i, ip in ((direct.c, "c0", direct.c_ip), (direct.s, "s0", direct.s_ip)):
            direct.ns(ns, ["ip", "addr", "add", ip + "/24", "dev", i])
            direct.ns(ns, ["ip", "link", "set", i, "up"])
        echo = subprocess.Popen(direct.helper(direct.s, "udp-echo", 7), stdout=subprocess.PIPE, text=True)
        echo.stdout.readline()
        d, dlost = rtts(direct, a.count)
        echo.kill()
    finally:
        ic.sh(["ip", "netns", "del", direct.c], check=False)
        ic.sh(["ip", "netns", "del", direct.s], check=False)

    topo = ic.Topology().create()
    tmp = tempfile.mkdtemp(prefix="ws-inline-bench-")
    agent = None
    try:
        agent = subprocess.Popen(["ip", "netns", "exec", topo.m, a.wirescope, "--inline", "m0:m1", "--workers",
                                  str(a.workers), "--no-ndpi", "-v"], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        time.sleep(1)
        echo = subprocess.Popen(topo.helper(topo.s, "udp-echo", 7), stdout=subprocess.PIPE, text=True)
        echo.stdout.readline()
        rtts(topo, 50)  # ARP and flow set-up out of the way
        t, tlost = rtts(topo, a.count)
        echo.kill()

        cmac, smac = topo.mac(topo.c, "c0"), topo.mac(topo.s, "s0")
        frames = [ic.udp_frame(cmac, smac, topo.c_ip, topo.s_ip, 10000 + i % 1024, 9, b"\0" * 18)
                  for i in range(1024)]
        pcap = os.path.join(tmp, "small.pcap")
        write_pcap(pcap, frames)
        loops = max(1, a.frames // len(frames))
        rx = lambda: int(topo.ns(topo.s, ["cat", "/sys/class/net/s0/statistics/rx_packets"]))
        before = rx()
        t0 = time.monotonic()
        r = subprocess.run(["ip", "netns", "exec", topo.c, "tcpreplay", "-q", "--topspeed", "-l", str(loops), "-i",
                            "c0", pcap], capture_output=True, text=True)
        time.sleep(0.5)
        secs = time.monotonic() - t0 - 0.5
        got = rx() - before
        sent = loops * len(frames)
        agent.send_signal(2)
        out = agent.communicate(timeout=30)[0]
    finally:
        if agent and agent.poll() is None:
            agent.kill()
        topo.remove()
        shutil.rmtree(tmp, True)

    dp50, dp99, tp50, tp99 = pct(d, 50), pct(d, 99), pct(t, 50), pct(t, 99)
    print(f"round trip, direct veth:   p50 {dp50:8.1f} us  p99 {dp99:8.1f} us  ({len(d)} samples, {dlost} lost)")
    print(f"round trip, through agent: p50 {tp50:8.1f} us  p99 {tp99:8.1f} us  ({len(t)} samples, {tlost} lost)")
    print(f"added per hop (half the round-trip difference): p50 {(tp50 - dp50) / 2:.1f} us  "
          f"p99 {(tp99 - dp99) / 2:.1f} us")
    print(f"forwarding, 64-byte frames, {a.workers} worker(s): {got} of {sent} frames in {secs:.2f} s = "
          f"{got / secs / 1e6:.3f} Mpps (tcpreplay: {r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr.strip()})")
    drops = [l for l in out.splitlines() if re.search(r"inline\.|dropped", l)]
    print("\n".join(drops[-30:]))


if __name__ == "__main__":
    main()
