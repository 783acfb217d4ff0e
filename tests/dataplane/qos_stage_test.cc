// QosStage: classification (first match per policy, app and direction),
// police actions and colour counters, DSCP set and remark, shaping through
// drain(), several policies, and snapshot updates that keep unrelated state
// and flush retired queues.
#include "dataplane/qos/stage.h"

#include <gtest/gtest.h>

#include "bench/pktgen/builder.h"

namespace ws {
namespace {

pktgen::Ipv4Opts tos_opts(uint8_t tos) {
  pktgen::Ipv4Opts o;
  o.tos = tos;
  return o;
}
pktgen::Ipv6Opts tclass_opts(uint8_t tclass, uint32_t flow_label = 0) {
  pktgen::Ipv6Opts o;
  o.tclass = tclass;
  o.flow_label = flow_label;
  return o;
}

using pktgen::Builder;

QosPolicy policy(const std::string& text) {
  QosPolicy p;
  const std::string e = parse_qos_policy_text(text, &p);
  EXPECT_EQ(e, "");
  return p;
}

struct Frame {
  std::vector<uint8_t> bytes;
  Decoded dec;
};

Frame make(Builder& b) {
  Frame f{b.build(), {}};
  Decoder d;
  Packet p{f.bytes.data(), uint32_t(f.bytes.size()), uint32_t(f.bytes.size()), 0};
  EXPECT_TRUE(d.decode(p, f.dec));
  return f;
}

Frame tcp(uint16_t sport, uint16_t dport, uint8_t tos = 0, size_t payload = 0) {
  Builder b;
  b.eth().ipv4("10.0.0.1", "10.0.0.2", tos_opts(tos)).tcp(sport, dport, pktgen::TCP_ACK).payload_fill(payload);
  return make(b);
}

Frame udp6(uint16_t sport, uint16_t dport, uint8_t tclass = 0) {
  Builder b;
  b.eth().vlan(30).ipv6("2001:db8::1", "2001:db8::2", tclass_opts(tclass)).udp(sport, dport);
  return make(b);
}

class QosStageTest : public ::testing::Test {
 protected:
  void install(std::map<std::string, QosPolicy> p) {
    policies_ = std::move(p);
    slot_.publish(build_qos_snapshot(policies_, slot_.current(), 1));
    stage_.begin_burst();
  }
  TcVerdict apply(Frame& f, std::string_view app = "", bool to_server = true, uint64_t now = 1'000'000'000) {
    return stage_.apply(f.bytes.data(), f.bytes.size(), f.dec, app, to_server, 1, now);
  }
  const QosClassTotals& totals(const std::string& policy, const std::string& cls) {
    stats_ = qos_stats(*slot_.current());
    for (const auto& t : stats_)
      if (t.policy == policy && t.cls == cls) return t;
    ADD_FAILURE() << "no class " << policy << "/" << cls;
    return stats_.at(0);
  }

