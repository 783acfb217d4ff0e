// The WebSocket stream without sockets: queue policy (drop-oldest events,
// newest-wins snapshots, control first), client messages, fan-out to
// subscribed clients, a stuck client's drops, the stats rates, top flows,
// the dashboard's topics (apps, hosts, qos: read only when subscribed), the
// client limit and stopping a client whose write never returns.
#include "api/ws_stream.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "api/flow_query.h"
#include "api/qos_routes.h"
#include "telemetry/wirescope.pb.h"

namespace ws {
namespace {

using namespace std::chrono_literals;

// Names like "f7" (appended, not operator+: GCC 12 warns falsely on
// "literal" + std::to_string).
std::string named(const char* prefix, size_t i) {
  std::string s(prefix);
  s += std::to_string(i);
  return s;
}

FramePtr text(std::string s) {
  auto f = std::make_shared<StreamFrame>();
  f->data = std::move(s);
  return f;
}

std::string pop_text(FrameQueue& q, uint64_t* dropped = nullptr) {
  auto p = q.try_pop();
  if (!p) return "<empty>";
  if (dropped) *dropped = p->dropped;
  return p->frame->data;
}

// Waits (bounded, not timed: the limit only stops a broken build from
// hanging) until pred holds.
template <typename Pred>
bool eventually(Pred pred) {
  const auto end = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return pred();
}

// A socket stand-in. open=false makes it report no room (a client that
// does not read); block_writes makes write() hang until interrupt() (a
// write stuck in a full socket).
class FakeWriter final : public FrameWriter {
 public:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::string> frames;
    bool open = true;
    bool block_writes = false;
    bool interrupted = false;
    bool aborted = false;
    int close_frames = 0;
    int writes_entered = 0;
    std::vector<std::string> snapshot() {
      std::lock_guard<std::mutex> l(mu);
      return frames;
    }
    void set_open(bool o) {
      {
        std::lock_guard<std::mutex> l(mu);
        open = o;
      }
      cv.notify_all();
    }
  };
  explicit FakeWriter(std::shared_ptr<State> s) : s_(std::move(s)) {}
  bool write(const StreamFrame& f) override {
    std::unique_lock<std::mutex> l(s_->mu);
    ++s_->writes_entered;
    s_->cv.wait(l, [&] { return !s_->block_writes || s_->interrupted; });
    if (s_->interrupted) return false;
    s_->frames.push_back(f.data);
    return true;
  }
  bool writable(int timeout_ms) override {
    std::unique_lock<std::mutex> l(s_->mu);
    return s_->cv.wait_for(l, std::chrono::milliseconds(timeout_ms), [&] { return s_->open || s_->interrupted; });
  }
  bool close_frame() override {
    std::lock_guard<std::mutex> l(s_->mu);
    if (!s_->open) return false;
    ++s_->close_frames;
    return true;
  }
  bool drained(int) override {
    std::lock_guard<std::mutex> l(s_->mu);
    return s_->open;
  }
  void interrupt(bool abort) override {
    {
      std::lock_guard<std::mutex> l(s_->mu);
      s_->interrupted = true;
      s_->aborted = abort;
    }
    s_->cv.notify_all();
  }

 private:
  std::shared_ptr<State> s_;
};

nlohmann::json parse(const std::string& s) { return nlohmann::json::parse(s); }

std::vector<nlohmann::json> of_topic(const std::vector<std::string>& frames, const std::string& topic) {
  std::vector<nlohmann::json> out;
  for (const auto& f : frames) {
    auto j = parse(f);
    if (j["topic"] == topic) out.push_back(j);
  }
  return out;
}

FlowRecord flow(uint64_t id, uint64_t bytes_to_server, uint64_t bytes_to_client = 0) {
  FlowRecord r{};
  r.key.family = 4;
  r.key.proto = 6;
  r.key.src[0] = 10;
  r.key.src[3] = static_cast<uint8_t>(id);
  r.key.dst[0] = 192;
  r.key.dst[1] = 0;
  r.key.dst[2] = 2;
  r.key.dst[3] = 1;
  r.key.sport = static_cast<uint16_t>(40000 + id);
  r.key.dport = 443;
  r.flow_id = id;
  r.flow_start_ns = r.start_ns = 1'700'000'000'000'000'000ull;
  r.end_ns = r.start_ns + 1'000'000;
  r.pkts[0] = 1 + bytes_to_server / 1000;
  r.pkts[1] = 1 + bytes_to_client / 1000;
  r.bytes[0] = bytes_to_server;
  r.bytes[1] = bytes_to_client;
  r.emit_ns = r.end_ns;
  return r;
}

AgentStatus status_with(uint64_t packets, uint64_t bytes, uint64_t drops) {
  AgentStatus s;
  s.version = std::string(3, 'v');  // not = "...": a GCC 12 -Wrestrict false positive
  s.running = true;
  SourceStatus so;
  so.name = "demo.pcap";
  so.packets = packets;
  so.bytes = bytes;
  so.kernel_drops = drops;
  s.sources.push_back(so);
  return s;
}

// --- FrameQueue -----------------------------------------------------------------

TEST(FrameQueue, DropsTheOldestEventAndTellsHowManyOnce) {
  FrameQueue q(3);
  EXPECT_TRUE(q.push(text("e1")));
  EXPECT_TRUE(q.push(text("e2")));
  EXPECT_TRUE(q.push(text("e3")));
  EXPECT_FALSE(q.push(text("e4")));
  EXPECT_FALSE(q.push(text("e5")));
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.dropped(), 2u);
  uint64_t d = 99;
  EXPECT_EQ(pop_text(q, &d), "e3");
  EXPECT_EQ(d, 2u);  // the drops before this frame
  EXPECT_EQ(pop_text(q, &d), "e4");
  EXPECT_EQ(d, 0u);  // told once
  EXPECT_EQ(pop_text(q, &d), "e5");
  EXPECT_EQ(pop_text(q), "<empty>");
  EXPECT_EQ(q.dropped(), 2u);  // the total stays
}

