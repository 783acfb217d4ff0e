#include "telemetry/proto_codec.h"

#include <cstring>
#include <initializer_list>

#include "telemetry/community_id.h"
#include "telemetry/wirescope.pb.h"

// Field notes (how a record maps onto wirescope.proto, beyond the comments
// there): the values follow telemetry/eve.cc, so the protobuf and the EVE
// output of one run agree field by field — flow_id masked to 51 bits, ports
// only for TCP, UDP and SCTP, a flow's app_proto "failed" when it carried
// payload and nothing was recognised, the flow timestamp the record's
// emit time (its end when that is unset), ICMP response fields only when
// the server answered, Community ID from the same function.

namespace ws {
namespace {

constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1, kIcmp6 = 58, kSctp = 132;
constexpr uint64_t kFlowIdMask = 0x7ffffffffffffULL;  // EVE's 51 bits

// Wire type 2 (length-delimited) tags of the fields appended by hand.
constexpr uint32_t kEventFlowTag = (1u << 3) | 2;
constexpr uint32_t kEventAlertTag = (2u << 3) | 2;
constexpr uint32_t kEventStatsTag = (3u << 3) | 2;
constexpr uint32_t kAlertFlowTag = (28u << 3) | 2;
constexpr uint32_t kAlertNdpiTag = (29u << 3) | 2;
constexpr uint32_t kFlowNdpiTag = (40u << 3) | 2;
constexpr uint32_t kFlowGns3Tag = (60u << 3) | 2;
constexpr uint32_t kAlertGns3Tag = (30u << 3) | 2;

// The enums share their numbers with the proto's.
static_assert(int(FlowState::kClosed) == wirescope::FLOW_STATE_CLOSED);
static_assert(int(TcpState::kClosed) == wirescope::TCP_STATE_CLOSED);
static_assert(int(TcpState::kSynRecv) == wirescope::TCP_STATE_SYN_RECV);
static_assert(int(FlowEndReason::kIdleTimeout) == wirescope::FLOW_END_REASON_IDLE_TIMEOUT);
static_assert(int(FlowEndReason::kShutdown) == wirescope::FLOW_END_REASON_SHUTDOWN);

bool has_ports(uint8_t proto) { return proto == kTcp || proto == kUdp || proto == kSctp; }
bool is_icmp(uint8_t proto) { return proto == kIcmp || proto == kIcmp6; }

const void* addr(const uint8_t* a) { return a; }
size_t addr_len(uint8_t family) { return family == 6 ? 16 : 4; }

std::string_view fixed_text(const char* p, size_t cap) { return std::string_view(p, strnlen(p, cap)); }

// Writes m (whose ByteSizeLong() was just computed) at the end of out.
void put_message(std::string& out, const google::protobuf::MessageLite& m, size_t n) {
  const size_t at = out.size();
  out.resize(at + n);
  m.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out.data() + at));
}

// A sub-message field appended by hand after its parent's own bytes
// (msg null: the field is absent).
struct Tail {
  uint32_t tag = 0;
  const google::protobuf::MessageLite* msg = nullptr;
};

// Appends an Event whose field event_tag holds head's bytes followed by the
// tail fields (in increasing field number, all above head's own fields).
size_t append_event(std::string& out, uint32_t event_tag, const google::protobuf::MessageLite& head,
                    std::initializer_list<Tail> tail, bool delimited) {
  const size_t before = out.size();
  const size_t head_size = head.ByteSizeLong();
  size_t body = head_size;
  size_t sizes[4] = {};
  size_t i = 0;
  for (const Tail& t : tail) {
    if (t.msg) {
      sizes[i] = t.msg->ByteSizeLong();
      body += varint_size(t.tag) + varint_size(sizes[i]) + sizes[i];
    }
    ++i;
  }
  if (delimited) append_varint(out, varint_size(event_tag) + varint_size(body) + body);
  append_varint(out, event_tag);
  append_varint(out, body);
  put_message(out, head, head_size);
  i = 0;
  for (const Tail& t : tail) {
    if (t.msg) {
      append_varint(out, t.tag);
      append_varint(out, sizes[i]);
      put_message(out, *t.msg, sizes[i]);
    }
    ++i;
  }
  return out.size() - before;
}

