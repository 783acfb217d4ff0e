#include "api/agent_routes.h"

#include "api/dashboard.h"
#include "api/gns3_routes.h"
#include "api/openapi.h"
#include "api/qos_routes.h"
#include "api/traffic_routes.h"

namespace ws {

nlohmann::json status_json(const AgentStatus& s) {
  using nlohmann::json;
  json sources = json::array();
  for (const SourceStatus& x : s.sources)
    sources.push_back({{"name", x.name},
                       {"packets", x.packets},
                       {"bytes", x.bytes},
                       {"drops",
                        {{"kernel", x.kernel_drops},
                         {"interface", x.if_drops},
                         {"truncated_record", x.truncated},
                         {"unsupported_link", x.unsupported_link}}}});
  json workers = json::array();
  uint64_t active = 0, capacity = 0;
  for (const WorkerStatus& w : s.workers) {
    active += w.flows_active;
    capacity += w.flows_capacity;
    workers.push_back({{"id", w.id},
                       {"packets", w.packets},
                       {"bytes", w.bytes},
                       {"flows_active", w.flows_active},
                       {"flows_capacity", w.flows_capacity},
                       {"flows_created", w.flows_created},
                       {"finished", w.finished}});
  }
  json exporters = json::array();
  for (const ExporterStatus& e : s.exporters)
    exporters.push_back({{"name", e.name},
                         {"state", e.up ? "up" : "down"},
                         {"records", e.records},
                         {"alerts", e.alerts},
                         {"messages", e.messages},
                         {"bytes", e.bytes},
                         {"send_errors", e.send_errors},
                         {"dropped_records", e.dropped_records},
                         {"reconnects", e.reconnects}});
  json out = {{"version", s.version},
          {"uptime_s", s.uptime_s},
          {"running", s.running},
          {"sources", sources},
          {"workers", workers},
          {"flow_table",
           {{"active", active}, {"capacity", capacity}, {"fill", capacity ? double(active) / double(capacity) : 0.0}}},
          {"exporters", exporters},
          {"records_exported", s.records_exported},
          {"alerts_exported", s.alerts_exported},
          {"config",
           {{"file", s.config.file.empty() ? json(nullptr) : json(s.config.file)},
            {"reloads_ok", s.config.reloads_ok},
            {"reloads_failed", s.config.reloads_failed},
            {"last_error", s.config.last_error.empty() ? json(nullptr) : json(s.config.last_error)},
            {"restart_needed", s.config.restart_needed}}}};
  if (s.gns3) {
    json servers = json::array();
    for (const Gns3ServerBrief& g : s.gns3_servers)
      servers.push_back({{"name", g.name}, {"reachable", g.reachable}, {"breaker", g.breaker}});
    out["gns3"] = {{"servers", std::move(servers)}};
  }
  return out;
}

nlohmann::json rules_json(const RulesStatus& r) {
  using nlohmann::json;
  json failures = json::array();
  for (const RuleFailure& f : r.failures)
    failures.push_back({{"file", f.file},
                        {"line", f.line},
                        {"sid", f.sid ? json(*f.sid) : json(nullptr)},
                        {"keyword", f.keyword},
                        {"reason", f.reason}});
  return {{"configured", r.configured},
          {"loaded", r.loaded},
          {"failed", r.failed},
          {"disabled", r.disabled},
          {"generation", r.generation},
          {"failures", failures},
          {"config_errors", r.config_errors},
          {"last_reload_error", r.last_reload_error.empty() ? json(nullptr) : json(r.last_reload_error)}};
}

std::string add_agent_routes(Router& router, const AgentHooks& hooks) {
  const AgentHooks* h = &hooks;
  std::vector<Route> routes;
  {
    Route r;
    r.method = "GET";
    r.path = "/api/v1/health";
    r.access = Access::kOpen;
    r.summary = "Liveness: 200 while the agent process answers";
    r.response_schema = "Health";
    r.handler = [](const HttpRequest&) { return json_response(200, {{"status", "ok"}}); };
    routes.push_back(std::move(r));
  }
  {
    Route r;
    r.method = "GET";
    r.path = "/api/v1/ready";
    r.summary = "Readiness: 200 once the capture sources run, else 503";
    r.response_schema = "Ready";
    r.errors = {503};
    r.handler = [h](const HttpRequest&) {
      if (h->status && h->status().running) return json_response(200, {{"status", "ready"}});
      return error_response(503, "the capture sources are not running");
    };
    routes.push_back(std::move(r));
  }
  {
    Route r;
    r.method = "GET";
    r.path = "/api/v1/status";
    r.summary = "Version, uptime, sources, workers, flow-table fill, exporters";
    r.response_schema = "Status";
    r.handler = [h](const HttpRequest&) { return json_response(200, status_json(h->status())); };
    routes.push_back(std::move(r));
  }
  {
    Route r;
    r.method = "GET";
    r.path = "/api/v1/rules";
    r.summary = "Loaded and failed rule counts, each failure with its reason, the rule set generation";
    r.response_schema = "Rules";
    r.handler = [h](const HttpRequest&) { return json_response(200, rules_json(h->rules())); };
    routes.push_back(std::move(r));
  }
  {
    Route r;
    r.method = "POST";
    r.path = "/api/v1/rules/reload";
    r.access = Access::kAdmin;
    r.summary =
        "Reloads the configured rule files. 200 with the new set's report; 409 when no rules are configured or "
        "a reload is already running; 422 when the new set failed to load (the running rules stay; details "
        "holds the report)";
    r.request_schema = "ReloadRequest";
    r.response_schema = "Rules";
    r.errors = {409, 422};
    r.handler = [h](const HttpRequest& req) {
      std::optional<bool> strict;
      if (req.body.find_first_not_of(" \t\r\n") != std::string::npos) {
        const nlohmann::json j = nlohmann::json::parse(req.body, nullptr, false);
        if (j.is_discarded()) return error_response(400, "request body is not valid JSON");
        if (!j.is_object()) return error_response(400, "request body must be a JSON object");
        for (const auto& [k, v] : j.items()) {
          if (k != "strict") return error_response(400, "unknown field '" + k + "' (known: strict)");
          if (!v.is_boolean()) return error_response(400, "'strict' must be true or false");
          strict = v.get<bool>();
        }
      }
      const ReloadOutcome o = h->reload_rules(strict);
      switch (o.result) {
        case ReloadOutcome::Result::kOk: return json_response(200, rules_json(o.report));
        case ReloadOutcome::Result::kNotConfigured:
        case ReloadOutcome::Result::kBusy: return error_response(409, o.error);
        case ReloadOutcome::Result::kInvalid:  // only rule edits give it
        case ReloadOutcome::Result::kFailed: break;
      }
      return error_response(422, "rule reload failed, the running rules stay: " + o.error, rules_json(o.report));
    };
    routes.push_back(std::move(r));
  }
  for (const bool replace : {false, true}) {
    Route r;
    r.method = replace ? "PUT" : "POST";
    r.path = "/api/v1/rules";
    r.access = Access::kAdmin;
    r.summary = replace ? "Replaces the whole rule set (rule files included) with the body's rules (text/plain, "
                          "Suricata syntax; an empty body empties the set). 400 with each failed rule when any "
                          "rule is invalid: nothing is applied"
                        : "Appends the body's rules (text/plain, Suricata syntax) to the running set. 400 with "
                          "each failed rule when any rule is invalid: nothing is applied";
    r.request_schema = "RulesText";
    r.request_content_type = "text/plain";
    r.response_schema = "Rules";
    r.errors = {400, 409, 415, 422};
    r.handler = [h, replace](const HttpRequest& req) {
      const std::string ct = req.content_type.substr(0, req.content_type.find(';'));
      if (!ct.empty() && ct != "text/plain")
        return error_response(415, "rules are sent as text/plain (Suricata rule syntax), not " + ct);
      if (!replace && req.body.find_first_not_of(" \t\r\n") == std::string::npos)
        return error_response(400, "the body has no rules to add");
      if (!h->edit_rules) return error_response(409, "rules cannot be changed on this agent");
      const ReloadOutcome o = h->edit_rules(replace, req.body);
      switch (o.result) {
        case ReloadOutcome::Result::kOk: return json_response(200, rules_json(o.report));
        case ReloadOutcome::Result::kInvalid: return error_response(400, o.error, rules_json(o.report));
        case ReloadOutcome::Result::kNotConfigured:
        case ReloadOutcome::Result::kBusy: return error_response(409, o.error);
        case ReloadOutcome::Result::kFailed: break;
      }
      return error_response(422, "the new rule set failed to load, the running rules stay: " + o.error,
                            rules_json(o.report));
    };
    routes.push_back(std::move(r));
  }
  add_traffic_routes(h, routes);
  add_qos_routes(h->qos, routes);
  {
    // Always present, so the OpenAPI document has them; without a GNS3
    // source they answer with empty lists.
    static const Gns3Hooks kNoGns3;
    add_gns3_routes(h->gns3 ? h->gns3 : &kNoGns3, routes);
  }
  {
    Route r;
    r.method = "GET";
    r.path = "/metrics";
    r.access = Access::kOpen;
    r.summary = "Prometheus metrics (text exposition format 0.0.4)";
    r.response_content_type = "text/plain; version=0.0.4";
    r.handler = [h](const HttpRequest&) {
      HttpResponse resp;
      resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
      resp.body = h->metrics ? h->metrics() : std::string();
      return resp;
    };
    routes.push_back(std::move(r));
  }
  for (Route& r : routes)
    if (std::string e = router.add(std::move(r)); !e.empty()) return e;
  return "";
}

std::string add_openapi_route(Router& router, std::string version, bool metrics_auth) {
  Route r;
  r.method = "GET";
  r.path = "/api/v1/openapi.json";
  r.summary = "This document: every route of the agent";
  r.response_schema = "OpenApiDocument";
  const Router* rt = &router;
  r.handler = [rt, version, metrics_auth](const HttpRequest&) {
    return json_response(200, openapi_document(*rt, api_schemas(), version, metrics_auth));
  };
  return router.add(std::move(r));
}

nlohmann::json api_schemas() {
  using nlohmann::json;
  auto obj = [](json props, json required) {
    return json{{"type", "object"}, {"properties", std::move(props)}, {"required", std::move(required)}};
  };
  const json u64 = {{"type", "integer"}, {"format", "int64"}, {"minimum", 0}};
  const json str = {{"type", "string"}};
  const json boolean = {{"type", "boolean"}};
  json s;
  s["Error"] = obj({{"error", obj({{"code", {{"type", "integer"}, {"description", "the HTTP status"}}},
                                   {"message", {{"type", "string"}, {"description", "what went wrong and what to do"}}},
                                   {"details", {{"description", "optional: more about the error (e.g. a Rules report)"}}}},
                                  {"code", "message"})}},
                   {"error"});
  s["Health"] = obj({{"status", {{"type", "string"}, {"enum", {"ok"}}}}}, {"status"});
  s["Ready"] = obj({{"status", {{"type", "string"}, {"enum", {"ready"}}}}}, {"status"});
  s["Source"] = obj({{"name", str},
                     {"packets", u64},
                     {"bytes", u64},
                     {"drops", obj({{"kernel", u64}, {"interface", u64}, {"truncated_record", u64}, {"unsupported_link", u64}},
                                   {"kernel", "interface", "truncated_record", "unsupported_link"})}},
                    {"name", "packets", "bytes", "drops"});
  s["Worker"] = obj({{"id", u64},
                     {"packets", u64},
                     {"bytes", u64},
                     {"flows_active", u64},
                     {"flows_capacity", u64},
                     {"flows_created", u64},
                     {"finished", boolean}},
                    {"id", "packets", "bytes", "flows_active", "flows_capacity", "flows_created", "finished"});
  s["Exporter"] = obj({{"name", str},
                       {"state", {{"type", "string"}, {"enum", {"up", "down"}}}},
                       {"records", u64},
                       {"alerts", u64},
                       {"messages", u64},
                       {"bytes", u64},
                       {"send_errors", u64},
                       {"dropped_records", u64},
                       {"reconnects", u64}},
                      {"name", "state", "records", "send_errors", "dropped_records"});
  s["Status"] = obj({{"version", str},
                     {"uptime_s", {{"type", "number"}}},
                     {"running", boolean},
                     {"sources", {{"type", "array"}, {"items", {{"$ref", "#/components/schemas/Source"}}}}},
                     {"workers", {{"type", "array"}, {"items", {{"$ref", "#/components/schemas/Worker"}}}}},
                     {"flow_table", obj({{"active", u64}, {"capacity", u64}, {"fill", {{"type", "number"}}}},
                                        {"active", "capacity", "fill"})},
                     {"exporters", {{"type", "array"}, {"items", {{"$ref", "#/components/schemas/Exporter"}}}}},
                     {"records_exported", u64},
                     {"alerts_exported", u64},
                     {"config", obj({{"file", {{"type", "string"}, {"nullable", true}}},
                                     {"reloads_ok", u64},
                                     {"reloads_failed", u64},
                                     {"last_error", {{"type", "string"}, {"nullable", true}}},
                                     {"restart_needed", {{"type", "array"}, {"items", str}}}},
                                    {"file", "reloads_ok", "reloads_failed", "last_error", "restart_needed"})},
                     {"gns3", obj({{"servers", {{"type", "array"},
                                                {"items", obj({{"name", str},
                                                               {"reachable", boolean},
                                                               {"breaker", {{"type", "string"},
                                                                            {"enum", {"closed", "half-open", "open"}}}}},
                                                              {"name", "reachable", "breaker"})}}}},
                                  {"servers"})}},
                    {"version", "uptime_s", "running", "sources", "workers", "flow_table", "exporters"});
  s["RuleFailure"] = obj({{"file", str},
                          {"line", u64},
                          {"sid", {{"type", "integer"}, {"nullable", true}}},
                          {"keyword", str},
                          {"reason", str}},
                         {"file", "line", "sid", "keyword", "reason"});
  s["Rules"] = obj({{"configured", boolean},
                    {"loaded", u64},
                    {"failed", u64},
                    {"disabled", u64},
                    {"generation", u64},
                    {"failures", {{"type", "array"}, {"items", {{"$ref", "#/components/schemas/RuleFailure"}}}}},
                    {"config_errors", {{"type", "array"}, {"items", str}}},
                    {"last_reload_error", {{"type", "string"}, {"nullable", true}}}},
                   {"configured", "loaded", "failed", "generation", "failures"});
  s["ReloadRequest"] = {
      {"type", "object"},
      {"additionalProperties", false},
      {"description", "Optional body; empty means the configured behaviour"},
      {"properties",
       {{"strict", {{"type", "boolean"}, {"description", "refuse the new set if any rule fails (overrides rules.strict)"}}}}}};
  s["RulesText"] = {{"type", "string"}, {"description", "rules in Suricata syntax, one per line (# comments, \\ continuations)"}};
  s["OpenApiDocument"] = {{"type", "object"}, {"description", "an OpenAPI 3.0 document"}};
  add_traffic_schemas(s);
  add_qos_schemas(s);
  add_gns3_schemas(s);
  add_dashboard_schemas(s);
  return s;
}

}  // namespace ws
