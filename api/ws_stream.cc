#include "api/ws_stream.h"

#include <algorithm>

#include "api/agent_routes.h"
#include "api/gns3_routes.h"
#include "api/flow_query.h"
#include "api/qos_routes.h"
#include "telemetry/proto_codec.h"

namespace ws {
namespace {

struct TopicName {
  uint32_t bit;
  const char* name;
};
constexpr TopicName kTopics[] = {
    {kTopicAlerts, "alerts"}, {kTopicFlows, "flows"}, {kTopicStats, "stats"}, {kTopicTop, "top"},
    {kTopicGns3, "gns3"},     {kTopicApps, "apps"},   {kTopicHosts, "hosts"}, {kTopicQos, "qos"}};

std::string topic_list() {
  std::string s;
  for (const TopicName& t : kTopics) s += (s.empty() ? "" : ", ") + std::string(t.name);
  return s;
}

// How long the sender waits for a frame or for the socket before it looks
// at the stop flag again; stop() also wakes it, so this only bounds a
// missed wake-up.
constexpr std::chrono::milliseconds kSenderPoll{100};

}  // namespace

uint32_t stream_topic(std::string_view name) {
  for (const TopicName& t : kTopics)
    if (name == t.name) return t.bit;
  return 0;
}

std::vector<std::string> stream_topic_names(uint32_t mask) {
  std::vector<std::string> out;
  for (const TopicName& t : kTopics)
    if (mask & t.bit) out.emplace_back(t.name);
  return out;
}

StreamRequest parse_stream_request(std::string_view text, bool protobuf_available) {
  StreamRequest r;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    r.errors.push_back(std::string("the message is not JSON: ") + e.what() +
                       "; send {\"subscribe\":[\"alerts\",\"flows\",\"stats\",\"top\"]}");
    return r;
  }
  if (!j.is_object()) {
    r.errors.push_back("the message must be a JSON object, e.g. {\"subscribe\":[\"alerts\"]}");
    return r;
  }
  for (const auto& [k, v] : j.items()) {
    if (k == "subscribe") {
      if (!v.is_array()) {
        r.errors.push_back("\"subscribe\" must be an array of topics (" + topic_list() + ")");
        continue;
      }
      uint32_t m = 0;
      for (const auto& t : v) {
        const std::string name = t.is_string() ? t.get<std::string>() : t.dump();
        const uint32_t bit = t.is_string() ? stream_topic(name) : 0;
        if (!bit)
          r.errors.push_back("unknown topic '" + name + "'; topics are " + topic_list());
        else
          m |= bit;
      }
      r.topics = m;
    } else if (k == "format") {
      const std::string f = v.is_string() ? v.get<std::string>() : v.dump();
      if (f == "json") {
        r.format = StreamFormat::kJson;
      } else if (f == "protobuf") {
        if (protobuf_available)
          r.format = StreamFormat::kProtobuf;
        else
          r.errors.push_back("protobuf format not available in this build; frames stay JSON");
      } else {
        r.errors.push_back("unknown format '" + f + "'; formats are json, protobuf");
      }
    } else {
      r.errors.push_back("unknown field '" + k + "'; a message has \"subscribe\" and/or \"format\"");
    }
  }
  return r;
}

// --- FrameQueue ------------------------------------------------------------

void FrameQueue::drop_locked() {
  ++dropped_untold_;
  dropped_total_.fetch_add(1, std::memory_order_relaxed);
}

bool FrameQueue::push(FramePtr f, FrameClass c) {
  bool room = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return false;
    switch (c) {
      case FrameClass::kEvent:
      case FrameClass::kControl: {
        std::deque<FramePtr>& q = c == FrameClass::kEvent ? events_ : control_;
        const size_t cap = c == FrameClass::kEvent ? capacity_ : kControlMax;
        if (q.size() >= cap) {
          q.pop_front();
          drop_locked();
          room = false;
        }
        q.push_back(std::move(f));
        break;
      }
      case FrameClass::kStats:
      case FrameClass::kTop:
      case FrameClass::kApps:
      case FrameClass::kHosts:
      case FrameClass::kQos: {
        FramePtr& slot = snapshots_[static_cast<size_t>(c) - static_cast<size_t>(FrameClass::kStats)];
        if (slot) {
          drop_locked();
          room = false;
        }
        slot = std::move(f);
        break;
      }
    }
  }
  cv_.notify_one();
  return room;
}

