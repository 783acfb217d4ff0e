// QoS in the worker: compiled policy snapshots, the slot they are published
// through, and QosStage, the per-worker step that classifies, polices,
// marks and shapes each frame of the inline path.
//
// Several named policies may be installed at once. They are evaluated in
// name order, each one independently: within a policy the first class whose
// match holds takes the packet (later classes of that policy do not see it),
// and every policy gets its say. Every policy sees the packet as it arrived
// (DSCP matches read the arriving DSCP). A drop from any policy drops the
// packet at once (later policies do not count it). The DSCP written is the
// last one a matched class asks for (set_dscp, or the remark:N of its colour,
// which overrides the class's own set_dscp). The packet is then queued by
// the first shaping class it matched (in policy name order), if any.
//
// Snapshots: a QosSnapshot is immutable once published; the control side
// builds a new one for every change (PUT or DELETE of a policy) and
// publishes it into the QosSlot; each worker picks it up at its next
// begin_burst(), and the old one is freed once every worker has moved past
// it (RuleSlot's pattern, rules/rule_snapshot.h).
//
// State across updates. Each class's state (per worker: counters, meter
// buckets, shaper queue and bucket) lives in blocks the snapshots share by
// pointer, so an update carries them over:
//   - counters: while the policy and the class keep their names;
//   - meter: while the class's police parameters are unchanged;
//   - shaper: while the class's shape parameters are unchanged.
// So changing or deleting one policy leaves every other policy's meters,
// queues and counters as they were. A shaper that an update retires (its
// class deleted or its shape changed) still holds frames: the worker sends
// them at its next drain() without waiting for tokens (they have waited
// already) rather than lose them.
//
// Counters have one writer (the worker) and are summed over the workers for
// REST and metrics (qos_stats); colour is green for classes without police.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/counters.h"
#include "dataplane/decode.h"
#include "dataplane/snapshot_slot.h"
#include "dataplane/qos/dscp.h"
#include "dataplane/qos/meter.h"
#include "dataplane/qos/policy.h"
#include "dataplane/qos/shaper.h"

namespace ws {

enum class TcVerdict : uint8_t { kPass, kDrop, kQueued };

// One class on one worker: written by that worker only.
struct alignas(64) QosClassCounters {
  Counter packets[kQosColors];
  Counter bytes[kQosColors];
  Counter police_drops;   // the colour's action was drop
  Counter queue_drops;    // the shaper's queue was full (tail drop)
  Counter dscp_rewrites;  // frames whose DSCP this class changed
};

struct QosCounterBlock {
  explicit QosCounterBlock(size_t workers) : w(new QosClassCounters[workers]), n(workers) {}
  std::unique_ptr<QosClassCounters[]> w;
  size_t n;
};

struct alignas(64) QosMeterState {
  SrTcm sr;
  TrTcm tr;
  bool started = false;  // buckets are filled at the first packet's time
};

struct QosMeterBlock {
  explicit QosMeterBlock(size_t workers) : w(new QosMeterState[workers]) {}
  std::unique_ptr<QosMeterState[]> w;
};

struct QosShaperBlock {
  std::vector<std::unique_ptr<Shaper>> w;  // one per worker
};

struct QosCompiledClass {
  QosClass spec;
  SrTcmProfile sr;
  TrTcmProfile tr;
  QosColorAction action[kQosColors];  // by QosColor; transmit for classes without police
  std::shared_ptr<QosCounterBlock> counters;
  std::shared_ptr<QosMeterBlock> meter;      // null without police
  std::shared_ptr<QosShaperBlock> shaper;    // null without shape
};

struct QosCompiledPolicy {
  std::string name;
  std::vector<QosCompiledClass> classes;
};

struct QosSnapshot {
  uint64_t generation = 0;  // set by QosSlot::publish
  size_t workers = 0;
  std::vector<QosCompiledPolicy> policies;  // name order
  // [worker]: that worker's shapers, policy then class order (drain's list).
  std::vector<std::vector<Shaper*>> shapers;
};

// Builds the snapshot for policies (by name). previous (may be null) lends
// its state blocks by the rules above. Allocates every per-worker meter and
// shaper queue here, off the data path.
std::unique_ptr<QosSnapshot> build_qos_snapshot(const std::map<std::string, QosPolicy>& policies,
                                                const QosSnapshot* previous, size_t workers);

// The QoS snapshot the workers use (dataplane/snapshot_slot.h). Control
// side readers of current() hold the same lock as the publisher
// (QosControl does), since it is valid only until the next publish.
class QosSlot : public SnapshotSlot<QosSnapshot> {
 public:
  // Starts with an empty snapshot (no policy: every frame passes).
  explicit QosSlot(size_t workers);
};

#define WS_QOS_STAGE_COUNTERS(X)                                                        \
  X(frames, "frames the QoS stage saw")                                                 \
  X(dscp_rewrites, "frames whose DSCP was rewritten")                                   \
  X(dscp_unwritable, "frames a class asked to re-mark whose IP header was not captured") \
  X(flushed, "queued frames sent without tokens because a policy update retired their shaper")

struct QosStageStats {
#define WS_X(name, help) Counter name;
  WS_QOS_STAGE_COUNTERS(WS_X)
#undef WS_X
};

// One per worker. Not thread-safe: the worker's own.
class QosStage {
 public:
  QosStage(QosSlot* slot, size_t worker) : slot_(slot), worker_(worker) {}

