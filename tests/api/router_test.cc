#include "api/router.h"

#include <gtest/gtest.h>

namespace ws {
namespace {

Route make(const std::string& method, const std::string& path, std::string tag) {
  Route r;
  r.method = method;
  r.path = path;
  r.handler = [tag](const HttpRequest&) {
    HttpResponse resp;
    resp.body = tag;
    return resp;
  };
  return r;
}

TEST(Router, MatchesLiteralPaths) {
  Router rt;
  ASSERT_EQ(rt.add(make("GET", "/api/v1/health", "health")), "");
  ASSERT_EQ(rt.add(make("GET", "/api/v1/status", "status")), "");
  RouteMatch m = rt.match("GET", "/api/v1/status");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->handler(HttpRequest{}).body, "status");
  EXPECT_EQ(rt.match("GET", "/api/v1/statu").route, nullptr);
  EXPECT_EQ(rt.match("GET", "/api/v1/status/").route, nullptr);
  EXPECT_EQ(rt.match("GET", "/api/v1").route, nullptr);
  EXPECT_TRUE(rt.match("GET", "/nope").allowed.empty());
}

TEST(Router, ExtractsPathParams) {
  Router rt;
  ASSERT_EQ(rt.add(make("GET", "/api/v1/flows/{id}/packets/{n}", "p")), "");
  RouteMatch m = rt.match("GET", "/api/v1/flows/abc123/packets/7");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.params.at("id"), "abc123");
  EXPECT_EQ(m.params.at("n"), "7");
  EXPECT_EQ(m.params.size(), 2u);
  // An empty segment does not fill a parameter.
  EXPECT_EQ(rt.match("GET", "/api/v1/flows//packets/7").route, nullptr);
  EXPECT_EQ(Router::template_params("/a/{x}/b/{y}"), (std::vector<std::string>{"x", "y"}));
}

TEST(Router, LiteralSegmentWinsOverParam) {
  Router rt;
  ASSERT_EQ(rt.add(make("GET", "/api/v1/flows/{id}", "one")), "");
  ASSERT_EQ(rt.add(make("GET", "/api/v1/flows/top", "top")), "");
  EXPECT_EQ(rt.match("GET", "/api/v1/flows/top").route->handler({}).body, "top");
  RouteMatch m = rt.match("GET", "/api/v1/flows/42");
  EXPECT_EQ(m.route->handler({}).body, "one");
  EXPECT_EQ(m.params.at("id"), "42");
}

TEST(Router, WrongMethodListsAllowedMethods) {
  Router rt;
  ASSERT_EQ(rt.add(make("GET", "/api/v1/rules", "get")), "");
  ASSERT_EQ(rt.add(make("PUT", "/api/v1/rules", "put")), "");
  RouteMatch m = rt.match("DELETE", "/api/v1/rules");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_EQ(m.allowed, (std::vector<std::string>{"GET", "PUT"}));
  EXPECT_EQ(rt.match("PUT", "/api/v1/rules").route->handler({}).body, "put");
}

TEST(Router, RejectsDuplicatesAndMalformedTemplates) {
  Router rt;
  EXPECT_EQ(rt.add(make("GET", "/a", "1")), "");
  EXPECT_NE(rt.add(make("GET", "/a", "2")), "");
  EXPECT_EQ(rt.add(make("POST", "/a", "3")), "");
  EXPECT_NE(rt.add(make("GET", "a", "4")), "");
  EXPECT_NE(rt.add(make("GET", "/a//b", "5")), "");
  EXPECT_NE(rt.add(make("GET", "/a/x{id}", "6")), "");
  Route no_handler;
  no_handler.method = "GET";
  no_handler.path = "/h";
  EXPECT_NE(rt.add(no_handler), "");
  EXPECT_EQ(rt.routes().size(), 2u);
}

TEST(Http, QueryParamsAreDecoded) {
  HttpRequest r;
  r.query = "ip=10.0.0.1&app=a%20b&x=1+2&flag&empty=";
  EXPECT_EQ(r.query_param("ip"), "10.0.0.1");
  EXPECT_EQ(r.query_param("app"), "a b");
  EXPECT_EQ(r.query_param("x"), "1 2");
  EXPECT_EQ(r.query_param("flag"), "");
  EXPECT_EQ(r.query_param("missing"), "");
  EXPECT_EQ(url_decode("%zz%4", false), "%zz%4");
  EXPECT_EQ(url_decode("a+b%2F", false), "a+b/");
}

TEST(Http, ErrorShape) {
  const HttpResponse r = error_response(422, "bad rules", {{"loaded", 3}});
  EXPECT_EQ(r.status, 422);
  const auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["error"]["code"], 422);
  EXPECT_EQ(j["error"]["message"], "bad rules");
  EXPECT_EQ(j["error"]["details"]["loaded"], 3);
  EXPECT_FALSE(nlohmann::json::parse(error_response(404, "x").body)["error"].contains("details"));
}

}  // namespace
}  // namespace ws