bool FrameQueue::empty_locked() const {
  if (!control_.empty() || !events_.empty()) return false;
  for (const FramePtr& f : snapshots_)
    if (f) return false;
  return true;
}

std::optional<FrameQueue::Popped> FrameQueue::try_pop() {
  std::lock_guard<std::mutex> lock(mu_);
  Popped p;
  if (!control_.empty()) {
    p.frame = std::move(control_.front());
    control_.pop_front();
  } else {
    for (FramePtr& f : snapshots_) {
      if (!f) continue;
      p.frame = std::move(f);
      f.reset();
      break;
    }
    if (!p.frame) {
      if (events_.empty()) return std::nullopt;
      p.frame = std::move(events_.front());
      events_.pop_front();
    }
  }
  p.dropped = dropped_untold_;
  dropped_untold_ = 0;
  return p;
}

bool FrameQueue::wait(std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, wait, [this] { return closed_ || !empty_locked(); });
  return !empty_locked();
}

void FrameQueue::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

size_t FrameQueue::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = events_.size() + control_.size();
  for (const FramePtr& f : snapshots_) n += f ? 1 : 0;
  return n;
}

// --- StreamClient ------------------------------------------------------------

StreamClient::StreamClient(uint64_t id, std::string who, std::unique_ptr<FrameWriter> writer, size_t queue_frames)
    : id_(id), who_(std::move(who)), writer_(std::move(writer)), queue_(queue_frames) {}

StreamClient::~StreamClient() { stop(std::chrono::milliseconds(0)); }

void StreamClient::offer(uint32_t topic, const FramePtr& json, const FramePtr& proto) {
  if (!(topics() & topic)) return;
  const FramePtr& f = (format() == StreamFormat::kProtobuf && proto) ? proto : json;
  if (!f) return;
  FrameClass c = FrameClass::kEvent;
  switch (topic) {
    case kTopicStats: c = FrameClass::kStats; break;
    case kTopicTop: c = FrameClass::kTop; break;
    case kTopicApps: c = FrameClass::kApps; break;
    case kTopicHosts: c = FrameClass::kHosts; break;
    case kTopicQos: c = FrameClass::kQos; break;
    default: break;
  }
  queue_.push(f, c);
}

void StreamClient::start() { sender_ = std::thread([this] { run(); }); }

void StreamClient::run() {
  while (!stopping_.load(std::memory_order_acquire)) {
    if (!queue_.wait(kSenderPoll)) continue;
    // Wait for room in the socket before taking the frame: while the
    // client is slow its frames stay queued, where the oldest are dropped
    // and counted, instead of piling up behind a blocked write.
    if (!writer_->writable(static_cast<int>(kSenderPoll.count()))) continue;
    std::optional<FrameQueue::Popped> p = queue_.try_pop();
    if (!p) continue;
    if (p->dropped) {
      const std::string d = "{\"dropped\":" + std::to_string(p->dropped) +
                            ",\"total\":" + std::to_string(queue_.dropped()) + "}";
      const FramePtr note = Stream::json_frame("drops", d);
      if (!writer_->write(*note)) {
        broken_.store(true);
        break;
      }
      sent_.fetch_add(1, std::memory_order_relaxed);
      bytes_.fetch_add(note->data.size(), std::memory_order_relaxed);
    }
    if (!writer_->write(*p->frame)) {
      broken_.store(true);
      break;
    }
    sent_.fetch_add(1, std::memory_order_relaxed);
    bytes_.fetch_add(p->frame->data.size(), std::memory_order_relaxed);
  }
  {
    std::lock_guard<std::mutex> lock(done_mu_);
    done_ = true;
  }
  done_cv_.notify_all();
}

