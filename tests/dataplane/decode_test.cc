// Table-driven decode cases: {description, frame from the packet builder,
// expected outcome}. The same table shape is what the decode benchmark
// replays.
#include "dataplane/decode.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "bench/pktgen/builder.h"

namespace ws {
namespace {

using pktgen::Builder;
using pktgen::Bytes;

struct Expect {
  bool ok = true;
  const char* counter = "decoded";  // the counter this frame must bump
  uint8_t family = 4;
  const char* src = nullptr;
  const char* dst = nullptr;
  uint16_t sport = 0, dport = 0;
  uint8_t proto = 0;
  uint16_t vlan = 0;
  uint8_t vlan_count = 0;
  uint16_t inner_vlan = 0;
  uint8_t tcp_flags = 0;
  int payload_len = -1;
  int l3_len = -1;
  uint8_t flags_set = 0;
};

struct Case {
  const char* name;
  std::function<Bytes(Builder&)> build;
  Expect want;
  LinkType link = LinkType::kEthernet;
  int truncate = -1;  // caplen override
};

std::string addr_text(const uint8_t* a, uint8_t family) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family == 4 ? AF_INET : AF_INET6, a, buf, sizeof buf);
  return buf;
}

uint64_t counter_by_name(const DecodeStats& s, const std::string& name) {
  size_t n;
  const DecodeCounterInfo* info = decode_counter_info(&n);
  for (size_t i = 0; i < n; ++i)
    if (name == info[i].name) return decode_counter_value(s, i);
  ADD_FAILURE() << "no counter " << name;
  return 0;
}

const uint8_t kIpv4Opts[] = {0x94, 0x04, 0x00, 0x00};  // router alert

