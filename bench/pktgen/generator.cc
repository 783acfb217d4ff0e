#include "bench/pktgen/generator.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

namespace ws::pktgen {

namespace {

enum Kind : uint8_t {
  kTcp = 0,
  kTcpRst,
  kTcpRefused,
  kTcpShort,
  kDns,
  kUdpBulk,
  kUdpGap,
  kIcmp,
  kUdpFrag,
  kKinds
};

// Kind shares per mille, cumulative order as in Kind. Short flows first
// (8%), then the long ones (92%) that overlap the middle of the timeline.
constexpr uint32_t kShare[kKinds] = {500, 50, 15, 15, 50, 170, 50, 100, 50};
// Minimum packets per kind; short kinds have fixed sizes.
constexpr uint32_t kMinPackets[kKinds] = {8, 6, 2, 7, 2, 3, 4, 4, 2};
// Relative appetite for extra packets: elephants are TCP and bulk UDP;
// pings and fragmented streams stay small.
constexpr uint64_t kAppetite[kKinds] = {8, 4, 0, 0, 0, 6, 2, 1, 1};

bool is_long(uint8_t k) {
  return kAppetite[k] != 0;
}

constexpr uint64_t kSec = 1000000000ull;

uint64_t sm64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// xoshiro256**: the planning stream.
struct Xoshiro {
  uint64_t s[4];
  explicit Xoshiro(uint64_t seed) {
    for (auto& v : s) v = seed = sm64(seed);
  }
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t next() {
    uint64_t r = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
  }
  // Uniform in [lo, hi] (bias is irrelevant here).
  uint64_t range(uint64_t lo, uint64_t hi) { return lo + next() % (hi - lo + 1); }
};

// Share (0..1) as a threshold on a 32-bit hash; one multiply, so it is the
// same on every build.
uint64_t share32(double share) {
  if (share <= 0) return 0;
  if (share >= 1) return 1ull << 32;
  return static_cast<uint64_t>(share * 4294967296.0);
}

// Element k of m spread over [s, e]: the first at s, the last at e, the
// others at s + (e-s)(k + j)/m with jitter j in [0, jmax/65536). Monotone
// in k for any jitter below 1.
uint64_t spread(uint64_t s, uint64_t e, uint32_t k, uint32_t m, uint64_t h, uint32_t jmax) {
  if (m <= 1 || k == 0) return s;
  if (k + 1 == m) return e;
  uint64_t j = (h & 0xffff) * jmax >> 16;
  unsigned __int128 num = static_cast<unsigned __int128>(e - s) * (static_cast<uint64_t>(k) * 65536 + j);
  return s + static_cast<uint64_t>(num / (static_cast<uint64_t>(m) * 65536));
}

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
uint16_t get16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

// Payload bytes come from one fixed block: cheaper than generating them
// per packet, and the content does not matter to a flow meter.
struct PayloadBlock {
  uint8_t b[65536 + 2048];
  PayloadBlock() {
    uint64_t x = 0x5EED;
    for (size_t i = 0; i < sizeof b; i += 8) {
      x = sm64(x);
      std::memcpy(b + i, &x, 8);
    }
  }
};
const PayloadBlock& payload_block() {
  static const PayloadBlock block;
  return block;
}

constexpr uint8_t kSynOpts[] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2};  // MSS 1460, WS 7, SACK ok

}  // namespace

const char* GenTruth::kind_name(int k) {
  static const char* const names[kKinds] = {"tcp",      "tcp_rst",      "tcp_refused", "tcp_short",     "dns",
                                            "udp_bulk", "udp_idle_gap", "icmp_echo",   "udp_fragmented"};
  return k >= 0 && k < kKinds ? names[k] : "?";
}

struct TrafficGenerator::Flow {
  uint64_t t_start = 0;  // first packet, ns after the capture start
  uint64_t t_end = 0;    // last packet
  uint32_t n = 0;        // packets
  uint32_t i = 0;        // next packet
  uint32_t rtt_ns = 0;
  uint32_t seq_c = 0, seq_s = 0;
  uint32_t caddr = 0, saddr = 0;  // IPv4 address, or low 32 bits of the IPv6 one
  uint16_t sport = 0, dport = 0;  // ICMP: echo id in both
  uint16_t vlan_outer = 0, vlan_inner = 0;
  uint8_t kind = 0;
  uint8_t family = 4;
  uint8_t vlan_count = 0;
  uint8_t profile = 0;
};

