// Host mode's translation of QoS policies into an HTB tree with u32
// filters (dataplane/qos/tc_plan.h): classes, rates, keys and masks at
// their offsets, port ranges as masks, and every refusal with its field
// path. No kernel, no root.
#include <gtest/gtest.h>

#include "dataplane/qos/tc_plan.h"

namespace ws {
namespace {

QosPolicy policy(const std::string& text) {
  QosPolicy p;
  const std::string e = parse_qos_policy_text(text, &p);
  EXPECT_EQ(e, "") << text;
  return p;
}

TcPlan plan_of(const std::map<std::string, std::string>& texts, TcCaps caps = {},
               uint64_t line = 10'000'000'000) {
  std::map<std::string, QosPolicy> set;
  for (const auto& [name, text] : texts) set[name] = policy(text);
  TcPlan p;
  const std::string e = build_tc_plan(set, caps, line, &p);
  EXPECT_EQ(e, "");
  return p;
}

std::string refusal(const std::string& text, TcCaps caps = {}) {
  return check_tc_policy(policy(text), caps);
}

std::vector<std::string> texts(const TcClassPlan& c) {
  std::vector<std::string> out;
  for (const TcFilter& f : c.filters) out.push_back(tc_filter_text(f));
  return out;
}

TEST(TcPlan, ShapeClassOnTcpPort) {
  const TcPlan p =
      plan_of({{"lab", R"({"classes": [{"name": "iperf", "match": {"proto": "tcp", "dst_port": 5201},
      "shape": {"rate_bps": 20000000, "burst_bytes": 32000}}]})"}});
  ASSERT_EQ(p.classes.size(), 1u);
  const TcClassPlan& c = p.classes[0];
  EXPECT_EQ(c.policy, "lab");
  EXPECT_EQ(c.cls, "iperf");
  EXPECT_EQ(c.minor, kTcFirstMinor);
  EXPECT_TRUE(c.shaped);
  EXPECT_EQ(c.rate_bps, 20000000u);
  EXPECT_EQ(c.burst_bytes, 32000u);
  // Default queue: 100 ms at 20 Mbit/s = 250000 bytes, in 1514-byte frames.
  EXPECT_EQ(c.leaf_limit, 166u);
  // No address: IPv4 and IPv6. IPv4: IHL 5 and TOS don't-care share word 0,
  // first fragment only (word 4), proto 6 (byte 9), dport at 22.
  EXPECT_EQ(texts(c), (std::vector<std::string>{
                          "ip 05000000/0f000000 at 0, 00000000/00001fff at 4, 00060000/00ff0000 at 8, "
                          "00001451/0000ffff at 20",
                          "ipv6 00000600/0000ff00 at 4, 00001451/0000ffff at 40"}));
  EXPECT_EQ(p.filters(), 2u);
}

TEST(TcPlan, AddressesDscpAndSourcePorts) {
  const TcPlan p = plan_of({{"a", R"({"classes": [
      {"name": "v4", "match": {"proto": "udp", "src": "10.1.2.3/16", "dst": "192.0.2.7", "src_port": 53, "dscp": 46}},
      {"name": "v6", "match": {"dst": "2001:db8::/33", "dscp": 10}},
      {"name": "icmp", "match": {"proto": "icmp"}},
      {"name": "icmp6", "match": {"proto": "ipv6-icmp"}}]})"}});
  ASSERT_EQ(p.classes.size(), 4u);
  // dscp 46 << 2 = 0xb8 in the TOS byte (bits 16-23 of word 0).
  EXPECT_EQ(texts(p.classes[0]),
            (std::vector<std::string>{
                "ip 05b80000/0ffc0000 at 0, 00000000/00001fff at 4, 00110000/00ff0000 at 8, "
                "0a010000/ffff0000 at 12, c0000207/ffffffff at 16, 00350000/ffff0000 at 20"}));
  // dscp 10 in the traffic class (bits 22-27 of word 0); 2001:db8::/33 over
  // the first two destination words.
  EXPECT_EQ(texts(p.classes[1]),
            (std::vector<std::string>{
                "ipv6 02800000/0fc00000 at 0, 20010db8/ffffffff at 24, 00000000/80000000 at 28"}));
  EXPECT_EQ(texts(p.classes[2]), (std::vector<std::string>{"ip 00010000/00ff0000 at 8"}));
  EXPECT_EQ(texts(p.classes[3]), (std::vector<std::string>{"ipv6 00003a00/0000ff00 at 4"}));
  for (const TcClassPlan& c : p.classes) {
    EXPECT_FALSE(c.shaped);
    EXPECT_EQ(c.rate_bps, 10'000'000'000u) << "unshaped classes run at the line rate";
  }
}

TEST(TcPlan, EmptyMatchTakesEveryIpPacket) {
  const TcPlan p =
      plan_of({{"a", R"({"classes": [{"name": "all", "shape": {"rate_bps": 1000000, "burst_bytes": 5000,
      "queue_packets": 40}}]})"}});
  ASSERT_EQ(p.classes.size(), 1u);
  EXPECT_EQ(texts(p.classes[0]),
            (std::vector<std::string>{"ip 00000000/00000000 at 0", "ipv6 00000000/00000000 at 0"}));
  EXPECT_EQ(p.classes[0].leaf_limit, 40u);
}

