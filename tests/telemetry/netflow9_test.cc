// NetFlow v9 encoding checked with the independent decoder in
// ipfix_test_decoder.h: header, templates, field values, uptime-based
// times, padding, per-packet sequence numbers and the MTU bound.
#include "telemetry/netflow9.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "telemetry/ipfix_exporter.h"
#include "tests/telemetry/ipfix_test_decoder.h"

namespace ws {
namespace {

using testing::DecodedMessage;
using testing::FlowMessageDecoder;

constexpr uint64_t kSec = 1000000000ull;
constexpr uint64_t kMs = 1000000ull;
constexpr uint64_t kBoot = 1700000000ull * kSec + 250 * kMs;

// RFC 3954 field types, written out here.
constexpr uint16_t kInBytes = 1, kInPkts = 2, kProtocol = 4, kTcpFlags = 6, kL4Src = 7, kV4Src = 8,
                   kInputSnmp = 10, kL4Dst = 11, kV4Dst = 12, kLast = 21, kFirst = 22, kV6Src = 27,
                   kV6Dst = 28, kSrcVlan = 58, kEndReason = 136;

FlowRecord flow4(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint64_t start) {
  FlowRecord r;
  std::memset(&r.key, 0, sizeof r.key);
  const uint32_t s = htonl(src), d = htonl(dst);
  std::memcpy(r.key.src, &s, 4);
  std::memcpy(r.key.dst, &d, 4);
  r.key.sport = sport;
  r.key.dport = dport;
  r.key.proto = 17;
  r.key.family = 4;
  r.start_ns = r.flow_start_ns = start;
  r.end_ns = start + 3 * kSec;
  r.dir_start_ns[0] = start;
  r.dir_end_ns[0] = start + 2 * kSec + 5 * kMs;
  r.dir_start_ns[1] = start + 7 * kMs;
  r.dir_end_ns[1] = start + 3 * kSec;
  r.pkts[0] = 3;
  r.pkts[1] = 2;
  r.l3_bytes[0] = 300;
  r.l3_bytes[1] = 5000;
  r.vlan[0] = 42;
  r.ifindex = 2;
  r.reason = FlowEndReason::kIdleTimeout;
  return r;
}

struct FakeLink {
  std::vector<std::vector<uint8_t>> sent;
};

class FakeTransport final : public FlowTransport {
 public:
  explicit FakeTransport(FakeLink* l) : l_(l) {}
  bool prepare() override { return false; }
  bool send(std::span<const uint8_t> m) override {
    l_->sent.emplace_back(m.begin(), m.end());
    return true;
  }
  bool up() const override { return true; }
  bool reliable() const override { return false; }
  uint64_t reconnects() const override { return 0; }