const std::vector<Case>& cases() {
  static const std::vector<Case> kCases = {
      {"tcp syn v4",
       [](Builder& b) { return b.eth().ipv4("10.0.0.1", "10.0.0.2").tcp(40000, 80, pktgen::TCP_SYN).build(); },
       {.src = "10.0.0.1", .dst = "10.0.0.2", .sport = 40000, .dport = 80, .proto = 6, .tcp_flags = 0x02,
        .payload_len = 0, .l3_len = 40, .flags_set = kDecL4Complete}},
      {"tcp with payload and ipv4 options",
       [](Builder& b) {
         pktgen::Ipv4Opts o;
         o.options = kIpv4Opts;
         return b.eth().ipv4("192.168.1.1", "192.168.1.2", o).tcp(1234, 443, 0x18).payload("hello").build();
       },
       {.src = "192.168.1.1", .dst = "192.168.1.2", .sport = 1234, .dport = 443, .proto = 6, .tcp_flags = 0x18,
        .payload_len = 5, .l3_len = 24 + 20 + 5}},
      {"udp v4 in 802.1Q",
       [](Builder& b) { return b.eth().vlan(100).ipv4("10.1.0.1", "10.1.0.2").udp(5353, 53).payload("q").build(); },
       {.src = "10.1.0.1", .dst = "10.1.0.2", .sport = 5353, .dport = 53, .proto = 17, .vlan = 100,
        .vlan_count = 1, .payload_len = 1, .l3_len = 29}},
      {"qinq keeps the outer id in the key",
       [](Builder& b) { return b.eth().qinq(200, 300).ipv4("10.2.0.1", "10.2.0.2").udp(1, 2).build(); },
       {.src = "10.2.0.1", .dst = "10.2.0.2", .sport = 1, .dport = 2, .proto = 17, .vlan = 200, .vlan_count = 2,
        .inner_vlan = 300}},
      {"mpls stack of two labels",
       [](Builder& b) { return b.eth().mpls(16).mpls(17).ipv4("10.3.0.1", "10.3.0.2").udp(7, 8).build(); },
       {.src = "10.3.0.1", .dst = "10.3.0.2", .sport = 7, .dport = 8, .proto = 17}},
      {"ipv6 tcp",
       [](Builder& b) { return b.eth().ipv6("2001:db8::1", "2001:db8::2").tcp(5000, 22, 0x10).payload("x").build(); },
       {.family = 6, .src = "2001:db8::1", .dst = "2001:db8::2", .sport = 5000, .dport = 22, .proto = 6,
        .tcp_flags = 0x10, .payload_len = 1, .l3_len = 40 + 20 + 1}},
      {"ipv6 extension headers before udp",
       [](Builder& b) {
         return b.eth().ipv6("2001:db8::a", "2001:db8::b").hop_by_hop().dest_opts().udp(100, 200).payload("ab").build();
       },
       {.family = 6, .src = "2001:db8::a", .dst = "2001:db8::b", .sport = 100, .dport = 200, .proto = 17,
        .payload_len = 2}},
      {"icmp echo uses the identifier as ports",
       [](Builder& b) { return b.eth().ipv4("10.4.0.1", "10.4.0.2").icmp_echo(true, 0x1234, 1).build(); },
       {.src = "10.4.0.1", .dst = "10.4.0.2", .sport = 0x1234, .dport = 0x1234, .proto = 1,
        .flags_set = kDecIcmpEcho}},
      {"icmp unreachable has no ports",
       [](Builder& b) { return b.eth().ipv4("10.4.0.3", "10.4.0.4").icmp(3, 1).build(); },
       {.src = "10.4.0.3", .dst = "10.4.0.4", .proto = 1}},
      {"icmpv6 echo reply",
       [](Builder& b) { return b.eth().ipv6("fe80::1", "fe80::2").icmpv6_echo(false, 7, 9).build(); },
       {.family = 6, .src = "fe80::1", .dst = "fe80::2", .sport = 7, .dport = 7, .proto = 58,
        .flags_set = kDecIcmpEcho}},
      {"sctp",
       [](Builder& b) { return b.eth().ipv4("10.5.0.1", "10.5.0.2").sctp(2905, 2905).build(); },
       {.src = "10.5.0.1", .dst = "10.5.0.2", .sport = 2905, .dport = 2905, .proto = 132}},
      {"gre is a flow between the tunnel endpoints",
       [](Builder& b) {
         return b.eth().ipv4("10.6.0.1", "10.6.0.2").gre().ipv4("192.0.2.1", "192.0.2.2").udp(1, 2).build();
       },
       {.src = "10.6.0.1", .dst = "10.6.0.2", .proto = 47}},
      {"linux sll",
       [](Builder& b) { return b.sll().ipv4("10.7.0.1", "10.7.0.2").udp(9, 10).build(); },
       {.src = "10.7.0.1", .dst = "10.7.0.2", .sport = 9, .dport = 10, .proto = 17}, LinkType::kLinuxSll},
      {"linux sll2",
       [](Builder& b) { return b.sll2().ipv6("2001:db8::7", "2001:db8::8").udp(9, 10).build(); },
       {.family = 6, .src = "2001:db8::7", .dst = "2001:db8::8", .sport = 9, .dport = 10, .proto = 17},
       LinkType::kLinuxSll2},
      {"raw ipv4",
       [](Builder& b) { return b.raw().ipv4("10.8.0.1", "10.8.0.2").tcp(1, 2, 0x02).build(); },
       {.src = "10.8.0.1", .dst = "10.8.0.2", .sport = 1, .dport = 2, .proto = 6, .tcp_flags = 2}, LinkType::kRaw},
      {"null loopback ipv6 (BSD family 24)",
       [](Builder& b) { return b.null_link(24).ipv6("::1", "::1").udp(3, 4).build(); },
       {.family = 6, .src = "::1", .dst = "::1", .sport = 3, .dport = 4, .proto = 17}, LinkType::kNull},
      {"openbsd loop ipv4",
       [](Builder& b) { return b.loop_link().ipv4("127.0.0.1", "127.0.0.2").udp(3, 4).build(); },
       {.src = "127.0.0.1", .dst = "127.0.0.2", .sport = 3, .dport = 4, .proto = 17}, LinkType::kLoop},
      {"ppp ipv4 (address, control, two-byte protocol)",
       [](Builder& b) {
         Bytes f = {0xff, 0x03, 0x00, 0x21};
         const Bytes ip = b.raw().ipv4("10.8.1.1", "10.8.1.2").udp(5, 6).build();
         f.insert(f.end(), ip.begin(), ip.end());
         return f;
       },
       {.src = "10.8.1.1", .dst = "10.8.1.2", .sport = 5, .dport = 6, .proto = 17}, LinkType::kPpp},
      {"ppp ipv6 (header compressed to the one-byte protocol)",
       [](Builder& b) {
         Bytes f = {0x57};
         const Bytes ip = b.raw().ipv6("2001:db8::9", "2001:db8::a").udp(5, 6).build();
         f.insert(f.end(), ip.begin(), ip.end());
         return f;
       },
       {.family = 6, .src = "2001:db8::9", .dst = "2001:db8::a", .sport = 5, .dport = 6, .proto = 17},
       LinkType::kPpp},
      {"ppp lcp is not ip", [](Builder&) { return Bytes{0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 4}; },
       {.ok = false, .counter = "non_ip"}, LinkType::kPpp},
      {"ppp header cut short", [](Builder&) { return Bytes{0xff, 0x03, 0x00}; },
       {.ok = false, .counter = "truncated_link"}, LinkType::kPpp},
      {"ethernet padding does not count as payload",
       [](Builder& b) { return b.eth().ipv4("10.9.0.1", "10.9.0.2").udp(1, 2).pad_to(60).build(); },
       {.src = "10.9.0.1", .dst = "10.9.0.2", .sport = 1, .dport = 2, .proto = 17, .payload_len = 0, .l3_len = 28}},
      {"arp is not ip",
       [](Builder& b) { return b.eth(Builder::kSrcMac, Builder::kDstMac, 0x0806).payload_fill(28).build(); },
       {.ok = false, .counter = "non_ip"}},
      {"short ethernet header", [](Builder&) { return Bytes(10, 0); }, {.ok = false, .counter = "truncated_link"}},
      {"truncated vlan tag",
       [](Builder& b) { return b.eth().vlan(5).ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).build(); },
       {.ok = false, .counter = "truncated_vlan"}, LinkType::kEthernet, 16},
      {"truncated ipv4 header",
       [](Builder& b) { return b.eth().ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).build(); },
       {.ok = false, .counter = "truncated_ipv4"}, LinkType::kEthernet, 14 + 12},
      {"ipv4 ihl below 5",
       [](Builder& b) {
         pktgen::Ipv4Opts o;
         o.ihl = 4;
         return b.eth().ipv4("1.1.1.1", "2.2.2.2", o).udp(1, 2).build();
       },
       {.ok = false, .counter = "bad_ipv4_header"}},
      {"ipv4 total length below header",
       [](Builder& b) {
         pktgen::Ipv4Opts o;
         o.total_len = 10;
         return b.eth().ipv4("1.1.1.1", "2.2.2.2", o).udp(1, 2).build();
       },
       {.ok = false, .counter = "bad_ipv4_header"}},
      {"tcp header cut short",
       [](Builder& b) { return b.eth().ipv4("1.1.1.1", "2.2.2.2").tcp(1, 2, 2).build(); },
       {.ok = false, .counter = "truncated_tcp"}, LinkType::kEthernet, 14 + 20 + 10},
      {"tcp data offset below 5",
       [](Builder& b) {
         pktgen::TcpOpts o;
         o.data_offset = 3;
         return b.eth().ipv4("1.1.1.1", "2.2.2.2").tcp(1, 2, 2, o).build();
       },
       {.ok = false, .counter = "bad_tcp_header"}},
      {"udp length larger than the datagram",
       [](Builder& b) { return b.eth().ipv4("1.1.1.1", "2.2.2.2").udp(1, 2, 200).build(); },
       {.ok = false, .counter = "bad_udp_length"}},
      {"icmp cut inside the header",
       [](Builder& b) { return b.eth().ipv4("1.1.1.1", "2.2.2.2").icmp_echo(true, 1, 1).build(); },
       {.ok = false, .counter = "truncated_icmp"}, LinkType::kEthernet, 14 + 20 + 2},
      {"truncated ipv6 header",
       [](Builder& b) { return b.eth().ipv6("::1", "::2").udp(1, 2).build(); },
       {.ok = false, .counter = "truncated_ipv6"}, LinkType::kEthernet, 14 + 30},
      {"gre version 2 is invalid",
       [](Builder& b) {
         Bytes f = b.eth().ipv4("1.1.1.1", "2.2.2.2").gre().payload_fill(4).build();
         f[14 + 20 + 1] = 0x02;
         return f;
       },
       {.ok = false, .counter = "bad_gre_header"}},
      {"mpls with a non-ip payload",
       [](Builder& b) {
         return b.eth().mpls(100).payload_fill(6).build();
       },
       {.ok = false, .counter = "mpls_unknown_payload"}},
      {"bad ipv4 checksum is counted but kept",
       [](Builder& b) { return b.eth().ipv4("1.1.1.1", "2.2.2.2").bad_checksum().udp(1, 2).build(); },
       {.ok = true, .counter = "bad_ipv4_checksum", .src = "1.1.1.1", .dst = "2.2.2.2", .sport = 1, .dport = 2,
        .proto = 17, .flags_set = kDecBadChecksum}},
      {"bad tcp checksum is counted but kept",
       [](Builder& b) { return b.eth().ipv4("1.1.1.1", "2.2.2.2").tcp(5, 6, 0x10).payload("xyz").bad_checksum().build(); },
       {.ok = true, .counter = "bad_l4_checksum", .src = "1.1.1.1", .dst = "2.2.2.2", .sport = 5, .dport = 6,
        .proto = 6, .tcp_flags = 0x10, .flags_set = kDecBadChecksum}},
  };
  return kCases;
}