void StreamClient::begin_stop() {
  stopping_.store(true, std::memory_order_release);
  queue_.close();
}

void StreamClient::stop(std::chrono::steady_clock::time_point deadline) {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  begin_stop();
  bool done = !sender_.joinable();
  if (!done) {
    std::unique_lock<std::mutex> dl(done_mu_);
    done = done_cv_.wait_until(dl, deadline, [this] { return done_; });
  }
  // Only once the sender has let go of the socket may a close frame be
  // written (one writer). A sender still blocked in a write, a socket with
  // no room for the close frame, or bytes the client has not taken by the
  // deadline mean a client that is not keeping up: its connection is reset
  // instead of closed in order, so that no close waits on it.
  bool closed = done && writer_->close_frame();
  if (closed) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    closed = writer_->drained(static_cast<int>(std::max<int64_t>(0, left.count())));
  }
  writer_->interrupt(!closed);
  if (sender_.joinable()) sender_.join();
}

// --- Stream ----------------------------------------------------------------------

// Binary frames carry one serialized wirescope.Event each (no length
// prefix: the WebSocket frame is the boundary). The encoder reuses its
// message objects; it is used by the export thread (flows, alerts) and by
// the stream's thread (stats), so each has its own.
struct Stream::Codec {
  explicit Codec(const ExportContext& ctx) : events(std::make_unique<ProtoEncoder>(ctx)), stats(ctx) {}
  std::unique_ptr<ProtoEncoder> events;  // export thread
  ProtoEncoder stats;                    // the stream's thread
};

bool Stream::protobuf_available() { return true; }

namespace {

FramePtr binary_frame(std::string bytes) {
  auto f = std::make_shared<StreamFrame>();
  f->binary = true;
  f->data = std::move(bytes);
  return f;
}


}  // namespace

// The Stats message's fields from the status the JSON stats frame shows.
StatsSnapshot stats_snapshot(const AgentStatus& st) {
  StatsSnapshot s;
  s.timestamp_ns = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  s.uptime_s = st.uptime_s;
  for (const SourceStatus& so : st.sources) {
    s.packets += so.packets;
    s.bytes += so.bytes;
    s.drops += so.kernel_drops + so.if_drops;
    s.sources.push_back({so.name, so.packets, so.bytes, so.kernel_drops, so.if_drops});
  }
  for (const WorkerStatus& w : st.workers) {
    s.flows_active += w.flows_active;
    s.flows_created += w.flows_created;
    s.workers.push_back({w.id, w.packets, w.bytes, w.flows_active, w.flows_created});
  }
  s.records_exported = st.records_exported;
  s.alerts = st.alerts_exported;
  return s;
}

Stream::Stream(StreamOptions opts, const AgentHooks& hooks, ExportContext ctx)
    : opts_(opts), hooks_(hooks), ctx_(std::move(ctx)), codec_(std::make_unique<Codec>(ctx_)) {}

Stream::~Stream() { stop(); }

void Stream::set_gns3_labels(std::function<void(uint16_t, JsonWriter&)> eve,
                             std::function<const Gns3LinkLabel*(uint16_t)> proto) {
  eve_.labels = std::move(eve);
  ProtoOptions o;
  o.gns3_label = std::move(proto);
  codec_->events = std::make_unique<ProtoEncoder>(ctx_, std::move(o));
}

FramePtr Stream::json_frame(std::string_view topic, std::string_view data_json) {
  auto f = std::make_shared<StreamFrame>();
  f->data.reserve(data_json.size() + topic.size() + 22);
  f->data += "{\"topic\":\"";
  f->data += topic;
  f->data += "\",\"data\":";
  f->data += data_json;
  f->data += '}';
  return f;
}

std::vector<std::shared_ptr<StreamClient>> Stream::subscribers(uint32_t topic, bool* json, bool* proto) const {
  std::vector<std::shared_ptr<StreamClient>> out;
  *json = *proto = false;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& c : clients_) {
    if (!(c->topics() & topic)) continue;
    out.push_back(c);
    if (c->format() == StreamFormat::kProtobuf)
      *proto = true;
    else
      *json = true;
  }
  return out;
}

