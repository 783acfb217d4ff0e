// Packet builder: every length and checksum is re-derived here by a small
// independent parser and checksum code (not the builder's own helpers), so
// a builder bug cannot hide behind itself.
#include "bench/pktgen/builder.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace ws::pktgen;

uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
uint32_t be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

// RFC 1071, the slow obvious way.
uint32_t sum16(const uint8_t* p, size_t n, uint32_t acc = 0) {
  for (size_t i = 0; i < n; ++i) acc += (i % 2 == 0) ? p[i] * 256u : p[i];
  return acc;
}
uint16_t folded(uint32_t acc) {
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(acc);
}
// A checksummed region verifies when its folded sum (with pseudo-header)
// is 0xffff.
bool verifies(uint32_t acc) {
  return folded(acc) == 0xffff;
}

uint32_t pseudo4(const uint8_t* ip, uint8_t proto, uint32_t len) {
  return sum16(ip + 12, 8) + proto + len;
}
uint32_t pseudo6(const uint8_t* src, const uint8_t* dst, uint8_t proto, uint32_t len) {
  return sum16(src, 16) + sum16(dst, 16) + (len >> 16) + (len & 0xffff) + proto;
}

// Bitwise CRC32c, independent of the builder's table.
uint32_t crc32c_slow(const uint8_t* p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
  }
  return ~c;
}

// Verifies an L4 region [l4, end) under an IPv4 or IPv6 header at ip.
bool l4_ok(const uint8_t* ip, const uint8_t* l4, size_t len, uint8_t proto) {
  if ((ip[0] >> 4) == 4) return verifies(sum16(l4, len, pseudo4(ip, proto, static_cast<uint32_t>(len))));
  return verifies(sum16(l4, len, pseudo6(ip + 8, ip + 24, proto, static_cast<uint32_t>(len))));
}

TEST(Checksum, KnownIpv4HeaderVector) {
  // The textbook header 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7.
  Ipv4Opts o;
  o.id = 0;
  o.df = true;
  o.proto = 17;
  o.total_len = 0x73;
  auto f = Builder().raw().ipv4("192.168.0.1", "192.168.0.199", o).build();
  ASSERT_EQ(f.size(), 20u);
  EXPECT_EQ(be16(&f[10]), 0xb861);
}

TEST(Checksum, Crc32cKnownVector) {
  const char* s = "123456789";
  EXPECT_EQ(crc32c(reinterpret_cast<const uint8_t*>(s), 9), 0xE3069283u);
  EXPECT_EQ(crc32c_slow(reinterpret_cast<const uint8_t*>(s), 9), 0xE3069283u);
}

TEST(Builder, EthVlanIpv4TcpLayout) {
  uint8_t mss[] = {2, 4, 0x05, 0xb4, 1, 3, 3};  // 7 bytes: padded to 8
  TcpOpts to;
  to.seq = 1000;
  to.ack = 77;
  to.options = mss;
  auto f = Builder()
               .eth("00:11:22:33:44:55", "66:77:88:99:aa:bb")
               .vlan(10, 5)
               .ipv4("10.0.0.1", "10.0.0.2")
               .tcp(1234, 80, TCP_SYN | TCP_ACK, to)
               .payload("GET /")
               .build();
  ASSERT_EQ(f.size(), 14u + 4 + 20 + 28 + 5);
  EXPECT_EQ(f[0], 0x66);
  EXPECT_EQ(f[6], 0x00);
  EXPECT_EQ(f[11], 0x55);
  EXPECT_EQ(be16(&f[12]), 0x8100);
  EXPECT_EQ(be16(&f[14]), 5 << 13 | 10);
  EXPECT_EQ(be16(&f[16]), 0x0800);
  const uint8_t* ip = &f[18];
  EXPECT_EQ(ip[0], 0x45);
  EXPECT_EQ(be16(ip + 2), 20 + 28 + 5);
  EXPECT_EQ(ip[9], 6);
  EXPECT_TRUE(verifies(sum16(ip, 20)));
  const uint8_t* tcp = ip + 20;
  EXPECT_EQ(be16(tcp), 1234);
  EXPECT_EQ(be16(tcp + 2), 80);
  EXPECT_EQ(be32(tcp + 4), 1000u);
  EXPECT_EQ(be32(tcp + 8), 77u);
  EXPECT_EQ(tcp[12] >> 4, 7);  // 28 bytes of header
  EXPECT_EQ(tcp[13], TCP_SYN | TCP_ACK);
  EXPECT_EQ(tcp[20], 2);
  EXPECT_EQ(tcp[27], 0);  // EOL padding
  EXPECT_TRUE(l4_ok(ip, tcp, 28 + 5, 6));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(tcp + 28), 5), "GET /");
}

