#include "dataplane/capture/gns3_client.h"

#include <curl/curl.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>

namespace ws {
namespace {

void curl_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

uint64_t epoch_s() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

std::string b64url_decode(std::string s) {
  for (char& c : s) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (s.size() % 4) s += '=';
  static const std::string abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    if (c == '=') break;
    const size_t v = abc.find(c);
    if (v == std::string::npos) return {};
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xFF);
    }
  }
  return out;
}

std::string b64(const std::string& in) {
  static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += abc[v >> 18];
    out += abc[(v >> 12) & 63];
    out += abc[(v >> 6) & 63];
    out += abc[v & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out += abc[v >> 18];
    out += abc[(v >> 12) & 63];
    out += i + 1 < in.size() ? abc[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

size_t collect(char* p, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(p, size * n);
  return size * n;
}

struct StreamCtx {
  const std::function<bool(std::span<const uint8_t>)>* on_chunk = nullptr;
  const std::atomic<bool>* stop = nullptr;
  const std::function<void()>* on_open = nullptr;
  long status = 0;
  CURL* curl = nullptr;
  std::string error_body;  // a non-2xx answer's body, for the message
  bool aborted_by_callback = false;
};

size_t stream_write(char* p, size_t size, size_t n, void* user) {
  auto* c = static_cast<StreamCtx*>(user);
  if (c->status == 0) curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &c->status);
  if (c->status < 200 || c->status >= 300) {
    if (c->error_body.size() < 4096) c->error_body.append(p, size * n);
    return size * n;
  }
  if (!(*c->on_chunk)({reinterpret_cast<const uint8_t*>(p), size * n})) {
    c->aborted_by_callback = true;
    return 0;
  }
  return size * n;
}

// The end of the answer's headers: a 2xx means the capture is being relayed.
size_t stream_header(char* p, size_t size, size_t n, void* user) {
  auto* c = static_cast<StreamCtx*>(user);
  if (size * n == 2 && p[0] == '\r' && p[1] == '\n') {
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300 && *c->on_open) (*c->on_open)();
  }
  return size * n;
}

int stream_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<StreamCtx*>(user)->stop->load(std::memory_order_relaxed) ? 1 : 0;
}

// The message of a GNS3 error body: {"message": ...} (v2) or {"detail": ...} (v3).
std::string body_message(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object()) {
    if (j.contains("message") && j["message"].is_string()) return j["message"];
    if (j.contains("detail") && j["detail"].is_string()) return j["detail"];
  }
  return body.substr(0, 200);
}

std::string str_or(const nlohmann::json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

bool gns3_parse_url(const std::string& url, Gns3Url* out, std::string* error) {
  Gns3Url u;
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    u.tls = true;
    rest = url.substr(8);
  } else {
    *error = "url '" + url + "' is not http:// or https://";
    return false;
  }
  rest = rest.substr(0, rest.find('/'));
  u.port = u.tls ? 443 : 80;
  std::string port;
  if (!rest.empty() && rest.front() == '[') {  // [v6]:port
    const size_t close = rest.find(']');
    if (close == std::string::npos) {
      *error = "url '" + url + "': no ']' after the IPv6 address";
      return false;
    }
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') {
        *error = "url '" + url + "': expected ':' after ']'";
        return false;
      }
      port = rest.substr(close + 2);
      if (port.empty()) port = "-";
    }
    rest = rest.substr(1, close - 1);
  } else if (const size_t colon = rest.rfind(':'); colon != std::string::npos) {
    port = rest.substr(colon + 1);
    if (port.empty()) port = "-";
    rest = rest.substr(0, colon);
  }
  if (!port.empty()) {
    char* end = nullptr;
    const long v = std::strtol(port.c_str(), &end, 10);
    if (*end || v < 1 || v > 65535) {
      *error = "url '" + url + "': port '" + port + "' is not 1-65535";
      return false;
    }
    u.port = int(v);
  }
  if (rest.empty()) {
    *error = "url '" + url + "' has no host";
    return false;
  }
  u.host = rest;
  const bool v6 = u.host.find(':') != std::string::npos;
  u.base = std::string(u.tls ? "https://" : "http://") + (v6 ? "[" + u.host + "]" : u.host) + ":" +
           std::to_string(u.port);
  *out = u;
  return true;
}

