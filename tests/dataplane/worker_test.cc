// Workers fed two ways — polling a source directly, or through the
// dispatcher's SPSC rings — must produce the same flow records.
#include "dataplane/worker.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <thread>
#include <tuple>

#include "bench/pktgen/builder.h"
#include "dataplane/capture/pcap_file_source.h"

namespace ws {
namespace {

using pktgen::Builder;

constexpr uint64_t kSec = 1'000'000'000ull;

std::string write_capture(const char* name) {
  std::string path = ::testing::TempDir() + "/" + name + std::to_string(getpid()) + ".pcap";
  pktgen::PcapWriter w;
  EXPECT_TRUE(w.open(path, 1, 65535, pktgen::TsResolution::kNano)) << w.error();
  Builder b;
  uint64_t t = 1'700'000'000ull * kSec;
  // 300 TCP connections with handshake, data both ways and FIN close,
  // interleaved, plus UDP request/response pairs; all in 0.3 s.
  for (int round = 0; round < 8; ++round) {
    for (uint32_t c = 0; c < 300; ++c) {
      const uint32_t cli = 0x0a000001u + c, srv = 0xc0a80001u + (c % 7);
      const uint16_t sp = static_cast<uint16_t>(20000 + c);
      auto put = [&](bool from_client, uint8_t flags, size_t len) {
        b.reset().eth();
        if (c % 5 == 0) b.vlan(static_cast<uint16_t>(c % 50 + 1));
        if (from_client)
          b.ipv4(cli, srv).tcp(sp, 443, flags);
        else
          b.ipv4(srv, cli).tcp(443, sp, flags);
        b.payload_fill(len);
        EXPECT_TRUE(w.write(t, b.finish()));
        t += 1000;
      };
      switch (round) {
        case 0: put(true, 0x02, 0); break;
        case 1: put(false, 0x12, 0); break;
        case 2: put(true, 0x10, 0); break;
        case 3: put(true, 0x18, 100 + c); break;
        case 4: put(false, 0x18, 1000); break;
        case 5: put(true, 0x11, 0); break;
        case 6: put(false, 0x11, 0); break;
        case 7: put(true, 0x10, 0); break;
      }
      b.reset().eth().ipv4(cli, 0x08080808u).udp(sp, 53).payload_fill(30 + round);
      EXPECT_TRUE(w.write(t, b.finish()));
      t += 1000;
    }
  }
  EXPECT_TRUE(w.close());
  return path;
}

using Key = std::tuple<std::string, uint16_t, uint16_t, uint8_t, uint16_t>;
struct Totals {
  uint64_t pkts[2]{}, bytes[2]{};
  int records = 0;
  TcpState tcp = TcpState::kNone;
};

std::map<Key, Totals> collect(std::vector<std::unique_ptr<Worker>>& ws) {
  std::map<Key, Totals> out;
  for (auto& w : ws) {
    FlowRecord r;
    while (w->records().pop(&r, 1)) {
      Key k{std::string(reinterpret_cast<const char*>(r.key.src), 16) + std::string(reinterpret_cast<const char*>(r.key.dst), 16),
            r.key.sport, r.key.dport, r.key.proto, r.key.vlan};
      Totals& t = out[k];
      for (int d = 0; d < 2; ++d) {
        t.pkts[d] += r.pkts[d];
        t.bytes[d] += r.bytes[d];
      }
      t.records++;
      t.tcp = r.tcp_state;
    }
  }
  return out;
}

WorkerConfig config() {
  WorkerConfig c;
  c.flows.capacity = 4096;
  c.record_ring_size = 4096;  // holds every record: the test drains after the run
  return c;
}

TEST(Worker, DispatchedWorkersMatchADirectWorker) {
  const std::string path = write_capture("worker");
  std::string err;

  auto src1 = PcapFileSource::open(path, false, &err);
  ASSERT_TRUE(src1) << err;
  std::vector<std::unique_ptr<Worker>> one;
  one.push_back(std::make_unique<Worker>(0, config()));
  std::atomic<bool> stop{false};
  one[0]->run(*src1, stop);
  ASSERT_TRUE(one[0]->finished());
  const auto direct = collect(one);

  auto src2 = PcapFileSource::open(path, false, &err);
  ASSERT_TRUE(src2) << err;
  std::vector<std::unique_ptr<Worker>> two;
  std::vector<std::unique_ptr<DispatchRing>> rings;
  std::vector<DispatchRing*> ring_ptrs;
  for (int i = 0; i < 2; ++i) {
    two.push_back(std::make_unique<Worker>(static_cast<uint16_t>(i), config()));
    rings.push_back(std::make_unique<DispatchRing>(64));  // small: exercises the full-ring wait
    ring_ptrs.push_back(rings.back().get());
  }
  Dispatcher disp(*src2, ring_ptrs, {}, DecodeOptions{});
  std::vector<std::thread> th;
  for (int i = 0; i < 2; ++i)
    th.emplace_back([&, i] { two[i]->run(*rings[i], nullptr, disp.done(), stop); });
  disp.run(stop);
  for (auto& t : th) t.join();
  const auto dispatched = collect(two);

  ASSERT_EQ(direct.size(), 600u);  // 300 TCP + 300 UDP flows
  ASSERT_EQ(dispatched.size(), direct.size());
  int tcp_closed = 0;
  for (const auto& [k, t] : direct) {
    auto it = dispatched.find(k);
    ASSERT_NE(it, dispatched.end());
    EXPECT_EQ(it->second.records, 1) << "a flow must live on one worker only";
    EXPECT_EQ(t.records, 1);
    for (int d = 0; d < 2; ++d) {
      EXPECT_EQ(it->second.pkts[d], t.pkts[d]);
      EXPECT_EQ(it->second.bytes[d], t.bytes[d]);
    }
    // In-order delivery within a flow is what lets the handshake and
    // close be tracked to the end on both paths.
    if (std::get<3>(k) == 6) {
      EXPECT_EQ(it->second.tcp, TcpState::kClosed);
      EXPECT_EQ(t.tcp, TcpState::kClosed);
      ++tcp_closed;
    }
  }
  EXPECT_EQ(tcp_closed, 300);
  // Both workers got work.
  EXPECT_GT(two[0]->stats().packets.get(), 0u);
  EXPECT_GT(two[1]->stats().packets.get(), 0u);
  EXPECT_EQ(two[0]->stats().packets.get() + two[1]->stats().packets.get(), one[0]->stats().packets.get());
  unlink(path.c_str());
}

TEST(Worker, FrameArenaCopiesAndRecycles) {
  FrameArena a(1024);
  uint8_t frame[300];
  for (int i = 0; i < 300; ++i) frame[i] = static_cast<uint8_t>(i);
  uint64_t e1 = 0, e2 = 0, e3 = 0, e4 = 0;
  uint8_t* c1 = a.put(frame, 300, &e1);
  uint8_t* c2 = a.put(frame, 300, &e2);
  uint8_t* c3 = a.put(frame, 300, &e3);
  ASSERT_TRUE(c1 && c2 && c3);
  EXPECT_EQ(memcmp(c3, frame, 300), 0);
  EXPECT_EQ(a.put(frame, 300, &e4), nullptr) << "no room until the consumer releases";
  a.release_to(e1);
  uint8_t* c4 = a.put(frame, 300, &e4);
  ASSERT_NE(c4, nullptr);
  EXPECT_EQ(memcmp(c4, frame, 300), 0);
  EXPECT_EQ(a.put(frame, 600, &e4), nullptr) << "larger than half the arena";
}

}  // namespace
}  // namespace ws

