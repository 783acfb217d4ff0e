// FlowKey: the identity of a bidirectional flow. Addresses are 16 bytes for
// both families (IPv4 in the first 4 bytes, rest zero) so one key type and
// one compare serve both; 40 bytes, compared as five 64-bit words.
//
// ICMP echo request/reply use the echo identifier as both ports, so a ping
// session is one flow; other ICMP messages have ports 0.
#pragma once

#include <cstdint>
#include <cstring>

namespace ws {

struct FlowKey {
  uint8_t src[16];
  uint8_t dst[16];
  uint16_t sport;
  uint16_t dport;
  uint16_t vlan;    // outer 802.1Q id, 0 when untagged
  uint8_t proto;    // IP protocol number
  uint8_t family;   // 4 or 6

  // Five 64-bit compares, inlined: this runs on every flow lookup.
  bool operator==(const FlowKey& o) const {
    uint64_t a[5], b[5];
    std::memcpy(a, this, sizeof a);
    std::memcpy(b, &o, sizeof b);
    return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4])) == 0;
  }

  // The same flow seen from the other side.
  FlowKey reversed() const {
    FlowKey r = *this;
    std::memcpy(r.src, dst, 16);
    std::memcpy(r.dst, src, 16);
    r.sport = dport;
    r.dport = sport;
    return r;
  }
};
static_assert(sizeof(FlowKey) == 40);

}  // namespace ws
