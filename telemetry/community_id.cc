#include "telemetry/community_id.h"

// The one-shot SHA1() of OpenSSL 3 fetches the algorithm and allocates a
// digest context on every call; SHA1_Init/Update/Final work on a stack
// struct. They are marked deprecated in 3.0 but remain supported.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>

#include <cstring>

namespace ws {

namespace {

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoIcmp6 = 58;
constexpr uint8_t kProtoSctp = 132;

// Returns the counterpart type of a request/response ICMP message, or -1.
int icmp4_counterpart(uint8_t type) {
  switch (type) {
    case 8: return 0;    // echo → echo reply
    case 0: return 8;
    case 13: return 14;  // timestamp
    case 14: return 13;
    case 15: return 16;  // information
    case 16: return 15;
    case 10: return 9;   // router solicitation → advertisement
    case 9: return 10;
    case 17: return 18;  // address mask
    case 18: return 17;
    default: return -1;
  }
}

int icmp6_counterpart(uint8_t type) {
  switch (type) {
    case 128: return 129;  // echo request/reply
    case 129: return 128;
    case 130: return 131;  // MLD query/report
    case 131: return 130;
    case 133: return 134;  // router solicitation/advertisement
    case 134: return 133;
    case 135: return 136;  // neighbor solicitation/advertisement
    case 136: return 135;
    case 139: return 140;  // node information ("who are you") query/reply
    case 140: return 139;
    case 144: return 145;  // home agent address discovery request/reply
    case 145: return 144;
    default: return -1;
  }
}

void base64_20(const uint8_t* in, char* out) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  // 20 bytes = 6 full groups of 3 + 2 bytes → 27 characters + one '='.
  size_t o = 0;
  for (size_t i = 0; i < 18; i += 3) {
    uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8) | in[i + 2];
    out[o++] = kAlphabet[(v >> 18) & 63];
    out[o++] = kAlphabet[(v >> 12) & 63];
    out[o++] = kAlphabet[(v >> 6) & 63];
    out[o++] = kAlphabet[v & 63];
  }
  uint32_t v = (uint32_t{in[18]} << 16) | (uint32_t{in[19]} << 8);
  out[o++] = kAlphabet[(v >> 18) & 63];
  out[o++] = kAlphabet[(v >> 12) & 63];
  out[o++] = kAlphabet[(v >> 6) & 63];
  out[o++] = '=';
}

}  // namespace

CommunityIdPorts community_id_icmp_ports(bool ipv6, uint8_t type, uint8_t code) {
  int counterpart = ipv6 ? icmp6_counterpart(type) : icmp4_counterpart(type);
  if (counterpart < 0) return {type, code, true};
  return {type, static_cast<uint16_t>(counterpart), false};
}

size_t community_id_v1(const uint8_t* saddr, const uint8_t* daddr, size_t addr_len,
                       uint8_t proto, uint16_t sport, uint16_t dport, bool has_ports,
                       bool one_way, uint16_t seed, char* out) {
  // Order the endpoints: addresses compared as big-endian byte strings,
  // ports break a tie.
  bool keep = true;
  if (!one_way) {
    int c = std::memcmp(saddr, daddr, addr_len);
    keep = c < 0 || (c == 0 && sport < dport);
  }
  const uint8_t* a = keep ? saddr : daddr;
  const uint8_t* b = keep ? daddr : saddr;
  uint16_t pa = keep ? sport : dport;
  uint16_t pb = keep ? dport : sport;

  // seed(2) addr(4|16) addr(4|16) proto(1) pad(1) [sport(2) dport(2)]
  uint8_t in[2 + 16 + 16 + 2 + 4];
  size_t n = 0;
  in[n++] = static_cast<uint8_t>(seed >> 8);
  in[n++] = static_cast<uint8_t>(seed);
  std::memcpy(in + n, a, addr_len);
  n += addr_len;
  std::memcpy(in + n, b, addr_len);
  n += addr_len;
  in[n++] = proto;
  in[n++] = 0;
  if (has_ports) {
    in[n++] = static_cast<uint8_t>(pa >> 8);
    in[n++] = static_cast<uint8_t>(pa);
    in[n++] = static_cast<uint8_t>(pb >> 8);
    in[n++] = static_cast<uint8_t>(pb);
  }

  uint8_t digest[SHA_DIGEST_LENGTH];
  SHA_CTX ctx;
  SHA1_Init(&ctx);
  SHA1_Update(&ctx, in, n);
  SHA1_Final(digest, &ctx);

  out[0] = '1';
  out[1] = ':';
  base64_20(digest, out + 2);
  return kCommunityIdLen;
}

size_t community_id_for_flow(const FlowKey& key, uint8_t icmp_type, uint8_t icmp_code,
                             uint16_t seed, char* out) {
  size_t alen = key.family == 6 ? 16 : 4;
  switch (key.proto) {
    case kProtoTcp:
    case kProtoUdp:
    case kProtoSctp:
      return community_id_v1(key.src, key.dst, alen, key.proto, key.sport, key.dport, true,
                             false, seed, out);
    case kProtoIcmp:
    case kProtoIcmp6: {
      CommunityIdPorts p = community_id_icmp_ports(key.proto == kProtoIcmp6, icmp_type, icmp_code);
      return community_id_v1(key.src, key.dst, alen, key.proto, p.sport, p.dport, true,
                             p.one_way, seed, out);
    }
    default:
      return community_id_v1(key.src, key.dst, alen, key.proto, 0, 0, false, false, seed, out);
  }
}

}  // namespace ws
