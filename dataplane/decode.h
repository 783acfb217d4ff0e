// Decode: turns a captured frame into the fields the flow table, the rules
// and the exporters need, without copying it. One pass, front to back:
// link header (Ethernet, SLL/SLL2, raw IP, null/loop) → 802.1Q/QinQ tags →
// MPLS label stack → NSH → IPv4 (options) / IPv6 (extension headers) → TCP,
// UDP, ICMP, ICMPv6, SCTP or GRE. GRE is a flow of its own (protocol 47
// between the tunnel endpoints), as ipfixprobe and softflowd account it.
// IP-in-IP and VXLAN are decoded as themselves and mark what they carry
// (Decoded::inner); decode_inner() then decodes that as a packet of its own,
// as Suricata's tunnel packets.
//
// Every way a frame can be refused has a named counter (the X-macro table
// below, in the VPP error-table style); a refused frame never reaches the
// flow table and never crashes anything, whatever its bytes.
//
// Non-first IP fragments carry no ports. The decoder keeps a small fragment
// table keyed by (addresses, IP id, protocol) that remembers the ports of
// each first fragment, so later fragments are accounted to the right flow,
// as ipfixprobe does. The table lives with the decoder, which lives with the
// thread that decodes (the dispatcher, or the worker for per-worker queues):
// all fragments of a datagram pass through the same decoder.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

#include "dataplane/counters.h"
#include "dataplane/flow_key.h"
#include "dataplane/packet.h"

namespace ws {

// X(name, help). Order is the reporting order.
#define WS_DECODE_COUNTERS(X)                                                        \
  X(decoded, "frames decoded to an IP flow key")                                     \
  X(non_ip, "frames that carry no IPv4/IPv6 (ARP, LLDP, ...): not flows")            \
  X(unsupported_link, "frames of a link type that is not decoded")                   \
  X(truncated_link, "frame shorter than its link-layer header")                      \
  X(truncated_vlan, "frame ends inside an 802.1Q tag")                               \
  X(truncated_mpls, "frame ends inside the MPLS label stack")                        \
  X(mpls_too_deep, "MPLS label stack deeper than 8 labels")                          \
  X(mpls_unknown_payload, "MPLS payload is neither IPv4 nor IPv6")                   \
  X(truncated_ipv4, "frame ends inside the IPv4 header")                             \
  X(bad_ipv4_header, "IPv4 version, header length or total length invalid")          \
  X(truncated_ipv6, "frame ends inside the IPv6 header")                             \
  X(bad_ipv6_ext, "IPv6 extension header chain truncated or too long")              \
  X(truncated_tcp, "frame ends inside the TCP header")                               \
  X(bad_tcp_header, "TCP data offset invalid")                                       \
  X(truncated_udp, "frame ends inside the UDP header")                               \
  X(bad_udp_length, "UDP length field invalid")                                      \
  X(truncated_icmp, "frame ends inside the ICMP/ICMPv6 header")                      \
  X(truncated_sctp, "frame ends inside the SCTP common header")                      \
  X(truncated_gre, "frame ends inside the GRE header")                               \
  X(bad_gre_header, "GRE version not 0 or 1, or a version 1 (PPTP) header invalid")  \
  X(gre_not_decapsulated, "GRE payloads not decapsulated: routing present, ERSPAN type I or III, another protocol") \
  X(truncated_nsh, "frame ends inside an NSH header")                                \
  X(bad_nsh_header, "NSH version, length or MD type invalid")                        \
  X(nsh_unknown_payload, "NSH next protocol is not IPv4, IPv6, Ethernet or MPLS")     \
  X(tunnels, "encapsulated packets decoded (IP-in-IP, GRE, VXLAN, Geneve)")          \
  X(geneve_not_decapsulated, "Geneve datagrams not opened: bad version, OAM, another protocol") \
  X(tunnel_too_deep, "encapsulations nested deeper than 3: inner packet not decoded") \
  X(bad_ipv4_checksum, "IPv4 header checksum wrong")                                 \
  X(bad_l4_checksum, "TCP/UDP/ICMP/ICMPv6 checksum wrong")                           \
  X(checksum_drop, "frames dropped for a bad checksum (-k all)")                     \
  X(fragments, "IP fragments seen")                                                  \
  X(fragments_unmatched, "non-first fragments whose first fragment was not seen")              \
  X(tiny_fragments, "first fragments too short for their transport header (RFC 1858): kept without ports")

struct DecodeStats {
#define WS_X(name, help) Counter name;
  WS_DECODE_COUNTERS(WS_X)
#undef WS_X
};

struct DecodeCounterInfo {
  const char* name;
  const char* help;
};
// The table of decode counters, for reports and metrics.
const DecodeCounterInfo* decode_counter_info(size_t* count);
// Reads counter i of s in table order.
uint64_t decode_counter_value(const DecodeStats& s, size_t i);
// True for the counters of frames that never reach the flow table; the
// others (decoded frames, fragments, bad checksums that are only counted,
// tunnels' inner packets) are outcomes, not drops.
bool decode_counter_is_drop(const char* name);

enum class ChecksumMode : uint8_t { kNone, kAll };

struct DecodeOptions {
  // kNone: checksums are verified and bad ones counted, the frame is kept.
  // kAll: a frame with a bad checksum is counted and dropped.
  ChecksumMode checksum = ChecksumMode::kNone;
  // Tunnels (Suricata's decoder.ipv4.ipip / ipv6 tunnels and
  // decoder.vxlan): an IP-in-IP datagram (protocol 4 or 41) or a VXLAN
  // datagram (UDP to vxlan_port) also yields its inner packet, which the
  // worker processes as a packet of its own (flow, nDPI, rules).
  bool tunnels = true;
  // IPv4 in IPv4 as well: off by default, as Suricata's
  // decoder.ipv4.ipip.enabled since 7.0.12 (the IPv6 tunnels are on).
  bool ipv4_in_ipv4 = false;
  // Suricata's decoder.ipv4.ipip.track-parent-flow (7.0.12): the outer
  // packets of an IP-in-IP tunnel (protocol 4 or 41) are matched as a flow,
  // so its IP-only rules see them once per direction. Off: as Suricata
  // before, every outer packet is matched by them. The decoder does not
  // read it; the worker's rule stage does (DetectOptions::tunnel_parent_flow).
  bool track_parent_flow = false;
  uint16_t vxlan_port = 4789;  // 0: VXLAN not decoded
  uint16_t geneve_port = 6081;  // Geneve (RFC 8926), Suricata's decoder.geneve; 0: not decoded
  // Teredo (RFC 4380) to or from this UDP port, Suricata's decoder.teredo:
  // a datagram whose payload is exactly one plausible IPv6 packet (after
  // an origin indication). 0: not decoded.
  uint16_t teredo_port = 3544;
  // GRE (Suricata decapsulates it always): IPv4, IPv6, Ethernet
  // (transparent bridging), ERSPAN type II and PPTP's PPP payloads.
  bool gre = true;

