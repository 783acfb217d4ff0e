#include "rules/fast_pattern.h"

#include <array>
#include <cctype>
#include <variant>

namespace ws {

uint32_t pattern_strength(std::string_view bytes) {
  std::array<bool, 256> seen{};
  uint32_t s = 0;
  for (char ch : bytes) {
    auto b = static_cast<uint8_t>(ch);
    if (seen[b]) {
      s += 1;
      continue;
    }
    seen[b] = true;
    if (std::isalpha(b)) s += 3;
    else if (std::isprint(b) || b == 0x00 || b == 0x01 || b == 0xFF) s += 4;
    else s += 6;
  }
  return s;
}

namespace {

FastPattern make(const ContentMatch& c, size_t index) {
  FastPattern fp;
  fp.payload_index = index;
  fp.bytes = c.bytes;
  if (c.fast_pattern_chop) fp.bytes = c.bytes.substr(c.fast_pattern_chop->first, c.fast_pattern_chop->second);
  fp.nocase = c.nocase;
  fp.negated = c.negated;
  fp.only = c.fast_pattern_only;
  fp.explicit_choice = c.fast_pattern;
  return fp;
}

}  // namespace

std::optional<FastPattern> select_fast_pattern(const Rule& rule) {
  bool any_positive = false;
  for (size_t i = 0; i < rule.payload.size(); ++i) {
    const auto* c = std::get_if<ContentMatch>(&rule.payload[i]);
    if (!c) continue;
    if (c->fast_pattern) return make(*c, i);
    if (!c->negated) any_positive = true;
  }
  const ContentMatch* best = nullptr;
  size_t best_index = 0;
  uint32_t best_strength = 0;
  for (size_t i = 0; i < rule.payload.size(); ++i) {
    const auto* c = std::get_if<ContentMatch>(&rule.payload[i]);
    if (!c || (any_positive && c->negated)) continue;
    uint32_t strength = pattern_strength(c->bytes);
    // Strictly better only: on a full tie the earlier content stays.
    if (!best || c->bytes.size() > best->bytes.size() ||
        (c->bytes.size() == best->bytes.size() && strength > best_strength)) {
      best = c;
      best_index = i;
      best_strength = strength;
    }
  }
  if (!best) return std::nullopt;
  return make(*best, best_index);
}

}  // namespace ws
