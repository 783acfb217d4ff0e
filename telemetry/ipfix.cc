#include "telemetry/ipfix.h"

#include "telemetry/ipfix_exporter.h"

namespace ws {

namespace {

// IANA IPFIX information element ids used here.
enum : uint16_t {
  kOctetDeltaCount = 1,
  kPacketDeltaCount = 2,
  kProtocolIdentifier = 4,
  kTcpControlBits = 6,
  kSourceTransportPort = 7,
  kSourceIPv4Address = 8,
  kIngressInterface = 10,
  kDestinationTransportPort = 11,
  kDestinationIPv4Address = 12,
  kSourceIPv6Address = 27,
  kDestinationIPv6Address = 28,
  kIcmpTypeCodeIPv4 = 32,
  kVlanId = 58,
  kApplicationName = 96,
  kFlowEndReason = 136,
  kIcmpTypeCodeIPv6 = 139,
  kFlowStartMilliseconds = 152,
  kFlowEndMilliseconds = 153,
};

// Largest fields first, so the 8-byte counters sit at 8-byte offsets within
// a record and decoders that copy fields see them aligned.
RecordTemplate make_template(uint16_t id, uint8_t family, bool biflow) {
  const bool v6 = family == 6;
  RecordTemplate t{id, family, {}};
  auto& f = t.fields;
  f.push_back({kFlowStartMilliseconds, 8, 0, FlowField::kStartMs});
  f.push_back({kFlowEndMilliseconds, 8, 0, FlowField::kEndMs});
  f.push_back({kOctetDeltaCount, 8, 0, FlowField::kOctets});
  f.push_back({kPacketDeltaCount, 8, 0, FlowField::kPackets});
  if (biflow) {
    f.push_back({kFlowStartMilliseconds, 8, kReversePen, FlowField::kRevStartMs});
    f.push_back({kFlowEndMilliseconds, 8, kReversePen, FlowField::kRevEndMs});
    f.push_back({kOctetDeltaCount, 8, kReversePen, FlowField::kRevOctets});
    f.push_back({kPacketDeltaCount, 8, kReversePen, FlowField::kRevPackets});
  }
  if (v6) {
    f.push_back({kSourceIPv6Address, 16, 0, FlowField::kSrcIpv6});
    f.push_back({kDestinationIPv6Address, 16, 0, FlowField::kDstIpv6});
  } else {
    f.push_back({kSourceIPv4Address, 4, 0, FlowField::kSrcIpv4});
    f.push_back({kDestinationIPv4Address, 4, 0, FlowField::kDstIpv4});
  }
  f.push_back({kIngressInterface, 4, 0, FlowField::kIngress});
  f.push_back({kSourceTransportPort, 2, 0, FlowField::kSrcPort});
  f.push_back({kDestinationTransportPort, 2, 0, FlowField::kDstPort});
  f.push_back({uint16_t(v6 ? kIcmpTypeCodeIPv6 : kIcmpTypeCodeIPv4), 2, 0, FlowField::kIcmpTypeCode});
  f.push_back({kVlanId, 2, 0, FlowField::kVlan});
  // tcpControlBits is unsigned16 since RFC 7125; the flags we count fit one
  // byte, and reduced-size encoding (RFC 7011 6.2) saves the other.
  f.push_back({kTcpControlBits, 1, 0, FlowField::kTcpFlags});
  if (biflow) f.push_back({kTcpControlBits, 1, kReversePen, FlowField::kRevTcpFlags});
  f.push_back({kProtocolIdentifier, 1, 0, FlowField::kProtocol});
  f.push_back({kFlowEndReason, 1, 0, FlowField::kEndReason});
  f.push_back({kApplicationName, uint16_t(kAppNameLength), 0, FlowField::kAppName});
  return t;
}

}  // namespace

std::vector<RecordTemplate> ipfix_templates(bool biflow) {
  return {make_template(biflow ? 258 : 256, 4, biflow), make_template(biflow ? 259 : 257, 6, biflow)};
}

EncoderConfig ipfix_encoder_config(const IpfixOptions& opts, const ExportContext& ctx) {
  EncoderConfig cfg;
  cfg.format = MessageFormat::kIpfix;
  cfg.domain = ctx.observation_domain;
  cfg.mtu = opts.mtu;
  cfg.boot_ns = ctx.boot_ns;
  cfg.templates = ipfix_templates(opts.biflow);
  return cfg;
}

std::unique_ptr<Exporter> make_ipfix_exporter(const IpfixOptions& opts, const ExportContext& ctx,
                                              std::string* error) {
  return make_message_exporter("ipfix", ipfix_encoder_config(opts, ctx), opts.collector, opts.transport,
                               opts.biflow, opts.template_refresh_s, opts.template_refresh_messages, error);
}

}  // namespace ws
