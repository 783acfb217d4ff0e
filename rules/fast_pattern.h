// Fast pattern: the one content of a rule that goes into the Hyperscan
// prefilter. A rule is only confirmed in full when its fast pattern occurs in
// the payload, so the choice decides how often a rule is confirmed for
// nothing; it follows Suricata's documented order so a rule costs here what
// it costs there and rule writers' `fast_pattern` hints mean the same thing:
//   1. an explicit `fast_pattern` (with `only` and the `offset,length` chop);
//   2. otherwise the longest content (all contents here look at one buffer,
//      the packet payload, so Suricata's buffer priority step has nothing to
//      choose between);
//   3. ties broken by pattern strength (byte diversity, below);
//   4. remaining ties by the first content in rule order.
// Negated contents are only eligible when the rule has no positive content;
// such a fast pattern cannot gate a rule (its absence is what matches), so
// the rule set puts those rules on the always-check list.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "rules/rule.h"

namespace ws {

struct FastPattern {
  size_t payload_index = 0;  // index of the ContentMatch in Rule::payload
  std::string bytes;         // what the prefilter looks for (chop applied)
  bool nocase = false;
  bool negated = false;      // cannot gate the rule: always check it
  bool only = false;         // `fast_pattern:only`
  bool explicit_choice = false;
};

// Suricata's PatternStrength: a byte seen for the first time scores 3 when
// alphabetic, 4 when printable or 0x00/0x01/0xFF, 6 otherwise; a repeated
// byte scores 1.
uint32_t pattern_strength(std::string_view bytes);

// The rule's fast pattern, or nullopt when it has no content at all.
std::optional<FastPattern> select_fast_pattern(const Rule& rule);

}  // namespace ws
