#include "api/server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

namespace ws {
namespace {

uint64_t mono_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

HttpResponse too_many(uint32_t retry_after, const std::string& who) {
  HttpResponse r = error_response(429, "rate limit exceeded for " + who + "; retry after " +
                                           std::to_string(retry_after) + " s (api.rate_limit)");
  r.headers.emplace_back("Retry-After", std::to_string(retry_after));
  return r;
}

HttpResponse unauthorized(const std::string& message, bool bad_token) {
  HttpResponse r = error_response(401, message);
  r.headers.emplace_back("WWW-Authenticate",
                         bad_token ? "Bearer realm=\"wirescope\", error=\"invalid_token\"" : "Bearer realm=\"wirescope\"");
  return r;
}

bool readable(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return false;
  std::fclose(f);
  return true;
}

}  // namespace

std::string parse_listen(const std::string& s, std::string* host, uint16_t* port) {
  std::string h, p;
  if (!s.empty() && s.front() == '[') {
    const size_t close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':')
      return "'" + s + "': expected [IPV6]:PORT";
    h = s.substr(1, close - 1);
    p = s.substr(close + 2);
    in6_addr a6;
    if (inet_pton(AF_INET6, h.c_str(), &a6) != 1) return "'" + s + "': '" + h + "' is not an IPv6 address";
  } else {
    const size_t colon = s.rfind(':');
    if (colon == std::string::npos) return "'" + s + "': expected HOST:PORT, e.g. 127.0.0.1:8080";
    h = s.substr(0, colon);
    p = s.substr(colon + 1);
    in_addr a4;
    if (inet_pton(AF_INET, h.c_str(), &a4) != 1)
      return "'" + s + "': HOST must be an IPv4 address (0.0.0.0 for every interface), got '" + h + "'";
  }
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos)
    return "'" + s + "': PORT must be a number from 0 to 65535";
  const unsigned long v = std::stoul(p);
  if (v > 65535) return "'" + s + "': PORT must be a number from 0 to 65535";
  *host = h;
  *port = static_cast<uint16_t>(v);
  return "";
}

ApiServer::ApiServer(ApiOptions opts)
    : opts_(std::move(opts)), ip_limit_(opts_.rate_limit), token_limit_(opts_.rate_limit) {}

ApiServer::~ApiServer() { stop(); }

std::string ApiServer::configure() {
  if (std::string e = tokens_.set(opts_.tokens); !e.empty()) return "api.tokens: " + e;
  if (std::string e = parse_listen(opts_.listen, &host_, &port_); !e.empty()) return "api.listen: " + e;
  if (host_.find(':') != std::string::npos && !mg_check_feature(MG_FEATURES_IPV6))
    return "api.listen: this civetweb build has no IPv6; listen on an IPv4 address";
  if (opts_.tls_cert.empty() != opts_.tls_key.empty())
    return "api.tls_cert and api.tls_key go together: give both or neither";
  if (!opts_.tls_cert.empty()) {
    if (!mg_check_feature(MG_FEATURES_TLS)) return "api.tls_cert: this civetweb build has no TLS";
    if (!readable(opts_.tls_cert)) return "api.tls_cert: cannot read '" + opts_.tls_cert + "'";
    if (!readable(opts_.tls_key)) return "api.tls_key: cannot read '" + opts_.tls_key + "'";
    // civetweb up to 1.15 looks SSL_get_peer_certificate up in libssl at
    // run time and calls it on every TLS request; OpenSSL 3 no longer
    // exports it (a macro now), so the lookup leaves a null pointer and the
    // first HTTPS request crashes the agent (Debian 12: civetweb 1.15 with
    // OpenSSL 3). Refused here, with the way out, instead.
    if (!dlsym(RTLD_DEFAULT, "SSL_get_peer_certificate"))
      return std::string("api.tls_cert: civetweb ") + mg_version() +
             " cannot serve TLS with this OpenSSL (it needs SSL_get_peer_certificate, which OpenSSL 3 no longer "
             "exports); put a TLS proxy (stunnel, nginx) in front of a loopback api.listen";
  }
  if (opts_.max_body_bytes < 1) return "api.max_body_bytes must be at least 1";
  if (opts_.rate_limit.requests_per_second > 0 && opts_.rate_limit.burst < 1)
    return "api.rate_limit.burst must be at least 1";
  return "";
}

int ApiServer::init_tls(void* ssl_ctx, void* self_) {
  auto* self = static_cast<ApiServer*>(self_);
  auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  auto fail = [&](const std::string& what) {
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    self->tls_error_ = what + ": " + buf;
    return -1;
  };
  if (SSL_CTX_use_certificate_chain_file(ctx, self->opts_.tls_cert.c_str()) != 1)
    return fail("api.tls_cert '" + self->opts_.tls_cert + "'");
  if (SSL_CTX_use_PrivateKey_file(ctx, self->opts_.tls_key.c_str(), SSL_FILETYPE_PEM) != 1)
    return fail("api.tls_key '" + self->opts_.tls_key + "'");
  if (SSL_CTX_check_private_key(ctx) != 1) return fail("api.tls_key does not belong to api.tls_cert");
  return 1;  // set up here; civetweb needs no ssl_certificate option
}