  std::map<std::string, QosPolicy> policies_;
  QosSlot slot_{1};
  QosStage stage_{&slot_, 0};
  std::vector<QosClassTotals> stats_;
};

TEST_F(QosStageTest, NoPolicyPassesEverything) {
  stage_.begin_burst();
  Frame f = tcp(1, 2);
  EXPECT_EQ(apply(f), TcVerdict::kPass);
  EXPECT_EQ(stage_.stats().frames.get(), 0u);
}

TEST_F(QosStageTest, FirstMatchingClassWins) {
  install({{"p", policy(R"({"classes": [
      {"name": "iperf", "match": {"proto": "tcp", "dst_port": "5201-5202"}},
      {"name": "tcp", "match": {"proto": "tcp"}},
      {"name": "v6vlan", "match": {"src": "2001:db8::/64", "vlan": 30, "proto": "udp"}},
      {"name": "rest"}]})")}});
  Frame a = tcp(40000, 5202), b = tcp(40000, 80), c = udp6(5, 6), d = udp6(5, 6);
  d.dec.vlan[0] = 31;
  for (Frame* f : {&a, &b, &b, &c, &d, &d, &d}) EXPECT_EQ(apply(*f), TcVerdict::kPass);
  EXPECT_EQ(totals("p", "iperf").packets[0], 1u);
  EXPECT_EQ(totals("p", "tcp").packets[0], 2u);
  EXPECT_EQ(totals("p", "v6vlan").packets[0], 1u);
  EXPECT_EQ(totals("p", "rest").packets[0], 3u);
  EXPECT_EQ(totals("p", "iperf").bytes[0], a.bytes.size());
}

TEST_F(QosStageTest, AppAndDirection) {
  install({{"p", policy(R"({"classes": [
      {"name": "tls_up", "match": {"app": "tls", "direction": "to_server"}},
      {"name": "google", "match": {"app": "Google"}}]})")}});
  Frame f = tcp(40000, 443);
  apply(f, "TLS.Google", true);
  apply(f, "TLS", true);
  apply(f, "TLS.Google", false);  // not to_server: falls to the app part
  apply(f, "HTTP", true);         // no class
  apply(f, "", true);
  EXPECT_EQ(totals("p", "tls_up").packets[0], 2u);
  EXPECT_EQ(totals("p", "google").packets[0], 1u);
}

TEST_F(QosStageTest, TwoRatePoliceColoursAndActions) {
  // CIR 8000 bit/s = 1000 B/s with CBS 1000 and PIR 2000 B/s with PBS 2000:
  // at one instant, 1500 bytes of frames are green...
  install({{"p", policy(R"({"classes": [{"name": "c", "match": {"proto": "tcp"},
      "police": {"cir_bps": 8000, "cbs_bytes": 1000, "pir_bps": 16000, "pbs_bytes": 2000,
                 "exceed": "remark:10", "violate": "drop"}}]})")}});
  Frame f = tcp(1, 2, /*tos=*/0xb8 | 1, 500 - 54);  // 500-byte frames, DSCP 46, ECN 1
  ASSERT_EQ(f.bytes.size(), 500u);
  std::vector<TcVerdict> v;
  int dscps[4];
  for (int i = 0; i < 4; ++i) {
    Frame g = f;
    v.push_back(apply(g));
    dscps[i] = g.bytes[15];
  }
  Frame g = f;
  v.push_back(apply(g));
  // 2 green (Tc 1000), 2 yellow (Tp 2000 -> 0 with the greens), then red.
  EXPECT_EQ(v, (std::vector<TcVerdict>{TcVerdict::kPass, TcVerdict::kPass, TcVerdict::kPass, TcVerdict::kPass,
                                       TcVerdict::kDrop}));
  EXPECT_EQ(dscps[0], 0xb9);
  EXPECT_EQ(dscps[1], 0xb9);
  EXPECT_EQ(dscps[2], (10 << 2) | 1);  // remarked, ECN kept
  EXPECT_EQ(dscps[3], (10 << 2) | 1);
  const QosClassTotals& t = totals("p", "c");
  EXPECT_EQ(t.packets[0], 2u);
  EXPECT_EQ(t.packets[1], 2u);
  EXPECT_EQ(t.packets[2], 1u);
  EXPECT_EQ(t.bytes[2], 500u);
  EXPECT_EQ(t.police_drops, 1u);
  EXPECT_EQ(t.dscp_rewrites, 2u);
  EXPECT_TRUE(t.policed);
  EXPECT_EQ(stage_.stats().dscp_rewrites.get(), 2u);
}

TEST_F(QosStageTest, SetDscpV4AndV6) {
  install({{"p", policy(R"({"classes": [{"name": "ef", "set_dscp": 46}]})")}});
  Frame a = tcp(1, 2, 0x03), b = udp6(1, 2, 0x01);
  EXPECT_EQ(apply(a), TcVerdict::kPass);
  EXPECT_EQ(apply(b), TcVerdict::kPass);
  EXPECT_EQ(a.bytes[15], 0xbb);
  EXPECT_EQ(ipv4_header_checksum(a.bytes.data() + 14, 20), (a.bytes[24] << 8) | a.bytes[25]);
  // v6 behind a VLAN tag: version 6, class 0xb9.
  EXPECT_EQ(((b.bytes[18] & 0x0f) << 4) | (b.bytes[19] >> 4), 0xb9);
  // Already right: nothing written, nothing counted.
  Frame c = tcp(1, 2, 0xb8);
  apply(c);
  EXPECT_EQ(totals("p", "ef").dscp_rewrites, 2u);
}

TEST_F(QosStageTest, PoliciesInNameOrderDropFromAnyDrops) {
  install({{"b_mark", policy(R"({"classes": [{"name": "all", "set_dscp": 8}]})")},
           {"a_police", policy(R"({"classes": [{"name": "udp", "match": {"proto": "udp"},
               "police": {"cir_bps": 8000, "cbs_bytes": 1, "ebs_bytes": 0}}]})")},
           {"c_mark", policy(R"({"classes": [{"name": "all", "set_dscp": 16}]})")}});
  ASSERT_EQ(slot_.current()->policies[0].name, "a_police");
  Frame t = tcp(1, 2), u = udp6(1, 2);
  EXPECT_EQ(apply(t), TcVerdict::kPass);
  EXPECT_EQ(t.bytes[15] >> 2, 16);  // c_mark comes last
  EXPECT_EQ(apply(u), TcVerdict::kDrop);  // red at a_police: b and c never see it
  EXPECT_EQ(totals("a_police", "udp").packets[2], 1u);
  EXPECT_EQ(totals("b_mark", "all").packets[0], 1u);
  EXPECT_EQ(totals("c_mark", "all").packets[0], 1u);
}

TEST_F(QosStageTest, ShapeQueuesAndDrainReleasesInOrder) {
  // 8 Mbit/s = 1 byte per us, burst 1000, at most 3 frames waiting.
  install({{"s", policy(R"({"classes": [{"name": "q", "match": {"proto": "tcp"},
      "shape": {"rate_bps": 8000000, "burst_bytes": 1000, "queue_packets": 3}}]})")}});
  const uint64_t t0 = 5'000'000'000;
  std::vector<Frame> fs;
  for (uint16_t i = 0; i < 6; ++i) fs.push_back(tcp(1000 + i, 80, 0, 500 - 54));
  std::vector<TcVerdict> v;
  for (Frame& f : fs) v.push_back(apply(f, "", true, t0));
  EXPECT_EQ(v, (std::vector<TcVerdict>{TcVerdict::kPass, TcVerdict::kPass, TcVerdict::kQueued, TcVerdict::kQueued,
                                       TcVerdict::kQueued, TcVerdict::kDrop}));
  EXPECT_EQ(stage_.queued_frames(), 3u);
  EXPECT_EQ(stage_.next_due_ns(), t0 + 500'000);
  std::vector<uint16_t> sports;
  auto emit = [&](const uint8_t* d, uint32_t len, uint16_t port) {
    EXPECT_EQ(len, 500u);
    EXPECT_EQ(port, 1);
    sports.push_back(static_cast<uint16_t>((d[34] << 8) | d[35]));
  };
  EXPECT_EQ(stage_.drain(t0 + 499'999, emit), 0u);
  EXPECT_EQ(stage_.drain(t0 + 1'000'000, emit), 2u);
  EXPECT_EQ(stage_.drain(t0 + 2'000'000, emit), 1u);
  EXPECT_EQ(sports, (std::vector<uint16_t>{1002, 1003, 1004}));
  EXPECT_EQ(stage_.queued_frames(), 0u);
  EXPECT_EQ(stage_.next_due_ns(), UINT64_MAX);
  const QosClassTotals& t = totals("s", "q");
  EXPECT_EQ(t.queue_drops, 1u);
  EXPECT_EQ(t.packets[0], 6u);
  EXPECT_EQ(t.queued_frames, 0u);
}

// A frame whose outer tag the capture stripped (AF_PACKET inline) leaves
// with the tag back: a queued copy holds it, and the class counts the bytes
// that go on the wire.
TEST_F(QosStageTest, QueuedFrameKeepsItsStrippedVlanTag) {
  install({{"s", policy(R"({"classes": [{"name": "q", "match": {"proto": "tcp"},
      "shape": {"rate_bps": 8000000, "burst_bytes": 600}}]})")}});
  const uint64_t t0 = 5'000'000'000;
  Frame a = tcp(1000, 80, 0, 500 - 54), b = tcp(1001, 80, 0, 500 - 54);
  const uint32_t tag = uint32_t{kTpid8021Q} << 16 | 42;
  EXPECT_EQ(stage_.apply(a.bytes.data(), 500, a.dec, "", true, 1, t0, tag), TcVerdict::kPass);
  EXPECT_EQ(stage_.apply(b.bytes.data(), 500, b.dec, "", true, 1, t0, tag), TcVerdict::kQueued);
  std::vector<uint8_t> out;
  EXPECT_EQ(stage_.drain(t0 + 10'000'000, [&](const uint8_t* d, uint32_t len, uint16_t) { out.assign(d, d + len); }),
            1u);
  ASSERT_EQ(out.size(), 504u);
  EXPECT_EQ((std::vector<uint8_t>(out.begin() + 12, out.begin() + 16)), (std::vector<uint8_t>{0x81, 0x00, 0x00, 42}));
  EXPECT_TRUE(std::equal(b.bytes.begin() + 12, b.bytes.end(), out.begin() + 16));
  EXPECT_EQ(totals("s", "q").bytes[0], 1008u) << "two frames of 504 bytes on the wire";
}

TEST_F(QosStageTest, UpdateKeepsUnrelatedStateAndFlushesRetiredQueues) {
  const std::string police = R"({"classes": [{"name": "c",
      "police": {"cir_bps": 8000, "cbs_bytes": 1000, "ebs_bytes": 0}}]})";
  const std::string shape = R"({"classes": [{"name": "q", "match": {"proto": "udp"},
      "shape": {"rate_bps": 8000, "burst_bytes": 100}}]})";
  install({{"m", policy(police)}, {"s", policy(shape)}});
  Frame f = tcp(1, 2, 0, 600 - 54);
  EXPECT_EQ(apply(f), TcVerdict::kPass);  // Tc 1000 -> 400
  Frame u1 = udp6(1, 2), u2 = udp6(3, 4);
  EXPECT_EQ(apply(u1), TcVerdict::kPass);
  EXPECT_EQ(apply(u2), TcVerdict::kQueued);
  const QosSnapshot* first = slot_.current();

  // Changing the shape of s leaves m's meter: the next 600 bytes are still red.
  std::map<std::string, QosPolicy> next = policies_;
  next["s"] = policy(R"({"classes": [{"name": "q", "match": {"proto": "udp"},
      "shape": {"rate_bps": 16000, "burst_bytes": 100}}]})");
  install(next);
  EXPECT_EQ(apply(f), TcVerdict::kDrop);
  EXPECT_EQ(totals("m", "c").packets[0], 3u);  // f, u1, u2 (m matches everything)
  EXPECT_EQ(totals("m", "c").packets[2], 1u);
  // s's counters went on; its old queue is flushed at the next drain.
  EXPECT_EQ(totals("s", "q").packets[0], 2u);
  // The worker holds the first snapshot until it has flushed.
  EXPECT_EQ(slot_.collect(), 1u);
  std::vector<uint16_t> sent;
  EXPECT_EQ(stage_.drain(1'000'000'001, [&](const uint8_t* d, uint32_t, uint16_t) {
    sent.push_back(static_cast<uint16_t>((d[58] << 8) | d[59]));  // UDP sport after eth+vlan+ipv6
  }),
            1u);
  EXPECT_EQ(sent, std::vector<uint16_t>{3});
  EXPECT_EQ(stage_.stats().flushed.get(), 1u);
  EXPECT_EQ(slot_.collect(), 0u);
  EXPECT_NE(slot_.current(), first);

  // Deleting m: its counters go with it; s is untouched.
  next.erase("m");
  install(next);
  EXPECT_EQ(slot_.current()->policies.size(), 1u);
  EXPECT_EQ(totals("s", "q").packets[0], 2u);
}

