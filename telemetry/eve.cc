#include "telemetry/eve.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dataplane/capture/link_type.h"
#include "telemetry/community_id.h"

// Field-by-field notes on what Suricata (output-json-flow.c, output-json.c,
// util-time.c, util-print.c, util-proto-name.c) prints, and how a FlowRecord
// maps onto it:
//  - timestamp: the time the event is logged (Suricata's TimeGet(), packet
//    time when reading a capture): our export-thread now_ns.
//  - flow_id: Suricata masks its id to 51 bits so that JavaScript and other
//    double-based JSON readers keep it exact; we apply the same mask.
//  - in_iface only when the capture has an interface; vlan only when tagged,
//    outer first.
//  - src_port/dest_port only for TCP, UDP and SCTP; ICMP and ICMPv6 print
//    icmp_type/icmp_code of the client's messages instead, and
//    response_icmp_type/response_icmp_code only when the server answered.
//  - ip_v (Suricata 8) follows the ports; proto is the IANA keyword.
//  - app_proto: Suricata logs it for flows the app-layer looked at (TCP, UDP,
//    SCTP) and "failed" when detection gave up; here it is the lowercase
//    name of nDPI's master protocol (dataplane/ndpi.cc), a flow that carried
//    payload but has no known protocol is "failed", one without payload
//    (nothing to look at) and port-less flows carry none.
//  - ndpi (not in Suricata): nDPI's own view, for every flow nDPI looked at:
//    protocol as `ndpiReader -v 2` prints it, category, confidence, hostname
//    when one was seen, risk as a list of nDPI's risk names. It follows
//    app_proto in flow and alert events alike.
//  - flow.start/end/age: the record's slice (the counters are the slice's
//    too, see flow_record.h); age is end seconds minus start seconds, not a
//    rounded duration, as Suricata computes it.
//  - community_id sits after the flow object, as EveAddCommonOptions puts it.
//  - tcp: the hex flag bytes, then a key per set flag (true only), then state.