std::string ApiServer::start() {
  if (ctx_) return "the API server is already running";
  if (std::string e = configure(); !e.empty()) return e;
  const bool tls = !opts_.tls_cert.empty();
  mg_init_library(tls ? MG_FEATURES_TLS : 0);
  library_ = true;

  const std::string bracketed = host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_;
  const std::string ports = bracketed + ":" + std::to_string(port_) + (tls ? "s" : "");
  const std::string threads = std::to_string(opts_.threads ? opts_.threads : 1);
  // No document_root: civetweb serves no files, only the handler below.
  // No keep-alive: civetweb's C API cannot close a connection from a
  // handler, so a refused request's unread body (413, 401 on a POST) would
  // hold one of the few threads until a timeout; a connection per request
  // costs a loopback scraper nothing that matters. The 10 s request
  // timeout bounds a slow client's hold on a thread.
  std::vector<const char*> options = {"listening_ports", ports.c_str(),
                                      "num_threads", threads.c_str(),
                                      "request_timeout_ms", "10000",
                                      "linger_timeout_ms", "0",
                                      "enable_keep_alive", "no"};
  if (tls) {
    options.push_back("ssl_protocol_version");
    options.push_back("4");  // TLS 1.2 and newer
  }
  options.push_back(nullptr);

  mg_callbacks cb;
  std::memset(&cb, 0, sizeof cb);
  if (tls) cb.init_ssl = &ApiServer::init_tls;
  // civetweb prints its own errors to stderr otherwise; ours say more.
  cb.log_message = [](const mg_connection*, const char*) { return 1; };

  char errtext[256] = "";
  unsigned errcode = 0;
  mg_error_data err{&errcode, errtext, sizeof errtext};
  mg_init_data init{&cb, this, options.data()};
  ctx_ = mg_start2(&init, &err);
  if (!ctx_) {
    std::string why = !tls_error_.empty() ? tls_error_ : (errtext[0] ? errtext : "civetweb could not start");
    return "api.listen " + opts_.listen + ": " + why;
  }
  mg_set_request_handler(ctx_, "/", &ApiServer::serve, this);

  mg_server_port sp[4];
  std::memset(sp, 0, sizeof sp);
  const int n = mg_get_server_ports(ctx_, 4, sp);
  if (n >= 1) port_ = static_cast<uint16_t>(sp[0].port);
  return "";
}