class DecodeCase : public ::testing::TestWithParam<size_t> {};

TEST_P(DecodeCase, Decodes) {
  const Case& c = cases()[GetParam()];
  SCOPED_TRACE(c.name);
  Builder b;
  Bytes frame = c.build(b);
  Packet p;
  p.data = frame.data();
  p.caplen = static_cast<uint32_t>(c.truncate >= 0 ? c.truncate : frame.size());
  p.wirelen = static_cast<uint32_t>(frame.size());
  p.ts_ns = 1'000'000'000;
  p.link = c.link;

  Decoder dec;
  Decoded d;
  const bool ok = dec.decode(p, d);
  ASSERT_EQ(ok, c.want.ok);
  EXPECT_EQ(counter_by_name(dec.stats(), c.want.counter), 1u) << "counter " << c.want.counter;
  if (!ok) {
    EXPECT_EQ(dec.stats().decoded.get(), 0u);
    return;
  }
  EXPECT_EQ(dec.stats().decoded.get(), 1u);
  EXPECT_EQ(d.key.family, c.want.family);
  EXPECT_EQ(addr_text(d.key.src, d.key.family), c.want.src);
  EXPECT_EQ(addr_text(d.key.dst, d.key.family), c.want.dst);
  EXPECT_EQ(d.key.sport, c.want.sport);
  EXPECT_EQ(d.key.dport, c.want.dport);
  EXPECT_EQ(d.key.proto, c.want.proto);
  EXPECT_EQ(d.key.vlan, c.want.vlan);
  EXPECT_EQ(d.vlan_count, c.want.vlan_count);
  if (c.want.vlan_count == 2) {
    EXPECT_EQ(d.vlan[1], c.want.inner_vlan);
  }
  EXPECT_EQ(d.tcp_flags, c.want.tcp_flags);
  EXPECT_EQ(d.frame_len, frame.size());
  if (c.want.payload_len >= 0) {
    EXPECT_EQ(d.payload_len, c.want.payload_len);
  }
  if (c.want.l3_len >= 0) {
    EXPECT_EQ(d.l3_len, static_cast<uint32_t>(c.want.l3_len));
  }
  EXPECT_EQ(d.flags & c.want.flags_set, c.want.flags_set);
  // Everything the decoder points at lies inside the captured bytes.
  EXPECT_LE(size_t(d.payload_off) + d.payload_len, p.caplen);
}

INSTANTIATE_TEST_SUITE_P(Table, DecodeCase, ::testing::Range<size_t>(0, cases().size()),
                         [](const auto& info) {
                           std::string n = cases()[info.param].name;
                           for (char& ch : n)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

TEST(Decode, ChecksumAllDropsBadFrames) {
  Builder b;
  Bytes f = b.eth().ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).payload("abc").bad_checksum().build();
  Packet p;
  p.data = f.data();
  p.caplen = p.wirelen = static_cast<uint32_t>(f.size());
  Decoder none(DecodeOptions{ChecksumMode::kNone});
  Decoder all(DecodeOptions{ChecksumMode::kAll});
  Decoded d;
  EXPECT_TRUE(none.decode(p, d));
  EXPECT_FALSE(all.decode(p, d));
  EXPECT_EQ(all.stats().checksum_drop.get(), 1u);
  EXPECT_EQ(all.stats().bad_l4_checksum.get(), 1u);
  EXPECT_EQ(none.stats().checksum_drop.get(), 0u);
}

TEST(Decode, GoodChecksumsAreNotCounted) {
  Decoder dec(DecodeOptions{ChecksumMode::kAll});
  Decoded d;
  std::vector<Bytes> frames = {
      Builder().eth().ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2, 0x18).payload("odd").build(),
      Builder().eth().ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).payload("even").build(),
      Builder().eth().ipv6("2001:db8::1", "2001:db8::2").udp(1, 2).payload("x").build(),
      Builder().eth().ipv6("2001:db8::1", "2001:db8::2").icmpv6_echo(true, 1, 2).build(),
      Builder().eth().ipv4("10.0.0.1", "10.0.0.2").icmp_echo(true, 1, 2).payload("ping").build(),
  };
  for (const Bytes& f : frames) {
    Packet p;
    p.data = f.data();
    p.caplen = p.wirelen = static_cast<uint32_t>(f.size());
    EXPECT_TRUE(dec.decode(p, d));
  }
  EXPECT_EQ(dec.stats().bad_l4_checksum.get(), 0u);
  EXPECT_EQ(dec.stats().bad_ipv4_checksum.get(), 0u);
}

