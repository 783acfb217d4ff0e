// QoS policy parser: the pinned example, defaults, and every refusal naming
// its field path and reason.
#include "dataplane/qos/policy.h"

#include <gtest/gtest.h>

namespace ws {
namespace {

std::string parse_err(const std::string& text) {
  QosPolicy p;
  return parse_qos_policy_text(text, &p);
}

TEST(QosPolicy, ParsesThePinnedExample) {
  QosPolicy p;
  ASSERT_EQ(parse_qos_policy_text(R"({"classes": [
    {"name": "iperf", "match": {"proto": "tcp", "dst_port": 5201},
     "shape": {"rate_bps": 20000000, "burst_bytes": 32000}},
    {"name": "voip", "match": {"dscp": 46},
     "police": {"cir_bps": 2000000, "cbs_bytes": 20000, "pir_bps": 3000000, "pbs_bytes": 30000,
                "exceed": "remark:0", "violate": "drop"},
     "set_dscp": 46}]})",
                                  &p),
            "");
  ASSERT_EQ(p.classes.size(), 2u);
  const QosClass& a = p.classes[0];
  EXPECT_EQ(a.name, "iperf");
  EXPECT_EQ(a.match.proto, 6);
  EXPECT_TRUE(a.match.has_dst_port);
  EXPECT_EQ(a.match.dst_port_lo, 5201);
  EXPECT_EQ(a.match.dst_port_hi, 5201);
  EXPECT_FALSE(a.match.has_src_port);
  EXPECT_TRUE(a.shape.enabled);
  EXPECT_EQ(a.shape.rate_bps, 20000000u);
  EXPECT_EQ(a.shape.burst_bytes, 32000u);
  // Default queue: 100 ms of the rate, packets unbounded.
  EXPECT_EQ(a.shape.queue_bytes, 250000u);
  EXPECT_EQ(a.shape.queue_packets, UINT32_MAX);
  EXPECT_FALSE(a.police.enabled);
  EXPECT_EQ(a.set_dscp, -1);

  const QosClass& b = p.classes[1];
  EXPECT_EQ(b.match.dscp, 46);
  EXPECT_EQ(b.match.proto, -1);
  EXPECT_TRUE(b.police.enabled);
  EXPECT_TRUE(b.police.trtcm);
  EXPECT_EQ(b.police.cir_bps, 2000000u);
  EXPECT_EQ(b.police.pbs_bytes, 30000u);
  EXPECT_EQ(b.police.conform.kind, QosColorAction::kTransmit);
  EXPECT_EQ(b.police.exceed.kind, QosColorAction::kRemark);
  EXPECT_EQ(b.police.exceed.dscp, 0);
  EXPECT_EQ(b.police.violate.kind, QosColorAction::kDrop);
  EXPECT_EQ(b.set_dscp, 46);
}

TEST(QosPolicy, ParsesEveryMatchField) {
  QosPolicy p;
  ASSERT_EQ(parse_qos_policy_text(R"({"classes": [{"name": "all", "match": {
      "proto": 17, "src": "10.1.2.3/16", "dst": "10.9.0.1", "src_port": "1000-2000", "dst_port": 53,
      "vlan": 100, "dscp": 0, "app": "DNS", "direction": "to_client"}}]})",
                                  &p),
            "");
  const QosMatch& m = p.classes[0].match;
  EXPECT_EQ(m.proto, 17);
  EXPECT_EQ(m.src.family, 4);
  EXPECT_EQ(m.src.bits, 16);
  EXPECT_EQ(m.src.addr[2], 0);  // host bits cleared
  EXPECT_EQ(m.dst.bits, 32);
  EXPECT_EQ(m.src_port_lo, 1000);
  EXPECT_EQ(m.src_port_hi, 2000);
  EXPECT_EQ(m.vlan, 100);
  EXPECT_EQ(m.dscp, 0);
  EXPECT_EQ(m.app, "DNS");
  EXPECT_EQ(m.direction, 0);
  ASSERT_EQ(parse_qos_policy_text(R"({"classes": [{"name": "v6", "match": {"src": "2001:db8::/32",
      "proto": "ipv6-icmp", "direction": "to_server"}}, {"name": "empty"}]})",
                                  &p),
            "");
  EXPECT_EQ(p.classes[0].match.src.family, 6);
  EXPECT_EQ(p.classes[0].match.proto, 58);
  EXPECT_EQ(p.classes[0].match.direction, 1);
  EXPECT_EQ(p.classes[1].match.proto, -1);
}

