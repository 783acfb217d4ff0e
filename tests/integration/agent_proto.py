#!/usr/bin/python3
"""wirescope -r CAP -l DIR --export-proto tcp://127.0.0.1:PORT: protobuf events.

A Python collector takes the agent's TCP stream, splits it at the varint
length prefixes, and has the real `protoc --decode=wirescope.Event
telemetry/wirescope.proto` decode every message. The flow events of the run
must be the EVE flow records of the same run, field by field (addresses,
ports, protocol, counters, times, state, reason, app_proto, VLANs,
community ID, TCP flags, nDPI verdict), and the stream must end with a Stats event whose
counters are the run's summary. The demo capture with the demo rules gives
alert events equal to its EVE alerts; output.proto.url does what the flag
does; a udp:// or malformed URL is a usage error; a run against a port
where nobody listens still finishes, with every record counted as dropped.

argv: WIRESCOPE WIRESCOPE_GEN WIRESCOPE_PROTO
"""
import codecs
import concurrent.futures
import datetime
import ipaddress
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_common as ac  # noqa: E402

PROTO_NAMES = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "IPv6-ICMP", 132: "SCTP"}
REASONS = {"FLOW_END_REASON_IDLE_TIMEOUT": "timeout", "FLOW_END_REASON_ACTIVE_TIMEOUT": "timeout",
           "FLOW_END_REASON_END_OF_FLOW": "timeout", "FLOW_END_REASON_FORCED": "forced",
           "FLOW_END_REASON_SHUTDOWN": "shutdown", "FLOW_END_REASON_TCP_REUSE": "tcp_reuse"}


# --- the collector ---------------------------------------------------------------


class Collector:
    """Accepts one connection on 127.0.0.1 (port 0) and keeps every byte."""

    def __init__(self, cleanup):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.data = bytearray()
        self.connections = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        cleanup.add(self.sock.close)

    def _run(self):
        conn, _ = self.sock.accept()
        self.connections += 1
        with conn:
            while True:
                b = conn.recv(65536)
                if not b:
                    return
                self.data += b

    def wait(self, timeout=30):
        self.thread.join(timeout)
        return not self.thread.is_alive()


def split_varint_stream(data):
    """(messages, leftover bytes) of a stream of varint-length-prefixed messages."""
    out, pos = [], 0
    while pos < len(data):
        length, shift, at = 0, 0, pos
        while True:
            if at >= len(data) or shift > 63:
                return out, len(data) - pos
            b = data[at]
            at += 1
            length |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        if at + length > len(data):
            return out, len(data) - pos
        out.append(bytes(data[at:at + length]))
        pos = at + length
    return out, 0


# --- protoc's text format -----------------------------------------------------------

LINE_RE = re.compile(r'^(\w+): (.*)$')


def parse_text_format(text):
    """protoc --decode output as nested dicts; every field is a list of values."""
    root = {}
    stack = [root]
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.endswith("{"):
            child = {}
            stack[-1].setdefault(line[:-1].strip(), []).append(child)
            stack.append(child)
        elif line == "}":
            stack.pop()
        else:
            m = LINE_RE.match(line)
            if not m:
                raise ValueError(f"unexpected line {raw!r}")
            k, v = m.group(1), m.group(2)
            if v.startswith('"'):
                val = codecs.escape_decode(v[1:-1].encode("latin-1"))[0]  # bytes
            elif re.match(r"^-?\d+$", v):
                val = int(v)
            elif v in ("true", "false"):
                val = v == "true"
            elif re.match(r"^[-\d.eE+]+$", v):
                val = float(v)
            else:
                val = v  # an enum name
            stack[-1].setdefault(k, []).append(val)
    if len(stack) != 1:
        raise ValueError("unbalanced braces")
    return root


def one(d, k, default=None):
    v = d.get(k)
    return v[0] if v else default


def decode_all(protoc, proto_dir, proto_file, messages):
    """Each message through protoc --decode; returns [(returncode, stdout, stderr)]."""

    def decode(m):
        r = subprocess.run([protoc, "--decode=wirescope.Event", "-I", proto_dir, proto_file], input=m,
                           capture_output=True, timeout=60)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(decode, messages))


# --- comparing with EVE -----------------------------------------------------------------


def eve_us(s):
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f%z")
    return int(d.timestamp()) * 1000000 + d.microsecond


