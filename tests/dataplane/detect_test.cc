// Rule matching in the worker: built packets through a Worker whose RuleSlot
// holds a snapshot loaded from rule text. The expected alerts follow
// Suricata's semantics (flow:established, pass, noalert, packet_alert_max,
// flowbits, threshold/detection_filter, icmp_id/icmp_seq) as its
// documentation states them, counted exactly; reloads and the release of
// old snapshots are checked through RuleSlot's own results.
#include "dataplane/detect.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "bench/pktgen/builder.h"
#include "dataplane/flow_hash.h"
#include "dataplane/worker.h"
#include "telemetry/export_loop.h"

namespace ws {
namespace {

using pktgen::Builder;
using pktgen::Bytes;
using pktgen::TCP_ACK;
using pktgen::TCP_FIN;
using pktgen::TCP_PSH;
using pktgen::TCP_RST;
using pktgen::TCP_SYN;

constexpr uint64_t kSec = 1'000'000'000ull;
constexpr uint64_t kT0 = 1'700'000'000ull * kSec;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "/ws_detect_XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    const std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }

 private:
  std::string path_;
};

// A snapshot from rule text; every rule must load.
std::unique_ptr<RuleSnapshot> load(const TempDir& dir, const std::string& rules, const RuleSnapshot* previous = nullptr,
                                   size_t workers = 1, const char* name = "test.rules") {
  RuleLoadOptions o;
  o.files = {dir.write(name, rules)};
  o.workers = workers;
  auto s = load_rule_snapshot(o, previous);
  EXPECT_TRUE(s);
  if (!s) return s;
  EXPECT_EQ(s->report.fatal, "");
  EXPECT_EQ(s->report.failed, 0u) << (s->report.errors.empty() ? "" : s->report.errors.front().str());
  return s;
}

// Frames.
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

// One worker with rules; packets go in as bursts, one per send() call.
class Rig {
 public:
  explicit Rig(std::unique_ptr<RuleSnapshot> snap, DetectOptions d = {}, uint16_t id = 0, size_t workers = 1,
               FlowTableConfig flows = small_flows(), DefragOptions defrag = {})
      : slot(workers) {
    if (snap) slot.publish(std::move(snap));
    WorkerConfig c;
    c.defrag = defrag;
    c.flows = flows;
    c.record_ring_size = 1024;
    c.rules = &slot;
    c.detect = d;
    worker = std::make_unique<Worker>(id, c);
  }
  ~Rig() {
    // Alerts left in the ring still count against their snapshot.
    drain();
  }

  static FlowTableConfig small_flows() {
    FlowTableConfig f;
    f.capacity = 1024;
    return f;
  }

  // One burst; the packets are 1 ms apart after the previous one. Returns
  // the time of the first.
  uint64_t send(const std::vector<Bytes>& frames, uint16_t ifindex = 0) {
    const uint64_t first = t + kSec / 1000;
    std::vector<Packet> pk(frames.size());
    std::vector<Decoded> dec(frames.size());
    std::vector<const Packet*> pp;
    std::vector<const Decoded*> dp;
    for (size_t i = 0; i < frames.size(); ++i) {
      t += kSec / 1000;
      pk[i].data = frames[i].data();
      pk[i].caplen = pk[i].wirelen = static_cast<uint32_t>(frames[i].size());
      pk[i].ts_ns = t;
      pk[i].ifindex = ifindex;
      EXPECT_TRUE(decoder.decode(pk[i], dec[i])) << "frame " << i << " does not decode";
      pp.push_back(&pk[i]);
      dp.push_back(&dec[i]);
    }
    worker->process(pp.data(), dp.data(), static_cast<int>(pp.size()));
    return first;
  }
  uint64_t send1(const Bytes& frame) { return send({frame}); }

  // Pops every alert and, unless keep_in_flight, counts them out of their
  // snapshot as the export loop does.
  std::vector<AlertRecord> drain(bool keep_in_flight = false) {
    std::vector<AlertRecord> out;
    AlertRing* ring = worker ? worker->alerts() : nullptr;
    if (!ring) return out;
    AlertRecord a;
    while (ring->pop(&a, 1) == 1) {
      if (!keep_in_flight && a.in_flight) a.in_flight->fetch_sub(1);
      out.push_back(a);
    }
    return out;
  }
  std::vector<uint32_t> drain_sids() {
    std::vector<uint32_t> sids;
    for (const AlertRecord& a : drain()) sids.push_back(a.meta->sid);
    return sids;
  }

  const DetectStats& stats() const { return worker->detect()->stats(); }
  const FlowEntry* flow(const Bytes& frame) {
    Packet p;
    p.data = frame.data();
    p.caplen = p.wirelen = static_cast<uint32_t>(frame.size());
    Decoded d;
    EXPECT_TRUE(decoder.decode(p, d));
    return worker->flows().find(d.key);
  }

  RuleSlot slot;
  std::unique_ptr<Worker> worker;
  Decoder decoder;
  uint64_t t = kT0;
};

// ---------------------------------------------------------------- flow keyword

TEST(Detect, TcpEstablishedStartsAfterTheHandshake) {
  TempDir dir;
  // No content: the rule matches every packet its flow options allow.
  Rig rig(load(dir, "alert tcp any any -> any any (msg:\"est\"; flow:established,to_server; sid:1;)\n"));
  const char *c = "10.1.0.1", *s = "10.1.0.2";
  std::vector<Bytes> frames = {
      tcp(c, s, 40000, 80, TCP_SYN),                      // 0 not established
      tcp(s, c, 80, 40000, TCP_SYN | TCP_ACK),            // 1 to_client
      tcp(c, s, 40000, 80, TCP_ACK),                      // 2 completes the handshake: not yet established
      tcp(c, s, 40000, 80, TCP_PSH | TCP_ACK, "GET /"),   // 3 alert
      tcp(s, c, 80, 40000, TCP_PSH | TCP_ACK, "200 OK"),  // 4 to_client
      tcp(c, s, 40000, 80, TCP_ACK),                      // 5 alert
  };
  // One packet per burst: the outcome must not depend on burst boundaries.
  std::vector<uint64_t> ts;
  for (const Bytes& f : frames) ts.push_back(rig.send1(f));
  auto alerts = rig.drain();
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[0].ts_ns, ts[3]);
  EXPECT_EQ(alerts[1].ts_ns, ts[5]);
  EXPECT_EQ(rig.stats().inspected.get(), 6u);
  EXPECT_EQ(rig.stats().alerts.get(), 2u);

  // The same packets in one burst give the same alerts.
  Rig rig2(load(dir, "alert tcp any any -> any any (msg:\"est\"; flow:established,to_server; sid:1;)\n"));
  const uint64_t first = rig2.send(frames);
  auto alerts2 = rig2.drain();
  ASSERT_EQ(alerts2.size(), 2u);
  EXPECT_EQ(alerts2[0].ts_ns, first + 3 * kSec / 1000);
  EXPECT_EQ(alerts2[1].ts_ns, first + 5 * kSec / 1000);
}

TEST(Detect, MidstreamTcpIsNeverEstablished) {
  TempDir dir;
  Rig rig(load(dir,
               "alert tcp any any -> any any (msg:\"est\"; flow:established; sid:1;)\n"
               "alert tcp any any -> any any (msg:\"not est\"; flow:not_established; sid:2;)\n"));
  const char *c = "10.1.0.1", *s = "10.1.0.2";
  std::vector<Bytes> frames;
  for (int i = 0; i < 4; ++i) {
    frames.push_back(tcp(c, s, 40001, 80, TCP_PSH | TCP_ACK, "req"));
    frames.push_back(tcp(s, c, 80, 40001, TCP_PSH | TCP_ACK, "resp"));
  }
  rig.send(frames);
  // The flow table calls the session established (both sides spoke) ...
  const FlowEntry* e = rig.flow(frames[0]);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->tcp_state, static_cast<uint8_t>(TcpState::kEstablished));
  // ... but without a handshake rule matching never does (stream.midstream: false).
  auto sids = rig.drain_sids();
  EXPECT_EQ(sids, std::vector<uint32_t>(8, 2u));
}

TEST(Detect, UdpIsEstablishedFromTheFirstReply) {
  TempDir dir;
  Rig rig(load(dir, "alert udp any any -> any any (msg:\"est\"; flow:established; sid:1;)\n"));
  const char *c = "10.2.0.1", *s = "10.2.0.2";
  const uint64_t t0 = rig.send1(udp(c, s, 5000, 53, "q1"));
  const uint64_t t1 = rig.send1(udp(c, s, 5000, 53, "q2"));  // one direction only: still new
  const uint64_t t2 = rig.send1(udp(s, c, 53, 5000, "a1"));  // both directions seen, this one included
  const uint64_t t3 = rig.send1(udp(c, s, 5000, 53, "q3"));
  (void)t0;
  (void)t1;
  auto alerts = rig.drain();
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[0].ts_ns, t2);
  EXPECT_FALSE(alerts[0].to_server);
  EXPECT_EQ(alerts[1].ts_ns, t3);
  EXPECT_TRUE(alerts[1].to_server);
}

