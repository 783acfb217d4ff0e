#include "rules/threshold.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "rules/rule_parser.h"

namespace ws {
namespace {

constexpr uint64_t kSec = 1000000000ULL;
constexpr uint64_t kUs = 1000ULL;

std::array<uint8_t, 16> v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return {a, b, c, d}; }

ThresholdEvent ev(uint32_t sid, std::array<uint8_t, 16> src, std::array<uint8_t, 16> dst, uint64_t flow,
                  uint64_t ts_ns) {
  ThresholdEvent e;
  e.gid = 1;
  e.sid = sid;
  e.src = src;
  e.dst = dst;
  e.flow_id = flow;
  e.ts_ns = ts_ns;
  return e;
}

std::vector<Rule> rules_from(const std::string& text, const RuleVars& vars = RuleVars::suricata_defaults()) {
  RuleFileResult r = parse_rules_text(text, vars, "test.rules");
  EXPECT_TRUE(r.errors.empty()) << (r.errors.empty() ? "" : r.errors[0].str());
  return r.rules;
}

ThresholdConfig config_from(const std::string& text, const RuleVars& vars = RuleVars::suricata_defaults()) {
  ThresholdConfig c = parse_threshold_config_text(text, "threshold.config", vars);
  EXPECT_TRUE(c.errors.empty()) << (c.errors.empty() ? "" : c.errors[0].str());
  return c;
}

char letter(const ThresholdOutcome& o) {
  switch (o.decision) {
    case AlertDecision::kAlert: return 'A';
    case AlertDecision::kSuppress: return 'S';
    case AlertDecision::kNoMatch: return 'N';
  }
  return '?';
}

// One letter per event: A alert, S silent match, N no match.
std::string run(const ThresholdPolicy& p, ThresholdTable& t, const std::vector<ThresholdEvent>& events) {
  std::string out;
  for (const ThresholdEvent& e : events) out += letter(t.evaluate(p, e));
  return out;
}

// ---------------------------------------------------------------------------
// type x track

struct TypeTrackCase {
  const char* name;
  const char* type;
  const char* track;
  bool vary_src;       // B differs from A by source (else: B is A reversed)
  const char* expect;  // events A B A B A B
};

// count 2, seconds 60. Changing the source keeps the key for by_dst and
// by_rule; reversing the direction keeps it for by_rule, by_flow, by_both.
// One shared key sees 6 matches: limit AASSSS, threshold NANANA, both
// NASSSS. Two keys see 3 each, interleaved: limit AAAASS, threshold NNAANN,
// both NNAASS.
const TypeTrackCase kTypeTrack[] = {
    {"limit_src_newsrc", "limit", "by_src", true, "AAAASS"},
    {"limit_src_reverse", "limit", "by_src", false, "AAAASS"},
    {"limit_dst_newsrc", "limit", "by_dst", true, "AASSSS"},
    {"limit_dst_reverse", "limit", "by_dst", false, "AAAASS"},
    {"limit_rule_newsrc", "limit", "by_rule", true, "AASSSS"},
    {"limit_rule_reverse", "limit", "by_rule", false, "AASSSS"},
    {"limit_flow_newsrc", "limit", "by_flow", true, "AAAASS"},
    {"limit_flow_reverse", "limit", "by_flow", false, "AASSSS"},
    {"limit_both_newsrc", "limit", "by_both", true, "AAAASS"},
    {"limit_both_reverse", "limit", "by_both", false, "AASSSS"},
    {"threshold_src_newsrc", "threshold", "by_src", true, "NNAANN"},
    {"threshold_src_reverse", "threshold", "by_src", false, "NNAANN"},
    {"threshold_dst_newsrc", "threshold", "by_dst", true, "NANANA"},
    {"threshold_dst_reverse", "threshold", "by_dst", false, "NNAANN"},
    {"threshold_rule_newsrc", "threshold", "by_rule", true, "NANANA"},
    {"threshold_rule_reverse", "threshold", "by_rule", false, "NANANA"},
    {"threshold_flow_newsrc", "threshold", "by_flow", true, "NNAANN"},
    {"threshold_flow_reverse", "threshold", "by_flow", false, "NANANA"},
    {"threshold_both_newsrc", "threshold", "by_both", true, "NNAANN"},
    {"threshold_both_reverse", "threshold", "by_both", false, "NANANA"},
    {"both_src_newsrc", "both", "by_src", true, "NNAASS"},
    {"both_src_reverse", "both", "by_src", false, "NNAASS"},
    {"both_dst_newsrc", "both", "by_dst", true, "NASSSS"},
    {"both_dst_reverse", "both", "by_dst", false, "NNAASS"},
    {"both_rule_newsrc", "both", "by_rule", true, "NASSSS"},
    {"both_rule_reverse", "both", "by_rule", false, "NASSSS"},
    {"both_flow_newsrc", "both", "by_flow", true, "NNAASS"},
    {"both_flow_reverse", "both", "by_flow", false, "NASSSS"},
    {"both_both_newsrc", "both", "by_both", true, "NNAASS"},
    {"both_both_reverse", "both", "by_both", false, "NASSSS"},
};

class TypeTrack : public ::testing::TestWithParam<TypeTrackCase> {};

TEST_P(TypeTrack, CountsPerKey) {
  const TypeTrackCase& c = GetParam();
  std::string rule = std::string("alert ip any any -> any any (msg:\"t\"; threshold: type ") + c.type + ", track " +
                     c.track + ", count 2, seconds 60; sid:100;)";
  auto policy = ThresholdPolicy::build(rules_from(rule), {});
  ASSERT_TRUE(policy->affects(1, 100));
  ThresholdTable table(1024);
  const auto h1 = v4(10, 0, 0, 1), h2 = v4(10, 0, 0, 2), h3 = v4(10, 0, 0, 3);
  std::vector<ThresholdEvent> events;
  for (int i = 0; i < 3; ++i) {
    events.push_back(ev(100, h1, h2, 1, (10 + 2 * i) * kSec));
    if (c.vary_src) events.push_back(ev(100, h3, h2, 2, (11 + 2 * i) * kSec));
    else events.push_back(ev(100, h2, h1, 1, (11 + 2 * i) * kSec));
  }
  EXPECT_EQ(run(*policy, table, events), c.expect);
}

INSTANTIATE_TEST_SUITE_P(Threshold, TypeTrack, ::testing::ValuesIn(kTypeTrack),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Threshold, ByBothIsOneEntryForBothDirectionsInIpv6) {
  auto policy = ThresholdPolicy::build(
      rules_from("alert ip any any -> any any (threshold: type limit, track by_both, count 2, seconds 60; sid:7;)"),
      {});
  ThresholdTable table(64);
  std::array<uint8_t, 16> a{0x20, 0x01, 0x0d, 0xb8}, b{0x20, 0x01, 0x0d, 0xb8};
  a[15] = 1;
  b[15] = 2;
  std::vector<ThresholdEvent> events;
  for (int i = 0; i < 4; ++i) {
    ThresholdEvent e = ev(7, i % 2 ? b : a, i % 2 ? a : b, 0, i * kSec);
    e.ipv6 = true;
    events.push_back(e);
  }
  EXPECT_EQ(run(*policy, table, events), "AASS");
  // The IPv4 address with the same leading bytes is another host.
  ThresholdEvent e4 = ev(7, v4(0x20, 0x01, 0x0d, 0xb8), v4(0x20, 0x01, 0x0d, 0xb8), 0, 5 * kSec);
  EXPECT_EQ(letter(table.evaluate(*policy, e4)), 'A');
}

// ---------------------------------------------------------------------------
// Windows over packet time

std::string timed(const char* keyword, const std::vector<uint64_t>& ts_us) {
  auto policy = ThresholdPolicy::build(
      rules_from(std::string("alert ip any any -> any any (") + keyword + " sid:5;)"), {});
  ThresholdTable table(64);
  std::vector<ThresholdEvent> events;
  for (uint64_t t : ts_us) events.push_back(ev(5, v4(1, 1, 1, 1), v4(2, 2, 2, 2), 9, t * kUs));
  return run(*policy, table, events);
}

constexpr uint64_t S = 1000000;  // one second in microseconds

TEST(ThresholdWindow, LimitWindowEndIsInclusiveToTheMicrosecond) {
  // Window from the first match; t0 + 10 s is inside, one microsecond later
  // starts a new window at that packet.
  EXPECT_EQ(timed("threshold: type limit, track by_src, count 1, seconds 10;",
                  {0, 5 * S, 10 * S, 10 * S + 1, 15 * S, 20 * S + 1, 20 * S + 2}),
            "ASSASSA");
}

TEST(ThresholdWindow, ThresholdKeepsItsWindowStartAfterAnAlert) {
  // count 3 / 10 s: expiry at 11 restarts at count 1; the alert at 13 resets
  // the count but the window still runs from 11 to 21.
  EXPECT_EQ(timed("threshold: type threshold, track by_src, count 3, seconds 10;",
                  {0, 4 * S, 11 * S, 12 * S, 13 * S, 14 * S, 21 * S, 21 * S + S / 2, 22 * S, 23 * S}),
            "NNNNANNNNA");
}

TEST(ThresholdWindow, BothAlertsOncePerWindow) {
  EXPECT_EQ(timed("threshold: type both, track by_src, count 2, seconds 10;",
                  {0, 1 * S, 2 * S, 10 * S, 10 * S + S / 2, 11 * S, 12 * S}),
            "NASSNAS");
  // count 1: the first match of each window alerts.
  EXPECT_EQ(timed("threshold: type both, track by_src, count 1, seconds 10;", {0, 1 * S, 11 * S, 12 * S}), "ASAS");
}

TEST(ThresholdWindow, ThresholdCountOneAlertsEveryMatch) {
  EXPECT_EQ(timed("threshold: type threshold, track by_src, count 1, seconds 10;", {0, 1 * S, 30 * S, 31 * S}),
            "AAAA");
}

TEST(ThresholdWindow, DetectionFilterAlertsOnlyAfterTheCountIsExceeded) {
  // count 2 / 10 s: the third match alerts; past the window it starts over.
  EXPECT_EQ(timed("detection_filter: track by_src, count 2, seconds 10;",
                  {0, 1 * S, 2 * S, 3 * S, 11 * S, 12 * S, 13 * S}),
            "NNAANNA");
}

// Suricata 8's backoff (suricata-verify threshold-rule-flow-backoff-single-
// flow): per flow, alerts on match count * multiplier^k; the others are
// silent matches (a drop still applies). Another flow counts on its own.
TEST(ThresholdBackoff, AlertsOnCountTimesPowersOfTheMultiplier) {
  auto alert_points = [](const char* opts, int matches) {
    auto policy = ThresholdPolicy::build(
        rules_from(std::string("alert tcp any any -> any any (threshold: ") + opts + "; sid:9;)\n"), {});
    ThresholdTable table(64);
    std::vector<int> points;
    for (int i = 1; i <= matches; ++i) {
      const ThresholdOutcome o = table.evaluate(*policy, ev(9, v4(10, 0, 0, 1), v4(10, 0, 0, 2), 5, i * kSec));
      if (o.decision == AlertDecision::kAlert) points.push_back(i);
      else EXPECT_EQ(o.decision, AlertDecision::kSuppress) << i;
    }
    return points;
  };
  EXPECT_EQ(alert_points("type backoff, track by_flow, count 1, multiplier 2", 70),
            (std::vector<int>{1, 2, 4, 8, 16, 32, 64}));
  EXPECT_EQ(alert_points("type backoff, track by_flow, count 3, multiplier 2", 100),
            (std::vector<int>{3, 6, 12, 24, 48, 96}));
  EXPECT_EQ(alert_points("type backoff, track by_flow, count 5, multiplier 5", 700),
            (std::vector<int>{5, 25, 125, 625}));
  // The suricata-verify counts over 6,676 matches: 13, 12 and 5 alerts.
  EXPECT_EQ(alert_points("type backoff, track by_flow, count 1, multiplier 2", 6676).size(), 13u);
  EXPECT_EQ(alert_points("type backoff, track by_flow, count 3, multiplier 2", 6676).size(), 12u);
  EXPECT_EQ(alert_points("type backoff, track by_flow, count 5, multiplier 5", 6676).size(), 5u);

  auto policy = ThresholdPolicy::build(
      rules_from("alert tcp any any -> any any (threshold: type backoff, track by_flow, count 2, multiplier 2; sid:9;)\n"),
      {});
  ThresholdTable table(64);
  std::string seq;
  for (int i = 0; i < 4; ++i)
    for (uint64_t flow : {1, 2}) seq += letter(table.evaluate(*policy, ev(9, v4(10, 0, 0, 1), v4(10, 0, 0, 2), flow, kSec)));
  EXPECT_EQ(seq, "SSAASSAA") << "each flow: silent, 2nd alerts, silent, 4th alerts";
}

// ---------------------------------------------------------------------------
// suricata-verify: threshold/detection_filter-rule-{flow,hostsrc}. icmp.pcap
// holds 8 echo requests from 192.168.0.89 to 192.168.0.1 (each one twice,
// microseconds apart) within 4 seconds; test.yaml pins 8/7/6/4/1/0 alerts.

const uint64_t kIcmpTs[] = {1309144887024263, 1309144887024291, 1309144888024534, 1309144888024850,
                            1309144889025473, 1309144889025498, 1309144890026576, 1309144890026605};

void icmp_detection_filter(const char* track) {
  std::string rules = "alert icmp any any -> any any (itype:8; sid:1;)\n";
  const int counts[] = {1, 2, 4, 7, 8};
  for (int i = 0; i < 5; ++i)
    rules += std::string("alert icmp any any -> any any (itype:8; detection_filter:track ") + track + ", count " +
             std::to_string(counts[i]) + ", seconds 3600; sid:" + std::to_string(i + 2) + ";)\n";
  auto policy = ThresholdPolicy::build(rules_from(rules), {});
  EXPECT_FALSE(policy->affects(1, 1));
  ThresholdTable table(256);
  int alerts[7] = {};
  for (uint64_t ts : kIcmpTs) {
    for (uint32_t sid = 1; sid <= 6; ++sid) {
      ThresholdOutcome o = table.evaluate(*policy, ev(sid, v4(192, 168, 0, 89), v4(192, 168, 0, 1), 77, ts * kUs));
      if (o.decision == AlertDecision::kAlert) ++alerts[sid];
      else EXPECT_EQ(o.decision, AlertDecision::kNoMatch);
    }
  }
  EXPECT_EQ(alerts[1], 8);
  EXPECT_EQ(alerts[2], 7);
  EXPECT_EQ(alerts[3], 6);
  EXPECT_EQ(alerts[4], 4);
  EXPECT_EQ(alerts[5], 1);
  EXPECT_EQ(alerts[6], 0);
  EXPECT_EQ(table.counters().detection_filter_held, 1u + 2 + 4 + 7 + 8);
}

TEST(SuricataVerify, DetectionFilterRuleFlow) { icmp_detection_filter("by_flow"); }
TEST(SuricataVerify, DetectionFilterRuleHostSrc) { icmp_detection_filter("by_src"); }

// suricata-verify threshold-config-*: input.pcap is one HTTP download
// between 145.254.160.237:3372 and 65.208.228.223:80. The rule
// `dsize:0; sid:1000001` matches its 19 empty segments: 15 from the client,
// 4 from the server (frames 2, 5, 31 and 34), spread over 30 seconds.
struct Segment {
  uint64_t ts_us;
  bool from_client;
};
const Segment kHttpEmpty[] = {
    {1084443427311224, true},  {1084443428222534, false}, {1084443428222534, true},  {1084443428783340, false},
    {1084443429123830, true},  {1084443429324118, true},  {1084443429864896, true},  {1084443430125270, true},
    {1084443430325558, true},  {1084443430806249, true},  {1084443431126710, true},  {1084443431527286, true},
    {1084443431667488, true},  {1084443431807689, true},  {1084443432328438, true},  {1084443445216971, false},
    {1084443445216971, true},  {1084443457374452, true},  {1084443457704928, false},
};

std::vector<ThresholdEvent> http_events() {
  const auto client = v4(145, 254, 160, 237), server = v4(65, 208, 228, 223);
  std::vector<ThresholdEvent> out;
  for (const Segment& s : kHttpEmpty)
    out.push_back(ev(1000001, s.from_client ? client : server, s.from_client ? server : client, 42, s.ts_us * kUs));
  return out;
}

struct HttpCounts {
  int alerts = 0, silent = 0, no_match = 0;
  int blocked = 0, allowed = 0;  // drop rule: action kept / turned into alert
};

HttpCounts http_run(const char* rule_action, const ThresholdConfig& cfg, const RuleVars& vars) {
  auto rules = rules_from(std::string(rule_action) + " tcp any any -> any any (dsize:0; sid: 1000001;)", vars);
  auto policy = ThresholdPolicy::build(rules, cfg);
  ThresholdTable table(1024);
  HttpCounts c;
  for (const ThresholdEvent& e : http_events()) {
    ThresholdOutcome o = table.evaluate(*policy, e);
    if (o.decision == AlertDecision::kAlert) ++c.alerts;
    if (o.decision == AlertDecision::kSuppress) ++c.silent;
    if (o.decision == AlertDecision::kNoMatch) ++c.no_match;
    if (o.decision != AlertDecision::kNoMatch) {
      RuleAction a = o.new_action.value_or(rules[0].action);
      if (a == RuleAction::kDrop) ++c.blocked;
      if (a == RuleAction::kAlert) ++c.allowed;
    }
  }
  return c;
}

HttpCounts http_run(const char* rule_action, const std::string& config, const RuleVars& vars) {
  return http_run(rule_action, config_from(config, vars), vars);
}

HttpCounts http_run(const char* rule_action, const std::string& config) {
  return http_run(rule_action, config, RuleVars::suricata_defaults());
}

TEST(SuricataVerify, SuppressByDstIp) {
  // 15 alerts; the 4 suppressed matches still drop (19 drops in test.yaml).
  HttpCounts c = http_run("drop", "suppress gen_id 1, sig_id 1000001, track by_dst, ip 145.254.160.237\n");
  EXPECT_EQ(c.alerts, 15);
  EXPECT_EQ(c.silent, 4);
  EXPECT_EQ(c.blocked, 19);
}

TEST(SuricataVerify, SuppressByDstSubnet) {
  HttpCounts c = http_run("drop", "suppress gen_id 1, sig_id 1000001, track by_dst, ip 145.254.160.0/24\n");
  EXPECT_EQ(c.alerts, 15);
  EXPECT_EQ(c.blocked, 19);
}

TEST(SuricataVerify, SuppressBySrcIp) {
  HttpCounts c = http_run("drop", "suppress gen_id 1, sig_id 1000001, track by_src, ip 145.254.160.237\n");
  EXPECT_EQ(c.alerts, 4);
  EXPECT_EQ(c.silent, 15);
  EXPECT_EQ(c.blocked, 19);
}

TEST(SuricataVerify, SuppressByEither) {
  for (const char* ip : {"145.254.160.237", "145.254.160.0/24"}) {
    HttpCounts c = http_run("drop", std::string("suppress gen_id 1, sig_id 1000001, track by_either, ip ") + ip + "\n");
    EXPECT_EQ(c.alerts, 0) << ip;
    EXPECT_EQ(c.blocked, 19) << ip;
  }
  RuleVars vars = RuleVars::suricata_defaults();
  vars.address["SUPPRESS"] = "[10.0.0.0/8,20.0.0.0/16,145.0.0.0/8]";
  HttpCounts c = http_run("drop", "suppress gen_id 1, sig_id 1000001, track by_either, ip $SUPPRESS\n", vars);
  EXPECT_EQ(c.alerts, 0);
  EXPECT_EQ(c.silent, 19);
}

TEST(SuricataVerify, ThresholdConfigLimitByFlow) {
  HttpCounts c =
      http_run("alert", "threshold gen_id 1, sig_id 1000001, type limit, track by_flow, count 1, seconds 60\n");
  EXPECT_EQ(c.alerts, 1);
  EXPECT_EQ(c.silent, 18);
}

TEST(SuricataVerify, ThresholdConfigThresholdByFlow) {
  HttpCounts c =
      http_run("alert", "threshold gen_id 1, sig_id 1000001, type threshold, track by_flow, count 5, seconds 60\n");
  EXPECT_EQ(c.alerts, 3);
  EXPECT_EQ(c.no_match, 16);
}

TEST(SuricataVerify, RateFilterByFlow) {
  // The first 3 matches keep `drop`; from the 4th on the action is alert.
  // `rate_filter ..., track by_flow, count 3, seconds 60, new_action alert,
  // timeout 1000` (Suricata 8 syntax; built directly as the config reader
  // does not take by_flow for rate_filter).
  ThresholdConfig cfg;
  ThresholdEntry e;
  e.kind = ThresholdEntry::Kind::kRateFilter;
  e.sid = 1000001;
  e.track = ThresholdTrack::kByFlow;
  e.count = 3;
  e.seconds = 60;
  e.new_action = RuleAction::kAlert;
  e.timeout = 1000;
  cfg.entries.push_back(e);
  HttpCounts c = http_run("drop", cfg, RuleVars::suricata_defaults());
  EXPECT_EQ(c.alerts, 19);
  EXPECT_EQ(c.blocked, 3);
  EXPECT_EQ(c.allowed, 16);
}

TEST(SuricataVerify, RateFilterByDstAndBySrc) {
  // count 1: the first match per host keeps `drop`, one per direction.
  for (const char* track : {"by_dst", "by_src"}) {
    HttpCounts c = http_run("drop", std::string("rate_filter gen_id 1, sig_id 1000001, track ") + track +
                                        ", count 1, seconds 60, new_action alert, timeout 1000\n");
    EXPECT_EQ(c.alerts, 19) << track;
    EXPECT_EQ(c.blocked, 2) << track;
    EXPECT_EQ(c.allowed, 17) << track;
  }
}

// ---------------------------------------------------------------------------
// rate_filter timeout

TEST(RateFilter, NewActionLastsForTimeoutSeconds) {
  auto rules = rules_from("alert tcp any any -> any any (sid:30;)");
  auto policy = ThresholdPolicy::build(
      rules, config_from(
                 "rate_filter gen_id 1, sig_id 30, track by_rule, count 1, seconds 60, new_action drop, timeout 5\n"));
  ThresholdTable table(64);
  // 0: first match. 1: count 2 > 1, drop from second 1. 6: 6-1 = 5, still.
  // 7: over, back to the rule action. 8: counting resumes in the old window
  // (from 0): count 3 > 1, drop again from 8. 100: over. 101: the window has
  // passed, count restarts at 1. 102: count 2 > 1.
  const uint64_t secs[] = {0, 1, 6, 7, 8, 100, 101, 102};
  std::string got;
  for (uint64_t t : secs) {
    ThresholdOutcome o = table.evaluate(*policy, ev(30, v4(1, 2, 3, 4), v4(5, 6, 7, 8), 1, (1000 + t) * kSec));
    EXPECT_EQ(o.decision, AlertDecision::kAlert);
    got += o.new_action ? (*o.new_action == RuleAction::kDrop ? 'D' : '?') : '-';
  }
  EXPECT_EQ(got, "-DD-D--D");
  EXPECT_EQ(table.counters().rate_filter_changed, 4u);
}

// ---------------------------------------------------------------------------
// threshold.config precedence

TEST(ThresholdPolicy, ConfigEntryForTheSidReplacesTheRulesOwn) {
  auto rules = rules_from(
      "alert ip any any -> any any (threshold: type limit, track by_src, count 1, seconds 60; sid:20;)\n"
      "alert ip any any -> any any (detection_filter: track by_src, count 2, seconds 60; sid:21;)\n");
  auto policy = ThresholdPolicy::build(
      rules, config_from("threshold gen_id 1, sig_id 20, type threshold, track by_src, count 2, seconds 60\n"
                         "event_filter gen_id 1, sig_id 21, type limit, track by_src, count 1, seconds 60\n"));
  const ThresholdPolicy::RuleEntry* e = policy->find(1, 20);
  ASSERT_NE(e, nullptr);
  ASSERT_EQ(e->specs.size(), 1u);
  EXPECT_EQ(e->specs[0].kind, ThresholdPolicy::Spec::Kind::kThreshold);
  ThresholdTable table(64);
  std::vector<ThresholdEvent> a, b;
  for (int i = 0; i < 4; ++i) {
    a.push_back(ev(20, v4(1, 1, 1, 1), v4(2, 2, 2, 2), 0, i * kSec));
    b.push_back(ev(21, v4(1, 1, 1, 1), v4(2, 2, 2, 2), 0, i * kSec));
  }
  EXPECT_EQ(run(*policy, table, a), "NANA");  // the rule alone would give ASSS
  EXPECT_EQ(run(*policy, table, b), "ASSS");  // the rule alone would give NNAA
}

TEST(ThresholdPolicy, LastConfigEntryForASidWins) {
  auto rules = rules_from("alert ip any any -> any any (sid:22;)");
  auto policy = ThresholdPolicy::build(
      rules, config_from("threshold gen_id 1, sig_id 22, type limit, track by_src, count 3, seconds 60\n"
                         "threshold gen_id 1, sig_id 22, type limit, track by_src, count 1, seconds 60\n"));
  ThresholdTable table(64);
  std::vector<ThresholdEvent> a;
  for (int i = 0; i < 3; ++i) a.push_back(ev(22, v4(1, 1, 1, 1), v4(2, 2, 2, 2), 0, i * kSec));
  EXPECT_EQ(run(*policy, table, a), "ASS");
}

TEST(ThresholdPolicy, RateFilterDoesNotOverrideARuleThreshold) {
  auto rules = rules_from(
      "drop ip any any -> any any (threshold: type limit, track by_src, count 1, seconds 60; sid:23;)");
  std::vector<ThresholdConfigError> warnings;
  auto policy = ThresholdPolicy::build(
      rules,
      config_from("rate_filter gen_id 1, sig_id 23, track by_rule, count 1, seconds 60, new_action alert, timeout 9\n"),
      &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0].line, 1u);
  EXPECT_NE(warnings[0].reason.find("rate_filter"), std::string::npos);
  ThresholdTable table(64);
  ThresholdOutcome first = table.evaluate(*policy, ev(23, v4(1, 1, 1, 1), v4(2, 2, 2, 2), 0, 0));
  ThresholdOutcome second = table.evaluate(*policy, ev(23, v4(1, 1, 1, 1), v4(2, 2, 2, 2), 0, kSec));
  EXPECT_EQ(first.decision, AlertDecision::kAlert);
  EXPECT_EQ(second.decision, AlertDecision::kSuppress);
  EXPECT_FALSE(second.new_action);
}

