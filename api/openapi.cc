#include "api/openapi.h"

#include <algorithm>

namespace ws {
namespace {

const char* reason_phrase(int code) {
  switch (code) {
    case 200: return "OK";
    case 400: return "Malformed request (bad JSON, bad parameter)";
    case 401: return "Missing or unknown bearer token (with WWW-Authenticate: Bearer)";
    case 403: return "The token's role may not call this route";
    case 404: return "Not found";
    case 405: return "Method not allowed (with Allow)";
    case 409: return "Conflict with the agent's state";
    case 413: return "Request body over api.max_body_bytes";
    case 422: return "The request was understood but could not be applied";
    case 429: return "Rate limit exceeded (with Retry-After)";
    case 503: return "Not ready";
  }
  return "Error";
}

nlohmann::json schema_ref(const std::string& name) { return {{"$ref", "#/components/schemas/" + name}}; }

}  // namespace

nlohmann::json openapi_document(const Router& router, const nlohmann::json& schemas, const std::string& version,
                                bool metrics_auth) {
  nlohmann::json paths = nlohmann::json::object();
  for (const Route& r : router.routes()) {
    nlohmann::json op;
    std::string method = r.method;
    std::transform(method.begin(), method.end(), method.begin(), [](unsigned char c) { return std::tolower(c); });
    op["summary"] = r.summary;
    // operationId: method plus the path's words, unique because method and
    // path are.
    std::string id = method;
    for (char c : r.path) id += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    op["operationId"] = id;
    const bool needs_token = r.access != Access::kOpen || metrics_auth;
    if (!needs_token) op["security"] = nlohmann::json::array();  // open: overrides the global requirement
    const char* role = r.access == Access::kAdmin ? "admin" : (needs_token ? "viewer" : "none");
    op["x-wirescope-role"] = role;

    nlohmann::json params = nlohmann::json::array();
    for (const std::string& p : Router::template_params(r.path))
      params.push_back({{"name", p}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}});
    for (const QueryParamDoc& q : r.query)
      params.push_back({{"name", q.name},
                        {"in", "query"},
                        {"required", q.required},
                        {"description", q.description},
                        {"schema", {{"type", q.type}}}});
    if (!params.empty()) op["parameters"] = params;

    if (!r.request_schema.empty())
      op["requestBody"] = {{"required", false},
                           {"content", {{r.request_content_type, {{"schema", schema_ref(r.request_schema)}}}}}};

    nlohmann::json responses = nlohmann::json::object();
    nlohmann::json ok = {{"description", reason_phrase(200)}};
    if (!r.response_schema.empty())
      ok["content"] = {{r.response_content_type, {{"schema", schema_ref(r.response_schema)}}}};
    else
      ok["content"] = {{r.response_content_type, {{"schema", {{"type", "string"}}}}}};
    responses["200"] = ok;
    std::vector<int> errors = r.errors;
    errors.push_back(429);
    if (needs_token) {
      errors.push_back(401);
      errors.push_back(403);
    }
    if (!r.request_schema.empty()) {
      errors.push_back(400);
      errors.push_back(413);
    }
    std::sort(errors.begin(), errors.end());
    errors.erase(std::unique(errors.begin(), errors.end()), errors.end());
    for (int code : errors)
      responses[std::to_string(code)] = {
          {"description", reason_phrase(code)},
          {"content", {{"application/json", {{"schema", schema_ref("Error")}}}}}};
    op["responses"] = responses;
    paths[r.path][method] = op;
  }
  nlohmann::json doc = {
      {"openapi", "3.0.3"},
      {"info",
       {{"title", "wirescope agent API"},
        {"version", version},
        {"description",
         "Control and telemetry API of the wirescope agent. Every error body is "
         "{\"error\":{\"code\":N,\"message\":\"...\"}} (schema Error). 404 and 405 (with Allow) are "
         "answered for any path before authentication."}}},
      {"paths", paths},
      {"components",
       {{"schemas", schemas},
        {"securitySchemes", {{"bearerAuth", {{"type", "http"}, {"scheme", "bearer"}}}}}}},
      {"security", nlohmann::json::array({{{"bearerAuth", nlohmann::json::array()}}})},
  };
  return doc;
}

}  // namespace ws