void Stream::fan_out(uint32_t topic, const std::vector<std::shared_ptr<StreamClient>>& to, const FramePtr& json,
                     const FramePtr& proto) {
  for (const auto& c : to) c->offer(topic, json, proto);
}

void Stream::export_flows(std::span<const FlowRecord> recs, uint64_t now_ns) {
  records_.fetch_add(recs.size(), std::memory_order_relaxed);
  if (!(any_topics_.load(std::memory_order_acquire) & kTopicFlows)) return;
  bool json = false, proto = false;
  const auto to = subscribers(kTopicFlows, &json, &proto);
  if (to.empty()) return;
  for (const FlowRecord& r : recs) {
    FramePtr j;
    if (json) {
      line_.clear();
      format_flow_event(r, ctx_, now_ns, eve_, line_);
      std::string_view v = line_.view();
      if (!v.empty() && v.back() == '\n') v.remove_suffix(1);
      j = json_frame("flows", v);
    }
    FramePtr p;
    if (proto) {
      std::string b;
      codec_->events->append_flow(r, b, false);
      p = binary_frame(std::move(b));
    }
    fan_out(kTopicFlows, to, j, p);
  }
}

void Stream::export_alerts(std::span<const AlertRecord> alerts, uint64_t now_ns) {
  (void)now_ns;
  alerts_.fetch_add(alerts.size(), std::memory_order_relaxed);
  if (!(any_topics_.load(std::memory_order_acquire) & kTopicAlerts)) return;
  bool json = false, proto = false;
  const auto to = subscribers(kTopicAlerts, &json, &proto);
  if (to.empty()) return;
  for (const AlertRecord& a : alerts) {
    if (!a.meta) continue;  // every worker alert has one; a record without cannot be printed
    FramePtr j;
    if (json) {
      line_.clear();
      format_alert_event(a, ctx_, eve_, line_);
      std::string_view v = line_.view();
      if (!v.empty() && v.back() == '\n') v.remove_suffix(1);
      j = json_frame("alerts", v);
    }
    FramePtr p;
    if (proto) {
      std::string b;
      codec_->events->append_alert(a, b, false);
      p = binary_frame(std::move(b));
    }
    fan_out(kTopicAlerts, to, j, p);
  }
}

void Stream::tick(uint64_t now_ns, bool final) {
  (void)now_ns;
  (void)final;  // frames go out on the senders' own threads; nothing is held back here
}

ExporterStats Stream::stats() const {
  ExporterStats s;
  s.records = records_.load(std::memory_order_relaxed);
  s.alerts = alerts_.load(std::memory_order_relaxed);
  s.messages = sent_gone_.load(std::memory_order_relaxed);
  s.bytes = bytes_gone_.load(std::memory_order_relaxed);
  s.dropped_records = dropped_gone_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& c : clients_) {
    s.messages += c->frames_sent();
    s.bytes += c->bytes_sent();
    s.dropped_records += c->dropped();
  }
  s.up = !stopped_;
  return s;
}

bool Stream::reserve() {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_ || clients_.size() + reserved_ >= opts_.max_clients) return false;
  ++reserved_;
  return true;
}

void Stream::unreserve() {
  std::lock_guard<std::mutex> lock(mu_);
  if (reserved_) --reserved_;
}

std::shared_ptr<StreamClient> Stream::attach(std::string who, std::unique_ptr<FrameWriter> writer) {
  std::shared_ptr<StreamClient> c;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (reserved_) --reserved_;
    if (stopped_) return nullptr;
    c = std::make_shared<StreamClient>(next_id_++, std::move(who), std::move(writer), opts_.queue_frames);
    clients_.push_back(c);
  }
  c->start();
  return c;
}