TEST(ThresholdPolicy, GlobalEntriesApplyOnlyToRulesWithoutTheirOwn) {
  auto rules = rules_from(
      "alert ip any any -> any any (sid:10;)\n"
      "alert ip any any -> any any (threshold: type threshold, track by_rule, count 2, seconds 60; sid:11;)\n"
      "alert ip any any -> any any (gid:3; sid:12;)\n");
  std::vector<ThresholdConfigError> warnings;
  auto policy = ThresholdPolicy::build(
      rules,
      config_from("threshold gen_id 0, sig_id 0, type limit, track by_rule, count 1, seconds 60\n"
                  // A second global entry finds sid 10 already set: ignored.
                  "threshold gen_id 0, sig_id 0, type limit, track by_rule, count 3, seconds 60\n"
                  "suppress gen_id 0, sig_id 5\n"
                  "suppress gen_id 1, sig_id 999\n"),
      &warnings);
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_EQ(warnings[0].line, 3u);
  EXPECT_EQ(warnings[1].line, 4u);
  ThresholdTable table(64);
  for (uint32_t sid : {10u, 11u}) {
    std::vector<ThresholdEvent> a;
    for (int i = 0; i < 4; ++i) a.push_back(ev(sid, v4(1, 1, 1, 1), v4(2, 2, 2, 2), 0, i * kSec));
    EXPECT_EQ(run(*policy, table, a), sid == 10 ? "ASSS" : "NANA") << sid;
  }
  std::vector<ThresholdEvent> g3;
  for (int i = 0; i < 3; ++i) {
    g3.push_back(ev(12, v4(1, 1, 1, 1), v4(2, 2, 2, 2), 0, i * kSec));
    g3.back().gid = 3;
  }
  EXPECT_EQ(run(*policy, table, g3), "ASS");  // gid 0 covers every generator
}

