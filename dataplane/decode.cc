#include "dataplane/decode.h"

#include <algorithm>
#include <cstring>

namespace ws {
namespace {

constexpr uint16_t kEthIpv4 = 0x0800;
constexpr uint16_t kEthIpv6 = 0x86dd;
constexpr uint16_t kEthVlan = 0x8100;
constexpr uint16_t kEthQinQ = 0x88a8;
constexpr uint16_t kEthQinQOld = 0x9100;
constexpr uint16_t kEthMplsUc = 0x8847;
constexpr uint16_t kEthMplsMc = 0x8848;
constexpr uint16_t kEthNsh = 0x894f;
constexpr int kMaxNshLayers = 4;
constexpr uint8_t kMaxTunnelDepth = 3;

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoGre = 47;
constexpr uint8_t kProtoIcmp6 = 58;
constexpr uint8_t kProtoSctp = 132;

// An IPv6 packet with more extension headers than this is refused: real
// traffic has at most a handful, and the bound keeps a crafted chain cheap.
constexpr int kMaxIpv6Ext = 8;
constexpr int kMaxMplsLabels = 8;

inline uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t rd32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Where the IPv6 packet a Teredo datagram carries starts in its payload,
// or 0 when the payload is not one: Suricata's test (an origin indication
// skipped; version 6, hop limit not 0, no bogus hop-by-hop header, and the
// IPv6 length filling the rest exactly). Authentication (00 01) is
// negotiation, not a tunnel.
size_t teredo_offset(const uint8_t* p, size_t len) {
  size_t off = 0;
  if (len >= 2 && p[0] == 0) {
    if (p[1] != 0) return 0;
    off = 8;
  }
  if (len < off + 40) return 0;
  const uint8_t* h = p + off;
  const size_t plen = rd16(h + 4);
  if ((h[0] >> 4) != 6 || h[7] == 0 || (h[6] == 0 && plen < 8) || len != off + 40 + plen) return 0;
  return off + 1;  // 0 means none
}

const DecodeCounterInfo kCounterInfo[] = {
#define WS_X(name, help) {#name, help},
    WS_DECODE_COUNTERS(WS_X)
#undef WS_X
};


// A PPP header at b[off] (n bytes captured): address and control (FF 03)
// unless compressed away, then a one-byte (odd) or two-byte protocol.
// Moves off past it and says what follows: kEthIpv4 (0x21), kEthIpv6
// (0x57), 0 for another protocol, -1 when the header is cut short.
int ppp_header(const uint8_t* b, size_t n, size_t& off) {
  if (n >= off + 2 && b[off] == 0xff && b[off + 1] == 0x03) off += 2;
  if (n < off + 1) return -1;
  uint16_t proto = b[off];
  if (proto & 1) {
    off += 1;
  } else {
    if (n < off + 2) return -1;
    proto = rd16(b + off);
    off += 2;
  }
  return proto == 0x21 ? kEthIpv4 : proto == 0x57 ? kEthIpv6 : 0;
}

}  // namespace

const DecodeCounterInfo* decode_counter_info(size_t* count) {
  *count = sizeof kCounterInfo / sizeof kCounterInfo[0];
  return kCounterInfo;
}

bool decode_counter_is_drop(const char* name) {
  static constexpr const char* kKept[] = {"decoded", "fragments", "fragments_unmatched", "tiny_fragments",
                                          "bad_ipv4_checksum",
                                          "bad_l4_checksum", "tunnels", "tunnel_too_deep",
                                          "gre_not_decapsulated", "geneve_not_decapsulated"};
  for (const char* k : kKept)
    if (std::strcmp(name, k) == 0) return false;
  return true;
}

uint64_t decode_counter_value(const DecodeStats& s, size_t i) {
  const Counter* all[] = {
#define WS_X(name, help) &s.name,
      WS_DECODE_COUNTERS(WS_X)
#undef WS_X
  };
  return i < sizeof all / sizeof all[0] ? all[i]->get() : 0;
}

uint16_t ones_sum(const uint8_t* p, size_t len, uint32_t initial) {
  // 32-bit words into a 64-bit accumulator: no carry is lost below 2^32
  // words, and the folded result is byte-order independent (RFC 1071 §2B).
  // Bulk: 64-bit words with end-around carry (add/adc), 32 bytes a turn.
  unsigned __int128 wide = initial;
  while (len >= 32) {
    uint64_t w[4];
    std::memcpy(w, p, 32);
    wide += w[0];
    wide += w[1];
    wide += w[2];
    wide += w[3];
    p += 32;
    len -= 32;
  }
  uint64_t acc = static_cast<uint64_t>(wide) + static_cast<uint64_t>(wide >> 64);
  if (acc < static_cast<uint64_t>(wide >> 64)) ++acc;  // carry out of the fold
  // Fold to 32 bits before the 32-bit tail loop can add to it.
  acc = (acc & 0xffffffffu) + (acc >> 32);
  while (len >= 16) {
    uint32_t w[4];
    std::memcpy(w, p, 16);
    acc += uint64_t{w[0]} + w[1] + w[2] + w[3];
    p += 16;
    len -= 16;
  }
  while (len >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    acc += w;
    p += 4;
    len -= 4;
  }
  if (len) {
    uint8_t tail[4] = {0, 0, 0, 0};
    std::memcpy(tail, p, len);
    uint32_t w;
    std::memcpy(&w, tail, 4);
    acc += w;
  }
  acc = (acc & 0xffffffffu) + (acc >> 32);
  acc = (acc & 0xffffffffu) + (acc >> 32);
  acc = (acc & 0xffffu) + (acc >> 16);
  acc = (acc & 0xffffu) + (acc >> 16);
  acc = (acc & 0xffffu) + (acc >> 16);
  return static_cast<uint16_t>(acc);
}

size_t FragTable::slot_of(const Decoded& d, uint32_t id) {
  uint64_t h = id * 0x9e3779b97f4a7c15ull;
  uint64_t a, b;
  std::memcpy(&a, d.key.src, 8);
  std::memcpy(&b, d.key.dst + 8, 8);
  h ^= a + 0x632be59bd9b4e019ull + (h << 6) + (h >> 2);
  h ^= b + (h << 6) + (h >> 2);
  std::memcpy(&a, d.key.dst, 8);
  std::memcpy(&b, d.key.src + 8, 8);
  h ^= (a ^ (b << 1)) + (h << 6) + (h >> 2);
  h ^= d.key.proto;
  h *= 0xff51afd7ed558ccdull;
  return (h >> 40) & (kSlots - 1);
}

void FragTable::remember(const Decoded& d, uint32_t id, uint64_t now_ns) {
  Slot& s = slots_[slot_of(d, id)];
  std::memcpy(s.src, d.key.src, 16);
  std::memcpy(s.dst, d.key.dst, 16);
  s.id = id;
  s.sport = d.key.sport;
  s.dport = d.key.dport;
  s.ts_ns = now_ns;
  s.proto = d.key.proto;
  s.family = d.key.family;
  s.used = 1;
  s.icmp_flags = d.flags & kDecIcmpEcho;
}

bool FragTable::recall(Decoded& d, uint32_t id, uint64_t now_ns) {
  // Entries are not removed at the last fragment: fragments may arrive out
  // of order, and a stale entry is ignored after kTimeoutNs anyway.
  const Slot& s = slots_[slot_of(d, id)];
  if (!s.used || s.id != id || s.proto != d.key.proto || s.family != d.key.family ||
      std::memcmp(s.src, d.key.src, 16) != 0 || std::memcmp(s.dst, d.key.dst, 16) != 0)
    return false;
  if (now_ns >= s.ts_ns + kTimeoutNs || now_ns + kTimeoutNs < s.ts_ns) return false;
  d.key.sport = s.sport;
  d.key.dport = s.dport;
  d.flags |= s.icmp_flags;
  return true;
}

bool Decoder::decode(const Packet& p, Decoded& d, bool checksums) {
  d = Decoded{};
  std::memset(&d.key, 0, sizeof d.key);
  const uint8_t* b = p.data;
  const size_t n = p.caplen;
  size_t off = 0;
  uint16_t etype = 0;
  d.frame_len = p.wirelen;

  if (p.flags & kPktVlanStripped) {
    d.vlan[0] = p.vlan_tci & 0x0fff;
    d.vlan_count = 1;
    d.frame_len += 4;
  }

  switch (p.link) {
    case LinkType::kEthernet:
      if (n < 14) { stats_.truncated_link.inc(); return false; }
      etype = rd16(b + 12);
      off = 14;
      break;
    case LinkType::kLinuxSll:
      if (n < 16) { stats_.truncated_link.inc(); return false; }
      etype = rd16(b + 14);
      off = 16;
      break;
    case LinkType::kLinuxSll2:
      if (n < 20) { stats_.truncated_link.inc(); return false; }
      etype = rd16(b);
      off = 20;
      break;
    case LinkType::kNull:
    case LinkType::kLoop: {
      if (n < 4) { stats_.truncated_link.inc(); return false; }
      // The family is in the capturing host's byte order for DLT_NULL and
      // network order for DLT_LOOP; accept either reading.
      uint32_t le = uint32_t{b[0]} | (uint32_t{b[1]} << 8) | (uint32_t{b[2]} << 16) | (uint32_t{b[3]} << 24);
      uint32_t be = rd32(b);
      auto fam = [](uint32_t v) -> uint16_t {
        if (v == 2) return kEthIpv4;
        if (v == 10 || v == 24 || v == 28 || v == 30) return kEthIpv6;
        return 0;
      };
      etype = fam(p.link == LinkType::kLoop ? be : le);
      if (!etype) etype = fam(p.link == LinkType::kLoop ? le : be);
      if (!etype) { stats_.non_ip.inc(); return false; }
      off = 4;
      break;
    }
    case LinkType::kPpp: {
      const int et = ppp_header(b, n, off);
      if (et < 0) { stats_.truncated_link.inc(); return false; }
      if (et == 0) { stats_.non_ip.inc(); return false; }
      etype = static_cast<uint16_t>(et);
      break;
    }
    case LinkType::kRaw:
      if (n < 1) { stats_.truncated_link.inc(); return false; }
      etype = (b[0] >> 4) == 6 ? kEthIpv6 : kEthIpv4;
      break;
    case LinkType::kIpv4:
      etype = kEthIpv4;
      break;
    case LinkType::kIpv6:
      etype = kEthIpv6;
      break;
    default:
      stats_.unsupported_link.inc();
      return false;
  }

  if (!decode_from_ethertype(p, etype, off, d)) return false;
  stats_.decoded.inc();
  return checksums ? verify_checksums(p, d) : true;
}

bool Decoder::decode_from_ethertype(const Packet& p, uint16_t etype, size_t off, Decoded& d) {
  const uint8_t* b = p.data;
  const size_t n = p.caplen;
  for (int layer = 0;; ++layer) {
    // 802.1Q / QinQ tags: the first (outer) id is part of the flow key.
    while (etype == kEthVlan || etype == kEthQinQ || etype == kEthQinQOld) {
      if (n < off + 4) { stats_.truncated_vlan.inc(); return false; }
      uint16_t id = rd16(b + off) & 0x0fff;
      if (d.vlan_count < 2) d.vlan[d.vlan_count] = id;
      if (d.vlan_count < 255) ++d.vlan_count;
      etype = rd16(b + off + 2);
      off += 4;
    }
    if (d.vlan_count > 2) d.vlan_count = 2;

    if (etype == kEthMplsUc || etype == kEthMplsMc) {
      int labels = 0;
      for (;;) {
        if (n < off + 4) { stats_.truncated_mpls.inc(); return false; }
        bool bottom = b[off + 2] & 0x01;
        off += 4;
        if (++labels > kMaxMplsLabels) { stats_.mpls_too_deep.inc(); return false; }
        if (bottom) break;
      }
      if (n < off + 1) { stats_.truncated_mpls.inc(); return false; }
      switch (b[off] >> 4) {
        case 4: etype = kEthIpv4; break;
        case 6: etype = kEthIpv6; break;
        default: stats_.mpls_unknown_payload.inc(); return false;
      }
    }

    if (etype != kEthNsh) break;
    // Network Service Header (RFC 8300), as Suricata decodes it: version
    // 0; MD type 1 has a fixed 24-byte header, MD type 2 at least the
    // 8-byte base and service path headers; the next protocol follows.
    if (layer >= kMaxNshLayers || n < off + 8) { stats_.truncated_nsh.inc(); return false; }
    const uint8_t* h = b + off;
    const size_t len = size_t(h[1] & 0x3f) * 4;
    const uint8_t md = h[2] & 0x0f;
    if ((h[0] >> 6) != 0 || (md == 1 && len != 24) || (md == 2 && len < 8) || md == 0 || md == 0x0f) {
      stats_.bad_nsh_header.inc();
      return false;
    }
    if (n < off + len) { stats_.truncated_nsh.inc(); return false; }
    off += len;
    switch (h[3]) {
      case 1: etype = kEthIpv4; break;
      case 2: etype = kEthIpv6; break;
      case 5: etype = kEthMplsUc; break;
      case 3:
        if (n < off + 14) { stats_.truncated_nsh.inc(); return false; }
        etype = rd16(b + off + 12);
        off += 14;
        break;
      default: stats_.nsh_unknown_payload.inc(); return false;
    }
  }

  d.key.vlan = d.vlan_count ? d.vlan[0] : 0;
  if (etype == kEthIpv4) return decode_ipv4(p, off, d);
  if (etype == kEthIpv6) return decode_ipv6(p, off, d);
  stats_.non_ip.inc();
  return false;
}

bool Decoder::decode_inner(const Packet& p, const Decoded& outer, Decoded& in) {
  if (outer.depth >= kMaxTunnelDepth) {
    stats_.tunnel_too_deep.inc();
    return false;
  }
  in = Decoded{};
  std::memset(&in.key, 0, sizeof in.key);
  in.vlan[0] = outer.vlan[0];
  in.vlan[1] = outer.vlan[1];
  in.vlan_count = outer.vlan_count;
  in.depth = static_cast<uint8_t>(outer.depth + 1);
  size_t off = outer.payload_off;
  // Suricata's pkt_src: the UDP encapsulations by name, GRE, else IP-in-IP
  // by the outer packet's family.
  switch (outer.inner) {
    case Inner::kVxlan: in.pkt_src = PktSrc::kVxlan; break;
    case Inner::kGeneve: in.pkt_src = PktSrc::kGeneve; break;
    case Inner::kTeredo: in.pkt_src = PktSrc::kTeredo; break;
    default:
      in.pkt_src = outer.key.proto == kProtoGre ? PktSrc::kGre
                   : outer.key.family == 6      ? PktSrc::kIpv6Tunnel
                                                : PktSrc::kIpv4Tunnel;
  }
  in.key.vlan = outer.key.vlan;
  // Where the tunnel's packet starts when that is before its IP header: an
  // inner Ethernet frame's header, or PPP's (0: at the inner IP header).
  size_t frame_start = 0;
  auto ethernet_at = [&](size_t at) {
    frame_start = at;
    if (p.caplen < at + 14) {
      stats_.truncated_link.inc();
      return false;
    }
    return decode_from_ethertype(p, rd16(p.data + at + 12), at + 14, in);
  };
  bool ok = false;
  switch (outer.inner) {
    case Inner::kIpv4:
      ok = decode_ipv4(p, off, in);
      break;
    case Inner::kIpv6:
      ok = decode_ipv6(p, off, in);
      break;
    case Inner::kPpp: {
      frame_start = off;  // Suricata's PPP tunnel packet starts at its header
      const int et = ppp_header(p.data, p.caplen, off);
      if (et < 0) { stats_.truncated_gre.inc(); return false; }
      if (et == kEthIpv4) {
        ok = decode_ipv4(p, off, in);
      } else if (et == kEthIpv6) {
        ok = decode_ipv6(p, off, in);
      } else {
        stats_.gre_not_decapsulated.inc();
        return false;
      }
      break;
    }
    case Inner::kTeredo:
      off += teredo_offset(p.data + off, outer.payload_len) - 1;
      ok = decode_ipv6(p, off, in);
      break;
    case Inner::kGeneve: {
      const uint8_t* g = p.data + off;
      const uint16_t gp = rd16(g + 2);
      off += 8 + size_t(g[0] & 0x3f) * 4;
      if (gp == kEthIpv4) {
        ok = decode_ipv4(p, off, in);
      } else if (gp == kEthIpv6) {
        ok = decode_ipv6(p, off, in);
      } else {
        ok = ethernet_at(off);
      }
      break;
    }
    case Inner::kErspan:
      // ERSPAN type II: its VLAN (the mirrored frame's) joins the tags, as
      // Suricata does; then Ethernet.
      if (const uint16_t vlan = rd16(p.data + off) & 0x0fff; vlan != 0 && in.vlan_count < 2)
        in.vlan[in.vlan_count++] = vlan;
      [[fallthrough]];
    case Inner::kVxlan:
      // 8 bytes of VXLAN header (checked in decode_l4), then Ethernet.
      // The outer tags stay first, so the key keeps the outer VLAN.
      off += 8;
      [[fallthrough]];
    case Inner::kEthernet:
      ok = ethernet_at(off);
      break;
    case Inner::kNone:
      return false;
  }
  if (!ok) return false;
  // Its length, as Suricata's tunnel packet has it: from the inner IP
  // header (an inner Ethernet frame or PPP: their header) to the
  // datagram's end.
  const size_t start = frame_start ? frame_start : in.l3_off;
  const size_t end = std::min<size_t>(p.caplen, size_t{in.l3_off} + in.l3_len);
  in.frame_len = static_cast<uint32_t>(end > start ? end - start : 0);
  stats_.tunnels.inc();
  return verify_checksums(p, in);
}

bool Decoder::verify_checksums(const Packet& p, Decoded& d) {
  if (d.flags & kDecChecked) return true;  // done (and counted) where the frame was decoded
  d.flags |= kDecChecked;
  if (d.key.family == 4 && ones_sum(p.data + d.l3_off, size_t{d.l4_off} - d.l3_off) != 0xffff) {
    stats_.bad_ipv4_checksum.inc();
    d.flags |= kDecBadChecksum;
  }
  if (d.flags & kDecL4Complete && !(d.flags & kDecFragment) && !(p.flags & kPktChecksumNotReady) &&
      !checksum_ok(p, d, size_t{d.l3_off} + d.l3_len)) {
    stats_.bad_l4_checksum.inc();
    d.flags |= kDecBadChecksum;
  }
  if (d.flags & kDecBadChecksum && opt_.checksum == ChecksumMode::kAll) {
    stats_.checksum_drop.inc();
    return false;
  }
  return true;
}

bool Decoder::decode_ipv4(const Packet& p, size_t off, Decoded& d) {
  const uint8_t* b = p.data;
  const size_t n = p.caplen;
  if (n < off + 20) { stats_.truncated_ipv4.inc(); return false; }
  const uint8_t* ip = b + off;
  const size_t hlen = size_t(ip[0] & 0x0f) * 4;
  const size_t total = rd16(ip + 2);
  if ((ip[0] >> 4) != 4 || hlen < 20 || total < hlen) { stats_.bad_ipv4_header.inc(); return false; }
  if (n < off + hlen) { stats_.truncated_ipv4.inc(); return false; }

  d.key.family = 4;
  std::memcpy(d.key.src, ip + 12, 4);
  std::memcpy(d.key.dst, ip + 16, 4);
  d.key.proto = ip[9];
  d.tos = ip[1];
  d.ttl = ip[8];
  d.l3_off = static_cast<uint16_t>(off);
  d.l3_len = static_cast<uint32_t>(total);

  // Ethernet pads short frames: the IP total length, not the capture,
  // says where the datagram ends. A snaplen cut ends it earlier.
  const size_t end = off + total < n ? off + total : n;
  const uint16_t frag = rd16(ip + 6);
  const bool more = frag & 0x2000;
  const size_t frag_off = size_t(frag & 0x1fff) * 8;
  const uint32_t id = rd16(ip + 4);
  if (more || frag_off) {
    stats_.fragments.inc();
    d.flags |= kDecFragment;
    if (frag_off) {
      d.flags |= kDecLaterFragment;
      d.l4_off = d.payload_off = static_cast<uint16_t>(off + hlen);
      d.payload_len = static_cast<uint16_t>(end - (off + hlen));
      if (!frags_.recall(d, id, p.ts_ns)) stats_.fragments_unmatched.inc();
      return true;
    }
  }
  if (more && end == off + total && tiny_first_fragment(p, off + hlen, end, d.key.proto, d)) return true;
  if (!decode_l4(p, off + hlen, end, d.key.proto, d)) return false;
  if (more) frags_.remember(d, id, p.ts_ns);
  return true;
}

bool Decoder::tiny_first_fragment(const Packet& p, size_t off, size_t end, uint8_t proto, Decoded& d) {
  const size_t avail = end > off ? end - off : 0;
  size_t need = 0;
  switch (proto) {
    case kProtoTcp: need = avail >= 13 ? std::max<size_t>(20, size_t(p.data[off + 12] >> 4) * 4) : 20; break;
    case kProtoUdp: need = 8; break;
    case kProtoIcmp: case kProtoIcmp6: need = 8; break;
    case kProtoSctp: need = 12; break;
    default: return false;
  }
  if (avail >= need) return false;
  stats_.tiny_fragments.inc();
  d.flags |= kDecLaterFragment;  // no transport header in this frame
  d.l4_off = d.payload_off = static_cast<uint16_t>(off);
  d.payload_len = static_cast<uint16_t>(avail);
  return true;
}

bool Decoder::decode_ipv6(const Packet& p, size_t off, Decoded& d) {
  const uint8_t* b = p.data;
  const size_t n = p.caplen;
  if (n < off + 40) { stats_.truncated_ipv6.inc(); return false; }
  const uint8_t* ip = b + off;
  if ((ip[0] >> 4) != 6) { stats_.truncated_ipv6.inc(); return false; }
  const size_t plen = rd16(ip + 4);
  d.key.family = 6;
  std::memcpy(d.key.src, ip + 8, 16);
  std::memcpy(d.key.dst, ip + 24, 16);
  d.tos = static_cast<uint8_t>(((ip[0] & 0x0f) << 4) | (ip[1] >> 4));
  d.ttl = ip[7];
  d.l3_off = static_cast<uint16_t>(off);
  d.l3_len = static_cast<uint32_t>(40 + plen);
  const size_t end = off + 40 + plen < n ? off + 40 + plen : n;

  uint8_t nh = ip[6];
  size_t pos = off + 40;
  bool frag = false, later = false, more = false;
  uint32_t frag_id = 0;
  for (int i = 0;; ++i) {
    if (nh != 0 && nh != 43 && nh != 44 && nh != 60 && nh != 51 && nh != 135) break;
    if (i >= kMaxIpv6Ext || end < pos + 8) { stats_.bad_ipv6_ext.inc(); return false; }
    const uint8_t* e = b + pos;
    size_t len;
    if (nh == 44) {
      len = 8;
      const uint16_t fo = rd16(e + 2);
      frag = true;
      later = (fo & 0xfff8) != 0;
      more = fo & 1;
      frag_id = rd32(e + 4);
    } else if (nh == 51) {
      len = (size_t{e[1]} + 2) * 4;
    } else {
      len = (size_t{e[1]} + 1) * 8;
    }
    if (end < pos + len) { stats_.bad_ipv6_ext.inc(); return false; }
    nh = e[0];
    pos += len;
  }
  d.key.proto = nh;
  if (frag && (later || more)) {
    stats_.fragments.inc();
    d.flags |= kDecFragment;
    if (later) {
      d.flags |= kDecLaterFragment;
      d.l4_off = d.payload_off = static_cast<uint16_t>(pos);
      d.payload_len = static_cast<uint16_t>(end - pos);
      if (!frags_.recall(d, frag_id, p.ts_ns)) stats_.fragments_unmatched.inc();
      return true;
    }
  }
  if (frag && more && end == off + 40 + plen && tiny_first_fragment(p, pos, end, nh, d)) return true;
  if (!decode_l4(p, pos, end, nh, d)) return false;
  if (frag && more) frags_.remember(d, frag_id, p.ts_ns);
  return true;
}

bool Decoder::decode_l4(const Packet& p, size_t off, size_t end, uint8_t proto, Decoded& d) {
  const uint8_t* b = p.data;
  const size_t avail = end > off ? end - off : 0;
  // The L4 segment is complete when the capture holds all the bytes the IP
  // header promises; only then can a checksum be verified.
  const size_t ip_end = d.l3_off + size_t{d.l3_len};
  const bool complete = end >= ip_end;
  d.l4_off = static_cast<uint16_t>(off);
  const uint8_t* l4 = b + off;
  switch (proto) {
    case kProtoTcp: {
      if (avail < 20) { stats_.truncated_tcp.inc(); return false; }
      const size_t doff = size_t(l4[12] >> 4) * 4;
      if (doff < 20 || (complete && doff > avail)) { stats_.bad_tcp_header.inc(); return false; }
      if (doff > avail) { stats_.truncated_tcp.inc(); return false; }
      d.key.sport = rd16(l4);
      d.key.dport = rd16(l4 + 2);
      d.seq = rd32(l4 + 4);
      d.ack = rd32(l4 + 8);
      d.tcp_flags = l4[13];
      d.window = rd16(l4 + 14);
      d.payload_off = static_cast<uint16_t>(off + doff);
      d.payload_len = static_cast<uint16_t>(avail - doff);
      break;
    }
    case kProtoUdp: {
      if (avail < 8) { stats_.truncated_udp.inc(); return false; }
      const size_t ulen = rd16(l4 + 4);
      // A first fragment's UDP length covers the whole datagram.
      if (ulen < 8 || (!(d.flags & kDecFragment) && ulen > ip_end - off)) {
        stats_.bad_udp_length.inc();
        return false;
      }
      d.key.sport = rd16(l4);
      d.key.dport = rd16(l4 + 2);
      d.payload_off = static_cast<uint16_t>(off + 8);
      d.payload_len = static_cast<uint16_t>(avail - 8);
      // VXLAN (RFC 7348): flags with the I bit, then Ethernet.
      if (opt_.tunnels && opt_.vxlan_port && d.key.dport == opt_.vxlan_port && !(d.flags & kDecFragment) &&
          d.payload_len >= 8 + 14 && (b[d.payload_off] & 0x08))
        d.inner = Inner::kVxlan;
      if (opt_.tunnels && opt_.teredo_port && d.inner == Inner::kNone && !(d.flags & kDecFragment) &&
          (d.key.sport == opt_.teredo_port || d.key.dport == opt_.teredo_port) && ulen - 8 == d.payload_len &&
          teredo_offset(b + d.payload_off, d.payload_len))
        d.inner = Inner::kTeredo;
      // Geneve (RFC 8926): version 0, not an OAM frame, a protocol it
      // carries; its options' length is in its first byte.
      if (opt_.tunnels && opt_.geneve_port && d.key.dport == opt_.geneve_port && !(d.flags & kDecFragment)) {
        const uint8_t* g = b + d.payload_off;
        const size_t glen = d.payload_len >= 8 ? 8 + size_t(g[0] & 0x3f) * 4 : 0;
        const uint16_t gp = glen ? rd16(g + 2) : 0;
        if (glen && (g[0] >> 6) == 0 && !(g[1] & 0x80) && d.payload_len > glen &&
            (gp == 0x6558 || gp == kEthIpv4 || gp == kEthIpv6))
          d.inner = Inner::kGeneve;
        else
          stats_.geneve_not_decapsulated.inc();
      }
      break;
    }
    case kProtoIcmp:
    case kProtoIcmp6: {
      if (avail < 4) { stats_.truncated_icmp.inc(); return false; }
      d.icmp_type = l4[0];
      d.icmp_code = l4[1];
      const bool echo = proto == kProtoIcmp ? (l4[0] == 8 || l4[0] == 0) : (l4[0] == 128 || l4[0] == 129);
      if (echo) {
        if (avail < 8) { stats_.truncated_icmp.inc(); return false; }
        d.key.sport = d.key.dport = rd16(l4 + 4);
        d.flags |= kDecIcmpEcho;
      }
      d.payload_off = static_cast<uint16_t>(off + (avail >= 8 ? 8 : avail));
      d.payload_len = static_cast<uint16_t>(avail >= 8 ? avail - 8 : 0);
      break;
    }
    case kProtoSctp: {
      if (avail < 12) { stats_.truncated_sctp.inc(); return false; }
      d.key.sport = rd16(l4);
      d.key.dport = rd16(l4 + 2);
      d.payload_off = static_cast<uint16_t>(off + 12);
      d.payload_len = static_cast<uint16_t>(avail - 12);
      return true;  // CRC32c is not verified: not a one's-complement sum
    }
    case kProtoGre:
      return decode_gre(p, off, avail, d);
    default:
      d.payload_off = static_cast<uint16_t>(off);
      d.payload_len = static_cast<uint16_t>(avail);
      // IP-in-IP: IPv4 (4) or IPv6 (41) inside, whole datagrams only.
      if (opt_.tunnels && !(d.flags & kDecFragment) &&
          (proto == 41 || (proto == 4 && (d.key.family == 6 || opt_.ipv4_in_ipv4))))
        d.inner = proto == 4 ? Inner::kIpv4 : Inner::kIpv6;
      return true;
  }
  if (complete) d.flags |= kDecL4Complete;
  return true;
}

// GRE (RFC 2784/2890; version 1 is PPTP's, RFC 2637). The payload starts
// after the optional fields the flags announce; which payloads are opened
// as tunnels follows Suricata: IPv4, IPv6, transparent Ethernet bridging,
// ERSPAN type II (a sequence number present), PPP in version 1.
bool Decoder::decode_gre(const Packet& p, size_t off, size_t avail, Decoded& d) {
  const uint8_t* g = p.data + off;
  if (avail < 4) { stats_.truncated_gre.inc(); return false; }
  const uint16_t flags = rd16(g);
  const uint16_t proto = rd16(g + 2);
  const uint8_t ver = flags & 0x07;
  constexpr uint16_t kC = 0x8000, kR = 0x4000, kK = 0x2000, kS = 0x1000, kA = 0x0080;
  size_t hlen = 4;
  if (ver == 0) {
    if (flags & (kC | kR)) hlen += 4;  // checksum and offset
    if (flags & kK) hlen += 4;
    if (flags & kS) hlen += 4;
  } else if (ver == 1) {
    // PPTP: PPP, a key (payload length, call id), no checksum or routing.
    if (proto != 0x880b || !(flags & kK) || (flags & (kC | kR))) { stats_.bad_gre_header.inc(); return false; }
    hlen = 8 + ((flags & kS) ? 4 : 0) + ((flags & kA) ? 4 : 0);
  } else {
    stats_.bad_gre_header.inc();
    return false;
  }
  if (avail < hlen) { stats_.truncated_gre.inc(); return false; }
  d.payload_off = static_cast<uint16_t>(off + hlen);
  d.payload_len = static_cast<uint16_t>(avail - hlen);
  if (!opt_.tunnels || !opt_.gre || (d.flags & kDecFragment)) return true;
  const uint8_t* pl = g + hlen;
  const size_t n = avail - hlen;
  Inner in = Inner::kNone;
  if (flags & kR) {
    // Source routing (deprecated by RFC 2784): not opened.
  } else if (ver == 1 || proto == 0x880b) {
    in = Inner::kPpp;  // PPTP's, or PPP in plain GRE (Suricata opens both)
  } else if (proto == kEthIpv4) {
    in = Inner::kIpv4;
  } else if (proto == kEthIpv6) {
    in = Inner::kIpv6;
  } else if (proto == 0x6558) {
    in = Inner::kEthernet;
  } else if (proto == 0x88be && (flags & kS) && n >= 8 && (pl[0] >> 4) == 1) {
    in = Inner::kErspan;  // type II: version 1 in the ERSPAN header
  }
  if (in == Inner::kNone) stats_.gre_not_decapsulated.inc();
  d.inner = in;
  return true;
}

bool Decoder::checksum_ok(const Packet& p, const Decoded& d, size_t l4_end) {
  const uint8_t* l4 = p.data + d.l4_off;
  const size_t len = l4_end - d.l4_off;
  const uint8_t proto = d.key.proto;
  if (proto == kProtoIcmp) return ones_sum(l4, len) == 0xffff;
  if (proto == kProtoUdp && d.key.family == 4 && l4[6] == 0 && l4[7] == 0) return true;  // no checksum
  if (proto != kProtoTcp && proto != kProtoUdp && proto != kProtoIcmp6) return true;
  // Pseudo-header (RFC 793 / 768 / 8200 §8.1), summed in the same byte
  // order as the segment so that a valid total folds to 0xffff.
  uint8_t ph[40];
  size_t phlen;
  if (d.key.family == 4) {
    std::memcpy(ph, d.key.src, 4);
    std::memcpy(ph + 4, d.key.dst, 4);
    ph[8] = 0;
    ph[9] = proto;
    ph[10] = static_cast<uint8_t>(len >> 8);
    ph[11] = static_cast<uint8_t>(len);
    phlen = 12;
  } else {
    std::memcpy(ph, d.key.src, 16);
    std::memcpy(ph + 16, d.key.dst, 16);
    ph[32] = static_cast<uint8_t>(len >> 24);
    ph[33] = static_cast<uint8_t>(len >> 16);
    ph[34] = static_cast<uint8_t>(len >> 8);
    ph[35] = static_cast<uint8_t>(len);
    ph[36] = ph[37] = ph[38] = 0;
    ph[39] = proto;
    phlen = 40;
  }
  const uint16_t s = ones_sum(ph, phlen);
  return ones_sum(l4, len, s) == 0xffff;
}

}  // namespace ws
