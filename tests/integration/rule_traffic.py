"""Hand-made IPv4 traffic for the rule tests, written as a classic pcap.

The rule tests derive every expected alert by hand from the packets they
list, so the packets are spelled out one by one here rather than drawn
from wirescope-gen: each Packet keeps its fields (addresses, ports, TCP
flags, ICMP type, payload) next to the frame bytes, and FlowModel replays
the list to give the per-flow counters (client first, this packet
included) that an alert on packet i must carry.

Standard library only; checksums are real so that -k all accepts them.
"""

import socket
import struct
from dataclasses import dataclass, field

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10

SRC_MAC = b"\x02\x00\x00\x00\x00\x01"
DST_MAC = b"\x02\x00\x00\x00\x00\x02"


def _sum16(data):
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def checksum(data):
    return ~_sum16(data) & 0xFFFF


@dataclass
class Packet:
    ts_us: int
    src: str
    dst: str
    proto: int  # 6, 17, 1
    sport: int = 0  # TCP/UDP ports; 0 for ICMP
    dport: int = 0
    flags: int = 0  # TCP flags
    icmp_type: int = 0
    icmp_code: int = 0
    payload: bytes = b""  # the bytes after the transport header (ICMP: after its 8 bytes)
    frame: bytes = field(default=b"", repr=False)

    @property
    def proto_name(self):
        return {6: "TCP", 17: "UDP", 1: "ICMP"}[self.proto]


def _ipv4(src, dst, proto, l4, ident):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ident & 0xFFFF, 0x4000, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return DST_MAC + SRC_MAC + b"\x08\x00" + hdr + l4


def _pseudo(src, dst, proto, length):
    return socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, proto, length)


class Traffic:
    """Builds packets in time order, 1 ms apart, with TCP sequence numbers kept per direction."""

    def __init__(self, start_s=1700000000):
        self.packets = []
        self._ts = start_s * 1_000_000
        self._seq = {}
        self._ident = 1

    def _add(self, p, l4):
        p.ts_us = self._ts
        self._ts += 1000
        p.frame = _ipv4(p.src, p.dst, p.proto, l4, self._ident)
        self._ident += 1
        self.packets.append(p)
        return p

    def tcp(self, src, sport, dst, dport, flags, payload=b""):
        me, peer = (src, sport), (dst, dport)
        seq = self._seq.setdefault(me, 1000 + 1000 * len(self._seq))
        ack = self._seq.get(peer, 0) if flags & TCP_ACK else 0
        hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
        seg = hdr + payload
        csum = checksum(_pseudo(src, dst, 6, len(seg)) + seg)
        seg = seg[:16] + struct.pack("!H", csum) + seg[18:]
        self._seq[me] = seq + len(payload) + (1 if flags & (TCP_SYN | TCP_FIN) else 0)
        return self._add(Packet(0, src, dst, 6, sport, dport, flags=flags, payload=payload), seg)

    def udp(self, src, sport, dst, dport, payload):
        dgram = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
        csum = checksum(_pseudo(src, dst, 17, len(dgram)) + dgram) or 0xFFFF
        dgram = dgram[:6] + struct.pack("!H", csum) + dgram[8:]
        return self._add(Packet(0, src, dst, 17, sport, dport, payload=payload), dgram)

    def icmp_echo(self, src, dst, request, ident, seq, payload):
        t = 8 if request else 0
        msg = struct.pack("!BBHHH", t, 0, 0, ident, seq) + payload
        msg = msg[:2] + struct.pack("!H", checksum(msg)) + msg[4:]
        return self._add(Packet(0, src, dst, 1, icmp_type=t, icmp_code=0, payload=payload), msg)

    def write_pcap(self, path):
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
            for p in self.packets:
                f.write(struct.pack("<IIII", p.ts_us // 1_000_000, p.ts_us % 1_000_000, len(p.frame), len(p.frame)))
                f.write(p.frame)
        return path


def flow_key(p):
    """The packet's flow regardless of direction (ICMP: the two hosts)."""
    a, b = (p.src, p.sport), (p.dst, p.dport)
    return (p.proto,) + tuple(sorted((a, b)))


class FlowModel:
    """Per-packet flow counters as the flow table keeps them.

    The client is the sender of a flow's first packet (every TCP flow here
    starts with its SYN). state(i) gives, for packet i, the client and the
    counters in (to server, to client) order with packet i included.
    """

    def __init__(self, packets):
        self.rows = []
        flows = {}
        for p in packets:
            k = flow_key(p)
            f = flows.setdefault(k, {"client": (p.src, p.sport), "pkts": [0, 0], "bytes": [0, 0],
                                     "start_us": p.ts_us})
            to_server = (p.src, p.sport) == f["client"]
            side = 0 if to_server else 1
            f["pkts"][side] += 1
            f["bytes"][side] += len(p.frame)
            self.rows.append({"key": k, "client": f["client"], "to_server": to_server, "pkts": list(f["pkts"]),
                              "bytes": list(f["bytes"]), "start_us": f["start_us"]})

    def state(self, i):
        return self.rows[i]