TEST(Detect, FlowToClient) {
  TempDir dir;
  Rig rig(load(dir, "alert tcp any any -> any any (msg:\"tc\"; flow:to_client; content:\"secret\"; sid:1;)\n"));
  const char *c = "10.3.0.1", *s = "10.3.0.2";
  rig.send({tcp(c, s, 40002, 80, TCP_SYN), tcp(s, c, 80, 40002, TCP_SYN | TCP_ACK), tcp(c, s, 40002, 80, TCP_ACK)});
  rig.send1(tcp(c, s, 40002, 80, TCP_PSH | TCP_ACK, "secret please"));  // to_server: no
  const uint64_t ts = rig.send1(tcp(s, c, 80, 40002, TCP_PSH | TCP_ACK, "the secret"));
  auto alerts = rig.drain();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].ts_ns, ts);
  EXPECT_FALSE(alerts[0].to_server);
}

// ---------------------------------------------------------------- actions

TEST(Detect, PassRulePassesTheRestOfTheFlow) {
  TempDir dir;
  // The pass rule comes last in the file; Suricata's ordering runs it first.
  // Only an IP-only pass covers the flow (Suricata's action scope). It names
  // the server, so it matches the server's first packet (IP-only rules run
  // on the first packet of each direction).
  Rig rig(load(dir,
               "alert udp any any -> any any (msg:\"evil\"; content:\"evil\"; sid:2;)\n"
               "pass udp 10.4.0.2 any -> any any (msg:\"ok\"; sid:1;)\n"));
  const char *c = "10.4.0.1", *s = "10.4.0.2";
  rig.send1(udp(c, s, 1000, 2000, "evil"));           // alert
  rig.send1(udp(s, c, 2000, 1000, "PASSME evil"));    // pass (server's first packet): no alert for it either
  rig.send1(udp(c, s, 1000, 2000, "evil"));           // flow passed: not inspected
  rig.send1(udp(s, c, 2000, 1000, "evil"));           // either direction
  rig.send1(udp(c, "10.4.0.3", 1000, 2000, "evil"));  // another flow: alert
  auto sids = rig.drain_sids();
  EXPECT_EQ(sids, (std::vector<uint32_t>{2, 2}));
  EXPECT_EQ(rig.stats().pass_matches.get(), 1u);
  EXPECT_EQ(rig.stats().passed_packets.get(), 2u);
  EXPECT_EQ(rig.stats().inspected.get(), 3u);
  const FlowEntry* e = rig.flow(udp(c, s, 1000, 2000));
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->bits & kFlowPassed);
}

TEST(Detect, NoalertCountsButWritesNothing) {
  TempDir dir;
  Rig rig(load(dir,
               "alert udp any any -> any any (msg:\"quiet\"; content:\"quiet\"; noalert; sid:1;)\n"
               "alert udp any any -> any any (msg:\"quiet fb\"; content:\"hush\"; flowbits:noalert; sid:2;)\n"
               "alert udp any any -> any any (msg:\"loud\"; content:\"loud\"; sid:3;)\n"));
  rig.send({udp("10.5.0.1", "10.5.0.2", 1, 2, "quiet"), udp("10.5.0.1", "10.5.0.2", 1, 2, "hush"),
            udp("10.5.0.1", "10.5.0.2", 1, 2, "quiet hush loud")});
  EXPECT_EQ(rig.drain_sids(), std::vector<uint32_t>{3});
  EXPECT_EQ(rig.stats().noalert_matches.get(), 4u);
  EXPECT_EQ(rig.stats().alerts.get(), 1u);
}

TEST(Detect, AtMostFifteenAlertsPerPacket) {
  TempDir dir;
  std::string rules;
  for (int i = 0; i < 20; ++i)
    rules += "alert udp any any -> any any (msg:\"r" + std::to_string(i) + "\"; content:\"boom\"; sid:" +
             std::to_string(100 + i) + ";)\n";
  Rig rig(load(dir, rules));
  rig.send1(udp("10.6.0.1", "10.6.0.2", 1, 2, "boom"));
  auto sids = rig.drain_sids();
  std::vector<uint32_t> want;
  for (uint32_t i = 0; i < 15; ++i) want.push_back(100 + i);  // rule order: file order here
  EXPECT_EQ(sids, want);
  EXPECT_EQ(rig.stats().alerts_over_max.get(), 5u);
  // The limit is per packet, not per flow.
  rig.send1(udp("10.6.0.1", "10.6.0.2", 1, 2, "boom"));
  EXPECT_EQ(rig.drain().size(), 15u);
  EXPECT_EQ(rig.stats().alerts_over_max.get(), 10u);

  DetectOptions d;
  d.max_alerts_per_packet = 3;
  Rig rig3(load(dir, rules), d);
  rig3.send1(udp("10.6.0.1", "10.6.0.2", 1, 2, "boom"));
  EXPECT_EQ(rig3.drain_sids(), (std::vector<uint32_t>{100, 101, 102}));
  EXPECT_EQ(rig3.stats().alerts_over_max.get(), 17u);
}

// ---------------------------------------------------------------- flowbits

constexpr const char* kFlowbitRules =
    "alert tcp any any -> any any (msg:\"cmd after login\"; content:\"cmd\"; flowbits:isset,logged_in; sid:11;)\n"
    "alert tcp any any -> any any (msg:\"login\"; content:\"login\"; flowbits:set,logged_in; flowbits:noalert; "
    "sid:10;)\n";

TEST(Detect, FlowbitsBelongToTheirFlow) {
  TempDir dir;
  Rig rig(load(dir, kFlowbitRules));
  const char *c = "10.7.0.1", *s = "10.7.0.2";
  const Bytes a1 = tcp(c, s, 40000, 21, TCP_PSH | TCP_ACK, "login bob");
  rig.send1(a1);
  // Another flow of the same hosts asks before it has logged in.
  rig.send1(tcp(c, s, 40001, 21, TCP_PSH | TCP_ACK, "cmd ls"));
  rig.send1(tcp(s, c, 21, 40000, TCP_PSH | TCP_ACK, "230 welcome"));
  const uint64_t ts = rig.send1(tcp(c, s, 40000, 21, TCP_PSH | TCP_ACK, "cmd ls"));
  auto alerts = rig.drain();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].meta->sid, 11u);
  EXPECT_EQ(alerts[0].ts_ns, ts);
  const FlowEntry* e1 = rig.flow(a1);
  const FlowEntry* e2 = rig.flow(tcp(c, s, 40001, 21, 0));
  ASSERT_TRUE(e1 && e2);
  EXPECT_TRUE(e1->bits & kFlowbitsUsed);
  EXPECT_FALSE(e2->bits & kFlowbitsUsed) << "a flow that never set a bit owns no bits";
  EXPECT_EQ(rig.stats().noalert_matches.get(), 1u);

  // Set and checked in the same packet: the setter runs first.
  rig.send1(tcp(c, s, 40002, 21, TCP_PSH | TCP_ACK, "login; cmd"));
  EXPECT_EQ(rig.drain_sids(), std::vector<uint32_t>{11});
}

TEST(Detect, FlowbitsAreNotInheritedByAFlowInTheSameSlot) {
  TempDir dir;
  Rig rig(load(dir, kFlowbitRules));
  const char *c = "10.8.0.1", *s = "10.8.0.2";
  const Bytes syn = tcp(c, s, 40000, 21, TCP_SYN);
  rig.send({syn, tcp(s, c, 21, 40000, TCP_SYN | TCP_ACK), tcp(c, s, 40000, 21, TCP_ACK),
            tcp(c, s, 40000, 21, TCP_PSH | TCP_ACK, "login bob")});
  const FlowEntry* first = rig.flow(syn);
  ASSERT_NE(first, nullptr);
  const uint32_t index = rig.worker->flows().index_of(*first);
  const uint64_t first_id = first->flow_id;
  ASSERT_TRUE(first->bits & kFlowbitsUsed);
  rig.send({tcp(c, s, 40000, 21, TCP_RST)});
  // The same 5-tuple again: the closed flow ends (tcp_reuse) and the new
  // one takes its freed entry.
  rig.send({syn, tcp(s, c, 21, 40000, TCP_SYN | TCP_ACK), tcp(c, s, 40000, 21, TCP_ACK)});
  const FlowEntry* second = rig.flow(syn);
  ASSERT_NE(second, nullptr);
  ASSERT_NE(second->flow_id, first_id) << "not a new flow";
  ASSERT_EQ(rig.worker->flows().index_of(*second), index) << "the new flow did not reuse the slot";
  rig.send1(tcp(c, s, 40000, 21, TCP_PSH | TCP_ACK, "cmd ls"));
  EXPECT_TRUE(rig.drain().empty()) << "the new flow saw the previous flow's bit";
  // Its own login still works, in the same slot.
  rig.send({tcp(c, s, 40000, 21, TCP_PSH | TCP_ACK, "login eve"), tcp(c, s, 40000, 21, TCP_PSH | TCP_ACK, "cmd ls")});
  EXPECT_EQ(rig.drain_sids(), std::vector<uint32_t>{11});
}