TEST(QosPolicy, SingleRateMeterAndDefaults) {
  QosPolicy p;
  ASSERT_EQ(parse_qos_policy_text(
                R"({"classes": [{"name": "c", "police": {"cir_bps": 8000, "cbs_bytes": 1500, "ebs_bytes": 3000}}]})", &p),
            "");
  const QosPolice& x = p.classes[0].police;
  EXPECT_FALSE(x.trtcm);
  EXPECT_EQ(x.ebs_bytes, 3000u);
  EXPECT_EQ(x.conform.kind, QosColorAction::kTransmit);
  EXPECT_EQ(x.exceed.kind, QosColorAction::kDrop);
  EXPECT_EQ(x.violate.kind, QosColorAction::kDrop);
}

TEST(QosPolicy, QueueBounds) {
  QosPolicy p;
  ASSERT_EQ(parse_qos_policy_text(
                R"({"classes": [{"name": "c", "shape": {"rate_bps": 1000000, "burst_bytes": 1500, "queue_packets": 10}}]})",
                &p),
            "");
  EXPECT_EQ(p.classes[0].shape.queue_packets, 10u);
  EXPECT_EQ(p.classes[0].shape.queue_bytes, 16000u);
  ASSERT_EQ(parse_qos_policy_text(
                R"({"classes": [{"name": "c", "shape": {"rate_bps": 1000000, "burst_bytes": 1500, "queue_bytes": 9000}}]})",
                &p),
            "");
  EXPECT_EQ(p.classes[0].shape.queue_bytes, 9000u);
  // A slow rate still gets 64 KiB.
  ASSERT_EQ(parse_qos_policy_text(R"({"classes": [{"name": "c", "shape": {"rate_bps": 64000, "burst_bytes": 1500}}]})",
                                  &p),
            "");
  EXPECT_EQ(p.classes[0].shape.queue_bytes, 65536u);
}

struct BadCase {
  const char* body;
  const char* error;
};

class QosPolicyErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(QosPolicyErrors, NamesFieldAndReason) { EXPECT_EQ(parse_err(GetParam().body), GetParam().error); }