  bool operator==(const DecodeOptions&) const = default;
};

// What a decoded packet encapsulates (Decoded::inner), and where a packet
// came from (Decoded::pkt_src: AlertRecord::pkt_src, which EVE prints as
// Suricata's pkt_src "wire/pcap", "ipv4 tunnel", "ipv6 tunnel", "gre tunnel",
// "geneve encapsulation", "teredo tunnel", "vxlan
// encapsulation"; "defrag": a datagram reassembled from its fragments).
// kEthernet: GRE transparent Ethernet bridging; kErspan: an ERSPAN type
// II header, then Ethernet; kPpp: PPTP's PPP frame, then IPv4 or IPv6.
// kGeneve: a Geneve header (its options' length in it), then Ethernet,
// IPv4 or IPv6.
// kTeredo: IPv6 in UDP (RFC 4380), after an origin indication if any.
enum class Inner : uint8_t { kNone, kIpv4, kIpv6, kVxlan, kEthernet, kErspan, kPpp, kGeneve, kTeredo };
// kStreamTimeout: no packet, a flow's held stream data inspected at its
// end (Suricata's pseudo packet, "stream (flow timeout)").
enum class PktSrc : uint8_t { kWire, kIpv4Tunnel, kIpv6Tunnel, kVxlan, kGre, kGeneve, kTeredo, kDefrag, kStreamTimeout };

enum DecodedFlags : uint8_t {
  kDecFragment = 1u << 0,      // part of a fragmented datagram
  kDecLaterFragment = 1u << 1, // non-first fragment: no L4 header in this frame
  kDecL4Complete = 1u << 2,    // the whole L4 segment is captured
  kDecIcmpEcho = 1u << 3,      // ICMP/ICMPv6 echo: ports carry the identifier
  kDecBadChecksum = 1u << 4,
  kDecChecked = 1u << 5,       // verify_checksums() has run
};

// The result of decoding one frame: 88 bytes.
struct Decoded {
  FlowKey key;             // as seen in this frame: src is the sender
  uint32_t frame_len = 0;  // frame bytes on the wire incl. link header (+4 per stripped tag)
  uint32_t l3_len = 0;     // IP header + payload, from the IP header
  uint32_t seq = 0;        // TCP sequence / ack numbers
  uint32_t ack = 0;
  uint16_t l3_off = 0;     // offsets into Packet::data
  uint16_t l4_off = 0;
  uint16_t payload_off = 0;
  uint16_t payload_len = 0;  // captured L4 payload bytes
  uint16_t vlan[2] = {0, 0};
  uint16_t window = 0;
  uint8_t vlan_count = 0;
  uint8_t tcp_flags = 0;
  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;
  uint8_t ttl = 0;
  uint8_t tos = 0;
  uint8_t flags = 0;  // DecodedFlags
  // An encapsulated packet starts at payload_off (IP-in-IP, GRE's IP or
  // Ethernet payload) or after a header there (VXLAN's and ERSPAN's 8
  // bytes, PPP's); Decoder::decode_inner.
  Inner inner = Inner::kNone;
  PktSrc pkt_src = PktSrc::kWire;  // set on an inner packet: its tunnel
  uint8_t depth = 0;               // encapsulations around this packet
};

// Fragment table: first-fragment ports by (family, addresses, id, protocol).
// Fixed size and direct-mapped: a collision overwrites, an entry older than
// kTimeoutNs is ignored (Linux's ipfrag_time is 30 s).
class FragTable {
 public:
  static constexpr size_t kSlots = 4096;
  static constexpr uint64_t kTimeoutNs = 30ull * 1000000000ull;

