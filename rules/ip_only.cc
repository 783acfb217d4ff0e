#include "rules/ip_only.h"

#include <algorithm>
#include <cmath>

namespace ws {
namespace {

using U128 = unsigned __int128;

U128 to_u128(const uint8_t* a, bool v6) {
  U128 v = 0;
  const int n = v6 ? 16 : 4;
  for (int i = 0; i < n; ++i) v = (v << 8) | a[i];
  return v;
}

}  // namespace

bool IpOnlyIndex::collect(const AddressNode& n, std::vector<const AddressNode*>& leaves) {
  if (n.negated) return false;
  switch (n.kind) {
    case AddressNode::Kind::kAny: return false;
    case AddressNode::Kind::kPrefix:
    case AddressNode::Kind::kRange: leaves.push_back(&n); return true;
    case AddressNode::Kind::kList:
      if (n.children.empty()) return false;
      for (const AddressNode& c : n.children)
        if (!collect(c, leaves)) return false;
      return true;
  }
  return false;
}

bool IpOnlyIndex::indexable(const AddressNode& spec) {
  std::vector<const AddressNode*> leaves;
  return collect(spec, leaves);
}

double IpOnlyIndex::coverage(const AddressNode& spec) {
  std::vector<const AddressNode*> leaves;
  if (!collect(spec, leaves)) return 1e300;
  double total = 0;
  for (const AddressNode* l : leaves) {
    const bool v6 = l->prefix.v6;
    const int bits = v6 ? 128 : 32;
    if (l->kind == AddressNode::Kind::kRange) {
      total += static_cast<double>(to_u128(l->range_last.bytes.data(), v6) - to_u128(l->prefix.bytes.data(), v6)) + 1;
    } else {
      total += std::ldexp(1.0, bits - std::min<int>(l->prefix.len, bits));
    }
  }
  return total;
}

bool IpOnlyIndex::add(const AddressNode& spec, uint32_t id) {
  std::vector<const AddressNode*> leaves;
  if (!collect(spec, leaves)) return false;
  for (const AddressNode* l : leaves) {
    const bool v6 = l->prefix.v6;
    const int bits = v6 ? 128 : 32;
    U128 lo = to_u128(l->prefix.bytes.data(), v6), hi;
    if (l->kind == AddressNode::Kind::kRange) {
      hi = to_u128(l->range_last.bytes.data(), v6);
    } else {
      const int host = bits - std::min<int>(l->prefix.len, bits);
      const U128 mask = host >= 128 ? ~U128{0} : ((U128{1} << host) - 1);
      lo &= ~mask;
      hi = lo | mask;
    }
    if (hi < lo) std::swap(lo, hi);
    (v6 ? v6_ : v4_).pending.push_back({lo, hi, id});
  }
  return true;
}

void IpOnlyIndex::build_table(Table& t) {
  // Sweep over interval starts and ends; between two consecutive boundary
  // points the set of covering rules is constant: one segment.
  struct Event {
    U128 at;
    bool start;
    uint32_t id;
  };
  std::vector<Event> ev;
  ev.reserve(t.pending.size() * 2);
  uint32_t max_id = 0;
  for (const Interval& i : t.pending) {
    ev.push_back({i.lo, true, i.id});
    // An end at the top of the space never closes; that is fine, the sweep stops.
    if (i.hi != ~U128{0}) ev.push_back({i.hi + 1, false, i.id});
    max_id = std::max(max_id, i.id);
  }
  std::sort(ev.begin(), ev.end(), [](const Event& a, const Event& b) { return a.at < b.at; });
  std::vector<uint32_t> count(t.pending.empty() ? 0 : max_id + 1, 0);
  std::vector<uint32_t> active;  // ids with count > 0
  std::vector<uint32_t> pos(count.size(), 0);
  for (size_t i = 0; i < ev.size();) {
    const U128 at = ev[i].at;
    for (; i < ev.size() && ev[i].at == at; ++i) {
      const uint32_t id = ev[i].id;
      if (ev[i].start) {
        if (count[id]++ == 0) {
          pos[id] = static_cast<uint32_t>(active.size());
          active.push_back(id);
        }
      } else if (--count[id] == 0) {
        const uint32_t last = active.back();
        active[pos[id]] = last;
        pos[last] = pos[id];
        active.pop_back();
      }
    }
    if (active.empty()) continue;
    const U128 hi = i < ev.size() ? ev[i].at - 1 : ~U128{0};
    Seg s{at, hi, static_cast<uint32_t>(t.ids.size()), static_cast<uint32_t>(active.size())};
    std::vector<uint32_t> sorted(active);
    std::sort(sorted.begin(), sorted.end());
    t.ids.insert(t.ids.end(), sorted.begin(), sorted.end());
    t.segs.push_back(s);
  }
  t.pending.clear();
  t.pending.shrink_to_fit();
}

void IpOnlyIndex::build() {
  build_table(v4_);
  build_table(v6_);
}

std::span<const uint32_t> IpOnlyIndex::lookup(bool v6, const uint8_t* addr) const {
  const Table& t = v6 ? v6_ : v4_;
  const U128 a = to_u128(addr, v6);
  auto it = std::upper_bound(t.segs.begin(), t.segs.end(), a, [](U128 x, const Seg& s) { return x < s.lo; });
  if (it == t.segs.begin()) return {};
  --it;
  if (a > it->hi) return {};
  return std::span<const uint32_t>(t.ids.data() + it->first, it->count);
}

}  // namespace ws