TEST(Builder, QinqAndMplsTypesAndBottomOfStack) {
  auto q = Builder().eth().qinq(100, 200).ipv6("2001:db8::1", "2001:db8::2").udp(5, 6).build();
  EXPECT_EQ(be16(&q[12]), 0x88a8);
  EXPECT_EQ(be16(&q[14]) & 0xfff, 100);
  EXPECT_EQ(be16(&q[16]), 0x8100);
  EXPECT_EQ(be16(&q[18]) & 0xfff, 200);
  EXPECT_EQ(be16(&q[20]), 0x86dd);

  auto m =
      Builder().eth().mpls(100, 3, 9).mpls(0xfffff).ipv4("1.1.1.1", "2.2.2.2").icmp_echo(true, 1, 2).build();
  EXPECT_EQ(be16(&m[12]), 0x8847);
  uint32_t e0 = be32(&m[14]), e1 = be32(&m[18]);
  EXPECT_EQ(e0 >> 12, 100u);
  EXPECT_EQ((e0 >> 9) & 7, 3u);
  EXPECT_EQ(e0 & 0x100, 0u);  // not bottom
  EXPECT_EQ(e0 & 0xff, 9u);
  EXPECT_EQ(e1 >> 12, 0xfffffu);
  EXPECT_EQ(e1 & 0x100, 0x100u);  // bottom of stack
  EXPECT_EQ(m[22] >> 4, 4);
  const uint8_t* icmp = &m[22 + 20];
  EXPECT_EQ(icmp[0], 8);
  EXPECT_EQ(be16(icmp + 4), 1);
  EXPECT_EQ(be16(icmp + 6), 2);
  EXPECT_TRUE(verifies(sum16(icmp, 8)));
}

TEST(Builder, Ipv4OptionsAndFragmentFields) {
  uint8_t ra[] = {0x94, 4, 0, 0, 1};  // router alert + NOP: padded to 8
  Ipv4Opts o;
  o.options = ra;
  o.tos = 46 << 2 | 1;
  o.ttl = 3;
  o.id = 0xabcd;
  o.mf = true;
  o.frag_offset = 185;
  auto f = Builder().eth().ipv4("10.1.2.3", "10.3.2.1", o).payload_fill(16, 0xee).build();
  const uint8_t* ip = &f[14];
  EXPECT_EQ(ip[0], 0x47);  // IHL 7
  EXPECT_EQ(ip[1] >> 2, 46);
  EXPECT_EQ(ip[1] & 3, 1);
  EXPECT_EQ(be16(ip + 2), 28 + 16);
  EXPECT_EQ(be16(ip + 4), 0xabcd);
  EXPECT_EQ(be16(ip + 6), 0x2000 | 185);
  EXPECT_EQ(ip[8], 3);
  EXPECT_EQ(ip[20], 0x94);
  EXPECT_EQ(ip[24], 1);
  EXPECT_EQ(ip[25], 0);
  EXPECT_TRUE(verifies(sum16(ip, 28)));
  EXPECT_EQ(f.size(), 14u + 28 + 16);
}

