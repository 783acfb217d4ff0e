// IPFIX encoding, batching, template refresh and transports, checked by
// decoding the bytes with the independent decoder in ipfix_test_decoder.h.
#include "telemetry/ipfix.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <set>

#include "telemetry/export_url.h"
#include "telemetry/flow_transport.h"
#include "telemetry/ipfix_exporter.h"
#include "tests/telemetry/ipfix_test_decoder.h"

namespace ws {
namespace {

using testing::DecodedMessage;
using testing::FlowMessageDecoder;

constexpr uint64_t kSec = 1000000000ull;
constexpr uint64_t kMs = 1000000ull;
constexpr uint64_t kT0 = 1700000000ull * kSec;  // 2023-11-14

// IANA ids, written out here rather than taken from the code under test.
constexpr uint16_t kOctets = 1, kPackets = 2, kProto = 4, kFlags = 6, kSport = 7, kSrc4 = 8, kIngress = 10,
                   kDport = 11, kDst4 = 12, kSrc6 = 27, kDst6 = 28, kIcmp4 = 32, kVlan = 58, kReason = 136,
                   kIcmp6 = 139, kStart = 152, kEnd = 153;
constexpr uint32_t kRev = 29305;

FlowRecord tcp4(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport) {
  FlowRecord r;
  std::memset(&r.key, 0, sizeof r.key);
  const uint32_t s = htonl(src), d = htonl(dst);
  std::memcpy(r.key.src, &s, 4);
  std::memcpy(r.key.dst, &d, 4);
  r.key.sport = sport;
  r.key.dport = dport;
  r.key.proto = 6;
  r.key.family = 4;
  r.flow_start_ns = r.start_ns = kT0 + 1234 * kMs;
  r.end_ns = kT0 + 9876 * kMs;
  r.dir_start_ns[0] = kT0 + 1234 * kMs;
  r.dir_end_ns[0] = kT0 + 9000 * kMs;
  r.dir_start_ns[1] = kT0 + 1300 * kMs;
  r.dir_end_ns[1] = kT0 + 9876 * kMs;
  r.pkts[0] = 10;
  r.pkts[1] = 8;
  r.l3_bytes[0] = 1500;
  r.l3_bytes[1] = 64000;
  r.bytes[0] = 1500 + 140;
  r.bytes[1] = 64000 + 112;
  r.tcp_flags[0] = 0x1b;  // FIN SYN PSH ACK
  r.tcp_flags[1] = 0x12;  // SYN ACK
  r.vlan[0] = 100;
  r.vlan[1] = 7;
  r.vlan_count = 2;
  r.ifindex = 3;
  r.reason = FlowEndReason::kEndOfFlow;
  return r;
}

FlowRecord tcp6() {
  FlowRecord r = tcp4(0, 0, 40000, 443);
  r.key.family = 6;
  const uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  const uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  std::memcpy(r.key.src, a, 16);
  std::memcpy(r.key.dst, b, 16);
  return r;
}

uint32_t ip4(const std::vector<uint8_t>& b) {
  return b.size() == 4 ? uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3] : 0;
}

// Captures messages instead of sending them; can fail sends and announce
// new sessions, as a TCP transport would.
struct FakeLink {
  std::vector<std::vector<uint8_t>> sent;
  bool fail = false;
  bool reliable = false;
  int new_sessions = 0;  // prepare() returns true this many times
};

class FakeTransport final : public FlowTransport {
 public:
  explicit FakeTransport(FakeLink* l) : l_(l) {}
  bool prepare() override {
    if (l_->new_sessions > 0) {
      --l_->new_sessions;
      return true;
    }
    return false;
  }
  bool send(std::span<const uint8_t> m) override {
    if (l_->fail) return false;
    l_->sent.emplace_back(m.begin(), m.end());
    return true;
  }
  bool up() const override { return !l_->fail; }
  bool reliable() const override { return l_->reliable; }
  uint64_t reconnects() const override { return 0; }

