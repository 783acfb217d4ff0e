#!/usr/bin/python3
"""wirescope's nDPI labels against ndpiReader on nDPI's own captures.

For every capture in ../shared/testdata/ndpi-pcap (skipped, exit 77, when the
folder or ndpiReader is absent): run `ndpiReader -i FILE -v 2` (the same
libndpi the agent links) and `wirescope -r FILE -l DIR`, and for every TCP/UDP
flow ndpiReader lists compare its protocol (`[proto: 91.26/TLS.ntop]` ->
`TLS.ntop`) with the `ndpi.protocol` of wirescope's flow with the same
addresses and ports (either direction).

Flow identity differs between the two (timeouts, TCP port reuse, idle
purges): ndpiReader keeps one flow per 5-tuple for the whole capture, where
wirescope may have ended it and started another. A 5-tuple therefore agrees
when any of wirescope's flows on it has ndpiReader's label; the first of them
is the one shown when none has. A flow ndpiReader lists that wirescope has no
flow for (a link layer or tunnel wirescope does not decode) is a
disagreement too.

Prints every disagreement, the per-file counts and the agreement ratio, and
fails when the ratio is under --min (the measured level; see
tests/integration/NDPI_DIFFERENCES.md). With --write FILE it also writes the
disagreement list as Markdown rows.

argv: wirescope binary [--min RATIO] [--write FILE] [--max-packets N]
"""
import argparse
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, '..', '..', '..', 'shared', 'testdata', 'ndpi-pcap'))

LINE = re.compile(r'^\s+\d+\s+(TCP|UDP)\s+(\S+):(\d+)\s+(?:<->|->)\s+(\S+):(\d+)\s+(?:\[VLAN: \d+\])?.*?\[proto: ([^\]]+)\]')


def strip_brackets(a):
    return a[1:-1] if a.startswith('[') and a.endswith(']') else a


def norm_ip(a):
    # ndpiReader prints some IPv6 addresses in forms Python does not parse
    # (two '::'); those are kept as text and will not match.
    try:
        return str(ipaddress.ip_address(strip_brackets(a)))
    except ValueError:
        return strip_brackets(a)


def tuple_key(proto, a, ap, b, bp):
    return (proto, frozenset([(norm_ip(a), int(ap)), (norm_ip(b), int(bp))]))


def ndpireader_flows(path):
    out = subprocess.run(['ndpiReader', '-i', path, '-v', '2'], capture_output=True, text=True, errors='replace',
                         timeout=120)
    flows = []
    for line in out.stdout.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        proto, a, ap, b, bp, label = m.groups()
        # "91.26/TLS.ntop"; a tunnel prefix ("GTP:7/HTTP") keeps the part after the last '/'.
        name = label.rsplit('/', 1)[-1]
        pk = re.search(r'\[(\d+) pkts/\d+ bytes (?:<->|->) (\d+) pkts', line)
        pkts = int(pk.group(1)) + int(pk.group(2)) if pk else None
        flows.append((tuple_key(proto, a, ap, b, bp), name, pkts, line.strip()[:160]))
    return flows


def wirescope_flows(binary, path, tmp, max_packets):
    for f in os.listdir(tmp):
        os.unlink(os.path.join(tmp, f))
    cmd = [binary, '-r', path, '-l', tmp, '--workers', '1']
    if max_packets:
        cmd += ['--ndpi-max-packets', str(max_packets)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return None, r.stderr.strip()
    by_key = {}
    eve = os.path.join(tmp, 'eve.json')
    if not os.path.exists(eve):
        return by_key, ''
    with open(eve) as f:
        for line in f:
            e = json.loads(line)
            if e.get('event_type') != 'flow' or e.get('proto') not in ('TCP', 'UDP'):
                continue
            k = tuple_key(e['proto'], e['src_ip'], e['src_port'], e['dest_ip'], e['dest_port'])
            n = e.get('ndpi', {}).get('protocol', '(no ndpi object)')
            pk = e['flow']['pkts_toserver'] + e['flow']['pkts_toclient']
            by_key.setdefault(k, []).append((e['flow']['start'], n, pk))
    for v in by_key.values():
        v.sort()
    return by_key, ''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('wirescope')
    ap.add_argument('--min', type=float, default=0.98)
    ap.add_argument('--write')
    ap.add_argument('--max-packets', type=int, default=0)
    args = ap.parse_args()
    if not os.path.isdir(DATA):
        print('skip: no captures at', DATA)
        return 77
    if not shutil.which('ndpiReader'):
        print('skip: ndpiReader not installed (Debian libndpi-bin)')
        return 77
    files = sorted(f for f in os.listdir(DATA) if f.endswith(('.pcap', '.pcapng')))
    total = agree = 0
    rows = []
    tmp = tempfile.mkdtemp(prefix='ws-ndpi-')
    try:
        for name in files:
            path = os.path.join(DATA, name)
            theirs = ndpireader_flows(path)
            if not theirs:
                continue
            ours, err = wirescope_flows(args.wirescope, path, tmp, args.max_packets)
            file_agree = 0
            for key, label, pkts, line in theirs:
                total += 1
                mine = (ours or {}).get(key, [])
                labels = [m[1] for m in mine]
                if label in labels:
                    agree += 1
                    file_agree += 1
                    continue
                got = labels[0] if labels else ('(wirescope error: %s)' % err if ours is None else '(no flow)')
                if len(set(labels)) > 1:
                    got += ' (of %d flows: %s)' % (len(labels), ', '.join(labels))
                rows.append((name, label, got, line))
            print('%-55s %3d/%3d' % (name, file_agree, len(theirs)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print('disagreements (file, ndpiReader, wirescope, ndpiReader line):')
    for r in rows:
        print('  %s | %s | %s | %s' % r)
    ratio = agree / total if total else 1.0
    print()
    print('agreement: %d of %d TCP/UDP flows (%.2f%%); required %.2f%%' % (agree, total, 100 * ratio, 100 * args.min))
    if args.write:
        with open(args.write, 'w') as f:
            for r in rows:
                f.write('| %s | %s | %s |\n' % (r[0], r[1], r[2]))
    if total == 0:
        print('FAIL: ndpiReader listed no flows')
        return 1
    return 0 if ratio >= args.min else 1


if __name__ == '__main__':
    sys.exit(main())
