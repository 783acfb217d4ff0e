// ExportLoop: the thread between the workers and the exporters. It drains
// every worker's record ring in batches and hands each batch to every
// exporter, and ticks the exporters about every 100 ms (template refresh,
// pacing, partial messages, file sync). Workers never wait for a collector:
// only this thread does.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "dataplane/ring.h"
#include "telemetry/alert_record.h"
#include "telemetry/exporter.h"
#include "telemetry/flow_record.h"

namespace ws {

class ExportLoop {
 public:
  using RecordRing = SpscRing<FlowRecord>;

  // packet_clock: exporters see packet time (file replay) instead of wall
  // time, so a replay's export timestamps match the capture.
  // alert_rings: one per worker, in the same order as rings, or empty (no
  // detection); an entry may be null.
  ExportLoop(std::vector<RecordRing*> rings, std::vector<Exporter*> exporters, bool packet_clock,
             std::vector<AlertRing*> alert_rings = {});

  // Runs until producers_done() is true and every ring is drained; then
  // ticks every exporter once more with final=true.
  void run(const std::function<bool()>& producers_done);

  uint64_t records() const { return records_.load(std::memory_order_relaxed); }
  uint64_t alerts() const { return alerts_.load(std::memory_order_relaxed); }

  // Alerts by rule and by severity, for the metrics. Counted here, on the
  // export thread, once per drained batch, so a worker never pays for them.
  // Signatures are bounded by the rule set but a big set is large: past
  // kMaxSignatures distinct rules the rest go to one `other` count.
  static constexpr size_t kMaxSignatures = 1000;
  struct SignatureCount {
    uint32_t gid = 0, sid = 0;
    std::string signature;  // as first seen (a reload that renames a rule keeps the series)
    uint64_t alerts = 0;
  };
  // In first-seen order; *other gets the alerts of rules beyond the limit.
  std::vector<SignatureCount> signatures(uint64_t* other) const;
  // Alerts of severity s (1..255; 0 unused).
  uint64_t alerts_of_severity(uint8_t s) const { return by_severity_[s].load(std::memory_order_relaxed); }

 private:
  size_t drain_once();
  uint64_t now_ns() const;

  size_t drain_alerts(AlertRing& ring);
  void count_signatures(const AlertRecord* items, size_t n);

  std::vector<RecordRing*> rings_;
  std::vector<AlertRing*> alert_rings_;
  std::vector<Exporter*> exporters_;
  bool packet_clock_;
  uint64_t packet_now_ = 0;
  std::vector<FlowRecord> batch_;
  std::atomic<uint64_t> records_{0};
  std::atomic<uint64_t> alerts_{0};
  std::array<std::atomic<uint64_t>, 256> by_severity_{};
  mutable std::mutex sig_mu_;  // export thread and scrapes only
  std::vector<SignatureCount> sigs_;
  std::unordered_map<uint64_t, size_t> sig_index_;  // gid << 32 | sid -> sigs_
  uint64_t sig_other_ = 0;
};

}  // namespace ws