 private:
  FakeLink* l_;
};

std::unique_ptr<FlowMessageExporter> fake_exporter(FakeLink* link, IpfixOptions o = {},
                                                   ExportContext ctx = {}, TemplateRefresh refresh = {}) {
  return std::make_unique<FlowMessageExporter>("ipfix", MessageEncoder(ipfix_encoder_config(o, ctx)),
                                               std::make_unique<FakeTransport>(link), o.biflow, refresh);
}

std::vector<DecodedMessage> decode_all(const std::vector<std::vector<uint8_t>>& msgs) {
  FlowMessageDecoder d;
  std::vector<DecodedMessage> out;
  for (const auto& m : msgs) {
    out.push_back(d.decode(m));
    EXPECT_EQ(out.back().error, "") << "message " << out.size() - 1;
  }
  return out;
}

// ---------------------------------------------------------------- URLs

TEST(ExportUrl, ParsesUdpTcpAndIpv6) {
  auto a = parse_export_url("udp://127.0.0.1:4739");
  ASSERT_TRUE(a) << a.error;
  EXPECT_EQ(a.url->protocol, ExportProtocol::kUdp);
  EXPECT_EQ(a.url->host, "127.0.0.1");
  EXPECT_EQ(a.url->port, 4739);

  auto b = parse_export_url("tcp://collector.example:9995");
  ASSERT_TRUE(b) << b.error;
  EXPECT_EQ(b.url->protocol, ExportProtocol::kTcp);
  EXPECT_EQ(b.url->host, "collector.example");
  EXPECT_EQ(b.url->port, 9995);

  auto c = parse_export_url("udp://[::1]:2055");
  ASSERT_TRUE(c) << c.error;
  EXPECT_EQ(c.url->host, "::1");
  EXPECT_EQ(c.url->port, 2055);
  EXPECT_EQ(c.url->str(), "udp://[::1]:2055");
  EXPECT_EQ(a.url->str(), "udp://127.0.0.1:4739");

  auto d = parse_export_url("udp://[fe80::1%eth0]:4739");
  ASSERT_TRUE(d) << d.error;
  EXPECT_EQ(d.url->host, "fe80::1%eth0");
}

TEST(ExportUrl, ErrorsNameTheBadPart) {
  struct Case {
    const char* text;
    const char* must_mention;
  } cases[] = {
      {"127.0.0.1:4739", "scheme"},
      {"sctp://127.0.0.1:4739", "'sctp'"},
      {"udp://127.0.0.1", "PORT"},
      {"udp://127.0.0.1:", "empty port"},
      {"udp://127.0.0.1:47x9", "'47x9'"},
      {"udp://127.0.0.1:0", "out of range"},
      {"udp://127.0.0.1:65536", "out of range"},
      {"udp://::1:4739", "brackets"},
      {"udp://[::1:4739", "']'"},
      {"udp://[::1]4739", "PORT"},
      {"udp://[]:4739", "empty host"},
      {"udp://:4739", "empty host"},
      {"udp://bad host:4739", "'bad host'"},
      {"udp://[12.4.5.6]:4739", "not an IPv6"},
  };
  for (const auto& c : cases) {
    auto r = parse_export_url(c.text);
    EXPECT_FALSE(r) << c.text;
    EXPECT_NE(r.error.find(c.must_mention), std::string::npos) << c.text << " -> " << r.error;
    EXPECT_NE(r.error.find(c.text), std::string::npos) << r.error;
  }
}

// ---------------------------------------------------------------- pacing

TEST(Pacer, AllowsBurstThenSpacesByRate) {
  Pacer p(1000, 4);  // 1 ms apart, 4 back to back
  uint64_t t = 5 * kSec;
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(p.wait_ns(t), 0u) << i;
    p.sent(t);
  }
  EXPECT_EQ(p.wait_ns(t), 1 * kMs);
  t += 1 * kMs;
  EXPECT_EQ(p.wait_ns(t), 0u);
  p.sent(t);
  EXPECT_EQ(p.wait_ns(t), 1 * kMs);
  // After a pause the bucket refills, but never beyond the burst.
  t += 100 * kMs;
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(p.wait_ns(t), 0u) << i;
    p.sent(t);
  }
  EXPECT_GT(p.wait_ns(t), 0u);
}

TEST(Pacer, ZeroRateNeverWaits) {
  Pacer p(0, 1);
  EXPECT_FALSE(p.enabled());
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(p.wait_ns(1), 0u);
    p.sent(1);
  }
}

TEST(Backoff, DoublesUpToMaxAndResets) {
  Backoff b(100 * kMs, 350 * kMs);
  EXPECT_TRUE(b.may_try(0));
  b.failed(1 * kSec);
  EXPECT_FALSE(b.may_try(1 * kSec + 99 * kMs));
  EXPECT_TRUE(b.may_try(1 * kSec + 100 * kMs));
  b.failed(2 * kSec);
  EXPECT_EQ(b.next_try_ns(), 2 * kSec + 200 * kMs);
  b.failed(3 * kSec);
  EXPECT_EQ(b.next_try_ns(), 3 * kSec + 350 * kMs);
  b.failed(4 * kSec);
  EXPECT_EQ(b.next_try_ns(), 4 * kSec + 350 * kMs);
  b.succeeded();
  EXPECT_TRUE(b.may_try(0));
  b.failed(5 * kSec);
  EXPECT_EQ(b.next_try_ns(), 5 * kSec + 100 * kMs);
}