def eve_view(r):
    """The fields both outputs carry, as EVE prints them."""
    f = r["flow"]
    t = r.get("tcp", {})
    return (r["flow_id"], ac.eve_ip(r["src_ip"]), r.get("src_port", 0), ac.eve_ip(r["dest_ip"]), r.get("dest_port", 0),
            r["ip_v"],
            r["proto"], r.get("app_proto", ""), tuple(r.get("vlan", [])), f["pkts_toserver"], f["pkts_toclient"],
            f["bytes_toserver"], f["bytes_toclient"], eve_us(f["start"]), eve_us(f["end"]), eve_us(r["timestamp"]),
            f["state"], f["reason"], f["alerted"], r["community_id"],
            int(t.get("tcp_flags_ts", "0"), 16), int(t.get("tcp_flags_tc", "0"), 16), t.get("state", ""),
            r.get("icmp_type", 0), r.get("icmp_code", 0), ndpi_eve(r.get("ndpi")))


def ndpi_eve(n):
    if n is None:
        return None
    return (n["protocol"], n["category"], n["confidence"], n.get("hostname", ""), tuple(n["risk"]))


def ndpi_proto(n):
    if n is None:
        return None
    text = lambda k: one(n, k, b"").decode()  # noqa: E731
    return (text("protocol"), text("category"), text("confidence"), text("hostname"),
            tuple(x.decode() for x in n.get("risk", [])))


def proto_view(f):
    """The same fields from a decoded FlowRecord, converted to EVE's forms."""
    proto = one(f, "proto", 0)
    ip = lambda b: str(ipaddress.ip_address(b))  # noqa: E731
    state = one(f, "state", "FLOW_STATE_NEW").removeprefix("FLOW_STATE_").lower()
    tcp_state = one(f, "tcp_state", "TCP_STATE_NONE").removeprefix("TCP_STATE_").lower() if proto == 6 else ""
    return (one(f, "flow_id", 0), ip(one(f, "src_ip")), one(f, "src_port", 0), ip(one(f, "dest_ip")),
            one(f, "dest_port", 0), one(f, "ip_v", 0), PROTO_NAMES.get(proto, str(proto)),
            one(f, "app_proto", b"").decode(), tuple(f.get("vlan", [])), one(f, "pkts_toserver", 0),
            one(f, "pkts_toclient", 0), one(f, "bytes_toserver", 0), one(f, "bytes_toclient", 0),
            one(f, "start_ns", 0) // 1000, one(f, "end_ns", 0) // 1000, one(f, "timestamp_ns", 0) // 1000, state,
            REASONS.get(one(f, "reason", ""), "?"), one(f, "alerted", False), one(f, "community_id", b"").decode(),
            one(f, "tcp_flags_ts", 0), one(f, "tcp_flags_tc", 0), tcp_state,
            one(f, "icmp_type", 0), one(f, "icmp_code", 0), ndpi_proto(one(f, "ndpi")))


def eve_alert_view(r):
    a, f = r["alert"], r["flow"]
    return (eve_us(r["timestamp"]), r["flow_id"], ac.eve_ip(r["src_ip"]), r.get("src_port", 0), ac.eve_ip(r["dest_ip"]),
            r.get("dest_port", 0), r["ip_v"], r["proto"], r.get("app_proto", ""), r["direction"], r["community_id"],
            a["action"], a["gid"], a["signature_id"], a["rev"], a["signature"], a.get("category", ""), a["severity"],
            f["pkts_toserver"], f["pkts_toclient"], f["bytes_toserver"], f["bytes_toclient"], eve_us(f["start"]),
            ac.eve_ip(f["src_ip"]), ac.eve_ip(f["dest_ip"]), f.get("src_port", 0), f.get("dest_port", 0),
            ndpi_eve(r.get("ndpi")))


def proto_alert_view(a):
    ip = lambda b: str(ipaddress.ip_address(b))  # noqa: E731
    text = lambda d, k: one(d, k, b"").decode()  # noqa: E731
    f = one(a, "flow", {})
    return (one(a, "timestamp_ns", 0) // 1000, one(a, "flow_id", 0), ip(one(a, "src_ip")), one(a, "src_port", 0),
            ip(one(a, "dest_ip")), one(a, "dest_port", 0), one(a, "ip_v", 0),
            PROTO_NAMES.get(one(a, "proto", 0), str(one(a, "proto", 0))), text(a, "app_proto"),
            "to_server" if one(a, "to_server", False) else "to_client", text(a, "community_id"),
            "blocked" if one(a, "blocked", False) else "allowed", one(a, "gid", 0), one(a, "signature_id", 0),
            one(a, "rev", 0), text(a, "signature"), text(a, "category"), one(a, "severity", 0),
            one(f, "pkts_toserver", 0), one(f, "pkts_toclient", 0), one(f, "bytes_toserver", 0),
            one(f, "bytes_toclient", 0), one(f, "start_ns", 0) // 1000, ip(one(f, "src_ip")), ip(one(f, "dest_ip")),
            one(f, "src_port", 0), one(f, "dest_port", 0), ndpi_proto(one(a, "ndpi")))


