// Cost of traffic control per packet: the meters alone, QosStage::apply
// with a police class (classify + meter + colour action), with set_dscp
// (checksum update), and shaping (copy into the queue, then drain). Time
// advances by a fixed step per packet, so the colours and the queue depth
// are the same on every run; the frames are 64 and 1500 bytes.
#include <benchmark/benchmark.h>

#include "bench/pktgen/builder.h"
#include "dataplane/decode.h"
#include "dataplane/qos/stage.h"

namespace ws {
namespace {

pktgen::Ipv4Opts tos_opts(uint8_t tos) {
  pktgen::Ipv4Opts o;
  o.tos = tos;
  return o;
}

QosPolicy policy(const char* text) {
  QosPolicy p;
  if (std::string e = parse_qos_policy_text(text, &p); !e.empty()) std::abort();
  return p;
}

struct Fixture {
  explicit Fixture(const char* text, uint32_t len) : slot(1), stage(&slot, 0) {
    slot.publish(build_qos_snapshot({{"bench", policy(text)}}, nullptr, 1));
    stage.begin_burst();
    frame = pktgen::Builder()
                .eth()
                .ipv4("10.0.0.1", "10.0.0.2", tos_opts(46 << 2))
                .udp(5060, 5060)
                .payload_fill(len - 42)
                .build();
    Decoder d;
    Packet p{frame.data(), uint32_t(frame.size()), uint32_t(frame.size()), 0};
    if (!d.decode(p, dec)) std::abort();
  }
  QosSlot slot;
  QosStage stage;
  std::vector<uint8_t> frame;
  Decoded dec;
};

void BM_TrTcmCheck(benchmark::State& state) {
  const TrTcmProfile p = make_trtcm_profile(250'000, 375'000, 20000, 30000);
  TrTcm m;
  m.start(p, 0);
  uint64_t t = 0;
  for (auto _ : state) {
    t += 2000;
    benchmark::DoNotOptimize(m.check(p, t, 1000));
  }
}
BENCHMARK(BM_TrTcmCheck);

// A class after two that do not match, trTCM at 2/3 Mbit/s against ~8 Mbit/s
// offered (1000-byte frames every 1 us of simulated time): all colours occur.
void BM_ApplyPolice(benchmark::State& state) {
  Fixture f(R"({"classes": [
      {"name": "web", "match": {"proto": "tcp", "dst_port": "80-443"}},
      {"name": "dns", "match": {"proto": "udp", "dst_port": 53}},
      {"name": "voip", "match": {"dscp": 46},
       "police": {"cir_bps": 2000000, "cbs_bytes": 20000, "pir_bps": 3000000, "pbs_bytes": 30000,
                  "exceed": "remark:0", "violate": "drop"}}]})",
            static_cast<uint32_t>(state.range(0)));
  uint64_t t = 1'000'000'000;
  uint8_t tos = f.frame[15];
  for (auto _ : state) {
    t += 1000;
    f.frame[15] = tos;  // undo a remark, so every packet is classified as the first
    benchmark::DoNotOptimize(
        f.stage.apply(f.frame.data(), uint32_t(f.frame.size()), f.dec, "", true, 1, t));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ApplyPolice)->Arg(64)->Arg(1500);

void BM_ApplySetDscp(benchmark::State& state) {
  Fixture f(R"({"classes": [{"name": "all", "set_dscp": 10}]})", 64);
  uint64_t t = 1'000'000'000;
  for (auto _ : state) {
    t += 1000;
    f.frame[15] = 46 << 2;
    benchmark::DoNotOptimize(f.stage.apply(f.frame.data(), uint32_t(f.frame.size()), f.dec, "", true, 1, t));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ApplySetDscp);

// Shape at 1 Gbit/s with frames offered at twice that: half wait in the
// queue (copied) and leave through drain(), the rest are tail-dropped once
// the queue is full; drain() runs after every packet, as a worker loop
// with one-packet bursts would.
void BM_ApplyShapeAndDrain(benchmark::State& state) {
  const uint32_t len = static_cast<uint32_t>(state.range(0));
  Fixture f(R"({"classes": [{"name": "q", "shape": {"rate_bps": 1000000000, "burst_bytes": 32000,
      "queue_bytes": 262144}}]})",
            len);
  const uint64_t step = uint64_t(len) * 4;  // 8 bits per byte at 2 Gbit/s: 4 ns per byte
  uint64_t t = 1'000'000'000, sent = 0;
  auto emit = [&](const uint8_t*, uint32_t n, uint16_t) { sent += n; };
  for (auto _ : state) {
    t += step;
    benchmark::DoNotOptimize(f.stage.apply(f.frame.data(), len, f.dec, "", true, 1, t));
    f.stage.drain(t, emit);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["queued"] = double(f.stage.queued_frames());
  state.counters["sent_bytes"] = double(sent);
}
BENCHMARK(BM_ApplyShapeAndDrain)->Arg(64)->Arg(1500);

}  // namespace
}  // namespace ws

BENCHMARK_MAIN();
