// Worker: one per core, running to completion. Everything a packet touches
// after capture — decoder state, flow table, later nDPI state and rule
// scratch — belongs to exactly one worker, so the per-packet path takes no
// locks and allocates nothing.
//
// The per-packet path, in order (Worker::process):
//   decode → flow table → application classification (nDPI, dataplane/
//   ndpi.h) → rule matching (alerts out through the worker's alert ring)
//   → traffic control (inline only, dataplane/qos) → records of ended flows, labelled with
//   their application, out through the worker's record ring.
//
// Inline (run_inline): the worker also decides each frame's fate. After the
// per-packet path above, a frame is forwarded out of the other side of its
// pair (InlineLink::peer of Packet::ifindex) unless the rules dropped it
// (Verdict) or its flow was dropped before (FlowEntry::verdict); a reject
// also sends its reply: to the sender back out of the ingress side, to the
// destination (rejectdst, rejectboth) out of the other side, with a VLAN
// tag the capture stripped put back as the frame had it. Frames that do not
// decode as IP (ARP, LLDP, STP, ...) are bridged uninspected. The per-burst
// sendmmsg (InlineLink::flush) happens before the frames go back to the
// receive ring, so forwarding copies nothing in user space. Outside inline
// mode process() is called without a verdict array and nothing changes.
// With QoS policies (WorkerConfig::qos), a frame the rules let through goes
// to the worker's QosStage: it may be re-marked in place, dropped by a
// police action or a full queue (Verdict::kQosDrop), or copied into a
// shaper queue (kQueued) that drain() empties onto the link after each
// burst and idle poll. The same loop runs on AF_PACKET (InlineLink) and
// DPDK (DpdkInlineLink) pairs.
//
// A worker gets packets one of two ways:
//   - from its own queue of a multi-queue source (AF_PACKET fanout member,
//     DPDK RX queue): it polls the source and decodes itself;
//   - from a Dispatcher, the single reader of a one-stream source (a file,
//     a libpcap handle), over an SPSC ring of already decoded packets.
// Either way packets of one flow reach one worker in capture order.
//
// Dispatcher: reads bursts from one source, decodes each frame, computes
// the symmetric flow hash and pushes the frame to the ring of the worker
// that owns the flow. Frames of sources whose buffers are reused (libpcap)
// are copied into a per-worker frame arena; mmap'd files are passed by
// pointer.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/capture/afpacket_inline.h"
#include "dataplane/capture/dpdk_source.h"
#include "dataplane/qos/stage.h"
#include "dataplane/counters.h"
#include "dataplane/decode.h"
#include "dataplane/defrag.h"
#include "dataplane/detect.h"
#include "dataplane/flow_snapshot.h"
#include "dataplane/flow_table.h"
#include "dataplane/ndpi.h"
#include "dataplane/packet.h"
#include "dataplane/ring.h"
#include "dataplane/source.h"
#include "telemetry/flow_record.h"

namespace ws {

constexpr int kBurst = 32;

// A decoded frame on its way from the dispatcher to a worker: two cache lines.
struct alignas(64) DispatchItem {
  Packet pkt;
  Decoded dec;
  uint64_t arena_end;  // frame arena offset to release after this item (0: none)
};
static_assert(sizeof(DispatchItem) == 128);

using DispatchRing = SpscRing<DispatchItem>;
using RecordRing = SpscRing<FlowRecord>;

// FIFO byte arena for copied frames, one per dispatcher→worker ring. The
// producer allocates at the head; the consumer frees up to the end offset
// of each item it has processed, in ring order.
class FrameArena {
 public:
  explicit FrameArena(size_t bytes);
  // Copies len bytes in; returns the copy and the offset to release after
  // it, or nullptr when the arena is full.
  uint8_t* put(const uint8_t* data, size_t len, uint64_t* end_offset);
  void release_to(uint64_t end_offset) { released_.store(end_offset, std::memory_order_release); }
  // The largest frame put() can ever take.
  size_t max_frame() const { return size_ / 2; }

