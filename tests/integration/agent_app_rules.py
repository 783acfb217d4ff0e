#!/usr/bin/python3
"""App-layer rules in the real agent: `wirescope -r CAP -S RULES -l DIR`.

The capture is written here (rule_traffic.py): an HTTP exchange to port 80
with its handshake, a DNS query and its answer, and a flow to port 80 whose
payload carries "GET " but is not HTTP, eleven packets long so that nDPI
gives up on it (at its 10-packet limit) inside the capture. Expected, from
Suricata's meaning of the rules with nDPI's classification standing in for
Suricata's parsers (README, "App-layer protocols"):

  - `alert http … content:"GET "` fires on the request only: nDPI names
    HTTP on it, and the not-HTTP flow's bytes never count, even after nDPI
    guesses HTTP from its port;
  - `alert dns` fires on the query and the answer;
  - `app-layer-protocol:!http` (protocol-detection-only: once per direction
    when the protocol is known) fires on nothing before a flow's protocol
    is known (no handshake packet), on no HTTP packet, on the DNS query and
    the answer, and on the not-HTTP flow once, on the packet its
    classification ends on (the 10th, `failed`);
  - every alert carries app_proto (http, dns, or failed is never printed on
    an alert) and the ndpi object; the rule on a protocol nDPI cannot
    classify (http2) is refused with the reason.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_common as ac  # noqa: E402
import rule_traffic as rt  # noqa: E402

C, S, D, J = "10.1.1.1", "10.2.2.2", "10.3.3.3", "10.4.4.4"
GET = b"GET /index.html HTTP/1.1\r\nHost: intranet.wirescope.test\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello"
JUNK = b"\x07\x00\x13\x37 GET " + b"\xee" * 40


def dns(name, ident, answer):
    """A DNS query for name (type A), or its answer with one A record (RFC 1035 4.1)."""
    flags = b"\x81\x80" if answer else b"\x01\x00"
    msg = ident.to_bytes(2, "big") + flags + b"\x00\x01" + (b"\x00\x01" if answer else b"\x00\x00") + b"\x00" * 4
    for label in name.split("."):
        msg += bytes([len(label)]) + label.encode()
    msg += b"\x00\x00\x01\x00\x01"
    if answer:
        msg += b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04" + bytes([192, 0, 2, 7])
    return msg


def traffic():
    t = rt.Traffic()
    A, SY, F = rt.TCP_ACK, rt.TCP_SYN, rt.TCP_PSH | rt.TCP_ACK
    t.tcp(C, 40000, S, 80, SY)                              # 0
    t.tcp(S, 80, C, 40000, SY | A)                          # 1
    t.tcp(C, 40000, S, 80, A)                               # 2
    t.tcp(C, 40000, S, 80, F, GET)                          # 3  nDPI names HTTP here
    t.tcp(S, 80, C, 40000, F, OK)                           # 4
    t.udp(C, 53001, D, 53, dns("www.wirescope.test", 7, False))  # 5  DNS from the query
    t.udp(D, 53, C, 53001, dns("www.wirescope.test", 7, True))   # 6
    for _ in range(11):                                     # 7..17: not HTTP, to port 80
        t.tcp(C, 40001, J, 80, F, JUNK)
    return t


HTTP_PKTS, DNS_PKTS, JUNK_PKTS = [3, 4], [5, 6], list(range(7, 18))

# sid -> (rule text, packets it fires on)
RULES = {
    3001: ('alert http any any -> any any (msg:"http GET"; content:"GET "; sid:3001;)', [3]),
    3002: ('alert dns any any -> any any (msg:"dns"; sid:3002;)', DNS_PKTS),
    3003: ('alert ip any any -> any any (msg:"not http"; app-layer-protocol:!http; sid:3003;)', DNS_PKTS + [16]),
    3004: ('alert tcp any any -> any 80 (msg:"GET to port 80"; content:"GET "; sid:3004;)', [3] + JUNK_PKTS),
}
REFUSED = 'alert http2 any any -> any any (msg:"h2"; sid:3009;)'


def body(c, cleanup):
    ws, _gen = ac.programs()
    tmp = ac.temp_dir(cleanup)
    t = traffic()
    cap = t.write_pcap(os.path.join(tmp, "app.pcap"))
    rules = os.path.join(tmp, "app.rules")
    with open(rules, "w") as f:
        for text, *_ in RULES.values():
            f.write(text + "\n")
        f.write(REFUSED + "\n")
    out = os.path.join(tmp, "out")
    os.mkdir(out)
    r = ac.run_agent(ws, ["-r", cap, "-S", rules, "-l", out, "--workers", "2", "-k", "all"])
    c.equal(r.returncode, 0, "exit status", r.stderr)
    err = r.stderr.splitlines()
    c.check(f"wirescope: rules: loaded={len(RULES)} failed=1" in err,
            f"stderr reports rules: loaded={len(RULES)} failed=1", r.stderr)
    c.check(any("sid 3009" in l and "'http2' is not one nDPI 4.2 classifies" in l for l in err),
            "the http2 rule is refused with the reason", r.stderr)

    records, errors = ac.read_eve(os.path.join(out, "eve.json"))
    c.check(not errors, "eve.json lines are JSON", "\n".join(errors[:5]))
    by_ts = {p.ts_us: i for i, p in enumerate(t.packets)}
    alerts = [a for a in records if a.get("event_type") == "alert"]
    got, bad = {}, []
    for a in alerts:
        i = by_ts.get(ts_us(a["timestamp"]))
        sid = a["alert"]["signature_id"]
        got.setdefault(sid, []).append(i)
        if sid not in RULES or i is None:
            continue
        # The not-HTTP flow has no protocol; alerts never print "failed".
        want_app = "http" if i in HTTP_PKTS else "dns" if i in DNS_PKTS else None
        if a.get("app_proto") != want_app:
            bad.append(f"packet {i} sid {sid}: app_proto {a.get('app_proto')!r}, want {want_app!r}")
        ndpi = a.get("ndpi")
        if i in HTTP_PKTS + DNS_PKTS:
            want_proto = "HTTP" if i in HTTP_PKTS else "DNS"
            if not ndpi or ndpi.get("protocol") != want_proto:
                bad.append(f"packet {i} sid {sid}: ndpi {ndpi!r}, want protocol {want_proto}")
        elif i >= 16:
            if not ndpi or ndpi.get("confidence") != "Match by port":
                bad.append(f"packet {i} sid {sid}: ndpi {ndpi!r}, want the final label (a port guess)")
        elif ndpi is not None:
            bad.append(f"packet {i} sid {sid}: ndpi {ndpi!r} while nDPI is still reading the flow")
    for sid, (_, want) in RULES.items():
        c.equal(sorted(got.get(sid, [])), want, f"sid {sid} fires on packets")
    c.check(not (set(got) - set(RULES)), "no alerts of other sids", str(sorted(got)))
    c.check(alerts and not bad, f"app_proto and ndpi of {len(alerts)} alerts", "\n".join(bad[:20]))

    # Keyed with the server too: the not-HTTP flow also goes from C to port
    # 80, and the two workers' records reach eve.json in either order.
    flows = {(f["src_ip"], f["dest_ip"], f.get("dest_port")): f for f in records if f.get("event_type") == "flow"}
    c.equal(flows.get((C, S, 80), {}).get("app_proto"), "http", "the HTTP flow event: app_proto http")
    c.equal(flows.get((C, D, 53), {}).get("app_proto"), "dns", "the DNS flow event: app_proto dns")
    c.equal(flows.get((C, S, 80), {}).get("flow", {}).get("alerted"), True, "the HTTP flow alerted")
    junk = [f for f in records if f.get("event_type") == "flow" and f.get("dest_ip") == J]
    c.check(len(junk) == 1 and junk[0].get("app_proto") == "failed",
            "the not-HTTP flow event: app_proto failed", str(junk))


def ts_us(text):
    """EVE timestamp text ("2023-11-14T22:13:20.001000+0000") -> µs since the epoch."""
    import datetime

    d = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")
    return int(d.timestamp()) * 1_000_000 + d.microsecond


if __name__ == "__main__":
    ac.main("agent_app_rules", body)
