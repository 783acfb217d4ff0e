// Drives the rule parser over arbitrary text: as one rule, as a rules file
// (comments, continuations), and as classification.config and
// threshold.config files. Every input must end in a rule or an error that
// names its reason, never both or neither; sanitizers catch the rest.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "rules/classification.h"
#include "rules/rule_parser.h"
#include "rules/threshold_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ws::RuleVars vars = ws::RuleVars::suricata_defaults();
  static const ws::ClassificationTable classes = ws::ClassificationTable::suricata_defaults();
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  ws::RuleParseOptions opts;
  opts.classifications = &classes;
  ws::RuleResult r = ws::parse_rule(text, vars, "fuzz", 1, opts);
  if (r.rule.has_value() == r.error.has_value()) abort();
  if (r.error && r.error->reason.empty()) abort();

  ws::RuleFileResult f = ws::parse_rules_text(text, vars, "fuzz.rules", opts);
  for (const auto& e : f.errors)
    if (e.reason.empty() || e.line == 0) abort();

  ws::ClassificationTable t;
  (void)ws::parse_classification_text(text, "classification.config", t);
  ws::ThresholdConfig tc = ws::parse_threshold_config_text(text, "threshold.config", vars);
  for (const auto& e : tc.errors)
    if (e.reason.empty()) abort();
  return 0;
}
