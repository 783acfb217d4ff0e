// ApiServer: the agent's HTTP API on civetweb's C API. civetweb owns the
// sockets and a small pool of its own threads; every request comes to one
// handler here, which runs the request path
//
//   per-IP rate limit → route (404/405) → bearer token (401/403)
//     → per-token rate limit → body size (413) → the route's handler
//
// GET and HEAD of a path outside /api/ that no route takes are the web
// dashboard's files (api/dashboard.h), public, after the per-IP limit.
// api.anonymous_view lets a request without an Authorization header act
// as viewer on GET routes (the stream's upgrade included), never admin.
//
// against the Router. The path is a plain function of (request, header,
// clock) — handle() — so it is tested without sockets; serve() is the thin
// civetweb glue. Handlers read atomic counters only (see agent_view.h), so
// no request waits on a worker and no worker waits on a request.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/auth.h"
#include "api/dashboard.h"
#include "api/rate_limit.h"
#include "api/router.h"

struct mg_context;
struct mg_connection;

namespace ws {

class Stream;

struct ApiOptions {
  std::string listen;  // HOST:PORT; port 0 picks a free port
  std::vector<ApiToken> tokens;
  bool metrics_auth = false;  // /metrics and /api/v1/health need a viewer token too
  uint64_t max_body_bytes = 1u << 20;
  RateLimit rate_limit;
  std::string tls_cert;  // PEM certificate (chain); with tls_key, serve HTTPS
  std::string tls_key;   // PEM private key
  // civetweb worker threads: the API's concurrency. A handful is enough for
  // dashboards and scrapers, and bounds what the API can take from a
  // 2-core sensor.
  unsigned threads = 4;
  // WebSocket /api/v1/stream: clients at once (more get 503), and frames
  // queued per client before the oldest are dropped. civetweb holds one of
  // its threads per WebSocket for the connection's life, so it starts
  // threads + max_stream_clients of them.
  uint32_t max_stream_clients = 64;
  uint32_t stream_queue_frames = 1024;
  // The web dashboard at / (api/dashboard.h). dashboard_dir empty: the
  // installed assets, or the source tree's for a binary run from its build
  // directory (default_dashboard_dir()).
  bool dashboard = true;
  std::string dashboard_dir;
  // Requests without a token act as viewer on GET routes and the stream.
  // A token that is sent is still checked: a wrong one is refused.
  bool anonymous_view = false;
};

// HOST:PORT into its parts. Returns "" or why it is not of that form.
std::string parse_listen(const std::string& s, std::string* host, uint16_t* port);

class ApiServer {
 public:
  explicit ApiServer(ApiOptions opts);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Add routes before start(); the table is read without a lock after.
  Router& router() { return router_; }
  // Serves WebSocket /api/v1/stream from stream (set before start(); it
  // must outlive the server). start() starts it, stop() ends its
  // connections before civetweb stops.
  void set_stream(Stream* stream) { stream_ = stream; }
  const ApiOptions& options() const { return opts_; }

  // Checks the options (tokens, listen address, TLS files). Returns "" or
  // why they are wrong. start() calls it.
  std::string configure();
  // Binds and starts civetweb's threads. Returns "" or why it could not.
  std::string start();
  // Stops accepting, waits for running requests to end. Idempotent.
  void stop();

  // The address and port bound (the real port when 0 was asked).
  const std::string& host() const { return host_; }
  uint16_t port() const { return port_; }

  // The request path without a socket. req.body holds the whole body;
  // authorization is the Authorization header, if any; now_ns a monotonic
  // clock for the rate limiter.
  HttpResponse handle(HttpRequest req, std::optional<std::string_view> authorization, uint64_t now_ns);

  // Requests answered, by outcome; for tests and status.
  uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }
  uint64_t rate_limited() const { return rate_limited_.load(std::memory_order_relaxed); }
  // Requests answered as viewer without a token (api.anonymous_view).
  uint64_t anonymous() const { return anonymous_.load(std::memory_order_relaxed); }
  // The dashboard's files and their counters (served, refused paths).
  const DashboardAssets& dashboard() const { return assets_; }

 private:
  struct Admission {
    const Route* route = nullptr;
    bool asset = false;  // a dashboard file: assets_.get() answers
    std::optional<HttpResponse> refusal;
  };
  // Everything before the body is read: rate limits, route, token.
  Admission admit(HttpRequest& req, std::optional<std::string_view> authorization, uint64_t now_ns);
  HttpResponse run(const Route& route, const HttpRequest& req);
  HttpResponse too_large() const;

  static int serve(mg_connection* conn, void* self);
  static int init_tls(void* ssl_ctx, void* self);
  // WebSocket /api/v1/stream on civetweb: connect runs the request path's
  // admission (rate limits, token from the header or ?token=, role) and
  // the client limit; ready attaches the client; data takes its messages;
  // close detaches it.
  static int ws_connect(const mg_connection* conn, void* self);
  static void ws_ready(mg_connection* conn, void* self);
  static int ws_data(mg_connection* conn, int bits, char* data, size_t len, void* self);
  static void ws_close(const mg_connection* conn, void* self);

  ApiOptions opts_;
  Router router_;
  TokenTable tokens_;
  DashboardAssets assets_;
  RateLimiter ip_limit_;
  RateLimiter token_limit_;
  mg_context* ctx_ = nullptr;
  Stream* stream_ = nullptr;
  bool library_ = false;
  std::string host_;
  uint16_t port_ = 0;
  std::string tls_error_;
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> rate_limited_{0};
  std::atomic<uint64_t> anonymous_{0};
};

}  // namespace ws
