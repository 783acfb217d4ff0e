// Inline (IPS) verdicts in the worker, as Suricata in IPS mode: a drop rule
// drops the matching packet and every later packet of its flow (counted,
// not inspected), its alert is "blocked"; reject is a drop with a reply;
// pass rules (first in action order) win over drop; outside inline mode
// drop and reject rules only alert ("allowed") and nothing is dropped.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "bench/pktgen/builder.h"
#include "dataplane/worker.h"

namespace ws {
namespace {

using pktgen::Builder;
using pktgen::Bytes;
using pktgen::TCP_ACK;
using pktgen::TCP_PSH;
using pktgen::TCP_SYN;

constexpr uint64_t kT0 = 1'700'000'000ull * 1'000'000'000ull;

struct Rig {
  explicit Rig(const std::string& rules, bool ips, ExceptionPolicy midstream = ExceptionPolicy::kIgnore,
               const ActionOrder& order = kDefaultActionOrder)
      : slot(1) {
    std::string tmpl = ::testing::TempDir() + "/ws_ips_XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir = tmpl;
    std::ofstream(dir + "/r.rules") << rules;
    RuleLoadOptions o;
    o.files = {dir + "/r.rules"};
    o.workers = 1;
    o.action_order = order;
    auto snap = load_rule_snapshot(o, nullptr);
    EXPECT_EQ(snap->report.failed, 0u) << (snap->report.errors.empty() ? "" : snap->report.errors.front().str());
    slot.publish(std::move(snap));
    WorkerConfig c;
    c.flows.capacity = 256;
    c.record_ring_size = 256;
    c.rules = &slot;
    c.detect.ips = ips;
    c.detect.midstream_policy = midstream;
    worker = std::make_unique<Worker>(0, c);
  }
  ~Rig() {
    drain();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  // One burst; the verdict of each frame.
  std::vector<Verdict> send(const std::vector<Bytes>& frames) {
    std::vector<Packet> pk(frames.size());
    std::vector<Decoded> dec(frames.size());
    std::vector<const Packet*> pp;
    std::vector<const Decoded*> dp;
    for (size_t i = 0; i < frames.size(); ++i) {
      t += 1'000'000;
      pk[i].data = frames[i].data();
      pk[i].caplen = pk[i].wirelen = static_cast<uint32_t>(frames[i].size());
      pk[i].ts_ns = t;
      EXPECT_TRUE(decoder.decode(pk[i], dec[i]));
      pp.push_back(&pk[i]);
      dp.push_back(&dec[i]);
    }
    std::vector<Verdict> v(frames.size(), Verdict::kForward);
    worker->process(pp.data(), dp.data(), static_cast<int>(pp.size()), v.data());
    return v;
  }
  std::vector<AlertRecord> drain() {
    std::vector<AlertRecord> out;
    AlertRecord a;
    while (worker->alerts()->pop(&a, 1) == 1) {
      if (a.in_flight) a.in_flight->fetch_sub(1);
      out.push_back(a);
    }
    return out;
  }
  const DetectStats& stats() const { return worker->detect()->stats(); }

  std::string dir;
  RuleSlot slot;
  std::unique_ptr<Worker> worker;
  Decoder decoder;
  uint64_t t = kT0;
};

Bytes tcp(bool to_server, uint8_t flags, std::string_view data = {}, uint16_t cport = 40000) {
  Builder b;
  if (to_server)
    b.eth().ipv4("10.0.0.1", "10.0.0.2").tcp(cport, 80, flags);
  else
    b.eth().ipv4("10.0.0.2", "10.0.0.1").tcp(80, cport, flags);
  if (!data.empty()) b.payload(data);
  return b.build();
}

const std::vector<Bytes> kFlow = {
    tcp(true, TCP_SYN),                                // 0
    tcp(false, TCP_SYN | TCP_ACK),                     // 1
    tcp(true, TCP_ACK),                                // 2
    tcp(true, TCP_PSH | TCP_ACK, "GET /evil HTTP/1.0"),  // 3 matches
    tcp(false, TCP_PSH | TCP_ACK, "HTTP/1.0 200 OK"),  // 4 the reply
    tcp(true, TCP_ACK),                                // 5
};
const Bytes kOther = Builder().eth().ipv4("10.0.0.1", "10.0.0.3").tcp(40001, 80, TCP_SYN).build();

constexpr const char* kDrop = "drop tcp any any -> any 80 (msg:\"evil\"; content:\"evil\"; sid:10;)\n";

// A drop rule that matches a reassembled datagram drops the fragment that
// completed it (the host cannot put the datagram together without it); the
// fragments before it were forwarded.
TEST(Ips, DropOnAReassembledDatagramDropsItsLastFragment) {
  Rig rig("drop udp any any -> any 53 (msg:\"big\"; content:\"evil\"; sid:11;)\n", true);
  std::string data(2500, 'a');
  data.replace(1470, 4, "evil");  // split over the first two fragments
  const Bytes whole = Builder().eth().ipv4("10.0.0.1", "10.0.0.2", {.id = 9}).udp(1000, 53).payload(data).build();
  const auto frags = pktgen::fragment(whole, 14, 1480, 9);
  ASSERT_EQ(frags.size(), 2u);
  const auto v = rig.send({frags[0], frags[1]});
  EXPECT_EQ(v[0], Verdict::kForward);
  EXPECT_EQ(v[1], Verdict::kDrop);
  const auto alerts = rig.drain();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_TRUE(alerts[0].blocked);
  EXPECT_EQ(rig.worker->inline_stats().verdict_drops.get(), 1u);
  // A payload rule drops its packet, not the flow.
  const Bytes more = Builder().eth().ipv4("10.0.0.1", "10.0.0.2").udp(1000, 53).payload("x").build();
  EXPECT_EQ(rig.send({more})[0], Verdict::kForward);
}

// Suricata's action scope: a drop on the payload drops the packets that
// match (util-action-06: each of three packets with the content alerts and
// is dropped), not the flow.
TEST(Ips, MidstreamPolicyAsSuricataSettlesIt) {
  using P = ExceptionPolicy;
  // auto: drop-flow inline, ignore otherwise; the specific policy wins
  // over the master switch; drop policies need IPS and no stream.midstream.
  EXPECT_EQ(effective_midstream_policy(P::kAuto, P::kAuto, true, false), P::kDropFlow);
  EXPECT_EQ(effective_midstream_policy(P::kAuto, P::kAuto, false, false), P::kIgnore);
  EXPECT_EQ(effective_midstream_policy(P::kAuto, P::kBypass, true, false), P::kBypass);
  EXPECT_EQ(effective_midstream_policy(P::kPassFlow, P::kBypass, true, false), P::kPassFlow);
  EXPECT_EQ(effective_midstream_policy(P::kDropPacket, P::kAuto, false, false), P::kIgnore);
  EXPECT_EQ(effective_midstream_policy(P::kDropFlow, P::kAuto, true, true), P::kIgnore);
  EXPECT_EQ(effective_midstream_policy(P::kAuto, P::kBypass, false, true), P::kBypass);
  P p;
  for (const char* n : {"auto", "ignore", "pass-flow", "bypass", "drop-flow", "drop-packet", "reject"}) {
    ASSERT_TRUE(parse_exception_policy(n, &p)) << n;
    EXPECT_STREQ(exception_policy_name(p), n);
  }
  EXPECT_FALSE(parse_exception_policy("drop", &p));
}

// A session picked up mid-stream (no SYN, or its SYN/ACK first) gets the
// midstream policy: drop-flow (Suricata's auto inline) drops it whole,
// pass-flow lets it through uninspected; one that began with its SYN is
// inspected as usual.
TEST(Ips, MidstreamSessionsGetTheMidstreamPolicy) {
  const std::string rule = "alert tcp any any -> any 80 (msg:\"evil\"; content:\"evil\"; sid:21;)\n";
  const std::vector<Bytes> midstream = {tcp(false, TCP_SYN | TCP_ACK), tcp(true, TCP_ACK),
                                        tcp(true, TCP_PSH | TCP_ACK, "GET /evil HTTP/1.0")};
  for (const ExceptionPolicy pol : {ExceptionPolicy::kDropFlow, ExceptionPolicy::kPassFlow}) {
    SCOPED_TRACE(exception_policy_name(pol));
    Rig rig(rule, true, pol);
    const auto v = rig.send(midstream);
    for (size_t i = 0; i < v.size(); ++i)
      EXPECT_EQ(v[i], pol == ExceptionPolicy::kDropFlow ? Verdict::kDrop : Verdict::kForward) << i;
    EXPECT_TRUE(rig.drain().empty()) << "not inspected";
    if (pol == ExceptionPolicy::kDropFlow) {
      EXPECT_EQ(rig.stats().midstream_dropped.get(), 1u);
      EXPECT_EQ(rig.worker->inline_stats().flow_drops.get(), 2u);
    } else {
      EXPECT_EQ(rig.stats().midstream_passed.get(), 1u);
    }
    // A session that began with its SYN is inspected.
    const auto w = rig.send({tcp(true, TCP_SYN, "", 40002), tcp(true, TCP_PSH | TCP_ACK, "GET /evil", 40002)});
    EXPECT_EQ(w[0], Verdict::kForward);
    EXPECT_EQ(rig.drain().size(), 1u);
  }
}

TEST(Ips, PayloadDropDropsOnlyTheMatchingPacket) {
  Rig rig(kDrop, true);
  std::vector<Bytes> flow = kFlow;
  flow.push_back(tcp(true, TCP_PSH | TCP_ACK, "GET /evil HTTP/1.0"));  // 6: a retransmission
  const auto v = rig.send(flow);
  ASSERT_EQ(v.size(), 7u);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(v[i], i == 3 || i == 6 ? Verdict::kDrop : Verdict::kForward) << i;
  EXPECT_EQ(rig.drain().size(), 2u);
  EXPECT_EQ(rig.stats().ips_drops.get(), 2u);
  EXPECT_EQ(rig.worker->inline_stats().verdict_drops.get(), 2u);
  EXPECT_EQ(rig.worker->inline_stats().flow_drops.get(), 0u);
  EXPECT_EQ(rig.stats().inspected.get(), 7u);
}

// A drop on the header alone (Suricata's IP-only rules) drops the packet and
// every later packet of its flow, uninspected.
TEST(Ips, HeaderOnlyDropDropsThePacketAndTheRestOfItsFlow) {
  Rig rig("drop ip 10.0.0.2 any -> any any (msg:\"bad host\"; sid:10;)\n", true);
  const auto v = rig.send(kFlow);
  ASSERT_EQ(v.size(), 6u);
  EXPECT_EQ(v[0], Verdict::kForward);
  for (int i = 1; i < 6; ++i) EXPECT_EQ(v[i], Verdict::kDrop) << i;
  // Another flow is not touched.
  EXPECT_EQ(rig.send({kOther})[0], Verdict::kForward);
  const auto alerts = rig.drain();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_TRUE(alerts[0].blocked);
  EXPECT_EQ(alerts[0].meta->sid, 10u);
  EXPECT_EQ(rig.stats().ips_drops.get(), 1u);
  EXPECT_EQ(rig.worker->inline_stats().verdict_drops.get(), 1u);
  EXPECT_EQ(rig.worker->inline_stats().flow_drops.get(), 4u);
  // The dropped packets are not inspected: 2 of the flow + the other flow's one.
  EXPECT_EQ(rig.stats().inspected.get(), 3u);
}

TEST(Ips, RejectIsADropWithAReply) {
  Rig rig("reject tcp any any -> any 80 (msg:\"evil\"; content:\"evil\"; sid:11;)\n", true);
  const auto v = rig.send(kFlow);
  EXPECT_EQ(v[2], Verdict::kForward);
  EXPECT_EQ(v[3], Verdict::kReject);
  EXPECT_EQ(v[4], Verdict::kForward);  // a payload rule's scope is its packet
  const auto alerts = rig.drain();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_TRUE(alerts[0].blocked);
}

// Suricata's reject variants: each drops like reject; the verdict says who
// gets the reply (the sender, the destination, both).
TEST(Ips, RejectVariantsSayWhoGetsTheReply) {
  struct Case {
    const char* action;
    Verdict verdict;
  } cases[] = {
      {"rejectsrc", Verdict::kReject},
      {"rejectdst", Verdict::kRejectDst},
      {"rejectboth", Verdict::kRejectBoth},
  };
  for (const auto& c : cases) {
    Rig rig(std::string(c.action) + " tcp any any -> any 80 (msg:\"evil\"; content:\"evil\"; sid:16;)\n", true);
    const auto v = rig.send(kFlow);
    EXPECT_EQ(v[2], Verdict::kForward) << c.action;
    EXPECT_EQ(v[3], c.verdict) << c.action;
    EXPECT_EQ(v[4], Verdict::kForward) << c.action << ": a payload rule's scope is its packet";
    EXPECT_EQ(rig.worker->inline_stats().verdict_drops.get(), 1u) << c.action;
    const auto alerts = rig.drain();
    ASSERT_EQ(alerts.size(), 1u) << c.action;
    EXPECT_TRUE(alerts[0].blocked) << c.action;
    EXPECT_EQ(alerts[0].action, static_cast<uint8_t>(RuleAction::kReject)) << c.action;
  }
}

// Reject variants rank as reject: a drop rule (earlier in action order)
// wins over a rejectboth on the same packet, and a rejectboth over an alert.
TEST(Ips, RejectVariantsRankAsReject) {
  Rig rig(std::string("rejectboth tcp any any -> any 80 (msg:\"rb\"; content:\"evil\"; sid:17;)\n") + kDrop, true);
  EXPECT_EQ(rig.send(kFlow)[3], Verdict::kDrop) << "the drop ranks first: no reply";
  const auto alerts = rig.drain();
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[0].meta->sid, 10u);
  EXPECT_EQ(alerts[1].meta->sid, 17u);
  Rig rig2("alert tcp any any -> any 80 (msg:\"a\"; content:\"GET\"; sid:18;)\n"
           "rejectdst tcp any any -> any 80 (msg:\"rd\"; content:\"evil\"; sid:19;)\n",
           true);
  EXPECT_EQ(rig2.send(kFlow)[3], Verdict::kRejectDst);
  const auto a2 = rig2.drain();
  ASSERT_EQ(a2.size(), 2u);
  EXPECT_EQ(a2[0].meta->sid, 19u) << "the reject ranks before the alert";
  EXPECT_EQ(a2[1].meta->sid, 18u);
}

TEST(Ips, PassWinsOverDrop) {
  Rig rig(std::string(kDrop) + "pass tcp 10.0.0.1 any -> any any (msg:\"trusted\"; sid:12;)\n", true);
  for (Verdict v : rig.send(kFlow)) EXPECT_EQ(v, Verdict::kForward);
  EXPECT_TRUE(rig.drain().empty());
  EXPECT_EQ(rig.stats().ips_drops.get(), 0u);
}

// With action-order ranking drop before pass (suricata-verify
// util-action-16), a payload drop and a header-only (IP-only) pass both
// match: the packet stays dropped and the flow is not passed, so the drop
// keeps matching the flow's later packets.
TEST(Ips, PassRankedAfterADropDoesNotPassTheFlow) {
  const ActionOrder drop_first = {RuleAction::kDrop, RuleAction::kAlert, RuleAction::kReject, RuleAction::kPass};
  Rig rig(std::string(kDrop) + "pass tcp 10.0.0.1 any -> any any (msg:\"trusted\"; sid:12;)\n", true,
          ExceptionPolicy::kIgnore, drop_first);
  // The flow's first packet carries the content, as in util-action-16, so
  // the IP-only pass meets the drop on it.
  const std::vector<Bytes> flow = {
      tcp(true, TCP_PSH | TCP_ACK, "GET /evil HTTP/1.0"),
      tcp(false, TCP_PSH | TCP_ACK, "HTTP/1.0 200 OK"),
      tcp(true, TCP_PSH | TCP_ACK, "GET /evil HTTP/1.0"),
  };
  const auto v = rig.send(flow);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0], Verdict::kDrop);
  EXPECT_EQ(v[1], Verdict::kForward);
  EXPECT_EQ(v[2], Verdict::kDrop) << "the flow was not passed";
  const auto alerts = rig.drain();
  ASSERT_EQ(alerts.size(), 2u);
  for (const auto& a : alerts) EXPECT_EQ(a.meta->sid, 10u);
  EXPECT_EQ(rig.stats().ips_drops.get(), 2u);
}