TEST(ThresholdPolicy, GeneratorWideEntryAndGlobalSuppress) {
  auto rules = rules_from(
      "alert ip any any -> any any (sid:40;)\n"
      "alert ip any any -> any any (gid:2; sid:41;)\n");
  auto policy = ThresholdPolicy::build(
      rules, config_from("threshold gen_id 2, sig_id 0, type limit, track by_src, count 1, seconds 60\n"
                         "suppress gen_id 0, sig_id 0, track by_src, ip 9.9.9.9\n"));
  ThresholdTable table(64);
  auto mk = [](uint32_t gid, uint32_t sid, std::array<uint8_t, 16> src, int i) {
    ThresholdEvent e = ev(sid, src, v4(2, 2, 2, 2), 0, i * kSec);
    e.gid = gid;
    return e;
  };
  EXPECT_EQ(run(*policy, table, {mk(1, 40, v4(1, 1, 1, 1), 0), mk(1, 40, v4(1, 1, 1, 1), 1),
                                 mk(1, 40, v4(9, 9, 9, 9), 2)}),
            "AAS");
  EXPECT_EQ(run(*policy, table, {mk(2, 41, v4(1, 1, 1, 1), 0), mk(2, 41, v4(1, 1, 1, 1), 1),
                                 mk(2, 41, v4(9, 9, 9, 9), 2)}),
            "ASS");
}

