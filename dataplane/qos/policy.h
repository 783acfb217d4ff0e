// QoS policy: the model of one traffic-control policy as the REST API takes
// it (PUT /api/v1/qos/policies/{name}) and its parser. The JSON shape is
// pinned (other programs' tests use it):
//
//   {"classes": [
//     {"name": "iperf", "match": {"proto": "tcp", "dst_port": 5201},
//      "shape": {"rate_bps": 20000000, "burst_bytes": 32000}},
//     {"name": "voip", "match": {"dscp": 46},
//      "police": {"cir_bps": 2000000, "cbs_bytes": 20000, "pir_bps": 3000000, "pbs_bytes": 30000,
//                 "exceed": "remark:0", "violate": "drop"},
//      "set_dscp": 46}]}
//
// The parser is strict: an unknown key, a wrong type or a value out of range
// is refused with the path of the field and the reason
// ("classes[1].police.cir_bps: must be a positive integer"), so a typo never
// silently widens a match. Runtime code never sees the JSON: it gets the
// plain structs below, with every default filled in.
//
// Match fields (all given fields must hold; an empty match takes every
// packet):
//   proto      "tcp", "udp", "icmp", "ipv6-icmp" (or "icmpv6"), "sctp", "gre" or 0-255
//   src, dst   an address or CIDR prefix, IPv4 or IPv6: the packet's sender / receiver
//   src_port, dst_port  a port or "a-b" (inclusive); only packets with ports match
//   vlan       0-4095: the outer or the inner 802.1Q id
//   dscp       0-63: the DSCP the packet arrives with
//   app        an nDPI protocol name, compared without case against the flow's
//              label as a whole ("TLS.Google") and against each of its two parts,
//              so "TLS" and "Google" both match a flow labelled TLS.Google
//   direction  "to_server" (sent by the flow's initiator) or "to_client"
//
// Actions, applied in this order: police (meter colour, then that colour's
// action), DSCP rewrite (set_dscp, overridden by a remark:N of the colour),
// shape (token-bucket queue). Sizes count whole frames as they leave the
// port (link header included).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ws {

// Largest values the parser accepts: beyond 400 Gbit/s or 1 GiB bursts a
// value is a typo, and shaper queues are preallocated per worker.
inline constexpr uint64_t kQosMaxRateBps = 400'000'000'000ull;
inline constexpr uint64_t kQosMaxBurstBytes = 1ull << 30;
inline constexpr uint64_t kQosMaxQueueBytes = 64ull << 20;
inline constexpr uint64_t kQosMaxQueuePackets = 1u << 20;
inline constexpr size_t kQosMaxClasses = 64;
inline constexpr size_t kQosMaxNameLen = 64;

struct QosPrefix {
  uint8_t family = 0;  // 0: any, 4 or 6
  uint8_t bits = 0;    // prefix length
  uint8_t addr[16] = {};  // network order, IPv4 in the first 4 bytes, host bits cleared
};

struct QosMatch {
  int proto = -1;  // -1: any
  QosPrefix src, dst;
  bool has_src_port = false, has_dst_port = false;
  uint16_t src_port_lo = 0, src_port_hi = 0;
  uint16_t dst_port_lo = 0, dst_port_hi = 0;
  int vlan = -1;  // -1: any
  int dscp = -1;  // -1: any
  std::string app;  // empty: any
  int direction = -1;  // -1: any, 1: to_server, 0: to_client
};

// What a policer does with a packet of one colour.
struct QosColorAction {
  enum Kind : uint8_t { kTransmit, kDrop, kRemark };
  Kind kind = kTransmit;
  uint8_t dscp = 0;  // kRemark
};

struct QosPolice {
  bool enabled = false;
  bool trtcm = false;  // pir_bps given: RFC 2698; otherwise RFC 2697
  uint64_t cir_bps = 0, cbs_bytes = 0, ebs_bytes = 0;  // srTCM
  uint64_t pir_bps = 0, pbs_bytes = 0;                 // trTCM (with cir, cbs)
  // Defaults as Cisco IOS policers: conform transmits, exceed and violate drop.
  QosColorAction conform{QosColorAction::kTransmit, 0};
  QosColorAction exceed{QosColorAction::kDrop, 0};
  QosColorAction violate{QosColorAction::kDrop, 0};
  bool operator==(const QosPolice& o) const;
};

struct QosShape {
  bool enabled = false;
  uint64_t rate_bps = 0;
  uint64_t burst_bytes = 0;
  // Queue bounds as resolved by the parser: queue_bytes given, or
  // queue_packets x 1600, or 100 ms at the rate (at least 64 KiB);
  // queue_packets given or unbounded (UINT32_MAX).
  uint64_t queue_bytes = 0;
  uint32_t queue_packets = 0;
  bool operator==(const QosShape& o) const;
};

struct QosClass {
  std::string name;
  QosMatch match;
  QosPolice police;
  QosShape shape;
  int set_dscp = -1;  // -1: leave DSCP
};

struct QosPolicy {
  std::vector<QosClass> classes;  // first match wins
};

// Parses a policy body. Returns "" and fills *out, or the error
// ("classes[0].match.dst_port: ..."); *out is then unspecified.
std::string parse_qos_policy(const nlohmann::json& body, QosPolicy* out);
// The same from text (a body that is not JSON is refused with the parser's
// position).
std::string parse_qos_policy_text(const std::string& text, QosPolicy* out);

// A policy or class name: 1-64 of [A-Za-z0-9_.-]. Returns "" or the reason.
std::string check_qos_name(const std::string& name);

// "a.b.c.d[/n]" or an IPv6 address with an optional /n. "" or the reason.
std::string parse_qos_prefix(const std::string& s, QosPrefix* out);
// True when addr (family 4 or 6, 16 bytes as in FlowKey) is inside p.
bool qos_prefix_contains(const QosPrefix& p, uint8_t family, const uint8_t* addr);

}  // namespace ws