// nDPI's verdict as EVE's `ndpi` object has it (telemetry/eve.cc); false
// when nDPI did not look at the flow.
bool fill_ndpi(const AppLabel& app, wirescope::Ndpi& n) {
  if (!app.present()) return false;
  n.Clear();
  const std::string_view protocol = fixed_text(app.protocol, sizeof app.protocol);
  const std::string_view category = fixed_text(app.category, sizeof app.category);
  const std::string_view hostname = fixed_text(app.hostname, sizeof app.hostname);
  n.set_protocol(protocol.data(), protocol.size());
  n.set_category(category.data(), category.size());
  n.set_confidence(app_confidence_name(app.confidence));
  if (!hostname.empty()) n.set_hostname(hostname.data(), hostname.size());
  for (unsigned bit = 1; bit < app_risk_bits() && bit < 64; ++bit)
    if (app.risk & (uint64_t{1} << bit))
      if (const char* name = app_risk_name(bit)) n.add_risk(name);
  return true;
}

// The GNS3 link behind ifindex, if the options can tell; false: none.
bool fill_gns3(const ProtoOptions& o, uint16_t ifindex, wirescope::Gns3Link& g) {
  const Gns3LinkLabel* l = o.gns3_label ? o.gns3_label(ifindex) : nullptr;
  if (!l) return false;
  g.Clear();
  g.set_server(l->server);
  g.set_project_id(l->project_id);
  g.set_project(l->project);
  g.set_link_id(l->link_id);
  g.add_nodes(l->nodes[0]);
  g.add_nodes(l->nodes[1]);
  return true;
}

}  // namespace

struct ProtoEncoder::Messages {
  wirescope::FlowRecord flow;
  wirescope::Alert alert;
  wirescope::AlertFlow alert_flow;
  wirescope::Ndpi ndpi;
  wirescope::Gns3Link gns3;
  wirescope::Stats stats;
};

ProtoEncoder::ProtoEncoder(ExportContext ctx, ProtoOptions opts)
    : ctx_(std::move(ctx)), opts_(opts), m_(std::make_unique<Messages>()) {}

ProtoEncoder::~ProtoEncoder() = default;

size_t ProtoEncoder::append_flow(const FlowRecord& rec, std::string& out, bool delimited) {
  wirescope::FlowRecord& f = m_->flow;
  f.Clear();
  const FlowKey& k = rec.key;
  f.set_timestamp_ns(rec.emit_ns ? rec.emit_ns : rec.end_ns);
  f.set_flow_id(rec.flow_id & kFlowIdMask);
  if (!ctx_.iface_name.empty()) f.set_in_iface(ctx_.iface_name);
  for (uint8_t i = 0; i < rec.vlan_count && i < 2; ++i) f.add_vlan(rec.vlan[i]);
  f.set_src_ip(addr(k.src), addr_len(k.family));
  f.set_dest_ip(addr(k.dst), addr_len(k.family));
  if (has_ports(k.proto)) {
    f.set_src_port(k.sport);
    f.set_dest_port(k.dport);
  }
  f.set_ip_v(k.family == 6 ? 6 : 4);
  f.set_proto(k.proto);
  const std::string_view app = fixed_text(rec.app_proto, sizeof rec.app_proto);
  if (!app.empty()) {
    f.set_app_proto(app.data(), app.size());
  } else if (has_ports(k.proto) && rec.payload_seen) {
    f.set_app_proto("failed");
  }
  f.set_pkts_toserver(rec.pkts[0]);
  f.set_pkts_toclient(rec.pkts[1]);
  f.set_bytes_toserver(rec.bytes[0]);
  f.set_bytes_toclient(rec.bytes[1]);
  f.set_start_ns(rec.start_ns);
  f.set_end_ns(rec.end_ns);
  f.set_state(static_cast<wirescope::FlowState>(rec.state));
  f.set_reason(rec.tcp_reuse ? wirescope::FLOW_END_REASON_TCP_REUSE
                             : static_cast<wirescope::FlowEndReason>(rec.reason));
  f.set_alerted(rec.alerted != 0);
  if (k.proto == kTcp) {
    f.set_tcp_flags_ts(rec.tcp_flags[0]);
    f.set_tcp_flags_tc(rec.tcp_flags[1]);
    f.set_tcp_state(static_cast<wirescope::TcpState>(rec.tcp_state));
  }
  if (is_icmp(k.proto)) {
    f.set_icmp_type(rec.icmp_type[0]);
    f.set_icmp_code(rec.icmp_code[0]);
    if (rec.pkts[1] > 0) {
      f.set_response_icmp_type(rec.icmp_type[1]);
      f.set_response_icmp_code(rec.icmp_code[1]);
      f.set_has_response_icmp(true);
    }
  }
  if (opts_.community_id) {
    char cid[kCommunityIdLen];
    const size_t n = community_id_for_flow(k, rec.icmp_type[0], rec.icmp_code[0], opts_.community_id_seed, cid);
    f.set_community_id(cid, n);
  }
  f.set_flow_start_ns(rec.flow_start_ns);
  f.set_last_slice(rec.last_slice);
  f.set_octets_toserver(rec.l3_bytes[0]);
  f.set_octets_toclient(rec.l3_bytes[1]);
  f.set_ingress_interface(rec.ifindex);
  f.set_worker(rec.worker);
  const bool ndpi = fill_ndpi(rec.app, m_->ndpi);
  const bool gns3 = fill_gns3(opts_, rec.ifindex, m_->gns3);
  return append_event(out, kEventFlowTag, f,
                      {{kFlowNdpiTag, ndpi ? &m_->ndpi : nullptr}, {kFlowGns3Tag, gns3 ? &m_->gns3 : nullptr}},
                      delimited);
}