INSTANTIATE_TEST_SUITE_P(
    Table, QosPolicyErrors,
    ::testing::Values(
        BadCase{R"([1])", "body: must be a JSON object {\"classes\": [...]}"},
        BadCase{R"({})", "classes: required"},
        BadCase{R"({"classes": {}})", "classes: must be an array"},
        BadCase{R"({"classes": [], "extra": 1})", "extra: unknown key (expected one of classes)"},
        BadCase{R"({"classes": [{"match": {}}]})", "classes[0].name: required"},
        BadCase{R"({"classes": [{"name": "a b"}]})",
                "classes[0].name: 'a b' has a character outside A-Z, a-z, 0-9, '_', '.', '-'"},
        BadCase{R"({"classes": [{"name": "a"}, {"name": "a"}]})", "classes[1].name: 'a' is used by an earlier class"},
        BadCase{R"({"classes": [{"name": "a", "shap": {}}]})",
                "classes[0].shap: unknown key (expected one of name, match, shape, police, set_dscp)"},
        BadCase{R"({"classes": [{"name": "a", "match": {"port": 80}}]})",
                "classes[0].match.port: unknown key (expected one of proto, src, dst, src_port, dst_port, vlan, dscp, "
                "app, direction)"},
        BadCase{R"({"classes": [{"name": "a", "match": {"proto": "tcpp"}}]})",
                "classes[0].match.proto: 'tcpp' is not tcp, udp, icmp, ipv6-icmp, sctp, gre or a number 0-255"},
        BadCase{R"({"classes": [{"name": "a", "match": {"proto": 256}}]})",
                "classes[0].match.proto: 256 is out of range 0-255"},
        BadCase{R"({"classes": [{"name": "a", "match": {"dst": "10.0.0.0/33"}}]})",
                "classes[0].match.dst: '10.0.0.0/33': prefix length must be 0-32"},
        BadCase{R"({"classes": [{"name": "a", "match": {"src": "nope"}}]})",
                "classes[0].match.src: 'nope' is not an IPv4 or IPv6 address or prefix"},
        BadCase{R"({"classes": [{"name": "a", "match": {"src": "10.0.0.1", "dst": "::1"}}]})",
                "classes[0].match.dst: an IPv6 prefix with an IPv4 src never matches"},
        BadCase{R"({"classes": [{"name": "a", "match": {"dst_port": "90-80"}}]})",
                "classes[0].match.dst_port: '90-80' is not a port 0-65535 or a range \"a-b\" with a <= b"},
        BadCase{R"({"classes": [{"name": "a", "match": {"src_port": 70000}}]})",
                "classes[0].match.src_port: 70000 is out of range 0-65535"},
        BadCase{R"({"classes": [{"name": "a", "match": {"proto": "icmp", "dst_port": 1}}]})",
                "classes[0].match.proto: ports need tcp, udp or sctp"},
        BadCase{R"({"classes": [{"name": "a", "match": {"vlan": 4096}}]})",
                "classes[0].match.vlan: 4096 is out of range 0-4095"},
        BadCase{R"({"classes": [{"name": "a", "match": {"dscp": "ef"}}]})",
                "classes[0].match.dscp: must be a non-negative integer"},
        BadCase{R"({"classes": [{"name": "a", "match": {"direction": "in"}}]})",
                "classes[0].match.direction: must be \"to_server\" or \"to_client\""},
        BadCase{R"({"classes": [{"name": "a", "match": {"app": ""}}]})",
                "classes[0].match.app: must be an nDPI protocol name (1-64 characters)"},
        BadCase{R"({"classes": [{"name": "a"}, {"name": "b", "police": {"cir_bps": 0, "cbs_bytes": 1}}]})",
                "classes[1].police.cir_bps: must be a positive integer"},
        BadCase{R"({"classes": [{"name": "a", "police": {"cir_bps": -5, "cbs_bytes": 1}}]})",
                "classes[0].police.cir_bps: must be a positive integer"},
        BadCase{R"({"classes": [{"name": "a", "police": {"cir_bps": 1.5, "cbs_bytes": 1}}]})",
                "classes[0].police.cir_bps: must be a positive integer"},
        BadCase{R"({"classes": [{"name": "a", "police": {"cbs_bytes": 1}}]})", "classes[0].police.cir_bps: required"},
        BadCase{R"({"classes": [{"name": "a", "police": {"cir_bps": 8000, "cbs_bytes": 1, "pir_bps": 9000}}]})",
                "classes[0].police.pbs_bytes: required with pir_bps"},
        BadCase{R"({"classes": [{"name": "a", "police": {"cir_bps": 8000, "cbs_bytes": 1, "pir_bps": 800,
                "pbs_bytes": 1}}]})",
                "classes[0].police.pir_bps: must be at least cir_bps (8000)"},
        BadCase{R"({"classes": [{"name": "a", "police": {"cir_bps": 8000, "cbs_bytes": 1, "pir_bps": 9000,
                "pbs_bytes": 1, "ebs_bytes": 1}}]})",
                "classes[0].police.ebs_bytes: not used by a two-rate meter (pir_bps/pbs_bytes given); use pbs_bytes"},
        BadCase{R"({"classes": [{"name": "a", "police": {"cir_bps": 8000, "cbs_bytes": 1, "exceed": "remark:64"}}]})",
                "classes[0].police.exceed: must be \"transmit\", \"drop\" or \"remark:N\" with N 0-63"},
        BadCase{R"({"classes": [{"name": "a", "police": {"cir_bps": 8000, "cbs_bytes": 1, "violate": "pass"}}]})",
                "classes[0].police.violate: must be \"transmit\", \"drop\" or \"remark:N\" with N 0-63"},
        BadCase{R"({"classes": [{"name": "a", "police": {"cir_bps": 8000, "cbs_bytes": 1, "color": "blind"}}]})",
                "classes[0].police.color: unknown key (expected one of cir_bps, cbs_bytes, ebs_bytes, pir_bps, "
                "pbs_bytes, conform, exceed, violate)"},
        BadCase{R"({"classes": [{"name": "a", "shape": {"rate_bps": 1000}}]})",
                "classes[0].shape.burst_bytes: required"},
        BadCase{R"({"classes": [{"name": "a", "shape": {"rate_bps": 1000, "burst_bytes": 0}}]})",
                "classes[0].shape.burst_bytes: must be a positive integer"},
        BadCase{R"({"classes": [{"name": "a", "shape": {"rate_bps": 1000, "burst_bytes": 10, "queue_bytes": 1e12}}]})",
                "classes[0].shape.queue_bytes: must be a positive integer"},
        BadCase{R"({"classes": [{"name": "a", "shape": {"rate_bps": 1000, "burst_bytes": 10,
                "queue_bytes": 100000000}}]})",
                "classes[0].shape.queue_bytes: 100000000 is out of range 64-67108864"},
        BadCase{R"({"classes": [{"name": "a", "set_dscp": 64}]})", "classes[0].set_dscp: 64 is out of range 0-63"},
        BadCase{R"({"classes": [{"name": "a", "set_dscp": true}]})",
                "classes[0].set_dscp: must be a non-negative integer"}));

