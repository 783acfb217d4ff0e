// Gns3Source: every GNS3 link capture of the config as ONE packet source.
//
// Threads, all owned here:
//   - one per capture target (a server's project): resolves the project
//     by name or id, lists its links (with node names), starts a stream per
//     selected link, keeps the project's notification WebSocket open
//     (link.created starts a stream, link.deleted ends one) and re-lists
//     every relist_ns to catch what a lost WebSocket missed;
//   - one per link stream: GET the link's pcap (409: start the capture and
//     ask again), parse it chunk by chunk (Gns3StreamParser) and copy each
//     Ethernet frame into the link's own SPSC ring; when the answer drops it
//     reconnects with exponential backoff and jitter and skips the records
//     it already delivered (the server replays the capture file from its
//     first byte), so no frame is lost or doubled. A full ring stalls the
//     stream (TCP pushes back on the server), it never drops;
//   - one ticker: per-project packet and byte rates every second.
//
// rx_burst() (the dispatcher's thread) round-robins over the link rings and
// hands out views into the ring slots, released at the next rx_burst().
// Packet::ifindex is ifindex_base + the link's slot; label(ifindex) gives
// the GNS3 names for flows and alerts. Slots are never reused for another
// link while the source lives, so a label never changes under a flow.
//
// Each server has a CircuitBreaker that every request reports to (listing,
// capture start, streams). While it is open, no thread talks to the server.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/capture/gns3_breaker.h"
#include "dataplane/capture/gns3_client.h"
#include "dataplane/capture/gns3_config.h"
#include "dataplane/ring.h"
#include "dataplane/gns3_label.h"
#include "dataplane/source.h"

namespace ws {

// What flows and alerts from a GNS3 link carry (EVE "gns3" object).
struct Gns3ServerStatus {
  std::string name;
  std::string url;
  std::string api;  // v2, v3
  bool reachable = false;
  std::string version;  // the server's, once it answered /version
  BreakerState breaker = BreakerState::kClosed;
  uint64_t breaker_opened = 0;
  uint64_t breaker_rejected = 0;
  std::string last_error;
};

struct Gns3ProjectStatus {
  std::string server;
  std::string project_id;  // empty until resolved
  std::string name;        // as configured until resolved
  std::string capture;     // capturing, starting, stopped, unreachable, error
  size_t links_capturing = 0;
  size_t links = 0;
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t last_packet_ns = 0;  // packet (capture) time of the newest frame, 0: none
  double pps = 0;
  double bps = 0;  // bits per second over the last tick
  std::string error;
};

struct Gns3LinkStatus {
  uint16_t ifindex = 0;
  Gns3LinkLabel label;
  std::string state;  // streaming, waiting, starting, backoff, stopped
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t last_packet_ns = 0;
  uint64_t reconnects = 0;
  uint64_t truncated = 0;
  uint64_t unsupported_link = 0;
  uint64_t replayed = 0;
  uint64_t clipped = 0;
  std::string error;
};

class Gns3Source final : public PacketSource {
 public:
  // A frame slot is 2 KiB: a full 1500-byte Ethernet frame with VLAN tags
  // and room to spare; longer frames keep their first kSlotData bytes and
  // their wire length, and are counted as clipped.
  static constexpr uint32_t kSlotData = 2048 - 16;
  static constexpr size_t kMaxLinks = 4096;
  static constexpr int kPollMs = 100;

  struct Options {
    uint16_t ifindex_base = 1;
    size_t ring_slots = 1024;  // per link
    uint64_t backoff_base_ns = 100'000'000;
    uint64_t backoff_max_ns = 10'000'000'000;
    uint64_t relist_ns = 10'000'000'000;
    uint64_t traffic_window_ns = 5'000'000'000;  // has_traffic: a frame within this window
    CircuitBreaker::Options breaker;
    uint64_t seed = 1;  // backoff jitter
  };

  Gns3Source(Gns3Config config, Options opts);
  explicit Gns3Source(Gns3Config config) : Gns3Source(std::move(config), Options{}) {}
  ~Gns3Source() override;

  // Starts the threads (once). The dispatcher may call rx_burst() before.
  void start();

  int rx_burst(Packet* out, int max) override;
  bool live() const override { return true; }
  void stop() override;
  SourceStats stats() const override;
  const std::string& name() const override { return name_; }
  std::string error() const override;

  // Thread-safe look-ups for the coordinator and the API.
  std::shared_ptr<const Gns3LinkLabel> label(uint16_t ifindex) const;
  std::vector<Gns3ServerStatus> servers() const;
  std::vector<Gns3ProjectStatus> projects() const;
  // false when no target has this project id (or configured name)
  bool links(const std::string& project, std::vector<Gns3LinkStatus>* out) const;
  bool has_traffic(const Gns3ProjectStatus& p, uint64_t now_wall_ns) const;

  // POST/DELETE /api/v1/gns3/projects/{id}/capture: capture all links of a
  // project (a configured one, or any project of a configured server, found
  // by id or name) or stop capturing it. "" or why not.
  std::string capture_project(const std::string& project, const std::string& server = "");
  std::string stop_project(const std::string& project);

  const Gns3Client* client(const std::string& server) const;

 private:
  struct Server;
  struct Target;
  struct LinkStream;

  void target_loop(Target* t);
  bool reconcile(Target* t);
  void ensure_stream(Target* t, const Gns3LinkInfo& l);
  void end_stream(LinkStream* s, bool stop_capture);
  void stream_loop(LinkStream* s);
  bool push_frames(LinkStream* s, std::span<const uint8_t> chunk);
  void ticker_loop();
  Target* find_target(const std::string& project) const;  // under mu_
  Gns3ProjectStatus project_status(const Target& t) const;
  bool sleep_for(uint64_t ns, const std::atomic<bool>& stop) const;
  void start_target(Target* t);

  struct Rate {
    uint64_t packets = 0, bytes = 0, at_ns = 0;
    double pps = 0, bps = 0;
  };

  Options opt_;
  std::string name_ = "gns3";
  mutable std::mutex rates_mu_;  // the ticker's per-project rates
  std::map<const Target*, Rate> rates_;
  std::vector<std::unique_ptr<Server>> servers_;

  mutable std::mutex mu_;  // targets_, slot assignment, labels, rates
  std::vector<std::unique_ptr<Target>> targets_;
  std::map<std::string, size_t> slot_of_;  // server/project_id/link_id -> slot
  std::array<std::unique_ptr<LinkStream>, kMaxLinks> slots_;
  std::atomic<size_t> nslots_{0};
  uint64_t links_refused_ = 0;  // past kMaxLinks

  std::atomic<bool> stop_{false};
  bool started_ = false;
  std::thread ticker_;
  Parker parker_;  // rx_burst sleeps here; producers wake it

  // rx_burst's state (dispatcher thread only).
  size_t rr_ = 0;
  std::vector<std::pair<LinkStream*, size_t>> held_;
};

}  // namespace ws
