// The QoS routes through the Router, without a server: install, replace,
// refuse (400 naming the field, nothing changed), delete, list, stats after
// traffic through a worker's QosStage, the metrics text and the OpenAPI
// schemas the routes name.
#include "api/qos_routes.h"

#include <gtest/gtest.h>

#include "api/agent_routes.h"
#include "api/openapi.h"
#include "bench/pktgen/builder.h"

namespace ws {
namespace {

pktgen::Ipv4Opts tos_opts(uint8_t tos) {
  pktgen::Ipv4Opts o;
  o.tos = tos;
  return o;
}

using nlohmann::json;

const char* kPinned = R"({"classes": [
  {"name": "iperf", "match": {"proto": "tcp", "dst_port": 5201},
   "shape": {"rate_bps": 20000000, "burst_bytes": 32000}},
  {"name": "voip", "match": {"dscp": 46},
   "police": {"cir_bps": 2000000, "cbs_bytes": 20000, "pir_bps": 3000000, "pbs_bytes": 30000,
              "exceed": "remark:0", "violate": "drop"},
   "set_dscp": 46}]})";

class QosRoutes : public ::testing::Test {
 protected:
  QosRoutes() {
    std::vector<Route> routes;
    add_qos_routes(&control_, routes);
    for (Route& r : routes) EXPECT_EQ(router_.add(std::move(r)), "");
  }

  HttpResponse call(const std::string& method, const std::string& path, const std::string& body = "",
                    const std::string& content_type = "application/json") {
    RouteMatch m = router_.match(method, path);
    EXPECT_NE(m.route, nullptr) << method << " " << path;
    if (!m.route) return error_response(404, "no route");
    HttpRequest req;
    req.method = method;
    req.path = path;
    req.params = m.params;
    req.body = body;
    req.content_type = content_type;
    req.role = Role::kAdmin;
    last_access_ = m.route->access;
    return m.route->handler(req);
  }
  static json body(const HttpResponse& r) { return json::parse(r.body); }

  QosControl control_{1};
  Router router_;
  Access last_access_ = Access::kOpen;
};

TEST_F(QosRoutes, PutGetListDelete) {
  HttpResponse r = call("PUT", "/api/v1/qos/policies/lab", kPinned);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(last_access_, Access::kAdmin);
  EXPECT_EQ(body(r)["created"], true);
  EXPECT_EQ(body(r)["name"], "lab");
  const uint64_t gen = body(r)["generation"];
  EXPECT_EQ(control_.slot().current()->generation, gen);
  ASSERT_EQ(control_.slot().current()->policies.size(), 1u);

  r = call("GET", "/api/v1/qos/policies/lab");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(last_access_, Access::kViewer);
  EXPECT_EQ(body(r), json::parse(kPinned));

  r = call("PUT", "/api/v1/qos/policies/lab", R"({"classes": [{"name": "all", "set_dscp": 0}]})");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(body(r)["created"], false);
  EXPECT_GT(body(r)["generation"].get<uint64_t>(), gen);
  ASSERT_EQ(call("PUT", "/api/v1/qos/policies/a-first", R"({"classes": []})").status, 200);

  r = call("GET", "/api/v1/qos/policies");
  ASSERT_EQ(r.status, 200);
  const json list = body(r)["policies"];
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["name"], "a-first");
  EXPECT_EQ(list[1]["name"], "lab");
  EXPECT_EQ(list[1]["policy"]["classes"][0]["name"], "all");

  r = call("DELETE", "/api/v1/qos/policies/lab");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(last_access_, Access::kAdmin);
  EXPECT_EQ(body(r)["deleted"], true);
  EXPECT_EQ(call("GET", "/api/v1/qos/policies/lab").status, 404);
  r = call("DELETE", "/api/v1/qos/policies/lab");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(body(r)["error"]["message"], "no QoS policy named 'lab'");
  EXPECT_EQ(control_.slot().current()->policies.size(), 1u);
}

