// EVE flow events: every field of Suricata's flow event, parsed back with
// nlohmann::json; timestamps against gmtime; the exporter end to end
// through a real file.
#include "telemetry/eve.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "telemetry/community_id.h"

namespace ws {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr uint64_t kSec = 1000000000ull;
// 2026-11-21T04:58:10Z
constexpr uint64_t kT0 = 1795237090ull;

FlowRecord make_record(const char* src, const char* dst, uint8_t proto, uint16_t sport,
                       uint16_t dport) {
  FlowRecord r;
  std::memset(&r.key, 0, sizeof r.key);
  bool v6 = std::strchr(src, ':') != nullptr;
  r.key.family = v6 ? 6 : 4;
  EXPECT_EQ(inet_pton(v6 ? AF_INET6 : AF_INET, src, r.key.src), 1);
  EXPECT_EQ(inet_pton(v6 ? AF_INET6 : AF_INET, dst, r.key.dst), 1);
  r.key.proto = proto;
  r.key.sport = sport;
  r.key.dport = dport;
  r.payload_seen = true;  // detection ran; tests that need otherwise say so
  return r;
}

std::string format_one(const FlowRecord& r, const ExportContext& ctx, uint64_t now_ns,
                       const EveFormatOptions& opts = {}) {
  JsonWriter w;
  format_flow_event(r, ctx, now_ns, opts, w);
  return std::string(w.view());
}

std::vector<std::string> keys_of(const ordered_json& j) {
  std::vector<std::string> k;
  for (auto it = j.begin(); it != j.end(); ++it) k.push_back(it.key());
  return k;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t nl = s.find('\n', pos);
    EXPECT_NE(nl, std::string::npos) << "unterminated last line";
    if (nl == std::string::npos) break;
    out.push_back(s.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/ws-eve-XXXXXX";
    EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::string cmd = "rm -rf '" + path_ + "'";
    if (std::system(cmd.c_str()) != 0) std::perror("rm");
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(EveFlow, TcpV4EveryField) {
  FlowRecord r = make_record("1.2.3.4", "5.6.7.8", 6, 1122, 3344);
  r.flow_id = 1234567890123ull;
  r.start_ns = kT0 * kSec + 123456789;      // .123456 (truncated)
  r.end_ns = (kT0 + 75) * kSec + 999999999;  // .999999
  r.pkts[0] = 10;
  r.pkts[1] = 8;
  r.bytes[0] = 1500;
  r.bytes[1] = 64000;
  r.tcp_flags[0] = 0x1a;  // SYN PSH ACK
  r.tcp_flags[1] = 0x13;  // SYN ACK FIN
  r.state = FlowState::kClosed;
  r.tcp_state = TcpState::kClosed;
  r.reason = FlowEndReason::kEndOfFlow;
  std::memcpy(r.app_proto, "http", 4);
  ExportContext ctx;
  ctx.iface_name = "eth0";

  std::string line = format_one(r, ctx, (kT0 + 100) * kSec + 5000);
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  ordered_json j = ordered_json::parse(line);

  // Suricata's order of the top-level keys.
  EXPECT_EQ(keys_of(j), (std::vector<std::string>{
                            "timestamp", "flow_id", "in_iface", "event_type", "src_ip", "src_port",
                            "dest_ip", "dest_port", "ip_v", "proto", "app_proto", "flow",
                            "community_id", "tcp"}));
  EXPECT_EQ(j["timestamp"], "2026-11-21T04:59:50.000005+0000");
  EXPECT_EQ(j["flow_id"], 1234567890123ull);
  EXPECT_EQ(j["in_iface"], "eth0");
  EXPECT_EQ(j["event_type"], "flow");
  EXPECT_EQ(j["src_ip"], "1.2.3.4");
  EXPECT_EQ(j["src_port"], 1122);
  EXPECT_EQ(j["dest_ip"], "5.6.7.8");
  EXPECT_EQ(j["dest_port"], 3344);
  EXPECT_EQ(j["ip_v"], 4);
  EXPECT_EQ(j["proto"], "TCP");
  EXPECT_EQ(j["app_proto"], "http");
  EXPECT_EQ(j["community_id"], "1:wCb3OG7yAFWelaUydu0D+125CLM=");

  const ordered_json& f = j["flow"];
  EXPECT_EQ(keys_of(f), (std::vector<std::string>{"pkts_toserver", "pkts_toclient",
                                                  "bytes_toserver", "bytes_toclient", "start",
                                                  "end", "age", "state", "reason", "alerted"}));
  EXPECT_EQ(f["pkts_toserver"], 10);
  EXPECT_EQ(f["pkts_toclient"], 8);
  EXPECT_EQ(f["bytes_toserver"], 1500);
  EXPECT_EQ(f["bytes_toclient"], 64000);
  EXPECT_EQ(f["start"], "2026-11-21T04:58:10.123456+0000");
  EXPECT_EQ(f["end"], "2026-11-21T04:59:25.999999+0000");
  EXPECT_EQ(f["age"], 75);
  EXPECT_EQ(f["state"], "closed");
  EXPECT_EQ(f["reason"], "timeout");
  EXPECT_EQ(f["alerted"], false);

  const ordered_json& t = j["tcp"];
  EXPECT_EQ(keys_of(t), (std::vector<std::string>{"tcp_flags", "tcp_flags_ts", "tcp_flags_tc",
                                                  "syn", "fin", "psh", "ack", "state"}));
  EXPECT_EQ(t["tcp_flags"], "1b");
  EXPECT_EQ(t["tcp_flags_ts"], "1a");
  EXPECT_EQ(t["tcp_flags_tc"], "13");
  EXPECT_EQ(t["syn"], true);
  EXPECT_EQ(t["fin"], true);
  EXPECT_EQ(t["psh"], true);
  EXPECT_EQ(t["ack"], true);
  EXPECT_EQ(t["state"], "closed");
}

TEST(EveFlow, TcpFlagKeysOnlyWhenSet) {
  FlowRecord r = make_record("10.0.0.1", "10.0.0.2", 6, 40000, 443);
  r.tcp_flags[0] = 0xe4;  // RST URG ECE CWR
  r.tcp_state = TcpState::kSynSent;
  r.alerted = 1;
  r.payload_seen = false;
  json j = json::parse(format_one(r, {}, kT0 * kSec));
  const json& t = j["tcp"];
  EXPECT_EQ(t["tcp_flags"], "e4");
  EXPECT_EQ(t["tcp_flags_ts"], "e4");
  EXPECT_EQ(t["tcp_flags_tc"], "00");
  for (const char* k : {"rst", "urg", "ecn", "cwr"}) EXPECT_EQ(t.value(k, false), true) << k;
  for (const char* k : {"syn", "fin", "psh", "ack"}) EXPECT_FALSE(t.contains(k)) << k;
  EXPECT_EQ(t["state"], "syn_sent");
  EXPECT_EQ(j["flow"]["alerted"], true);
  EXPECT_FALSE(j["flow"].contains("action")) << "no rule passed or dropped the flow";
  r.action = 2;
  EXPECT_EQ(json::parse(format_one(r, {}, kT0 * kSec))["flow"]["action"], "drop");
  r.action = 1;
  EXPECT_EQ(json::parse(format_one(r, {}, kT0 * kSec))["flow"]["action"], "pass");
  r.action = 0;
  EXPECT_FALSE(j.contains("in_iface"));  // no interface name: no key, as Suricata
  EXPECT_FALSE(j.contains("vlan"));
  EXPECT_FALSE(j.contains("app_proto")) << "no payload: detection never ran";
  EXPECT_EQ(j["flow"]["reason"], "timeout");
  r.payload_seen = true;
  r.tcp_reuse = true;
  r.reason = FlowEndReason::kEndOfFlow;
  j = json::parse(format_one(r, {}, kT0 * kSec));
  EXPECT_EQ(j["app_proto"], "failed");
  EXPECT_EQ(j["flow"]["reason"], "tcp_reuse");
}

TEST(EveFlow, UdpV6WithQinQ) {
  FlowRecord r = make_record("2001:db8::1", "2001:db8::53", 17, 40000, 53);
  r.vlan_count = 2;
  r.vlan[0] = 100;
  r.vlan[1] = 4094;
  r.pkts[0] = 1;
  r.pkts[1] = 1;
  r.bytes[0] = 90;
  r.bytes[1] = 250;
  r.start_ns = kT0 * kSec;
  r.end_ns = kT0 * kSec + 1500000;
  r.state = FlowState::kEstablished;
  std::memcpy(r.app_proto, "dns", 3);
  ordered_json j = ordered_json::parse(format_one(r, {}, (kT0 + 30) * kSec));
  EXPECT_EQ(keys_of(j), (std::vector<std::string>{
                            "timestamp", "flow_id", "event_type", "vlan", "src_ip", "src_port",
                            "dest_ip", "dest_port", "ip_v", "proto", "app_proto", "flow",
                            "community_id"}));
  EXPECT_EQ(j["vlan"], ordered_json::array({100, 4094}));
  EXPECT_EQ(j["src_ip"], "2001:db8::1");
  EXPECT_EQ(j["dest_ip"], "2001:db8::53");
  EXPECT_EQ(j["src_port"], 40000);
  EXPECT_EQ(j["dest_port"], 53);
  EXPECT_EQ(j["ip_v"], 6);
  EXPECT_EQ(j["proto"], "UDP");
  EXPECT_EQ(j["app_proto"], "dns");
  EXPECT_EQ(j["community_id"], "1:8Etth4BEhu8kb6leVyXdsdXb3E8=");
  EXPECT_EQ(j["flow"]["state"], "established");
  EXPECT_EQ(j["flow"]["age"], 0);
  EXPECT_EQ(j["flow"]["end"], "2026-11-21T04:58:10.001500+0000");
  EXPECT_FALSE(j.contains("tcp"));

  // One tag only: a one-element array.
  r.vlan_count = 1;
  json j1 = json::parse(format_one(r, {}, kT0 * kSec));
  EXPECT_EQ(j1["vlan"], json::array({100}));
}

TEST(EveFlow, Ipv6FullFormLikeSuricataDefault) {
  FlowRecord r = make_record("2001:db8::1", "fe80::200:86ff:fe05:80da", 17, 1, 2);
  EveFormatOptions o;
  o.ipv6_compressed = false;
  json j = json::parse(format_one(r, {}, 0, o));
  EXPECT_EQ(j["src_ip"], "2001:0db8:0000:0000:0000:0000:0000:0001");
  EXPECT_EQ(j["dest_ip"], "fe80:0000:0000:0000:0200:86ff:fe05:80da");
}

TEST(EveFlow, IcmpEchoUsesTypesNotPorts) {
  FlowRecord r = make_record("1.2.3.4", "5.6.7.8", 1, 4711, 4711);  // echo id as ports
  r.icmp_type[0] = 8;
  r.icmp_type[1] = 0;
  r.pkts[0] = 3;
  r.pkts[1] = 3;
  ordered_json j = ordered_json::parse(format_one(r, {}, kT0 * kSec));
  EXPECT_EQ(keys_of(j), (std::vector<std::string>{
                            "timestamp", "flow_id", "event_type", "src_ip", "dest_ip", "ip_v",
                            "proto", "icmp_type", "icmp_code", "response_icmp_type",
                            "response_icmp_code", "flow", "community_id"}));
  EXPECT_EQ(j["proto"], "ICMP");
  EXPECT_EQ(j["icmp_type"], 8);
  EXPECT_EQ(j["icmp_code"], 0);
  EXPECT_EQ(j["response_icmp_type"], 0);
  EXPECT_EQ(j["response_icmp_code"], 0);
  EXPECT_EQ(j["community_id"], "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=");

  // Unanswered: no response_* keys. Destination unreachable is one-way.
  r.pkts[1] = 0;
  r.icmp_type[0] = 3;
  r.icmp_code[0] = 1;
  json u = json::parse(format_one(r, {}, kT0 * kSec));
  EXPECT_FALSE(u.contains("response_icmp_type"));
  EXPECT_FALSE(u.contains("response_icmp_code"));
  EXPECT_EQ(u["icmp_type"], 3);
  EXPECT_EQ(u["icmp_code"], 1);
  char cid[kCommunityIdLen];
  size_t n = community_id_v1(r.key.src, r.key.dst, 4, 1, 3, 1, true, true, 0, cid);
  EXPECT_EQ(u["community_id"], std::string(cid, n));
}

TEST(EveFlow, Icmp6Echo) {
  FlowRecord r = make_record("fe80:0001:0203:0405:0607:0809:0A0B:0C0D",
                             "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 58, 9, 9);
  r.icmp_type[0] = 128;
  r.icmp_type[1] = 129;
  r.pkts[0] = 1;
  r.pkts[1] = 1;
  json j = json::parse(format_one(r, {}, 0));
  EXPECT_EQ(j["proto"], "IPv6-ICMP");
  EXPECT_FALSE(j.contains("src_port"));
  EXPECT_FALSE(j.contains("dest_port"));
  EXPECT_FALSE(j.contains("app_proto"));
  EXPECT_EQ(j["src_ip"], "fe80:1:203:405:607:809:a0b:c0d");
  EXPECT_EQ(j["icmp_type"], 128);
  EXPECT_EQ(j["response_icmp_type"], 129);
  EXPECT_EQ(j["community_id"], "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=");
}

TEST(EveFlow, OtherProtocols) {
  FlowRecord gre = make_record("1.2.3.4", "5.6.7.8", 47, 0, 0);
  json j = json::parse(format_one(gre, {}, 0));
  EXPECT_EQ(j["proto"], "GRE");
  EXPECT_FALSE(j.contains("src_port"));
  EXPECT_FALSE(j.contains("icmp_type"));
  EXPECT_FALSE(j.contains("app_proto"));

  FlowRecord sctp = make_record("1.2.3.4", "5.6.7.8", 132, 1122, 3344);
  j = json::parse(format_one(sctp, {}, 0));
  EXPECT_EQ(j["proto"], "SCTP");
  EXPECT_EQ(j["src_port"], 1122);
  EXPECT_EQ(j["community_id"], "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=");

  FlowRecord rsvp = make_record("5.6.7.8", "1.2.3.4", 46, 0, 0);
  j = json::parse(format_one(rsvp, {}, 0));
  EXPECT_EQ(j["proto"], "RSVP");
  EXPECT_EQ(j["community_id"], "1:ikv3kmf89luf73WPz1jOs49S768=");

  EXPECT_EQ(eve_proto_name(0), "HOPOPT");
  EXPECT_EQ(eve_proto_name(50), "ESP");
  EXPECT_EQ(eve_proto_name(143), "Ethernet");
  EXPECT_EQ(eve_proto_name(144), "144");
  EXPECT_EQ(eve_proto_name(253), "253");
  for (int p = 0; p < 256; ++p) EXPECT_FALSE(eve_proto_name(static_cast<uint8_t>(p)).empty()) << p;
}

TEST(EveFlow, ReasonsAndStates) {
  FlowRecord r = make_record("1.2.3.4", "5.6.7.8", 17, 1, 2);
  struct Case {
    FlowEndReason reason;
    const char* want;
  } cases[] = {{FlowEndReason::kForced, "forced"},
               {FlowEndReason::kShutdown, "shutdown"},
               {FlowEndReason::kIdleTimeout, "timeout"},
               {FlowEndReason::kActiveTimeout, "timeout"},
               {FlowEndReason::kEndOfFlow, "timeout"}};
  for (const Case& c : cases) {
    r.reason = c.reason;
    json j = json::parse(format_one(r, {}, 0));
    EXPECT_EQ(j["flow"]["reason"], c.want);
  }
  r.state = FlowState::kNew;
  EXPECT_EQ(json::parse(format_one(r, {}, 0))["flow"]["state"], "new");
}

TEST(EveFlow, AgeIsDifferenceOfWholeSeconds) {
  FlowRecord r = make_record("1.2.3.4", "5.6.7.8", 17, 1, 2);
  r.start_ns = 10 * kSec + 900000000;  // 10.9 s
  r.end_ns = 11 * kSec + 100000000;    // 11.1 s: 0.2 s apart, but Suricata says 1
  EXPECT_EQ(json::parse(format_one(r, {}, 0))["flow"]["age"], 1);
  r.end_ns = 10 * kSec + 999999999;
  EXPECT_EQ(json::parse(format_one(r, {}, 0))["flow"]["age"], 0);
}

TEST(EveFlow, FlowIdKeptWithinFiftyOneBits) {
  FlowRecord r = make_record("1.2.3.4", "5.6.7.8", 17, 1, 2);
  r.flow_id = 0xffffffffffffffffull;
  json j = json::parse(format_one(r, {}, 0));
  EXPECT_EQ(j["flow_id"].get<uint64_t>(), (1ull << 51) - 1);
}

TEST(EveFlow, StringsFromOutsideAreEscaped) {
  FlowRecord r = make_record("1.2.3.4", "5.6.7.8", 6, 1, 2);
  std::memcpy(r.app_proto, "a\"b\\c\n", 6);
  ExportContext ctx;
  ctx.iface_name = std::string("we\"ird\\if\x01\t", 11);
  std::string line = format_one(r, ctx, 0);
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  json j = json::parse(line);
  EXPECT_EQ(j["in_iface"], ctx.iface_name);
  EXPECT_EQ(j["app_proto"], "a\"b\\c\n");

  // A full-length app_proto (no terminator in the array) stays bounded.
  std::memset(r.app_proto, 'x', sizeof r.app_proto);
  j = json::parse(format_one(r, {}, 0));
  EXPECT_EQ(j["app_proto"], std::string(sizeof r.app_proto, 'x'));
}

TEST(EveFlow, CommunityIdCanBeTurnedOff) {
  FlowRecord r = make_record("1.2.3.4", "5.6.7.8", 6, 1122, 3344);
  EveFormatOptions o;
  o.community_id = false;
  EXPECT_FALSE(json::parse(format_one(r, {}, 0, o)).contains("community_id"));
  o.community_id = true;
  o.community_id_seed = 1;
  EXPECT_EQ(json::parse(format_one(r, {}, 0, o))["community_id"], "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=");
}

std::string ts(uint64_t ns) {
  char buf[kEveTimestampLen];
  return std::string(buf, format_eve_timestamp(ns, buf));
}

TEST(EveTimestamp, KnownValues) {
  EXPECT_EQ(ts(0), "1970-01-01T00:00:00.000000+0000");
  EXPECT_EQ(ts(999), "1970-01-01T00:00:00.000000+0000");    // below a microsecond
  EXPECT_EQ(ts(1999), "1970-01-01T00:00:00.000001+0000");   // truncated, not rounded
  EXPECT_EQ(ts(kT0 * kSec + 123456789), "2026-11-21T04:58:10.123456+0000");
  // The last microsecond of a year does not round up into the next one.
  EXPECT_EQ(ts(946684799ull * kSec + 999999999), "1999-12-31T23:59:59.999999+0000");
  EXPECT_EQ(ts(946684800ull * kSec), "2000-01-01T00:00:00.000000+0000");
  EXPECT_EQ(ts(1709208000ull * kSec), "2024-02-29T12:00:00.000000+0000");
  EXPECT_EQ(ts(4107542400ull * kSec - 1), "2100-02-28T23:59:59.999999+0000");  // 2100: no leap day
  EXPECT_EQ(ts(4107542400ull * kSec), "2100-03-01T00:00:00.000000+0000");
}

TEST(EveTimestamp, MatchesGmtimeAcrossYearBoundaries) {
  std::mt19937_64 rng(7);
  std::vector<uint64_t> secs;
  // Around every New Year 1970..2200 and a spread of random instants.
  for (int year = 1971; year <= 2200; ++year) {
    struct tm t = {};
    t.tm_year = year - 1900;
    t.tm_mday = 1;
    time_t s = timegm(&t);
    for (int d : {-86400, -1, 0, 1, 86399}) secs.push_back(static_cast<uint64_t>(s + d));
  }
  for (int i = 0; i < 5000; ++i) secs.push_back(rng() % 7258118400ull);  // < year 2200
  for (uint64_t s : secs) {
    uint64_t frac = rng() % kSec;
    time_t tt = static_cast<time_t>(s);
    struct tm t;
    ASSERT_NE(gmtime_r(&tt, &t), nullptr);
    char want[64];
    size_t n = std::strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%S", &t);
    std::snprintf(want + n, sizeof want - n, ".%06u+0000", static_cast<unsigned>(frac / 1000));
    ASSERT_EQ(ts(s * kSec + frac), want) << s;
  }
}

TEST(EveFlow, ManyRecordsAreValidJsonLines) {
  std::mt19937_64 rng(42);
  JsonWriter w(256);  // forces the buffer to grow during the batch
  const uint8_t protos[] = {6, 17, 1, 58, 132, 47, 200};
  std::vector<FlowRecord> recs;
  for (int i = 0; i < 20000; ++i) {
    FlowRecord r;
    std::memset(&r.key, 0, sizeof r.key);
    r.key.family = (i % 3 == 0) ? 6 : 4;
    for (int b = 0; b < (r.key.family == 6 ? 16 : 4); ++b) {
      r.key.src[b] = static_cast<uint8_t>(rng());
      r.key.dst[b] = static_cast<uint8_t>(rng());
    }
    r.key.proto = protos[rng() % 7];
    r.key.sport = static_cast<uint16_t>(rng());
    r.key.dport = static_cast<uint16_t>(rng());
    r.flow_id = rng();
    r.start_ns = rng() % (4000000000ull * kSec);
    r.end_ns = r.start_ns + rng() % (3600 * kSec);
    r.pkts[0] = rng() % 100000;
    r.pkts[1] = rng() % 3;
    r.bytes[0] = rng();
    r.bytes[1] = rng() % 1000;
    r.vlan_count = static_cast<uint8_t>(rng() % 3);
    r.vlan[0] = static_cast<uint16_t>(rng() % 4096);
    r.vlan[1] = static_cast<uint16_t>(rng() % 4096);
    r.tcp_flags[0] = static_cast<uint8_t>(rng());
    r.tcp_flags[1] = static_cast<uint8_t>(rng());
    r.icmp_type[0] = static_cast<uint8_t>(rng());
    r.icmp_code[0] = static_cast<uint8_t>(rng());
    r.state = static_cast<FlowState>(rng() % 3);
    r.tcp_state = static_cast<TcpState>(rng() % 11);
    r.reason = static_cast<FlowEndReason>(1 + rng() % 5);
    if (i % 4 == 0) std::snprintf(r.app_proto, sizeof r.app_proto, "p%d", i % 10);
    recs.push_back(r);
  }
  ExportContext ctx;
  ctx.iface_name = "ens1f0";
  for (const FlowRecord& r : recs) format_flow_event(r, ctx, kT0 * kSec, {}, w);
  std::vector<std::string> lines = split_lines(std::string(w.view()));
  ASSERT_EQ(lines.size(), recs.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    json j = json::parse(lines[i], nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << lines[i];
    const FlowRecord& r = recs[i];
    EXPECT_EQ(j["flow"]["pkts_toserver"], r.pkts[0]);
    EXPECT_EQ(j["flow"]["bytes_toserver"], r.bytes[0]);
    EXPECT_EQ(j["proto"], std::string(eve_proto_name(r.key.proto)));
    EXPECT_EQ(j.contains("tcp"), r.key.proto == 6);
    EXPECT_EQ(j.contains("vlan"), r.vlan_count > 0);
    if (r.vlan_count > 0) {
      EXPECT_EQ(j["vlan"].size(), r.vlan_count);
    }
    char src[INET6_ADDRSTRLEN];
    inet_ntop(r.key.family == 6 ? AF_INET6 : AF_INET, r.key.src, src, sizeof src);
    EXPECT_EQ(j["src_ip"], src);
  }
}

TEST(EveExporter, WritesOneLinePerRecord) {
  TempDir dir;
  EveOptions opts;
  opts.dir = dir.path();
  opts.file.buffer_size = 8192;  // many buffer turnovers in one batch
  ExportContext ctx;
  ctx.iface_name = "lo";
  std::string err;
  std::unique_ptr<EveExporter> ex = make_eve_exporter(opts, ctx, &err);
  ASSERT_NE(ex, nullptr) << err;
  EXPECT_EQ(ex->name(), "eve");

  std::vector<FlowRecord> batch;
  for (int i = 0; i < 3000; ++i) {
    FlowRecord r = make_record("192.0.2.1", "198.51.100.7", 6, static_cast<uint16_t>(1024 + i), 80);
    r.flow_id = static_cast<uint64_t>(i);
    r.pkts[0] = static_cast<uint64_t>(i);
    batch.push_back(r);
  }
  ex->export_flows(std::span<const FlowRecord>(batch.data(), 1000), kT0 * kSec);
  ex->tick(kT0 * kSec, false);
  ex->export_flows(std::span<const FlowRecord>(batch.data() + 1000, 2000), (kT0 + 1) * kSec);
  ex->tick((kT0 + 1) * kSec, true);

  std::string content = read_file(dir.path() + "/eve.json");
  std::vector<std::string> lines = split_lines(content);
  ASSERT_EQ(lines.size(), batch.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    json j = json::parse(lines[i]);
    EXPECT_EQ(j["flow_id"], i);
    EXPECT_EQ(j["src_port"], 1024 + i);
    EXPECT_EQ(j["in_iface"], "lo");
    EXPECT_EQ(j["timestamp"], i < 1000 ? "2026-11-21T04:58:10.000000+0000"
                                       : "2026-11-21T04:58:11.000000+0000");
  }
  ExporterStats s = ex->stats();
  EXPECT_EQ(s.records, batch.size());
  EXPECT_EQ(s.messages, batch.size());
  EXPECT_EQ(s.bytes, content.size());
  EXPECT_EQ(s.send_errors, 0u);
  EXPECT_EQ(s.dropped_records, 0u);
  EXPECT_TRUE(s.up);
}

TEST(EveExporter, ReopenAfterLogrotate) {
  TempDir dir;
  EveOptions opts;
  opts.dir = dir.path() + "/";  // trailing slash is fine
  std::string err;
  auto ex = make_eve_exporter(opts, {}, &err);
  ASSERT_NE(ex, nullptr) << err;
  FlowRecord r = make_record("1.2.3.4", "5.6.7.8", 17, 1, 2);
  ex->export_flows(std::span<const FlowRecord>(&r, 1), 0);
  std::string path = dir.path() + "/eve.json";
  ASSERT_EQ(std::rename(path.c_str(), (path + ".1").c_str()), 0);
  EXPECT_TRUE(ex->reopen());
  r.flow_id = 2;
  ex->export_flows(std::span<const FlowRecord>(&r, 1), 0);
  ex->tick(0, true);
  EXPECT_EQ(split_lines(read_file(path + ".1")).size(), 1u);
  std::vector<std::string> now = split_lines(read_file(path));
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(json::parse(now[0])["flow_id"], 2);
}

TEST(EveExporter, WriteErrorsBecomeStatsNotCrashes) {
  if (access("/dev", W_OK) != 0) GTEST_SKIP() << "needs /dev writable to open /dev/full";
  EveOptions opts;
  opts.dir = "/dev";
  opts.filename = "full";
  opts.file.buffer_size = 4096;
  std::string err;
  auto ex = make_eve_exporter(opts, {}, &err);
  ASSERT_NE(ex, nullptr) << err;
  std::vector<FlowRecord> batch(500, make_record("1.2.3.4", "5.6.7.8", 6, 1, 2));
  ex->export_flows(batch, 0);
  ex->tick(0, true);
  ExporterStats s = ex->stats();
  EXPECT_EQ(s.records, 500u);
  EXPECT_GT(s.send_errors, 0u);
  EXPECT_EQ(s.dropped_records, 500u);
  EXPECT_EQ(s.bytes, 0u);
  EXPECT_NE(ex->last_error().find(std::strerror(ENOSPC)), std::string::npos) << ex->last_error();
}

TEST(EveExporter, ConfigErrorsNameThePath) {
  TempDir dir;
  std::string err;
  EveOptions opts;
  opts.dir = dir.path() + "/nope";
  EXPECT_EQ(make_eve_exporter(opts, {}, &err), nullptr);
  EXPECT_NE(err.find(opts.dir), std::string::npos) << err;
  EXPECT_NE(err.find(std::strerror(ENOENT)), std::string::npos) << err;

  std::string file = dir.path() + "/plain";
  std::ofstream(file) << "x";
  opts.dir = file;
  EXPECT_EQ(make_eve_exporter(opts, {}, &err), nullptr);
  EXPECT_NE(err.find(file), std::string::npos) << err;
  EXPECT_NE(err.find("not a directory"), std::string::npos) << err;

  opts.dir = "";
  EXPECT_EQ(make_eve_exporter(opts, {}, &err), nullptr);
  EXPECT_NE(err.find("-l"), std::string::npos) << err;

  opts.dir = dir.path();
  opts.filename = "sub/eve.json";
  EXPECT_EQ(make_eve_exporter(opts, {}, &err), nullptr);
  EXPECT_NE(err.find("sub/eve.json"), std::string::npos) << err;

  // A directory the process may not write to (only meaningful when not root).
  if (geteuid() != 0) {
    std::string ro = dir.path() + "/ro";
    ASSERT_EQ(mkdir(ro.c_str(), 0555), 0);
    opts.dir = ro;
    opts.filename = "eve.json";
    EXPECT_EQ(make_eve_exporter(opts, {}, &err), nullptr);
    EXPECT_NE(err.find("not writable"), std::string::npos) << err;
  }
}

}  // namespace
}  // namespace ws