TEST(Builder, Ipv6ExtensionChainAndRoutingFinalDestination) {
  Ip6 segs[2] = {ip6("2001:db8::a"), ip6("2001:db8::b")};
  uint8_t jumbo_like[] = {0xc2, 4, 0, 0, 0, 0};
  auto f = Builder()
               .eth()
               .ipv6("2001:db8::1", "2001:db8::9")
               .hop_by_hop(jumbo_like)
               .routing(0, 2, segs)
               .dest_opts()
               .frag6(0, false, 0x1234)
               .tcp(10, 20, TCP_ACK)
               .payload("abc")
               .build();
  const uint8_t* ip = &f[14];
  EXPECT_EQ(ip[6], 0);  // hop-by-hop
  const uint8_t* hbh = ip + 40;
  EXPECT_EQ(hbh[0], 43);
  EXPECT_EQ(hbh[1], 0);  // 8 bytes
  EXPECT_EQ(hbh[2], 0xc2);
  const uint8_t* rt = hbh + 8;
  EXPECT_EQ(rt[0], 60);
  EXPECT_EQ(rt[1], 4);  // 2 addresses
  EXPECT_EQ(rt[3], 2);
  const uint8_t* dopt = rt + 8 + 32;
  EXPECT_EQ(dopt[0], 44);
  EXPECT_EQ(dopt[2], 1);  // PadN
  EXPECT_EQ(dopt[3], 4);
  const uint8_t* fr = dopt + 8;
  EXPECT_EQ(fr[0], 6);
  EXPECT_EQ(be32(fr + 4), 0x1234u);
  const uint8_t* tcp = fr + 8;
  size_t l4len = f.size() - static_cast<size_t>(tcp - f.data());
  EXPECT_EQ(be16(ip + 4), f.size() - 14 - 40);
  // The pseudo-header uses the routing header's last address, not ip->dst.
  EXPECT_TRUE(verifies(sum16(tcp, l4len, pseudo6(ip + 8, segs[1].data(), 6, static_cast<uint32_t>(l4len)))));
  EXPECT_FALSE(verifies(sum16(tcp, l4len, pseudo6(ip + 8, ip + 24, 6, static_cast<uint32_t>(l4len)))));
}

TEST(Builder, UdpIcmpv6SctpGreChecksums) {
  auto u = Builder().eth().ipv6("2001:db8::1", "2001:db8::2").udp(53, 5353).payload("hello").build();
  const uint8_t* ip = &u[14];
  EXPECT_EQ(be16(ip + 40 + 4), 13);
  EXPECT_TRUE(l4_ok(ip, ip + 40, 13, 17));

  auto i6 = Builder().eth().ipv6("fe80::1", "ff02::1").icmpv6_echo(false, 7, 8).payload("x").build();
  ip = &i6[14];
  EXPECT_EQ(ip[6], 58);
  EXPECT_EQ(ip[40], 129);
  EXPECT_TRUE(l4_ok(ip, ip + 40, 9, 58));

  uint8_t d[5] = {1, 2, 3, 4, 5};
  auto s = Builder()
               .eth()
               .ipv4("10.0.0.1", "10.0.0.2")
               .sctp(100, 200, 0xdeadbeef)
               .sctp_data(7, 1, 2, 3, d)
               .build();
  ip = &s[14];
  EXPECT_EQ(ip[9], 132);
  const uint8_t* sc = ip + 20;
  size_t slen = s.size() - 34;
  EXPECT_EQ(slen, 12u + 16 + 8);  // header + DATA chunk (4+12+5 padded to 24)
  EXPECT_EQ(be16(sc + 12 + 2), 4 + 12 + 5);
  std::vector<uint8_t> copy(sc, sc + slen);
  uint32_t stored = copy[8] | copy[9] << 8 | copy[10] << 16 | static_cast<uint32_t>(copy[11]) << 24;
  std::memset(&copy[8], 0, 4);
  EXPECT_EQ(stored, crc32c_slow(copy.data(), copy.size()));

  GreOpts g;
  g.checksum = true;
  g.has_key = true;
  g.key = 42;
  auto gre =
      Builder().eth().ipv4("1.0.0.1", "1.0.0.2").gre(g).ipv6("::1", "::2").udp(1, 2).payload("in").build();
  ip = &gre[14];
  EXPECT_EQ(ip[9], 47);
  const uint8_t* gh = ip + 20;
  EXPECT_EQ(gh[0], 0xa0);
  EXPECT_EQ(be16(gh + 2), 0x86dd);
  EXPECT_EQ(be32(gh + 8), 42u);
  size_t glen = gre.size() - 34;
  EXPECT_TRUE(verifies(sum16(gh, glen)));
  const uint8_t* inner = gh + 12;
  EXPECT_TRUE(l4_ok(inner, inner + 40, 10, 17));
  EXPECT_TRUE(verifies(sum16(ip, 20)));
  EXPECT_EQ(be16(ip + 2), gre.size() - 14);
}

