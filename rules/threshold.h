// Alert thresholds: whether a rule match raises an alert, with Suricata's
// semantics for the rule keywords `threshold` and `detection_filter` and the
// threshold.config entries `threshold`/`event_filter`, `suppress` and
// `rate_filter`.
//
// Two parts. ThresholdPolicy is compiled once per rule set: for each
// (gid, sid) the suppressions and the ordered list of counting specs left
// after threshold.config has been applied the way Suricata installs it (a
// sid's own threshold/event_filter replaces the rule's last threshold or
// detection_filter; a rate_filter or a gid 0 / sid 0 entry never overrides a
// rule's own; suppress is added on top). ThresholdTable is the counting state,
// shared by all workers because a by_src count must see every flow of the
// host whichever worker owns it.
//
// An outcome follows Suricata's three results for one match:
//   kAlert     alert, the rule action applies (possibly replaced by a
//              rate_filter's new_action);
//   kSuppress  silent match: no alert, the rule action still applies
//              (suppress, `limit` over its count, `both` past its count);
//   kNoMatch   the rule counts as not matched: no alert, no action
//              (detection_filter not yet exceeded, `threshold`/`both` before
//              the count is reached).
// Suppressions are checked first; a suppressed match is not counted by the
// thresholds. Windows are not sliding: a window starts at the first match
// and a match at exactly start + seconds (microsecond resolution) is still
// inside it.
//
// The table is open addressing over 64-byte slots, fixed at construction.
// A slot's counting state is 16 bytes updated by one 16-byte compare-and-swap,
// so two workers hitting the same key never lose a count and never need a
// lock. A new key claims a free slot (empty, or one whose entry has aged
// out by packet time) with the same CAS; a brief claim protocol keeps two
// workers that see a new key at the same moment from creating it twice.
// When a key's probe window has no free slot the match fails open (alert)
// and `table_full` counts it.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "rules/rule.h"
#include "rules/threshold_config.h"

namespace ws {

// Who an event is counted against. Addresses are in network order, IPv4 in
// the first 4 bytes.
struct ThresholdEvent {
  uint32_t gid = 1, sid = 0;
  bool ipv6 = false;
  std::array<uint8_t, 16> src{}, dst{};  // the packet's own addresses
  uint64_t flow_id = 0;                  // for by_flow
  uint64_t ts_ns = 0;                    // packet time
};

enum class AlertDecision : uint8_t { kAlert, kSuppress, kNoMatch };

struct ThresholdOutcome {
  AlertDecision decision = AlertDecision::kAlert;
  std::optional<RuleAction> new_action;  // a rate_filter is in force
};

class ThresholdPolicy {
 public:
  struct Spec {
    enum class Kind : uint8_t { kLimit, kThreshold, kBoth, kDetectionFilter, kRateFilter, kBackoff };
    Kind kind = Kind::kThreshold;
    ThresholdTrack track = ThresholdTrack::kBySrc;
    uint32_t count = 0;
    uint32_t seconds = 0;
    RuleAction new_action = RuleAction::kAlert;  // kRateFilter
    uint32_t timeout = 0;                        // kRateFilter, seconds
    uint32_t multiplier = 0;                     // kBackoff
  };
  struct Suppress {
    ThresholdTrack track = ThresholdTrack::kBySrc;  // kBySrc, kByDst or kByEither
    AddressNode ip;
  };
  struct RuleEntry {
    uint32_t gid = 1, sid = 0;
    bool suppress_all = false;        // `suppress` without track: never alerts
    std::vector<Suppress> suppress;   // by address, checked first
    std::vector<Spec> specs;          // in Suricata's evaluation order
  };

  // Entries that cannot apply (unknown sid, gen_id 0 with a sig_id, a
  // rate_filter on a rule with its own threshold) are skipped, as Suricata
  // does, and reported in *warnings with the config line.
  static std::shared_ptr<const ThresholdPolicy> build(const std::vector<Rule>& rules, const ThresholdConfig& cfg,
                                                      std::vector<ThresholdConfigError>* warnings = nullptr);

  // False: the rule has nothing to count or suppress, always kAlert.
  bool affects(uint32_t gid, uint32_t sid) const { return find(gid, sid) != nullptr; }
  const RuleEntry* find(uint32_t gid, uint32_t sid) const;
  size_t size() const { return entries_.size(); }

 private:
  ThresholdPolicy() = default;
  std::vector<uint64_t> keys_;      // (gid << 32 | sid), sorted
  std::vector<RuleEntry> entries_;  // parallel to keys_
};

// Plain copy of the table's counters.
struct ThresholdCounterValues {
  uint64_t evaluated = 0;              // matches of rules the policy affects
  uint64_t suppressed = 0;             // kSuppress by a suppress entry
  uint64_t thresholded = 0;            // not alerted because of limit/threshold/both
  uint64_t detection_filter_held = 0;  // kNoMatch from a detection_filter
  uint64_t table_full = 0;             // no slot for a new key: alerted (fail open)
  uint64_t rate_filter_changed = 0;    // outcomes carrying a new_action
};

class ThresholdTable {
 public:
  // Rounded up to a power of two, at least one probe window (16 slots).
  explicit ThresholdTable(size_t capacity = 65536);
  ~ThresholdTable();
  ThresholdTable(const ThresholdTable&) = delete;
  ThresholdTable& operator=(const ThresholdTable&) = delete;

  // Thread-safe; neither allocates nor locks.
  ThresholdOutcome evaluate(const ThresholdPolicy& policy, const ThresholdEvent& ev);

  ThresholdCounterValues counters() const;
  size_t capacity() const { return mask_ + 1; }
  // Slots holding a live or aged entry (a scan, for reports and tests).
  size_t used() const;

  struct Slot;
  struct Key;

 private:
  // Suricata's per-match result: 0 no match, 1 alert, 2 silent match.
  int apply(const ThresholdPolicy::Spec& spec, const ThresholdEvent& ev, bool& rate_action);

  Slot* slots_ = nullptr;
  size_t mask_ = 0;
  uint64_t seed_ = 0;

  // One cache line each: every worker bumps them.
  struct alignas(64) Counter {
    std::atomic<uint64_t> v{0};
  };
  Counter evaluated_, suppressed_, thresholded_, detection_filter_held_, table_full_, rate_filter_changed_;
};

}  // namespace ws
