// Captures the datagrams of the real IPFIX (uniflow and biflow) and NetFlow
// v9 exporters, writes them to a pcap file and has tshark's cflow dissector
// decode it: no malformed packets or expert infos (which include
// Wireshark's own sequence-number analysis), and every field value as
// exported, record by record.
#include <gtest/gtest.h>

#include <ctime>
#include <sstream>

#include "telemetry/ipfix.h"
#include "telemetry/netflow9.h"
#include "tests/integration/ipfix_test_support.h"

namespace ws {
namespace {

using namespace ws::testing;

constexpr uint64_t kSec = 1000000000ull;
constexpr uint64_t kMs = 1000000ull;
constexpr uint64_t kT0 = 1700000000ull * kSec;
constexpr uint64_t kBoot = kT0 - 10 * kSec;

enum class Mode { kIpfix, kIpfixBiflow, kNetflow9 };

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  if (!s.empty() && s.back() == sep) out.push_back("");
  return out;
}

std::string addr_text(const uint8_t* a, int family) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family == 6 ? AF_INET6 : AF_INET, a, buf, sizeof buf);
  return buf;
}

// "Nov 14, 2023 22:14:14.432000000 UTC" → ms since the epoch.
uint64_t abs_ms(const std::string& s) {
  std::tm tm{};
  const char* rest = strptime(s.c_str(), "%b %d, %Y %H:%M:%S", &tm);
  if (!rest || *rest != '.') return 0;
  return uint64_t(timegm(&tm)) * 1000 + uint64_t(std::strtoul(std::string(rest + 1, 3).c_str(), nullptr, 10));
}

// "64.432000000" (seconds of uptime) → ms.
uint64_t rel_ms(const std::string& s) {
  const size_t dot = s.find('.');
  if (dot == std::string::npos) return std::strtoull(s.c_str(), nullptr, 10) * 1000;
  return std::strtoull(s.substr(0, dot).c_str(), nullptr, 10) * 1000 +
         std::strtoull(s.substr(dot + 1, 3).c_str(), nullptr, 10);
}

// Values per exported record, in export order, derived from the flows.
struct Want {
  std::vector<std::string> v4src, v4dst, v6src, v6dst;
  std::vector<uint64_t> sport, dport, proto, octets, packets, flags, vlan, ifindex, reason, start_ms, end_ms;
  size_t records = 0;
};

void add_dir(Want& w, const FlowRecord& r, int d) {
  const uint8_t* src = d == 0 ? r.key.src : r.key.dst;
  const uint8_t* dst = d == 0 ? r.key.dst : r.key.src;
  (r.key.family == 6 ? w.v6src : w.v4src).push_back(addr_text(src, r.key.family));
  (r.key.family == 6 ? w.v6dst : w.v4dst).push_back(addr_text(dst, r.key.family));
  const bool icmp = r.key.proto == 1 || r.key.proto == 58;
  w.sport.push_back(icmp ? 0 : (d == 0 ? r.key.sport : r.key.dport));
  w.dport.push_back(icmp ? uint64_t(r.icmp_type[d] << 8 | r.icmp_code[d])
                         : (d == 0 ? r.key.dport : r.key.sport));
  w.proto.push_back(r.key.proto);
  w.vlan.push_back(r.vlan[0]);
  w.ifindex.push_back(r.ifindex);
  w.reason.push_back(uint64_t(r.reason));
  ++w.records;
}

void add_counts(Want& w, const FlowRecord& r, int d, uint64_t start_ns, uint64_t end_ns, bool v9) {
  w.octets.push_back(r.l3_bytes[d]);
  w.packets.push_back(r.pkts[d]);
  w.flags.push_back(r.tcp_flags[d]);
  w.start_ms.push_back(v9 ? (start_ns - kBoot) / kMs : start_ns / kMs);
  w.end_ms.push_back(v9 ? (end_ns - kBoot) / kMs : end_ns / kMs);
}

Want expected(const std::vector<FlowRecord>& flows, Mode mode) {
  Want w;
  const bool v9 = mode == Mode::kNetflow9;
  for (const FlowRecord& r : flows) {
    if (mode == Mode::kIpfixBiflow) {
      add_dir(w, r, 0);
      // Template order: forward start, end, octets, packets, then reverse.
      add_counts(w, r, 0, r.start_ns, r.end_ns, false);
      add_counts(w, r, 1, r.dir_start_ns[1], r.dir_end_ns[1], false);
      continue;
    }
    for (int d = 0; d < 2; ++d) {
      if (r.pkts[d] == 0) continue;
      add_dir(w, r, d);
      add_counts(w, r, d, r.dir_start_ns[d], r.dir_end_ns[d], v9);
    }
  }
  return w;
}

