// The live event stream behind WebSocket /api/v1/stream.
//
// A client subscribes to topics (alerts, flows, stats, top, gns3, apps,
// hosts, qos) with a JSON text message; the agent then pushes one frame per event. Events reach
// the stream through an Exporter, so they come from the export thread,
// never from a worker: the data plane cannot be slowed by a client. The
// export thread formats each event once (EVE JSON, and the protobuf Event
// when some client asked for binary frames) and fans the shared frame out
// to every subscribed client's bounded queue. stats and top are built by
// the stream's own thread from the agent's atomic counters and flow
// snapshot, so a slow snapshot never holds the export thread either. apps
// and qos (every stats interval) and hosts (with top) are read and
// formatted only while someone subscribes to them; their rates are taken
// between two of the stream's own samples.
//
// Queues drop the OLDEST frame when full: a dashboard wants the newest
// state (stats and top are snapshots that supersede the older ones, and
// a recent alert matters more than a stale one). Every drop is counted
// for the client and in the stream's total, and the client is told before
// its next frame: {"topic":"drops","data":{"dropped":N,"total":T}}.
//
// Each connection has exactly one writer of data frames: its own sender
// thread, which pops the queue and writes to the socket. civetweb lets only
// one thread write a connection at a time (mg_websocket_write takes the
// connection's lock per frame, so its own PONG/close replies never land
// inside one of ours), and a thread per connection means a client whose
// socket is full blocks only its own sender, never the export thread or
// another client. The sender waits for the socket to be writable before it
// takes a frame, so frames wait in the bounded queue (where drops are
// counted) rather than in a blocked write.
//
// Sockets are behind FrameWriter, so the queueing, fan-out, drop and
// close logic is tested without a network (tests/api/ws_stream_test.cc);
// api/server.cc implements it on civetweb.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "api/agent_view.h"
#include "api/router.h"
#include "dataplane/gns3_label.h"
#include "telemetry/eve.h"
#include "telemetry/exporter.h"
#include "telemetry/json_writer.h"

namespace ws {

// Topics as bits of a subscription mask.
enum StreamTopic : uint32_t {
  kTopicAlerts = 1u << 0,
  kTopicFlows = 1u << 1,
  kTopicStats = 1u << 2,
  kTopicTop = 1u << 3,
  kTopicGns3 = 1u << 4,  // per-project GNS3 traffic status, every stats interval
  kTopicApps = 1u << 5,  // per-application totals and rates, every stats interval
  kTopicHosts = 1u << 6,  // the top talkers, with top
  kTopicQos = 1u << 7,  // per-class, per-colour QoS counters and rates, every stats interval
};
constexpr uint32_t kAllStreamTopics =
    kTopicAlerts | kTopicFlows | kTopicStats | kTopicTop | kTopicGns3 | kTopicApps | kTopicHosts | kTopicQos;
// "alerts" -> kTopicAlerts; 0 when unknown.
uint32_t stream_topic(std::string_view name);
// The names of the topics in mask, in the order above.
std::vector<std::string> stream_topic_names(uint32_t mask);

enum class StreamFormat : uint8_t { kJson, kProtobuf };

// One WebSocket message: a text frame (JSON) or a binary one (protobuf).
struct StreamFrame {
  bool binary = false;
  std::string data;
};
using FramePtr = std::shared_ptr<const StreamFrame>;

// What a client message asks for. A message is a JSON object with any of
//   "subscribe": ["alerts", ...]  replaces the subscription ([] for none)
//   "format": "json" | "protobuf"
// Unknown topics and fields are reported in errors; the rest still applies.
struct StreamRequest {
  std::optional<uint32_t> topics;
  std::optional<StreamFormat> format;
  std::vector<std::string> errors;
};
StreamRequest parse_stream_request(std::string_view text, bool protobuf_available);

// What a frame is to its queue. Events (alerts, flows) wait in a bounded
// FIFO that drops its oldest; stats, top, apps, hosts and qos are
// snapshots, of which only the newest unsent one of each is kept (a newer
// one supersedes it, and that counts as a drop); control frames
// (subscribed, error) go first. The sender takes control frames, then
// snapshots (in this order), then events, so a client under a flood of
// flows still gets stats every second.
enum class FrameClass : uint8_t { kEvent, kControl, kStats, kTop, kApps, kHosts, kQos };
// The snapshot classes, kStats onwards.
inline constexpr size_t kSnapshotClasses = 5;

// A client's bounded queue. Thread-safe: producers (the export thread, the
// stream's thread, the connection's reader) push; the connection's sender
// pops.
class FrameQueue {
 public:
  // capacity: events held before the oldest is dropped. Control frames
  // have a bound of their own (kControlMax), also dropping the oldest.
  explicit FrameQueue(size_t capacity) : capacity_(capacity ? capacity : 1) {}
  static constexpr size_t kControlMax = 64;

