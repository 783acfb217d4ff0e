#include "dataplane/capture/gns3_notify.h"

#include <civetweb.h>

#include <nlohmann/json.hpp>

#include "dataplane/capture/gns3_client.h"

namespace ws {

namespace {
void civetweb_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { mg_init_library(0); });
}
}  // namespace

std::unique_ptr<Gns3Notifications> Gns3Notifications::open(Gns3Client& client, const std::string& project_id,
                                                           Handler on_message, std::string* error) {
  civetweb_init_once();
  Gns3Url url;
  if (!gns3_parse_url(client.server().url, &url, error)) return nullptr;
  std::string path, auth;
  if (Gns3Reply r = client.notification_target(project_id, &path, &auth); !r.ok()) {
    *error = r.error;
    return nullptr;
  }
  // The request line is "GET <path> HTTP/1.1"; an Authorization line is
  // slipped in after the path (see the header comment).
  if (!auth.empty()) path += " HTTP/1.1\r\nAuthorization: " + auth + "\r\nX-Gns3-Client: wirescope";
  std::unique_ptr<Gns3Notifications> n(new Gns3Notifications(std::move(on_message)));
  char ebuf[256] = {0};
  n->conn_ = mg_connect_websocket_client(url.host.c_str(), url.port, url.tls ? 1 : 0, ebuf, sizeof ebuf,
                                         path.c_str(), nullptr, &Gns3Notifications::on_data,
                                         &Gns3Notifications::on_close, n.get());
  if (!n->conn_) {
    *error = client.server().name + ": notifications of project " + project_id + ": " +
             (ebuf[0] ? ebuf : "the WebSocket handshake failed");
    return nullptr;
  }
  return n;
}

Gns3Notifications::~Gns3Notifications() {
  if (conn_) mg_close_connection(conn_);
}

int Gns3Notifications::on_data(mg_connection*, int flags, char* data, size_t len, void* user) {
  auto* n = static_cast<Gns3Notifications*>(user);
  const int op = flags & 0x0F;
  if (op == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE) {
    n->closed_.store(true, std::memory_order_release);
    return 0;
  }
  if (op != MG_WEBSOCKET_OPCODE_TEXT && op != MG_WEBSOCKET_OPCODE_CONTINUATION) return 1;
  n->partial_.append(data, len);
  if (!(flags & 0x80)) return 1;  // not the final fragment
  std::string msg;
  msg.swap(n->partial_);
  auto j = nlohmann::json::parse(msg, nullptr, false);
  if (!j.is_object() || !j.contains("action") || !j["action"].is_string()) {
    n->bad_.fetch_add(1, std::memory_order_relaxed);
    return 1;
  }
  const std::string action = j["action"];
  n->messages_.fetch_add(1, std::memory_order_relaxed);
  if (action == "ping") {
    n->pings_.fetch_add(1, std::memory_order_relaxed);
    return 1;
  }
  n->handler_(action, j.contains("event") ? j["event"].dump() : "{}");
  return 1;
}

void Gns3Notifications::on_close(const mg_connection*, void* user) {
  static_cast<Gns3Notifications*>(user)->closed_.store(true, std::memory_order_release);
}

}  // namespace ws
