// A captured frame as the data plane sees it: a view into memory owned by
// the source that produced it (an mmap'd capture file, a TPACKET_V3 block, a
// DPDK mbuf). Sources hand packets out in bursts; nothing on the per-packet
// path copies or owns frame bytes. 40 bytes, so a burst of 32 views is
// 20 cache lines and fits L1 next to the frames themselves.
#pragma once

#include <cstdint>

namespace ws {

// Link-layer framing of a source, by libpcap DLT/LINKTYPE value.
enum class LinkType : uint16_t {
  kNull = 0,         // DLT_NULL: 4-byte host-order address family (BSD loopback)
  kEthernet = 1,     // DLT_EN10MB
  kRaw = 101,        // LINKTYPE_RAW: IPv4 or IPv6 by version nibble
  kLoop = 108,       // DLT_LOOP: 4-byte network-order address family (OpenBSD)
  kLinuxSll = 113,   // Linux cooked capture v1
  kIpv4 = 228,       // LINKTYPE_IPV4
  kIpv6 = 229,       // LINKTYPE_IPV6
  kLinuxSll2 = 276,  // Linux cooked capture v2
};

// Returns true if the data plane decodes this link type.
constexpr bool link_type_supported(uint32_t dlt) {
  switch (dlt) {
    case 0: case 1: case 101: case 108: case 113: case 228: case 229: case 276:
      return true;
    case 12:  // DLT_RAW on OpenBSD-derived libpcap; same framing as 101
      return true;
    default:
      return false;
  }
}

enum PacketFlags : uint8_t {
  // The capture stripped an 802.1Q tag into metadata (AF_PACKET
  // tp_vlan_tci, DPDK RTE_MBUF_F_RX_VLAN_STRIPPED); vlan_tci holds it and
  // the frame on the wire was 4 bytes longer than wirelen says.
  kPktVlanStripped = 1u << 0,
  // The kernel has not filled in the L4 checksum yet (AF_PACKET
  // TP_STATUS_CSUMNOTREADY on locally sent frames): not verifiable.
  kPktChecksumNotReady = 1u << 1,
};

struct Packet {
  const uint8_t* data = nullptr;
  uint32_t caplen = 0;     // bytes present at data
  uint32_t wirelen = 0;    // original frame length
  uint64_t ts_ns = 0;      // capture time, ns since the Unix epoch
  void* opaque = nullptr;  // source-private handle (e.g. rte_mbuf*), for release()
  uint16_t ifindex = 0;    // agent-local ingress interface index
  uint16_t vlan_tci = 0;   // valid when flags & kPktVlanStripped
  uint8_t flags = 0;
  LinkType link = LinkType::kEthernet;
};

}  // namespace ws
