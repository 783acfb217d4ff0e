// Cross-checks builder and generator output with Wireshark's dissectors
// (suite integration): tshark must find every checksum good, no malformed
// packet and no error-level expert info, and must find the packets that
// were spoiled on purpose bad, which proves it was checking at all.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "bench/pktgen/builder.h"
#include "bench/pktgen/generator.h"

namespace {

using namespace ws::pktgen;

std::string temp_path(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  std::string d = dir && *dir ? dir : "/tmp";
  return d + "/tshark_" + std::to_string(getpid()) + "_" + name;
}

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = pclose(p);
  EXPECT_EQ(rc, 0) << cmd;
  return out;
}

// Application payloads are random bytes; decode the server ports as plain
// data so that only Ethernet..transport are judged.
const char* kChecks =
    " -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE"
    " -o sctp.checksum:crc-32c -d tcp.port==80,data -d tcp.port==443,data"
    " -d udp.port==443,data -d udp.port==40000-40100,data -d udp.port==1-9,data"
    " -d tcp.port==1-9,data -d sctp.port==100,data";

// Per frame: number, then the checksum status fields (1 good, 0 bad),
// separated by ';' (several values of one field by ',').
std::vector<std::string> statuses(const std::string& path) {
  std::string out = run("tshark -n -r " + path + kChecks +
                        " -T fields -E 'separator=;' -e frame.number -e ip.checksum.status"
                        " -e tcp.checksum.status -e udp.checksum.status -e icmp.checksum.status"
                        " -e icmpv6.checksum.status -e sctp.checksum.status -e gre.checksum.status"
                        " 2>/dev/null");
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

std::string errors(const std::string& path, const std::string& extra_filter = "") {
  return run("tshark -n -r " + path + kChecks + " -Y '(_ws.malformed || _ws.expert.severity >= error)" +
             extra_filter + "' 2>/dev/null");
}

bool tshark_present() {
  return std::system("tshark --version >/dev/null 2>&1") == 0;
}

TEST(Tshark, BuilderPacketsHaveGoodChecksumsAndSpoiledOnesAreBad) {
  if (!tshark_present()) GTEST_SKIP() << "tshark not installed (deploy/setup.sh test)";
  std::string path = temp_path("b.pcap");
  PcapWriter w;
  ASSERT_TRUE(w.open(path, 1));
  uint64_t ts = 1700000000000000000ull;
  int n = 0;
  auto put = [&](Builder& b) {
    auto f = b.finish();
    ASSERT_TRUE(w.write(ts += 1000000, f, static_cast<uint32_t>(b.wire_len())));
    ++n;
  };
  uint8_t ra[] = {0x94, 4, 0, 0};
  Ipv4Opts o4;
  o4.options = ra;
  o4.tos = 0xb8;
  o4.df = true;
  uint8_t d[7] = {1, 2, 3, 4, 5, 6, 7};
  Ip6 segs[1] = {ip6("2001:db8::77")};
  GreOpts g;
  g.checksum = true;
  g.has_seq = true;
  g.seq = 9;
  Builder b;
  put(b.reset().eth().vlan(10).ipv4("10.0.0.1", "10.0.0.2").tcp(40000, 80, TCP_SYN).payload("GET /"));
  put(b.reset().eth().qinq(100, 200).ipv6("2001:db8::1", "2001:db8::2").udp(5, 6).payload("hello"));
  put(b.reset()
          .eth()
          .mpls(16)
          .mpls(17)
          .ipv4("1.2.3.4", "5.6.7.8")
          .icmp_echo(true, 7, 1)
          .payload_pattern(56, 5));
  put(b.reset().eth().ipv4("10.0.0.1", "10.0.0.2", o4).udp(1, 2).payload_fill(3, 7).pad_to(60));
  put(b.reset()
          .eth()
          .ipv6("2001:db8::1", "2001:db8::2")
          .hop_by_hop()
          .dest_opts()
          .routing(0, 1, segs)
          .tcp(5, 6, TCP_ACK | TCP_PSH)
          .payload("xyz"));
  put(b.reset().eth().ipv6("2001:db8::1", "2001:db8::2").icmpv6_echo(true, 1, 2).payload("ping"));
  put(b.reset().eth().ipv4("10.0.0.1", "10.0.0.2").sctp(100, 200, 5).sctp_data(1, 0, 0, 0, d));
  put(b.reset()
          .eth()
          .ipv4("10.0.0.1", "10.0.0.2")
          .gre(g)
          .ipv4("192.168.0.1", "192.168.0.2")
          .tcp(1, 2, TCP_SYN));
  put(b.reset()
          .eth()
          .vlan(5)
          .ipv6("2001:db8::1", "2001:db8::2")
          .gre()
          .ipv6("::1", "::2")
          .udp(3, 4)
          .payload("in"));
  put(b.reset()
          .eth()
          .ipv4("10.0.0.1", "10.0.0.2")
          .tcp(40000, 80, TCP_ACK)
          .payload_fill(500, 1)
          .truncate(100));
  const int good = n;
  put(b.reset().eth().ipv4("10.0.0.1", "10.0.0.2").tcp(40001, 80, TCP_SYN).bad_checksum());
  put(b.reset().eth().ipv4("10.0.0.1", "10.0.0.2").bad_checksum().udp(1, 2).payload("abc"));
  put(b.reset().eth().ipv6("::1", "::2").udp(1, 2).payload("abc").bad_checksum());
  put(b.reset().eth().ipv4("10.0.0.1", "10.0.0.2").sctp(100, 200).sctp_data(2, 0, 0, 0, d).bad_checksum());
  ASSERT_TRUE(w.close());

  auto lines = statuses(path);
  ASSERT_EQ(lines.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    bool has_bad = lines[i].find(";0") != std::string::npos || lines[i].find(",0") != std::string::npos;
    bool has_good = lines[i].find('1', lines[i].find(';')) != std::string::npos;
    if (i < good) {
      EXPECT_FALSE(has_bad) << "frame " << i + 1 << ": " << lines[i];
      EXPECT_TRUE(has_good) << "frame " << i + 1 << " had no verified checksum: " << lines[i];
    } else {
      EXPECT_TRUE(has_bad) << "frame " << i + 1 << " should have a bad checksum: " << lines[i];
    }
  }
  // Nothing malformed among the good frames (the truncated one is cut on
  // purpose and excluded).
  std::string errs = errors(path, " && frame.number <= " + std::to_string(good - 1));
  EXPECT_EQ(errs, "") << errs;
  std::remove(path.c_str());
}

TEST(Tshark, GeneratedCaptureIsClean) {
  if (!tshark_present()) GTEST_SKIP() << "tshark not installed (deploy/setup.sh test)";
  GenConfig cfg;
  cfg.packets = 30000;
  cfg.flows = 800;
  cfg.seed = 42;
  std::string path = temp_path("g.pcap");
  GenTruth t;
  std::string err;
  ASSERT_TRUE(write_capture(cfg, path, t, err)) << err;
  auto lines = statuses(path);
  ASSERT_EQ(lines.size(), cfg.packets);
  size_t verified = 0;
  for (const auto& l : lines) {
    EXPECT_EQ(l.find(";0"), std::string::npos) << l;
    EXPECT_EQ(l.find(",0"), std::string::npos) << l;
    if (l.find('1', l.find(';')) != std::string::npos) ++verified;
  }
  // Every frame but IPv6 fragments (no checksum until reassembled) has a
  // checksum that tshark verified.
  EXPECT_GE(verified, cfg.packets - t.fragment_packets);
  std::string errs = errors(path);
  EXPECT_EQ(errs.substr(0, 2000), "");
  std::remove(path.c_str());
}

}  // namespace
