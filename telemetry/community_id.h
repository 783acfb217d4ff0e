// Community ID v1 (corelight/community-id-spec): a direction-free flow hash
// that Zeek, Suricata, Arkime, Elastic and Wireshark all compute the same
// way, so an analyst can pivot from our EVE flows to their logs by string
// comparison. "1:" + base64(SHA-1(seed . saddr . daddr . proto . 0 .
// sport . dport)), all in network byte order, endpoints ordered so that the
// smaller address (then port) comes first.
//
// ICMP and ICMPv6 have no ports; the spec (after Zeek) uses the message type
// as the source "port" and, for request/response pairs, the counterpart type
// as the destination, so an echo request and its reply hash alike. Other
// ICMP messages are one-way: type and code, and no endpoint reordering.
// Protocols without ports (GRE, ESP, RSVP, ...) hash addresses and protocol
// only.
//
// SHA-1 comes from libcrypto's low-level API: it needs no context allocation
// or algorithm fetch per call, which matters at one hash per flow record.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dataplane/flow_key.h"

namespace ws {

// "1:" + 28 base64 characters.
inline constexpr size_t kCommunityIdLen = 30;

struct CommunityIdPorts {
  uint16_t sport = 0;
  uint16_t dport = 0;
  bool one_way = false;  // no endpoint reordering (ICMP messages without a counterpart)
};

// The spec's ICMP/ICMPv6 type/code → port mapping.
CommunityIdPorts community_id_icmp_ports(bool ipv6, uint8_t type, uint8_t code);

// Hashes one tuple as given. addr_len is 4 or 16. has_ports=false leaves
// the ports out of the hash input (port-less protocols). Writes exactly
// kCommunityIdLen characters to out (no terminator) and returns that count.
size_t community_id_v1(const uint8_t* saddr, const uint8_t* daddr, size_t addr_len,
                       uint8_t proto, uint16_t sport, uint16_t dport, bool has_ports,
                       bool one_way, uint16_t seed, char* out);

// The Community ID of a flow: ports from the key for TCP/UDP/SCTP, the ICMP
// mapping of (icmp_type, icmp_code) for ICMP/ICMPv6 (the type and code the
// key's source sent), addresses only for anything else.
size_t community_id_for_flow(const FlowKey& key, uint8_t icmp_type, uint8_t icmp_code,
                             uint16_t seed, char* out);

}  // namespace ws
