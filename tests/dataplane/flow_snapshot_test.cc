#include "dataplane/flow_snapshot.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

#include "bench/pktgen/builder.h"
#include "dataplane/decode.h"

namespace ws {
namespace {

using pktgen::Builder;
using pktgen::Bytes;

constexpr uint64_t kT0 = 1'700'000'000'000'000'000ull;

struct NullSink : RecordSink {
  void put(const FlowRecord&) override {}
};

struct Table {
  NullSink sink;
  FlowTable table;
  Decoder dec;
  explicit Table(size_t cap) : table(FlowTableConfig{.capacity = cap}, &sink, 3) {}
  void feed(const Bytes& f, uint64_t t) {
    Packet p;
    p.data = f.data();
    p.caplen = p.wirelen = static_cast<uint32_t>(f.size());
    p.ts_ns = t;
    Decoded d;
    ASSERT_TRUE(dec.decode(p, d));
    table.update(p, d);
  }
};

Bytes udp(uint16_t sport, const char* s = "10.0.0.1", const char* d = "10.0.0.2") {
  return Builder().eth().ipv4(s, d).udp(sport, 53).payload_fill(10).build();
}

TEST(FlowSnapshot, CopiesEveryActiveFlowClientFirstInSteps) {
  Table t(256);
  for (uint16_t i = 0; i < 40; ++i) t.feed(udp(1000 + i), kT0 + i);
  // A reply: the record is still client (10.0.0.1) first, with both directions counted.
  t.feed(udp(53, "10.0.0.2", "10.0.0.1"), kT0 + 100);  // to port 53 from 53: its own flow
  t.feed(Builder().eth().ipv4("10.0.0.2", "10.0.0.1").udp(53, 1000).payload_fill(30).build(), kT0 + 101);

  std::vector<FlowRecord> buf(100);
  FlowSnapshotPort port;
  const uint64_t req = port.request(buf.data(), buf.size());
  ASSERT_NE(req, 0u);
  EXPECT_EQ(port.request(buf.data(), buf.size()), 0u) << "one request at a time";
  int steps = 0;
  while (!port.done(req)) {
    port.serve(t.table, 3, 16);
    ++steps;
  }
  EXPECT_GE(steps, 256 / 16);
  EXPECT_EQ(port.count(), t.table.active());
  EXPECT_EQ(port.count(), 41u);
  EXPECT_EQ(port.overflow(), 0u);
  std::set<uint16_t> sports;
  bool saw_reply = false;
  for (size_t i = 0; i < port.count(); ++i) {
    const FlowRecord& r = buf[i];
    EXPECT_EQ(r.worker, 3);
    EXPECT_FALSE(r.last_slice);
    sports.insert(r.key.sport);
    if (r.key.sport == 1000) {
      EXPECT_EQ(r.key.src[3], 1) << "the client (first sender) comes first";
      EXPECT_EQ(r.pkts[0], 1u);
      EXPECT_EQ(r.pkts[1], 1u);
      saw_reply = true;
    }
  }
  EXPECT_TRUE(saw_reply);
  EXPECT_EQ(sports.size(), 41u);
  // Nothing is done without a new request.
  buf[0].flow_id = 0xdead;
  port.serve(t.table, 3, 1024);
  EXPECT_EQ(buf[0].flow_id, 0xdeadu);
}

TEST(FlowSnapshot, CountsFlowsThatDoNotFitAndServesTheNextRequestAfresh) {
  Table t(64);
  for (uint16_t i = 0; i < 20; ++i) t.feed(udp(2000 + i), kT0 + i);
  std::vector<FlowRecord> small(5);
  FlowSnapshotPort port;
  uint64_t req = port.request(small.data(), small.size());
  port.serve(t.table, 0, 1 << 16);
  ASSERT_TRUE(port.done(req));
  EXPECT_EQ(port.count(), 5u);
  EXPECT_EQ(port.overflow(), 15u);

  t.feed(udp(3000), kT0 + 50);
  std::vector<FlowRecord> big(64);
  req = port.request(big.data(), big.size());
  ASSERT_NE(req, 0u);
  EXPECT_FALSE(port.done(req));
  port.serve(t.table, 0, 1 << 16);
  ASSERT_TRUE(port.done(req));
  EXPECT_EQ(port.count(), 21u);
  EXPECT_EQ(port.overflow(), 0u);
}

TEST(FlowSnapshot, AnotherThreadReadsWhatTheWorkerWrote) {
  Table t(4096);
  for (uint16_t i = 0; i < 3000; ++i) t.feed(udp(static_cast<uint16_t>(10000 + i)), kT0 + i);
  std::vector<FlowRecord> buf(4096);
  FlowSnapshotPort port;
  std::atomic<bool> stop{false};
  std::thread worker([&] {
    while (!stop.load()) port.serve(t.table, 1, 64);
  });
  for (int round = 0; round < 3; ++round) {
    const uint64_t req = port.request(buf.data(), buf.size());
    ASSERT_NE(req, 0u);
    while (!port.done(req)) std::this_thread::yield();
    ASSERT_EQ(port.count(), 3000u);
    std::set<uint16_t> ports;
    for (size_t i = 0; i < port.count(); ++i) ports.insert(buf[i].key.sport);
    EXPECT_EQ(ports.size(), 3000u);
  }
  stop = true;
  worker.join();
}

}  // namespace
}  // namespace ws