TEST(Ips, RulesAfterADropStillAlert) {
  // An alert rule on the same content comes after the drop in Suricata's
  // action order; only a pass ends a packet's alerts, so it alerts too,
  // "allowed", on the dropped packet.
  Rig rig(std::string(kDrop) + "alert tcp any any -> any 80 (msg:\"seen\"; content:\"GET\"; sid:13;)\n", true);
  EXPECT_EQ(rig.send(kFlow)[3], Verdict::kDrop);
  const auto alerts = rig.drain();
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[0].meta->sid, 10u);
  EXPECT_TRUE(alerts[0].blocked);
  EXPECT_EQ(alerts[1].meta->sid, 13u);
  EXPECT_FALSE(alerts[1].blocked);
  EXPECT_EQ(rig.stats().ips_drops.get(), 1u);
}

TEST(Ips, NoalertDropStillDrops) {
  Rig rig("drop tcp any any -> any 80 (msg:\"quiet\"; content:\"evil\"; noalert; sid:14;)\n", true);
  EXPECT_EQ(rig.send(kFlow)[3], Verdict::kDrop);
  EXPECT_TRUE(rig.drain().empty());
}

TEST(Ips, OutsideInlineDropAndRejectOnlyAlert) {
  Rig rig(std::string(kDrop) + "reject tcp any any -> any 80 (msg:\"r\"; content:\"evil\"; sid:15;)\n" +
              "rejectdst tcp any any -> any 80 (msg:\"rd\"; content:\"evil\"; sid:20;)\n" +
              "rejectboth tcp any any -> any 80 (msg:\"rb\"; content:\"evil\"; sid:21;)\n",
          false);
  for (Verdict v : rig.send(kFlow)) EXPECT_EQ(v, Verdict::kForward);
  const auto alerts = rig.drain();
  ASSERT_EQ(alerts.size(), 4u);
  for (const AlertRecord& a : alerts) EXPECT_FALSE(a.blocked);
  EXPECT_EQ(rig.stats().ips_drops.get(), 0u);
}


