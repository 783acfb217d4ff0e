#!/usr/bin/python3
"""Golden capture checks: runs wirescope on tests/golden/CASE.pcap and
compares every EVE event with tests/golden/CASE.eve.json.

  golden.py check  --wirescope BIN --dir DIR CASE      compare one case
  golden.py pcaps  --make-golden BIN --dir DIR         checked-in pcaps == make_golden output
  golden.py regen  --wirescope BIN --make-golden BIN --dir DIR [CASE...]
                                                       rewrite pcaps and expected files

Events are compared field by field, timestamps and flow_id included (the
agent is deterministic on a capture); only their order is ignored, by
sorting on (flow start, source, destination). Each case runs with one and
with two workers: sharding must not change a single byte of output.

The expected files say what Suricata would print. Where wirescope is known
to differ, known_bugs.json lists the field, the correct value and what the
agent prints instead: such a difference is reported but does not fail the
test, and an entry that no longer matches fails it (the bug is fixed or has
changed: update the expected file or the list).
"""

import argparse
import base64
import hashlib
import ipaddress
import json
import os
import struct
import subprocess
import sys
import tempfile

ABSENT = "<absent>"
# Objects wirescope adds to Suricata's events (nDPI's verdict): Suricata has
# no counterpart, so the expected files cannot say what they should be.
# tests/telemetry/eve_app_test.cc checks them.
EXTENSIONS = ("ndpi",)


def is_extension(path):
    return path.split(".", 1)[0] in EXTENSIONS


def load_cases(d):
    with open(os.path.join(d, "cases.json")) as f:
        return {c["name"]: c for c in json.load(f)}


def run_agent(wirescope, pcap, args, workers):
    with tempfile.TemporaryDirectory(prefix="golden-") as tmp:
        cmd = [wirescope, "-r", pcap, "-l", tmp, "--workers", str(workers)] + args
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        if p.returncode != 0:
            raise SystemExit("wirescope failed (%d): %s\n%s%s" % (p.returncode, " ".join(cmd), p.stdout, p.stderr))
        with open(os.path.join(tmp, "eve.json")) as f:
            return [json.loads(line) for line in f if line.strip()]


def sort_key(ev):
    return (ev.get("flow", {}).get("start", ""), ev.get("src_ip", ""), ev.get("src_port", -1),
            ev.get("dest_ip", ""), ev.get("dest_port", -1), ev.get("proto", ""))


def flatten(obj, prefix=""):
    out = {}
    for k, v in obj.items():
        path = prefix + k
        if isinstance(v, dict):
            out.update(flatten(v, path + "."))
        else:
            out[path] = v
    return out


def describe(ev):
    return "%s %s:%s -> %s:%s start %s" % (ev.get("proto"), ev.get("src_ip"), ev.get("src_port", "-"),
                                           ev.get("dest_ip"), ev.get("dest_port", "-"),
                                           ev.get("flow", {}).get("start"))


def community_id(ev):
    """Community ID v1 (seed 0) computed here from the event's own fields, as
    an independent check of the expected files."""
    proto = {"TCP": 6, "UDP": 17, "ICMP": 1, "IPv6-ICMP": 58, "SCTP": 132}[ev["proto"]]
    src = ipaddress.ip_address(ev["src_ip"]).packed
    dst = ipaddress.ip_address(ev["dest_ip"]).packed
    if proto in (1, 58):
        t, c = ev["icmp_type"], ev["icmp_code"]
        pairs4 = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
        pairs6 = {128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135, 130: 131, 131: 130,
                  144: 145, 145: 144, 146: 147, 147: 146}
        pairs = pairs4 if proto == 1 else pairs6
        sport, dport = t, pairs.get(t, c)
        one_way = t not in pairs
    else:
        sport, dport = ev["src_port"], ev["dest_port"]
        one_way = False
    if not one_way and (src, sport) > (dst, dport):
        src, dst, sport, dport = dst, src, dport, sport
    data = struct.pack("!H", 0) + src + dst + struct.pack("!BBHH", proto, 0, sport, dport)
    return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode()


def compare(case, expected, actual, known, label):
    """Returns (failures, known_hits) where known_hits are indexes into known."""
    failures, hits = [], set()
    if len(expected) != len(actual):
        failures.append("%s: %d events expected, %d written" % (label, len(expected), len(actual)))
        for ev in actual:
            failures.append("  written: " + json.dumps(ev))
        return failures, hits
    for exp, act in zip(sorted(expected, key=sort_key), sorted(actual, key=sort_key)):
        fe, fa = flatten(exp), flatten(act)
        for path in sorted(set(fe) | set(fa)):
            if is_extension(path):
                continue
            ve, va = fe.get(path, ABSENT), fa.get(path, ABSENT)
            if ve == va:
                continue
            matched = False
            for i, kb in enumerate(known):
                if kb["case"] != case or kb["field"] != path:
                    continue
                if any(fe.get(k) != v for k, v in kb.get("event", {}).items()):
                    continue
                if kb["expected"] == ve and kb["agent"] == va:
                    hits.add(i)
                    matched = True
            if not matched:
                failures.append("%s: %s: %s expected %s, written %s" % (label, describe(exp), path,
                                                                         json.dumps(ve), json.dumps(va)))
        # Key order is part of the EVE format (Suricata's order).
        order_e = [k for k in exp if k in act]
        order_a = [k for k in act if k in exp]
        if order_e != order_a:
            failures.append("%s: %s: key order %s, written %s" % (label, describe(exp), order_e, order_a))
    return failures, hits