namespace ws {

namespace {

constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1, kIcmp6 = 58, kSctp = 132;

// IANA protocol keywords as Suricata prints them (0..143); numbers above
// have no name and print as decimal.
constexpr const char* kProtoNames[144] = {
    "HOPOPT", "ICMP", "IGMP", "GGP", "IP-in-IP", "ST", "TCP", "CBT", "EGP", "IGP",
    "BBN-RCC-MON", "NVP-II", "PUP", "ARGUS", "EMCON", "XNET", "CHAOS", "UDP", "MUX",
    "DCN-MEAS", "HMP", "PRM", "XNS-IDP", "TRUNK-1", "TRUNK-2", "LEAF-1", "LEAF-2", "RDP",
    "IRTP", "ISO-TP4", "NETBLT", "MFE-NSP", "MERIT-INP", "DCCP", "3PC", "IDPR", "XTP", "DDP",
    "IDPR-CMTP", "TP++", "IL", "IPv6", "SDRP", "IPv6-Route", "IPv6-Frag", "IDRP", "RSVP",
    "GRE", "DSR", "BNA", "ESP", "AH", "I-NLSP", "SwIPe", "NARP", "MOBILE", "TLSP", "SKIP",
    "IPv6-ICMP", "IPv6-NoNxt", "IPv6-Opts", "Any", "CFTP", "Any", "SAT-EXPAK", "KRYPTOLAN",
    "RVD", "IPPC", "Any", "SAT-MON", "VISA", "IPCU", "CPNX", "CPHB", "WSN", "PVP",
    "BR-SAT-MON", "SUN-ND", "WB-MON", "WB-EXPAK", "ISO-IP", "VMTP", "SECURE-VMTP", "VINES",
    "TTP", "NSFNET-IGP", "DGP", "TCF", "EIGRP", "OSPF", "Sprite-RPC", "LARP", "MTP", "AX.25",
    "OS", "MICP", "SCC-SP", "ETHERIP", "ENCAP", "Any", "GMTP", "IFMP", "PNNI", "PIM", "ARIS",
    "SCPS", "QNX", "A/N", "IPComp", "SNP", "Compaq-Peer", "IPX-in-IP", "VRRP", "PGM", "Any",
    "L2TP", "DDX", "IATP", "STP", "SRP", "UTI", "SMP", "SM", "PTP", "IS-IS", "FIRE", "CRTP",
    "CRUDP", "SSCOPMCE", "IPLT", "SPS", "PIPE", "SCTP", "FC", "RSVP-E2E-IGNORE", "Mobility",
    "UDPLite", "MPLS-in-IP", "manet", "HIP", "Shim6", "WESP", "ROHC", "Ethernet",
};

// Decimal text of 144..255, built once.
struct ProtoNumbers {
  char text[256][4];
  ProtoNumbers() {
    for (int i = 0; i < 256; ++i) {
      int n = 0;
      if (i >= 100) text[i][n++] = static_cast<char>('0' + i / 100);
      if (i >= 10) text[i][n++] = static_cast<char>('0' + (i / 10) % 10);
      text[i][n++] = static_cast<char>('0' + i % 10);
      text[i][n] = 0;
    }
  }
};
const ProtoNumbers kProtoNumbers;

// Howard Hinnant's days-to-civil algorithm: proleptic Gregorian date of a
// day count since 1970-01-01, valid far beyond any capture time.
void civil_from_days(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

inline void put2(char* p, unsigned v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

// Writes a dotted quad; returns its length (7..15).
size_t format_ipv4(const uint8_t* a, char* out) {
  size_t n = 0;
  for (int i = 0; i < 4; ++i) {
    unsigned v = a[i];
    if (v >= 100) {
      out[n++] = static_cast<char>('0' + v / 100);
      out[n++] = static_cast<char>('0' + (v / 10) % 10);
    } else if (v >= 10) {
      out[n++] = static_cast<char>('0' + v / 10);
    }
    out[n++] = static_cast<char>('0' + v % 10);
    if (i < 3) out[n++] = '.';
  }
  return n;
}

size_t format_ipv6_full(const uint8_t* a, char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  size_t n = 0;
  for (int i = 0; i < 16; i += 2) {
    out[n++] = kHex[a[i] >> 4];
    out[n++] = kHex[a[i] & 15];
    out[n++] = kHex[a[i + 1] >> 4];
    out[n++] = kHex[a[i + 1] & 15];
    if (i < 14) out[n++] = ':';
  }
  return n;
}

// Appends `"k":"<address>"`.
void address_field(JsonWriter& out, std::string_view k, const uint8_t* a, uint8_t family,
                   bool compressed) {
  char text[INET6_ADDRSTRLEN + 1];
  size_t n;
  if (family == 6) {
    if (compressed) {
      if (!inet_ntop(AF_INET6, a, text, sizeof text)) text[0] = 0;
      n = std::strlen(text);
    } else {
      n = format_ipv6_full(a, text);
    }
  } else {
    n = format_ipv4(a, text);
  }
  out.field_plain(k, std::string_view(text, n));
}

void timestamp_field(JsonWriter& out, std::string_view k, uint64_t ns) {
  char text[kEveTimestampLen];
  size_t n = format_eve_timestamp(ns, text);
  out.field_plain(k, std::string_view(text, n));
}

void hex_byte_field(JsonWriter& out, std::string_view k, uint8_t v) {
  static constexpr char kHex[] = "0123456789abcdef";
  char text[2] = {kHex[v >> 4], kHex[v & 15]};
  out.field_plain(k, std::string_view(text, 2));
}

bool has_ports(uint8_t proto) { return proto == kTcp || proto == kUdp || proto == kSctp; }

// RFC 4648 base64 with padding, appended as a JSON string.
void base64_field(JsonWriter& out, std::string_view k, const uint8_t* p, size_t n) {
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  out.key(k);
  const size_t len = (n + 2) / 3 * 4;
  out.reserve_more(len + 3);
  char* t = out.tail();
  size_t o = 0;
  t[o++] = '"';
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t v = uint32_t(p[i]) << 16 | uint32_t(p[i + 1]) << 8 | p[i + 2];
    t[o++] = kB64[v >> 18];
    t[o++] = kB64[(v >> 12) & 63];
    t[o++] = kB64[(v >> 6) & 63];
    t[o++] = kB64[v & 63];
  }
  if (i < n) {
    uint32_t v = uint32_t(p[i]) << 16;
    if (i + 1 < n) v |= uint32_t(p[i + 1]) << 8;
    t[o++] = kB64[v >> 18];
    t[o++] = kB64[(v >> 12) & 63];
    t[o++] = i + 1 < n ? kB64[(v >> 6) & 63] : '=';
    t[o++] = '=';
  }
  t[o++] = '"';
  out.commit_value(o);
}

// Suricata's payload_printable: printable ASCII, CR and LF kept, every
// other byte shown as '.'.
void printable_field(JsonWriter& out, std::string_view k, const uint8_t* p, size_t n) {
  std::string text(n, '.');
  for (size_t i = 0; i < n; ++i)
    if ((p[i] >= 0x20 && p[i] < 0x7f) || p[i] == '\n' || p[i] == '\r') text[i] = static_cast<char>(p[i]);
  out.field(k, text);
}

}  // namespace

size_t format_eve_timestamp(uint64_t ns, char* out) {
  const uint64_t secs = ns / 1000000000u;
  const unsigned usec = static_cast<unsigned>((ns % 1000000000u) / 1000u);
  const int64_t days = static_cast<int64_t>(secs / 86400u);
  const unsigned sod = static_cast<unsigned>(secs % 86400u);
  int64_t y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  // Years past 9999 would need more digits than Suricata's %Y field width
  // allows in practice; clamp so the output keeps its fixed shape.
  if (y > 9999) y = 9999;
  unsigned yy = static_cast<unsigned>(y);
  out[0] = static_cast<char>('0' + yy / 1000);
  out[1] = static_cast<char>('0' + (yy / 100) % 10);
  out[2] = static_cast<char>('0' + (yy / 10) % 10);
  out[3] = static_cast<char>('0' + yy % 10);
  out[4] = '-';
  put2(out + 5, m);
  out[7] = '-';
  put2(out + 8, d);
  out[10] = 'T';
  put2(out + 11, sod / 3600);
  out[13] = ':';
  put2(out + 14, (sod / 60) % 60);
  out[16] = ':';
  put2(out + 17, sod % 60);
  out[19] = '.';
  unsigned u = usec;
  for (int i = 25; i >= 20; --i) {
    out[i] = static_cast<char>('0' + u % 10);
    u /= 10;
  }
  std::memcpy(out + 26, "+0000", 5);
  return kEveTimestampLen;
}

std::string_view eve_proto_name(uint8_t proto) {
  if (proto < 144) return kProtoNames[proto];
  return kProtoNumbers.text[proto];
}

// The fields every event starts with, in Suricata's order: timestamp,
// flow_id (masked to 51 bits so JSON readers keep it exact), in_iface,
// pcap_cnt (alerts on packets read from a file), event_type, vlan (outer first, only when tagged), the addresses and
// ports (ports only for TCP, UDP and SCTP), ip_v and proto.
static void common_header(JsonWriter& out, const ExportContext& ctx, const EveFormatOptions& opts,
                          uint64_t ts_ns, uint64_t flow_id, std::string_view event_type, const uint16_t* vlan,
                          uint8_t vlan_count, const FlowKey& k, uint64_t pcap_cnt = 0) {
  timestamp_field(out, "timestamp", ts_ns);
  out.field_u64("flow_id", flow_id & 0x7ffffffffffffULL);
  if (!ctx.iface_name.empty()) out.field("in_iface", ctx.iface_name);
  if (pcap_cnt) out.field_u64("pcap_cnt", pcap_cnt);  // a packet's event from a capture file
  out.field_plain("event_type", event_type);
  if (vlan_count > 0) {
    out.begin_array("vlan");
    out.u64(vlan[0]);
    if (vlan_count > 1) out.u64(vlan[1]);
    out.end_array();
  }
  address_field(out, "src_ip", k.src, k.family, opts.ipv6_compressed);
  if (has_ports(k.proto)) out.field_u64("src_port", k.sport);
  address_field(out, "dest_ip", k.dst, k.family, opts.ipv6_compressed);
  if (has_ports(k.proto)) out.field_u64("dest_port", k.dport);
  out.field_u64("ip_v", k.family == 6 ? 6 : 4);
  out.field_plain("proto", eve_proto_name(k.proto));
}

// app_proto (Suricata's rule: TCP/UDP/SCTP only; "failed" when payload was
// seen and nothing was named), then the `ndpi` object when nDPI looked at
// the flow.
static void app_fields(JsonWriter& out, const char (&app_proto)[16], const AppLabel& app, uint8_t proto,
                       bool payload_seen) {
  const size_t app_len = strnlen(app_proto, sizeof app_proto);
  if (app_len > 0) {
    out.field("app_proto", std::string_view(app_proto, app_len));
  } else if (has_ports(proto) && payload_seen) {
    out.field_plain("app_proto", "failed");
  }
  if (!app.present()) return;
  out.begin_object("ndpi");
  out.field("protocol", std::string_view(app.protocol, strnlen(app.protocol, sizeof app.protocol)));
  out.field("category", std::string_view(app.category, strnlen(app.category, sizeof app.category)));
  out.field("confidence", app_confidence_name(app.confidence));
  const size_t host_len = strnlen(app.hostname, sizeof app.hostname);
  if (host_len > 0) out.field("hostname", std::string_view(app.hostname, host_len));
  out.begin_array("risk");
  for (unsigned bit = 1; bit < app_risk_bits() && bit < 64; ++bit)
    if (app.risk & (uint64_t{1} << bit))
      if (const char* name = app_risk_name(bit)) out.string(name);
  out.end_array();
  out.end_object();
}

static void community_id_field(JsonWriter& out, const EveFormatOptions& opts, const FlowKey& k,
                               uint8_t icmp_type, uint8_t icmp_code) {
  if (!opts.community_id) return;
  char cid[kCommunityIdLen];
  size_t n = community_id_for_flow(k, icmp_type, icmp_code, opts.community_id_seed, cid);
  out.field_plain("community_id", std::string_view(cid, n));
}

void format_flow_event(const FlowRecord& rec, const ExportContext& ctx, uint64_t now_ns,
                       const EveFormatOptions& opts, JsonWriter& out) {
  const FlowKey& k = rec.key;
  const bool icmp = k.proto == kIcmp || k.proto == kIcmp6;

  out.reserve_more(1024 + ctx.iface_name.size() * 6);
  out.begin_object();
  common_header(out, ctx, opts, now_ns, rec.flow_id, "flow", rec.vlan, rec.vlan_count, k);
  if (icmp) {
    out.field_u64("icmp_type", rec.icmp_type[0]);
    out.field_u64("icmp_code", rec.icmp_code[0]);
    if (rec.pkts[1] > 0) {
      out.field_u64("response_icmp_type", rec.icmp_type[1]);
      out.field_u64("response_icmp_code", rec.icmp_code[1]);
    }
  }
  app_fields(out, rec.app_proto, rec.app, k.proto, rec.payload_seen);

  out.begin_object("flow");
  out.field_u64("pkts_toserver", rec.pkts[0]);
  out.field_u64("pkts_toclient", rec.pkts[1]);
  out.field_u64("bytes_toserver", rec.bytes[0]);
  out.field_u64("bytes_toclient", rec.bytes[1]);
  timestamp_field(out, "start", rec.start_ns);
  timestamp_field(out, "end", rec.end_ns);
  const uint64_t start_s = rec.start_ns / 1000000000u;
  const uint64_t end_s = rec.end_ns / 1000000000u;
  out.field_u64("age", end_s > start_s ? end_s - start_s : 0);
  out.field_plain("state", flow_state_name(rec.state));
  out.field_plain("reason", rec.tcp_reuse ? "tcp_reuse" : flow_end_reason_eve(rec.reason));
  out.field_bool("alerted", rec.alerted != 0);
  // Suricata's flow.action: a flow a rule dropped or passed whole.
  if (rec.action == 2) out.field_plain("action", "drop");
  else if (rec.action == 1) out.field_plain("action", "pass");
  out.end_object();

  community_id_field(out, opts, k, rec.icmp_type[0], rec.icmp_code[0]);

  if (k.proto == kTcp) {
    const uint8_t all = rec.tcp_flags[0] | rec.tcp_flags[1];
    out.begin_object("tcp");
    hex_byte_field(out, "tcp_flags", all);
    hex_byte_field(out, "tcp_flags_ts", rec.tcp_flags[0]);
    hex_byte_field(out, "tcp_flags_tc", rec.tcp_flags[1]);
    // Suricata's order: syn fin rst psh ack urg ecn cwr, only the set ones.
    if (all & 0x02) out.field_bool("syn", true);
    if (all & 0x01) out.field_bool("fin", true);
    if (all & 0x04) out.field_bool("rst", true);
    if (all & 0x08) out.field_bool("psh", true);
    if (all & 0x10) out.field_bool("ack", true);
    if (all & 0x20) out.field_bool("urg", true);
    if (all & 0x40) out.field_bool("ecn", true);
    if (all & 0x80) out.field_bool("cwr", true);
    out.field_plain("state", tcp_state_name(rec.tcp_state));
    out.end_object();
  }
  if (opts.labels) opts.labels(rec.ifindex, out);
  out.end_object();
  out.newline();
}

// Suricata's pkt_src text for AlertRecord::pkt_src (dataplane PktSrc).
static std::string_view alert_pkt_src_name(uint8_t s) {
  switch (s) {
    case 1: return "ipv4 tunnel";
    case 2: return "ipv6 tunnel";
    case 3: return "vxlan encapsulation";
    case 4: return "gre tunnel";
    case 5: return "geneve encapsulation";
    case 6: return "teredo tunnel";
    case 7: return "defrag";
    case 8: return "stream (flow timeout)";
    default: return "wire/pcap";
  }
}

void format_alert_event(const AlertRecord& a, const ExportContext& ctx, const EveFormatOptions& opts,
                        JsonWriter& out) {
  const FlowKey& k = a.pkt;
  const AlertMeta& m = *a.meta;
  const bool icmp = k.proto == kIcmp || k.proto == kIcmp6;
  out.reserve_more(1024 + m.signature.size() * 6 + m.category.size() + (a.payload_len + a.packet_len) * 3);
  out.begin_object();
  common_header(out, ctx, opts, a.ts_ns, a.flow_id, "alert", a.vlan, a.vlan_count, k, a.pcap_cnt);
  if (icmp) {
    out.field_u64("icmp_type", a.icmp_type);
    out.field_u64("icmp_code", a.icmp_code);
  }
  out.field_plain("pkt_src", alert_pkt_src_name(a.pkt_src));
  // The packet's own tuple and ICMP type: the hash is direction-free, so
  // this is the flow's id (an echo reply maps to its request's ports).
  community_id_field(out, opts, a.pkt, a.icmp_type, a.icmp_code);
  out.begin_object("alert");
  out.field_plain("action", a.blocked ? "blocked" : "allowed");
  out.field_u64("gid", m.gid);
  out.field_u64("signature_id", m.sid);
  out.field_u64("rev", m.rev);
  out.field("signature", m.signature);
  if (!m.category.empty()) out.field("category", m.category);
  out.field_u64("severity", m.severity);
  if (!m.metadata.empty()) {
    out.begin_object("metadata");
    for (const auto& [key, values] : m.metadata) {
      out.begin_array_escaped_key(key);
      for (const std::string& v : values) out.string(v);
      out.end_array();
    }
    out.end_object();
  }
  out.end_object();
  // An alert's packet is known to carry payload only when it was copied;
  // "failed" needs the flow's final answer, so alerts print only a name.
  app_fields(out, a.app_proto, a.app, a.flow.proto, false);
  out.field_plain("direction", a.to_server ? "to_server" : "to_client");
  out.begin_object("flow");
  out.field_u64("pkts_toserver", a.pkts[0]);
  out.field_u64("pkts_toclient", a.pkts[1]);
  out.field_u64("bytes_toserver", a.bytes[0]);
  out.field_u64("bytes_toclient", a.bytes[1]);
  timestamp_field(out, "start", a.flow_start_ns);
  address_field(out, "src_ip", a.flow.src, a.flow.family, opts.ipv6_compressed);
  address_field(out, "dest_ip", a.flow.dst, a.flow.family, opts.ipv6_compressed);
  if (has_ports(a.flow.proto)) {
    out.field_u64("src_port", a.flow.sport);
    out.field_u64("dest_port", a.flow.dport);
  }
  out.end_object();
  if (a.tunnel_depth > 0) {
    // Suricata's tunnel object: the captured (outermost) packet that
    // carried this one, and how deep this one sits in it.
    const FlowKey& t = a.tunnel;
    out.begin_object("tunnel");
    address_field(out, "src_ip", t.src, t.family, opts.ipv6_compressed);
    if (has_ports(t.proto)) out.field_u64("src_port", t.sport);
    address_field(out, "dest_ip", t.dst, t.family, opts.ipv6_compressed);
    if (has_ports(t.proto)) out.field_u64("dest_port", t.dport);
    out.field_plain("proto", eve_proto_name(t.proto));
    out.field_u64("depth", a.tunnel_depth);
    out.field_plain("pkt_src", "wire/pcap");  // the root: always the captured frame
    out.end_object();
  }
  if (a.payload_len > 0) {
    base64_field(out, "payload", a.payload(), a.payload_len);
    printable_field(out, "payload_printable", a.payload(), a.payload_len);
    out.field_u64("stream", a.stream ? 1 : 0);
  }
  if (a.packet_len > 0) {
    // Suricata's packet (base64) and packet_info; a packet cut at
    // kAlertDataMax says so in packet_info.truncated.
    base64_field(out, "packet", a.packet_data(), a.packet_len);
    out.begin_object("packet_info");
    out.field_u64("linktype", a.linktype);
    if (const char* name = dlt_name(a.linktype)) out.field_plain("linktype_name", name);
    if (a.packet_truncated) out.field_bool("truncated", true);
    out.end_object();
  }
  if (opts.labels) opts.labels(a.ifindex, out);
  out.end_object();
  out.newline();
}

std::unique_ptr<EveWriter> EveWriter::open(const EveOptions& opts, std::string* error) {
  auto fail = [&](std::string msg) -> std::unique_ptr<EveWriter> {
    if (error) *error = std::move(msg);
    return nullptr;
  };
  if (opts.dir.empty()) return fail("EVE log directory not set (-l DIR)");
  if (opts.filename.empty() || opts.filename.find('/') != std::string::npos)
    return fail("EVE file name '" + opts.filename + "' must be a plain file name");
  struct stat st;
  if (::stat(opts.dir.c_str(), &st) != 0) {
    int err = errno;
    return fail("EVE log directory '" + opts.dir + "': " + std::strerror(err));
  }
  if (!S_ISDIR(st.st_mode)) return fail("EVE log directory '" + opts.dir + "' is not a directory");
  if (::access(opts.dir.c_str(), W_OK | X_OK) != 0) {
    int err = errno;
    return fail("EVE log directory '" + opts.dir + "' is not writable: " + std::strerror(err));
  }
  std::string path = opts.dir;
  if (path.back() != '/') path += '/';
  path += opts.filename;
  std::string ferr;
  auto file = UringFile::open(path, &ferr, opts.file);
  if (!file) return fail(ferr);
  return std::unique_ptr<EveWriter>(new EveWriter(std::move(file)));
}

EveExporter::EveExporter(std::unique_ptr<EveWriter> writer, const EveOptions& opts,
                         const ExportContext& ctx)
    : writer_(std::move(writer)), format_(opts.format), ctx_(ctx) {}

EveExporter::~EveExporter() { writer_->close(); }

void EveExporter::export_flows(std::span<const FlowRecord> recs, uint64_t now_ns) {
  // Hand the file big chunks: one append per ~64 KiB of lines.
  constexpr size_t kChunk = 64 * 1024;
  line_.clear();
  for (const FlowRecord& r : recs) {
    // The event's time is when its flow ended (Suricata logs a flow when it
    // times out), which on replay is packet time, not when this batch left.
    format_flow_event(r, ctx_, r.emit_ns ? r.emit_ns : now_ns, format_, line_);
    ++lines_;
    if (line_.size() >= kChunk) {
      writer_->write(line_.view());
      line_.clear();
    }
  }
  if (line_.size() > 0) writer_->write(line_.view());
  line_.clear();
  records_ += recs.size();
}

void EveExporter::export_alerts(std::span<const AlertRecord> alerts, uint64_t /*now_ns*/) {
  line_.clear();
  for (const AlertRecord& a : alerts) {
    format_alert_event(a, ctx_, format_, line_);
    ++lines_;
  }
  if (line_.size() > 0) writer_->write(line_.view());
  line_.clear();
  alerts_ += alerts.size();
}

void EveExporter::tick(uint64_t /*now_ns*/, bool final) {
  if (final) {
    writer_->sync();
  } else {
    writer_->flush();
  }
}

ExporterStats EveExporter::stats() const {
  const UringFileStats& f = writer_->file().stats();
  ExporterStats s;
  s.records = records_;
  s.alerts = alerts_;
  s.messages = lines_;
  s.bytes = f.bytes_written;
  s.send_errors = f.write_errors + f.open_errors;
  s.dropped_records = f.lines_lost;
  s.up = writer_->file().is_open();
  return s;
}

std::unique_ptr<EveExporter> make_eve_exporter(const EveOptions& opts, const ExportContext& ctx,
                                               std::string* error) {
  auto writer = EveWriter::open(opts, error);
  if (!writer) return nullptr;
  return std::make_unique<EveExporter>(std::move(writer), opts, ctx);
}

}  // namespace ws