bool gns3_parse_link(const std::string& json_text, Gns3LinkInfo* out, std::string* error) {
  auto j = nlohmann::json::parse(json_text, nullptr, false);
  if (!j.is_object()) {
    *error = "link is not a JSON object";
    return false;
  }
  Gns3LinkInfo l;
  l.link_id = str_or(j, "link_id");
  if (l.link_id.empty()) {
    *error = "link has no link_id";
    return false;
  }
  l.capturing = j.value("capturing", false);
  l.capture_file_name = str_or(j, "capture_file_name");
  l.link_type = str_or(j, "link_type");
  if (auto it = j.find("nodes"); it != j.end() && it->is_array()) {
    for (const auto& n : *it) {
      if (!n.is_object()) continue;
      Gns3LinkEnd e;
      e.node_id = str_or(n, "node_id");
      e.node_name = e.node_id;
      if (n.contains("adapter_number") && n["adapter_number"].is_number_integer()) e.adapter_number = n["adapter_number"];
      if (n.contains("port_number") && n["port_number"].is_number_integer()) e.port_number = n["port_number"];
      l.nodes.push_back(std::move(e));
    }
  }
  *out = std::move(l);
  return true;
}

Gns3Client::Gns3Client(Gns3ServerConfig server) : server_(std::move(server)) {
  curl_init_once();
  if (!gns3_parse_url(server_.url, &url_, &url_error_)) url_error_ = server_.name + ": " + url_error_;
  prefix_ = server_.api == Gns3Api::kV3 ? "/v3" : "/v2";
}

uint64_t Gns3Client::token_expiry() const {
  std::lock_guard<std::mutex> g(token_mu_);
  return token_exp_;
}

Gns3Reply Gns3Client::login_locked() {
  nlohmann::json body = {{"username", server_.user}, {"password", server_.password}};
  std::string resp;
  Gns3Reply r = request_once("POST", "/v3/access/users/authenticate", body.dump(), &resp);
  if (!r.ok()) {
    r.error = "login: " + r.error;
    return r;
  }
  auto j = nlohmann::json::parse(resp, nullptr, false);
  const std::string tok = j.is_object() ? str_or(j, "access_token") : "";
  if (tok.empty()) return {r.status, server_.name + ": login: the answer has no access_token"};
  token_ = tok;
  token_issued_ = epoch_s();
  // The expiry from the JWT's payload; without one, assume the server's
  // default lifetime (1440 minutes) and rely on the 401 retry.
  token_exp_ = token_issued_ + 1440 * 60;
  const size_t a = tok.find('.'), b = tok.find('.', a + 1);
  if (a != std::string::npos && b != std::string::npos) {
    auto p = nlohmann::json::parse(b64url_decode(tok.substr(a + 1, b - a - 1)), nullptr, false);
    if (p.is_object() && p.contains("exp") && p["exp"].is_number()) token_exp_ = p["exp"].get<uint64_t>();
  }
  logins_.fetch_add(1, std::memory_order_relaxed);
  return {};
}

Gns3Reply Gns3Client::ensure_token() {
  if (server_.api != Gns3Api::kV3) return {};
  std::lock_guard<std::mutex> g(token_mu_);
  const uint64_t now = epoch_s();
  if (!token_.empty()) {
    const uint64_t life = token_exp_ > token_issued_ ? token_exp_ - token_issued_ : 0;
    const uint64_t margin = std::max<uint64_t>(1, std::min<uint64_t>(60, life / 5));
    if (now + margin < token_exp_) return {};
  }
  return login_locked();
}

std::string Gns3Client::authorization() {
  if (server_.api == Gns3Api::kV3) {
    std::lock_guard<std::mutex> g(token_mu_);
    return token_.empty() ? "" : "Bearer " + token_;
  }
  if (server_.user.empty()) return "";
  return "Basic " + b64(server_.user + ":" + server_.password);
}