// ---------------------------------------------------------------- thresholds

TEST(Detect, ThresholdLimitBySrcCountsAcrossFlows) {
  TempDir dir;
  Rig rig(load(dir,
               "alert udp any any -> any any (msg:\"lim\"; content:\"x\"; threshold:type limit, track by_src, "
               "count 1, seconds 60; sid:1;)\n"));
  rig.send1(udp("10.9.0.1", "10.9.0.2", 1000, 53, "x"));
  rig.send1(udp("10.9.0.1", "10.9.0.3", 1001, 53, "x"));  // same source, another flow: limited
  rig.send1(udp("10.9.0.4", "10.9.0.2", 1000, 53, "x"));  // another source: its own count
  auto alerts = rig.drain();
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[0].pkt.src[3], 1);
  EXPECT_EQ(alerts[1].pkt.src[3], 4);
  EXPECT_EQ(rig.stats().threshold_suppressed.get(), 1u);
  EXPECT_EQ(rig.stats().threshold_held.get(), 0u);
}

TEST(Detect, DetectionFilterAlertsFromTheThirdMatch) {
  TempDir dir;
  Rig rig(load(dir,
               "alert udp any any -> any any (msg:\"df\"; content:\"x\"; detection_filter:track by_src, count 2, "
               "seconds 60; sid:1;)\n"));
  std::vector<uint64_t> ts;
  for (int i = 0; i < 5; ++i) ts.push_back(rig.send1(udp("10.9.1.1", "10.9.1.2", 1000, 53, "x")));
  auto alerts = rig.drain();
  ASSERT_EQ(alerts.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(alerts[i].ts_ns, ts[i + 2]);
  EXPECT_EQ(rig.stats().threshold_held.get(), 2u);
}

// ---------------------------------------------------------------- icmp

TEST(Detect, IcmpIdAndSeq) {
  TempDir dir;
  Rig rig(load(dir, "alert icmp any any -> any any (msg:\"ping\"; icmp_id:1234; icmp_seq:7; sid:1;)\n"));
  auto echo = [](bool req, uint16_t id, uint16_t seq) {
    return req ? Builder().eth().ipv4("10.10.0.1", "10.10.0.2").icmp_echo(true, id, seq).build()
               : Builder().eth().ipv4("10.10.0.2", "10.10.0.1").icmp_echo(false, id, seq).build();
  };
  const uint64_t t_req = rig.send1(echo(true, 1234, 7));
  rig.send1(echo(true, 1234, 8));
  rig.send1(echo(true, 99, 7));
  const uint64_t t_rep = rig.send1(echo(false, 1234, 7));
  // Not an echo: no identifier, so no match even if the bytes agree.
  rig.send1(Builder().eth().ipv4("10.10.0.1", "10.10.0.2").icmp(3, 1, (1234u << 16) | 7u).build());
  auto alerts = rig.drain();
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[0].ts_ns, t_req);
  EXPECT_EQ(alerts[0].icmp_type, 8);
  EXPECT_EQ(alerts[0].icmp_code, 0);
  EXPECT_TRUE(alerts[0].to_server);
  EXPECT_EQ(alerts[1].ts_ns, t_rep);
  EXPECT_EQ(alerts[1].icmp_type, 0);
  EXPECT_FALSE(alerts[1].to_server);
  EXPECT_EQ(alerts[1].pkt.proto, 1);
}

// ---------------------------------------------------------------- records

// EVE packet/packet_info: the alert carries its packet, the captured frame
// or, out of a tunnel, the inner packet's own bytes (link type RAW).
TEST(Detect, AlertCarriesItsPacket) {
  TempDir dir;
  const std::string rules =
      "alert tcp any any -> any any (msg:\"t\"; content:\"hello\"; sid:1;)\n"
      "alert icmp any any -> any any (msg:\"i\"; itype:8; sid:2;)\n";
  for (const bool payload : {false, true}) {
    SCOPED_TRACE(payload ? "payload on" : "payload off");
    DetectOptions d;
    d.packet = true;
    d.payload = payload;
    Rig rig(load(dir, rules, nullptr, 1), d);
    const Bytes f = Builder().eth().vlan(5).ipv4("10.0.0.1", "10.0.0.2").tcp(1000, 80, TCP_PSH | TCP_ACK)
                        .payload("say hello").build();
    rig.send1(f);
    const Bytes inner = Builder().eth().ipv4("192.168.203.3", "192.168.203.5").icmp_echo(true, 7, 1).build();
    Bytes vx = {0x08, 0, 0, 0, 0, 0, 42, 0};
    vx.insert(vx.end(), inner.begin(), inner.end());
    rig.send1(Builder().eth().ipv4("10.9.0.1", "10.9.0.2").udp(33000, 4789).payload(vx).build());
    auto alerts = rig.drain();
    ASSERT_EQ(alerts.size(), 2u);
    const AlertRecord& a = alerts[0];
    ASSERT_EQ(a.meta->sid, 1u);
    EXPECT_EQ(Bytes(a.packet_data(), a.packet_data() + a.packet_len), f);
    EXPECT_EQ(a.linktype, 1);
    EXPECT_FALSE(a.packet_truncated);
    if (payload) {
      ASSERT_EQ(a.payload_len, 9u);
      EXPECT_EQ(std::string(reinterpret_cast<const char*>(a.payload()), a.payload_len), "say hello");
      EXPECT_EQ(a.payload_off, f.size() - 9);
    } else {
      EXPECT_EQ(a.payload_len, 0u);
    }
    const AlertRecord& b = alerts[1];
    ASSERT_EQ(b.meta->sid, 2u);
    EXPECT_EQ(Bytes(b.packet_data(), b.packet_data() + b.packet_len), inner) << "the inner Ethernet frame";
    EXPECT_EQ(b.linktype, 12) << "Suricata's tunnel packets are DLT_RAW";
  }
  // A tunnelled packet cut short by the snaplen: its bytes up to the end
  // of the capture, nothing past it.
  {
    DetectOptions d;
    d.packet = true;
    d.payload = true;
    Rig rig(load(dir, rules, nullptr, 1), d);
    const Bytes inner = Builder().eth().ipv4("192.168.9.1", "192.168.9.2").tcp(1000, 80, TCP_PSH | TCP_ACK)
                            .payload("hello" + std::string(600, 'y')).build();
    Bytes vx = {0x08, 0, 0, 0, 0, 0, 42, 0};
    vx.insert(vx.end(), inner.begin(), inner.end());
    const Bytes full = Builder().eth().ipv4("10.9.0.1", "10.9.0.2").udp(33000, 4789).payload(vx).build();
    const size_t inner_start = full.size() - inner.size();
    const Bytes cut(full.begin(), full.begin() + inner_start + 14 + 20 + 20 + 100);
    rig.send1(cut);
    auto alerts = rig.drain();
    ASSERT_EQ(alerts.size(), 1u);
    EXPECT_EQ(alerts[0].meta->sid, 1u);
    EXPECT_EQ(Bytes(alerts[0].packet_data(), alerts[0].packet_data() + alerts[0].packet_len),
              Bytes(cut.begin() + inner_start, cut.end()));
    EXPECT_EQ(alerts[0].payload_len, 100u);
    EXPECT_EQ(alerts[0].payload_off, 14u + 20u + 20u);
  }
  // A frame longer than the record's own buffer (a jumbo frame here) goes
  // whole, in the worker's long-packet bytes; off, nothing.
  const Bytes big = Builder().eth().ipv4("10.0.0.1", "10.0.0.2").tcp(1000, 80, TCP_PSH | TCP_ACK)
                        .payload("hello" + std::string(9000, 'x')).build();
  for (const bool on : {true, false}) {
    DetectOptions d;
    d.packet = on;
    Rig rig(load(dir, rules, nullptr, 1), d);
    rig.send1(big);
    auto alerts = rig.drain();
    ASSERT_EQ(alerts.size(), 1u);
    EXPECT_EQ(alerts[0].packet_len, on ? big.size() : 0u);
    EXPECT_FALSE(alerts[0].packet_truncated);
    EXPECT_EQ(alerts[0].long_bytes != nullptr, on);
    if (on) EXPECT_EQ(Bytes(alerts[0].packet_data(), alerts[0].packet_data() + alerts[0].packet_len), big);
  }
  // Those bytes come back once the alerts are exported. While the exporter
  // holds them all, later long packets are cut at kAlertDataMax, say so,
  // and are counted; given back, they are whole again.
  {
    DetectOptions d;
    d.packet = true;
    Rig rig(load(dir, rules, nullptr, 1), d);
    const size_t fit = AlertBytes::kDefaultCapacity / big.size();
    for (size_t i = 0; i < fit + 3; ++i) rig.send1(big);
    auto alerts = rig.drain();
    ASSERT_EQ(alerts.size(), fit + 3);
    for (size_t i = 0; i < alerts.size(); ++i) {
      EXPECT_EQ(alerts[i].packet_truncated, i >= fit) << i;
      EXPECT_EQ(alerts[i].packet_len, i >= fit ? kAlertDataMax : big.size()) << i;
    }
    EXPECT_EQ(Bytes(alerts[fit].data, alerts[fit].data + kAlertDataMax), Bytes(big.begin(), big.begin() + kAlertDataMax));
    EXPECT_EQ(rig.stats().alert_bytes_cut.get(), 3u);
    alerts[fit - 1].bytes_owner->release(alerts[fit - 1].bytes_end);
    rig.send1(big);
    alerts = rig.drain();
    ASSERT_EQ(alerts.size(), 1u);
    EXPECT_FALSE(alerts[0].packet_truncated);
    EXPECT_EQ(Bytes(alerts[0].packet_data(), alerts[0].packet_data() + alerts[0].packet_len), big);
  }
}

