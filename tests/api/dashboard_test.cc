// The web dashboard on the request path (ApiServer::handle, no sockets):
// its files are public and only its files (traversal, encoded dots,
// absolute paths, symlinks out of the directory: 404, counted), ETags,
// api.dashboard: false, where the assets are looked for; and
// api.anonymous_view: viewer on GET routes without a token, never admin,
// a wrong token still refused. One real server checks the headers and 304
// over a socket.
#include "api/dashboard.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "api/agent_routes.h"
#include "api/server.h"

namespace ws {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kSec = 1'000'000'000;
constexpr const char* kIndex = "<!doctype html><title>wirescope</title><script src=\"app.js\"></script>\n";

// A temporary tree: DIR/web holds the assets, DIR/secret.txt is outside it.
struct AssetDir {
  fs::path base;
  fs::path web;
  AssetDir() {
    char tmpl[] = "/tmp/ws-dashboard-XXXXXX";
    base = mkdtemp(tmpl);
    web = base / "web";
    fs::create_directory(web);
    std::ofstream(web / "index.html") << kIndex;
    std::ofstream(web / "app.js") << "console.log('x');\n";
    std::ofstream(web / "app.css") << "body{}\n";
    std::ofstream(web / "notes.md") << "not an asset type\n";
    std::ofstream(base / "secret.txt") << "outside\n";
    fs::create_directory(web / "sub.js");                       // a directory with an asset's name
    fs::create_symlink(base / "secret.txt", web / "leak.txt");  // points out of the directory
    fs::create_symlink(web / "app.css", web / "alias.css");     // points inside: fine
  }
  ~AssetDir() {
    std::error_code ec;
    fs::remove_all(base, ec);
  }
};

struct Server {
  AgentHooks hooks;
  std::unique_ptr<ApiServer> server;
  explicit Server(ApiOptions o) {
    if (o.listen.empty()) o.listen = "127.0.0.1:0";
    if (o.tokens.empty())
      o.tokens = {{"ops", Role::kAdmin, sha256_hex("admin-token")},
                  {"grafana", Role::kViewer, sha256_hex("viewer-token")}};
    hooks.status = [] {
      AgentStatus s;
      s.version = "9.9.9";
      s.running = true;
      return s;
    };
    hooks.rules = [] { return RulesStatus{}; };
    hooks.reload_rules = [](std::optional<bool>) { return ReloadOutcome{}; };
    server = std::make_unique<ApiServer>(o);
    EXPECT_EQ(add_agent_routes(server->router(), hooks), "");
    EXPECT_EQ(add_openapi_route(server->router(), "9.9.9", o.metrics_auth), "");
  }
  HttpResponse call(const std::string& method, const std::string& path, const char* token = nullptr) {
    HttpRequest r;
    r.method = method;
    r.path = path;
    r.remote = "10.0.0.1";
    std::string header;
    std::optional<std::string_view> auth;
    if (token) {
      header = std::string("Bearer ") + token;
      auth = header;
    }
    return server->handle(std::move(r), auth, 10 * kSec);
  }
};

ApiOptions with_dir(const fs::path& dir) {
  ApiOptions o;
  o.dashboard_dir = dir.string();
  return o;
}

std::string header(const HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

int code_of(const HttpResponse& r) {
  return nlohmann::json::parse(r.body)["error"]["code"].get<int>();
}

TEST(Dashboard, AssetNamesArePlainFileNames) {
  EXPECT_EQ(DashboardAssets::asset_name("/"), "index.html");
  EXPECT_EQ(DashboardAssets::asset_name("/app.js"), "app.js");
  EXPECT_EQ(DashboardAssets::asset_name("/my-file_2.css"), "my-file_2.css");
  for (const char* bad : {"/..", "/../etc/passwd", "/a/../app.js", "/.hidden", "/./app.js", "//etc/passwd",
                          "/etc/passwd", "/%2e%2e/secret.txt", "/%2e%2e%2fsecret.txt", "/app..js",
                          "/sub/app.js", "/app.js%00.html", "app.js", "/a b.js", "/app.js/"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(DashboardAssets::asset_name(bad), "");
  }
  EXPECT_EQ(DashboardAssets::asset_name(std::string_view("/app.js\0.html", 13)), "");
  EXPECT_EQ(DashboardAssets::content_type("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(DashboardAssets::content_type("app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(DashboardAssets::content_type("app.css"), "text/css; charset=utf-8");
  EXPECT_EQ(DashboardAssets::content_type("notes.md"), "");
}

TEST(Dashboard, ServesItsFilesPubliclyWithTypesAndTags) {
  AssetDir d;
  Server s(with_dir(d.web));
  ASSERT_EQ(s.server->configure(), "");
  HttpResponse r = s.call("GET", "/");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kIndex);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(header(r, "Cache-Control"), "no-cache");
  EXPECT_EQ(header(r, "X-Content-Type-Options"), "nosniff");
  EXPECT_NE(header(r, "Content-Security-Policy").find("default-src 'none'"), std::string::npos);
  const std::string tag = header(r, "ETag");
  EXPECT_EQ(tag.front(), '"');
  EXPECT_EQ(s.call("GET", "/index.html").body, kIndex);
  r = s.call("GET", "/app.js");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/javascript; charset=utf-8");
  EXPECT_NE(header(r, "ETag"), tag);
  r = s.call("HEAD", "/app.css");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/css; charset=utf-8");
  EXPECT_EQ(s.call("GET", "/alias.css").status, 200) << "a symlink inside the directory is fine";
  EXPECT_EQ(s.server->dashboard().served(), 5u);
  EXPECT_EQ(s.server->dashboard().refused(), 0u);

  // The files are public even when metrics_auth closes the open routes.
  ApiOptions o = with_dir(d.web);
  o.metrics_auth = true;
  Server closed(o);
  ASSERT_EQ(closed.server->configure(), "");
  EXPECT_EQ(closed.call("GET", "/").status, 200);
  EXPECT_EQ(closed.call("GET", "/metrics").status, 401);

  // Unchanged: 304 against its tag (a list, a weak tag, *); changed: 200.
  DashboardAssets& a = const_cast<DashboardAssets&>(s.server->dashboard());
  EXPECT_EQ(a.get("/", tag).status, 304);
  EXPECT_EQ(a.get("/", "\"nope\", W/" + tag).status, 304);
  EXPECT_EQ(a.get("/", "*").status, 304);
  EXPECT_EQ(a.get("/", "\"nope\"").status, 200);
  EXPECT_EQ(a.not_modified(), 3u);
  std::ofstream(d.web / "index.html") << kIndex << "<!-- changed -->\n";
  r = a.get("/", tag);
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(header(r, "ETag"), tag);
}

TEST(Dashboard, RefusesEverythingButItsFiles) {
  AssetDir d;
  Server s(with_dir(d.web));
  ASSERT_EQ(s.server->configure(), "");
  uint64_t refused = 0;
  // The path civetweb hands over is decoded once; these are what a
  // traversal can look like after that.
  for (const char* p :
       {"/../secret.txt", "/..", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/etc/passwd", "//etc/passwd",
        "/.hidden", "/web/index.html", "/leak.txt", "/notes.md", "/a/../app.js"}) {
    SCOPED_TRACE(p);
    const HttpResponse r = s.call("GET", p);
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(code_of(r), 404);
    EXPECT_EQ(r.body.find("outside"), std::string::npos);
    EXPECT_EQ(s.server->dashboard().refused(), ++refused);
  }
  // A good name that is not there, or is a directory: 404, not refused.
  EXPECT_EQ(s.call("GET", "/missing.js").status, 404);
  EXPECT_EQ(s.call("GET", "/sub.js").status, 404);
  EXPECT_EQ(s.server->dashboard().not_found(), 2u);
  EXPECT_EQ(s.server->dashboard().refused(), refused);
  // Only GET and HEAD, and never under /api/ (the router answers there).
  EXPECT_EQ(s.call("POST", "/").status, 404);
  EXPECT_EQ(s.call("GET", "/api/v1/index.html").status, 404);
  EXPECT_NE(s.call("GET", "/api/v1/index.html").body.find("no route"), std::string::npos);
  EXPECT_EQ(s.call("DELETE", "/metrics").status, 405);
}

TEST(Dashboard, OffAnswersNothing) {
  AssetDir d;
  ApiOptions o = with_dir(d.web);
  o.dashboard = false;
  Server s(o);
  ASSERT_EQ(s.server->configure(), "");
  for (const char* p : {"/", "/index.html", "/app.js"}) {
    const HttpResponse r = s.call("GET", p);
    EXPECT_EQ(r.status, 404) << p;
    EXPECT_NE(r.body.find("no route"), std::string::npos) << p;
  }
  EXPECT_EQ(s.server->dashboard().served(), 0u);
  const auto info = nlohmann::json::parse(s.call("GET", "/api/v1/dashboard").body);
  EXPECT_EQ(info["dashboard"], false);
  EXPECT_EQ(info["assets"], false);
}

TEST(Dashboard, WhereTheAssetsAre) {
  // A configured directory must hold index.html.
  AssetDir d;
  Server bad(with_dir(d.base));
  const std::string e = bad.server->configure();
  EXPECT_NE(e.find("api.dashboard_dir"), std::string::npos) << e;
  EXPECT_NE(e.find("index.html"), std::string::npos) << e;
  // Off: the directory is not looked at.
  ApiOptions off = with_dir(d.base);
  off.dashboard = false;
  EXPECT_EQ(Server(off).server->configure(), "");

  // The default: the source tree's copy for a binary inside the build
  // directory, the installed one for any other.
  EXPECT_EQ(choose_dashboard_dir("/src/build/agent/wirescope", "/src/build", "/src/api/web",
                                 "/usr/share/wirescope/web"),
            "/src/api/web");
  EXPECT_EQ(
      choose_dashboard_dir("/usr/bin/wirescope", "/src/build", "/src/api/web", "/usr/share/wirescope/web"),
      "/usr/share/wirescope/web");
  EXPECT_EQ(
      choose_dashboard_dir("/src/build2/wirescope", "/src/build", "/src/api/web", "/usr/share/wirescope/web"),
      "/usr/share/wirescope/web")
      << "a sibling directory whose name starts the same is not inside";
  EXPECT_EQ(choose_dashboard_dir("", "/src/build", "/src/api/web", "/i"), "/i");
  EXPECT_EQ(choose_dashboard_dir("/src/build/x", "", "/src/api/web", "/i"), "/i");

  // A default that is missing is not an error: the page says where it looked.
  DashboardAssets a;
  EXPECT_EQ(a.open((d.base / "nowhere").string(), false), "");
  EXPECT_FALSE(a.available());
  const HttpResponse r = a.get("/", "");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("not installed"), std::string::npos);
  EXPECT_NE(r.body.find("nowhere"), std::string::npos);
}

TEST(Dashboard, InfoRouteIsOpen) {
  AssetDir d;
  ApiOptions o = with_dir(d.web);
  o.anonymous_view = true;
  Server s(o);
  ASSERT_EQ(s.server->configure(), "");
  const HttpResponse r = s.call("GET", "/api/v1/dashboard");
  ASSERT_EQ(r.status, 200);
  const auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["dashboard"], true);
  EXPECT_EQ(j["assets"], true);
  EXPECT_EQ(j["anonymous_view"], true);
  EXPECT_EQ(j["stream"], "/api/v1/stream");
  EXPECT_FALSE(j["version"].get<std::string>().empty());
  EXPECT_EQ(s.call("GET", "/api/v1/dashboard", "not-a-token").status, 200) << "open routes ignore the header";
  // In the OpenAPI document, with its schema.
  const auto doc = nlohmann::json::parse(s.call("GET", "/api/v1/openapi.json", "viewer-token").body);
  EXPECT_EQ(doc["paths"]["/api/v1/dashboard"]["get"]["x-wirescope-role"], "none");
  EXPECT_TRUE(doc["components"]["schemas"].contains("Dashboard"));
}

// Every route, with and without anonymous_view: without a token a GET
// route that a viewer may call answers as for a viewer; admin routes and
// non-GET methods still want a token; a wrong token is still 401.
TEST(Dashboard, AnonymousViewIsViewerOnGetRoutesOnly) {
  ApiOptions o;
  o.dashboard = false;
  o.anonymous_view = true;
  Server anon(o);
  ASSERT_EQ(anon.server->configure(), "");
  ApiOptions p;
  p.dashboard = false;
  Server plain(p);
  ASSERT_EQ(plain.server->configure(), "");
  size_t viewer_routes = 0;
  for (const Route& r : anon.server->router().routes()) {
    if (r.path.find('{') != std::string::npos) continue;  // a literal {id} answers 404 from its handler
    SCOPED_TRACE(r.method + " " + r.path);
    const HttpResponse none = anon.call(r.method, r.path);
    const HttpResponse as_viewer = anon.call(r.method, r.path, "viewer-token");
    const HttpResponse wrong = anon.call(r.method, r.path, "wrong-token");
    const HttpResponse closed = plain.call(r.method, r.path);
    if (r.access == Access::kOpen) {
      EXPECT_EQ(none.status, as_viewer.status);
      continue;
    }
    EXPECT_EQ(closed.status, 401) << "without anonymous_view a token is needed";
    EXPECT_EQ(wrong.status, 401);
    EXPECT_NE(header(wrong, "WWW-Authenticate").find("invalid_token"), std::string::npos);
    if (r.access == Access::kViewer && r.method == "GET") {
      ++viewer_routes;
      EXPECT_EQ(none.status, as_viewer.status);
      EXPECT_NE(none.status, 401);
      EXPECT_NE(none.status, 403);
    } else {
      EXPECT_EQ(none.status, 401) << "admin routes and changes need a token";
      EXPECT_EQ(code_of(none), 401);
    }
  }
  EXPECT_GE(viewer_routes, 5u);
  EXPECT_EQ(anon.server->anonymous(), viewer_routes);
  EXPECT_EQ(plain.server->anonymous(), 0u);
  // The stream's upgrade is admitted the same way (a GET); the browser
  // test (tests/web) opens one without a token.
  EXPECT_EQ(anon.call("GET", "/api/v1/status").status, 200);
  EXPECT_EQ(anon.call("POST", "/api/v1/rules/reload").status, 401);
}

TEST(Dashboard, AnonymousViewWithoutAnyToken) {
  ApiOptions o;
  o.dashboard = false;
  o.anonymous_view = true;
  o.tokens.clear();
  o.listen = "127.0.0.1:0";
  ApiServer s(o);
  AgentHooks h;
  h.status = [] { return AgentStatus{}; };
  ASSERT_EQ(add_agent_routes(s.router(), h), "");
  ASSERT_EQ(s.configure(), "");
  HttpRequest r;
  r.method = "GET";
  r.path = "/api/v1/status";
  r.remote = "10.0.0.2";
  EXPECT_EQ(s.handle(r, std::nullopt, kSec).status, 200);
  r.method = "POST";
  r.path = "/api/v1/rules/reload";
  EXPECT_EQ(s.handle(r, std::nullopt, kSec).status, 401);
}

// Over a socket: headers as civetweb writes them, 304, HEAD, and request
// lines with dot segments (plain and encoded), which are refused as sent
// rather than looked up as civetweb's cleaned path.
std::string raw_request(uint16_t port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return "";
  }
  (void)!write(fd, request.data(), request.size());
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

std::string get(uint16_t port, const std::string& target, const std::string& extra = "") {
  return raw_request(port,
                     "GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + extra + "\r\n");
}

TEST(Dashboard, OverASocket) {
  AssetDir d;
  ApiOptions o = with_dir(d.web);
  o.listen = "127.0.0.1:0";
  Server s(o);
  ASSERT_EQ(s.server->start(), "");
  const uint16_t port = s.server->port();
  std::string r = get(port, "/");
  ASSERT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
  EXPECT_NE(r.find("Content-Type: text/html; charset=utf-8"), std::string::npos);
  EXPECT_NE(r.find("Cache-Control: no-cache"), std::string::npos);
  EXPECT_EQ(r.find("no-store"), std::string::npos);
  EXPECT_NE(r.find(kIndex), std::string::npos);
  const size_t e = r.find("ETag: ");
  ASSERT_NE(e, std::string::npos);
  const std::string tag = r.substr(e + 6, r.find("\r\n", e) - e - 6);
  r = get(port, "/", "If-None-Match: " + tag + "\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 304", 0), 0u) << r;
  EXPECT_EQ(r.find(kIndex), std::string::npos);
  r = raw_request(port, "HEAD /app.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
  EXPECT_NE(r.find("Content-Length: 18"), std::string::npos) << r;
  EXPECT_EQ(r.find("console.log"), std::string::npos);
  // API answers keep no-store.
  r = get(port, "/api/v1/dashboard");
  EXPECT_NE(r.find("Cache-Control: no-store"), std::string::npos) << r;
  for (const char* p : {"/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt",
                        "/web/../../secret.txt", "/leak.txt", "/%252e%252e/secret.txt", "/.%2e/secret.txt"}) {
    const uint64_t refused = s.server->dashboard().refused();
    r = get(port, p);
    EXPECT_EQ(r.find("outside"), std::string::npos) << p << "\n" << r;
    EXPECT_EQ(r.rfind("HTTP/1.1 404", 0), 0u) << p << "\n" << r;
    // Refused as a climb, not looked up as the name civetweb's clean-up
    // of the path leaves ("/secret.txt").
    EXPECT_EQ(s.server->dashboard().refused(), refused + 1) << p;
  }
  s.server->stop();
}

}  // namespace
}  // namespace ws
