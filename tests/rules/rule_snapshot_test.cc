// Rule snapshots: Suricata's evaluation order, the alert metadata EVE prints
// for a rule, and the load report (what loaded, what failed and where, what
// was disabled, which files could not be read at all).
#include "rules/rule_snapshot.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace ws {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "/ws_snapshot_XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    const std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Rule parse(const std::string& text, const ClassificationTable* classes = nullptr) {
  RuleParseOptions o;
  o.classifications = classes;
  RuleResult r = parse_rule(text, RuleVars::suricata_defaults(), "", 0, o);
  EXPECT_TRUE(r.rule.has_value()) << text << ": " << (r.error ? r.error->str() : "");
  return r.rule ? *r.rule : Rule{};
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// ---------------------------------------------------------------- order

TEST(RuleSnapshot, SortFollowsSuricataOrder) {
  // msg names the rule; sids are file order.
  const char* rules[] = {
      R"(alert tcp any any -> any any (msg:"alert-plain"; sid:1;))",
      R"(alert tcp any any -> any any (msg:"alert-reader"; flowbits:isset,a; sid:2;))",
      R"(drop tcp any any -> any any (msg:"drop"; sid:3;))",
      R"(alert tcp any any -> any any (msg:"alert-setter"; flowbits:set,a; sid:4;))",
      R"(reject tcp any any -> any any (msg:"reject"; sid:5;))",
      R"(pass tcp any any -> any any (msg:"pass"; sid:6;))",
      R"(alert tcp any any -> any any (msg:"alert-setread"; flowbits:isset,a; flowbits:set,b; sid:7;))",
      R"(alert tcp any any -> any any (msg:"alert-prio1"; priority:1; sid:8;))",
      R"(alert tcp any any -> any any (msg:"alert-prio5"; priority:5; sid:9;))",
      R"(alert tcp any any -> any any (msg:"alert-plain2"; sid:10;))",
      R"(alert tcp any any -> any any (msg:"alert-unset"; flowbits:unset,a; sid:11;))",
      R"(alert tcp any any -> any any (msg:"alert-toggle-prio1"; flowbits:toggle,a; priority:1; sid:12;))",
      R"(alert tcp any any -> any any (msg:"alert-isnotset"; flowbits:isnotset,a; sid:13;))",
      R"(alert tcp any any -> any any (msg:"alert-noalert"; flowbits:noalert; sid:14;))",
      R"(drop tcp any any -> any any (msg:"drop-reader"; flowbits:isset,a; sid:15;))",
      R"(alert tcp any any -> any any (msg:"alert-prio3"; priority:3; sid:16;))",
  };
  const std::vector<std::string> want = {
      "pass",
      // Within an action, flowbit readers before rules without flowbits.
      "drop-reader", "drop", "reject",
      // Setters (set, unset, toggle), by priority, file order on a tie.
      "alert-toggle-prio1", "alert-setter", "alert-unset",
      // Setting and reading.
      "alert-setread",
      // Only reading (isset, isnotset).
      "alert-reader", "alert-isnotset",
      // No flowbits (flowbits:noalert is not a flowbit use): priority 1,
      // then 3 (the default for a rule without one), then 5.
      "alert-prio1", "alert-plain", "alert-plain2", "alert-noalert", "alert-prio3", "alert-prio5"};
  std::vector<Rule> v;
  for (const char* r : rules) v.push_back(parse(r));
  sort_rules_for_matching(v);
  std::vector<std::string> got;
  for (const Rule& r : v) got.push_back(r.msg);
  EXPECT_EQ(got, want);

  // The loader applies the same order to the running set.
  TempDir dir;
  std::string text;
  for (const char* r : rules) text += std::string(r) + "\n";
  RuleLoadOptions o;
  o.files = {dir.write("order.rules", text)};
  auto s = load_rule_snapshot(o, nullptr);
  ASSERT_TRUE(s && s->set);
  ASSERT_EQ(s->set->size(), want.size());
  ASSERT_EQ(s->meta.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(s->set->rule(i).msg, want[i]) << i;
    // Alert metadata is indexed like the set.
    EXPECT_EQ(s->meta[i].signature, want[i]) << i;
    EXPECT_EQ(s->meta[i].sid, s->set->rule(i).sid) << i;
  }
}