TEST(QosPolicy, RefusesTextThatIsNotJson) {
  const std::string e = parse_err("{\"classes\": [");
  EXPECT_EQ(e.rfind("body: not valid JSON: parse error at line 1, column 14", 0), 0u) << e;
}

// nlohmann/json throws out_of_range, not parse_error, for a number no JSON
// type holds (found by qos_policy_fuzz).
TEST(QosPolicy, RefusesNumbersTooLargeForJson) {
  const std::string e = parse_err(R"({"classes": [{"name": "a", "set_dscp": 1)" + std::string(400, '0') + "}]}");
  EXPECT_EQ(e.rfind("body: not valid JSON: number overflow parsing '1000", 0), 0u) << e;
}

TEST(QosPolicy, RefusesTooManyClasses) {
  std::string body = R"({"classes": [)";
  for (int i = 0; i < 65; ++i) body += std::string(i ? "," : "") + "{\"name\": \"c" + std::to_string(i) + "\"}";
  body += "]}";
  EXPECT_EQ(parse_err(body), "classes: 65 classes, at most 64");
}

TEST(QosPolicy, PrefixContains) {
  QosPrefix p;
  ASSERT_EQ(parse_qos_prefix("192.168.0.0/23", &p), "");
  uint8_t a[16] = {192, 168, 1, 200};
  EXPECT_TRUE(qos_prefix_contains(p, 4, a));
  a[2] = 2;
  EXPECT_FALSE(qos_prefix_contains(p, 4, a));
  EXPECT_FALSE(qos_prefix_contains(p, 6, a));
  ASSERT_EQ(parse_qos_prefix("2001:db8::/33", &p), "");
  uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8, 0x7f};
  EXPECT_TRUE(qos_prefix_contains(p, 6, b));
  b[4] = 0x80;
  EXPECT_FALSE(qos_prefix_contains(p, 6, b));
  ASSERT_EQ(parse_qos_prefix("0.0.0.0/0", &p), "");
  EXPECT_TRUE(qos_prefix_contains(p, 4, b));
}

}  // namespace
}  // namespace ws