// A GRE tunnel's inner packet is a flow of its own and is matched; its
// alert names the tunnel. ERSPAN type II: the mirrored frame's VLAN is the
// inner flow's.
TEST(Detect, GreInnerPacketIsMatched) {
  TempDir dir;
  Rig rig(load(dir, "alert udp any any -> any 53 (msg:\"dns\"; content:\"q\"; sid:3;)\n", nullptr, 1));
  const Bytes mirrored = Builder().eth().ipv4("172.16.0.1", "172.16.0.2").udp(4000, 53).payload("q").build();
  Bytes erspan = {0x10, 100, 0, 1, 0, 0, 0, 0};
  erspan.insert(erspan.end(), mirrored.begin(), mirrored.end());
  const Bytes f = Builder().eth().ipv4("10.6.0.1", "10.6.0.2").gre({.has_seq = true, .seq = 1, .proto = 0x88be})
                      .payload(erspan).build();
  rig.send1(f);
  auto alerts = rig.drain();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].pkt_src, static_cast<uint8_t>(PktSrc::kGre));
  EXPECT_EQ(alerts[0].tunnel_depth, 1);
  EXPECT_EQ(alerts[0].tunnel.proto, 47);
  EXPECT_EQ(alerts[0].pkt.dport, 53);
  EXPECT_EQ(alerts[0].pkt.vlan, 100);
  EXPECT_EQ(rig.worker->flows().active(), 2u) << "the GRE flow and the flow inside it";
}

// The outer packets of an IP-in-IP tunnel (IPv6 in IPv4 here, decoded by
// default): Suricata keeps no flow for them, so its IP-only rules see every
// one; with decoder.track_parent_flow (Suricata 7.0.12's
// decoder.ipv4.ipip.track-parent-flow, suricata-verify bug-7725-01) they
// see them once per direction, as any flow's packets.
TEST(Detect, IpOnlyRulesOnTunnelPacketsOncePerDirectionWithParentFlow) {
  TempDir dir;
  const std::string rule = "alert ip any any -> 10.0.0.0/8 any (msg:\"outer\"; sid:7;)\n";
  auto tunnel = [](const char* a, const char* b, const char* ia, const char* ib) {
    return Builder().eth().ipv4(a, b).ipv6(ia, ib).udp(1000, 2000).payload("x").build();
  };
  const std::vector<Bytes> frames = {
      tunnel("10.0.0.1", "10.1.0.2", "2001:db8::1", "2001:db8::2"),
      tunnel("10.1.0.2", "10.0.0.1", "2001:db8::2", "2001:db8::1"),
      tunnel("10.0.0.1", "10.1.0.2", "2001:db8::1", "2001:db8::2"),
      tunnel("10.1.0.2", "10.0.0.1", "2001:db8::2", "2001:db8::1"),
  };
  for (bool parent : {false, true}) {
    DetectOptions o;
    o.tunnel_parent_flow = parent;
    Rig rig(load(dir, rule), o);
    for (const Bytes& f : frames) rig.send1(f);
    const auto sids = rig.drain_sids();
    EXPECT_EQ(sids, std::vector<uint32_t>(parent ? 2 : 4, 7u)) << "parent flow " << parent;
  }
}

// Fragments: the rules see the datagram whole once it is complete, as
// Suricata's defrag engine gives it to detection; a fragment alone is an
// IP packet without transport header or payload for them. The flow still
// counts every fragment.
TEST(Detect, FragmentedDatagramIsMatchedWholeOnce) {
  TempDir dir;
  const std::string rules =
      "alert udp any any -> any 5000 (msg:\"span\"; content:\"needle-across\"; sid:1;)\n"
      "alert udp any any -> any any (msg:\"head\"; content:\"head-only\"; sid:2;)\n"
      "alert udp any any -> any any (msg:\"size\"; dsize:3000; sid:3;)\n";
  std::string data(3000, 'x');
  data.replace(0, 9, "head-only");
  data.replace(1480 - 8 - 6, 13, "needle-across");  // across the first fragment's end
  const Bytes whole =
      Builder().eth().ipv4("10.0.0.1", "10.0.0.2", {.id = 321}).udp(4000, 5000).payload(data).build();
  const auto frags = pktgen::fragment(whole, 14, 1480, 321);
  ASSERT_EQ(frags.size(), 3u);
  for (const bool on : {true, false}) {
    SCOPED_TRACE(on ? "defrag on" : "defrag off");
    DetectOptions d;
    d.packet = true;
    DefragOptions df;
    df.enabled = on;
    Rig rig(load(dir, rules, nullptr, 1), d, 0, 1, Rig::small_flows(), df);
    // Out of order: the middle fragment completes the datagram.
    rig.send({frags[0], frags[2]});
    rig.send({frags[1]});
    auto alerts = rig.drain();
    const FlowEntry* e = rig.flow(frags[0]);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->pkts[0] + e->pkts[1], 3u) << "every fragment counts to the flow";
    if (!on) {
      // Per fragment: the first fragment's own bytes only.
      ASSERT_EQ(alerts.size(), 1u);
      EXPECT_EQ(alerts[0].meta->sid, 2u);
      EXPECT_EQ(alerts[0].pkt_src, 0);
      continue;
    }
    ASSERT_EQ(alerts.size(), 3u);
    std::vector<uint32_t> sids;
    for (const AlertRecord& a : alerts) {
      sids.push_back(a.meta->sid);
      EXPECT_EQ(a.pkt_src, static_cast<uint8_t>(PktSrc::kDefrag));
      EXPECT_EQ(a.tunnel_depth, 0);
      EXPECT_EQ(a.pkt.dport, 5000);
      EXPECT_EQ(a.linktype, 1);
      EXPECT_EQ(Bytes(a.packet_data(), a.packet_data() + a.packet_len), whole) << "the datagram whole";
      EXPECT_FALSE(a.packet_truncated);
    }
    EXPECT_EQ(sids, (std::vector<uint32_t>{1, 2, 3})) << "one alert per rule: none on the fragments";
    EXPECT_EQ(rig.worker->defrag()->stats().reassembled.get(), 1u);
  }
}

// RFC 1858's tiny-fragment evasion: the TCP header itself is split over
// fragments, so no fragment alone has ports. The datagram is still put
// together and matched.
TEST(Detect, TinyFragmentsAreReassembledAndMatched) {
  TempDir dir;
  Rig rig(load(dir, "alert tcp any any -> any 80 (msg:\"attack\"; content:\"/attack\"; sid:9;)\n", nullptr, 1));
  const Bytes whole =
      Builder().eth().ipv4("10.0.0.1", "10.0.0.2", {.id = 31}).tcp(4000, 80, TCP_PSH | TCP_ACK).payload("GET /attack").build();
  const auto frags = pktgen::fragment(whole, 14, 8, 31);
  ASSERT_EQ(frags.size(), 4u);
  rig.send(frags);
  auto alerts = rig.drain();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].pkt_src, static_cast<uint8_t>(PktSrc::kDefrag));
  EXPECT_EQ(alerts[0].pkt.dport, 80);
  EXPECT_EQ(rig.worker->defrag()->stats().no_flow.get(), 0u);
}

