// A captured frame as the data plane sees it: a view into memory owned by
// the source that produced it (an mmap'd capture file, a TPACKET_V3 block, a
// DPDK mbuf). Sources hand packets out in bursts; nothing on the per-packet
// path copies or owns frame bytes. 40 bytes, so a burst of 32 views is
// 20 cache lines and fits L1 next to the frames themselves.
#pragma once

#include <cstdint>
#include <cstring>

namespace ws {

// Link-layer framing of a source, by libpcap DLT/LINKTYPE value.
enum class LinkType : uint16_t {
  kNull = 0,         // DLT_NULL: 4-byte host-order address family (BSD loopback)
  kEthernet = 1,     // DLT_EN10MB
  kPpp = 9,          // DLT_PPP: PPP header (FF 03 optional), IPv4 or IPv6
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
    case 0: case 1: case 9: case 101: case 108: case 113: case 228: case 229: case 276:
      return true;
    case 12:  // DLT_RAW on OpenBSD-derived libpcap; same framing as 101
      return true;
    default:
      return false;
  }
}

enum PacketFlags : uint8_t {
  // The capture stripped the outer VLAN tag into metadata (AF_PACKET
  // tp_vlan_tci, DPDK RTE_MBUF_F_RX_VLAN_STRIPPED); vlan_tci holds it and
  // the frame on the wire was 4 bytes longer than wirelen says. Linux
  // strips an outer 802.1Q or 802.1ad tag alike (skb_vlan_untag).
  kPktVlanStripped = 1u << 0,
  // The kernel has not filled in the L4 checksum yet (AF_PACKET
  // TP_STATUS_CSUMNOTREADY on locally sent frames): not verifiable.
  kPktChecksumNotReady = 1u << 1,
  // With kPktVlanStripped: the stripped tag was an 802.1ad service tag
  // (TPID 0x88a8, AF_PACKET tp_vlan_tpid), not an 802.1Q one (0x8100).
  kPktVlanStag = 1u << 2,
  // A packet read from a capture file: Packet::file_index holds its
  // number in the file (Suricata's pcap_cnt); otherwise opaque is the
  // source's.
  kPktFileIndex = 1u << 3,
};

struct Packet {
  const uint8_t* data = nullptr;
  uint32_t caplen = 0;     // bytes present at data
  uint32_t wirelen = 0;    // original frame length
  uint64_t ts_ns = 0;      // capture time, ns since the Unix epoch
  union {
    void* opaque = nullptr;  // source-private handle (e.g. rte_mbuf*), for release()
    uint64_t file_index;     // with kPktFileIndex: 1-based record number in the capture file(s)
  };
  uint16_t ifindex = 0;    // agent-local ingress interface index
  uint16_t vlan_tci = 0;   // valid when flags & kPktVlanStripped
  uint8_t flags = 0;
  LinkType link = LinkType::kEthernet;
};

// A VLAN tag as it is on the wire, TPID << 16 | TCI; kNoVlanTag: none (no
// TPID is 0).
constexpr uint32_t kNoVlanTag = 0;
constexpr uint16_t kTpid8021Q = 0x8100, kTpid8021ad = 0x88a8;

// The tag the capture stripped from p, with the TPID it had on the wire.
constexpr uint32_t stripped_vlan_tag(const Packet& p) {
  if (!(p.flags & kPktVlanStripped)) return kNoVlanTag;
  return uint32_t{p.flags & kPktVlanStag ? kTpid8021ad : kTpid8021Q} << 16 | p.vlan_tci;
}

// The tag's 4 bytes in wire order.
inline void put_vlan_tag(uint8_t* out, uint32_t tag) {
  out[0] = static_cast<uint8_t>(tag >> 24);
  out[1] = static_cast<uint8_t>(tag >> 16);
  out[2] = static_cast<uint8_t>(tag >> 8);
  out[3] = static_cast<uint8_t>(tag);
}

// Whether the tag goes back on this frame (it has MAC addresses to put it
// after), and the length the frame then leaves with: what meters, shapers
// and counters count.
inline bool vlan_tag_goes_back(uint32_t len, uint32_t tag) { return tag != kNoVlanTag && len >= 12; }
inline uint32_t wire_len_with_tag(uint32_t len, uint32_t tag) { return vlan_tag_goes_back(len, tag) ? len + 4 : len; }

// Copies an Ethernet frame of len >= 12 bytes into out (room for len + 4)
// with the tag put back after its MAC addresses; returns the new length.
inline uint32_t insert_vlan_tag(const uint8_t* frame, uint32_t len, uint32_t tag, uint8_t* out) {
  std::memcpy(out, frame, 12);
  put_vlan_tag(out + 12, tag);
  std::memcpy(out + 16, frame + 12, len - 12);
  return len + 4;
}

}  // namespace ws