TrafficGenerator::TrafficGenerator(const GenConfig& cfg) : cfg_(cfg) {}
TrafficGenerator::~TrafficGenerator() = default;

std::unique_ptr<TrafficGenerator> TrafficGenerator::create(const GenConfig& cfg, std::string& error) {
  std::unique_ptr<TrafficGenerator> g(new TrafficGenerator(cfg));
  if (!g->plan(error)) return nullptr;
  return g;
}

bool TrafficGenerator::plan(std::string& error) {
  const GenConfig& c = cfg_;
  if (c.flows == 0) {
    error = "--flows must be at least 1";
    return false;
  }
  if (c.flows > (1u << 24) * 8ull) {
    error = "--flows must be at most 134217728 (client addresses come from 10.0.0.0/8)";
    return false;
  }
  if (c.duration_s < 10) {
    error = "--duration-s must be at least 10 (long flows span seconds)";
    return false;
  }
  if (c.snaplen < 14) {
    error = "--snaplen must be at least 14 (an Ethernet header)";
    return false;
  }
  if (c.ipv6_share < 0 || c.ipv6_share > 1 || c.vlan_share < 0 || c.vlan_share > 1) {
    error = "--ipv6-share and --vlan-share must be between 0 and 1";
    return false;
  }

  Xoshiro rng(c.seed ^ 0x77697265736370ull);  // "wiresc"
  const uint64_t dur = static_cast<uint64_t>(c.duration_s) * kSec;
  const uint64_t mid = dur / 2;
  const uint64_t v6_thr = share32(c.ipv6_share);
  const uint64_t vlan_thr = share32(c.vlan_share);
  flows_.resize(c.flows);

  // A few flows repeat another flow's 5-tuple on another VLAN.
  uint64_t ndup = 0;
  if (c.vlan_share > 0 && c.flows >= 50) ndup = std::max<uint64_t>(1, c.flows / 500);
  const uint64_t nbase = c.flows - ndup;

  uint64_t min_total = 0;
  for (uint64_t idx = 0; idx < c.flows; ++idx) {
    Flow& f = flows_[idx];
    uint64_t r = rng.next();
    uint32_t pick = static_cast<uint32_t>(r % 1000);
    uint8_t kind = 0;
    for (uint32_t acc = 0; kind < kKinds; ++kind) {
      acc += kShare[kind];
      if (pick < acc) break;
    }
    f.kind = kind;
    f.family = (rng.next() & 0xffffffffu) < v6_thr ? 6 : 4;
    if ((rng.next() & 0xffffffffu) < vlan_thr) {
      f.vlan_count = rng.next() % 10 == 0 ? 2 : 1;
      f.vlan_outer = static_cast<uint16_t>(rng.range(2, 4094));
      if (f.vlan_count == 2) f.vlan_inner = static_cast<uint16_t>(rng.range(2, 4094));
    }
    // Eight flows per client address, each in its own port block, so
    // every flow's 5-tuple is distinct without a set to check against.
    f.caddr = 0x0A000001u + static_cast<uint32_t>(idx / 8);
    f.saddr = 0xAC100000u + static_cast<uint32_t>(rng.range(1, 4000));                    // 172.16.0.0/12
    uint16_t port = static_cast<uint16_t>(49152 + (idx % 8) * 2048 + rng.next() % 2048);  // ephemeral range
    f.sport = port;
    switch (kind) {
      case kDns:
        f.dport = 53;
        break;
      case kUdpBulk:
      case kUdpGap:
      case kUdpFrag:
        f.dport = static_cast<uint16_t>(rng.range(0, 3) == 0 ? 443 : rng.range(40000, 40100));
        break;
      case kIcmp:
        f.sport = f.dport = port;
        break;
      default:
        f.dport = rng.range(0, 3) == 0 ? 80 : 443;
        break;
    }
    f.profile = static_cast<uint8_t>(rng.next() % 3);
    f.seq_c = static_cast<uint32_t>(rng.next());
    f.seq_s = static_cast<uint32_t>(rng.next());
    f.rtt_ns = static_cast<uint32_t>(rng.range(1, 100) * 1000000);

    // Timeline.
    if (is_long(kind)) {
      uint64_t lo = dur / 50, hi = dur * 12 / 25;  // 2%..48% of the duration either side
      if (kind == kUdpGap) lo = dur * 3 / 10;      // span >= 60%: gap >= 36% of duration
      f.t_start = mid - rng.range(lo, hi);
      f.t_end = mid + rng.range(lo, hi);
    } else {
      uint64_t span = kind == kTcpShort ? rng.range(50, 2000) * 1000000 : f.rtt_ns;
      f.t_start = rng.range(0, dur - 2 * kSec);
      f.t_end = f.t_start + span;
    }
    f.n = kMinPackets[kind];
    if (kind == kTcpShort) f.n += static_cast<uint32_t>(rng.next() % 6);
    min_total += f.n;
  }

  for (uint64_t k = 0; k < ndup; ++k) {
    Flow& d = flows_[nbase + k];
    const Flow& base = flows_[k * (nbase / ndup)];
    d.kind = base.kind;
    d.family = base.family;
    d.caddr = base.caddr;
    d.saddr = base.saddr;
    d.sport = base.sport;
    d.dport = base.dport;
    d.vlan_count = 1;
    d.vlan_outer = static_cast<uint16_t>(base.vlan_outer % 4094 + 1);  // differs from base's
    d.vlan_inner = 0;
    // Keep its own timeline and size but a kind-consistent minimum.
    min_total -= d.n;
    d.n = kMinPackets[d.kind] + (d.kind == kTcpShort ? 3 : 0);
    if (is_long(d.kind)) {
      uint64_t lo = d.kind == kUdpGap ? dur * 3 / 10 : dur / 50, hi = dur * 12 / 25;
      d.t_start = mid - rng.range(lo, hi);
      d.t_end = mid + rng.range(lo, hi);
    } else {
      uint64_t span = d.kind == kTcpShort ? rng.range(50, 2000) * 1000000 : d.rtt_ns;
      d.t_start = rng.range(0, dur - 2 * kSec);
      d.t_end = d.t_start + span;
    }
    min_total += d.n;
  }

  if (min_total > c.packets) {
    error = "--packets " + std::to_string(c.packets) + " is too few for --flows " + std::to_string(c.flows) +
            ": this mix needs at least " + std::to_string(min_total) +
            " packets (raise --packets or lower --flows)";
    return false;
  }

  // Heavy-tailed shares of the remaining packets: weight 2^24/u for a
  // uniform u, capped, i.e. Pareto with alpha 1. Integer throughout.
  uint64_t extra = c.packets - min_total;
  std::vector<uint64_t> w(c.flows, 0);
  unsigned __int128 wsum = 0;
  for (uint64_t idx = 0; idx < c.flows; ++idx) {
    uint64_t u = (rng.next() >> 40) + 1;  // 1 .. 2^24
    uint64_t wt = std::min<uint64_t>((1ull << 24) / u, 1u << 14) * kAppetite[flows_[idx].kind];
    w[idx] = wt;
    wsum += wt;
  }
  if (wsum == 0 && extra > 0) {
    error = "no flow of this mix can take more packets; raise --flows";
    return false;
  }
  uint64_t given = 0;
  for (uint64_t idx = 0; idx < c.flows && wsum; ++idx) {
    uint64_t add = static_cast<uint64_t>(static_cast<unsigned __int128>(extra) * w[idx] / wsum);
    flows_[idx].n += static_cast<uint32_t>(add);
    given += add;
  }
  for (uint64_t idx = 0; given < extra; idx = (idx + 1) % c.flows) {
    if (w[idx]) {
      ++flows_[idx].n;
      ++given;
    }
  }

  // Per-flow timing limits that keep packet times monotone (see time_of).
  for (Flow& f : flows_) {
    uint64_t span = f.t_end - f.t_start;
    if (f.kind == kTcp || f.kind == kTcpRst || f.kind == kTcpShort) {
      f.rtt_ns = static_cast<uint32_t>(std::min<uint64_t>(f.rtt_ns, span / 16));
    } else if (f.kind == kIcmp) {
      uint64_t np = (f.n + 1) / 2;
      f.rtt_ns = static_cast<uint32_t>(std::min<uint64_t>(f.rtt_ns, span / (4 * np)));
    } else if (f.kind == kUdpFrag) {
      uint64_t nd = f.n / 2;
      f.rtt_ns = static_cast<uint32_t>(std::min<uint64_t>(20000, span / (8 * nd)));  // fragment spacing
    }
  }

  // Flow-level truth.
  truth_.flows = c.flows;
  truth_.flows_ignoring_vlan = c.flows - ndup;
  std::vector<std::pair<uint64_t, int>> ev;
  ev.reserve(2 * c.flows);
  // At the file's timestamp resolution, so a reader of the file finds the
  // same overlaps (the base time is a whole second).
  const uint64_t res = c.nano ? 1 : 1000;
  for (const Flow& f : flows_) {
    uint64_t first = time_of(f, 0) / res * res, last = time_of(f, f.n - 1) / res * res;
    ev.emplace_back(first, +1);
    ev.emplace_back(last, -1);
    if (last - first > 60 * kSec) ++truth_.flows_longer_than_60s;
    if (f.kind == kUdpGap) ++truth_.flows_with_idle_gap;
    ++truth_.kind_flows[f.kind];
    ProtoTruth& p = f.kind <= kTcpShort ? truth_.tcp
                    : f.kind == kIcmp   ? (f.family == 4 ? truth_.icmp : truth_.icmpv6)
                                        : truth_.udp;
    ++p.flows;
  }
  // Starts sort before ends at the same instant: a flow counts as active at
  // its first and its last packet.
  std::sort(ev.begin(), ev.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second > b.second;
  });
  int64_t cur = 0, best = 0;
  for (const auto& e : ev) best = std::max(best, cur += e.second);
  truth_.max_concurrent_flows = static_cast<uint64_t>(best);

  base_ns_ = 1700000000ull * kSec;
  heap_.reserve(c.flows);
  for (uint32_t idx = 0; idx < c.flows; ++idx) heap_.push_back({time_of(flows_[idx], 0), idx});
  auto later = [](const HeapEntry& a, const HeapEntry& b) {
    return a.t != b.t ? a.t > b.t : a.flow > b.flow;
  };
  std::make_heap(heap_.begin(), heap_.end(), later);
  frag_.reserve(2048);
  return true;
}