TEST(Builder, BadChecksumAndTruncateAndPadding) {
  auto good = Builder().eth().ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2, TCP_SYN).build();
  auto bad = Builder().eth().ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2, TCP_SYN).bad_checksum().build();
  ASSERT_EQ(good.size(), bad.size());
  EXPECT_TRUE(verifies(sum16(&bad[14], 20)));  // only TCP spoiled
  EXPECT_TRUE(l4_ok(&good[14], &good[34], 20, 6));
  EXPECT_FALSE(l4_ok(&bad[14], &bad[34], 20, 6));

  auto badip = Builder().eth().ipv4("10.0.0.1", "10.0.0.2").bad_checksum().udp(1, 2).payload("zz").build();
  EXPECT_FALSE(verifies(sum16(&badip[14], 20)));
  EXPECT_TRUE(l4_ok(&badip[14], &badip[34], 10, 17));

  uint8_t d[1] = {9};
  auto badsctp =
      Builder().raw().ipv4("10.0.0.1", "10.0.0.2").sctp(1, 2).sctp_data(1, 0, 0, 0, d).bad_checksum().build();
  std::vector<uint8_t> c(badsctp.begin() + 20, badsctp.end());
  uint32_t stored = c[8] | c[9] << 8 | c[10] << 16 | static_cast<uint32_t>(c[11]) << 24;
  std::memset(&c[8], 0, 4);
  EXPECT_NE(stored, crc32c_slow(c.data(), c.size()));

  Builder t;
  t.eth().ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).payload_fill(100).truncate(40);
  auto tv = t.build();
  EXPECT_EQ(tv.size(), 40u);
  EXPECT_EQ(t.wire_len(), 14u + 20 + 8 + 100);
  EXPECT_EQ(be16(&tv[16]), 128);  // IP length still describes the full packet

  Builder p;
  p.eth().ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).pad_to(60);
  auto pv = p.build();
  EXPECT_EQ(pv.size(), 60u);
  EXPECT_EQ(be16(&pv[16]), 28);  // padding not counted
  EXPECT_EQ(be16(&pv[38]), 8);
  EXPECT_TRUE(l4_ok(&pv[14], &pv[34], 8, 17));
}

TEST(Builder, LinkFramings) {
  Builder b;
  auto sll = b.sll(4).ipv6("::1", "::2").udp(1, 2).build();
  EXPECT_EQ(b.link_type(), 113u);
  EXPECT_EQ(be16(&sll[0]), 4);
  EXPECT_EQ(be16(&sll[2]), 1);
  EXPECT_EQ(be16(&sll[14]), 0x86dd);
  EXPECT_EQ(sll[16] >> 4, 6);

  b.reset();
  auto sll2 = b.sll2(7).ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).build();
  EXPECT_EQ(b.link_type(), 276u);
  EXPECT_EQ(be16(&sll2[0]), 0x0800);
  EXPECT_EQ(be32(&sll2[4]), 7u);
  EXPECT_EQ(sll2[20], 0x45);

  b.reset();
  auto nul = b.null_link().ipv4("1.1.1.1", "2.2.2.2").build();
  uint32_t fam;
  std::memcpy(&fam, nul.data(), 4);
  EXPECT_EQ(b.link_type(), 0u);
  EXPECT_EQ(fam, 2u);  // host order AF_INET
  b.reset();
  auto nul6 = b.null_link(30).ipv6("::1", "::2").build();
  std::memcpy(&fam, nul6.data(), 4);
  EXPECT_EQ(fam, 30u);

  b.reset();
  auto loop = b.loop_link().ipv6("::1", "::2").build();
  EXPECT_EQ(b.link_type(), 108u);
  EXPECT_EQ(be32(loop.data()), 24u);  // network order

  b.reset();
  auto raw = b.raw().ipv6("::1", "::2").icmpv6(1, 4).build();
  EXPECT_EQ(b.link_type(), 101u);
  EXPECT_EQ(raw.size(), 48u);
  EXPECT_EQ(raw[0] >> 4, 6);

  b.reset();
  auto v4only = b.ipv4("1.1.1.1", "2.2.2.2").build();
  EXPECT_EQ(b.link_type(), 101u);
  EXPECT_EQ(v4only[9], 253);  // no next layer: "experimentation"
}