TEST(Decode, StrippedVlanFromMetadata) {
  Bytes f = Builder().eth().ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build();
  Packet p;
  p.data = f.data();
  p.caplen = p.wirelen = static_cast<uint32_t>(f.size());
  p.flags = kPktVlanStripped;
  p.vlan_tci = 0x2000 | 42;  // priority bits are not part of the id
  Decoder dec;
  Decoded d;
  ASSERT_TRUE(dec.decode(p, d));
  EXPECT_EQ(d.key.vlan, 42);
  EXPECT_EQ(d.vlan_count, 1);
  EXPECT_EQ(d.frame_len, f.size() + 4);  // the tag was on the wire
}

// A view of f (which must outlive it).
Packet packet_of(const Bytes& f) {
  Packet p;
  p.data = f.data();
  p.caplen = p.wirelen = static_cast<uint32_t>(f.size());
  return p;
}

TEST(Decode, LaterFragmentsGetTheFirstFragmentsPorts) {
  Builder b;
  Bytes whole = b.eth().ipv4("10.0.0.1", "10.0.0.2", {.id = 777}).udp(4000, 5000).payload_fill(3000, 'x').build();
  std::vector<Bytes> frags = pktgen::fragment(whole, 14, 1480, 777);
  ASSERT_GE(frags.size(), 3u);
  Decoder dec;
  uint64_t l3 = 0;
  for (size_t i = 0; i < frags.size(); ++i) {
    Packet p;
    p.data = frags[i].data();
    p.caplen = p.wirelen = static_cast<uint32_t>(frags[i].size());
    p.ts_ns = 1'000'000'000 + i;
    Decoded d;
    ASSERT_TRUE(dec.decode(p, d)) << i;
    EXPECT_EQ(d.key.sport, 4000) << i;
    EXPECT_EQ(d.key.dport, 5000) << i;
    EXPECT_EQ(d.key.proto, 17);
    EXPECT_TRUE(d.flags & kDecFragment);
    EXPECT_EQ(bool(d.flags & kDecLaterFragment), i > 0);
    l3 += d.l3_len;
  }
  EXPECT_EQ(dec.stats().fragments.get(), frags.size());
  EXPECT_EQ(dec.stats().fragments_unmatched.get(), 0u);
  // IP bytes of the fragments: every fragment repeats the 20-byte header.
  EXPECT_EQ(l3, 3000 + 8 + 20 * frags.size());
}

TEST(Decode, Ipv6FragmentsGetTheFirstFragmentsPorts) {
  Bytes whole = Builder().eth().ipv6("2001:db8::1", "2001:db8::2").udp(53, 1053).payload_fill(2500, 'y').build();
  std::vector<Bytes> frags = pktgen::fragment(whole, 14, 1232, 99);
  ASSERT_GE(frags.size(), 2u);
  Decoder dec;
  for (size_t i = 0; i < frags.size(); ++i) {
    Packet p;
    p.data = frags[i].data();
    p.caplen = p.wirelen = static_cast<uint32_t>(frags[i].size());
    Decoded d;
    ASSERT_TRUE(dec.decode(p, d)) << i;
    EXPECT_EQ(d.key.sport, 53) << i;
    EXPECT_EQ(d.key.dport, 1053) << i;
  }
  EXPECT_EQ(dec.stats().fragments_unmatched.get(), 0u);
}

// RFC 1858's tiny fragment: the first fragment does not hold the whole
// TCP header. It is kept as a fragment without ports (so it counts and can
// be reassembled), not refused as a truncated header.
TEST(Decode, TinyFirstFragmentIsKeptWithoutPorts) {
  const Bytes whole =
      Builder().eth().ipv4("10.0.0.1", "10.0.0.2", {.id = 31}).tcp(4000, 80, 0x18).payload("GET /attack").build();
  const std::vector<Bytes> frags = pktgen::fragment(whole, 14, 8, 31);
  ASSERT_EQ(frags.size(), 4u);
  Decoder dec;
  Packet p = packet_of(frags[0]);
  Decoded d;
  ASSERT_TRUE(dec.decode(p, d));
  EXPECT_TRUE(d.flags & kDecFragment);
  EXPECT_TRUE(d.flags & kDecLaterFragment) << "no transport header in the frame";
  EXPECT_EQ(d.key.sport, 0);
  EXPECT_EQ(d.payload_len, 8u);
  EXPECT_EQ(dec.stats().tiny_fragments.get(), 1u);
  EXPECT_EQ(dec.stats().truncated_tcp.get(), 0u);
  // A first fragment that holds its header but was cut by the snaplen
  // inside it: a truncated header, refused as before.
  const Bytes big =
      Builder().eth().ipv4("10.0.0.1", "10.0.0.2", {.id = 32}).tcp(4000, 80, 0x18).payload_fill(3000, 'x').build();
  Bytes cut = pktgen::fragment(big, 14, 1480, 32)[0];
  cut.resize(14 + 20 + 8);
  p.data = cut.data();
  p.caplen = static_cast<uint32_t>(cut.size());
  p.wirelen = 14 + 20 + 1480;
  EXPECT_FALSE(dec.decode(p, d));
  EXPECT_EQ(dec.stats().truncated_tcp.get(), 1u);
}

