// Drives the REST API's whole request path — per-IP rate limit, routing,
// bearer tokens, roles, per-token rate limit, body size, the handlers and
// their JSON bodies — through ApiServer::handle, without sockets. The
// server has the agent's routes (add_agent_routes, add_stream_route,
// add_openapi_route, as agent/main.cc adds them) over fixed hooks, so every
// route that exists at build time is fuzzed, bodies included.
//
// Input: up to 16 requests separated by NUL bytes, each written like
// HTTP/1.1 without the version:
//
//   POST /api/v1/rules/reload?x=1
//   Authorization: Bearer admin-token
//   Content-Type: application/json
//
//   {"strict":true}
//
// Header lines end at the first empty line; the rest is the body. Headers
// the server reads: Authorization (absent unless given), Content-Type.
// Headers for the fixture: X-Remote (client address, default 10.0.0.1),
// X-Advance (milliseconds on the clock before the request, default 1, so a
// burst of requests meets the rate limits), X-Reload (what the reload hook
// answers: ok, busy, failed, not-configured), X-Flows (none: the flow hook
// has no snapshot). A method of WS sends the body to the WebSocket
// stream's message parser instead. An input starting with '!' sets
// api.metrics_auth.
//
// Tokens: "admin-token" (ops, admin) and "viewer-token" (grafana, viewer).
// Rate limit: 20 requests/s, burst 8. Body limit: 512 bytes.
//
// Invariants (abort on violation):
//   - the status is one the OpenAPI document lists for the route (404 or
//     405 with Allow for a path and method no route has; 429 anywhere);
//   - every non-2xx answer is JSON {"error":{"code":N,"message":"..."}}
//     with N the status and a non-empty message; 401 carries
//     WWW-Authenticate, 405 Allow, 429 Retry-After;
//   - a 2xx JSON answer parses;
//   - no handler throws (500);
//   - a route that needs a token answers 2xx only to a request that
//     carried one of the configured tokens, and an admin route (the reload
//     hook) only to the admin token;
//   - a WebSocket message's errors are non-empty and its topics known.
//
// The hooks return fixed values at once: a reload is an outcome picked by
// the request, never a real rule load.
//
// Seeds (tests/fuzz/corpus/api_request/): requests to every route.
#include <arpa/inet.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/agent_routes.h"
#include "api/alert_history.h"
#include "api/flow_query.h"
#include "api/openapi.h"
#include "api/server.h"
#include "api/ws_stream.h"

