#include "api/server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <dirent.h>
#include <dlfcn.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <thread>

#include "api/ws_stream.h"

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

// --- civetweb and OpenSSL ----------------------------------------------------

// Every function civetweb 1.15 (built for the OpenSSL 1.1 API, as Debian's
// is) looks up with dlsym() in its dlopen("libssl.so") and
// dlopen("libcrypto.so") handles before it serves TLS.
constexpr const char* kCivetwebSslFunctions[] = {
    "SSL_free", "SSL_accept", "SSL_connect", "SSL_read", "SSL_write", "SSL_get_error", "SSL_set_fd", "SSL_new",
    "SSL_CTX_new", "TLS_server_method", "OPENSSL_init_ssl", "SSL_CTX_use_PrivateKey_file",
    "SSL_CTX_use_certificate_file", "SSL_CTX_set_default_passwd_cb", "SSL_CTX_free", "TLS_client_method",
    "SSL_pending", "SSL_CTX_set_verify", "SSL_shutdown", "SSL_CTX_load_verify_locations",
    "SSL_CTX_set_verify_depth", "SSL_get_peer_certificate", "SSL_get_version", "SSL_get_current_cipher",
    "SSL_CIPHER_get_name", "SSL_CTX_check_private_key", "SSL_CTX_ctrl", "SSL_CTX_set_cipher_list",
    "SSL_CTX_set_options", "SSL_CTX_set_info_callback", "SSL_get_ex_data", "SSL_set_ex_data",
    "SSL_CTX_callback_ctrl", "SSL_get_servername", "SSL_set_SSL_CTX", "SSL_ctrl", "SSL_CTX_set_alpn_protos",
    "SSL_CTX_set_alpn_select_cb", "SSL_CTX_set_timeout"};
constexpr const char* kCivetwebCryptoFunctions[] = {
    "ERR_get_error", "ERR_error_string", "CONF_modules_unload", "X509_free", "X509_get_subject_name",
    "X509_get_issuer_name", "X509_NAME_oneline", "X509_get_serialNumber", "EVP_get_digestbyname", "EVP_Digest",
    "i2d_X509", "BN_bn2hex", "ASN1_INTEGER_to_BN", "BN_free", "CRYPTO_free", "ERR_clear_error"};

// What civetweb's own loading would find: "" when both libraries open and
// have every function, else what is missing.
std::string civetweb_openssl_gaps() {
  struct Lib {
    const char* name;
    const char* const* functions;
    size_t count;
  };
  const Lib libs[] = {{"libssl.so", kCivetwebSslFunctions, std::size(kCivetwebSslFunctions)},
                      {"libcrypto.so", kCivetwebCryptoFunctions, std::size(kCivetwebCryptoFunctions)}};
  std::string gaps;
  for (const Lib& lib : libs) {
    void* h = dlopen(lib.name, RTLD_LAZY);
    if (!h) {
      const char* e = dlerror();
      gaps += std::string(gaps.empty() ? "" : "; ") + "dlopen(\"" + lib.name + "\") fails (" + (e ? e : "?") + ")";
      continue;
    }
    std::string missing;
    for (size_t i = 0; i < lib.count; ++i)
      if (!dlsym(h, lib.functions[i])) missing += std::string(missing.empty() ? "" : ", ") + lib.functions[i];
    dlclose(h);
    if (!missing.empty()) gaps += std::string(gaps.empty() ? "" : "; ") + lib.name + " has no " + missing;
  }
  return gaps;
}

#ifdef WIRESCOPE_TLS_COMPAT_SSL
// Loads one of the OpenSSL compatibility objects (api/tls_compat.c) by
// absolute path, RTLD_GLOBAL: next to a binary run from the build
// directory (<build>/agent/wirescope -> <build>/api/FILE), else from the
// installed directory. Returns "" or each place tried and why it failed.
std::string load_tls_compat(const std::string& file) {
  std::vector<std::string> places;
  char exe[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    std::string dir(exe, static_cast<size_t>(n));
    dir.erase(dir.rfind('/') + 1);
    places.push_back(dir + "../api/" + file);
  }
  places.push_back(std::string(WIRESCOPE_TLS_COMPAT_INSTALL_DIR) + "/" + file);
  std::string tried;
  for (const std::string& p : places) {
    std::string why;
    if (access(p.c_str(), F_OK) != 0) {
      why = "no such file";
    } else if (dlopen(p.c_str(), RTLD_NOW | RTLD_GLOBAL)) {
      return "";
    } else {
      const char* e = dlerror();
      why = e ? e : "dlopen failed";
    }
    tried += std::string(tried.empty() ? "" : ", ") + p + " (" + why + ")";
  }
  return "tried " + tried;
}
#endif

