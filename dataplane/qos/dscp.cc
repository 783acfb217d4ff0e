#include "dataplane/qos/dscp.h"

namespace ws {

bool qos_set_dscp(uint8_t* frame, uint32_t len, uint16_t l3_off, uint8_t family, uint8_t dscp) {
  if (family == 4) {
    if (uint32_t(l3_off) + 20 > len) return false;
    uint8_t* ip = frame + l3_off;
    const uint8_t tos = static_cast<uint8_t>((dscp << 2) | (ip[1] & 0x03));
    if (tos == ip[1]) return true;
    const uint16_t old_word = static_cast<uint16_t>((ip[0] << 8) | ip[1]);
    const uint16_t new_word = static_cast<uint16_t>((ip[0] << 8) | tos);
    const uint16_t hc = static_cast<uint16_t>((ip[10] << 8) | ip[11]);
    uint32_t sum = static_cast<uint16_t>(~hc) + static_cast<uint16_t>(~old_word) + uint32_t(new_word);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    const uint16_t out = static_cast<uint16_t>(~sum);
    ip[1] = tos;
    ip[10] = static_cast<uint8_t>(out >> 8);
    ip[11] = static_cast<uint8_t>(out);
    return true;
  }
  if (family == 6) {
    if (uint32_t(l3_off) + 40 > len) return false;
    uint8_t* ip = frame + l3_off;
    // Version(4) | traffic class(8) | flow label(20): DSCP is the class's top
    // six bits, i.e. the low nibble of byte 0 and the top two bits of byte 1.
    ip[0] = static_cast<uint8_t>((ip[0] & 0xf0) | (dscp >> 2));
    ip[1] = static_cast<uint8_t>((ip[1] & 0x3f) | ((dscp & 0x03) << 6));
    return true;
  }
  return false;
}

uint16_t ipv4_header_checksum(const uint8_t* ip, unsigned header_len) {
  uint32_t sum = 0;
  for (unsigned i = 0; i + 1 < header_len; i += 2) {
    if (i == 10) continue;  // the checksum field itself counts as zero
    sum += static_cast<uint32_t>((ip[i] << 8) | ip[i + 1]);
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace ws
