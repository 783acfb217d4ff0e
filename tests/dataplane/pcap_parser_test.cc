// PcapParser over in-memory captures built with PcapImage/PcapngImage:
// both classic byte orders and resolutions, pcapng sections, interfaces,
// resolutions and block kinds, damage, and incremental feeding.
#include "dataplane/capture/pcap_parser.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench/pktgen/capture_image.h"

namespace ws {
namespace {

std::vector<uint8_t> frame(size_t len, uint8_t seed) {
  std::vector<uint8_t> f(len);
  for (size_t i = 0; i < len; ++i) f[i] = uint8_t(seed * 31 + i * 7);
  return f;
}

// A record with its bytes copied out, so it outlives the parser's buffer.
struct Rec {
  std::vector<uint8_t> data;
  uint32_t wirelen;
  uint64_t ts_ns;
  uint32_t linktype;
  uint32_t interface_id;
  uint64_t offset;
  bool operator==(const Rec&) const = default;
};

Rec copy(const PcapRecord& r) {
  return Rec{std::vector<uint8_t>(r.data, r.data + r.caplen), r.wirelen, r.ts_ns, r.linktype,
             r.interface_id, r.offset};
}

// Parses a whole image with parse(); `status` gets the final status and
// `clean` whether finish() accepted the end.
std::vector<Rec> parse_all(const std::vector<uint8_t>& img, PcapParser* parser, bool* clean) {
  std::vector<Rec> out;
  size_t pos = 0;
  for (;;) {
    PcapRecord r;
    size_t used = 0;
    ParseStatus st = parser->parse({img.data() + pos, img.size() - pos}, &r, &used);
    pos += used;
    if (st == ParseStatus::kRecord) {
      // Zero copy: the record points into the window.
      EXPECT_GE(r.data, img.data());
      EXPECT_LE(r.data + r.caplen, img.data() + img.size());
      out.push_back(copy(r));
      continue;
    }
    *clean = st == ParseStatus::kNeedMore && parser->finish(img.size() - pos);
    return out;
  }
}

std::vector<Rec> parse_all(const std::vector<uint8_t>& img, bool* clean = nullptr) {
  PcapParser p;
  bool c = false;
  auto out = parse_all(img, &p, &c);
  if (clean) *clean = c;
  EXPECT_EQ(c, p.error().empty()) << p.error();
  return out;
}

// Feeds `img` in pieces whose sizes come from `next_size`, draining
// records after each feed.
template <typename F>
std::vector<Rec> feed_all(const std::vector<uint8_t>& img, F next_size, bool* clean) {
  PcapParser p;
  std::vector<Rec> out;
  size_t pos = 0;
  for (;;) {
    PcapRecord r;
    ParseStatus st;
    while ((st = p.next(&r)) == ParseStatus::kRecord) out.push_back(copy(r));
    if (st == ParseStatus::kError || pos == img.size()) {
      *clean = st == ParseStatus::kNeedMore && p.finish();
      return out;
    }
    const size_t n = std::min(next_size(), img.size() - pos);
    p.feed({img.data() + pos, n});
    pos += n;
  }
}

struct ClassicCase {
  bool big_endian;
  bool nanos;
};

class ClassicPcap : public ::testing::TestWithParam<ClassicCase> {};

TEST_P(ClassicPcap, RecordsTimesAndLinkType) {
  const ClassicCase c = GetParam();
  PcapImage::Options o;
  o.big_endian = c.big_endian;
  o.nanos = c.nanos;
  o.linktype = 101;
  PcapImage w(o);
  const uint64_t t0 = 1700000000ull * 1000000000u + 123456789u;
  const auto f0 = frame(60, 1), f1 = frame(1514, 2), f2 = frame(1, 3);
  w.add(f0, t0);
  w.add(f1, t0 + 1000, 9000);  // cut frame: wirelen beyond caplen
  w.add(f2, t0 + 2000000001);
  bool clean = false;
  const auto recs = parse_all(w.bytes(), &clean);
  ASSERT_TRUE(clean);
  ASSERT_EQ(recs.size(), 3u);
  // Microsecond files cannot carry the last three digits.
  const uint64_t q = c.nanos ? 1 : 1000;
  EXPECT_EQ(recs[0].ts_ns, t0 / q * q);
  EXPECT_EQ(recs[1].ts_ns, (t0 + 1000) / q * q);
  EXPECT_EQ(recs[2].ts_ns, (t0 + 2000000001) / q * q);
  EXPECT_EQ(recs[0].data, f0);
  EXPECT_EQ(recs[1].data, f1);
  EXPECT_EQ(recs[2].data, f2);
  EXPECT_EQ(recs[0].wirelen, 60u);
  EXPECT_EQ(recs[1].wirelen, 9000u);
  for (const Rec& r : recs) EXPECT_EQ(r.linktype, 101u);
  EXPECT_EQ(recs[0].offset, 24u);
  EXPECT_EQ(recs[1].offset, 24u + 16 + 60);
}

INSTANTIATE_TEST_SUITE_P(ByteOrderAndResolution, ClassicPcap,
                         ::testing::Values(ClassicCase{false, false}, ClassicCase{true, false},
                                           ClassicCase{false, true}, ClassicCase{true, true}));

TEST(ClassicPcapBytes, BigEndianHeaderIsReadFromRawBytes) {
  // Written by hand rather than by PcapImage: magic a1 b2 3c 4d (ns, big
  // endian), linktype 1, one 4-byte record at 2.000000005 s.
  const std::vector<uint8_t> img = {
      0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 1,
      0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 4, 0, 0, 0, 60, 0xde, 0xad, 0xbe, 0xef};
  bool clean = false;
  const auto recs = parse_all(img, &clean);
  ASSERT_TRUE(clean);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].ts_ns, 2000000005u);
  EXPECT_EQ(recs[0].linktype, 1u);
  EXPECT_EQ(recs[0].wirelen, 60u);
  EXPECT_EQ(recs[0].data, (std::vector<uint8_t>{0xde, 0xad, 0xbe, 0xef}));
}