TEST(FrameQueue, ControlFirstThenNewestSnapshotsThenEvents) {
  FrameQueue q(8);
  q.push(text("e1"));
  q.push(text("stats1"), FrameClass::kStats);
  q.push(text("top1"), FrameClass::kTop);
  EXPECT_FALSE(q.push(text("stats2"), FrameClass::kStats));  // supersedes stats1: a drop
  q.push(text("ack"), FrameClass::kControl);
  q.push(text("e2"));
  EXPECT_EQ(q.size(), 5u);
  uint64_t d = 0;
  EXPECT_EQ(pop_text(q, &d), "ack");
  EXPECT_EQ(d, 1u);
  EXPECT_EQ(pop_text(q), "stats2");
  EXPECT_EQ(pop_text(q), "top1");
  EXPECT_EQ(pop_text(q), "e1");
  EXPECT_EQ(pop_text(q), "e2");
  EXPECT_EQ(q.dropped(), 1u);
}

TEST(FrameQueue, ControlFramesHaveTheirOwnBound) {
  FrameQueue q(1);
  for (size_t i = 0; i < FrameQueue::kControlMax + 3; ++i) q.push(text(named("c", i)), FrameClass::kControl);
  q.push(text("e"));
  EXPECT_EQ(q.size(), FrameQueue::kControlMax + 1);
  EXPECT_EQ(q.dropped(), 3u);
  EXPECT_EQ(pop_text(q), "c3");
}

TEST(FrameQueue, CloseWakesTheWaiterAndRefusesPushes) {
  FrameQueue q(4);
  std::thread t([&] { q.close(); });
  // Without close() this would wait the whole hour.
  EXPECT_FALSE(q.wait(std::chrono::hours(1)));
  t.join();
  EXPECT_FALSE(q.push(text("late")));
  EXPECT_EQ(q.size(), 0u);
}

// --- client messages ---------------------------------------------------------------

TEST(StreamRequest, SubscribeReplacesTheSetAndNamesUnknownTopics) {
  StreamRequest r = parse_stream_request(R"({"subscribe":["alerts","top"]})", false);
  ASSERT_TRUE(r.topics);
  EXPECT_EQ(*r.topics, uint32_t(kTopicAlerts | kTopicTop));
  EXPECT_TRUE(r.errors.empty());

  r = parse_stream_request(R"({"subscribe":["flows","nonsense",7]})", false);
  ASSERT_TRUE(r.topics);
  EXPECT_EQ(*r.topics, uint32_t(kTopicFlows));  // the known one still applies
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_NE(r.errors[0].find("'nonsense'"), std::string::npos) << r.errors[0];
  EXPECT_NE(r.errors[1].find("'7'"), std::string::npos) << r.errors[1];

  r = parse_stream_request(R"({"subscribe":[]})", false);
  ASSERT_TRUE(r.topics);
  EXPECT_EQ(*r.topics, 0u);
}

TEST(StreamRequest, FormatAndMalformedMessages) {
  StreamRequest r = parse_stream_request(R"({"format":"json"})", false);
  ASSERT_TRUE(r.format);
  EXPECT_EQ(*r.format, StreamFormat::kJson);
  EXPECT_FALSE(r.topics);

  r = parse_stream_request(R"({"format":"protobuf"})", false);
  EXPECT_FALSE(r.format);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("protobuf format not available"), std::string::npos);
  r = parse_stream_request(R"({"format":"protobuf"})", true);
  ASSERT_TRUE(r.format);
  EXPECT_EQ(*r.format, StreamFormat::kProtobuf);

  r = parse_stream_request(R"({"format":"xml"})", true);
  EXPECT_FALSE(r.format);
  EXPECT_EQ(r.errors.size(), 1u);
  for (const char* bad : {"{not json", "[1,2]", R"({"subscribe":"alerts"})", R"({"hello":1})"}) {
    r = parse_stream_request(bad, false);
    EXPECT_FALSE(r.topics) << bad;
    EXPECT_EQ(r.errors.size(), 1u) << bad;
  }
  EXPECT_EQ(stream_topic("stats"), uint32_t(kTopicStats));
  EXPECT_EQ(stream_topic("Stats"), 0u);
  EXPECT_EQ(stream_topic_names(kAllStreamTopics),
            (std::vector<std::string>{"alerts", "flows", "stats", "top", "gns3", "apps", "hosts", "qos"}));
}

