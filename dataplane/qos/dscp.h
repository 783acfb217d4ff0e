// DSCP rewrite in place: the six DSCP bits of the IPv4 TOS byte or the
// IPv6 traffic class, ECN bits kept. IPv4's header checksum is updated
// incrementally (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')) over the one
// 16-bit word that changed, so a rewrite costs a few adds whatever the
// header length; IPv6 has no header checksum, and no L4 checksum covers the
// traffic class or the TOS byte.
#pragma once

#include <cstdint>

namespace ws {

// frame: the writable frame; l3_off: the IP header's offset in it (Decoded::
// l3_off); family 4 or 6; len: the frame's captured length. Returns false,
// changing nothing, when the header is not inside the frame or the family is
// neither.
bool qos_set_dscp(uint8_t* frame, uint32_t len, uint16_t l3_off, uint8_t family, uint8_t dscp);

// The IPv4 header checksum computed from scratch (RFC 1071), for tests and
// for checking the incremental update.
uint16_t ipv4_header_checksum(const uint8_t* ip, unsigned header_len);

}  // namespace ws