// A fragmented datagram that carries a tunnel: the packet inside is a flow
// of its own once the datagram is whole (before, it was never seen).
TEST(Detect, TunnelInAFragmentedDatagramIsOpened) {
  TempDir dir;
  Rig rig(load(dir, "alert udp any any -> any 53 (msg:\"q\"; content:\"query\"; sid:7;)\n", nullptr, 1));
  const Bytes inner = Builder().eth().ipv4("172.16.0.1", "172.16.0.2").udp(4000, 53).payload("query" + std::string(2000, 'q')).build();
  Bytes vx = {0x08, 0, 0, 0, 0, 0, 42, 0};
  vx.insert(vx.end(), inner.begin(), inner.end());
  const Bytes outer = Builder().eth().ipv4("10.9.0.1", "10.9.0.2", {.id = 55}).udp(33000, 4789).payload(vx).build();
  const auto frags = pktgen::fragment(outer, 14, 1400, 55);
  ASSERT_EQ(frags.size(), 2u);
  rig.send({frags[0], frags[1]});
  auto alerts = rig.drain();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].pkt_src, static_cast<uint8_t>(PktSrc::kVxlan));
  EXPECT_EQ(alerts[0].pkt.dport, 53);
  EXPECT_EQ(rig.worker->flows().active(), 2u) << "the VXLAN flow and the one inside it";
  EXPECT_EQ(rig.worker->stats().tunnel_packets.get(), 1u);
}

TEST(Detect, AlertRecordFields) {
  TempDir dir;
  const std::string rules =
      "alert tcp any any -> any any (msg:\"resp\"; content:\"HTTP/1.1\"; classtype:trojan-activity; sid:7; rev:3;)\n"
      "drop tcp any any -> any any (msg:\"drop\"; content:\"bad\"; sid:8;)\n";
  // The client on either side of the canonical order.
  const std::pair<const char*, const char*> hosts[] = {{"10.11.0.9", "10.11.0.1"}, {"10.11.0.1", "10.11.0.9"}};
  std::set<int> client_sides;
  for (const auto& [c, s] : hosts) {
    SCOPED_TRACE(std::string("client ") + c);
    DetectOptions d;
    d.payload = true;
    Rig rig(load(dir, rules, nullptr, 2), d, /*id=*/1, /*workers=*/2);
    // Every packet of the flow carries VLAN 42 (the tag is part of the flow key).
    auto tagged = [](const char* src, const char* dst, uint16_t sp, uint16_t dp, uint8_t flags,
                     std::string_view data = {}) {
      Builder b;
      b.eth().vlan(42).ipv4(src, dst).tcp(sp, dp, flags);
      if (!data.empty()) b.payload(data);
      return b.build();
    };
    const Bytes syn = tagged(c, s, 40000, 80, TCP_SYN);
    const Bytes synack = tagged(s, c, 80, 40000, TCP_SYN | TCP_ACK);
    const Bytes ack = tagged(c, s, 40000, 80, TCP_ACK);
    const Bytes req = tagged(c, s, 40000, 80, TCP_PSH | TCP_ACK, "GET / HTTP/1.0\r\n");
    const std::string body = "HTTP/1.1 200 OK\r\n\x01\x02";
    const Bytes resp = tagged(s, c, 80, 40000, TCP_PSH | TCP_ACK, body);
    const uint64_t t_syn = rig.send({syn, synack, ack, req});
    const uint64_t t_resp = rig.send({resp}, /*ifindex=*/3);
    auto alerts = rig.drain(/*keep_in_flight=*/true);
    ASSERT_EQ(alerts.size(), 1u);
    const AlertRecord& a = alerts[0];
    const FlowEntry* e = rig.flow(syn);
    ASSERT_NE(e, nullptr);
    client_sides.insert(e->client_is_b);
    EXPECT_EQ(a.ts_ns, t_resp);
    EXPECT_EQ(a.flow_id, e->flow_id);
    EXPECT_EQ(a.flow_start_ns, t_syn);
    // The packet's own tuple: the server sent it.
    Decoded dr;
    Packet pr;
    pr.data = resp.data();
    pr.caplen = pr.wirelen = static_cast<uint32_t>(resp.size());
    ASSERT_TRUE(rig.decoder.decode(pr, dr));
    EXPECT_TRUE(a.pkt == dr.key);
    EXPECT_EQ(a.pkt.sport, 80);
    // The flow's tuple, client first.
    Decoded dsyn;
    Packet ps;
    ps.data = syn.data();
    ps.caplen = ps.wirelen = static_cast<uint32_t>(syn.size());
    ASSERT_TRUE(rig.decoder.decode(ps, dsyn));
    EXPECT_TRUE(a.flow == dsyn.key) << "flow tuple is not client first";
    EXPECT_EQ(a.flow.sport, 40000);
    EXPECT_EQ(a.flow.dport, 80);
    EXPECT_FALSE(a.to_server);
    // Counters so far, this packet included, client direction first.
    EXPECT_EQ(a.pkts[0], 3u);
    EXPECT_EQ(a.pkts[1], 2u);
    EXPECT_EQ(a.bytes[0], syn.size() + ack.size() + req.size());
    EXPECT_EQ(a.bytes[1], synack.size() + resp.size());
    ASSERT_NE(a.meta, nullptr);
    EXPECT_EQ(a.meta->sid, 7u);
    EXPECT_EQ(a.meta->rev, 3u);
    EXPECT_EQ(a.meta->signature, "resp");
    EXPECT_EQ(a.meta->category, "A Network Trojan was detected");
    EXPECT_EQ(a.meta->severity, 1);
    EXPECT_EQ(a.action, static_cast<uint8_t>(RuleAction::kAlert));
    EXPECT_FALSE(a.blocked);
    EXPECT_EQ(a.vlan_count, 1);
    EXPECT_EQ(a.vlan[0], 42);
    EXPECT_EQ(a.ifindex, 3);
    EXPECT_EQ(a.worker, 1);
    EXPECT_EQ(a.app_proto[0], 0);
    EXPECT_FALSE(a.stream);
    ASSERT_EQ(a.payload_len, body.size());
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(a.payload()), a.payload_len), body);
    EXPECT_FALSE(a.payload_truncated);
    // The alert points into the running snapshot and is counted there.
    const RuleSnapshot* snap = rig.slot.current();
    size_t mi = 0;
    while (mi < snap->meta.size() && snap->meta[mi].sid != 7) ++mi;
    ASSERT_LT(mi, snap->meta.size());
    EXPECT_EQ(mi, 1u) << "the drop rule sorts first";
    EXPECT_EQ(a.meta, &snap->meta[mi]);
    EXPECT_EQ(a.in_flight, &snap->alerts_in_flight);
    EXPECT_EQ(snap->alerts_in_flight.load(), 1u);
    a.in_flight->fetch_sub(1);

    // A drop rule's alert carries its action; not blocked (not inline).
    rig.send1(tagged(c, s, 40000, 80, TCP_PSH | TCP_ACK, "bad"));
    auto drops = rig.drain();
    ASSERT_EQ(drops.size(), 1u);
    EXPECT_EQ(drops[0].action, static_cast<uint8_t>(RuleAction::kDrop));
    EXPECT_FALSE(drops[0].blocked);
    EXPECT_TRUE(drops[0].to_server);
    EXPECT_TRUE(drops[0].pkt == drops[0].flow);
    EXPECT_EQ(drops[0].pkts[0], 4u);
    EXPECT_EQ(drops[0].ifindex, 0);
  }
  EXPECT_EQ(client_sides.size(), 2u) << "both canonical orders were to be exercised";
}

TEST(Detect, PayloadCopiedOnlyWhenAsked) {
  TempDir dir;
  const std::string rules = "alert udp any any -> any any (msg:\"x\"; content:\"needle\"; sid:1;)\n";
  const Bytes small = udp("10.12.0.1", "10.12.0.2", 1, 2, "a needle");
  std::string big(kAlertDataMax + 500, 'z');
  big.replace(100, 6, "needle");
  const Bytes large = udp("10.12.0.1", "10.12.0.2", 1, 2, big);
  {
    Rig rig(load(dir, rules));  // payload off (default)
    rig.send({small, large});
    auto alerts = rig.drain();
    ASSERT_EQ(alerts.size(), 2u);
    EXPECT_EQ(alerts[0].payload_len, 0u);
    EXPECT_EQ(alerts[1].payload_len, 0u);
    EXPECT_FALSE(alerts[1].payload_truncated);
  }
  DetectOptions d;
  d.payload = true;
  Rig rig(load(dir, rules), d);
  rig.send({small, large});
  auto alerts = rig.drain();
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(alerts[0].payload()), alerts[0].payload_len), "a needle");
  EXPECT_FALSE(alerts[0].payload_truncated);
  ASSERT_EQ(alerts[1].payload_len, big.size()) << "a long payload goes whole";
  EXPECT_FALSE(alerts[1].payload_truncated);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(alerts[1].payload()), alerts[1].payload_len), big);
}