// --- one client ----------------------------------------------------------------------

TEST(StreamClient, ASlowClientKeepsTheNewestFramesAndIsToldItsDrops) {
  auto st = std::make_shared<FakeWriter::State>();
  st->open = false;  // the client is not reading
  StreamClient c(1, "t", std::make_unique<FakeWriter>(st), 4);
  c.set_topics(kTopicFlows);
  c.start();
  for (int i = 1; i <= 10; ++i) c.offer(kTopicFlows, text(named("f", size_t(i))), nullptr);
  c.offer(kTopicAlerts, text("not subscribed"), nullptr);
  EXPECT_EQ(c.dropped(), 6u);
  EXPECT_EQ(c.queued(), 4u);
  EXPECT_TRUE(st->snapshot().empty());
  st->set_open(true);  // it reads again
  ASSERT_TRUE(eventually([&] { return st->snapshot().size() == 5; }));
  const auto got = st->snapshot();
  EXPECT_EQ(parse(got[0]), parse(R"({"topic":"drops","data":{"dropped":6,"total":6}})"));
  EXPECT_EQ(got[1], "f7");
  EXPECT_EQ(got[4], "f10");
  EXPECT_EQ(c.frames_sent(), 5u);
  c.stop(100ms);
  EXPECT_TRUE(st->interrupted);
  EXPECT_EQ(st->close_frames, 1);  // the sender was idle: a close frame went out
  EXPECT_FALSE(st->aborted);       // and the connection is closed in order
}

TEST(StreamClient, StopCutsAWriteThatNeverReturns) {
  auto st = std::make_shared<FakeWriter::State>();
  st->block_writes = true;
  StreamClient c(1, "t", std::make_unique<FakeWriter>(st), 4);
  c.set_topics(kTopicAlerts);
  c.start();
  c.offer(kTopicAlerts, text("a1"), nullptr);
  ASSERT_TRUE(eventually([&] {
    std::lock_guard<std::mutex> l(st->mu);
    return st->writes_entered == 1;
  }));
  // The sender is now stuck in write(); only interrupt() frees it.
  c.stop(10ms);
  EXPECT_TRUE(st->interrupted);
  EXPECT_TRUE(st->aborted);        // a client that takes nothing is reset
  EXPECT_EQ(st->close_frames, 0);  // never a second writer while one is mid-frame
  EXPECT_TRUE(st->snapshot().empty());
  c.stop(10ms);  // idempotent
}

// --- the stream -----------------------------------------------------------------------

struct Fixture {
  AgentHooks hooks;
  std::unique_ptr<Stream> stream;
  explicit Fixture(StreamOptions o = {}) { stream = std::make_unique<Stream>(o, hooks, ExportContext{}); }
  std::shared_ptr<StreamClient> client(std::shared_ptr<FakeWriter::State> st, const std::string& sub) {
    if (!stream->reserve()) return nullptr;
    auto c = stream->attach("t", std::make_unique<FakeWriter>(std::move(st)));
    stream->on_message(*c, sub);
    return c;
  }
};

TEST(Stream, FlowsReachSubscribersAsEveFlowEventsAndAStuckClientSlowsNoOne) {
  StreamOptions o;
  o.queue_frames = 8;
  Fixture fx(o);
  auto fast = std::make_shared<FakeWriter::State>();
  auto stuck = std::make_shared<FakeWriter::State>();
  stuck->open = false;
  auto alerts_only = std::make_shared<FakeWriter::State>();
  auto c1 = fx.client(fast, R"({"subscribe":["flows"]})");
  auto c2 = fx.client(stuck, R"({"subscribe":["flows","alerts"]})");
  auto c3 = fx.client(alerts_only, R"({"subscribe":["alerts"]})");
  ASSERT_TRUE(c1 && c2 && c3);
  ASSERT_TRUE(eventually([&] { return fast->snapshot().size() == 1; }));  // the ack
  EXPECT_EQ(parse(fast->snapshot()[0]), parse(R"({"topic":"subscribed","data":{"topics":["flows"],"format":"json"}})"));

  // Batches, as the export thread hands them; the fast client takes each
  // batch before the next, the stuck one takes nothing.
  constexpr int kBatches = 20, kPerBatch = 5;
  for (int b = 0; b < kBatches; ++b) {
    std::vector<FlowRecord> recs;
    for (int i = 0; i < kPerBatch; ++i) recs.push_back(flow(uint64_t(b * kPerBatch + i + 1), 1000));
    fx.stream->export_flows(recs, 1'700'000'000'000'000'000ull);
    const size_t want = 1 + size_t(b + 1) * kPerBatch;
    ASSERT_TRUE(eventually([&] { return fast->snapshot().size() == want; })) << b;
  }
  const auto flows = of_topic(fast->snapshot(), "flows");
  ASSERT_EQ(flows.size(), size_t(kBatches * kPerBatch));
  for (size_t i = 0; i < flows.size(); ++i) {
    EXPECT_EQ(flows[i]["data"]["event_type"], "flow");
    EXPECT_EQ(flows[i]["data"]["flow_id"], i + 1);
    EXPECT_EQ(flows[i]["data"]["dest_port"], 443);
    EXPECT_EQ(flows[i]["data"]["flow"]["bytes_toserver"], 1000);
  }
  EXPECT_TRUE(of_topic(fast->snapshot(), "drops").empty());
  EXPECT_EQ(c1->dropped(), 0u);
  // The stuck client kept its 8 newest, counted the rest (its ack went first).
  EXPECT_EQ(c2->queued(), 8u + 1u);
  EXPECT_EQ(c2->dropped(), uint64_t(kBatches * kPerBatch - 8));
  EXPECT_EQ(fx.stream->dropped_frames(), c2->dropped());
  EXPECT_EQ(fx.stream->stats().dropped_records, c2->dropped());
  EXPECT_EQ(fx.stream->stats().records, uint64_t(kBatches * kPerBatch));
  EXPECT_TRUE(of_topic(alerts_only->snapshot(), "flows").empty());
  fx.stream->stop();
  EXPECT_TRUE(fast->interrupted && stuck->interrupted && alerts_only->interrupted);
  EXPECT_FALSE(fast->aborted);
  EXPECT_TRUE(stuck->aborted);  // no room for a close frame: reset
  EXPECT_EQ(fx.stream->clients(), 0u);
  EXPECT_EQ(fx.stream->dropped_frames(), uint64_t(kBatches * kPerBatch - 8));  // kept after they left
}

