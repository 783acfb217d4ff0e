// IpOnlyIndex: finds the IP-only rules whose address lists can contain a
// given address, without testing every rule.
//
// IP-only rules are Suricata's name for rules that look at nothing but the
// header and flowbit setters (reputation and block lists such as ET's
// COMPROMISED, DROP, CINS and TOR groups: a thousand rules of hundreds of
// addresses each). Suricata matches them once per direction of a flow, on
// the first packet, through a radix tree of their addresses; so do we, with
// a sorted table of disjoint address segments, each listing the rules whose
// address lists cover it. A lookup is a binary search.
//
// A rule is indexed by the positive prefixes and ranges of one of its lists,
// the narrower one (a block list rather than $HOME_NET); the caller keeps one
// index per side. A rule whose lists are `any`, negated or otherwise not
// plain unions cannot be indexed; the caller confirms those on every lookup.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "rules/rule.h"

namespace ws {

class IpOnlyIndex {
 public:
  // True when spec is a plain positive union of prefixes and ranges.
  static bool indexable(const AddressNode& spec);
  // Adds the intervals of an address spec for rule `id`. Returns false (and
  // adds nothing) when the spec is not indexable.
  bool add(const AddressNode& spec, uint32_t id);
  // Builds the segment table; call once after the last add().
  void build();

  // Rule ids whose intervals contain the address (IPv4 in the first 4 bytes).
  std::span<const uint32_t> lookup(bool v6, const uint8_t* addr) const;

  size_t segments() const { return v4_.segs.size() + v6_.segs.size(); }

  // How much of the address space a spec covers (IPv4 and IPv6 counted in
  // /128 units, saturating): the smaller side of a rule is the one to index.
  static double coverage(const AddressNode& spec);

 private:
  using U128 = unsigned __int128;
  struct Interval {
    U128 lo, hi;
    uint32_t id;
  };
  struct Seg {
    U128 lo, hi;
    uint32_t first, count;  // into ids
  };
  struct Table {
    std::vector<Interval> pending;
    std::vector<Seg> segs;
    std::vector<uint32_t> ids;
  };
  static bool collect(const AddressNode& n, std::vector<const AddressNode*>& leaves);
  static void build_table(Table& t);

  Table v4_, v6_;
};

}  // namespace ws