TEST(Pcapng, InterfacesLinkTypesAndResolutions) {
  PcapngImage w;
  const uint32_t eth_ns = w.interface(1, 0, 9);             // 10^-9
  const uint32_t raw_bin = w.interface(101, 0, 0x80 | 20);  // 2^-20
  const uint32_t eth_us = w.interface(1, 65535);            // default 10^-6
  const uint32_t eth_ms_off = w.interface(1, 0, 3, 100);    // 10^-3, +100 s
  const uint32_t eth_ps = w.interface(1, 0, 12);            // 10^-12
  const auto f = frame(100, 9);
  w.epb(eth_ns, f, 1700000000123456789ull);
  w.epb(raw_bin, f, (1700000000ull << 20) + (1u << 19), 1500);  // + half a second
  w.epb(eth_us, f, 1700000000000001ull);
  w.epb(eth_ms_off, f, 5123);
  w.epb(eth_ps, f, 123456789012ull);
  bool clean = false;
  const auto recs = parse_all(w.bytes(), &clean);
  ASSERT_TRUE(clean);
  ASSERT_EQ(recs.size(), 5u);
  EXPECT_EQ(recs[0].ts_ns, 1700000000123456789ull);
  EXPECT_EQ(recs[1].ts_ns, 1700000000500000000ull);
  EXPECT_EQ(recs[2].ts_ns, 1700000000000001000ull);
  EXPECT_EQ(recs[3].ts_ns, 105123000000ull);
  EXPECT_EQ(recs[4].ts_ns, 123456789ull);
  EXPECT_EQ(recs[0].linktype, 1u);
  EXPECT_EQ(recs[1].linktype, 101u);
  EXPECT_EQ(recs[1].interface_id, 1u);
  EXPECT_EQ(recs[1].wirelen, 1500u);
  EXPECT_EQ(recs[4].interface_id, 4u);
  for (const Rec& r : recs) EXPECT_EQ(r.data, f);
}

