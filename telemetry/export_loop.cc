#include "telemetry/export_loop.h"

#include <ctime>
#include <span>

namespace ws {
namespace {

constexpr size_t kBatch = 512;
constexpr uint64_t kTickNs = 100'000'000;  // exporters' tick period

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

uint64_t realtime_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

}  // namespace

ExportLoop::ExportLoop(std::vector<RecordRing*> rings, std::vector<Exporter*> exporters, bool packet_clock,
                       std::vector<AlertRing*> alert_rings)
    : rings_(std::move(rings)),
      alert_rings_(std::move(alert_rings)),
      exporters_(std::move(exporters)),
      packet_clock_(packet_clock) {
  batch_.resize(kBatch);
  alert_rings_.resize(rings_.size(), nullptr);
}

size_t ExportLoop::drain_alerts(AlertRing& ring) {
  size_t total = 0;
  for (;;) {
    AlertRecord* items;
    // In place: an alert is large (it may carry its payload).
    const size_t n = ring.peek(&items, 64);
    if (!n) break;
    for (size_t i = 0; i < n; ++i)
      if (items[i].ts_ns > packet_now_) packet_now_ = items[i].ts_ns;
    const uint64_t now = now_ns();
    for (Exporter* e : exporters_) e->export_alerts(std::span<const AlertRecord>(items, n), now);
    count_signatures(items, n);
    // Every exporter is done with them: their rule snapshot may now go, and
    // so may the long packets they carried (given back in alert order).
    for (size_t i = 0; i < n; ++i) {
      if (items[i].in_flight) items[i].in_flight->fetch_sub(1, std::memory_order_release);
      if (items[i].bytes_owner) items[i].bytes_owner->release(items[i].bytes_end);
    }
    ring.release(n);
    ring.producer_parker.wake();
    total += n;
  }
  alerts_.fetch_add(total, std::memory_order_relaxed);
  return total;
}

// Before the in_flight release: the metas belong to the rule snapshot,
// which may be freed as soon as its alerts are counted out.
void ExportLoop::count_signatures(const AlertRecord* items, size_t n) {
  std::lock_guard<std::mutex> lock(sig_mu_);
  for (size_t i = 0; i < n; ++i) {
    const AlertMeta* m = items[i].meta;
    if (!m) continue;
    by_severity_[m->severity].fetch_add(1, std::memory_order_relaxed);
    const uint64_t key = uint64_t(m->gid) << 32 | m->sid;
    auto it = sig_index_.find(key);
    if (it != sig_index_.end()) {
      ++sigs_[it->second].alerts;
    } else if (sigs_.size() < kMaxSignatures) {
      sig_index_.emplace(key, sigs_.size());
      sigs_.push_back({m->gid, m->sid, m->signature, 1});
    } else {
      ++sig_other_;
    }
  }
}

std::vector<ExportLoop::SignatureCount> ExportLoop::signatures(uint64_t* other) const {
  std::lock_guard<std::mutex> lock(sig_mu_);
  *other = sig_other_;
  return sigs_;
}

uint64_t ExportLoop::now_ns() const { return packet_clock_ && packet_now_ ? packet_now_ : realtime_ns(); }

size_t ExportLoop::drain_once() {
  size_t total = 0;
  for (size_t r = 0; r < rings_.size(); ++r) {
    RecordRing* ring = rings_[r];
    // A worker's alerts before its flow records, so a flow's alerts are
    // written ahead of its end (the order Suricata's log has).
    if (alert_rings_[r]) total += drain_alerts(*alert_rings_[r]);
    const size_t n = ring->pop(batch_.data(), batch_.size());
    if (!n) continue;
    ring->producer_parker.wake();
    for (size_t i = 0; i < n; ++i)
      if (batch_[i].emit_ns > packet_now_) packet_now_ = batch_[i].emit_ns;
    const uint64_t now = now_ns();
    for (Exporter* e : exporters_) e->export_flows(std::span<const FlowRecord>(batch_.data(), n), now);
    total += n;
    records_.fetch_add(n, std::memory_order_relaxed);
  }
  return total;
}

void ExportLoop::run(const std::function<bool()>& producers_done) {
  uint64_t next_tick = monotonic_ns() + kTickNs;
  for (;;) {
    const bool done = producers_done();  // read before draining: nothing can follow it
    const size_t n = drain_once();
    const uint64_t mono = monotonic_ns();
    if (mono >= next_tick) {
      const uint64_t now = now_ns();
      for (Exporter* e : exporters_) e->tick(now, false);
      next_tick = mono + kTickNs;
    }
    if (n) continue;
    if (done) break;
    // Sleep on the first ring's parker; every worker wakes its own ring's,
    // so bound the sleep to stay responsive to the others.
    if (!rings_.empty())
      rings_.front()->consumer_parker.wait([&] { return !rings_.front()->empty(); }, 5'000'000);
  }
  const uint64_t now = now_ns();
  for (Exporter* e : exporters_) e->tick(now, true);
}

}  // namespace ws