// Traffic control on the inline path: after the rules, the worker's
// QosStage marks, polices and shapes what the rules let through. One burst
// has one clock, so police and shaper decisions within it are exact.
struct QosRig {
  explicit QosRig(const std::string& policy) : slot(1) {
    QosPolicy p;
    const std::string err = parse_qos_policy_text(policy, &p);
    EXPECT_EQ(err, "");
    slot.publish(build_qos_snapshot({{"p", p}}, nullptr, 1));
    WorkerConfig c;
    c.flows.capacity = 256;
    c.record_ring_size = 256;
    c.detect.ips = true;
    c.qos = &slot;
    worker = std::make_unique<Worker>(0, c);
  }
  std::vector<Verdict> send(std::vector<Bytes>& frames) {
    std::vector<Packet> pk(frames.size());
    std::vector<Decoded> dec(frames.size());
    std::vector<const Packet*> pp;
    std::vector<const Decoded*> dp;
    for (size_t i = 0; i < frames.size(); ++i) {
      pk[i].data = frames[i].data();
      pk[i].caplen = pk[i].wirelen = static_cast<uint32_t>(frames[i].size());
      pk[i].ts_ns = kT0 + i;
      EXPECT_TRUE(decoder.decode(pk[i], dec[i]));
      pp.push_back(&pk[i]);
      dp.push_back(&dec[i]);
    }
    std::vector<Verdict> v(frames.size(), Verdict::kForward);
    worker->process(pp.data(), dp.data(), static_cast<int>(pp.size()), v.data());
    return v;
  }
  QosSlot slot;
  std::unique_ptr<Worker> worker;
  Decoder decoder;
};

