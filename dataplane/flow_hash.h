// The symmetric flow hash. A key is first put in canonical order (the
// smaller address/port pair first), then hashed, so A→B and B→A give the
// same value: both directions of a flow land on the same worker and in the
// same flow-table bucket. Sharding uses the high bits, bucket selection the
// low bits, so the two choices stay independent.
#pragma once

#include <cstdint>
#include <cstring>

#include "dataplane/flow_key.h"

namespace ws {

// Puts k in canonical order; returns true if it had to swap the sides.
inline bool canonicalize(FlowKey& k) {
  // Any total order will do as long as both directions agree on it: compare
  // the addresses as two native 64-bit words, then the ports.
  uint64_t s[2], d[2];
  std::memcpy(s, k.src, 16);
  std::memcpy(d, k.dst, 16);
  const bool less = s[0] != d[0] ? s[0] < d[0] : s[1] != d[1] ? s[1] < d[1] : k.sport <= k.dport;
  if (less) return false;
  uint8_t t[16];
  std::memcpy(t, k.src, 16);
  std::memcpy(k.src, k.dst, 16);
  std::memcpy(k.dst, t, 16);
  const uint16_t p = k.sport;
  k.sport = k.dport;
  k.dport = p;
  return true;
}

// Hash of a canonical key: five 64-bit words through multiply-xorshift
// rounds. Not keyed: the flow table bounds its probe length, so a crafted
// collision costs an eviction, never a long chain.
inline uint64_t flow_hash(const FlowKey& k) {
  uint64_t w[5];
  std::memcpy(w, &k, sizeof w);
  uint64_t h = 0x9e3779b97f4a7c15ull;
  for (uint64_t x : w) {
    h ^= x;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
  }
  h *= 0x94d049bb133111ebull;
  h ^= h >> 29;
  return h;
}

// The worker a flow belongs to, from its hash.
inline uint32_t shard_of(uint64_t hash, uint32_t workers) {
  return static_cast<uint32_t>(((hash >> 32) * workers) >> 32);
}

}  // namespace ws