TEST(RuleSnapshot, LoadsRuleTextsAfterTheFilesNamingThemInErrors) {
  TempDir dir;
  RuleLoadOptions o;
  o.files = {dir.write("f.rules", "alert udp any any -> any any (msg:\"f\"; content:\"f\"; sid:1;)\n")};
  o.texts = {{"api-1", "alert udp any any -> any any (msg:\"t1\"; content:\"t\"; sid:2;)\n"},
             {"request", "\nalert udp any any -> any any (msg:\"bad\" sid:3;)\n"
                         "alert tcp any any -> any any (msg:\"t3\"; content:\"u\"; sid:4;)\n"}};
  auto s = load_rule_snapshot(o, nullptr);
  ASSERT_TRUE(s && s->set);
  EXPECT_EQ(s->report.fatal, "");
  EXPECT_EQ(s->report.loaded, 3u);
  ASSERT_EQ(s->report.errors.size(), 1u);
  EXPECT_EQ(s->report.errors[0].file, "request");
  EXPECT_EQ(s->report.errors[0].line, 2u);
  EXPECT_NE(s->report.errors[0].str().find("request:2:"), std::string::npos) << s->report.errors[0].str();
  // No rules at all is a valid, empty set.
  RuleLoadOptions none;
  auto e = load_rule_snapshot(none, nullptr);
  ASSERT_TRUE(e && e->set);
  EXPECT_EQ(e->report.fatal, "");
  EXPECT_EQ(e->report.loaded, 0u);
}

// Suricata's action-order setting: the loader orders the set by it.
TEST(RuleSnapshot, ActionOrderIsConfigurable) {
  ActionOrder order;
  ASSERT_EQ(parse_action_order({"drop", "alert", "reject", "pass"}, &order), "");
  EXPECT_EQ(order, (ActionOrder{RuleAction::kDrop, RuleAction::kAlert, RuleAction::kReject, RuleAction::kPass}));
  EXPECT_NE(parse_action_order({"drop", "alert", "pass"}, &order).find("each once"), std::string::npos);
  EXPECT_NE(parse_action_order({"drop", "alert", "reject", "drop"}, &order).find("'drop' is listed twice"),
            std::string::npos);
  EXPECT_NE(parse_action_order({"drop", "alert", "reject", "log"}, &order).find("'log' is not an action"),
            std::string::npos);
  TempDir dir;
  RuleLoadOptions o;
  o.files = {dir.write("a.rules",
                       "alert tcp any any -> any any (msg:\"a\"; content:\"x\"; sid:1;)\n"
                       "pass tcp any any -> any any (msg:\"p\"; content:\"x\"; sid:2;)\n"
                       "drop tcp any any -> any any (msg:\"d\"; content:\"x\"; sid:3;)\n")};
  ASSERT_EQ(parse_action_order({"drop", "alert", "reject", "pass"}, &o.action_order), "");
  auto s = load_rule_snapshot(o, nullptr);
  ASSERT_TRUE(s && s->set);
  ASSERT_EQ(s->set->size(), 3u);
  EXPECT_EQ(s->set->rule(0).sid, 3u);
  EXPECT_EQ(s->set->rule(1).sid, 1u);
  EXPECT_EQ(s->set->rule(2).sid, 2u);
}

TEST(RuleSnapshot, SortIsStableForEqualRules) {
  std::vector<Rule> v;
  for (int i = 1; i <= 40; ++i)
    v.push_back(parse("alert udp any any -> any any (msg:\"r\"; content:\"x\"; sid:" + std::to_string(i) + ";)"));
  std::reverse(v.begin(), v.end());
  sort_rules_for_matching(v);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(v[i].sid, 40 - i);
}

// ---------------------------------------------------------------- alert metadata

