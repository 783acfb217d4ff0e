"""Smoke test of the wirescope-gen binary: arguments, output layout, truth
file, nanosecond magic, snaplen and error reporting.

usage: gen_smoke.py WIRESCOPE_GEN
"""
import json
import os
import struct
import subprocess
import sys
import tempfile


def run(args):
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


def records(path):
    """Returns (magic, snaplen, linktype, [(caplen, len)]) of a classic pcap."""
    with open(path, "rb") as f:
        data = f.read()
    magic, _, _, _, _, snaplen, linktype = struct.unpack_from("<IHHiIII", data, 0)
    out, off = [], 24
    while off < len(data):
        _, _, caplen, wirelen = struct.unpack_from("<IIII", data, off)
        out.append((caplen, wirelen))
        off += 16 + caplen
    check(off == len(data), "records end exactly at the end of the file")
    return magic, snaplen, linktype, out


def main():
    gen = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        pcap, truth = os.path.join(d, "a.pcap"), os.path.join(d, "a.json")
        r = run([gen, "--out", pcap, "--packets", "5000", "--flows", "200", "--seed", "3",
                 "--truth", truth])
        check(r.returncode == 0, "exit 0: " + r.stderr)
        check(r.stdout.startswith("wrote 5000 packets"), "summary line: " + r.stdout)
        t = json.load(open(truth))
        check(t["packets"] == 5000 and t["flows"] == 200, "truth counts")
        check(t["config"]["seed"] == 3, "truth echoes the config")
        magic, snaplen, linktype, recs = records(pcap)
        check(magic == 0xA1B2C3D4, "microsecond magic")
        check(linktype == 1, "Ethernet linktype")
        check(len(recs) == 5000, "5000 records")
        check(sum(w for _, w in recs) == t["frame_bytes"], "frame bytes match truth")
        check(all(60 <= w <= 1522 for _, w in recs), "frame sizes 60..1522")

        pn = os.path.join(d, "n.pcap")
        r = run([gen, "-o", pn, "--packets", "3000", "--flows", "100", "--nano", "--snaplen", "96",
                 "--ipv6-share", "0.5", "--vlan-share", "0.5", "--duration-s", "90", "--truth",
                 os.path.join(d, "n.json")])
        check(r.returncode == 0, "exit 0 with all flags: " + r.stderr)
        magic, snaplen, _, recs = records(pn)
        check(magic == 0xA1B23C4D, "nanosecond magic")
        check(snaplen == 96, "snaplen in header")
        check(all(c == min(w, 96) for c, w in recs), "frames cut to snaplen")
        tn = json.load(open(os.path.join(d, "n.json")))
        check(tn["captured_bytes"] == sum(c for c, _ in recs), "captured bytes match truth")
        check(tn["captured_bytes"] < tn["frame_bytes"], "snaplen cut something")
        check(tn["last_ts_ns"] - tn["first_ts_ns"] <= 90 * 10**9, "timeline within duration")

        r = run([gen, "--out", os.path.join(d, "x.pcap"), "--packets", "10", "--flows", "1000"])
        check(r.returncode != 0 and "--packets" in r.stderr, "too few packets rejected: " + r.stderr)
        r = run([gen, "--packets", "10"])
        check(r.returncode != 0, "--out is required")
        r = run([gen, "--out", os.path.join(d, "no", "such", "dir.pcap")])
        check(r.returncode != 0 and "cannot create" in r.stderr, "unwritable path: " + r.stderr)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
