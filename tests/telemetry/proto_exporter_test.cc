// The --export-proto exporter against a real TCP collector on 127.0.0.1
// (port 0): events arrive length-delimited and parse with the generated
// classes; a collector that goes away and comes back gets the records
// buffered meanwhile on a new connection (one reconnect counted); a full
// buffer drops the newest records and counts them; a collector that stops
// reading costs a failed send, and every connection still starts at a
// message boundary with no record sent twice; Stats events come from the
// hook; the reconnect delays are jittered within their bounds.
#include "telemetry/proto_exporter.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "telemetry/wirescope.pb.h"

namespace ws {
namespace {

using Clock = std::chrono::steady_clock;

// Waits (not a timing assertion: a guard against hanging) for pred.
bool eventually(const std::function<bool()>& pred, int seconds = 20) {
  const auto end = Clock::now() + std::chrono::seconds(seconds);
  while (Clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

// A listening socket on 127.0.0.1 that can stop listening and listen
// again on the same port.
class Collector {
 public:
  explicit Collector(bool listening = true, int rcvbuf = 0) : rcvbuf_(rcvbuf) {
    open_socket(0);
    if (listening) {
      EXPECT_EQ(::listen(fd_, 16), 0);
    }
  }
  ~Collector() {
    if (fd_ >= 0) close(fd_);
  }
  uint16_t port() const { return port_; }
  void listen_now() { EXPECT_EQ(::listen(fd_, 16), 0) << std::strerror(errno); }
  void stop_listening() {
    close(fd_);
    fd_ = -1;
  }
  void listen_again() {
    open_socket(port_);
    listen_now();
  }
  int accept_one(int timeout_ms = 20000) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return -1;
    return ::accept(fd_, nullptr, nullptr);
  }
  int fd() const { return fd_; }

 private:
  void open_socket(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd_, 0);
    const int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // Inherited by accepted sockets; set before listen so the window is small.
    if (rcvbuf_) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf_, sizeof rcvbuf_);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  int fd_ = -1;
  int rcvbuf_ = 0;
  uint16_t port_ = 0;
};

// Splits a byte stream into Events. leftover: bytes of an unfinished last
// message; bad: a length or a message that does not parse.
struct Parsed {
  std::vector<wirescope::Event> events;
  size_t leftover = 0;
  bool bad = false;
};

Parsed parse_stream(const std::string& bytes) {
  Parsed p;
  size_t pos = 0;
  for (;;) {
    std::string_view msg;
    const FrameRead r = read_delimited(bytes, &pos, &msg);
    if (r == FrameRead::kIncomplete) break;
    if (r == FrameRead::kMalformed) {
      p.bad = true;
      return p;
    }
    wirescope::Event ev;
    if (!ev.ParseFromArray(msg.data(), int(msg.size())) || ev.event_case() == wirescope::Event::EVENT_NOT_SET) {
      p.bad = true;
      return p;
    }
    p.events.push_back(std::move(ev));
  }
  p.leftover = bytes.size() - pos;
  return p;
}

// Reads fd until `want` events have arrived (or the peer closed, or 20 s).
Parsed read_events(int fd, size_t want, std::string* raw = nullptr) {
  std::string bytes;
  Parsed p;
  const auto end = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < end) {
    p = parse_stream(bytes);
    if (p.bad || p.events.size() >= want) break;
    pollfd pf{fd, POLLIN, 0};
    if (poll(&pf, 1, 50) <= 0) continue;
    char buf[65536];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      p = parse_stream(bytes);
      break;
    }
    bytes.append(buf, size_t(n));
  }
  if (raw) *raw = bytes;
  return p;
}

FlowRecord flow(uint64_t id) {
  FlowRecord r;
  std::memset(&r.key, 0, sizeof r.key);
  r.key.family = 4;
  r.key.proto = 17;
  r.key.src[0] = 10;
  r.key.src[3] = uint8_t(id);
  r.key.dst[0] = 10;
  r.key.dst[3] = 1;
  r.key.sport = uint16_t(1024 + id % 60000);
  r.key.dport = 53;
  r.flow_id = id;
  r.pkts[0] = id;
  r.bytes[0] = id * 100;
  r.start_ns = 1700000000000000000ull + id;
  r.end_ns = r.start_ns + 1000;
  return r;
}

std::vector<FlowRecord> flows(uint64_t first, uint64_t last) {
  std::vector<FlowRecord> v;
  for (uint64_t id = first; id <= last; ++id) v.push_back(flow(id));
  return v;
}

