// IP-only rules: the address-segment index (which rules can list an
// address) and the matcher's once-per-direction switch. Expected sets are
// worked out by hand from the specs in each case.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "rules/ip_only.h"
#include "rules/matcher.h"
#include "rules/rule_parser.h"

namespace ws {
namespace {

AddressNode spec(const std::string& text) {
  AddressResult r = parse_address_spec(text, RuleVars::suricata_defaults());
  EXPECT_TRUE(r.node.has_value()) << text << ": " << r.error;
  return r.node ? *r.node : AddressNode{};
}

std::vector<uint32_t> find(const IpOnlyIndex& ix, const std::string& addr) {
  uint8_t a[16] = {};
  const bool v6 = addr.find(':') != std::string::npos;
  EXPECT_EQ(inet_pton(v6 ? AF_INET6 : AF_INET, addr.c_str(), a), 1) << addr;
  auto s = ix.lookup(v6, a);
  std::vector<uint32_t> out(s.begin(), s.end());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(IpOnlyIndex, OverlappingPrefixesRangesAndFamilies) {
  IpOnlyIndex ix;
  ASSERT_TRUE(ix.add(spec("10.0.0.0/8"), 0));
  ASSERT_TRUE(ix.add(spec("[10.1.0.0/16,192.168.1.1]"), 1));
  ASSERT_TRUE(ix.add(spec("10.1.2.3-10.1.2.9"), 2));
  ASSERT_TRUE(ix.add(spec("[2001:db8::/32,::1]"), 3));
  ASSERT_TRUE(ix.add(spec("0.0.0.0/0"), 4));
  ix.build();
  using V = std::vector<uint32_t>;
  EXPECT_EQ(find(ix, "10.2.0.1"), (V{0, 4}));
  EXPECT_EQ(find(ix, "10.1.0.1"), (V{0, 1, 4}));
  EXPECT_EQ(find(ix, "10.1.2.3"), (V{0, 1, 2, 4}));   // first address of the range
  EXPECT_EQ(find(ix, "10.1.2.9"), (V{0, 1, 2, 4}));   // last one: ranges are inclusive
  EXPECT_EQ(find(ix, "10.1.2.10"), (V{0, 1, 4}));
  EXPECT_EQ(find(ix, "192.168.1.1"), (V{1, 4}));
  EXPECT_EQ(find(ix, "192.168.1.2"), (V{4}));
  EXPECT_EQ(find(ix, "255.255.255.255"), (V{4}));     // the top of the space
  EXPECT_EQ(find(ix, "2001:db8:ffff::1"), (V{3}));
  EXPECT_EQ(find(ix, "::1"), (V{3}));                 // not 0.0.0.1: the families are apart
  EXPECT_EQ(find(ix, "::2"), V{});
  EXPECT_EQ(find(ix, "2001:db9::"), V{});
}

TEST(IpOnlyIndex, OnlyPlainPositiveUnionsAreIndexed) {
  EXPECT_TRUE(IpOnlyIndex::indexable(spec("[1.2.3.4,5.6.7.0/24]")));
  EXPECT_TRUE(IpOnlyIndex::indexable(spec("$HOME_NET")));  // a list of private prefixes
  EXPECT_FALSE(IpOnlyIndex::indexable(spec("any")));
  EXPECT_FALSE(IpOnlyIndex::indexable(spec("!1.2.3.4")));
  EXPECT_FALSE(IpOnlyIndex::indexable(spec("[10.0.0.0/8,!10.1.0.0/16]")));
  EXPECT_FALSE(IpOnlyIndex::indexable(spec("$EXTERNAL_NET")));  // !$HOME_NET
  IpOnlyIndex ix;
  EXPECT_FALSE(ix.add(spec("!1.2.3.4"), 7));
  ix.build();
  EXPECT_EQ(ix.segments(), 0u);
}

MatchInput packet(const char* src, const char* dst, uint8_t proto = 6) {
  MatchInput in;
  in.ip_proto = proto;
  inet_pton(AF_INET, src, in.src.data());
  inet_pton(AF_INET, dst, in.dst.data());
  in.sport = 1234;
  in.dport = 80;
  static const uint8_t kPayload[] = {'G', 'E', 'T', ' '};
  in.payload = kPayload;
  return in;
}

TEST(IpOnlyMatch, HeaderOnlyRulesRunOnlyWhenAskedAndInRuleOrder) {
  std::vector<Rule> rules;
  for (const char* t : {
           // 0: IP-only, indexed by source list
           R"(alert ip [198.51.100.0/24,203.0.113.7] any -> any any (msg:"bad host"; flowbits:set,evil; sid:1;))",
           // 1: IP-only with a source the index cannot hold (any): checked on every lookup
           R"(alert tcp any any -> 192.0.2.0/24 any (msg:"to lab"; sid:2;))",
           // 2: ports do not keep a rule out of IP-only (Suricata's
           // SignatureIsIPOnly); they are checked when it is confirmed
           R"(alert tcp any any -> any 80 (msg:"web"; sid:3;))",
           // 3: `<>` IP-only, found by the destination too
           R"(alert ip 203.0.113.0/24 any <> 192.0.2.5 any (msg:"pair"; sid:4;))",
       }) {
    RuleResult r = parse_rule(t, RuleVars::suricata_defaults());
    ASSERT_TRUE(r.rule) << t;
    rules.push_back(*r.rule);
  }
  std::string err;
  auto set = RuleSet::build(rules, &err);
  ASSERT_TRUE(set) << err;
  EXPECT_EQ(set->ip_only_count(), 4u);
  auto scratch = set->make_scratch();
  auto sids = [&](const MatchInput& in, bool ip_only) {
    std::vector<uint32_t> out;
    set->match(in, *scratch, [&](const Rule& r) { out.push_back(r.sid); }, ip_only);
    return out;
  };
  using V = std::vector<uint32_t>;
  EXPECT_EQ(sids(packet("203.0.113.7", "192.0.2.9"), true), (V{1, 2, 3}));
  EXPECT_EQ(sids(packet("203.0.113.7", "192.0.2.9"), false), (V{}));
  EXPECT_EQ(sids(packet("203.0.113.8", "10.0.0.1"), true), (V{3}));
  MatchInput other_port = packet("203.0.113.8", "10.0.0.1");
  other_port.dport = 81;
  EXPECT_EQ(sids(other_port, true), (V{})) << "an IP-only rule's port is still checked";
  // The reply of the `<>` pair: source 192.0.2.5 is only in the rule's
  // second list, found through the destination lookup.
  EXPECT_EQ(sids(packet("192.0.2.5", "203.0.113.99"), true), (V{3, 4}));
  EXPECT_EQ(sids(packet("203.0.113.99", "192.0.2.5"), true), (V{2, 3, 4}));
}

}  // namespace
}  // namespace ws

namespace ws {
namespace {

std::shared_ptr<const RuleSet> build_set(std::initializer_list<const char*> texts) {
  std::vector<Rule> rules;
  for (const char* t : texts) {
    RuleResult r = parse_rule(t, RuleVars::suricata_defaults());
    EXPECT_TRUE(r.rule) << t;
    if (r.rule) rules.push_back(*r.rule);
  }
  std::string err;
  auto set = RuleSet::build(rules, &err);
  EXPECT_TRUE(set) << err;
  return set;
}

TEST(IpOnlyMatch, NarrowDestinationListIsIndexedAndNegationIsLikeIpOnly) {
  auto set = build_set({
      // ET CnC style: $HOME_NET (wide) to a short list: indexed by destination.
      R"(alert ip $HOME_NET any -> [198.51.100.7,198.51.100.9] any (msg:"cnc"; sid:1;))",
      // A negated address: "like IP-only", matched on every packet.
      R"(alert ip $EXTERNAL_NET any -> 192.168.0.0/16 any (msg:"in"; sid:2;))",
  });
  ASSERT_TRUE(set);
  EXPECT_EQ(set->ip_only_count(), 1u);
  EXPECT_TRUE(set->ip_only(0));
  EXPECT_FALSE(set->ip_only(1));
  EXPECT_TRUE(set->header_only(1));
  auto scratch = set->make_scratch();
  auto sids = [&](const MatchInput& in, bool ip_only) {
    std::vector<uint32_t> out;
    set->match(in, *scratch, [&](const Rule& r) { out.push_back(r.sid); }, ip_only);
    return out;
  };
  using V = std::vector<uint32_t>;
  EXPECT_EQ(sids(packet("10.1.1.1", "198.51.100.9"), true), V{1});
  EXPECT_EQ(sids(packet("10.1.1.1", "198.51.100.8"), true), V{});
  EXPECT_EQ(sids(packet("10.1.1.1", "198.51.100.9"), false), V{});
  // Like IP-only: also without the IP-only pass.
  EXPECT_EQ(sids(packet("203.0.113.1", "192.168.3.4"), false), V{2});
  EXPECT_EQ(sids(packet("10.0.0.1", "192.168.3.4"), false), V{});  // source inside HOME_NET
}

TEST(AlwaysCheck, RulesWithoutContentAreConfirmedOnlyForTheirPorts) {
  auto set = build_set({
      R"(alert tcp any any -> any 22 (msg:"ssh syn"; flags:S; sid:1;))",
      R"(alert tcp any any -> any [6660:6669,7000] (msg:"irc syn"; flags:S; sid:2;))",
      R"(alert tcp any any -> any any (msg:"any syn"; flags:S; sid:3;))",
  });
  ASSERT_TRUE(set);
  auto scratch = set->make_scratch();
  auto run = [&](uint16_t dport) {
    MatchInput in = packet("10.0.0.1", "10.0.0.2");
    in.dport = dport;
    in.tcp_flags = 0x02;
    scratch->counters = MatchCounters{};
    std::vector<uint32_t> out;
    set->match(in, *scratch, [&](const Rule& r) { out.push_back(r.sid); });
    return std::make_pair(out, scratch->counters.always_checked);
  };
  using V = std::vector<uint32_t>;
  EXPECT_EQ(run(22), std::make_pair(V{1, 3}, uint64_t{2}));
  EXPECT_EQ(run(6665), std::make_pair(V{2, 3}, uint64_t{2}));
  EXPECT_EQ(run(7000), std::make_pair(V{2, 3}, uint64_t{2}));
  EXPECT_EQ(run(80), std::make_pair(V{3}, uint64_t{1}));  // neither port rule is even looked at
}

}  // namespace
}  // namespace ws
