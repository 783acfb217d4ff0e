// The GNS3 pcap answer parser: empty answers, the header arriving with the
// first packet, every chunk boundary, cut answers, link types, replays.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "dataplane/capture/gns3_stream.h"

namespace ws {
namespace {

std::vector<uint8_t> pcap_header(uint32_t dlt) {
  std::vector<uint8_t> h(24);
  const uint32_t magic = 0xA1B2C3D4, snap = 65535;
  const uint16_t major = 2, minor = 4;
  std::memcpy(&h[0], &magic, 4);
  std::memcpy(&h[4], &major, 2);
  std::memcpy(&h[6], &minor, 2);
  std::memcpy(&h[16], &snap, 4);
  std::memcpy(&h[20], &dlt, 4);
  return h;
}

void add_record(std::vector<uint8_t>& out, uint32_t sec, uint8_t fill, uint32_t len) {
  uint32_t hdr[4] = {sec, 0, len, len};
  const auto* p = reinterpret_cast<const uint8_t*>(hdr);
  out.insert(out.end(), p, p + 16);
  out.insert(out.end(), len, fill);
}

std::vector<uint8_t> capture(uint32_t dlt, int n) {
  auto c = pcap_header(dlt);
  for (int i = 0; i < n; ++i) add_record(c, 100 + i, uint8_t(i), 60 + i);
  return c;
}

struct Seen {
  std::vector<uint8_t> fills;
  std::vector<uint64_t> ts;
};

bool feed(Gns3StreamParser& p, const std::vector<uint8_t>& bytes, size_t chunk, Seen* seen) {
  for (size_t off = 0; off < bytes.size(); off += chunk) {
    const size_t n = std::min(chunk, bytes.size() - off);
    if (!p.feed({bytes.data() + off, n}, [&](const PcapRecord& r) {
          seen->fills.push_back(r.data[0]);
          seen->ts.push_back(r.ts_ns);
          EXPECT_EQ(r.caplen, 60u + r.data[0]);
        }))
      return false;
  }
  return true;
}

TEST(Gns3Stream, EmptyAnswerEndsCleanly) {
  Gns3StreamParser p;
  p.begin();
  Seen s;
  EXPECT_TRUE(p.feed({}, [&](const PcapRecord&) { s.fills.push_back(0); }));
  EXPECT_TRUE(p.end()) << p.error();
  EXPECT_FALSE(p.header_seen());
  EXPECT_EQ(p.counters().truncated, 0u);
  EXPECT_TRUE(s.fills.empty());
}

TEST(Gns3Stream, EveryChunkSizeGivesTheSameFrames) {
  const auto c = capture(Gns3StreamParser::kDltEn10mb, 5);
  for (size_t chunk = 1; chunk <= c.size(); ++chunk) {
    Gns3StreamParser p;
    p.begin();
    Seen s;
    ASSERT_TRUE(feed(p, c, chunk, &s)) << "chunk " << chunk << ": " << p.error();
    ASSERT_TRUE(p.end()) << "chunk " << chunk << ": " << p.error();
    ASSERT_EQ(s.fills, (std::vector<uint8_t>{0, 1, 2, 3, 4})) << "chunk " << chunk;
    EXPECT_EQ(s.ts[4], 104ull * 1000000000ull);
    EXPECT_EQ(p.counters().frames, 5u);
    EXPECT_EQ(p.counters().bytes, uint64_t(60 + 61 + 62 + 63 + 64));
    EXPECT_EQ(p.linktype(), 1u);
  }
}

TEST(Gns3Stream, AnswerCutInsideARecordIsTruncated) {
  const auto c = capture(Gns3StreamParser::kDltEn10mb, 3);
  // Every cut that is not on a record boundary (or at 0) is a truncation.
  std::vector<size_t> bounds = {0, 24};
  for (int i = 0; i < 3; ++i) bounds.push_back(bounds.back() + 16 + 60 + i);
  for (size_t cut = 0; cut <= c.size(); ++cut) {
    Gns3StreamParser p;
    p.begin();
    Seen s;
    ASSERT_TRUE(feed(p, {c.begin(), c.begin() + cut}, 7, &s));
    const bool boundary = std::find(bounds.begin(), bounds.end(), cut) != bounds.end();
    EXPECT_EQ(p.end(), boundary) << "cut at " << cut;
    EXPECT_EQ(p.counters().truncated, boundary ? 0u : 1u) << "cut at " << cut;
    if (!boundary) {
      EXPECT_FALSE(p.error().empty());
    }
  }
}

TEST(Gns3Stream, SerialLinkTypesAreCountedUnsupported) {
  for (uint32_t dlt : {Gns3StreamParser::kDltCHdlc, Gns3StreamParser::kDltPppSerial, Gns3StreamParser::kDltFrelay,
                       Gns3StreamParser::kDltAtmRfc1483}) {
    Gns3StreamParser p;
    p.begin();
    Seen s;
    ASSERT_TRUE(feed(p, capture(dlt, 4), 13, &s));
    EXPECT_TRUE(p.end());
    EXPECT_TRUE(s.fills.empty()) << gns3_dlt_name(dlt);
    EXPECT_EQ(p.counters().unsupported_link, 4u) << gns3_dlt_name(dlt);
    EXPECT_EQ(p.counters().frames, 0u);
    EXPECT_EQ(p.answer_records(), 4u);
  }
  EXPECT_EQ(gns3_dlt_name(104), "DLT_C_HDLC");
  EXPECT_EQ(gns3_dlt_name(50), "DLT_PPP_SERIAL");
}

TEST(Gns3Stream, ReplayAfterReconnectSkipsDeliveredRecords) {
  const auto c = capture(Gns3StreamParser::kDltEn10mb, 6);
  Gns3StreamParser p;
  p.begin();
  Seen s;
  // First answer: cut in the middle of the fourth record.
  const size_t cut = 24 + (16 + 60) + (16 + 61) + (16 + 62) + 20;
  ASSERT_TRUE(feed(p, {c.begin(), c.begin() + cut}, 9, &s));
  EXPECT_FALSE(p.end());
  EXPECT_EQ(p.answer_records(), 3u);
  // The server replays the file from its first byte.
  p.begin(p.answer_records());
  ASSERT_TRUE(feed(p, c, 11, &s));
  EXPECT_TRUE(p.end());
  EXPECT_EQ(s.fills, (std::vector<uint8_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(p.counters().replayed, 3u);
  EXPECT_EQ(p.counters().truncated, 1u);
}

TEST(Gns3Stream, NotAPcapIsDamaged) {
  Gns3StreamParser p;
  p.begin();
  const std::string html = "<html><body>Bad Gateway</body></html>";
  EXPECT_FALSE(p.feed({reinterpret_cast<const uint8_t*>(html.data()), html.size()}, [](const PcapRecord&) {}));
  EXPECT_FALSE(p.error().empty());
  EXPECT_EQ(p.counters().damaged, 1u);
  EXPECT_FALSE(p.end());
}

}  // namespace
}  // namespace ws
