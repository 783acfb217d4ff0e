// Gns3Notifications: a project's notification WebSocket
// (/v2|v3/projects/{id}/notifications/ws) over civetweb's WebSocket client.
//
// The controller sends {"action": ..., "event": {...}} text messages:
// `ping` every few seconds, and `link.created`, `link.updated`,
// `link.deleted` (among node.*, drawing.*, project.* that are ignored) with
// the link object as event. The source turns link.created into a capture
// and link.deleted into its end. Messages arrive on civetweb's connection
// thread; the handler must only queue them.
//
// civetweb's client takes no extra request headers, but it prints the path
// into the request line ("GET <path> HTTP/1.1\r\n..."); v2's Basic
// credentials ride there as an Authorization line ahead of the client's own
// headers. v3 passes its token as ?token=, which is how the real server
// authenticates WebSockets.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

struct mg_connection;

namespace ws {

class Gns3Client;

class Gns3Notifications {
 public:
  // action, and the event object as JSON text
  using Handler = std::function<void(const std::string& action, const std::string& event)>;

  // Connects; nullptr with *error naming the server and the reason.
  static std::unique_ptr<Gns3Notifications> open(Gns3Client& client, const std::string& project_id, Handler on_message,
                                                 std::string* error);
  ~Gns3Notifications();

  Gns3Notifications(const Gns3Notifications&) = delete;
  Gns3Notifications& operator=(const Gns3Notifications&) = delete;

  // The server closed the connection or it dropped.
  bool closed() const { return closed_.load(std::memory_order_acquire); }
  uint64_t messages() const { return messages_.load(std::memory_order_relaxed); }
  uint64_t pings() const { return pings_.load(std::memory_order_relaxed); }
  uint64_t bad_messages() const { return bad_.load(std::memory_order_relaxed); }

 private:
  explicit Gns3Notifications(Handler h) : handler_(std::move(h)) {}
  static int on_data(mg_connection* conn, int flags, char* data, size_t len, void* user);
  static void on_close(const mg_connection* conn, void* user);

  Handler handler_;
  mg_connection* conn_ = nullptr;
  std::string partial_;  // a fragmented message so far
  std::atomic<bool> closed_{false};
  std::atomic<uint64_t> messages_{0};
  std::atomic<uint64_t> pings_{0};
  std::atomic<uint64_t> bad_{0};
};

}  // namespace ws