TEST(ThresholdPolicy, SuppressedMatchesAreNotCounted) {
  auto rules = rules_from(
      "alert ip any any -> any any (threshold: type limit, track by_dst, count 1, seconds 60; sid:50;)");
  auto policy =
      ThresholdPolicy::build(rules, config_from("suppress gen_id 1, sig_id 50, track by_src, ip 10.0.0.1\n"));
  ThresholdTable table(64);
  const auto dst = v4(2, 2, 2, 2);
  // Had the first (suppressed) match counted, 10.0.0.2 would be over the limit.
  EXPECT_EQ(run(*policy, table,
                {ev(50, v4(10, 0, 0, 1), dst, 0, 0), ev(50, v4(10, 0, 0, 2), dst, 0, kSec),
                 ev(50, v4(10, 0, 0, 1), dst, 0, 2 * kSec), ev(50, v4(10, 0, 0, 3), dst, 0, 3 * kSec)}),
            "SASS");
  ThresholdCounterValues c = table.counters();
  EXPECT_EQ(c.evaluated, 4u);
  EXPECT_EQ(c.suppressed, 2u);
  EXPECT_EQ(c.thresholded, 1u);
}

TEST(ThresholdPolicy, SuppressWithoutTrackStillCounts) {
  auto rules = rules_from(
      "drop ip any any -> any any (threshold: type threshold, track by_src, count 2, seconds 60; sid:51;)\n"
      "alert ip any any -> any any (sid:52;)\n");
  auto policy = ThresholdPolicy::build(rules, config_from("suppress gen_id 1, sig_id 51\n"));
  EXPECT_FALSE(policy->affects(1, 52));
  ThresholdTable table(64);
  std::vector<ThresholdEvent> a;
  for (int i = 0; i < 4; ++i) a.push_back(ev(51, v4(1, 1, 1, 1), v4(2, 2, 2, 2), 0, i * kSec));
  // Never an alert, but the threshold still decides when the drop applies.
  EXPECT_EQ(run(*policy, table, a), "NSNS");
  EXPECT_EQ(letter(table.evaluate(*policy, ev(52, v4(1, 1, 1, 1), v4(2, 2, 2, 2), 0, 0))), 'A');
}