namespace {

struct Request {
  ws::HttpRequest http;
  std::optional<std::string> authorization;
  uint64_t advance_ns = 1'000'000;
  ws::ReloadOutcome::Result reload = ws::ReloadOutcome::Result::kOk;
  bool no_flows = false;
};

[[noreturn]] void fail(const char* what, const Request& r, const ws::HttpResponse* resp) {
  std::fprintf(stderr, "api_request_fuzz: invariant violated: %s\n  request: %s %s?%s\n", what,
               r.http.method.c_str(), r.http.path.c_str(), r.http.query.c_str());
  if (resp) std::fprintf(stderr, "  answer: %d %s\n", resp->status, resp->body.substr(0, 400).c_str());
  std::abort();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

Request parse_request(std::string_view text) {
  Request r;
  r.http.remote = "10.0.0.1";
  size_t eol = text.find('\n');
  std::string_view line = text.substr(0, eol);
  text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const size_t sp = line.find(' ');
  r.http.method = std::string(line.substr(0, sp));
  std::string target = sp == std::string_view::npos ? std::string() : std::string(line.substr(sp + 1));
  if (const size_t q = target.find('?'); q != std::string::npos) {
    r.http.query = target.substr(q + 1);
    target.resize(q);
  }
  r.http.path = std::move(target);
  while (!text.empty()) {
    eol = text.find('\n');
    line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    const size_t colon = line.find(':');
    const std::string_view name = trim(line.substr(0, colon));
    const std::string_view value = colon == std::string_view::npos ? std::string_view() : trim(line.substr(colon + 1));
    if (iequals(name, "authorization")) {
      r.authorization = std::string(value);
    } else if (iequals(name, "content-type")) {
      r.http.content_type = std::string(value);
    } else if (iequals(name, "x-remote")) {
      r.http.remote = std::string(value);
    } else if (iequals(name, "x-advance")) {
      uint64_t ms = 0;
      for (char c : value.substr(0, 9))
        if (c >= '0' && c <= '9') ms = ms * 10 + static_cast<uint64_t>(c - '0');
      r.advance_ns = ms * 1'000'000;
    } else if (iequals(name, "x-reload")) {
      if (value == "busy") r.reload = ws::ReloadOutcome::Result::kBusy;
      else if (value == "failed") r.reload = ws::ReloadOutcome::Result::kFailed;
      else if (value == "not-configured") r.reload = ws::ReloadOutcome::Result::kNotConfigured;
    } else if (iequals(name, "x-flows")) {
      r.no_flows = value == "none";
    }
  }
  r.http.body = std::string(text);
  return r;
}

void set_addr(uint8_t* out, uint8_t family, const char* text) {
  if (inet_pton(family == 6 ? AF_INET6 : AF_INET, text, out) != 1) std::abort();
}

ws::FlowSnapshotPtr make_snapshot() {
  auto s = std::make_shared<ws::FlowSnapshot>();
  s->taken_ns = 1'700'000'000ull * 1'000'000'000ull;
  for (unsigned i = 0; i < 12; ++i) {
    ws::FlowRecord r;
    r.key.family = i % 3 == 2 ? 6 : 4;
    if (r.key.family == 6) {
      set_addr(r.key.src, 6, "2001:db8::1");
      set_addr(r.key.dst, 6, i % 2 ? "2001:db8::2" : "fe80::1");
    } else {
      set_addr(r.key.src, 4, i % 2 ? "10.0.0.1" : "10.0.0.2");
      set_addr(r.key.dst, 4, i % 4 ? "192.0.2.7" : "198.51.100.9");
    }
    r.key.proto = i % 2 ? 6 : 17;
    r.key.sport = static_cast<uint16_t>(40000 + i);
    r.key.dport = i % 2 ? 443 : 53;
    r.flow_id = 500 + i * 13;
    r.pkts[0] = i % 4 + 1;
    r.pkts[1] = i % 3;
    r.bytes[0] = r.pkts[0] * 100;
    r.bytes[1] = r.pkts[1] * 1400;
    r.flow_start_ns = s->taken_ns - 5'000'000'000ull;
    r.start_ns = r.flow_start_ns;
    r.end_ns = s->taken_ns - i * 1'000'000ull;
    if (i % 4 == 1) {
      r.vlan_count = 1;
      r.vlan[0] = 100;
    }
    std::snprintf(r.app_proto, sizeof r.app_proto, "%s", i % 2 ? "tls" : "dns");
    s->flows.push_back(r);
  }
  return s;
}

// Fills a hook the fixture does not know by name with one that answers a
// default value, if AgentHooks has it (a newer hook fixture-less routes
// call): used for hooks that are added to AgentHooks over time.
template <class Hooks>
void fill_apps(Hooks& h) {
  if constexpr (requires { h.apps(); }) {
    using Result = decltype(h.apps());
    h.apps = [] { return Result{}; };
  }
}

// What each request sees of the agent; the hooks read it.
struct Agent {
  ws::ReloadOutcome::Result reload = ws::ReloadOutcome::Result::kOk;
  bool no_flows = false;
  unsigned reloads = 0;
  ws::FlowSnapshotPtr snapshot = make_snapshot();
  ws::AlertMeta meta{.sid = 2001, .rev = 3, .signature = "ET fixture \"quoted\" \xc3\xa9"};
  ws::AlertHistory history{4, ws::ExportContext{}, ws::EveFormatOptions{}};
  ws::AgentHooks hooks;

  Agent() {
    std::vector<ws::AlertRecord> batch(3);
    for (unsigned i = 0; i < batch.size(); ++i) {
      ws::AlertRecord& a = batch[i];
      a.ts_ns = snapshot->taken_ns + i * 1'000'000'000ull;
      a.meta = &meta;
      a.pkt.family = 4;
      set_addr(a.pkt.src, 4, "10.0.0.1");
      set_addr(a.pkt.dst, 4, "192.0.2.7");
      a.pkt.proto = 6;
      a.pkt.sport = 40001;
      a.pkt.dport = 443;
      a.flow = a.pkt;
    }
    history.export_alerts(batch, 0);

    hooks.status = [this] {
      ws::AgentStatus s;
      s.version = "0.1.0";
      s.running = !no_flows;
      s.uptime_s = 12.5;
      s.sources.push_back({"eth0", 100, 6400, 3, 1, 0, 2});
      s.workers.push_back({0, 60, 3000, 5, 10, 7, false});
      s.exporters.push_back({"ipfix", false, 11, 0, 2, 900, 4, 1, 2});
      return s;
    };
    hooks.rules = [] {
      ws::RulesStatus r;
      r.configured = true;
      r.loaded = 5;
      r.failed = 1;
      r.generation = 3;
      r.failures.push_back({"local.rules", 12, 9001, "http_uri", "unsupported keyword 'http_uri'"});
      return r;
    };
    hooks.reload_rules = [this](std::optional<bool> strict) {
      ++reloads;
      ws::ReloadOutcome o;
      o.result = reload;
      if (reload != ws::ReloadOutcome::Result::kOk) o.error = "fixture outcome";
      o.report.configured = true;
      o.report.loaded = strict.value_or(false) ? 4 : 5;
      o.report.generation = 4;
      return o;
    };
    hooks.metrics = [] { return std::string("wirescope_packets_total 100\n"); };
    hooks.flows = [this]() -> ws::FlowSnapshotPtr { return no_flows ? nullptr : snapshot; };
    hooks.alerts = &history;
    fill_apps(hooks);
  }
};

// The documented answers of every route: "METHOD PATH" → status codes, as
// openapi.json lists them.
std::map<std::string, std::set<int>> documented(const ws::Router& router, bool metrics_auth) {
  std::map<std::string, std::set<int>> out;
  const nlohmann::json doc = ws::openapi_document(router, ws::api_schemas(), "0.1.0", metrics_auth);
  for (const ws::Route& r : router.routes()) {
    std::string m = r.method;
    std::transform(m.begin(), m.end(), m.begin(), [](unsigned char c) { return std::tolower(c); });
    std::set<int>& codes = out[r.method + " " + r.path];
    for (const auto& [code, _] : doc["paths"][r.path][m]["responses"].items()) codes.insert(std::stoi(code));
  }
  return out;
}

std::string header(const ws::HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

void check_stream_message(const Request& r) {
  const ws::StreamRequest s = ws::parse_stream_request(r.http.body, ws::Stream::protobuf_available());
  for (const std::string& e : s.errors)
    if (e.empty()) fail("a stream message error without text", r, nullptr);
  if (s.topics && (*s.topics & ~ws::kAllStreamTopics)) fail("a stream subscription to an unknown topic", r, nullptr);
  if (s.format == ws::StreamFormat::kProtobuf && !ws::Stream::protobuf_available())
    fail("protobuf format accepted without protobuf", r, nullptr);
}

void check_answer(const Request& r, const ws::HttpResponse& resp, const ws::Router& router,
                  const std::map<std::string, std::set<int>>& docs, bool metrics_auth, unsigned reloads_before,
                  unsigned reloads_after) {
  const ws::RouteMatch m = router.match(r.http.method, r.http.path);
  if (resp.status == 500) {
    // A hook this fixture does not fill in (one added to AgentHooks since)
    // throws bad_function_call: not a finding about the request path.
    if (resp.body.find("bad_function_call") != std::string::npos) return;
    fail("a handler threw (500)", r, &resp);
  }
  if (m.route) {
    const auto it = docs.find(m.route->method + " " + m.route->path);
    if (it == docs.end()) fail("a matched route has no OpenAPI entry", r, &resp);
    // 413 can come for any route: the body limit is checked before the
    // handler whether or not the route takes a body.
    if (!it->second.count(resp.status) && resp.status != 413) fail("status not documented for the route", r, &resp);
  } else if (resp.status != 404 && resp.status != 405 && resp.status != 429) {
    fail("status other than 404/405/429 for a path and method without a route", r, &resp);
  }

  const bool ok = resp.status >= 200 && resp.status < 300;
  if (ok) {
    if (resp.content_type.rfind("application/json", 0) == 0 &&
        nlohmann::json::parse(resp.body, nullptr, false).is_discarded())
      fail("a 2xx JSON answer does not parse", r, &resp);
  } else {
    const nlohmann::json j = nlohmann::json::parse(resp.body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("error") || !j["error"].is_object())
      fail("an error answer is not {\"error\":{...}}", r, &resp);
    const nlohmann::json& e = j["error"];
    if (!e.contains("code") || !e["code"].is_number_integer() || e["code"].get<int>() != resp.status)
      fail("error.code is not the status", r, &resp);
    if (!e.contains("message") || !e["message"].is_string() || e["message"].get<std::string>().empty())
      fail("error.message missing or empty", r, &resp);
    if (resp.content_type.rfind("application/json", 0) != 0) fail("an error answer is not application/json", r, &resp);
  }
  if (resp.status == 401 && header(resp, "WWW-Authenticate").rfind("Bearer", 0) != 0)
    fail("401 without WWW-Authenticate: Bearer", r, &resp);
  if (resp.status == 405 && header(resp, "Allow").empty()) fail("405 without Allow", r, &resp);
  if (resp.status == 429 && header(resp, "Retry-After").empty()) fail("429 without Retry-After", r, &resp);

  // Handlers run only for the roles the route asks for. The tokens are
  // known, so any request that got through carries one of them.
  const std::string auth = r.authorization.value_or("");
  const bool has_admin = auth.find("admin-token") != std::string::npos;
  const bool has_viewer = has_admin || auth.find("viewer-token") != std::string::npos;
  if (m.route && ok) {
    const bool needs_token = m.route->access != ws::Access::kOpen || metrics_auth;
    if (needs_token && !has_viewer) fail("a route that needs a token answered 2xx without one", r, &resp);
    if (m.route->access == ws::Access::kAdmin && !has_admin) fail("an admin route answered 2xx without the admin token", r, &resp);
  }
  if (reloads_after != reloads_before && !has_admin) fail("the reload hook ran without the admin token", r, &resp);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const bool metrics_auth = !input.empty() && input.front() == '!';
  if (metrics_auth) input.remove_prefix(1);

  Agent agent;
  ws::ApiOptions opts;
  opts.listen = "127.0.0.1:0";
  opts.tokens = {{"ops", ws::Role::kAdmin, ws::sha256_hex("admin-token")},
                 {"grafana", ws::Role::kViewer, ws::sha256_hex("viewer-token")}};
  opts.metrics_auth = metrics_auth;
  opts.max_body_bytes = 512;
  opts.rate_limit.requests_per_second = 20;
  opts.rate_limit.burst = 8;
  ws::StreamOptions so;
  ws::Stream stream(so, agent.hooks, ws::ExportContext{});
  ws::ApiServer server(opts);
  if (!ws::add_agent_routes(server.router(), agent.hooks).empty() ||
      !ws::add_stream_route(server.router(), stream).empty() ||
      !ws::add_openapi_route(server.router(), "0.1.0", metrics_auth).empty() || !server.configure().empty())
    std::abort();
  static const auto docs_open = documented(server.router(), false);
  static const auto docs_auth = documented(server.router(), true);
  const auto& docs = metrics_auth ? docs_auth : docs_open;

  uint64_t now = 1'000'000'000'000ull;
  unsigned count = 0;
  while (!input.empty() && count++ < 16) {
    const size_t nul = input.find('\0');
    const std::string_view one = input.substr(0, nul);
    input = nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);
    Request r = parse_request(one);
    if (r.http.method == "WS") {
      check_stream_message(r);
      continue;
    }
    now += r.advance_ns;
    agent.reload = r.reload;
    agent.no_flows = r.no_flows;
    std::optional<std::string_view> auth;
    if (r.authorization) auth = *r.authorization;
    const unsigned before = agent.reloads;
    const ws::HttpResponse resp = server.handle(r.http, auth, now);
    check_answer(r, resp, server.router(), docs, metrics_auth, before, agent.reloads);
  }
  return 0;
}
