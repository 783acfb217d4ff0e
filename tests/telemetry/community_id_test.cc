// Community ID v1 against the spec's published vectors
// (corelight/community-id-spec, baseline/README.md tables and
// baseline/baseline_deflt.json). Where the published data has no case (UDP
// over IPv6, equal addresses, a one-way ICMP message from the larger
// address) the expected value was computed with an independent
// implementation of the spec's pseudo-code (Python hashlib/base64), which
// reproduces the published TCP vector 1:wCb3OG7yAFWelaUydu0D+125CLM=, and
// each one was confirmed by Wireshark's own Community ID dissector (tshark
// 4.0 --enable-protocol communityid) on packets with those tuples.
#include "telemetry/community_id.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace ws {
namespace {

FlowKey make_key(const char* src, const char* dst, uint8_t proto, uint16_t sport,
                 uint16_t dport) {
  FlowKey k;
  std::memset(&k, 0, sizeof k);
  bool v6 = std::strchr(src, ':') != nullptr;
  k.family = v6 ? 6 : 4;
  EXPECT_EQ(inet_pton(v6 ? AF_INET6 : AF_INET, src, k.src), 1) << src;
  EXPECT_EQ(inet_pton(v6 ? AF_INET6 : AF_INET, dst, k.dst), 1) << dst;
  k.proto = proto;
  k.sport = sport;
  k.dport = dport;
  return k;
}

std::string cid(const char* src, const char* dst, uint8_t proto, uint16_t sport, uint16_t dport,
                uint16_t seed = 0) {
  FlowKey k = make_key(src, dst, proto, sport, dport);
  char out[kCommunityIdLen];
  size_t n = community_id_for_flow(k, 0, 0, seed, out);
  return std::string(out, n);
}

// ICMP flows: the type/code the source sent.
std::string cid_icmp(const char* src, const char* dst, uint8_t proto, uint8_t type, uint8_t code,
                     uint16_t seed = 0) {
  FlowKey k = make_key(src, dst, proto, 0, 0);
  char out[kCommunityIdLen];
  size_t n = community_id_for_flow(k, type, code, seed, out);
  return std::string(out, n);
}

constexpr const char* kSip6 = "fe80:0001:0203:0405:0607:0809:0A0B:0C0D";
constexpr const char* kDip6 = "fe80:1011:1213:1415:1617:1819:1A1B:1C1D";

TEST(CommunityId, TcpV4BothDirections) {
  EXPECT_EQ(cid("1.2.3.4", "5.6.7.8", 6, 1122, 3344), "1:wCb3OG7yAFWelaUydu0D+125CLM=");
  EXPECT_EQ(cid("5.6.7.8", "1.2.3.4", 6, 3344, 1122), "1:wCb3OG7yAFWelaUydu0D+125CLM=");
  EXPECT_EQ(cid("128.232.110.120", "66.35.250.204", 6, 34855, 80),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
  EXPECT_EQ(cid("66.35.250.204", "128.232.110.120", 6, 80, 34855),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
}

TEST(CommunityId, UdpAndSctpV4) {
  EXPECT_EQ(cid("1.2.3.4", "5.6.7.8", 17, 1122, 3344), "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=");
  EXPECT_EQ(cid("5.6.7.8", "1.2.3.4", 17, 3344, 1122), "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=");
  EXPECT_EQ(cid("192.168.1.52", "8.8.8.8", 17, 54585, 53), "1:d/FP5EW3wiY1vCndhwleRRKHowQ=");
  EXPECT_EQ(cid("1.2.3.4", "5.6.7.8", 132, 1122, 3344), "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=");
  EXPECT_EQ(cid("192.168.170.56", "192.168.170.8", 132, 7, 7), "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=");
}

TEST(CommunityId, TcpV6) {
  EXPECT_EQ(cid("2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 6, 63943, 25),
            "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=");
  EXPECT_EQ(cid("2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 6, 25, 63943),
            "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=");
}

TEST(CommunityId, UdpV6) {
  EXPECT_EQ(cid("2001:db8::1", "2001:db8::53", 17, 40000, 53), "1:8Etth4BEhu8kb6leVyXdsdXb3E8=");
  EXPECT_EQ(cid("2001:db8::53", "2001:db8::1", 17, 53, 40000), "1:8Etth4BEhu8kb6leVyXdsdXb3E8=");
}

TEST(CommunityId, EqualAddressesOrderedByPort) {
  EXPECT_EQ(cid("10.0.0.1", "10.0.0.1", 6, 1234, 80), "1:WaobEo3Uyp/JjlL9QX3lvrl1Oag=");
  EXPECT_EQ(cid("10.0.0.1", "10.0.0.1", 6, 80, 1234), "1:WaobEo3Uyp/JjlL9QX3lvrl1Oag=");
}

TEST(CommunityId, Seed) {
  EXPECT_EQ(cid("1.2.3.4", "5.6.7.8", 6, 1122, 3344, 1), "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=");
  EXPECT_EQ(cid("5.6.7.8", "1.2.3.4", 17, 3344, 1122, 1), "1:OShq+iKDAMVouh/4bMxB9Sz4amw=");
  EXPECT_EQ(cid_icmp("1.2.3.4", "5.6.7.8", 1, 8, 0, 1), "1:9pr4ZGTICiuZoIh90RRYE2RyXpU=");
}

TEST(CommunityId, IcmpEchoRequestAndReplyHashAlike) {
  EXPECT_EQ(cid_icmp("1.2.3.4", "5.6.7.8", 1, 8, 0), "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=");
  EXPECT_EQ(cid_icmp("5.6.7.8", "1.2.3.4", 1, 0, 0), "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=");
  EXPECT_EQ(cid_icmp("192.168.0.89", "192.168.0.1", 1, 8, 0), "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=");
  EXPECT_EQ(cid_icmp("192.168.0.1", "192.168.0.89", 1, 0, 0), "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=");
  // The echo identifier in the key's ports must not matter.
  FlowKey k = make_key("1.2.3.4", "5.6.7.8", 1, 4711, 4711);
  char out[kCommunityIdLen];
  EXPECT_EQ(std::string(out, community_id_for_flow(k, 8, 0, 0, out)),
            "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=");
}

TEST(CommunityId, IcmpOneWay) {
  EXPECT_EQ(cid_icmp("1.2.3.4", "5.6.7.8", 1, 11, 0), "1:f/YiSyWqczrTgfUCZlBUnvHRcPk=");
  EXPECT_EQ(cid_icmp("10.0.0.1", "10.0.0.2", 1, 11, 0), "1:YHxtAirCG//0OzkcVAukqKQN9xM=");
  // One-way messages keep their direction even from the larger address.
  EXPECT_EQ(cid_icmp("10.0.0.9", "10.0.0.1", 1, 3, 1), "1:FutSOBs/xBc7wkuFbYH/sZyfZw8=");
  EXPECT_EQ(cid_icmp("10.0.0.1", "10.0.0.9", 1, 3, 1), "1:RccclMw84o6RNTZIu2Ch2WkkE+0=");
}

TEST(CommunityId, Icmp6) {
  EXPECT_EQ(cid_icmp(kSip6, kDip6, 58, 128, 0), "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=");
  EXPECT_EQ(cid_icmp(kDip6, kSip6, 58, 129, 0), "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=");
  EXPECT_EQ(cid_icmp(kSip6, kDip6, 58, 146, 0), "1:fYC8+pz24E+EhANP1EZhpX0Dw10=");
  // Neighbor solicitation and its advertisement.
  EXPECT_EQ(cid_icmp("fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 58, 135, 0),
            "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=");
  EXPECT_EQ(cid_icmp("fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 58, 136, 0),
            "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=");
  EXPECT_EQ(cid_icmp("fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 58, 135, 0),
            "1:zavyT/cezQr1fmImYCwYnMXbgck=");
  // Destination unreachable, code 4: one-way, code is the second port.
  EXPECT_EQ(cid_icmp("3ffe:501:410:0:2c0:dfff:fe47:33e", "3ffe:507:0:1:200:86ff:fe05:80da", 58, 1,
                     4),
            "1:hLZd0XGWojozrvxqE0dWB1iM6R0=");
  EXPECT_EQ(cid_icmp("fe80::200:86ff:fe05:80da", "ff02::2", 58, 133, 0),
            "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0=");
}

TEST(CommunityId, PortlessProtocol) {
  EXPECT_EQ(cid("1.2.3.4", "5.6.7.8", 46, 0, 0), "1:ikv3kmf89luf73WPz1jOs49S768=");
  EXPECT_EQ(cid("5.6.7.8", "1.2.3.4", 46, 0, 0), "1:ikv3kmf89luf73WPz1jOs49S768=");
  EXPECT_EQ(cid(kSip6, kDip6, 46, 0, 0), "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=");
  EXPECT_EQ(cid("10.1.12.2", "10.1.12.1", 46, 0, 0), "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=");
}

TEST(CommunityId, IcmpPortMapping) {
  CommunityIdPorts p = community_id_icmp_ports(false, 13, 0);
  EXPECT_EQ(p.sport, 13);
  EXPECT_EQ(p.dport, 14);
  EXPECT_FALSE(p.one_way);
  p = community_id_icmp_ports(false, 5, 1);  // redirect: one-way, code kept
  EXPECT_EQ(p.sport, 5);
  EXPECT_EQ(p.dport, 1);
  EXPECT_TRUE(p.one_way);
  p = community_id_icmp_ports(true, 145, 0);
  EXPECT_EQ(p.dport, 144);
  EXPECT_FALSE(p.one_way);
  // Type 8 is echo for ICMPv4 but not a paired type in ICMPv6.
  EXPECT_TRUE(community_id_icmp_ports(true, 8, 3).one_way);
}

}  // namespace
}  // namespace ws