namespace ws {
namespace {

// A live source that delivers a fixed list of frames stamped with the wall
// clock, then stays quiet (returns 0, as a poll timeout does) until stopped.
class QuietLinkSource : public PacketSource {
 public:
  explicit QuietLinkSource(std::vector<pktgen::Bytes> frames) : frames_(std::move(frames)) {}
  int rx_burst(Packet* out, int max) override {
    if (stop_.load()) return kEof;
    if (next_ >= frames_.size()) {
      usleep(10'000);
      return 0;
    }
    int n = 0;
    for (; n < max && next_ < frames_.size(); ++n, ++next_) {
      out[n] = Packet{};
      out[n].data = frames_[next_].data();
      out[n].caplen = out[n].wirelen = static_cast<uint32_t>(frames_[next_].size());
      out[n].ts_ns = wall_ns();
    }
    return n;
  }
  bool live() const override { return true; }
  void stop() override { stop_.store(true); }
  SourceStats stats() const override { return {}; }
  const std::string& name() const override { return name_; }

 private:
  std::vector<pktgen::Bytes> frames_;
  size_t next_ = 0;
  std::atomic<bool> stop_{false};
  std::string name_ = "quiet";
};

TEST(Worker, QuietLiveLinkExpiresFlowsOnWallClock) {
  WorkerConfig c = config();
  c.live = true;
  c.flows.udp = {1, 1, 0};  // one-second idle timeout
  Worker w(0, c);
  QuietLinkSource src({Builder().eth().ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build(),
                       Builder().eth().ipv4("10.0.0.2", "10.0.0.1").udp(2, 1).build()});
  std::atomic<bool> stop{false};
  std::thread t([&] { w.run(src, stop); });
  // No packet arrives after the first two; the flow must still end, on
  // wall-clock time, well before the source stops.
  FlowRecord r;
  bool got = false;
  for (int i = 0; i < 400 && !got; ++i) {
    got = w.records().pop(&r, 1) == 1;
    if (!got) usleep(10'000);
  }
  src.stop();
  t.join();
  ASSERT_TRUE(got) << "flow not expired within 4 s on a quiet live link";
  EXPECT_EQ(r.reason, FlowEndReason::kIdleTimeout);
  EXPECT_EQ(r.pkts[0] + r.pkts[1], 2u);
  EXPECT_EQ(w.flows().active(), 0u);
}

}  // namespace
}  // namespace ws