// ---------------------------------------------------------------- records

TEST(Ipfix, UniflowIpv4RecordsCarryEachDirection) {
  FakeLink link;
  ExportContext ctx;
  ctx.observation_domain = 77;
  auto ex = fake_exporter(&link, {}, ctx);
  const FlowRecord rec = tcp4(0x0a000001, 0x0a000002, 40000, 80);
  ex->export_flows({&rec, 1}, kT0 + 20 * kSec + 500 * kMs);
  EXPECT_TRUE(link.sent.empty()) << "a partly filled message waits for tick()";
  ex->tick(kT0 + 20 * kSec + 600 * kMs, false);
  ASSERT_EQ(link.sent.size(), 1u);

  auto msgs = decode_all(link.sent);
  const DecodedMessage& m = msgs[0];
  EXPECT_EQ(m.version, 10);
  EXPECT_EQ(m.export_time, 1700000020u);
  EXPECT_EQ(m.sequence, 0u);
  EXPECT_EQ(m.domain, 77u);
  EXPECT_EQ(m.set_ids.front(), 2) << "templates come before the first data set";

  // Both templates, with the element ids and lengths the contract names.
  ASSERT_EQ(m.templates.size(), 2u);
  EXPECT_EQ(m.templates[0].id, 256);
  EXPECT_EQ(m.templates[1].id, 257);
  std::map<uint16_t, uint16_t> v4;
  for (const auto& f : m.templates[0].fields) {
    EXPECT_EQ(f.pen, 0u);
    v4[f.id] = f.length;
  }
  const std::map<uint16_t, uint16_t> want4 = {
      {kOctets, 8}, {kPackets, 8}, {kProto, 1}, {kFlags, 1}, {kSport, 2},  {kSrc4, 4},  {kIngress, 4},
      {kDport, 2},  {kDst4, 4},    {kIcmp4, 2}, {kVlan, 2},  {kReason, 1}, {kStart, 8}, {kEnd, 8},
      {96, 32}};  // applicationName: nDPI's protocol name, fixed 32 bytes
  EXPECT_EQ(v4, want4);
  std::set<uint16_t> v6;
  for (const auto& f : m.templates[1].fields) v6.insert(f.id);
  EXPECT_TRUE(v6.count(kSrc6) && v6.count(kDst6) && v6.count(kIcmp6));
  EXPECT_FALSE(v6.count(kSrc4) || v6.count(kDst4));

  ASSERT_EQ(m.records.size(), 2u);
  const auto& fwd = m.records[0];
  const auto& rev = m.records[1];
  EXPECT_EQ(fwd.template_id, 256);
  EXPECT_EQ(ip4(fwd.bytes(kSrc4)), 0x0a000001u);
  EXPECT_EQ(ip4(fwd.bytes(kDst4)), 0x0a000002u);
  EXPECT_EQ(fwd.num(kSport), 40000u);
  EXPECT_EQ(fwd.num(kDport), 80u);
  EXPECT_EQ(fwd.num(kIcmp4), 0u) << "no ICMP type for TCP";
  EXPECT_EQ(fwd.num(kOctets), 1500u) << "octetDeltaCount is l3_bytes";
  EXPECT_EQ(fwd.num(kPackets), 10u);
  EXPECT_EQ(fwd.num(kFlags), 0x1bu);
  EXPECT_EQ(fwd.num(kStart), (kT0 + 1234 * kMs) / kMs);
  EXPECT_EQ(fwd.num(kEnd), (kT0 + 9000 * kMs) / kMs);
  EXPECT_EQ(fwd.num(kProto), 6u);
  EXPECT_EQ(fwd.num(kVlan), 100u) << "outer vlan";
  EXPECT_EQ(fwd.num(kIngress), 3u);
  EXPECT_EQ(fwd.num(kReason), 3u);

  EXPECT_EQ(ip4(rev.bytes(kSrc4)), 0x0a000002u);
  EXPECT_EQ(ip4(rev.bytes(kDst4)), 0x0a000001u);
  EXPECT_EQ(rev.num(kSport), 80u);
  EXPECT_EQ(rev.num(kDport), 40000u);
  EXPECT_EQ(rev.num(kOctets), 64000u);
  EXPECT_EQ(rev.num(kPackets), 8u);
  EXPECT_EQ(rev.num(kFlags), 0x12u);
  EXPECT_EQ(rev.num(kStart), (kT0 + 1300 * kMs) / kMs);
  EXPECT_EQ(rev.num(kEnd), (kT0 + 9876 * kMs) / kMs);

  const ExporterStats s = ex->stats();
  EXPECT_EQ(s.records, 1u);
  EXPECT_EQ(s.messages, 1u);
  EXPECT_EQ(s.bytes, link.sent[0].size());
  EXPECT_EQ(s.send_errors, 0u);
  EXPECT_EQ(ex->name(), "ipfix");
}

