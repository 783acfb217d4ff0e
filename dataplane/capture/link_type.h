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

}  // namespace ws
