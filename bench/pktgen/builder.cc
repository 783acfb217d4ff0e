#include "bench/pktgen/builder.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace ws::pktgen {

namespace {

[[noreturn]] void die(const char* what, std::string_view text) {
  std::fprintf(stderr, "pktgen: %s: '%.*s'\n", what, static_cast<int>(text.size()), text.data());
  std::abort();
}

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
uint16_t get16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

struct Crc32cTable {
  uint32_t t[256];
  constexpr Crc32cTable() : t{} {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
  }
};
constexpr Crc32cTable kCrc32c;

size_t round_up(size_t n, size_t m) {
  return (n + m - 1) / m * m;
}

}  // namespace

Mac mac(std::string_view text) {
  Mac m{};
  unsigned v[6];
  std::string s(text);
  if (std::sscanf(s.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
    die("bad MAC address", text);
  for (int i = 0; i < 6; ++i) m[i] = static_cast<uint8_t>(v[i]);
  return m;
}

uint32_t ip4(std::string_view text) {
  std::string s(text);
  in_addr a;
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) die("bad IPv4 address", text);
  return ntohl(a.s_addr);
}

Ip6 ip6(std::string_view text) {
  std::string s(text);
  Ip6 a{};
  if (inet_pton(AF_INET6, s.c_str(), a.data()) != 1) die("bad IPv6 address", text);
  return a;
}

uint32_t ones_sum(const uint8_t* p, size_t n, uint32_t sum) {
  uint64_t s = sum;
  size_t i = 0;
  for (; i + 1 < n; i += 2) s += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (i < n) s += static_cast<uint32_t>(p[i] << 8);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint32_t>(s);
}

uint16_t inet_checksum(const uint8_t* p, size_t n) {
  return static_cast<uint16_t>(~fold(ones_sum(p, n)));
}

uint32_t crc32c(const uint8_t* p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) c = kCrc32c.t[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return ~c;
}

// ---------------------------------------------------------------------------

Builder::Builder() {
  buf_.reserve(2048);
}

Builder& Builder::reset() {
  buf_.clear();
  nlayers_ = 0;
  link_type_ = 1;
  link_set_ = false;
  truncate_ = SIZE_MAX;
  pad_to_ = 0;
  wire_len_ = 0;
  finished_ = false;
  return *this;
}

Builder::Layer& Builder::push(Kind k, size_t size) {
  if (finished_) {
    std::fprintf(stderr, "pktgen: layer added after finish(); call reset() first\n");
    std::abort();
  }
  if (nlayers_ == kMaxLayers) {
    std::fprintf(stderr, "pktgen: more than %d layers\n", kMaxLayers);
    std::abort();
  }
  Layer& l = layers_[nlayers_++];
  l = Layer{k, static_cast<uint32_t>(buf_.size()), kNone, 0, false, false, false, -1, -1, 0};
  buf_.resize(buf_.size() + size, 0);
  return l;
}

// Writes the type of the layer about to be added into the previous layer's
// "next protocol" field. value_eth is its ethertype (0: none), value_ip its
// IP protocol number (-1 encoded as >255: none). For DLT_NULL/LOOP the
// family is derived from the ethertype.
void Builder::set_next_type(Kind next, uint32_t value_eth, uint32_t value_ip) {
  (void)next;
  if (nlayers_ == 0) return;
  Layer& p = layers_[nlayers_ - 1];
  if (p.type_off == kNone || p.type_set) return;
  uint8_t* f = at(p.type_off);
  switch (p.kind) {
    case Kind::kEth:
    case Kind::kVlan:
    case Kind::kSll:
    case Kind::kSll2:
    case Kind::kGre:
      if (value_eth) put16(f, static_cast<uint16_t>(value_eth));
      break;
    case Kind::kIpv4:
    case Kind::kIpv6:
    case Kind::kExt6:
      if (value_ip <= 255) *f = static_cast<uint8_t>(value_ip);
      break;
    case Kind::kNull:
    case Kind::kLoop: {
      uint32_t fam = value_eth == 0x0800 ? 2 : value_eth == 0x86DD ? p.aux : 0;
      if (!fam) break;
      if (p.kind == Kind::kLoop) {
        put32(f, fam);
      } else {
        std::memcpy(f, &fam, 4);
      }
      break;
    }
    default:
      break;
  }
}

void Builder::corrupt16(size_t off) {
  uint16_t v = get16(at(off)) ^ 0xBEEF;
  if (v == 0) v = 0x1111;  // 0 would mean "no checksum" for UDP
  put16(at(off), v);
}

// ---- link layers ----------------------------------------------------------

Builder& Builder::eth(const Mac& src, const Mac& dst, int ethertype) {
  if (!link_set_) link_type_ = 1, link_set_ = true;
  set_next_type(Kind::kEth, 0x6558, 256);  // Ethernet inside GRE: transparent bridging
  Layer& l = push(Kind::kEth, 14);
  std::memcpy(at(l.off), dst.data(), 6);
  std::memcpy(at(l.off + 6), src.data(), 6);
  l.type_off = l.off + 12;
  l.type_width = 2;
  if (ethertype >= 0) {
    put16(at(l.type_off), static_cast<uint16_t>(ethertype));
    l.type_set = true;
  }
  return *this;
}

Builder& Builder::eth(std::string_view src, std::string_view dst, int ethertype) {
  return eth(mac(src), mac(dst), ethertype);
}

Builder& Builder::vlan(uint16_t vid, uint8_t pcp, bool dei) {
  set_next_type(Kind::kVlan, 0x8100, 256);
  Layer& l = push(Kind::kVlan, 4);
  put16(at(l.off), static_cast<uint16_t>((pcp & 7) << 13 | (dei ? 1 : 0) << 12 | (vid & 0xfff)));
  l.type_off = l.off + 2;
  l.type_width = 2;
  return *this;
}

Builder& Builder::svlan(uint16_t vid, uint8_t pcp) {
  set_next_type(Kind::kVlan, 0x88a8, 256);
  Layer& l = push(Kind::kVlan, 4);
  put16(at(l.off), static_cast<uint16_t>((pcp & 7) << 13 | (vid & 0xfff)));
  l.type_off = l.off + 2;
  l.type_width = 2;
  return *this;
}

Builder& Builder::qinq(uint16_t outer, uint16_t inner) {
  return svlan(outer).vlan(inner);
}

Builder& Builder::mpls(uint32_t label, uint8_t tc, uint8_t ttl) {
  set_next_type(Kind::kMpls, 0x8847, 137);  // 137: MPLS-in-IP
  Layer& l = push(Kind::kMpls, 4);
  put32(at(l.off), (label & 0xfffff) << 12 | (tc & 7u) << 9 | ttl);
  return *this;
}

Builder& Builder::sll(uint16_t pkttype, const Mac& addr) {
  if (!link_set_) link_type_ = 113, link_set_ = true;
  Layer& l = push(Kind::kSll, 16);
  put16(at(l.off), pkttype);
  put16(at(l.off + 2), 1);  // ARPHRD_ETHER
  put16(at(l.off + 4), 6);
  std::memcpy(at(l.off + 6), addr.data(), 6);
  l.type_off = l.off + 14;
  l.type_width = 2;
  return *this;
}

Builder& Builder::sll2(uint32_t ifindex, uint8_t pkttype, const Mac& addr) {
  if (!link_set_) link_type_ = 276, link_set_ = true;
  Layer& l = push(Kind::kSll2, 20);
  put32(at(l.off + 4), ifindex);
  put16(at(l.off + 8), 1);  // ARPHRD_ETHER
  *at(l.off + 10) = pkttype;
  *at(l.off + 11) = 6;
  std::memcpy(at(l.off + 12), addr.data(), 6);
  l.type_off = l.off;
  l.type_width = 2;
  return *this;
}

Builder& Builder::null_link(uint32_t inet6_family) {
  if (!link_set_) link_type_ = 0, link_set_ = true;
  Layer& l = push(Kind::kNull, 4);
  l.type_off = l.off;
  l.type_width = 4;
  l.aux = inet6_family;
  return *this;
}

Builder& Builder::loop_link(uint32_t inet6_family) {
  if (!link_set_) link_type_ = 108, link_set_ = true;
  Layer& l = push(Kind::kLoop, 4);
  l.type_off = l.off;
  l.type_width = 4;
  l.type_net = true;
  l.aux = inet6_family;
  return *this;
}

Builder& Builder::raw() {
  if (!link_set_) link_type_ = 101, link_set_ = true;
  return *this;
}

// ---- network layers -------------------------------------------------------

Builder& Builder::ipv4(std::string_view src, std::string_view dst, const Ipv4Opts& o) {
  return ipv4(ip4(src), ip4(dst), o);
}

Builder& Builder::ipv4(uint32_t src, uint32_t dst, const Ipv4Opts& o) {
  if (!link_set_) link_type_ = 101, link_set_ = true;
  set_next_type(Kind::kIpv4, 0x0800, 4);
  size_t hlen = 20 + round_up(o.options.size(), 4);
  Layer& l = push(Kind::kIpv4, hlen);
  uint8_t* h = at(l.off);
  h[0] = 0x40;  // IHL filled in by finish()
  h[1] = o.tos;
  put16(h + 4, o.id);
  put16(h + 6, static_cast<uint16_t>((o.df ? 0x4000 : 0) | (o.mf ? 0x2000 : 0) | (o.frag_offset & 0x1fff)));
  h[8] = o.ttl;
  h[9] = 253;  // "experimentation" until a next layer says otherwise
  put32(h + 12, src);
  put32(h + 16, dst);
  if (!o.options.empty()) std::memcpy(h + 20, o.options.data(), o.options.size());
  l.type_off = l.off + 9;
  l.type_width = 1;
  if (o.proto >= 0) {
    h[9] = static_cast<uint8_t>(o.proto);
    l.type_set = true;
  }
  l.len_override = o.total_len;
  l.hlen_override = o.ihl;
  l.aux = static_cast<uint32_t>(hlen);
  return *this;
}

Builder& Builder::ipv6(std::string_view src, std::string_view dst, const Ipv6Opts& o) {
  return ipv6(ip6(src), ip6(dst), o);
}

Builder& Builder::ipv6(const Ip6& src, const Ip6& dst, const Ipv6Opts& o) {
  if (!link_set_) link_type_ = 101, link_set_ = true;
  set_next_type(Kind::kIpv6, 0x86DD, 41);
  Layer& l = push(Kind::kIpv6, 40);
  uint8_t* h = at(l.off);
  put32(h, 6u << 28 | static_cast<uint32_t>(o.tclass) << 20 | (o.flow_label & 0xfffff));
  h[6] = 59;  // no next header
  h[7] = o.hop_limit;
  std::memcpy(h + 8, src.data(), 16);
  std::memcpy(h + 24, dst.data(), 16);
  l.type_off = l.off + 6;
  l.type_width = 1;
  if (o.next_header >= 0) {
    h[6] = static_cast<uint8_t>(o.next_header);
    l.type_set = true;
  }
  l.len_override = o.payload_len;
  return *this;
}

namespace {
// Fills [p, p+n) with Pad1/PadN options (RFC 8200 4.2).
void pad_options(uint8_t* p, size_t n) {
  if (n == 1) {
    p[0] = 0;
  } else if (n >= 2) {
    p[0] = 1;
    p[1] = static_cast<uint8_t>(n - 2);
  }
}
}  // namespace

Builder& Builder::hop_by_hop(std::span<const uint8_t> options) {
  set_next_type(Kind::kExt6, 0, 0);
  size_t len = round_up(2 + options.size(), 8);
  Layer& l = push(Kind::kExt6, len);
  uint8_t* h = at(l.off);
  h[0] = 59;
  h[1] = static_cast<uint8_t>(len / 8 - 1);
  if (!options.empty()) std::memcpy(h + 2, options.data(), options.size());
  pad_options(h + 2 + options.size(), len - 2 - options.size());
  l.type_off = l.off;
  l.type_width = 1;
  l.aux = kNone;
  return *this;
}

Builder& Builder::dest_opts(std::span<const uint8_t> options) {
  set_next_type(Kind::kExt6, 0, 60);
  size_t len = round_up(2 + options.size(), 8);
  Layer& l = push(Kind::kExt6, len);
  uint8_t* h = at(l.off);
  h[0] = 59;
  h[1] = static_cast<uint8_t>(len / 8 - 1);
  if (!options.empty()) std::memcpy(h + 2, options.data(), options.size());
  pad_options(h + 2 + options.size(), len - 2 - options.size());
  l.type_off = l.off;
  l.type_width = 1;
  l.aux = kNone;
  return *this;
}

Builder& Builder::routing(uint8_t type, uint8_t segments_left, std::span<const Ip6> addrs) {
  set_next_type(Kind::kExt6, 0, 43);
  size_t len = 8 + 16 * addrs.size();
  Layer& l = push(Kind::kExt6, len);
  uint8_t* h = at(l.off);
  h[0] = 59;
  h[1] = static_cast<uint8_t>(2 * addrs.size());
  h[2] = type;
  h[3] = segments_left;
  if (type == 4 && !addrs.empty()) h[4] = static_cast<uint8_t>(addrs.size() - 1);  // last entry
  for (size_t i = 0; i < addrs.size(); ++i) std::memcpy(h + 8 + 16 * i, addrs[i].data(), 16);
  l.type_off = l.off;
  l.type_width = 1;
  l.aux = kNone;
  if (segments_left > 0 && !addrs.empty()) {
    size_t final_idx = type == 4 ? 0 : addrs.size() - 1;
    l.aux = static_cast<uint32_t>(l.off + 8 + 16 * final_idx);
  }
  return *this;
}

Builder& Builder::frag6(uint16_t offset, bool more, uint32_t id) {
  set_next_type(Kind::kExt6, 0, 44);
  Layer& l = push(Kind::kExt6, 8);
  uint8_t* h = at(l.off);
  h[0] = 59;
  put16(h + 2, static_cast<uint16_t>((offset & 0x1fff) << 3 | (more ? 1 : 0)));
  put32(h + 4, id);
  l.type_off = l.off;
  l.type_width = 1;
  l.aux = kNone;
  return *this;
}

Builder& Builder::gre(const GreOpts& o) {
  set_next_type(Kind::kGre, 0, 47);
  size_t len = 4 + (o.checksum ? 4 : 0) + (o.has_key ? 4 : 0) + (o.has_seq ? 4 : 0);
  Layer& l = push(Kind::kGre, len);
  uint8_t* h = at(l.off);
  h[0] = static_cast<uint8_t>((o.checksum ? 0x80 : 0) | (o.has_key ? 0x20 : 0) | (o.has_seq ? 0x10 : 0));
  size_t p = 4 + (o.checksum ? 4 : 0);
  if (o.has_key) put32(h + p, o.key), p += 4;
  if (o.has_seq) put32(h + p, o.seq);
  l.type_off = l.off + 2;
  l.type_width = 2;
  if (o.proto >= 0) {
    put16(h + 2, static_cast<uint16_t>(o.proto));
    l.type_set = true;
  }
  return *this;
}

// ---- transport layers -----------------------------------------------------

Builder& Builder::tcp(uint16_t sport, uint16_t dport, uint8_t flags, const TcpOpts& o) {
  set_next_type(Kind::kTcp, 0, 6);
  size_t hlen = 20 + round_up(o.options.size(), 4);
  Layer& l = push(Kind::kTcp, hlen);
  uint8_t* h = at(l.off);
  put16(h, sport);
  put16(h + 2, dport);
  put32(h + 4, o.seq);
  put32(h + 8, o.ack);
  h[13] = flags;
  put16(h + 14, o.window);
  put16(h + 18, o.urgent);
  if (!o.options.empty()) std::memcpy(h + 20, o.options.data(), o.options.size());
  l.hlen_override = o.data_offset;
  l.aux = static_cast<uint32_t>(hlen);
  return *this;
}

Builder& Builder::udp(uint16_t sport, uint16_t dport, int length) {
  set_next_type(Kind::kUdp, 0, 17);
  Layer& l = push(Kind::kUdp, 8);
  put16(at(l.off), sport);
  put16(at(l.off + 2), dport);
  l.len_override = length;
  return *this;
}

Builder& Builder::icmp(uint8_t type, uint8_t code, uint32_t rest) {
  set_next_type(Kind::kIcmp, 0, 1);
  Layer& l = push(Kind::kIcmp, 8);
  *at(l.off) = type;
  *at(l.off + 1) = code;
  put32(at(l.off + 4), rest);
  return *this;
}

Builder& Builder::icmp_echo(bool request, uint16_t id, uint16_t seq) {
  return icmp(request ? 8 : 0, 0, static_cast<uint32_t>(id) << 16 | seq);
}

Builder& Builder::icmpv6(uint8_t type, uint8_t code, uint32_t rest) {
  set_next_type(Kind::kIcmp6, 0, 58);
  Layer& l = push(Kind::kIcmp6, 8);
  *at(l.off) = type;
  *at(l.off + 1) = code;
  put32(at(l.off + 4), rest);
  return *this;
}

Builder& Builder::icmpv6_echo(bool request, uint16_t id, uint16_t seq) {
  return icmpv6(request ? 128 : 129, 0, static_cast<uint32_t>(id) << 16 | seq);
}

Builder& Builder::sctp(uint16_t sport, uint16_t dport, uint32_t vtag) {
  set_next_type(Kind::kSctp, 0, 132);
  Layer& l = push(Kind::kSctp, 12);
  put16(at(l.off), sport);
  put16(at(l.off + 2), dport);
  put32(at(l.off + 4), vtag);
  return *this;
}

Builder& Builder::sctp_chunk(uint8_t type, uint8_t flags, std::span<const uint8_t> body) {
  Layer& l = push(Kind::kChunk, round_up(4 + body.size(), 4));
  *at(l.off) = type;
  *at(l.off + 1) = flags;
  put16(at(l.off + 2), static_cast<uint16_t>(4 + body.size()));
  if (!body.empty()) std::memcpy(at(l.off + 4), body.data(), body.size());
  return *this;
}

Builder& Builder::sctp_data(uint32_t tsn, uint16_t stream, uint16_t ssn, uint32_t ppid,
                            std::span<const uint8_t> data) {
  size_t body = 12 + data.size();
  Layer& l = push(Kind::kChunk, round_up(4 + body, 4));
  uint8_t* h = at(l.off);
  h[0] = 0;     // DATA
  h[1] = 0x03;  // B|E: an unfragmented user message
  put16(h + 2, static_cast<uint16_t>(4 + body));
  put32(h + 4, tsn);
  put16(h + 8, stream);
  put16(h + 10, ssn);
  put32(h + 12, ppid);
  if (!data.empty()) std::memcpy(h + 16, data.data(), data.size());
  return *this;
}

// ---- payload --------------------------------------------------------------

Builder& Builder::payload(std::span<const uint8_t> bytes) {
  Layer& l = push(Kind::kPayload, bytes.size());
  if (!bytes.empty()) std::memcpy(at(l.off), bytes.data(), bytes.size());
  return *this;
}

Builder& Builder::payload(std::string_view text) {
  return payload(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

Builder& Builder::payload_fill(size_t n, uint8_t value) {
  Layer& l = push(Kind::kPayload, n);
  if (n) std::memset(at(l.off), value, n);
  return *this;
}

Builder& Builder::payload_pattern(size_t n, uint64_t seed) {
  Layer& l = push(Kind::kPayload, n);
  uint8_t* p = at(l.off);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64
    std::memcpy(p + i, &x, 8);
  }
  x ^= x << 13, x ^= x >> 7, x ^= x << 17;
  for (int k = 0; i < n; ++i, ++k) p[i] = static_cast<uint8_t>(x >> (8 * k));
  return *this;
}

// ---- damage ---------------------------------------------------------------

Builder& Builder::bad_checksum() {
  for (int i = nlayers_ - 1; i >= 0; --i) {
    Kind k = layers_[i].kind;
    bool has = k == Kind::kIpv4 || k == Kind::kTcp || k == Kind::kUdp || k == Kind::kIcmp ||
               k == Kind::kIcmp6 || k == Kind::kSctp || (k == Kind::kGre && (*at(layers_[i].off) & 0x80));
    if (has) {
      layers_[i].corrupt = true;
      return *this;
    }
  }
  std::fprintf(stderr, "pktgen: bad_checksum() with no checksummed layer\n");
  std::abort();
}

Builder& Builder::truncate(size_t n) {
  truncate_ = n;
  return *this;
}

Builder& Builder::pad_to(size_t n) {
  pad_to_ = n;
  return *this;
}

// ---- finish ---------------------------------------------------------------

int Builder::enclosing_ip(int idx) const {
  for (int i = idx - 1; i >= 0; --i)
    if (layers_[i].kind == Kind::kIpv4 || layers_[i].kind == Kind::kIpv6) return i;
  return -1;
}

uint32_t Builder::pseudo_sum(int ip_idx, uint8_t proto, uint32_t len) const {
  const Layer& ip = layers_[ip_idx];
  const uint8_t* h = buf_.data() + ip.off;
  uint32_t s = 0;
  if (ip.kind == Kind::kIpv4) {
    s = ones_sum(h + 12, 8);
    s += proto;
    s += len & 0xffff;  // a UDP/TCP length never exceeds 16 bits over IPv4
  } else {
    const uint8_t* dst = h + 24;
    // RFC 8200 8.1: with a routing header, the final destination.
    for (int i = ip_idx + 1; i < nlayers_ && layers_[i].kind == Kind::kExt6; ++i)
      if (layers_[i].aux != kNone) dst = buf_.data() + layers_[i].aux;
    s = ones_sum(h + 8, 16);
    s = ones_sum(dst, 16, s);
    s += len >> 16;
    s += len & 0xffff;
    s += proto;
  }
  return fold(s);
}

std::span<const uint8_t> Builder::finish() {
  if (finished_) return {buf_.data(), buf_.size()};
  finished_ = true;
  const uint32_t end = static_cast<uint32_t>(buf_.size());

  for (int i = 0; i < nlayers_; ++i) {
    if (layers_[i].kind != Kind::kMpls) continue;
    bool bottom = i + 1 == nlayers_ || layers_[i + 1].kind != Kind::kMpls;
    if (bottom) *at(layers_[i].off + 2) |= 0x01;
  }

  for (int i = nlayers_ - 1; i >= 0; --i) {
    Layer& l = layers_[i];
    uint8_t* h = at(l.off);
    uint32_t len = end - l.off;
    switch (l.kind) {
      case Kind::kIpv4: {
        uint32_t hlen = l.aux;
        h[0] = static_cast<uint8_t>(0x40 | ((l.hlen_override >= 0 ? l.hlen_override : hlen / 4) & 0xf));
        put16(h + 2, static_cast<uint16_t>(l.len_override >= 0 ? l.len_override : len));
        put16(h + 10, 0);
        put16(h + 10, inet_checksum(h, hlen));
        if (l.corrupt) corrupt16(l.off + 10);
        break;
      }
      case Kind::kIpv6:
        put16(h + 4, static_cast<uint16_t>(l.len_override >= 0 ? l.len_override : len - 40));
        break;
      case Kind::kTcp: {
        uint32_t hlen = l.aux;
        h[12] = static_cast<uint8_t>(((l.hlen_override >= 0 ? l.hlen_override : hlen / 4) & 0xf) << 4);
        put16(h + 16, 0);
        int ip = enclosing_ip(i);
        if (ip >= 0) put16(h + 16, static_cast<uint16_t>(~fold(ones_sum(h, len, pseudo_sum(ip, 6, len)))));
        if (l.corrupt) corrupt16(l.off + 16);
        break;
      }
      case Kind::kUdp: {
        put16(h + 4, static_cast<uint16_t>(l.len_override >= 0 ? l.len_override : len));
        put16(h + 6, 0);
        int ip = enclosing_ip(i);
        if (ip >= 0) {
          uint16_t c = static_cast<uint16_t>(~fold(ones_sum(h, len, pseudo_sum(ip, 17, len))));
          put16(h + 6, c == 0 ? 0xffff : c);  // 0 means "no checksum"
        }
        if (l.corrupt) corrupt16(l.off + 6);
        break;
      }
      case Kind::kIcmp:
        put16(h + 2, 0);
        put16(h + 2, inet_checksum(h, len));
        if (l.corrupt) corrupt16(l.off + 2);
        break;
      case Kind::kIcmp6: {
        put16(h + 2, 0);
        int ip = enclosing_ip(i);
        if (ip >= 0) put16(h + 2, static_cast<uint16_t>(~fold(ones_sum(h, len, pseudo_sum(ip, 58, len)))));
        if (l.corrupt) corrupt16(l.off + 2);
        break;
      }
      case Kind::kSctp: {
        std::memset(h + 8, 0, 4);
        uint32_t c = crc32c(h, len);
        if (l.corrupt) c ^= 0xDEADBEEFu;
        std::memcpy(h + 8, &c, 4);  // stored least significant byte first (RFC 9260 A)
        // memcpy of a host-order value is only right on little-endian hosts.
        static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__);
        break;
      }
      case Kind::kGre:
        if (h[0] & 0x80) {
          put16(h + 4, 0);
          put16(h + 4, inet_checksum(h, len));
          if (l.corrupt) corrupt16(l.off + 4);
        }
        break;
      default:
        break;
    }
  }

  if (buf_.size() < pad_to_) buf_.resize(pad_to_, 0);
  wire_len_ = buf_.size();
  if (buf_.size() > truncate_) buf_.resize(truncate_);
  return {buf_.data(), buf_.size()};
}

Bytes Builder::build() {
  auto v = finish();
  return Bytes(v.begin(), v.end());
}

// ---------------------------------------------------------------------------

std::vector<Bytes> fragment(std::span<const uint8_t> frame, size_t l3_off, size_t max_payload, uint32_t id) {
  std::vector<Bytes> out;
  if (frame.size() < l3_off + 20) {
    out.emplace_back(frame.begin(), frame.end());
    return out;
  }
  const uint8_t* ip = frame.data() + l3_off;
  size_t chunk = max_payload & ~size_t{7};
  if (chunk == 0) chunk = 8;
  if ((ip[0] >> 4) == 4) {
    size_t ihl = (ip[0] & 0xf) * 4u;
    size_t total = std::min<size_t>(get16(ip + 2), frame.size() - l3_off);
    if (total <= ihl + max_payload) {
      out.emplace_back(frame.begin(), frame.end());
      return out;
    }
    for (size_t pos = 0; ihl + pos < total; pos += chunk) {
      size_t n = std::min(chunk, total - ihl - pos);
      bool more = ihl + pos + n < total;
      Bytes f(frame.begin(), frame.begin() + static_cast<ptrdiff_t>(l3_off + ihl));
      f.insert(f.end(), ip + ihl + pos, ip + ihl + pos + n);
      uint8_t* h = f.data() + l3_off;
      put16(h + 2, static_cast<uint16_t>(ihl + n));
      put16(h + 6, static_cast<uint16_t>((more ? 0x2000 : 0) | ((pos / 8) & 0x1fff)));
      put16(h + 10, 0);
      put16(h + 10, inet_checksum(h, ihl));
      out.push_back(std::move(f));
    }
    return out;
  }
  if (frame.size() < l3_off + 40) {
    out.emplace_back(frame.begin(), frame.end());
    return out;
  }
  size_t plen = std::min<size_t>(get16(ip + 4), frame.size() - l3_off - 40);
  if (plen <= max_payload) {
    out.emplace_back(frame.begin(), frame.end());
    return out;
  }
  uint8_t next = ip[6];
  for (size_t pos = 0; pos < plen; pos += chunk) {
    size_t n = std::min(chunk, plen - pos);
    bool more = pos + n < plen;
    Bytes f(frame.begin(), frame.begin() + static_cast<ptrdiff_t>(l3_off + 40));
    uint8_t fh[8] = {next, 0, 0, 0, 0, 0, 0, 0};
    put16(fh + 2, static_cast<uint16_t>((pos / 8) << 3 | (more ? 1 : 0)));
    put32(fh + 4, id);
    f.insert(f.end(), fh, fh + 8);
    f.insert(f.end(), ip + 40 + pos, ip + 40 + pos + n);
    uint8_t* h = f.data() + l3_off;
    h[6] = 44;
    put16(h + 4, static_cast<uint16_t>(8 + n));
    out.push_back(std::move(f));
  }
  return out;
}

// ---------------------------------------------------------------------------

PcapWriter::~PcapWriter() {
  close();
}

bool PcapWriter::open(const std::string& path, uint32_t linktype, uint32_t snaplen, TsResolution res) {
  close();
  failed_ = false;
  records_ = 0;
  error_.clear();
  f_ = std::fopen(path.c_str(), "wb");
  if (!f_) {
    error_ = "cannot create " + path + ": " + std::strerror(errno);
    return false;
  }
  // Large stdio buffer: the generator writes ~1 GB in small records.
  iobuf_.resize(1 << 20);
  std::setvbuf(f_, iobuf_.data(), _IOFBF, iobuf_.size());
  snaplen_ = snaplen ? snaplen : 262144;
  nano_ = res == TsResolution::kNano;
  struct {
    uint32_t magic;
    uint16_t major, minor;
    int32_t thiszone;
    uint32_t sigfigs, snaplen, linktype;
  } hdr = {nano_ ? 0xa1b23c4du : 0xa1b2c3d4u, 2, 4, 0, 0, snaplen_, linktype};
  if (std::fwrite(&hdr, sizeof hdr, 1, f_) != 1) {
    error_ = "cannot write " + path + ": " + std::strerror(errno);
    failed_ = true;
    return false;
  }
  return true;
}

bool PcapWriter::write(uint64_t ts_ns, std::span<const uint8_t> frame, uint32_t orig_len) {
  if (!f_ || failed_) return false;
  uint32_t incl = static_cast<uint32_t>(std::min<size_t>(frame.size(), snaplen_));
  uint32_t rec[4] = {static_cast<uint32_t>(ts_ns / 1000000000u),
                     static_cast<uint32_t>(nano_ ? ts_ns % 1000000000u : ts_ns % 1000000000u / 1000u), incl,
                     orig_len ? orig_len : static_cast<uint32_t>(frame.size())};
  if (std::fwrite(rec, sizeof rec, 1, f_) != 1 || (incl && std::fwrite(frame.data(), incl, 1, f_) != 1)) {
    error_ = std::string("write failed: ") + std::strerror(errno);
    failed_ = true;
    return false;
  }
  ++records_;
  return true;
}

bool PcapWriter::close() {
  if (!f_) return !failed_;
  if (std::fclose(f_) != 0 && !failed_) {
    error_ = std::string("close failed: ") + std::strerror(errno);
    failed_ = true;
  }
  f_ = nullptr;
  return !failed_;
}

PcapngWriter::~PcapngWriter() {
  close();
}

bool PcapngWriter::put(const void* p, size_t n) {
  if (failed_) return false;
  if (std::fwrite(p, 1, n, f_) != n) {
    error_ = std::string("write failed: ") + std::strerror(errno);
    failed_ = true;
  }
  return !failed_;
}

bool PcapngWriter::open(const std::string& path, uint32_t linktype, uint32_t snaplen, TsResolution res) {
  close();
  failed_ = false;
  error_.clear();
  f_ = std::fopen(path.c_str(), "wb");
  if (!f_) {
    error_ = "cannot create " + path + ": " + std::strerror(errno);
    return false;
  }
  snaplen_ = snaplen ? snaplen : 262144;
  nano_ = res == TsResolution::kNano;
  // Section header block.
  uint32_t shb[7] = {0x0A0D0D0Au, 28, 0x1A2B3C4Du, 1 /* major 1, minor 0 */, 0xffffffffu, 0xffffffffu, 28};
  if (!put(shb, sizeof shb)) return false;
  // Interface description block, with if_tsresol when nanosecond.
  uint32_t idb_len = 20 + (nano_ ? 12 : 0);
  uint32_t idb[5] = {1, idb_len, linktype & 0xffff, snaplen_, 0};
  if (!put(idb, 16)) return false;
  if (nano_) {
    uint8_t opt[12] = {9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0};  // if_tsresol=9, opt_endofopt
    if (!put(opt, sizeof opt)) return false;
  }
  return put(&idb_len, 4);
}

bool PcapngWriter::write(uint64_t ts_ns, std::span<const uint8_t> frame, uint32_t orig_len) {
  if (!f_ || failed_) return false;
  uint32_t incl = static_cast<uint32_t>(std::min<size_t>(frame.size(), snaplen_));
  uint32_t padded = static_cast<uint32_t>(round_up(incl, 4));
  uint32_t total = 32 + padded;
  uint64_t ts = nano_ ? ts_ns : ts_ns / 1000;
  uint32_t hdr[7] = {6,
                     total,
                     0,
                     static_cast<uint32_t>(ts >> 32),
                     static_cast<uint32_t>(ts),
                     incl,
                     orig_len ? orig_len : static_cast<uint32_t>(frame.size())};
  static const uint8_t zeros[4] = {0, 0, 0, 0};
  return put(hdr, sizeof hdr) && (incl == 0 || put(frame.data(), incl)) && put(zeros, padded - incl) &&
         put(&total, 4);
}

bool PcapngWriter::close() {
  if (!f_) return !failed_;
  if (std::fclose(f_) != 0 && !failed_) {
    error_ = std::string("close failed: ") + std::strerror(errno);
    failed_ = true;
  }
  f_ = nullptr;
  return !failed_;
}

}  // namespace ws::pktgen