// Makes civetweb's run-time OpenSSL loading work, or says why it cannot.
// civetweb <= 1.15 calls SSL_get_peer_certificate after every handshake;
// OpenSSL 3 no longer exports it (a macro for SSL_get1_peer_certificate),
// and civetweb would call the null pointer its lookup left. With OpenSSL 3
// the compatibility objects are loaded first: their DT_SONAMEs are
// libssl.so and libcrypto.so, so glibc answers civetweb's dlopen() of those
// names with them, and their dependencies are the real libraries (see
// api/tls_compat.c). OpenSSL 1.1 exports the function: nothing is loaded.
std::string prepare_civetweb_tls() {
  const std::string needs = std::string("civetweb ") + mg_version() + " cannot use " +
                            OpenSSL_version(OPENSSL_VERSION) +
                            " as it is (it looks up SSL_get_peer_certificate, which OpenSSL 3 no longer exports)";
  if (!dlsym(RTLD_DEFAULT, "SSL_get_peer_certificate")) {
#ifdef WIRESCOPE_TLS_COMPAT_SSL
    for (const char* file : {WIRESCOPE_TLS_COMPAT_SSL, WIRESCOPE_TLS_COMPAT_CRYPTO})
      if (std::string e = load_tls_compat(file); !e.empty())
        return needs + " and wirescope's compatibility object " + file + " could not be loaded: " + e;
#else
    return needs + " and this build has no compatibility object (it was built against an OpenSSL older than 3)";
#endif
  }
  if (std::string gaps = civetweb_openssl_gaps(); !gaps.empty())
    return std::string("civetweb ") + mg_version() + " cannot use " + OpenSSL_version(OPENSSL_VERSION) + ": " + gaps;
  return "";
}

// --- WebSocket glue ---------------------------------------------------------

// The socket of a connection, found by its addresses: civetweb's API does
// not hand it out, and the stream needs it for two things civetweb cannot
// do — poll for room before a write (so a slow client's frames wait in its
// bounded queue, not in a blocked write holding the connection lock), and
// shutdown() to end a connection from another thread at once (at agent
// stop: a client that never reads would otherwise hold civetweb's thread
// in a write until its timeout). Matched on the peer's address and port
// and our local port, which no other socket of the process shares.
// -1 when not found (the stream then works without those two).
int find_connection_socket(const char* peer_addr, uint16_t peer_port, uint16_t local_port) {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  int found = -1;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (!end || *end != '\0' || fd < 0 || fd == dirfd(d)) continue;
    struct stat st;
    if (fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_storage peer{}, local{};
    socklen_t pl = sizeof peer, ll = sizeof local;
    if (getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &pl) != 0) continue;
    if (getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local), &ll) != 0) continue;
    char text[INET6_ADDRSTRLEN] = "";
    uint16_t pport = 0, lport = 0;
    if (peer.ss_family == AF_INET) {
      const auto* a = reinterpret_cast<const sockaddr_in*>(&peer);
      inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
      pport = ntohs(a->sin_port);
      lport = ntohs(reinterpret_cast<const sockaddr_in*>(&local)->sin_port);
    } else if (peer.ss_family == AF_INET6) {
      const auto* a = reinterpret_cast<const sockaddr_in6*>(&peer);
      inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
      pport = ntohs(a->sin6_port);
      lport = ntohs(reinterpret_cast<const sockaddr_in6*>(&local)->sin6_port);
    } else {
      continue;
    }
    if (pport == peer_port && lport == local_port && std::strcmp(text, peer_addr) == 0) {
      found = static_cast<int>(fd);
      break;
    }
  }
  closedir(d);
  return found;
}

