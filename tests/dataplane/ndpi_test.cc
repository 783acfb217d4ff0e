// Application classification (dataplane/ndpi.h) on traffic built here with
// the packet builder: known payloads (an HTTP request, a TLS ClientHello with
// SNI, a DNS query) must come out with nDPI's protocol, the EVE app_proto and
// the host name; the packet limit, the pool, the counters and the worker
// path are checked on the same flows.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "bench/pktgen/builder.h"
#include "tests/dataplane/app_traffic.h"
#include "dataplane/decode.h"
#include "dataplane/flow_table.h"
#include "dataplane/ndpi.h"
#include "dataplane/worker.h"

namespace ws {
namespace {

using pktgen::Builder;
using pktgen::Bytes;
using pktgen::TCP_ACK;
using pktgen::TCP_PSH;
using pktgen::TCP_SYN;

struct Sink : RecordSink {
  std::vector<FlowRecord> recs;
  void put(const FlowRecord& r) override { recs.push_back(r); }
};

using namespace apptraffic;  // Frame, TcpTalk, client_hello, dns_query, ... (app_traffic.h)

// The flow table with the nDPI stage hooked in, fed frame by frame as the
// worker does it.
struct Stage {
  explicit Stage(AppDetectOptions o = enabled(), size_t flows = 1024) {
    FlowTableConfig fc;
    fc.capacity = flows;
    table = std::make_unique<FlowTable>(fc, &sink);
    std::string err;
    app = AppDetect::create(0, table->capacity(), o, &err);
    EXPECT_TRUE(app) << err;
    if (app) table->set_hooks(app.get());
  }
  static AppDetectOptions enabled() {
    AppDetectOptions o;
    o.enabled = true;
    return o;
  }
  void feed(const std::vector<Frame>& frames) {
    for (const Frame& f : frames) {
      Packet p;
      p.data = f.bytes.data();
      p.caplen = p.wirelen = static_cast<uint32_t>(f.bytes.size());
      p.ts_ns = f.ts_ns;
      Decoded d;
      ASSERT_TRUE(dec.decode(p, d));
      FlowEntry* e = table->update(p, d);
      app->inspect(p, d, table->index_of(*e));
    }
  }
  const FlowRecord& only_record() {
    table->flush_all(FlowEndReason::kShutdown);
    EXPECT_EQ(sink.recs.size(), 1u);
    return sink.recs.front();
  }