 private:
  std::unique_ptr<uint8_t[]> buf_;
  size_t size_;
  uint64_t head_ = 0;  // producer only
  alignas(64) std::atomic<uint64_t> released_{0};
};

#define WS_WORKER_COUNTERS(X)                                                     \
  X(packets, "frames received by the worker")                                    \
  X(bytes, "frame bytes received by the worker")                                 \
  X(flow_packets, "frames accounted to a flow")                                  \
  X(tunnel_packets, "packets decoded out of a tunnel and accounted to their own flow") \
  X(record_ring_waits, "times the worker waited for room in its record ring")    \
  X(idle_polls, "polls that found no packet")                                    \
  X(bursts, "bursts of frames processed (one processing-time sample each)")

struct WorkerStats {
#define WS_X(name, help) Counter name;
  WS_WORKER_COUNTERS(WS_X)
#undef WS_X
};

// Inline workers only: what became of the frames (per-port transmit and
// receive counts are the InlineLink's).
#define WS_INLINE_COUNTERS(X)                                                                       \
  X(forwarded, "frames forwarded to the other side of their pair")                                  \
  X(uninspected, "frames bridged without inspection: not decodable as IP (ARP, LLDP, ...)")         \
  X(verdict_drops, "packets dropped by a drop or reject rule")                                      \
  X(flow_drops, "packets dropped because a rule dropped their flow earlier")                        \
  X(rejects_sent, "reject replies sent to the sender (TCP RST, ICMP unreachable)")                  \
  X(rejects_sent_dst, "reject replies sent to the destination (rejectdst, rejectboth)")             \
  X(rejects_none, "reject replies not sent: none for the packet (a RST, an ICMP error) or no room") \
  X(checksums_completed, "forwarded frames whose offloaded L4 checksum was filled in")              \
  X(qos_drops, "frames traffic control dropped (police action or full shaper queue)")               \
  X(qos_queued, "frames traffic control queued in a shaper")                                        \
  X(qos_released, "shaped frames sent from a shaper queue")

struct InlineStats {
#define WS_X(name, help) Counter name;
  WS_INLINE_COUNTERS(WS_X)
#undef WS_X
};

// Processing time per burst (from the burst's arrival to the end of its
// per-packet path), in fixed buckets. The worker is the only writer, so each
// sample is two clock reads and two plain counter adds; a scrape reads the
// buckets and makes them cumulative. Bounds span 1 µs (a burst of hits in
// cache) to 10 ms (a burst that waited on a full record ring).
struct BurstTimes {
  static constexpr uint64_t kBoundsNs[] = {1'000,   2'500,   5'000,   10'000,    25'000,    50'000,   100'000,
                                           250'000, 500'000, 1'000'000, 2'500'000, 5'000'000, 10'000'000};
  static constexpr size_t kBounds = sizeof(kBoundsNs) / sizeof(kBoundsNs[0]);

  void record(uint64_t ns) {
    size_t i = 0;
    while (i < kBounds && ns > kBoundsNs[i]) ++i;
    bucket[i].inc();
    sum_ns.inc(ns);
  }