void run_tshark_case(Mode mode) {
  if (!have_program("tshark")) GTEST_SKIP() << "tshark not installed (Debian package tshark)";
  const bool v9 = mode == Mode::kNetflow9;
  UdpSink sink;
  FlowTotals totals;
  const std::vector<FlowRecord> flows = synthetic_flows(400, 3, kT0, &totals);
  ExportContext ctx;
  ctx.observation_domain = 42;
  ctx.boot_ns = kBoot;
  const ExportUrl url = *parse_export_url("udp://127.0.0.1:" + std::to_string(sink.port)).url;
  std::string err;
  std::unique_ptr<Exporter> ex;
  if (v9) {
    Netflow9Options o;
    o.collector = url;
    ex = make_netflow9_exporter(o, ctx, &err);
  } else {
    IpfixOptions o;
    o.collector = url;
    o.biflow = mode == Mode::kIpfixBiflow;
    o.template_refresh_messages = 10;  // refreshes inside the capture too
    ex = make_ipfix_exporter(o, ctx, &err);
  }
  ASSERT_NE(ex, nullptr) << err;
  const uint64_t now = kT0 + 100 * kSec;
  for (size_t at = 0; at < flows.size(); at += 50) {
    ex->export_flows({flows.data() + at, std::min<size_t>(50, flows.size() - at)}, now);
  }
  ex->tick(now, true);
  const auto dgrams = sink.drain();
  ASSERT_EQ(dgrams.size(), ex->stats().messages);
  ASSERT_GT(dgrams.size(), 10u);

  TempDir tmp;
  const std::string pcap = (tmp.path / "export.pcap").string();
  ASSERT_TRUE(write_udp_pcap(pcap, dgrams, 4739, uint32_t(now / kSec)));
  const std::string base = "TZ=UTC tshark -r " + pcap + " -d udp.port==4739,cflow ";

  int rc = 0;
  const std::string verbose = run(base + "-V 2>&1", &rc);
  ASSERT_EQ(rc, 0) << verbose.substr(0, 3000);
  size_t dissected = 0;
  for (size_t at = verbose.find("Cisco NetFlow/IPFIX"); at != std::string::npos;
       at = verbose.find("Cisco NetFlow/IPFIX", at + 1)) {
    ++dissected;
  }
  EXPECT_EQ(dissected, dgrams.size());
  EXPECT_EQ(verbose.find("Malformed"), std::string::npos) << verbose.substr(0, 3000);
  const size_t expert = verbose.find("Expert Info");
  EXPECT_EQ(expert, std::string::npos)
      << verbose.substr(expert == std::string::npos ? 0 : (expert > 1500 ? expert - 1500 : 0), 3000);
  EXPECT_EQ(verbose.find("no template found"), std::string::npos);

  const std::vector<std::string> fields = {"cflow.version",
                                           "cflow.sequence",
                                           v9 ? "cflow.source_id" : "cflow.od_id",
                                           "cflow.srcaddr",
                                           "cflow.dstaddr",
                                           "cflow.srcaddrv6",
                                           "cflow.dstaddrv6",
                                           "cflow.srcport",
                                           "cflow.dstport",
                                           "cflow.protocol",
                                           "cflow.octets",
                                           "cflow.packets",
                                           "cflow.tcpflags",
                                           "cflow.vlanid",
                                           "cflow.inputint",
                                           "cflow.flow_end_reason",
                                           v9 ? "cflow.timestart" : "cflow.abstimestart",
                                           v9 ? "cflow.timeend" : "cflow.abstimeend"};
  std::string cmd = base + "-T fields -E separator=/t -E aggregator='|' -E occurrence=a";
  for (const auto& f : fields) cmd += " -e " + f;
  const std::string table = run(cmd + " 2>/dev/null", &rc);
  ASSERT_EQ(rc, 0);
  const std::vector<std::string> lines = split(table, '\n');
  ASSERT_GE(lines.size(), dgrams.size());

  // Concatenate each column over all packets: records appear in export order.
  std::vector<std::vector<std::string>> col(fields.size());
  uint64_t records_before = 0;
  for (size_t p = 0; p < dgrams.size(); ++p) {
    const std::vector<std::string> cells = split(lines[p], '\t');
    ASSERT_EQ(cells.size(), fields.size()) << lines[p];
    EXPECT_EQ(cells[0], v9 ? "9" : "10");
    EXPECT_EQ(cells[2], "42");
    // IPFIX: data records before this message; v9: packets before it.
    EXPECT_EQ(std::strtoull(cells[1].c_str(), nullptr, 10), v9 ? p : records_before) << "packet " << p;
    const size_t before = col[7].size();
    for (size_t c = 3; c < fields.size(); ++c) {
      if (cells[c].empty()) continue;
      for (auto& v : split(cells[c], '|')) col[c].push_back(v);
    }
    records_before += col[7].size() - before;
  }
  const Want w = expected(flows, mode);
  auto nums = [](const std::vector<std::string>& v, uint64_t (*conv)(const std::string&)) {
    std::vector<uint64_t> out;
    for (const auto& s : v) out.push_back(conv(s));
    return out;
  };
  auto dec = [](const std::string& s) -> uint64_t { return std::strtoull(s.c_str(), nullptr, 0); };
  EXPECT_EQ(records_before, w.records);
  EXPECT_EQ(col[3], w.v4src);
  EXPECT_EQ(col[4], w.v4dst);
  EXPECT_EQ(col[5], w.v6src);
  EXPECT_EQ(col[6], w.v6dst);
  EXPECT_EQ(nums(col[7], dec), w.sport);
  EXPECT_EQ(nums(col[8], dec), w.dport);
  EXPECT_EQ(nums(col[9], dec), w.proto);
  EXPECT_EQ(nums(col[10], dec), w.octets);
  EXPECT_EQ(nums(col[11], dec), w.packets);
  EXPECT_EQ(nums(col[12], dec), w.flags);
  EXPECT_EQ(nums(col[13], dec), w.vlan);
  EXPECT_EQ(nums(col[14], dec), w.ifindex);
  EXPECT_EQ(nums(col[15], dec), w.reason);
  EXPECT_EQ(nums(col[16], v9 ? rel_ms : abs_ms), w.start_ms);
  EXPECT_EQ(nums(col[17], v9 ? rel_ms : abs_ms), w.end_ms);
}

TEST(ExportTshark, IpfixUniflow) {
  run_tshark_case(Mode::kIpfix);
}
TEST(ExportTshark, IpfixBiflow) {
  run_tshark_case(Mode::kIpfixBiflow);
}
TEST(ExportTshark, Netflow9) {
  run_tshark_case(Mode::kNetflow9);
}

}  // namespace
}  // namespace ws
