// EVE app_proto and the `ndpi` object in flow and alert events: field order
// and shape, nDPI's names for confidence and risks, "failed" when nothing
// was named, and no ndpi object when nDPI did not look at the flow.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <ndpi_api.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "telemetry/eve.h"

namespace ws {
namespace {

using nlohmann::ordered_json;

constexpr uint64_t kNs = 1795237090ull * 1000000000ull;

FlowKey key(const char* src, const char* dst, uint8_t proto, uint16_t sp, uint16_t dp) {
  FlowKey k;
  std::memset(&k, 0, sizeof k);
  k.family = 4;
  EXPECT_EQ(inet_pton(AF_INET, src, k.src), 1);
  EXPECT_EQ(inet_pton(AF_INET, dst, k.dst), 1);
  k.proto = proto;
  k.sport = sp;
  k.dport = dp;
  return k;
}

AppLabel tls_google() {
  AppLabel a;
  std::strcpy(a.protocol, "TLS.Google");
  std::strcpy(a.category, "Web");
  std::strcpy(a.hostname, "www.google.com");
  a.master = NDPI_PROTOCOL_TLS;
  a.app = NDPI_PROTOCOL_GOOGLE;
  a.confidence = NDPI_CONFIDENCE_DPI;
  a.risk = (uint64_t{1} << NDPI_TLS_SELFSIGNED_CERTIFICATE) | (uint64_t{1} << NDPI_TLS_OBSOLETE_VERSION);
  return a;
}

ordered_json flow_event(const FlowRecord& r) {
  JsonWriter w;
  format_flow_event(r, ExportContext{}, kNs, EveFormatOptions{}, w);
  return ordered_json::parse(std::string(w.view()));
}

std::vector<std::string> keys(const ordered_json& j) {
  std::vector<std::string> k;
  for (auto it = j.begin(); it != j.end(); ++it) k.push_back(it.key());
  return k;
}

TEST(EveApp, FlowEventCarriesAppProtoAndTheNdpiObject) {
  FlowRecord r;
  r.key = key("10.0.0.1", "142.250.0.10", 6, 40000, 443);
  r.pkts[0] = 3;
  r.payload_seen = true;
  std::strcpy(r.app_proto, "tls");
  r.app = tls_google();
  const ordered_json j = flow_event(r);
  EXPECT_EQ(j["app_proto"], "tls");
  const std::vector<std::string> k = keys(j);
  const auto at = [&](const char* name) { return std::find(k.begin(), k.end(), name) - k.begin(); };
  EXPECT_EQ(at("ndpi"), at("app_proto") + 1) << "ndpi follows app_proto";
  EXPECT_LT(at("ndpi"), at("flow"));
  const ordered_json& n = j["ndpi"];
  EXPECT_EQ(keys(n), (std::vector<std::string>{"protocol", "category", "confidence", "hostname", "risk"}));
  EXPECT_EQ(n["protocol"], "TLS.Google");
  EXPECT_EQ(n["category"], "Web");
  EXPECT_EQ(n["confidence"], ndpi_confidence_get_name(NDPI_CONFIDENCE_DPI));
  EXPECT_EQ(n["hostname"], "www.google.com");
  ASSERT_TRUE(n["risk"].is_array());
  // nDPI's own names, lowest bit first.
  const std::vector<std::string> risks = n["risk"];
  const bool selfsigned_first = NDPI_TLS_SELFSIGNED_CERTIFICATE < NDPI_TLS_OBSOLETE_VERSION;
  const std::string a = ndpi_risk2str(NDPI_TLS_SELFSIGNED_CERTIFICATE), b = ndpi_risk2str(NDPI_TLS_OBSOLETE_VERSION);
  const std::vector<std::string> want = selfsigned_first ? std::vector<std::string>{a, b} : std::vector<std::string>{b, a};
  EXPECT_EQ(risks, want);
}

TEST(EveApp, UnknownWithPayloadIsFailedAndStillHasTheNdpiObject) {
  FlowRecord r;
  r.key = key("10.0.0.1", "10.0.0.2", 17, 40000, 9999);
  r.pkts[0] = 3;
  r.payload_seen = true;
  std::strcpy(r.app.protocol, "Unknown");
  std::strcpy(r.app.category, "Unspecified");
  const ordered_json j = flow_event(r);
  EXPECT_EQ(j["app_proto"], "failed");
  EXPECT_EQ(j["ndpi"]["protocol"], "Unknown");
  EXPECT_FALSE(j["ndpi"].contains("hostname")) << "hostname only where known";
  EXPECT_TRUE(j["ndpi"]["risk"].empty());
}

TEST(EveApp, NoNdpiObjectWhenNdpiDidNotLook) {
  FlowRecord r;
  r.key = key("10.0.0.1", "10.0.0.2", 6, 40000, 80);
  r.pkts[0] = 1;
  r.payload_seen = false;
  const ordered_json j = flow_event(r);
  EXPECT_FALSE(j.contains("ndpi"));
  EXPECT_FALSE(j.contains("app_proto")) << "no payload: nothing to name, as Suricata";
}

TEST(EveApp, IcmpFlowHasNdpiButNoAppProto) {
  FlowRecord r;
  r.key = key("10.0.0.1", "10.0.0.2", 1, 0, 0);
  r.pkts[0] = 1;
  r.payload_seen = true;
  std::strcpy(r.app.protocol, "ICMP");
  std::strcpy(r.app.category, "Network");
  const ordered_json j = flow_event(r);
  EXPECT_FALSE(j.contains("app_proto"));
  EXPECT_EQ(j["ndpi"]["protocol"], "ICMP");
}

TEST(EveApp, AlertEventCarriesTheFlowsLabel) {
  AlertMeta m;
  m.sid = 1000001;
  m.signature = "test";
  AlertRecord a;
  a.ts_ns = kNs;
  a.pkt = key("10.0.0.1", "142.250.0.10", 6, 40000, 443);
  a.flow = a.pkt;
  a.meta = &m;
  std::strcpy(a.app_proto, "tls");
  a.app = tls_google();
  JsonWriter w;
  format_alert_event(a, ExportContext{}, EveFormatOptions{}, w);
  const ordered_json j = ordered_json::parse(std::string(w.view()));
  EXPECT_EQ(j["app_proto"], "tls");
  EXPECT_EQ(j["ndpi"]["protocol"], "TLS.Google");
  EXPECT_EQ(j["ndpi"]["hostname"], "www.google.com");
  EXPECT_EQ(j["ndpi"]["risk"].size(), 2u);
  const std::vector<std::string> k = keys(j);
  EXPECT_EQ(std::find(k.begin(), k.end(), "ndpi") - k.begin(), std::find(k.begin(), k.end(), "app_proto") - k.begin() + 1);

  // Not classified yet: neither field.
  AlertRecord b = a;
  b.app_proto[0] = 0;
  b.app = AppLabel{};
  JsonWriter w2;
  format_alert_event(b, ExportContext{}, EveFormatOptions{}, w2);
  const ordered_json j2 = ordered_json::parse(std::string(w2.view()));
  EXPECT_FALSE(j2.contains("app_proto"));
  EXPECT_FALSE(j2.contains("ndpi"));
}

TEST(EveApp, RiskNamesAreNdpisForEveryDefinedBit) {
  EXPECT_EQ(app_risk_name(0), nullptr);
  EXPECT_EQ(app_risk_name(app_risk_bits()), nullptr);
  for (unsigned b = 1; b < app_risk_bits(); ++b) {
    ASSERT_NE(app_risk_name(b), nullptr);
    EXPECT_STREQ(app_risk_name(b), ndpi_risk2str(static_cast<ndpi_risk_enum>(b)));
  }
  EXPECT_STREQ(app_confidence_name(NDPI_CONFIDENCE_MATCH_BY_PORT), "Match by port");
}

}  // namespace
}  // namespace ws
