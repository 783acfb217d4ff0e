// The GNS3 orchestration routes over fixed hooks: answers, errors, roles, schemas.
#include <gtest/gtest.h>

#include "api/gns3_routes.h"

namespace ws {
namespace {

const Route& find(const std::vector<Route>& rs, const std::string& m, const std::string& p) {
  for (const auto& r : rs)
    if (r.method == m && r.path == p) return r;
  ADD_FAILURE() << m << " " << p << " missing";
  return rs.front();
}

struct Fixture {
  Gns3Hooks h;
  std::vector<Route> routes;
  std::string captured, stopped;
  Fixture() {
    h.servers = [] {
      Gns3ServerStatus s;
      s.name = "lab1";
      s.url = "http://127.0.0.1:3080";
      s.api = "v2";
      s.reachable = false;
      s.breaker = BreakerState::kOpen;
      s.breaker_opened = 2;
      s.last_error = "lab1: connection refused";
      return std::vector<Gns3ServerStatus>{s};
    };
    h.projects = [] {
      Gns3ProjectStatus a, b;
      a.server = b.server = "lab1";
      a.project_id = "p-a";
      a.name = "Enterprise Lab";
      a.capture = "capturing";
      a.packets = 10;
      a.pps = 5;
      a.bps = 4000;
      a.last_packet_ns = 1'700'000'000'000'000'000ull;
      b.project_id = "p-b";
      b.name = "Branch Lab";
      b.capture = "capturing";
      return std::vector<Gns3ProjectStatus>{a, b};
    };
    h.links = [](const std::string& p, std::vector<Gns3LinkStatus>* out) {
      if (p != "p-a") return false;
      Gns3LinkStatus l;
      l.label.link_id = "l1";
      l.label.nodes = {"R1", "SW1"};
      l.state = "streaming";
      l.packets = 10;
      out->push_back(l);
      return true;
    };
    h.capture = [this](const std::string& p) {
      captured = p;
      return p == "nope" ? std::pair<int, std::string>{404, "no such project"} : std::pair<int, std::string>{200, ""};
    };
    h.stop = [this](const std::string& p) {
      stopped = p;
      return std::pair<int, std::string>{200, ""};
    };
    h.has_traffic = [](const Gns3ProjectStatus& p, uint64_t) { return p.pps > 0; };
    h.active_flows = [](const std::string& id) { return id == "p-a" ? 3u : 0u; };
    h.alerts = [](const std::string& id) { return id == "p-a" ? 1u : 0u; };
    add_gns3_routes(&h, routes);
  }
  nlohmann::json call(const std::string& m, const std::string& path, const std::string& id, int* status) {
    HttpRequest req;
    req.method = m;
    req.params["id"] = id;
    HttpResponse r = find(routes, m, path).handler(req);
    *status = r.status;
    return nlohmann::json::parse(r.body);
  }
};

TEST(Gns3Routes, ServersProjectsLinks) {
  Fixture f;
  int st;
  auto s = f.call("GET", "/api/v1/gns3/servers", "", &st);
  EXPECT_EQ(st, 200);
  EXPECT_EQ(s["servers"][0]["breaker"], "open");
  EXPECT_EQ(s["servers"][0]["reachable"], false);
  EXPECT_EQ(s["servers"][0]["version"], nullptr);
  auto p = f.call("GET", "/api/v1/gns3/projects", "", &st);
  ASSERT_EQ(p["projects"].size(), 2u);
  EXPECT_EQ(p["projects"][0]["has_traffic"], true);
  EXPECT_EQ(p["projects"][0]["active_flows"], 3);
  EXPECT_EQ(p["projects"][0]["alerts"], 1);
  EXPECT_EQ(p["projects"][0]["bps"], 4000);
  EXPECT_TRUE(p["projects"][0]["last_packet"].is_string());
  EXPECT_EQ(p["projects"][1]["has_traffic"], false);
  EXPECT_EQ(p["projects"][1]["last_packet"], nullptr);
  auto l = f.call("GET", "/api/v1/gns3/projects/{id}/links", "p-a", &st);
  EXPECT_EQ(l["links"][0]["nodes"], nlohmann::json({"R1", "SW1"}));
  f.call("GET", "/api/v1/gns3/projects/{id}/links", "zz", &st);
  EXPECT_EQ(st, 404);
}

TEST(Gns3Routes, CaptureOnOffIsAdminAndReportsErrors) {
  Fixture f;
  EXPECT_EQ(find(f.routes, "POST", "/api/v1/gns3/projects/{id}/capture").access, Access::kAdmin);
  EXPECT_EQ(find(f.routes, "DELETE", "/api/v1/gns3/projects/{id}/capture").access, Access::kAdmin);
  int st;
  auto r = f.call("POST", "/api/v1/gns3/projects/{id}/capture", "p-b", &st);
  EXPECT_EQ(st, 200);
  EXPECT_EQ(f.captured, "p-b");
  EXPECT_EQ(r["capture"], true);
  r = f.call("DELETE", "/api/v1/gns3/projects/{id}/capture", "p-a", &st);
  EXPECT_EQ(f.stopped, "p-a");
  EXPECT_EQ(r["capture"], false);
  r = f.call("POST", "/api/v1/gns3/projects/{id}/capture", "nope", &st);
  EXPECT_EQ(st, 404);
  EXPECT_EQ(r["error"]["message"], "no such project");
}

TEST(Gns3Routes, EverySchemaTheRoutesNameExists) {
  Fixture f;
  nlohmann::json schemas = nlohmann::json::object();
  add_gns3_schemas(schemas);
  for (const auto& r : f.routes) EXPECT_TRUE(schemas.contains(r.response_schema)) << r.path;
  Router router;
  for (auto r : f.routes) EXPECT_EQ(router.add(std::move(r)), "");
}

}  // namespace
}  // namespace ws