std::vector<uint64_t> flow_ids(const Parsed& p) {
  std::vector<uint64_t> ids;
  for (const wirescope::Event& e : p.events)
    if (e.has_flow()) ids.push_back(e.flow().flow_id());
  return ids;
}

std::vector<uint64_t> range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> v;
  for (uint64_t i = first; i <= last; ++i) v.push_back(i);
  return v;
}

ProtoExportOptions options(uint16_t port) {
  ProtoExportOptions o;
  o.collector.protocol = ExportProtocol::kTcp;
  o.collector.host = "127.0.0.1";
  o.collector.port = port;
  o.transport.backoff_min_ms = 5;
  o.transport.backoff_max_ms = 40;
  o.jitter_seed = 1;
  return o;
}

std::unique_ptr<ProtoExporter> make(const ProtoExportOptions& o) {
  std::string err;
  auto e = make_proto_exporter(o, ExportContext{}, &err);
  EXPECT_NE(e, nullptr) << err;
  return e;
}

TEST(ProtoExporter, ReconnectsAndDeliversWhatWasBufferedMeanwhile) {
  Collector col;
  auto ex = make(options(col.port()));
  ASSERT_NE(ex, nullptr);
  EXPECT_FALSE(ex->stats().up) << "no connection before the first send";

  const auto first = flows(1, 50);
  ex->export_flows(first, 0);
  ex->tick(0, false);
  const int c1 = col.accept_one();
  ASSERT_GE(c1, 0);
  Parsed p1 = read_events(c1, 50);
  EXPECT_FALSE(p1.bad);
  EXPECT_EQ(flow_ids(p1), range(1, 50));
  EXPECT_EQ(p1.events.size(), 50u);
  EXPECT_TRUE(ex->stats().up);
  EXPECT_EQ(ex->stats().messages, 50u);

  // The collector goes away; the exporter notices on its own ticks.
  col.stop_listening();
  close(c1);
  EXPECT_TRUE(eventually([&] {
    ex->tick(0, false);
    return !ex->stats().up;
  }));

  const auto second = flows(51, 120);
  ex->export_flows(std::span(second).first(30), 0);
  ex->tick(0, false);
  ex->export_flows(std::span(second).subspan(30), 0);
  EXPECT_GT(ex->counters().buffered_bytes, 0u);
  EXPECT_EQ(ex->stats().dropped_records, 0u);

  col.listen_again();
  EXPECT_TRUE(eventually([&] {
    ex->tick(0, false);
    return ex->stats().up && ex->counters().buffered_bytes == 0;
  }));
  const int c2 = col.accept_one();
  ASSERT_GE(c2, 0);
  Parsed p2 = read_events(c2, 70);
  EXPECT_FALSE(p2.bad);
  EXPECT_EQ(p2.leftover, 0u);
  EXPECT_EQ(flow_ids(p2), range(51, 120));

  const ExporterStats s = ex->stats();
  EXPECT_EQ(s.reconnects, 1u);
  EXPECT_EQ(s.records, 120u);
  EXPECT_EQ(s.messages, 120u);
  EXPECT_EQ(s.dropped_records, 0u);
  EXPECT_EQ(s.send_errors, 0u);
  EXPECT_GT(ex->counters().connect_failures, 0u);
  close(c2);
}

TEST(ProtoExporter, AFullBufferDropsTheNewestAndCountsThem) {
  Collector col(/*listening=*/false);  // bound, not listening: refused
  ProtoExportOptions o = options(col.port());
  o.max_buffer_bytes = 4000;
  auto ex = make(o);
  ASSERT_NE(ex, nullptr);
  const auto recs = flows(1, 200);
  ex->export_flows(recs, 0);
  ex->tick(0, false);
  const uint64_t dropped = ex->stats().dropped_records;
  EXPECT_GT(dropped, 0u);
  EXPECT_LT(dropped, 200u);
  EXPECT_EQ(ex->counters().dropped_buffer_full, dropped);
  EXPECT_LE(ex->counters().buffered_bytes, 4000u);
  EXPECT_FALSE(ex->stats().up);

  col.listen_now();
  EXPECT_TRUE(eventually([&] {
    ex->tick(0, false);
    return ex->counters().buffered_bytes == 0;
  }));
  const int c = col.accept_one();
  ASSERT_GE(c, 0);
  const Parsed p = read_events(c, 200 - dropped);
  EXPECT_FALSE(p.bad);
  EXPECT_EQ(flow_ids(p), range(1, 200 - dropped)) << "the oldest are kept";
  EXPECT_EQ(ex->stats().reconnects, 0u) << "the first connection is no reconnect";
  close(c);
}