  void remember(const Decoded& d, uint32_t id, uint64_t now_ns);
  // Fills key ports from the first fragment; false if it was not seen.
  bool recall(Decoded& d, uint32_t id, uint64_t now_ns);

 private:
  struct Slot {
    uint8_t src[16];
    uint8_t dst[16];
    uint32_t id;
    uint16_t sport, dport;
    uint64_t ts_ns;
    uint8_t proto, family, used, icmp_flags;
  };
  static size_t slot_of(const Decoded& d, uint32_t id);
  std::array<Slot, kSlots> slots_{};
};

class Decoder {
 public:
  explicit Decoder(DecodeOptions opt = {}) : opt_(opt) {}

  // Decodes p into d. Returns false when the frame carries no flow (non-IP,
  // malformed, or dropped for its checksum); the reason is counted.
  // checksums=false leaves the checksums (the IPv4 header's, and the
  // TCP/UDP/ICMP one that reads the whole payload) to a later
  // verify_checksums(), so that a dispatcher can hand that work to the
  // worker that owns the flow.
  bool decode(const Packet& p, Decoded& d, bool checksums = true);
  // Verifies the checksums of a decoded frame and applies the checksum
  // mode; false if the frame is dropped for it (counted).
  bool verify_checksums(const Packet& p, Decoded& d);
  // The packet `outer` encapsulates (outer.inner != kNone) into in, as a
  // packet of its own: its flow key keeps the outer VLAN, frame_len counts
  // from the inner header, checksums are verified. False when it carries
  // no flow (counted as for any frame).
  bool decode_inner(const Packet& p, const Decoded& outer, Decoded& in);

  const DecodeStats& stats() const { return stats_; }
  const DecodeOptions& options() const { return opt_; }

 private:
  // From an ethertype at off: VLAN tags, MPLS, NSH, then IPv4/IPv6.
  bool decode_from_ethertype(const Packet& p, uint16_t etype, size_t off, Decoded& d);
  bool decode_ipv4(const Packet& p, size_t off, Decoded& d);
  bool decode_ipv6(const Packet& p, size_t off, Decoded& d);
  bool decode_l4(const Packet& p, size_t off, size_t end, uint8_t proto, Decoded& d);
  bool decode_gre(const Packet& p, size_t off, size_t avail, Decoded& d);
  // A first fragment whose transport header does not fit in it (the
  // RFC 1858 tiny-fragment evasion): kept as a fragment without ports,
  // so it still counts and reaches reassembly. end: where the fragment
  // ends (the capture holds all of it).
  bool tiny_first_fragment(const Packet& p, size_t off, size_t end, uint8_t proto, Decoded& d);
  bool checksum_ok(const Packet& p, const Decoded& d, size_t l4_end);

  DecodeOptions opt_;
  DecodeStats stats_;
  FragTable frags_;
};

// A packet out of a tunnel (depth > 0) as Suricata's tunnel packets have it:
// its bytes in p run from start (what the tunnel carries: the inner IP
// header, or the Ethernet or PPP header before it) to end (its datagram's
// end, or the capture's when that came first); Decoder::decode_inner's
// frame_len is end - start.
struct TunnelSpan {
  uint32_t start, end;
};
inline TunnelSpan tunnel_packet_span(const Packet& p, const Decoded& d) {
  const uint32_t end = std::min<uint32_t>(p.caplen, uint32_t{d.l3_off} + d.l3_len);
  return {end >= d.frame_len ? end - d.frame_len : end, end};
}

// One's-complement sum over len bytes (RFC 1071), folded to 16 bits but not
// inverted; exposed for tests and the packet builder checks.
uint16_t ones_sum(const uint8_t* p, size_t len, uint32_t initial = 0);

}  // namespace ws
