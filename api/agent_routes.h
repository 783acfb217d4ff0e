// The agent's routes (health, ready, status, rules, metrics, openapi.json)
// on top of AgentHooks, and the JSON schemas that describe them. Later
// route groups (flows, alerts, stream) add themselves the same way.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "api/agent_view.h"
#include "api/router.h"

namespace ws {

// Adds every agent route to router. The hooks must outlive the router.
// Returns "" or the first route that could not be added.
std::string add_agent_routes(Router& router, const AgentHooks& hooks);

// Adds GET /api/v1/openapi.json, which documents every route of router
// (itself included) with schemas(). Add it after the other routes; the
// document is rebuilt per request, so routes added later appear too.
std::string add_openapi_route(Router& router, std::string version, bool metrics_auth = false);

// JSON for the hook types; the same shapes as the schemas below.
nlohmann::json status_json(const AgentStatus& s);
nlohmann::json rules_json(const RulesStatus& r);

// components.schemas of the OpenAPI document: every schema a route names.
nlohmann::json api_schemas();

}  // namespace ws
