// Exports a few thousand synthetic flow records through the real IPFIX and
// NetFlow v9 exporters over UDP into a real nfcapd, then reads the stored
// flows back with nfdump: exact packet, byte and flow totals, 0 sequence
// errors, and every record's fields as nfdump decoded them.
#include <gtest/gtest.h>

#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

#include "telemetry/ipfix.h"
#include "telemetry/netflow9.h"
#include "tests/integration/ipfix_test_support.h"

namespace ws {
namespace {

using namespace ws::testing;

constexpr uint64_t kSec = 1000000000ull;
constexpr uint64_t kMs = 1000000ull;
constexpr uint64_t kT0 = 1700000000ull * kSec;
// nfcapd's socket buffer is capped by net.core.rmem_max (about 180 full
// datagrams by default); at 2000 messages/s it may be descheduled for ~90 ms
// on a busy CI machine without losing any, where the default rate would
// fill its buffer in 9 ms.
constexpr uint32_t kRate = 2000;

std::string addr_text(const uint8_t* a, int family) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family == 6 ? AF_INET6 : AF_INET, a, buf, sizeof buf);
  return buf;
}

// "2023-11-14T22:14:14.432" (nfdump prints local time; we run it with TZ=UTC).
uint64_t parse_ms(const std::string& s) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d.%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &ms) != 7) {
    return 0;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return uint64_t(timegm(&tm)) * 1000 + uint64_t(ms);
}

// nfdump's flag string: CWR ECE URG ACK PSH RST SYN FIN, '.' when clear.
std::string flags_text(uint8_t f) {
  const char* names = "CEUAPRSF";
  std::string out(8, '.');
  for (int i = 0; i < 8; ++i) {
    if (f & (0x80 >> i)) out[size_t(i)] = names[i];
  }
  return out;
}

struct Expected {
  uint64_t packets, octets, first_ms, last_ms;
  uint16_t vlan;
  uint8_t flags;
  int seen = 0;
};
using Key = std::tuple<std::string, std::string, int, int, int>;  // src, dst, sport, dport, proto

std::map<Key, Expected> expected_records(const std::vector<FlowRecord>& flows) {
  std::map<Key, Expected> out;
  for (const FlowRecord& r : flows) {
    for (int d = 0; d < 2; ++d) {
      if (r.pkts[d] == 0) continue;
      const uint8_t* src = d == 0 ? r.key.src : r.key.dst;
      const uint8_t* dst = d == 0 ? r.key.dst : r.key.src;
      const bool icmp = r.key.proto == 1 || r.key.proto == 58;
      const int sport = icmp ? 0 : (d == 0 ? r.key.sport : r.key.dport);
      const int dport = icmp ? (r.icmp_type[d] << 8 | r.icmp_code[d]) : (d == 0 ? r.key.dport : r.key.sport);
      Key k{addr_text(src, r.key.family), addr_text(dst, r.key.family), sport, dport, r.key.proto};
      out[k] = Expected{r.pkts[d], r.l3_bytes[d], r.dir_start_ns[d] / kMs, r.dir_end_ns[d] / kMs,
                        r.vlan[0], r.tcp_flags[d]};
    }
  }
  return out;
}

