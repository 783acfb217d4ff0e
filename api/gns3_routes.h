// The GNS3 orchestration routes: which lab servers answer, which projects
// carry traffic now, their links, and capture on/off per project.
//
//   GET    /api/v1/gns3/servers                 reachability, version, breaker state
//   GET    /api/v1/gns3/projects                capture state, pps, bps, active flows,
//                                               alerts, last packet time, has_traffic
//   GET    /api/v1/gns3/projects/{id}/links     per link: nodes, state, counters
//   POST   /api/v1/gns3/projects/{id}/capture   capture every link of a project (admin)
//   DELETE /api/v1/gns3/projects/{id}/capture   stop (admin)
//
// Everything comes through Gns3Hooks, so the API library needs neither the
// GNS3 client nor the flow table: gns3_hooks_for() fills the source's part,
// the agent adds flow and alert counts per project.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "api/router.h"
#include "dataplane/capture/gns3_source.h"

namespace ws {

struct Gns3Hooks {
  std::function<std::vector<Gns3ServerStatus>()> servers;
  std::function<std::vector<Gns3ProjectStatus>()> projects;
  std::function<bool(const std::string& project, std::vector<Gns3LinkStatus>*)> links;
  // {HTTP status, message}: 200 with "" when done.
  std::function<std::pair<int, std::string>(const std::string& project)> capture;
  std::function<std::pair<int, std::string>(const std::string& project)> stop;
  std::function<bool(const Gns3ProjectStatus&, uint64_t now_wall_ns)> has_traffic;
  // From the agent (optional): active flows and alerts of a project (by id).
  std::function<uint64_t(const std::string& project_id)> active_flows;
  std::function<uint64_t(const std::string& project_id)> alerts;
};

void add_gns3_routes(const Gns3Hooks* hooks, std::vector<Route>& routes);
void add_gns3_schemas(nlohmann::json& schemas);

// The /projects answer's rows; also the WebSocket `gns3` topic's payload.
nlohmann::json gns3_projects_json(const Gns3Hooks& hooks, uint64_t now_wall_ns);

// The source's part of the hooks (the agent sets active_flows and alerts).
inline Gns3Hooks gns3_hooks_for(Gns3Source* s) {
  Gns3Hooks h;
  h.servers = [s] { return s->servers(); };
  h.projects = [s] { return s->projects(); };
  h.links = [s](const std::string& p, std::vector<Gns3LinkStatus>* out) { return s->links(p, out); };
  auto status = [](std::string e) {
    if (e.empty()) return std::pair<int, std::string>{200, ""};
    return std::pair<int, std::string>{e.rfind("no ", 0) == 0 ? 404 : 502, e};
  };
  h.capture = [s, status](const std::string& p) { return status(s->capture_project(p)); };
  h.stop = [s, status](const std::string& p) { return status(s->stop_project(p)); };
  h.has_traffic = [s](const Gns3ProjectStatus& p, uint64_t now) { return s->has_traffic(p, now); };
  return h;
}

}  // namespace ws