uint16_t ipv4_checksum(const uint8_t* ip) {
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += uint32_t(ip[i]) << 8 | ip[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

TEST(InlineQos, SetDscpRewritesForwardedFramesInPlace) {
  QosRig rig(R"({"classes": [{"name": "web", "match": {"proto": "tcp", "dst_port": 80}, "set_dscp": 46}]})");
  std::vector<Bytes> f = {tcp(true, TCP_SYN), tcp(false, TCP_SYN | TCP_ACK)};
  const auto v = rig.send(f);
  EXPECT_EQ(v[0], Verdict::kForward);
  EXPECT_EQ(v[1], Verdict::kForward);
  const uint8_t* ip = f[0].data() + 14;
  EXPECT_EQ(ip[1] >> 2, 46) << "the to-port-80 frame is marked EF";
  EXPECT_EQ(ipv4_checksum(ip), 0) << "and its header checksum still holds";
  EXPECT_EQ(f[1][14 + 1] >> 2, 0) << "the reply (port 80 is its source) is not";
}

TEST(InlineQos, PoliceDropsWhatExceedsAndCountsIt) {
  // 60-byte frames against a 100-byte committed burst: the first conforms,
  // the second exceeds (no excess burst), and exceed drops.
  QosRig rig(R"({"classes": [{"name": "c", "match": {"proto": "tcp"},
                 "police": {"cir_bps": 8000, "cbs_bytes": 100, "ebs_bytes": 0,
                            "exceed": "drop", "violate": "drop"}}]})");
  std::vector<Bytes> f = {tcp(true, TCP_SYN), tcp(true, TCP_ACK), tcp(true, TCP_ACK)};
  const auto v = rig.send(f);
  EXPECT_EQ(v[0], Verdict::kForward);
  EXPECT_EQ(v[1], Verdict::kQosDrop);
  EXPECT_EQ(v[2], Verdict::kQosDrop);
  EXPECT_EQ(rig.worker->inline_stats().qos_drops.get(), 2u);
  EXPECT_EQ(rig.worker->inline_stats().verdict_drops.get(), 0u) << "not a rule's drop";
}

TEST(InlineQos, ShaperQueuesWhatItCannotSendNow) {
  QosRig rig(R"({"classes": [{"name": "s", "match": {"proto": "tcp"},
                 "shape": {"rate_bps": 8000, "burst_bytes": 100}}]})");
  std::vector<Bytes> f = {tcp(true, TCP_SYN), tcp(true, TCP_ACK), tcp(true, TCP_ACK)};
  const auto v = rig.send(f);
  EXPECT_EQ(v[0], Verdict::kForward) << "within the burst: sent at once";
  EXPECT_EQ(v[1], Verdict::kQueued);
  EXPECT_EQ(v[2], Verdict::kQueued);
  EXPECT_EQ(rig.worker->inline_stats().qos_queued.get(), 2u);
  ASSERT_NE(rig.worker->qos(), nullptr);
  EXPECT_EQ(rig.worker->qos()->queued_frames(), 2u);
}

}  // namespace
}  // namespace ws
