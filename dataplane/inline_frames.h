// Frames the inline path writes itself: the replies a reject rule sends,
// and the L4 checksum of a frame the kernel handed over unfinished.
//
// Reject, to the source (Suricata's `reject` and `rejectsrc`, and half of
// `rejectboth`): the reply goes back to the sender of the offending
// packet, out of the interface the packet came in on, with the link header
// turned around (MACs swapped, VLAN tags kept) so that it looks as if the
// destination answered:
//   - TCP: a RST (RFC 9293 §3.10.7.1: seq = the packet's ack when it has
//     ACK set, else seq 0 with ACK acknowledging everything it sent);
//   - UDP: ICMP port unreachable (ICMPv6 port unreachable);
//   - any other protocol: ICMP host unreachable (ICMPv6 address
//     unreachable);
//   - never for a TCP RST or an ICMP error (RFC 1122 §3.2.2: no error about
//     an error), nor for a frame that is not plain Ethernet (802.1Q and
//     802.1ad tags allowed).
// Reject to the destination (`rejectdst`, the other half of `rejectboth`):
// the reply goes on to the packet's destination, out of the other side of
// the pair, as if the sender had sent it: the packet's own link header,
// addresses and ports; a TCP RST carries the packet's seq (what the
// destination expects next, RFC 5961 §3.2) and, when the packet has ACK
// set, its ack with ACK (Suricata's respond-reject: seq and ack of the
// packet); for other protocols the same ICMP unreachable, from the sender.
// The ICMP reply quotes the offending IP packet as far as the minimum MTU
// allows (576 bytes of IPv4 datagram, 1280 of IPv6).
#pragma once

#include <cstddef>
#include <cstdint>

#include "dataplane/decode.h"
#include "dataplane/packet.h"

namespace ws {

// Room build_reject() may need: link header with two tags, IPv6, ICMPv6
// and the 1232-byte quote.
constexpr size_t kRejectFrameMax = 14 + 8 + 1280;

enum class RejectKind : uint8_t { kNone, kTcpRst, kIcmpPortUnreachable, kIcmpHostUnreachable };

// Who one reply goes to: the offending packet's sender or its destination.
enum class ReplyTo : uint8_t { kSource, kDestination };

// What build_reject() would send for this packet (kNone: nothing), in
// either direction.
RejectKind reject_kind(const Packet& p, const Decoded& d);

// Writes the reply into out (at least kRejectFrameMax bytes). Returns its
// length, 0 when the packet gets no reply (reject_kind() is kNone). A VLAN
// tag the capture stripped is not in it (the link puts it back).
size_t build_reject(const Packet& p, const Decoded& d, uint8_t* out, ReplyTo to = ReplyTo::kSource);

// A frame marked kPktChecksumNotReady carries only the pseudo-header sum in
// its TCP/UDP checksum field (the sender's NIC was to finish it). Before
// such a frame leaves on another interface its checksum is computed in
// full. Returns false (and leaves the frame alone) when the segment is not
// wholly in the capture or is not TCP/UDP.
bool complete_l4_checksum(uint8_t* frame, uint32_t caplen, const Decoded& d);

}  // namespace ws
