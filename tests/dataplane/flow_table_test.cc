#include "dataplane/flow_table.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "bench/pktgen/builder.h"
#include "dataplane/decode.h"

namespace ws {
namespace {

using pktgen::Builder;
using pktgen::Bytes;

constexpr uint64_t kSec = 1'000'000'000ull;
constexpr uint64_t kT0 = 1'700'000'000ull * kSec;

struct Sink : RecordSink {
  std::vector<FlowRecord> recs;
  void put(const FlowRecord& r) override { recs.push_back(r); }
};

// Decodes a frame and feeds it to the table at time t.
struct Feeder {
  FlowTable& table;
  Decoder dec;
  FlowEntry* feed(const Bytes& f, uint64_t t) {
    Packet p;
    p.data = f.data();
    p.caplen = p.wirelen = static_cast<uint32_t>(f.size());
    p.ts_ns = t;
    Decoded d;
    EXPECT_TRUE(dec.decode(p, d));
    FlowEntry* e = table.update(p, d);
    table.advance(t);
    return e;
  }
};

Bytes tcp(const char* s, const char* d, uint16_t sp, uint16_t dp, uint8_t flags, size_t payload = 0) {
  return Builder().eth().ipv4(s, d).tcp(sp, dp, flags).payload_fill(payload).build();
}
Bytes udp(const char* s, const char* d, uint16_t sp, uint16_t dp, size_t payload = 0, int vlan = -1) {
  Builder b;
  b.eth();
  if (vlan >= 0) b.vlan(static_cast<uint16_t>(vlan));
  return b.ipv4(s, d).udp(sp, dp).payload_fill(payload).build();
}

std::string src_of(const FlowRecord& r) {
  char buf[64];
  inet_ntop(r.key.family == 4 ? AF_INET : AF_INET6, r.key.src, buf, sizeof buf);
  return buf;
}

TEST(FlowTable, BothDirectionsAreOneFlowAndTheFirstSenderIsTheClient) {
  Sink sink;
  FlowTable t(FlowTableConfig{.capacity = 1024}, &sink);
  Feeder f{t, Decoder{}};
  const Bytes q = udp("10.0.0.2", "10.0.0.1", 5353, 53, 10);
  const Bytes a = udp("10.0.0.1", "10.0.0.2", 53, 5353, 100);
  f.feed(q, kT0);
  f.feed(a, kT0 + kSec);
  f.feed(q, kT0 + 2 * kSec);
  EXPECT_EQ(t.active(), 1u);
  t.flush_all(FlowEndReason::kShutdown);
  ASSERT_EQ(sink.recs.size(), 1u);
  const FlowRecord& r = sink.recs[0];
  EXPECT_EQ(src_of(r), "10.0.0.2");
  EXPECT_EQ(r.key.sport, 5353);
  EXPECT_EQ(r.key.dport, 53);
  EXPECT_EQ(r.pkts[0], 2u);
  EXPECT_EQ(r.pkts[1], 1u);
  EXPECT_EQ(r.bytes[0], 2 * q.size());
  EXPECT_EQ(r.bytes[1], a.size());
  EXPECT_EQ(r.l3_bytes[0], 2u * (20 + 8 + 10));
  EXPECT_EQ(r.l3_bytes[1], 20u + 8 + 100);
  EXPECT_EQ(r.start_ns, kT0);
  EXPECT_EQ(r.end_ns, kT0 + 2 * kSec);
  EXPECT_EQ(r.dir_start_ns[1], kT0 + kSec);
  EXPECT_EQ(r.reason, FlowEndReason::kShutdown);
  EXPECT_EQ(r.state, FlowState::kEstablished);
  EXPECT_EQ(t.stats().flows_ended_shutdown.get(), 1u);
}

TEST(FlowTable, SynAckFirstMakesItsReceiverTheClient) {
  Sink sink;
  FlowTable t(FlowTableConfig{.capacity = 64}, &sink);
  Feeder f{t, Decoder{}};
  f.feed(tcp("10.0.0.1", "10.0.0.9", 80, 40000, 0x12), kT0);  // SYN/ACK from the server
  f.feed(tcp("10.0.0.9", "10.0.0.1", 40000, 80, 0x10), kT0 + 1);
  t.flush_all(FlowEndReason::kShutdown);
  ASSERT_EQ(sink.recs.size(), 1u);
  EXPECT_EQ(src_of(sink.recs[0]), "10.0.0.9");
  EXPECT_EQ(sink.recs[0].key.dport, 80);
  EXPECT_EQ(sink.recs[0].pkts[0], 1u);
  EXPECT_EQ(sink.recs[0].tcp_flags[1], 0x12);
}

TEST(FlowTable, LateSynStillNamesTheClient) {
  Sink sink;
  FlowTable t(FlowTableConfig{.capacity = 64}, &sink);
  Feeder f{t, Decoder{}};
  f.feed(tcp("10.0.0.1", "10.0.0.9", 80, 40000, 0x10), kT0);  // stray ACK from the server side
  f.feed(tcp("10.0.0.9", "10.0.0.1", 40000, 80, 0x02), kT0 + 1);  // then the SYN
  t.flush_all(FlowEndReason::kShutdown);
  ASSERT_EQ(sink.recs.size(), 1u);
  EXPECT_EQ(src_of(sink.recs[0]), "10.0.0.9");
}

TEST(FlowTable, TcpHandshakeAndCloseEndTheFlowAfterTheClosedTimeout) {
  Sink sink;
  FlowTableConfig cfg{.capacity = 64};
  cfg.tcp = {60, 600, 5};
  FlowTable t(cfg, &sink);
  Feeder f{t, Decoder{}};
  const char* c = "192.0.2.1";
  const char* s = "192.0.2.2";
  f.feed(tcp(c, s, 1000, 80, 0x02), kT0);
  f.feed(tcp(s, c, 80, 1000, 0x12), kT0 + 1);
  FlowEntry* e = f.feed(tcp(c, s, 1000, 80, 0x10), kT0 + 2);
  EXPECT_EQ(e->tcp_state, uint8_t(TcpState::kEstablished));
  f.feed(tcp(c, s, 1000, 80, 0x18, 100), kT0 + 3);
  f.feed(tcp(c, s, 1000, 80, 0x11), kT0 + 4);
  f.feed(tcp(s, c, 80, 1000, 0x11), kT0 + 5);
  e = f.feed(tcp(c, s, 1000, 80, 0x10), kT0 + 6);
  EXPECT_EQ(e->flow_state, uint8_t(FlowState::kClosed));
  EXPECT_TRUE(sink.recs.empty());
  t.advance(kT0 + 4 * kSec);
  EXPECT_TRUE(sink.recs.empty()) << "closed timeout is 5 s";
  t.advance(kT0 + 6 * kSec + 1);
  ASSERT_EQ(sink.recs.size(), 1u);
  EXPECT_EQ(sink.recs[0].reason, FlowEndReason::kEndOfFlow);
  EXPECT_EQ(sink.recs[0].state, FlowState::kClosed);
  EXPECT_EQ(sink.recs[0].pkts[0] + sink.recs[0].pkts[1], 7u);
  EXPECT_EQ(sink.recs[0].tcp_flags[0], 0x02 | 0x10 | 0x08 | 0x01);
  EXPECT_EQ(t.active(), 0u);
  EXPECT_EQ(t.stats().flows_ended_closed.get(), 1u);
}

TEST(FlowTable, RstClosesAndANewSynStartsANewFlow) {
  Sink sink;
  FlowTable t(FlowTableConfig{.capacity = 64}, &sink);
  Feeder f{t, Decoder{}};
  f.feed(tcp("10.1.1.1", "10.1.1.2", 3333, 22, 0x02), kT0);
  f.feed(tcp("10.1.1.2", "10.1.1.1", 22, 3333, 0x14), kT0 + 1);
  EXPECT_TRUE(sink.recs.empty());
  f.feed(tcp("10.1.1.1", "10.1.1.2", 3333, 22, 0x02), kT0 + 2 * kSec);
  ASSERT_EQ(sink.recs.size(), 1u);
  EXPECT_EQ(sink.recs[0].reason, FlowEndReason::kEndOfFlow);
  EXPECT_EQ(sink.recs[0].tcp_state, TcpState::kClosed);
  EXPECT_EQ(t.active(), 1u);
  EXPECT_EQ(t.stats().flows_ended_reuse.get(), 1u);
  t.flush_all(FlowEndReason::kShutdown);
  ASSERT_EQ(sink.recs.size(), 2u);
  EXPECT_NE(sink.recs[0].flow_id, sink.recs[1].flow_id);
  EXPECT_EQ(sink.recs[1].pkts[0], 1u);
}

TEST(FlowTable, IdleTimeoutsFollowProtocolAndState) {
  Sink sink;
  FlowTableConfig cfg{.capacity = 64};
  cfg.udp = {30, 300, 0};
  FlowTable t(cfg, &sink);
  Feeder f{t, Decoder{}};
  f.feed(udp("10.0.0.1", "10.0.0.2", 1, 2), kT0);  // one-way: state new
  f.feed(udp("10.0.0.3", "10.0.0.4", 1, 2), kT0);
  f.feed(udp("10.0.0.4", "10.0.0.3", 2, 1), kT0 + kSec);  // both ways: established
  t.advance(kT0 + 29 * kSec);
  EXPECT_TRUE(sink.recs.empty());
  t.advance(kT0 + 31 * kSec);
  ASSERT_EQ(sink.recs.size(), 1u);
  EXPECT_EQ(src_of(sink.recs[0]), "10.0.0.1");
  EXPECT_EQ(sink.recs[0].reason, FlowEndReason::kIdleTimeout);
  EXPECT_EQ(sink.recs[0].state, FlowState::kNew);
  t.advance(kT0 + 300 * kSec);
  EXPECT_EQ(sink.recs.size(), 1u);
  t.advance(kT0 + 302 * kSec);
  ASSERT_EQ(sink.recs.size(), 2u);
  EXPECT_EQ(sink.recs[1].state, FlowState::kEstablished);
  EXPECT_EQ(t.stats().flows_ended_idle.get(), 2u);
}

TEST(FlowTable, ActiveTimeoutSlicesSumToTheFlowTotals) {
  Sink sink;
  FlowTableConfig cfg{.capacity = 64, .active_timeout_s = 60};
  FlowTable t(cfg, &sink);
  Feeder f{t, Decoder{}};
  uint64_t pkts = 0, bytes = 0;
  for (int i = 0; i < 250; ++i) {
    const Bytes p = i % 3 ? udp("10.0.0.1", "10.0.0.2", 7000, 8000, size_t(i))
                          : udp("10.0.0.2", "10.0.0.1", 8000, 7000, size_t(i));
    f.feed(p, kT0 + uint64_t(i) * kSec);
    ++pkts;
    bytes += p.size();
  }
  t.flush_all(FlowEndReason::kShutdown);
  ASSERT_GE(sink.recs.size(), 4u);
  uint64_t got_pkts = 0, got_bytes = 0;
  for (size_t i = 0; i < sink.recs.size(); ++i) {
    const FlowRecord& r = sink.recs[i];
    got_pkts += r.pkts[0] + r.pkts[1];
    got_bytes += r.bytes[0] + r.bytes[1];
    EXPECT_EQ(r.flow_id, sink.recs[0].flow_id);
    EXPECT_EQ(r.flow_start_ns, kT0);
    EXPECT_EQ(src_of(r), "10.0.0.2") << "client stays the first sender";
    const bool last = i + 1 == sink.recs.size();
    EXPECT_EQ(r.last_slice, last);
    EXPECT_EQ(r.reason, last ? FlowEndReason::kShutdown : FlowEndReason::kActiveTimeout);
    EXPECT_LE(r.end_ns - r.start_ns, 60 * kSec);
    if (i) {
      EXPECT_GT(r.start_ns, sink.recs[i - 1].end_ns);
    }
  }
  EXPECT_EQ(got_pkts, pkts);
  EXPECT_EQ(got_bytes, bytes);
  EXPECT_EQ(t.stats().active_timeout_records.get(), sink.recs.size() - 1);
}

TEST(FlowTable, FullTableEvictsTheLeastRecentFlowAsForced) {
  Sink sink;
  FlowTable t(FlowTableConfig{.capacity = 16}, &sink);
  Feeder f{t, Decoder{}};
  uint64_t fed = 0;
  for (int i = 0; i < 100; ++i) {
    f.feed(udp("10.9.0.1", "10.9.0.2", static_cast<uint16_t>(1000 + i), 53), kT0 + uint64_t(i));
    ++fed;
  }
  EXPECT_EQ(t.active(), 16u);
  EXPECT_EQ(t.stats().flows_ended_forced.get(), 84u);
  for (const FlowRecord& r : sink.recs) EXPECT_EQ(r.reason, FlowEndReason::kForced);
  // Victims are the least recent of the new flow's bucket candidates, so
  // the flows just added are still there.
  for (int i = 97; i < 100; ++i) {
    FlowKey k{};
    k.family = 4;
    k.proto = 17;
    const uint32_t s = htonl(0x0a090001), d = htonl(0x0a090002);
    memcpy(k.src, &s, 4);
    memcpy(k.dst, &d, 4);
    k.sport = static_cast<uint16_t>(1000 + i);
    k.dport = 53;
    EXPECT_NE(t.find(k), nullptr) << i;
  }
  t.flush_all(FlowEndReason::kShutdown);
  uint64_t total = 0;
  for (const FlowRecord& r : sink.recs) total += r.pkts[0] + r.pkts[1];
  EXPECT_EQ(total, fed) << "every packet is in exactly one record";
}

TEST(FlowTable, VlanSeparatesFlowsAndIcmpEchoIsOneFlow) {
  Sink sink;
  FlowTable t(FlowTableConfig{.capacity = 64}, &sink);
  Feeder f{t, Decoder{}};
  f.feed(udp("10.0.0.1", "10.0.0.2", 1, 2, 0, 10), kT0);
  f.feed(udp("10.0.0.1", "10.0.0.2", 1, 2, 0, 20), kT0);
  f.feed(udp("10.0.0.2", "10.0.0.1", 2, 1, 0, 10), kT0);
  f.feed(Builder().eth().ipv4("10.0.0.5", "10.0.0.6").icmp_echo(true, 77, 1).build(), kT0);
  f.feed(Builder().eth().ipv4("10.0.0.6", "10.0.0.5").icmp_echo(false, 77, 1).build(), kT0 + 1);
  f.feed(Builder().eth().ipv4("10.0.0.5", "10.0.0.6").icmp_echo(true, 78, 1).build(), kT0 + 2);
  EXPECT_EQ(t.active(), 4u);
  t.flush_all(FlowEndReason::kShutdown);
  std::map<uint16_t, const FlowRecord*> by_vlan;
  for (const FlowRecord& r : sink.recs)
    if (r.key.proto == 17) by_vlan[r.vlan[0]] = &r;
  ASSERT_EQ(by_vlan.size(), 2u);
  EXPECT_EQ(by_vlan[10]->pkts[0] + by_vlan[10]->pkts[1], 2u);
  EXPECT_EQ(by_vlan[20]->pkts[0], 1u);
  for (const FlowRecord& r : sink.recs)
    if (r.key.proto == 1 && r.key.sport == 77) {
      EXPECT_EQ(r.pkts[0], 1u);
      EXPECT_EQ(r.pkts[1], 1u);
      EXPECT_EQ(r.icmp_type[0], 8);
      EXPECT_EQ(r.icmp_type[1], 0);
    }
}

TEST(FlowTable, LongTimeJumpExpiresEverything) {
  Sink sink;
  FlowTable t(FlowTableConfig{.capacity = 4096}, &sink);
  Feeder f{t, Decoder{}};
  for (int i = 0; i < 1000; ++i)
    f.feed(udp("10.0.0.1", "10.0.0.2", static_cast<uint16_t>(i + 1), 9), kT0 + uint64_t(i) * 7 * kSec);
  // Far beyond the wheel's span (4096 s) and every timeout.
  t.advance(kT0 + 100000 * kSec);
  EXPECT_EQ(t.active(), 0u);
  EXPECT_EQ(sink.recs.size(), 1000u);
}

TEST(FlowTable, EntryFitsTheBudget) {
  FlowTable t(FlowTableConfig{.capacity = 1 << 16}, nullptr);
  EXPECT_LE(FlowTable::entry_bytes(), 256u);
  EXPECT_LE(t.bytes_per_flow(), 256u);
}

TEST(FlowTable, ManyFlowsAllFoundAgain) {
  Sink sink;
  FlowTable t(FlowTableConfig{.capacity = 50000}, &sink);
  Decoder dec;
  Builder b;
  // 50k flows at full capacity: two-choice buckets must hold them all.
  for (uint32_t i = 0; i < 50000; ++i) {
    b.reset().eth().ipv4(0x0a000000u + i, 0xc0a80001u).udp(static_cast<uint16_t>(i), 443);
    auto v = b.finish();
    Packet p;
    p.data = v.data();
    p.caplen = p.wirelen = static_cast<uint32_t>(v.size());
    p.ts_ns = kT0;
    Decoded d;
    ASSERT_TRUE(dec.decode(p, d));
    t.update(p, d);
  }
  EXPECT_EQ(t.active() + t.stats().flows_ended_forced.get(), 50000u);
  EXPECT_LT(t.stats().flows_ended_forced.get(), 50u) << "bucket overflow should be rare at full load";
  EXPECT_EQ(sink.recs.size(), t.stats().flows_ended_forced.get());
}

}  // namespace
}  // namespace ws
