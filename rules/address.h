// Address specs against an address: the one reading of a spec (prefix,
// inclusive range, list with negated members, `any`) shared by rule headers
// and threshold.config suppressions.
#pragma once

#include <array>
#include <cstdint>

#include "rules/rule.h"

namespace ws {

// True when a (network order; IPv4 in the first 4 bytes) falls in spec n. A
// list matches when one of its positive members does (or it has none) and
// none of its negated members does: `[10.0.0.0/8,!10.1.0.0/16]`.
bool address_match(const AddressNode& n, bool v6, const std::array<uint8_t, 16>& a);

}  // namespace ws
