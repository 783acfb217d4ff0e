// NetFlow v9 export (RFC 3954) over UDP: `--netflow9 udp://HOST:PORT`. The
// same uniflow records as IPFIX with v9 field types; template 256 (IPv4) and
// 257 (IPv6):
//   IN_BYTES 1 (IP header + payload), IN_PKTS 2, FIRST_SWITCHED 22,
//   LAST_SWITCHED 21 (ms of sysUptime), INPUT_SNMP 10, IPV4_SRC_ADDR 8 /
//   IPV4_DST_ADDR 12 or IPV6_SRC_ADDR 27 / IPV6_DST_ADDR 28, L4_SRC_PORT 7,
//   L4_DST_PORT 11 (ICMP: 0 and type<<8|code), ICMP_TYPE 32 (type<<8|code,
//   ICMPv6 too), SRC_VLAN 58, PROTOCOL 4,
//   TCP_FLAGS 6, 136 (IPFIX flowEndReason, which v9 collectors that
//   follow the IANA registry decode), and APPLICATION_NAME 96 (nDPI's
//   protocol name, 32 bytes NUL padded).
//
// sysUptime counts from ExportContext::boot_ns, which must lie at or before
// every flow start: the agent's start for live capture, the first packet's
// time when replaying a file (0 means the first exported record's start).
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

struct Netflow9Options {
  ExportUrl collector;                       // udp:// only
  uint32_t mtu = 1400;                       // largest export packet (header included), bytes
  uint32_t template_refresh_s = 30;          // 0 = never by time
  uint32_t template_refresh_messages = 100;  // 0 = never by count
  FlowTransportOptions transport;            // pacing
};

std::vector<RecordTemplate> netflow9_templates();
EncoderConfig netflow9_encoder_config(const Netflow9Options& opts, const ExportContext& ctx);

// nullptr and *error set when the options are unusable (tcp:// url, MTU too
// small, collector unresolvable). The exporter's name() is "netflow9".
std::unique_ptr<Exporter> make_netflow9_exporter(const Netflow9Options& opts, const ExportContext& ctx,
                                                 std::string* error);

}  // namespace ws
