#!/usr/bin/python3
"""wirescope -r CAP -l DIR with 1, 2 and 3 workers: EVE flow records.

Every eve.json line is a JSON object with Suricata's flow fields; the
records add up to the generator's truth (packets, frame bytes, per
protocol, distinct 5-tuples); the community ID of every record is what the
Community ID v1 spec gives for its fields; the set of records is identical
for 1, 2 and 3 workers; the one-line summary on stdout parses and agrees.
"""
import datetime
import ipaddress
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_common as ac  # noqa: E402

TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d{4}$")
STATES = {"new", "established", "closed"}
REASONS = {"timeout", "shutdown", "forced", "tcp_reuse"}
HEX_RE = re.compile(r"^[0-9a-f]{2}$")


def ts_ns(s):
    """'2023-11-14T22:13:56.072840+0000' -> ns since the epoch."""
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f%z")
    return (int(d.timestamp()) * 1000000 + d.microsecond) * 1000


def record_problems(r, truth, first_record=True):
    """Everything wrong with one EVE flow record, as a list of messages.

    first_record: the record starts its flow (no active timeout cut it from
    an earlier one), so its first packet went to the server.
    """
    p = []
    for k in ("timestamp", "flow_id", "event_type", "src_ip", "dest_ip", "proto", "community_id", "flow"):
        if k not in r:
            p.append(f"missing '{k}'")
    if p:
        return p
    if r["event_type"] != "flow":
        p.append(f"event_type {r['event_type']!r}")
    if not isinstance(r["flow_id"], int) or r["flow_id"] <= 0:
        p.append(f"flow_id {r['flow_id']!r}")
    try:
        a, b = ipaddress.ip_address(r["src_ip"]), ipaddress.ip_address(r["dest_ip"])
        if a.version != b.version or r.get("ip_v") != a.version:
            p.append(f"ip_v {r.get('ip_v')} for {a} -> {b}")
    except ValueError as e:
        p.append(str(e))
    f = r["flow"]
    for k in ("pkts_toserver", "pkts_toclient", "bytes_toserver", "bytes_toclient", "start", "end", "age",
              "state", "reason", "alerted"):
        if k not in f:
            p.append(f"missing 'flow.{k}'")
    if p:
        return p
    for k in ("pkts_toserver", "pkts_toclient", "bytes_toserver", "bytes_toclient", "age"):
        if not isinstance(f[k], int) or f[k] < 0:
            p.append(f"flow.{k} = {f[k]!r}")
    if f["pkts_toserver"] + f["pkts_toclient"] == 0:
        p.append("a record without packets")
    elif f["pkts_toserver"] == 0 and first_record:
        p.append("no packet to the server: the first packet makes the client")
    if f["pkts_toclient"] == 0 and f["bytes_toclient"] != 0:
        p.append("bytes to the client without packets")
    for k in ("timestamp",):
        if not TS_RE.match(r[k]):
            p.append(f"{k} {r[k]!r} is not Suricata's time format")
    for k in ("start", "end"):
        if not TS_RE.match(f[k]):
            p.append(f"flow.{k} {f[k]!r} is not Suricata's time format")
    if not p:
        start, end, stamp = ts_ns(f["start"]), ts_ns(f["end"]), ts_ns(r["timestamp"])
        first_us, last_us = truth["first_ts_ns"] // 1000 * 1000, truth["last_ts_ns"] // 1000 * 1000
        if not first_us <= start <= end <= last_us:
            p.append(f"start {f['start']} / end {f['end']} outside the capture or reversed")
        if stamp < end:
            p.append(f"timestamp {r['timestamp']} before the flow's end {f['end']}")
        age = end // 10**9 - start // 10**9
        if f["age"] != age:
            p.append(f"flow.age {f['age']}, end - start is {age} s")
    if f["state"] not in STATES:
        p.append(f"flow.state {f['state']!r}")
    if f["reason"] not in REASONS:
        p.append(f"flow.reason {f['reason']!r}")
    if f["alerted"] is not False:
        p.append(f"flow.alerted {f['alerted']!r}")
    if r["proto"] == "TCP":
        t = r.get("tcp")
        if not isinstance(t, dict):
            p.append("TCP flow without a 'tcp' object")
        else:
            for k in ("tcp_flags", "tcp_flags_ts", "tcp_flags_tc"):
                if not HEX_RE.match(str(t.get(k))):
                    p.append(f"tcp.{k} {t.get(k)!r} is not two hex digits")
            if all(HEX_RE.match(str(t.get(k))) for k in ("tcp_flags", "tcp_flags_ts", "tcp_flags_tc")):
                if int(t["tcp_flags"], 16) != int(t["tcp_flags_ts"], 16) | int(t["tcp_flags_tc"], 16):
                    p.append(f"tcp_flags {t['tcp_flags']} is not tcp_flags_ts | tcp_flags_tc")
                if f["pkts_toclient"] == 0 and t["tcp_flags_tc"] != "00":
                    p.append("flags to the client without packets")
                names = {"syn": 0x02, "fin": 0x01, "rst": 0x04, "psh": 0x08, "ack": 0x10, "urg": 0x20}
                for n, bit in names.items():
                    if bool(t.get(n, False)) != bool(int(t["tcp_flags"], 16) & bit):
                        p.append(f"tcp.{n} is {t.get(n)!r} but tcp_flags is {t['tcp_flags']}")
            if t.get("state") not in (None, "new", "syn_sent", "syn_recv", "established", "fin_wait1",
                                      "fin_wait2", "time_wait", "close_wait", "last_ack", "closing", "closed",
                                      "none"):
                p.append(f"tcp.state {t.get('state')!r}")
    elif "tcp" in r:
        p.append(f"'tcp' object on a {r['proto']} flow")
    if r["proto"] in ("TCP", "UDP"):
        for k in ("src_port", "dest_port"):
            if not isinstance(r.get(k), int) or not 0 <= r[k] <= 65535:
                p.append(f"{k} {r.get(k)!r}")
    if ac.is_icmp(r["proto"]) and "icmp_type" not in r:
        p.append("ICMP flow without icmp_type")
    want_cid = ac.community_id(r)
    if r["community_id"] != want_cid:
        p.append(f"community_id {r['community_id']}, the spec gives {want_cid}")
    return p