class CivetFrameWriter final : public FrameWriter {
 public:
  CivetFrameWriter(mg_connection* c, int fd) : c_(c), fd_(fd) {}
  bool write(const StreamFrame& f) override {
    return mg_websocket_write(c_, f.binary ? MG_WEBSOCKET_OPCODE_BINARY : MG_WEBSOCKET_OPCODE_TEXT, f.data.data(),
                              f.data.size()) > 0;
  }
  bool writable(int timeout_ms) override {
    if (fd_ < 0) return true;
    pollfd p{fd_, POLLOUT, 0};
    // An error or hang-up counts as writable: the write then fails and the
    // sender ends.
    return poll(&p, 1, timeout_ms) > 0;
  }
  bool close_frame() override {
    static const char kGoingAway[2] = {0x03, static_cast<char>(0xe9)};  // 1001
    return writable(0) &&
           mg_websocket_write(c_, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, kGoingAway, sizeof kGoingAway) > 0;
  }
  bool drained(int timeout_ms) override {
    if (fd_ < 0) return true;
    // SIOCOUTQ: bytes written but not yet acknowledged by the client.
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      int unsent = 0;
      if (ioctl(fd_, SIOCOUTQ, &unsent) != 0 || unsent == 0) return true;
      if (std::chrono::steady_clock::now() >= end) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  void interrupt(bool abort) override {
    if (fd_ < 0) return;
    if (abort) {
      // connect(AF_UNSPEC) on a TCP socket disconnects it at once (a
      // reset, queues purged) without closing the descriptor, which
      // civetweb still owns. Otherwise civetweb's lingering close
      // (linger_timeout_ms) would wait on the bytes a client that does not
      // read never takes, and hold up the agent's stop.
      sockaddr sa{};
      sa.sa_family = AF_UNSPEC;
      (void)connect(fd_, &sa, sizeof sa);
    }
    shutdown(fd_, SHUT_RDWR);
  }

 private:
  mg_connection* c_;
  int fd_;
};

// What a WebSocket connection keeps between civetweb's callbacks.
struct WsConnection {
  std::string who;                        // the token's name
  std::shared_ptr<StreamClient> client;  // once attached
};

// A refusal written as a whole HTTP response: civetweb sends nothing when
// the connect handler refuses, and its response-header calls are not for a
// request that asked for an upgrade.
void write_refusal(mg_connection* c, const HttpResponse& r) {
  std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " + mg_get_response_code_text(c, r.status) + "\r\n";
  head += "Content-Type: " + r.content_type + "\r\n";
  head += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  head += "Cache-Control: no-store\r\nConnection: close\r\n";
  for (const auto& [k, v] : r.headers) head += k + ": " + v + "\r\n";
  head += "\r\n";
  mg_write(c, head.data(), head.size());
  mg_write(c, r.body.data(), r.body.size());
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
    : opts_(std::move(opts)), ip_limit_(opts_.rate_limit), token_limit_(opts_.rate_limit) {
  // The page's first call, on every server: a fresh table has no route it
  // could clash with.
  (void)add_dashboard_route(router_, opts_.dashboard, opts_.anonymous_view, &assets_);
}

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
    // Before mg_init_library(MG_FEATURES_TLS), where civetweb loads OpenSSL.
    if (std::string e = prepare_civetweb_tls(); !e.empty()) return "api.tls_cert: " + e;
  }
  if (opts_.max_body_bytes < 1) return "api.max_body_bytes must be at least 1";
  if (opts_.rate_limit.requests_per_second > 0 && opts_.rate_limit.burst < 1)
    return "api.rate_limit.burst must be at least 1";
  if (opts_.dashboard) {
    // A directory that was asked for must be there; the default may be
    // missing (a build that was not installed), which the page's 404 tells.
    const bool asked = !opts_.dashboard_dir.empty();
    if (std::string e = assets_.open(asked ? opts_.dashboard_dir : default_dashboard_dir(), asked); !e.empty())
      return "api.dashboard_dir: " + e;
  }
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
  const unsigned features = mg_init_library(tls ? MG_FEATURES_TLS : 0);
  library_ = true;
  // civetweb's own loading of OpenSSL (the functions configure() checked).
  if (tls && !(features & MG_FEATURES_TLS))
    return std::string("api.tls_cert: civetweb ") + mg_version() + " could not initialize " +
           OpenSSL_version(OPENSSL_VERSION);

