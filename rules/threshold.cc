#include "rules/threshold.h"

#include "rules/address.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <random>
#include <string>
#include <thread>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace ws {

// ---------------------------------------------------------------------------
// Policy

namespace {

// A backoff entry has no window; its "window" is the time since the flow's
// last match after which the entry may be dropped (tv1 moves with every
// match), longer than any flow stays idle with the default timeouts.
constexpr uint32_t kBackoffIdleSeconds = 3600;

uint64_t rule_key(uint32_t gid, uint32_t sid) { return (static_cast<uint64_t>(gid) << 32) | sid; }

ThresholdPolicy::Spec spec_from_rule(const ThresholdSpec& t, bool detection_filter) {
  ThresholdPolicy::Spec s;
  if (detection_filter) s.kind = ThresholdPolicy::Spec::Kind::kDetectionFilter;
  else if (t.type == ThresholdType::kLimit) s.kind = ThresholdPolicy::Spec::Kind::kLimit;
  else if (t.type == ThresholdType::kBoth) s.kind = ThresholdPolicy::Spec::Kind::kBoth;
  else if (t.type == ThresholdType::kBackoff) s.kind = ThresholdPolicy::Spec::Kind::kBackoff;
  else s.kind = ThresholdPolicy::Spec::Kind::kThreshold;
  s.track = t.track;
  s.count = t.count;
  s.seconds = t.seconds;
  s.multiplier = t.multiplier;
  if (s.kind == ThresholdPolicy::Spec::Kind::kBackoff) s.seconds = kBackoffIdleSeconds;
  return s;
}

ThresholdPolicy::Spec spec_from_entry(const ThresholdEntry& e) {
  ThresholdPolicy::Spec s;
  if (e.kind == ThresholdEntry::Kind::kRateFilter) {
    s.kind = ThresholdPolicy::Spec::Kind::kRateFilter;
    s.new_action = e.new_action;
    s.timeout = e.timeout;
  } else {
    ThresholdSpec t{e.type, e.track, e.count, e.seconds};
    s = spec_from_rule(t, false);
  }
  s.track = e.track;
  s.count = e.count;
  s.seconds = e.seconds;
  return s;
}

}  // namespace

