// Defragmenter: datagrams put back together whole, in any order, with the
// IP header fixed; overlaps resolved by policy; bad fragments, timeouts and
// a full tracker table counted.
#include "dataplane/defrag.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "bench/pktgen/builder.h"

namespace ws {
namespace {

using pktgen::Builder;
using pktgen::Bytes;

constexpr uint64_t kSec = 1'000'000'000ull;

uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// Decodes a fragment and hands it to the defragmenter; true when it
// completed a datagram (then out holds it).
struct Feeder {
  explicit Feeder(DefragOptions o = {}) : df(o) {}
  bool add(const Bytes& f, uint64_t ts, Packet& out, LinkType link = LinkType::kEthernet) {
    Packet p;
    p.data = f.data();
    p.caplen = p.wirelen = static_cast<uint32_t>(f.size());
    p.ts_ns = ts;
    p.link = link;
    Decoded d;
    EXPECT_TRUE(dec.decode(p, d));
    EXPECT_TRUE(d.flags & kDecFragment);
    return df.add(p, d, out);
  }
  Bytes bytes(const Packet& p) { return Bytes(p.data, p.data + p.caplen); }
  Decoder dec;
  Defragmenter df;
};

// The frame as the host sees it once reassembled: the original, but an
// IPv4 header with the identification the fragments carried.
Bytes udp4(size_t len, uint16_t id = 777) {
  return Builder().eth().ipv4("10.0.0.1", "10.0.0.2", {.id = id}).udp(4000, 5000).payload_fill(len, 'x').build();
}

TEST(Defrag, Ipv4InOrderGivesTheOriginalDatagram) {
  const Bytes whole = udp4(3000);
  const auto frags = pktgen::fragment(whole, 14, 1480, 777);
  ASSERT_EQ(frags.size(), 3u);
  Feeder f;
  Packet out;
  for (size_t i = 0; i < frags.size(); ++i) {
    const bool done = f.add(frags[i], kSec + i, out);
    ASSERT_EQ(done, i + 1 == frags.size()) << i;
  }
  EXPECT_EQ(f.bytes(out), whole) << "link header, IP header (length, flags, checksum) and data";
  EXPECT_EQ(out.link, LinkType::kEthernet);
  EXPECT_EQ(out.ts_ns, kSec + 2);
  EXPECT_EQ(ones_sum(out.data + 14, 20), 0xffff);
  EXPECT_EQ(f.df.stats().fragments.get(), 3u);
  EXPECT_EQ(f.df.stats().reassembled.get(), 1u);
  EXPECT_EQ(f.df.stats().overlaps.get(), 0u);
}

TEST(Defrag, AnyOrderCompletesOnTheLastMissingPiece) {
  const Bytes whole = udp4(5000);
  auto frags = pktgen::fragment(whole, 14, 1000, 777);
  ASSERT_EQ(frags.size(), 6u);
  std::vector<size_t> order = {5, 2, 0, 4, 3, 1};
  Feeder f;
  Packet out;
  for (size_t k = 0; k < order.size(); ++k) {
    const bool done = f.add(frags[order[k]], kSec + k, out);
    ASSERT_EQ(done, k + 1 == order.size()) << k;
  }
  EXPECT_EQ(f.bytes(out), whole);
}

TEST(Defrag, Ipv6LosesItsFragmentHeader) {
  const Bytes whole =
      Builder().eth().ipv6("2001:db8::1", "2001:db8::2").tcp(12345, 8080, 0x10).payload_fill(1000, 'A').build();
  const auto frags = pktgen::fragment(whole, 14, 464, 0xbeef);
  ASSERT_EQ(frags.size(), 3u);
  Feeder f;
  Packet out;
  EXPECT_FALSE(f.add(frags[1], kSec, out));
  EXPECT_FALSE(f.add(frags[0], kSec, out));
  ASSERT_TRUE(f.add(frags[2], kSec, out));
  EXPECT_EQ(f.bytes(out), whole) << "next header back to TCP, payload length of the whole";
}

// RFC 8200 allows one fragment header. An atomic fragment (offset 0, no
// more) whose payload starts with another fragment header would be handed
// out as a datagram that is a fragment again. Counted, not handed out.
TEST(Defrag, SecondFragmentHeaderIsRefused) {
  const Bytes two = Builder().eth().ipv6("2001:db8::1", "2001:db8::2").frag6(0, false, 9).frag6(362, false, 7)
                        .payload_fill(100, 'q').build();
  Feeder f;
  Packet out;
  EXPECT_FALSE(f.add(two, kSec, out));
  EXPECT_EQ(f.df.stats().reassembled.get(), 0u);
  EXPECT_EQ(f.df.stats().invalid.get(), 1u);
}

TEST(Defrag, PacketOutOfATunnelIsItsOwnBytes) {
  const Bytes inner = Builder().raw().ipv4("192.168.1.1", "192.168.1.2", {.id = 9}).udp(1, 2).payload_fill(2000, 'z').build();
  const auto pieces = pktgen::fragment(inner, 0, 1000, 9);
  ASSERT_EQ(pieces.size(), 3u);
  Feeder f;
  Packet out;
  for (size_t i = 0; i < pieces.size(); ++i) {
    // Each piece inside IP-in-IP (IPv6 outer: decoded by default).
    Bytes outer = Builder().eth().ipv6("2001:db8::a", "2001:db8::b").payload(pieces[i]).build();
    outer[14 + 6] = 4;  // next header: IPv4
    Packet p;
    p.data = outer.data();
    p.caplen = p.wirelen = static_cast<uint32_t>(outer.size());
    p.ts_ns = kSec;
    Decoded od, in;
    ASSERT_TRUE(f.dec.decode(p, od));
    ASSERT_EQ(od.inner, Inner::kIpv4);
    ASSERT_TRUE(f.dec.decode_inner(p, od, in));
    ASSERT_TRUE(in.flags & kDecFragment);
    const bool done = f.df.add(p, in, out);
    ASSERT_EQ(done, i + 1 == pieces.size());
  }
  EXPECT_EQ(out.link, LinkType::kRaw);
  EXPECT_EQ(f.bytes(out), inner);
}

// Three ways two fragments can overlap, and what each policy keeps there.
struct OverlapCase {
  const char* name;
  // (offset, length, fill, more) in arrival order.
  std::vector<std::tuple<uint16_t, uint16_t, char, bool>> frags;
  std::string bsd, linux_, first, last;  // the 24 data bytes, 8 per block
};

class Overlap : public ::testing::TestWithParam<OverlapCase> {};

Bytes raw_fragment(uint16_t off, uint16_t len, char fill, bool more) {
  Bytes f = Builder().eth().ipv4("10.1.0.1", "10.1.0.2", {.id = 4242}).udp(7, 9).build();
  f.resize(14 + 20);  // the IP header alone; the fragment's data follows
  f.insert(f.end(), len, static_cast<uint8_t>(fill));
  uint8_t* ip = f.data() + 14;
  ip[2] = static_cast<uint8_t>((20 + len) >> 8);
  ip[3] = static_cast<uint8_t>(20 + len);
  const uint16_t fo = static_cast<uint16_t>((more ? 0x2000 : 0) | (off / 8));
  ip[6] = static_cast<uint8_t>(fo >> 8);
  ip[7] = static_cast<uint8_t>(fo);
  ip[10] = ip[11] = 0;
  const uint16_t c = static_cast<uint16_t>(~ones_sum(ip, 20));  // in memory order
  std::memcpy(ip + 10, &c, 2);
  return f;
}

TEST_P(Overlap, PolicyDecidesWhoseBytesStay) {
  const OverlapCase& c = GetParam();
  const std::pair<DefragPolicy, std::string> want[] = {{DefragPolicy::kBsd, c.bsd},
                                                        {DefragPolicy::kLinux, c.linux_},
                                                        {DefragPolicy::kFirst, c.first},
                                                        {DefragPolicy::kLast, c.last}};
  for (const auto& [policy, expect] : want) {
    SCOPED_TRACE(defrag_policy_name(policy));
    DefragOptions o;
    o.policy = policy;
    Feeder f(o);
    Packet out;
    bool done = false;
    for (const auto& [off, len, fill, more] : c.frags) {
      ASSERT_FALSE(done);
      done = f.add(raw_fragment(off, len, fill, more), kSec, out);
    }
    ASSERT_TRUE(done);
    ASSERT_EQ(out.caplen, 14u + 20u + 24u);
    EXPECT_EQ(std::string(out.data + 34, out.data + 58), expect);
    EXPECT_EQ(rd16(out.data + 14 + 2), 44);
    EXPECT_GE(f.df.stats().overlaps.get(), 1u);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Defrag, Overlap,
    ::testing::Values(
        // A later fragment that starts inside an earlier one: the lower start wins (bsd,
        // linux), as does the first received; last takes the new bytes.
        OverlapCase{"later_starts_inside",
                    {{0, 16, 'A', true}, {8, 16, 'B', false}},
                    "AAAAAAAAAAAAAAAABBBBBBBB", "AAAAAAAAAAAAAAAABBBBBBBB",
                    "AAAAAAAAAAAAAAAABBBBBBBB", "AAAAAAAABBBBBBBBBBBBBBBB"},
        // Two fragments at the same offset: bsd keeps the first, linux the last.
        OverlapCase{"same_start",
                    {{0, 16, 'A', true}, {0, 16, 'B', true}, {16, 8, 'C', false}},
                    "AAAAAAAAAAAAAAAACCCCCCCC", "BBBBBBBBBBBBBBBBCCCCCCCC",
                    "AAAAAAAAAAAAAAAACCCCCCCC", "BBBBBBBBBBBBBBBBCCCCCCCC"},
        // A later fragment that starts lower: it wins for bsd and linux.
        OverlapCase{"later_starts_lower",
                    {{8, 16, 'A', false}, {0, 16, 'B', true}},
                    "BBBBBBBBBBBBBBBBAAAAAAAA", "BBBBBBBBBBBBBBBBAAAAAAAA",
                    "BBBBBBBBAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBAAAAAAAA"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Defrag, PolicyNames) {
  DefragPolicy p;
  for (const char* n : {"bsd", "linux", "first", "last"}) {
    ASSERT_TRUE(parse_defrag_policy(n, &p)) << n;
    EXPECT_STREQ(defrag_policy_name(p), n);
  }
  EXPECT_FALSE(parse_defrag_policy("windows", &p));
}

TEST(Defrag, BadFragmentsAreCountedNotUsed) {
  Feeder f;
  Packet out;
  // A non-last fragment whose data is not a multiple of 8 bytes.
  EXPECT_FALSE(f.add(raw_fragment(0, 12, 'A', true), kSec, out));
  // Past 65535 bytes: offset 65528 with 16 bytes.
  EXPECT_FALSE(f.add(raw_fragment(65528, 16, 'A', false), kSec, out));
  // Cut by the snaplen: the capture ends before the IP total length.
  Bytes cut = raw_fragment(8, 16, 'A', false);
  cut.resize(cut.size() - 4);
  Packet p;
  p.data = cut.data();
  p.caplen = static_cast<uint32_t>(cut.size());
  p.wirelen = p.caplen + 4;
  p.ts_ns = kSec;
  Decoded d;
  ASSERT_TRUE(f.dec.decode(p, d));
  EXPECT_FALSE(f.df.add(p, d, out));
  EXPECT_EQ(f.df.stats().invalid.get(), 3u);
  EXPECT_EQ(f.df.stats().fragments.get(), 0u);
}

TEST(Defrag, IncompleteDatagramTimesOut) {
  DefragOptions o;
  o.timeout_s = 60;
  Feeder f(o);
  const auto frags = pktgen::fragment(udp4(3000), 14, 1480, 777);
  Packet out;
  EXPECT_FALSE(f.add(frags[0], kSec, out));
  EXPECT_FALSE(f.add(frags[1], kSec, out));
  // The last piece 61 s later starts a datagram of its own.
  EXPECT_FALSE(f.add(frags[2], 62 * kSec, out));
  EXPECT_EQ(f.df.stats().timeouts.get(), 1u);
  EXPECT_EQ(f.df.stats().reassembled.get(), 0u);
  // The pieces sent again within the new datagram's time complete it.
  EXPECT_FALSE(f.add(frags[0], 63 * kSec, out));
  EXPECT_TRUE(f.add(frags[1], 63 * kSec, out));
  EXPECT_EQ(f.bytes(out), udp4(3000));
}

TEST(Defrag, FullTableGivesUpTheOldestDatagram) {
  DefragOptions o;
  o.trackers = 2;
  Feeder f(o);
  std::vector<std::vector<Bytes>> dg;
  for (uint16_t id : {1, 2, 3}) dg.push_back(pktgen::fragment(udp4(2000, id), 14, 1480, id));
  Packet out;
  for (auto& d : dg) EXPECT_FALSE(f.add(d[0], kSec, out));
  EXPECT_EQ(f.df.stats().evicted.get(), 1u);
  EXPECT_FALSE(f.add(dg[0][1], kSec, out)) << "datagram 1 was given up";
  EXPECT_EQ(f.df.stats().evicted.get(), 2u) << "its last piece took the oldest tracker (2)";
  EXPECT_TRUE(f.add(dg[2][1], kSec, out));
  EXPECT_EQ(f.bytes(out), udp4(2000, 3));
}

TEST(Defrag, MemoryIsReservedNotCommitted) {
  DefragOptions o;
  o.trackers = 256;
  Defragmenter df(o);
  // 84 KiB per tracker and four output buffers: reserved up front, pages
  // committed only under trackers in use.
  EXPECT_EQ(df.reserved_bytes(), 256u * 86016u + 4u * 69632u);
}

}  // namespace
}  // namespace ws