TEST(Stream, AlertsAreEveAlertEvents) {
  Fixture fx;
  auto st = std::make_shared<FakeWriter::State>();
  auto c = fx.client(st, R"({"subscribe":["alerts"]})");
  AlertMeta meta;
  meta.sid = 2100498;
  meta.rev = 7;
  meta.signature = "GPL ATTACK_RESPONSE id check returned root";
  meta.category = "Potentially Bad Traffic";
  meta.severity = 2;
  std::atomic<uint64_t> in_flight{0};
  std::vector<AlertRecord> alerts(1);
  AlertRecord& a = alerts[0];
  const FlowRecord f = flow(9, 100);
  a.ts_ns = f.start_ns;
  a.flow_id = 9;
  a.flow_start_ns = f.start_ns;
  a.pkt = f.key;
  a.flow = f.key;
  a.meta = &meta;
  a.in_flight = &in_flight;
  fx.stream->export_flows(std::vector<FlowRecord>{f}, f.end_ns);  // not subscribed: not sent
  fx.stream->export_alerts(alerts, a.ts_ns);
  ASSERT_TRUE(eventually([&] { return st->snapshot().size() == 2; }));
  const auto got = of_topic(st->snapshot(), "alerts");
  ASSERT_EQ(got.size(), 1u);
  const auto& d = got[0]["data"];
  EXPECT_EQ(d["event_type"], "alert");
  EXPECT_EQ(d["alert"]["signature_id"], 2100498);
  EXPECT_EQ(d["alert"]["rev"], 7);
  EXPECT_EQ(d["alert"]["signature"], meta.signature);
  EXPECT_EQ(d["alert"]["severity"], 2);
  EXPECT_EQ(d["flow_id"], 9);
  EXPECT_EQ(fx.stream->stats().alerts, 1u);
  EXPECT_EQ(fx.stream->stats().records, 1u);  // counted even though nobody wanted flows
}

TEST(Stream, ChangingTheSubscriptionAndErrorsKeepTheClient) {
  Fixture fx;
  auto st = std::make_shared<FakeWriter::State>();
  auto c = fx.client(st, R"({"subscribe":["alerts","bogus"]})");
  fx.stream->on_message(*c, R"({"subscribe":["flows"]})");
  fx.stream->export_flows(std::vector<FlowRecord>{flow(1, 10)}, 1);
  ASSERT_TRUE(eventually([&] { return st->snapshot().size() == 4; }));
  const auto got = st->snapshot();
  EXPECT_EQ(parse(got[0])["topic"], "error");
  EXPECT_NE(parse(got[0])["data"]["message"].get<std::string>().find("'bogus'"), std::string::npos);
  EXPECT_EQ(parse(got[1])["data"]["topics"], nlohmann::json({"alerts"}));
  EXPECT_EQ(parse(got[2])["data"]["topics"], nlohmann::json({"flows"}));
  EXPECT_EQ(parse(got[3])["topic"], "flows");
  fx.stream->on_message(*c, R"({"format":"protobuf"})");
  ASSERT_TRUE(eventually([&] { return st->snapshot().size() >= 5; }));
  const auto last = parse(st->snapshot()[4]);
  EXPECT_EQ(last["topic"], "subscribed");
  EXPECT_EQ(last["data"]["format"], "protobuf");
  EXPECT_EQ(c->format(), StreamFormat::kProtobuf);
  EXPECT_EQ(fx.stream->clients(), 1u);
}

// Records the frames with their kind, for the binary ones.
class BinaryWriter final : public FrameWriter {
 public:
  std::mutex mu;
  std::vector<StreamFrame> frames;
  bool write(const StreamFrame& f) override {
    std::lock_guard<std::mutex> l(mu);
    frames.push_back(f);
    return true;
  }
  bool writable(int) override { return true; }
  bool close_frame() override { return true; }
  bool drained(int) override { return true; }
  void interrupt(bool) override {}
  size_t size() {
    std::lock_guard<std::mutex> l(mu);
    return frames.size();
  }
};

