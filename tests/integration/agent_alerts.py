#!/usr/bin/python3
"""EVE alert events of `wirescope -r CAP -S RULES -l DIR`, checked field by field.

The capture is written here, packet by packet (rule_traffic.py): a TCP
handshake with an HTTP-like request and response, a UDP query/response
exchange twice, two ICMP echo request/reply pairs, and one UDP packet of a
flow that no rule matches. Every rule below names the packets it must fire
on, derived by hand from that list and Suricata's semantics (content with
depth, flow:established / to_server / to_client, dsize, itype/icode,
flowbits set / isset / isnotset / noalert), so the test checks the exact
number of alerts per sid and, for each alert, the packet it belongs to.

Each alert is checked against its packet and flow: addresses, ports,
proto, ICMP type/code, direction, the alert object (action, gid, sid, rev,
signature, category, severity), the flow counters with that packet
included, the flow's start and client-first tuple, flow_id and
community_id equal to the flow event's. Flow events say alerted true for
the three flows that alerted and false for the quiet one. With
output.eve.payload true each alert on a packet with data carries the data
in base64; without it none does. Every alert has `pcap_cnt`, its packet's
number in the file, as Suricata's alerts from a capture file. The
TCP flow's client stream is held and inspected when the flow ends: the
content-with-depth rule alerts on it once more, with pkt_src "stream (flow
timeout)", no packet and no pcap_cnt.

With --simulate-ips, a payload drop rule on the first query (packet 7) and a
header-only drop rule on the echo host (Suricata's IP-only: packet 12, its
first packet) block what they match: the query's alert and the host's say
"blocked", and the alert rule on queries still alerts on 7 ("allowed");
the second query (9) still alerts, since a payload drop drops its packet
only, while the echo flow's later packets (13, 14) are dropped
uninspected with the flow, whose flow event says `flow.action: "drop"`; the
summary counts 2 verdict drops and 2 flow drops.
"""
import base64
import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_common as ac  # noqa: E402
import rule_traffic as rt  # noqa: E402

C, S, D, I, Q = "10.1.1.1", "10.2.2.2", "10.3.3.3", "10.4.4.4", "10.5.5.5"
GET = b"GET /index.html HTTP/1.1\r\nHost: example.test\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
ECHO = b"abcdefghijklmnopqrstuvwxyz012345"


def traffic():
    t = rt.Traffic()
    A, SY, F = rt.TCP_ACK, rt.TCP_SYN, rt.TCP_PSH | rt.TCP_ACK
    t.tcp(C, 40000, S, 80, SY)            # 0
    t.tcp(S, 80, C, 40000, SY | A)        # 1
    t.tcp(C, 40000, S, 80, A)             # 2  completes the handshake: not yet "established"
    t.tcp(C, 40000, S, 80, F, GET)        # 3
    t.tcp(S, 80, C, 40000, A)             # 4
    t.tcp(S, 80, C, 40000, F, OK)         # 5
    t.tcp(C, 40000, S, 80, A)             # 6
    t.udp(C, 5353, D, 53, b"Q1 example.test")   # 7
    t.udp(D, 53, C, 5353, b"R1 192.0.2.1")      # 8  first reply: the flow is established from here
    t.udp(C, 5353, D, 53, b"Q2 example.org")    # 9
    t.udp(D, 53, C, 5353, b"R2 192.0.2.2")      # 10
    t.icmp_echo(C, I, True, 7, 1, ECHO)   # 11
    t.icmp_echo(I, C, False, 7, 1, ECHO)  # 12
    t.icmp_echo(C, I, True, 7, 2, ECHO)   # 13
    t.icmp_echo(I, C, False, 7, 2, ECHO)  # 14
    t.udp(C, 6000, Q, 9999, b"nothing to see")  # 15 a flow no rule matches
    return t


WEB_CATEGORY = "access to a potentially vulnerable web application"  # Suricata's classification.config