size_t ProtoEncoder::append_alert(const AlertRecord& a, std::string& out, bool delimited) {
  wirescope::Alert& al = m_->alert;
  wirescope::AlertFlow& af = m_->alert_flow;
  al.Clear();
  af.Clear();
  const FlowKey& k = a.pkt;
  const AlertMeta& meta = *a.meta;
  al.set_timestamp_ns(a.ts_ns);
  al.set_flow_id(a.flow_id & kFlowIdMask);
  if (!ctx_.iface_name.empty()) al.set_in_iface(ctx_.iface_name);
  for (uint8_t i = 0; i < a.vlan_count && i < 2; ++i) al.add_vlan(a.vlan[i]);
  al.set_src_ip(addr(k.src), addr_len(k.family));
  al.set_dest_ip(addr(k.dst), addr_len(k.family));
  if (has_ports(k.proto)) {
    al.set_src_port(k.sport);
    al.set_dest_port(k.dport);
  }
  al.set_ip_v(k.family == 6 ? 6 : 4);
  al.set_proto(k.proto);
  const std::string_view app = fixed_text(a.app_proto, sizeof a.app_proto);
  if (!app.empty()) al.set_app_proto(app.data(), app.size());
  if (is_icmp(k.proto)) {
    al.set_icmp_type(a.icmp_type);
    al.set_icmp_code(a.icmp_code);
  }
  al.set_to_server(a.to_server);
  if (opts_.community_id) {
    char cid[kCommunityIdLen];
    const size_t n = community_id_for_flow(k, a.icmp_type, a.icmp_code, opts_.community_id_seed, cid);
    al.set_community_id(cid, n);
  }
  al.set_blocked(a.blocked);
  al.set_action(static_cast<wirescope::RuleAction>(a.action));
  al.set_gid(meta.gid);
  al.set_signature_id(meta.sid);
  al.set_rev(meta.rev);
  al.set_signature(meta.signature);
  al.set_category(meta.category);
  al.set_severity(meta.severity);
  for (const auto& [key, values] : meta.metadata) {
    wirescope::AlertMetadata* md = al.add_metadata();
    md->set_key(key);
    for (const std::string& v : values) md->add_values(v);
  }
  if (a.payload_len > 0) {
    al.set_payload(a.payload(), a.payload_len);
    al.set_payload_truncated(a.payload_truncated);
    al.set_stream(a.stream);
  }

  af.set_pkts_toserver(a.pkts[0]);
  af.set_pkts_toclient(a.pkts[1]);
  af.set_bytes_toserver(a.bytes[0]);
  af.set_bytes_toclient(a.bytes[1]);
  af.set_start_ns(a.flow_start_ns);
  af.set_src_ip(addr(a.flow.src), addr_len(a.flow.family));
  af.set_dest_ip(addr(a.flow.dst), addr_len(a.flow.family));
  if (has_ports(a.flow.proto)) {
    af.set_src_port(a.flow.sport);
    af.set_dest_port(a.flow.dport);
  }

  const bool ndpi = fill_ndpi(a.app, m_->ndpi);
  const bool gns3 = fill_gns3(opts_, a.ifindex, m_->gns3);
  return append_event(out, kEventAlertTag, al,
                      {{kAlertFlowTag, &af}, {kAlertNdpiTag, ndpi ? &m_->ndpi : nullptr},
                       {kAlertGns3Tag, gns3 ? &m_->gns3 : nullptr}},
                      delimited);
}

