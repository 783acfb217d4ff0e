#include "dataplane/flow_table.h"

#include <algorithm>
#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <new>

#include "dataplane/flow_hash.h"

namespace ws {
namespace {

constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpSyn = 0x02;
constexpr uint8_t kTcpRst = 0x04;
constexpr uint8_t kTcpAck = 0x10;

constexpr uint64_t kNsPerSec = 1000000000ull;

size_t pow2_at_least(size_t v) {
  size_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

// Zeroed, page-aligned memory straight from mmap: the kernel hands out
// zero pages on first touch, so a large table costs nothing until used
// (a memset of a 1M-flow pool would fault in 200 MB at start-up).
template <typename T>
T* alloc_array(size_t n) {
  void* p = mmap(nullptr, n * sizeof(T), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  // Lookups land anywhere in a table of hundreds of MB: with 4 KiB pages
  // nearly every one is also a TLB miss and a page walk. Ask for
  // transparent huge pages (a hint; ignored where THP is off).
  madvise(p, n * sizeof(T), MADV_HUGEPAGE);
  return static_cast<T*>(p);
}

}  // namespace

FlowTable::FlowTable(const FlowTableConfig& cfg, RecordSink* sink, uint16_t worker)
    : cfg_(cfg), sink_(sink), worker_(worker), cap_(cfg.capacity ? cfg.capacity : 1) {
  // Four entries per bucket on average: half of the 8 slots, so the
  // two-choice insert almost never finds both buckets full.
  nbuckets_ = pow2_at_least(std::max<size_t>(cap_ / 4, 2));
  bucket_mask_ = nbuckets_ - 1;
  buckets_ = alloc_array<Bucket>(nbuckets_);
  entries_ = alloc_array<FlowEntry>(cap_);
  free_.reserve(cap_);
  for (size_t i = cap_; i-- > 0;) free_.push_back(static_cast<uint32_t>(i));
  wheel_.assign(kWheelSlots, kNil);
}

FlowTable::~FlowTable() {
  munmap(buckets_, nbuckets_ * sizeof(Bucket));
  munmap(entries_, cap_ * sizeof(FlowEntry));
}

size_t FlowTable::bytes_per_flow() const {
  return sizeof(FlowEntry) + (nbuckets_ * sizeof(Bucket) + cap_ - 1) / cap_ + sizeof(uint32_t);
}

void FlowTable::prefetch(uint64_t hash) const {
  __builtin_prefetch(&buckets_[hash & bucket_mask_]);
}

const StateTimeouts& FlowTable::timeouts_for(uint8_t proto) const {
  switch (proto) {
    case 6: return cfg_.tcp;
    case 17: return cfg_.udp;
    case 1:
    case 58: return cfg_.icmp;
    default: return cfg_.other;
  }
}

uint64_t FlowTable::due_ns(const FlowEntry& e) const {
  const StateTimeouts& t = timeouts_for(e.key.proto);
  uint32_t idle;
  switch (static_cast<FlowState>(e.flow_state)) {
    case FlowState::kNew: idle = t.new_s; break;
    case FlowState::kEstablished: idle = t.established_s; break;
    default: idle = t.closed_s; break;
  }
  const uint64_t idle_due = e.last_ns + idle * kNsPerSec;
  const uint64_t active_due = e.slice_start_ns + uint64_t{cfg_.active_timeout_s} * kNsPerSec;
  return std::min(idle_due, active_due);
}

void FlowTable::wheel_insert(FlowEntry& e, uint64_t due) {
  // Due within the tick the wheel is processing (or earlier) goes to the
  // next slot, which the next advance() visits.
  uint64_t tick = due / kTickNs;
  if (wheel_started_ && tick <= wheel_now_) tick = wheel_now_ + 1;
  const uint32_t slot = static_cast<uint32_t>(tick % kWheelSlots);
  const uint32_t idx = index_of(e);
  e.wheel_slot = slot;
  e.wheel_prev = kNil;
  e.wheel_next = wheel_[slot];
  if (e.wheel_next != kNil) entries_[e.wheel_next].wheel_prev = idx;
  wheel_[slot] = idx;
}

void FlowTable::wheel_unlink(FlowEntry& e) {
  if (e.wheel_slot == kNil) return;  // detached by advance()
  if (e.wheel_prev != kNil)
    entries_[e.wheel_prev].wheel_next = e.wheel_next;
  else
    wheel_[e.wheel_slot] = e.wheel_next;
  if (e.wheel_next != kNil) entries_[e.wheel_next].wheel_prev = e.wheel_prev;
  e.wheel_prev = e.wheel_next = kNil;
  e.wheel_slot = kNil;
}

FlowEntry* FlowTable::lookup(const FlowKey& canon, uint64_t hash, uint32_t sig) const {
  const size_t b1 = hash & bucket_mask_;
  const size_t b2 = (hash >> 24) & bucket_mask_;
  for (size_t b : {b1, b2}) {
    const Bucket& bk = buckets_[b];
    for (int i = 0; i < 8; ++i) {
      if (bk.sig[i] == sig && bk.idx[i]) {
        FlowEntry* e = &entries_[bk.idx[i] - 1];
        if (e->key == canon) return e;
      }
    }
    if (b1 == b2) break;
  }
  return nullptr;
}

const FlowEntry* FlowTable::find(const FlowKey& any) const {
  FlowKey k = any;
  canonicalize(k);
  const uint64_t h = flow_hash(k);
  return lookup(k, h, static_cast<uint32_t>(h >> 32) | 1u);
}

void FlowTable::unlink_bucket(const FlowEntry& e) {
  const uint32_t sig = static_cast<uint32_t>(e.hash >> 32) | 1u;
  const uint32_t want = index_of(e) + 1;
  for (size_t b : {size_t(e.hash & bucket_mask_), size_t((e.hash >> 24) & bucket_mask_)}) {
    Bucket& bk = buckets_[b];
    for (int i = 0; i < 8; ++i) {
      if (bk.idx[i] == want && bk.sig[i] == sig) {
        bk.idx[i] = 0;
        bk.sig[i] = 0;
        return;
      }
    }
  }
}

FlowEntry* FlowTable::insert(const FlowKey& canon, uint64_t hash, uint32_t sig, uint64_t now_ns) {
  const size_t b1 = hash & bucket_mask_;
  const size_t b2 = (hash >> 24) & bucket_mask_;
  auto free_slot = [&](size_t b) -> int {
    for (int i = 0; i < 8; ++i)
      if (!buckets_[b].idx[i]) return i;
    return -1;
  };
  int slot = free_slot(b1);
  size_t bucket = b1;
  if (slot < 0) {
    slot = free_slot(b2);
    bucket = b2;
  }
  if (slot < 0 || free_.empty()) {
    // Evict the least recently seen flow among the candidates: the 16
    // flows of both buckets. Ending it frees its entry and its slot.
    FlowEntry* victim = nullptr;
    size_t vb = b1;
    int vs = 0;
    for (size_t b : {b1, b2}) {
      for (int i = 0; i < 8; ++i) {
        const uint32_t ix = buckets_[b].idx[i];
        if (!ix) continue;
        FlowEntry* e = &entries_[ix - 1];
        if (!victim || e->last_ns < victim->last_ns) {
          victim = e;
          vb = b;
          vs = i;
        }
      }
    }
    if (!victim) {
      // The pool is full but both candidate buckets are empty: every entry
      // is in use, so take the one under a rotating hand (a clock sweep).
      victim = &entries_[evict_hand_++ % cap_];
    }
    stats_.flows_ended_forced.inc();
    end_flow(*victim, FlowEndReason::kForced);
    if (slot < 0) {
      bucket = vb;
      slot = vs;
    }
  }
  const uint32_t ix = free_.back();
  free_.pop_back();
  FlowEntry& e = entries_[ix];
  std::memset(static_cast<void*>(&e), 0, sizeof e);
  e.key = canon;
  e.hash = hash;
  e.flow_start_ns = e.slice_start_ns = e.last_ns = now_ns;
  // Suricata prints flow_id as a JSON integer masked to 51 bits, so that
  // every JSON reader, JavaScript included, keeps it exact; do the same here
  // so every output carries the same id.
  e.flow_id = ((hash ^ (now_ns * 0x9e3779b97f4a7c15ull)) & ((1ull << 51) - 1)) | 1;
  e.in_use = 1;
  wheel_insert(e, due_ns(e));
  buckets_[bucket].sig[slot] = sig;
  buckets_[bucket].idx[slot] = ix + 1;
  ++active_;
  stats_.flows_created.inc();
  stats_.active.set(active_);
  return &e;
}

void FlowTable::to_record(const FlowEntry& e, FlowEndReason reason, bool last_slice, uint16_t worker,
                          FlowRecord& r) {
  // Canonical side c maps to record direction: the client's side is 0.
  const int cs = e.client_is_b;  // canonical index of the client's outgoing counters
  r = FlowRecord{};
  if (cs == 0) {
    r.key = e.key;
  } else {
    r.key = e.key.reversed();
  }
  for (int dir = 0; dir < 2; ++dir) {
    const int c = dir == 0 ? cs : 1 - cs;
    r.pkts[dir] = e.pkts[c];
    r.bytes[dir] = e.bytes[c];
    r.l3_bytes[dir] = e.l3_bytes[c];
    r.dir_start_ns[dir] = e.dir_first_ns[c];
    r.dir_end_ns[dir] = e.dir_last_ns[c];
    r.tcp_flags[dir] = e.tcp_flags[c];
    r.icmp_type[dir] = e.icmp_type[c];
    r.icmp_code[dir] = e.icmp_code[c];
  }
  r.flow_id = e.flow_id;
  r.flow_start_ns = e.flow_start_ns;
  // The slice runs from its first to its last packet in either direction.
  r.start_ns = r.end_ns = 0;
  for (int dir = 0; dir < 2; ++dir) {
    if (!r.pkts[dir]) continue;
    if (!r.start_ns || r.dir_start_ns[dir] < r.start_ns) r.start_ns = r.dir_start_ns[dir];
    if (r.dir_end_ns[dir] > r.end_ns) r.end_ns = r.dir_end_ns[dir];
  }
  if (!r.start_ns) r.start_ns = r.end_ns = e.last_ns;
  r.vlan[0] = e.vlan[0];
  r.vlan[1] = e.vlan[1];
  r.vlan_count = e.vlan_count;
  r.reason = reason;
  r.state = static_cast<FlowState>(e.flow_state);
  r.tcp_state = static_cast<TcpState>(e.tcp_state);
  r.alerted = (e.bits & kAlerted) ? 1 : 0;
  r.action = (e.verdict & kFlowDropped) ? 2 : (e.bits & kFlowPassed) ? 1 : 0;
  r.payload_seen = (e.bits & kPayloadSeen) != 0;
  r.ifindex = e.ifindex;
  r.worker = worker;
  r.last_slice = last_slice;
}

void FlowTable::emit(FlowEntry& e, FlowEndReason reason, bool last_slice, uint64_t at_ns) {
  // A slice without packets (the flow was quiet since the last active-
  // timeout record) has nothing to report: the records still sum exactly.
  if (!sink_ || (!e.pkts[0] && !e.pkts[1])) return;
  to_record(e, reason, last_slice, worker_, scratch_);
  scratch_.emit_ns = at_ns ? at_ns : std::max(now_ns_, e.last_ns);
  scratch_.tcp_reuse = reuse_;
  if (hooks_) hooks_->on_record(index_of(e), scratch_);
  sink_->put(scratch_);
}

void FlowTable::end_flow(FlowEntry& e, FlowEndReason reason, uint64_t at_ns) {
  if (hooks_) hooks_->on_ending(e, index_of(e));
  emit(e, reason, true, at_ns);
  if (hooks_) hooks_->on_end(index_of(e));
  wheel_unlink(e);
  unlink_bucket(e);
  e.in_use = 0;
  free_.push_back(index_of(e));
  --active_;
  stats_.active.set(active_);
}

void FlowTable::track_tcp(FlowEntry& e, int side, uint8_t flags) {
  const int client = e.client_is_b;
  const bool from_client = side == client;
  TcpState s = static_cast<TcpState>(e.tcp_state);
  if (flags & kTcpRst) {
    s = TcpState::kClosed;
  } else if (flags & kTcpSyn) {
    if (!(flags & kTcpAck)) {
      if (s == TcpState::kNone) s = TcpState::kSynSent;
    } else if (s == TcpState::kSynSent || s == TcpState::kNone) {
      s = TcpState::kSynRecv;
    }
  } else if (flags & kTcpFin) {
    e.bits |= static_cast<uint8_t>(side ? kFinB : kFinA);
    switch (s) {
      case TcpState::kSynSent:
      case TcpState::kSynRecv:
      case TcpState::kEstablished:
      case TcpState::kNone:
        s = from_client ? TcpState::kFinWait1 : TcpState::kCloseWait;
        break;
      case TcpState::kFinWait1:
      case TcpState::kFinWait2:
        if (!from_client) s = (flags & kTcpAck) && s == TcpState::kFinWait2 ? TcpState::kTimeWait : TcpState::kClosing;
        if (!from_client && s == TcpState::kClosing && (flags & kTcpAck)) s = TcpState::kTimeWait;
        break;
      case TcpState::kCloseWait:
        if (from_client) s = TcpState::kLastAck;
        break;
      default:
        break;
    }
  } else if (flags & kTcpAck) {
    switch (s) {
      case TcpState::kSynRecv:
        if (from_client) s = TcpState::kEstablished;
        break;
      case TcpState::kNone:
        // Picked up mid-stream: established once both sides have spoken.
        if (e.pkts[0] && e.pkts[1]) s = TcpState::kEstablished;
        break;
      case TcpState::kFinWait1:
        if (!from_client) s = TcpState::kFinWait2;
        break;
      case TcpState::kClosing:
      case TcpState::kTimeWait:
      case TcpState::kLastAck:
        if (s == TcpState::kLastAck ? !from_client : true) s = TcpState::kClosed;
        break;
      default:
        break;
    }
  }
  e.tcp_state = static_cast<uint8_t>(s);
  FlowState fs = static_cast<FlowState>(e.flow_state);
  // As Suricata: CLOSING (both FINs sent, neither acknowledged) is still
  // established; LAST_ACK, TIME_WAIT and CLOSED are closed.
  if (s == TcpState::kClosed || s == TcpState::kTimeWait || s == TcpState::kLastAck) {
    fs = FlowState::kClosed;
  } else if (s == TcpState::kEstablished || s == TcpState::kFinWait1 || s == TcpState::kFinWait2 ||
             s == TcpState::kCloseWait || s == TcpState::kClosing) {
    fs = FlowState::kEstablished;
  }
  if (fs != static_cast<FlowState>(e.flow_state)) {
    const bool now_closed = fs == FlowState::kClosed;
    e.flow_state = static_cast<uint8_t>(fs);
    // Closing shortens the timeout: move the timer instead of waiting for
    // the lazy one at the longer established timeout.
    if (now_closed) {
      wheel_unlink(e);
      wheel_insert(e, due_ns(e));
    }
  }
}

FlowEntry* FlowTable::update(const Packet& p, const Decoded& d) {
  FlowKey canon = d.key;
  const int side = canonicalize(canon) ? 1 : 0;
  return update(p, d, canon, flow_hash(canon), side);
}

uint32_t FlowTable::prefetch_entry(uint64_t hash) const {
  const uint32_t sig = static_cast<uint32_t>(hash >> 32) | 1u;
  const Bucket& bk = buckets_[hash & bucket_mask_];
  for (int i = 0; i < 8; ++i)
    if (bk.sig[i] == sig && bk.idx[i]) {
      const char* e = reinterpret_cast<const char*>(&entries_[bk.idx[i] - 1]);
      __builtin_prefetch(e, 1);
      __builtin_prefetch(e + 64, 1);
      __builtin_prefetch(e + 128, 1);
      return bk.idx[i] - 1;
    }
  return kNoSlot;
}

FlowEntry* FlowTable::update(const Packet& p, const Decoded& d, const FlowKey& canon, uint64_t hash,
                             int side) {
  const uint32_t sig = static_cast<uint32_t>(hash >> 32) | 1u;
  const uint64_t now = p.ts_ns;
  if (now > now_ns_) now_ns_ = now;
  const bool tcp = canon.proto == 6;
  const uint8_t flags = d.tcp_flags;

  FlowEntry* e = lookup(canon, hash, sig);
  // A flow whose time ran out before this packet ends (or is cut) first, as
  // if the timer had fired: the outcome must not depend on burst boundaries
  // or on how often this worker's clock moved.
  if (e && due_ns(*e) <= now) {
    wheel_unlink(*e);
    if (expire_due(*e, now))
      e = nullptr;
    else
      wheel_insert(*e, due_ns(*e));
  }
  if (e && tcp && (flags & (kTcpSyn | kTcpAck | kTcpRst)) == kTcpSyn &&
      e->flow_state == static_cast<uint8_t>(FlowState::kClosed)) {
    // A new connection on a 5-tuple whose previous one has closed.
    stats_.flows_ended_reuse.inc();
    stats_.flows_ended_closed.inc();
    reuse_ = true;
    end_flow(*e, FlowEndReason::kEndOfFlow);
    reuse_ = false;
    e = nullptr;
  }
  if (!e) {
    e = insert(canon, hash, sig, now);
    e->client_is_b = static_cast<uint8_t>(side);
    e->vlan[0] = d.vlan[0];
    e->vlan[1] = d.vlan[1];
    e->vlan_count = d.vlan_count;
    e->ifindex = p.ifindex;
  }

  if (tcp && !e->syn_seen && (flags & kTcpSyn) && !(flags & kTcpRst)) {
    // The SYN names the client: its sender, or a SYN/ACK's receiver. A
    // session that starts with the SYN/ACK is one Suricata picks up
    // mid-stream (2).
    e->syn_seen = (flags & kTcpAck) ? 2 : 1;
    e->client_is_b = static_cast<uint8_t>((flags & kTcpAck) ? 1 - side : side);
  }

  if (now > e->last_ns) e->last_ns = now;
  if (!e->pkts[side] && !e->dir_first_ns[side]) e->dir_first_ns[side] = now;
  e->dir_last_ns[side] = now > e->dir_last_ns[side] ? now : e->dir_last_ns[side];
  e->pkts[side] += 1;
  e->bytes[side] += d.frame_len;
  e->l3_bytes[side] += d.l3_len;
  e->tcp_flags[side] |= flags;
  if (d.payload_len) e->bits |= kPayloadSeen;
  if (canon.proto == 1 || canon.proto == 58) {
    e->icmp_type[side] = d.icmp_type;
    e->icmp_code[side] = d.icmp_code;
  }

  if (tcp) {
    e->pkt_tcp_state = e->tcp_state;
    track_tcp(*e, side, flags);
  } else if (e->flow_state == static_cast<uint8_t>(FlowState::kNew) && e->pkts[0] && e->pkts[1]) {
    e->flow_state = static_cast<uint8_t>(FlowState::kEstablished);
  }
  return e;
}

bool FlowTable::expire_due(FlowEntry& e, uint64_t now_ns) {
  const StateTimeouts& to = timeouts_for(e.key.proto);
  const uint64_t active = uint64_t{cfg_.active_timeout_s} * kNsPerSec;
  // Deadlines are applied in time order, as if a timer had fired at each,
  // so the outcome never depends on how often this worker's clock moved.
  for (;;) {
    uint64_t idle_s;
    switch (static_cast<FlowState>(e.flow_state)) {
      case FlowState::kNew: idle_s = to.new_s; break;
      case FlowState::kEstablished: idle_s = to.established_s; break;
      default: idle_s = to.closed_s; break;
    }
    const uint64_t idle_due = e.last_ns + idle_s * kNsPerSec;
    const uint64_t active_due = e.slice_start_ns + active;
    if (active_due < idle_due && active_due <= now_ns) {
      // Active timeout: slices are fixed windows from the flow's start. An
      // empty slice reports nothing; skip straight over empty windows.
      if (e.pkts[0] || e.pkts[1]) {
        stats_.active_timeout_records.inc();
        emit(e, FlowEndReason::kActiveTimeout, false, active_due);
        e.slice_start_ns = active_due;
      } else {
        const uint64_t until = std::min(idle_due, now_ns);
        e.slice_start_ns += active * std::max<uint64_t>(1, (until - e.slice_start_ns) / active);
      }
      for (int s = 0; s < 2; ++s) {
        e.pkts[s] = e.bytes[s] = e.l3_bytes[s] = 0;
        e.dir_first_ns[s] = e.dir_last_ns[s] = 0;
        e.tcp_flags[s] = 0;
      }
      continue;
    }
    if (idle_due <= now_ns) {
      const bool closed = e.flow_state == static_cast<uint8_t>(FlowState::kClosed) && e.key.proto == 6;
      if (closed)
        stats_.flows_ended_closed.inc();
      else
        stats_.flows_ended_idle.inc();
      // Stamped with the moment the timeout ran out, not when it was noticed.
      end_flow(e, closed ? FlowEndReason::kEndOfFlow : FlowEndReason::kIdleTimeout, idle_due);
      return true;
    }
    return false;
  }
}

void FlowTable::advance(uint64_t now_ns) {
  if (now_ns > now_ns_) now_ns_ = now_ns;
  const uint64_t now_tick = now_ns / kTickNs;
  if (!wheel_started_) {
    wheel_started_ = true;
    wheel_now_ = now_tick;
    return;
  }
  if (now_tick <= wheel_now_) return;
  // A jump longer than the wheel visits every slot once: each entry is
  // re-checked and either ends or is re-filed, so nothing is missed.
  const uint64_t steps = std::min<uint64_t>(now_tick - wheel_now_, kWheelSlots);
  const uint64_t first = now_tick - steps + 1;
  for (uint64_t t = first; t <= now_tick; ++t) {
    wheel_now_ = t;
    const uint32_t slot = static_cast<uint32_t>(t % kWheelSlots);
    uint32_t ix = wheel_[slot];
    wheel_[slot] = kNil;
    // Detach the whole list first: re-filed entries may land in this slot.
    while (ix != kNil) {
      FlowEntry& e = entries_[ix];
      const uint32_t next = e.wheel_next;
      e.wheel_prev = e.wheel_next = kNil;
      if (next != kNil) entries_[next].wheel_prev = kNil;
      ix = next;
      e.wheel_slot = kNil;
      if (!expire_due(e, now_ns)) wheel_insert(e, due_ns(e));
    }
  }
  wheel_now_ = now_tick;
}

void FlowTable::flush_all(FlowEndReason reason) {
  for (size_t i = 0; i < cap_; ++i) {
    FlowEntry& e = entries_[i];
    if (!e.in_use) continue;
    // A flow whose timeout already ran out (the wheel works in whole
    // seconds) ends as a timeout, not as part of the shutdown.
    if (due_ns(e) <= now_ns_ && expire_due(e, now_ns_)) continue;
    if (reason == FlowEndReason::kShutdown) stats_.flows_ended_shutdown.inc();
    end_flow(e, reason);
  }
}

}  // namespace ws
