#!/usr/bin/python3
"""wirescope -r CAP --ipfix / --netflow9 into a real nfcapd, read back with nfdump.

The capture (wirescope-gen: IPv4 and IPv6, 802.1Q and QinQ tags, IP
fragments) goes through the agent once per protocol, exporting to nfcapd
on a free UDP port of 127.0.0.1 and writing EVE records at the same time.
After nfcapd has stopped (and so written its file), nfdump must count:

  packets  = the truth's IP packets, per protocol too
  bytes    = the truth's ip_bytes (octetDeltaCount is IP header + payload)
  flows    = one uniflow record per direction of an EVE record that carried
             packets, and per direction the same packet count as EVE
  0 sequence failures (nfdump's stats and nfcapd's log), the export
  protocol version as sent.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_common as ac  # noqa: E402

# nfcapd's socket buffer: SO_RCVBUF up to net.core.rmem_max unless it may
# force more. 2000 messages/s leaves it ~90 ms of slack when the machine is
# busy, where the agent's default pacing could fill it in under 10 ms.
EXPORT_RATE = "2000"


def nfdump_stats(flowdir):
    r = ac.subprocess.run(["nfdump", "-R", flowdir, "-I"], capture_output=True, text=True, timeout=60)
    out = {}
    for line in r.stdout.splitlines():
        k, sep, v = line.partition(":")
        if sep and v.strip().isdigit():
            out[k.strip()] = int(v.strip())
    return r.returncode, r.stdout + r.stderr, out


def nfdump_directions(flowdir):
    """Packets per direction key as in ac.eve_directions, from nfdump's JSON output."""
    import json

    r = ac.subprocess.run(["nfdump", "-R", flowdir, "-o", "json"], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, TZ="UTC"))
    recs = json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else []
    names = {6: "TCP", 17: "UDP", 1: "ICMP", 58: "IPv6-ICMP"}
    out = {}
    for j in recs:
        v6 = "src6_addr" in j
        src = j.get("src6_addr" if v6 else "src4_addr")
        dst = j.get("dst6_addr" if v6 else "dst4_addr")
        proto = names.get(j.get("proto"), str(j.get("proto")))
        icmp = ac.is_icmp(proto)
        sp = 0 if icmp else j.get("src_port", 0)
        dp = 0 if icmp else j.get("dst_port", 0)
        key = (j.get("src_vlan", 0), proto, src, sp, dst, dp)
        out[key] = out.get(key, 0) + j.get("in_packets", 0)
    return len(recs), out, r.stderr