TEST(Decode, OrphanFragmentIsCountedAndKeptWithoutPorts) {
  Bytes whole = Builder().eth().ipv4("10.0.0.1", "10.0.0.2", {.id = 5}).udp(1, 2).payload_fill(3000, 'z').build();
  std::vector<Bytes> frags = pktgen::fragment(whole, 14, 1480, 5);
  Decoder dec;
  const Packet p = packet_of(frags[1]);
  Decoded d;
  ASSERT_TRUE(dec.decode(p, d));
  EXPECT_EQ(d.key.sport, 0);
  EXPECT_EQ(dec.stats().fragments_unmatched.get(), 1u);
}

// Every prefix of every case decodes or is refused with a counter; never a
// read past the capture (ASan checks the reads).
TEST(Decode, EveryTruncationIsHandled) {
  for (const Case& c : cases()) {
    Builder b;
    Bytes frame = c.build(b);
    for (size_t len = 0; len <= frame.size(); ++len) {
      Bytes cut(frame.begin(), frame.begin() + static_cast<long>(len));
      Packet p;
      p.data = cut.data();
      p.caplen = static_cast<uint32_t>(len);
      p.wirelen = static_cast<uint32_t>(frame.size());
      p.link = c.link;
      Decoder dec;
      Decoded d;
      const bool ok = dec.decode(p, d);
      size_t n;
      const DecodeCounterInfo* info = decode_counter_info(&n);
      uint64_t refusals = 0;
      for (size_t i = 0; i < n; ++i) {
        const std::string name = info[i].name;
        if (name == "decoded" || name == "fragments" || name == "fragments_unmatched" ||
            name == "bad_ipv4_checksum" || name == "bad_l4_checksum")
          continue;
        refusals += decode_counter_value(dec.stats(), i);
      }
      EXPECT_EQ(ok ? 0u : 1u, refusals) << c.name << " at length " << len;
      if (ok) {
        EXPECT_LE(size_t(d.payload_off) + d.payload_len, len) << c.name;
      }
    }
  }
}

// Decodes f into outer and the packet it carries into in; outer must
// encapsulate kind.
::testing::AssertionResult decode_tunnel(Decoder& dec, const Bytes& f, Inner kind, Decoded& outer, Decoded& in) {
  Packet p = packet_of(f);
  if (!dec.decode(p, outer)) return ::testing::AssertionFailure() << "the frame does not decode";
  if (outer.inner != kind)
    return ::testing::AssertionFailure() << "it encapsulates " << int(outer.inner) << ", not " << int(kind);
  if (!dec.decode_inner(p, outer, in)) return ::testing::AssertionFailure() << "the inner packet does not decode";
  return ::testing::AssertionSuccess();
}

// What a frame encapsulates, by dec's options; kNone also when the frame
// does not decode (which fails the test).
Inner inner_of(Decoder& dec, const Bytes& f) {
  Packet p = packet_of(f);
  Decoded d;
  EXPECT_TRUE(dec.decode(p, d));
  return d.inner;
}

TEST(Decode, IpInIpYieldsTheInnerPacket) {
  // IPv4 in IPv6 (protocol 4) and IPv6 in IPv4 (protocol 41).
  const Bytes v4in6 = Builder()
                          .eth()
                          .ipv6("2001:db8::1", "2001:db8::2", {.next_header = 4})
                          .ipv4("10.1.0.1", "10.1.0.2")
                          .tcp(1000, 80, 0x18)
                          .payload("hello")
                          .build();
  Decoder dec;
  Decoded outer, in;
  ASSERT_TRUE(decode_tunnel(dec, v4in6, Inner::kIpv4, outer, in));
  EXPECT_EQ(outer.key.proto, 4);
  EXPECT_EQ(addr_text(in.key.src, 4), "10.1.0.1");
  EXPECT_EQ(in.key.proto, 6);
  EXPECT_EQ(in.key.dport, 80);
  EXPECT_EQ(in.payload_len, 5);
  EXPECT_EQ(in.pkt_src, PktSrc::kIpv6Tunnel);
  EXPECT_EQ(in.depth, 1);
  EXPECT_EQ(in.frame_len, 20u + 20u + 5u);  // from the inner IP header
  EXPECT_EQ(in.flags & kDecBadChecksum, 0);
  EXPECT_EQ(dec.stats().tunnels.get(), 1u);

  const Bytes v6in4 = Builder()
                          .eth()
                          .vlan(7)
                          .ipv4("192.0.2.1", "192.0.2.2", {.proto = 41})
                          .ipv6("2001:db8::a", "2001:db8::b")
                          .udp(53, 5353)
                          .build();
  ASSERT_TRUE(decode_tunnel(dec, v6in4, Inner::kIpv6, outer, in));
  EXPECT_EQ(in.key.family, 6);
  EXPECT_EQ(addr_text(in.key.dst, 6), "2001:db8::b");
  EXPECT_EQ(in.key.vlan, 7);  // the outer tag stays part of the key
  EXPECT_EQ(in.pkt_src, PktSrc::kIpv4Tunnel);

  // Off: the outer packet only.
  Decoder off({.tunnels = false});
  EXPECT_EQ(inner_of(off, v6in4), Inner::kNone);

  // IPv4 in IPv4 only when asked for (Suricata's decoder.ipv4.ipip).
  const Bytes v4in4 = Builder().eth().ipv4("192.0.2.1", "192.0.2.2").ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build();
  EXPECT_EQ(inner_of(dec, v4in4), Inner::kNone);
  Decoder ipip({.ipv4_in_ipv4 = true});
  ASSERT_TRUE(decode_tunnel(ipip, v4in4, Inner::kIpv4, outer, in));
  EXPECT_EQ(outer.key.proto, 4);
  EXPECT_EQ(in.pkt_src, PktSrc::kIpv4Tunnel);
}