void Stream::detach(const std::shared_ptr<StreamClient>& c) {
  if (!c) return;
  // The client closed or the connection failed: answer its close frame if
  // the socket still takes one, and let the sender go.
  c->stop(std::chrono::milliseconds(50));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = std::find(clients_.begin(), clients_.end(), c);
  if (it == clients_.end()) return;  // stop() took it already
  clients_.erase(it);
  dropped_gone_.fetch_add(c->dropped(), std::memory_order_relaxed);
  sent_gone_.fetch_add(c->frames_sent(), std::memory_order_relaxed);
  bytes_gone_.fetch_add(c->bytes_sent(), std::memory_order_relaxed);
  uint32_t any = 0;
  for (const auto& x : clients_) any |= x->topics();
  any_topics_.store(any, std::memory_order_release);
}

void Stream::on_message(StreamClient& c, std::string_view text) {
  const StreamRequest r = parse_stream_request(text, protobuf_available());
  if (r.format) c.set_format(*r.format);
  if (r.topics) {
    c.set_topics(*r.topics);
    std::lock_guard<std::mutex> lock(mu_);
    uint32_t any = 0;
    for (const auto& x : clients_) any |= x->topics();
    any_topics_.store(any, std::memory_order_release);
  }
  for (const std::string& e : r.errors) c.push_control(json_frame("error", nlohmann::json{{"message", e}}.dump()));
  if (r.topics || r.format) {
    const nlohmann::json ack = {{"topics", stream_topic_names(c.topics())},
                                {"format", c.format() == StreamFormat::kProtobuf ? "protobuf" : "json"}};
    c.push_control(json_frame("subscribed", ack.dump()));
  }
}