size_t ProtoEncoder::append_stats(const StatsSnapshot& s, std::string& out, bool delimited) {
  wirescope::Stats& st = m_->stats;
  st.Clear();
  st.set_timestamp_ns(s.timestamp_ns);
  st.set_uptime_s(s.uptime_s);
  st.set_packets(s.packets);
  st.set_bytes(s.bytes);
  st.set_drops(s.drops);
  st.set_flows_active(s.flows_active);
  st.set_flows_created(s.flows_created);
  st.set_records_exported(s.records_exported);
  st.set_alerts(s.alerts);
  for (const StatsSnapshot::Source& src : s.sources) {
    wirescope::SourceStats* o = st.add_sources();
    o->set_name(src.name);
    o->set_packets(src.packets);
    o->set_bytes(src.bytes);
    o->set_kernel_drops(src.kernel_drops);
    o->set_if_drops(src.if_drops);
  }
  for (const StatsSnapshot::Worker& w : s.workers) {
    wirescope::WorkerStats* o = st.add_workers();
    o->set_id(w.id);
    o->set_packets(w.packets);
    o->set_bytes(w.bytes);
    o->set_flows_active(w.flows_active);
    o->set_flows_created(w.flows_created);
  }
  return append_event(out, kEventStatsTag, st, {}, delimited);
}

std::string encode_flow(const FlowRecord& rec, const ExportContext& ctx, const ProtoOptions& opts) {
  std::string out;
  ProtoEncoder(ctx, opts).append_flow(rec, out, false);
  return out;
}

std::string encode_alert(const AlertRecord& a, const ExportContext& ctx, const ProtoOptions& opts) {
  std::string out;
  ProtoEncoder(ctx, opts).append_alert(a, out, false);
  return out;
}

std::string encode_stats(const StatsSnapshot& s) {
  std::string out;
  ProtoEncoder().append_stats(s, out, false);
  return out;
}

size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

void append_varint(std::string& out, uint64_t v) {
  char b[kMaxVarintBytes];
  size_t n = 0;
  while (v >= 0x80) {
    b[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  b[n++] = static_cast<char>(v);
  out.append(b, n);
}

void append_delimited(std::string& out, std::string_view msg) {
  append_varint(out, msg.size());
  out.append(msg);
}

FrameRead read_delimited(std::string_view in, size_t* pos, std::string_view* msg, uint64_t max_len) {
  size_t at = *pos;
  uint64_t len = 0;
  for (unsigned shift = 0;; shift += 7) {
    if (shift >= 7 * kMaxVarintBytes) return FrameRead::kMalformed;
    if (at >= in.size()) return FrameRead::kIncomplete;
    const uint8_t b = static_cast<uint8_t>(in[at++]);
    // The tenth byte may only carry the top bit of a 64-bit value.
    if (shift == 63 && b > 1) return FrameRead::kMalformed;
    len |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80)) break;
  }
  if (len > max_len) return FrameRead::kMalformed;
  if (in.size() - at < len) return FrameRead::kIncomplete;
  *msg = in.substr(at, size_t(len));
  *pos = at + size_t(len);
  return FrameRead::kOk;
}

}  // namespace ws