Gns3Reply Gns3Client::request_once(const std::string& method, const std::string& path, const std::string& body,
                                   std::string* response) {
  if (!url_error_.empty()) return {0, url_error_};
  CURL* c = curl_easy_init();
  if (!c) return {0, server_.name + ": curl_easy_init failed"};
  const std::string url = url_.base + path;
  curl_slist* hdr = nullptr;
  const bool is_login = path == "/v3/access/users/authenticate";
  if (!is_login) {
    const std::string a = authorization();
    if (!a.empty()) hdr = curl_slist_append(hdr, ("Authorization: " + a).c_str());
  }
  if (method == "POST") hdr = curl_slist_append(hdr, "Content-Type: application/json");
  char ebuf[CURL_ERROR_SIZE] = {0};
  response->clear();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, kConnectTimeoutMs);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, kRequestTimeoutMs);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, response);
  if (method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, long(body.size()));
  }
  const CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(hdr);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK)
    return {0, server_.name + ": " + method + " " + path + ": " + (ebuf[0] ? ebuf : curl_easy_strerror(rc))};
  if (status < 200 || status >= 300)
    return {int(status), server_.name + ": " + method + " " + path + ": HTTP " + std::to_string(status) + ": " +
                             body_message(*response)};
  return {int(status), {}};
}

Gns3Reply Gns3Client::request(const std::string& method, const std::string& path, const std::string& body,
                              std::string* response) {
  if (Gns3Reply t = ensure_token(); !t.ok()) return t;
  Gns3Reply r = request_once(method, path, body, response);
  if (r.status == 401 && server_.api == Gns3Api::kV3) {
    // The token was refused (expired early, or the server restarted with a
    // new secret): log in again once.
    {
      std::lock_guard<std::mutex> g(token_mu_);
      if (Gns3Reply l = login_locked(); !l.ok()) return l;
    }
    r = request_once(method, path, body, response);
  }
  return r;
}

Gns3Reply Gns3Client::version(std::string* version) {
  std::string resp;
  Gns3Reply r = request("GET", prefix_ + "/version", "", &resp);
  if (!r.ok()) return r;
  auto j = nlohmann::json::parse(resp, nullptr, false);
  if (!j.is_object() || !j.contains("version")) return {r.status, server_.name + ": /version: no version in the answer"};
  *version = str_or(j, "version");
  return r;
}

Gns3Reply Gns3Client::projects(std::vector<Gns3ProjectInfo>* out) {
  std::string resp;
  Gns3Reply r = request("GET", prefix_ + "/projects", "", &resp);
  if (!r.ok()) return r;
  auto j = nlohmann::json::parse(resp, nullptr, false);
  if (!j.is_array()) return {r.status, server_.name + ": /projects: the answer is not a list"};
  out->clear();
  for (const auto& p : j) {
    if (!p.is_object()) continue;
    out->push_back({str_or(p, "project_id"), str_or(p, "name"), str_or(p, "status")});
  }
  return r;
}

Gns3Reply Gns3Client::find_project(const std::string& name_or_id, Gns3ProjectInfo* out) {
  std::vector<Gns3ProjectInfo> all;
  Gns3Reply r = projects(&all);
  if (!r.ok()) return r;
  for (const auto& p : all)
    if (p.project_id == name_or_id) return *out = p, r;
  for (const auto& p : all)
    if (p.name == name_or_id) return *out = p, r;
  return {404, server_.name + ": no project named or with id '" + name_or_id + "'"};
}

Gns3Reply Gns3Client::node_names(const std::string& project_id,
                                 std::vector<std::pair<std::string, std::string>>* out) {
  std::string resp;
  Gns3Reply r = request("GET", prefix_ + "/projects/" + project_id + "/nodes", "", &resp);
  if (!r.ok()) return r;
  auto j = nlohmann::json::parse(resp, nullptr, false);
  if (!j.is_array()) return {r.status, server_.name + ": /nodes: the answer is not a list"};
  out->clear();
  for (const auto& n : j)
    if (n.is_object()) out->emplace_back(str_or(n, "node_id"), str_or(n, "name"));
  return r;
}

