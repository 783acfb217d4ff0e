#include "dataplane/inline_frames.h"

#include <algorithm>
#include <cstring>

namespace ws {
namespace {

constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1, kIcmp6 = 58;
constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpAck = 0x10;

void wr16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
// A checksum from ones_sum() is in the byte order of the data it summed
// (RFC 1071 §2B): stored as it is, not converted.
void put_sum(uint8_t* p, uint16_t folded) {
  const uint16_t c = static_cast<uint16_t>(~folded);
  std::memcpy(p, &c, 2);
}
void wr32(uint8_t* p, uint32_t v) {
  wr16(p, static_cast<uint16_t>(v >> 16));
  wr16(p + 2, static_cast<uint16_t>(v));
}

// ICMP errors (and ICMPv6 errors, types below 128) are never answered.
bool icmp_error(const Decoded& d) {
  if (d.key.proto == kIcmp) return d.icmp_type == 3 || d.icmp_type == 4 || d.icmp_type == 5 || d.icmp_type == 11 ||
                                   d.icmp_type == 12;
  if (d.key.proto == kIcmp6) return d.icmp_type < 128;
  return false;
}

// The pseudo-header sum for an L4 segment of len bytes from src to dst.
uint16_t pseudo_sum(int family, const uint8_t* src, const uint8_t* dst, uint8_t proto, size_t len) {
  uint8_t ph[40];
  size_t n;
  if (family == 4) {
    std::memcpy(ph, src, 4);
    std::memcpy(ph + 4, dst, 4);
    ph[8] = 0;
    ph[9] = proto;
    wr16(ph + 10, static_cast<uint16_t>(len));
    n = 12;
  } else {
    std::memcpy(ph, src, 16);
    std::memcpy(ph + 16, dst, 16);
    wr32(ph + 32, static_cast<uint32_t>(len));
    ph[36] = ph[37] = ph[38] = 0;
    ph[39] = proto;
    n = 40;
  }
  return ones_sum(ph, n);
}

// Writes an IP header at ip for a reply from `from` to `to` carrying
// payload_len bytes of protocol proto; returns its length.
size_t write_ip(uint8_t* ip, int family, const uint8_t* from, const uint8_t* to, uint8_t proto, size_t payload_len) {
  if (family == 4) {
    ip[0] = 0x45;
    ip[1] = 0;
    wr16(ip + 2, static_cast<uint16_t>(20 + payload_len));
    wr16(ip + 4, 0);       // id: DF is set, so it is never used
    wr16(ip + 6, 0x4000);  // DF
    ip[8] = 64;
    ip[9] = proto;
    wr16(ip + 10, 0);
    std::memcpy(ip + 12, from, 4);
    std::memcpy(ip + 16, to, 4);
    put_sum(ip + 10, ones_sum(ip, 20));
    return 20;
  }
  wr32(ip, 0x60000000u);
  wr16(ip + 4, static_cast<uint16_t>(payload_len));
  ip[6] = proto;
  ip[7] = 64;
  std::memcpy(ip + 8, from, 16);
  std::memcpy(ip + 24, to, 16);
  return 40;
}

}  // namespace

RejectKind reject_kind(const Packet& p, const Decoded& d) {
  if (p.link != LinkType::kEthernet || d.l3_off < 14) return RejectKind::kNone;
  // Only Ethernet and VLAN tags before the IP header (no MPLS, no tunnel
  // outside): the turned-around link header must be a valid one. A tag the
  // capture stripped counts in vlan_count but is not in the frame.
  const size_t in_frame = d.vlan_count - (p.flags & kPktVlanStripped ? 1u : 0u);
  if (d.l3_off != 14 + 4 * in_frame) return RejectKind::kNone;
  if (d.key.family != 4 && d.key.family != 6) return RejectKind::kNone;
  if (d.flags & kDecLaterFragment) return RejectKind::kNone;
  if (d.key.proto == kTcp) return d.tcp_flags & kTcpRst ? RejectKind::kNone : RejectKind::kTcpRst;
  if (icmp_error(d)) return RejectKind::kNone;
  if (d.key.proto == kUdp) return RejectKind::kIcmpPortUnreachable;
  return RejectKind::kIcmpHostUnreachable;
}

size_t build_reject(const Packet& p, const Decoded& d, uint8_t* out, ReplyTo dir) {
  const RejectKind kind = reject_kind(p, d);
  if (kind == RejectKind::kNone) return 0;
  const bool back = dir == ReplyTo::kSource;
  const int family = d.key.family;
  const size_t alen = family == 4 ? 4 : 16;
  // Back to the sender: from the packet's destination to its source; on
  // to the destination: from its source, as the packet went.
  uint8_t from[16], to[16];
  std::memcpy(from, back ? d.key.dst : d.key.src, alen);
  std::memcpy(to, back ? d.key.src : d.key.dst, alen);

  // Link header: the frame's own, with the MACs swapped when it goes back.
  const size_t l2 = d.l3_off;
  std::memcpy(out, p.data + (back ? 6 : 0), 6);
  std::memcpy(out + 6, p.data + (back ? 0 : 6), 6);
  std::memcpy(out + 12, p.data + 12, l2 - 12);
  uint8_t* ip = out + l2;
  const size_t iphl = family == 4 ? 20 : 40;
  uint8_t* l4 = ip + iphl;

  if (kind == RejectKind::kTcpRst) {
    std::memset(l4, 0, 20);
    wr16(l4, back ? d.key.dport : d.key.sport);
    wr16(l4 + 2, back ? d.key.sport : d.key.dport);
    if (!back) {
      // As the sender: its seq (the next byte the destination expects, as
      // the packet itself never arrives), its ack.
      wr32(l4 + 4, d.seq);
      if (d.tcp_flags & kTcpAck) wr32(l4 + 8, d.ack);
      l4[13] = d.tcp_flags & kTcpAck ? kTcpRst | kTcpAck : kTcpRst;
    } else if (d.tcp_flags & kTcpAck) {
      // RFC 9293 §3.10.7.1: answer an ACK with its ack number as our seq;
      // otherwise seq 0 and acknowledge all the segment occupied.
      wr32(l4 + 4, d.ack);
      l4[13] = kTcpRst;
    } else {
      // The segment's length from its headers, not only what was captured.
      const uint32_t data = static_cast<uint32_t>(size_t{d.l3_off} + d.l3_len - d.payload_off);
      const uint32_t occupied = data + (d.tcp_flags & kTcpSyn ? 1u : 0u) + (d.tcp_flags & kTcpFin ? 1u : 0u);
      wr32(l4 + 8, d.seq + occupied);
      l4[13] = kTcpRst | kTcpAck;
    }
    l4[12] = 5 << 4;
    const uint16_t s = pseudo_sum(family, from, to, kTcp, 20);
    put_sum(l4 + 16, ones_sum(l4, 20, s));
    write_ip(ip, family, from, to, kTcp, 20);
    return l2 + iphl + 20;
  }

  // ICMP: type/code, 4 unused bytes, then the offending packet from its IP
  // header, cut to the minimum MTU.
  const size_t limit = family == 4 ? 576 - 20 - 8 : 1280 - 40 - 8;
  const size_t have = p.caplen > d.l3_off ? std::min<size_t>(p.caplen - d.l3_off, d.l3_len) : 0;
  const size_t quote = std::min(limit, have);
  const bool port = kind == RejectKind::kIcmpPortUnreachable;
  const uint8_t proto = family == 4 ? kIcmp : kIcmp6;
  if (family == 4) {
    l4[0] = 3;               // destination unreachable
    l4[1] = port ? 3 : 1;    // port / host unreachable
  } else {
    l4[0] = 1;               // destination unreachable
    l4[1] = port ? 4 : 3;    // port / address unreachable
  }
  wr16(l4 + 2, 0);
  wr32(l4 + 4, 0);
  std::memcpy(l4 + 8, p.data + d.l3_off, quote);
  const size_t len = 8 + quote;
  const uint16_t s = family == 4 ? 0 : pseudo_sum(family, from, to, kIcmp6, len);
  put_sum(l4 + 2, ones_sum(l4, len, s));
  write_ip(ip, family, from, to, proto, len);
  return l2 + iphl + len;
}

bool complete_l4_checksum(uint8_t* frame, uint32_t caplen, const Decoded& d) {
  if (d.key.proto != kTcp && d.key.proto != kUdp) return false;
  if (!(d.flags & kDecL4Complete) || (d.flags & kDecFragment)) return false;
  const size_t end = size_t{d.l3_off} + d.l3_len;
  if (end > caplen || d.l4_off >= end) return false;
  uint8_t* l4 = frame + d.l4_off;
  const size_t len = end - d.l4_off;
  uint8_t* field = l4 + (d.key.proto == kTcp ? 16 : 6);
  wr16(field, 0);
  const uint16_t s = pseudo_sum(d.key.family, d.key.src, d.key.dst, d.key.proto, len);
  uint16_t folded = ones_sum(l4, len, s);
  if (d.key.proto == kUdp && folded == 0xffff) folded = 0;  // RFC 768: 0 means "no checksum"; send 0xffff
  put_sum(field, folded);
  return true;
}

}  // namespace ws