TEST(TcPlan, PortsWithoutProtoCoverTcpUdpSctp) {
  const TcPlan p =
      plan_of({{"a", R"({"classes": [{"name": "dns", "match": {"src": "10.0.0.0/8", "dst_port": 53}}]})"}});
  ASSERT_EQ(p.classes.size(), 1u);
  const std::vector<std::string> t = texts(p.classes[0]);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_NE(t[0].find("00060000/00ff0000 at 8"), std::string::npos) << t[0];
  EXPECT_NE(t[1].find("00110000/00ff0000 at 8"), std::string::npos) << t[1];
  EXPECT_NE(t[2].find("00840000/00ff0000 at 8"), std::string::npos) << t[2];
  for (const std::string& s : t) EXPECT_NE(s.find("00000035/0000ffff at 20"), std::string::npos) << s;
}

TEST(TcPlan, PortRangesAsMasks) {
  using V = std::vector<std::pair<uint16_t, uint16_t>>;
  EXPECT_EQ(tc_port_masks(5201, 5201), (V{{5201, 0xffff}}));
  EXPECT_EQ(tc_port_masks(0, 65535), (V{{0, 0}}));
  EXPECT_EQ(tc_port_masks(0, 1023), (V{{0, 0xfc00}}));
  EXPECT_EQ(tc_port_masks(8000, 8191), (V{{8000, 0xffc0}, {8064, 0xff80}}));
  EXPECT_EQ(tc_port_masks(1000, 2000).size(), 8u);
  EXPECT_EQ(
      tc_port_masks(1024, 65535),
      (V{{1024, 0xfc00}, {2048, 0xf800}, {4096, 0xf000}, {8192, 0xe000}, {16384, 0xc000}, {32768, 0x8000}}));
  // Every port of a range is inside exactly one block, and nothing else is.
  for (auto [lo, hi] : {std::pair<int, int>{1000, 2000}, {1, 65534}, {5000, 5001}, {65535, 65535}}) {
    const V m = tc_port_masks(lo, hi);
    for (int port = 0; port <= 65535; ++port) {
      int hits = 0;
      for (auto [v, mask] : m) hits += (port & mask) == v;
      ASSERT_EQ(hits, port >= lo && port <= hi ? 1 : 0) << lo << "-" << hi << " port " << port;
    }
  }

  const TcPlan p = plan_of({{"a", R"({"classes": [{"name": "r", "match": {"proto": "tcp", "src": "10.0.0.1",
      "src_port": "1024-65535", "dst_port": "8000-8191"}}]})"}});
  ASSERT_EQ(p.classes.size(), 1u);
  EXPECT_EQ(p.classes[0].filters.size(), 6u * 2u);
  EXPECT_NE(tc_filter_text(p.classes[0].filters[0]).find("04001f40/fc00ffc0 at 20"), std::string::npos)
      << tc_filter_text(p.classes[0].filters[0]);
}

TEST(TcPlan, ClassesInPolicyNameOrderWithDistinctIds) {
  const TcPlan p = plan_of({{"zeta", R"({"classes": [{"name": "z1", "match": {"proto": "udp"}}]})"},
                            {"alpha", R"({"classes": [{"name": "a1", "match": {"proto": "tcp"}},
                                                      {"name": "a2", "match": {"proto": "icmp"}}]})"},
                            {"empty", R"({"classes": []})"}});
  ASSERT_EQ(p.classes.size(), 3u);
  EXPECT_EQ(std::make_pair(p.classes[0].policy, p.classes[0].cls),
            std::make_pair(std::string("alpha"), std::string("a1")));
  EXPECT_EQ(std::make_pair(p.classes[1].policy, p.classes[1].cls),
            std::make_pair(std::string("alpha"), std::string("a2")));
  EXPECT_EQ(std::make_pair(p.classes[2].policy, p.classes[2].cls),
            std::make_pair(std::string("zeta"), std::string("z1")));
  EXPECT_EQ(p.classes[0].minor, kTcFirstMinor);
  EXPECT_EQ(p.classes[1].minor, kTcFirstMinor + 1);
  EXPECT_EQ(p.classes[2].minor, kTcFirstMinor + 2);
  EXPECT_EQ(p.line_rate_bps, 10'000'000'000u);

  TcPlan none;
  EXPECT_EQ(build_tc_plan({{"empty", policy(R"({"classes": []})")}}, {}, 1000, &none), "");
  EXPECT_TRUE(none.classes.empty());
}