  // Adds f; returns false when a frame was dropped to make room for it
  // (or the queue is closed and f was refused).
  bool push(FramePtr f, FrameClass c = FrameClass::kEvent);

  struct Popped {
    FramePtr frame;
    uint64_t dropped = 0;  // frames dropped since the previous pop that told them
  };
  // The next frame (control, then stats, top, then the oldest event), or
  // nullopt when the queue is empty.
  std::optional<Popped> try_pop();
  // Waits until a frame is queued or the queue is closed, at most wait.
  // Returns true when a frame is queued.
  bool wait(std::chrono::milliseconds wait);
  // Wakes wait() for good; later pushes are refused.
  void close();

  size_t size() const;
  size_t capacity() const { return capacity_; }
  uint64_t dropped() const { return dropped_total_.load(std::memory_order_relaxed); }

 private:
  bool empty_locked() const;
  void drop_locked();

  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<FramePtr> events_;
  std::deque<FramePtr> control_;
  FramePtr snapshots_[kSnapshotClasses];  // by FrameClass, from kStats
  uint64_t dropped_untold_ = 0;
  bool closed_ = false;
  std::atomic<uint64_t> dropped_total_{0};
};

// A connection's socket as the sender sees it.
class FrameWriter {
 public:
  virtual ~FrameWriter() = default;
  // Writes one whole frame; false when the connection is gone.
  virtual bool write(const StreamFrame& f) = 0;
  // Whether the socket would take more bytes now, waiting at most
  // timeout_ms. Best effort: true when it cannot tell.
  virtual bool writable(int timeout_ms) = 0;
  // Sends a close frame (1001, going away) if the socket takes it now;
  // returns whether it did.
  virtual bool close_frame() = 0;
  // Waits at most timeout_ms until every byte written has been taken by
  // the client; false when some is still waiting (best effort: true when
  // it cannot tell).
  virtual bool drained(int timeout_ms) = 0;
  // Ends the connection from this side: a blocked write and civetweb's
  // reader of the connection return at once. abort: the client is not
  // taking what was sent, so unsent bytes are discarded (a reset) rather
  // than left for civetweb's lingering close to wait on. Safe from any
  // thread.
  virtual void interrupt(bool abort) = 0;
};

// One connected client: its subscription, its queue and its sender thread.
class StreamClient {
 public:
  StreamClient(uint64_t id, std::string who, std::unique_ptr<FrameWriter> writer, size_t queue_frames);
  ~StreamClient();
  StreamClient(const StreamClient&) = delete;
  StreamClient& operator=(const StreamClient&) = delete;

  uint64_t id() const { return id_; }
  const std::string& who() const { return who_; }  // the token's name, for logs

  uint32_t topics() const { return topics_.load(std::memory_order_acquire); }
  void set_topics(uint32_t m) { topics_.store(m, std::memory_order_release); }
  StreamFormat format() const { return format_.load(std::memory_order_acquire); }
  void set_format(StreamFormat f) { format_.store(f, std::memory_order_release); }

