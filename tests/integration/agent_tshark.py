#!/usr/bin/python3
"""The agent's IPFIX (uniflow and biflow) and NetFlow v9 export, dissected by tshark.

A UDP receiver in this script (no root needed) keeps every datagram that
`wirescope -r CAP --ipfix|--netflow9 udp://127.0.0.1:PORT` sends and writes
them to a pcap; tshark's cflow dissector then reads it:

  - no 'Malformed' packet and no expert info anywhere in `tshark -V`
  - the sum of every octetDeltaCount (forward and reverse) = truth ip_bytes,
    of every packetDeltaCount = the truth's IP packets
  - data records = one per direction with packets of the EVE records
    written in the same run (uniflow), or one per EVE record (biflow)
  - sequence numbers without gaps: IPFIX counts data records, NetFlow v9
    counts export packets (RFC 7011 3.1, RFC 3954 5.1)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_common as ac  # noqa: E402

# Paced so that the receiver thread never lets its socket buffer fill.
EXPORT_RATE = "4000"


def tshark(args, timeout=120):
    r = ac.subprocess.run(["tshark"] + args, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, TZ="UTC"))
    return r.returncode, r.stdout, r.stderr


def ints(field):
    return [int(x, 0) for x in field.split(",") if x.strip()] if field else []


def export_case(c, ws, cap, truth, tmp, cleanup, case):
    print(f"-- {case}")
    evedir = os.path.join(tmp, f"eve-{case}")
    os.mkdir(evedir)
    rx = ac.UdpReceiver(cleanup)
    url = f"udp://127.0.0.1:{rx.port}"
    flags = {"ipfix": ["--ipfix", url], "ipfix-biflow": ["--ipfix", url, "--ipfix-biflow"],
             "netflow9": ["--netflow9", url]}[case]
    r = ac.run_agent(ws, ["-r", cap, "-l", evedir, "--workers", "2", "--export-rate", EXPORT_RATE] + flags)
    c.equal(r.returncode, 0, f"{case}: agent exit status")
    s = ac.parse_summary(r.stdout)
    if c.check(s is not None, f"{case}: summary parses", r.stdout):
        c.equal(s["dropped"], 0, f"{case}: nothing dropped", str(s["drops"]))
    rx.wait_quiet(0.5)
    pcap = os.path.join(tmp, f"{case}.pcap")
    rx.write_pcap(pcap)
    rx.close()
    c.check(len(rx.datagrams) > 50, f"{case}: {len(rx.datagrams)} export datagrams received (many messages)")
    decode = ["-r", pcap, "-d", f"udp.port=={rx.port},cflow"]

    rc, verbose, err = tshark(decode + ["-V"])
    c.equal(rc, 0, f"{case}: tshark -V exit status", err)
    at = verbose.find("Malformed")
    c.check(at < 0, f"{case}: no malformed packet", verbose[max(0, at - 3000):at + 200])
    at = verbose.find("Expert Info")
    c.check(at < 0, f"{case}: no expert info", verbose[max(0, at - 3000):at + 500])
    c.equal(verbose.count("Cisco NetFlow/IPFIX"), len(rx.datagrams), f"{case}: every datagram dissected as cflow")

    rc, out, err = tshark(decode + ["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,", "-E",
                                    "separator=;", "-e", "cflow.version", "-e", "cflow.sequence", "-e",
                                    "cflow.octets", "-e", "cflow.packets", "-e", "cflow.flow_end_reason"])
    if not c.equal(rc, 0, f"{case}: tshark -T fields exit status", err):
        return
    rows = [line.split(";") for line in out.splitlines()]
    octets = sum(sum(ints(row[2])) for row in rows)
    packets = sum(sum(ints(row[3])) for row in rows)
    data_records = [len(ints(row[4])) for row in rows]
    versions = {row[0] for row in rows}
    want_version = "9" if case == "netflow9" else "10"
    c.equal(versions, {want_version}, f"{case}: every message has version {want_version}")
    c.equal(octets, truth["ip_bytes"], f"{case}: sum of octetDeltaCount = truth ip_bytes")
    c.equal(packets, truth["ipv4_packets"] + truth["ipv6_packets"], f"{case}: sum of packetDeltaCount = truth IP packets")

    records, errors = ac.read_eve(os.path.join(evedir, "eve.json"))
    c.check(records and not errors, f"{case}: the EVE log of the same run is valid", "\n".join(errors[:5]))
    want_records = len(records) if case == "ipfix-biflow" else ac.uniflow_count(records)
    c.equal(sum(data_records), want_records, f"{case}: data records = " +
            ("EVE records" if case == "ipfix-biflow" else "directions with packets of the EVE records"))

    seqs = [int(row[1]) for row in rows]
    gaps = []
    for i in range(1, len(rows)):
        step = 1 if case == "netflow9" else data_records[i - 1]
        if seqs[i] != (seqs[i - 1] + step) & 0xFFFFFFFF:
            gaps.append(f"message {i + 1}: sequence {seqs[i]} after {seqs[i - 1]} (+{step} expected)")
    c.check(not gaps, f"{case}: sequence numbers without gaps ({len(rows)} messages)", "\n".join(gaps[:10]))


def body(c, cleanup):
    ws, gen = ac.programs()
    ac.need_program("tshark", "tshark")
    tmp = ac.temp_dir(cleanup)
    cap, truth = ac.generate(gen, tmp, packets=60000, flows=2000, seed=5)
    c.check(truth["fragment_packets"] > 0 and truth["vlan_packets"] > 0 and truth["ipv6_packets"] > 0,
            "the capture has fragments, VLAN tags and IPv6")
    for case in ("ipfix", "ipfix-biflow", "netflow9"):
        export_case(c, ws, cap, truth, tmp, cleanup, case)


if __name__ == "__main__":
    ac.main("agent_tshark", body)
