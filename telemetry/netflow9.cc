#include "telemetry/netflow9.h"

#include "telemetry/ipfix_exporter.h"

namespace ws {

namespace {

// NetFlow v9 field types (RFC 3954 8).
enum : uint16_t {
  kInBytes = 1,
  kInPkts = 2,
  kProtocol = 4,
  kTcpFlags = 6,
  kL4SrcPort = 7,
  kIpv4SrcAddr = 8,
  kInputSnmp = 10,
  kL4DstPort = 11,
  kIpv4DstAddr = 12,
  kLastSwitched = 21,
  kFirstSwitched = 22,
  kIpv6SrcAddr = 27,
  kIpv6DstAddr = 28,
  // type << 8 | code, for ICMP and ICMPv6 alike: nfdump reads ICMPv6 type
  // and code from it too (it ignores IPFIX's icmpTypeCodeIPv6 in v9).
  kIcmpType = 32,
  kSrcVlan = 58,
  kApplicationName = 96,  // APPLICATION_NAME (Cisco NBAR's field, a string)
  kFlowEndReason = 136,  // IPFIX flowEndReason; v9 collectors follow IANA above 127
};

RecordTemplate make_template(uint16_t id, uint8_t family) {
  const bool v6 = family == 6;
  RecordTemplate t{id, family, {}};
  auto& f = t.fields;
  f.push_back({kInBytes, 8, 0, FlowField::kOctets});
  f.push_back({kInPkts, 8, 0, FlowField::kPackets});
  f.push_back({kFirstSwitched, 4, 0, FlowField::kStartUptime});
  f.push_back({kLastSwitched, 4, 0, FlowField::kEndUptime});
  if (v6) {
    f.push_back({kIpv6SrcAddr, 16, 0, FlowField::kSrcIpv6});
    f.push_back({kIpv6DstAddr, 16, 0, FlowField::kDstIpv6});
  } else {
    f.push_back({kIpv4SrcAddr, 4, 0, FlowField::kSrcIpv4});
    f.push_back({kIpv4DstAddr, 4, 0, FlowField::kDstIpv4});
  }
  f.push_back({kInputSnmp, 4, 0, FlowField::kIngress});
  f.push_back({kL4SrcPort, 2, 0, FlowField::kSrcPort});
  f.push_back({kL4DstPort, 2, 0, FlowField::kDstPort});
  f.push_back({kIcmpType, 2, 0, FlowField::kIcmpTypeCode});
  f.push_back({kSrcVlan, 2, 0, FlowField::kVlan});
  f.push_back({kTcpFlags, 1, 0, FlowField::kTcpFlags});
  f.push_back({kProtocol, 1, 0, FlowField::kProtocol});
  f.push_back({kFlowEndReason, 1, 0, FlowField::kEndReason});
  f.push_back({kApplicationName, uint16_t(kAppNameLength), 0, FlowField::kAppName});
  return t;
}

}  // namespace

std::vector<RecordTemplate> netflow9_templates() {
  return {make_template(256, 4), make_template(257, 6)};
}

EncoderConfig netflow9_encoder_config(const Netflow9Options& opts, const ExportContext& ctx) {
  EncoderConfig cfg;
  cfg.format = MessageFormat::kNetflow9;
  cfg.domain = ctx.observation_domain;
  cfg.mtu = opts.mtu;
  cfg.boot_ns = ctx.boot_ns;
  cfg.templates = netflow9_templates();
  return cfg;
}

std::unique_ptr<Exporter> make_netflow9_exporter(const Netflow9Options& opts, const ExportContext& ctx,
                                                 std::string* error) {
  if (opts.collector.protocol != ExportProtocol::kUdp) {
    if (error) *error = "netflow9: export is UDP only, got " + opts.collector.str() + "; use udp://HOST:PORT";
    return nullptr;
  }
  return make_message_exporter("netflow9", netflow9_encoder_config(opts, ctx), opts.collector, opts.transport,
                               false, opts.template_refresh_s, opts.template_refresh_messages, error);
}

}  // namespace ws