// GRE as Suricata opens it: IPv4, IPv6, transparent Ethernet bridging,
// ERSPAN type II and PPTP's PPP; the payload starts after the optional
// fields the flags announce.
TEST(Decode, GreYieldsTheInnerPacket) {
  Decoder dec;
  Decoded outer, in;
  // IPv4 in GRE with checksum, key and sequence number (16-byte header).
  const Bytes v4 = Builder()
                       .eth()
                       .ipv4("10.6.0.1", "10.6.0.2")
                       .gre({.checksum = true, .has_key = true, .key = 9, .has_seq = true, .seq = 3})
                       .ipv4("192.0.2.1", "192.0.2.2")
                       .udp(1000, 53)
                       .payload("abc")
                       .build();
  ASSERT_TRUE(decode_tunnel(dec, v4, Inner::kIpv4, outer, in));
  EXPECT_EQ(outer.key.proto, 47);
  EXPECT_EQ(outer.payload_off, 14 + 20 + 16);
  EXPECT_EQ(addr_text(in.key.src, 4), "192.0.2.1");
  EXPECT_EQ(in.key.dport, 53);
  EXPECT_EQ(in.pkt_src, PktSrc::kGre);
  EXPECT_EQ(in.depth, 1);
  EXPECT_EQ(in.frame_len, 20u + 8u + 3u);

  // IPv6 in GRE over IPv6.
  const Bytes v6 = Builder().eth().ipv6("2001:db8::1", "2001:db8::2").gre().ipv6("2001:db8:1::1", "2001:db8:1::2")
                       .tcp(4000, 443, 0x02).build();
  ASSERT_TRUE(decode_tunnel(dec, v6, Inner::kIpv6, outer, in));
  EXPECT_EQ(in.key.dport, 443);
  EXPECT_EQ(in.pkt_src, PktSrc::kGre);

  // Transparent Ethernet bridging (0x6558): an Ethernet frame, its VLAN tag
  // after the outer one.
  const Bytes frame = Builder().eth().vlan(30).ipv4("172.16.0.1", "172.16.0.2").icmp_echo(true, 5, 1).build();
  const Bytes teb = Builder().eth().vlan(7).ipv4("10.6.0.1", "10.6.0.2").gre({.proto = 0x6558}).payload(frame).build();
  ASSERT_TRUE(decode_tunnel(dec, teb, Inner::kEthernet, outer, in));
  EXPECT_EQ(in.key.proto, 1);
  EXPECT_EQ(in.key.vlan, 7);
  ASSERT_EQ(in.vlan_count, 2);
  EXPECT_EQ(in.vlan[1], 30);
  EXPECT_EQ(in.frame_len, frame.size());

  // ERSPAN type II (sequence number present, version 1): its VLAN joins
  // the tags; with no outer tag it is the key's.
  Bytes erspan = {0x10, 100, 0, 1, 0, 0, 0, 0};  // version 1, VLAN 100, session 1
  const Bytes plain = Builder().eth().ipv4("172.16.0.1", "172.16.0.2").udp(5, 6).build();
  erspan.insert(erspan.end(), plain.begin(), plain.end());
  const Bytes e2 = Builder().eth().ipv4("10.6.0.1", "10.6.0.2").gre({.has_seq = true, .seq = 1, .proto = 0x88be})
                       .payload(erspan).build();
  ASSERT_TRUE(decode_tunnel(dec, e2, Inner::kErspan, outer, in));
  EXPECT_EQ(in.key.dport, 6);
  EXPECT_EQ(in.key.vlan, 100);
  EXPECT_EQ(in.frame_len, plain.size());

  // PPTP (version 1): key and sequence number, PPP (FF 03, protocol 0x0021).
  const Bytes ip = Builder().raw().ipv4("192.168.7.1", "192.168.7.2").udp(7, 8).build();
  Bytes pptp = {0x30, 0x01, 0x88, 0x0b, 0, 0, 0, 1, 0, 0, 0, 5, 0xff, 0x03, 0x00, 0x21};
  pptp[4] = static_cast<uint8_t>((ip.size() + 4) >> 8);
  pptp[5] = static_cast<uint8_t>(ip.size() + 4);
  pptp.insert(pptp.end(), ip.begin(), ip.end());
  const Bytes v1 = Builder().eth().ipv4("10.6.0.1", "10.6.0.2", {.proto = 47}).payload(pptp).build();
  ASSERT_TRUE(decode_tunnel(dec, v1, Inner::kPpp, outer, in));
  EXPECT_EQ(outer.payload_off, 14 + 20 + 12);
  EXPECT_EQ(addr_text(in.key.dst, 4), "192.168.7.2");
  EXPECT_EQ(in.frame_len, 4 + ip.size()) << "Suricata's PPP tunnel packet starts at the PPP header";
  const uint64_t tunnels = dec.stats().tunnels.get();
  EXPECT_EQ(tunnels, 5u);

  // Not opened, and counted: ERSPAN type I (no sequence number), source
  // routing, another protocol; GRE decapsulation off.
  const uint64_t before = dec.stats().gre_not_decapsulated.get();
  for (const Bytes& f : {Builder().eth().ipv4("10.6.0.1", "10.6.0.2").gre({.proto = 0x88be}).payload(plain).build(),
                         Builder().eth().ipv4("10.6.0.1", "10.6.0.2").gre({.proto = 0x0806}).payload_fill(28).build()})
    EXPECT_EQ(inner_of(dec, f), Inner::kNone);
  Bytes routed = v4;
  routed[14 + 20] |= 0x40;
  EXPECT_EQ(inner_of(dec, routed), Inner::kNone);
  EXPECT_EQ(dec.stats().gre_not_decapsulated.get(), before + 3);
  Decoder off({.gre = false});
  EXPECT_EQ(inner_of(off, v4), Inner::kNone);
  EXPECT_EQ(off.stats().gre_not_decapsulated.get(), 0u);

  // Refused: a version 1 header that is not PPTP's, options past the end.
  Bytes bad = v1;
  bad[14 + 20 + 3] = 0x00;  // protocol 0x8800
  Packet p = packet_of(bad);
  EXPECT_FALSE(dec.decode(p, outer));
  EXPECT_EQ(dec.stats().bad_gre_header.get(), 1u);
  const Bytes cut(v4.begin(), v4.begin() + 14 + 20 + 10);  // 10 of the 16 header bytes
  p = packet_of(cut);
  EXPECT_FALSE(dec.decode(p, outer));
  EXPECT_EQ(dec.stats().truncated_gre.get(), 1u);
}