TEST(Detect, FlowRecordSaysAlerted) {
  TempDir dir;
  FlowTableConfig flows = Rig::small_flows();
  flows.udp = {1, 1, 0};  // one-second idle timeout
  Rig rig(load(dir, "alert udp any any -> any any (msg:\"x\"; content:\"hit\"; sid:1;)\n"), {}, 0, 1, flows);
  rig.send({udp("10.13.0.1", "10.13.0.2", 1, 2, "hit"), udp("10.13.0.1", "10.13.0.3", 1, 2, "miss")});
  rig.t += 10 * kSec;
  rig.send1(udp("10.13.0.5", "10.13.0.6", 1, 2, "later"));  // moves the clock: both flows end idle
  std::map<uint8_t, uint8_t> alerted;  // last address byte of the server -> alerted
  FlowRecord r;
  while (rig.worker->records().pop(&r, 1) == 1) alerted[r.key.dst[3]] = r.alerted;
  ASSERT_EQ(alerted.size(), 2u);
  EXPECT_EQ(alerted[2], 1);
  EXPECT_EQ(alerted[3], 0);
  EXPECT_EQ(rig.drain().size(), 1u);
}

TEST(Detect, EmptyRuleSetInspectsNothing) {
  Rig rig(nullptr);  // the slot's initial empty snapshot
  ASSERT_NE(rig.worker->alerts(), nullptr);
  rig.send1(udp("10.14.0.1", "10.14.0.2", 1, 2, "anything"));
  EXPECT_EQ(rig.stats().inspected.get(), 0u);
  EXPECT_TRUE(rig.drain().empty());
}

// ---------------------------------------------------------------- reload

constexpr const char* kOldRules =
    "alert tcp any any -> any any (msg:\"old\"; content:\"old\"; sid:1;)\n"
    "alert tcp any any -> any any (msg:\"login\"; content:\"login\"; flowbits:set,logged_in; flowbits:noalert; "
    "sid:3;)\n";
// A new setter comes first, so without the running set's numbering
// "other" would take bit 0, the bit logged_in has in running flows.
constexpr const char* kNewRules =
    "alert tcp any any -> any any (msg:\"other\"; content:\"other\"; flowbits:set,other; flowbits:noalert; sid:5;)\n"
    "alert tcp any any -> any any (msg:\"new\"; content:\"new\"; sid:2;)\n"
    "alert tcp any any -> any any (msg:\"cmd\"; content:\"cmd\"; flowbits:isset,logged_in; sid:4;)\n";

// IP-only rules run once per direction of a flow; after a reload they run
// again on the flows already open, so a rule added to flag or block a host
// sees its open connections too.
TEST(Detect, ReloadedIpOnlyRulesSeeOpenFlows) {
  TempDir dir;
  Rig rig(load(dir, "alert ip 10.16.0.1 any -> any any (msg:\"host\"; sid:1;)\n", nullptr, 1, "a.rules"));
  const char *c = "10.16.0.1", *s = "10.16.0.2";
  rig.send({tcp(c, s, 40000, 80, TCP_SYN), tcp(c, s, 40000, 80, TCP_ACK)});
  EXPECT_EQ(rig.drain_sids(), std::vector<uint32_t>{1}) << "the first packet of the direction only";
  rig.slot.publish(load(dir, "alert ip 10.16.0.1 any -> any any (msg:\"host\"; sid:2;)\n", rig.slot.current(), 1,
                        "b.rules"));
  rig.send({tcp(c, s, 40000, 80, TCP_ACK), tcp(c, s, 40000, 80, TCP_ACK)});
  EXPECT_EQ(rig.drain_sids(), std::vector<uint32_t>{2}) << "once more on the open flow, under the new set";
}

TEST(Detect, ReloadSwitchesAtTheNextBurstAndKeepsFlowbits) {
  TempDir dir;
  {
    auto alone = load(dir, kNewRules, nullptr, 1, "alone.rules");
    EXPECT_EQ(alone->set->flowbit_names(), (std::vector<std::string>{"other", "logged_in"}));
  }
  Rig rig(load(dir, kOldRules, nullptr, 1, "old.rules"));
  const char *c = "10.15.0.1", *s = "10.15.0.2";
  rig.send({tcp(c, s, 40000, 21, TCP_PSH | TCP_ACK, "login bob"), tcp(c, s, 40000, 21, TCP_PSH | TCP_ACK, "old new cmd")});
  EXPECT_EQ(rig.drain_sids(), std::vector<uint32_t>{1});
  EXPECT_EQ(rig.stats().rule_swaps.get(), 0u);

  auto next = load(dir, kNewRules, rig.slot.current(), 1, "new.rules");
  EXPECT_EQ(next->set->flowbit_names(), (std::vector<std::string>{"logged_in", "other"}));
  const uint64_t old_gen = rig.slot.generation();
  rig.slot.publish(std::move(next));
  EXPECT_EQ(rig.slot.generation(), old_gen + 1);
  EXPECT_EQ(rig.stats().rule_swaps.get(), 0u) << "the worker switches at a burst, not at publish";

  rig.send({tcp(c, s, 40000, 21, TCP_PSH | TCP_ACK, "old new cmd"), tcp(c, s, 40001, 21, TCP_PSH | TCP_ACK, "cmd")});
  EXPECT_EQ(rig.stats().rule_swaps.get(), 1u);
  auto sids = rig.drain_sids();
  std::sort(sids.begin(), sids.end());
  // sid 4 sees the bit set under the old rules; the other flow never set it.
  EXPECT_EQ(sids, (std::vector<uint32_t>{2, 4}));
  rig.send1(tcp(c, s, 40000, 21, TCP_PSH | TCP_ACK, "new"));
  EXPECT_EQ(rig.stats().rule_swaps.get(), 1u);
  EXPECT_EQ(rig.drain_sids(), std::vector<uint32_t>{2});
  // The matcher's counters span both rule sets: 1 match before the reload
  // (sid 1), 3 after (sids 2 and 4, then 2), plus the noalert setters that
  // matched (login under the old set).
  const MatchCounters m = rig.worker->detect()->match_counters();
  EXPECT_GE(m.matches, 4u);
  EXPECT_GE(m.scans, 5u) << "every payload packet was scanned, before and after the swap";
}

TEST(Detect, OldSnapshotLivesWhileItsAlertsAreInFlight) {
  TempDir dir;
  // Two workers on the slot; only worker 0 runs packets.
  Rig rig(load(dir, kOldRules, nullptr, 2, "old.rules"), {}, 0, 2);
  const char *c = "10.16.0.1", *s = "10.16.0.2";
  rig.send1(tcp(c, s, 40000, 21, TCP_PSH | TCP_ACK, "old"));
  rig.slot.acquire(1, nullptr);  // worker 1 is on the same snapshot
  const RuleSnapshot* old_snap = rig.slot.current();
  EXPECT_EQ(old_snap->alerts_in_flight.load(), 1u);
  EXPECT_EQ(rig.slot.collect(), 0u) << "the initial empty snapshot is no longer used";

  rig.slot.publish(load(dir, kNewRules, old_snap, 2, "new.rules"));
  EXPECT_EQ(rig.slot.collect(), 1u) << "no worker has moved yet";

  rig.send1(tcp(c, s, 40000, 21, TCP_PSH | TCP_ACK, "old new"));  // worker 0 moves
  rig.slot.acquire(1, old_snap);                                  // worker 1 moves
  EXPECT_EQ(rig.stats().rule_swaps.get(), 1u);
  // Every worker has moved, but an alert still points into the old set.
  EXPECT_EQ(rig.slot.collect(), 1u);
  EXPECT_EQ(old_snap->alerts_in_flight.load(), 1u);
  EXPECT_EQ(rig.slot.current()->alerts_in_flight.load(), 1u);

  auto alerts = rig.drain(/*keep_in_flight=*/true);
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[0].in_flight, &old_snap->alerts_in_flight);
  EXPECT_EQ(alerts[0].meta->sid, 1u);
  EXPECT_EQ(alerts[0].meta->signature, "old");  // still readable: the snapshot is alive
  EXPECT_EQ(alerts[1].in_flight, &rig.slot.current()->alerts_in_flight);
  EXPECT_EQ(alerts[1].meta->sid, 2u);
  EXPECT_EQ(rig.slot.collect(), 1u) << "popped but not yet counted out";
  alerts[0].in_flight->fetch_sub(1);  // the export loop is done with it
  EXPECT_EQ(rig.slot.collect(), 0u);
  alerts[1].in_flight->fetch_sub(1);
}

