// open_sources(): which sources come back for a file and for each capture
// method, and that errors name the file or interface and the reason.
#include "dataplane/capture/open.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>

#include "dataplane/capture/afpacket_source.h"
#include "dataplane/capture/pcap_file_source.h"
#include "dataplane/capture/pcap_live_source.h"
#include "bench/pktgen/capture_image.h"

namespace ws {
namespace {

// An interface name that cannot exist on any host (15 characters).
constexpr const char* kNoSuchIface = "wsnosuchif0042";

TEST(OpenSources, FileGivesOneStableSource) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "ws-open-XXXXXX").string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  PcapImage w({});
  const std::vector<uint8_t> f(64, 0xab);
  w.add(f, 5);
  w.add(f, 6);
  std::string err;
  const std::string path = tmpl + "/a.pcap";
  ASSERT_TRUE(write_file(path, w.bytes(), &err)) << err;

  CaptureOptions o;
  o.file = path;
  o.workers = 4;  // a file is one stream whatever the worker count
  auto v = open_sources(o, &err);
  ASSERT_EQ(v.size(), 1u) << err;
  EXPECT_NE(dynamic_cast<PcapFileSource*>(v[0].get()), nullptr);
  EXPECT_TRUE(v[0]->stable_buffers());
  Packet p[4];
  EXPECT_EQ(v[0]->rx_burst(p, 4), 2);
  EXPECT_EQ(v[0]->rx_burst(p, 4), PacketSource::kEof);

  o.loop = true;
  v = open_sources(o, &err);
  ASSERT_EQ(v.size(), 1u) << err;
  int total = 0;
  for (int i = 0; i < 5; ++i) total += v[0]->rx_burst(p, 4);
  EXPECT_EQ(total, 20);  // looping: always a full burst
  std::filesystem::remove_all(tmpl);
}

TEST(OpenSources, RejectsContradictoryOrMissingChoices) {
  std::string err;
  CaptureOptions o;
  EXPECT_TRUE(open_sources(o, &err).empty());
  EXPECT_EQ(err, "no capture file or interface given");
  o.file = "x.pcap";
  o.iface = "eth0";
  EXPECT_TRUE(open_sources(o, &err).empty());
  EXPECT_EQ(err, "give either a capture file or an interface, not both");
  o.file.clear();
  o.iface = "lo";
  o.workers = 0;
  EXPECT_TRUE(open_sources(o, &err).empty());
  EXPECT_NE(err.find("workers 0"), std::string::npos) << err;
}

TEST(OpenSources, MissingFileNamesIt) {
  std::string err;
  CaptureOptions o;
  o.file = "/nonexistent/dir/capture.pcap";
  EXPECT_TRUE(open_sources(o, &err).empty());
  EXPECT_EQ(err, "/nonexistent/dir/capture.pcap: No such file or directory");
}

TEST(OpenSources, MissingInterfaceNamesIt) {
  std::string err;
  CaptureOptions o;
  o.iface = kNoSuchIface;
  EXPECT_TRUE(open_sources(o, &err).empty());
  EXPECT_EQ(err, std::string(kNoSuchIface) + ": no such interface");
  o.method = CaptureOptions::Method::kPcap;
  EXPECT_TRUE(open_sources(o, &err).empty());
  EXPECT_EQ(err.rfind(std::string(kNoSuchIface) + ": ", 0), 0u) << err;
  // Without privileges libpcap may refuse before it looks the name up.
  if (geteuid() == 0) {
    EXPECT_NE(err.find("no such interface"), std::string::npos) << err;
  }
}

TEST(OpenSources, AfPacketGivesOneSourcePerWorker) {
  if (geteuid() != 0) GTEST_SKIP() << "AF_PACKET needs root or CAP_NET_RAW";
  std::string err;
  CaptureOptions o;
  o.iface = "lo";
  o.workers = 3;
  o.ring_block_kb = 64;
  o.ring_blocks = 4;
  auto v = open_sources(o, &err);
  ASSERT_EQ(v.size(), 3u) << err;
  for (int i = 0; i < 3; ++i) {
    EXPECT_NE(dynamic_cast<AfPacketSource*>(v[size_t(i)].get()), nullptr);
    EXPECT_TRUE(v[size_t(i)]->live());
    EXPECT_EQ(v[size_t(i)]->name(), "afpacket:lo/" + std::to_string(i));
    v[size_t(i)]->stop();
    Packet p[8];
    EXPECT_EQ(v[size_t(i)]->rx_burst(p, 8), PacketSource::kEof);
  }
  // A bad ring geometry is refused with the reason.
  o.ring_block_kb = 3;
  EXPECT_TRUE(open_sources(o, &err).empty());
  EXPECT_NE(err.find("multiple of the page size"), std::string::npos) << err;
  // So is a filter that does not compile.
  o.ring_block_kb = 64;
  o.bpf = "tcp port";
  EXPECT_TRUE(open_sources(o, &err).empty());
  EXPECT_EQ(err.rfind("lo: filter \"tcp port\": ", 0), 0u) << err;
  o.method = CaptureOptions::Method::kPcap;
  EXPECT_TRUE(open_sources(o, &err).empty());
  EXPECT_EQ(err.rfind("lo: filter \"tcp port\": ", 0), 0u) << err;
}

TEST(OpenSources, PcapGivesOneSource) {
  if (geteuid() != 0) GTEST_SKIP() << "live capture needs root or CAP_NET_RAW";
  std::string err;
  CaptureOptions o;
  o.iface = "lo";
  o.method = CaptureOptions::Method::kPcap;
  o.workers = 4;
  o.bpf = "udp port 9";
  auto v = open_sources(o, &err);
  ASSERT_EQ(v.size(), 1u) << err;
  EXPECT_NE(dynamic_cast<PcapLiveSource*>(v[0].get()), nullptr);
  EXPECT_EQ(v[0]->name(), "pcap:lo");
  v[0]->stop();
  Packet p[8];
  EXPECT_EQ(v[0]->rx_burst(p, 8), PacketSource::kEof);
}

TEST(ParseCaptureMethod, KnowsEachName) {
  CaptureOptions::Method m = CaptureOptions::Method::kPcap;
  EXPECT_TRUE(parse_capture_method("afpacket", &m));
  EXPECT_EQ(m, CaptureOptions::Method::kAfPacket);
  EXPECT_TRUE(parse_capture_method("pcap", &m));
  EXPECT_EQ(m, CaptureOptions::Method::kPcap);
  EXPECT_TRUE(parse_capture_method("dpdk", &m));
  EXPECT_EQ(m, CaptureOptions::Method::kDpdk);
  EXPECT_FALSE(parse_capture_method("netmap", &m));
  EXPECT_EQ(m, CaptureOptions::Method::kDpdk) << "a refused name leaves the choice alone";
}

}  // namespace
}  // namespace ws