TEST(Ipfix, OneSidedFlowGivesOneRecordAndEmptyFlowNone) {
  FakeLink link;
  auto ex = fake_exporter(&link);
  FlowRecord a = tcp4(1, 2, 3, 4);
  a.pkts[1] = 0;
  a.l3_bytes[1] = 0;
  FlowRecord b = tcp4(1, 2, 3, 4);
  b.pkts[0] = b.pkts[1] = 0;
  FlowRecord c = tcp4(1, 2, 3, 4);
  c.key.family = 0;
  const FlowRecord recs[] = {a, b, c};
  ex->export_flows(recs, kT0 + 20 * kSec);
  ex->tick(kT0 + 20 * kSec, true);
  auto msgs = decode_all(link.sent);
  ASSERT_EQ(msgs.size(), 1u);
  ASSERT_EQ(msgs[0].records.size(), 1u);
  EXPECT_EQ(msgs[0].records[0].num(kPackets), 10u);
  EXPECT_EQ(ex->counters().skipped_records, 2u);
  EXPECT_EQ(ex->stats().records, 3u);
}

TEST(Ipfix, IcmpTypeCodeInDestinationPort) {
  FakeLink link;
  auto ex = fake_exporter(&link);
  FlowRecord r = tcp4(0xc0a80001, 0xc0a80002, 0x1234, 0x1234);  // echo id as both ports
  r.key.proto = 1;
  r.tcp_flags[0] = r.tcp_flags[1] = 0;
  r.icmp_type[0] = 8;  // echo request
  r.icmp_code[0] = 0;
  r.icmp_type[1] = 0;  // echo reply
  r.icmp_code[1] = 0;
  FlowRecord u = tcp4(0xc0a80001, 0xc0a80002, 0, 0);
  u.key.proto = 1;
  u.pkts[1] = 0;
  u.icmp_type[0] = 3;  // port unreachable
  u.icmp_code[0] = 3;
  const FlowRecord recs[] = {r, u};
  ex->export_flows(recs, kT0 + 20 * kSec);
  ex->tick(kT0 + 20 * kSec, false);
  auto msgs = decode_all(link.sent);
  ASSERT_EQ(msgs.size(), 1u);
  ASSERT_EQ(msgs[0].records.size(), 3u);
  EXPECT_EQ(msgs[0].records[0].num(kDport), 0x0800u);
  EXPECT_EQ(msgs[0].records[0].num(kIcmp4), 0x0800u);
  EXPECT_EQ(msgs[0].records[0].num(kSport), 0u);
  EXPECT_EQ(msgs[0].records[1].num(kDport), 0x0000u);
  EXPECT_EQ(ip4(msgs[0].records[1].bytes(kSrc4)), 0xc0a80002u);
  EXPECT_EQ(msgs[0].records[2].num(kDport), 0x0303u);
  EXPECT_EQ(msgs[0].records[2].num(kIcmp4), 0x0303u);
}

TEST(Ipfix, Ipv6UsesItsOwnTemplate) {
  FakeLink link;
  auto ex = fake_exporter(&link);
  const FlowRecord recs[] = {tcp6(), tcp4(1, 2, 3, 4), tcp6()};
  ex->export_flows(recs, kT0 + 20 * kSec);
  ex->tick(kT0 + 20 * kSec, false);
  auto msgs = decode_all(link.sent);
  ASSERT_EQ(msgs.size(), 1u);
  const auto& m = msgs[0];
  ASSERT_EQ(m.records.size(), 6u);
  // Sets change with the family: template, v6, v4, v6.
  EXPECT_EQ(m.set_ids, (std::vector<uint16_t>{2, 257, 256, 257}));
  const auto& r = m.records[0];
  EXPECT_EQ(r.template_id, 257);
  const std::vector<uint8_t> a = r.bytes(kSrc6), b = r.bytes(kDst6);
  ASSERT_EQ(a.size(), 16u);
  EXPECT_EQ(a[0], 0x20);
  EXPECT_EQ(a[15], 1);
  EXPECT_EQ(b[15], 2);
  EXPECT_EQ(m.records[1].bytes(kSrc6)[15], 2) << "direction 1 is sent by the server";
  EXPECT_EQ(r.num(kDport), 443u);
  EXPECT_FALSE(r.has(kSrc4));
  EXPECT_EQ(m.records[2].template_id, 256);
}