# sid -> (rule text, packets it fires on, rev, severity, category or None)
RULES = {
    1001: ('alert tcp any any -> any 80 (msg:"HTTP GET to the server"; flow:established,to_server; '
           'content:"GET "; depth:4; classtype:web-application-activity; sid:1001; rev:3;)',
           [3], 3, 2, WEB_CATEGORY),
    1002: ('alert tcp any any -> any any (msg:"HTTP 200 to the client"; flow:established,to_client; '
           'content:"200 OK"; priority:1; sid:1002; rev:1;)', [5], 1, 1, None),
    1003: ('alert tcp any any -> any 80 (msg:"empty segment to the server"; flow:to_server; dsize:0; '
           'sid:1003; rev:2;)', [0, 2, 6], 2, 3, None),
    1004: ('alert tcp any any -> any 80 (msg:"established, to the server"; flow:established,to_server; '
           'sid:1004; rev:1;)', [3, 6], 1, 3, None),
    1005: ('alert udp any any -> any 53 (msg:"query"; content:"Q"; depth:1; sid:1005; rev:1;)',
           [7, 9], 1, 3, None),
    1006: ('alert udp any any -> any any (msg:"UDP established, to the server"; flow:established,to_server; '
           'sid:1006; rev:1;)', [9], 1, 3, None),
    1007: ('alert icmp any any -> any any (msg:"echo request"; itype:8; classtype:misc-activity; '
           'sid:1007; rev:1;)', [11, 13], 1, 3, "Misc activity"),
    1008: ('alert icmp any any -> any any (msg:"echo reply of 32 bytes"; itype:0; icode:0; dsize:32; '
           'sid:1008; rev:1;)', [12, 14], 1, 3, None),
    1009: ('alert tcp any any -> any 80 (msg:"GET seen"; flow:to_server; content:"GET"; '
           'flowbits:set,http.get; flowbits:noalert; sid:1009; rev:1;)', [], 1, 3, None),
    1010: ('alert tcp any 80 -> any any (msg:"response after a GET"; flow:to_client; content:"HTTP/1.1"; '
           'flowbits:isset,http.get; sid:1010; rev:1;)', [5], 1, 3, None),
    1011: ('alert tcp any 80 -> any any (msg:"server packet before a GET"; flow:to_client; '
           'flowbits:isnotset,http.get; sid:1011; rev:1;)', [1], 1, 3, None),
    1012: ('alert udp any any -> any any (msg:"bit of another flow"; flowbits:isset,http.get; '
           'sid:1012; rev:1;)', [], 1, 3, None),
    1013: ('alert tcp any any -> any 80 (msg:"POST"; content:"POST"; sid:1013; rev:1;)', [], 1, 3, None),
    1014: ('alert ip any any -> 10.5.5.5 any (msg:"never"; content:"secret"; sid:1014; rev:1;)',
           [], 1, 3, None),
}


# Alerts on stream data inspected when its flow ends (EVE pkt_src "stream (flow timeout)").
STREAM_END = [1001]