// Geneve (RFC 8926) to UDP port 6081: Ethernet or IP after the header and
// its options.
TEST(Decode, GeneveYieldsTheInnerPacket) {
  const Bytes frame = Builder().eth().ipv4("192.168.50.1", "192.168.50.2").tcp(3000, 22, 0x02).build();
  // Version 0, 2 words of options, protocol 0x6558, VNI 7; one option.
  Bytes gh = {0x02, 0x00, 0x65, 0x58, 0, 0, 7, 0, 0x01, 0x02, 0x80, 0x01, 0xaa, 0xbb, 0xcc, 0xdd};
  auto geneve = [](Bytes header, const Bytes& inner, uint16_t port = 6081) {
    header.insert(header.end(), inner.begin(), inner.end());
    return Builder().eth().ipv4("10.0.0.1", "10.0.0.2").udp(40000, port).payload(header).build();
  };
  Decoder dec;
  Decoded outer, in;
  const Bytes f = geneve(gh, frame);
  ASSERT_TRUE(decode_tunnel(dec, f, Inner::kGeneve, outer, in));
  EXPECT_EQ(in.key.dport, 22);
  EXPECT_EQ(in.pkt_src, PktSrc::kGeneve);
  EXPECT_EQ(in.frame_len, frame.size());

  // IPv4 straight after a header without options.
  const Bytes ip = Builder().raw().ipv4("192.168.60.1", "192.168.60.2").udp(9, 10).build();
  const Bytes f4 = geneve({0x00, 0x00, 0x08, 0x00, 0, 0, 8, 0}, ip);
  ASSERT_TRUE(decode_tunnel(dec, f4, Inner::kGeneve, outer, in));
  EXPECT_EQ(addr_text(in.key.src, 4), "192.168.60.1");
  EXPECT_EQ(in.frame_len, ip.size());

  // Not opened, counted: an OAM frame, version 1, another protocol; not
  // looked at on another port or with geneve_port 0.
  Bytes oam = gh, v1 = gh, arp = gh;
  oam[1] = 0x80;
  v1[0] |= 0x40;
  arp[2] = 0x08, arp[3] = 0x06;
  for (const Bytes& h : {oam, v1, arp}) EXPECT_EQ(inner_of(dec, geneve(h, frame)), Inner::kNone);
  EXPECT_EQ(dec.stats().geneve_not_decapsulated.get(), 3u);
  EXPECT_EQ(inner_of(dec, geneve(gh, frame, 6082)), Inner::kNone);
  Decoder off({.geneve_port = 0});
  EXPECT_EQ(inner_of(off, f), Inner::kNone);
  EXPECT_EQ(dec.stats().geneve_not_decapsulated.get(), 3u);
}

// Teredo (RFC 4380) to or from UDP port 3544: a payload that is exactly
// one plausible IPv6 packet, after an origin indication if there is one.
TEST(Decode, TeredoYieldsTheInnerPacket) {
  const Bytes v6 = Builder().raw().ipv6("2001:0:4136:e378::1", "2001:db8::9").udp(5000, 53).payload("q").build();
  auto teredo = [](const Bytes& payload, uint16_t sport = 3544, uint16_t dport = 40000) {
    return Builder().eth().ipv4("198.51.100.1", "203.0.113.9").udp(sport, dport).payload(payload).build();
  };
  Decoder dec;
  Decoded outer, in;
  const Bytes plain = teredo(v6);
  ASSERT_TRUE(decode_tunnel(dec, plain, Inner::kTeredo, outer, in));
  EXPECT_EQ(in.key.family, 6);
  EXPECT_EQ(in.key.dport, 53);
  EXPECT_EQ(in.pkt_src, PktSrc::kTeredo);
  EXPECT_EQ(in.frame_len, v6.size());

  Bytes origin = {0, 0, 0x12, 0x34, 1, 2, 3, 4};
  origin.insert(origin.end(), v6.begin(), v6.end());
  const Bytes with_origin = teredo(origin, 40000, 3544);
  ASSERT_TRUE(decode_tunnel(dec, with_origin, Inner::kTeredo, outer, in));
  EXPECT_EQ(in.key.dport, 53);

  // Not Teredo: a byte past the IPv6 packet, authentication, hop limit 0,
  // another port, Teredo off.
  Bytes longer = v6;
  longer.push_back(0);
  Bytes auth = origin;
  auth[1] = 1;
  Bytes hlim0 = v6;
  hlim0[7] = 0;
  for (const Bytes& f : {teredo(longer), teredo(auth), teredo(hlim0), teredo(v6, 3545, 40000)})
    EXPECT_EQ(inner_of(dec, f), Inner::kNone);
  Decoder off({.teredo_port = 0});
  EXPECT_EQ(inner_of(off, plain), Inner::kNone);
}

