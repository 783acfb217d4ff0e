// FlowSnapshotPort: how a control thread (the REST API, the WebSocket
// stream) sees a worker's active flows without a lock and without reading
// the flow table from another thread.
//
// The control side hands the worker a buffer it owns and bumps a request
// number. The worker, at the end of each burst (and on idle polls), copies
// the next few in-use entries of its table into the buffer as client-
// oriented FlowRecords and, once it has walked the whole table, publishes the
// request number as done. The walk is cut into small steps so a burst never
// waits long (a table of 1M slots takes ~1000 bursts), and it costs one
// relaxed load per burst when nobody asks. The copy is not a single instant
// of the table: a flow that starts or ends during the walk may be missed,
// as with any tool that lists a live flow table.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "dataplane/flow_table.h"
#include "telemetry/flow_record.h"

namespace ws {

class FlowSnapshotPort {
 public:
  // Slots visited per step after a burst, and per idle poll.
  static constexpr size_t kBurstStep = 1024;
  static constexpr size_t kIdleStep = 1 << 16;

  // --- control side (one requester at a time) ---
  // Starts a copy into buf (capacity cap). Returns the request number to
  // wait for with done(), or 0 when a request is still being served.
  uint64_t request(FlowRecord* buf, size_t cap) {
    if (busy()) return 0;
    buf_ = buf;
    cap_ = cap;
    const uint64_t n = requested_.load(std::memory_order_relaxed) + 1;
    requested_.store(n, std::memory_order_release);
    return n;
  }
  bool done(uint64_t req) const { return done_.load(std::memory_order_acquire) >= req; }
  bool busy() const {
    return requested_.load(std::memory_order_relaxed) != done_.load(std::memory_order_acquire);
  }
  // Valid once done(req): records written, and in-use flows that did not fit.
  size_t count() const { return count_; }
  size_t overflow() const { return overflow_; }

  // --- worker side ---
  // Continues the walk by up to step slots. fill(entry, record) completes a
  // record after FlowTable::to_record (side-table fields such as the
  // application); it runs on the worker.
  template <typename Fill>
  void serve(const FlowTable& t, uint16_t worker, size_t step, Fill&& fill) {
    const uint64_t req = requested_.load(std::memory_order_acquire);
    if (req == serving_done_) return;
    if (req != serving_) {  // a new request: start at slot 0
      serving_ = req;
      pos_ = 0;
      count_ = 0;
      overflow_ = 0;
    }
    const size_t end = std::min(t.capacity(), pos_ + step);
    t.visit(pos_, end, [&](const FlowEntry& e) {
      if (count_ == cap_) {
        ++overflow_;
        return;
      }
      FlowRecord& r = buf_[count_++];
      FlowTable::to_record(e, FlowEndReason::kShutdown, false, worker, r);
      fill(e, r);
    });
    pos_ = end;
    if (pos_ == t.capacity()) {
      serving_done_ = req;
      done_.store(req, std::memory_order_release);
    }
  }
  void serve(const FlowTable& t, uint16_t worker, size_t step) {
    serve(t, worker, step, [](const FlowEntry&, FlowRecord&) {});
  }

 private:
  // Written by the control side before the release store of requested_.
  FlowRecord* buf_ = nullptr;
  size_t cap_ = 0;
  // Written by the worker before the release store of done_.
  size_t count_ = 0;
  size_t overflow_ = 0;
  // Worker only.
  uint64_t serving_ = 0, serving_done_ = 0;
  size_t pos_ = 0;
  alignas(64) std::atomic<uint64_t> requested_{0};
  alignas(64) std::atomic<uint64_t> done_{0};
};

}  // namespace ws