  Counter bucket[kBounds + 1];  // per bucket, not cumulative; the last is +Inf
  Counter sum_ns;
};

struct WorkerConfig {
  FlowTableConfig flows;
  DecodeOptions decode;
  // IP fragments are put back together for rule matching (and for the
  // tunnels a fragmented datagram carries); see dataplane/defrag.h.
  DefragOptions defrag;
  bool live = false;              // expire flows on wall-clock time when idle
  // Suricata's --simulate-ips outside inline mode: the rules' verdicts are
  // worked out and counted (InlineStats) and drop flows as inline, but no
  // frame is forwarded or held back. Set detect.ips with it.
  bool simulate_ips = false;
  size_t record_ring_size = 1 << 14;
  // Rule matching: the slot reloads publish into (null: no detection).
  RuleSlot* rules = nullptr;
  DetectOptions detect;
  AppDetectOptions ndpi;  // application classification (off unless enabled)
  // Traffic control on the inline path: the slot QoS policies are
  // published into (null: none). Outside inline mode it is not used.
  QosSlot* qos = nullptr;
};

// One application's totals over every worker, for metrics and the API.
struct AppTotal {
  uint16_t id = 0;       // nDPI protocol id (a master protocol, or an application without one)
  std::string name;      // nDPI's name ("TLS", "DNS", "Unknown"): the metrics label, the API's `app`
  const char* app_proto = "";  // the lowercase EVE app_proto name ("tls")
  AppCount count;
};

class Worker : private RecordSink, private FlowHooks {
 public:
  Worker(uint16_t id, const WorkerConfig& cfg);
  // Non-empty when the worker could not be set up as configured (nDPI
  // failed to start); the worker then must not run.
  const std::string& start_error() const { return start_error_; }

  // Polls its own queue until EOF or stop, then flushes every flow.
  void run(PacketSource& src, const std::atomic<bool>& stop);
  // Consumes its dispatch ring until the dispatcher is done and the ring is
  // drained (or stop), then flushes every flow.
  // input_clock: the newest packet time the dispatcher has read; at the end
  // every worker advances to it before the final flush, so flows that timed
  // out before the capture ended say so, whichever worker holds them.
  void run(DispatchRing& in, FrameArena* arena, const std::atomic<bool>& input_done,
           const std::atomic<bool>& stop, const std::atomic<uint64_t>* input_clock = nullptr);

  // Inline: bridges the link's pairs with verdicts until stop() is called
  // on the link, then flushes every flow.
  void run_inline(InlineLink& link);
  void run_inline(DpdkInlineLink& link);

  // The per-packet path for one burst of decoded frames. verdict (inline
  // only; null otherwise) receives each packet's Verdict.
  void process(const Packet* const* pkts, const Decoded* const* dec, int n, Verdict* verdict = nullptr);

  const InlineStats& inline_stats() const { return inline_stats_; }
  // Null without QoS; its stats are readable from any thread.
  const QosStage* qos() const { return qos_.get(); }

  RecordRing& records() { return records_; }
  // Null when the worker runs without rules.
  AlertRing* alerts() { return detect_ ? &detect_->alerts() : nullptr; }
  const DetectStage* detect() const { return detect_.get(); }
  // Null when application classification is off. Its counters, names and
  // add_totals() may be read from any thread; flow()/label_*() only by
  // the worker itself (rule matching).
  const AppDetect* app_detect() const { return app_.get(); }
  // Adds this worker's per-application packets, bytes and flows into sum
  // (indexed by nDPI protocol id). Thread-safe: relaxed reads of counters
  // with one writer; a no-op when classification is off.
  void app_totals(std::vector<AppCount>& sum) const {
    if (app_) app_->add_totals(sum);
  }
  bool finished() const { return finished_.load(std::memory_order_acquire); }
  uint16_t id() const { return id_; }
  const WorkerStats& stats() const { return stats_; }
  const BurstTimes& burst_times() const { return burst_times_; }
  const DecodeStats& decode_stats() const { return decoder_.stats(); }
  // Null when defragmentation is off.
  const Defragmenter* defrag() const { return defrag_.get(); }
  const FlowTable& flows() const { return flows_; }
  // Copies of the active flows for the API (see dataplane/flow_snapshot.h).
  FlowSnapshotPort& snapshot_port() { return snapshot_; }
  // Newest packet time seen (packet clock).
  uint64_t now_ns() const { return now_ns_.load(std::memory_order_relaxed); }