TEST(Pcapng, SimpleObsoleteAndUnknownBlocks) {
  PcapngImage w;
  w.interface(1, 64, 9);
  const auto big = frame(100, 4), small = frame(40, 5), f = frame(70, 6);
  w.block(0x0BAD, frame(33, 7));  // custom block: skipped
  w.epb(0, f, 1000);
  w.block(0x12345678, {});        // unknown, empty body: skipped
  w.spb(big);                     // cut to the interface's snaplen 64
  w.spb(small);
  w.block(5, frame(20, 8));       // interface statistics: skipped
  w.opb(0, f, 2000);
  bool clean = false;
  const auto recs = parse_all(w.bytes(), &clean);
  ASSERT_TRUE(clean);
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(recs[0].data, f);
  EXPECT_EQ(recs[1].data, std::vector<uint8_t>(big.begin(), big.begin() + 64));
  EXPECT_EQ(recs[1].wirelen, 100u);
  // A Simple Packet Block has no time: it keeps the previous packet's.
  EXPECT_EQ(recs[1].ts_ns, 1000u);
  EXPECT_EQ(recs[2].data, small);
  EXPECT_EQ(recs[2].wirelen, 40u);
  EXPECT_EQ(recs[3].data, f);
  EXPECT_EQ(recs[3].ts_ns, 2000u);
}

TEST(Pcapng, SectionsWithTheirOwnByteOrderAndInterfaces) {
  PcapngImage w(/*big_endian=*/true);
  w.interface(1, 0, 9);
  w.epb(0, frame(10, 1), 111);
  w.section(/*big_endian=*/false);
  w.interface(101, 0, 6);  // id 0 again, new section, new link type
  w.interface(1, 0, 9);
  w.epb(0, frame(20, 2), 222);
  w.epb(1, frame(30, 3), 333);
  w.section(true);
  // No interface in this section: a packet here is damage.
  w.epb(0, frame(40, 4), 444);
  PcapParser p;
  bool clean = true;
  const auto recs = parse_all(w.bytes(), &p, &clean);
  EXPECT_FALSE(clean);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].ts_ns, 111u);
  EXPECT_EQ(recs[0].linktype, 1u);
  EXPECT_EQ(recs[1].ts_ns, 222000u);
  EXPECT_EQ(recs[1].linktype, 101u);
  EXPECT_EQ(recs[2].ts_ns, 333u);
  EXPECT_EQ(recs[2].interface_id, 1u);
  EXPECT_NE(p.error().find("interface 0"), std::string::npos) << p.error();
  // The error points at the block after the third section header.
  const size_t third_shb = w.bytes().size() - (32 + 40) - 28;
  EXPECT_NE(p.error().find("offset " + std::to_string(third_shb + 28) + ":"), std::string::npos)
      << p.error();
}

TEST(Damage, OversizedCaplenIsAnErrorAtItsOffset) {
  PcapImage w({});
  w.add(frame(60, 1), 1);
  const size_t at = w.bytes().size();
  std::vector<uint8_t> payload(100);
  w.add_raw(0, 0, 70000, 70000, payload);  // snaplen is 65535
  PcapParser p;
  bool clean = true;
  const auto recs = parse_all(w.bytes(), &p, &clean);
  EXPECT_FALSE(clean);
  EXPECT_EQ(recs.size(), 1u);
  EXPECT_EQ(p.error(), "offset " + std::to_string(at) + ": record length 70000 exceeds snaplen 65535");
  // Sticky until reset.
  PcapRecord r;
  size_t used = 99;
  EXPECT_EQ(p.parse({w.bytes().data(), w.bytes().size()}, &r, &used), ParseStatus::kError);
  EXPECT_EQ(used, 0u);

  PcapImage::Options big;
  big.snaplen = 1u << 20;  // a writer's snaplen does not lift the hard limit
  PcapImage w2(big);
  w2.add_raw(0, 0, 300000, 300000, payload);
  PcapParser p2;
  parse_all(w2.bytes(), &p2, &clean);
  EXPECT_FALSE(clean);
  EXPECT_NE(p2.error().find("offset 24: record length 300000 exceeds the 262144-byte limit"),
            std::string::npos)
      << p2.error();
}

