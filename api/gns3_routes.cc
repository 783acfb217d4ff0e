#include "api/gns3_routes.h"

#include <chrono>

#include "telemetry/eve.h"

namespace ws {
namespace {

uint64_t wall_now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

nlohmann::json time_or_null(uint64_t ns) {
  if (!ns) return nullptr;
  char ts[kEveTimestampLen];
  return std::string(ts, format_eve_timestamp(ns, ts));
}

const char* breaker_name(BreakerState s) {
  switch (s) {
    case BreakerState::kClosed: return "closed";
    case BreakerState::kOpen: return "open";
    case BreakerState::kHalfOpen: return "half-open";
  }
  return "closed";
}

nlohmann::json nstr(const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); }

}  // namespace

nlohmann::json gns3_projects_json(const Gns3Hooks& h, uint64_t now) {
  nlohmann::json rows = nlohmann::json::array();
  if (!h.projects) return rows;
  for (const Gns3ProjectStatus& p : h.projects()) {
    rows.push_back({{"server", p.server},
                    {"project_id", nstr(p.project_id)},
                    {"name", p.name},
                    {"capture", p.capture},
                    {"links", p.links},
                    {"links_capturing", p.links_capturing},
                    {"packets", p.packets},
                    {"bytes", p.bytes},
                    {"pps", p.pps},
                    {"bps", p.bps},
                    {"active_flows", h.active_flows && !p.project_id.empty() ? h.active_flows(p.project_id) : 0},
                    {"alerts", h.alerts && !p.project_id.empty() ? h.alerts(p.project_id) : 0},
                    {"last_packet", time_or_null(p.last_packet_ns)},
                    {"has_traffic", h.has_traffic ? h.has_traffic(p, now) : p.pps > 0},
                    {"error", nstr(p.error)}});
  }
  return rows;
}

void add_gns3_routes(const Gns3Hooks* h, std::vector<Route>& routes) {
  {
    Route r;
    r.method = "GET";
    r.path = "/api/v1/gns3/servers";
    r.summary = "Configured GNS3 servers: reachability, version and circuit breaker state";
    r.response_schema = "Gns3Servers";
    r.handler = [h](const HttpRequest&) {
      nlohmann::json rows = nlohmann::json::array();
      if (h->servers)
        for (const Gns3ServerStatus& s : h->servers())
          rows.push_back({{"name", s.name},
                          {"url", s.url},
                          {"api", s.api},
                          {"reachable", s.reachable},
                          {"version", nstr(s.version)},
                          {"breaker", breaker_name(s.breaker)},
                          {"breaker_opened", s.breaker_opened},
                          {"breaker_rejected", s.breaker_rejected},
                          {"last_error", nstr(s.last_error)}});
      return json_response(200, {{"servers", std::move(rows)}});
    };
    routes.push_back(std::move(r));
  }
  {
    Route r;
    r.method = "GET";
    r.path = "/api/v1/gns3/projects";
    r.summary =
        "Captured GNS3 projects: capture state, packet and bit rates over the last second, active flows, alerts, "
        "last packet time and has_traffic (a packet within the last 5 s)";
    r.response_schema = "Gns3Projects";
    r.handler = [h](const HttpRequest&) { return json_response(200, {{"projects", gns3_projects_json(*h, wall_now_ns())}}); };
    routes.push_back(std::move(r));
  }
  {
    Route r;
    r.method = "GET";
    r.path = "/api/v1/gns3/projects/{id}/links";
    r.summary = "The captured links of a project (by id or name): nodes, stream state and counters";
    r.response_schema = "Gns3Links";
    r.errors = {404};
    r.handler = [h](const HttpRequest& req) {
      const std::string id = req.params.at("id");
      std::vector<Gns3LinkStatus> ls;
      if (!h->links || !h->links(id, &ls)) return error_response(404, "no captured GNS3 project '" + id + "'");
      nlohmann::json rows = nlohmann::json::array();
      for (const Gns3LinkStatus& l : ls)
        rows.push_back({{"link_id", l.label.link_id},
                        {"nodes", {l.label.nodes[0], l.label.nodes[1]}},
                        {"ifindex", l.ifindex},
                        {"state", l.state},
                        {"packets", l.packets},
                        {"bytes", l.bytes},
                        {"last_packet", time_or_null(l.last_packet_ns)},
                        {"reconnects", l.reconnects},
                        {"truncated", l.truncated},
                        {"unsupported_link", l.unsupported_link},
                        {"replayed", l.replayed},
                        {"clipped", l.clipped},
                        {"error", nstr(l.error)}});
      return json_response(200, {{"project", id}, {"links", std::move(rows)}});
    };
    routes.push_back(std::move(r));
  }
  for (const char* method : {"POST", "DELETE"}) {
    Route r;
    r.method = method;
    r.path = "/api/v1/gns3/projects/{id}/capture";
    r.access = Access::kAdmin;
    const bool on = std::string(method) == "POST";
    r.summary = on ? "Capture every link of a GNS3 project (by id or name) on a configured server"
                   : "Stop capturing a GNS3 project (the captures this agent started are stopped on the server)";
    r.response_schema = "Gns3CaptureResult";
    r.errors = {404, 502, 503};
    r.handler = [h, on](const HttpRequest& req) {
      const std::string id = req.params.at("id");
      const auto& fn = on ? h->capture : h->stop;
      if (!fn) return error_response(503, "GNS3 capture is not configured");
      auto [status, msg] = fn(id);
      if (status != 200) return error_response(status, msg);
      return json_response(200, {{"project", id}, {"capture", on}});
    };
    routes.push_back(std::move(r));
  }
}

