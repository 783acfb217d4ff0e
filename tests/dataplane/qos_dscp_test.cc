// DSCP rewrite: the incrementally updated IPv4 checksum equals one computed
// from scratch for every DSCP over random headers (with options), ECN kept;
// IPv6 traffic class rewritten, flow label and ECN kept.
#include "dataplane/qos/dscp.h"

#include <gtest/gtest.h>

#include <random>

#include "bench/pktgen/builder.h"
#include "dataplane/decode.h"

namespace ws {
namespace {

pktgen::Ipv4Opts tos_opts(uint8_t tos) {
  pktgen::Ipv4Opts o;
  o.tos = tos;
  return o;
}
pktgen::Ipv6Opts tclass_opts(uint8_t tclass, uint32_t flow_label = 0) {
  pktgen::Ipv6Opts o;
  o.tclass = tclass;
  o.flow_label = flow_label;
  return o;
}

using pktgen::Builder;

TEST(QosDscp, Ipv4IncrementalChecksumEqualsFromScratch) {
  std::mt19937 rng(42);
  int checked = 0;
  for (int i = 0; i < 2000; ++i) {
    pktgen::Ipv4Opts o;
    o.tos = static_cast<uint8_t>(rng());
    o.ttl = static_cast<uint8_t>(rng());
    o.id = static_cast<uint16_t>(rng());
    std::vector<uint8_t> opts(4 * (rng() % 3), 1);  // NOPs: IHL 5-7
    o.options = opts;
    auto f = Builder().eth().ipv4(rng(), rng(), o).udp(static_cast<uint16_t>(rng()), 53).payload_fill(rng() % 64).build();
    const unsigned ihl = (f[14] & 0x0f) * 4u;
    ASSERT_EQ(ipv4_header_checksum(f.data() + 14, ihl), (f[24] << 8) | f[25]) << "builder checksum";
    const uint8_t dscp = static_cast<uint8_t>(rng() % 64);
    const uint8_t ecn = f[15] & 3;
    ASSERT_TRUE(qos_set_dscp(f.data(), f.size(), 14, 4, dscp));
    EXPECT_EQ(f[15] >> 2, dscp);
    EXPECT_EQ(f[15] & 3, ecn);
    ASSERT_EQ(ipv4_header_checksum(f.data() + 14, ihl), (f[24] << 8) | f[25]) << "case " << i;
    ++checked;
  }
  EXPECT_EQ(checked, 2000);
}

// The decoder's own verification agrees (header and UDP checksum).
TEST(QosDscp, DecoderSeesGoodChecksumsAfterRewrite) {
  auto f = Builder().eth().vlan(7).ipv4("10.0.0.1", "10.0.0.2", tos_opts(0xb9)).tcp(1, 2, pktgen::TCP_ACK).payload("x").build();
  Decoder dec(DecodeOptions{ChecksumMode::kAll});
  Packet p{f.data(), uint32_t(f.size()), uint32_t(f.size()), 0};
  Decoded d;
  ASSERT_TRUE(dec.decode(p, d));
  ASSERT_TRUE(qos_set_dscp(f.data(), f.size(), d.l3_off, 4, 0));
  Decoded d2;
  ASSERT_TRUE(dec.decode(p, d2));
  EXPECT_EQ(d2.tos, 0x01);  // ECN 01 kept
  EXPECT_EQ(dec.stats().bad_ipv4_checksum.get(), 0u);
  EXPECT_EQ(dec.stats().checksum_drop.get(), 0u);
}

TEST(QosDscp, Ipv6TrafficClass) {
  for (unsigned dscp = 0; dscp < 64; ++dscp) {
    auto f = Builder().eth().ipv6("2001:db8::1", "2001:db8::2", tclass_opts(0x02, 0xabcde)).udp(1, 2).build();
    Decoder dec;
    Packet p{f.data(), uint32_t(f.size()), uint32_t(f.size()), 0};
    Decoded d;
    ASSERT_TRUE(dec.decode(p, d));
    ASSERT_TRUE(qos_set_dscp(f.data(), f.size(), d.l3_off, 6, static_cast<uint8_t>(dscp)));
    ASSERT_TRUE(dec.decode(p, d));
    EXPECT_EQ(d.tos, (dscp << 2) | 0x02);
    EXPECT_EQ(f[14] >> 4, 6);  // version
    EXPECT_EQ(((f[15] & 0x0f) << 16) | (f[16] << 8) | f[17], 0xabcde);
  }
}

TEST(QosDscp, RefusesHeaderOutsideFrame) {
  auto f = Builder().eth().ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build();
  EXPECT_FALSE(qos_set_dscp(f.data(), 30, 14, 4, 1));
  EXPECT_FALSE(qos_set_dscp(f.data(), f.size(), 14, 6, 1));
  EXPECT_FALSE(qos_set_dscp(f.data(), f.size(), 14, 0, 1));
  EXPECT_EQ(f[15], 0);
}

}  // namespace
}  // namespace ws
