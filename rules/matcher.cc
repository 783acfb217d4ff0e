#include "rules/matcher.h"

#include "rules/address.h"

#include <hs/hs.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstring>
#include <map>
#include <utility>

namespace ws {

namespace {

// Protocol classes and directions of the prefilter groups; group index is
// class * 2 + (to_server ? 0 : 1).
enum ProtoClass : uint8_t { kClassTcp, kClassUdp, kClassIcmp, kClassOther, kClassCount };
constexpr const char* kClassName[] = {"tcp", "udp", "icmp", "other"};

ProtoClass packet_class(uint8_t ip_proto) {
  switch (ip_proto) {
    case 6: return kClassTcp;
    case 17: return kClassUdp;
    case 1: case 58: return kClassIcmp;
    default: return kClassOther;
  }
}

// Suricata caps recursive content inspection (inspection-recursion-limit,
// 3000) so a rule with many repeated relative contents cannot take
// quadratic time on a crafted payload; the same bound here.
constexpr int kInspectionBudget = 3000;

// The pcre limits Suricata applies unless a rule says `O` (its
// pcre.match-limit / match-limit-recursion defaults).
constexpr uint32_t kPcreMatchLimit = 3500;
constexpr uint32_t kPcreDepthLimit = 1500;

bool uint_cond(const UintCond& c, uint64_t x) {
  switch (c.op) {
    case UintCond::Op::kEq: return x == c.a;
    case UintCond::Op::kNe: return x != c.a;
    case UintCond::Op::kLt: return x < c.a;
    case UintCond::Op::kLe: return x <= c.a;
    case UintCond::Op::kGt: return x > c.a;
    case UintCond::Op::kGe: return x >= c.a;
    case UintCond::Op::kRange: return c.a < x && x < c.b;
  }
  return false;
}


bool port_match(const PortNode& n, uint16_t p) {
  bool r = true;
  switch (n.kind) {
    case PortNode::Kind::kAny: r = true; break;
    case PortNode::Kind::kRange: r = n.lo <= p && p <= n.hi; break;
    case PortNode::Kind::kList: {
      bool has_pos = false, pos = false;
      for (const PortNode& c : n.children) {
        bool m = port_match(c, p);
        if (c.negated) {
          if (!m) { r = false; break; }
        } else {
          has_pos = true;
          pos = pos || m;
        }
      }
      if (r && has_pos) r = pos;
      break;
    }
  }
  return n.negated ? !r : r;
}

bool ports_apply(uint8_t ip_proto) { return ip_proto == 6 || ip_proto == 17 || ip_proto == 132; }

bool header_oneway(const Rule& r, const MatchInput& in, bool swap) {
  const auto& s = swap ? in.dst : in.src;
  const auto& d = swap ? in.src : in.dst;
  if (!address_match(r.src, in.ipv6, s) || !address_match(r.dst, in.ipv6, d)) return false;
  if (ports_apply(in.ip_proto)) {
    uint16_t sp = swap ? in.dport : in.sport, dp = swap ? in.sport : in.dport;
    return port_match(r.sport, sp) && port_match(r.dport, dp);
  }
  // A packet without ports only matches a rule that does not ask for them.
  return r.sport.kind == PortNode::Kind::kAny && !r.sport.negated &&
         r.dport.kind == PortNode::Kind::kAny && !r.dport.negated;
}

bool proto_match(const Rule& r, const MatchInput& in) {
  switch (r.proto) {
    case RuleProto::kIp: return true;
    case RuleProto::kTcp: return in.ip_proto == 6;
    case RuleProto::kTcpPkt: return in.ip_proto == 6 && !in.stream;
    case RuleProto::kTcpStream: return in.ip_proto == 6 && in.stream;
    case RuleProto::kUdp: return in.ip_proto == 17;
    case RuleProto::kIcmp: return in.ip_proto == 1 || in.ip_proto == 58;
    case RuleProto::kIcmpV4: return in.ip_proto == 1;
    case RuleProto::kIcmpV6: return in.ip_proto == 58;
    case RuleProto::kAppLayer: {
      const uint8_t t = app_proto_transports(r.app);
      return (in.ip_proto == 6 && (t & kAppOverTcp)) || (in.ip_proto == 17 && (t & kAppOverUdp));
    }
  }
  return false;
}

// The AppProto values a rule accepts: its header protocol, and each
// app-layer-protocol keyword (negated: any final value but the listed
// ones, never kUnknown, as Suricata).
uint64_t app_allowed(const Rule& r) {
  uint64_t m = ~uint64_t{0};
  if (r.proto == RuleProto::kAppLayer) m &= app_bit(r.app);
  for (const AppLayerProtocol& a : r.app_layer_protocol)
    m &= a.negated ? ~(a.protos | app_bit(AppProto::kUnknown)) : a.protos;
  return m;
}

bool flow_match(const FlowOpts& f, const MatchInput& in) {
  if (f.dir != FlowOpts::Dir::kAny) {
    if (!in.has_flow) return false;
    if ((f.dir == FlowOpts::Dir::kToServer) != in.to_server) return false;
  }
  switch (f.state) {
    case FlowOpts::State::kAny: case FlowOpts::State::kStateless: break;
    case FlowOpts::State::kEstablished: if (!in.has_flow || !in.established) return false; break;
    case FlowOpts::State::kNotEstablished: if (!in.has_flow || in.established) return false; break;
  }
  if (f.stream == FlowOpts::Stream::kOnlyStream && !in.stream) return false;
  if (f.stream == FlowOpts::Stream::kNoStream && in.stream) return false;
  return true;
}

// Suricata's flags test: `ignore` bits are masked out first; no modifier
// means the remaining flags equal the rule's exactly.
bool flags_match(const TcpFlags& f, uint8_t pkt) {
  if (f.bits == 0 && pkt != 0) return f.mod == TcpFlags::Mod::kNot;
  uint8_t x = pkt & static_cast<uint8_t>(~f.ignore);
  switch (f.mod) {
    case TcpFlags::Mod::kAny: return (x & f.bits) != 0;
    case TcpFlags::Mod::kPlus: return (x & f.bits) == f.bits;
    case TcpFlags::Mod::kNot: return (x & f.bits) != f.bits;
    case TcpFlags::Mod::kExact: return x == f.bits;
  }
  return false;
}

bool bit_get(std::span<uint64_t> words, uint32_t b) {
  return b / 64 < words.size() && (words[b / 64] >> (b % 64)) & 1;
}

void bit_put(std::span<uint64_t> words, uint32_t b, bool v) {
  if (b / 64 >= words.size()) return;
  uint64_t m = uint64_t{1} << (b % 64);
  words[b / 64] = v ? words[b / 64] | m : words[b / 64] & ~m;
}

bool is_relative(const PayloadMatch& pm) {
  if (auto* c = std::get_if<ContentMatch>(&pm)) return c->distance || c->within;
  if (auto* p = std::get_if<PcreMatch>(&pm)) return p->relative;
  if (auto* b = std::get_if<ByteTest>(&pm)) return b->relative;
  if (auto* b = std::get_if<ByteJump>(&pm)) return b->relative;
  if (auto* b = std::get_if<ByteExtract>(&pm)) return b->relative;
  if (auto* d = std::get_if<IsDataAt>(&pm)) return d->relative;
  return false;
}

bool byte_eq(uint8_t a, uint8_t b, bool nocase) {
  if (!nocase) return a == b;
  return std::tolower(a) == std::tolower(b);
}

// First occurrence of pat in buf[from, to) (the whole pattern inside), or -1.
int64_t find(const uint8_t* buf, int64_t from, int64_t to, const std::string& pat, bool nocase) {
  auto n = static_cast<int64_t>(pat.size());
  if (from < 0 || to - from < n) return -1;
  if (!nocase) {
    const void* hit = memmem(buf + from, static_cast<size_t>(to - from), pat.data(), pat.size());
    return hit ? static_cast<const uint8_t*>(hit) - buf : -1;
  }
  const auto* p = reinterpret_cast<const uint8_t*>(pat.data());
  for (int64_t i = from; i + n <= to; ++i) {
    if (!byte_eq(buf[i], p[0], true)) continue;
    int64_t k = 1;
    while (k < n && byte_eq(buf[i + k], p[k], true)) ++k;
    if (k == n) return i;
  }
  return -1;
}

// Reads nbytes at pos as a number: binary in the given byte order, or
// text in a base (Suricata reads leading digits and fails on none).
bool read_number(const uint8_t* buf, int64_t len, int64_t pos, int64_t nbytes, ByteEndian endian,
                 ByteBase base, uint64_t& out) {
  if (pos < 0 || nbytes < 0 || pos + nbytes > len) return false;
  uint64_t v = 0;
  if (base == ByteBase::kNone) {
    if (nbytes > 8) return false;
    for (int64_t i = 0; i < nbytes; ++i) {
      uint64_t b = buf[pos + i];
      if (endian == ByteEndian::kLittle) v |= b << (8 * i);
      else v = (v << 8) | b;
    }
    out = v;
    return true;
  }
  unsigned radix = base == ByteBase::kHex ? 16 : base == ByteBase::kOct ? 8 : 10;
  int64_t digits = 0;
  for (int64_t i = 0; i < nbytes; ++i) {
    int c = buf[pos + i];
    unsigned d;
    if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') d = static_cast<unsigned>(c - 'A' + 10);
    else break;
    if (d >= radix) break;
    v = v * radix + d;
    ++digits;
  }
  if (digits == 0) return false;
  out = v;
  return true;
}

// One rule's payload inspection: Suricata's recursive content inspection.
// run(i, prev) checks payload items i.. with `prev` the end of the previous
// match (the base of relative keywords). A content whose next keyword is
// relative to it retries from each later occurrence when the rest fails;
// an absolute keyword that fails ends the whole inspection (`discontinue`),
// since no other earlier match can change its result.
struct Inspection {
  const uint8_t* buf;
  int64_t len;
  const std::vector<PayloadMatch>& items;
  const std::vector<void*>& pcre;
  pcre2_match_data* md;
  pcre2_match_context* mctx;
  MatchCounters& counters;
  std::array<std::string_view, 8> var_name{};
  std::array<int64_t, 8> var_value{};
  size_t vars = 0;
  bool discontinue = false;
  int budget = kInspectionBudget;