 private:
  FakeLink* l_;
};

std::unique_ptr<FlowMessageExporter> fake_exporter(FakeLink* link, Netflow9Options o = {},
                                                   ExportContext ctx = {}, TemplateRefresh refresh = {}) {
  return std::make_unique<FlowMessageExporter>("netflow9", MessageEncoder(netflow9_encoder_config(o, ctx)),
                                               std::make_unique<FakeTransport>(link), false, refresh);
}

std::vector<DecodedMessage> decode_all(const std::vector<std::vector<uint8_t>>& msgs) {
  FlowMessageDecoder d;
  std::vector<DecodedMessage> out;
  for (const auto& m : msgs) {
    out.push_back(d.decode(m));
    EXPECT_EQ(out.back().error, "") << "packet " << out.size() - 1;
  }
  return out;
}

uint32_t ip4(const std::vector<uint8_t>& b) {
  return b.size() == 4 ? uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3] : 0;
}

TEST(Netflow9, HeaderTemplatesAndFields) {
  FakeLink link;
  ExportContext ctx;
  ctx.observation_domain = 0x01020304;
  ctx.boot_ns = kBoot;
  auto ex = fake_exporter(&link, {}, ctx);
  const uint64_t start = kBoot + 60 * kSec + 123 * kMs;
  const FlowRecord rec = flow4(0xc0000201, 0xc6336401, 5353, 53, start);
  const uint64_t now = kBoot + 70 * kSec + 400 * kMs;
  ex->export_flows({&rec, 1}, now);
  ex->tick(now, false);
  auto msgs = decode_all(link.sent);
  ASSERT_EQ(msgs.size(), 1u);
  const DecodedMessage& m = msgs[0];
  EXPECT_EQ(m.version, 9);
  EXPECT_EQ(m.length_or_count, 4) << "two template records and two data records";
  EXPECT_EQ(m.domain, 0x01020304u);
  EXPECT_EQ(m.sequence, 0u);
  // Export time is rounded up to the second, and sysUptime taken at that
  // instant, so unix_secs*1000 - sysUptime is the boot time in ms.
  EXPECT_EQ(m.export_time, (now + kSec - 1) / kSec);
  EXPECT_EQ(uint64_t(m.export_time) * 1000 - m.sys_uptime, kBoot / kMs);
  EXPECT_EQ(m.set_ids.front(), 0) << "template flowset first";

  ASSERT_EQ(m.templates.size(), 2u);
  EXPECT_EQ(m.templates[0].id, 256);
  EXPECT_EQ(m.templates[1].id, 257);
  std::map<uint16_t, uint16_t> f4;
  for (const auto& f : m.templates[0].fields) f4[f.id] = f.length;
  for (uint16_t id : {kInBytes, kInPkts, kProtocol, kTcpFlags, kL4Src, kV4Src, kInputSnmp, kL4Dst, kV4Dst,
                      kLast, kFirst, kSrcVlan, kEndReason}) {
    EXPECT_TRUE(f4.count(id)) << "field type " << id;
  }
  EXPECT_EQ(f4[kV4Src], 4);
  EXPECT_EQ(f4[kFirst], 4);
  EXPECT_EQ(f4[kLast], 4);
  std::map<uint16_t, uint16_t> f6;
  for (const auto& f : m.templates[1].fields) f6[f.id] = f.length;
  EXPECT_EQ(f6[kV6Src], 16);
  EXPECT_EQ(f6[kV6Dst], 16);
  EXPECT_FALSE(f6.count(kV4Src));

  ASSERT_EQ(m.records.size(), 2u);
  const auto& a = m.records[0];
  EXPECT_EQ(ip4(a.bytes(kV4Src)), 0xc0000201u);
  EXPECT_EQ(ip4(a.bytes(kV4Dst)), 0xc6336401u);
  EXPECT_EQ(a.num(kL4Src), 5353u);
  EXPECT_EQ(a.num(kL4Dst), 53u);
  EXPECT_EQ(a.num(kInBytes), 300u);
  EXPECT_EQ(a.num(kInPkts), 3u);
  EXPECT_EQ(a.num(kProtocol), 17u);
  EXPECT_EQ(a.num(kSrcVlan), 42u);
  EXPECT_EQ(a.num(kInputSnmp), 2u);
  EXPECT_EQ(a.num(kEndReason), 1u);
  EXPECT_EQ(a.num(kFirst), (start - kBoot) / kMs);
  EXPECT_EQ(a.num(kLast), (start + 2 * kSec + 5 * kMs - kBoot) / kMs);
  const auto& b = m.records[1];
  EXPECT_EQ(ip4(b.bytes(kV4Src)), 0xc6336401u);
  EXPECT_EQ(b.num(kL4Src), 53u);
  EXPECT_EQ(b.num(kInBytes), 5000u);
  EXPECT_EQ(b.num(kFirst), (start + 7 * kMs - kBoot) / kMs);
  // Absolute times as a collector computes them come out exact to the ms.
  const uint64_t boot_ms = uint64_t(m.export_time) * 1000 - m.sys_uptime;
  EXPECT_EQ(boot_ms + b.num(kLast), (start + 3 * kSec) / kMs);
  EXPECT_EQ(ex->name(), "netflow9");
}

TEST(Netflow9, SequenceCountsPacketsAndMtuHolds) {
  FakeLink link;
  ExportContext ctx;
  ctx.boot_ns = kBoot;
  Netflow9Options o;
  o.mtu = 1000;
  auto ex = fake_exporter(&link, o, ctx);
  std::mt19937 rng(7);
  std::vector<FlowRecord> recs;
  uint64_t want_bytes = 0;
  for (int i = 0; i < 2000; ++i) {
    FlowRecord r = flow4(rng(), rng(), uint16_t(rng()), uint16_t(rng()), kBoot + 5 * kSec);
    if (i % 3 == 0) {
      r.key.family = 6;
      for (int k = 0; k < 16; ++k) r.key.src[k] = uint8_t(rng());
    }
    r.l3_bytes[0] = rng() % 100000;
    r.l3_bytes[1] = rng() % 100000;
    want_bytes += r.l3_bytes[0] + r.l3_bytes[1];
    recs.push_back(r);
  }
  ex->export_flows(recs, kBoot + 20 * kSec);
  ex->tick(kBoot + 20 * kSec, true);
  auto msgs = decode_all(link.sent);
  ASSERT_GT(msgs.size(), 100u);
  uint64_t bytes = 0;
  size_t records = 0;
  for (size_t i = 0; i < msgs.size(); ++i) {
    EXPECT_LE(msgs[i].size, 1000u);
    EXPECT_EQ(msgs[i].size % 4, 0u) << "flowsets are padded";
    EXPECT_EQ(msgs[i].sequence, i) << "v9 sequence counts export packets";
    for (const auto& r : msgs[i].records) bytes += r.num(kInBytes);
    records += msgs[i].records.size();
  }
  EXPECT_EQ(records, 4000u);
  EXPECT_EQ(bytes, want_bytes);
  EXPECT_EQ(ex->stats().messages, msgs.size());
}

TEST(Netflow9, TimesBeforeBootAreClampedAndCounted) {
  FakeLink link;
  ExportContext ctx;
  ctx.boot_ns = kBoot;
  auto ex = fake_exporter(&link, {}, ctx);
  const FlowRecord rec = flow4(1, 2, 3, 4, kBoot - 10 * kSec);
  ex->export_flows({&rec, 1}, kBoot + kSec);
  ex->tick(kBoot + kSec, false);
  auto msgs = decode_all(link.sent);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].records[0].num(kFirst), 0u);
  EXPECT_GT(ex->counters().clamped_times, 0u);
}