  // Picks up a newly published snapshot (one atomic load when nothing
  // changed). Call once per burst, before apply().
  void begin_burst() {
    const QosSnapshot* s = slot_->peek();
    if (s != cur_) switch_to(s);
  }

  // frame: the writable frame bytes (DSCP may be rewritten in place); len:
  // its captured length; dec: its decode (IP frames only); app_name: the
  // flow's nDPI label ("" when unknown); to_server: sent by the flow's
  // initiator; out_port: where the frame would go; now_ns: the worker's
  // clock, the same monotonic one for apply() and drain() (a shaper never
  // refills backwards: a clock that steps back holds its queue until the
  // clock catches up). kPass: send the frame (maybe re-marked) now. kDrop:
  // a police action or a full queue dropped it (counted). kQueued: it was
  // copied into a shaper queue; the caller releases its buffer and sends
  // nothing, drain() sends the copy later. vlan_tag: the tag the capture
  // stripped (packet.h's stripped_vlan_tag): the frame leaves with it, so
  // meters and counters count its 4 bytes and a queued copy holds it.
  TcVerdict apply(uint8_t* frame, uint32_t len, const Decoded& dec, std::string_view app_name, bool to_server,
                  uint16_t out_port, uint64_t now_ns, uint32_t vlan_tag = kNoVlanTag);

  // Sends queued frames whose tokens are there: emit(const uint8_t* data,
  // uint32_t len, uint16_t port); data is valid during the call only. Call
  // every loop iteration (with or without packets), on the clock apply() gets.
  template <class Emit>
  uint32_t drain(uint64_t now_ns, Emit&& emit) {
    uint32_t n = 0;
    if (flush_from_) n += flush_retired(emit);
    if (queued_ == 0) return n;
    queued_ = 0;
    for (Shaper* sh : *shapers_) {
      n += sh->drain(now_ns, emit);
      queued_ += sh->queued_frames();
    }
    return n;
  }

  // Earliest time a queued frame may leave; UINT64_MAX when none waits.
  uint64_t next_due_ns() const;
  uint32_t queued_frames() const { return queued_; }
  const QosSnapshot* snapshot() const { return cur_; }
  const QosStageStats& stats() const { return stats_; }
  // The worker stops: frees its hold on every snapshot.
  void quiesce() { slot_->quiesce(worker_); }

 private:
  void switch_to(const QosSnapshot* s);
  template <class Emit>
  uint32_t flush_retired(Emit& emit) {
    uint32_t n = 0;
    for (Shaper* sh : retired_shapers_) n += sh->flush(emit);
    stats_.flushed.inc(n);
    retired_shapers_.clear();
    flush_from_ = nullptr;
    slot_->ack(worker_, cur_);
    return n;
  }

  QosSlot* slot_;
  size_t worker_;
  const QosSnapshot* cur_ = nullptr;
  // The snapshot this worker still holds (not acked) because shapers it
  // retired have frames to flush.
  const QosSnapshot* flush_from_ = nullptr;
  const std::vector<Shaper*>* shapers_ = &kNoShapers;  // of cur_, for this worker
  static inline const std::vector<Shaper*> kNoShapers{};
  std::vector<Shaper*> retired_shapers_;
  uint32_t queued_ = 0;
  QosStageStats stats_;
};

// True when the class's match holds for the packet.
bool qos_match(const QosMatch& m, const Decoded& dec, std::string_view app_name, bool to_server);

// Sums over workers, for REST and metrics.
struct QosClassTotals {
  std::string policy, cls;
  uint64_t packets[kQosColors] = {}, bytes[kQosColors] = {};
  uint64_t police_drops = 0, queue_drops = 0, dscp_rewrites = 0;
  uint64_t queued_frames = 0, queued_bytes = 0;  // waiting in shaper queues now
  uint64_t overlimits = 0;  // host mode: times the HTB class held a packet back for want of tokens
  bool policed = false, shaped = false;
};
std::vector<QosClassTotals> qos_stats(const QosSnapshot& s);

}  // namespace ws