TEST(ProtoExporter, StatsEventsFromTheHookBetweenTheRecords) {
  Collector col;
  ProtoExportOptions o = options(col.port());
  uint64_t calls = 0;
  o.stats = [&calls] {
    StatsSnapshot s;
    s.packets = ++calls;
    s.workers = {{0, calls * 10, 0, 1, 2}};
    return s;
  };
  o.stats_interval_ns = 0;  // every tick
  auto ex = make(o);
  ASSERT_NE(ex, nullptr);
  ex->export_flows(flows(1, 2), 0);
  ex->tick(0, false);  // stats 1
  ex->export_flows(flows(3, 3), 0);
  ex->tick(0, false);  // stats 2
  ex->tick(0, true);   // stats 3, final
  EXPECT_EQ(ex->counters().stats_events, 3u);
  const int c = col.accept_one();
  ASSERT_GE(c, 0);
  const Parsed p = read_events(c, 6);
  ASSERT_FALSE(p.bad);
  ASSERT_EQ(p.events.size(), 6u);
  const wirescope::Event::EventCase want[] = {wirescope::Event::kFlow, wirescope::Event::kFlow,
                                              wirescope::Event::kStats, wirescope::Event::kFlow,
                                              wirescope::Event::kStats, wirescope::Event::kStats};
  uint64_t n = 0;
  for (size_t i = 0; i < 6; ++i) {
    ASSERT_EQ(p.events[i].event_case(), want[i]) << i;
    if (want[i] == wirescope::Event::kStats) {
      ++n;
      EXPECT_EQ(p.events[i].stats().packets(), n);
      ASSERT_EQ(p.events[i].stats().workers_size(), 1);
      EXPECT_EQ(p.events[i].stats().workers(0).packets(), n * 10);
    }
  }
  EXPECT_EQ(ex->stats().messages, 6u);
  close(c);
}

// Reads every connection the listener gets, concurrently, to EOF.
class Drain {
 public:
  explicit Drain(int listen_fd) : thread_([this, listen_fd] { run(listen_fd); }) {}
  ~Drain() { stop(); }
  void stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  // Valid after stop().
  const std::vector<std::string>& streams() const { return streams_; }

 private:
  void run(int lfd) {
    std::vector<int> fds;
    std::vector<bool> open;
    // After stop: keep reading until every connection is at EOF.
    for (;;) {
      std::vector<pollfd> p{{lfd, POLLIN, 0}};
      for (size_t i = 0; i < fds.size(); ++i) p.push_back({open[i] ? fds[i] : -1, POLLIN, 0});
      poll(p.data(), p.size(), 20);
      const size_t polled = p.size() - 1;  // a connection accepted below was not polled yet
      if (p[0].revents & POLLIN) {
        const int c = ::accept(lfd, nullptr, nullptr);
        if (c >= 0) {
          fds.push_back(c);
          open.push_back(true);
          streams_.emplace_back();
        }
      }
      bool any_open = false;
      for (size_t i = 0; i < fds.size(); ++i) {
        if (!open[i]) continue;
        if (i < polled && (p[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) {
          char buf[65536];
          const ssize_t n = recv(fds[i], buf, sizeof buf, MSG_DONTWAIT);
          if (n > 0) {
            streams_[i].append(buf, size_t(n));
          } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            open[i] = false;
            close(fds[i]);
          }
        }
        any_open = any_open || open[i];
      }
      if (stop_.load() && !any_open) break;
    }
  }
  std::atomic<bool> stop_{false};
  std::vector<std::string> streams_;
  std::thread thread_;
};

TEST(ProtoExporter, AStalledCollectorCostsASendAndTheNextConnectionStartsAtAMessage) {
  // A tiny receive window that nobody reads: the kernel's buffers fill and
  // a send times out.
  Collector col(true, 4096);
  ProtoExportOptions o = options(col.port());
  o.transport.send_timeout_ms = 20;
  o.max_buffer_bytes = 64u << 20;
  auto ex = make(o);
  ASSERT_NE(ex, nullptr);
  constexpr uint64_t kTotal = 60000;  // ~8 MB of events: more than the kernel holds
  for (uint64_t id = 1; id <= kTotal; id += 500) {
    const auto b = flows(id, std::min(kTotal, id + 499));
    ex->export_flows(b, 0);
  }
  const int stalled = col.accept_one();
  ASSERT_GE(stalled, 0);
  EXPECT_TRUE(eventually([&] {
    ex->tick(0, false);
    return ex->stats().send_errors > 0;
  }));

  // Now read everything: the stalled connection (closed by the exporter),
  // and the ones after it, while the exporter sends the rest.
  Drain drain(col.fd());
  std::string first;
  {
    // The stalled connection was accepted above; read it to EOF here.
    const auto end = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < end) {
      pollfd p{stalled, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) {
        ex->tick(0, false);
        continue;
      }
      char buf[65536];
      const ssize_t n = recv(stalled, buf, sizeof buf, 0);
      if (n <= 0) break;
      first.append(buf, size_t(n));
    }
    close(stalled);
  }
  EXPECT_TRUE(eventually([&] {
    ex->tick(0, false);
    return ex->stats().up && ex->counters().buffered_bytes == 0;
  }));
  const ExporterStats s = ex->stats();
  ex.reset();  // closes the last connection
  drain.stop();