  int64_t value(const IntOrVar& v) const {
    if (v.var.empty()) return v.value;
    for (size_t i = 0; i < vars; ++i)
      if (var_name[i] == v.var) return var_value[i];
    return 0;
  }
  int64_t var(std::string_view name) const {
    for (size_t i = 0; i < vars; ++i)
      if (var_name[i] == name) return var_value[i];
    return 0;
  }
  void set_var(std::string_view name, int64_t v) {
    for (size_t i = 0; i < vars; ++i)
      if (var_name[i] == name) { var_value[i] = v; return; }
    if (vars < var_name.size()) {
      var_name[vars] = name;
      var_value[vars++] = v;
    }
  }
  bool next_relative(size_t i) const { return i + 1 < items.size() && is_relative(items[i + 1]); }

  bool run(size_t i, int64_t prev) {
    if (i == items.size()) return true;
    if (--budget < 0) {
      discontinue = true;
      return false;
    }
    const PayloadMatch& pm = items[i];
    if (auto* c = std::get_if<ContentMatch>(&pm)) return content(i, *c, prev);
    if (auto* p = std::get_if<PcreMatch>(&pm)) return regex(i, *p, static_cast<pcre2_code*>(pcre[i]), prev);
    if (auto* b = std::get_if<ByteTest>(&pm)) return byte_test(i, *b, prev);
    if (auto* b = std::get_if<ByteJump>(&pm)) return byte_jump(i, *b, prev);
    if (auto* b = std::get_if<ByteExtract>(&pm)) return byte_extract(i, *b, prev);
    if (auto* d = std::get_if<IsDataAt>(&pm)) return isdataat(i, *d, prev);
    return false;
  }