void Stream::start() {
  std::lock_guard<std::mutex> lock(run_mu_);
  if (thread_.joinable()) return;
  run_stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void Stream::run() {
  using clock = std::chrono::steady_clock;
  auto next_stats = clock::now();
  auto next_top = clock::now() + opts_.top_interval;
  std::unique_lock<std::mutex> lock(run_mu_);
  while (!run_stop_) {
    const auto wake = std::min(next_stats, next_top);
    if (run_cv_.wait_until(lock, wake, [this] { return run_stop_; })) break;
    lock.unlock();
    const auto now = clock::now();
    if (now >= next_stats) {
      publish_stats(now);
      publish_gns3();
      publish_apps(now);
      publish_qos(now);
      next_stats += opts_.stats_interval;
      if (next_stats < now) next_stats = now + opts_.stats_interval;  // after a stall, no burst of catch-up frames
    }
    if (now >= next_top) {
      publish_top();
      next_top += opts_.top_interval;
      if (next_top < now) next_top = now + opts_.top_interval;
    }
    lock.lock();
  }
}

nlohmann::json Stream::stats_data(const AgentStatus& st, const AgentStatus* prev, double seconds) {
  nlohmann::json d = status_json(st);
  auto totals = [](const AgentStatus& s, uint64_t* pk, uint64_t* by, uint64_t* dr) {
    *pk = *by = *dr = 0;
    for (const SourceStatus& x : s.sources) {
      *pk += x.packets;
      *by += x.bytes;
      *dr += x.kernel_drops + x.if_drops;
    }
  };
  uint64_t pk, by, dr;
  totals(st, &pk, &by, &dr);
  double pps = 0, bps = 0, dps = 0;
  if (prev && seconds > 0) {
    uint64_t pk0, by0, dr0;
    totals(*prev, &pk0, &by0, &dr0);
    // A counter that went back (a source reopened) gives no rate rather
    // than a huge one.
    pps = pk >= pk0 ? double(pk - pk0) / seconds : 0;
    bps = by >= by0 ? double(by - by0) * 8 / seconds : 0;
    dps = dr >= dr0 ? double(dr - dr0) / seconds : 0;
  }
  d["packets"] = pk;
  d["bytes"] = by;
  d["drops"] = dr;
  d["rates"] = {{"packets_per_s", pps}, {"bits_per_s", bps}, {"drops_per_s", dps}, {"interval_s", seconds}};
  return d;
}

void Stream::publish_stats(std::chrono::steady_clock::time_point now) {
  if (!hooks_.status) return;
  // Sampled every interval whether or not anyone listens, so that a
  // client's first frame already has rates.
  AgentStatus st = hooks_.status();
  const double secs =
      prev_status_ ? std::chrono::duration<double>(now - prev_time_).count() : 0.0;
  bool json = false, proto = false;
  const auto to = (any_topics_.load(std::memory_order_acquire) & kTopicStats)
                      ? subscribers(kTopicStats, &json, &proto)
                      : std::vector<std::shared_ptr<StreamClient>>{};
  if (!to.empty()) {
    FramePtr j, p;
    if (json) {
      nlohmann::json d = stats_data(st, prev_status_ ? &*prev_status_ : nullptr, secs);
      d["stream"] = {{"clients", clients()}, {"dropped_frames", dropped_frames()}};
      j = json_frame("stats", d.dump());
    }
    if (proto) {
      // The Stats message has the counters; rates are the receiver's to
      // take from two of them.
      std::string b;
      codec_->stats.append_stats(stats_snapshot(st), b, false);
      p = binary_frame(std::move(b));
    }
    fan_out(kTopicStats, to, j, p);
  }
  prev_status_ = std::move(st);
  prev_time_ = now;
}

void Stream::publish_top() {
  const uint32_t any = any_topics_.load(std::memory_order_acquire);
  if (!(any & (kTopicTop | kTopicHosts)) || !hooks_.flows) return;
  bool json = false, proto = false;
  const auto to_top = (any & kTopicTop) ? subscribers(kTopicTop, &json, &proto)
                                        : std::vector<std::shared_ptr<StreamClient>>{};
  const auto to_hosts = (any & kTopicHosts) ? subscribers(kTopicHosts, &json, &proto)
                                            : std::vector<std::shared_ptr<StreamClient>>{};
  if (to_top.empty() && to_hosts.empty()) return;
  // One snapshot for both: the talkers add up the flows top lists.
  const std::shared_ptr<const FlowSnapshot> snap = hooks_.flows();
  if (!to_top.empty()) {
    nlohmann::json flows = nlohmann::json::array();
    nlohmann::json d = {{"by", "bytes"}, {"n", opts_.top_n}};
    if (snap) {
      for (const FlowRecord* r : top_flows(*snap, FlowSort::kBytes, opts_.top_n))
        flows.push_back(flow_json(*r, hooks_.flow_labels));
      d["taken_ns"] = snap->taken_ns;
      d["active"] = snap->flows.size();
    }
    d["flows"] = std::move(flows);
    fan_out(kTopicTop, to_top, json_frame("top", d.dump()), nullptr);
  }
  if (!to_hosts.empty()) {
    nlohmann::json hosts = nlohmann::json::array();
    nlohmann::json d = {{"by", "bytes"}, {"n", opts_.top_n}};
    if (snap) {
      for (const HostTotal& h : top_hosts(*snap, FlowSort::kBytes, opts_.top_n)) hosts.push_back(host_json(h));
      d["taken_ns"] = snap->taken_ns;
      d["active"] = snap->flows.size();
    }
    d["hosts"] = std::move(hosts);
    fan_out(kTopicHosts, to_hosts, json_frame("hosts", d.dump()), nullptr);
  }
}

namespace {

// A rate between two counter samples; null without a previous sample or
// when the counter went back (a policy replaced, a source reopened).
nlohmann::json rate(uint64_t now, const uint64_t* prev, double seconds, double scale = 1) {
  if (!prev || seconds <= 0 || now < *prev) return nullptr;
  return double(now - *prev) * scale / seconds;
}

}  // namespace

nlohmann::json Stream::apps_data(const AppsStatus& st, const AppsStatus* prev, double seconds, size_t n) {
  std::vector<const AppSummary*> order;
  for (const AppSummary& a : st.apps) order.push_back(&a);
  std::stable_sort(order.begin(), order.end(), [](const AppSummary* a, const AppSummary* b) { return a->bytes > b->bytes; });
  if (order.size() > n) order.resize(n);
  nlohmann::json apps = nlohmann::json::array();
  for (const AppSummary* a : order) {
    const AppSummary* p = nullptr;
    if (prev)
      for (const AppSummary& x : prev->apps)
        if (x.name == a->name) p = &x;
    apps.push_back({{"name", a->name},
                    {"app_proto", a->app_proto.empty() ? nlohmann::json(nullptr) : nlohmann::json(a->app_proto)},
                    {"packets", a->packets},
                    {"bytes", a->bytes},
                    {"flows", a->flows},
                    {"packets_per_s", rate(a->packets, p ? &p->packets : nullptr, seconds)},
                    {"bits_per_s", rate(a->bytes, p ? &p->bytes : nullptr, seconds, 8)}});
  }
  return {{"enabled", st.enabled}, {"apps", std::move(apps)}, {"total", st.apps.size()}, {"interval_s", seconds}};
}

nlohmann::json Stream::qos_data(const std::vector<QosClassTotals>* stats, const std::vector<QosClassTotals>* prev,
                                double seconds, uint64_t generation) {
  using nlohmann::json;
  if (!stats) return {{"enabled", false}, {"policies", json::array()}};
  json policies = json::array();
  for (const QosClassTotals& t : *stats) {
    const QosClassTotals* p = nullptr;
    if (prev)
      for (const QosClassTotals& x : *prev)
        if (x.policy == t.policy && x.cls == t.cls) p = &x;
    json colors = json::object();
    for (int i = 0; i < kQosColors; ++i)
      colors[qos_color_name(QosColor(i))] = {{"packets", t.packets[i]},
                                             {"bytes", t.bytes[i]},
                                             {"packets_per_s", rate(t.packets[i], p ? &p->packets[i] : nullptr, seconds)},
                                             {"bits_per_s", rate(t.bytes[i], p ? &p->bytes[i] : nullptr, seconds, 8)}};
    const uint64_t drops = t.police_drops + t.queue_drops;
    const uint64_t prev_drops = p ? p->police_drops + p->queue_drops : 0;
    if (policies.empty() || policies.back()["name"] != t.policy)
      policies.push_back({{"name", t.policy}, {"classes", json::array()}});
    policies.back()["classes"].push_back(
        {{"name", t.cls},
         {"policed", t.policed},
         {"shaped", t.shaped},
         {"colors", std::move(colors)},
         {"drops",
          {{"police", t.police_drops},
           {"queue", t.queue_drops},
           {"total", drops},
           {"per_s", rate(drops, p ? &prev_drops : nullptr, seconds)}}},
         {"dscp_rewrites", t.dscp_rewrites},
         {"queued", {{"frames", t.queued_frames}, {"bytes", t.queued_bytes}}}});
  }
  return {{"enabled", true}, {"generation", generation}, {"policies", std::move(policies)}, {"interval_s", seconds}};
}

void Stream::publish_apps(std::chrono::steady_clock::time_point now) {
  bool json = false, proto = false;
  const auto to = (any_topics_.load(std::memory_order_acquire) & kTopicApps)
                      ? subscribers(kTopicApps, &json, &proto)
                      : std::vector<std::shared_ptr<StreamClient>>{};
  if (to.empty() || !hooks_.apps) {
    prev_apps_.reset();  // nobody listens: nothing is read
    return;
  }
  AppsStatus st = hooks_.apps();
  const double secs = prev_apps_ ? std::chrono::duration<double>(now - prev_apps_time_).count() : 0.0;
  fan_out(kTopicApps, to, json_frame("apps", apps_data(st, prev_apps_ ? &*prev_apps_ : nullptr, secs, opts_.apps_n).dump()),
          nullptr);
  prev_apps_ = std::move(st);
  prev_apps_time_ = now;
}

void Stream::publish_qos(std::chrono::steady_clock::time_point now) {
  bool json = false, proto = false;
  const auto to = (any_topics_.load(std::memory_order_acquire) & kTopicQos)
                      ? subscribers(kTopicQos, &json, &proto)
                      : std::vector<std::shared_ptr<StreamClient>>{};
  if (to.empty()) {
    prev_qos_.reset();
    return;
  }
  if (!hooks_.qos) {
    fan_out(kTopicQos, to, json_frame("qos", qos_data(nullptr, nullptr, 0, 0).dump()), nullptr);
    return;
  }
  auto st = std::make_unique<std::vector<QosClassTotals>>(hooks_.qos->stats());
  const double secs = prev_qos_ ? std::chrono::duration<double>(now - prev_qos_time_).count() : 0.0;
  fan_out(kTopicQos, to, json_frame("qos", qos_data(st.get(), prev_qos_.get(), secs, hooks_.qos->generation()).dump()),
          nullptr);
  prev_qos_ = std::move(st);
  prev_qos_time_ = now;
}

// Every project's traffic status (the rows of GET /api/v1/gns3/projects),
// so an orchestrator sees which lab carries traffic without polling.
void Stream::publish_gns3() {
  if (!(any_topics_.load(std::memory_order_acquire) & kTopicGns3) || !hooks_.gns3) return;
  bool json = false, proto = false;
  const auto to = subscribers(kTopicGns3, &json, &proto);
  if (to.empty()) return;
  const uint64_t now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                 std::chrono::system_clock::now().time_since_epoch())
                                                 .count());
  const nlohmann::json d = {{"projects", gns3_projects_json(*hooks_.gns3, now)}};
  fan_out(kTopicGns3, to, json_frame("gns3", d.dump()), nullptr);
}