// ---------------------------------------------------------------------------
// Table: capacity, ageing, workers

TEST(ThresholdTable, FullTableFailsOpenAndCounts) {
  auto policy = ThresholdPolicy::build(
      rules_from("alert ip any any -> any any (threshold: type limit, track by_src, count 1, seconds 10; sid:60;)"),
      {});
  ThresholdTable table(16);  // one probe window: exactly 16 keys fit
  ASSERT_EQ(table.capacity(), 16u);
  for (int round = 0; round < 2; ++round) {
    for (uint8_t h = 0; h < 16; ++h) {
      ThresholdOutcome o = table.evaluate(*policy, ev(60, v4(10, 0, 0, h), v4(2, 2, 2, 2), 0, round * kSec));
      EXPECT_EQ(o.decision, round == 0 ? AlertDecision::kAlert : AlertDecision::kSuppress);
    }
  }
  EXPECT_EQ(table.used(), 16u);
  // A 17th host has no slot: it alerts every time instead of being limited.
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(letter(table.evaluate(*policy, ev(60, v4(10, 0, 1, 0), v4(2, 2, 2, 2), 0, (2 + i) * kSec))), 'A');
  EXPECT_EQ(table.counters().table_full, 2u);
}

TEST(ThresholdTable, AgedEntriesMakeRoom) {
  auto policy = ThresholdPolicy::build(
      rules_from("alert ip any any -> any any (threshold: type limit, track by_src, count 1, seconds 10; sid:61;)"),
      {});
  ThresholdTable table(16);
  for (uint8_t h = 0; h < 16; ++h) table.evaluate(*policy, ev(61, v4(10, 0, 0, h), v4(2, 2, 2, 2), 0, 0));
  // At t=10 s the windows are still open: no room.
  EXPECT_EQ(letter(table.evaluate(*policy, ev(61, v4(10, 0, 9, 9), v4(2, 2, 2, 2), 0, 10 * kSec))), 'A');
  EXPECT_EQ(table.counters().table_full, 1u);
  // Past the window every old entry is reusable: 16 new hosts are limited.
  for (int round = 0; round < 2; ++round)
    for (uint8_t h = 0; h < 16; ++h)
      EXPECT_EQ(letter(table.evaluate(*policy, ev(61, v4(10, 0, 1, h), v4(2, 2, 2, 2), 0, (11 + round) * kSec))),
                round == 0 ? 'A' : 'S');
  EXPECT_EQ(table.counters().table_full, 1u);
}