TEST(Ipfix, BiflowCarriesReverseElements) {
  FakeLink link;
  IpfixOptions o;
  o.biflow = true;
  auto ex = fake_exporter(&link, o);
  const FlowRecord rec = tcp4(0x0a000001, 0x0a000002, 40000, 80);
  ex->export_flows({&rec, 1}, kT0 + 20 * kSec);
  ex->tick(kT0 + 20 * kSec, false);
  auto msgs = decode_all(link.sent);
  ASSERT_EQ(msgs.size(), 1u);
  const auto& m = msgs[0];
  ASSERT_EQ(m.templates.size(), 2u);
  EXPECT_EQ(m.templates[0].id, 258);
  EXPECT_EQ(m.templates[1].id, 259);
  std::set<uint16_t> rev_ids;
  for (const auto& f : m.templates[0].fields) {
    if (f.pen == kRev) rev_ids.insert(f.id);
  }
  EXPECT_EQ(rev_ids, (std::set<uint16_t>{kOctets, kPackets, kFlags, kStart, kEnd}));

  ASSERT_EQ(m.records.size(), 1u);
  const auto& r = m.records[0];
  EXPECT_EQ(ip4(r.bytes(kSrc4)), 0x0a000001u);
  EXPECT_EQ(r.num(kOctets), 1500u);
  EXPECT_EQ(r.num(kPackets), 10u);
  EXPECT_EQ(r.num(kOctets, kRev), 64000u);
  EXPECT_EQ(r.num(kPackets, kRev), 8u);
  EXPECT_EQ(r.num(kFlags, kRev), 0x12u);
  EXPECT_EQ(r.num(kStart), (kT0 + 1234 * kMs) / kMs) << "biflow start: first packet either way";
  EXPECT_EQ(r.num(kEnd), (kT0 + 9876 * kMs) / kMs);
  EXPECT_EQ(r.num(kStart, kRev), (kT0 + 1300 * kMs) / kMs);
  EXPECT_EQ(r.num(kEnd, kRev), (kT0 + 9876 * kMs) / kMs);
}

// ---------------------------------------------------------------- batching

TEST(Ipfix, ManyRecordsFillMtuSizedMessagesWithRunningSequence) {
  FakeLink link;
  IpfixOptions o;
  o.mtu = 1400;
  auto ex = fake_exporter(&link, o);
  std::mt19937 rng(42);
  std::vector<FlowRecord> recs;
  uint64_t want_octets = 0, want_packets = 0;
  for (int i = 0; i < 3000; ++i) {
    FlowRecord r = (rng() % 3 == 0) ? tcp6() : tcp4(rng(), rng(), uint16_t(rng()), uint16_t(rng()));
    r.pkts[0] = 1 + rng() % 1000;
    r.pkts[1] = rng() % 2 ? 0 : 1 + rng() % 1000;
    r.l3_bytes[0] = r.pkts[0] * 40 + rng() % 1000;
    r.l3_bytes[1] = r.pkts[1] * 40;
    want_octets += r.l3_bytes[0] + r.l3_bytes[1];
    want_packets += r.pkts[0] + r.pkts[1];
    recs.push_back(r);
  }
  // In uneven batches, ticks in between.
  size_t at = 0;
  uint64_t now = kT0 + 100 * kSec;
  while (at < recs.size()) {
    const size_t n = std::min<size_t>(1 + rng() % 700, recs.size() - at);
    ex->export_flows({recs.data() + at, n}, now);
    at += n;
    if (rng() % 2) ex->tick(now, false);
    now += 100 * kMs;
  }
  ex->tick(now, true);

  auto msgs = decode_all(link.sent);
  ASSERT_GT(msgs.size(), 50u);
  uint64_t octets = 0, packets = 0, records = 0;
  std::map<uint16_t, size_t> rec_len;
  for (size_t i = 0; i < msgs.size(); ++i) {
    const auto& m = msgs[i];
    EXPECT_LE(m.size, 1400u);
    EXPECT_EQ(m.sequence, records) << "sequence = data records before message " << i;
    for (const auto& t : m.templates) rec_len[t.id] = t.record_length();
    for (const auto& r : m.records) {
      octets += r.num(kOctets);
      packets += r.num(kPackets);
    }
    records += m.records.size();
  }
  EXPECT_EQ(octets, want_octets);
  EXPECT_EQ(packets, want_packets);
  EXPECT_EQ(ex->counters().data_records, records);

  // As few messages as possible: every message that was sent because it was
  // full really had no room for the record that opened the next one. Those
  // are the messages that did not end a batch flushed by tick(); with
  // ticks skipped at random, most of them are.
  size_t full = 0;
  for (size_t i = 0; i + 1 < msgs.size(); ++i) {
    const auto& next = msgs[i + 1].records.front();
    const size_t need = next.template_id == msgs[i].set_ids.back() ? rec_len[next.template_id]
                                                                   : 4 + rec_len[next.template_id];
    if (msgs[i].size + need > 1400) ++full;
  }
  EXPECT_GE(full, msgs.size() * 3 / 4) << "messages leave room unused";
}

