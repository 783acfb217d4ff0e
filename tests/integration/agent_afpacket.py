#!/usr/bin/python3
"""Live capture end to end: a capture replayed over a veth pair vs. reading the file.

Two network namespaces made for this run (names end in the pid; deleted at
the end, and ones left by a crashed run are removed first) are joined by a
veth pair with IPv6 off, so that nothing but the replayed frames crosses it.
In the receiving namespace `wirescope -i wsv0 --workers 2 -l DIR` runs with
--capture afpacket and then --capture pcap; tcpreplay sends a generated
capture (IPv4/IPv6, 802.1Q and QinQ tags, fragments) from the other side;
after SIGINT the agent's flow records must carry, per direction of every
5-tuple (with the outer VLAN), the same packets and bytes as
`wirescope -r` of the same file gives (timestamps, and so how timeouts
split flows into records, differ: records are summed per direction).

Also on the loopback interface (inside a namespace): a datagram sent to
127.0.0.1 is one packet, with either capture method (the kernel shows the
frame to packet sockets once as outgoing and once as incoming).
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_common as ac  # noqa: E402

RX_IF, TX_IF = "wsv0", "wsv1"
# Slow enough that the receiving side never drops on a busy 2-core machine.
REPLAY_PPS = "8000"


def packet_sockets(ns):
    """Packet sockets open in namespace ns (/proc/net/packet, header line excluded)."""
    out = ac.sh(["ip", "netns", "exec", ns, "cat", "/proc/net/packet"], check=False)
    return max(0, len(out.splitlines()) - 1)


def start_live(ws, ns, iface, method, out, log, cleanup, workers=2):
    agent = ac.Background(["ip", "netns", "exec", ns, ws, "-i", iface, "--capture", method, "--workers",
                           str(workers), "-l", out], log, cleanup)
    # Ready once its packet sockets exist (one per worker with afpacket,
    # one for libpcap); a short pause lets the rings finish setting up.
    want = workers if method == "afpacket" else 1
    ready = ac.wait_for(lambda: packet_sockets(ns) >= want or not agent.running(), 15, 0.05)
    time.sleep(0.3)
    return agent, ready and agent.running()


def stop_live(c, agent, what):
    rc, secs = agent.stop(ac.signal.SIGINT, 10)
    out = agent.output()
    c.equal(rc, 0, f"{what}: agent exits 0 after SIGINT (in {secs:.2f} s)", out)
    s = ac.parse_summary(out)
    c.check(s is not None, f"{what}: summary parses", out)
    return s, out


def diff_directions(want, got):
    missing = sorted(set(want) - set(got), key=str)
    extra = sorted(set(got) - set(want), key=str)
    differ = sorted((k for k in set(want) & set(got) if want[k] != got[k]), key=str)
    text = "\n".join([f"missing {k}: {want[k]}" for k in missing[:5]] +
                     [f"extra {k}: {got[k]}" for k in extra[:5]] +
                     [f"{k}: live {got[k]}, file {want[k]} [pkts, bytes]" for k in differ[:8]])
    return missing, extra, differ, text


def veth_case(c, ws, cap, truth, reference, rx, tx, tmp, cleanup, method):
    print(f"-- veth, --capture {method}")
    out = os.path.join(tmp, f"live-{method}")
    os.mkdir(out)
    agent, ready = start_live(ws, rx, RX_IF, method, out, os.path.join(tmp, f"agent-{method}.log"), cleanup)
    if not c.check(ready, f"{method}: agent is capturing on {RX_IF}", agent.output()):
        agent.kill()
        return
    r = ac.subprocess.run(["ip", "netns", "exec", tx, "tcpreplay", "-q", "-i", TX_IF, "--pps", REPLAY_PPS, cap],
                          capture_output=True, text=True, timeout=120)
    c.equal(r.returncode, 0, f"{method}: tcpreplay exit status", r.stdout + r.stderr)
    c.check("Failed packets:          0" in r.stdout or "Failed packets: 0" in " ".join(r.stdout.split()),
            f"{method}: tcpreplay sent every packet", r.stdout + r.stderr)
    time.sleep(0.5)  # the last ring block is handed over after its timeout
    s, text = stop_live(c, agent, method)
    if s:
        c.equal(s["packets"], truth["packets"], f"{method}: summary packets = packets replayed", text)
        c.equal(s["dropped"], 0, f"{method}: nothing dropped (kernel, interface or decoder)", str(s["drops"]))
    records, errors = ac.read_eve(os.path.join(out, "eve.json"))
    c.check(records and not errors, f"{method}: eve.json is valid JSON", "\n".join(errors[:5]))
    c.check(all(r["flow"]["reason"] == "shutdown" for r in records),
            f"{method}: every record ends at shutdown (live clock: no timeout within the replay)")
    c.check(all(r.get("in_iface") == RX_IF for r in records), f"{method}: every record names in_iface {RX_IF}")
    got = ac.eve_directions(records)
    missing, extra, differ, text = diff_directions(reference, got)
    c.check(not missing and not extra and not differ,
            f"{method}: per direction of each 5-tuple + VLAN, live packets and bytes = file's "
            f"({len(missing)} missing, {len(extra)} extra, {len(differ)} differ of {len(reference)})", text)
    pkts, byts = ac.eve_totals(records)
    c.equal(pkts, truth["packets"], f"{method}: sum of flow packets = truth packets")
    c.equal(byts, truth["frame_bytes"], f"{method}: sum of flow bytes = truth frame bytes")


def loopback_case(c, ws, ns, tmp, cleanup, method):
    print(f"-- lo, --capture {method}")
    out = os.path.join(tmp, f"lo-{method}")
    os.mkdir(out)
    agent, ready = start_live(ws, ns, "lo", method, out, os.path.join(tmp, f"lo-{method}.log"), cleanup,
                              workers=1)
    if not c.check(ready, f"lo {method}: agent is capturing on lo", agent.output()):
        agent.kill()
        return
    # A receiving socket, so that no ICMP port-unreachable joins in.
    send = ("import socket\n"
            "r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(('127.0.0.1', 0))\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "for i in range(10): s.sendto(b'x' * 100, r.getsockname())\n"
            "for i in range(10): r.recv(2048)\n")
    ac.sh(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", send])
    time.sleep(0.3)
    s, text = stop_live(c, agent, f"lo {method}")
    records, errors = ac.read_eve(os.path.join(out, "eve.json"))
    udp = [r for r in records if r["proto"] == "UDP"]
    pkts = sum(r["flow"]["pkts_toserver"] + r["flow"]["pkts_toclient"] for r in udp)
    c.equal(pkts, 10, f"lo {method}: 10 datagrams to 127.0.0.1 are 10 packets of the UDP flow",
            "\n".join(str(r) for r in records[:4]))
    if s:
        c.equal(s["packets"], 10, f"lo {method}: summary packets", text)


def body(c, cleanup):
    ws, gen = ac.programs()
    ac.need_root("network namespaces and live capture")
    ac.need_program("ip", "iproute2")
    ac.need_program("tcpreplay", "tcpreplay")
    tmp = ac.temp_dir(cleanup)
    for prefix in ("wsrx", "wstx"):
        ac.remove_stale_namespaces(prefix)
    pid = os.getpid()
    try:
        rx = ac.make_netns(f"wsrx{pid}", cleanup)
        tx = ac.make_netns(f"wstx{pid}", cleanup)
        ac.sh(["ip", "-n", rx, "link", "add", "name", RX_IF, "type", "veth", "peer", "name", TX_IF, "netns", tx])
        # Room for the generator's largest frames (1500-byte IP packets with two tags).
        for ns, ifc in ((rx, RX_IF), (tx, TX_IF)):
            ac.sh(["ip", "-n", ns, "link", "set", ifc, "mtu", "9000", "up"])
    except RuntimeError as e:
        ac.skip(f"cannot set up namespaces and a veth pair: {e}")

    cap, truth = ac.generate(gen, tmp, packets=20000, flows=600, seed=11, ipv6_share=0.3, vlan_share=0.2)
    c.check(truth["vlan_packets"] > 0 and truth["qinq_packets"] > 0 and truth["fragment_packets"] > 0,
            "the capture has VLAN and QinQ tags and fragments")
    refdir = os.path.join(tmp, "file")
    os.mkdir(refdir)
    r = ac.run_agent(ws, ["-r", cap, "-l", refdir, "--workers", "1"])
    c.equal(r.returncode, 0, "wirescope -r of the same file: exit status")
    ref_records, errors = ac.read_eve(os.path.join(refdir, "eve.json"))
    c.check(ref_records and not errors, "wirescope -r: eve.json valid", "\n".join(errors[:5]))
    reference = ac.eve_directions(ref_records)

    for method in ("afpacket", "pcap"):
        veth_case(c, ws, cap, truth, reference, rx, tx, tmp, cleanup, method)
    for method in ("afpacket", "pcap"):
        loopback_case(c, ws, rx, tmp, cleanup, method)


if __name__ == "__main__":
    ac.main("agent_afpacket", body)
