#include "api/openapi.h"

#include <gtest/gtest.h>

#include <functional>

#include "api/agent_routes.h"

namespace ws {
namespace {

Router agent_router(AgentHooks& h) {
  Router r;
  EXPECT_EQ(add_agent_routes(r, h), "");
  EXPECT_EQ(add_openapi_route(r, "1.2.3"), "");
  return r;
}

// Every "$ref" in j, wherever it is.
void collect_refs(const nlohmann::json& j, std::vector<std::string>& out) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      if (k == "$ref" && v.is_string()) out.push_back(v.get<std::string>());
      collect_refs(v, out);
    }
  } else if (j.is_array()) {
    for (const auto& v : j) collect_refs(v, out);
  }
}

TEST(OpenApi, DocumentsEveryRouteOfTheRouter) {
  AgentHooks h;
  Router rt = agent_router(h);
  const nlohmann::json doc = openapi_document(rt, api_schemas(), "1.2.3");
  EXPECT_EQ(doc["openapi"].get<std::string>().substr(0, 2), "3.");
  EXPECT_EQ(doc["info"]["version"], "1.2.3");
  size_t ops = 0;
  for (const auto& [path, item] : doc["paths"].items()) ops += item.size();
  EXPECT_EQ(ops, rt.routes().size());
  for (const Route& r : rt.routes()) {
    std::string m = r.method;
    for (char& c : m) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    SCOPED_TRACE(r.method + " " + r.path);
    ASSERT_TRUE(doc["paths"].contains(r.path));
    ASSERT_TRUE(doc["paths"][r.path].contains(m));
    const auto& op = doc["paths"][r.path][m];
    EXPECT_EQ(op["summary"], r.summary);
    EXPECT_TRUE(op["responses"].contains("200"));
    EXPECT_TRUE(op["responses"].contains("429"));
    if (r.access == Access::kOpen) {
      EXPECT_TRUE(op["security"].empty());
      EXPECT_FALSE(op["responses"].contains("401"));
    } else {
      EXPECT_FALSE(op.contains("security"));  // the global bearer requirement
      EXPECT_TRUE(op["responses"].contains("401"));
      EXPECT_TRUE(op["responses"].contains("403"));
    }
    for (int e : r.errors) EXPECT_TRUE(op["responses"].contains(std::to_string(e))) << e;
    if (!r.request_schema.empty()) {
      EXPECT_TRUE(op.contains("requestBody"));
      EXPECT_TRUE(op["responses"].contains("413"));
      EXPECT_TRUE(op["responses"].contains("400"));
    }
  }
  // The route list with the openapi route itself.
  EXPECT_TRUE(doc["paths"].contains("/api/v1/openapi.json"));
  EXPECT_EQ(doc["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer");
}

TEST(OpenApi, EveryReferencedSchemaExists) {
  AgentHooks h;
  Router rt = agent_router(h);
  const nlohmann::json doc = openapi_document(rt, api_schemas(), "1");
  std::vector<std::string> refs;
  collect_refs(doc, refs);
  EXPECT_FALSE(refs.empty());
  for (const std::string& ref : refs) {
    ASSERT_EQ(ref.rfind("#/components/schemas/", 0), 0u) << ref;
    EXPECT_TRUE(doc["components"]["schemas"].contains(ref.substr(21))) << ref;
  }
}

TEST(OpenApi, PathAndQueryParametersAreListed) {
  Router rt;
  Route r;
  r.method = "GET";
  r.path = "/api/v1/flows/{id}";
  r.summary = "one flow";
  r.query = {{"fields", "string", "which fields", false}};
  r.handler = [](const HttpRequest&) { return HttpResponse{}; };
  ASSERT_EQ(rt.add(r), "");
  const nlohmann::json doc = openapi_document(rt, api_schemas(), "1");
  const auto& params = doc["paths"]["/api/v1/flows/{id}"]["get"]["parameters"];
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0]["name"], "id");
  EXPECT_EQ(params[0]["in"], "path");
  EXPECT_EQ(params[0]["required"], true);
  EXPECT_EQ(params[1]["name"], "fields");
  EXPECT_EQ(params[1]["in"], "query");
}

TEST(OpenApi, MetricsAuthIsDocumented) {
  AgentHooks h;
  Router rt = agent_router(h);
  const nlohmann::json doc = openapi_document(rt, api_schemas(), "1", true);
  EXPECT_FALSE(doc["paths"]["/metrics"]["get"].contains("security"));
  EXPECT_TRUE(doc["paths"]["/metrics"]["get"]["responses"].contains("401"));
}

TEST(OpenApi, ServedDocumentMatchesTheTable) {
  AgentHooks h;
  Router rt = agent_router(h);
  const RouteMatch m = rt.match("GET", "/api/v1/openapi.json");
  ASSERT_NE(m.route, nullptr);
  const HttpResponse resp = m.route->handler(HttpRequest{});
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(nlohmann::json::parse(resp.body), openapi_document(rt, api_schemas(), "1.2.3"));
}

}  // namespace
}  // namespace ws
