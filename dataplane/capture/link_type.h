// Maps a DLT/LINKTYPE number to the data plane's LinkType. Kept apart from
// packet.h because DLT_RAW has two numbers: 12 from libpcap on Linux (and in
// OpenBSD files), 101 in capture files; the decoder sees one.
#pragma once

#include <cstdint>

#include "dataplane/packet.h"

namespace ws {

// Only meaningful when link_type_supported(dlt).
constexpr LinkType link_from_dlt(uint32_t dlt) {
  return dlt == 12 ? LinkType::kRaw : static_cast<LinkType>(dlt);
}

// The DLT number libpcap's pcap_datalink() gives for a link type on Linux
// (raw IP is DLT_RAW, 12), as Suricata prints it (EVE packet_info).
constexpr uint16_t kDltRaw = 12;
constexpr uint16_t dlt_of(LinkType l) {
  return l == LinkType::kRaw ? kDltRaw : static_cast<uint16_t>(l);
}

// Suricata's name for a DLT (EVE packet_info.linktype_name); nullptr when
// it has none.
constexpr const char* dlt_name(uint16_t dlt) {
  switch (dlt) {
    case 0:
      return "NULL";
    case 1:
      return "EN10MB";
    case 9:
      return "PPP";
    case 12:
    case 101:
      return "RAW";
    case 108:
      return "LOOP";
    case 113:
      return "LINUX_SLL";
    case 228:
      return "IPv4";
    case 229:
      return "IPv6";
    case 276:
      return "LINUX_SLL2";
    default:
      return nullptr;
  }
}

}  // namespace ws