TEST(Damage, PcapngLengthsAreChecked) {
  PcapngImage w;
  w.interface(1);
  w.epb(0, frame(20, 1), 1);
  const size_t good_end = w.bytes().size();
  // An EPB whose caplen claims more than the block holds.
  PcapngImage bad = w;
  bad.epb(0, frame(20, 2), 2);
  std::vector<uint8_t> img = bad.bytes();
  img[good_end + 8 + 12] = 200;  // caplen (little endian) of the second EPB
  PcapParser p;
  bool clean = true;
  auto recs = parse_all(img, &p, &clean);
  EXPECT_FALSE(clean);
  EXPECT_EQ(recs.size(), 1u);
  EXPECT_NE(p.error().find("offset " + std::to_string(good_end) + ": packet length 200 runs past"),
            std::string::npos)
      << p.error();

  // A trailer that disagrees with the header.
  img = bad.bytes();
  img[img.size() - 4] ^= 0x10;
  PcapParser p2;
  recs = parse_all(img, &p2, &clean);
  EXPECT_EQ(recs.size(), 1u);
  EXPECT_NE(p2.error().find("does not match its trailer"), std::string::npos) << p2.error();

  // A block length past the limit is refused without waiting for the data.
  img = w.bytes();
  const std::vector<uint8_t> huge = {0x42, 0, 0, 0, 0, 0, 0, 0x40};  // type 0x42, 1 GiB
  img.insert(img.end(), huge.begin(), huge.end());
  PcapParser p3;
  recs = parse_all(img, &p3, &clean);
  EXPECT_EQ(recs.size(), 1u);
  EXPECT_NE(p3.error().find("exceeds the 16777216-byte limit"), std::string::npos) << p3.error();

  // A block length not a multiple of 4.
  img = w.bytes();
  const std::vector<uint8_t> odd = {0x42, 0, 0, 0, 13, 0, 0, 0};
  img.insert(img.end(), odd.begin(), odd.end());
  PcapParser p4;
  parse_all(img, &p4, &clean);
  EXPECT_NE(p4.error().find("invalid length 13"), std::string::npos) << p4.error();
}

TEST(Damage, TruncationIsNeedMoreUntilFinish) {
  PcapngImage w;
  w.interface(1);
  w.epb(0, frame(50, 1), 1);
  const size_t epb_at = w.bytes().size();
  w.epb(0, frame(50, 2), 2);
  std::vector<uint8_t> img = w.bytes();
  img.resize(img.size() - 10);
  PcapParser p;
  bool clean = true;
  const auto recs = parse_all(img, &p, &clean);
  EXPECT_FALSE(clean);
  EXPECT_EQ(recs.size(), 1u);
  EXPECT_EQ(p.error(), "offset " + std::to_string(epb_at) + ": block type 0x00000006 of length " +
                           std::to_string(img.size() + 10 - epb_at) + " runs past the end (" +
                           std::to_string(img.size() - epb_at) + " bytes left)");
}

TEST(Damage, NotACaptureFile) {
  const std::string text = "GET / HTTP/1.1\r\n\r\n";
  std::vector<uint8_t> img(text.begin(), text.end());
  PcapParser p;
  bool clean = true;
  parse_all(img, &p, &clean);
  EXPECT_FALSE(clean);
  EXPECT_EQ(p.error(), "offset 0: not a pcap or pcapng file (magic 0x20544547)");
  EXPECT_FALSE(p.header_seen());
}

