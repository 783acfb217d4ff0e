// The traffic routes: GET /api/v1/flows, /flows/top, /hosts/top and
// /alerts, over the flow snapshot and alert history hooks, and the schemas
// their answers follow.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "api/agent_view.h"
#include "api/router.h"

namespace ws {

void add_traffic_routes(const AgentHooks* hooks, std::vector<Route>& routes);
void add_traffic_schemas(nlohmann::json& schemas);

}  // namespace ws