TEST(Stream, ProtobufClientsGetOneEventPerBinaryFrameAndJsonClientsStayJson) {
  Fixture fx;
  ASSERT_TRUE(Stream::protobuf_available());
  uint64_t n = 0;
  fx.hooks.status = [&n] {
    ++n;
    return status_with(n * 100, n * 10'000, 3);
  };
  ASSERT_TRUE(fx.stream->reserve());
  auto w = std::make_unique<BinaryWriter>();
  BinaryWriter* bw = w.get();
  auto c = fx.stream->attach("p", std::move(w));
  fx.stream->on_message(*c, R"({"format":"protobuf","subscribe":["flows","stats"]})");
  auto js = std::make_shared<FakeWriter::State>();
  auto jc = fx.client(js, R"({"subscribe":["flows"]})");
  fx.stream->export_flows(std::vector<FlowRecord>{flow(42, 1234, 99)}, 1'700'000'000'000'000'000ull);
  fx.stream->publish_stats(std::chrono::steady_clock::now());
  ASSERT_TRUE(eventually([&] { return bw->size() == 3; }));  // ack, stats, flow
  ASSERT_TRUE(eventually([&] { return js->snapshot().size() == 2; }));
  std::lock_guard<std::mutex> l(bw->mu);
  EXPECT_FALSE(bw->frames[0].binary);  // the ack stays JSON
  EXPECT_EQ(parse(bw->frames[0].data)["data"]["format"], "protobuf");
  // The flow and the stats frame, in whichever order the sender took them.
  wirescope::Event stats, ev;
  for (size_t i = 1; i < 3; ++i) {
    ASSERT_TRUE(bw->frames[i].binary) << i;
    wirescope::Event e;
    ASSERT_TRUE(e.ParseFromString(bw->frames[i].data)) << i;
    (e.has_stats() ? stats : ev) = e;
  }
  ASSERT_TRUE(stats.has_stats());
  EXPECT_EQ(stats.stats().packets(), 100u);
  EXPECT_EQ(stats.stats().drops(), 3u);
  ASSERT_TRUE(ev.has_flow());
  EXPECT_EQ(ev.flow().flow_id(), 42u);
  EXPECT_EQ(ev.flow().dest_port(), 443u);
  EXPECT_EQ(ev.flow().bytes_toserver(), 1234u);
  EXPECT_EQ(parse(js->snapshot()[1])["data"]["flow_id"], 42);  // the JSON client, same event
}

TEST(Stream, FlowsFromAGns3LinkCarryItsLabelsInBothFormats) {
  Fixture fx;
  static const Gns3LinkLabel lab{"lab1", "p-1", "Enterprise Lab", "l-1", {"R1", "SW1"}};
  fx.stream->set_gns3_labels(
      [](uint16_t ifindex, JsonWriter& out) {
        if (ifindex != 5) return;
        out.begin_object("gns3");
        out.field("project", lab.project);
        out.end_object();
      },
      [](uint16_t ifindex) { return ifindex == 5 ? &lab : nullptr; });
  ASSERT_TRUE(fx.stream->reserve());
  auto w = std::make_unique<BinaryWriter>();
  BinaryWriter* bw = w.get();
  auto c = fx.stream->attach("p", std::move(w));
  fx.stream->on_message(*c, R"({"format":"protobuf","subscribe":["flows"]})");
  auto js = std::make_shared<FakeWriter::State>();
  auto jc = fx.client(js, R"({"subscribe":["flows"]})");
  FlowRecord from_lab = flow(1, 100), other = flow(2, 200);
  from_lab.ifindex = 5;
  fx.stream->export_flows(std::vector<FlowRecord>{from_lab, other}, 1'700'000'000'000'000'000ull);
  ASSERT_TRUE(eventually([&] { return bw->size() == 3; }));  // ack, two flows
  ASSERT_TRUE(eventually([&] { return js->snapshot().size() == 3; }));
  const auto json_flows = of_topic(js->snapshot(), "flows");
  ASSERT_EQ(json_flows.size(), 2u);
  EXPECT_EQ(json_flows[0]["data"]["gns3"]["project"], "Enterprise Lab");
  EXPECT_FALSE(json_flows[1]["data"].contains("gns3"));
  std::lock_guard<std::mutex> l(bw->mu);
  wirescope::Event a, b;
  ASSERT_TRUE(a.ParseFromString(bw->frames[1].data));
  ASSERT_TRUE(b.ParseFromString(bw->frames[2].data));
  ASSERT_TRUE(a.flow().has_gns3());
  EXPECT_EQ(a.flow().gns3().project(), "Enterprise Lab");
  EXPECT_EQ(a.flow().gns3().nodes_size(), 2);
  EXPECT_FALSE(b.flow().has_gns3());
}

TEST(Stream, TheClientLimitCountsReservedAndAttachedSlots) {
  StreamOptions o;
  o.max_clients = 2;
  Fixture fx(o);
  auto st = std::make_shared<FakeWriter::State>();
  ASSERT_TRUE(fx.stream->reserve());
  ASSERT_TRUE(fx.stream->reserve());
  EXPECT_FALSE(fx.stream->reserve());
  auto c = fx.stream->attach("a", std::make_unique<FakeWriter>(st));
  EXPECT_FALSE(fx.stream->reserve());
  fx.stream->unreserve();  // the second handshake failed
  EXPECT_TRUE(fx.stream->reserve());
  fx.stream->unreserve();
  fx.stream->detach(c);
  EXPECT_EQ(fx.stream->clients(), 0u);
  EXPECT_TRUE(st->interrupted);
  EXPECT_TRUE(fx.stream->reserve());
  EXPECT_TRUE(fx.stream->reserve());
  fx.stream->stop();
  fx.stream->unreserve();
  EXPECT_FALSE(fx.stream->reserve());  // stopped: no new clients
}

TEST(Stream, StatsCarryTheStatusCountersAndRates) {
  const AgentStatus a = status_with(1000, 1'000'000, 5), b = status_with(3000, 3'000'000, 9);
  const nlohmann::json d = Stream::stats_data(b, &a, 2.0);
  EXPECT_EQ(d["sources"][0]["packets"], 3000);  // GET /api/v1/status's shape
  EXPECT_EQ(d["packets"], 3000);
  EXPECT_EQ(d["bytes"], 3'000'000);
  EXPECT_EQ(d["drops"], 9);
  EXPECT_DOUBLE_EQ(d["rates"]["packets_per_s"].get<double>(), 1000.0);
  EXPECT_DOUBLE_EQ(d["rates"]["bits_per_s"].get<double>(), 8'000'000.0);
  EXPECT_DOUBLE_EQ(d["rates"]["drops_per_s"].get<double>(), 2.0);
  const nlohmann::json first = Stream::stats_data(a, nullptr, 0);
  EXPECT_EQ(first["rates"]["packets_per_s"], 0.0);
  const nlohmann::json back = Stream::stats_data(a, &b, 1.0);  // a counter that went back
  EXPECT_EQ(back["rates"]["packets_per_s"], 0.0);

  // Through the stream: two samples a second apart, one frame each.
  Fixture fx;
  uint64_t n = 0;
  fx.hooks.status = [&n] {
    ++n;
    return status_with(n * 500, n * 50'000, 0);
  };
  auto st = std::make_shared<FakeWriter::State>();
  auto c = fx.client(st, R"({"subscribe":["stats"]})");
  const auto t0 = std::chrono::steady_clock::now();
  fx.stream->publish_stats(t0);
  fx.stream->publish_stats(t0 + 1s);
  ASSERT_TRUE(eventually([&] { return of_topic(st->snapshot(), "stats").size() >= 1; }));
  ASSERT_TRUE(eventually([&] { return c->queued() == 0; }));
  const auto frames = of_topic(st->snapshot(), "stats");
  const auto& last = frames.back()["data"];
  EXPECT_EQ(last["packets"], 1000);
  EXPECT_DOUBLE_EQ(last["rates"]["packets_per_s"].get<double>(), 500.0);
  EXPECT_DOUBLE_EQ(last["rates"]["bits_per_s"].get<double>(), 400'000.0);
  EXPECT_EQ(last["stream"]["clients"], 1);
}

TEST(Stream, TopListsTheLargestFlowsOfTheSnapshot) {
  Fixture fx;
  auto snap = std::make_shared<FlowSnapshot>();
  for (uint64_t i = 1; i <= 30; ++i) snap->flows.push_back(flow(i, (i * 7919) % 31 * 1000, 10));
  fx.hooks.flows = [snap]() -> std::shared_ptr<const FlowSnapshot> { return snap; };
  StreamOptions o;
  o.top_n = 5;
  fx.stream = std::make_unique<Stream>(o, fx.hooks, ExportContext{});
  auto st = std::make_shared<FakeWriter::State>();
  auto c = fx.client(st, R"({"subscribe":["top"]})");
  fx.stream->publish_top();
  ASSERT_TRUE(eventually([&] { return of_topic(st->snapshot(), "top").size() == 1; }));
  const auto d = of_topic(st->snapshot(), "top")[0]["data"];
  ASSERT_EQ(d["flows"].size(), 5u);
  EXPECT_EQ(d["active"], 30);
  // The five largest by bytes, largest first, as the snapshot holds them.
  std::vector<uint64_t> all;
  for (const auto& r : snap->flows) all.push_back(r.bytes[0] + r.bytes[1]);
  std::sort(all.rbegin(), all.rend());
  for (size_t i = 0; i < 5; ++i) {
    const auto& f = d["flows"][i];
    EXPECT_EQ(f["bytes_toserver"].get<uint64_t>() + f["bytes_toclient"].get<uint64_t>(), all[i]) << i;
  }
  // Not subscribed: no frame, and the snapshot is not even asked for.
  int asked = 0;
  fx.hooks.flows = [&asked, snap]() -> std::shared_ptr<const FlowSnapshot> {
    ++asked;
    return snap;
  };
  fx.stream->on_message(*c, R"({"subscribe":["alerts"]})");
  fx.stream->publish_top();
  EXPECT_EQ(asked, 0);
}

TEST(Stream, TheRouteDescribesTheStream) {
  Fixture fx;
  Router r;
  ASSERT_EQ(add_stream_route(r, *fx.stream), "");
  const RouteMatch m = r.match("GET", "/api/v1/stream");
  ASSERT_TRUE(m.route);
  EXPECT_EQ(m.route->access, Access::kViewer);
  const HttpResponse resp = m.route->handler(HttpRequest{});
  EXPECT_EQ(resp.status, 200);
  const auto j = parse(resp.body);
  EXPECT_EQ(j["topics"], nlohmann::json({"alerts", "flows", "stats", "top", "gns3", "apps", "hosts", "qos"}));
  EXPECT_EQ(j["max_clients"], 64);
  EXPECT_EQ(j["clients"], 0);
}

}  // namespace
// --- the dashboard's topics: apps, hosts, qos -----------------------------------------

TEST(FrameQueue, EverySnapshotTopicKeepsOnlyItsNewest) {
  FrameQueue q(8);
  q.push(text("e1"));
  q.push(text("qos1"), FrameClass::kQos);
  q.push(text("hosts1"), FrameClass::kHosts);
  q.push(text("apps1"), FrameClass::kApps);
  EXPECT_FALSE(q.push(text("apps2"), FrameClass::kApps));
  EXPECT_FALSE(q.push(text("qos2"), FrameClass::kQos));
  q.push(text("stats1"), FrameClass::kStats);
  EXPECT_EQ(q.size(), 5u);
  EXPECT_EQ(q.dropped(), 2u);
  EXPECT_EQ(pop_text(q), "stats1");
  EXPECT_EQ(pop_text(q), "apps2");
  EXPECT_EQ(pop_text(q), "hosts1");
  EXPECT_EQ(pop_text(q), "qos2");
  EXPECT_EQ(pop_text(q), "e1");
  EXPECT_EQ(pop_text(q), "<empty>");
}

AppsStatus apps_of(std::initializer_list<AppSummary> a) {
  AppsStatus s;
  s.enabled = true;
  s.apps = a;
  return s;
}

TEST(Stream, AppsAreLargestFirstWithRates) {
  const AppsStatus a = apps_of({{"DNS", "dns", 10, 1000, 2}, {"TLS", "tls", 100, 100'000, 3}, {"HTTP", "http", 5, 500, 1}});
  const AppsStatus b = apps_of({{"DNS", "dns", 30, 3000, 4},
                                {"TLS", "tls", 300, 300'000, 5},
                                {"HTTP", "http", 5, 500, 1},
                                {"QUIC", "quic", 7, 7000, 1}});
  nlohmann::json d = Stream::apps_data(b, &a, 2.0, 3);
  EXPECT_EQ(d["enabled"], true);
  EXPECT_EQ(d["total"], 4);
  ASSERT_EQ(d["apps"].size(), 3u);  // n
  EXPECT_EQ(d["apps"][0]["name"], "TLS");
  EXPECT_EQ(d["apps"][1]["name"], "QUIC");
  EXPECT_EQ(d["apps"][2]["name"], "DNS");
  EXPECT_DOUBLE_EQ(d["apps"][0]["bits_per_s"].get<double>(), 800'000.0);
  EXPECT_DOUBLE_EQ(d["apps"][0]["packets_per_s"].get<double>(), 100.0);
  EXPECT_TRUE(d["apps"][1]["bits_per_s"].is_null()) << "new since the last sample: no rate yet";
  EXPECT_DOUBLE_EQ(d["apps"][2]["bits_per_s"].get<double>(), 8000.0);
  EXPECT_EQ(d["apps"][0]["app_proto"], "tls");
  d = Stream::apps_data(a, nullptr, 0, 10);
  EXPECT_TRUE(d["apps"][0]["bits_per_s"].is_null());
  d = Stream::apps_data(a, &b, 1.0, 10);  // counters went back
  EXPECT_TRUE(d["apps"][0]["bits_per_s"].is_null());
  EXPECT_EQ(Stream::apps_data(AppsStatus{}, nullptr, 0, 10)["enabled"], false);
}

QosClassTotals qos_class(const char* policy, const char* cls, uint64_t green, uint64_t yellow, uint64_t red,
                         uint64_t drops) {
  QosClassTotals t;
  t.policy = policy;
  t.cls = cls;
  t.packets[0] = green;
  t.packets[1] = yellow;
  t.packets[2] = red;
  for (int i = 0; i < 3; ++i) t.bytes[i] = t.packets[i] * 100;
  t.police_drops = drops;
  t.policed = true;
  return t;
}

TEST(Stream, QosHasPerColourRatesByPolicyAndClass) {
  EXPECT_EQ(Stream::qos_data(nullptr, nullptr, 0, 0), nlohmann::json::parse(R"({"enabled":false,"policies":[]})"));
  const std::vector<QosClassTotals> a = {qos_class("edge", "voice", 10, 0, 0, 0), qos_class("edge", "bulk", 100, 20, 5, 5)};
  const std::vector<QosClassTotals> b = {qos_class("edge", "voice", 30, 0, 0, 0), qos_class("edge", "bulk", 200, 60, 25, 25),
                                         qos_class("core", "all", 1, 0, 0, 0)};
  const nlohmann::json d = Stream::qos_data(&b, &a, 2.0, 7);
  EXPECT_EQ(d["enabled"], true);
  EXPECT_EQ(d["generation"], 7);
  ASSERT_EQ(d["policies"].size(), 2u);
  EXPECT_EQ(d["policies"][0]["name"], "edge");
  ASSERT_EQ(d["policies"][0]["classes"].size(), 2u);
  const auto& bulk = d["policies"][0]["classes"][1];
  EXPECT_EQ(bulk["name"], "bulk");
  EXPECT_EQ(bulk["colors"]["yellow"]["packets"], 60);
  EXPECT_DOUBLE_EQ(bulk["colors"]["green"]["packets_per_s"].get<double>(), 50.0);
  EXPECT_DOUBLE_EQ(bulk["colors"]["yellow"]["bits_per_s"].get<double>(), 40 * 100 * 8 / 2.0);
  EXPECT_DOUBLE_EQ(bulk["colors"]["red"]["packets_per_s"].get<double>(), 10.0);
  EXPECT_EQ(bulk["drops"]["total"], 25);
  EXPECT_DOUBLE_EQ(bulk["drops"]["per_s"].get<double>(), 10.0);
  EXPECT_TRUE(d["policies"][1]["classes"][0]["colors"]["green"]["bits_per_s"].is_null());
}

TEST(Stream, DashboardTopicsAreReadOnlyWhenSubscribed) {
  Fixture fx;
  int apps_asked = 0;
  uint64_t dns = 0;
  fx.hooks.apps = [&] {
    ++apps_asked;
    dns += 1000;
    return apps_of({{"DNS", "dns", dns / 100, dns, 1}});
  };
  auto snap = std::make_shared<FlowSnapshot>();
  for (uint64_t i = 1; i <= 4; ++i) snap->flows.push_back(flow(i, i * 1000));
  int flows_asked = 0;
  fx.hooks.flows = [&flows_asked, snap]() -> std::shared_ptr<const FlowSnapshot> {
    ++flows_asked;
    return snap;
  };
  StreamOptions o;
  o.top_n = 3;
  fx.stream = std::make_unique<Stream>(o, fx.hooks, ExportContext{});
  auto st = std::make_shared<FakeWriter::State>();
  auto c = fx.client(st, R"({"subscribe":["alerts"]})");
  const auto t0 = std::chrono::steady_clock::now();
  fx.stream->publish_apps(t0);
  fx.stream->publish_qos(t0);
  fx.stream->publish_top();
  EXPECT_EQ(apps_asked, 0);
  EXPECT_EQ(flows_asked, 0);

  fx.stream->on_message(*c, R"({"subscribe":["apps","hosts","qos"]})");
  fx.stream->publish_apps(t0);
  fx.stream->publish_apps(t0 + 1s);
  fx.stream->publish_qos(t0);
  fx.stream->publish_top();
  EXPECT_EQ(apps_asked, 2);
  EXPECT_EQ(flows_asked, 1) << "hosts alone take one snapshot";
  ASSERT_TRUE(eventually([&] { return c->queued() == 0 && of_topic(st->snapshot(), "hosts").size() == 1; }));
  const auto frames = st->snapshot();
  EXPECT_TRUE(of_topic(frames, "top").empty());
  // apps: the second sample has the rate against the first.
  const auto apps = of_topic(frames, "apps");
  ASSERT_FALSE(apps.empty());
  EXPECT_DOUBLE_EQ(apps.back()["data"]["apps"][0]["bits_per_s"].get<double>(), 8000.0);
  // hosts: the talkers of the snapshot, largest first.
  const auto hosts = of_topic(frames, "hosts")[0]["data"];
  ASSERT_EQ(hosts["hosts"].size(), 3u);
  EXPECT_EQ(hosts["hosts"][0]["ip"], "192.0.2.1") << "the server of every flow";
  EXPECT_EQ(hosts["hosts"][1]["ip"], "10.0.0.4");
  EXPECT_EQ(hosts["active"], 4);
  // qos without traffic control on the agent.
  const auto qos = of_topic(frames, "qos");
  ASSERT_EQ(qos.size(), 1u);
  EXPECT_EQ(qos[0]["data"]["enabled"], false);

  // With a policy store: its classes, zero counts before any worker ran.
  QosControl control(1);
  ASSERT_EQ(control
                .put("edge", R"({"classes":[{"name":"voice","match":{"proto":"udp"},"police":{"cir_bps":1000000,"cbs_bytes":10000}}]})")
                .status,
            200);
  fx.hooks.qos = &control;
  fx.stream->publish_qos(t0 + 1s);
  ASSERT_TRUE(eventually([&] { return c->queued() == 0 && of_topic(st->snapshot(), "qos").size() == 2; }));
  const auto q = of_topic(st->snapshot(), "qos")[1]["data"];
  EXPECT_EQ(q["enabled"], true);
  EXPECT_EQ(q["policies"][0]["name"], "edge");
  EXPECT_EQ(q["policies"][0]["classes"][0]["name"], "voice");
  EXPECT_EQ(q["policies"][0]["classes"][0]["colors"]["green"]["packets"], 0);
  fx.stream->stop();
}

}  // namespace ws