void Stream::stop() {
  {
    std::lock_guard<std::mutex> lock(run_mu_);
    run_stop_ = true;
  }
  run_cv_.notify_all();
  if (thread_.joinable()) thread_.join();

  std::vector<std::shared_ptr<StreamClient>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    all.swap(clients_);
    any_topics_.store(0, std::memory_order_release);
  }
  // Every sender is told first, then each is waited for, so the grace
  // periods run at once rather than one after another.
  for (const auto& c : all) c->begin_stop();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  for (const auto& c : all) {
    c->stop(deadline);
    dropped_gone_.fetch_add(c->dropped(), std::memory_order_relaxed);
    sent_gone_.fetch_add(c->frames_sent(), std::memory_order_relaxed);
    bytes_gone_.fetch_add(c->bytes_sent(), std::memory_order_relaxed);
  }
}

size_t Stream::clients() const {
  std::lock_guard<std::mutex> lock(mu_);
  return clients_.size();
}

uint64_t Stream::dropped_frames() const {
  uint64_t n = dropped_gone_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& c : clients_) n += c->dropped();
  return n;
}

std::string add_stream_route(Router& router, const Stream& stream) {
  Route r;
  r.method = "GET";
  r.path = "/api/v1/stream";
  r.access = Access::kViewer;
  r.summary =
      "WebSocket event stream (send Upgrade: websocket; the token in Authorization or ?token=). "
      "Send {\"subscribe\":[\"alerts\",\"flows\",\"stats\",\"top\"]} (topics: alerts, flows, stats, top, gns3, "
      "apps, hosts, qos) and optionally {\"format\":\"protobuf\"}; "
      "frames are {\"topic\":T,\"data\":{...}}. Without an upgrade: the stream's topics, limits and counters";
  r.errors = {503};
  r.query = {{"token", "string", "the bearer token, for clients that cannot set headers (browsers)", false}};
  const Stream* s = &stream;
  r.handler = [s](const HttpRequest&) {
    nlohmann::json formats = {"json"};
    if (Stream::protobuf_available()) formats.push_back("protobuf");
    return json_response(200, {{"websocket", "/api/v1/stream"},
                               {"topics", stream_topic_names(kAllStreamTopics)},
                               {"formats", formats},
                               {"clients", s->clients()},
                               {"max_clients", s->options().max_clients},
                               {"queue_frames", s->options().queue_frames},
                               {"dropped_frames", s->dropped_frames()}});
  };
  return router.add(std::move(r));
}

}  // namespace ws