  bool content(size_t i, const ContentMatch& c, int64_t prev) {
    bool relative = c.distance || c.within;
    auto plen = static_cast<int64_t>(c.bytes.size());
    int64_t offset = 0, depth = len;
    if (relative) {
      offset = prev;
      int64_t dist = c.distance ? value(*c.distance) : 0;
      if (c.distance) offset = (dist < 0 && -dist > offset) ? 0 : offset + dist;
      if (c.within) depth = std::min(depth, prev + value(*c.within) + dist);
    } else {
      if (c.offset) offset = value(*c.offset);
      // depth counts from offset (rule.h); startswith is depth:len at 0.
      if (c.depth) depth = std::min(depth, offset + value(*c.depth));
      if (c.startswith) depth = std::min(depth, plen);
    }
    int64_t from = offset;
    for (;;) {
      int64_t pos = -1;
      if (from <= depth && depth > 0) {
        if (c.endswith) {
          pos = depth == len && len - plen >= from ? len - plen : -1;
          if (pos >= 0 && find(buf, pos, len, c.bytes, c.nocase) != pos) pos = -1;
        } else {
          pos = find(buf, from, depth, c.bytes, c.nocase);
        }
      }
      if (pos < 0) {
        if (c.negated) return run(i + 1, prev);
        if (!relative) discontinue = true;
        return false;
      }
      if (c.negated) {
        if (!relative) discontinue = true;
        return false;
      }
      int64_t end = pos + plen;
      if (!next_relative(i)) return run(i + 1, end);
      if (run(i + 1, end)) return true;
      if (discontinue || c.endswith) return false;
      from = pos + 1;
    }
  }

  // A relative pcre sees the buffer from the previous match on, as in
  // Suricata: `^` anchors there and offsets count from there.
  bool regex(size_t i, const PcreMatch& p, pcre2_code* code, int64_t prev) {
    int64_t base = p.relative ? std::min(prev, len) : 0;
    int64_t from = 0;
    for (;;) {
      int rc = base + from > len ? PCRE2_ERROR_NOMATCH
                                 : pcre2_match(code, buf + base, static_cast<PCRE2_SIZE>(len - base),
                                               static_cast<PCRE2_SIZE>(from), 0, md,
                                               p.match_limit_off ? nullptr : mctx);
      if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) ++counters.pcre_errors;
      if (rc < 0) {
        if (p.negated) return run(i + 1, prev);
        if (!p.relative) discontinue = true;
        return false;
      }
      if (p.negated) {
        if (!p.relative) discontinue = true;
        return false;
      }
      PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      auto start = static_cast<int64_t>(ov[0]), end = base + static_cast<int64_t>(ov[1]);
      if (!next_relative(i)) return run(i + 1, end);
      if (run(i + 1, end)) return true;
      if (discontinue) return false;
      from = start + 1;
    }
  }

  bool byte_test(size_t i, const ByteTest& b, int64_t prev) {
    int64_t n = b.nbytes_var.empty() ? b.nbytes : var(b.nbytes_var);
    int64_t pos = (b.relative ? prev : 0) + value(b.offset);
    uint64_t v = 0;
    if (!read_number(buf, len, pos, n, b.endian, b.base, v)) return false;
    if (b.bitmask && *b.bitmask) v = (v & *b.bitmask) >> std::countr_zero(*b.bitmask);
    auto x = static_cast<uint64_t>(value(b.value));
    bool m = false;
    if (b.op == "<") m = v < x;
    else if (b.op == ">") m = v > x;
    else if (b.op == "=") m = v == x;
    else if (b.op == "<=") m = v <= x;
    else if (b.op == ">=") m = v >= x;
    else if (b.op == "&") m = (v & x) != 0;
    else if (b.op == "^") m = (v ^ x) != 0;
    if (b.negated) m = !m;
    return m && run(i + 1, prev);
  }

  bool byte_jump(size_t i, const ByteJump& b, int64_t prev) {
    int64_t n = b.nbytes_var.empty() ? b.nbytes : var(b.nbytes_var);
    int64_t pos = (b.relative ? prev : 0) + value(b.offset);
    uint64_t v = 0;
    if (n > 0 && !read_number(buf, len, pos, n, b.endian, b.base, v)) return false;
    // A relative jump needs a byte after its base even when it reads none
    // (Suricata: no relative base left, no match).
    if (n == 0 && (pos < 0 || pos > len || (b.relative && pos >= len))) return false;
    if (b.bitmask && *b.bitmask) v = (v & *b.bitmask) >> std::countr_zero(*b.bitmask);
    auto val = static_cast<int64_t>(v) * b.multiplier;
    if (b.align && val % 4) val += 4 - val % 4;
    int64_t jump = b.from_beginning ? val : b.from_end ? len + val : pos + n + val;
    jump += b.post_offset;
    // Suricata (since its issue 4624): a target before the buffer start,
    // reachable with a negative post_offset, is clamped to the start rather
    // than failing; a target at or past the end fails.
    if (jump >= len) return false;
    if (jump < 0) jump = 0;
    return run(i + 1, jump);
  }