TEST(ThresholdTable, RunningRateFilterTimeoutIsNotAgedOut) {
  auto rules = rules_from("alert tcp any any -> any any (sid:62;)\nalert tcp any any -> any any (sid:63;)\n");
  auto policy = ThresholdPolicy::build(
      rules,
      config_from(
          "rate_filter gen_id 1, sig_id 62, track by_rule, count 1, seconds 1, new_action drop, timeout 100\n"
          "threshold gen_id 1, sig_id 63, type limit, track by_src, count 1, seconds 1\n"));
  ThresholdTable table(16);
  const uint64_t t0 = 1000 * kSec;  // a rate timeout set at second 0 would read as "none"
  table.evaluate(*policy, ev(62, v4(1, 1, 1, 1), v4(2, 2, 2, 2), 0, t0));
  EXPECT_TRUE(table.evaluate(*policy, ev(62, v4(1, 1, 1, 1), v4(2, 2, 2, 2), 0, t0 + kSec / 2)).new_action);
  // Fill the other 15 slots, then let time pass their 1 s window but not the
  // 100 s timeout and push 16 new hosts through: 15 reuse the aged slots, the
  // 16th finds none, because the running timeout keeps its entry.
  for (uint8_t h = 0; h < 15; ++h) table.evaluate(*policy, ev(63, v4(10, 0, 0, h), v4(2, 2, 2, 2), 0, t0));
  for (uint8_t h = 0; h < 16; ++h)
    table.evaluate(*policy, ev(63, v4(10, 0, 1, h), v4(2, 2, 2, 2), 0, t0 + 50 * kSec));
  EXPECT_EQ(table.counters().table_full, 1u);
  ThresholdOutcome o = table.evaluate(*policy, ev(62, v4(1, 1, 1, 1), v4(2, 2, 2, 2), 0, t0 + 60 * kSec));
  ASSERT_TRUE(o.new_action);
  EXPECT_EQ(*o.new_action, RuleAction::kDrop);
}