TEST(Ipfix, SmallMtuStillBoundsEveryMessage) {
  FakeLink link;
  IpfixOptions o;
  MessageEncoder probe(ipfix_encoder_config(o, {}));
  o.mtu = probe.min_mtu();
  auto ex = fake_exporter(&link, o);
  std::vector<FlowRecord> recs;
  for (int i = 0; i < 50; ++i) recs.push_back(i % 2 ? tcp6() : tcp4(i, i + 1, 1, 2));
  ex->export_flows(recs, kT0);
  ex->tick(kT0, true);
  auto msgs = decode_all(link.sent);
  size_t n = 0;
  for (const auto& m : msgs) {
    EXPECT_LE(m.size, o.mtu);
    n += m.records.size();
  }
  EXPECT_EQ(n, 100u);
  EXPECT_EQ(ex->stats().dropped_records, 0u);

  std::string err;
  IpfixOptions bad;
  bad.mtu = probe.min_mtu() - 1;
  bad.collector = *parse_export_url("udp://127.0.0.1:9").url;
  EXPECT_EQ(make_ipfix_exporter(bad, {}, &err), nullptr);
  EXPECT_NE(err.find("mtu"), std::string::npos) << err;
}

// ---------------------------------------------------------------- templates

size_t messages_with_templates(const std::vector<DecodedMessage>& msgs, std::vector<size_t>* at) {
  size_t n = 0;
  for (size_t i = 0; i < msgs.size(); ++i) {
    if (!msgs[i].templates.empty()) {
      ++n;
      if (at) at->push_back(i);
    }
  }
  return n;
}

TEST(Ipfix, TemplatesRefreshEveryNMessagesOverUdp) {
  FakeLink link;
  TemplateRefresh refresh;
  refresh.messages = 3;
  auto ex = fake_exporter(&link, {}, {}, refresh);
  const FlowRecord rec = tcp4(1, 2, 3, 4);
  for (int i = 0; i < 8; ++i) {
    ex->export_flows({&rec, 1}, kT0);
    ex->tick(kT0, false);
  }
  auto msgs = decode_all(link.sent);
  ASSERT_EQ(msgs.size(), 8u);
  std::vector<size_t> at;
  messages_with_templates(msgs, &at);
  EXPECT_EQ(at, (std::vector<size_t>{0, 3, 6}));
  EXPECT_EQ(ex->counters().template_messages, 3u);
}

TEST(Ipfix, TemplatesRefreshByExportClock) {
  FakeLink link;
  TemplateRefresh refresh;
  refresh.interval_ns = 10 * kSec;
  auto ex = fake_exporter(&link, {}, {}, refresh);
  const FlowRecord rec = tcp4(1, 2, 3, 4);
  const uint64_t times[] = {0, 4, 9, 10, 11, 19, 20, 45};
  for (uint64_t s : times) {
    ex->export_flows({&rec, 1}, kT0 + s * kSec);
    ex->tick(kT0 + s * kSec, false);
  }
  auto msgs = decode_all(link.sent);
  std::vector<size_t> at;
  messages_with_templates(msgs, &at);
  EXPECT_EQ(at, (std::vector<size_t>{0, 3, 6, 7}));
}

