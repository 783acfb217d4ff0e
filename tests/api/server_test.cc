// The request path (ApiServer::handle) over the agent's routes with fake
// hooks, and one real civetweb server on port 0 spoken to over a socket.
#include "api/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "api/agent_routes.h"
#include "api/flow_query.h"

namespace ws {
namespace {

constexpr uint64_t kSec = 1'000'000'000;

ApiOptions listen_on(const std::string& addr) {
  ApiOptions o;
  o.listen = addr;
  return o;
}

struct Fixture {
  AgentHooks hooks;
  int reloads = 0;
  std::optional<bool> last_strict;
  ReloadOutcome next;
  ReloadOutcome next_edit;
  std::vector<std::pair<bool, std::string>> edits;
  bool running = true;
  std::unique_ptr<ApiServer> server;

  explicit Fixture(ApiOptions o = {}) {
    if (o.tokens.empty())
      o.tokens = {{"ops", Role::kAdmin, sha256_hex("admin-token")}, {"grafana", Role::kViewer, sha256_hex("viewer-token")}};
    if (o.listen.empty()) o.listen = "127.0.0.1:0";
    hooks.status = [this] {
      AgentStatus s;
      s.version = "9.9.9";
      s.running = running;
      s.uptime_s = 12.5;
      s.sources.push_back({"eth0", 100, 6400, 3, 1, 0, 2});
      s.workers.push_back({0, 60, 3000, 5, 10, 7, false});
      s.workers.push_back({1, 40, 3400, 3, 10, 4, false});
      s.exporters.push_back({"ipfix", false, 11, 0, 2, 900, 4, 1, 2});
      return s;
    };
    hooks.rules = [] {
      RulesStatus r;
      r.configured = true;
      r.loaded = 5;
      r.failed = 1;
      r.generation = 3;
      r.failures.push_back({"local.rules", 12, 9001, "http_uri", "unsupported keyword 'http_uri'"});
      return r;
    };
    hooks.reload_rules = [this](std::optional<bool> strict) {
      ++reloads;
      last_strict = strict;
      return next;
    };
    hooks.metrics = [] { return std::string("wirescope_packets_total 100\n"); };
    hooks.edit_rules = [this](bool replace, const std::string& text) {
      edits.emplace_back(replace, text);
      return next_edit;
    };
    hooks.flows = [] {
      auto s = std::make_shared<FlowSnapshot>();
      s->flows.emplace_back();
      s->flows.back().flow_id = 1;
      return std::shared_ptr<const FlowSnapshot>(s);
    };
    server = std::make_unique<ApiServer>(o);
    EXPECT_EQ(add_agent_routes(server->router(), hooks), "");
    EXPECT_EQ(add_openapi_route(server->router(), "9.9.9", o.metrics_auth), "");
    EXPECT_EQ(server->configure(), "");
  }