constexpr int kThreads = 4;

// Runs fn(thread index) on kThreads threads released together.
template <typename F>
void together(F fn) {
  std::atomic<int> ready{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) {
      }
      fn(t);
    });
  for (auto& t : ts) t.join();
}

TEST(ThresholdTableConcurrency, LimitOnOneKeyAlertsExactlyCountTimes) {
  auto policy = ThresholdPolicy::build(
      rules_from(
          "alert ip any any -> any any (threshold: type limit, track by_src, count 1, seconds 3600; sid:70;)\n"
          "alert ip any any -> any any (threshold: type threshold, track by_src, count 100, seconds 3600; sid:71;)\n"
          "alert ip any any -> any any (detection_filter: track by_src, count 1000, seconds 3600; sid:72;)\n"),
      {});
  ThresholdTable table(4096);
  constexpr int kPerThread = 20000;
  std::atomic<int> alerts[3] = {};
  together([&](int t) {
    for (int i = 0; i < kPerThread; ++i) {
      for (uint32_t sid = 70; sid <= 72; ++sid) {
        // Different destinations and flows per thread: only the source is shared.
        ThresholdEvent e = ev(sid, v4(10, 1, 1, 1), v4(10, 2, 0, static_cast<uint8_t>(t)), t, kSec + i);
        if (table.evaluate(*policy, e).decision == AlertDecision::kAlert) alerts[sid - 70].fetch_add(1);
      }
    }
  });
  constexpr int kTotal = kThreads * kPerThread;
  EXPECT_EQ(alerts[0].load(), 1);
  EXPECT_EQ(alerts[1].load(), kTotal / 100);
  EXPECT_EQ(alerts[2].load(), kTotal - 1000);
  EXPECT_EQ(table.counters().evaluated, 3u * kTotal);
  EXPECT_EQ(table.counters().table_full, 0u);
}

TEST(ThresholdTableConcurrency, NewKeysSeenByAllWorkersAtOnceAreCreatedOnce) {
  auto policy = ThresholdPolicy::build(
      rules_from("alert ip any any -> any any (threshold: type limit, track by_src, count 1, seconds 3600; sid:73;)"),
      {});
  ThresholdTable table(16384);
  constexpr int kHosts = 3000;
  std::atomic<int> alerts{0};
  together([&](int) {
    for (int h = 0; h < kHosts; ++h) {
      ThresholdEvent e = ev(73, v4(172, 16, static_cast<uint8_t>(h >> 8), static_cast<uint8_t>(h)),
                            v4(2, 2, 2, 2), 0, kSec);
      if (table.evaluate(*policy, e).decision == AlertDecision::kAlert) alerts.fetch_add(1);
    }
  });
  EXPECT_EQ(alerts.load(), kHosts);
  EXPECT_EQ(table.used(), static_cast<size_t>(kHosts));
  EXPECT_EQ(table.counters().table_full, 0u);
}

}  // namespace
}  // namespace ws
