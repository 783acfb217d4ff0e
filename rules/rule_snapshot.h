// Rule snapshots: what the workers match with, built whole off the data
// path and swapped in without a lock (the read-copy-update pattern DPDK's
// RCU library and Envoy's thread-local snapshots use).
//
// A RuleSnapshot holds the compiled RuleSet, the per-rule alert metadata,
// one MatchScratch per worker (allocated by the loader, so a swap allocates
// nothing on a worker), and the load report. It never changes once built.
//
// RuleSlot is the swap point. The control thread publishes a new snapshot;
// each worker looks at the slot once per burst (one load of a line that is
// only written by a reload) and, when it has changed, switches to the new
// snapshot and records the generation it now uses. An old snapshot is freed
// only when every worker has moved past it and every alert that points into
// it has been exported, so no packet waits for a reload and no alert is
// formatted from freed memory.
//
// Memory: during a reload two snapshots are alive — the running one and the
// one being built — and, until the export thread has drained the alerts of
// the old one, both stay. For ET Open 2017 a snapshot is about the parsed
// rules plus the Hyperscan databases plus one scratch per worker; see the
// README's "Rules" section for measured figures.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dataplane/snapshot_slot.h"
#include "rules/classification.h"
#include "rules/matcher.h"
#include "rules/rule_parser.h"
#include "rules/threshold.h"
#include "telemetry/alert_record.h"

namespace ws {

// Suricata's action-order: the order rules are evaluated in by action.
using ActionOrder = std::array<RuleAction, 4>;
constexpr ActionOrder kDefaultActionOrder = {RuleAction::kPass, RuleAction::kDrop, RuleAction::kReject,
                                             RuleAction::kAlert};
// Parses Suricata's action names (pass, drop, reject, alert), each exactly
// once; on error returns why.
std::string parse_action_order(const std::vector<std::string>& names, ActionOrder* out);

struct RuleLoadOptions {
  std::vector<std::string> files;  // rule files, loaded in order
  // Rules given as text (the REST API's POST/PUT /rules), loaded after the
  // files in order: (name, text); errors name the text and its line.
  std::vector<std::pair<std::string, std::string>> texts;
  RuleVars vars = RuleVars::suricata_defaults();
  std::string classification_file;  // empty: the shipped defaults
  std::string threshold_file;       // Suricata threshold.config; empty: none
  std::string cache_dir;            // compiled Hyperscan databases; empty: no cache
  size_t workers = 1;               // scratches to allocate
  ActionOrder action_order = kDefaultActionOrder;
};

struct RuleLoadReport {
  size_t loaded = 0;    // rules in the running set
  size_t failed = 0;    // rules rejected by the parser or the matcher
  size_t disabled = 0;  // commented-out rules, not counted as failed
  std::vector<RuleError> errors;           // one per failed rule, file order
  std::vector<std::string> config_errors;  // classification.config / threshold.config lines skipped
  // Set when no snapshot could be built at all (an unreadable rule file,
  // a database that failed to compile): the previous rules stay.
  std::string fatal;
  std::vector<RuleGroupInfo> groups;
  size_t always_check_rules = 0;  // sum over groups: rules with no usable fast pattern
  double parse_ms = 0, build_ms = 0;
  HsCacheStats cache;  // database cache hits and misses of this load
};

struct RuleSnapshot {
  uint64_t generation = 0;  // set by RuleSlot::publish
  std::shared_ptr<const RuleSet> set;  // never null (an empty set matches nothing)
  std::vector<AlertMeta> meta;         // by rule index in set
  std::shared_ptr<const ThresholdPolicy> thresholds;  // never null
  std::vector<std::unique_ptr<MatchScratch>> scratch;  // one per worker
  RuleLoadReport report;
  // Alerts pushed by workers and not yet exported (see alert_record.h).
  mutable std::atomic<uint64_t> alerts_in_flight{0};
  bool held() const { return alerts_in_flight.load(std::memory_order_acquire) != 0; }
};

// Suricata's evaluation order: by action (action-order, by default pass,
// drop, reject, alert), then flowbit setters before readers before rules
// without flowbits, then by priority (1 first); otherwise file order. Stable.
void sort_rules_for_matching(std::vector<Rule>& rules, const ActionOrder& order = kDefaultActionOrder);

// The alert metadata of a rule: category and severity from its classtype.
AlertMeta make_alert_meta(const Rule& r, const ClassificationTable& classes);

// Parses and compiles. Always returns a snapshot; when nothing could be
// built its report.fatal says why and its set is null (the caller keeps the
// rules it has). Failed rules do not stop the load: they are listed in the
// report and left out. previous (may be null) keeps flowbit numbering.
std::unique_ptr<RuleSnapshot> load_rule_snapshot(const RuleLoadOptions& opts, const RuleSnapshot* previous);

// A snapshot that matches nothing (agent without -S).
std::unique_ptr<RuleSnapshot> empty_rule_snapshot(size_t workers);

// The rule snapshot the workers use (dataplane/snapshot_slot.h), plus the
// alert rate state that outlives any one snapshot. A retired snapshot also
// stays while alerts that point into it are on their way to the exporters.
class RuleSlot : public SnapshotSlot<RuleSnapshot> {
 public:
  // Starts with a snapshot that matches nothing.
  explicit RuleSlot(size_t workers);
  ~RuleSlot();

  uint64_t generation() const { return current()->generation; }
  // Alert rate state, shared by every worker and kept across reloads (a
  // reload does not reset a running limit).
  ThresholdTable& thresholds() { return thresholds_; }

 private:
  ThresholdTable thresholds_;
};

}  // namespace ws