// Time of packet i of f, relative to the capture start. Pure, and
// non-decreasing in i (the heap relies on it):
//  - TCP: handshake at s, s+rtt, s+2rtt; data spread over
//    [s+3rtt, e-4rtt] (RST: [s+3rtt, e-rtt]); close at e-3rtt .. e.
//  - ICMP: request/reply pairs rtt apart, pairs spread with half jitter
//    and rtt <= span/(4 pairs) so a reply never passes the next request.
//  - Fragmented UDP: datagrams spread likewise, fragments rtt_ns apart.
//  - UDP with idle gap: half the packets in the first fifth of the span,
//    half in the last fifth.
uint64_t TrafficGenerator::time_of(const Flow& f, uint32_t i) const {
  const uint64_t s = f.t_start, e = f.t_end;
  // Jitter of element k (a packet, an echo pair, a datagram) of this flow.
  auto hk = [&](uint64_t k) {
    return sm64(cfg_.seed ^ sm64((static_cast<uint64_t>(f.caddr) << 32 | f.sport) + k) ^ f.t_start);
  };
  const uint64_t h = hk(i);
  const uint64_t rtt = f.rtt_ns;
  switch (f.kind) {
    case kTcp:
    case kTcpShort:
    case kTcpRst: {
      if (i < 3) return s + i * rtt;
      bool rst = f.kind == kTcpRst;
      uint32_t tail = rst ? 1 : 4;
      if (i >= f.n - tail) return e - static_cast<uint64_t>(f.n - 1 - i) * rtt;
      uint32_t m = f.n - 3 - tail;
      return spread(s + 3 * rtt, e - (rst ? 1 : 4) * rtt, i - 3, m, h, 65535);
    }
    case kDns:
    case kTcpRefused:
      return i == 0 ? s : e;
    case kIcmp: {
      uint32_t np = (f.n + 1) / 2;
      return spread(s, e - rtt, i / 2, np, hk(i / 2), 32768) + (i & 1) * rtt;
    }
    case kUdpFrag: {
      uint32_t nd = f.n / 2;  // datagrams of 2 fragments; the last of 3 if n is odd
      uint32_t d = std::min(i / 2, nd - 1);
      uint32_t k = i - 2 * d;
      return spread(s, e - 3 * rtt, d, nd, hk(d), 32768) + k * rtt;
    }
    case kUdpGap: {
      uint64_t fifth = (e - s) / 5;
      uint32_t half = f.n / 2;
      if (i < half) return spread(s, s + fifth, i, half, h, 65535);
      return spread(e - fifth, e, i - half, f.n - half, h, 65535);
    }
    default:
      return spread(s, e, i, f.n, h, 65535);
  }
}