  Sink sink;
  Decoder dec;
  std::unique_ptr<FlowTable> table;
  std::unique_ptr<AppDetect> app;
};

std::string text(const char* s, size_t cap) { return std::string(s, strnlen(s, cap)); }

TEST(AppDetect, HttpRequestIsHttpWithItsHost) {
  Stage st;
  TcpTalk t("10.1.0.1", "10.1.0.2", 40000, 80);
  t.handshake();
  t.send(true, "GET /index.html HTTP/1.1\r\nHost: intranet.wirescope.test\r\nUser-Agent: curl/7.88.1\r\n"
               "Accept: */*\r\n\r\n");
  t.send(false, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello");
  st.feed(t.frames());
  const FlowRecord& r = st.only_record();
  EXPECT_EQ(text(r.app.protocol, sizeof r.app.protocol), "HTTP");
  EXPECT_EQ(text(r.app_proto, sizeof r.app_proto), "http");
  EXPECT_EQ(text(r.app.hostname, sizeof r.app.hostname), "intranet.wirescope.test");
  EXPECT_EQ(r.app.master == 7 || r.app.app == 7, true) << "nDPI id of HTTP";
  EXPECT_EQ(std::string(app_confidence_name(r.app.confidence)), "DPI");
  EXPECT_FALSE(r.app.guessed);
  EXPECT_EQ(st.app->stats().flows_detected.get(), 1u);
  // Detection ended and gave its state back.
  EXPECT_EQ(st.app->stats().pool_in_use.get(), 0u);
}

TEST(AppDetect, TlsClientHelloIsTlsWithSniAndServiceName) {
  Stage st;
  TcpTalk t("10.1.0.1", "142.250.0.10", 40001, 443);
  t.handshake();
  t.send(true, client_hello("www.google.com"));
  st.feed(t.frames());
  const FlowRecord& r = st.only_record();
  // The SNI names the service: nDPI's master.app form, as ndpiReader prints it.
  EXPECT_EQ(text(r.app.protocol, sizeof r.app.protocol), "TLS.Google");
  EXPECT_EQ(text(r.app_proto, sizeof r.app_proto), "tls");
  EXPECT_EQ(text(r.app.hostname, sizeof r.app.hostname), "www.google.com");
  EXPECT_EQ(r.app.master, 91) << "TLS is the master protocol";
  EXPECT_STRNE(r.app.category, "");
}

TEST(AppDetect, TlsWithUnknownSniIsPlainTls) {
  Stage st;
  TcpTalk t("10.1.0.1", "10.9.9.9", 40002, 8443);
  t.handshake();
  t.send(true, client_hello("api.wirescope.test"));
  st.feed(t.frames());
  const FlowRecord& r = st.only_record();
  EXPECT_EQ(text(r.app.protocol, sizeof r.app.protocol), "TLS");
  EXPECT_EQ(text(r.app.hostname, sizeof r.app.hostname), "api.wirescope.test");
  EXPECT_EQ(text(r.app_proto, sizeof r.app_proto), "tls");
}

TEST(AppDetect, DnsQueryIsDnsWithTheQueryName) {
  Stage st;
  st.feed({udp_frame("10.1.0.1", "10.1.0.53", 53000, 53, dns_query("mail.wirescope.test", 0x1234), kT0)});
  const FlowRecord& r = st.only_record();
  EXPECT_EQ(text(r.app.protocol, sizeof r.app.protocol), "DNS");
  EXPECT_EQ(text(r.app_proto, sizeof r.app_proto), "dns");
  EXPECT_EQ(text(r.app.hostname, sizeof r.app.hostname), "mail.wirescope.test");
}

TEST(AppDetect, StopsAtThePacketLimitAndGivesTheStateBack) {
  AppDetectOptions o = Stage::enabled();
  o.max_packets = 4;
  Stage st(o);
  std::vector<Frame> frames;
  for (int i = 0; i < 12; ++i) {
    Bytes junk(60 + i);
    for (size_t k = 0; k < junk.size(); ++k) junk[k] = uint8_t(k * 37 + i * 11 + 5);
    frames.push_back(udp_frame(i % 2 ? "10.2.0.2" : "10.2.0.1", i % 2 ? "10.2.0.1" : "10.2.0.2",
                               i % 2 ? 47808 : 47809, i % 2 ? 47809 : 47808, junk, kT0 + i * 1000));
  }
  st.feed(frames);
  EXPECT_EQ(st.app->stats().packets_inspected.get(), 4u) << "no packet past the limit goes to nDPI";
  EXPECT_EQ(st.app->stats().flows_packet_limit.get(), 1u);
  EXPECT_EQ(st.app->stats().pool_in_use.get(), 0u);
  const FlowRecord& r = st.only_record();
  EXPECT_TRUE(r.app.present()) << "a label (the guess) once detection stopped";
  // Every packet of the flow is in some protocol's counters once classified.
  std::vector<AppCount> sum;
  st.app->add_totals(sum);
  uint64_t pkts = 0, flows = 0;
  for (const AppCount& c : sum) {
    pkts += c.packets;
    flows += c.flows;
  }
  EXPECT_EQ(pkts, 12u);
  EXPECT_EQ(flows, 1u);
}

TEST(AppDetect, FlowEndingMidDetectionGetsTheGuessAndFreesItsState) {
  Stage st;
  // A SYN to port 443 only: nothing to dissect, nDPI's guess is by port.
  TcpTalk t("10.1.0.1", "10.3.0.1", 40003, 443);
  t.handshake();
  st.feed(t.frames());
  EXPECT_EQ(st.app->stats().pool_in_use.get(), 1u);
  const FlowRecord& r = st.only_record();
  EXPECT_EQ(st.app->stats().flows_ended_in_detection.get(), 1u);
  EXPECT_EQ(st.app->stats().pool_in_use.get(), 0u);
  EXPECT_EQ(text(r.app.protocol, sizeof r.app.protocol), "TLS");
  EXPECT_TRUE(r.app.guessed);
  EXPECT_EQ(std::string(app_confidence_name(r.app.confidence)), "Match by port");
}

TEST(AppDetect, EmptyPoolSkipsTheFlowAndCountsIt) {
  AppDetectOptions o = Stage::enabled();
  o.pool_flows = 1;
  Stage st(o);
  TcpTalk a("10.1.0.1", "10.3.0.1", 40004, 443);
  a.handshake();  // holds the only state (no payload yet)
  st.feed(a.frames());
  st.feed({udp_frame("10.1.0.1", "10.1.0.53", 53001, 53, dns_query("x.wirescope.test", 7), kT0 + 10'000'000)});
  EXPECT_EQ(st.app->stats().pool_exhausted.get(), 1u);
  st.table->flush_all(FlowEndReason::kShutdown);
  ASSERT_EQ(st.sink.recs.size(), 2u);
  for (const FlowRecord& r : st.sink.recs)
    if (r.key.proto == 17) {
      EXPECT_EQ(text(r.app.protocol, sizeof r.app.protocol), "Unknown");
      EXPECT_EQ(r.app_proto[0], 0);
    }
}

TEST(AppDetect, SlotReuseStartsAFreshClassification) {
  Stage st(Stage::enabled(), 1);  // one flow slot: the second flow evicts the first
  TcpTalk t("10.1.0.1", "10.1.0.2", 40005, 80);
  t.handshake();
  t.send(true, "GET / HTTP/1.1\r\nHost: a.wirescope.test\r\n\r\n");
  st.feed(t.frames());
  st.feed({udp_frame("10.1.0.1", "10.1.0.53", 53002, 53, dns_query("b.wirescope.test", 9), kT0 + 50'000'000)});
  st.table->flush_all(FlowEndReason::kShutdown);
  ASSERT_EQ(st.sink.recs.size(), 2u);
  EXPECT_EQ(text(st.sink.recs[0].app.hostname, 80), "a.wirescope.test");
  EXPECT_EQ(text(st.sink.recs[1].app.protocol, 48), "DNS");
  EXPECT_EQ(text(st.sink.recs[1].app.hostname, 80), "b.wirescope.test");
}

TEST(AppDetect, RejectsAPacketLimitOutOfRange) {
  AppDetectOptions o = Stage::enabled();
  o.max_packets = 0;
  std::string err;
  EXPECT_FALSE(AppDetect::create(0, 16, o, &err));
  EXPECT_NE(err.find("max_packets"), std::string::npos) << err;
}

TEST(AppDetect, NamesAreNdpisAndSuricatas) {
  Stage st;
  EXPECT_GT(st.app->protocols(), 200u);
  EXPECT_EQ(st.app->protocol_name(0), "Unknown");
  EXPECT_EQ(st.app->protocol_name(91), "TLS");
  EXPECT_STREQ(st.app->app_proto_name(91), "tls");
  EXPECT_STREQ(st.app->app_proto_name(3), "smtp");
  EXPECT_STREQ(st.app->app_proto_name(175), "ftp-data");
  EXPECT_GT(st.app->pool_bytes(), 0u);
  EXPECT_GE(st.app->state_bytes(), 600u);
}

// The worker path: the stage sits between the flow table and the records,
// and its per-application totals are readable through the worker.
TEST(AppDetect, WorkerLabelsRecordsAndSumsPerApplication) {
  WorkerConfig wc;
  wc.flows.capacity = 256;
  wc.ndpi.enabled = true;
  std::vector<std::unique_ptr<Worker>> workers;
  workers.push_back(std::make_unique<Worker>(0, wc));
  Worker& w = *workers.front();
  ASSERT_TRUE(w.start_error().empty()) << w.start_error();
  ASSERT_NE(w.app_detect(), nullptr);
  TcpTalk t("10.1.0.1", "142.250.0.10", 40010, 443);
  t.handshake();
  t.send(true, client_hello("www.google.com"));
  std::vector<Frame> frames = t.frames();
  frames.push_back(udp_frame("10.1.0.1", "10.1.0.53", 53003, 53, dns_query("c.wirescope.test", 3), kT0 + 9'000'000));
  frames.push_back(udp_frame("10.1.0.53", "10.1.0.1", 53, 53003, dns_answer("c.wirescope.test", 3), kT0 + 9'500'000));
  Decoder dec;
  std::vector<Packet> pk(frames.size());
  std::vector<Decoded> dd(frames.size());
  std::vector<const Packet*> pp;
  std::vector<const Decoded*> dp;
  for (size_t i = 0; i < frames.size(); ++i) {
    pk[i].data = frames[i].bytes.data();
    pk[i].caplen = pk[i].wirelen = static_cast<uint32_t>(frames[i].bytes.size());
    pk[i].ts_ns = frames[i].ts_ns;
    ASSERT_TRUE(dec.decode(pk[i], dd[i]));
    pp.push_back(&pk[i]);
    dp.push_back(&dd[i]);
  }
  w.process(pp.data(), dp.data(), static_cast<int>(pp.size()));
  // DNS is final once answered; TLS still waits for the server's
  // certificate, so it is in no counter yet.
  const std::vector<AppTotal> mid = app_totals(workers);
  ASSERT_EQ(mid.size(), 1u);
  EXPECT_EQ(mid[0].name, "DNS");
  EXPECT_STREQ(mid[0].app_proto, "dns");
  EXPECT_EQ(mid[0].count.flows, 1u);
  EXPECT_EQ(mid[0].count.packets, 2u);
  EXPECT_EQ(mid[0].count.bytes, frames[frames.size() - 1].bytes.size() + frames[frames.size() - 2].bytes.size());

  // Input ends: every flow is flushed with its label.
  std::atomic<bool> done{true}, stop{false};
  DispatchRing ring(8);
  w.run(ring, nullptr, done, stop);
  FlowRecord r[4];
  const size_t n = w.records().pop(r, 4);
  ASSERT_EQ(n, 2u);
  for (size_t i = 0; i < n; ++i) {
    if (r[i].key.proto == 6) {
      EXPECT_EQ(text(r[i].app.protocol, 48), "TLS.Google");
      EXPECT_EQ(text(r[i].app_proto, 16), "tls");
    } else {
      EXPECT_EQ(text(r[i].app.protocol, 48), "DNS");
    }
  }
  const std::vector<AppTotal> end = app_totals(workers);
  ASSERT_EQ(end.size(), 2u);
  uint64_t pkts = 0;
  for (const AppTotal& a : end) pkts += a.count.packets;
  EXPECT_EQ(pkts, frames.size()) << "every packet counted once, under its flow's protocol";
}

TEST(AppDetect, WorkerWithoutNdpiLeavesRecordsUnlabelled) {
  WorkerConfig wc;
  wc.flows.capacity = 64;
  Worker w(0, wc);
  EXPECT_EQ(w.app_detect(), nullptr);
  std::vector<AppCount> sum;
  w.app_totals(sum);
  EXPECT_TRUE(sum.empty());
}

}  // namespace
}  // namespace ws