  HttpResponse call(const std::string& method, const std::string& path, const char* token = nullptr,
                    std::string body = "", uint64_t now = 10 * kSec, std::string remote = "10.0.0.1") {
    HttpRequest r;
    r.method = method;
    r.path = path;
    r.body = std::move(body);
    r.remote = std::move(remote);
    std::string header;
    std::optional<std::string_view> auth;
    if (token) {
      header = std::string("Bearer ") + token;
      auth = header;
    }
    return server->handle(std::move(r), auth, now);
  }
};

std::string header(const HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

int code_of(const HttpResponse& r) { return nlohmann::json::parse(r.body)["error"]["code"].get<int>(); }

// What a route's handler answers in this fixture once access is granted:
// traffic control is not set up (503), and no GNS3 capture runs (the
// literal {id} project is unknown: 404; capture on/off: 503).
int handler_status(const Route& r) {
  if (r.path.rfind("/api/v1/qos/", 0) == 0) return 503;
  if (r.path == "/api/v1/gns3/projects/{id}/links") return 404;
  if (r.path == "/api/v1/gns3/projects/{id}/capture") return 503;
  return 200;
}

TEST(ApiServer, AuthMatrixOverEveryRoute) {
  Fixture f;
  for (const Route& r : f.server->router().routes()) {
    SCOPED_TRACE(r.method + " " + r.path);
    const int want = handler_status(r);
    // Routes that take rules get one, so the admin call can succeed.
    const std::string body = r.request_content_type == "text/plain" && !r.request_schema.empty()
                                 ? "alert udp any any -> any 53 (msg:\"x\"; sid:9;)\n"
                                 : "";
    const HttpResponse none = f.call(r.method, r.path, nullptr, body);
    const HttpResponse viewer = f.call(r.method, r.path, "viewer-token", body);
    const HttpResponse admin = f.call(r.method, r.path, "admin-token", body);
    const HttpResponse bad = f.call(r.method, r.path, "admin-token-x", body);
    if (r.access == Access::kOpen) {
      EXPECT_EQ(none.status, 200);
      EXPECT_EQ(bad.status, 200);  // open routes ignore the header
    } else {
      EXPECT_EQ(none.status, 401);
      EXPECT_EQ(code_of(none), 401);
      EXPECT_EQ(header(none, "WWW-Authenticate").rfind("Bearer", 0), 0u);
      EXPECT_EQ(bad.status, 401);
      EXPECT_NE(header(bad, "WWW-Authenticate").find("invalid_token"), std::string::npos);
    }
    if (r.access == Access::kAdmin) {
      EXPECT_EQ(viewer.status, 403);
      EXPECT_EQ(code_of(viewer), 403);
    } else {
      EXPECT_EQ(viewer.status, want);
    }
    EXPECT_EQ(admin.status, want);
    if (want != 200) {
      EXPECT_EQ(code_of(admin), want);
    }
  }
  EXPECT_EQ(f.reloads, 1);  // only the admin call reached the reload
  EXPECT_EQ(f.edits.size(), 2u);  // POST and PUT, each once, as admin
}

TEST(ApiServer, RuleEditsAnswerAsTheRuntimeDecides) {
  Fixture f;
  const std::string rule = "alert udp any any -> any 53 (msg:\"x\"; sid:9;)\n";
  HttpResponse r = f.call("POST", "/api/v1/rules", "admin-token", rule);
  EXPECT_EQ(r.status, 200);
  ASSERT_EQ(f.edits.size(), 1u);
  EXPECT_FALSE(f.edits[0].first);
  EXPECT_EQ(f.edits[0].second, rule);
  r = f.call("PUT", "/api/v1/rules", "admin-token", "");
  EXPECT_EQ(r.status, 200) << "an empty PUT empties the set";
  ASSERT_EQ(f.edits.size(), 2u);
  EXPECT_TRUE(f.edits[1].first);
  // An empty POST is refused before the runtime sees it.
  r = f.call("POST", "/api/v1/rules", "admin-token", " \n");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(f.edits.size(), 2u);
  // Invalid rules: 400 with the failures in details.
  f.next_edit.result = ReloadOutcome::Result::kInvalid;
  f.next_edit.error = "1 of the request's rules are invalid; nothing was applied";
  f.next_edit.report.failed = 1;
  f.next_edit.report.failures.push_back({"request", 2, 9, "", "missing ';'"});
  r = f.call("POST", "/api/v1/rules", "admin-token", rule);
  EXPECT_EQ(r.status, 400);
  const auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["error"]["details"]["failures"][0]["line"], 2);
  EXPECT_EQ(j["error"]["details"]["failures"][0]["file"], "request");
  f.next_edit.result = ReloadOutcome::Result::kBusy;
  EXPECT_EQ(f.call("PUT", "/api/v1/rules", "admin-token", rule).status, 409);
  f.next_edit.result = ReloadOutcome::Result::kFailed;
  EXPECT_EQ(f.call("PUT", "/api/v1/rules", "admin-token", rule).status, 422);
}

TEST(ApiServer, MetricsAuthClosesTheOpenRoutes) {
  ApiOptions o;
  o.metrics_auth = true;
  Fixture f(o);
  EXPECT_EQ(f.call("GET", "/metrics").status, 401);
  EXPECT_EQ(f.call("GET", "/api/v1/health").status, 401);
  const HttpResponse m = f.call("GET", "/metrics", "viewer-token");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.body, "wirescope_packets_total 100\n");
  EXPECT_EQ(m.content_type.rfind("text/plain; version=0.0.4", 0), 0u);
}

TEST(ApiServer, WithoutTokensOnlyOpenRoutesAnswer) {
  ApiServer s(listen_on("127.0.0.1:0"));
  AgentHooks h;
  h.metrics = [] { return std::string(); };
  ASSERT_EQ(add_agent_routes(s.router(), h), "");
  ASSERT_EQ(s.configure(), "");
  HttpRequest r;
  r.method = "GET";
  r.path = "/api/v1/status";
  r.remote = "1.2.3.4";
  EXPECT_EQ(s.handle(r, std::nullopt, kSec).status, 401);
  r.path = "/api/v1/health";
  EXPECT_EQ(s.handle(r, std::nullopt, kSec).status, 200);
}

TEST(ApiServer, NotFoundAndMethodNotAllowed) {
  Fixture f;
  const HttpResponse nf = f.call("GET", "/api/v1/nothing", "admin-token");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(code_of(nf), 404);
  const HttpResponse na = f.call("DELETE", "/api/v1/rules", "admin-token");
  EXPECT_EQ(na.status, 405);
  EXPECT_EQ(header(na, "Allow"), "GET, POST, PUT");
  EXPECT_EQ(f.call("GET", "/api/v1/rules/reload", "admin-token").status, 405);
  EXPECT_EQ(header(f.call("GET", "/api/v1/rules/reload"), "Allow"), "POST");
}

TEST(ApiServer, BodyOverTheLimitIs413) {
  ApiOptions o;
  o.max_body_bytes = 16;
  Fixture f(o);
  const HttpResponse big = f.call("POST", "/api/v1/rules/reload", "admin-token", "{\"strict\": false }     ");
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(code_of(big), 413);
  EXPECT_EQ(f.reloads, 0);
  EXPECT_EQ(f.call("POST", "/api/v1/rules/reload", "admin-token", "{\"strict\":true}").status, 200);
  EXPECT_EQ(f.last_strict, std::optional<bool>(true));
}

TEST(ApiServer, ReloadBodiesAndOutcomes) {
  Fixture f;
  EXPECT_EQ(f.call("POST", "/api/v1/rules/reload", "admin-token", "{\"strict\":").status, 400);
  EXPECT_EQ(f.call("POST", "/api/v1/rules/reload", "admin-token", "[1]").status, 400);
  EXPECT_EQ(f.call("POST", "/api/v1/rules/reload", "admin-token", "{\"strikt\":true}").status, 400);
  EXPECT_EQ(f.call("POST", "/api/v1/rules/reload", "admin-token", "{\"strict\":1}").status, 400);
  EXPECT_EQ(f.reloads, 0);

  f.next.result = ReloadOutcome::Result::kOk;
  f.next.report.loaded = 7;
  f.next.report.generation = 4;
  HttpResponse ok = f.call("POST", "/api/v1/rules/reload", "admin-token", " \n");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(f.last_strict, std::nullopt);
  auto j = nlohmann::json::parse(ok.body);
  EXPECT_EQ(j["loaded"], 7);
  EXPECT_EQ(j["generation"], 4);

  f.next.result = ReloadOutcome::Result::kFailed;
  f.next.error = "cannot open x.rules";
  HttpResponse bad = f.call("POST", "/api/v1/rules/reload", "admin-token", "{\"strict\":false}");
  EXPECT_EQ(bad.status, 422);
  j = nlohmann::json::parse(bad.body);
  EXPECT_NE(j["error"]["message"].get<std::string>().find("cannot open x.rules"), std::string::npos);
  EXPECT_EQ(j["error"]["details"]["loaded"], 7);
  EXPECT_EQ(f.last_strict, std::optional<bool>(false));

  f.next.result = ReloadOutcome::Result::kBusy;
  EXPECT_EQ(f.call("POST", "/api/v1/rules/reload", "admin-token").status, 409);
  f.next.result = ReloadOutcome::Result::kNotConfigured;
  EXPECT_EQ(f.call("POST", "/api/v1/rules/reload", "admin-token").status, 409);
}

TEST(ApiServer, StatusRulesReady) {
  Fixture f;
  auto s = nlohmann::json::parse(f.call("GET", "/api/v1/status", "viewer-token").body);
  EXPECT_EQ(s["version"], "9.9.9");
  EXPECT_EQ(s["sources"][0]["name"], "eth0");
  EXPECT_EQ(s["sources"][0]["drops"]["kernel"], 3);
  EXPECT_EQ(s["flow_table"]["active"], 8);
  EXPECT_EQ(s["flow_table"]["capacity"], 20);
  EXPECT_DOUBLE_EQ(s["flow_table"]["fill"].get<double>(), 0.4);
  EXPECT_EQ(s["workers"].size(), 2u);
  EXPECT_EQ(s["exporters"][0]["state"], "down");
  EXPECT_EQ(s["exporters"][0]["send_errors"], 4);

  auto r = nlohmann::json::parse(f.call("GET", "/api/v1/rules", "viewer-token").body);
  EXPECT_EQ(r["loaded"], 5);
  EXPECT_EQ(r["failed"], 1);
  EXPECT_EQ(r["failures"][0]["sid"], 9001);
  EXPECT_EQ(r["failures"][0]["keyword"], "http_uri");
  EXPECT_EQ(r["failures"][0]["line"], 12);
  EXPECT_TRUE(r["last_reload_error"].is_null());

  EXPECT_EQ(f.call("GET", "/api/v1/ready", "viewer-token").status, 200);
  f.running = false;
  const HttpResponse nr = f.call("GET", "/api/v1/ready", "viewer-token");
  EXPECT_EQ(nr.status, 503);
  EXPECT_EQ(code_of(nr), 503);
}

TEST(ApiServer, RateLimitsPerAddressAndPerToken) {
  ApiOptions o;
  o.rate_limit = {1, 3};
  Fixture f(o);
  const uint64_t t = 50 * kSec;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(f.call("GET", "/api/v1/health", nullptr, "", t, "10.0.0.9").status, 200);
  const HttpResponse lim = f.call("GET", "/api/v1/health", nullptr, "", t, "10.0.0.9");
  EXPECT_EQ(lim.status, 429);
  EXPECT_EQ(code_of(lim), 429);
  EXPECT_EQ(header(lim, "Retry-After"), "1");
  // Another address is not affected...
  EXPECT_EQ(f.call("GET", "/api/v1/health", nullptr, "", t, "10.0.0.10").status, 200);
  // ...but one token used from many addresses is.
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(f.call("GET", "/api/v1/status", "viewer-token", "", t, "10.1.0." + std::to_string(i)).status, 200);
  const HttpResponse tl = f.call("GET", "/api/v1/status", "viewer-token", "", t, "10.1.0.99");
  EXPECT_EQ(tl.status, 429);
  EXPECT_NE(nlohmann::json::parse(tl.body)["error"]["message"].get<std::string>().find("grafana"), std::string::npos);
  // A second later one request passes again.
  EXPECT_EQ(f.call("GET", "/api/v1/health", nullptr, "", t + kSec, "10.0.0.9").status, 200);
}

TEST(ApiServer, RejectsBadOptions) {
  auto err = [](ApiOptions o) { return ApiServer(std::move(o)).configure(); };
  EXPECT_EQ(err(listen_on("127.0.0.1:8080")), "");
  EXPECT_NE(err(listen_on("localhost:8080")), "");
  EXPECT_NE(err(listen_on("127.0.0.1")), "");
  EXPECT_NE(err(listen_on("127.0.0.1:70000")), "");
  EXPECT_NE(err(listen_on("127.0.0.1:x")), "");
  ApiOptions t = listen_on("127.0.0.1:0");
  t.tls_cert = "/nonexistent.pem";
  EXPECT_NE(err(t), "");  // the key is missing
  t.tls_key = "/nonexistent.key";
  EXPECT_NE(err(t).find("/nonexistent.pem"), std::string::npos);
  ApiOptions bad = listen_on("127.0.0.1:0");
  bad.tokens = {{"a", Role::kAdmin, "00"}};
  EXPECT_NE(err(bad).find("api.tokens"), std::string::npos);
}

// A real server: binds port 0, answers over a socket, closes a connection
// whose body it did not read.
std::string roundtrip(uint16_t port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(send(fd, request.data(), request.size(), MSG_NOSIGNAL), ssize_t(request.size()));
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, size_t(n));
  }
  close(fd);
  return out;
}