TEST(Decode, VxlanYieldsTheInnerFrame) {
  const Bytes inner = Builder().eth().ipv4("192.168.203.3", "192.168.203.5").icmp_echo(true, 7, 1).build();
  Bytes vx = {0x08, 0, 0, 0, 0, 0, 42, 0};  // I flag, VNI 42
  vx.insert(vx.end(), inner.begin(), inner.end());
  const Bytes f = Builder().eth().ipv4("10.0.0.1", "10.0.0.2").udp(33000, 4789).payload(vx).build();
  Decoder dec;
  Decoded outer, in;
  ASSERT_TRUE(decode_tunnel(dec, f, Inner::kVxlan, outer, in));
  EXPECT_EQ(outer.key.dport, 4789);
  EXPECT_EQ(addr_text(in.key.src, 4), "192.168.203.3");
  EXPECT_EQ(in.key.proto, 1);
  EXPECT_EQ(in.icmp_type, 8);
  EXPECT_EQ(in.pkt_src, PktSrc::kVxlan);
  EXPECT_EQ(in.frame_len, inner.size());  // from the inner Ethernet header

  // Without the I flag, or on another port, it is plain UDP.
  Bytes bad = vx;
  bad[0] = 0;
  const Bytes g = Builder().eth().ipv4("10.0.0.1", "10.0.0.2").udp(33000, 4789).payload(bad).build();
  EXPECT_EQ(inner_of(dec, g), Inner::kNone);
  Decoder other({.vxlan_port = 8472});
  EXPECT_EQ(inner_of(other, f), Inner::kNone);

  // A truncated inner frame is refused and counted; the outer stands.
  const Bytes cut = Builder().eth().ipv4("10.0.0.1", "10.0.0.2").udp(33000, 4789).payload(
                        std::span<const uint8_t>(vx.data(), 8 + 14 + 10)).build();
  Packet p = packet_of(cut);
  ASSERT_TRUE(dec.decode(p, outer));
  ASSERT_EQ(outer.inner, Inner::kVxlan);
  EXPECT_FALSE(dec.decode_inner(p, outer, in));
  EXPECT_EQ(dec.stats().truncated_ipv4.get(), 1u);
}

TEST(Decode, NestedTunnelsStopAtDepthThree) {
  Builder b;
  b.eth();
  for (int i = 0; i < 5; ++i) b.ipv4("10.0.0.1", "10.0.0.2", {.proto = 4});
  const Bytes f = b.ipv4("10.9.0.1", "10.9.0.2").udp(1, 2).build();
  Decoder dec({.ipv4_in_ipv4 = true});
  Packet p = packet_of(f);
  Decoded d[6];
  ASSERT_TRUE(dec.decode(p, d[0]));
  int depth = 0;
  while (d[depth].inner != Inner::kNone && dec.decode_inner(p, d[depth], d[depth + 1])) ++depth;
  EXPECT_EQ(depth, 3);
  EXPECT_EQ(dec.stats().tunnel_too_deep.get(), 1u);
  EXPECT_FALSE(decode_counter_is_drop("tunnel_too_deep"));
  EXPECT_FALSE(decode_counter_is_drop("tunnels"));
  EXPECT_TRUE(decode_counter_is_drop("truncated_nsh"));
}

// NSH (RFC 8300) base + service path header, MD type 2 without context.
Bytes nsh(uint8_t next, uint8_t md = 2, uint8_t words = 2, uint8_t version = 0) {
  return {static_cast<uint8_t>(version << 6), words, md, next, 0, 0, 1, 0xff};
}

TEST(Decode, NshIsALayerBeforeIp) {
  const Bytes ip = Builder().raw().ipv4("10.0.0.1", "10.0.0.2").udp(52377, 52464).payload("data\n\n").build();
  Bytes body = nsh(1);
  body.insert(body.end(), ip.begin(), ip.end());
  const Bytes f = Builder().eth(Builder::kSrcMac, Builder::kDstMac, 0x894f).payload(body).build();
  Decoder dec;
  Decoded d;
  Packet p = packet_of(f);
  ASSERT_TRUE(dec.decode(p, d));
  EXPECT_EQ(d.key.proto, 17);
  EXPECT_EQ(d.key.sport, 52377);
  EXPECT_EQ(d.payload_len, 6);
  EXPECT_EQ(d.inner, Inner::kNone);

  // NSH carrying Ethernet (next protocol 3), MD type 1 (24 bytes).
  const Bytes eth = Builder().eth().ipv4("10.0.0.3", "10.0.0.4").tcp(1, 2, 0x02).build();
  Bytes md1 = nsh(3, 1, 6);
  md1.resize(24, 0);
  md1.insert(md1.end(), eth.begin(), eth.end());
  const Bytes g = Builder().eth(Builder::kSrcMac, Builder::kDstMac, 0x894f).payload(md1).build();
  p = packet_of(g);
  ASSERT_TRUE(dec.decode(p, d));
  EXPECT_EQ(addr_text(d.key.dst, 4), "10.0.0.4");

  struct {
    Bytes hdr;
    const char* counter;
  } bad[] = {{nsh(1, 2, 2, 1), "bad_nsh_header"},   // version 1
             {nsh(1, 1, 2), "bad_nsh_header"},      // MD type 1 must be 24 bytes
             {nsh(1, 0), "bad_nsh_header"},         // reserved MD type
             {nsh(9), "nsh_unknown_payload"},       // next protocol 9
             {nsh(1, 2, 40), "truncated_nsh"}};     // longer than the frame
  for (auto& c : bad) {
    Bytes x = c.hdr;
    x.insert(x.end(), ip.begin(), ip.end());
    const Bytes h = Builder().eth(Builder::kSrcMac, Builder::kDstMac, 0x894f).payload(x).build();
    Decoder one;
    p = packet_of(h);
    EXPECT_FALSE(one.decode(p, d)) << c.counter;
    EXPECT_EQ(counter_by_name(one.stats(), c.counter), 1u) << c.counter;
  }
}

TEST(Decode, OnesSumMatchesTheBuilder) {
  Bytes data(1001);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7 + 3);
  for (size_t len : {0, 1, 2, 3, 15, 16, 17, 1000, 1001}) {
    // Both fold the same sum; ours is in native load order, so compare the
    // byte-order independent property: a buffer plus its checksum is 0xffff.
    Bytes buf(data.begin(), data.begin() + static_cast<long>(len));
    if (buf.size() % 2) buf.push_back(0);
    const uint16_t ck = pktgen::inet_checksum(buf.data(), buf.size());
    buf.push_back(static_cast<uint8_t>(ck >> 8));
    buf.push_back(static_cast<uint8_t>(ck));
    EXPECT_EQ(ones_sum(buf.data(), buf.size()), 0xffff) << len;
  }
}

}  // namespace
}  // namespace ws