// Two updates before the worker drains: the frames of the first retired
// shaper are still flushed, and the worker holds the oldest snapshot until then.
TEST_F(QosStageTest, FlushSurvivesASecondUpdateBeforeDrain) {
  const std::string slow = R"({"classes": [{"name": "q", "shape": {"rate_bps": 8000, "burst_bytes": 1}}]})";
  install({{"s", policy(slow)}});
  Frame a = tcp(1, 2), b = tcp(3, 4), c = tcp(5, 6);
  EXPECT_EQ(apply(a), TcVerdict::kPass);
  EXPECT_EQ(apply(b), TcVerdict::kQueued);
  EXPECT_EQ(apply(c), TcVerdict::kQueued);
  install({{"s", policy(R"({"classes": [{"name": "q", "shape": {"rate_bps": 16000, "burst_bytes": 1}}]})")}});
  EXPECT_EQ(apply(a), TcVerdict::kPass);  // the new shaper's bucket is full
  EXPECT_EQ(apply(b), TcVerdict::kQueued);
  install({});
  EXPECT_EQ(stage_.next_due_ns(), 0u);  // a flush is due
  EXPECT_GE(slot_.collect(), 2u);
  std::vector<uint16_t> sports;
  stage_.drain(1'000'000'000, [&](const uint8_t* d, uint32_t, uint16_t) {
    sports.push_back(static_cast<uint16_t>((d[34] << 8) | d[35]));
  });
  EXPECT_EQ(sports, (std::vector<uint16_t>{3, 5, 3}));
  EXPECT_EQ(stage_.stats().flushed.get(), 3u);
  EXPECT_EQ(slot_.collect(), 0u);
  EXPECT_EQ(stage_.queued_frames(), 0u);
}