TEST(ApiServer, ServesOverCivetweb) {
  ApiOptions o;
  o.max_body_bytes = 64;
  Fixture f(o);
  ASSERT_EQ(f.server->start(), "");
  ASSERT_NE(f.server->port(), 0);
  EXPECT_EQ(f.server->host(), "127.0.0.1");
  const uint16_t port = f.server->port();

  std::string r = roundtrip(port, "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
  EXPECT_NE(r.find("{\"status\":\"ok\"}"), std::string::npos);

  r = roundtrip(port, "GET /api/v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 401", 0), 0u) << r;
  EXPECT_NE(r.find("WWW-Authenticate: Bearer"), std::string::npos);

  r = roundtrip(port,
                "GET /api/v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer viewer-token\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
  EXPECT_NE(r.find("\"version\":\"9.9.9\""), std::string::npos);

  // Over the limit by Content-Length: 413 without reading the body, and
  // the connection closes (the unread body is never taken for a request).
  const std::string body(100, 'x');
  r = roundtrip(port, "POST /api/v1/rules/reload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer admin-token\r\n"
                      "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n" + body);
  EXPECT_EQ(r.rfind("HTTP/1.1 413", 0), 0u) << r;
  EXPECT_EQ(r.find("HTTP/1.1", 1), std::string::npos) << r;  // one answer only

  // Chunked, over the limit.
  std::string chunked = "POST /api/v1/rules/reload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer admin-token\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) chunked += "20\r\n" + std::string(32, ' ') + "\r\n";
  chunked += "0\r\n\r\n";
  r = roundtrip(port, chunked);
  EXPECT_EQ(r.rfind("HTTP/1.1 413", 0), 0u) << r;
  EXPECT_EQ(f.reloads, 0);

  // One answer per connection, then the server closes it (roundtrip()
  // returning at all shows the close), even when keep-alive is asked.
  r = roundtrip(port, "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 404", 0), 0u) << r;
  EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
  f.server->stop();
}

}  // namespace
}  // namespace ws