Gns3Reply Gns3Client::links(const std::string& project_id, std::vector<Gns3LinkInfo>* out) {
  std::vector<std::pair<std::string, std::string>> names;
  Gns3Reply r = node_names(project_id, &names);
  if (!r.ok()) return r;
  std::map<std::string, std::string> by_id(names.begin(), names.end());
  std::string resp;
  r = request("GET", prefix_ + "/projects/" + project_id + "/links", "", &resp);
  if (!r.ok()) return r;
  auto j = nlohmann::json::parse(resp, nullptr, false);
  if (!j.is_array()) return {r.status, server_.name + ": /links: the answer is not a list"};
  out->clear();
  for (const auto& l : j) {
    Gns3LinkInfo info;
    std::string err;
    if (!gns3_parse_link(l.dump(), &info, &err)) continue;
    for (auto& e : info.nodes)
      if (auto it = by_id.find(e.node_id); it != by_id.end() && !it->second.empty()) e.node_name = it->second;
    out->push_back(std::move(info));
  }
  return r;
}

Gns3Reply Gns3Client::start_capture(const std::string& project_id, const std::string& link_id,
                                    const std::string& data_link_type) {
  std::string resp;
  const std::string path = prefix_ + "/projects/" + project_id + "/links/" + link_id +
                           (server_.api == Gns3Api::kV3 ? "/capture/start" : "/start_capture");
  return request("POST", path, nlohmann::json{{"data_link_type", data_link_type}}.dump(), &resp);
}

Gns3Reply Gns3Client::stop_capture(const std::string& project_id, const std::string& link_id) {
  std::string resp;
  const std::string path = prefix_ + "/projects/" + project_id + "/links/" + link_id +
                           (server_.api == Gns3Api::kV3 ? "/capture/stop" : "/stop_capture");
  return request("POST", path, "{}", &resp);
}

Gns3Reply Gns3Client::stream_pcap(const std::string& project_id, const std::string& link_id,
                                  const std::function<bool(std::span<const uint8_t>)>& on_chunk,
                                  const std::atomic<bool>& stop, const std::function<void()>& on_open) {
  if (!url_error_.empty()) return {0, url_error_};
  if (Gns3Reply t = ensure_token(); !t.ok()) return t;
  const std::string path = prefix_ + "/projects/" + project_id + "/links/" + link_id +
                           (server_.api == Gns3Api::kV3 ? "/capture/stream" : "/pcap");
  CURL* c = curl_easy_init();
  if (!c) return {0, server_.name + ": curl_easy_init failed"};
  const std::string url = url_.base + path;
  curl_slist* hdr = nullptr;
  if (const std::string a = authorization(); !a.empty()) hdr = curl_slist_append(hdr, ("Authorization: " + a).c_str());
  char ebuf[CURL_ERROR_SIZE] = {0};
  StreamCtx ctx;
  ctx.on_chunk = &on_chunk;
  ctx.stop = &stop;
  ctx.on_open = &on_open;
  ctx.curl = c;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, kConnectTimeoutMs);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, stream_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &ctx);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, stream_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &ctx);
  // The progress callback runs about once a second even when no byte comes,
  // which is how stop() reaches a stream on an idle link.
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, stream_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &ctx);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 10L);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 5L);
  curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 64L * 1024);
  const CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(hdr);
  curl_easy_cleanup(c);
  if (stop.load(std::memory_order_relaxed)) return {int(status), "stopped"};
  if (status != 0 && (status < 200 || status >= 300))
    return {int(status), server_.name + ": GET " + path + ": HTTP " + std::to_string(status) + ": " +
                             body_message(ctx.error_body)};
  if (rc != CURLE_OK) {
    if (ctx.aborted_by_callback) return {int(status), server_.name + ": GET " + path + ": the stream is damaged"};
    return {int(status), server_.name + ": GET " + path + ": " + (ebuf[0] ? ebuf : curl_easy_strerror(rc))};
  }
  return {int(status), {}};
}

Gns3Reply Gns3Client::notification_target(const std::string& project_id, std::string* path,
                                          std::string* authorization_value) {
  *path = prefix_ + "/projects/" + project_id + "/notifications/ws";
  authorization_value->clear();
  if (server_.api == Gns3Api::kV3) {
    if (Gns3Reply t = ensure_token(); !t.ok()) return t;
    std::lock_guard<std::mutex> g(token_mu_);
    *path += "?token=" + token_;
    return {};
  }
  *authorization_value = authorization();
  return {};
}

}  // namespace ws
