// Flow table cost per packet at one million concurrent flows: lookup +
// counter update on an existing flow (random order, in-order, and a small
// hot set), and the insert path of new flows. Keys and decoded packets are
// built before timing; only FlowTable::update() is measured.
//
// At 1M flows the entries (FlowEntry, two cache lines each) and the bucket
// index are far larger than the caches, so the random pattern pays about
// two DRAM misses per packet (bucket line, entry lines); the hot pattern is
// the cache-resident floor.
//
//   build/bench/dataplane/flow_table_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "dataplane/flow_table.h"

namespace {

constexpr size_t kFlows = 1u << 20;
// Room for every flow plus headroom, so the measured update never evicts.
constexpr size_t kCapacity = kFlows + kFlows / 4;
constexpr uint64_t kT0 = 1700000000ull * 1000000000ull;

class NullSink final : public ws::RecordSink {
 public:
  void put(const ws::FlowRecord&) override { ++records; }
  uint64_t records = 0;
};

// UDP 10.x.y.z:port → 172.16.x.y:53, distinct for i < 2^24.
ws::Decoded decoded_of(uint32_t i) {
  ws::Decoded d{};
  std::memset(&d.key, 0, sizeof d.key);
  d.key.family = 4;
  d.key.proto = 17;
  const uint8_t src[4] = {10, uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i)};
  const uint8_t dst[4] = {172, 16, uint8_t(i >> 12), uint8_t(i >> 4)};
  std::memcpy(d.key.src, src, 4);
  std::memcpy(d.key.dst, dst, 4);
  d.key.sport = static_cast<uint16_t>(1024 + (i * 7919u) % 60000u);
  d.key.dport = 53;
  d.frame_len = 90;
  d.l3_len = 76;
  return d;
}

ws::FlowTableConfig config() {
  ws::FlowTableConfig cfg;
  cfg.capacity = kCapacity;
  return cfg;
}

// One table holding kFlows flows, shared by the update benchmarks (built
// once: filling it takes a second or so).
struct Loaded {
  NullSink sink;
  std::unique_ptr<ws::FlowTable> table;
  std::vector<ws::Decoded> dec;
  ws::Packet pkt;
  Loaded() {
    table = std::make_unique<ws::FlowTable>(config(), &sink);
    dec.reserve(kFlows);
    for (uint32_t i = 0; i < kFlows; ++i) dec.push_back(decoded_of(i));
    pkt.ts_ns = kT0;
    for (const ws::Decoded& d : dec) table->update(pkt, d);
  }
};

Loaded& loaded() {
  static Loaded l;
  return l;
}

void run_updates(benchmark::State& state, const std::vector<uint32_t>& order) {
  Loaded& l = loaded();
  if (l.table->active() != kFlows) {
    state.SkipWithError("table does not hold every flow");
    return;
  }
  const uint64_t created = l.table->stats().flows_created.get();
  ws::Packet p = l.pkt;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(l.table->update(p, l.dec[order[i]]));
    if (++i == order.size()) i = 0;
  }
  // Every packet must have found its flow: nothing created, nothing ended.
  if (l.table->stats().flows_created.get() != created || l.table->active() != kFlows)
    state.SkipWithError("update created or ended flows");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["flows"] = static_cast<double>(l.table->active());
  state.counters["bytes_per_flow"] = static_cast<double>(l.table->bytes_per_flow());
}

// Random access over all 1M flows: the worst case of a busy link with many
// concurrent flows.
void BM_UpdateRandom(benchmark::State& state) {
  std::vector<uint32_t> order(4 * kFlows);
  std::mt19937 rng(42);
  for (uint32_t& o : order) o = static_cast<uint32_t>(rng() % kFlows);
  run_updates(state, order);
}
BENCHMARK(BM_UpdateRandom);

// Random access with the bucket prefetched a few packets ahead, as the
// worker's burst loop can do (prefetch distance 4).
void BM_UpdateRandomPrefetch(benchmark::State& state) {
  Loaded& l = loaded();
  std::vector<uint32_t> order(4 * kFlows);
  std::mt19937 rng(42);
  for (uint32_t& o : order) o = static_cast<uint32_t>(rng() % kFlows);
  // The hash the table would compute: take it from the entry once.
  std::vector<uint64_t> hash(kFlows);
  for (uint32_t i = 0; i < kFlows; ++i) hash[i] = l.table->find(l.dec[i].key)->hash;
  ws::Packet p = l.pkt;
  size_t i = 0;
  constexpr size_t kAhead = 4;
  for (auto _ : state) {
    l.table->prefetch(hash[order[(i + kAhead) % order.size()]]);
    benchmark::DoNotOptimize(l.table->update(p, l.dec[order[i]]));
    if (++i == order.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_UpdateRandomPrefetch);

// All flows in creation order: the same memory footprint, but the entry
// pool is walked in order (entries are handed out sequentially).
void BM_UpdateSequential(benchmark::State& state) {
  std::vector<uint32_t> order(kFlows);
  for (uint32_t i = 0; i < kFlows; ++i) order[i] = i;
  run_updates(state, order);
}
BENCHMARK(BM_UpdateSequential);

// A hot set of 64 flows (a few elephants): cache-resident floor.
void BM_UpdateHot(benchmark::State& state) {
  std::vector<uint32_t> order(4096);
  std::mt19937 rng(7);
  for (uint32_t& o : order) o = static_cast<uint32_t>(rng() % 64) * 4099u % kFlows;
  run_updates(state, order);
}
BENCHMARK(BM_UpdateHot);

// The insert path: new flows into an empty table until it holds kFlows,
// then a fresh table (rebuilt outside the timing).
void BM_Insert(benchmark::State& state) {
  std::vector<ws::Decoded> dec;
  dec.reserve(kFlows);
  for (uint32_t i = 0; i < kFlows; ++i) dec.push_back(decoded_of(i));
  NullSink sink;
  auto table = std::make_unique<ws::FlowTable>(config(), &sink);
  ws::Packet p;
  p.ts_ns = kT0;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(table->update(p, dec[i]));
    if (++i == kFlows) {
      state.PauseTiming();
      table.reset();
      table = std::make_unique<ws::FlowTable>(config(), &sink);
      i = 0;
      state.ResumeTiming();
    }
  }
  if (table->stats().flows_ended_forced.get() != 0) state.SkipWithError("insert evicted flows");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_Insert);

}  // namespace

BENCHMARK_MAIN();
