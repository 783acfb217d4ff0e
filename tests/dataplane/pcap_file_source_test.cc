// PcapFileSource over files written into a temp dir: truncation at every
// offset, damage, unsupported link types, loop, and a cross-check against
// libpcap's own reader.
#include "dataplane/capture/pcap_file_source.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "bench/pktgen/capture_image.h"

namespace ws {
namespace {

std::vector<uint8_t> frame(size_t len, uint8_t seed) {
  std::vector<uint8_t> f(len);
  for (size_t i = 0; i < len; ++i) f[i] = uint8_t(seed * 13 + i * 5);
  return f;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ws-pcap-XXXXXX").string();
    char* d = mkdtemp(tmpl.data());
    EXPECT_NE(d, nullptr);
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

  std::string write(const std::string& name, std::span<const uint8_t> bytes) const {
    std::string err;
    const std::string p = file(name);
    EXPECT_TRUE(write_file(p, bytes, &err)) << err;
    return p;
  }

 private:
  std::string path_;
};

struct Got {
  std::vector<Packet> pkts;
  int bursts = 0;
};

// Reads to EOF in bursts of `burst`.
Got drain(PacketSource& s, int burst = 4) {
  Got g;
  std::vector<Packet> buf(static_cast<size_t>(burst));
  for (;;) {
    const int n = s.rx_burst(buf.data(), burst);
    if (n == PacketSource::kEof) return g;
    EXPECT_GT(n, 0) << "a file source has no idle bursts";
    if (n <= 0) return g;
    ++g.bursts;
    g.pkts.insert(g.pkts.end(), buf.begin(), buf.begin() + n);
  }
}

TEST(PcapFileSource, ReadsAllPacketsZeroCopy) {
  TempDir dir;
  PcapImage w({});
  std::vector<std::vector<uint8_t>> frames;
  for (int i = 0; i < 10; ++i) {
    frames.push_back(frame(size_t(60 + i), uint8_t(i)));
    w.add(frames.back(), 1000000000ull * uint64_t(i + 1) + 7000);
  }
  const std::string path = dir.write("ten.pcap", w.bytes());
  std::string err;
  auto src = PcapFileSource::open(path, false, &err);
  ASSERT_TRUE(src) << err;
  EXPECT_TRUE(src->stable_buffers());
  EXPECT_FALSE(src->live());
  EXPECT_EQ(src->name(), path);
  const Got g = drain(*src, 3);
  ASSERT_EQ(g.pkts.size(), 10u);
  EXPECT_EQ(g.bursts, 4);  // 3 + 3 + 3 + 1
  uint64_t bytes = 0;
  for (size_t i = 0; i < 10; ++i) {
    const Packet& p = g.pkts[i];
    ASSERT_EQ(p.caplen, frames[i].size());
    EXPECT_EQ(std::vector<uint8_t>(p.data, p.data + p.caplen), frames[i]);
    EXPECT_EQ(p.ts_ns, 1000000000ull * (i + 1) + 7000);
    EXPECT_EQ(p.link, LinkType::kEthernet);
    EXPECT_TRUE(p.flags & kPktFileIndex);
    EXPECT_EQ(p.file_index, i + 1) << "the record's number in the file (EVE pcap_cnt)";
    bytes += p.wirelen;
  }
  // Views stay valid after later bursts: they point into the mapping.
  EXPECT_EQ(std::vector<uint8_t>(g.pkts[0].data, g.pkts[0].data + 60), frames[0]);
  EXPECT_EQ(src->stats().packets, 10u);
  EXPECT_EQ(src->stats().bytes, bytes);
  EXPECT_EQ(src->stats().truncated, 0u);
  EXPECT_TRUE(src->error().empty());
  Packet p;
  EXPECT_EQ(src->rx_burst(&p, 1), PacketSource::kEof);
}

TEST(PcapFileSource, OpenErrorsNameTheFileAndReason) {
  TempDir dir;
  std::string err;
  EXPECT_FALSE(PcapFileSource::open(dir.file("missing.pcap"), false, &err));
  EXPECT_EQ(err, dir.file("missing.pcap") + ": No such file or directory");

  const std::string text = "hello, this is not a capture\n";
  const std::string txt = dir.write("notes.txt", {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  EXPECT_FALSE(PcapFileSource::open(txt, false, &err));
  EXPECT_EQ(err, txt + ": offset 0: not a pcap or pcapng file (magic 0x6c6c6568)");

  const std::string empty = dir.write("empty.pcap", {});
  EXPECT_FALSE(PcapFileSource::open(empty, false, &err));
  EXPECT_EQ(err, empty + ": empty file, not a capture file");

  EXPECT_FALSE(PcapFileSource::open(dir.file(""), false, &err));
  EXPECT_NE(err.find("not a regular file"), std::string::npos) << err;

  if (geteuid() != 0) {  // root reads anything
    PcapImage w({});
    const std::string locked = dir.write("locked.pcap", w.bytes());
    std::filesystem::permissions(locked, std::filesystem::perms::none);
    EXPECT_FALSE(PcapFileSource::open(locked, false, &err));
    EXPECT_EQ(err, locked + ": Permission denied");
  }
}

// Truncates `img` at every length and checks that the source delivers
// exactly the records that are complete, and names the cut record.
// `records` holds [start, end) of each packet record, `items` the start of
// every header/record/block.
void truncate_everywhere(const std::vector<uint8_t>& img, size_t header_len,
                         const std::vector<std::pair<size_t, size_t>>& records,
                         const std::vector<size_t>& items) {
  TempDir dir;
  std::vector<std::vector<uint8_t>> whole;
  {
    std::string err;
    auto src = PcapFileSource::open(dir.write("whole", img), false, &err);
    ASSERT_TRUE(src) << err;
    for (const Packet& p : drain(*src).pkts) whole.emplace_back(p.data, p.data + p.caplen);
    ASSERT_EQ(whole.size(), records.size());
  }
  for (size_t t = 0; t <= img.size(); ++t) {
    SCOPED_TRACE("truncated at " + std::to_string(t));
    const std::string path = dir.write("cut", {img.data(), t});
    std::string err;
    auto src = PcapFileSource::open(path, false, &err);
    if (t < header_len) {
      EXPECT_FALSE(src);
      EXPECT_EQ(err.rfind(path + ": ", 0), 0u) << err;
      continue;
    }
    ASSERT_TRUE(src) << err;
    const Got g = drain(*src);
    size_t complete = 0;
    for (const auto& r : records) complete += r.second <= t;
    EXPECT_EQ(g.pkts.size(), complete);
    for (size_t i = 0; i < g.pkts.size(); ++i)
      EXPECT_EQ(std::vector<uint8_t>(g.pkts[i].data, g.pkts[i].data + g.pkts[i].caplen), whole[i]);
    bool boundary = t == img.size();
    size_t cut = 0;
    for (size_t s : items) {
      if (s == t) boundary = true;
      if (s < t) cut = s;
    }
    if (boundary) {
      EXPECT_EQ(src->error(), "");
      EXPECT_EQ(src->stats().truncated, 0u);
    } else {
      EXPECT_EQ(src->stats().truncated, 1u);
      EXPECT_EQ(src->error().rfind(path + ": offset " + std::to_string(cut) + ": ", 0), 0u)
          << src->error();
    }
  }
}

TEST(PcapFileSource, ClassicTruncatedAtEveryOffset) {
  PcapImage w({});
  std::vector<std::pair<size_t, size_t>> recs;
  std::vector<size_t> items = {0};
  for (size_t len : {60, 1, 100, 0, 42}) {
    const size_t s = w.bytes().size();
    items.push_back(s);
    w.add(frame(len, uint8_t(len)), 1);
    recs.emplace_back(s, w.bytes().size());
  }
  truncate_everywhere(w.bytes(), 24, recs, items);
}

TEST(PcapFileSource, PcapngTruncatedAtEveryOffset) {
  PcapngImage w;
  const size_t shb_len = w.bytes().size();
  std::vector<std::pair<size_t, size_t>> recs;
  std::vector<size_t> items = {0};
  auto packet = [&](auto add) {
    const size_t s = w.bytes().size();
    items.push_back(s);
    add();
    recs.emplace_back(s, w.bytes().size());
  };
  items.push_back(w.bytes().size());
  w.interface(1, 0, 9);
  packet([&] { w.epb(0, frame(61, 1), 10); });
  items.push_back(w.bytes().size());
  w.block(0xBAD, frame(9, 2));
  packet([&] { w.spb(frame(30, 3)); });
  packet([&] { w.epb(0, frame(5, 4), 20); });
  truncate_everywhere(w.bytes(), shb_len, recs, items);
}

TEST(PcapFileSource, DamagedRecordStopsWithOffset) {
  TempDir dir;
  PcapImage w({});
  w.add(frame(60, 1), 1);
  w.add(frame(60, 2), 2);
  const size_t at = w.bytes().size();
  std::vector<uint8_t> junk(64, 0xee);
  w.add_raw(3, 0, 70000, 70000, junk);
  w.add(frame(60, 3), 4);  // after the damage: never reached
  const std::string path = dir.write("damaged.pcap", w.bytes());
  std::string err;
  auto src = PcapFileSource::open(path, false, &err);
  ASSERT_TRUE(src) << err;
  const Got g = drain(*src, 32);
  EXPECT_EQ(g.pkts.size(), 2u);
  EXPECT_EQ(src->stats().truncated, 1u);
  EXPECT_EQ(src->error(),
            path + ": offset " + std::to_string(at) + ": record length 70000 exceeds snaplen 65535");
}

TEST(PcapFileSource, UnsupportedLinkTypesAreCountedAndSkipped) {
  TempDir dir;
  PcapngImage w;
  w.interface(1, 0, 9);
  w.interface(147, 0, 9);  // LINKTYPE_USER0: not decoded
  w.interface(12, 0, 9);   // DLT_RAW as OpenBSD writes it: same as 101
  w.epb(0, frame(60, 1), 1);
  w.epb(1, frame(60, 2), 2);
  w.epb(1, frame(60, 3), 3);
  w.epb(2, frame(40, 4), 4);
  w.epb(0, frame(60, 5), 5);
  std::string err;
  auto src = PcapFileSource::open(dir.write("mixed.pcapng", w.bytes()), false, &err);
  ASSERT_TRUE(src) << err;
  const Got g = drain(*src, 32);
  ASSERT_EQ(g.pkts.size(), 3u);
  EXPECT_EQ(g.pkts[0].ts_ns, 1u);
  EXPECT_EQ(g.pkts[0].link, LinkType::kEthernet);
  EXPECT_EQ(g.pkts[0].ifindex, 0u);
  EXPECT_EQ(g.pkts[1].ts_ns, 4u);
  EXPECT_EQ(g.pkts[1].link, LinkType::kRaw);
  EXPECT_EQ(g.pkts[1].ifindex, 2u);
  EXPECT_EQ(g.pkts[2].ts_ns, 5u);
  EXPECT_EQ(src->stats().unsupported_link, 2u);
  EXPECT_EQ(src->stats().packets, 3u);
  EXPECT_TRUE(src->error().empty());

  // A classic file of a foreign link type delivers nothing, counts all.
  PcapImage::Options o;
  o.linktype = 147;
  PcapImage c(o);
  for (int i = 0; i < 4; ++i) c.add(frame(20, uint8_t(i)), uint64_t(i));
  auto csrc = PcapFileSource::open(dir.write("user0.pcap", c.bytes()), true, &err);
  ASSERT_TRUE(csrc) << err;
  // With loop on, a file with nothing to deliver must still end.
  EXPECT_EQ(drain(*csrc).pkts.size(), 0u);
  EXPECT_EQ(csrc->stats().unsupported_link, 4u);
}

TEST(PcapFileSource, LoopKeepsTimeMovingForward) {
  TempDir dir;
  PcapImage w({});
  const uint64_t s = 1000000000;
  const std::vector<uint64_t> ts = {10 * s, 10 * s + s / 2, 12 * s};
  for (size_t i = 0; i < ts.size(); ++i) w.add(frame(50 + i, uint8_t(i)), ts[i]);
  std::string err;
  auto src = PcapFileSource::open(dir.write("loop.pcap", w.bytes()), true, &err);
  ASSERT_TRUE(src) << err;
  std::vector<Packet> got;
  Packet buf[4];
  while (got.size() < 20) {
    const int n = src->rx_burst(buf, 4);
    ASSERT_GT(n, 0);
    got.insert(got.end(), buf, buf + n);
  }
  // Each pass is shifted by last - first + 1 s = 3 s.
  const uint64_t step = ts.back() - ts.front() + s;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].ts_ns, ts[i % 3] + step * (i / 3)) << i;
    EXPECT_EQ(got[i].caplen, 50 + i % 3);
    if (i > 0) {
      EXPECT_GT(got[i].ts_ns, got[i - 1].ts_ns);
    }
    // Every pass hands out the same bytes of the same mapping.
    EXPECT_EQ(got[i].data, got[i % 3].data);
  }
  EXPECT_GE(src->passes(), 6u);
  src->stop();
  EXPECT_EQ(src->rx_burst(buf, 4), PacketSource::kEof);
  EXPECT_GE(src->stats().packets, 20u);
}

// A clock that moves only when the source sleeps on it.
struct FakeClock final : ReplayClock {
  uint64_t now = 500 * 1000000000ull;
  std::vector<uint64_t> sleeps;
  uint64_t now_ns() override { return now; }
  void sleep_ns(uint64_t ns) override {
    sleeps.push_back(ns);
    now += ns;
  }
};

// Reads with a paced source until `want` packets came, noting the clock
// reading at which each one was handed out.
std::vector<std::pair<Packet, uint64_t>> paced_read(PcapFileSource& src, FakeClock& clock, size_t want) {
  std::vector<std::pair<Packet, uint64_t>> got;
  Packet buf[4];
  for (int calls = 0; got.size() < want && calls < 100000; ++calls) {
    const int n = src.rx_burst(buf, 4);
    if (n == PacketSource::kEof) break;
    for (int i = 0; i < n; ++i) got.emplace_back(buf[i], clock.now);
  }
  return got;
}

TEST(PcapFileSource, ReplaySpeedHandsPacketsOutAtTheirRecordedPace) {
  TempDir dir;
  PcapImage w({});
  const uint64_t s = 1000000000;
  const std::vector<uint64_t> ts = {10 * s, 10 * s + s / 2, 10 * s + s / 2, 12 * s};
  for (size_t i = 0; i < ts.size(); ++i) w.add(frame(60, uint8_t(i)), ts[i]);
  const std::string path = dir.write("paced.pcap", w.bytes());
  for (const double speed : {1.0, 2.0, 0.5}) {
    SCOPED_TRACE(speed);
    std::string err;
    auto src = PcapFileSource::open(path, false, &err);
    ASSERT_TRUE(src) << err;
    FakeClock clock;
    src->set_replay_speed(speed, &clock);
    const uint64_t start = clock.now;
    const auto got = paced_read(*src, clock, ts.size());
    ASSERT_EQ(got.size(), ts.size());
    for (size_t i = 0; i < got.size(); ++i) {
      // Timestamps stay those of the file; only the hand-out is paced.
      EXPECT_EQ(got[i].first.ts_ns, ts[i]) << i;
      const auto due = start + uint64_t(double(ts[i] - ts[0]) / speed);
      EXPECT_GE(got[i].second, due) << i;
      // The source never sleeps past a due packet by more than its nap.
      EXPECT_LT(got[i].second, due + PcapFileSource::kMaxReplayNapNs) << i;
    }
    for (const uint64_t nap : clock.sleeps) EXPECT_LE(nap, PcapFileSource::kMaxReplayNapNs);
    Packet buf[4];
    EXPECT_EQ(src->rx_burst(buf, 4), PacketSource::kEof);
    EXPECT_EQ(src->stats().packets, ts.size());
  }
}

TEST(PcapFileSource, ReplaySpeedPacesEveryLoopPassAndStops) {
  TempDir dir;
  PcapImage w({});
  const uint64_t s = 1000000000;
  w.add(frame(60, 1), 10 * s);
  w.add(frame(60, 2), 11 * s);
  std::string err;
  auto src = PcapFileSource::open(dir.write("paced-loop.pcap", w.bytes()), true, &err);
  ASSERT_TRUE(src) << err;
  FakeClock clock;
  src->set_replay_speed(1.0, &clock);
  const uint64_t start = clock.now;
  const auto got = paced_read(*src, clock, 6);
  ASSERT_EQ(got.size(), 6u);
  // A pass lasts last - first + 1 s = 2 s, on the clock as in the timestamps.
  for (size_t i = 0; i < got.size(); ++i) {
    const uint64_t due = start + (got[i].first.ts_ns - 10 * s);
    EXPECT_EQ(got[i].first.ts_ns, 10 * s + (i % 2) * s + (i / 2) * 2 * s) << i;
    EXPECT_GE(got[i].second, due) << i;
    EXPECT_LT(got[i].second, due + PcapFileSource::kMaxReplayNapNs) << i;
  }
  // stop() ends a source that is waiting for its next packet.
  Packet buf[4];
  EXPECT_EQ(src->rx_burst(buf, 4), 0);
  src->stop();
  EXPECT_EQ(src->rx_burst(buf, 4), PacketSource::kEof);
}

TEST(PcapFileSource, ReplaySpeedZeroReadsAsFastAsPossible) {
  TempDir dir;
  PcapImage w({});
  const uint64_t s = 1000000000;
  for (int i = 0; i < 5; ++i) w.add(frame(60, uint8_t(i)), uint64_t(10 + 100 * i) * s);
  std::string err;
  auto src = PcapFileSource::open(dir.write("fast.pcap", w.bytes()), false, &err);
  ASSERT_TRUE(src) << err;
  FakeClock clock;
  src->set_replay_speed(0, &clock);
  EXPECT_EQ(drain(*src).pkts.size(), 5u);
  EXPECT_TRUE(clock.sleeps.empty());
}

// libpcap's reader is the reference: same count, lengths, times and bytes.
void cross_check(const std::string& path) {
  SCOPED_TRACE(path);
  char errbuf[PCAP_ERRBUF_SIZE];
  pcap_t* ref = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  ASSERT_NE(ref, nullptr) << errbuf;
  std::string err;
  auto src = PcapFileSource::open(path, false, &err);
  ASSERT_TRUE(src) << err;
  const Got g = drain(*src, 7);
  size_t i = 0;
  pcap_pkthdr* h;
  const u_char* data;
  int rc;
  while ((rc = pcap_next_ex(ref, &h, &data)) == 1) {
    ASSERT_LT(i, g.pkts.size());
    const Packet& p = g.pkts[i++];
    EXPECT_EQ(p.caplen, h->caplen);
    EXPECT_EQ(p.wirelen, h->len);
    EXPECT_EQ(p.ts_ns, uint64_t(h->ts.tv_sec) * 1000000000u + uint64_t(h->ts.tv_usec));
    EXPECT_EQ(0, memcmp(p.data, data, h->caplen));
  }
  EXPECT_EQ(rc, PCAP_ERROR_BREAK) << pcap_geterr(ref);
  EXPECT_EQ(i, g.pkts.size());
  EXPECT_GT(i, 10u);
  pcap_close(ref);
}

TEST(PcapFileSource, AgreesWithLibpcapOnClassicPcap) {
  TempDir dir;
  for (bool big : {false, true}) {
    for (bool nanos : {false, true}) {
      PcapImage::Options o;
      o.big_endian = big;
      o.nanos = nanos;
      PcapImage w(o);
      for (int i = 0; i < 40; ++i)
        w.add(frame(size_t(14 + (i * 97) % 1500), uint8_t(i)),
              1700000000000000000ull + uint64_t(i) * 123456789ull, i % 3 ? 0 : 1600);
      std::string name = big ? "be" : "le";
      name += nanos ? "-ns.pcap" : "-us.pcap";
      cross_check(dir.write(name, w.bytes()));
    }
  }
}

TEST(PcapFileSource, AgreesWithLibpcapOnPcapng) {
  TempDir dir;
  for (bool big : {false, true}) {
    PcapngImage w(big);
    // libpcap wants one link type and snaplen per file; resolutions may differ.
    w.interface(1, 0, 9);
    w.interface(1, 0, 0x80 | 20);
    w.interface(1, 0);
    w.block(0xBAD, frame(10, 1));
    for (int i = 0; i < 30; ++i) {
      const uint64_t sec = 1700000000ull + uint64_t(i);
      const auto f = frame(size_t(20 + (i * 61) % 1400), uint8_t(i));
      switch (i % 3) {
        case 0: w.epb(0, f, sec * 1000000000u + uint64_t(i) * 777); break;
        case 1: w.epb(1, f, (sec << 20) + uint64_t(i) * 4099); break;
        case 2: w.epb(2, f, sec * 1000000u + uint64_t(i) * 11, 1514); break;
      }
    }
    cross_check(dir.write(std::string("x") + (big ? "be" : "le") + ".pcapng", w.bytes()));
  }
}

}  // namespace
}  // namespace ws