TEST(RuleSnapshot, AlertMetaFromClasstype) {
  const ClassificationTable classes = ClassificationTable::suricata_defaults();
  AlertMeta m = make_alert_meta(
      parse(R"(alert tcp any any -> any any (msg:"ET TROJAN x"; classtype:trojan-activity; sid:2001; rev:4; gid:1;))"),
      classes);
  EXPECT_EQ(m.gid, 1u);
  EXPECT_EQ(m.sid, 2001u);
  EXPECT_EQ(m.rev, 4u);
  EXPECT_EQ(m.signature, "ET TROJAN x");
  EXPECT_EQ(m.category, "A Network Trojan was detected");
  EXPECT_EQ(m.severity, 1);
  EXPECT_TRUE(m.metadata.empty());

  // The rule's priority overrides its classtype's, either way.
  m = make_alert_meta(
      parse(R"(alert tcp any any -> any any (msg:"p"; classtype:trojan-activity; priority:3; sid:2;))"), classes);
  EXPECT_EQ(m.category, "A Network Trojan was detected");
  EXPECT_EQ(m.severity, 3);
  m = make_alert_meta(parse(R"(alert tcp any any -> any any (msg:"p"; classtype:misc-activity; priority:1; sid:3;))"),
                      classes);
  EXPECT_EQ(m.category, "Misc activity");
  EXPECT_EQ(m.severity, 1);
  m = make_alert_meta(parse(R"(alert tcp any any -> any any (msg:"p"; classtype:bad-unknown; sid:4;))"), classes);
  EXPECT_EQ(m.category, "Potentially Bad Traffic");
  EXPECT_EQ(m.severity, 2);

  // No classtype: no category, severity 3 unless the rule says.
  m = make_alert_meta(parse(R"(alert tcp any any -> any any (msg:"none"; sid:5;))"), classes);
  EXPECT_EQ(m.category, "");
  EXPECT_EQ(m.severity, 3);
  m = make_alert_meta(parse(R"(alert tcp any any -> any any (msg:"none"; priority:2; sid:6;))"), classes);
  EXPECT_EQ(m.category, "");
  EXPECT_EQ(m.severity, 2);
  m = make_alert_meta(parse(R"(alert tcp any any -> any any (msg:"gid"; gid:3; sid:7; rev:9;))"), classes);
  EXPECT_EQ(m.gid, 3u);
  EXPECT_EQ(m.rev, 9u);

  // A table of one's own.
  ClassificationTable own;
  own.add({"local-thing", "A local thing", 4});
  m = make_alert_meta(parse(R"(alert tcp any any -> any any (msg:"own"; classtype:local-thing; sid:8;))", &own), own);
  EXPECT_EQ(m.category, "A local thing");
  EXPECT_EQ(m.severity, 4);
}

TEST(RuleSnapshot, AlertMetaGroupsMetadataByKeyInFirstSeenOrder) {
  AlertMeta m = make_alert_meta(
      parse(R"(alert tcp any any -> any any (msg:"m"; metadata: former_category MALWARE, created_at 2020_01_01; )"
            R"(metadata: signature_severity Major Impact, former_category TROJAN, created_at 2021_02_02, tag; sid:9;))"),
      ClassificationTable::suricata_defaults());
  using KV = std::pair<std::string, std::vector<std::string>>;
  const std::vector<KV> want = {
      {"former_category", {"MALWARE", "TROJAN"}},
      {"created_at", {"2020_01_01", "2021_02_02"}},
      {"signature_severity", {"Major Impact"}},  // the value is everything after the first space
      {"tag", {""}},
  };
  EXPECT_EQ(m.metadata, want);
}

// ---------------------------------------------------------------- load report