  // Queues the frame for its format when the client is subscribed to topic.
  void offer(uint32_t topic, const FramePtr& json, const FramePtr& proto);
  // Queues a control frame regardless of the subscription (acks, errors).
  void push_control(FramePtr f) { queue_.push(std::move(f), FrameClass::kControl); }

  // Starts the sender thread.
  void start();
  // Ends the connection: the sender stops (a frame it is writing gets at
  // most grace to go out), a close frame is sent if the socket takes it,
  // and the socket is shut down so that civetweb's reader of it returns.
  // Idempotent; only the first call touches the socket, and it always
  // runs before civetweb closes it (from the close handler, or from
  // Stream::stop while the connection is still open).
  void stop(std::chrono::milliseconds grace) { stop(std::chrono::steady_clock::now() + grace); }
  // The same with a deadline, so that many clients stopping at once share
  // one grace period instead of waiting theirs one after another.
  void stop(std::chrono::steady_clock::time_point deadline);
  // The first step of stop(), so that many clients can be told at once.
  void begin_stop();

  uint64_t dropped() const { return queue_.dropped(); }
  uint64_t frames_sent() const { return sent_.load(std::memory_order_relaxed); }
  uint64_t bytes_sent() const { return bytes_.load(std::memory_order_relaxed); }
  size_t queued() const { return queue_.size(); }
  bool broken() const { return broken_.load(std::memory_order_relaxed); }

 private:
  void run();

  const uint64_t id_;
  const std::string who_;
  std::unique_ptr<FrameWriter> writer_;
  FrameQueue queue_;
  std::atomic<uint32_t> topics_{0};
  std::atomic<StreamFormat> format_{StreamFormat::kJson};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> broken_{false};
  std::atomic<uint64_t> sent_{0}, bytes_{0};
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::mutex stop_mu_;  // one stop() at a time
  bool stopped_ = false;
  std::thread sender_;
};

struct StreamOptions {
  size_t max_clients = 64;     // api.max_stream_clients
  size_t queue_frames = 1024;  // api.stream_queue_frames, per client
  std::chrono::milliseconds stats_interval{1000};
  std::chrono::milliseconds top_interval{3000};
  size_t top_n = 10;    // top flows, and top talkers (hosts)
  size_t apps_n = 32;   // applications per apps frame, largest first
};

// The stream: the Exporter the runtime feeds, the set of connected
// clients, and the thread that publishes stats and top.
struct StatsSnapshot;  // telemetry/proto_codec.h
struct QosClassTotals;  // dataplane/qos/stage.h

// The protobuf Stats message's fields from the status GET /api/v1/status
// shows (the stream's protobuf stats frames and --export-proto's Stats).
StatsSnapshot stats_snapshot(const AgentStatus& st);

class Stream final : public Exporter {
 public:
  // hooks: status (stats) and flows (top); they must outlive the stream.
  // ctx: the EVE fields that come from the agent (in_iface).
  Stream(StreamOptions opts, const AgentHooks& hooks, ExportContext ctx);
  ~Stream() override;

  // Labels of flow and alert events captured from GNS3 links: EVE's "gns3"
  // object in JSON frames, Gns3Link in protobuf frames. Call before the
  // export thread runs (the runtime's GNS3 input exists once it is open).
  void set_gns3_labels(std::function<void(uint16_t, JsonWriter&)> eve,
                       std::function<const Gns3LinkLabel*(uint16_t)> proto);

  // Exporter, on the export thread.
  void export_flows(std::span<const FlowRecord> recs, uint64_t now_ns) override;
  void export_alerts(std::span<const AlertRecord> alerts, uint64_t now_ns) override;
  void tick(uint64_t now_ns, bool final) override;
  ExporterStats stats() const override;
  const std::string& name() const override { return name_; }

  // Connections. reserve() takes a client slot before the WebSocket
  // handshake (false: max_clients are connected, or the stream is
  // stopped); attach() starts the client in that slot; detach() ends it
  // (its connection closed) and frees the slot. unreserve() frees a slot
  // that attach() never used.
  bool reserve();
  void unreserve();
  std::shared_ptr<StreamClient> attach(std::string who, std::unique_ptr<FrameWriter> writer);
  void detach(const std::shared_ptr<StreamClient>& c);
  // A text message from the client: subscribe / format; answers with a
  // "subscribed" frame, or an "error" frame naming what was wrong.
  void on_message(StreamClient& c, std::string_view text);

