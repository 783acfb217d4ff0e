// Threshold config: Suricata's threshold.config, the per-sid rate and
// suppression settings kept outside the rules (so ruleset updates do not
// undo local tuning). Four line kinds: `threshold` and `event_filter` (same
// meaning: limit/threshold/both per tracker), `suppress` (drop the alert,
// for everyone or for addresses on one side), and `rate_filter` (change the
// action after a rate is exceeded). Parsed once into plain entries; the
// matcher applies them. Bad lines are reported with file:line and skipped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rules/rule.h"
#include "rules/rule_parser.h"

namespace ws {

struct ThresholdEntry {
  enum class Kind : uint8_t { kThreshold, kEventFilter, kSuppress, kRateFilter };
  Kind kind = Kind::kThreshold;
  uint32_t gid = 1;
  uint32_t sid = 0;  // 0 with gid 0: every rule
  // threshold / event_filter / rate_filter
  ThresholdType type = ThresholdType::kThreshold;
  ThresholdTrack track = ThresholdTrack::kBySrc;  // suppress: kBySrc, kByDst or kByEither
  uint32_t count = 0;
  uint32_t seconds = 0;
  // suppress with a track: the addresses it applies to.
  std::optional<AddressNode> ip;
  // rate_filter
  RuleAction new_action = RuleAction::kAlert;
  uint32_t timeout = 0;
  uint32_t line = 0;
};

struct ThresholdConfigError {
  std::string file;
  uint32_t line = 0;
  std::string reason;
  std::string str() const;  // "file:line: reason"
};

struct ThresholdConfig {
  std::vector<ThresholdEntry> entries;
  std::vector<ThresholdConfigError> errors;
};

// `ip` values may use address variables, resolved through `vars`.
ThresholdConfig parse_threshold_config_text(std::string_view text, std::string_view file, const RuleVars& vars);
ThresholdConfig parse_threshold_config_file(const std::string& path, const RuleVars& vars);

}  // namespace ws