  const std::string bracketed = host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_;
  const std::string ports = bracketed + ":" + std::to_string(port_) + (tls ? "s" : "");
  // Each WebSocket keeps one civetweb thread in its read loop for as long
  // as it is open, so the stream's clients get threads of their own on top
  // of the ones that answer requests.
  const unsigned stream_threads = stream_ ? opts_.max_stream_clients : 0;
  const std::string threads = std::to_string((opts_.threads ? opts_.threads : 1) + stream_threads);
  // No document_root: civetweb serves no files, only the handler below.
  // No keep-alive: civetweb's C API cannot close a connection from a
  // handler, so a refused request's unread body (413, 401 on a POST) would
  // hold one of the few threads until a timeout; a connection per request
  // costs a loopback scraper nothing that matters. The 10 s request
  // timeout bounds a slow client's hold on a thread.
  std::vector<const char*> options = {"listening_ports", ports.c_str(),
                                      "num_threads", threads.c_str(),
                                      "request_timeout_ms", "10000",
                                      "linger_timeout_ms", "1000",  // 0 would reset large answers (abortive close)
                                      "enable_keep_alive", "no",
                                      // A WebSocket's reader wakes this often
                                      // to look at civetweb's stop flag; a
                                      // quiet client is not closed for it.
                                      "websocket_timeout_ms", "500"};
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
  if (stream_) {
    mg_set_websocket_handler(ctx_, "/api/v1/stream", &ApiServer::ws_connect, &ApiServer::ws_ready,
                             &ApiServer::ws_data, &ApiServer::ws_close, this);
    stream_->start();
  }

  mg_server_port sp[4];
  std::memset(sp, 0, sizeof sp);
  const int n = mg_get_server_ports(ctx_, 4, sp);
  if (n >= 1) port_ = static_cast<uint16_t>(sp[0].port);
  return "";
}