TEST_F(QosRoutes, InvalidPolicyIs400AndChangesNothing) {
  ASSERT_EQ(call("PUT", "/api/v1/qos/policies/lab", kPinned).status, 200);
  const uint64_t gen = control_.generation();
  const QosSnapshot* snap = control_.slot().current();
  HttpResponse r = call("PUT", "/api/v1/qos/policies/lab",
                        R"({"classes": [{"name": "a"}, {"name": "b", "police": {"cir_bps": 0, "cbs_bytes": 1}}]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(body(r), json::parse(R"({"error": {"code": 400,
      "message": "classes[1].police.cir_bps: must be a positive integer"}})"));
  r = call("PUT", "/api/v1/qos/policies/other", R"({"classes": [{"name": "a", "match": {"dst_port": "x"}}]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(body(r)["error"]["message"],
            "classes[0].match.dst_port: 'x' is not a port 0-65535 or a range \"a-b\" with a <= b");
  r = call("PUT", "/api/v1/qos/policies/other", "{\"classes\": [");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(body(r)["error"]["message"].get<std::string>().rfind("body: not valid JSON: ", 0), 0u);
  r = call("PUT", "/api/v1/qos/policies/other", R"({"classes": [{"name": "a", "set_dscp": 1)" + std::string(400, '0') + "}]}");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(body(r)["error"]["message"].get<std::string>().rfind("body: not valid JSON: number overflow", 0), 0u);
  r = call("PUT", "/api/v1/qos/policies/b@d", R"({"classes": []})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(body(r)["error"]["message"], "name: 'b@d' has a character outside A-Z, a-z, 0-9, '_', '.', '-'");
  r = call("PUT", "/api/v1/qos/policies/lab", "classes: []", "application/yaml");
  EXPECT_EQ(r.status, 415);
  // Nothing changed.
  EXPECT_EQ(control_.generation(), gen);
  EXPECT_EQ(control_.slot().current(), snap);
  EXPECT_EQ(control_.list().size(), 1u);
  EXPECT_EQ(*control_.get("lab"), json::parse(kPinned));
}

// A host-mode backend for the store's side of the contract: it refuses
// what check() names (400), fails apply() on demand (500) and reports its
// own counters; the real one (dataplane/qos/tc_host.h) is tested against
// the kernel in tests/integration/qos_tc.py.
class FakeHost : public QosHost {
 public:
  std::string check(const std::map<std::string, QosPolicy>& next, const std::string& name) override {
    checked.push_back(name);
    const QosPolicy& p = next.at(name);
    for (size_t i = 0; i < p.classes.size(); ++i)
      if (p.classes[i].police.enabled) return "classes[" + std::to_string(i) + "].police: no police here";
    return "";
  }
  std::string apply(const std::map<std::string, QosPolicy>& next) override {
    offered = next;
    if (!fail.empty()) return fail;
    installed = next;
    return "";
  }
  std::vector<QosClassTotals> stats() override {
    std::vector<QosClassTotals> out;
    for (const auto& [name, p] : installed)
      for (const QosClass& c : p.classes) {
        QosClassTotals t;
        t.policy = name;
        t.cls = c.name;
        t.shaped = c.shape.enabled;
        t.packets[0] = 7;
        t.bytes[0] = 7000;
        t.queue_drops = 2;
        t.overlimits = 5;
        out.push_back(t);
      }
    return out;
  }
  nlohmann::json info() override { return {{"interface", "veth9"}, {"leaf_qdisc", "pfifo"}}; }
  std::string metrics_text() override { return "# TYPE wirescope_qos_tc_test_total counter\nwirescope_qos_tc_test_total 1\n"; }

  std::vector<std::string> checked;
  std::map<std::string, QosPolicy> installed;
  std::map<std::string, QosPolicy> offered;  // the last set apply() was given
  std::string fail;
};

TEST_F(QosRoutes, HostApplyFailureChangesNothing) {
  ASSERT_EQ(call("PUT", "/api/v1/qos/policies/lab", kPinned).status, 200);
  const uint64_t gen = control_.generation();
  FakeHost host;
  host.fail = "tc: no such device";
  control_.set_host(&host);
  HttpResponse r = call("PUT", "/api/v1/qos/policies/more", R"({"classes": [{"name": "x"}]})");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(body(r)["error"]["message"], "the policy could not be applied, nothing changed: tc: no such device");
  EXPECT_EQ(host.offered.size(), 2u);  // the whole set it would have installed
  EXPECT_EQ(control_.generation(), gen);
  EXPECT_FALSE(control_.get("more"));
  EXPECT_EQ(call("DELETE", "/api/v1/qos/policies/lab").status, 500);
  EXPECT_TRUE(control_.get("lab"));
}

TEST_F(QosRoutes, PolicyCountIsBounded) {
  for (size_t i = 0; i < kQosMaxPolicies; ++i)
    ASSERT_EQ(call("PUT", "/api/v1/qos/policies/p" + std::to_string(i), R"({"classes": []})").status, 200);
  HttpResponse r = call("PUT", "/api/v1/qos/policies/one-more", R"({"classes": []})");
  EXPECT_EQ(r.status, 409);
  // Replacing one is still fine.
  EXPECT_EQ(call("PUT", "/api/v1/qos/policies/p0", R"({"classes": []})").status, 200);
}

TEST_F(QosRoutes, StatsAndMetricsAfterTraffic) {
  ASSERT_EQ(call("PUT", "/api/v1/qos/policies/lab", kPinned).status, 200);
  QosStage stage(&control_.slot(), 0);
  stage.begin_burst();
  // Four 1000-byte EF frames at one instant: CBS 20000 keeps them green.
  auto frame = pktgen::Builder().eth().ipv4("10.0.0.1", "10.0.0.2", tos_opts(46 << 2)).udp(5060, 5060)
                   .payload_fill(1000 - 42).build();
  Decoder dec;
  Packet p{frame.data(), uint32_t(frame.size()), uint32_t(frame.size()), 0};
  Decoded d;
  ASSERT_TRUE(dec.decode(p, d));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(stage.apply(frame.data(), frame.size(), d, "", true, 1, 1000), TcVerdict::kPass);

  HttpResponse r = call("GET", "/api/v1/qos/stats");
  ASSERT_EQ(r.status, 200);
  const json s = body(r);
  ASSERT_EQ(s["policies"].size(), 1u);
  EXPECT_EQ(s["policies"][0]["name"], "lab");
  const json voip = s["policies"][0]["classes"][1];
  EXPECT_EQ(voip["name"], "voip");
  EXPECT_EQ(voip["policed"], true);
  EXPECT_EQ(voip["colors"]["green"], json({{"packets", 4}, {"bytes", 4000}}));
  EXPECT_EQ(voip["colors"]["red"]["packets"], 0);
  EXPECT_EQ(voip["drops"]["total"], 0);
  EXPECT_EQ(s["policies"][0]["classes"][0]["colors"]["green"]["packets"], 0);

  const std::string text = qos_metrics_text(control_);
  EXPECT_NE(text.find("# TYPE wirescope_qos_packets_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("wirescope_qos_packets_total{policy=\"lab\",class=\"voip\",color=\"green\"} 4\n"),
            std::string::npos);
  EXPECT_NE(text.find("wirescope_qos_bytes_total{policy=\"lab\",class=\"voip\",color=\"green\"} 4000\n"),
            std::string::npos);
  EXPECT_NE(text.find("wirescope_qos_drops_total{policy=\"lab\",class=\"iperf\"} 0\n"), std::string::npos);
  stage.quiesce();
}

TEST(QosRoutesHost, CheckRefusesWith400ApplyFailsWith500StatsComeFromTheHost) {
  QosControl control(0);
  FakeHost host;
  control.set_host(&host);
  Router router;
  std::vector<Route> routes;
  add_qos_routes(&control, routes);
  for (Route& r : routes) ASSERT_EQ(router.add(std::move(r)), "");
  auto call = [&](const std::string& method, const std::string& path, const std::string& body = "") {
    RouteMatch m = router.match(method, path);
    HttpRequest req;
    req.method = method;
    req.path = path;
    req.params = m.params;
    req.body = body;
    req.content_type = "application/json";
    req.role = Role::kAdmin;
    return m.route->handler(req);
  };
  const std::string shape = R"({"classes": [{"name": "iperf", "match": {"proto": "tcp", "dst_port": 5201},
      "shape": {"rate_bps": 20000000, "burst_bytes": 32000}}]})";
  HttpResponse r = call("PUT", "/api/v1/qos/policies/lab", shape);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(host.installed.size(), 1u);
  const uint64_t gen = control.generation();

  // The pinned example polices its second class: refused by the host with
  // the field path, as a bad field is, and nothing changes.
  r = call("PUT", "/api/v1/qos/policies/voip", kPinned);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"]["message"], "classes[1].police: no police here");
  EXPECT_EQ(host.checked.back(), "voip");
  EXPECT_FALSE(control.get("voip"));
  EXPECT_EQ(control.generation(), gen);

  host.fail = "add class 1:100: Invalid argument";
  r = call("PUT", "/api/v1/qos/policies/more", R"({"classes": [{"name": "x"}]})");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(json::parse(r.body)["error"]["message"],
            "the policy could not be applied, nothing changed: add class 1:100: Invalid argument");
  EXPECT_FALSE(control.get("more"));
  EXPECT_EQ(host.installed.size(), 1u);
  host.fail.clear();

  r = call("GET", "/api/v1/qos/stats");
  ASSERT_EQ(r.status, 200);
  const json s = json::parse(r.body);
  EXPECT_EQ(s["tc"], json({{"interface", "veth9"}, {"leaf_qdisc", "pfifo"}}));
  ASSERT_EQ(s["policies"].size(), 1u);
  const json c = s["policies"][0]["classes"][0];
  EXPECT_EQ(c["name"], "iperf");
  EXPECT_EQ(c["shaped"], true);
  EXPECT_EQ(c["colors"]["green"], json({{"packets", 7}, {"bytes", 7000}}));
  EXPECT_EQ(c["drops"]["queue"], 2);
  EXPECT_EQ(c["drops"]["total"], 2);
  EXPECT_EQ(c["overlimits"], 5);
  const std::string text = qos_metrics_text(control);
  EXPECT_NE(text.find("wirescope_qos_packets_total{policy=\"lab\",class=\"iperf\",color=\"green\"} 7\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("wirescope_qos_drops_total{policy=\"lab\",class=\"iperf\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("wirescope_qos_tc_test_total 1\n"), std::string::npos);

  ASSERT_EQ(call("DELETE", "/api/v1/qos/policies/lab").status, 200);
  EXPECT_TRUE(host.installed.empty());
  EXPECT_EQ(json::parse(call("GET", "/api/v1/qos/stats").body)["policies"].size(), 0u);
}

// Inline mode's classes have no overlimits (that is an HTB counter).
TEST_F(QosRoutes, InlineStatsHaveNoTcKeys) {
  ASSERT_EQ(call("PUT", "/api/v1/qos/policies/lab", kPinned).status, 200);
  const json s = body(call("GET", "/api/v1/qos/stats"));
  EXPECT_FALSE(s.contains("tc"));
  EXPECT_FALSE(s["policies"][0]["classes"][0].contains("overlimits"));
}

TEST(QosRoutesNoControl, Answer503) {
  std::vector<Route> routes;
  add_qos_routes(nullptr, routes);
  ASSERT_EQ(routes.size(), 5u);
  for (const Route& r : routes) {
    HttpRequest req;
    req.params.emplace("name", std::string(1, 'x'));
    EXPECT_EQ(r.handler(req).status, 503) << r.method << " " << r.path;
  }
  EXPECT_EQ(qos_metrics_text(std::vector<QosClassTotals>{}), "");
}

// Every schema the routes name exists, and every $ref in them resolves.
TEST(QosRoutesOpenApi, SchemasResolve) {
  Router rt;
  std::vector<Route> routes;
  add_qos_routes(nullptr, routes);
  for (Route& r : routes) ASSERT_EQ(rt.add(std::move(r)), "");
  json schemas = api_schemas();
  add_qos_schemas(schemas);
  const json doc = openapi_document(rt, schemas, "1");
  std::function<void(const json&)> check = [&](const json& j) {
    if (j.is_object()) {
      for (const auto& [k, v] : j.items()) {
        if (k == "$ref") {
          const std::string ref = v.get<std::string>();
          ASSERT_EQ(ref.rfind("#/components/schemas/", 0), 0u);
          EXPECT_TRUE(doc["components"]["schemas"].contains(ref.substr(21))) << ref;
        }
        check(v);
      }
    } else if (j.is_array()) {
      for (const auto& v : j) check(v);
    }
  };
  check(doc);
  EXPECT_TRUE(doc["paths"].contains("/api/v1/qos/policies/{name}"));
  EXPECT_EQ(doc["paths"]["/api/v1/qos/policies/{name}"].size(), 3u);
}

}  // namespace
}  // namespace ws