  bool byte_extract(size_t i, const ByteExtract& b, int64_t prev) {
    int64_t pos = (b.relative ? prev : 0) + b.offset;
    uint64_t v = 0;
    if (!read_number(buf, len, pos, b.nbytes, b.endian, b.base, v)) return false;
    auto val = static_cast<int64_t>(v) * b.multiplier;
    if (b.align && val % b.align) val += b.align - val % b.align;
    set_var(b.name, val);
    return run(i + 1, pos + b.nbytes);
  }

  bool isdataat(size_t i, const IsDataAt& d, int64_t prev) {
    int64_t n = value(d.size);
    // Suricata: relative asks for n more bytes after prev; absolute for a
    // byte at offset n.
    bool ok = d.relative ? prev + n <= len : n < len;
    if (d.negated) ok = !ok;
    if (!ok) {
      if (!d.relative) discontinue = true;
      return false;
    }
    return run(i + 1, prev);
  }
};

// Suricata's IP-only class: nothing but addresses, protocol and flowbit
// setters (no payload, no flow, no ports, no packet fields).
bool is_ip_only(const Rule& r) {
  switch (r.proto) {
    case RuleProto::kIp: case RuleProto::kTcp: case RuleProto::kUdp: case RuleProto::kIcmp:
    case RuleProto::kIcmpV4: case RuleProto::kIcmpV6: break;
    default: return false;
  }
  if (!r.payload.empty() || r.dsize || r.ttl || r.ip_proto || r.itype || r.icode || r.icmp_id || r.icmp_seq ||
      r.flags || !r.app_layer_protocol.empty())
    return false;
  // Suricata's SignatureIsIPOnly: ports do not keep a rule out (its IP-only
  // engine checks them); a flow direction does, and so here does any other
  // flow condition than `stateless`.
  if (r.flow && !(r.flow->dir == FlowOpts::Dir::kAny && r.flow->state == FlowOpts::State::kStateless &&
                  r.flow->stream == FlowOpts::Stream::kAny))
    return false;
  for (const Flowbits& f : r.flowbits)
    if (f.cmd == Flowbits::Cmd::kIsSet || f.cmd == Flowbits::Cmd::kIsNotSet) return false;
  return true;
}

// Nothing but the header, a flow direction and flowbit setters besides the
// app-layer protocol conditions: Suricata's pd_only (app-layer-protocol)
// and app_layer (a protocol header) rule types, whose action scope is the
// flow.
bool app_header_only(const Rule& r) {
  if (!r.payload.empty() || r.dsize || r.ttl || r.ip_proto || r.itype || r.icode || r.icmp_id || r.icmp_seq ||
      r.flags)
    return false;
  if (r.flow && (r.flow->state != FlowOpts::State::kAny || r.flow->stream != FlowOpts::Stream::kAny)) return false;
  for (const Flowbits& f : r.flowbits)
    if (f.cmd != Flowbits::Cmd::kSet && f.cmd != Flowbits::Cmd::kNoAlert) return false;
  return true;
}

// Suricata's SignatureIsPDOnly: app-layer-protocol without a protocol
// header, and nothing a packet must be looked at for.
bool is_pd_only(const Rule& r) {
  return r.proto != RuleProto::kAppLayer && !r.app_layer_protocol.empty() && app_header_only(r);
}

// A rule whose payload conditions are all relative (no depth, offset,
// startswith/endswith, anchored pcre, absolute byte_*/isdataat, dsize) means
// the same wherever its bytes sit, so it can be looked for across the join
// of two TCP segments (the detect stage's stream check).
bool is_floating(const Rule& r) {
  if (r.payload.empty() || r.dsize) return false;
  bool first = true;
  for (const PayloadMatch& pm : r.payload) {
    if (const auto* c = std::get_if<ContentMatch>(&pm)) {
      if (c->depth || c->offset || c->startswith || c->endswith) return false;
      if (first && (c->distance || c->within)) return false;
    } else if (const auto* p = std::get_if<PcreMatch>(&pm)) {
      if (p->anchored || (!p->pattern.empty() && p->pattern[0] == '^')) return false;
      if (first && p->relative) return false;
    } else if (const auto* b = std::get_if<ByteTest>(&pm)) {
      if (!b->relative) return false;
    } else if (const auto* b = std::get_if<ByteJump>(&pm)) {
      if (!b->relative || b->from_beginning || b->from_end) return false;
    } else if (const auto* b = std::get_if<ByteExtract>(&pm)) {
      if (!b->relative) return false;
    } else if (const auto* b = std::get_if<IsDataAt>(&pm)) {
      if (!b->relative) return false;
    }
    first = false;
  }
  return true;
}

// Suricata's SigValidate for a rule that can match TCP: payload keywords
// make it a stream rule, inspected on the packet only where the packet's
// data did not go to the stream; a content anchored by depth or offset
// (startswith sets a depth) makes it a packet rule as well.
bool is_stream_flush(const Rule& r) {
  if (r.proto == RuleProto::kTcpStream) return true;
  const bool no_stream = r.flow && r.flow->stream == FlowOpts::Stream::kNoStream;
  if (r.flow && r.flow->stream == FlowOpts::Stream::kOnlyStream) return !no_stream;
  if (no_stream || r.payload.empty()) return false;
  if (r.proto != RuleProto::kTcp && r.proto != RuleProto::kIp && r.proto != RuleProto::kAppLayer) return false;
  for (const PayloadMatch& pm : r.payload)
    if (const auto* c = std::get_if<ContentMatch>(&pm))
      if (c->depth || c->offset || c->startswith) return true;
  return false;
}

bool has_negation(const AddressNode& n) {
  if (n.negated) return true;
  for (const AddressNode& c : n.children)
    if (has_negation(c)) return true;
  return false;
}

// The destination ports a `->` rule can match, when few enough to index
// (at most 64); false for `any`, negation, wide ranges and `<>` rules.
bool indexable_ports(const Rule& r, std::vector<uint16_t>& out) {
  if (r.direction == RuleDirection::kBoth) return false;
  std::vector<const PortNode*> stack{&r.dport};
  while (!stack.empty()) {
    const PortNode* n = stack.back();
    stack.pop_back();
    if (n->negated || n->kind == PortNode::Kind::kAny) return false;
    if (n->kind == PortNode::Kind::kList) {
      for (const PortNode& c : n->children) stack.push_back(&c);
      continue;
    }
    if (uint32_t{n->hi} - n->lo >= 64) return false;
    for (uint32_t p = n->lo; p <= n->hi; ++p) out.push_back(static_cast<uint16_t>(p));
    if (out.size() > 64) return false;
  }
  return !out.empty();
}

std::string unsupported_reason(const Rule& r, std::string& keyword) {
  size_t vars = 0;
  for (const PayloadMatch& pm : r.payload) {
    bool dce = false;
    if (auto* b = std::get_if<ByteTest>(&pm)) { dce = b->dce || b->endian == ByteEndian::kDce; keyword = "byte_test"; }
    if (auto* b = std::get_if<ByteJump>(&pm)) { dce = b->dce || b->endian == ByteEndian::kDce; keyword = "byte_jump"; }
    if (auto* b = std::get_if<ByteExtract>(&pm)) {
      dce = b->dce || b->endian == ByteEndian::kDce;
      keyword = "byte_extract";
      if (++vars > 8) return "more than 8 byte_extract variables in one rule";
    }
    if (dce) return "the dce option needs the DCERPC parser, not supported yet";
  }
  keyword.clear();
  return {};
}

}  // namespace

