// The qos: config section: mode, interface and policies (the pinned policy
// JSON shape written as YAML), refused with FILE:LINE and the policy's
// field path, and the cross-field rules validate_config applies (tc mode
// needs an interface and refuses what tc cannot express).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "agent/config.h"
#include "dataplane/qos/policy.h"

namespace ws {
namespace {

std::string load(const std::string& yaml, AgentConfig& cfg) {
  char path[] = "/tmp/ws-qos-config-XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << yaml;
  const std::string err = load_config_file(path, cfg);
  std::remove(path);
  return err;
}

const char* kTc = R"(input: {interface: eth1}
qos:
  mode: tc
  interface: eth1
  policies:
    lab:
      classes:
        - name: iperf
          match: {proto: tcp, dst_port: 5201, src: 10.0.0.0/8}
          shape: {rate_bps: 20000000, burst_bytes: 32000}
        - name: range
          match: {dst_port: "8000-8191", dscp: 46}
)";

TEST(QosConfig, DefaultsWithoutTheSection) {
  AgentConfig c;
  ASSERT_EQ(load("workers: 1\n", c), "");
  EXPECT_EQ(c.qos.mode, "inline");
  EXPECT_EQ(c.qos.interface, "");
  EXPECT_TRUE(c.qos.policies.empty());
}

TEST(QosConfig, ReadsModeInterfaceAndPoliciesAsTheirJson) {
  AgentConfig c;
  ASSERT_EQ(load(kTc, c), "");
  EXPECT_EQ(c.qos.mode, "tc");
  EXPECT_EQ(c.qos.interface, "eth1");
  ASSERT_EQ(c.qos.policies.size(), 1u);
  const nlohmann::json& j = c.qos.policies.at("lab");
  // YAML's plain scalars become JSON numbers where they are numbers; the
  // quoted range stays a string.
  EXPECT_EQ(j, nlohmann::json::parse(R"({"classes": [
      {"name": "iperf", "match": {"proto": "tcp", "dst_port": 5201, "src": "10.0.0.0/8"},
       "shape": {"rate_bps": 20000000, "burst_bytes": 32000}},
      {"name": "range", "match": {"dst_port": "8000-8191", "dscp": 46}}]})"));
  QosPolicy p;
  EXPECT_EQ(parse_qos_policy(j, &p), "");
  EXPECT_EQ(validate_config(c), "");
}

TEST(QosConfig, RefusesABadPolicyNamingTheFieldAndLine) {
  AgentConfig c;
  std::string e = load(R"(qos:
  policies:
    wan:
      classes:
        - {name: a}
        - name: b
          shape: {rate_bps: fast, burst_bytes: 100}
)",
                       c);
  EXPECT_NE(e.find(":6: qos.policies.wan.classes[1].shape.rate_bps: must be a positive integer"),
            std::string::npos)
      << e;
  e = load("qos:\n  policies:\n    wan: {classes: [{name: a, match: {protocol: tcp}}]}\n", c);
  EXPECT_NE(e.find(":3: qos.policies.wan.classes[0].match.protocol: unknown key"), std::string::npos) << e;
  e = load("qos:\n  policies:\n    wan: [1, 2]\n", c);
  EXPECT_NE(e.find(":3: qos.policies.wan: must be a map {classes: [...]}"), std::string::npos) << e;
  e = load("qos:\n  policies:\n    \"b@d\": {classes: []}\n", c);
  EXPECT_NE(e.find("qos.policies.b@d: 'b@d' has a character outside"), std::string::npos) << e;
  e = load("qos:\n  policies: [a]\n", c);
  EXPECT_NE(e.find(":2: qos.policies: expected a map of NAME: {classes: [...]}"), std::string::npos) << e;
  e = load("qos:\n  mode: kernel\n", c);
  EXPECT_NE(e.find(":2: qos.mode: expected inline or tc, got 'kernel'"), std::string::npos) << e;
  e = load("qos:\n  modes: tc\n", c);
  EXPECT_NE(e.find("unknown key 'qos.modes'"), std::string::npos) << e;
  // A quoted number is a string, as it would be in JSON.
  e = load("qos:\n  policies:\n    p: {classes: [{name: a, set_dscp: \"46\"}]}\n", c);
  EXPECT_NE(e.find("qos.policies.p.classes[0].set_dscp: must be a non-negative integer"), std::string::npos)
      << e;
}

TEST(QosConfig, TooManyPolicies) {
  std::string yaml = "qos:\n  policies:\n";
  for (int i = 0; i < 33; ++i) yaml += "    p" + std::to_string(i) + ": {classes: []}\n";
  AgentConfig c;
  const std::string e = load(yaml, c);
  EXPECT_NE(e.find("qos.policies: 33 policies, at most 32"), std::string::npos) << e;
}

TEST(QosConfig, CrossFieldRules) {
  AgentConfig c;
  ASSERT_EQ(load("input: {interface: eth1}\nqos: {mode: tc}\n", c), "");
  EXPECT_EQ(validate_config(c), "qos.mode: tc needs qos.interface (the interface whose egress is shaped)");

  c = AgentConfig{};
  ASSERT_EQ(load("input: {interface: eth1}\nqos: {interface: eth1}\n", c), "");
  EXPECT_EQ(validate_config(c), "qos.interface is used only with qos.mode: tc");

  c = AgentConfig{};
  ASSERT_EQ(load("inline: [{a: m0, b: m1}]\nqos: {mode: tc, interface: eth1}\n", c), "");
  EXPECT_NE(validate_config(c).find("qos.mode: tc shapes a host interface"), std::string::npos)
      << validate_config(c);

  // Inline mode: policies need the inline path; -T (no input checks) lets it be.
  c = AgentConfig{};
  ASSERT_EQ(load("input: {interface: eth1}\nqos: {policies: {p: {classes: []}}}\n", c), "");
  EXPECT_EQ(validate_config(c), "qos.policies need inline pairs (--inline, inline:) or qos.mode: tc");
  EXPECT_EQ(validate_config(c, false), "");

  // tc mode refuses what tc cannot express, with the policy's field path;
  // -T reports it too.
  c = AgentConfig{};
  ASSERT_EQ(load(R"(input: {interface: eth1}
qos:
  mode: tc
  interface: eth1
  policies:
    voip:
      classes:
        - {name: a, match: {dscp: 46}}
        - {name: b, police: {cir_bps: 2000000, cbs_bytes: 20000}}
)",
                 c),
            "");
  const std::string e = validate_config(c, false);
  EXPECT_EQ(e.rfind("qos.policies.voip.classes[1].police: not supported in tc mode", 0), 0u) << e;
  c.qos.policies["voip"] = nlohmann::json::parse(R"({"classes": [{"name": "a", "match": {"app": "TLS"}}]})");
  EXPECT_EQ(validate_config(c).rfind("qos.policies.voip.classes[0].match.app: ", 0), 0u)
      << validate_config(c);
}

}  // namespace
}  // namespace ws