void run_against_nfcapd(bool netflow9) {
  if (!have_program("nfcapd") || !have_program("nfdump")) {
    GTEST_SKIP() << "nfcapd/nfdump not installed (Debian package nfdump)";
  }
  TempDir tmp;
  const std::filesystem::path flowdir = tmp.path / "flows";
  std::filesystem::create_directory(flowdir);
  const std::string log = (tmp.path / "nfcapd.log").string();
  const uint16_t port = free_udp_port();
  Child nfcapd({"nfcapd", "-w", flowdir.string(), "-b", "127.0.0.1", "-p", std::to_string(port), "-t", "3600",
                "-B", "4194304"},
               log);
  ASSERT_GT(nfcapd.pid, 0) << "cannot start nfcapd";
  for (int i = 0; i < 200 && !udp_port_taken(port); ++i) usleep(25000);
  ASSERT_TRUE(udp_port_taken(port)) << "nfcapd did not bind port " << port << ":\n" << run("cat " + log);

  FlowTotals totals;
  const std::vector<FlowRecord> flows = synthetic_flows(3000, netflow9 ? 9 : 10, kT0, &totals);
  ExportContext ctx;
  ctx.observation_domain = 5;
  ctx.boot_ns = kT0 - 10 * kSec;
  const ExportUrl url = *parse_export_url("udp://127.0.0.1:" + std::to_string(port)).url;
  std::string err;
  std::unique_ptr<Exporter> ex;
  if (netflow9) {
    Netflow9Options o;
    o.collector = url;
    o.transport.max_rate = kRate;
    ex = make_netflow9_exporter(o, ctx, &err);
  } else {
    IpfixOptions o;
    o.collector = url;
    o.transport.max_rate = kRate;
    ex = make_ipfix_exporter(o, ctx, &err);
  }
  ASSERT_NE(ex, nullptr) << err;

  // Batches as the export thread would hand them over, the clock in capture
  // time; partial messages go out on each tick.
  uint64_t now = kT0 + 90 * kSec;
  for (size_t at = 0; at < flows.size(); at += 100) {
    const size_t n = std::min<size_t>(100, flows.size() - at);
    ex->export_flows({flows.data() + at, n}, now);
    if ((at / 100) % 3 == 0) ex->tick(now, false);
    now += 100 * kMs;
  }
  ex->tick(now, true);
  const ExporterStats st = ex->stats();
  EXPECT_EQ(st.records, flows.size());
  EXPECT_EQ(st.send_errors, 0u);
  EXPECT_EQ(st.dropped_records, 0u);
  EXPECT_GT(st.messages, 50u) << "test should span many messages";

  // Let nfcapd read everything before asking it to stop and write its file.
  for (int i = 0; i < 400 && udp_rx_queue(port) > 0; ++i) usleep(25000);
  usleep(200000);
  EXPECT_EQ(nfcapd.stop(), 0) << run("cat " + log);
  const std::string nflog = run("cat " + log);

  int rc = 0;
  const std::string info = run("nfdump -R " + flowdir.string() + " -I 2>&1", &rc);
  ASSERT_EQ(rc, 0) << info << nflog;
  auto stat = [&](const std::string& name) -> uint64_t {
    const size_t at = info.find("\n" + name + ": ");
    return at == std::string::npos ? ~uint64_t(0)
                                   : std::strtoull(info.c_str() + at + name.size() + 3, nullptr, 10);
  };
  EXPECT_EQ(stat("Flows"), totals.uniflows) << info;
  EXPECT_EQ(stat("Packets"), totals.packets) << info;
  EXPECT_EQ(stat("Bytes"), totals.octets) << info;
  EXPECT_EQ(stat("Sequence failures"), 0u) << info;
  EXPECT_NE(nflog.find("Sequence Errors: 0,"), std::string::npos) << nflog;

  // Per exporter: version and observation domain as sent.
  const std::string exporters =
      run("cd " + flowdir.string() + " && for f in nfcapd.*; do nfdump -E $f; done 2>&1");
  EXPECT_NE(
      exporters.find(std::string("version: ") + (netflow9 ? "9" : "10") + ", ID:  5, Sequence failures: 0"),
      std::string::npos)
      << exporters;

  // Every record, as nfdump decoded it.
  const std::string js = run("TZ=UTC nfdump -R " + flowdir.string() + " -o json 2>&1", &rc);
  ASSERT_EQ(rc, 0) << js.substr(0, 2000);
  const nlohmann::json recs = nlohmann::json::parse(js, nullptr, false);
  ASSERT_TRUE(recs.is_array()) << js.substr(0, 2000);
  std::map<Key, Expected> want = expected_records(flows);
  ASSERT_EQ(recs.size(), want.size());
  size_t matched = 0;
  for (const auto& j : recs) {
    const bool v6 = j.contains("src6_addr");
    const std::string src = j.value(v6 ? "src6_addr" : "src4_addr", "");
    const std::string dst = j.value(v6 ? "dst6_addr" : "dst4_addr", "");
    const int proto = j.value("proto", -1);
    int sport = j.value("src_port", -1);
    int dport = j.value("dst_port", -1);
    if (j.contains("icmp_type")) {  // nfdump prints ICMP type/code instead of ports
      sport = j.value("src_port", 0);
      dport = j.value("icmp_type", 0) << 8 | j.value("icmp_code", 0);
    }
    auto it = want.find(Key{src, dst, sport, dport, proto});
    if (it == want.end()) {
      ADD_FAILURE() << "unexpected record " << j.dump();
      continue;
    }
    Expected& e = it->second;
    ++e.seen;
    EXPECT_EQ(j.value("in_packets", uint64_t(0)), e.packets) << j.dump();
    EXPECT_EQ(j.value("in_bytes", uint64_t(0)), e.octets) << j.dump();
    EXPECT_EQ(parse_ms(j.value("first", "")), e.first_ms) << j.dump();
    EXPECT_EQ(parse_ms(j.value("last", "")), e.last_ms) << j.dump();
    EXPECT_EQ(j.value("src_vlan", -1), e.vlan) << j.dump();
    EXPECT_EQ(j.value("input_snmp", -1), 1) << j.dump();
    if (proto == 6) {
      EXPECT_EQ(j.value("tcp_flags", ""), flags_text(e.flags)) << j.dump();
    }
    ++matched;
  }
  EXPECT_EQ(matched, want.size());
  for (const auto& [k, e] : want) EXPECT_EQ(e.seen, 1) << std::get<0>(k) << " -> " << std::get<1>(k);
}

TEST(IpfixNfdump, TotalsFieldsAndNoSequenceErrors) {
  run_against_nfcapd(false);
}

TEST(Netflow9Nfdump, TotalsFieldsAndNoSequenceErrors) {
  run_against_nfcapd(true);
}

}  // namespace
}  // namespace ws