def cmd_check(a):
    cases = load_cases(a.dir)
    case = cases[a.case]
    with open(os.path.join(a.dir, a.case + ".eve.json")) as f:
        expected = [json.loads(line) for line in f if line.strip()]
    with open(os.path.join(a.dir, "known_bugs.json")) as f:
        known = json.load(f)
    failures = []
    for ev in expected:
        cid = community_id(ev)
        if ev.get("community_id") != cid:
            failures.append("expected file: %s: community_id %s, computed %s" % (describe(ev), ev.get("community_id"), cid))
    mine = [i for i, kb in enumerate(known) if kb["case"] == a.case]
    for workers in (1, 2):
        actual = run_agent(a.wirescope, os.path.join(a.dir, a.case + ".pcap"), case.get("args", []), workers)
        label = "%s (%d worker%s)" % (a.case, workers, "s" if workers > 1 else "")
        f, hits = compare(a.case, expected, actual, known, label)
        failures += f
        for i in mine:
            if i in hits:
                print("KNOWN BUG %s: %s: %s is %s, should be %s (%s)" % (
                    label, known[i]["field"], json.dumps(known[i]["event"]), json.dumps(known[i]["agent"]),
                    json.dumps(known[i]["expected"]), known[i]["note"]))
            else:
                failures.append("%s: known_bugs.json entry no longer seen (fixed or changed? update the "
                                "list): %s" % (label, json.dumps(known[i])))
    print("%s: %d events expected" % (a.case, len(expected)))
    if failures:
        print("\n".join(failures))
        return 1
    return 0


def cmd_pcaps(a):
    names = sorted(load_cases(a.dir))
    with tempfile.TemporaryDirectory(prefix="golden-pcaps-") as tmp:
        subprocess.run([a.make_golden, tmp], check=True)
        bad = []
        for n in names:
            with open(os.path.join(tmp, n + ".pcap"), "rb") as f:
                made = f.read()
            with open(os.path.join(a.dir, n + ".pcap"), "rb") as f:
                have = f.read()
            if made != have:
                bad.append(n)
    if bad:
        print("checked-in captures differ from make_golden output: %s (run tests/golden/regen.sh "
              "and review)" % " ".join(bad))
        return 1
    print("%d captures match make_golden" % len(names))
    return 0


def cmd_regen(a):
    cases = load_cases(a.dir)
    names = a.cases or sorted(cases)
    with open(os.path.join(a.dir, "known_bugs.json")) as f:
        known = json.load(f)
    subprocess.run([a.make_golden, a.dir] + names, check=True)
    for n in names:
        events = sorted(run_agent(a.wirescope, os.path.join(a.dir, n + ".pcap"), cases[n].get("args", []), 1),
                        key=sort_key)
        # Put back the correct values where the agent is known to be wrong,
        # so that regenerating never writes a known bug into an expectation.
        for kb in known:
            if kb["case"] != n:
                continue
            for ev in events:
                if any(flatten(ev).get(k) != v for k, v in kb["event"].items()):
                    continue
                parts = kb["field"].split(".")
                obj = ev
                for p in parts[:-1]:
                    obj = obj[p]
                if kb["expected"] == ABSENT:
                    obj.pop(parts[-1], None)
                else:
                    obj[parts[-1]] = kb["expected"]
        with open(os.path.join(a.dir, n + ".eve.json"), "w") as f:
            for ev in events:
                f.write(json.dumps(ev, separators=(",", ":")) + "\n")
        print("%s: %d events" % (n, len(events)))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("--wirescope", required=True)
    c.add_argument("--dir", required=True)
    c.add_argument("case")
    c = sub.add_parser("pcaps")
    c.add_argument("--make-golden", required=True)
    c.add_argument("--dir", required=True)
    c = sub.add_parser("regen")
    c.add_argument("--wirescope", required=True)
    c.add_argument("--make-golden", required=True)
    c.add_argument("--dir", required=True)
    c.add_argument("cases", nargs="*")
    a = p.parse_args()
    return {"check": cmd_check, "pcaps": cmd_pcaps, "regen": cmd_regen}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
