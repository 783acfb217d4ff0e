// EVE alert events: every field of Suricata's alert event, parsed back with
// nlohmann::json. Expected values are computed independently: timestamps
// with gmtime, the payload with OpenSSL's base64 decoder, Community IDs from
// the flow event the same flow produces.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "telemetry/community_id.h"
#include "telemetry/eve.h"

namespace ws {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr uint64_t kSec = 1'000'000'000ull;
constexpr uint64_t kT0 = 1'795'237'090ull;  // 2026-11-21T04:58:10Z

FlowKey key(const char* src, const char* dst, uint8_t proto, uint16_t sport, uint16_t dport) {
  FlowKey k;
  std::memset(&k, 0, sizeof k);
  const bool v6 = std::strchr(src, ':') != nullptr;
  k.family = v6 ? 6 : 4;
  EXPECT_EQ(inet_pton(v6 ? AF_INET6 : AF_INET, src, k.src), 1);
  EXPECT_EQ(inet_pton(v6 ? AF_INET6 : AF_INET, dst, k.dst), 1);
  k.proto = proto;
  k.sport = sport;
  k.dport = dport;
  return k;
}

// An alert on a packet the server sent: pkt is server → client, flow is
// client first.
AlertRecord server_alert(const AlertMeta& m, uint8_t proto = 6, const char* client = "192.168.1.10",
                         const char* server = "93.184.216.34", uint16_t cport = 51000, uint16_t sport = 80) {
  AlertRecord a;
  a.ts_ns = kT0 * kSec + 123'456'789;
  a.flow_id = 0x0123456789abcdefULL;
  a.flow_start_ns = kT0 * kSec - 2 * kSec + 5'000;
  a.pkts[0] = 4;
  a.pkts[1] = 3;
  a.bytes[0] = 400;
  a.bytes[1] = 3000;
  a.pkt = key(server, client, proto, sport, cport);
  a.flow = key(client, server, proto, cport, sport);
  a.meta = &m;
  a.to_server = false;
  return a;
}

ordered_json format(const AlertRecord& a, const ExportContext& ctx = {}, const EveFormatOptions& opts = {},
                    std::string* raw = nullptr) {
  JsonWriter w;
  format_alert_event(a, ctx, opts, w);
  const std::string line(w.view());
  if (raw) *raw = line;
  EXPECT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one event, one line";
  return ordered_json::parse(line);
}

std::set<std::string> keys_of(const ordered_json& j) {
  std::set<std::string> k;
  for (auto it = j.begin(); it != j.end(); ++it) k.insert(it.key());
  return k;
}

std::string timestamp_text(uint64_t ns) {
  const time_t s = static_cast<time_t>(ns / kSec);
  struct tm t;
  EXPECT_NE(gmtime_r(&s, &t), nullptr);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
  std::snprintf(buf + n, sizeof buf - n, ".%06u+0000", static_cast<unsigned>(ns % kSec / 1000));
  return buf;
}

// OpenSSL's decoder, which knows nothing of ours.
std::string base64_decode(const std::string& text) {
  std::string out(text.size() / 4 * 3 + 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  EXPECT_GE(n, 0) << "not base64: " << text;
  if (n < 0) return {};
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

// The Community ID the flow event of the same flow carries.
std::string flow_event_community_id(const FlowKey& client_first, uint8_t client_icmp_type, uint8_t client_icmp_code,
                                    uint8_t server_icmp_type = 0, const EveFormatOptions& opts = {}) {
  FlowRecord r;
  r.key = client_first;
  r.pkts[0] = 1;
  r.pkts[1] = 1;
  r.icmp_type[0] = client_icmp_type;
  r.icmp_code[0] = client_icmp_code;
  r.icmp_type[1] = server_icmp_type;
  JsonWriter w;
  format_flow_event(r, ExportContext{}, kT0 * kSec, opts, w);
  return json::parse(std::string(w.view())).value("community_id", std::string());
}

AlertMeta full_meta() {
  AlertMeta m;
  m.gid = 1;
  m.sid = 2'019'401;
  m.rev = 7;
  m.signature = "ET POLICY curl User-Agent Outbound";
  m.category = "Attempted Information Leak";
  m.severity = 2;
  m.metadata = {{"former_category", {"POLICY", "HUNTING"}}, {"created_at", {"2010_09_23"}}};
  return m;
}

// ---------------------------------------------------------------- every field

TEST(EveAlert, TcpAlertEveryField) {
  const AlertMeta m = full_meta();
  AlertRecord a = server_alert(m);
  a.vlan[0] = 100;
  a.vlan[1] = 200;
  a.vlan_count = 2;
  std::snprintf(a.app_proto, sizeof a.app_proto, "http");
  const uint8_t body[] = {'H', 'T', 'T', 'P', '/', '1', '.', '1', ' ', '2', '0', '0', '\r', '\n',
                          0x00, 0x7f, 0x80, 0xff, '\t', 'o', 'k', '"', '\\', '\n'};
  std::memcpy(a.data, body, sizeof body);
  a.payload_len = sizeof body;
  ExportContext ctx;
  ctx.iface_name = "eth0";

  const ordered_json j = format(a, ctx);
  EXPECT_EQ(keys_of(j), (std::set<std::string>{"timestamp", "flow_id", "in_iface", "event_type", "vlan", "src_ip",
                                                "src_port", "dest_ip", "dest_port", "ip_v", "proto", "pkt_src",
                                                "community_id", "alert", "app_proto", "direction", "flow", "payload",
                                                "payload_printable", "stream"}));
  EXPECT_EQ(j["timestamp"], timestamp_text(a.ts_ns));
  EXPECT_EQ(j["timestamp"], "2026-11-21T04:58:10.123456+0000");
  EXPECT_EQ(j["flow_id"].get<uint64_t>(), a.flow_id & ((1ull << 51) - 1));
  EXPECT_EQ(j["in_iface"], "eth0");
  EXPECT_EQ(j["event_type"], "alert");
  EXPECT_EQ(j["vlan"], ordered_json::array({100, 200}));
  // The packet's own addresses: the server sent it.
  EXPECT_EQ(j["src_ip"], "93.184.216.34");
  EXPECT_EQ(j["src_port"], 80);
  EXPECT_EQ(j["dest_ip"], "192.168.1.10");
  EXPECT_EQ(j["dest_port"], 51000);
  EXPECT_EQ(j["ip_v"], 4);
  EXPECT_EQ(j["proto"], "TCP");
  EXPECT_EQ(j["pkt_src"], "wire/pcap");
  const std::string cid = flow_event_community_id(a.flow, 0, 0);
  ASSERT_FALSE(cid.empty());
  EXPECT_EQ(j["community_id"], cid);

  const ordered_json& al = j["alert"];
  EXPECT_EQ(keys_of(al), (std::set<std::string>{"action", "gid", "signature_id", "rev", "signature", "category",
                                                 "severity", "metadata"}));
  EXPECT_EQ(al["action"], "allowed");
  EXPECT_EQ(al["gid"], 1);
  EXPECT_EQ(al["signature_id"], 2019401);
  EXPECT_EQ(al["rev"], 7);
  EXPECT_EQ(al["signature"], "ET POLICY curl User-Agent Outbound");
  EXPECT_EQ(al["category"], "Attempted Information Leak");
  EXPECT_EQ(al["severity"], 2);
  // Keys in first-seen order, values in order.
  const ordered_json want_meta =
      ordered_json::parse(R"({"former_category":["POLICY","HUNTING"],"created_at":["2010_09_23"]})");
  EXPECT_EQ(al["metadata"], want_meta);
  EXPECT_EQ(al["metadata"].begin().key(), "former_category");

  EXPECT_EQ(j["app_proto"], "http");
  EXPECT_EQ(j["direction"], "to_client");

  const ordered_json& f = j["flow"];
  EXPECT_EQ(keys_of(f), (std::set<std::string>{"pkts_toserver", "pkts_toclient", "bytes_toserver", "bytes_toclient",
                                                "start", "src_ip", "dest_ip", "src_port", "dest_port"}));
  EXPECT_EQ(f["pkts_toserver"], 4);
  EXPECT_EQ(f["pkts_toclient"], 3);
  EXPECT_EQ(f["bytes_toserver"], 400);
  EXPECT_EQ(f["bytes_toclient"], 3000);
  EXPECT_EQ(f["start"], timestamp_text(a.flow_start_ns));
  // The flow's tuple, client first.
  EXPECT_EQ(f["src_ip"], "192.168.1.10");
  EXPECT_EQ(f["src_port"], 51000);
  EXPECT_EQ(f["dest_ip"], "93.184.216.34");
  EXPECT_EQ(f["dest_port"], 80);

  const std::string b64 = j["payload"];
  EXPECT_EQ(b64.size() % 4, 0u);
  EXPECT_EQ(base64_decode(b64), std::string(reinterpret_cast<const char*>(body), sizeof body));
  // Printable ASCII as is, CR and LF kept, everything else (tab too) a dot.
  EXPECT_EQ(j["payload_printable"], std::string("HTTP/1.1 200\r\n.....ok\"\\\n"));
  EXPECT_EQ(j["stream"], 0);
}

TEST(EveAlert, ToServerPacketUsesItsOwnAddresses) {
  const AlertMeta m = full_meta();
  AlertRecord a = server_alert(m);
  a.pkt = a.flow;  // the client sent this one
  a.to_server = true;
  const ordered_json j = format(a);
  EXPECT_EQ(j["direction"], "to_server");
  EXPECT_EQ(j["src_ip"], "192.168.1.10");
  EXPECT_EQ(j["src_port"], 51000);
  EXPECT_EQ(j["dest_ip"], "93.184.216.34");
  EXPECT_EQ(j["dest_port"], 80);
  EXPECT_EQ(j["flow"]["src_ip"], "192.168.1.10");
  // One flow, one Community ID, whichever direction alerted.
  EXPECT_EQ(j["community_id"], format(server_alert(m))["community_id"]);
}

TEST(EveAlert, OptionalFieldsAreOmitted) {
  AlertMeta m;
  m.sid = 5;
  m.signature = "bare";
  AlertRecord a = server_alert(m, 17, "10.0.0.1", "10.0.0.2", 5353, 53);
  EveFormatOptions no_cid;
  no_cid.community_id = false;
  const ordered_json j = format(a, ExportContext{}, no_cid);
  EXPECT_EQ(keys_of(j), (std::set<std::string>{"timestamp", "flow_id", "event_type", "src_ip", "src_port", "dest_ip",
                                                "dest_port", "ip_v", "proto", "pkt_src", "alert", "direction",
                                                "flow"}));
  EXPECT_EQ(keys_of(j["alert"]),
            (std::set<std::string>{"action", "gid", "signature_id", "rev", "signature", "severity"}));
  EXPECT_EQ(j["alert"]["severity"], 3);
  EXPECT_EQ(j["alert"]["gid"], 1);
  EXPECT_EQ(j["proto"], "UDP");
  EXPECT_EQ(j["src_port"], 53);
  // The Community ID is on by default.
  EXPECT_TRUE(format(a).contains("community_id"));
  // A packet from a capture file: its number in the file, where Suricata
  // puts pcap_cnt (after in_iface, before event_type).
  a.pcap_cnt = 14;
  ExportContext ctx;
  ctx.iface_name = "eth0";
  const ordered_json f = format(a, ctx);
  EXPECT_EQ(f["pcap_cnt"], 14);
  std::vector<std::string> order;
  for (auto it = f.begin(); it != f.end() && order.size() < 5; ++it) order.push_back(it.key());
  EXPECT_EQ(order, (std::vector<std::string>{"timestamp", "flow_id", "in_iface", "pcap_cnt", "event_type"}));
}

TEST(EveAlert, BlockedAndSingleVlan) {
  AlertMeta m = full_meta();
  AlertRecord a = server_alert(m);
  a.action = 1;  // a drop rule's alert
  a.blocked = true;
  a.vlan[0] = 7;
  a.vlan_count = 1;
  ordered_json j = format(a);
  EXPECT_EQ(j["alert"]["action"], "blocked");
  EXPECT_EQ(j["vlan"], ordered_json::array({7}));
  a.blocked = false;
  j = format(a);
  EXPECT_EQ(j["alert"]["action"], "allowed") << "a drop rule's alert on a packet that was not dropped";
}

// ---------------------------------------------------------------- protocols

TEST(EveAlert, IcmpHasTypeAndCodeNoPorts) {
  AlertMeta m = full_meta();
  // An echo request from the client; the flow key's ports carry the echo id.
  AlertRecord a = server_alert(m, 1, "10.0.0.1", "10.0.0.2", 0x1234, 0x1234);
  a.pkt = a.flow;
  a.to_server = true;
  a.icmp_type = 8;
  a.icmp_code = 0;
  const ordered_json j = format(a);
  EXPECT_EQ(j["proto"], "ICMP");
  EXPECT_EQ(j["icmp_type"], 8);
  EXPECT_EQ(j["icmp_code"], 0);
  EXPECT_FALSE(j.contains("src_port"));
  EXPECT_FALSE(j.contains("dest_port"));
  EXPECT_FALSE(j["flow"].contains("src_port"));
  EXPECT_FALSE(j["flow"].contains("dest_port"));
  EXPECT_EQ(j["flow"]["src_ip"], "10.0.0.1");
  EXPECT_EQ(j["community_id"], flow_event_community_id(a.flow, 8, 0));

  // Destination unreachable (no counterpart type), code 3.
  a.icmp_type = 3;
  a.icmp_code = 3;
  a.flow.sport = a.flow.dport = 0;
  a.pkt = a.flow;
  const ordered_json u = format(a);
  EXPECT_EQ(u["icmp_type"], 3);
  EXPECT_EQ(u["icmp_code"], 3);
  EXPECT_EQ(u["community_id"], flow_event_community_id(a.flow, 3, 3));

  // ICMPv6 echo.
  AlertRecord v6 = server_alert(m, 58, "2001:db8::1", "2001:db8::2", 7, 7);
  v6.pkt = v6.flow;
  v6.to_server = true;
  v6.icmp_type = 128;
  const ordered_json k = format(v6);
  EXPECT_EQ(k["proto"], "IPv6-ICMP");
  EXPECT_EQ(k["ip_v"], 6);
  EXPECT_EQ(k["icmp_type"], 128);
  EXPECT_FALSE(k.contains("src_port"));
  EXPECT_EQ(k["community_id"], flow_event_community_id(v6.flow, 128, 0));
}

TEST(EveAlert, IcmpReplyCarriesTheFlowsCommunityId) {
  AlertMeta m = full_meta();
  AlertRecord a = server_alert(m, 1, "10.0.0.1", "10.0.0.2", 0x1234, 0x1234);
  a.icmp_type = 0;  // echo reply from the server
  a.icmp_code = 0;
  const ordered_json j = format(a);
  EXPECT_EQ(j["icmp_type"], 0);
  EXPECT_EQ(j["src_ip"], "10.0.0.2");
  EXPECT_EQ(j["community_id"], flow_event_community_id(a.flow, 8, 0, 0));
}

TEST(EveAlert, PortsOnlyForTcpUdpSctp) {
  AlertMeta m = full_meta();
  struct Case {
    uint8_t proto;
    const char* name;
    bool ports;
  };
  const Case cases[] = {{6, "TCP", true},   {17, "UDP", true}, {132, "SCTP", true},
                        {47, "GRE", false}, {50, "ESP", false}, {200, "200", false}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    AlertRecord a = server_alert(m, c.proto, "10.0.0.1", "10.0.0.2", c.ports ? 1111 : 0, c.ports ? 2222 : 0);
    const ordered_json j = format(a);
    EXPECT_EQ(j["proto"], c.name);
    EXPECT_EQ(j.contains("src_port"), c.ports);
    EXPECT_EQ(j.contains("dest_port"), c.ports);
    EXPECT_EQ(j["flow"].contains("src_port"), c.ports);
    EXPECT_EQ(j["flow"].contains("dest_port"), c.ports);
    EXPECT_FALSE(j.contains("icmp_type"));
    if (c.ports) {
      EXPECT_EQ(j["src_port"], 2222);
      EXPECT_EQ(j["flow"]["src_port"], 1111);
    }
    EXPECT_EQ(j["community_id"], flow_event_community_id(a.flow, 0, 0));
  }
}

TEST(EveAlert, TunnelledPacketNamesItsTunnel) {
  AlertMeta m = full_meta();
  AlertRecord a = server_alert(m);
  EXPECT_FALSE(format(a).contains("tunnel"));  // from the wire: no tunnel object
  a.pkt_src = 2;  // ipv6 tunnel
  a.tunnel_depth = 1;
  a.tunnel = key("2001:db8::1", "2001:db8::2", 4, 0, 0);
  ordered_json j = format(a);
  EXPECT_EQ(j["pkt_src"], "ipv6 tunnel");
  const ordered_json& t = j["tunnel"];
  EXPECT_EQ(t["src_ip"], "2001:db8::1");
  EXPECT_EQ(t["dest_ip"], "2001:db8::2");
  EXPECT_EQ(t["proto"], "IP-in-IP");
  EXPECT_FALSE(t.contains("src_port"));
  EXPECT_EQ(t["depth"], 1);
  EXPECT_EQ(t["pkt_src"], "wire/pcap");
  // VXLAN: the outer UDP ports are named.
  a.pkt_src = 3;
  a.tunnel = key("10.0.0.1", "10.0.0.2", 17, 33000, 4789);
  j = format(a);
  EXPECT_EQ(j["pkt_src"], "vxlan encapsulation");
  EXPECT_EQ(j["tunnel"]["dest_port"], 4789);
  EXPECT_EQ(j["tunnel"]["proto"], "UDP");
  // GRE: no ports.
  a.pkt_src = 4;
  a.tunnel = key("10.0.0.1", "10.0.0.2", 47, 0, 0);
  j = format(a);
  EXPECT_EQ(j["pkt_src"], "gre tunnel");
  EXPECT_FALSE(j["tunnel"].contains("src_port"));
  EXPECT_EQ(j["tunnel"]["proto"], "GRE");
  a.pkt_src = 5;
  a.tunnel = key("10.0.0.1", "10.0.0.2", 17, 40000, 6081);
  EXPECT_EQ(format(a)["pkt_src"], "geneve encapsulation");
  a.pkt_src = 6;
  EXPECT_EQ(format(a)["pkt_src"], "teredo tunnel");
  // A datagram reassembled from fragments of a tunnelled packet keeps the
  // tunnel; one from the wire has none.
  a.pkt_src = 7;
  j = format(a);
  EXPECT_EQ(j["pkt_src"], "defrag");
  EXPECT_TRUE(j.contains("tunnel"));
  a.tunnel_depth = 0;
  j = format(a);
  EXPECT_EQ(j["pkt_src"], "defrag");
  EXPECT_FALSE(j.contains("tunnel"));
}

TEST(EveAlert, Ipv6AddressesBothStyles) {
  AlertMeta m = full_meta();
  AlertRecord a = server_alert(m, 17, "2001:db8::10", "2001:db8:0:1::53", 40000, 53);
  ordered_json j = format(a);
  EXPECT_EQ(j["ip_v"], 6);
  EXPECT_EQ(j["src_ip"], "2001:db8:0:1::53");
  EXPECT_EQ(j["dest_ip"], "2001:db8::10");
  EXPECT_EQ(j["flow"]["src_ip"], "2001:db8::10");
  EveFormatOptions full;
  full.ipv6_compressed = false;
  j = format(a, ExportContext{}, full);
  EXPECT_EQ(j["src_ip"], "2001:0db8:0000:0001:0000:0000:0000:0053");
  EXPECT_EQ(j["dest_ip"], "2001:0db8:0000:0000:0000:0000:0000:0010");
  EXPECT_EQ(j["flow"]["dest_ip"], "2001:0db8:0000:0001:0000:0000:0000:0053");
  EXPECT_EQ(j["community_id"], flow_event_community_id(a.flow, 0, 0, 0, full));
}

TEST(EveAlert, CommunityIdSeed) {
  AlertMeta m = full_meta();
  AlertRecord a = server_alert(m);
  EveFormatOptions seeded;
  seeded.community_id_seed = 9;
  const ordered_json j = format(a, ExportContext{}, seeded);
  EXPECT_EQ(j["community_id"], flow_event_community_id(a.flow, 0, 0, 0, seeded));
  EXPECT_NE(j["community_id"], format(a)["community_id"]);
}

// ---------------------------------------------------------------- text

TEST(EveAlert, EscapesSignatureAndMetadata) {
  AlertMeta m;
  m.sid = 1;
  m.signature = "say \"hi\" C:\\path\ttab\x01 caf\xc3\xa9";
  m.category = "cat \"q\"";
  m.metadata = {{"key", {"v\\al \"q\"", "line\nbreak"}}};
  AlertRecord a = server_alert(m);
  std::string raw;
  const ordered_json j = format(a, ExportContext{}, EveFormatOptions{}, &raw);
  EXPECT_EQ(j["alert"]["signature"], m.signature);
  EXPECT_EQ(j["alert"]["category"], m.category);
  EXPECT_EQ(j["alert"]["metadata"]["key"], ordered_json::array({"v\\al \"q\"", "line\nbreak"}));
  EXPECT_NE(raw.find(R"(say \"hi\" C:\\path\ttab\u0001)"), std::string::npos) << raw;
}

TEST(EveAlert, MetadataKeysAreEscaped) {
  AlertMeta m;
  m.sid = 1;
  m.signature = "s";
  m.metadata = {{"a\"b", {"c"}}, {"k\\;x", {"y"}}, {"tab\there", {"z"}}};
  AlertRecord a = server_alert(m);
  std::string raw;
  JsonWriter w;
  format_alert_event(a, ExportContext{}, EveFormatOptions{}, w);
  raw = std::string(w.view());
  ASSERT_TRUE(json::accept(raw)) << raw;
  const ordered_json j = ordered_json::parse(raw);
  EXPECT_EQ(j["alert"]["metadata"]["a\"b"], ordered_json::array({"c"}));
  EXPECT_EQ(j["alert"]["metadata"]["k\\;x"], ordered_json::array({"y"}));
  EXPECT_EQ(j["alert"]["metadata"]["tab\there"], ordered_json::array({"z"}));
}

TEST(EveAlert, PacketAndPacketInfo) {
  AlertMeta m = full_meta();
  AlertRecord a = server_alert(m);
  const uint8_t frame[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00, 0x45, 0, 'h', 'i', 0xff};
  std::memcpy(a.data, frame, sizeof frame);
  a.packet_len = sizeof frame;
  a.linktype = 1;
  a.payload_off = 16;
  a.payload_len = 3;
  ordered_json j = format(a);
  EXPECT_EQ(base64_decode(j["packet"]), std::string(reinterpret_cast<const char*>(frame), sizeof frame));
  EXPECT_EQ(base64_decode(j["payload"]), "hi\xff");
  EXPECT_EQ(j["packet_info"], (ordered_json{{"linktype", 1}, {"linktype_name", "EN10MB"}}));
  // Suricata's names, as libpcap's DLT numbers on Linux; a cut packet says so.
  const std::pair<uint16_t, const char*> names[] = {{12, "RAW"},        {113, "LINUX_SLL"}, {276, "LINUX_SLL2"},
                                                    {229, "IPv6"},      {228, "IPv4"},      {0, "NULL"}};
  for (const auto& [dlt, name] : names) {
    a.linktype = dlt;
    a.packet_truncated = dlt == 12;
    j = format(a);
    EXPECT_EQ(j["packet_info"]["linktype"], dlt);
    EXPECT_EQ(j["packet_info"]["linktype_name"], name);
    EXPECT_EQ(j["packet_info"].contains("truncated"), dlt == 12);
  }
  // Packet logging off: neither field.
  a.packet_len = 0;
  j = format(a);
  EXPECT_FALSE(j.contains("packet"));
  EXPECT_FALSE(j.contains("packet_info"));
  EXPECT_EQ(base64_decode(j["payload"]), "hi\xff");
}

TEST(EveAlert, PayloadOfEveryLength) {
  AlertMeta m = full_meta();
  std::mt19937 rng(7);
  for (size_t n : {size_t{1}, size_t{2}, size_t{3}, size_t{4}, size_t{5}, size_t{63}, size_t{64}, size_t{65},
                   kAlertDataMax}) {
    SCOPED_TRACE(n);
    AlertRecord a = server_alert(m);
    for (size_t i = 0; i < n; ++i) a.data[i] = static_cast<uint8_t>(rng());
    a.payload_len = static_cast<uint16_t>(n);
    a.stream = n == 64;
    const ordered_json j = format(a);
    const std::string want(reinterpret_cast<const char*>(a.payload()), n);
    const std::string b64 = j["payload"];
    EXPECT_EQ(b64.size(), (n + 2) / 3 * 4);
    EXPECT_EQ(base64_decode(b64), want);
    std::string printable = want;
    for (char& c : printable) {
      const auto u = static_cast<unsigned char>(c);
      if (!((u >= 0x20 && u < 0x7f) || u == '\r' || u == '\n')) c = '.';
    }
    EXPECT_EQ(j["payload_printable"], printable);
    EXPECT_EQ(j["stream"], n == 64 ? 1 : 0);
  }
}

TEST(EveAlert, EventsAppendAsLines) {
  AlertMeta m = full_meta();
  AlertRecord a = server_alert(m);
  JsonWriter w;
  format_alert_event(a, ExportContext{}, EveFormatOptions{}, w);
  a.to_server = true;
  format_alert_event(a, ExportContext{}, EveFormatOptions{}, w);
  const std::string text(w.view());
  const size_t nl = text.find('\n');
  ASSERT_NE(nl, std::string::npos);
  ASSERT_EQ(text.back(), '\n');
  EXPECT_EQ(json::parse(text.substr(0, nl))["direction"], "to_client");
  EXPECT_EQ(json::parse(text.substr(nl + 1))["direction"], "to_server");
}

}  // namespace
}  // namespace ws
