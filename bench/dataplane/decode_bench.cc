// Decode cost per frame over a table of realistic frames: what the
// dispatcher or a worker spends before the flow table. The table mixes the
// shapes a busy link carries (TCP/UDP over IPv4/IPv6, 802.1Q and QinQ tags,
// MPLS, IPv4/IPv6 fragments); each shape also runs alone so a regression
// points at its layer.
//
//   build/bench/dataplane/decode_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/pktgen/builder.h"
#include "dataplane/decode.h"

namespace {

using ws::pktgen::Builder;
using ws::pktgen::Bytes;

struct Frame {
  std::string name;
  Bytes bytes;
  ws::LinkType link = ws::LinkType::kEthernet;
};

std::vector<Frame> make_frames() {
  std::vector<Frame> t;
  ws::pktgen::TcpOpts ack;
  ack.seq = 1000;
  ack.ack = 2000;
  t.push_back({"tcp4_syn",
               Builder().eth().ipv4("10.0.0.1", "10.0.0.2").tcp(40000, 443, ws::pktgen::TCP_SYN).build()});
  t.push_back({"tcp4_1400", Builder()
                                .eth()
                                .ipv4("10.0.0.1", "10.0.0.2")
                                .tcp(40000, 443, ws::pktgen::TCP_ACK | ws::pktgen::TCP_PSH, ack)
                                .payload_pattern(1400, 1)
                                .build()});
  t.push_back(
      {"udp4_dns",
       Builder().eth().ipv4("192.168.1.10", "192.168.1.1").udp(53000, 53).payload_pattern(40, 2).build()});
  t.push_back({"tcp6_1200", Builder()
                                .eth()
                                .ipv6("2001:db8::1", "2001:db8::2")
                                .tcp(40000, 443, ws::pktgen::TCP_ACK, ack)
                                .payload_pattern(1200, 3)
                                .build()});
  t.push_back(
      {"udp6_quic",
       Builder().eth().ipv6("2001:db8::1", "2001:db8::2").udp(50000, 443).payload_pattern(1250, 4).build()});
  t.push_back({"vlan_tcp4", Builder()
                                .eth()
                                .vlan(10)
                                .ipv4("10.0.0.1", "10.0.0.2")
                                .tcp(40000, 80, ws::pktgen::TCP_ACK, ack)
                                .payload_pattern(512, 5)
                                .build()});
  t.push_back({"qinq_udp4", Builder()
                                .eth()
                                .qinq(100, 200)
                                .ipv4("10.1.0.1", "10.1.0.2")
                                .udp(1000, 2000)
                                .payload_pattern(200, 6)
                                .build()});
  t.push_back({"mpls_tcp4", Builder()
                                .eth()
                                .mpls(16)
                                .mpls(17)
                                .ipv4("10.2.0.1", "10.2.0.2")
                                .tcp(40000, 80, ws::pktgen::TCP_ACK, ack)
                                .payload_pattern(600, 7)
                                .build()});
  const Bytes big4 =
      Builder().eth().ipv4("10.3.0.1", "10.3.0.2").udp(7000, 7001).payload_pattern(2000, 8).build();
  const auto f4 = ws::pktgen::fragment(big4, 14, 1480, 0);
  t.push_back({"frag4_first", f4.at(0)});
  t.push_back({"frag4_later", f4.at(1)});
  const Bytes big6 =
      Builder().eth().ipv6("2001:db8:3::1", "2001:db8:3::2").udp(7000, 7001).payload_pattern(2000, 9).build();
  const auto f6 = ws::pktgen::fragment(big6, 14, 1448, 0xabcd);
  t.push_back({"frag6_first", f6.at(0)});
  t.push_back({"frag6_later", f6.at(1)});
  return t;
}

const std::vector<Frame>& frames() {
  static const std::vector<Frame> t = make_frames();
  return t;
}

ws::Packet packet_of(const Frame& f, uint64_t ts) {
  ws::Packet p;
  p.data = f.bytes.data();
  p.caplen = p.wirelen = static_cast<uint32_t>(f.bytes.size());
  p.ts_ns = ts;
  p.link = f.link;
  return p;
}

constexpr uint64_t kT0 = 1700000000ull * 1000000000ull;

// The whole table in order, burst after burst, as a worker sees mixed
// traffic. Checksums are verified (the default), as in production.
void BM_DecodeMix(benchmark::State& state) {
  const auto& t = frames();
  std::vector<ws::Packet> pkts;
  for (const Frame& f : t) pkts.push_back(packet_of(f, kT0));
  ws::Decoder dec;
  ws::Decoded d;
  uint64_t ok = 0;
  for (auto _ : state) {
    for (const ws::Packet& p : pkts) {
      ok += dec.decode(p, d);
      benchmark::DoNotOptimize(d);
    }
  }
  if (ok != state.iterations() * pkts.size()) state.SkipWithError("a frame of the table did not decode");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * pkts.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * [&] {
    int64_t b = 0;
    for (const Frame& f : t) b += static_cast<int64_t>(f.bytes.size());
    return b;
  }());
}
BENCHMARK(BM_DecodeMix);

// One frame shape at a time: arg = index into the table.
void BM_DecodeOne(benchmark::State& state) {
  const Frame& f = frames().at(static_cast<size_t>(state.range(0)));
  state.SetLabel(f.name);
  // Later fragments look up their first fragment: decode it once first.
  ws::Decoder dec;
  ws::Decoded d;
  for (const Frame& g : frames()) dec.decode(packet_of(g, kT0), d);
  const ws::Packet p = packet_of(f, kT0);
  uint64_t ok = 0;
  for (auto _ : state) {
    ok += dec.decode(p, d);
    benchmark::DoNotOptimize(d);
  }
  if (ok != static_cast<uint64_t>(state.iterations())) state.SkipWithError("frame did not decode");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_DecodeOne)->DenseRange(0, 11);

}  // namespace

BENCHMARK_MAIN();