bool TrafficGenerator::next(GenPacket& out) {
  if (heap_.empty()) return false;
  auto later = [](const HeapEntry& a, const HeapEntry& b) {
    return a.t != b.t ? a.t > b.t : a.flow > b.flow;
  };
  std::pop_heap(heap_.begin(), heap_.end(), later);
  HeapEntry top = heap_.back();
  Flow& f = flows_[top.flow];
  emit(f, top.flow);
  out.frame = cur_;
  out.ts_ns = base_ns_ + top.t;
  if (truth_.packets == 1) truth_.first_ts_ns = out.ts_ns;
  truth_.last_ts_ns = out.ts_ns;
  if (++f.i < f.n) {
    heap_.back().t = time_of(f, f.i);
    std::push_heap(heap_.begin(), heap_.end(), later);
  } else {
    heap_.pop_back();
  }
  return true;
}

void TrafficGenerator::emit(Flow& f, uint32_t idx) {
  const uint32_t i = f.i;
  const uint64_t h = sm64(sm64(cfg_.seed * 0x2545F4914F6CDD1Dull + idx) + i);
  const auto& blk = payload_block().b;
  auto data = [&](size_t n) {
    return std::span<const uint8_t>(blk + (h >> 48), n);  // offset < 65536, n <= 2048
  };

  // Direction and payload size by kind.
  bool s2c = false;
  size_t len = 0;
  uint8_t tflags = 0;
  switch (f.kind) {
    case kTcp:
    case kTcpRst:
    case kTcpShort:
    case kTcpRefused: {
      uint32_t tail = f.kind == kTcpRst ? 1 : 4;
      if (i == 0) {
        tflags = TCP_SYN;
      } else if (i == 1) {
        s2c = true;
        tflags = f.kind == kTcpRefused ? (TCP_RST | TCP_ACK) : (TCP_SYN | TCP_ACK);
      } else if (i == 2) {
        tflags = TCP_ACK;
      } else if (i >= f.n - tail) {
        uint32_t c = i - (f.n - tail);
        if (f.kind == kTcpRst) {
          s2c = h & 1;
          tflags = TCP_RST | TCP_ACK;
        } else {
          static constexpr uint8_t kClose[4] = {TCP_FIN | TCP_ACK, TCP_ACK, TCP_FIN | TCP_ACK, TCP_ACK};
          s2c = c == 1 || c == 2;
          tflags = kClose[c];
        }
      } else {
        // Profiles: 0 download-heavy, 1 upload-heavy, 2 interactive.
        uint32_t dir = h & 0xff;
        s2c = f.profile == 0 ? dir < 166 : f.profile == 1 ? dir < 90 : dir < 128;
        uint32_t sz = (h >> 8) & 0xff;
        size_t mss = f.family == 4 ? 1460 : 1440;
        if (f.profile == 2) {
          len = sz < 90 ? 0 : 1 + (h >> 16) % 120;
        } else if (sz < 112) {
          len = 0;  // pure ACK
        } else if (sz < 196) {
          len = 1 + (h >> 16) % 200;
        } else if (sz < 228) {
          len = 200 + (h >> 16) % 800;
        } else {
          len = mss;
        }
        tflags = TCP_ACK | (len ? TCP_PSH : 0);
      }
      break;
    }
    case kDns:
      s2c = i == 1;
      len = s2c ? 60 + (h >> 16) % 340 : 20 + (h >> 16) % 40;
      break;
    case kUdpBulk:
    case kUdpGap: {
      uint32_t dir = h & 0xff;
      if (f.profile == 0) {  // voice-like: both ways, small
        s2c = dir < 128;
        len = 160 + (h >> 16) % 40;
      } else if (f.profile == 1) {  // streaming: mostly server to client
        s2c = dir < 200;
        len = s2c ? 200 + (h >> 16) % 1000 : 40 + (h >> 16) % 60;
      } else {
        s2c = dir < 100;
        len = 20 + (h >> 16) % 500;
      }
      break;
    }
    case kIcmp:
      s2c = i & 1;
      len = 56;
      break;
    case kUdpFrag:
      break;
  }

  // Link, VLAN and IP headers.
  Mac cmac = {0x02,
              0x0c,
              static_cast<uint8_t>(f.caddr >> 24),
              static_cast<uint8_t>(f.caddr >> 16),
              static_cast<uint8_t>(f.caddr >> 8),
              static_cast<uint8_t>(f.caddr)};
  static constexpr Mac kGateway = {0x02, 0x00, 0x5e, 0x00, 0x01, 0x01};
  Builder& b = b_;
  b.reset();
  if (s2c) {
    b.eth(kGateway, cmac);
  } else {
    b.eth(cmac, kGateway);
  }
  if (f.vlan_count == 2) {
    b.qinq(f.vlan_outer, f.vlan_inner);
  } else if (f.vlan_count == 1) {
    b.vlan(f.vlan_outer);
  }
  const uint32_t l3_off = 14 + 4u * f.vlan_count;
  uint32_t src = s2c ? f.saddr : f.caddr, dst = s2c ? f.caddr : f.saddr;
  uint16_t sp = s2c ? f.dport : f.sport, dp = s2c ? f.sport : f.dport;
  if (f.family == 4) {
    Ipv4Opts o;
    o.ttl = s2c ? 57 : 64;
    // Fragments of one datagram share its id.
    o.id = f.kind == kUdpFrag ? static_cast<uint16_t>(f.seq_c + std::min(i / 2, f.n / 2 - 1))
                              : static_cast<uint16_t>(h >> 32);
    o.df = f.kind <= kTcpShort;
    b.ipv4(src, dst, o);
  } else {
    Ip6 a{0x20, 0x01, 0x0d, 0xb8, 0, 0x0c}, z{0x20, 0x01, 0x0d, 0xb8, 0, 0x05};  // clients, servers
    for (int k = 0; k < 4; ++k) {
      a[12 + k] = static_cast<uint8_t>(f.caddr >> (24 - 8 * k));
      z[12 + k] = static_cast<uint8_t>(f.saddr >> (24 - 8 * k));
    }
    Ipv6Opts o;
    o.hop_limit = s2c ? 57 : 64;
    o.flow_label = (f.caddr * 2654435761u ^ f.sport) & 0xfffff;
    if (s2c) {
      b.ipv6(z, a, o);
    } else {
      b.ipv6(a, z, o);
    }
  }

  switch (f.kind) {
    case kTcp:
    case kTcpRst:
    case kTcpShort:
    case kTcpRefused: {
      TcpOpts o;
      uint32_t& mine = s2c ? f.seq_s : f.seq_c;
      uint32_t& theirs = s2c ? f.seq_c : f.seq_s;
      o.seq = mine;
      o.ack = (tflags & TCP_ACK) ? theirs : 0;
      o.window = static_cast<uint16_t>(29200 + (h >> 40) % 36000);
      if (tflags & TCP_SYN) {
        o.options = kSynOpts;
        mine += 1;
      } else if (f.kind == kTcpRefused) {
        o.seq = 0;
      }
      if (tflags & TCP_FIN) mine += 1;
      mine += static_cast<uint32_t>(len);
      b.tcp(sp, dp, tflags, o);
      if (len) b.payload(data(len));
      break;
    }
    case kDns: {
      // A well-formed query for one name and its answer, so that capture
      // tools dissect it as DNS rather than report a malformed packet.
      uint8_t m[128] = {};
      uint16_t id = static_cast<uint16_t>(f.seq_c);
      put16(m, id);
      put16(m + 2, s2c ? 0x8180 : 0x0100);
      put16(m + 4, 1);
      put16(m + 6, s2c ? 1 : 0);
      size_t p = 12;
      char label[16];
      int ll = std::snprintf(label, sizeof label, "h%u", f.caddr & 0xffffff);
      m[p++] = static_cast<uint8_t>(ll);
      std::memcpy(m + p, label, static_cast<size_t>(ll));
      p += static_cast<size_t>(ll);
      static constexpr uint8_t kZone[] = {7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0};
      std::memcpy(m + p, kZone, sizeof kZone);
      p += sizeof kZone;
      uint16_t qtype = f.family == 4 ? 1 : 28;  // A or AAAA
      put16(m + p, qtype);
      put16(m + p + 2, 1);
      p += 4;
      if (s2c) {
        put16(m + p, 0xC00C);  // name: pointer to the question
        put16(m + p + 2, qtype);
        put16(m + p + 4, 1);
        put16(m + p + 6, 0);
        put16(m + p + 8, 300);  // TTL
        size_t rl = f.family == 4 ? 4 : 16;
        put16(m + p + 10, static_cast<uint16_t>(rl));
        std::memcpy(m + p + 12, blk + (h >> 48), rl);
        p += 12 + rl;
      }
      b.udp(sp, dp).payload(std::span<const uint8_t>(m, p));
      break;
    }
    case kUdpBulk:
    case kUdpGap:
      b.udp(sp, dp).payload(data(len));
      break;
    case kIcmp:
      if (f.family == 4) {
        b.icmp_echo(!s2c, f.sport, static_cast<uint16_t>(i / 2 + 1));
      } else {
        b.icmpv6_echo(!s2c, f.sport, static_cast<uint16_t>(i / 2 + 1));
      }
      b.payload(data(len));
      break;
    case kUdpFrag: {
      // Datagram d of 2 fragments (3 for the last one when n is odd); the
      // UDP payload size and bytes depend only on (flow, d), so each
      // fragment rebuilds the datagram and cuts its slice out.
      uint32_t nd = f.n / 2;
      uint32_t d = std::min(i / 2, nd - 1);
      uint32_t k = i - 2 * d;
      uint32_t nfrag = (d == nd - 1 && (f.n & 1)) ? 3 : 2;
      size_t chunk = f.family == 4 ? 1480 : 1448;  // 1500 MTU, multiple of 8
      uint64_t hd = sm64(sm64(cfg_.seed * 0x2545F4914F6CDD1Dull + idx) ^ (0xF7A6ull << 32 | d));
      size_t udp_len = chunk * (nfrag - 1) + 1 + hd % (chunk - 1);  // UDP header + payload
      b.udp(f.sport, f.dport).payload(std::span<const uint8_t>(blk + (hd >> 48) % 61440, udp_len - 8));
      std::span<const uint8_t> full = b.finish();
      // Slice fragment k out of the datagram into frag_.
      const uint8_t* ip = full.data() + l3_off;
      size_t hlen = f.family == 4 ? 20 : 40;
      size_t pos = k * chunk;
      size_t n = std::min(chunk, udp_len - pos);
      bool more = k + 1 < nfrag;
      frag_.assign(full.begin(), full.begin() + static_cast<ptrdiff_t>(l3_off + hlen));
      if (f.family == 6) {
        uint8_t fh[8] = {17, 0, 0, 0, 0, 0, 0, 0};
        put16(fh + 2, static_cast<uint16_t>((pos / 8) << 3 | (more ? 1 : 0)));
        uint32_t id6 = f.seq_c + d;
        fh[4] = static_cast<uint8_t>(id6 >> 24);
        fh[5] = static_cast<uint8_t>(id6 >> 16);
        fh[6] = static_cast<uint8_t>(id6 >> 8);
        fh[7] = static_cast<uint8_t>(id6);
        frag_.insert(frag_.end(), fh, fh + 8);
      }
      frag_.insert(frag_.end(), ip + hlen + pos, ip + hlen + pos + n);
      uint8_t* nh = frag_.data() + l3_off;
      if (f.family == 4) {
        put16(nh + 2, static_cast<uint16_t>(20 + n));
        put16(nh + 6, static_cast<uint16_t>((more ? 0x2000 : 0) | (pos / 8)));
        put16(nh + 10, 0);
        put16(nh + 10, inet_checksum(nh, 20));
      } else {
        nh[6] = 44;
        put16(nh + 4, static_cast<uint16_t>(8 + n));
      }
      if (frag_.size() < 60) frag_.resize(60, 0);
      cur_ = {frag_.data(), frag_.size()};
      account(f, cur_, l3_off);
      ++truth_.fragment_packets;
      return;
    }
  }
  b.pad_to(60);  // Ethernet minimum; not part of the IP length
  cur_ = b.finish();
  account(f, cur_, l3_off);
  if (f.kind <= kTcpShort) {
    if ((tflags & (TCP_SYN | TCP_ACK)) == TCP_SYN) ++truth_.tcp_syn_packets;
    if (tflags & TCP_RST) ++truth_.tcp_rst_packets;
    if (tflags & TCP_FIN) ++truth_.tcp_fin_packets;
  }
}

