// GNS3 labels on the way out: EVE flow and alert events carry the "gns3"
// object that EveFormatOptions::labels writes, the API's flow JSON carries
// it from FlowLabels, and project= filters flows by their link's project.
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "api/flow_query.h"
#include "telemetry/eve.h"

namespace ws {
namespace {

FlowRecord flow(uint16_t ifindex, uint8_t last_octet) {
  FlowRecord r{};
  r.key.family = 4;
  r.key.proto = 17;
  r.key.src[0] = 10, r.key.src[3] = last_octet;
  r.key.dst[0] = 10, r.key.dst[3] = 200;
  r.key.sport = 40000;
  r.key.dport = 9000;
  r.flow_id = last_octet;
  r.pkts[0] = 3;
  r.bytes[0] = 300;
  r.start_ns = r.flow_start_ns = 1'700'000'000'000'000'000ull;
  r.end_ns = r.start_ns + 1'000'000'000ull;
  r.ifindex = ifindex;
  return r;
}

// Links 1 and 2 belong to project "p-1" ("Enterprise Lab"), 3 to "p-2".
FlowLabels labels() {
  FlowLabels l;
  auto project = [](uint16_t i) { return i == 1 || i == 2 ? std::string("p-1") : i == 3 ? "p-2" : ""; };
  l.json = [project](uint16_t i) -> nlohmann::json {
    if (project(i).empty()) return nullptr;
    return {{"project_id", project(i)}, {"link_id", "l" + std::to_string(i)}};
  };
  l.in_project = [project](uint16_t i, const std::string& p) {
    return !project(i).empty() && (project(i) == p || (p == "Enterprise Lab" && project(i) == "p-1"));
  };
  return l;
}

HttpRequest req(std::string query) {
  HttpRequest r;
  r.method = "GET";
  r.path = "/api/v1/flows";
  r.query = std::move(query);
  return r;
}

void eve_labels(uint16_t ifindex, JsonWriter& out) {
  if (ifindex == 0) return;
  out.begin_object("gns3");
  out.field("link_id", "l" + std::to_string(ifindex));
  out.begin_array("nodes");
  out.string("R1");
  out.string("SW1");
  out.end_array();
  out.end_object();
}

TEST(Gns3Labels, EveFlowEventCarriesTheLinkLabels) {
  EveFormatOptions opts;
  opts.labels = eve_labels;
  JsonWriter out;
  format_flow_event(flow(2, 1), ExportContext{}, flow(2, 1).end_ns, opts, out);
  const nlohmann::json j = nlohmann::json::parse(out.view());
  ASSERT_TRUE(j.contains("gns3")) << out.view();
  EXPECT_EQ(j["gns3"]["link_id"], "l2");
  EXPECT_EQ(j["gns3"]["nodes"], (nlohmann::json{"R1", "SW1"}));
  EXPECT_EQ(j["flow"]["pkts_toserver"], 3);

  JsonWriter plain;
  format_flow_event(flow(0, 1), ExportContext{}, 0, opts, plain);
  EXPECT_FALSE(nlohmann::json::parse(plain.view()).contains("gns3"));
  JsonWriter unset;
  format_flow_event(flow(2, 1), ExportContext{}, 0, EveFormatOptions{}, unset);
  EXPECT_FALSE(nlohmann::json::parse(unset.view()).contains("gns3"));
}

TEST(Gns3Labels, EveAlertEventCarriesTheLinkLabels) {
  AlertMeta meta;
  meta.sid = 7;
  meta.signature = "test";
  AlertRecord a{};
  a.meta = &meta;
  a.pkt = a.flow = flow(3, 1).key;
  a.ifindex = 3;
  EveFormatOptions opts;
  opts.labels = eve_labels;
  JsonWriter out;
  format_alert_event(a, ExportContext{}, opts, out);
  const nlohmann::json j = nlohmann::json::parse(out.view());
  ASSERT_TRUE(j.contains("gns3")) << out.view();
  EXPECT_EQ(j["gns3"]["link_id"], "l3");
  EXPECT_EQ(j["alert"]["signature_id"], 7);
}

TEST(Gns3Labels, FlowJsonCarriesTheLabels) {
  const FlowLabels l = labels();
  const nlohmann::json j = flow_json(flow(1, 1), &l);
  ASSERT_TRUE(j.contains("gns3"));
  EXPECT_EQ(j["gns3"]["project_id"], "p-1");
  EXPECT_FALSE(flow_json(flow(9, 1), &l).contains("gns3"));
  EXPECT_FALSE(flow_json(flow(1, 1)).contains("gns3"));
}

TEST(Gns3Labels, ProjectFiltersByIdOrName) {
  const FlowLabels l = labels();
  FlowSnapshot snap;
  snap.flows = {flow(1, 1), flow(2, 2), flow(3, 3), flow(0, 4)};
  for (const char* q : {"project=p-1", "project=Enterprise%20Lab"}) {
    FlowQuery fq;
    ASSERT_EQ(parse_flow_query(req(q), &fq, &l), "") << q;
    const FlowPage page = query_flows(snap, fq);
    EXPECT_EQ(page.matched, 2u) << q;
    for (const FlowRecord* r : page.flows) EXPECT_TRUE(r->ifindex == 1 || r->ifindex == 2) << q;
  }
  FlowQuery fq;
  ASSERT_EQ(parse_flow_query(req("project=p-2"), &fq, &l), "");
  EXPECT_EQ(query_flows(snap, fq).matched, 1u);
  ASSERT_EQ(parse_flow_query(req("project=nope"), &fq, &l), "");
  EXPECT_EQ(query_flows(snap, fq).matched, 0u);
}

TEST(Gns3Labels, ProjectWithoutGns3CapturesIsAnError) {
  FlowFilter f;
  const std::string e = parse_flow_filter(req("project=p-1"), &f);
  EXPECT_NE(e.find("project"), std::string::npos) << e;
  EXPECT_NE(e.find("no GNS3"), std::string::npos) << e;
}

}  // namespace
}  // namespace ws
