#include "rules/threshold_config.h"

#include <gtest/gtest.h>

namespace ws {
namespace {

const RuleVars kVars = RuleVars::suricata_defaults();

TEST(ThresholdConfig, ParsesEveryEntryKind) {
  ThresholdConfig c = parse_threshold_config_text(
      "# comment\n"
      "threshold gen_id 1, sig_id 2001, type limit, track by_src, count 1, seconds 60\n"
      "event_filter gen_id 1, sig_id 2002, type both, track by_dst, count 10, seconds 5\n"
      "suppress gen_id 1, sig_id 2003\n"
      "suppress gen_id 1, sig_id 2004, track by_either, ip [10.0.0.0/8, 1.2.3.4]\n"
      "suppress gen_id 1, sig_id 2005, track by_src, ip $HOME_NET\n"
      "rate_filter gen_id 1, sig_id 2006, track by_rule, count 100, seconds 60, new_action drop, timeout 30\n"
      "threshold gen_id 0, sig_id 0, type threshold, track by_flow, count 3, seconds 1\n",
      "threshold.config", kVars);
  ASSERT_TRUE(c.errors.empty()) << c.errors[0].str();
  ASSERT_EQ(c.entries.size(), 7u);
  const ThresholdEntry& t = c.entries[0];
  EXPECT_EQ(t.kind, ThresholdEntry::Kind::kThreshold);
  EXPECT_EQ(t.gid, 1u);
  EXPECT_EQ(t.sid, 2001u);
  EXPECT_EQ(t.type, ThresholdType::kLimit);
  EXPECT_EQ(t.track, ThresholdTrack::kBySrc);
  EXPECT_EQ(t.count, 1u);
  EXPECT_EQ(t.seconds, 60u);
  EXPECT_EQ(t.line, 2u);
  EXPECT_EQ(c.entries[1].kind, ThresholdEntry::Kind::kEventFilter);
  EXPECT_EQ(c.entries[1].type, ThresholdType::kBoth);
  EXPECT_EQ(c.entries[1].track, ThresholdTrack::kByDst);
  EXPECT_EQ(c.entries[2].kind, ThresholdEntry::Kind::kSuppress);
  EXPECT_FALSE(c.entries[2].ip.has_value());
  const ThresholdEntry& s = c.entries[3];
  EXPECT_EQ(s.track, ThresholdTrack::kByEither);
  ASSERT_TRUE(s.ip);
  ASSERT_EQ(s.ip->kind, AddressNode::Kind::kList);
  EXPECT_EQ(s.ip->children.size(), 2u);
  EXPECT_EQ(s.ip->children[1].prefix.bytes[3], 4);
  ASSERT_TRUE(c.entries[4].ip);
  EXPECT_EQ(c.entries[4].ip->var, "HOME_NET");
  EXPECT_EQ(c.entries[4].ip->children.size(), 3u);
  const ThresholdEntry& r = c.entries[5];
  EXPECT_EQ(r.kind, ThresholdEntry::Kind::kRateFilter);
  EXPECT_EQ(r.track, ThresholdTrack::kByRule);
  EXPECT_EQ(r.new_action, RuleAction::kDrop);
  EXPECT_EQ(r.timeout, 30u);
  EXPECT_EQ(r.count, 100u);
  EXPECT_EQ(c.entries[6].gid, 0u);
  EXPECT_EQ(c.entries[6].sid, 0u);
  EXPECT_EQ(c.entries[6].track, ThresholdTrack::kByFlow);
}

TEST(ThresholdConfig, ReportsBadLines) {
  struct Case {
    std::string line, error;
  } cases[] = {
      {"threshold gen_id 1, sig_id 1, type limit, track by_src, count 1", "t:1: missing seconds"},
      {"threshold gen_id 1, type limit, track by_src, count 1, seconds 1", "t:1: missing sig_id"},
      {"threshold gen_id 1, sig_id 1, type often, track by_src, count 1, seconds 1",
       "t:1: type must be limit, threshold or both, got 'often'"},
      {"suppress gen_id 1, sig_id 1, track by_rule, ip 1.2.3.4",
       "t:1: track must be by_src, by_dst or by_either, got 'by_rule'"},
      {"suppress gen_id 1, sig_id 1, track by_src", "t:1: suppress needs both 'track' and 'ip', or neither"},
      {"suppress gen_id 1, sig_id 1, track by_src, ip 300.1.1.1", "t:1: ip: invalid address '300.1.1.1'"},
      {"suppress gen_id 1, sig_id 1, track by_src, ip $NOPE", "t:1: ip: unknown address variable '$NOPE'"},
      {"suppress gen_id 1, sig_id 1, count 3", "t:1: unexpected 'count' in suppress"},
      {"rate_filter gen_id 1, sig_id 1, track by_src, count 1, seconds 1, new_action drop",
       "t:1: missing timeout"},
      {"rate_filter gen_id 1, sig_id 1, track by_either, count 1, seconds 1, new_action drop, timeout 1",
       "t:1: track must be by_src, by_dst, by_rule, by_both or by_flow, got 'by_either'"},
      {"rate_filter gen_id 1, sig_id 1, track by_src, count 1, seconds 1, new_action explode, timeout 1",
       "t:1: new_action must be alert, drop, pass or reject, got 'explode'"},
      {"limit gen_id 1, sig_id 1", "t:1: unknown entry 'limit' (threshold, event_filter, suppress or rate_filter)"},
      {"threshold gen_id 1, gen_id 2, sig_id 1", "t:1: 'gen_id' given twice"},
      {"threshold gen_id x, sig_id 1", "t:1: invalid gen_id 'x'"},
  };
  for (const auto& c : cases) {
    ThresholdConfig cfg = parse_threshold_config_text(c.line, "t", kVars);
    EXPECT_TRUE(cfg.entries.empty()) << c.line;
    ASSERT_EQ(cfg.errors.size(), 1u) << c.line;
    EXPECT_EQ(cfg.errors[0].str(), c.error) << c.line;
  }
}

TEST(ThresholdConfig, GoodLinesSurviveBadOnes) {
  ThresholdConfig c = parse_threshold_config_text(
      "suppress gen_id 1, sig_id 7\nbogus\nsuppress gen_id 1, sig_id 8\n", "t", kVars);
  ASSERT_EQ(c.entries.size(), 2u);
  EXPECT_EQ(c.entries[1].sid, 8u);
  EXPECT_EQ(c.entries[1].line, 3u);
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_EQ(c.errors[0].line, 2u);
}

}  // namespace
}  // namespace ws

namespace ws {
namespace {

TEST(ThresholdConfig, RateFilterByFlow) {
  // Suricata 8 accepts by_flow for rate_filter (suricata-verify
  // threshold-config-rate-filter-alert-flow).
  ThresholdConfig cfg = parse_threshold_config_text(
      "rate_filter gen_id 1, sig_id 7, track by_flow, count 2, seconds 10, new_action drop, timeout 5\n", "t",
      RuleVars::suricata_defaults());
  ASSERT_TRUE(cfg.errors.empty()) << cfg.errors[0].str();
  ASSERT_EQ(cfg.entries.size(), 1u);
  EXPECT_EQ(cfg.entries[0].kind, ThresholdEntry::Kind::kRateFilter);
  EXPECT_EQ(cfg.entries[0].track, ThresholdTrack::kByFlow);
  EXPECT_EQ(cfg.entries[0].new_action, RuleAction::kDrop);
  EXPECT_EQ(cfg.entries[0].timeout, 5u);
}

}  // namespace
}  // namespace ws