TEST(RuleSnapshot, LoadReportListsFailuresInFileOrder) {
  TempDir dir;
  const std::string a = dir.write("a.rules",
                                  "alert tcp any any -> any any (msg:\"a1\"; content:\"x\"; sid:1;)\n"        // 1 ok
                                  "alert tcp any any -> any any (msg:\"a2\"; nosuchkeyword; sid:2;)\n"         // 2 parser
                                  "# alert tcp any any -> any any (msg:\"off\"; sid:3;)\n"                    // 3 disabled
                                  "# a plain comment\n"                                                       // 4
                                  "\n"                                                                        // 5
                                  "alert tcp any any -> any any (msg:\"a6\"; content:\"x\"; byte_jump:4,0,dce; sid:6;)\n"  // 6 matcher
                                  "alert udp any any -> any any (msg:\"a7\"; content:\"y\"; sid:7;)\n");      // 7 ok
  const std::string b = dir.write("b.rules",
                                  "alert tcp any any -> any any (msg:\"b1\"; content:\"z\"; "
                                  "byte_test:4,>,1,0,dce; sid:11;)\n"                                         // 1 matcher
                                  "alert tcp any any -> any any (msg:\"b2\" sid:12;)\n"                        // 2 parser
                                  "#alert udp any any -> any any (msg:\"off2\"; sid:13;)\n"                   // 3 disabled
                                  "pass udp any any -> any any (msg:\"b4\"; content:\"w\"; sid:14;)\n");      // 4 ok
  RuleLoadOptions o;
  o.files = {a, b};
  auto s = load_rule_snapshot(o, nullptr);
  ASSERT_TRUE(s);
  const RuleLoadReport& rep = s->report;
  EXPECT_EQ(rep.fatal, "");
  ASSERT_TRUE(s->set);
  EXPECT_EQ(rep.loaded, 3u);
  EXPECT_EQ(s->set->size(), 3u);
  EXPECT_EQ(rep.failed, 4u);
  EXPECT_EQ(rep.disabled, 2u);
  ASSERT_EQ(rep.errors.size(), 4u);
  // The matcher's rejections are found after parsing, yet listed in place.
  const std::pair<std::string, uint32_t> where[] = {{a, 2}, {a, 6}, {b, 1}, {b, 2}};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(rep.errors[i].file, where[i].first) << i;
    EXPECT_EQ(rep.errors[i].line, where[i].second) << i;
    EXPECT_TRUE(contains(rep.errors[i].str(), where[i].first + ":" + std::to_string(where[i].second) + ":"))
        << rep.errors[i].str();
  }
  EXPECT_EQ(rep.errors[1].kind, RuleError::Kind::kUnsupportedKeyword);
  EXPECT_EQ(rep.errors[1].sid, std::optional<uint32_t>(6));
  EXPECT_EQ(rep.errors[2].kind, RuleError::Kind::kUnsupportedKeyword);
  EXPECT_EQ(rep.errors[2].sid, std::optional<uint32_t>(11));
  EXPECT_EQ(rep.errors[2].keyword, "byte_test");
  EXPECT_TRUE(rep.config_errors.empty());
  // The loaded rules are the good ones; the pass rule sorts first.
  ASSERT_EQ(s->set->size(), 3u);
  EXPECT_EQ(s->set->rule(0).sid, 14u);
  EXPECT_EQ(s->set->rule(1).sid, 1u);
  EXPECT_EQ(s->set->rule(2).sid, 7u);
  // One scratch per worker; the thresholds policy always exists.
  EXPECT_EQ(s->scratch.size(), 1u);
  EXPECT_TRUE(s->thresholds);

  // Files in the other order: the errors follow.
  o.files = {b, a};
  o.workers = 3;
  auto s2 = load_rule_snapshot(o, nullptr);
  ASSERT_TRUE(s2 && s2->set);
  ASSERT_EQ(s2->report.errors.size(), 4u);
  EXPECT_EQ(s2->report.errors[0].file, b);
  EXPECT_EQ(s2->report.errors[0].line, 1u);
  EXPECT_EQ(s2->report.errors[1].line, 2u);
  EXPECT_EQ(s2->report.errors[2].file, a);
  EXPECT_EQ(s2->report.errors[2].line, 2u);
  EXPECT_EQ(s2->report.errors[3].line, 6u);
  EXPECT_EQ(s2->scratch.size(), 3u);
}