TEST(TcPlan, PoliceAndSetDscpNeedTheirActions) {
  const std::string police = R"({"classes": [{"name": "a"}, {"name": "b", "police": {"cir_bps": 1000000,
      "cbs_bytes": 10000}}]})";
  TcCaps absent;
  absent.police = absent.pedit = TcCaps::Probe::kAbsent;
  EXPECT_EQ(refusal(police, absent), "classes[1].police: the kernel has no act_police (tc police action)");
  TcCaps present;
  present.police = present.pedit = TcCaps::Probe::kPresent;
  EXPECT_EQ(refusal(police, present).rfind("classes[1].police: not supported in tc mode", 0), 0u)
      << refusal(police, present);
  EXPECT_EQ(refusal(police).rfind("classes[1].police: not supported in tc mode", 0), 0u);

  const std::string mark = R"({"classes": [{"name": "voip", "match": {"dscp": 46}, "set_dscp": 46}]})";
  EXPECT_EQ(refusal(mark, absent),
            "classes[0].set_dscp: the kernel has no act_pedit (tc pedit action) to rewrite DSCP");
  EXPECT_EQ(refusal(mark, present).rfind("classes[0].set_dscp: not supported in tc mode", 0), 0u)
      << refusal(mark, present);
}

TEST(TcPlan, RefusesWhatU32CannotSee) {
  EXPECT_EQ(
      refusal(R"({"classes": [{"name": "a", "match": {"app": "TLS"}}]})").rfind("classes[0].match.app: ", 0),
      0u);
  EXPECT_NE(
      refusal(R"({"classes": [{"name": "a", "match": {"app": "TLS"}}]})").find("not supported in tc mode"),
      std::string::npos);
  EXPECT_EQ(refusal(R"({"classes": [{"name": "a"}, {"name": "b", "match": {"direction": "to_server"}}]})")
                .rfind("classes[1].match.direction: ", 0),
            0u);
  EXPECT_EQ(
      refusal(R"({"classes": [{"name": "a", "match": {"vlan": 10}}]})").rfind("classes[0].match.vlan: ", 0),
      0u);
  // 1000-2000 takes 8 blocks: fine; 2-65534 takes 29: refused with the count.
  EXPECT_EQ(refusal(R"({"classes": [{"name": "a", "match": {"proto": "tcp", "dst_port": "1000-2000"}}]})"),
            "");
  EXPECT_EQ(refusal(R"({"classes": [{"name": "a", "match": {"proto": "tcp", "dst_port": "2-65534"}}]})"),
            "classes[0].match.dst_port: 2-65534 needs 29 u32 value/mask pairs, at most 16 in tc mode "
            "(a range of aligned blocks, such as 8000-8191, needs few)");
  // Without proto or family: 2 families x 3 protocols x 8 x 8 blocks.
  const std::string many = refusal(R"({"classes": [{"name": "a", "match": {"src_port": "1000-2000",
      "dst_port": "1000-2000"}}]})");
  EXPECT_EQ(many.rfind("classes[0].match: needs 384 u32 filters", 0), 0u) << many;
  // 64 kB at 8 kbit/s lasts 64 s.
  EXPECT_EQ(
      refusal(R"({"classes": [{"name": "a", "shape": {"rate_bps": 8000, "burst_bytes": 64000}}]})"),
      "classes[0].shape.burst_bytes: 64000 bytes last 64 s at 8000 bit/s; tc mode takes bursts of at most "
      "60 s at the rate");
}

TEST(TcPlan, BuildNamesThePolicyOfARefusal) {
  std::map<std::string, QosPolicy> set;
  set["good"] = policy(R"({"classes": [{"name": "a", "match": {"proto": "tcp"}}]})");
  set["wan"] = policy(R"({"classes": [{"name": "a"}, {"name": "b", "match": {"app": "TLS"}}]})");
  TcPlan p;
  const std::string e = build_tc_plan(set, {}, 1000, &p);
  EXPECT_EQ(e.rfind("policy 'wan': classes[1].match.app: ", 0), 0u) << e;
}

TEST(TcPlan, SetWideFilterLimit) {
  // 32 policies of 64 classes with 2 filters each: 4096 filters, the limit.
  nlohmann::json classes = nlohmann::json::array();
  for (int i = 0; i < 64; ++i)
    classes.push_back({{"name", std::string("c").append(std::to_string(i))}, {"match", {{"dscp", 1}}}});
  const QosPolicy p = policy(nlohmann::json{{"classes", classes}}.dump());
  std::map<std::string, QosPolicy> set;
  for (int i = 100; i < 132; ++i) set[std::string("p").append(std::to_string(i))] = p;
  TcPlan plan;
  ASSERT_EQ(build_tc_plan(set, {}, 1000, &plan), "");
  EXPECT_EQ(plan.filters(), 4096u);
  EXPECT_EQ(plan.classes.back().minor, kTcFirstMinor + 32 * 64 - 1);
  set["p099"] = policy(R"({"classes": [{"name": "one", "match": {"proto": "tcp"}}]})");
  const std::string e = build_tc_plan(set, {}, 1000, &plan);
  EXPECT_EQ(e, "the policies need 4098 u32 filters, at most 4096 in tc mode") << e;
}

}  // namespace
}  // namespace ws