TEST(Detect, ASlowWorkerHoldsTheOldSnapshotUntilItQuiesces) {
  TempDir dir;
  Rig rig(load(dir, kOldRules, nullptr, 2, "old.rules"), {}, 0, 2);
  rig.send1(udp("10.17.0.1", "10.17.0.2", 1, 2, "x"));
  rig.slot.acquire(1, nullptr);
  const RuleSnapshot* old_snap = rig.slot.current();
  rig.slot.publish(load(dir, kNewRules, old_snap, 2, "new.rules"));
  rig.send1(udp("10.17.0.1", "10.17.0.2", 1, 2, "y"));  // worker 0 moves, no alerts anywhere
  EXPECT_EQ(old_snap->alerts_in_flight.load(), 0u);
  EXPECT_EQ(rig.slot.collect(), 1u) << "worker 1 still uses the old rules";
  rig.slot.quiesce(1);
  EXPECT_EQ(rig.slot.collect(), 0u);
}

// Counts the alerts it is given and what their snapshot's in-flight count
// was at that moment.
class AlertTap final : public Exporter {
 public:
  void export_flows(std::span<const FlowRecord>, uint64_t) override {}
  void export_alerts(std::span<const AlertRecord> alerts, uint64_t) override {
    for (const AlertRecord& a : alerts) {
      sids.push_back(a.meta->sid);
      in_flight_seen.push_back(a.in_flight ? a.in_flight->load() : 0);
    }
  }
  void tick(uint64_t, bool) override {}
  ExporterStats stats() const override { return {}; }
  const std::string& name() const override { return name_; }
  std::vector<uint32_t> sids;
  std::vector<uint64_t> in_flight_seen;

 private:
  std::string name_ = "tap";
};

TEST(Detect, ExportLoopReleasesTheOldSnapshotAfterEveryExporter) {
  TempDir dir;
  Rig rig(load(dir, kOldRules, nullptr, 1, "old.rules"));
  const char *c = "10.18.0.1", *s = "10.18.0.2";
  rig.send({tcp(c, s, 40000, 21, TCP_PSH | TCP_ACK, "old"), tcp(c, s, 40000, 21, TCP_PSH | TCP_ACK, "old")});
  const RuleSnapshot* old_snap = rig.slot.current();
  rig.slot.publish(load(dir, kNewRules, old_snap, 1, "new.rules"));
  rig.send1(tcp(c, s, 40000, 21, TCP_PSH | TCP_ACK, "new"));
  EXPECT_EQ(rig.slot.collect(), 1u) << "two alerts of the old rules are waiting for export";
  EXPECT_EQ(old_snap->alerts_in_flight.load(), 2u);

  AlertTap first, second;
  ExportLoop loop({&rig.worker->records()}, {&first, &second}, /*packet_clock=*/true, {rig.worker->alerts()});
  loop.run([] { return true; });
  EXPECT_EQ(loop.alerts(), 3u);
  EXPECT_EQ(first.sids, (std::vector<uint32_t>{1, 1, 2}));
  EXPECT_EQ(second.sids, first.sids);
  // Both exporters saw the alerts before they were counted out.
  EXPECT_EQ(first.in_flight_seen, (std::vector<uint64_t>{2, 2, 1}));
  EXPECT_EQ(second.in_flight_seen, first.in_flight_seen);
  EXPECT_EQ(rig.slot.current()->alerts_in_flight.load(), 0u);
  EXPECT_EQ(rig.slot.collect(), 0u);
}

// Long alert packets: the export loop gives their bytes back once every
// exporter has seen them, so a worker logging long packets keeps logging
// them whole, however many go by.
TEST(Detect, ExportLoopGivesLongPacketBytesBack) {
  TempDir dir;
  DetectOptions d;
  d.packet = true;
  Rig rig(load(dir, "alert tcp any any -> any any (msg:\"x\"; content:\"jumbo\"; sid:1;)\n"), d);
  const Bytes big = Builder().eth().ipv4("10.19.0.1", "10.19.0.2").tcp(1000, 80, TCP_PSH | TCP_ACK)
                        .payload("jumbo" + std::string(9000, 'x')).build();
  AlertTap tap;
  ExportLoop loop({&rig.worker->records()}, {&tap}, /*packet_clock=*/true, {rig.worker->alerts()});
  const size_t n = 3 * AlertBytes::kDefaultCapacity / big.size();
  for (size_t i = 0; i < n; ++i) {
    rig.send1(big);
    loop.run([] { return true; });
  }
  EXPECT_EQ(tap.sids.size(), n);
  EXPECT_EQ(rig.stats().alert_bytes_cut.get(), 0u) << "three times the buffer went through, none cut";
}

}  // namespace
}  // namespace ws

// ---------------------------------------------------------------- stream