  // Starts the stats/top thread. stop() ends it and every connection
  // (close frame, socket shut down), within about grace.
  void start();
  void stop();

  // One stats / top publication; the stream's thread calls these on its
  // intervals (public for tests). now: the steady clock, for the rates.
  void publish_stats(std::chrono::steady_clock::time_point now);
  // top and hosts, from one flow snapshot.
  void publish_top();
  void publish_gns3();
  void publish_apps(std::chrono::steady_clock::time_point now);
  void publish_qos(std::chrono::steady_clock::time_point now);
  // The stats frame's data for a status and the previous sample.
  static nlohmann::json stats_data(const AgentStatus& st, const AgentStatus* prev, double seconds);
  // The apps frame's data: the n largest applications by bytes, with
  // packets_per_s and bits_per_s against prev (null without one, or when
  // a counter went back).
  static nlohmann::json apps_data(const AppsStatus& st, const AppsStatus* prev, double seconds, size_t n);
  // The qos frame's data: every policy's classes with per-colour packets,
  // bytes and their rates, drops and their rate; stats null: the agent has
  // no traffic control ({"enabled":false}).
  static nlohmann::json qos_data(const std::vector<QosClassTotals>* stats, const std::vector<QosClassTotals>* prev,
                                 double seconds, uint64_t generation);

  size_t clients() const;
  uint64_t dropped_frames() const;  // summed over every client, past and present
  const StreamOptions& options() const { return opts_; }
  static bool protobuf_available();

  // Frames as the stream sends them: {"topic":T,"data":DATA}.
  static FramePtr json_frame(std::string_view topic, std::string_view data_json);

 private:
  void run();
  std::vector<std::shared_ptr<StreamClient>> subscribers(uint32_t topic, bool* json, bool* proto) const;
  void fan_out(uint32_t topic, const std::vector<std::shared_ptr<StreamClient>>& to, const FramePtr& json,
               const FramePtr& proto);

  StreamOptions opts_;
  const AgentHooks& hooks_;
  ExportContext ctx_;
  EveFormatOptions eve_;
  JsonWriter line_;
  struct Codec;  // protobuf encoders for binary frames
  std::unique_ptr<Codec> codec_;
  std::string name_ = "stream";

  mutable std::mutex mu_;  // clients_, reserved_, stopped_
  std::vector<std::shared_ptr<StreamClient>> clients_;
  size_t reserved_ = 0;
  bool stopped_ = false;
  uint64_t next_id_ = 1;
  std::atomic<uint32_t> any_topics_{0};  // union of the clients' subscriptions, a cheap "anyone?" test
  std::atomic<uint64_t> dropped_gone_{0};  // drops of clients that have left
  std::atomic<uint64_t> sent_gone_{0}, bytes_gone_{0};
  std::atomic<uint64_t> records_{0}, alerts_{0};

  std::mutex run_mu_;
  std::condition_variable run_cv_;
  bool run_stop_ = false;
  std::thread thread_;
  std::optional<AgentStatus> prev_status_;
  std::chrono::steady_clock::time_point prev_time_;
  // The previous apps and qos samples, kept only while someone subscribes.
  std::optional<AppsStatus> prev_apps_;
  std::chrono::steady_clock::time_point prev_apps_time_;
  std::unique_ptr<std::vector<QosClassTotals>> prev_qos_;
  std::chrono::steady_clock::time_point prev_qos_time_;
};

// GET /api/v1/stream without an Upgrade: documents the WebSocket in the
// route table (so openapi.json and the auth matrix cover it) and answers
// 200 with the stream's topics, limits and counters. The upgrade itself is
// taken by the server's WebSocket handler before routing.
std::string add_stream_route(Router& router, const Stream& stream);

}  // namespace ws
