// DpdkSource on virtual devices, without hugepages: a net_pcap port must
// deliver exactly the frames of its capture file, byte for byte and in
// order (read back through our own file source), hand them out in place
// (the mbuf is the packet's opaque handle and its data), and return every
// mbuf on release; bad ports and queue counts fail with their reason.
#include "dataplane/capture/dpdk_source.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "dataplane/capture/open.h"
#include "dataplane/capture/pcap_file_source.h"

namespace ws {
namespace {

std::string capture_file() {
  const char* p = std::getenv("WS_DPDK_PCAP");
  return p ? p : "";
}

// Every test runs in one EAL, started once with the same arguments.
std::vector<std::string> eal_args() {
  return {"--no-huge", "-m", "256", "--no-pci", "--no-shconf", "--no-telemetry", "-l", "0",
          "--log-level=*:error", "--vdev", "net_pcap0,rx_pcap=" + capture_file(), "--vdev", "net_null0",
          "--vdev", "net_pcap1,rx_pcap=" + capture_file()};
}

std::vector<std::unique_ptr<PacketSource>> open_port(const std::string& port, int queues, std::string* err,
                                                      int mbufs = 8191) {
  DpdkOptions o;
  o.eal_args = eal_args();
  o.port = port;
  o.queues = queues;
  o.mbufs = mbufs;
  return open_dpdk_sources(o, err);
}

TEST(DpdkSource, NetPcapDeliversTheFileFrameForFrame) {
  ASSERT_FALSE(capture_file().empty());
  std::string err;
  auto file = PcapFileSource::open(capture_file(), false, &err);
  ASSERT_TRUE(file) << err;
  auto dpdk = open_port("net_pcap0", 1, &err);
  ASSERT_EQ(dpdk.size(), 1u) << err;
  PacketSource& src = *dpdk[0];
  EXPECT_EQ(src.name(), "dpdk:net_pcap0/0");
  EXPECT_TRUE(src.live());

  Packet want[32], got[32];
  int nwant = 0, iwant = 0;
  uint64_t frames = 0, bytes = 0;
  int idle = 0;
  while (true) {
    if (iwant == nwant) {
      nwant = file->rx_burst(want, 32);
      iwant = 0;
      if (nwant == PacketSource::kEof) break;
    }
    const int n = src.rx_burst(got, 32);
    ASSERT_NE(n, PacketSource::kEof);
    if (n == 0) {
      ASSERT_LT(++idle, 100000) << "the port stopped after " << frames << " frames";
      continue;
    }
    for (int i = 0; i < n; ++i) {
      if (iwant == nwant) {
        nwant = file->rx_burst(want, 32);
        iwant = 0;
        ASSERT_NE(nwant, PacketSource::kEof) << "the port gave more frames than the file has";
      }
      const Packet& w = want[iwant++];
      ASSERT_NE(got[i].opaque, nullptr) << "the mbuf rides with the packet";
      ASSERT_EQ(got[i].caplen, w.caplen) << "frame " << frames;
      ASSERT_EQ(got[i].wirelen, w.caplen) << "frame " << frames;
      ASSERT_EQ(std::memcmp(got[i].data, w.data, w.caplen), 0) << "frame " << frames;
      ASSERT_EQ(got[i].link, LinkType::kEthernet);
      ++frames;
      bytes += w.caplen;
    }
    src.release(got, n);
    for (int i = 0; i < n; ++i) EXPECT_EQ(got[i].opaque, nullptr);
  }
  EXPECT_GT(frames, 1000u);
  // Nothing beyond the file.
  EXPECT_EQ(src.rx_burst(got, 32), 0);
  const SourceStats st = src.stats();
  EXPECT_EQ(st.packets, frames);
  EXPECT_EQ(st.bytes, bytes);
  EXPECT_EQ(st.kernel_drops, 0u);
  EXPECT_EQ(st.if_drops, 0u);
  const auto pc = src.port_counters();
  ASSERT_EQ(pc.size(), 3u);
  EXPECT_STREQ(pc[0].counter, "imissed");
  EXPECT_STREQ(pc[1].counter, "ierrors");
  EXPECT_STREQ(pc[2].counter, "rx_nombuf");
  for (const PortCounter& c : pc) {
    EXPECT_STREQ(c.family, "dpdk");
    EXPECT_EQ(c.port, "net_pcap0");
    EXPECT_EQ(c.value, 0u);
  }
  src.stop();
  EXPECT_EQ(src.rx_burst(got, 32), PacketSource::kEof);
}

TEST(DpdkSource, ReleasedMbufsGoBackToThePool) {
  // A pool far smaller than the file: reading it whole works only if each
  // burst's mbufs return to the pool. Holding them runs the pool dry, and
  // the port counts what it could not receive as rx_nombuf.
  std::string err;
  auto dpdk = open_port("net_pcap1", 1, &err, 511);
  ASSERT_EQ(dpdk.size(), 1u) << err;
  PacketSource& src = *dpdk[0];
  Packet got[32];
  uint64_t frames = 0;
  for (int idle = 0; idle < 1000;) {
    const int n = src.rx_burst(got, 32);
    if (n <= 0) {
      ++idle;
      continue;
    }
    frames += static_cast<uint64_t>(n);
    src.release(got, n);
  }
  EXPECT_GT(frames, 2000u) << "more frames than the pool has mbufs";
  EXPECT_EQ(src.stats().if_drops, 0u);
}

TEST(DpdkSource, RefusesWhatItCannotDo) {
  std::string err;
  EXPECT_TRUE(open_port("net_nosuch0", 1, &err).empty());
  EXPECT_NE(err.find("no such port"), std::string::npos) << err;
  EXPECT_NE(err.find("net_pcap0"), std::string::npos) << "the known ports are listed: " << err;
  EXPECT_NE(err.find("net_null0"), std::string::npos) << "the known ports are listed: " << err;

  err.clear();
  EXPECT_TRUE(open_port("net_null0", 0, &err).empty());
  EXPECT_NE(err.find("queues"), std::string::npos) << err;

  err.clear();
  EXPECT_TRUE(open_port("net_pcap0", 2, &err).empty()) << "one rx_pcap is one queue";
  EXPECT_NE(err.find("has 1 RX queues"), std::string::npos) << err;

  // The EAL runs once; other arguments cannot be honoured.
  DpdkOptions o;
  o.eal_args = {"--no-huge"};
  o.port = "net_null0";
  err.clear();
  EXPECT_TRUE(open_dpdk_sources(o, &err).empty());
  EXPECT_NE(err.find("already running"), std::string::npos) << err;
}

TEST(DpdkSource, CaptureFactoryOpensDpdkPortsAndRefusesBpf) {
  CaptureOptions::Method m;
  ASSERT_TRUE(parse_capture_method("dpdk", &m));
  EXPECT_EQ(m, CaptureOptions::Method::kDpdk);
  CaptureOptions co;
  co.method = CaptureOptions::Method::kDpdk;
  co.iface = "net_null0";
  co.dpdk_eal_args = eal_args();
  co.bpf = "tcp";
  std::string err;
  EXPECT_TRUE(open_sources(co, &err).empty());
  EXPECT_NE(err.find("BPF"), std::string::npos) << err;
  co.bpf.clear();
  err.clear();
  auto s = open_sources(co, &err);
  ASSERT_EQ(s.size(), 1u) << err;
  Packet p[8];
  // net_null makes up zero-filled frames as fast as asked.
  int n = 0;
  for (int i = 0; i < 100 && n <= 0; ++i) n = s[0]->rx_burst(p, 8);
  EXPECT_GT(n, 0);
  if (n > 0) s[0]->release(p, n);
  s.clear();

  // A stopped port opens again, here with one queue per worker.
  co.workers = 2;
  auto two = open_sources(co, &err);
  ASSERT_EQ(two.size(), 2u) << err;
  EXPECT_EQ(two[0]->name(), "dpdk:net_null0/0");
  EXPECT_EQ(two[1]->name(), "dpdk:net_null0/1");
  EXPECT_TRUE(two[1]->port_counters().empty()) << "port counters come from queue 0 only";
}

}  // namespace
}  // namespace ws