def canonical_key(r, with_vlan=True):
    """Bidirectional 5-tuple of a record (ports 0 for ICMP), optionally with the outer VLAN."""
    icmp = ac.is_icmp(r["proto"])
    a = (ipaddress.ip_address(r["src_ip"]).packed, 0 if icmp else r.get("src_port", 0))
    b = (ipaddress.ip_address(r["dest_ip"]).packed, 0 if icmp else r.get("dest_port", 0))
    return (ac.outer_vlan(r) if with_vlan else 0, r["proto"]) + tuple(sorted([a, b]))


def body(c, cleanup):
    ws, gen = ac.programs()
    tmp = ac.temp_dir(cleanup)
    cap, truth = ac.generate(gen, tmp, packets=100000, flows=3000, seed=7)
    print(f"capture: {truth['packets']} packets, {truth['flows']} flows, {truth['fragment_packets']} fragments, "
          f"{truth['vlan_packets']} tagged, {truth['ipv6_packets']} IPv6")
    c.check(truth["fragment_packets"] > 0 and truth["vlan_packets"] > 0 and truth["qinq_packets"] > 0
            and truth["ipv6_packets"] > 0, "the capture has fragments, VLAN and QinQ tags and IPv6")
    c.equal(truth["ipv4_packets"] + truth["ipv6_packets"], truth["packets"], "every generated packet is IP")

    # Default timeouts, then a 60 s active timeout that cuts most flows
    # (they last longer) into several records.
    for active in (None, 60):
        run_variant(c, ws, cap, truth, tmp, active)
    ipv6_text(c, ws, cap, tmp)