  std::vector<std::string> streams{first};
  for (const std::string& x : drain.streams()) streams.push_back(x);
  ASSERT_GE(streams.size(), 2u);
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < streams.size(); ++i) {
    const Parsed p = parse_stream(streams[i]);
    EXPECT_FALSE(p.bad) << "connection " << i << " does not start at a message";
    if (i + 1 == streams.size()) {
      EXPECT_EQ(p.leftover, 0u) << "the last connection ends with a whole message";
    }
    for (uint64_t id : flow_ids(p)) ids.push_back(id);
  }
  for (size_t i = 1; i < ids.size(); ++i) ASSERT_LT(ids[i - 1], ids[i]) << "sent twice or out of order at " << i;
  EXPECT_LE(ids.size(), kTotal);
  EXPECT_GE(ids.size() + s.dropped_records, kTotal);
  EXPECT_GT(ids.size(), 0u);
  EXPECT_GE(s.send_errors, 1u);
  EXPECT_GE(s.reconnects, 1u);
  EXPECT_EQ(s.records, kTotal);
}

TEST(ProtoExporter, OnlyTcp) {
  ProtoExportOptions o = options(9);
  o.collector.protocol = ExportProtocol::kUdp;
  std::string err;
  EXPECT_EQ(make_proto_exporter(o, {}, &err), nullptr);
  EXPECT_NE(err.find("tcp://"), std::string::npos) << err;
  o.collector.protocol = ExportProtocol::kTcp;
  o.collector.host = "no-such-host.invalid";
  err.clear();
  EXPECT_EQ(make_proto_exporter(o, {}, &err), nullptr);
  EXPECT_NE(err.find("no-such-host.invalid"), std::string::npos) << err;
}

TEST(JitteredBackoff, DoublesWithinJitterBoundsAndResets) {
  constexpr uint64_t kMs = 1000000;
  JitteredBackoff b(100 * kMs, 1000 * kMs, 42);
  uint64_t now = 5000 * kMs;
  EXPECT_TRUE(b.may_try(now));
  uint64_t d = 100 * kMs;
  std::set<uint64_t> waits;
  for (int i = 0; i < 8; ++i) {
    b.failed(now);
    const uint64_t wait = b.next_try_ns() - now;
    EXPECT_GE(wait, d - d / 2) << i;
    EXPECT_LE(wait, d) << i;
    EXPECT_FALSE(b.may_try(now + wait - 1));
    EXPECT_TRUE(b.may_try(now + wait));
    waits.insert(wait);
    now += wait;
    d = std::min(d * 2, 1000 * kMs);
  }
  EXPECT_GT(waits.size(), 4u) << "the waits vary";
  b.succeeded();
  EXPECT_TRUE(b.may_try(now));
  b.failed(now);
  EXPECT_LE(b.next_try_ns() - now, 100 * kMs) << "back to the shortest delay";

  // Another seed: another schedule (agents do not reconnect in lockstep).
  JitteredBackoff c(100 * kMs, 1000 * kMs, 43);
  JitteredBackoff e(100 * kMs, 1000 * kMs, 42);
  bool differs = false;
  for (int i = 0; i < 8; ++i) {
    c.failed(0);
    e.failed(0);
    differs = differs || c.next_try_ns() != e.next_try_ns();
  }
  EXPECT_TRUE(differs);
}

}  // namespace
}  // namespace ws