RuleSet::CompiledRule::~CompiledRule() {
  for (void* p : pcre) pcre2_code_free(static_cast<pcre2_code*>(p));
}

RuleSet::CompiledRule::CompiledRule(CompiledRule&& o) noexcept
    : rule(std::move(o.rule)),
      ip_only(o.ip_only),
      header_only(o.header_only),
      floating(o.floating),
      stream_flush(o.stream_flush),
      app_allowed(o.app_allowed),
      pd_only(o.pd_only),
      flow_scope(o.flow_scope),
      fp(std::move(o.fp)),
      pcre(std::move(o.pcre)),
      flowbits(std::move(o.flowbits)) {
  o.pcre.clear();
}

RuleSet::~RuleSet() {
  for (Group& g : groups_) hs_free_database(g.db);
  pcre2_match_context_free(static_cast<pcre2_match_context*>(match_ctx_));
}

MatchScratch::~MatchScratch() {
  if (hs_) hs_free_scratch(hs_);
  pcre2_match_data_free(static_cast<pcre2_match_data*>(pcre_data_));
}

std::unique_ptr<MatchScratch> MatchScratch::clone() const {
  std::unique_ptr<MatchScratch> s(new MatchScratch());
  s->set_ = set_;
  if (hs_ && hs_clone_scratch(hs_, &s->hs_) != HS_SUCCESS) return nullptr;
  s->pcre_data_ = pcre2_match_data_create(32, nullptr);
  s->pattern_hit_.assign(pattern_hit_.size(), 0);
  s->hit_patterns_.reserve(hit_patterns_.capacity());
  s->candidates_.reserve(candidates_.capacity());
  return s;
}