def collect(c, cleanup, ws, protoc, proto_file, args, label, config_dir=None):
    """Runs the agent into a fresh collector; returns (summary, decoded events) or (None, None).

    config_dir: name the collector in a config file there (output.proto.url)
    instead of with --export-proto.
    """
    col = Collector(cleanup)
    url = f"tcp://127.0.0.1:{col.port}"
    if config_dir:
        conf = os.path.join(config_dir, "proto.yaml")
        with open(conf, "w") as f:
            f.write(f"output:\n  proto:\n    url: {url}\n")
        r = ac.run_agent(ws, args + ["-c", conf])
    else:
        r = ac.run_agent(ws, args + ["--export-proto", url])
    c.equal(r.returncode, 0, f"{label}: exit status")
    s = ac.parse_summary(r.stdout)
    if not c.check(s is not None, f"{label}: the summary line parses", r.stdout):
        return None, None
    c.equal(s["dropped"], 0, f"{label}: nothing dropped (the collector took everything)", str(s["drops"]))
    c.check(col.wait(), f"{label}: the agent closed the stream at exit")
    c.equal(col.connections, 1, f"{label}: one connection")
    messages, leftover = split_varint_stream(col.data)
    c.equal(leftover, 0, f"{label}: the stream ends with a whole message")
    print(f"{label}: {len(col.data)} bytes, {len(messages)} messages")
    decoded = decode_all(protoc, os.path.dirname(proto_file), proto_file, messages)
    failed = [f"message {i}: {err.strip()}" for i, (rc, _, err) in enumerate(decoded) if rc != 0]
    c.check(not failed, f"{label}: protoc decodes all {len(messages)} messages as wirescope.Event",
            "\n".join(failed[:5]))
    return s, [parse_text_format(out_text) for rc, out_text, _ in decoded if rc == 0]


