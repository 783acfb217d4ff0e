#include "rules/address.h"

#include <cstring>

namespace ws {
namespace {

bool prefix_match(const IpPrefix& p, bool v6, const std::array<uint8_t, 16>& a) {
  if (p.v6 != v6) return false;
  unsigned bits = p.len;
  size_t i = 0;
  for (; bits >= 8; bits -= 8, ++i)
    if (p.bytes[i] != a[i]) return false;
  if (bits == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xFF << (8 - bits));
  return (p.bytes[i] & mask) == (a[i] & mask);
}

bool range_match(const AddressNode& n, bool v6, const std::array<uint8_t, 16>& a) {
  if (n.prefix.v6 != v6) return false;
  size_t w = v6 ? 16 : 4;
  return std::memcmp(n.prefix.bytes.data(), a.data(), w) <= 0 &&
         std::memcmp(a.data(), n.range_last.bytes.data(), w) <= 0;
}

}  // namespace

bool address_match(const AddressNode& n, bool v6, const std::array<uint8_t, 16>& a) {
  bool r = true;
  switch (n.kind) {
    case AddressNode::Kind::kAny:
      r = true;
      break;
    case AddressNode::Kind::kPrefix:
      r = prefix_match(n.prefix, v6, a);
      break;
    case AddressNode::Kind::kRange:
      r = range_match(n, v6, a);
      break;
    case AddressNode::Kind::kList: {
      bool has_pos = false, pos = false;
      r = true;
      for (const AddressNode& c : n.children) {
        bool m = address_match(c, v6, a);
        if (c.negated) {
          if (!m) {
            r = false;
            break;
          }
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

}  // namespace ws