TEST(Ipfix, ReliableTransportSendsTemplatesOncePerSession) {
  FakeLink link;
  link.reliable = true;
  link.new_sessions = 1;
  TemplateRefresh refresh;
  refresh.messages = 2;
  refresh.interval_ns = 1;
  auto ex = fake_exporter(&link, {}, {}, refresh);
  const FlowRecord rec = tcp4(1, 2, 3, 4);
  for (int i = 0; i < 5; ++i) {
    ex->export_flows({&rec, 1}, kT0 + uint64_t(i) * kSec);
    ex->tick(kT0 + uint64_t(i) * kSec, false);
  }
  link.new_sessions = 1;  // reconnected
  for (int i = 0; i < 3; ++i) {
    ex->export_flows({&rec, 1}, kT0 + 10 * kSec);
    ex->tick(kT0 + 10 * kSec, false);
  }
  auto msgs = decode_all(link.sent);
  ASSERT_EQ(msgs.size(), 8u);
  std::vector<size_t> at;
  messages_with_templates(msgs, &at);
  EXPECT_EQ(at, (std::vector<size_t>{0, 5}));
  // A new session restarts the sequence.
  EXPECT_EQ(msgs[4].sequence, 8u);
  EXPECT_EQ(msgs[5].sequence, 0u);
  EXPECT_EQ(msgs[7].sequence, 4u);
}

TEST(Ipfix, FailedSendsAreCountedAndTemplatesResent) {
  FakeLink link;
  auto ex = fake_exporter(&link);
  const FlowRecord rec = tcp4(1, 2, 3, 4);
  link.fail = true;
  ex->export_flows({&rec, 1}, kT0);
  ex->tick(kT0, false);
  ExporterStats s = ex->stats();
  EXPECT_EQ(s.send_errors, 1u);
  EXPECT_EQ(s.dropped_records, 2u) << "both directions' records were in the lost message";
  EXPECT_EQ(s.messages, 0u);
  EXPECT_FALSE(s.up);
  link.fail = false;
  ex->export_flows({&rec, 1}, kT0);
  ex->tick(kT0, false);
  auto msgs = decode_all(link.sent);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].templates.size(), 2u) << "the lost templates go out again at once";
  // The lost records still count: the collector sees the gap as loss.
  EXPECT_EQ(msgs[0].sequence, 2u);
  EXPECT_TRUE(ex->stats().up);
}

// ---------------------------------------------------------------- sockets

int udp_listener(uint16_t* port) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  const int buf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  return fd;
}

std::vector<std::vector<uint8_t>> drain_udp(int fd) {
  std::vector<std::vector<uint8_t>> out;
  uint8_t b[65536];
  pollfd p{fd, POLLIN, 0};
  while (poll(&p, 1, 200) > 0) {
    const ssize_t n = recv(fd, b, sizeof b, 0);
    if (n <= 0) break;
    out.emplace_back(b, b + n);
  }
  return out;
}

TEST(Ipfix, SendsOverUdp) {
  uint16_t port = 0;
  const int fd = udp_listener(&port);
  IpfixOptions o;
  o.collector = *parse_export_url("udp://127.0.0.1:" + std::to_string(port)).url;
  ExportContext ctx;
  ctx.observation_domain = 9;
  std::string err;
  auto ex = make_ipfix_exporter(o, ctx, &err);
  ASSERT_NE(ex, nullptr) << err;
  std::vector<FlowRecord> recs(200, tcp4(5, 6, 7, 8));
  ex->export_flows(recs, kT0);
  ex->tick(kT0, true);
  auto got = drain_udp(fd);
  close(fd);
  auto msgs = decode_all(got);
  size_t n = 0;
  for (const auto& m : msgs) {
    EXPECT_EQ(m.domain, 9u);
    EXPECT_EQ(m.sequence, n);
    n += m.records.size();
  }
  EXPECT_EQ(n, 400u);
  EXPECT_EQ(ex->stats().messages, got.size());
  EXPECT_EQ(ex->stats().send_errors, 0u);
}

TEST(Ipfix, SendsToIpv6Collector) {
  const int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    if (fd >= 0) close(fd);
    GTEST_SKIP() << "no IPv6 loopback here";
  }
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  IpfixOptions o;
  o.collector = *parse_export_url("udp://[::1]:" + std::to_string(ntohs(a.sin6_port))).url;
  std::string err;
  auto ex = make_ipfix_exporter(o, {}, &err);
  ASSERT_NE(ex, nullptr) << err;
  const FlowRecord rec = tcp6();
  ex->export_flows({&rec, 1}, kT0);
  ex->tick(kT0, true);
  auto msgs = decode_all(drain_udp(fd));
  close(fd);
  ASSERT_EQ(msgs.size(), 1u);
  ASSERT_EQ(msgs[0].records.size(), 2u);
  EXPECT_EQ(msgs[0].records[0].template_id, 257);
}