void TrafficGenerator::account(const Flow& f, std::span<const uint8_t> frame, uint32_t l3_off) {
  GenTruth& t = truth_;
  ++t.packets;
  t.frame_bytes += frame.size();
  t.captured_bytes += std::min<size_t>(frame.size(), cfg_.snaplen);
  const uint8_t* ip = frame.data() + l3_off;
  uint64_t ipb = f.family == 4 ? get16(ip + 2) : 40u + get16(ip + 4);
  t.ip_bytes += ipb;
  (f.family == 4 ? t.ipv4_packets : t.ipv6_packets)++;
  if (f.vlan_count) ++t.vlan_packets;
  if (f.vlan_count == 2) ++t.qinq_packets;
  ProtoTruth& p = f.kind <= kTcpShort ? t.tcp : f.kind == kIcmp ? (f.family == 4 ? t.icmp : t.icmpv6) : t.udp;
  ++p.packets;
  p.ip_bytes += ipb;
}

bool write_capture(const GenConfig& cfg, const std::string& path, GenTruth& truth, std::string& error) {
  auto gen = TrafficGenerator::create(cfg, error);
  if (!gen) return false;
  PcapWriter w;
  if (!w.open(path, 1, cfg.snaplen, cfg.nano ? TsResolution::kNano : TsResolution::kMicro)) {
    error = w.error();
    return false;
  }
  GenPacket p;
  while (gen->next(p)) {
    if (!w.write(p.ts_ns, p.frame)) break;
  }
  bool ok = w.close();
  truth = gen->truth();
  if (!ok) {
    error = path + ": " + w.error();
    return false;
  }
  return true;
}