def eve_ts(us):
    d = datetime.datetime.fromtimestamp(us // 1_000_000, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + f".{us % 1_000_000:06d}+0000"


def check_run(c, what, records, pkts, model, payload):
    by_ts = {eve_ts(p.ts_us): i for i, p in enumerate(pkts)}
    alerts = [r for r in records if r.get("event_type") == "alert"]
    flows = [r for r in records if r.get("event_type") == "flow"]
    c.equal(len(records), len(alerts) + len(flows), f"{what}: only alert and flow events")
    # The TCP flow's client stream, held until the flow ends, is inspected
    # then: sid 1001 (a content with depth, matched on the packet and on the
    # stream, as Suricata does) alerts once more, with no packet.
    ends = [a for a in alerts if a.get("pkt_src") == "stream (flow timeout)"]
    alerts = [a for a in alerts if a.get("pkt_src") != "stream (flow timeout)"]
    c.equal(sorted(a["alert"]["signature_id"] for a in ends), STREAM_END, f"{what}: stream alerts at flow end")
    for a in ends:
        want = {"src_ip": C, "src_port": 40000, "dest_ip": S, "dest_port": 80, "direction": "to_server",
                "timestamp": eve_ts(pkts[6].ts_us), "pcap_cnt": None, "packet": None}
        if payload:
            want.update({"payload": base64.b64encode(GET).decode(), "stream": 1})
        got_end = {k: a.get(k) for k in want}
        c.equal(got_end, want, f"{what}: the flow-end stream alert names the client's stream, its data and the last packet's time")
    c.equal(len(flows), 4, f"{what}: four flow events")

    flow_by_key = {}
    for f in flows:
        fp = rt.Packet(0, f["src_ip"], f["dest_ip"], {"TCP": 6, "UDP": 17, "ICMP": 1}[f["proto"]],
                       f.get("src_port", 0), f.get("dest_port", 0))
        flow_by_key[rt.flow_key(fp)] = f

    # Exact alert count per sid, and which packets.
    got = {}
    unknown_ts = []
    for a in alerts:
        i = by_ts.get(a.get("timestamp"))
        if i is None:
            unknown_ts.append(a.get("timestamp"))
            continue
        got.setdefault(a["alert"]["signature_id"], []).append(i)
    c.check(not unknown_ts, f"{what}: every alert's timestamp is a packet's time", str(unknown_ts[:5]))
    for sid, (_, want, *_rest) in RULES.items():
        c.equal(sorted(got.get(sid, [])), want, f"{what}: sid {sid} fires on packets")
    extra = sorted(set(got) - set(RULES))
    c.check(not extra, f"{what}: no alerts from sids not in the rule file", str(extra))

    # pcap_cnt: the packet's 1-based number in the file.
    bad_cnt = [(a["alert"]["signature_id"], a.get("pcap_cnt")) for a in alerts
               if by_ts.get(a.get("timestamp")) is not None and a.get("pcap_cnt") != by_ts[a["timestamp"]] + 1]
    c.check(not bad_cnt, f"{what}: every alert's pcap_cnt is its packet's number in the file", str(bad_cnt[:5]))

    # Field by field.
    bad, bad_cid = [], []
    for a in alerts:
        i = by_ts.get(a.get("timestamp"))
        sid = a["alert"]["signature_id"]
        if i is None or sid not in RULES:
            continue
        p, st = pkts[i], model.state(i)
        _, _, rev, sev, cat = RULES[sid]
        msg = RULES[sid][0].split('msg:"', 1)[1].split('"', 1)[0]
        f = flow_by_key.get(rt.flow_key(p))
        client_ip, client_port = st["client"]
        server_ip, server_port = (p.dst, p.dport) if st["to_server"] else (p.src, p.sport)
        want = {
            "event_type": "alert", "src_ip": p.src, "dest_ip": p.dst, "proto": p.proto_name, "ip_v": 4,
            "pkt_src": "wire/pcap", "direction": "to_server" if st["to_server"] else "to_client",
            "alert.action": "allowed", "alert.gid": 1, "alert.signature_id": sid, "alert.rev": rev,
            "alert.signature": msg, "alert.severity": sev, "alert.category": cat,
            "flow.pkts_toserver": st["pkts"][0], "flow.pkts_toclient": st["pkts"][1],
            "flow.bytes_toserver": st["bytes"][0], "flow.bytes_toclient": st["bytes"][1],
            "flow.start": eve_ts(st["start_us"]), "flow.src_ip": client_ip, "flow.dest_ip": server_ip,
            "flow_id": f["flow_id"] if f else "(no flow event)",
        }
        if p.proto == 1:
            want.update({"icmp_type": p.icmp_type, "icmp_code": p.icmp_code, "src_port": None,
                         "dest_port": None, "flow.src_port": None, "flow.dest_port": None})
        else:
            want.update({"src_port": p.sport, "dest_port": p.dport, "flow.src_port": client_port,
                         "flow.dest_port": server_port})
        if payload and p.payload:
            want.update({"payload": base64.b64encode(p.payload).decode(), "stream": 0})
        else:
            want.update({"payload": None, "payload_printable": None})
        for k, v in want.items():
            g = a
            for part in k.split("."):
                g = g.get(part) if isinstance(g, dict) else None
            if g != v:
                bad.append(f"packet {i} sid {sid}: {k} = {g!r}, want {v!r}")
        # Suricata logs the flow's community ID on every alert of the flow,
        # so an echo reply's alert carries the request's (the flow's) ID.
        if not f or a.get("community_id") != f.get("community_id"):
            bad_cid.append(f"packet {i} ({p.proto_name} {p.src}->{p.dst}) sid {sid}: "
                           f"{a.get('community_id')!r}, flow event {f.get('community_id') if f else None!r}")
        if payload and p.payload and "payload_printable" not in a:
            bad.append(f"packet {i} sid {sid}: payload_printable missing")
    c.check(alerts and not bad, f"{what}: every field of {len(alerts)} alerts matches its packet and flow",
            "\n".join(bad[:40]))
    c.check(alerts and not bad_cid, f"{what}: every alert's community_id equals its flow event's",
            "\n".join(bad_cid[:20]))
    if payload:
        decoded = [base64.b64decode(a["payload"]) for a in alerts if "payload" in a]
        c.check(decoded and GET in decoded and OK in decoded,
                f"{what}: payload decodes to the request and the response", str(decoded[:4]))

    # Flow events: alerted exactly on the flows that alerted; community ID as computed.
    alerted_keys = {rt.flow_key(pkts[i]) for ids in got.values() for i in ids}
    alerted_keys |= {rt.flow_key(pkts[3]) for _ in ends}
    for k, f in flow_by_key.items():
        c.equal(f["flow"].get("alerted"), k in alerted_keys,
                f"{what}: flow {f['proto']} {f['src_ip']}->{f['dest_ip']} flow.alerted")
        c.equal(f.get("community_id"), ac.community_id(f),
                f"{what}: flow {f['proto']} {f['src_ip']}->{f['dest_ip']} community_id per the spec")
    c.equal(len(alerted_keys), 3, f"{what}: three of the four flows alerted")


def body(c, cleanup):
    ws, _gen = ac.programs()
    tmp = ac.temp_dir(cleanup)
    t = traffic()
    cap = t.write_pcap(os.path.join(tmp, "alerts.pcap"))
    model = rt.FlowModel(t.packets)
    rules = os.path.join(tmp, "alerts.rules")
    with open(rules, "w") as f:
        f.write("# hand-derived expectations: see agent_alerts.py\n")
        for sid, (text, *_rest) in RULES.items():
            f.write(text + "\n")
    total = sum(len(v[1]) for v in RULES.values()) + len(STREAM_END)

    print("-- flags, no payload")
    out = os.path.join(tmp, "plain")
    os.mkdir(out)
    r = ac.run_agent(ws, ["-r", cap, "-S", rules, "-l", out, "--workers", "2", "-k", "all"])
    c.equal(r.returncode, 0, "exit status", r.stderr)
    c.check(f"wirescope: rules: loaded={len(RULES)} failed=0" in r.stderr.splitlines(),
            f"stderr reports rules: loaded={len(RULES)} failed=0", r.stderr)
    s = ac.parse_summary(r.stdout)
    if c.check(s is not None, "summary parses", r.stdout):
        c.equal(s["packets"], len(t.packets), "summary: packets")
        c.equal(s["alerts"], total, "summary: alerts = the hand-derived count")
        c.equal(s["flows"], 4, "summary: flows")
        c.equal(s["dropped"], 0, "summary: nothing dropped (checksums are valid)", str(s["drops"]))
    records, errors = ac.read_eve(os.path.join(out, "eve.json"))
    c.check(not errors, "eve.json lines are JSON", "\n".join(errors[:5]))
    check_run(c, "plain", records, t.packets, model, payload=False)

    print("-- config file with output.eve.payload: true")
    out2 = os.path.join(tmp, "payload")
    os.mkdir(out2)
    conf = os.path.join(tmp, "payload.yaml")
    with open(conf, "w") as f:
        f.write(f"input:\n  file: {cap}\nworkers: 1\nrules:\n  files:\n    - {rules}\n"
                f"output:\n  log_dir: {out2}\n  eve:\n    payload: true\n")
    r = ac.run_agent(ws, ["-c", conf])
    c.equal(r.returncode, 0, "payload run: exit status", r.stderr)
    s = ac.parse_summary(r.stdout)
    c.check(s is not None and s["alerts"] == total, "payload run: summary alerts", r.stdout)
    records, errors = ac.read_eve(os.path.join(out2, "eve.json"))
    c.check(not errors, "payload run: eve.json lines are JSON", "\n".join(errors[:5]))
    check_run(c, "payload", records, t.packets, model, payload=True)

    print("-- --simulate-ips")
    out3 = os.path.join(tmp, "ips")
    os.mkdir(out3)
    drops = os.path.join(tmp, "drops.rules")
    with open(drops, "w") as f:
        f.write('drop udp any any -> any 53 (msg:"query 1"; content:"Q1"; sid:2001;)\n'
                'alert udp any any -> any 53 (msg:"query"; content:"Q"; depth:1; sid:2002;)\n'
                f'drop ip {I} any -> any any (msg:"echo host"; sid:2003;)\n'
                'alert icmp any any -> any any (msg:"echo request"; itype:8; sid:2004;)\n')
    for ips in (True, False):
        args = ["-r", cap, "-S", drops, "-l", out3, "--workers", "1"] + (["--simulate-ips"] if ips else [])
        r = ac.run_agent(ws, args)
        what = "simulate-ips" if ips else "without --simulate-ips"
        c.equal(r.returncode, 0, f"{what}: exit status", r.stderr)
        records, errors = ac.read_eve(os.path.join(out3, "eve.json"))
        got = sorted((a["alert"]["signature_id"], a["pcap_cnt"] - 1, a["alert"]["action"])
                     for a in records if a.get("event_type") == "alert")
        if ips:
            # Only a pass ends a packet's alerts: the dropped 7 gets its "query" alert too.
            want = [(2001, 7, "blocked"), (2002, 7, "allowed"), (2002, 9, "allowed"), (2003, 12, "blocked"),
                    (2004, 11, "allowed")]
        else:
            want = [(2001, 7, "allowed"), (2002, 7, "allowed"), (2002, 9, "allowed"), (2003, 12, "allowed"),
                    (2004, 11, "allowed"), (2004, 13, "allowed")]
        c.equal(got, want, f"{what}: alerts (sid, packet, action)")
        actions = sorted((f["proto"], f["flow"]["action"]) for f in records
                         if f.get("event_type") == "flow" and "action" in f["flow"])
        c.equal(actions, [("ICMP", "drop")] if ips else [],
                f"{what}: flow events with flow.action (the echo flow a header-only drop took)")
        s = ac.parse_summary(r.stdout)
        if c.check(s is not None, f"{what}: summary parses", r.stdout):
            want_drops = {"inline_verdict": 2, "inline_flow": 2} if ips else {}
            c.equal({k: v for k, v in s["drops"].items() if k.startswith("inline")}, want_drops,
                    f"{what}: drops in the summary")
        os.unlink(os.path.join(out3, "eve.json"))


if __name__ == "__main__":
    ac.main("agent_alerts", body)
