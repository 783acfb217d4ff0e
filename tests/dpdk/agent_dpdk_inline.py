#!/usr/bin/python3
"""Inline pairs on DPDK ports through the real agent, without hugepages.

`wirescope --capture dpdk --inline net_pcap0:net_pcap1` with net_pcap0
reading the demo capture (rx_pcap) and net_pcap1 writing what leaves it
(tx_pcap), and a rule that drops DNS queries: every frame of the capture
leaves on the other port byte for byte and in order, except the DNS queries
(dropped by the rule) and the rest of their flows (dropped with the flow);
nothing goes back out of net_pcap0; the EVE alerts say "blocked" and the
summary counts the drops.

usage: agent_dpdk_inline.py WIRESCOPE CAPTURE
"""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import agent_common as ac  # noqa: E402


def frames(path):
    with open(path, "rb") as f:
        data = f.read()
    out, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack("<I", data[off + 8:off + 12])[0]
        if off + 16 + incl > len(data):
            break
        out.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return out


def udp_port_53(f):
    """True for a UDP datagram from or to port 53 (802.1Q/QinQ tags, IPv4 or IPv6)."""
    off, et = 14, f[12:14]
    while et in (b"\x81\x00", b"\x88\xa8") and len(f) >= off + 4:
        et, off = f[off + 2:off + 4], off + 4
    if et == b"\x08\x00" and len(f) >= off + 20:
        if f[off + 9] != 17:
            return False
        off += (f[off] & 0x0F) * 4
    elif et == b"\x86\xdd" and len(f) >= off + 40:
        if f[off + 6] != 17:
            return False
        off += 40
    else:
        return False
    if len(f) < off + 4:
        return False
    sport, dport = struct.unpack(">HH", f[off:off + 4])
    return 53 in (sport, dport)


def body(c, cleanup):
    ws, cap = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if "--dpdk-eal-args" not in ac.run_agent(ws, ["--help"]).stdout:
        ac.skip("this wirescope has no DPDK capture")
    tmp = ac.temp_dir(cleanup, "ws-dpdk-inline-")
    empty = os.path.join(tmp, "empty.pcap")
    with open(empty, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    rules = os.path.join(tmp, "dns.rules")
    with open(rules, "w") as f:
        f.write('drop udp any any -> any 53 (msg:"dns query dropped"; sid:7001;)\n')
    a_out, b_out = os.path.join(tmp, "a_out.pcap"), os.path.join(tmp, "b_out.pcap")
    eal = (f"--no-huge -m 512 --no-pci --no-shconf --no-telemetry -l 0 --log-level=*:error "
           f"--vdev net_pcap0,rx_pcap={cap},tx_pcap={a_out} --vdev net_pcap1,rx_pcap={empty},tx_pcap={b_out}")
    inp = frames(cap)
    want = [f for f in inp if not udp_port_53(f)]
    dns = len(inp) - len(want)
    c.check(dns > 0, f"the capture has DNS frames to drop ({dns})")

    agent = ac.Background([ws, "--capture", "dpdk", "--inline", "net_pcap0:net_pcap1", "--workers", "1", "-S", rules,
                           "-l", tmp, "--dpdk-eal-args", eal], os.path.join(tmp, "agent.log"), cleanup)
    ok = ac.wait_for(lambda: os.path.exists(b_out) and len(frames(b_out)) >= len(want) or not agent.running(), 60, 0.3)
    time.sleep(0.5)
    rc, secs = agent.stop(ac.signal.SIGINT, 15)
    out = agent.output()
    c.equal(rc, 0, f"the agent exits 0 after SIGINT ({secs:.2f} s)", out[-2000:])
    got = frames(b_out) if os.path.exists(b_out) else []
    c.equal(len(got), len(want), "net_pcap1 sent every frame but the DNS flows", out[-1500:])
    same = sum(1 for x, y in zip(got, want) if x == y)
    c.equal(same, len(want), "byte for byte and in capture order")
    c.equal(len(frames(a_out)) if os.path.exists(a_out) else -1, 0, "nothing went back out of net_pcap0")
    s = ac.parse_summary("\n".join(l for l in out.splitlines() if " packets, " in l))
    if c.check(s is not None, "summary parses", out[-1500:]):
        c.equal(s["packets"], len(inp), "summary packets = frames of the capture")
        drops = s["drops"]
        c.equal(drops.get("inline_verdict", 0) + drops.get("inline_flow", 0), dns,
                "inline_verdict + inline_flow drops = the DNS frames", str(drops))
    records, errors = ac.read_eve(os.path.join(tmp, "eve.json"))
    alerts = [r for r in records if r.get("event_type") == "alert"]
    c.check(alerts and all(a["alert"]["action"] == "blocked" and a["alert"]["signature_id"] == 7001 for a in alerts),
            f"the {len(alerts)} alerts say blocked", str(alerts[:1]))


if __name__ == "__main__":
    ac.main("agent_dpdk_inline", body)