def ipv6_text(c, ws, cap, tmp):
    """IPv6 addresses: Suricata's eight zero-padded groups by default,
    RFC 5952 with output.eve.ipv6: compressed; nothing else changes."""
    print("-- output.eve.ipv6")
    full_re = re.compile(r"^[0-9a-f]{4}(:[0-9a-f]{4}){7}$")
    got = {}
    for form in ("full", "compressed"):
        out = os.path.join(tmp, f"eve-ipv6-{form}")
        os.mkdir(out)
        conf = os.path.join(tmp, f"ipv6-{form}.yaml")
        with open(conf, "w") as f:
            f.write(f"output:\n  eve:\n    ipv6: {form}\n")
        args = ["-r", cap, "-l", out, "--workers", "1"] + (["-c", conf] if form == "compressed" else [])
        r = ac.run_agent(ws, args)
        c.equal(r.returncode, 0, f"ipv6 {form}: exit status", r.stdout[-2000:])
        got[form], _ = ac.read_eve(os.path.join(out, "eve.json"))
    v6 = [r for r in got["full"] if r.get("ip_v") == 6]
    c.check(v6 and all(full_re.match(r["src_ip"]) and full_re.match(r["dest_ip"]) for r in v6),
            f"default: every IPv6 address in eight zero-padded groups ({len(v6)} records)",
            "\n".join(f"{r['src_ip']} -> {r['dest_ip']}" for r in v6[:5]))
    v6c = [r for r in got["compressed"] if r.get("ip_v") == 6]
    c.check(v6c and all(r["src_ip"] == str(ipaddress.ip_address(r["src_ip"])) for r in v6c),
            "output.eve.ipv6: compressed: RFC 5952 text", "\n".join(r["src_ip"] for r in v6c[:5]))
    norm = [dict(r, src_ip=ac.eve_ip(r["src_ip"]), dest_ip=ac.eve_ip(r["dest_ip"])) for r in got["full"]]
    c.check(norm == got["compressed"], "and the records are otherwise the same")


