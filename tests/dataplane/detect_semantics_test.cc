// Detection semantics taken from suricata-verify cases: built packets go
// through a Worker whose rules come from rule text, and the alerts, counters
// and flow bits are compared with what Suricata's documentation says the
// case must give. Each test names the suricata-verify case it stands for.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "bench/pktgen/builder.h"
#include "dataplane/detect.h"
#include "dataplane/worker.h"

namespace ws {
namespace {

using pktgen::Builder;
using pktgen::Bytes;
using pktgen::TCP_ACK;
using pktgen::TCP_PSH;
using pktgen::TCP_SYN;

constexpr uint64_t kMs = 1'000'000ull;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "/ws_detect_sem_XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Bytes tcp(const char* src, const char* dst, uint16_t sp, uint16_t dp, uint8_t flags, std::string_view data = {}) {
  Builder b;
  b.eth().ipv4(src, dst).tcp(sp, dp, flags);
  if (!data.empty()) b.payload(data);
  return b.build();
}

Bytes udp(const char* src, const char* dst, uint16_t sp, uint16_t dp, std::string_view data = {}) {
  Builder b;
  b.eth().ipv4(src, dst).udp(sp, dp);
  if (!data.empty()) b.payload(data);
  return b.build();
}

// One worker holding the given rules; each send() is one burst.
class Rig {
 public:
  explicit Rig(const std::string& rules) : slot_(1) {
    const std::string file = dir_.path() + "/test.rules";
    std::ofstream(file) << rules;
    RuleLoadOptions o;
    o.files = {file};
    auto snap = load_rule_snapshot(o, nullptr);
    EXPECT_TRUE(snap);
    if (snap) {
      EXPECT_EQ(snap->report.failed, 0u);
      slot_.publish(std::move(snap));
    }
    WorkerConfig c;
    c.flows.capacity = 256;
    c.record_ring_size = 256;
    c.rules = &slot_;
    worker_ = std::make_unique<Worker>(0, c);
  }
  ~Rig() { sids(); }  // alerts left in the ring hold their snapshot

  void send(const std::vector<Bytes>& frames) {
    std::vector<Packet> pk(frames.size());
    std::vector<Decoded> dec(frames.size());
    std::vector<const Packet*> pp;
    std::vector<const Decoded*> dp;
    for (size_t i = 0; i < frames.size(); ++i) {
      t_ += kMs;
      pk[i].data = frames[i].data();
      pk[i].caplen = pk[i].wirelen = static_cast<uint32_t>(frames[i].size());
      pk[i].ts_ns = t_;
      EXPECT_TRUE(decoder_.decode(pk[i], dec[i]));
      pp.push_back(&pk[i]);
      dp.push_back(&dec[i]);
    }
    worker_->process(pp.data(), dp.data(), static_cast<int>(pp.size()));
  }

  // The sids of the alerts written since the last call, in order.
  std::vector<uint32_t> sids() {
    std::vector<uint32_t> out;
    AlertRing* ring = worker_->alerts();
    if (!ring) return out;
    AlertRecord a;
    while (ring->pop(&a, 1) == 1) {
      if (a.in_flight) a.in_flight->fetch_sub(1);
      out.push_back(a.meta->sid);
    }
    return out;
  }

  const DetectStats& stats() const { return worker_->detect()->stats(); }
  const FlowEntry* flow(const Bytes& frame) {
    Packet p;
    p.data = frame.data();
    p.caplen = p.wirelen = static_cast<uint32_t>(frame.size());
    Decoded d;
    EXPECT_TRUE(decoder_.decode(p, d));
    return worker_->flows().find(d.key);
  }

 private:
  TempDir dir_;
  RuleSlot slot_;
  std::unique_ptr<Worker> worker_;
  Decoder decoder_;
  uint64_t t_ = 1'700'000'000ull * 1'000'000'000ull;
};

// util-action-03: a pass rule with content passes the packet it matched,
// not the flow; the next "Hi all" packet of the same flow alerts again.
TEST(DetectSemantics, PayloadPassRulePassesOnlyThePacket) {
  Rig rig(
      "alert ip any any -> any any (msg:\"sig 1\"; content:\"Hi all\"; sid:1;)\n"
      "pass ip any any -> any any (msg:\"sig 2\"; content:\"wo\"; sid:2;)\n"
      "alert ip any any -> any any (msg:\"sig 3\"; content:\"Hi all\"; sid:3;)\n");
  const char *c = "192.168.1.5", *s = "192.168.1.1";
  rig.send({tcp(c, s, 41424, 80, TCP_SYN, "Hi all!\r\n")});
  rig.send({tcp(s, c, 80, 41424, TCP_SYN, "wo!\r\n")});
  rig.send({tcp(c, s, 41424, 80, TCP_PSH | TCP_ACK, "Hi all!\r\n")});
  EXPECT_EQ(rig.sids(), (std::vector<uint32_t>{1, 3, 1, 3}));
  EXPECT_EQ(rig.stats().pass_packet_matches.get(), 1u);
  EXPECT_EQ(rig.stats().pass_matches.get(), 0u);
  EXPECT_EQ(rig.stats().passed_packets.get(), 0u);
  EXPECT_EQ(rig.stats().inspected.get(), 3u);
  const FlowEntry* e = rig.flow(tcp(c, s, 41424, 80, TCP_ACK));
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->bits & kFlowPassed);
}

// The pass still ends the packet's own inspection: pass rules run first, so
// a packet that matches the pass rule and the alert rules writes nothing.
TEST(DetectSemantics, PayloadPassRuleSilencesItsPacket) {
  Rig rig(
      "alert udp any any -> any any (msg:\"evil\"; content:\"evil\"; sid:1;)\n"
      "pass udp any any -> any any (msg:\"ok\"; content:\"PASSME\"; sid:2;)\n");
  const char *c = "10.40.0.1", *s = "10.40.0.2";
  rig.send({udp(c, s, 1000, 2000, "evil"), udp(c, s, 1000, 2000, "PASSME evil"), udp(c, s, 1000, 2000, "evil"),
            udp(s, c, 2000, 1000, "evil")});
  EXPECT_EQ(rig.sids(), (std::vector<uint32_t>{1, 1, 1}));
  EXPECT_EQ(rig.stats().pass_packet_matches.get(), 1u);
  EXPECT_EQ(rig.stats().passed_packets.get(), 0u);
}

// An IP-only pass rule (addresses only) covers the whole flow, both
// directions, from the packet it matched on; other flows are untouched.
TEST(DetectSemantics, IpOnlyPassRulePassesTheFlow) {
  Rig rig(
      "alert udp any any -> any any (msg:\"evil\"; content:\"evil\"; sid:1;)\n"
      "pass udp 10.41.0.1 any -> any any (msg:\"trusted host\"; sid:2;)\n");
  const char *c = "10.41.0.1", *s = "10.41.0.2";
  rig.send({udp(c, s, 1000, 2000, "evil"), udp(c, s, 1000, 2000, "evil"), udp(s, c, 2000, 1000, "evil")});
  rig.send({udp("10.41.0.3", s, 1000, 2000, "evil")});
  EXPECT_EQ(rig.sids(), (std::vector<uint32_t>{1}));
  EXPECT_EQ(rig.stats().pass_matches.get(), 1u);
  EXPECT_EQ(rig.stats().pass_packet_matches.get(), 0u);
  EXPECT_EQ(rig.stats().passed_packets.get(), 2u);
  const FlowEntry* e = rig.flow(udp(c, s, 1000, 2000));
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->bits & kFlowPassed);
}

}  // namespace
}  // namespace ws