std::shared_ptr<const RuleSet> RuleSet::build(const std::vector<Rule>& rules, std::string* error,
                                              std::vector<RuleError>* rejected, const RuleBuildOptions& opts) {
  const std::vector<std::string>* flowbit_names = opts.flowbit_names;
  auto fail = [&](std::string msg) {
    if (error) *error = std::move(msg);
    return std::shared_ptr<const RuleSet>();
  };
  std::shared_ptr<RuleSet> set(new RuleSet());
  auto* mctx = pcre2_match_context_create(nullptr);
  pcre2_set_match_limit(mctx, kPcreMatchLimit);
  pcre2_set_depth_limit(mctx, kPcreDepthLimit);
  set->match_ctx_ = mctx;
  set->rules_.reserve(rules.size());
  std::map<std::string, uint32_t> flowbit_ids;
  if (flowbit_names) {
    for (const std::string& name : *flowbit_names) {
      if (flowbit_ids.try_emplace(name, static_cast<uint32_t>(set->flowbit_names_.size())).second)
        set->flowbit_names_.push_back(name);
    }
  }

  for (const Rule& r : rules) {
    std::string keyword;
    std::string reason = unsupported_reason(r, keyword);
    CompiledRule cr;
    if (reason.empty()) {
      cr.pcre.assign(r.payload.size(), nullptr);
      for (size_t i = 0; i < r.payload.size() && reason.empty(); ++i) {
        const auto* p = std::get_if<PcreMatch>(&r.payload[i]);
        if (!p) continue;
        uint32_t opts = 0;
        if (p->caseless) opts |= PCRE2_CASELESS;
        if (p->dotall) opts |= PCRE2_DOTALL;
        if (p->multiline) opts |= PCRE2_MULTILINE;
        if (p->extended) opts |= PCRE2_EXTENDED;
        if (p->anchored) opts |= PCRE2_ANCHORED;
        if (p->dollar_endonly) opts |= PCRE2_DOLLAR_ENDONLY;
        if (p->ungreedy) opts |= PCRE2_UNGREEDY;
        int err = 0;
        PCRE2_SIZE at = 0;
        pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p->pattern.data()), p->pattern.size(),
                                         opts, &err, &at, nullptr);
        if (!code) {
          PCRE2_UCHAR msg[160];
          pcre2_get_error_message(err, msg, sizeof msg);
          keyword = "pcre";
          reason = "pcre compile error at offset " + std::to_string(at) + ": " + reinterpret_cast<char*>(msg);
          break;
        }
        pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter when JIT is unavailable
        cr.pcre[i] = code;
      }
    }
    if (!reason.empty()) {
      RuleError e;
      e.kind = RuleError::Kind::kUnsupportedKeyword;
      e.file = r.file;
      e.line = r.line;
      e.sid = r.sid;
      e.keyword = keyword;
      e.reason = reason;
      if (!rejected) return fail(e.str());
      rejected->push_back(std::move(e));
      continue;
    }
    size_t fresh_names = 0;
    for (const Flowbits& f : r.flowbits)
      for (const std::string& name : f.names)
        if (f.cmd != Flowbits::Cmd::kNoAlert && !flowbit_ids.count(name)) ++fresh_names;
    if (set->flowbit_names_.size() + fresh_names > kMaxFlowbits) {
      RuleError e;
      e.kind = RuleError::Kind::kUnsupportedKeyword;
      e.file = r.file;
      e.line = r.line;
      e.sid = r.sid;
      e.keyword = "flowbits";
      e.reason = "more than " + std::to_string(kMaxFlowbits) + " distinct flowbit names";
      if (!rejected) return fail(e.str());
      rejected->push_back(std::move(e));
      continue;
    }
    cr.rule = r;
    // A header-only rule with a negated address (`$EXTERNAL_NET`) is what
    // Suricata calls "like IP-only": matched on every packet, but its pass
    // still covers the flow.
    cr.header_only = is_ip_only(r);
    cr.ip_only = cr.header_only && !has_negation(r.src) && !has_negation(r.dst);
    cr.floating = is_floating(r);
    cr.app_allowed = app_allowed(r);
    cr.pd_only = is_pd_only(r);
    cr.flow_scope = cr.header_only || cr.pd_only || (r.proto == RuleProto::kAppLayer && app_header_only(r));
    if (r.proto == RuleProto::kTcpStream || (r.flow && r.flow->stream == FlowOpts::Stream::kOnlyStream))
      set->stream_only_rules_ = true;
    cr.stream_flush = is_stream_flush(r);
    set->stream_flush_rules_ |= cr.stream_flush;
    cr.fp = select_fast_pattern(r);
    for (const Flowbits& f : r.flowbits) {
      if (f.cmd == Flowbits::Cmd::kNoAlert) continue;
      CompiledRule::FlowbitOp op{f.cmd, f.any_of, {}};
      for (const std::string& name : f.names) {
        auto [it, fresh] = flowbit_ids.try_emplace(name, static_cast<uint32_t>(set->flowbit_names_.size()));
        if (fresh) set->flowbit_names_.push_back(name);
        op.bits.push_back(it->second);
      }
      cr.flowbits.push_back(std::move(op));
    }
    set->rules_.push_back(std::move(cr));
  }

  // Groups: which rules can match a packet of each class and direction.
  set->groups_.resize(kClassCount * 2);
  uint32_t base = 0;
  size_t max_patterns = 0;
  for (size_t gi = 0; gi < set->groups_.size(); ++gi) {
    Group& g = set->groups_[gi];
    auto cls = static_cast<ProtoClass>(gi / 2);
    bool to_server = gi % 2 == 0;
    g.name = std::string(kClassName[cls]) + (to_server ? " to_server" : " to_client");
    std::map<std::pair<std::string, bool>, uint32_t> ids;
    for (size_t ri = 0; ri < set->rules_.size(); ++ri) {
      const CompiledRule& cr = set->rules_[ri];
      const Rule& r = cr.rule;
      bool in_class = false;
      switch (r.proto) {
        case RuleProto::kIp: in_class = true; break;
        case RuleProto::kTcp: case RuleProto::kTcpPkt: case RuleProto::kTcpStream: in_class = cls == kClassTcp; break;
        case RuleProto::kUdp: in_class = cls == kClassUdp; break;
        case RuleProto::kIcmp: case RuleProto::kIcmpV4: case RuleProto::kIcmpV6: in_class = cls == kClassIcmp; break;
        case RuleProto::kAppLayer: {
          const uint8_t t = app_proto_transports(r.app);
          in_class = (cls == kClassTcp && (t & kAppOverTcp)) || (cls == kClassUdp && (t & kAppOverUdp));
          break;
        }
      }
      if (!in_class) continue;
      if (r.flow && r.flow->dir != FlowOpts::Dir::kAny &&
          (r.flow->dir == FlowOpts::Dir::kToServer) != to_server)
        continue;
      if (cr.ip_only) continue;  // matched per flow direction (match_ip_only)
      ++g.rules;
      auto idx = static_cast<uint32_t>(ri);
      if (!cr.fp || cr.fp->negated) {
        g.always.push_back(idx);
        std::vector<uint16_t> ports;
        if (indexable_ports(r, ports)) {
          std::sort(ports.begin(), ports.end());
          ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
          for (uint16_t p : ports) g.always_by_port.emplace_back(p, idx);
        } else {
          g.always_any_port.push_back(idx);
        }
        continue;
      }
      auto [it, fresh] = ids.try_emplace({cr.fp->bytes, cr.fp->nocase}, static_cast<uint32_t>(ids.size()));
      if (fresh) g.pattern_rules.emplace_back();
      g.pattern_rules[it->second].push_back(idx);
    }
    std::sort(g.always_by_port.begin(), g.always_by_port.end());
    g.pattern_base = base;
    base += static_cast<uint32_t>(ids.size());
    max_patterns = std::max(max_patterns, ids.size());
    set->max_rules_per_group_ = std::max(set->max_rules_per_group_, g.rules);
    if (ids.empty()) continue;

    HsLiteralSet lits;
    lits.patterns.resize(ids.size());
    lits.flags.resize(ids.size());
    lits.ids.resize(ids.size());
    for (const auto& [key, id] : ids) {
      lits.patterns[id] = key.first;
      lits.flags[id] = HS_FLAG_SINGLEMATCH | (key.second ? HS_FLAG_CASELESS : 0);
      lits.ids[id] = id;
    }
    std::string herr;
    int failed = -1;
    g.db = hs_compile_literals_cached(lits, opts.cache_dir, opts.cache_stats, &herr, &failed);
    if (!g.db) {
      std::string msg = "hyperscan compile failed for group " + g.name;
      if (failed >= 0) {
        const auto& rl = g.pattern_rules[static_cast<size_t>(failed)];
        if (!rl.empty()) msg += " (sid " + std::to_string(set->rules_[rl[0]].rule.sid) + ")";
      }
      return fail(msg + ": " + herr);
    }
    hs_database_size(g.db, &g.db_bytes);
  }
  set->pattern_count_ = base;
  (void)max_patterns;
  for (size_t ri = 0; ri < set->rules_.size(); ++ri) {
    const CompiledRule& cr = set->rules_[ri];
    if (!cr.ip_only) continue;
    ++set->ip_only_count_;
    const auto id = static_cast<uint32_t>(ri);
    const Rule& r = cr.rule;
    // Index the narrower list: ET's CnC rules are `$HOME_NET -> [list]`, its
    // reputation rules `[list] -> $HOME_NET`. A `<>` rule can match with the
    // packet's source in either list, so it goes into the source index
    // under both. When no list can be indexed the rule is checked on every
    // lookup.
    const bool src_ok = IpOnlyIndex::indexable(r.src), dst_ok = IpOnlyIndex::indexable(r.dst);
    if (r.direction == RuleDirection::kBoth) {
      if (src_ok && dst_ok) {
        set->ip_index_.add(r.src, id);
        set->ip_index_.add(r.dst, id);
      } else {
        set->ip_only_always_.push_back(id);
      }
    } else if (dst_ok && (!src_ok || IpOnlyIndex::coverage(r.dst) < IpOnlyIndex::coverage(r.src))) {
      set->ip_dst_index_.add(r.dst, id);
    } else if (src_ok) {
      set->ip_index_.add(r.src, id);
    } else {
      set->ip_only_always_.push_back(id);
    }
  }
  set->ip_index_.build();
  set->ip_dst_index_.build();
  return set;
}