void add_gns3_schemas(nlohmann::json& s) {
  using nlohmann::json;
  auto obj = [](json props, json required) {
    return json{{"type", "object"}, {"properties", std::move(props)}, {"required", std::move(required)}};
  };
  const json u64 = {{"type", "integer"}, {"format", "int64"}, {"minimum", 0}};
  const json num = {{"type", "number"}};
  const json str = {{"type", "string"}};
  const json nstr_ = {{"type", "string"}, {"nullable", true}};
  const json boolean = {{"type", "boolean"}};
  auto array_of = [](const char* ref) {
    return json{{"type", "array"}, {"items", {{"$ref", std::string("#/components/schemas/") + ref}}}};
  };
  s["Gns3Server"] = obj({{"name", str},
                         {"url", str},
                         {"api", {{"type", "string"}, {"enum", {"v2", "v3"}}}},
                         {"reachable", boolean},
                         {"version", nstr_},
                         {"breaker", {{"type", "string"}, {"enum", {"closed", "open", "half-open"}}}},
                         {"breaker_opened", u64},
                         {"breaker_rejected", u64},
                         {"last_error", nstr_}},
                        {"name", "url", "api", "reachable", "version", "breaker"});
  s["Gns3Servers"] = obj({{"servers", array_of("Gns3Server")}}, {"servers"});
  s["Gns3Project"] =
      obj({{"server", str},
           {"project_id", nstr_},
           {"name", str},
           {"capture", {{"type", "string"}, {"enum", {"capturing", "starting", "stopped", "unreachable", "error"}}}},
           {"links", u64},
           {"links_capturing", u64},
           {"packets", u64},
           {"bytes", u64},
           {"pps", num},
           {"bps", num},
           {"active_flows", u64},
           {"alerts", u64},
           {"last_packet", nstr_},
           {"has_traffic", boolean},
           {"error", nstr_}},
          {"server", "project_id", "name", "capture", "pps", "bps", "active_flows", "alerts", "last_packet",
           "has_traffic"});
  s["Gns3Projects"] = obj({{"projects", array_of("Gns3Project")}}, {"projects"});
  s["Gns3Link"] = obj({{"link_id", str},
                       {"nodes", {{"type", "array"}, {"items", str}, {"minItems", 2}, {"maxItems", 2}}},
                       {"ifindex", u64},
                       {"state", {{"type", "string"}, {"enum", {"starting", "waiting", "streaming", "backoff", "stopped"}}}},
                       {"packets", u64},
                       {"bytes", u64},
                       {"last_packet", nstr_},
                       {"reconnects", u64},
                       {"truncated", u64},
                       {"unsupported_link", u64},
                       {"replayed", u64},
                       {"clipped", u64},
                       {"error", nstr_}},
                      {"link_id", "nodes", "state", "packets", "bytes"});
  s["Gns3Links"] = obj({{"project", str}, {"links", array_of("Gns3Link")}}, {"project", "links"});
  s["Gns3CaptureResult"] = obj({{"project", str}, {"capture", boolean}}, {"project", "capture"});
}

}  // namespace ws