void ApiServer::stop() {
  if (ctx_) {
    // The stream's connections first: each gets a close frame if it takes
    // one and its socket is shut down, so that no civetweb thread stays in
    // a WebSocket read or write when mg_stop waits for them.
    if (stream_) stream_->stop();
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
  if (!m.route && m.allowed.empty() && opts_.dashboard && (req.method == "GET" || req.method == "HEAD") &&
      req.path != "/api" && req.path.rfind("/api/", 0) != 0) {
    a.asset = true;
    return a;
  }
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
  // api.anonymous_view: no header at all reads as a viewer, on GET routes
  // only (the stream's upgrade is a GET); admin routes still need a token.
  if (needs_token && !authorization && opts_.anonymous_view && r.access != Access::kAdmin &&
      (req.method == "GET" || req.method == "HEAD")) {
    anonymous_.fetch_add(1, std::memory_order_relaxed);
    req.role = Role::kViewer;
    req.token_name = "anonymous";
  } else if (needs_token) {
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
  if (a.asset) return assets_.get(req.path, "");
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
  } else if (a.asset) {
    // The path as sent (decoded, dot segments kept), not civetweb's
    // cleaned-up one: a request that tried to climb out is refused and
    // counted as such, not served the file its cleaned path names.
    const char* inm = mg_get_header(c, "If-None-Match");
    resp = self->assets_.get(ri->local_uri_raw ? ri->local_uri_raw : req.path.c_str(), inm ? inm : "");
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
  if (resp.status != 304) {  // a 304 has no body, and says nothing about it
    mg_response_header_add(c, "Content-Type", resp.content_type.c_str(), -1);
    const std::string len = std::to_string(resp.body.size());
    mg_response_header_add(c, "Content-Length", len.c_str(), -1);
  }
  // API answers are never cached; the dashboard's files say their own.
  bool cache_control = false;
  for (const auto& [k, v] : resp.headers) cache_control |= k == "Cache-Control";
  if (!cache_control) mg_response_header_add(c, "Cache-Control", "no-store", -1);
  for (const auto& [k, v] : resp.headers) mg_response_header_add(c, k.c_str(), v.c_str(), -1);
  mg_response_header_send(c);
  if (req.method != "HEAD") mg_write(c, resp.body.data(), resp.body.size());
  return resp.status;
}

int ApiServer::ws_connect(const mg_connection* cc, void* self_) {
  auto* self = static_cast<ApiServer*>(self_);
  auto* c = const_cast<mg_connection*>(cc);  // civetweb's connect callback is const; writing a refusal is not
  self->requests_.fetch_add(1, std::memory_order_relaxed);
  const mg_request_info* ri = mg_get_request_info(c);
  HttpRequest req;
  req.method = "GET";
  req.path = ri->local_uri ? ri->local_uri : "";
  req.query = ri->query_string ? ri->query_string : "";
  req.remote = ri->remote_addr;
  // Browsers cannot set headers on a WebSocket: ?token= stands in for
  // Authorization: Bearer (the header wins when both are there).
  std::optional<std::string_view> auth;
  std::string from_query;
  if (const char* h = mg_get_header(c, "Authorization")) {
    auth = h;
  } else if (std::string t = req.query_param("token"); !t.empty()) {
    from_query = "Bearer " + t;
    auth = from_query;
  }
  Admission a = self->admit(req, auth, mono_ns());
  if (a.refusal) {
    write_refusal(c, *a.refusal);
    return 1;
  }
  // civetweb answers nothing at all when the key does not fit its buffer
  // (and then never calls the close handler, which would leak the slot).
  const char* key = mg_get_header(c, "Sec-WebSocket-Key");
  if (!key || std::strlen(key) > 60) {
    write_refusal(c, error_response(400, "Sec-WebSocket-Key is missing or too long"));
    return 1;
  }
  if (!self->stream_->reserve()) {
    write_refusal(c, error_response(503, "the stream has " + std::to_string(self->opts_.max_stream_clients) +
                                             " clients already (api.max_stream_clients), or the agent is stopping; "
                                             "retry later"));
    return 1;
  }
  mg_set_user_connection_data(c, new WsConnection{req.token_name, nullptr});
  return 0;
}

void ApiServer::ws_ready(mg_connection* c, void* self_) {
  auto* self = static_cast<ApiServer*>(self_);
  auto* wc = static_cast<WsConnection*>(mg_get_user_connection_data(c));
  if (!wc) return;
  const mg_request_info* ri = mg_get_request_info(c);
  const int fd = find_connection_socket(ri->remote_addr, static_cast<uint16_t>(ri->remote_port), self->port_);
  wc->client = self->stream_->attach(wc->who, std::make_unique<CivetFrameWriter>(c, fd));
  if (!wc->client) {
    // The stream stopped between the handshake and here: close at once.
    static const char kGoingAway[2] = {0x03, static_cast<char>(0xe9)};
    mg_websocket_write(c, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, kGoingAway, sizeof kGoingAway);
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
  }
}

int ApiServer::ws_data(mg_connection* c, int bits, char* data, size_t len, void* self_) {
  auto* self = static_cast<ApiServer*>(self_);
  auto* wc = static_cast<WsConnection*>(mg_get_user_connection_data(c));
  if (!wc || !wc->client) return 0;
  switch (bits & 0x0f) {
    case MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE:
      return 0;  // the close handler answers it
    case MG_WEBSOCKET_OPCODE_TEXT:
      if (len > 64 * 1024) {
        wc->client->push_control(Stream::json_frame("error", "{\"message\":\"message over 64 KiB\"}"));
        return 1;
      }
      self->stream_->on_message(*wc->client, std::string_view(data, len));
      return 1;
    case MG_WEBSOCKET_OPCODE_PING:
    case MG_WEBSOCKET_OPCODE_PONG:
      return 1;
    default:
      wc->client->push_control(Stream::json_frame(
          "error", "{\"message\":\"send JSON text messages, e.g. {\\\"subscribe\\\":[\\\"alerts\\\"]}\"}"));
      return 1;
  }
}

void ApiServer::ws_close(const mg_connection* c, void* self_) {
  auto* self = static_cast<ApiServer*>(self_);
  auto* wc = static_cast<WsConnection*>(mg_get_user_connection_data(c));
  if (!wc) return;
  if (wc->client)
    self->stream_->detach(wc->client);
  else
    self->stream_->unreserve();
  mg_set_user_connection_data(c, nullptr);
  delete wc;
}

}  // namespace ws
