// Gns3Client: the REST side of a GNS3 controller, over libcurl.
//
// One client per configured server, shared by that server's threads: each
// call uses its own curl handle, and the only shared state is the v3 token.
//
// Auth: v2 sends HTTP Basic with every request (the server answers 401 with
// `WWW-Authenticate: Basic realm="GNS3 server"` without it). v3 exchanges
// user and password for a JWT at POST /v3/access/users/authenticate, sends
// it as a Bearer token, renews it before its `exp` (a fifth of its lifetime
// ahead, at most a minute), and logs in again once when a request is
// answered 401 (a token the server restarted without).
//
// Calls answer a Gns3Reply: the HTTP status, or 0 when no answer came
// (refused, reset, timed out), with a message naming the server and what
// failed. Control requests time out after kRequestTimeoutMs; the pcap
// stream has no overall limit (a quiet link sends nothing for hours) but
// TCP keepalive notices a peer that vanished.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "dataplane/capture/gns3_config.h"

namespace ws {

struct Gns3Reply {
  int status = 0;     // HTTP status; 0: no answer
  std::string error;  // empty on success
  bool ok() const { return error.empty(); }
};

struct Gns3ProjectInfo {
  std::string project_id;
  std::string name;
  std::string status;  // opened, closed
};

struct Gns3LinkEnd {
  std::string node_id;
  std::string node_name;  // from /nodes; the node_id when the node is unknown
  int adapter_number = 0;
  int port_number = 0;
};

struct Gns3LinkInfo {
  std::string link_id;
  std::vector<Gns3LinkEnd> nodes;
  bool capturing = false;
  std::string capture_file_name;
  std::string link_type;  // ethernet, serial
};

// Parses a link object of the controller (as in /links and in link.*
// notifications); node names from `names` (node_id -> name).
bool gns3_parse_link(const std::string& json_text, Gns3LinkInfo* out, std::string* error);

struct Gns3Url {
  bool tls = false;
  std::string host;
  int port = 0;
  std::string base;  // scheme://host:port, no trailing slash
};
// "http://host:port" (path ignored); error names what is wrong.
bool gns3_parse_url(const std::string& url, Gns3Url* out, std::string* error);

class Gns3Client {
 public:
  static constexpr long kConnectTimeoutMs = 3000;
  static constexpr long kRequestTimeoutMs = 10000;

  explicit Gns3Client(Gns3ServerConfig server);

  const Gns3ServerConfig& server() const { return server_; }
  const std::string& prefix() const { return prefix_; }  // "/v2" or "/v3"

  Gns3Reply version(std::string* version);
  Gns3Reply projects(std::vector<Gns3ProjectInfo>* out);
  // By project_id first, then by name; 404 when neither matches.
  Gns3Reply find_project(const std::string& name_or_id, Gns3ProjectInfo* out);
  // node_id -> name
  Gns3Reply node_names(const std::string& project_id, std::vector<std::pair<std::string, std::string>>* out);
  // The project's links with their nodes' names.
  Gns3Reply links(const std::string& project_id, std::vector<Gns3LinkInfo>* out);
  Gns3Reply start_capture(const std::string& project_id, const std::string& link_id,
                          const std::string& data_link_type = "DLT_EN10MB");
  Gns3Reply stop_capture(const std::string& project_id, const std::string& link_id);

  // GET the link's pcap stream; on_chunk for each piece of the body (false
  // from it aborts). Returns when the answer ends, the connection drops or
  // `stop` turns true (then error says "stopped"). status is the answer's,
  // so 409 means the link is not capturing. on_open runs once the server
  // has answered 2xx, before any byte of the (possibly long empty) body.
  Gns3Reply stream_pcap(const std::string& project_id, const std::string& link_id,
                        const std::function<bool(std::span<const uint8_t>)>& on_chunk, const std::atomic<bool>& stop,
                        const std::function<void()>& on_open = {});

  // For the notification WebSocket: the path (v3 carries the token as
  // ?token=, as the real server expects) and the Authorization header value
  // for v2 ("" for v3). Logs in for v3 when needed.
  Gns3Reply notification_target(const std::string& project_id, std::string* path, std::string* authorization);

  // v3: a usable token (logs in or renews when close to expiry).
  Gns3Reply ensure_token();
  uint64_t logins() const { return logins_.load(std::memory_order_relaxed); }
  // Seconds since the epoch when the current token expires (0: none).
  uint64_t token_expiry() const;

 private:
  Gns3Reply request(const std::string& method, const std::string& path, const std::string& body,
                    std::string* response);
  Gns3Reply request_once(const std::string& method, const std::string& path, const std::string& body,
                         std::string* response);
  Gns3Reply login_locked();
  std::string authorization();

  Gns3ServerConfig server_;
  Gns3Url url_;
  std::string url_error_;
  std::string prefix_;
  mutable std::mutex token_mu_;
  std::string token_;
  uint64_t token_exp_ = 0;     // epoch seconds
  uint64_t token_issued_ = 0;  // epoch seconds
  std::atomic<uint64_t> logins_{0};
};

}  // namespace ws