std::shared_ptr<const ThresholdPolicy> ThresholdPolicy::build(const std::vector<Rule>& rules,
                                                              const ThresholdConfig& cfg,
                                                              std::vector<ThresholdConfigError>* warnings) {
  auto warn = [&](const ThresholdEntry& e, std::string reason) {
    if (warnings) warnings->push_back({std::string(), e.line, std::move(reason)});
  };

  // Every rule gets a working entry; the ones left empty are dropped at the
  // end. The first rule of a (gid, sid) wins, as in a rule set where Suricata
  // refuses the duplicate.
  std::vector<RuleEntry> all;
  all.reserve(rules.size());
  std::vector<std::pair<uint64_t, size_t>> index;  // key -> position in all
  index.reserve(rules.size());
  for (const Rule& r : rules) {
    RuleEntry e;
    e.gid = r.gid;
    e.sid = r.sid;
    // Suricata keeps the keywords in the rule's order; threshold and
    // detection_filter together are unusual and take this order here.
    if (r.threshold) e.specs.push_back(spec_from_rule(*r.threshold, false));
    if (r.detection_filter) e.specs.push_back(spec_from_rule(*r.detection_filter, true));
    index.emplace_back(rule_key(r.gid, r.sid), all.size());
    all.push_back(std::move(e));
  }
  std::stable_sort(index.begin(), index.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  index.erase(std::unique(index.begin(), index.end(),
                          [](const auto& a, const auto& b) { return a.first == b.first; }),
              index.end());
  std::vector<bool> live(all.size(), false);
  for (const auto& [k, i] : index) live[i] = true;

  auto find_rule = [&](uint32_t gid, uint32_t sid) -> RuleEntry* {
    auto it = std::lower_bound(index.begin(), index.end(), rule_key(gid, sid),
                               [](const auto& a, uint64_t k) { return a.first < k; });
    if (it == index.end() || it->first != rule_key(gid, sid)) return nullptr;
    return &all[it->second];
  };

  // Entries are installed in file order, each against the lists as the
  // earlier ones left them: that order decides which of two entries for the
  // same rule survives, exactly as in Suricata's loader.
  for (const ThresholdEntry& e : cfg.entries) {
    const bool suppress = e.kind == ThresholdEntry::Kind::kSuppress;
    if (e.gid == 0 && e.sid != 0) {
      warn(e, "gen_id 0 with sig_id " + std::to_string(e.sid) + " is not allowed; use gen_id 1");
      continue;
    }
    if (e.sid == 0) {
      // gid 0: every rule; gid N: every rule of generator N. A global
      // threshold never overrides a rule's own threshold/detection_filter
      // (nor an earlier global one).
      for (size_t i = 0; i < all.size(); ++i) {
        if (!live[i]) continue;
        RuleEntry& r = all[i];
        if (e.gid != 0 && r.gid != e.gid) continue;
        if (suppress) {
          if (e.ip) r.suppress.push_back({e.track, *e.ip});
          else r.suppress_all = true;
        } else if (r.specs.empty()) {
          r.specs.push_back(spec_from_entry(e));
        }
      }
      continue;
    }
    RuleEntry* r = find_rule(e.gid, e.sid);
    if (!r) {
      warn(e, "no rule with gen_id " + std::to_string(e.gid) + ", sig_id " + std::to_string(e.sid) +
                  "; entry ignored");
      continue;
    }
    if (suppress) {
      if (e.ip) r->suppress.push_back({e.track, *e.ip});
      else r->suppress_all = true;
    } else if (e.kind == ThresholdEntry::Kind::kRateFilter) {
      if (!r->specs.empty()) {
        warn(e, "rule " + std::to_string(e.gid) + ":" + std::to_string(e.sid) +
                    " already has a threshold or detection_filter, which takes precedence over this "
                    "rate_filter; remove one of them");
        continue;
      }
      r->specs.push_back(spec_from_entry(e));
    } else {
      // threshold / event_filter replace the last threshold-like setting.
      if (!r->specs.empty()) r->specs.pop_back();
      r->specs.push_back(spec_from_entry(e));
    }
  }

  std::shared_ptr<ThresholdPolicy> p(new ThresholdPolicy());
  for (const auto& [k, i] : index) {
    RuleEntry& r = all[i];
    if (!r.suppress_all && r.suppress.empty() && r.specs.empty()) continue;
    p->keys_.push_back(k);
    p->entries_.push_back(std::move(r));
  }
  return p;
}

const ThresholdPolicy::RuleEntry* ThresholdPolicy::find(uint32_t gid, uint32_t sid) const {
  uint64_t k = rule_key(gid, sid);
  auto it = std::lower_bound(keys_.begin(), keys_.end(), k);
  if (it == keys_.end() || *it != k) return nullptr;
  return &entries_[static_cast<size_t>(it - keys_.begin())];
}

// ---------------------------------------------------------------------------
// Suppress address match (rules/address.h)

namespace {

bool suppressed_by(const ThresholdPolicy::Suppress& s, const ThresholdEvent& ev) {
  switch (s.track) {
    case ThresholdTrack::kByDst:
      return address_match(s.ip, ev.ipv6, ev.dst);
    case ThresholdTrack::kByEither:
      return address_match(s.ip, ev.ipv6, ev.src) || address_match(s.ip, ev.ipv6, ev.dst);
    default:
      return address_match(s.ip, ev.ipv6, ev.src);
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Counting state

// Slot layout (64 bytes, one cache line):
//   state[0]  tv1 in microseconds (52 bits, enough for any 32-bit pcap second)
//             | generation (10 bits) | status (2 bits)
//   state[1]  count (32) << 32 | tv_timeout in seconds (32)
//   key[0]    gid << 32 | sid
//   key[1]    seconds (32) << 32 | timeout (28, saturated) << 4 | v6 (1) << 3 | track (3)
//   key[2..5] addresses (by_src/by_dst: one, by_both: lower then higher) or
//             the flow id (by_flow) in key[2]
// The 16-byte state moves only by cmpxchg16b, so tv1, count and the rate
// timeout always change together. The key is written while the slot is
// claimed and read only between two loads of an unchanged state[0]; the
// generation makes a slot that was freed and claimed again look different.
// Seconds and timeout sit in the key so that another key's inserter can tell
// whether this entry has aged out without knowing its rule.
struct alignas(64) ThresholdTable::Slot {
  alignas(16) uint64_t state[2];
  uint64_t key[6];
};
static_assert(sizeof(ThresholdTable::Slot) == 64);

struct ThresholdTable::Key {
  uint64_t w[6] = {};
};

namespace {

constexpr size_t kWindow = 16;  // slots probed per key: 1 KiB, 16 cache lines
constexpr uint64_t kEmpty = 0, kClaimed = 1, kKeyed = 2, kReady = 3;
constexpr uint64_t kTv1Max = (uint64_t{1} << 52) - 1;
constexpr uint64_t kIdentityMask1 = 0xF;  // track + v6 bits of key[1]

uint64_t status_of(uint64_t lo) { return lo & 3; }
uint64_t gen_of(uint64_t lo) { return (lo >> 2) & 0x3FF; }
uint64_t tv1_of(uint64_t lo) { return lo >> 12; }
uint64_t make_lo(uint64_t tv1_us, uint64_t gen, uint64_t status) {
  return (std::min(tv1_us, kTv1Max) << 12) | ((gen & 0x3FF) << 2) | status;
}
uint32_t count_of(uint64_t hi) { return static_cast<uint32_t>(hi >> 32); }
uint32_t timeout_of(uint64_t hi) { return static_cast<uint32_t>(hi); }
uint64_t make_hi(uint32_t count, uint32_t tv_timeout) { return (static_cast<uint64_t>(count) << 32) | tv_timeout; }

uint64_t load(const uint64_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }

// 16-byte compare-and-swap. On failure lo/hi receive the current value.
bool cas16(uint64_t* p, uint64_t& lo, uint64_t& hi, uint64_t new_lo, uint64_t new_hi) {
#if defined(__x86_64__)
  bool ok;
  __asm__ __volatile__("lock cmpxchg16b %1"
                       : "=@ccz"(ok), "+m"(*reinterpret_cast<unsigned __int128*>(p)), "+a"(lo), "+d"(hi)
                       : "b"(new_lo), "c"(new_hi)
                       : "memory");
  return ok;
#else
  unsigned __int128 expected = (static_cast<unsigned __int128>(hi) << 64) | lo;
  const unsigned __int128 desired = (static_cast<unsigned __int128>(new_hi) << 64) | new_lo;
  const bool ok = __atomic_compare_exchange_n(reinterpret_cast<unsigned __int128*>(p), &expected, desired, false,
                                              __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  lo = static_cast<uint64_t>(expected);
  hi = static_cast<uint64_t>(expected >> 64);
  return ok;
#endif
}

void cpu_relax(unsigned& spins) {
#if defined(__x86_64__)
  _mm_pause();
#endif
  // A claimer holds a slot for a few stores; if it was descheduled, give it
  // the core instead of burning the time slice.
  if (++spins > 256) std::this_thread::yield();
}

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

uint64_t load_word(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

bool identity_equal(const ThresholdTable::Slot& s, const ThresholdTable::Key& k) {
  if (__atomic_load_n(&s.key[0], __ATOMIC_RELAXED) != k.w[0]) return false;
  if ((__atomic_load_n(&s.key[1], __ATOMIC_RELAXED) & kIdentityMask1) != (k.w[1] & kIdentityMask1)) return false;
  for (int i = 2; i < 6; ++i)
    if (__atomic_load_n(&s.key[i], __ATOMIC_RELAXED) != k.w[i]) return false;
  return true;
}

// The entry can be dropped without changing any later result: its window
// has passed (a new match would start a new one, as a fresh entry does) and
// no rate_filter timeout is running.
bool aged_out(uint64_t lo, uint64_t hi, uint64_t key1, uint64_t ts_us) {
  const uint64_t seconds = key1 >> 32;
  const uint64_t timeout = (key1 >> 4) & 0x0FFFFFFF;
  if (ts_us <= tv1_of(lo) + seconds * 1000000) return false;
  const uint32_t tv_timeout = timeout_of(hi);
  return tv_timeout == 0 || ts_us / 1000000 - tv_timeout > timeout;
}

using Kind = ThresholdPolicy::Spec::Kind;

// Backoff alerts on match number count * multiplier^k (k = 0, 1, ...): the
// points follow from the match count alone, so the state is the count.
bool backoff_point(const ThresholdPolicy::Spec& s, uint32_t n) {
  if (n < s.count || n % s.count) return false;
  uint32_t q = n / s.count;
  while (q % s.multiplier == 0) q /= s.multiplier;
  return q == 1;
}

// Suricata's first match of a key (ThresholdSetup): count 1, window starts.
int setup(const ThresholdPolicy::Spec& s) {
  switch (s.kind) {
    case Kind::kLimit:
    case Kind::kRateFilter:
      return 1;
    case Kind::kThreshold:
    case Kind::kBoth:
      return s.count == 1 ? 1 : 0;
    case Kind::kDetectionFilter:
      return 0;
    case Kind::kBackoff:
      return backoff_point(s, 1) ? 1 : 2;  // its drop applies to every match
  }
  return 0;
}

// Suricata's later matches (ThresholdCheckUpdate) on a copy of the state.
int update(const ThresholdPolicy::Spec& s, uint64_t ts_us, uint64_t& tv1, uint32_t& count, uint32_t& tv_timeout,
           bool& rate_action) {
  const bool within = ts_us <= tv1 + static_cast<uint64_t>(s.seconds) * 1000000;
  auto bump = [&] {
    if (count != UINT32_MAX) ++count;
  };
  auto restart = [&] {
    tv1 = ts_us;
    count = 1;
  };
  switch (s.kind) {
    case Kind::kLimit:
      if (!within) {
        restart();
        return 1;
      }
      bump();
      return count <= s.count ? 1 : 2;
    case Kind::kThreshold:
      if (!within) {
        restart();
        return 0;
      }
      bump();
      if (count >= s.count) {
        count = 0;  // the window keeps its start; the next alert needs count more
        return 1;
      }
      return 0;
    case Kind::kBoth:
      if (!within) {
        restart();
        return count == s.count ? 1 : 0;
      }
      bump();
      if (count == s.count) return 1;
      return count > s.count ? 2 : 0;
    case Kind::kDetectionFilter:
      if (!within) {
        restart();
        return 0;
      }
      bump();
      return count > s.count ? 1 : 0;
    case Kind::kBackoff:
      tv1 = ts_us;  // the entry lives while the flow keeps matching
      if (count == UINT32_MAX) return 2;
      bump();
      return backoff_point(s, count) ? 1 : 2;
    case Kind::kRateFilter: {
      const uint64_t ts_s = ts_us / 1000000;
      if (tv_timeout != 0) {
        if (ts_s - tv_timeout > s.timeout) tv_timeout = 0;  // the new action has run its time
        else rate_action = true;
        return 1;
      }
      if (!within) {
        restart();
        return 1;
      }
      bump();
      if (count > s.count) {
        tv_timeout = static_cast<uint32_t>(ts_s);
        rate_action = true;
      }
      return 1;
    }
  }
  return 1;
}

}  // namespace

ThresholdTable::ThresholdTable(size_t capacity) {
  size_t n = kWindow;
  while (n < capacity) n <<= 1;
  slots_ = new Slot[n];
  std::memset(static_cast<void*>(slots_), 0, n * sizeof(Slot));
  mask_ = n - 1;
  // Placement only; a seed the traffic cannot predict keeps one host from
  // filling another's probe window on purpose.
  std::random_device rd;
  seed_ = (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

ThresholdTable::~ThresholdTable() { delete[] slots_; }

size_t ThresholdTable::used() const {
  size_t n = 0;
  for (size_t i = 0; i <= mask_; ++i)
    if (status_of(load(&slots_[i].state[0])) != kEmpty) ++n;
  return n;
}

ThresholdCounterValues ThresholdTable::counters() const {
  ThresholdCounterValues v;
  v.evaluated = evaluated_.v.load(std::memory_order_relaxed);
  v.suppressed = suppressed_.v.load(std::memory_order_relaxed);
  v.thresholded = thresholded_.v.load(std::memory_order_relaxed);
  v.detection_filter_held = detection_filter_held_.v.load(std::memory_order_relaxed);
  v.table_full = table_full_.v.load(std::memory_order_relaxed);
  v.rate_filter_changed = rate_filter_changed_.v.load(std::memory_order_relaxed);
  return v;
}

int ThresholdTable::apply(const ThresholdPolicy::Spec& spec, const ThresholdEvent& ev, bool& rate_action) {
  // Suricata answers a count-1 `threshold` without state: every match alerts.
  if (spec.kind == Kind::kThreshold && spec.count == 1) return 1;

  Key k;
  k.w[0] = rule_key(ev.gid, ev.sid);
  const uint64_t timeout = std::min<uint64_t>(spec.timeout, 0x0FFFFFFF);
  k.w[1] = (static_cast<uint64_t>(spec.seconds) << 32) | (timeout << 4) | (uint64_t{ev.ipv6} << 3) |
           static_cast<uint64_t>(spec.track);
  const size_t alen = ev.ipv6 ? 16 : 4;
  auto put_addr = [&](int at, const std::array<uint8_t, 16>& a) {
    uint8_t b[16] = {};
    std::memcpy(b, a.data(), alen);
    k.w[at] = load_word(b);
    k.w[at + 1] = load_word(b + 8);
  };
  switch (spec.track) {
    case ThresholdTrack::kBySrc:
    case ThresholdTrack::kByEither:
      put_addr(2, ev.src);
      break;
    case ThresholdTrack::kByDst:
      put_addr(2, ev.dst);
      break;
    case ThresholdTrack::kByBoth: {
      // One entry for both directions: the lower address first.
      const bool src_low = std::memcmp(ev.src.data(), ev.dst.data(), alen) < 0;
      put_addr(2, src_low ? ev.src : ev.dst);
      put_addr(4, src_low ? ev.dst : ev.src);
      break;
    }
    case ThresholdTrack::kByFlow:
      k.w[2] = ev.flow_id;
      break;
    case ThresholdTrack::kByRule:
      break;
  }
  uint64_t h = seed_;
  for (uint64_t w : k.w) h = mix(h ^ w);
  const size_t home = static_cast<size_t>(h) & mask_;
  const size_t window = std::min(kWindow, mask_ + 1);
  const uint64_t ts_us = ev.ts_ns / 1000;

  // Counts one match on a live entry; false when the slot changed hands
  // under us and the search must start again.
  auto update_in = [&](Slot& s, uint64_t lo, int& ret) -> bool {
    uint64_t hi = load(&s.state[1]);
    for (;;) {
      if (status_of(lo) != kReady) return false;
      uint64_t tv1 = tv1_of(lo);
      uint32_t count = count_of(hi), tv_timeout = timeout_of(hi);
      bool act = false;
      const int r = update(spec, ts_us, tv1, count, tv_timeout, act);
      const uint64_t gen = gen_of(lo);
      uint64_t cur_lo = lo, cur_hi = hi;
      if (cas16(s.state, cur_lo, cur_hi, make_lo(tv1, gen, kReady), make_hi(count, tv_timeout))) {
        ret = r;
        rate_action = act;
        return true;
      }
      if (gen_of(cur_lo) != gen) return false;  // reused for another key
      lo = cur_lo;
      hi = cur_hi;
    }
  };

  for (;;) {
    // 1. Look for the key in its window; note the first slot a new entry
    // could take.
    size_t free_at = window;
    uint64_t free_lo = 0, free_hi = 0;
    bool restart = false;
    for (size_t i = 0; i < window && !restart; ++i) {
      Slot& s = slots_[(home + i) & mask_];
      unsigned spins = 0;
      for (;;) {
        const uint64_t lo = load(&s.state[0]);
        const uint64_t st = status_of(lo);
        if (st == kEmpty) {
          if (free_at == window) {
            free_at = i;
            free_lo = lo;
            free_hi = load(&s.state[1]);
          }
          break;
        }
        if (st == kClaimed) {  // key not written yet: could be ours
          cpu_relax(spins);
          continue;
        }
        const bool mine = identity_equal(s, k);
        const uint64_t key1 = __atomic_load_n(&s.key[1], __ATOMIC_RELAXED);
        if (load(&s.state[0]) != lo) continue;  // changed while reading the key
        if (mine && st == kKeyed) {  // someone is creating it right now
          cpu_relax(spins);
          continue;
        }
        if (mine) {
          int ret = 1;
          if (update_in(s, lo, ret)) return ret;
          restart = true;
          break;
        }
        if (free_at == window) {
          const uint64_t hi = load(&s.state[1]);
          if (st == kReady && aged_out(lo, hi, key1, ts_us)) {
            free_at = i;
            free_lo = lo;
            free_hi = hi;
          }
        }
        break;
      }
    }
    if (restart) continue;
    if (free_at == window) {
      table_full_.v.fetch_add(1, std::memory_order_relaxed);
      return 1;  // fail open: an alert too many beats one lost
    }

    // 2. Claim the free slot. The CAS fails if anyone touched it since.
    Slot& s = slots_[(home + free_at) & mask_];
    const uint64_t gen = gen_of(free_lo) + 1;
    {
      uint64_t lo = free_lo, hi = free_hi;
      if (!cas16(s.state, lo, hi, make_lo(0, gen, kClaimed), 0)) continue;
    }
    for (int i = 0; i < 6; ++i) __atomic_store_n(&s.key[i], k.w[i], __ATOMIC_RELAXED);
    {
      uint64_t lo = make_lo(0, gen, kClaimed), hi = 0;
      cas16(s.state, lo, hi, make_lo(0, gen, kKeyed), 0);  // we own it: cannot fail
    }

    // 3. Another worker may have created the same key in another free slot
    // of the window at the same moment. A live one wins; between two being
    // created the lower position wins and the higher one gives way.
    bool give_way = false;
    for (size_t i = 0; i < window && !give_way; ++i) {
      if (i == free_at) continue;
      Slot& o = slots_[(home + i) & mask_];
      unsigned spins = 0;
      for (;;) {
        const uint64_t lo = load(&o.state[0]);
        const uint64_t st = status_of(lo);
        if (st == kEmpty) break;
        if (st == kClaimed) {
          cpu_relax(spins);
          continue;
        }
        const bool same = identity_equal(o, k);
        if (load(&o.state[0]) != lo) continue;
        if (!same) break;
        if (st == kReady || i < free_at) {
          give_way = true;
          break;
        }
        cpu_relax(spins);  // a later one still deciding: wait for its outcome
      }
    }
    if (give_way) {
      uint64_t lo = make_lo(0, gen, kKeyed), hi = 0;
      cas16(s.state, lo, hi, make_lo(0, gen + 1, kEmpty), 0);
      continue;  // the search will find the live entry
    }

    // 4. Go live with the first match counted.
    const int r = setup(spec);
    uint64_t lo = make_lo(0, gen, kKeyed), hi = 0;
    cas16(s.state, lo, hi, make_lo(ts_us, gen, kReady), make_hi(1, 0));
    rate_action = false;
    return r;
  }
}

ThresholdOutcome ThresholdTable::evaluate(const ThresholdPolicy& policy, const ThresholdEvent& ev) {
  const ThresholdPolicy::RuleEntry* r = policy.find(ev.gid, ev.sid);
  if (!r) return {};
  evaluated_.v.fetch_add(1, std::memory_order_relaxed);

  // Suppressions first: a suppressed match is not counted by the thresholds.
  for (const ThresholdPolicy::Suppress& s : r->suppress) {
    if (suppressed_by(s, ev)) {
      suppressed_.v.fetch_add(1, std::memory_order_relaxed);
      return {AlertDecision::kSuppress, std::nullopt};
    }
  }

  ThresholdOutcome out;
  for (const ThresholdPolicy::Spec& spec : r->specs) {
    bool act = false;
    const int ret = apply(spec, ev, act);
    if (act) {
      out.new_action = spec.new_action;
      rate_filter_changed_.v.fetch_add(1, std::memory_order_relaxed);
    }
    if (ret == 0) {
      if (spec.kind == Kind::kDetectionFilter) detection_filter_held_.v.fetch_add(1, std::memory_order_relaxed);
      else thresholded_.v.fetch_add(1, std::memory_order_relaxed);
      return {AlertDecision::kNoMatch, std::nullopt};
    }
    if (ret == 2) {
      thresholded_.v.fetch_add(1, std::memory_order_relaxed);
      out.decision = AlertDecision::kSuppress;
      return out;
    }
  }
  // `suppress` without a track makes the rule noalert; its thresholds still
  // count and still decide whether the action applies.
  if (r->suppress_all) {
    suppressed_.v.fetch_add(1, std::memory_order_relaxed);
    out.decision = AlertDecision::kSuppress;
  }
  return out;
}

}  // namespace ws