TEST(Netflow9, UnsetBootStartsAtFirstRecord) {
  FakeLink link;
  auto ex = fake_exporter(&link);
  const uint64_t start = kBoot + 3 * kSec;
  const FlowRecord rec = flow4(1, 2, 3, 4, start);
  ex->export_flows({&rec, 1}, start + 10 * kSec);
  ex->tick(start + 10 * kSec, false);
  auto msgs = decode_all(link.sent);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].records[0].num(kFirst), 0u);
  const uint64_t boot_ms = uint64_t(msgs[0].export_time) * 1000 - msgs[0].sys_uptime;
  EXPECT_EQ(boot_ms, start / kMs);
  EXPECT_EQ(ex->counters().clamped_times, 0u);
}

TEST(Netflow9, FactoryRejectsTcpAndSmallMtu) {
  std::string err;
  Netflow9Options o;
  o.collector = *parse_export_url("tcp://127.0.0.1:2055").url;
  EXPECT_EQ(make_netflow9_exporter(o, {}, &err), nullptr);
  EXPECT_NE(err.find("UDP only"), std::string::npos) << err;

  o.collector = *parse_export_url("udp://127.0.0.1:2055").url;
  o.mtu = 100;
  err.clear();
  EXPECT_EQ(make_netflow9_exporter(o, {}, &err), nullptr);
  EXPECT_NE(err.find("mtu 100"), std::string::npos) << err;

  o.mtu = 1400;
  err.clear();
  auto ok = make_netflow9_exporter(o, {}, &err);
  EXPECT_NE(ok, nullptr) << err;
}

}  // namespace
}  // namespace ws