TEST(Ipfix, FactoryRejectsUnresolvableHost) {
  IpfixOptions o;
  o.collector = *parse_export_url("udp://no-such-host.invalid:4739").url;
  std::string err;
  EXPECT_EQ(make_ipfix_exporter(o, {}, &err), nullptr);
  EXPECT_NE(err.find("no-such-host.invalid"), std::string::npos) << err;
}

int tcp_listener(uint16_t* port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(listen(fd, 4), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

// Splits an IPFIX byte stream into messages by their length field.
std::vector<std::vector<uint8_t>> read_stream(int fd) {
  std::vector<uint8_t> all;
  uint8_t b[65536];
  pollfd p{fd, POLLIN, 0};
  while (poll(&p, 1, 200) > 0) {
    const ssize_t n = recv(fd, b, sizeof b, 0);
    if (n <= 0) break;
    all.insert(all.end(), b, b + n);
  }
  std::vector<std::vector<uint8_t>> out;
  size_t at = 0;
  while (all.size() - at >= 4) {
    const size_t len = size_t(all[at + 2]) << 8 | all[at + 3];
    if (len < 16 || at + len > all.size()) break;
    out.emplace_back(all.begin() + at, all.begin() + at + len);
    at += len;
  }
  EXPECT_EQ(at, all.size()) << "stream ends inside a message";
  return out;
}

TEST(Ipfix, TcpReconnectsWithTemplatesAndNewSequence) {
  uint16_t port = 0;
  const int lfd = tcp_listener(&port);
  IpfixOptions o;
  o.collector = *parse_export_url("tcp://127.0.0.1:" + std::to_string(port)).url;
  o.transport.backoff_min_ms = 0;  // retry at once: this test does not wait
  std::string err;
  auto ex = make_ipfix_exporter(o, {}, &err);
  ASSERT_NE(ex, nullptr) << err;
  const FlowRecord rec = tcp4(1, 2, 3, 4);
  ex->export_flows({&rec, 1}, kT0);
  ex->tick(kT0, false);
  ex->export_flows({&rec, 1}, kT0);
  ex->tick(kT0, false);
  const int c1 = accept(lfd, nullptr, nullptr);
  ASSERT_GE(c1, 0);
  auto first = decode_all(read_stream(c1));
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].templates.size(), 2u);
  EXPECT_TRUE(first[1].templates.empty());
  EXPECT_EQ(first[1].sequence, 2u);
  close(c1);  // collector goes away

  // The exporter notices the close before its next message and reconnects.
  ex->export_flows({&rec, 1}, kT0);
  ex->tick(kT0, false);
  const int c2 = accept(lfd, nullptr, nullptr);
  ASSERT_GE(c2, 0);
  auto second = decode_all(read_stream(c2));
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].templates.size(), 2u);
  EXPECT_EQ(second[0].sequence, 0u);
  EXPECT_EQ(second[0].records.size(), 2u);
  EXPECT_EQ(ex->stats().reconnects, 1u);
  EXPECT_TRUE(ex->stats().up);
  close(c2);
  close(lfd);
}

TEST(Ipfix, TcpCollectorDownCountsDropsWithoutFailing) {
  uint16_t port = 0;
  const int lfd = tcp_listener(&port);
  close(lfd);  // nothing listens there now
  IpfixOptions o;
  o.collector = *parse_export_url("tcp://127.0.0.1:" + std::to_string(port)).url;
  std::string err;
  auto ex = make_ipfix_exporter(o, {}, &err);
  ASSERT_NE(ex, nullptr) << err;
  const FlowRecord rec = tcp4(1, 2, 3, 4);
  for (int i = 0; i < 3; ++i) {
    ex->export_flows({&rec, 1}, kT0);
    ex->tick(kT0, false);
  }
  const ExporterStats s = ex->stats();
  EXPECT_FALSE(s.up);
  EXPECT_EQ(s.messages, 0u);
  EXPECT_EQ(s.send_errors, 3u);
  EXPECT_EQ(s.dropped_records, 6u);
}

}  // namespace
}  // namespace ws