def run_variant(c, ws, cap, truth, tmp, active):
    ip_packets = truth["ipv4_packets"] + truth["ipv6_packets"]
    extra = ["--active-timeout", str(active)] if active else []
    lines_by_workers = {}
    for workers in (1, 2, 3):
        label = f"{workers}w" + (f" active {active}s" if active else "")
        print(f"-- {label}")
        out = os.path.join(tmp, f"eve{workers}-{active}")
        os.mkdir(out)
        r = ac.run_agent(ws, ["-r", cap, "-l", out, "--workers", str(workers)] + extra)
        c.equal(r.returncode, 0, f"{label}: exit status")
        s = ac.parse_summary(r.stdout)
        if not c.check(s is not None, f"{label}: the summary line parses", r.stdout):
            continue
        c.equal(s["packets"], truth["packets"], f"{label}: summary packets = truth packets")
        c.equal(s["bytes"], truth["frame_bytes"], f"{label}: summary bytes = truth frame_bytes")
        c.equal(s["dropped"], 0, f"{label}: summary dropped", str(s["drops"]))

        path = os.path.join(out, "eve.json")
        records, errors = ac.read_eve(path)
        c.check(not errors, f"{label}: every eve.json line is a JSON object", "\n".join(errors[:10]))
        with open(path) as f:
            lines_by_workers[workers] = sorted(f.read().splitlines())
        c.equal(len(records), s["records"], f"{label}: eve.json lines = summary records")
        c.check(len(records) >= truth["flows"], f"{label}: at least one record per flow "
                f"({len(records)} records, {truth['flows']} flows)")

        bad = []
        for n, rec in enumerate(records, 1):
            probs = record_problems(rec, truth, first_record=not active)
            if probs:
                bad.append(f"line {n}: {'; '.join(probs)}: {str(rec)[:300]}")
        c.check(not bad, f"{label}: every record has valid Suricata flow fields "
                f"and the spec's community ID ({len(bad)} bad)", "\n".join(bad[:10]))

        pkts, byts = ac.eve_totals(records)
        c.equal(pkts, ip_packets, f"{label}: sum of flow packets = truth IP packets")
        c.equal(byts, truth["frame_bytes"], f"{label}: sum of flow bytes = truth frame bytes")
        for proto, name in (("TCP", "tcp"), ("UDP", "udp"), ("ICMP", "icmp"), ("IPv6-ICMP", "icmpv6")):
            got = sum(r["flow"]["pkts_toserver"] + r["flow"]["pkts_toclient"] for r in records
                      if r["proto"] == proto)
            c.equal(got, truth["protocols"][name]["packets"], f"{label}: {proto} packets")
        for proto, name in (("TCP", "tcp"), ("UDP", "udp")):
            keys = {canonical_key(r) for r in records if r["proto"] == proto}
            c.equal(len(keys), truth["protocols"][name]["flows"], f"{label}: distinct {proto} 5-tuples + VLAN")
        non_icmp = [r for r in records if not ac.is_icmp(r["proto"])]
        icmp_flows = truth["protocols"]["icmp"]["flows"] + truth["protocols"]["icmpv6"]["flows"]
        c.equal(len({canonical_key(r) for r in non_icmp}), truth["flows"] - icmp_flows,
                f"{label}: distinct non-ICMP 5-tuples + outer VLAN = truth flows - ICMP flows")
        vlan_twins = truth["flows"] - truth["flows_ignoring_vlan"]
        c.equal(len({canonical_key(r) for r in non_icmp}) - len({canonical_key(r, False) for r in non_icmp}),
                vlan_twins, f"{label}: 5-tuples repeated on another VLAN are separate flows")
        vlans = sum(r["flow"]["pkts_toserver"] + r["flow"]["pkts_toclient"] for r in records if r.get("vlan"))
        c.equal(vlans, truth["vlan_packets"], f"{label}: packets of flows with a 'vlan' array = tagged packets")
        qinq = sum(r["flow"]["pkts_toserver"] + r["flow"]["pkts_toclient"] for r in records
                   if len(r.get("vlan", [])) == 2)
        c.equal(qinq, truth["qinq_packets"], f"{label}: packets of flows with two VLAN ids = QinQ packets")
        c.check(any(r["flow"]["reason"] == "timeout" for r in records)
                and any(r["flow"]["reason"] == "shutdown" for r in records),
                f"{label}: records end by timeout and at shutdown")
        if active:
            long = [r for r in records if ts_ns(r["flow"]["end"]) - ts_ns(r["flow"]["start"]) >= active * 10**9]
            c.check(not long, f"{label}: no record spans the active timeout", "\n".join(str(r) for r in long[:3]))
            c.check(len(records) > 2 * truth["flows"], f"{label}: long flows are cut into several records "
                    f"({len(records)} records, {truth['flows']} flows)")

    if len(lines_by_workers) == 3:
        base = lines_by_workers[1]
        for w in (2, 3):
            other = lines_by_workers[w]
            only1 = sorted(set(base) - set(other))
            onlyw = sorted(set(other) - set(base))
            stamp = re.compile(r'"timestamp":"[^"]*",')
            if base != other and sorted(stamp.sub("", l) for l in base) == sorted(stamp.sub("", l) for l in other):
                only1.insert(0, "(the records differ only in their 'timestamp')")
            c.check(base == other, f"{w} workers give the same records as 1 worker" +
                    (f" (active timeout {active} s)" if active else ""),
                    f"{len(only1)} only with 1 worker, e.g.\n" + "\n".join(only1[:3]) +
                    f"\n{len(onlyw)} only with {w} workers, e.g.\n" + "\n".join(onlyw[:3]))


if __name__ == "__main__":
    ac.main("agent_eve", body)
