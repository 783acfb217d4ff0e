// Router: the API's route table. Each route is a method, a path template
// with {name} segments, the least role that may call it, a handler, and
// what the OpenAPI document says about it (summary, schemas, query
// parameters, error codes). The table is the single source of truth: the
// server dispatches from it and openapi.json is generated from it, so a
// route cannot exist without being documented.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "api/http.h"

namespace ws {

// kOpen routes (/metrics, /api/v1/health) need no token unless
// api.metrics_auth is set; then they need viewer.
enum class Access { kOpen, kViewer, kAdmin };

using Handler = std::function<HttpResponse(const HttpRequest&)>;

struct QueryParamDoc {
  std::string name;
  std::string type = "string";  // OpenAPI type: string, integer, boolean
  std::string description;
  bool required = false;
};

struct Route {
  std::string method;  // upper case
  std::string path;    // "/api/v1/flows/{id}"
  Access access = Access::kViewer;
  Handler handler;
  std::string summary;
  std::string request_schema;  // components.schemas name; empty: no body
  std::string request_content_type = "application/json";
  std::string response_schema;  // of the 200 answer
  std::string response_content_type = "application/json";
  std::vector<int> errors;  // route-specific error codes (400, 409, 422, 503, ...)
  std::vector<QueryParamDoc> query;
};

struct RouteMatch {
  const Route* route = nullptr;
  std::map<std::string, std::string> params;
  // When route is null: the methods the path has (405 with Allow), or
  // empty (404).
  std::vector<std::string> allowed;
};

class Router {
 public:
  // Returns "" or why the route cannot be added (a duplicate method and
  // path, a malformed template).
  std::string add(Route r);

  // Literal segments win over {params} when two templates fit, so
  // /flows/top is never taken for /flows/{id}.
  RouteMatch match(const std::string& method, const std::string& path) const;

  const std::vector<Route>& routes() const { return routes_; }

  // {name} segments of a template, in order.
  static std::vector<std::string> template_params(const std::string& tmpl);

 private:
  std::vector<Route> routes_;
};

}  // namespace ws