 private:
  void put(const FlowRecord& r) override;
  // FlowHooks: a flow's end goes to the rules (held stream data) and to
  // the application classification (its labels, its nDPI state).
  void on_ending(FlowEntry& e, uint32_t flow_index) override;
  void on_record(uint32_t flow_index, FlowRecord& r) override;
  void on_end(uint32_t flow_index) override;
  // --simulate-ips: a verdict array for a burst of n (null otherwise).
  Verdict* simulated_verdicts(int n);
  Verdict sim_verdicts_[kBurst];
  void tick_idle();
  void serve_snapshot(size_t step);
  void finish(uint64_t end_ns);
  template <class Link>
  void inline_loop(Link& link);
  template <class Link>
  void drain_qos(Link& link);

  uint16_t id_;
  WorkerConfig cfg_;
  // The packets the burst's tunnels carry (Decoded::inner), processed
  // after their outer ones as packets of their own; roots: the captured
  // packet of each (for alerts' tunnel object).
  void process_inner(const Packet* const* pkts, const Decoded* const* dec, int n, Verdict* verdict,
                     const Decoded* const* roots);
  void process_burst(const Packet* const* pkts, const Decoded* const* dec, int n, Verdict* verdict,
                     const Decoded* const* roots);
  // A datagram a fragment completed: rule matching on its flow (it is not
  // accounted again: its fragments were), then the packets it carries.
  // root: the captured packet around it (null: it came from the wire).
  Verdict process_reassembled(const Packet& rp, const Decoded& frag, const Decoded* root, bool is_inline);
  Decoder decoder_;
  std::unique_ptr<Defragmenter> defrag_;
  Decoder defrag_decoder_;  // decodes reassembled datagrams; its counts are not the capture's
  RecordRing records_;
  FlowTable flows_;
  std::unique_ptr<AppDetect> app_;  // declared before detect_: rule matching reads its labels
  std::unique_ptr<DetectStage> detect_;
  std::string start_error_;
  FlowSnapshotPort snapshot_;
  WorkerStats stats_;
  InlineStats inline_stats_;
  std::unique_ptr<QosStage> qos_;  // inline with QoS only
  BurstTimes burst_times_;
  std::atomic<uint64_t> now_ns_{0};
  std::atomic<bool> finished_{false};
};

#define WS_DISPATCH_COUNTERS(X)                                                  \
  X(frames, "frames read from the source")                                     \
  X(dispatched, "frames handed to a worker")                                   \
  X(ring_waits, "times the reader waited for room in a worker ring")           \
  X(arena_waits, "times the reader waited for room in a frame arena")          \
  X(oversize_frames, "frames larger than a frame arena could ever hold")

struct DispatchStats {
#define WS_X(name, help) Counter name;
  WS_DISPATCH_COUNTERS(WS_X)
#undef WS_X
};

class Dispatcher {
 public:
  Dispatcher(PacketSource& src, std::vector<DispatchRing*> rings, std::vector<FrameArena*> arenas,
             DecodeOptions decode);
  // Reads until EOF or stop, then sets done().
  void run(const std::atomic<bool>& stop);
  const std::atomic<bool>& done() const { return done_; }
  // Newest packet time read so far (packet clock).
  const std::atomic<uint64_t>& clock() const { return clock_; }
  const DecodeStats& decode_stats() const { return decoder_.stats(); }
  const DispatchStats& stats() const { return stats_; }

 private:
  bool push(uint32_t w, const Packet& p, const Decoded& d, const std::atomic<bool>& stop);
  void commit_all();

  PacketSource& src_;
  std::vector<DispatchRing*> rings_;
  std::vector<FrameArena*> arenas_;
  std::vector<size_t> pending_;  // filled but unpublished slots per ring
  Decoder decoder_;
  DispatchStats stats_;
  std::atomic<bool> done_{false};
  std::atomic<uint64_t> clock_{0};
};

// Per-application totals summed over workers, non-zero ones only, by
// descending bytes. Thread-safe (see Worker::app_totals); empty when
// classification is off.
std::vector<AppTotal> app_totals(const std::vector<std::unique_ptr<Worker>>& workers);

// Wall-clock time in ns since the Unix epoch.
uint64_t wall_ns();

}  // namespace ws