std::string truth_json(const GenConfig& cfg, const GenTruth& t) {
  using nlohmann::json;
  auto proto = [](const ProtoTruth& p) {
    return json{{"packets", p.packets}, {"ip_bytes", p.ip_bytes}, {"flows", p.flows}};
  };
  json kinds = json::object();
  for (int k = 0; k < kKinds; ++k) kinds[GenTruth::kind_name(k)] = t.kind_flows[k];
  json j = {
      {"config",
       {{"packets", cfg.packets},
        {"flows", cfg.flows},
        {"seed", cfg.seed},
        {"ipv6_share", cfg.ipv6_share},
        {"vlan_share", cfg.vlan_share},
        {"duration_s", cfg.duration_s},
        {"snaplen", cfg.snaplen},
        {"nano", cfg.nano}}},
      {"packets", t.packets},
      {"frame_bytes", t.frame_bytes},
      {"captured_bytes", t.captured_bytes},
      {"ip_bytes", t.ip_bytes},
      {"flows", t.flows},
      {"flows_ignoring_vlan", t.flows_ignoring_vlan},
      {"max_concurrent_flows", t.max_concurrent_flows},
      {"flows_longer_than_60s", t.flows_longer_than_60s},
      {"flows_with_idle_gap", t.flows_with_idle_gap},
      {"ipv4_packets", t.ipv4_packets},
      {"ipv6_packets", t.ipv6_packets},
      {"vlan_packets", t.vlan_packets},
      {"qinq_packets", t.qinq_packets},
      {"fragment_packets", t.fragment_packets},
      {"tcp_syn_packets", t.tcp_syn_packets},
      {"tcp_rst_packets", t.tcp_rst_packets},
      {"tcp_fin_packets", t.tcp_fin_packets},
      {"first_ts_ns", t.first_ts_ns},
      {"last_ts_ns", t.last_ts_ns},
      {"protocols",
       {{"tcp", proto(t.tcp)}, {"udp", proto(t.udp)}, {"icmp", proto(t.icmp)}, {"icmpv6", proto(t.icmpv6)}}},
      {"kind_flows", kinds},
  };
  return j.dump(2) + "\n";
}

}  // namespace ws::pktgen