TEST(RuleSnapshot, UnreadableFilesAreFatal) {
  TempDir dir;
  const std::string good = dir.write("good.rules", "alert tcp any any -> any any (msg:\"g\"; sid:1;)\n");
  const std::string missing = dir.path() + "/missing.rules";
  {
    RuleLoadOptions o;
    o.files = {good, missing};
    auto s = load_rule_snapshot(o, nullptr);
    ASSERT_TRUE(s) << "the report must reach the caller";
    EXPECT_TRUE(contains(s->report.fatal, missing)) << s->report.fatal;
    EXPECT_FALSE(s->set) << "nothing is built";
  }
  {
    RuleLoadOptions o;
    o.files = {good};
    o.classification_file = dir.path() + "/missing.config";
    auto s = load_rule_snapshot(o, nullptr);
    ASSERT_TRUE(s);
    EXPECT_TRUE(contains(s->report.fatal, o.classification_file)) << s->report.fatal;
    EXPECT_FALSE(s->set);
  }
  {
    RuleLoadOptions o;
    o.files = {good};
    o.threshold_file = dir.path() + "/missing-threshold.config";
    auto s = load_rule_snapshot(o, nullptr);
    ASSERT_TRUE(s);
    EXPECT_TRUE(contains(s->report.fatal, o.threshold_file)) << s->report.fatal;
  }
  {
    // The same files without the missing one load.
    RuleLoadOptions o;
    o.files = {good};
    auto s = load_rule_snapshot(o, nullptr);
    ASSERT_TRUE(s && s->set);
    EXPECT_EQ(s->report.fatal, "");
    EXPECT_EQ(s->report.loaded, 1u);
  }
}

TEST(RuleSnapshot, ADirectoryIsNotARuleFile) {
  TempDir dir;
  RuleLoadOptions o;
  o.files = {dir.path()};
  auto s = load_rule_snapshot(o, nullptr);
  ASSERT_TRUE(s);
  EXPECT_TRUE(contains(s->report.fatal, dir.path())) << s->report.fatal;
}

TEST(RuleSnapshot, OwnClassificationFile) {
  TempDir dir;
  RuleLoadOptions o;
  o.classification_file = dir.write("classification.config",
                                    "# local classes\n"
                                    "config classification: local-thing,A local thing,2\n"
                                    "config classification: broken\n");
  o.files = {dir.write("c.rules",
                       "alert tcp any any -> any any (msg:\"own\"; classtype:local-thing; sid:1;)\n"
                       // Not in the file: the shipped defaults are replaced, not extended.
                       "alert tcp any any -> any any (msg:\"default\"; classtype:trojan-activity; sid:2;)\n")};
  auto s = load_rule_snapshot(o, nullptr);
  ASSERT_TRUE(s && s->set);
  EXPECT_EQ(s->report.fatal, "");
  ASSERT_EQ(s->report.config_errors.size(), 1u);
  EXPECT_TRUE(contains(s->report.config_errors[0], o.classification_file + ":3:")) << s->report.config_errors[0];
  EXPECT_EQ(s->report.loaded, 1u);
  EXPECT_EQ(s->report.failed, 1u);
  ASSERT_EQ(s->report.errors.size(), 1u);
  EXPECT_EQ(s->report.errors[0].line, 2u);
  ASSERT_EQ(s->meta.size(), 1u);
  EXPECT_EQ(s->meta[0].category, "A local thing");
  EXPECT_EQ(s->meta[0].severity, 2);
}

