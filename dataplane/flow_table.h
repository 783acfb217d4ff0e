// FlowTable: one per worker, owned and touched only by that worker, so it
// takes no locks. Fixed capacity set at start-up; nothing is allocated
// after construction.
//
// Layout. Entries live in one array (the pool). An index of 64-byte
// buckets maps a hash to entries: each bucket holds 8 (signature, index)
// slots, so a lookup reads one cache line of index and then the entry.
// A flow may sit in either of two buckets (two-choice hashing), which keeps
// buckets from overflowing at the default 50% index load. When the pool or
// both buckets are full, the least recently seen of the 16 candidate flows
// is ended with reason `forced` and counted, as ipfixprobe does.
//
// Time. Every entry sits on a timer wheel of 1-second slots in the slot of
// the time it may expire. Packets only update last_seen; when the wheel
// reaches a slot it re-checks each entry there and either ends it or moves
// it to the slot of its new due time (lazy timers, so the per-packet path
// never touches the wheel). Time is packet time, so a replay is
// deterministic; the worker also advances it on wall-clock time when a
// live link goes quiet.
//
// Direction. Entries store counters by canonical side (a→b, b→a) and a bit
// telling which side is the client: the sender of the first packet, or of
// the SYN once one is seen (a SYN/ACK names its receiver as the client).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "dataplane/counters.h"
#include "dataplane/decode.h"
#include "dataplane/flow_key.h"
#include "dataplane/packet.h"
#include "telemetry/flow_record.h"

namespace ws {

// Idle timeouts in seconds by state, Suricata's defaults.
struct StateTimeouts {
  uint32_t new_s;
  uint32_t established_s;
  uint32_t closed_s;
};

struct FlowTableConfig {
  size_t capacity = 1 << 20;  // flows in this table
  StateTimeouts tcp{60, 600, 60};
  StateTimeouts udp{30, 300, 0};
  StateTimeouts icmp{30, 300, 0};
  StateTimeouts other{30, 300, 0};
  uint32_t active_timeout_s = 1800;  // a long flow is reported (and continues) after this
};

// Receives ended flows (and active-timeout slices). Called once per record,
// never per packet.
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  virtual void put(const FlowRecord& r) = 0;
};

// Per-flow side tables kept by later stages (nDPI state, indexed by
// FlowTable::index_of) follow a flow's records and its end through this.
// Called once per record and once per flow, never per packet.
struct FlowEntry;

class FlowHooks {
 public:
  virtual ~FlowHooks() = default;
  // The flow e in slot flow_index is ending, before its last record is
  // made: what it still holds may be looked at (held stream data).
  virtual void on_ending(FlowEntry& e, uint32_t flow_index) {
    (void)e;
    (void)flow_index;
  }
  // r, a record of the flow in slot flow_index, is about to go to the sink:
  // the hook may fill in its side-table fields.
  virtual void on_record(uint32_t flow_index, FlowRecord& r) = 0;
  // The flow in slot flow_index has ended (after its last record, if it
  // had one); the slot may be reused by the next flow.
  virtual void on_end(uint32_t flow_index) = 0;
};

#define WS_FLOW_COUNTERS(X)                                                  \
  X(flows_created, "flows created")                                          \
  X(flows_ended_idle, "flows ended by their idle timeout")                   \
  X(flows_ended_closed, "TCP flows ended after FIN/RST")                     \
  X(flows_ended_forced, "flows evicted because the table or bucket was full") \
  X(flows_ended_shutdown, "flows flushed at capture end or shutdown")        \
  X(flows_ended_reuse, "TCP flows ended by a new SYN on a closed 5-tuple")   \
  X(active_timeout_records, "records emitted by the active timeout")

struct FlowTableStats {
#define WS_X(name, help) Counter name;
  WS_FLOW_COUNTERS(WS_X)
#undef WS_X
  Counter active;  // flows in the table now
};

// kFlowbitsUsed: the flow has set a flowbit (its bits live in the detect
// stage's slot for this entry). kFlowPassed: a pass rule exempted the flow.
// kAlerted: a rule alerted on the flow (EVE flow.alerted). kIpOnlyTo*: the
// IP-only rules have run for that direction (once per direction).
enum FlowEntryBits : uint8_t {
  kFinA = 1u << 0, kFinB = 1u << 1, kPayloadSeen = 1u << 2, kFlowbitsUsed = 1u << 3, kFlowPassed = 1u << 4,
  kAlerted = 1u << 5, kIpOnlyToServer = 1u << 6, kIpOnlyToClient = 1u << 7
};

// kFlowDropped: in inline mode a drop or reject rule matched the flow;
// every later packet of it is dropped without inspection (Suricata's drop
// action scope, flow).
enum FlowVerdictBits : uint8_t { kFlowDropped = 1u << 0 };

struct alignas(64) FlowEntry {
  FlowKey key;               // canonical
  uint64_t hash;
  uint64_t flow_start_ns;
  uint64_t slice_start_ns;   // first packet of the current record slice
  // --- second cache line: counters ---
  uint64_t last_ns;
  uint64_t pkts[2];          // by canonical side: [0] a→b, [1] b→a
  uint64_t bytes[2];
  uint64_t l3_bytes[2];
  uint64_t dir_first_ns[2];
  uint64_t dir_last_ns[2];
  uint64_t flow_id;
  uint32_t wheel_prev;
  uint32_t wheel_next;
  uint32_t wheel_slot;
  uint16_t vlan[2];
  uint16_t ifindex;
  uint8_t vlan_count;
  uint8_t client_is_b;       // 1 when the canonical b side is the client
  uint8_t syn_seen;          // 1: the session began with its SYN; 2: with the SYN/ACK
  uint8_t tcp_flags[2];      // by canonical side, this slice
  uint8_t icmp_type[2];
  uint8_t icmp_code[2];
  uint8_t bits;              // kFinA/kFinB: side has sent a FIN; kPayload: payload seen
  uint8_t tcp_state;         // TcpState
  uint8_t pkt_tcp_state;     // TcpState before the latest packet (rule matching's `established`)
  uint8_t flow_state;        // FlowState
  uint8_t in_use : 1;
  uint8_t verdict : 1;       // FlowVerdictBits: inline decisions that outlive the packet
  uint8_t rule_gen : 6;      // the rule set (mod 64) its kIpOnlyTo* bits were set under
};