def body(c, cleanup):
    ws, gen = ac.programs()
    if len(sys.argv) < 4:
        print(f"usage: {sys.argv[0]} WIRESCOPE WIRESCOPE_GEN WIRESCOPE_PROTO", file=sys.stderr)
        sys.exit(2)
    proto_file = os.path.abspath(sys.argv[3])
    protoc = ac.need_program("protoc", "protobuf-compiler")
    tmp = ac.temp_dir(cleanup)
    # IPv4 and IPv6, VLAN tags; a 60 s active timeout cuts long flows into slices.
    cap, truth = ac.generate(gen, tmp, packets=20000, flows=400, seed=11)

    out = os.path.join(tmp, "eve")
    os.mkdir(out)
    s, events = collect(c, cleanup, ws, protoc, proto_file,
                        ["-r", cap, "-l", out, "--workers", "2", "--active-timeout", "60"], "flows")
    if s is None:
        return
    kinds = Counter(next(iter(e)) if len(e) == 1 else "?" for e in events)
    c.equal(set(kinds) - {"flow", "stats"}, set(), "every event is a flow or stats (no alerts without rules)")

    flows = [e["flow"][0] for e in events if "flow" in e]
    records, errors = ac.read_eve(os.path.join(out, "eve.json"))
    c.check(not errors, "eve.json parses", "\n".join(errors[:5]))
    c.equal(len(flows), s["records"], "flow events = summary records")
    c.equal(len(flows), len(records), "flow events = EVE flow records")
    c.check(any(not one(f, "last_slice", False) for f in flows), "some records are active-timeout slices")
    c.check(any(one(f, "ip_v") == 6 for f in flows) and any(f.get("vlan") for f in flows),
            "the events include IPv6 and VLAN-tagged flows")

    eve = Counter(eve_view(x) for x in records)
    got = Counter(proto_view(f) for f in flows)
    missing, extra = eve - got, got - eve
    c.check(not missing and not extra, "every flow event equals its EVE record (addresses, ports, protocol, "
            "counters, times, state, reason, app_proto, VLANs, community ID, TCP flags, ICMP, nDPI)",
            "only in EVE:\n" + "\n".join(map(str, list(missing)[:5])) +
            "\nonly in protobuf:\n" + "\n".join(map(str, list(extra)[:5])))
    c.equal(sum(one(f, "octets_toserver", 0) + one(f, "octets_toclient", 0) for f in flows) > 0, True,
            "IP-layer octets are filled")
    c.equal(sum(one(f, "pkts_toserver", 0) + one(f, "pkts_toclient", 0) for f in flows),
            truth["ipv4_packets"] + truth["ipv6_packets"], "flow event packets = truth IP packets")

    stats = [e["stats"][0] for e in events if "stats" in e]
    if c.check(stats, "at least one Stats event"):
        last = stats[-1]
        c.check("stats" in events[-1], "the stream ends with a Stats event")
        c.equal(one(last, "packets", 0), s["packets"], "last Stats packets = summary packets")
        c.equal(one(last, "bytes", 0), s["bytes"], "last Stats bytes = summary bytes")
        c.equal(one(last, "flows_created", 0), s["flows"], "last Stats flows_created = summary flows")
        c.equal(one(last, "records_exported", 0), s["records"], "last Stats records_exported = summary records")
        c.equal(len(last.get("workers", [])), 2, "last Stats has both workers")
        c.equal(sum(one(w, "packets", 0) for w in last.get("workers", [])) > 0, True, "per-worker packets")

    print(f"{sum(1 for f in flows if f.get('ndpi'))} flow events carry an nDPI verdict")

    # Alerts: the demo capture and rules; every alert event equals its EVE alert.
    print("-- alerts")
    demo = os.path.join(os.path.dirname(os.path.dirname(proto_file)), "deploy", "demo")
    out = os.path.join(tmp, "eve-alerts")
    os.mkdir(out)
    s, events = collect(c, cleanup, ws, protoc, proto_file,
                        ["-r", os.path.join(demo, "demo.pcap"), "-S", os.path.join(demo, "demo.rules"), "-l", out,
                         "--workers", "2"], "alerts")
    if s is not None:
        records, errors = ac.read_eve(os.path.join(out, "eve.json"))
        eve_alerts = [x for x in records if x.get("event_type") == "alert"]
        alerts = [e["alert"][0] for e in events if "alert" in e]
        c.check(len(eve_alerts) > 0, f"alerts: the demo rules alert ({len(eve_alerts)})")
        c.equal(len(alerts), s["alerts"], "alerts: alert events = summary alerts")
        c.equal(len([e for e in events if "flow" in e]), s["records"], "alerts: flow events = summary records")
        want, got = Counter(map(eve_alert_view, eve_alerts)), Counter(map(proto_alert_view, alerts))
        c.check(want == got, "alerts: every alert event equals its EVE alert (time, tuple, rule, severity, "
                "direction, action, community ID, flow counters and tuple, nDPI)",
                "only in EVE:\n" + "\n".join(map(str, list(want - got)[:5])) +
                "\nonly in protobuf:\n" + "\n".join(map(str, list(got - want)[:5])))

    # The config key does what the flag does.
    print("-- output.proto.url")
    s, events = collect(c, cleanup, ws, protoc, proto_file, ["-r", cap, "--workers", "1"], "config key",
                        config_dir=tmp)
    if s is not None:
        c.equal(len([e for e in events if "flow" in e]), s["records"], "config key: flow events = summary records")

    print("-- usage errors")
    for url, needle in (("udp://127.0.0.1:5000", "tcp://"), ("tcp://nohostport", "nohostport")):
        r = ac.run_agent(ws, ["-r", cap, "--export-proto", url])
        c.equal(r.returncode, 2, f"--export-proto {url}: exit status 2")
        c.check("--export-proto" in r.stderr and needle in r.stderr,
                f"--export-proto {url}: the message names the flag and {needle!r}", r.stderr)

    # Nobody listening: the run still ends at once and counts what it lost.
    print("-- no collector")
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))  # held, never listening: connections are refused
    cleanup.add(dead.close)
    t0 = time.monotonic()
    r = ac.run_agent(ws, ["-r", cap, "--workers", "2", "--export-proto",
                          f"tcp://127.0.0.1:{dead.getsockname()[1]}"], timeout=60)
    took = time.monotonic() - t0
    c.equal(r.returncode, 0, "no collector: exit status")
    s2 = ac.parse_summary(r.stdout)
    if c.check(s2 is not None, "no collector: the summary parses", r.stdout):
        c.equal(s2["drops"].get("proto_dropped_records"), s2["records"],
                "no collector: every record is counted as dropped", str(s2["drops"]))
    print(f"no collector: {took:.2f} s")


if __name__ == "__main__":
    ac.main("agent_proto", body)