TEST(Incremental, EmptyStreamStaysNeedMore) {
  PcapParser p;
  PcapRecord r;
  for (int i = 0; i < 3; ++i) {
    p.feed({});
    EXPECT_EQ(p.next(&r), ParseStatus::kNeedMore);
  }
  EXPECT_TRUE(p.error().empty());
  EXPECT_EQ(p.format(), PcapParser::Format::kUnknown);
  // A stream that then sends only the classic header is healthy but empty.
  PcapImage w({});
  p.feed(w.bytes());
  EXPECT_EQ(p.next(&r), ParseStatus::kNeedMore);
  EXPECT_TRUE(p.error().empty());
  EXPECT_TRUE(p.header_seen());
  EXPECT_TRUE(p.finish());
  // A stream that ends before any header is not a capture.
  PcapParser q;
  q.feed({});
  EXPECT_EQ(q.next(&r), ParseStatus::kNeedMore);
  EXPECT_FALSE(q.finish());
  EXPECT_NE(q.error().find("not a capture file"), std::string::npos);
}

std::vector<uint8_t> mixed_pcapng() {
  PcapngImage w;
  w.interface(1, 0, 9);
  w.interface(113, 200, 0x80 | 10);
  for (int i = 0; i < 20; ++i) {
    w.epb(uint32_t(i % 2), frame(size_t(1 + i * 37), uint8_t(i)), 1000000ull * uint64_t(i));
    if (i % 5 == 0) w.block(0xABC, frame(size_t(i), 1));
    if (i % 7 == 0) w.spb(frame(size_t(3 + i), 2));
  }
  w.section(true);
  w.interface(1, 0, 6);
  w.epb(0, frame(77, 1), 424242);
  return w.bytes();
}

std::vector<uint8_t> classic_pcap() {
  PcapImage::Options o;
  o.big_endian = true;
  o.nanos = true;
  PcapImage w(o);
  for (int i = 0; i < 25; ++i) w.add(frame(size_t(14 + i * 53), uint8_t(i)), 5000000000ull + uint64_t(i));
  return w.bytes();
}

TEST(Incremental, OneByteAtATimeMatchesWhole) {
  for (const auto& img : {mixed_pcapng(), classic_pcap()}) {
    bool whole_clean = false, fed_clean = false;
    const auto whole = parse_all(img, &whole_clean);
    ASSERT_TRUE(whole_clean);
    ASSERT_GT(whole.size(), 20u);
    const auto fed = feed_all(img, [] { return size_t(1); }, &fed_clean);
    EXPECT_TRUE(fed_clean);
    EXPECT_EQ(fed, whole);
  }
}

TEST(Incremental, RandomChunksMatchWhole) {
  std::mt19937 rng(12345);
  for (const auto& img : {mixed_pcapng(), classic_pcap()}) {
    bool clean = false;
    const auto whole = parse_all(img, &clean);
    for (int round = 0; round < 20; ++round) {
      std::uniform_int_distribution<size_t> d(0, 300);  // 0: empty chunks too
      bool fed_clean = false;
      const auto fed = feed_all(img, [&] { return d(rng); }, &fed_clean);
      EXPECT_TRUE(fed_clean);
      EXPECT_EQ(fed, whole);
    }
  }
}

TEST(Incremental, ResetStartsANewStream) {
  const auto img = classic_pcap();
  PcapParser p;
  bool clean = false;
  const auto first = parse_all(img, &p, &clean);
  ASSERT_TRUE(clean);
  p.reset();
  EXPECT_EQ(p.offset(), 0u);
  const auto second = parse_all(img, &p, &clean);
  EXPECT_TRUE(clean);
  EXPECT_EQ(first, second);
}

}  // namespace
}  // namespace ws