static_assert(sizeof(FlowEntry) == 192, "three cache lines");

class FlowTable {
 public:
  FlowTable(const FlowTableConfig& cfg, RecordSink* sink, uint16_t worker = 0);
  ~FlowTable();
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  // Accounts one decoded packet to its flow, creating the flow if needed.
  // Returns the entry (valid until the next call), never null.
  FlowEntry* update(const Packet& p, const Decoded& d);

  // The burst form: the caller has put the key in canonical order (side
  // is 1 if that swapped it) and hashed it, and has prefetched.
  FlowEntry* update(const Packet& p, const Decoded& d, const FlowKey& canon, uint64_t hash, int side);

  // Two prefetch stages for a burst: the bucket first, then (once the
  // bucket has arrived) the entry it points to, so that update() finds
  // both in cache. Missing both costs ~2 × 80 ns per packet at 1M flows.
  void prefetch(uint64_t hash) const;
  // Returns the slot of the entry it prefetched (so side tables can be
  // prefetched too), or kNoSlot when the flow is not in the table yet.
  uint32_t prefetch_entry(uint64_t hash) const;
  static constexpr uint32_t kNoSlot = 0xffffffffu;

  // Side-table hooks (null: none). Set before the first packet.
  void set_hooks(FlowHooks* h) { hooks_ = h; }

  // Ends every flow whose time has come, up to now_ns.
  void advance(uint64_t now_ns);

  // Ends every flow (capture end, shutdown).
  void flush_all(FlowEndReason reason);

  size_t active() const { return active_; }
  size_t capacity() const { return cap_; }
  const FlowTableStats& stats() const { return stats_; }
  // Memory per flow: the entry plus its share of the bucket index.
  static constexpr size_t entry_bytes() { return sizeof(FlowEntry); }
  size_t bytes_per_flow() const;

  // The entry's slot number, 0..capacity()-1, for per-flow side tables.
  uint32_t index_of(const FlowEntry& e) const { return static_cast<uint32_t>(&e - entries_); }

  // Calls f(entry) for each in-use entry in slots [from, to) (flow
  // snapshots for the API walk the table a few slots at a time).
  template <typename F>
  void visit(size_t from, size_t to, F&& f) const {
    for (size_t i = from; i < to && i < cap_; ++i)
      if (entries_[i].in_use) f(entries_[i]);
  }

  // Looks a flow up without changing anything (tests, API).
  const FlowEntry* find(const FlowKey& any_direction) const;
  FlowEntry* find(const FlowKey& any_direction) {
    return const_cast<FlowEntry*>(static_cast<const FlowTable*>(this)->find(any_direction));
  }

  // Fills r from e as a record ending now (client-oriented).
  static void to_record(const FlowEntry& e, FlowEndReason reason, bool last_slice, uint16_t worker,
                        FlowRecord& r);

 private:
  struct alignas(64) Bucket {
    uint32_t sig[8];
    uint32_t idx[8];  // entry index + 1; 0 = empty
  };
  static constexpr uint32_t kWheelSlots = 4096;
  static constexpr uint64_t kTickNs = 1000000000ull;
  static constexpr uint32_t kNil = 0xffffffffu;

  FlowEntry* lookup(const FlowKey& canon, uint64_t hash, uint32_t sig) const;
  FlowEntry* insert(const FlowKey& canon, uint64_t hash, uint32_t sig, uint64_t now_ns);
  // at_ns: the record's time; 0 = the table's current time.
  void end_flow(FlowEntry& e, FlowEndReason reason, uint64_t at_ns = 0);
  // Ends e (idle) or cuts its slice (active) if due by now_ns; true if it ended.
  bool expire_due(FlowEntry& e, uint64_t now_ns);
  void emit(FlowEntry& e, FlowEndReason reason, bool last_slice, uint64_t at_ns = 0);
  void unlink_bucket(const FlowEntry& e);
  uint64_t due_ns(const FlowEntry& e) const;
  const StateTimeouts& timeouts_for(uint8_t proto) const;
  void wheel_insert(FlowEntry& e, uint64_t due);
  void wheel_unlink(FlowEntry& e);
  void track_tcp(FlowEntry& e, int side, uint8_t flags);

  FlowTableConfig cfg_;
  RecordSink* sink_;
  FlowHooks* hooks_ = nullptr;
  uint16_t worker_;
  size_t cap_;
  size_t nbuckets_;
  size_t bucket_mask_;
  Bucket* buckets_ = nullptr;
  FlowEntry* entries_ = nullptr;
  std::vector<uint32_t> free_;  // free entry indices (a stack; reserved up front)
  std::vector<uint32_t> wheel_; // head entry index per slot
  bool reuse_ = false;          // the flow being ended was ended by a new SYN (EVE tcp_reuse)
  size_t evict_hand_ = 0;       // clock hand for evictions outside the candidate buckets
  uint64_t now_ns_ = 0;         // newest time seen by update() or advance()
  uint64_t wheel_now_ = 0;      // time of the slot the wheel has processed up to (ticks)
  bool wheel_started_ = false;
  size_t active_ = 0;
  FlowTableStats stats_;
  FlowRecord scratch_;
};

}  // namespace ws