std::unique_ptr<MatchScratch> RuleSet::make_scratch() const {
  std::unique_ptr<MatchScratch> s(new MatchScratch());
  s->set_ = this;
  for (const Group& g : groups_) {
    if (g.db && hs_alloc_scratch(g.db, &s->hs_) != HS_SUCCESS) return nullptr;
  }
  s->pcre_data_ = pcre2_match_data_create(32, nullptr);
  s->pattern_hit_.assign(pattern_count_, 0);
  size_t max_patterns = 0;
  for (const Group& g : groups_) max_patterns = std::max(max_patterns, g.pattern_rules.size());
  s->hit_patterns_.reserve(max_patterns);
  s->candidates_.reserve(max_rules_per_group_ + 2 * ip_only_count_);
  return s;
}

namespace {

struct ScanContext {
  uint8_t* hit;
  std::vector<uint32_t>* list;
};

int on_hs_match(unsigned id, unsigned long long, unsigned long long, unsigned, void* ctx) {
  auto* c = static_cast<ScanContext*>(ctx);
  if (!c->hit[id]) {
    c->hit[id] = 1;
    c->list->push_back(id);  // capacity reserved: the group's pattern count
  }
  return 0;
}

}  // namespace

void RuleSet::append_ip_only(const MatchInput& in, MatchScratch& s) const {
  auto& c = s.candidates_;
  // Rules listing the packet's source (in the source index) or its
  // destination (in the destination index), plus the ones no index can
  // hold. Confirm sorts out the rest.
  const size_t before = c.size();
  for (uint32_t id : ip_index_.lookup(in.ipv6, in.src.data())) c.push_back(id);
  for (uint32_t id : ip_dst_index_.lookup(in.ipv6, in.dst.data())) c.push_back(id);
  c.insert(c.end(), ip_only_always_.begin(), ip_only_always_.end());
  s.counters.candidates += c.size() - before;
}