// Each worker counts on its own line; qos_stats sums them.
TEST(QosStageWorkers, StatsSumOverWorkers) {
  QosSlot slot(2);
  std::map<std::string, QosPolicy> p{{"p", policy(R"({"classes": [{"name": "all"}]})")}};
  slot.publish(build_qos_snapshot(p, slot.current(), 2));
  QosStage w0(&slot, 0), w1(&slot, 1);
  w0.begin_burst();
  w1.begin_burst();
  Frame f = tcp(1, 2);
  w0.apply(f.bytes.data(), f.bytes.size(), f.dec, "", true, 0, 1);
  w1.apply(f.bytes.data(), f.bytes.size(), f.dec, "", true, 0, 1);
  w1.apply(f.bytes.data(), f.bytes.size(), f.dec, "", true, 0, 1);
  const auto t = qos_stats(*slot.current());
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].packets[0], 3u);
  EXPECT_EQ(t[0].bytes[0], 3 * f.bytes.size());
  EXPECT_EQ(slot.current()->policies[0].classes[0].counters->w[0].packets[0].get(), 1u);
  EXPECT_EQ(slot.current()->policies[0].classes[0].counters->w[1].packets[0].get(), 2u);
}

TEST_F(QosStageTest, SnapshotsFreedOnlyAfterEveryWorkerMoved) {
  QosSlot slot(2);
  QosStage w0(&slot, 0), w1(&slot, 1);
  w0.begin_burst();
  w1.begin_burst();
  std::map<std::string, QosPolicy> p{{"a", policy(R"({"classes": [{"name": "x"}]})")}};
  slot.publish(build_qos_snapshot(p, slot.current(), 2));
  EXPECT_EQ(slot.collect(), 1u);
  w0.begin_burst();
  EXPECT_EQ(slot.collect(), 1u);
  w1.begin_burst();
  EXPECT_EQ(slot.collect(), 0u);
  w1.quiesce();
  slot.publish(build_qos_snapshot({}, slot.current(), 2));
  EXPECT_EQ(slot.collect(), 1u);  // w0 still on the old one
  w0.begin_burst();
  EXPECT_EQ(slot.collect(), 0u);
}

}  // namespace
}  // namespace ws
