// IPFIX export (RFC 7011) of flow records, over UDP or TCP: `--ipfix
// udp://HOST:PORT`. One uniflow record per direction that carried packets
// by default, or RFC 5103 biflow records (reverse elements under PEN 29305)
// with biflow=true. Templates: 256 IPv4 / 257 IPv6 uniflow, 258 / 259
// biflow, with these elements (IANA ids):
//   flowStartMilliseconds 152, flowEndMilliseconds 153, octetDeltaCount 1
//   (IP header + payload), packetDeltaCount 2, ingressInterface 10,
//   source/destinationIPv4Address 8/12 or IPv6Address 27/28,
//   source/destinationTransportPort 7/11 (ICMP: 0 and type<<8|code),
//   icmpTypeCodeIPv4 32 / IPv6 139, vlanId 58 (outer), protocolIdentifier 4,
//   tcpControlBits 6, flowEndReason 136, applicationName 96 (nDPI's
//   protocol name, "TLS.Google", a 32-byte NUL-padded string; empty when
//   nDPI is off);
//   biflow adds reverse octetDeltaCount, packetDeltaCount, tcpControlBits,
//   flowStartMilliseconds and flowEndMilliseconds.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "telemetry/export_url.h"
#include "telemetry/exporter.h"
#include "telemetry/flow_transport.h"
#include "telemetry/ipfix_encoder.h"

namespace ws {

struct IpfixOptions {
  ExportUrl collector;  // udp:// or tcp://, from parse_export_url()
  bool biflow = false;  // RFC 5103 biflow records instead of two uniflows
  uint32_t mtu = 1400;  // largest IPFIX message (header included), bytes
  // UDP template refresh, whichever comes first. 30 s is short enough that a
  // restarted collector decodes again quickly; 100 messages keeps template
  // overhead under 0.2% of the stream at high rates.
  uint32_t template_refresh_s = 30;          // 0 = never by time
  uint32_t template_refresh_messages = 100;  // 0 = never by count
  FlowTransportOptions transport;            // pacing (UDP), timeouts and backoff (TCP)
};

// Template set for the options, exposed for tests and tools.
std::vector<RecordTemplate> ipfix_templates(bool biflow);
EncoderConfig ipfix_encoder_config(const IpfixOptions& opts, const ExportContext& ctx);

// nullptr and *error set when the options are unusable (MTU too small for
// one record, collector unresolvable). The exporter's name() is "ipfix".
std::unique_ptr<Exporter> make_ipfix_exporter(const IpfixOptions& opts, const ExportContext& ctx,
                                              std::string* error);

}  // namespace ws