size_t RuleSet::collect(const MatchInput& in, MatchScratch& s, bool with_ip_only, bool with_always) const {
  s.candidates_.clear();
  s.hit_patterns_.clear();
  const Group& g = groups_[packet_class(in.ip_proto) * 2 + (in.to_server ? 0 : 1)];
  if (g.db && !in.payload.empty()) {
    ScanContext ctx{s.pattern_hit_.data() + g.pattern_base, &s.hit_patterns_};
    ++s.counters.scans;
    if (hs_scan(g.db, reinterpret_cast<const char*>(in.payload.data()), static_cast<unsigned>(in.payload.size()),
                0, s.hs_, on_hs_match, &ctx) != HS_SUCCESS)
      ++s.counters.scan_errors;
    for (uint32_t id : s.hit_patterns_) {
      ctx.hit[id] = 0;
      for (uint32_t r : g.pattern_rules[id]) s.candidates_.push_back(r);
    }
  }
  s.counters.candidates += s.candidates_.size();
  if (with_always) {
    const size_t before = s.candidates_.size();
    s.candidates_.insert(s.candidates_.end(), g.always_any_port.begin(), g.always_any_port.end());
    auto lo = std::lower_bound(g.always_by_port.begin(), g.always_by_port.end(), std::make_pair(in.dport, uint32_t{0}));
    for (; lo != g.always_by_port.end() && lo->first == in.dport; ++lo) s.candidates_.push_back(lo->second);
    s.counters.always_checked += s.candidates_.size() - before;
  }
  if (with_ip_only && ip_only_count_) append_ip_only(in, s);
  std::sort(s.candidates_.begin(), s.candidates_.end());
  // Only a `<>` IP-only rule can be listed twice (by both addresses).
  if (with_ip_only && ip_only_count_)
    s.candidates_.erase(std::unique(s.candidates_.begin(), s.candidates_.end()), s.candidates_.end());
  return s.candidates_.size();
}

bool RuleSet::confirm(size_t rule_index, const MatchInput& in, MatchScratch& s) const {
  const CompiledRule& cr = rules_[rule_index];
  // The flow's application protocol first: one bit test rules out a rule
  // for another protocol before its header or payload is looked at.
  if (!((cr.app_allowed >> static_cast<unsigned>(in.app)) & 1)) return false;
  if (cr.pd_only && !in.app_first) return false;
  const Rule& r = cr.rule;
  if (!proto_match(r, in)) return false;
  if (!header_oneway(r, in, false) && !(r.direction == RuleDirection::kBoth && header_oneway(r, in, true)))
    return false;
  if (r.flow && !flow_match(*r.flow, in)) return false;
  if (r.dsize && !uint_cond(*r.dsize, in.payload.size())) return false;
  if (r.ttl && !uint_cond(*r.ttl, in.ttl)) return false;
  if (r.ip_proto && !uint_cond(*r.ip_proto, in.ip_proto)) return false;
  bool icmp = in.ip_proto == 1 || in.ip_proto == 58;
  if (r.itype && !(icmp && uint_cond(*r.itype, in.icmp_type))) return false;
  if (r.icode && !(icmp && uint_cond(*r.icode, in.icmp_code))) return false;
  if (r.icmp_id && !(icmp && in.icmp_has_id && *r.icmp_id == in.icmp_id)) return false;
  if (r.icmp_seq && !(icmp && in.icmp_has_id && *r.icmp_seq == in.icmp_seq)) return false;
  if (r.flags && !(in.ip_proto == 6 && flags_match(*r.flags, in.tcp_flags))) return false;
  for (const CompiledRule::FlowbitOp& op : cr.flowbits) {
    if (op.cmd != Flowbits::Cmd::kIsSet && op.cmd != Flowbits::Cmd::kIsNotSet) continue;
    bool want = op.cmd == Flowbits::Cmd::kIsSet;
    bool any = false, all = true;
    for (uint32_t b : op.bits) {
      bool ok = bit_get(in.flowbits, b) == want;
      any = any || ok;
      all = all && ok;
    }
    if (!(op.any_of ? any : all)) return false;
  }
  if (!r.payload.empty()) {
    static const uint8_t kEmpty[1] = {0};  // PCRE2 refuses a null subject
    Inspection insp{in.payload.empty() ? kEmpty : in.payload.data(), static_cast<int64_t>(in.payload.size()), r.payload, cr.pcre,
                  static_cast<pcre2_match_data*>(s.pcre_data_), static_cast<pcre2_match_context*>(match_ctx_),
                    s.counters};
    if (!insp.run(0, 0)) return false;
  }
  for (const CompiledRule::FlowbitOp& op : cr.flowbits) {
    for (uint32_t b : op.bits) {
      switch (op.cmd) {
        case Flowbits::Cmd::kSet: bit_put(in.flowbits, b, true); break;
        case Flowbits::Cmd::kUnset: bit_put(in.flowbits, b, false); break;
        case Flowbits::Cmd::kToggle: bit_put(in.flowbits, b, !bit_get(in.flowbits, b)); break;
        default: break;
      }
    }
  }
  return true;
}

size_t RuleSet::size() const { return rules_.size(); }
const Rule& RuleSet::rule(size_t i) const { return rules_[i].rule; }
const FastPattern* RuleSet::fast_pattern(size_t i) const { return rules_[i].fp ? &*rules_[i].fp : nullptr; }
bool RuleSet::ip_only(size_t i) const { return rules_[i].ip_only; }
bool RuleSet::header_only(size_t i) const { return rules_[i].header_only; }
bool RuleSet::flow_scope(size_t i) const { return rules_[i].flow_scope; }
bool RuleSet::pd_only(size_t i) const { return rules_[i].pd_only; }
bool RuleSet::floating(size_t i) const { return rules_[i].floating; }
bool RuleSet::stream_flush(size_t i) const { return rules_[i].stream_flush; }

std::vector<RuleGroupInfo> RuleSet::groups() const {
  std::vector<RuleGroupInfo> out;
  for (const Group& g : groups_)
    out.push_back({g.name, g.rules, g.pattern_rules.size(), g.always.size(), g.db_bytes});
  return out;
}

size_t RuleSet::database_bytes() const {
  size_t n = 0;
  for (const Group& g : groups_) n += g.db_bytes;
  return n;
}

}  // namespace ws