TEST(Builder, ReuseAfterResetGivesSameBytes) {
  Builder b;
  auto first = b.eth().vlan(3).ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).payload_pattern(77, 9).build();
  b.reset().eth().ipv6("::1", "::2").tcp(5, 6, TCP_FIN).payload_fill(300, 1).finish();
  b.reset().eth().vlan(3).ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).payload_pattern(77, 9);
  auto again = b.finish();
  EXPECT_EQ(first, std::vector<uint8_t>(again.begin(), again.end()));
  auto other = Builder().eth().vlan(3).ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).payload_pattern(77, 10).build();
  EXPECT_NE(first, other);
}

void check_reassembly(const Bytes& orig, size_t l3_off, bool v6) {
  auto frags = fragment(orig, l3_off, 1000, 0x55);
  ASSERT_EQ(frags.size(), 3u);
  const size_t ip_hlen = v6 ? 40 : 20;
  const uint8_t* oip = orig.data() + l3_off;
  std::vector<uint8_t> payload;
  for (size_t k = 0; k < frags.size(); ++k) {
    const Bytes& f = frags[k];
    ASSERT_TRUE(std::equal(orig.begin(), orig.begin() + static_cast<long>(l3_off), f.begin()));
    const uint8_t* ip = f.data() + l3_off;
    size_t off;
    bool more;
    const uint8_t* data;
    size_t n;
    if (!v6) {
      EXPECT_TRUE(verifies(sum16(ip, 20)));
      off = (be16(ip + 6) & 0x1fff) * 8u;
      more = be16(ip + 6) & 0x2000;
      n = be16(ip + 2) - 20u;
      data = ip + 20;
      EXPECT_EQ(be16(ip + 4), be16(oip + 4));
    } else {
      EXPECT_EQ(ip[6], 44);
      const uint8_t* fh = ip + 40;
      EXPECT_EQ(fh[0], 17);
      EXPECT_EQ(be32(fh + 4), 0x55u);
      off = (be16(fh + 2) >> 3) * 8u;
      more = be16(fh + 2) & 1;
      n = be16(ip + 4) - 8u;
      data = fh + 8;
    }
    EXPECT_EQ(off, payload.size());
    EXPECT_EQ(more, k + 1 < frags.size());
    if (more) {
      EXPECT_EQ(n % 8, 0u);
    }
    EXPECT_LE(n, 1000u);
    payload.insert(payload.end(), data, data + n);
  }
  std::vector<uint8_t> want(oip + ip_hlen, orig.data() + orig.size());
  EXPECT_EQ(payload, want);
}

TEST(Fragment, Ipv4AndIpv6ReassembleToOriginal) {
  auto v4 = Builder().eth().vlan(9).ipv4("10.0.0.1", "10.0.0.2").udp(7, 8).payload_pattern(2500, 3).build();
  check_reassembly(v4, 18, false);
  auto v6 = Builder().eth().ipv6("2001:db8::1", "2001:db8::2").udp(7, 8).payload_pattern(2500, 3).build();
  check_reassembly(v6, 14, true);
  auto small = Builder().eth().ipv4("10.0.0.1", "10.0.0.2").udp(7, 8).payload("x").build();
  auto one = fragment(small, 14, 1000, 1);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0], small);
}

std::string temp_path(const char* name) {
  const char* dir = std::getenv("TMPDIR");
  std::string d = dir && *dir ? dir : "/tmp";
  return d + "/pktgen_" + std::to_string(getpid()) + "_" + name;
}

struct Rec {
  uint64_t ts_us;
  uint64_t ts_frac;
  uint32_t caplen, len;
  std::vector<uint8_t> data;
};

