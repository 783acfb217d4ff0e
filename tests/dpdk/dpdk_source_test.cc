// DpdkSource on virtual devices, without hugepages: a net_pcap port must
// deliver exactly the frames of its capture file, byte for byte and in
// order (read back through our own file source), hand them out in place
// (the mbuf is the packet's opaque handle and its data), and return every
// mbuf on release; bad ports and queue counts fail with their reason.
#include "dataplane/capture/dpdk_source.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
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

// A directory for the inline ports' output files, made once per process.
const std::string& out_dir() {
  static const std::string dir = [] {
    std::string t = "/tmp/ws-dpdk-test-XXXXXX";
    if (!mkdtemp(t.data())) return std::string("/tmp");
    // An empty capture: the b side of the inline pair receives nothing.
    const uint8_t hdr[24] = {0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0};
    FILE* f = std::fopen((t + "/empty.pcap").c_str(), "wb");
    if (f) {
      std::fwrite(hdr, 1, sizeof hdr, f);
      std::fclose(f);
    }
    return t;
  }();
  return dir;
}

// Every test runs in one EAL, started once with the same arguments.
std::vector<std::string> eal_args() {
  const std::string& d = out_dir();
  return {"--no-huge", "-m", "256", "--no-pci", "--no-shconf", "--no-telemetry", "-l", "0",
          "--log-level=*:error", "--vdev", "net_pcap0,rx_pcap=" + capture_file(), "--vdev", "net_null0",
          "--vdev", "net_pcap1,rx_pcap=" + capture_file(),
          "--vdev", "net_pcap2,rx_pcap=" + capture_file() + ",tx_pcap=" + d + "/a_out.pcap",
          "--vdev", "net_pcap3,rx_pcap=" + d + "/empty.pcap,tx_pcap=" + d + "/b_out.pcap"};
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

namespace ws {
namespace {

uint64_t counter(const std::vector<PortCounter>& pcs, const std::string& port, const std::string& name) {
  for (const PortCounter& c : pcs)
    if (c.port == port && name == c.counter && std::string(c.family) == "inline") return c.value;
  return ~0ull;
}

TEST(DpdkInline, ForwardsEveryFrameUnchangedWithoutACopy) {
  std::string err;
  DpdkInlineLink::Options o;
  o.pairs = {{"net_pcap2", "net_pcap3"}};
  o.eal_args = eal_args();
  auto links = DpdkInlineLink::open(o, &err);
  ASSERT_EQ(links.size(), 1u) << err;
  DpdkInlineLink& link = *links[0];
  ASSERT_EQ(link.ports(), 2);
  EXPECT_EQ(link.port_name(0), "net_pcap2");
  EXPECT_EQ(DpdkInlineLink::peer(0), 1);
  Packet got[32];
  uint64_t frames = 0;
  bool tagged = false;
  for (int idle = 0; idle < 2000;) {
    const int n = link.rx_burst(got, 32);
    ASSERT_NE(n, PacketSource::kEof);
    if (n == 0) {
      ++idle;
      continue;
    }
    for (int i = 0; i < n; ++i) {
      ASSERT_EQ(got[i].ifindex, 0) << "only the a side has frames";
      link.send(DpdkInlineLink::peer(got[i].ifindex), got[i].data, got[i].caplen);
    }
    if (!tagged) {
      // A frame that is not one of the burst's (a reject reply, a shaped
      // frame) and one with a tag to put back are copied; the tag keeps
      // its TPID (here an 802.1ad service tag).
      link.send(0, got[0].data, got[0].caplen, uint32_t{kTpid8021ad} << 16 | 42);
      tagged = true;
    }
    frames += static_cast<uint64_t>(n);
    link.flush();
    link.release();
  }
  const auto pcs = link.port_counters();
  EXPECT_EQ(counter(pcs, "net_pcap2", "rx_packets"), frames);
  EXPECT_EQ(counter(pcs, "net_pcap3", "tx_packets"), frames);
  EXPECT_EQ(counter(pcs, "net_pcap3", "tx_copied"), 0u) << "forwarded frames leave in their own mbufs";
  EXPECT_EQ(counter(pcs, "net_pcap2", "tx_copied"), 1u);
  EXPECT_EQ(counter(pcs, "net_pcap2", "tx_packets"), 1u);
  EXPECT_EQ(counter(pcs, "net_pcap3", "tx_busy"), 0u);
  links.clear();  // stops the ports: net_pcap closes its output files

  // The b side wrote exactly the a side's input.
  auto in = PcapFileSource::open(capture_file(), false, &err);
  auto outb = PcapFileSource::open(out_dir() + "/b_out.pcap", false, &err);
  ASSERT_TRUE(in && outb) << err;
  Packet w[1], g[1];
  uint64_t same = 0;
  for (;;) {
    const int a = in->rx_burst(w, 1), b = outb->rx_burst(g, 1);
    ASSERT_EQ(a == PacketSource::kEof, b == PacketSource::kEof) << "after " << same << " frames";
    if (a == PacketSource::kEof) break;
    ASSERT_EQ(w[0].caplen, g[0].caplen) << "frame " << same;
    ASSERT_EQ(std::memcmp(w[0].data, g[0].data, w[0].caplen), 0) << "frame " << same;
    ++same;
  }
  EXPECT_EQ(same, frames);
  // The tagged copy went out of a with its 802.1ad tag inserted.
  auto outa = PcapFileSource::open(out_dir() + "/a_out.pcap", false, &err);
  ASSERT_TRUE(outa) << err;
  ASSERT_EQ(outa->rx_burst(g, 1), 1);
  EXPECT_EQ(g[0].data[12], 0x88);
  EXPECT_EQ(g[0].data[13], 0xa8);
  EXPECT_EQ(g[0].data[14], 0);
  EXPECT_EQ(g[0].data[15], 42);
  outa.reset();
  outb.reset();
  std::filesystem::remove_all(out_dir());
}

}  // namespace
}  // namespace ws