TEST(RuleSnapshot, ThresholdConfigErrorsAreListed) {
  TempDir dir;
  RuleLoadOptions o;
  o.files = {dir.write("t.rules",
                       "alert udp any any -> any any (msg:\"t\"; content:\"x\"; sid:100;)\n"
                       "alert udp any any -> any any (msg:\"u\"; content:\"y\"; sid:101;)\n")};
  o.threshold_file = dir.write("threshold.config",
                               "# tuning\n"
                               "threshold gen_id 1, sig_id 100, type limit, track by_src, count 1, seconds 60\n"
                               "threshold gen_id 1, sig_id 101, type bogus, track by_src, count 1, seconds 60\n"
                               "frobnicate gen_id 1, sig_id 101\n"
                               "suppress gen_id 1, sig_id 101, track by_src\n");
  auto s = load_rule_snapshot(o, nullptr);
  ASSERT_TRUE(s && s->set);
  EXPECT_EQ(s->report.fatal, "");
  EXPECT_EQ(s->report.loaded, 2u);
  EXPECT_EQ(s->report.failed, 0u) << "threshold.config lines are not rule failures";
  ASSERT_EQ(s->report.config_errors.size(), 3u);
  EXPECT_TRUE(contains(s->report.config_errors[0], o.threshold_file + ":3:")) << s->report.config_errors[0];
  EXPECT_TRUE(contains(s->report.config_errors[0], "bogus")) << s->report.config_errors[0];
  EXPECT_TRUE(contains(s->report.config_errors[1], o.threshold_file + ":4:")) << s->report.config_errors[1];
  EXPECT_TRUE(contains(s->report.config_errors[2], o.threshold_file + ":5:")) << s->report.config_errors[2];
  // The good line is in force; the bad ones left sid 101 alone.
  EXPECT_TRUE(s->thresholds->affects(1, 100));
  EXPECT_FALSE(s->thresholds->affects(1, 101));
}

TEST(RuleSnapshot, ThresholdConfigWarningsNameTheFile) {
  TempDir dir;
  RuleLoadOptions o;
  o.files = {dir.write("t.rules", "alert udp any any -> any any (msg:\"t\"; content:\"x\"; sid:100;)\n")};
  o.threshold_file = dir.write("threshold.config", "suppress gen_id 1, sig_id 999\n");
  auto s = load_rule_snapshot(o, nullptr);
  ASSERT_TRUE(s && s->set);
  ASSERT_EQ(s->report.config_errors.size(), 1u);
  EXPECT_TRUE(contains(s->report.config_errors[0], o.threshold_file + ":1:")) << s->report.config_errors[0];
  EXPECT_TRUE(contains(s->report.config_errors[0], "999")) << s->report.config_errors[0];
}

TEST(RuleSnapshot, EmptySnapshotMatchesNothing) {
  auto s = empty_rule_snapshot(4);
  ASSERT_TRUE(s && s->set && s->thresholds);
  EXPECT_EQ(s->set->size(), 0u);
  EXPECT_EQ(s->scratch.size(), 4u);
  EXPECT_TRUE(s->meta.empty());
}

TEST(RuleSnapshot, SlotGenerationsAndRelease) {
  RuleSlot slot(1);
  const RuleSnapshot* first = slot.current();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(slot.generation(), 1u);
  EXPECT_EQ(slot.acquire(0, nullptr), first);
  auto next = empty_rule_snapshot(1);
  const RuleSnapshot* raw = next.get();
  slot.publish(std::move(next));
  EXPECT_EQ(slot.current(), raw);
  EXPECT_EQ(slot.generation(), 2u);
  EXPECT_EQ(slot.collect(), 1u) << "the worker is still on generation 1";
  // Unchanged slot: the worker keeps its snapshot and its acknowledgement.
  EXPECT_EQ(slot.acquire(0, first), raw);
  EXPECT_EQ(slot.collect(), 0u);
  EXPECT_EQ(slot.acquire(0, raw), raw);
  // A held alert keeps a retired snapshot; a worker that quiesced holds nothing.
  raw->alerts_in_flight.fetch_add(1);
  slot.publish(empty_rule_snapshot(1));
  slot.quiesce(0);
  EXPECT_EQ(slot.collect(), 1u);
  raw->alerts_in_flight.fetch_sub(1);
  EXPECT_EQ(slot.collect(), 0u);
  EXPECT_EQ(slot.generation(), 3u);
}

}  // namespace
}  // namespace ws