def export_case(c, ws, cap, truth, tmp, cleanup, proto):
    print(f"-- {proto}")
    flowdir = os.path.join(tmp, f"flows-{proto}")
    evedir = os.path.join(tmp, f"eve-{proto}")
    os.mkdir(flowdir)
    os.mkdir(evedir)
    port = ac.free_udp_port()
    nfcapd = ac.Background(["nfcapd", "-w", flowdir, "-b", "127.0.0.1", "-p", str(port), "-t", "3600",
                            "-B", "4194304"], os.path.join(tmp, f"nfcapd-{proto}.log"), cleanup)
    if not c.check(ac.wait_for(lambda: ac.udp_port_taken(port) or not nfcapd.running(), 10)
                   and nfcapd.running(), f"{proto}: nfcapd listens on udp port {port}", nfcapd.output()):
        return
    flag = "--ipfix" if proto == "ipfix" else "--netflow9"
    r = ac.run_agent(ws, ["-r", cap, flag, f"udp://127.0.0.1:{port}", "--export-rate", EXPORT_RATE,
                          "--workers", "2", "-l", evedir])
    c.equal(r.returncode, 0, f"{proto}: agent exit status")
    s = ac.parse_summary(r.stdout)
    if c.check(s is not None, f"{proto}: summary parses", r.stdout):
        c.equal(s["dropped"], 0, f"{proto}: nothing dropped (send errors or records count as drops)",
                str(s["drops"]))
    # Let nfcapd read everything queued before asking it to stop and write its file.
    ac.wait_for(lambda: ac.udp_rx_queue(port) <= 0, 10)
    time.sleep(0.2)
    rc, _ = nfcapd.stop(ac.signal.SIGTERM, 15)
    log = nfcapd.output()
    c.equal(rc, 0, f"{proto}: nfcapd exit status after SIGTERM", log)
    c.check("Sequence Errors: 0," in log, f"{proto}: nfcapd logged 0 sequence errors", log)

    rc, text, st = nfdump_stats(flowdir)
    if not c.equal(rc, 0, f"{proto}: nfdump -I exit status", text):
        return
    ip_packets = truth["ipv4_packets"] + truth["ipv6_packets"]
    pt = truth["protocols"]
    c.equal(st.get("Packets"), ip_packets, f"{proto}: nfdump packets = truth IP packets", text)
    c.equal(st.get("Bytes"), truth["ip_bytes"], f"{proto}: nfdump bytes = truth ip_bytes", text)
    c.equal(st.get("Packets_tcp"), pt["tcp"]["packets"], f"{proto}: TCP packets")
    c.equal(st.get("Bytes_tcp"), pt["tcp"]["ip_bytes"], f"{proto}: TCP bytes")
    c.equal(st.get("Packets_udp"), pt["udp"]["packets"], f"{proto}: UDP packets")
    c.equal(st.get("Bytes_udp"), pt["udp"]["ip_bytes"], f"{proto}: UDP bytes")
    c.equal(st.get("Packets_icmp"), pt["icmp"]["packets"] + pt["icmpv6"]["packets"], f"{proto}: ICMP(v6) packets")
    c.equal(st.get("Bytes_icmp"), pt["icmp"]["ip_bytes"] + pt["icmpv6"]["ip_bytes"], f"{proto}: ICMP(v6) bytes")
    c.equal(st.get("Sequence failures"), 0, f"{proto}: nfdump sequence failures", text)

    version = "10" if proto == "ipfix" else "9"
    ex = ac.subprocess.run(f"cd {flowdir} && for f in nfcapd.*; do nfdump -E $f; done", shell=True,
                           capture_output=True, text=True, timeout=60).stdout
    c.check(f"version: {version}," in ex and "Sequence failures: 0" in ex,
            f"{proto}: nfdump -E shows one exporter of version {version} without sequence failures", ex)

    records, errors = ac.read_eve(os.path.join(evedir, "eve.json"))
    c.check(not errors and records, f"{proto}: the EVE log written alongside is valid", "\n".join(errors[:5]))
    want_flows = ac.uniflow_count(records)
    c.equal(st.get("Flows"), want_flows, f"{proto}: nfdump flows = directions with packets in the EVE records")
    c.check(st.get("Flows", 0) >= truth["flows"], f"{proto}: at least one record per generated flow")
    n, got, err = nfdump_directions(flowdir)
    c.equal(n, want_flows, f"{proto}: nfdump -o json records", err)
    want = {k: v[0] for k, v in ac.eve_directions(records).items()}
    missing = sorted(set(want) - set(got), key=str)
    extra = sorted(set(got) - set(want), key=str)
    differ = sorted((k for k in set(want) & set(got) if want[k] != got[k]), key=str)
    c.check(not missing and not extra and not differ,
            f"{proto}: per direction (VLAN, proto, src, sport, dst, dport) nfdump's packets = EVE's "
            f"({len(missing)} missing, {len(extra)} extra, {len(differ)} differ of {len(want)})",
            "\n".join([f"missing {k} ({want[k]} pkts)" for k in missing[:5]] +
                      [f"extra {k} ({got[k]} pkts)" for k in extra[:5]] +
                      [f"{k}: nfdump {got[k]}, EVE {want[k]}" for k in differ[:5]]))


def body(c, cleanup):
    ws, gen = ac.programs()
    ac.need_program("nfcapd", "nfdump")
    ac.need_program("nfdump", "nfdump")
    tmp = ac.temp_dir(cleanup)
    cap, truth = ac.generate(gen, tmp, packets=100000, flows=3000, seed=3, ipv6_share=0.3, vlan_share=0.2)
    c.check(truth["fragment_packets"] > 0 and truth["vlan_packets"] > 0 and truth["ipv6_packets"] > 0,
            "the capture has fragments, VLAN tags and IPv6")
    c.equal(truth["ipv4_packets"] + truth["ipv6_packets"], truth["packets"], "every generated packet is IP")
    export_case(c, ws, cap, truth, tmp, cleanup, "ipfix")
    export_case(c, ws, cap, truth, tmp, cleanup, "netflow9")


if __name__ == "__main__":
    ac.main("agent_nfdump", body)