std::vector<Rec> read_all(const std::string& path, int& linktype, int& snaplen, bool nano) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline_with_tstamp_precision(
      path.c_str(), nano ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO, err);
  EXPECT_NE(p, nullptr) << err;
  std::vector<Rec> out;
  if (!p) return out;
  linktype = pcap_datalink(p);
  snaplen = pcap_snapshot(p);
  pcap_pkthdr* h;
  const u_char* d;
  while (pcap_next_ex(p, &h, &d) == 1)
    out.push_back({static_cast<uint64_t>(h->ts.tv_sec), static_cast<uint64_t>(h->ts.tv_usec), h->caplen,
                   h->len, std::vector<uint8_t>(d, d + h->caplen)});
  pcap_close(p);
  return out;
}

TEST(PcapWriter, MicroAndNanoReadBackByLibpcap) {
  auto f1 = Builder().eth().ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).payload_fill(200, 3).build();
  const uint64_t ts = 1700000000123456789ull;
  for (bool nano : {false, true}) {
    std::string path = temp_path(nano ? "n.pcap" : "u.pcap");
    PcapWriter w;
    ASSERT_TRUE(w.open(path, 1, 100, nano ? TsResolution::kNano : TsResolution::kMicro)) << w.error();
    ASSERT_TRUE(w.write(ts, f1));
    ASSERT_TRUE(w.write(ts + 1000, std::span<const uint8_t>(f1.data(), 50), 9000));
    ASSERT_TRUE(w.close());
    EXPECT_EQ(w.records(), 2u);
    int lt = -1, snap = -1;
    auto recs = read_all(path, lt, snap, nano);
    std::remove(path.c_str());
    ASSERT_EQ(recs.size(), 2u);
    EXPECT_EQ(lt, 1);
    EXPECT_EQ(snap, 100);
    EXPECT_EQ(recs[0].ts_us, 1700000000u);
    EXPECT_EQ(recs[0].ts_frac, nano ? 123456789u : 123456u);
    EXPECT_EQ(recs[0].caplen, 100u);  // cut to snaplen
    EXPECT_EQ(recs[0].len, f1.size());
    EXPECT_TRUE(std::equal(recs[0].data.begin(), recs[0].data.end(), f1.begin()));
    EXPECT_EQ(recs[1].caplen, 50u);
    EXPECT_EQ(recs[1].len, 9000u);
    EXPECT_EQ(recs[1].ts_frac, nano ? 123457789u : 123457u);
  }
}

TEST(PcapWriter, OpenFailureIsReported) {
  PcapWriter w;
  EXPECT_FALSE(w.open("/nonexistent-dir/x.pcap"));
  EXPECT_NE(w.error().find("/nonexistent-dir/x.pcap"), std::string::npos);
  EXPECT_FALSE(w.write(1, std::span<const uint8_t>()));
}

TEST(PcapngWriter, ReadBackByLibpcap) {
  Builder b;
  auto a = b.sll2(3).ipv6("::1", "::2").tcp(1, 2, TCP_SYN).build();
  b.reset();
  auto c = b.sll2(3).ipv4("1.1.1.1", "2.2.2.2").icmp(3, 3).payload("abc").build();  // 31 bytes: padded
  for (bool nano : {false, true}) {
    std::string path = temp_path(nano ? "n.pcapng" : "u.pcapng");
    PcapngWriter w;
    ASSERT_TRUE(w.open(path, 276, 65535, nano ? TsResolution::kNano : TsResolution::kMicro)) << w.error();
    ASSERT_TRUE(w.write(1700000000000000001ull, a));
    ASSERT_TRUE(w.write(1700000001500000000ull, c));
    ASSERT_TRUE(w.close());
    int lt = -1, snap = -1;
    auto recs = read_all(path, lt, snap, true);
    std::remove(path.c_str());
    ASSERT_EQ(recs.size(), 2u);
    EXPECT_EQ(lt, 276);
    EXPECT_EQ(snap, 65535);
    EXPECT_EQ(recs[0].data, a);
    EXPECT_EQ(recs[1].data, c);
    EXPECT_EQ(recs[0].ts_us, 1700000000u);
    EXPECT_EQ(recs[0].ts_frac, nano ? 1u : 0u);
    EXPECT_EQ(recs[1].ts_us, 1700000001u);
    EXPECT_EQ(recs[1].ts_frac, 500000000u);
  }
}

}  // namespace