namespace ws {
namespace {

Bytes tcp_seq(const char* src, const char* dst, uint16_t sp, uint16_t dp, uint32_t seq, std::string_view data) {
  Builder b;
  pktgen::TcpOpts o;
  o.seq = seq;
  o.ack = 1;
  b.eth().ipv4(src, dst).tcp(sp, dp, TCP_PSH | TCP_ACK, o);
  if (!data.empty()) b.payload(data);
  return b.build();
}

// A handshake, then the client's data segments at the given sequence numbers.
// A TCP handshake from c:40000 to s:80.
void handshake(Rig& rig, const char* c, const char* s) {
  rig.send({tcp(c, s, 40000, 80, TCP_SYN), tcp(s, c, 80, 40000, TCP_SYN | TCP_ACK), tcp(c, s, 40000, 80, TCP_ACK)});
}

struct StreamCase {
  const char* name;
  std::vector<std::pair<uint32_t, std::string>> segments;  // (seq, data) from the client
  std::vector<uint32_t> want_sids;                        // alerts in order
  uint64_t want_stream_matches;
};

class StreamCheck : public ::testing::TestWithParam<StreamCase> {};

TEST_P(StreamCheck, ContentAcrossSegments) {
  const StreamCase& tc = GetParam();
  TempDir dir;
  Rig rig(load(dir,
               "alert tcp any any -> any any (msg:\"floating\"; content:\"attack\"; sid:1;)\n"
               "alert tcp-pkt any any -> any any (msg:\"packet only\"; content:\"attack\"; sid:2;)\n"
               "alert tcp any any -> any any (msg:\"anchored\"; content:\"attack\"; depth:20; sid:3;)\n"
               "alert tcp any any -> any any (msg:\"two parts\"; content:\"evil\"; content:\"plan\"; distance:0; sid:4;)\n"));
  const char *c = "10.30.0.1", *s = "10.30.0.2";
  handshake(rig, c, s);
  for (const auto& [seq, data] : tc.segments) rig.send1(tcp_seq(c, s, 40000, 80, seq, data));
  EXPECT_EQ(rig.drain_sids(), tc.want_sids) << tc.name;
  EXPECT_EQ(rig.stats().stream_matches.get(), tc.want_stream_matches) << tc.name;
}

INSTANTIATE_TEST_SUITE_P(
    Detect, StreamCheck,
    ::testing::Values(
        // "att" + "ack": only the floating rule, on the second segment, from the join.
        StreamCase{"split", {{1, "xxxxxxxxxxatt"}, {14, "ackyyyy"}}, {1}, 1},
        // Inside one segment: all three packet matches, and the next
        // segment's join finds nothing new.
        StreamCase{"whole", {{1, "an attack here"}, {15, "more"}}, {1, 2, 3}, 0},
        // A gap between the parts: no join.
        StreamCase{"gap", {{1, "xxxxxxxxxxatt"}, {20, "ackyyyy"}}, {}, 0},
        // The first part sent twice (a retransmission) changes nothing.
        StreamCase{"retransmit", {{1, "xxxxxxxxxxatt"}, {1, "xxxxxxxxxxatt"}, {14, "ackyyyy"}}, {1}, 1},
        // Out of order: the second part first, then the first: no join
        // (the stream check follows in-order data only).
        StreamCase{"reordered", {{14, "ackyyyy"}, {1, "xxxxxxxxxxatt"}}, {}, 0},
        // A relative second content across the join.
        StreamCase{"distance", {{1, "the evil p"}, {11, "lan"}}, {4}, 1},
        // The split again, but the join is found only once even when more
        // in-order data follows.
        StreamCase{"once", {{1, "xxxxxxxxxxatt"}, {14, "ackyyyy"}, {21, "zzzz"}}, {1}, 1}),
    [](const auto& info) { return std::string(info.param.name); });

// Outside inline mode a stream's data is held until Suricata would
// inspect it: at its chunk size, when the session closes, at the flow's end.
struct Got {
  uint32_t sid;
  bool stream;
  uint8_t pkt_src;
  std::string payload;
  bool operator==(const Got&) const = default;
};
std::ostream& operator<<(std::ostream& o, const Got& g) {
  return o << "{sid " << g.sid << (g.stream ? " stream" : " packet") << " src " << int(g.pkt_src) << " \""
           << g.payload << "\"}";
}
std::vector<Got> got_of(const std::vector<AlertRecord>& alerts) {
  std::vector<Got> got;
  for (const AlertRecord& a : alerts)
    got.push_back({a.meta->sid, a.stream, a.pkt_src,
                   std::string(reinterpret_cast<const char*>(a.payload()), a.payload_len)});
  return got;
}
constexpr uint8_t kTimeout = static_cast<uint8_t>(PktSrc::kStreamTimeout);

// Ends every flow of the rig by idle timeout: an unrelated packet an hour later.
void time_out(Rig& rig) {
  rig.t += 3600 * kSec;
  rig.send1(udp("10.99.0.1", "10.99.0.2", 1, 2));
}

DetectOptions with_payload() {
  DetectOptions d;
  d.payload = true;
  return d;
}

TEST(Detect, StreamRulesSeeHeldStreamDataAtFlowEnd) {
  TempDir dir;
  Rig rig(load(dir,
               "alert tcp any any -> any any (msg:\"stream\"; flow:only_stream; content:\"secret\"; sid:7;)\n"
               "alert tcp-stream any any -> any any (msg:\"stream proto\"; content:\"secret\"; sid:8;)\n"
               "alert tcp any any -> any any (msg:\"no stream\"; flow:no_stream; content:\"secret\"; sid:9;)\n"
               "alert tcp any any -> any any (msg:\"anchored\"; content:\"a sec\"; depth:5; sid:10;)\n"
               "alert tcp any any -> any any (msg:\"floating\"; content:\"then\"; sid:11;)\n"),
          with_payload());
  const char *c = "10.31.0.1", *s = "10.31.0.2";
  handshake(rig, c, s);
  rig.send1(tcp_seq(c, s, 40000, 80, 1, "a secret"));
  const uint64_t last = rig.send1(tcp_seq(c, s, 40000, 80, 9, "then more"));
  // The packets: the packet rules, and the rules Suricata inspects on the
  // packet as well as on the stream (sid 10: a content with depth; sid 11:
  // on the packet here, where Suricata would find it in the stream).
  EXPECT_EQ(got_of(rig.drain()), (std::vector<Got>{{9, false, 0, "a secret"}, {10, false, 0, "a secret"},
                                                   {11, false, 0, "then more"}}));
  // The flow ends: its held data is inspected once, as one stream.
  time_out(rig);
  auto alerts = rig.drain();
  EXPECT_EQ(got_of(alerts), (std::vector<Got>{{7, true, kTimeout, "a secretthen more"},
                                             {8, true, kTimeout, "a secretthen more"},
                                             {10, true, kTimeout, "a secretthen more"}}));
  ASSERT_EQ(alerts.size(), 3u);
  EXPECT_TRUE(alerts[0].to_server);
  EXPECT_EQ(alerts[0].ts_ns, last);  // the flow's last packet
  EXPECT_EQ(alerts[0].pkt.sport, 40000);  // the client's stream
  EXPECT_EQ(alerts[0].pcap_cnt, 0u);
  EXPECT_EQ(rig.stats().stream_flow_end_inspections.get(), 1u);
  EXPECT_EQ(rig.stats().stream_inspections.get(), 1u);
}

TEST(Detect, HeldStreamGapsSplitTheMatchAndShowInThePayload) {
  TempDir dir;
  Rig rig(load(dir,
               "alert tcp-stream any any -> any any (content:\"VERY\"; sid:1;)\n"
               "alert tcp-stream any any -> any any (content:\"DATA\"; sid:3;)\n"
               "alert tcp-stream any any -> any any (content:\"VERYDATA\"; sid:7;)\n"),
          with_payload());
  const char *c = "10.32.0.1", *s = "10.32.0.2";
  handshake(rig, c, s);
  rig.send1(tcp_seq(c, s, 40000, 80, 1, "VERY"));
  rig.send1(tcp_seq(c, s, 40000, 80, 9, "DATA"));  // bytes 5..8 never seen
  EXPECT_TRUE(rig.drain().empty());
  time_out(rig);
  EXPECT_EQ(got_of(rig.drain()), (std::vector<Got>{{1, true, kTimeout, "VERY[4 bytes missing]DATA"},
                                                   {3, true, kTimeout, "VERY[4 bytes missing]DATA"}}));
}

TEST(Detect, HeldStreamIsInspectedAtItsChunkSize) {
  TempDir dir;
  DetectOptions d = with_payload();
  d.packet = true;
  d.stream_chunk_size = 16;
  Rig rig(load(dir, "alert tcp-stream any any -> any any (content:\"89ab\"; sid:1;)\n"), d);
  const char *c = "10.33.0.1", *s = "10.33.0.2";
  handshake(rig, c, s);
  rig.send1(tcp_seq(c, s, 40000, 80, 1, "0123456789"));
  EXPECT_TRUE(rig.drain().empty());  // 10 bytes held
  const Bytes second = tcp_seq(c, s, 40000, 80, 11, "abcdefghij");
  const uint64_t t2 = rig.send1(second);  // 20 held: inspected on this packet
  auto alerts = rig.drain();
  EXPECT_EQ(got_of(alerts), (std::vector<Got>{{1, true, 0, "0123456789abcdefghij"}}));
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].ts_ns, t2);
  // The packet is the one the inspection ran on, the payload the stream.
  ASSERT_EQ(alerts[0].packet_len, second.size());
  EXPECT_EQ(0, std::memcmp(alerts[0].packet_data(), second.data(), second.size()));
  EXPECT_EQ(alerts[0].payload_off, second.size());
  // Nothing is left for the flow's end.
  time_out(rig);
  EXPECT_TRUE(rig.drain().empty());
  EXPECT_EQ(rig.stats().stream_inspections.get(), 1u);
}

TEST(Detect, HeldStreamIsInspectedWhenTheSessionCloses) {
  TempDir dir;
  Rig rig(load(dir, "alert tcp-stream any any -> any any (content:\"secret\"; sid:1;)\n"), with_payload());
  const char *c = "10.34.0.1", *s = "10.34.0.2";
  handshake(rig, c, s);
  rig.send1(tcp_seq(c, s, 40000, 80, 1, "the secret"));
  EXPECT_TRUE(rig.drain().empty());
  const uint64_t rst = rig.send1(tcp(c, s, 40000, 80, TCP_RST));
  auto alerts = rig.drain();
  EXPECT_EQ(got_of(alerts), (std::vector<Got>{{1, true, 0, "the secret"}}));
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].ts_ns, rst);
}

TEST(Detect, StreamMemoryFullInspectsSegmentsAtOnce) {
  TempDir dir;
  DetectOptions d;
  d.stream_memcap = 256;  // one block: 248 bytes
  Rig rig(load(dir, "alert tcp-stream any any -> any any (content:\"secret\"; sid:1;)\n"), d);
  const char *c = "10.35.0.1", *s = "10.35.0.2";
  handshake(rig, c, s);
  rig.send1(tcp_seq(c, s, 40000, 80, 1, "the secret"));  // held
  EXPECT_TRUE(rig.drain_sids().empty());
  const std::string big = std::string(290, 'x') + "secret";
  rig.send1(tcp_seq(c, s, 40000, 80, 11, big));  // no room: the held data first, then this one alone
  EXPECT_EQ(rig.drain_sids(), (std::vector<uint32_t>{1, 1}));
  EXPECT_EQ(rig.stats().stream_memcap.get(), 1u);
  EXPECT_EQ(rig.stats().stream_inspections.get(), 1u);
}

TEST(Detect, InlineModeInspectsStreamSegmentsAtOnce) {
  TempDir dir;
  DetectOptions d;
  d.ips = true;
  Rig rig(load(dir, "alert tcp-stream any any -> any any (content:\"secret\"; sid:1;)\n"), d);
  const char *c = "10.36.0.1", *s = "10.36.0.2";
  handshake(rig, c, s);
  rig.send1(tcp_seq(c, s, 40000, 80, 1, "a secret"));
  auto alerts = rig.drain();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_TRUE(alerts[0].stream);
  EXPECT_EQ(alerts[0].pkt_src, 0);
  time_out(rig);
  EXPECT_TRUE(rig.drain().empty());
}

TEST(Detect, MidstreamSessionsAreHeldWhenStreamMidstreamIsOn) {
  TempDir dir;
  DetectOptions d;
  d.midstream = true;
  Rig rig(load(dir, "alert tcp any any -> any any (content:\"GET \"; depth:4; sid:4;)\n"), d);
  // One packet, no handshake (suricata-verify detect-bytetest-02): matched
  // on the packet, and again as the stream at the flow's end.
  rig.send1(tcp_seq("10.37.0.1", "10.37.0.2", 40000, 80, 1, "GET /index.html HTTP/1.0"));
  EXPECT_EQ(rig.drain_sids(), (std::vector<uint32_t>{4}));
  time_out(rig);
  EXPECT_EQ(rig.drain_sids(), (std::vector<uint32_t>{4}));
}

}  // namespace
}  // namespace ws