void ApiServer::stop() {
  if (ctx_) {
    // civetweb's listener polls its sockets in 2 s quanta and mg_stop()
    // waits for it to see the stop flag: up to 2 s, the agent's whole
    // SIGTERM budget. A connection to the listening port ends the poll at
    // once, so one is made every few milliseconds until mg_stop returns
    // (the accepted connections are dropped unanswered by the stopping
    // server).
    std::atomic<bool> stopped{false};
    std::thread stopper([this, &stopped] {
      mg_stop(ctx_);
      stopped.store(true);
    });
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (host_.find(':') != std::string::npos) {
      auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
      a6->sin6_family = AF_INET6;
      a6->sin6_port = htons(port_);
      if (inet_pton(AF_INET6, host_ == "::" ? "::1" : host_.c_str(), &a6->sin6_addr) != 1) a6->sin6_addr = in6addr_loopback;
      len = sizeof *a6;
    } else {
      auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
      a4->sin_family = AF_INET;
      a4->sin_port = htons(port_);
      if (host_ == "0.0.0.0" || inet_pton(AF_INET, host_.c_str(), &a4->sin_addr) != 1)
        a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      len = sizeof *a4;
    }
    while (!stopped.load()) {
      const int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd >= 0) {
        (void)connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
        close(fd);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    stopper.join();
    ctx_ = nullptr;
  }
  if (library_) {
    mg_exit_library();
    library_ = false;
  }
}

ApiServer::Admission ApiServer::admit(HttpRequest& req, std::optional<std::string_view> authorization,
                                      uint64_t now_ns) {
  Admission a;
  // Per address first, before any token work: a client guessing tokens is
  // slowed down by it too.
  if (const uint32_t wait = ip_limit_.take("ip:" + req.remote, now_ns)) {
    rate_limited_.fetch_add(1, std::memory_order_relaxed);
    a.refusal = too_many(wait, "address " + req.remote);
    return a;
  }
  const RouteMatch m = router_.match(req.method, req.path);
  if (!m.route) {
    if (m.allowed.empty()) {
      a.refusal = error_response(404, "no route " + req.path + " (GET /api/v1/openapi.json lists them)");
    } else {
      std::string allow;
      for (const std::string& x : m.allowed) allow += (allow.empty() ? "" : ", ") + x;
      a.refusal = error_response(405, "method " + req.method + " not allowed on " + req.path + "; allowed: " + allow);
      a.refusal->headers.emplace_back("Allow", allow);
    }
    return a;
  }
  req.params = m.params;
  const Route& r = *m.route;
  const bool needs_token = r.access != Access::kOpen || opts_.metrics_auth;
  if (needs_token) {
    if (tokens_.empty()) {
      a.refusal = unauthorized("no API tokens are configured (api.tokens); only open routes answer", false);
      return a;
    }
    if (!authorization) {
      a.refusal = unauthorized("missing bearer token: send 'Authorization: Bearer <token>'", false);
      return a;
    }
    const auto tok = TokenTable::bearer(*authorization);
    if (!tok) {
      a.refusal = unauthorized("the Authorization header is not 'Bearer <token>'", true);
      return a;
    }
    const auto who = tokens_.check(*tok);
    if (!who) {
      a.refusal = unauthorized("unknown token", true);
      return a;
    }
    req.role = who->role;
    req.token_name = who->name;
    const Role need = r.access == Access::kAdmin ? Role::kAdmin : Role::kViewer;
    if (req.role < need) {
      a.refusal = error_response(403, "token '" + who->name + "' has role " + role_name(req.role) + "; " +
                                          req.method + " " + r.path + " needs " + role_name(need));
      return a;
    }
    if (const uint32_t wait = token_limit_.take("token:" + who->name, now_ns)) {
      rate_limited_.fetch_add(1, std::memory_order_relaxed);
      a.refusal = too_many(wait, "token '" + who->name + "'");
      return a;
    }
  }
  a.route = &r;
  return a;
}

HttpResponse ApiServer::too_large() const {
  return error_response(413, "request body is larger than " + std::to_string(opts_.max_body_bytes) +
                                 " bytes (api.max_body_bytes)");
}

HttpResponse ApiServer::run(const Route& route, const HttpRequest& req) {
  try {
    return route.handler(req);
  } catch (const std::exception& e) {
    // A handler bug must not take the agent down with it.
    return error_response(500, std::string("internal error: ") + e.what());
  }
}

HttpResponse ApiServer::handle(HttpRequest req, std::optional<std::string_view> authorization, uint64_t now_ns) {
  requests_.fetch_add(1, std::memory_order_relaxed);
  Admission a = admit(req, authorization, now_ns);
  if (a.refusal) return *a.refusal;
  if (req.body.size() > opts_.max_body_bytes) return too_large();
  return run(*a.route, req);
}

int ApiServer::serve(mg_connection* c, void* self_) {
  auto* self = static_cast<ApiServer*>(self_);
  self->requests_.fetch_add(1, std::memory_order_relaxed);
  const mg_request_info* ri = mg_get_request_info(c);
  HttpRequest req;
  req.method = ri->request_method ? ri->request_method : "";
  req.path = ri->local_uri ? ri->local_uri : "";
  req.query = ri->query_string ? ri->query_string : "";
  req.remote = ri->remote_addr;
  if (const char* ct = mg_get_header(c, "Content-Type")) req.content_type = ct;
  std::optional<std::string_view> auth;
  if (const char* h = mg_get_header(c, "Authorization")) auth = h;

  Admission a = self->admit(req, auth, mono_ns());
  HttpResponse resp;
  if (a.refusal) {
    resp = std::move(*a.refusal);
  } else if (ri->content_length > 0 && static_cast<uint64_t>(ri->content_length) > self->opts_.max_body_bytes) {
    resp = self->too_large();
  } else {
    // Read at most one byte more than allowed: enough to know a chunked
    // body is too large without taking all of it into memory.
    const uint64_t cap = self->opts_.max_body_bytes + 1;
    char buf[8192];
    bool over = false;
    for (;;) {
      const int n = mg_read(c, buf, sizeof buf);
      if (n <= 0) break;
      if (req.body.size() + static_cast<size_t>(n) > cap) {
        over = true;
        break;
      }
      req.body.append(buf, static_cast<size_t>(n));
    }
    if (over || req.body.size() > self->opts_.max_body_bytes) {
      resp = self->too_large();
    } else {
      resp = self->run(*a.route, req);
    }
  }

  mg_response_header_start(c, resp.status);
  mg_response_header_add(c, "Content-Type", resp.content_type.c_str(), -1);
  const std::string len = std::to_string(resp.body.size());
  mg_response_header_add(c, "Content-Length", len.c_str(), -1);
  mg_response_header_add(c, "Cache-Control", "no-store", -1);
  for (const auto& [k, v] : resp.headers) mg_response_header_add(c, k.c_str(), v.c_str(), -1);
  mg_response_header_send(c);
  if (req.method != "HEAD") mg_write(c, resp.body.data(), resp.body.size());
  return resp.status;
}

}  // namespace ws
