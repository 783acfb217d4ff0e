// Protobuf events: flow records, alerts and stats encoded by proto_codec
// and parsed back with the classes protoc generates from wirescope.proto,
// every field checked; the same record's EVE line agrees with its Event;
// the hand-assembled bytes equal protobuf's own serialization; varint
// framing against protobuf's delimited-message functions, including
// multi-byte lengths and every truncation of a stream.
#include "telemetry/proto_codec.h"

#include <arpa/inet.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/delimited_message_util.h>
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rules/rule.h"
#include "telemetry/community_id.h"
#include "telemetry/eve.h"
#include "telemetry/wirescope.pb.h"

namespace ws {
namespace {

using nlohmann::json;

constexpr uint64_t kSec = 1000000000ull;
constexpr uint64_t kT0 = 1795237090ull * kSec;  // 2026-11-21T04:58:10Z

std::string bytes_of(const uint8_t* p, size_t n) { return std::string(reinterpret_cast<const char*>(p), n); }

FlowKey make_key(const char* src, const char* dst, uint8_t proto, uint16_t sport, uint16_t dport) {
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

// Every field set to a distinct value.
FlowRecord tcp_record() {
  FlowRecord r;
  r.key = make_key("192.168.1.10", "10.20.30.40", 6, 51234, 443);
  r.key.vlan = 100;
  r.flow_id = 0xABCDEF0123456789ULL;  // above 51 bits: the mask shows
  r.flow_start_ns = kT0 - 60 * kSec;
  r.start_ns = kT0 + 1234567;
  r.end_ns = kT0 + 5 * kSec + 7654321;
  r.pkts[0] = 17;
  r.pkts[1] = 23;
  r.bytes[0] = 1700;
  r.bytes[1] = 23000;
  r.l3_bytes[0] = 1462;
  r.l3_bytes[1] = 22678;
  r.vlan[0] = 100;
  r.vlan[1] = 200;
  r.vlan_count = 2;
  r.tcp_flags[0] = 0x1b;
  r.tcp_flags[1] = 0x12;
  r.reason = FlowEndReason::kActiveTimeout;
  r.state = FlowState::kEstablished;
  r.tcp_state = TcpState::kCloseWait;
  r.alerted = 1;
  r.ifindex = 7;
  r.worker = 3;
  r.last_slice = false;
  std::strcpy(r.app_proto, "tls");
  r.payload_seen = true;
  r.emit_ns = kT0 + 9 * kSec;
  return r;
}

wirescope::Event parse_event(const std::string& bytes) {
  wirescope::Event ev;
  EXPECT_TRUE(ev.ParseFromString(bytes));
  return ev;
}

json eve_flow(const FlowRecord& r, const ExportContext& ctx) {
  JsonWriter w;
  format_flow_event(r, ctx, r.emit_ns, EveFormatOptions{}, w);
  return json::parse(std::string(w.view()));
}

std::string community_id(const FlowKey& k, uint8_t type, uint8_t code) {
  char cid[kCommunityIdLen];
  return std::string(cid, community_id_for_flow(k, type, code, 0, cid));
}

TEST(ProtoFlow, EveryFieldOfATcpRecord) {
  const FlowRecord r = tcp_record();
  ExportContext ctx;
  ctx.iface_name = "eth1";
  const wirescope::Event ev = parse_event(encode_flow(r, ctx));
  ASSERT_EQ(ev.event_case(), wirescope::Event::kFlow);
  const wirescope::FlowRecord& f = ev.flow();
  EXPECT_EQ(f.timestamp_ns(), r.emit_ns);
  EXPECT_EQ(f.flow_id(), 0xABCDEF0123456789ULL & ((1ULL << 51) - 1));
  EXPECT_EQ(f.in_iface(), "eth1");
  ASSERT_EQ(f.vlan_size(), 2);
  EXPECT_EQ(f.vlan(0), 100u);
  EXPECT_EQ(f.vlan(1), 200u);
  EXPECT_EQ(f.src_ip(), std::string("\xc0\xa8\x01\x0a", 4));
  EXPECT_EQ(f.dest_ip(), std::string("\x0a\x14\x1e\x28", 4));
  EXPECT_EQ(f.src_port(), 51234u);
  EXPECT_EQ(f.dest_port(), 443u);
  EXPECT_EQ(f.ip_v(), 4u);
  EXPECT_EQ(f.proto(), 6u);
  EXPECT_EQ(f.app_proto(), "tls");
  EXPECT_EQ(f.pkts_toserver(), 17u);
  EXPECT_EQ(f.pkts_toclient(), 23u);
  EXPECT_EQ(f.bytes_toserver(), 1700u);
  EXPECT_EQ(f.bytes_toclient(), 23000u);
  EXPECT_EQ(f.start_ns(), r.start_ns);
  EXPECT_EQ(f.end_ns(), r.end_ns);
  EXPECT_EQ(f.state(), wirescope::FLOW_STATE_ESTABLISHED);
  EXPECT_EQ(f.reason(), wirescope::FLOW_END_REASON_ACTIVE_TIMEOUT);
  EXPECT_TRUE(f.alerted());
  EXPECT_EQ(f.tcp_flags_ts(), 0x1bu);
  EXPECT_EQ(f.tcp_flags_tc(), 0x12u);
  EXPECT_EQ(f.tcp_state(), wirescope::TCP_STATE_CLOSE_WAIT);
  EXPECT_EQ(f.icmp_type(), 0u);
  EXPECT_EQ(f.icmp_code(), 0u);
  EXPECT_FALSE(f.has_response_icmp());
  EXPECT_EQ(f.community_id(), community_id(r.key, 0, 0));
  EXPECT_EQ(f.flow_start_ns(), r.flow_start_ns);
  EXPECT_FALSE(f.last_slice());
  EXPECT_EQ(f.octets_toserver(), 1462u);
  EXPECT_EQ(f.octets_toclient(), 22678u);
  EXPECT_EQ(f.ingress_interface(), 7u);
  EXPECT_EQ(f.worker(), 3u);
  EXPECT_FALSE(f.has_ndpi());
}

TEST(ProtoFlow, AgreesWithTheEveLineOfTheSameRecord) {
  ExportContext ctx;
  ctx.iface_name = "eth0";
  std::vector<FlowRecord> recs;
  recs.push_back(tcp_record());
  FlowRecord u;
  u.key = make_key("2001:db8::1", "2001:db8::53", 17, 5353, 53);
  u.flow_id = 99;
  u.start_ns = kT0;
  u.end_ns = kT0 + kSec;
  u.pkts[0] = 1;
  u.bytes[0] = 90;
  u.payload_seen = true;  // nothing recognised: "failed"
  u.reason = FlowEndReason::kShutdown;
  recs.push_back(u);
  FlowRecord t = tcp_record();
  t.tcp_reuse = true;
  t.state = FlowState::kClosed;
  t.reason = FlowEndReason::kEndOfFlow;
  recs.push_back(t);

  for (const FlowRecord& r : recs) {
    const json e = eve_flow(r, ctx);
    const wirescope::FlowRecord f = parse_event(encode_flow(r, ctx)).flow();
    SCOPED_TRACE(e.dump());
    EXPECT_EQ(f.flow_id(), e["flow_id"].get<uint64_t>());
    EXPECT_EQ(f.community_id(), e["community_id"].get<std::string>());
    EXPECT_EQ(f.app_proto(), e.value("app_proto", std::string()));
    EXPECT_EQ(f.src_port(), e.value("src_port", 0u));
    EXPECT_EQ(f.dest_port(), e.value("dest_port", 0u));
    EXPECT_EQ(f.ip_v(), e["ip_v"].get<unsigned>());
    EXPECT_EQ(eve_proto_name(uint8_t(f.proto())), e["proto"].get<std::string>());
    char text[INET6_ADDRSTRLEN];
    ASSERT_NE(inet_ntop(f.ip_v() == 6 ? AF_INET6 : AF_INET, f.src_ip().data(), text, sizeof text), nullptr);
    EXPECT_EQ(std::string(text), e["src_ip"].get<std::string>());
    ASSERT_NE(inet_ntop(f.ip_v() == 6 ? AF_INET6 : AF_INET, f.dest_ip().data(), text, sizeof text), nullptr);
    EXPECT_EQ(std::string(text), e["dest_ip"].get<std::string>());
    EXPECT_EQ(f.pkts_toserver(), e["flow"]["pkts_toserver"].get<uint64_t>());
    EXPECT_EQ(f.bytes_toclient(), e["flow"]["bytes_toclient"].get<uint64_t>());
    EXPECT_EQ(f.alerted(), e["flow"]["alerted"].get<bool>());
    // Enum names lowercased without their prefix are EVE's words.
    std::string state = wirescope::FlowState_Name(f.state()).substr(std::strlen("FLOW_STATE_"));
    for (char& c : state) c = char(std::tolower(c));
    EXPECT_EQ(state, e["flow"]["state"].get<std::string>());
    const std::string reason = e["flow"]["reason"].get<std::string>();
    switch (f.reason()) {
      case wirescope::FLOW_END_REASON_TCP_REUSE: EXPECT_EQ(reason, "tcp_reuse"); break;
      case wirescope::FLOW_END_REASON_SHUTDOWN: EXPECT_EQ(reason, "shutdown"); break;
      case wirescope::FLOW_END_REASON_FORCED: EXPECT_EQ(reason, "forced"); break;
      default: EXPECT_EQ(reason, "timeout");
    }
    if (f.proto() == 6) {
      EXPECT_EQ(f.tcp_flags_ts(), std::stoul(e["tcp"]["tcp_flags_ts"].get<std::string>(), nullptr, 16));
      EXPECT_EQ(f.tcp_flags_tc(), std::stoul(e["tcp"]["tcp_flags_tc"].get<std::string>(), nullptr, 16));
      std::string ts = wirescope::TcpState_Name(f.tcp_state()).substr(std::strlen("TCP_STATE_"));
      for (char& c : ts) c = char(std::tolower(c));
      EXPECT_EQ(ts, e["tcp"]["state"].get<std::string>());
    } else {
      EXPECT_FALSE(e.contains("tcp"));
      EXPECT_EQ(f.tcp_flags_ts(), 0u);
    }
    ASSERT_TRUE(e.contains("vlan") == (f.vlan_size() > 0));
    for (int i = 0; i < f.vlan_size(); ++i) EXPECT_EQ(f.vlan(i), e["vlan"][i].get<unsigned>());
  }
}

AppLabel ndpi_label() {
  AppLabel a;
  std::strcpy(a.protocol, "TLS.Google");
  std::strcpy(a.category, "Web");
  std::strcpy(a.hostname, "www.google.com");
  a.risk = (uint64_t{1} << 1) | (uint64_t{1} << 3);
  a.master = 91;
  a.app = 126;
  a.confidence = 6;
  return a;
}

// The nDPI verdict: the same protocol, category, confidence, hostname and
// risk names as the EVE line's `ndpi` object.
TEST(ProtoFlow, NdpiAgreesWithEve) {
  FlowRecord r = tcp_record();
  r.app = ndpi_label();
  const json e = eve_flow(r, {});
  ASSERT_TRUE(e.contains("ndpi")) << e.dump();
  const std::string bytes = encode_flow(r, {});
  const wirescope::Event ev = parse_event(bytes);
  EXPECT_EQ(ev.SerializeAsString(), bytes) << "field order is protobuf's own";
  ASSERT_TRUE(ev.flow().has_ndpi());
  const wirescope::Ndpi& n = ev.flow().ndpi();
  EXPECT_EQ(n.protocol(), "TLS.Google");
  EXPECT_EQ(n.protocol(), e["ndpi"]["protocol"].get<std::string>());
  EXPECT_EQ(n.category(), e["ndpi"]["category"].get<std::string>());
  EXPECT_EQ(n.confidence(), e["ndpi"]["confidence"].get<std::string>());
  EXPECT_FALSE(n.confidence().empty());
  EXPECT_EQ(n.hostname(), "www.google.com");
  EXPECT_EQ(n.hostname(), e["ndpi"]["hostname"].get<std::string>());
  ASSERT_EQ(size_t(n.risk_size()), e["ndpi"]["risk"].size());
  EXPECT_EQ(n.risk_size(), 2);
  for (int i = 0; i < n.risk_size(); ++i) EXPECT_EQ(n.risk(i), e["ndpi"]["risk"][i].get<std::string>());

  // A reused encoder drops the verdict for a flow nDPI never saw.
  ProtoEncoder enc;
  std::string out;
  enc.append_flow(r, out, false);
  out.clear();
  FlowRecord plain = tcp_record();
  enc.append_flow(plain, out, false);
  EXPECT_FALSE(parse_event(out).flow().has_ndpi());
  EXPECT_EQ(out, encode_flow(plain, {}));
}

// GNS3 link labels: looked up by the record's ifindex, as EVE's "gns3"
// object; records from other interfaces carry none.
const Gns3LinkLabel* lab_link(uint16_t ifindex) {
  static const Gns3LinkLabel l{"lab1", "6b5a0e1c-7f3e-4c39-9a49-0c2f4d0b3a11", "Enterprise Lab",
                               "0b0a2c4e-1111-2222-3333-444455556666", {"R1", "SW1"}};
  return ifindex == 7 ? &l : nullptr;
}

TEST(ProtoFlow, Gns3LinkAfterNdpi) {
  ProtoOptions o;
  o.gns3_label = lab_link;
  FlowRecord r = tcp_record();  // ifindex 7
  r.app = ndpi_label();
  const std::string bytes = encode_flow(r, {}, o);
  const wirescope::Event ev = parse_event(bytes);
  EXPECT_EQ(ev.SerializeAsString(), bytes) << "ndpi (40) then gns3 (60), as protobuf orders them";
  ASSERT_TRUE(ev.flow().has_gns3());
  const wirescope::Gns3Link& g = ev.flow().gns3();
  EXPECT_EQ(g.server(), "lab1");
  EXPECT_EQ(g.project_id(), "6b5a0e1c-7f3e-4c39-9a49-0c2f4d0b3a11");
  EXPECT_EQ(g.project(), "Enterprise Lab");
  EXPECT_EQ(g.link_id(), "0b0a2c4e-1111-2222-3333-444455556666");
  ASSERT_EQ(g.nodes_size(), 2);
  EXPECT_EQ(g.nodes(0), "R1");
  EXPECT_EQ(g.nodes(1), "SW1");
  EXPECT_TRUE(ev.flow().has_ndpi());

  // Another interface: no label; without the lookup: none either.
  r.ifindex = 8;
  EXPECT_FALSE(parse_event(encode_flow(r, {}, o)).flow().has_gns3());
  r.ifindex = 7;
  EXPECT_FALSE(parse_event(encode_flow(r, {})).flow().has_gns3());
  // A reused encoder leaves no label behind.
  ProtoEncoder enc({}, o);
  std::string out;
  enc.append_flow(r, out, false);
  out.clear();
  r.ifindex = 8;
  enc.append_flow(r, out, false);
  EXPECT_FALSE(parse_event(out).flow().has_gns3());
}

TEST(ProtoFlow, IcmpWithAndWithoutAResponse) {
  FlowRecord r;
  r.key = make_key("10.0.0.1", "10.0.0.2", 1, 0x1234, 0x1234);
  r.icmp_type[0] = 8;
  r.icmp_type[1] = 0;
  r.icmp_code[0] = 0;
  r.pkts[0] = 3;
  r.pkts[1] = 3;
  const wirescope::FlowRecord f = parse_event(encode_flow(r, {})).flow();
  EXPECT_EQ(f.icmp_type(), 8u);
  EXPECT_TRUE(f.has_response_icmp());
  EXPECT_EQ(f.response_icmp_type(), 0u);
  EXPECT_EQ(f.src_port(), 0u) << "EVE has no ports for ICMP";
  EXPECT_EQ(f.community_id(), community_id(r.key, 8, 0));

  r.pkts[1] = 0;
  r.icmp_type[0] = 3;
  r.icmp_code[0] = 1;
  const wirescope::FlowRecord g = parse_event(encode_flow(r, {})).flow();
  EXPECT_EQ(g.icmp_type(), 3u);
  EXPECT_EQ(g.icmp_code(), 1u);
  EXPECT_FALSE(g.has_response_icmp());
  EXPECT_EQ(g.app_proto(), "") << "port-less flows never say failed";
}

TEST(ProtoFlow, OptionsAndTheUnsetTimestamp) {
  FlowRecord r = tcp_record();
  r.emit_ns = 0;
  ProtoOptions o;
  o.community_id = false;
  const wirescope::FlowRecord f = parse_event(encode_flow(r, {}, o)).flow();
  EXPECT_EQ(f.timestamp_ns(), r.end_ns);
  EXPECT_EQ(f.community_id(), "");
  EXPECT_EQ(f.in_iface(), "");

  o.community_id = true;
  o.community_id_seed = 7;
  char cid[kCommunityIdLen];
  const std::string want(cid, community_id_for_flow(r.key, 0, 0, 7, cid));
  EXPECT_EQ(parse_event(encode_flow(r, {}, o)).flow().community_id(), want);
  EXPECT_NE(want, community_id(r.key, 0, 0));
}

// The encoder's hand-appended sub-messages must give exactly what
// protobuf writes for the parsed message, and reuse must not leak one
// record's fields into the next.
TEST(ProtoEncoder, BytesAreProtobufsOwnAndReuseLeavesNothingBehind) {
  ExportContext ctx;
  ctx.iface_name = "eth9";
  ProtoEncoder enc(ctx);
  FlowRecord full = tcp_record();
  FlowRecord bare;
  bare.key = make_key("10.0.0.1", "10.0.0.2", 47, 0, 0);
  bare.pkts[0] = 1;
  std::string out;
  for (const FlowRecord* r : {&full, &bare, &full}) {
    out.clear();
    enc.append_flow(*r, out, false);
    EXPECT_EQ(out, encode_flow(*r, ctx));
    wirescope::Event ev = parse_event(out);
    EXPECT_EQ(ev.SerializeAsString(), out);
  }
  const wirescope::FlowRecord b = parse_event(encode_flow(bare, ctx)).flow();
  EXPECT_EQ(b.vlan_size(), 0);
  EXPECT_EQ(b.app_proto(), "");
  EXPECT_EQ(b.tcp_state(), wirescope::TCP_STATE_NONE);
  EXPECT_FALSE(b.alerted());

  // Delimited appends: the length, then the same bytes; two in a row.
  out.clear();
  const size_t n1 = enc.append_flow(full, out, true);
  const size_t n2 = enc.append_flow(bare, out, true);
  EXPECT_EQ(n1 + n2, out.size());
  std::string want;
  append_delimited(want, encode_flow(full, ctx));
  append_delimited(want, encode_flow(bare, ctx));
  EXPECT_EQ(out, want);
}

AlertMeta full_meta() {
  AlertMeta m;
  m.gid = 1;
  m.sid = 2100498;
  m.rev = 7;
  m.signature = "GPL ATTACK_RESPONSE id check returned root";
  m.category = "Potentially Bad Traffic";
  m.severity = 2;
  m.metadata = {{"created_at", {"2010_09_23"}}, {"tag", {"a", "b"}}};
  return m;
}

AlertRecord make_alert(const AlertMeta& m) {
  AlertRecord a;
  a.ts_ns = kT0 + 42;
  a.flow_id = 0x7123456789ABCULL;
  a.flow_start_ns = kT0 - kSec;
  a.pkts[0] = 4;
  a.pkts[1] = 5;
  a.bytes[0] = 400;
  a.bytes[1] = 5000;
  a.flow = make_key("192.168.1.10", "10.0.0.80", 6, 40000, 80);
  a.pkt = a.flow.reversed();  // the server's answer
  a.meta = &m;
  a.vlan[0] = 12;
  a.vlan_count = 1;
  a.action = static_cast<uint8_t>(RuleAction::kReject);
  a.blocked = true;
  a.to_server = false;
  a.stream = true;
  std::strcpy(a.app_proto, "http");
  const char body[] = "uid=0(root) gid=0(root)";
  a.payload_len = sizeof body - 1;
  std::memcpy(a.data, body, a.payload_len);
  a.payload_truncated = true;
  return a;
}

TEST(ProtoAlert, EveryField) {
  const AlertMeta m = full_meta();
  const AlertRecord a = make_alert(m);
  ExportContext ctx;
  ctx.iface_name = "eth2";
  const std::string bytes = encode_alert(a, ctx);
  const wirescope::Event ev = parse_event(bytes);
  ASSERT_EQ(ev.event_case(), wirescope::Event::kAlert);
  EXPECT_EQ(ev.SerializeAsString(), bytes) << "field order is protobuf's own";
  const wirescope::Alert& al = ev.alert();
  EXPECT_EQ(al.timestamp_ns(), kT0 + 42);
  EXPECT_EQ(al.flow_id(), 0x7123456789ABCULL);
  EXPECT_EQ(al.in_iface(), "eth2");
  ASSERT_EQ(al.vlan_size(), 1);
  EXPECT_EQ(al.vlan(0), 12u);
  EXPECT_EQ(al.src_ip(), bytes_of(a.pkt.src, 4));
  EXPECT_EQ(al.dest_ip(), bytes_of(a.pkt.dst, 4));
  EXPECT_EQ(al.src_port(), 80u);
  EXPECT_EQ(al.dest_port(), 40000u);
  EXPECT_EQ(al.ip_v(), 4u);
  EXPECT_EQ(al.proto(), 6u);
  EXPECT_EQ(al.app_proto(), "http");
  EXPECT_FALSE(al.to_server());
  EXPECT_EQ(al.community_id(), community_id(a.pkt, 0, 0));
  EXPECT_TRUE(al.blocked());
  EXPECT_EQ(al.action(), wirescope::RULE_ACTION_REJECT);
  EXPECT_EQ(al.gid(), 1u);
  EXPECT_EQ(al.signature_id(), 2100498u);
  EXPECT_EQ(al.rev(), 7u);
  EXPECT_EQ(al.signature(), m.signature);
  EXPECT_EQ(al.category(), m.category);
  EXPECT_EQ(al.severity(), 2u);
  ASSERT_EQ(al.metadata_size(), 2);
  EXPECT_EQ(al.metadata(0).key(), "created_at");
  ASSERT_EQ(al.metadata(0).values_size(), 1);
  EXPECT_EQ(al.metadata(0).values(0), "2010_09_23");
  EXPECT_EQ(al.metadata(1).key(), "tag");
  ASSERT_EQ(al.metadata(1).values_size(), 2);
  EXPECT_EQ(al.metadata(1).values(1), "b");
  EXPECT_EQ(al.payload(), "uid=0(root) gid=0(root)");
  EXPECT_TRUE(al.payload_truncated());
  EXPECT_TRUE(al.stream());
  ASSERT_TRUE(al.has_flow());
  const wirescope::AlertFlow& f = al.flow();
  EXPECT_EQ(f.pkts_toserver(), 4u);
  EXPECT_EQ(f.pkts_toclient(), 5u);
  EXPECT_EQ(f.bytes_toserver(), 400u);
  EXPECT_EQ(f.bytes_toclient(), 5000u);
  EXPECT_EQ(f.start_ns(), kT0 - kSec);
  EXPECT_EQ(f.src_ip(), bytes_of(a.flow.src, 4));
  EXPECT_EQ(f.dest_ip(), bytes_of(a.flow.dst, 4));
  EXPECT_EQ(f.src_port(), 40000u);
  EXPECT_EQ(f.dest_port(), 80u);
}

TEST(ProtoAlert, NdpiAfterTheFlow) {
  const AlertMeta m = full_meta();
  AlertRecord a = make_alert(m);
  a.app = ndpi_label();
  const std::string bytes = encode_alert(a, {});
  const wirescope::Event ev = parse_event(bytes);
  EXPECT_EQ(ev.SerializeAsString(), bytes) << "flow (28) then ndpi (29), as protobuf orders them";
  ASSERT_TRUE(ev.alert().has_ndpi());
  EXPECT_EQ(ev.alert().ndpi().protocol(), "TLS.Google");
  EXPECT_EQ(ev.alert().ndpi().hostname(), "www.google.com");
  EXPECT_EQ(ev.alert().flow().dest_port(), 80u);
  a.app = AppLabel{};
  EXPECT_FALSE(parse_event(encode_alert(a, {})).alert().has_ndpi());
}

TEST(ProtoAlert, Gns3LinkLast) {
  const AlertMeta m = full_meta();
  AlertRecord a = make_alert(m);
  a.app = ndpi_label();
  a.ifindex = 7;
  ProtoOptions o;
  o.gns3_label = lab_link;
  const std::string bytes = encode_alert(a, {}, o);
  const wirescope::Event ev = parse_event(bytes);
  EXPECT_EQ(ev.SerializeAsString(), bytes) << "flow (28), ndpi (29), gns3 (30)";
  ASSERT_TRUE(ev.alert().has_gns3());
  EXPECT_EQ(ev.alert().gns3().project(), "Enterprise Lab");
  EXPECT_EQ(ev.alert().gns3().nodes_size(), 2);
  a.ifindex = 0;
  EXPECT_FALSE(parse_event(encode_alert(a, {}, o)).alert().has_gns3());
}

TEST(ProtoAlert, RuleActionsKeepTheirNumbers) {
  const AlertMeta m = full_meta();
  AlertRecord a = make_alert(m);
  const std::pair<RuleAction, wirescope::RuleAction> pairs[] = {
      {RuleAction::kAlert, wirescope::RULE_ACTION_ALERT},
      {RuleAction::kDrop, wirescope::RULE_ACTION_DROP},
      {RuleAction::kPass, wirescope::RULE_ACTION_PASS},
      {RuleAction::kReject, wirescope::RULE_ACTION_REJECT}};
  for (auto [ours, theirs] : pairs) {
    a.action = static_cast<uint8_t>(ours);
    EXPECT_EQ(parse_event(encode_alert(a, {})).alert().action(), theirs);
  }
}

TEST(ProtoAlert, ReuseAndAMinimalIpv6Alert) {
  const AlertMeta full = full_meta();
  AlertMeta bare;
  bare.sid = 1;
  bare.signature = "x";
  AlertRecord a = make_alert(full);
  AlertRecord b{};
  b.flow = make_key("2001:db8::1", "2001:db8::2", 58, 9, 9);
  b.pkt = b.flow;
  b.meta = &bare;
  b.icmp_type = 128;
  ProtoEncoder enc;
  std::string out;
  enc.append_alert(a, out, false);
  out.clear();
  enc.append_alert(b, out, false);
  EXPECT_EQ(out, encode_alert(b, {}));
  const wirescope::Event ev = parse_event(out);
  EXPECT_EQ(ev.SerializeAsString(), out);
  const wirescope::Alert& al = ev.alert();
  EXPECT_EQ(al.metadata_size(), 0);
  EXPECT_EQ(al.payload(), "");
  EXPECT_EQ(al.category(), "");
  EXPECT_EQ(al.ip_v(), 6u);
  EXPECT_EQ(al.src_ip(), bytes_of(b.pkt.src, 16));
  EXPECT_EQ(al.icmp_type(), 128u);
  EXPECT_EQ(al.src_port(), 0u);
  EXPECT_EQ(al.flow().src_ip(), bytes_of(b.flow.src, 16));
  EXPECT_EQ(al.flow().src_port(), 0u);
}

TEST(ProtoStats, EveryField) {
  StatsSnapshot s;
  s.timestamp_ns = kT0 + 5;
  s.uptime_s = 12.5;
  s.packets = 1000;
  s.bytes = 640000;
  s.drops = 3;
  s.flows_active = 17;
  s.flows_created = 99;
  s.records_exported = 80;
  s.alerts = 4;
  s.sources = {{"eth0:0", 600, 400000, 1, 2}, {"eth0:1", 400, 240000, 0, 0}};
  s.workers = {{0, 600, 400000, 10, 60}, {1, 400, 240000, 7, 39}};
  const std::string bytes = encode_stats(s);
  const wirescope::Event ev = parse_event(bytes);
  ASSERT_EQ(ev.event_case(), wirescope::Event::kStats);
  EXPECT_EQ(ev.SerializeAsString(), bytes);
  const wirescope::Stats& st = ev.stats();
  EXPECT_EQ(st.timestamp_ns(), kT0 + 5);
  EXPECT_DOUBLE_EQ(st.uptime_s(), 12.5);
  EXPECT_EQ(st.packets(), 1000u);
  EXPECT_EQ(st.bytes(), 640000u);
  EXPECT_EQ(st.drops(), 3u);
  EXPECT_EQ(st.flows_active(), 17u);
  EXPECT_EQ(st.flows_created(), 99u);
  EXPECT_EQ(st.records_exported(), 80u);
  EXPECT_EQ(st.alerts(), 4u);
  ASSERT_EQ(st.sources_size(), 2);
  EXPECT_EQ(st.sources(0).name(), "eth0:0");
  EXPECT_EQ(st.sources(0).packets(), 600u);
  EXPECT_EQ(st.sources(0).bytes(), 400000u);
  EXPECT_EQ(st.sources(0).kernel_drops(), 1u);
  EXPECT_EQ(st.sources(0).if_drops(), 2u);
  EXPECT_EQ(st.sources(1).name(), "eth0:1");
  ASSERT_EQ(st.workers_size(), 2);
  EXPECT_EQ(st.workers(1).id(), 1u);
  EXPECT_EQ(st.workers(1).packets(), 400u);
  EXPECT_EQ(st.workers(1).bytes(), 240000u);
  EXPECT_EQ(st.workers(1).flows_active(), 7u);
  EXPECT_EQ(st.workers(1).flows_created(), 39u);

  // A reused encoder with fewer sources and workers.
  ProtoEncoder enc;
  std::string out;
  enc.append_stats(s, out, false);
  StatsSnapshot small;
  small.packets = 1;
  small.workers = {{5, 1, 60, 1, 1}};
  out.clear();
  enc.append_stats(small, out, false);
  const wirescope::Stats t = parse_event(out).stats();
  EXPECT_EQ(t.sources_size(), 0);
  ASSERT_EQ(t.workers_size(), 1);
  EXPECT_EQ(t.workers(0).id(), 5u);
}

// --- framing ---------------------------------------------------------------

std::string protobuf_varint(uint64_t v) {
  std::string s;
  {
    google::protobuf::io::StringOutputStream zs(&s);
    google::protobuf::io::CodedOutputStream cs(&zs);
    cs.WriteVarint64(v);
  }
  return s;
}

TEST(ProtoFraming, VarintsMatchProtobufsAtEveryLengthBoundary) {
  std::vector<uint64_t> values = {0, 1, std::numeric_limits<uint64_t>::max()};
  for (int bits = 7; bits < 64; bits += 7) {
    values.push_back((1ULL << bits) - 1);  // the longest value of one length
    values.push_back(1ULL << bits);        // the shortest of the next
  }
  for (uint64_t v : values) {
    std::string ours;
    append_varint(ours, v);
    EXPECT_EQ(ours, protobuf_varint(v)) << v;
    EXPECT_EQ(varint_size(v), ours.size()) << v;
  }
  EXPECT_EQ(varint_size(127), 1u);
  EXPECT_EQ(varint_size(128), 2u);
  EXPECT_EQ(varint_size(16383), 2u);
  EXPECT_EQ(varint_size(16384), 3u);
  EXPECT_EQ(varint_size(std::numeric_limits<uint64_t>::max()), kMaxVarintBytes);
}

// Messages whose lengths need 1, 2 and 3 varint bytes, written by
// append_delimited and read by protobuf, and written by protobuf and read
// by read_delimited.
TEST(ProtoFraming, InteroperatesWithProtobufsDelimitedFunctions) {
  std::vector<StatsSnapshot> snaps;
  for (size_t n : {0, 1, 5, 40, 3000}) {  // 3000 workers: a message over 16 KiB
    StatsSnapshot s;
    s.packets = n;
    for (size_t i = 0; i < n; ++i) s.workers.push_back({uint32_t(i), i, i * 64, i % 3, i});
    snaps.push_back(s);
  }
  std::string ours;
  std::vector<size_t> lengths;
  for (const StatsSnapshot& s : snaps) {
    const std::string m = encode_stats(s);
    lengths.push_back(m.size());
    append_delimited(ours, m);
  }
  ASSERT_LT(lengths[0], 128u);
  ASSERT_GE(lengths[3], 128u);
  ASSERT_GE(lengths[4], 16384u);

  {
    google::protobuf::io::ArrayInputStream in(ours.data(), int(ours.size()));
    for (const StatsSnapshot& s : snaps) {
      wirescope::Event ev;
      bool clean_eof = false;
      ASSERT_TRUE(google::protobuf::util::ParseDelimitedFromZeroCopyStream(&ev, &in, &clean_eof));
      EXPECT_EQ(ev.stats().packets(), s.packets);
      EXPECT_EQ(size_t(ev.stats().workers_size()), s.workers.size());
    }
    wirescope::Event ev;
    bool clean_eof = false;
    EXPECT_FALSE(google::protobuf::util::ParseDelimitedFromZeroCopyStream(&ev, &in, &clean_eof));
    EXPECT_TRUE(clean_eof);
  }

  std::string theirs;
  {
    google::protobuf::io::StringOutputStream out(&theirs);
    for (const StatsSnapshot& s : snaps) {
      wirescope::Event ev;
      ASSERT_TRUE(ev.ParseFromString(encode_stats(s)));
      ASSERT_TRUE(google::protobuf::util::SerializeDelimitedToZeroCopyStream(ev, &out));
    }
  }
  EXPECT_EQ(theirs, ours);
  size_t pos = 0;
  for (size_t i = 0; i < snaps.size(); ++i) {
    std::string_view msg;
    ASSERT_EQ(read_delimited(theirs, &pos, &msg), FrameRead::kOk);
    EXPECT_EQ(msg.size(), lengths[i]);
    EXPECT_EQ(parse_event(std::string(msg)).stats().packets(), snaps[i].packets);
  }
  EXPECT_EQ(pos, theirs.size());
  std::string_view msg;
  EXPECT_EQ(read_delimited(theirs, &pos, &msg), FrameRead::kIncomplete);
}

TEST(ProtoFraming, EveryTruncationIsIncompleteAndConsumesNothing) {
  std::string stream;
  append_delimited(stream, std::string(5, 'a'));
  append_delimited(stream, std::string(300, 'b'));  // two length bytes
  const size_t first = 1 + 5;
  for (size_t cut = 0; cut < stream.size(); ++cut) {
    const std::string_view part(stream.data(), cut);
    size_t pos = 0;
    std::string_view msg;
    FrameRead r = read_delimited(part, &pos, &msg);
    if (cut < first) {
      EXPECT_EQ(r, FrameRead::kIncomplete) << cut;
      EXPECT_EQ(pos, 0u);
      continue;
    }
    ASSERT_EQ(r, FrameRead::kOk) << cut;
    EXPECT_EQ(msg, std::string(5, 'a'));
    EXPECT_EQ(read_delimited(part, &pos, &msg), FrameRead::kIncomplete) << cut;
    EXPECT_EQ(pos, first);
  }
  size_t pos = first;
  std::string_view msg;
  ASSERT_EQ(read_delimited(stream, &pos, &msg), FrameRead::kOk);
  EXPECT_EQ(msg, std::string(300, 'b'));
}

TEST(ProtoFraming, MalformedLengths) {
  size_t pos = 0;
  std::string_view msg;
  const std::string eleven(11, '\x80');
  EXPECT_EQ(read_delimited(eleven, &pos, &msg), FrameRead::kMalformed);
  // Ten bytes whose last carries more than the 64th bit.
  std::string overflow(9, '\xff');
  overflow.push_back('\x02');
  pos = 0;
  EXPECT_EQ(read_delimited(overflow, &pos, &msg), FrameRead::kMalformed);
  std::string big;
  append_varint(big, 1001);
  big += std::string(1001, 'x');
  pos = 0;
  EXPECT_EQ(read_delimited(big, &pos, &msg, 1000), FrameRead::kMalformed);
  pos = 0;
  EXPECT_EQ(read_delimited(big, &pos, &msg, 1001), FrameRead::kOk);
  EXPECT_EQ(msg.size(), 1001u);
}

}  // namespace
}  // namespace ws
