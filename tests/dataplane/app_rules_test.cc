// App-layer rules in the worker: `alert http|tls|dns …` and
// `app-layer-protocol` matched on nDPI's classification, on traffic built
// with the packet builder that nDPI recognises from its payload (an HTTP
// request, a TLS ClientHello, a DNS query). What must hold, from Suricata's
// meaning of these rules: a protocol rule matches only flows of that
// protocol, not before the protocol is known (so never on a handshake
// packet) and from the packet on which it is known; a protocol guessed from
// the port is no protocol (the flow is `failed`); a negated protocol never
// matches while the protocol is unknown; alerts carry the flow's app_proto
// and nDPI label, in EVE too.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dataplane/worker.h"
#include "rules/rule_snapshot.h"
#include "telemetry/eve.h"
#include "telemetry/json_writer.h"
#include "tests/dataplane/app_traffic.h"

extern "C" {
#include <ndpi_api.h>
}

namespace ws {
namespace {

using namespace apptraffic;

std::string text(const char* s, size_t cap) { return std::string(s, strnlen(s, cap)); }

// One worker with nDPI (unless told otherwise) and the given rules; frames
// go in one burst each, in capture order.
class Rig {
 public:
  explicit Rig(const std::string& rules, bool ndpi = true) : slot(1) {
    std::string tmpl = ::testing::TempDir() + "/ws_app_rules_XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir_ = tmpl;
    std::ofstream(dir_ + "/app.rules") << rules;
    RuleLoadOptions o;
    o.files = {dir_ + "/app.rules"};
    o.workers = 1;
    auto s = load_rule_snapshot(o, nullptr);
    EXPECT_TRUE(s);
    if (s) {
      EXPECT_EQ(s->report.fatal, "");
      EXPECT_EQ(s->report.failed, 0u) << (s->report.errors.empty() ? "" : s->report.errors.front().str());
      slot.publish(std::move(s));
    }
    WorkerConfig c;
    c.flows.capacity = 1024;
    c.record_ring_size = 1024;
    c.rules = &slot;
    c.ndpi.enabled = ndpi;
    worker = std::make_unique<Worker>(0, c);
    EXPECT_TRUE(worker->start_error().empty()) << worker->start_error();
  }
  ~Rig() {
    drain();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void feed(const std::vector<Frame>& frames) {
    for (const Frame& f : frames) {
      Packet p;
      p.data = f.bytes.data();
      p.caplen = p.wirelen = static_cast<uint32_t>(f.bytes.size());
      p.ts_ns = f.ts_ns;
      Decoded d;
      ASSERT_TRUE(decoder.decode(p, d));
      const Packet* pp = &p;
      const Decoded* dp = &d;
      worker->process(&pp, &dp, 1);
    }
  }
  std::vector<AlertRecord> drain() {
    std::vector<AlertRecord> out;
    AlertRing* ring = worker ? worker->alerts() : nullptr;
    AlertRecord a;
    while (ring && ring->pop(&a, 1) == 1) {
      if (a.in_flight) a.in_flight->fetch_sub(1);
      out.push_back(a);
    }
    return out;
  }
  // (sid, index of the frame the alert came from) for each alert, in order.
  std::vector<std::pair<uint32_t, size_t>> drain_at(const std::vector<Frame>& frames) {
    std::vector<std::pair<uint32_t, size_t>> out;
    for (const AlertRecord& a : drain()) {
      size_t i = 0;
      while (i < frames.size() && frames[i].ts_ns != a.ts_ns) ++i;
      out.emplace_back(a.meta->sid, i);
    }
    return out;
  }
  const FlowApp* app_of(const Frame& f) {
    Packet p;
    p.data = f.bytes.data();
    p.caplen = p.wirelen = static_cast<uint32_t>(f.bytes.size());
    Decoded d;
    EXPECT_TRUE(decoder.decode(p, d));
    const FlowEntry* e = worker->flows().find(d.key);
    if (!e || !worker->app_detect()) return nullptr;
    return &worker->app_detect()->flow(worker->flows().index_of(*e));
  }

  RuleSlot slot;
  std::unique_ptr<Worker> worker;
  Decoder decoder;

 private:
  std::string dir_;
};

using Hits = std::vector<std::pair<uint32_t, size_t>>;

const char* kHttpRequest =
    "GET /index.html HTTP/1.1\r\nHost: intranet.wirescope.test\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
const char* kHttpResponse = "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello";

// The HTTP flow: nDPI names HTTP on the request (frame 3), so the http rule
// fires there and on the response, never on the handshake; the port-80
// rule without a protocol fires on the request only.
TEST(AppRules, HttpRuleFiresFromThePacketThatNamesTheProtocol) {
  Rig rig(
      "alert http any any -> any any (msg:\"http GET\"; content:\"GET \"; sid:1;)\n"
      "alert http any any -> any any (msg:\"any http packet\"; sid:2;)\n"
      "alert tcp any any -> any 80 (msg:\"GET to port 80\"; content:\"GET \"; sid:3;)\n");
  TcpTalk t("10.1.0.1", "10.1.0.2", 40000, 80);
  t.handshake();
  t.send(true, kHttpRequest);
  t.send(false, kHttpResponse);
  rig.feed(t.frames());
  // Frames: 0 SYN, 1 SYN-ACK, 2 ACK, 3 request, 4 response.
  EXPECT_EQ(rig.drain_at(t.frames()), (Hits{{1, 3}, {2, 3}, {3, 3}, {2, 4}}));
  const FlowApp* fa = rig.app_of(t.frames()[0]);
  ASSERT_NE(fa, nullptr);
  EXPECT_EQ(fa->rule_app, AppProto::kHttp);
}

// Not HTTP, to port 80: the request line's bytes are there but nDPI finds
// no HTTP in the payload; at the packet limit it guesses HTTP from the
// port, which counts for nothing: the flow is `failed` and the http rules
// stay silent while the plain tcp rule fires on every packet.
TEST(AppRules, HttpRuleIgnoresAPortGuess) {
  Rig rig(
      "alert http any any -> any any (msg:\"http GET\"; content:\"GET \"; sid:1;)\n"
      "alert tcp any any -> any 80 (msg:\"GET to port 80\"; content:\"GET \"; sid:3;)\n"
      "alert tcp any any -> any any (msg:\"failed\"; app-layer-protocol:failed; sid:4;)\n");
  TcpTalk t("10.1.0.1", "10.1.0.2", 40001, 80);
  t.handshake();
  const std::string junk = std::string("\x07\x00\x13\x37 GET ", 10) + std::string(40, '\xee');
  for (int i = 0; i < 9; ++i) t.send(true, junk);
  rig.feed(t.frames());
  const std::vector<Frame>& f = t.frames();
  // Frames 3..11 carry the bytes; the 10th packet (frame 9) ends
  // classification at the limit: `failed` from there on, and the
  // protocol-detection-only rule sees that packet alone (the first of its
  // direction with the final value; no packet goes the other way). Same
  // action and priority: file order.
  Hits ordered;
  for (size_t i = 3; i < f.size(); ++i) {
    ordered.push_back({3, i});
    if (i == 9) ordered.push_back({4, i});
  }
  EXPECT_EQ(rig.drain_at(f), ordered);
  const FlowApp* fa = rig.app_of(f[0]);
  ASSERT_NE(fa, nullptr);
  EXPECT_EQ(fa->state, kAppDone);
  EXPECT_EQ(fa->rule_app, AppProto::kFailed);
  // The guess itself: HTTP by port, which is what a rule must not trust.
  EXPECT_EQ(fa->master ? fa->master : fa->app, NDPI_PROTOCOL_HTTP);
  EXPECT_EQ(fa->confidence, NDPI_CONFIDENCE_MATCH_BY_PORT);
}

// TLS: nDPI names TLS on the ClientHello yet goes on reading for the
// certificate; the tls rule matches the ClientHello itself, and the alert
// carries the label so far (app_proto tls, the SNI as host name), also in
// EVE. The negated rule fires on the HTTP flow, never on the TLS one, and
// not before the HTTP flow's protocol is known.
TEST(AppRules, TlsContentOnTheClientHelloAndNegation) {
  Rig rig(
      "alert tls any any -> any any (msg:\"tls hello\"; content:\"|16 03 01|\"; depth:3; "
      "content:\"www.wirescope.test\"; sid:10;)\n"
      "alert tcp any any -> any any (msg:\"not tls\"; app-layer-protocol:!tls; sid:11;)\n");
  TcpTalk tls("10.1.0.1", "10.3.0.1", 40002, 443);
  tls.handshake();
  tls.send(true, client_hello("www.wirescope.test"));
  rig.feed(tls.frames());
  auto alerts = rig.drain();
  ASSERT_EQ(alerts.size(), 1u);
  const AlertRecord& a = alerts[0];
  EXPECT_EQ(a.meta->sid, 10u);
  EXPECT_EQ(a.ts_ns, tls.frames()[3].ts_ns);
  EXPECT_EQ(text(a.app_proto, sizeof a.app_proto), "tls");
  EXPECT_EQ(a.app.master ? a.app.master : a.app.app, NDPI_PROTOCOL_TLS);
  EXPECT_EQ(text(a.app.protocol, sizeof a.app.protocol).substr(0, 3), "TLS");
  EXPECT_EQ(text(a.app.hostname, sizeof a.app.hostname), "www.wirescope.test");
  const FlowApp* fa = rig.app_of(tls.frames()[0]);
  ASSERT_NE(fa, nullptr);
  EXPECT_EQ(fa->state, kAppDetecting) << "the label is not final yet: the alert used the name so far";

  JsonWriter w;
  format_alert_event(a, ExportContext{}, EveFormatOptions{}, w);
  auto j = nlohmann::json::parse(std::string(w.view()));
  EXPECT_EQ(j["app_proto"], "tls");
  ASSERT_TRUE(j.contains("ndpi")) << j.dump();
  EXPECT_EQ(j["ndpi"]["protocol"].get<std::string>().substr(0, 3), "TLS");
  EXPECT_EQ(j["ndpi"]["hostname"], "www.wirescope.test");
  EXPECT_EQ(j["alert"]["signature_id"], 10);

  TcpTalk http("10.1.0.1", "10.1.0.2", 40003, 80);
  http.handshake();
  http.send(true, kHttpRequest);
  http.send(false, kHttpResponse);
  rig.feed(http.frames());
  EXPECT_EQ(rig.drain_at(http.frames()), (Hits{{11, 3}, {11, 4}}));
}

// DNS over UDP: the dns rule matches the query (nDPI names DNS on it) and
// the answer; http and tls rules never match a DNS flow. The alert says dns.
TEST(AppRules, DnsRuleOnQueryAndAnswer) {
  Rig rig(
      "alert dns any any -> any any (msg:\"dns name\"; content:\"wirescope\"; sid:20;)\n"
      "alert http any any -> any any (msg:\"http\"; content:\"wirescope\"; sid:21;)\n"
      "alert tls any any -> any any (msg:\"tls\"; content:\"wirescope\"; sid:22;)\n");
  std::vector<Frame> f = {
      udp_frame("10.1.0.1", "10.1.0.53", 53001, 53, dns_query("www.wirescope.test", 7), kT0 + 1'000'000),
      udp_frame("10.1.0.53", "10.1.0.1", 53, 53001, dns_answer("www.wirescope.test", 7), kT0 + 2'000'000),
  };
  rig.feed(f);
  auto alerts = rig.drain();
  ASSERT_EQ(alerts.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(alerts[i].meta->sid, 20u);
    EXPECT_EQ(alerts[i].ts_ns, f[i].ts_ns);
    EXPECT_EQ(text(alerts[i].app_proto, 16), "dns");
  }
  EXPECT_TRUE(alerts[0].to_server);
  EXPECT_FALSE(alerts[1].to_server);
}

// Protocol-detection-only rules (app-layer-protocol with header and flow
// direction only) are matched once per direction and protocol value, as
// Suricata matches them once per direction when detection is done:
// `unknown` on the first packet each way (the SYN, the SYN-ACK), `http` on
// the request and the response. With a content the rule is a packet rule
// and sees every packet of the protocol.
TEST(AppRules, ProtocolOnlyRulesOncePerDirection) {
  Rig rig(
      "alert tcp any any -> any any (msg:\"unknown\"; app-layer-protocol:unknown; sid:30;)\n"
      "alert tcp any any -> any any (msg:\"http\"; app-layer-protocol:http; sid:31;)\n"
      "alert tcp any any -> any any (msg:\"http to server\"; flow:to_server; app-layer-protocol:http; sid:32;)\n"
      "alert tcp any any -> any any (msg:\"http with content\"; app-layer-protocol:http; content:\"HTTP/1.1\"; "
      "sid:33;)\n");
  TcpTalk t("10.1.0.1", "10.1.0.2", 40004, 80);
  t.handshake();
  t.send(true, kHttpRequest);
  t.send(false, kHttpResponse);
  t.send(true, "GET /second HTTP/1.1\r\nHost: intranet.wirescope.test\r\n\r\n");
  t.send(false, kHttpResponse);
  rig.feed(t.frames());
  // Frames: 0 SYN, 1 SYN-ACK, 2 ACK, 3 request, 4 response, 5 request, 6 response.
  EXPECT_EQ(rig.drain_at(t.frames()),
            (Hits{{30, 0}, {30, 1}, {31, 3}, {32, 3}, {33, 3}, {31, 4}, {33, 4}, {33, 5}, {33, 6}}));
}

// Alerts before the protocol is known carry no label; from the packet nDPI
// names it on they carry app_proto and the host name found so far.
TEST(AppRules, AlertLabelFollowsTheClassification) {
  Rig rig("alert tcp any any -> any 80 (msg:\"to port 80\"; flow:to_server; sid:34;)\n");
  TcpTalk t("10.1.0.1", "10.1.0.2", 40006, 80);
  t.handshake();
  t.send(true, kHttpRequest);
  rig.feed(t.frames());
  auto alerts = rig.drain();
  ASSERT_EQ(alerts.size(), 3u);  // SYN, ACK, request
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(alerts[i].app_proto[0], 0) << "nothing known yet";
    EXPECT_FALSE(alerts[i].app.present());
  }
  EXPECT_EQ(alerts[2].ts_ns, t.frames()[3].ts_ns);
  EXPECT_EQ(text(alerts[2].app_proto, 16), "http");
  EXPECT_EQ(text(alerts[2].app.protocol, sizeof alerts[2].app.protocol), "HTTP");
  EXPECT_EQ(text(alerts[2].app.hostname, sizeof alerts[2].app.hostname), "intranet.wirescope.test");
}

// Suricata's action scope: a pass on the protocol alone (a protocol header
// or a protocol-detection-only rule) passes the flow; one with a content
// only the packet.
TEST(AppRules, PassOnTheProtocolCoversTheFlow) {
  for (const char* pass : {"pass http any any -> any any (msg:\"pass http\"; sid:1;)\n",
                           "pass tcp any any -> any any (msg:\"pass pd\"; app-layer-protocol:http; sid:1;)\n"}) {
    SCOPED_TRACE(pass);
    Rig rig(std::string(pass) + "alert tcp any any -> any any (msg:\"any data\"; dsize:>0; sid:2;)\n");
    TcpTalk t("10.1.0.1", "10.1.0.2", 40007, 80);
    t.handshake();
    t.send(true, kHttpRequest);
    t.send(false, kHttpResponse);
    rig.feed(t.frames());
    EXPECT_TRUE(rig.drain().empty()) << "the request's pass covers the response";
    EXPECT_EQ(rig.worker->detect()->stats().pass_matches.get(), 1u);
  }
  Rig rig(
      "pass http any any -> any any (msg:\"pass GET\"; content:\"GET \"; sid:1;)\n"
      "alert tcp any any -> any any (msg:\"any data\"; dsize:>0; sid:2;)\n");
  TcpTalk t("10.1.0.1", "10.1.0.2", 40008, 80);
  t.handshake();
  t.send(true, kHttpRequest);
  t.send(false, kHttpResponse);
  rig.feed(t.frames());
  EXPECT_EQ(rig.drain_at(t.frames()), (Hits{{2, 4}})) << "a content pass covers its packet only";
}

// Without nDPI no flow ever has a protocol: app-layer rules load but stay
// silent (negated ones too), and alerts of other rules carry no label.
TEST(AppRules, WithoutNdpiNothingIsKnown) {
  Rig rig(
      "alert http any any -> any any (msg:\"http\"; sid:40;)\n"
      "alert tcp any any -> any any (msg:\"not tls\"; app-layer-protocol:!tls; sid:41;)\n"
      "alert tcp any any -> any any (msg:\"get\"; content:\"GET \"; sid:42;)\n",
      /*ndpi=*/false);
  ASSERT_EQ(rig.worker->app_detect(), nullptr);
  TcpTalk t("10.1.0.1", "10.1.0.2", 40005, 80);
  t.handshake();
  t.send(true, kHttpRequest);
  rig.feed(t.frames());
  auto alerts = rig.drain();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].meta->sid, 42u);
  EXPECT_EQ(alerts[0].app_proto[0], 0);
  EXPECT_FALSE(alerts[0].app.present());
}

}  // namespace
}  // namespace ws
