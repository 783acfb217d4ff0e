#include "dataplane/worker.h"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <memory>

#include "dataplane/flow_hash.h"
#include "dataplane/inline_frames.h"

namespace ws {
namespace {

// How long an idle thread sleeps before it looks at the clock again: short
// enough that a quiet live link expires flows within a tick of their
// timeout and that stop requests are seen promptly.
constexpr uint64_t kIdleWaitNs = 50'000'000;  // 50 ms

// A worker fed by the dispatcher sleeps until this many frames wait for it
// (or the source goes quiet): with more threads than cores, each futex
// wake-up is a context switch, so it must buy several bursts of work.
constexpr size_t kWakeBatch = 8 * kBurst;

}  // namespace

std::vector<AppTotal> app_totals(const std::vector<std::unique_ptr<Worker>>& workers) {
  std::vector<AppCount> sum;
  const AppDetect* names = nullptr;
  for (const auto& w : workers) {
    w->app_totals(sum);
    if (!names) names = w->app_detect();
  }
  std::vector<AppTotal> out;
  if (!names) return out;
  for (size_t i = 0; i < sum.size(); ++i) {
    if (!sum[i].packets && !sum[i].flows) continue;
    AppTotal t;
    t.id = static_cast<uint16_t>(i);
    t.name = names->protocol_name(t.id);
    t.app_proto = names->app_proto_name(t.id);
    t.count = sum[i];
    out.push_back(std::move(t));
  }
  std::sort(out.begin(), out.end(), [](const AppTotal& a, const AppTotal& b) {
    return a.count.bytes != b.count.bytes ? a.count.bytes > b.count.bytes : a.id < b.id;
  });
  return out;
}

uint64_t wall_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// Monotonic time for the burst histogram (vDSO clock_gettime, ~20 ns).
static uint64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

FrameArena::FrameArena(size_t bytes) : buf_(new uint8_t[bytes]), size_(bytes) {}

uint8_t* FrameArena::put(const uint8_t* data, size_t len, uint64_t* end_offset) {
  // Offsets grow forever; position = offset % size. A frame never wraps:
  // if it does not fit before the end of the buffer, the tail is skipped.
  if (len > size_ / 2) return nullptr;
  uint64_t start = head_;
  const size_t pos = start % size_;
  if (pos + len > size_) start += size_ - pos;
  const uint64_t end = start + len;
  if (end - released_.load(std::memory_order_acquire) > size_) return nullptr;
  uint8_t* dst = buf_.get() + (start % size_);
  std::memcpy(dst, data, len);
  head_ = end;
  *end_offset = end;
  return dst;
}

Worker::Worker(uint16_t id, const WorkerConfig& cfg)
    : id_(id),
      cfg_(cfg),
      decoder_(cfg.decode),
      defrag_(cfg.defrag.enabled ? std::make_unique<Defragmenter>(cfg.defrag) : nullptr),
      defrag_decoder_(cfg.decode),
      records_(cfg.record_ring_size),
      flows_(cfg.flows, this, id) {
  if (cfg.ndpi.enabled) {
    app_ = AppDetect::create(id, flows_.capacity(), cfg.ndpi, &start_error_);
  }
  if (cfg.rules) {
    DetectOptions d = cfg.detect;
    d.defrag = defrag_ != nullptr;  // fragments are then matched as IP packets only
    detect_ = std::make_unique<DetectStage>(id, *cfg.rules, cfg.flows.capacity, d);
    detect_->set_app(app_.get());
  }
  if (cfg.qos) qos_ = std::make_unique<QosStage>(cfg.qos, id);
  if (app_ || detect_) flows_.set_hooks(this);
}

void Worker::on_ending(FlowEntry& e, uint32_t flow_index) {
  if (detect_) detect_->flow_end(e, flow_index);
}

void Worker::on_record(uint32_t flow_index, FlowRecord& r) {
  if (app_) app_->on_record(flow_index, r);
}

void Worker::on_end(uint32_t flow_index) {
  if (app_) app_->on_end(flow_index);
}

void Worker::put(const FlowRecord& r) {
  // The exporter thread drains this ring. When it is full the worker waits
  // rather than lose a counted flow; the export thread never blocks on a
  // worker, so the wait is bounded by the exporters' own pacing.
  while (records_.push(&r, 1) == 0) {
    stats_.record_ring_waits.inc();
    records_.consumer_parker.wake();
    records_.producer_parker.wait([&] { return !records_.full(); }, kIdleWaitNs);
  }
  // The export thread polls every few ms anyway; waking it per record
  // would cost a futex call and two context switches per flow.
  if (records_.size() >= records_.capacity() / 4) records_.consumer_parker.wake();
}

Verdict* Worker::simulated_verdicts(int n) {
  if (!cfg_.simulate_ips) return nullptr;
  std::fill(sim_verdicts_, sim_verdicts_ + n, Verdict::kForward);
  return sim_verdicts_;
}

void Worker::process(const Packet* const* pkts, const Decoded* const* dec, int n, Verdict* verdict) {
  process_burst(pkts, dec, n, verdict, nullptr);
}

void Worker::process_burst(const Packet* const* pkts, const Decoded* const* dec, int n, Verdict* verdict,
                           const Decoded* const* roots) {
  // Three passes over the burst so that memory latency overlaps: hash and
  // prefetch every bucket, then prefetch every entry, then update (DPDK's
  // l3fwd does the same with its lookups).
  FlowKey canon[kBurst];
  uint64_t hash[kBurst];
  int side[kBurst];
  for (int i = 0; i < n; ++i) {
    canon[i] = dec[i]->key;
    side[i] = canonicalize(canon[i]) ? 1 : 0;
    hash[i] = flow_hash(canon[i]);
    flows_.prefetch(hash[i]);
  }
  AppDetect* app = app_.get();
  for (int i = 0; i < n; ++i) {
    const uint32_t slot = flows_.prefetch_entry(hash[i]);
    if (app && slot != FlowTable::kNoSlot) app->prefetch(slot);
  }
  uint64_t now = now_ns_.load(std::memory_order_relaxed);
  DetectStage* detect = nullptr;
  if (detect_) {
    detect_->begin_burst();
    if (detect_->active()) detect = detect_.get();
  }
  // Traffic control runs on frames the rules let through, inline only, on
  // the monotonic clock its shapers also drain on.
  QosStage* qos = verdict && !roots ? qos_.get() : nullptr;
  uint64_t qos_now = 0;
  if (qos) {
    qos->begin_burst();
    qos_now = mono_ns();
  }
  for (int i = 0; i < n; ++i) {
    FlowEntry* e = flows_.update(*pkts[i], *dec[i], canon[i], hash[i], side[i]);
    const uint32_t slot = flows_.index_of(*e);
    const bool to_server = side[i] == e->client_is_b;
    if (pkts[i]->ts_ns > now) now = pkts[i]->ts_ns;
    if (verdict) {
      // Inline: a dropped flow's packets are counted in the flow and go no
      // further (Suricata's flow drop: no inspection either).
      if (e->verdict & kFlowDropped) {
        verdict[i] = Verdict::kDrop;
        inline_stats_.flow_drops.inc();
        continue;
      }
      verdict[i] = Verdict::kForward;
    }
    // nDPI before the rules: the packet on which nDPI names the protocol
    // is already matched by that protocol's rules.
    if (app) app->inspect(*pkts[i], *dec[i], slot);
    if (detect) {
      if (roots) detect->set_outer(roots[i]);
      const Verdict v = detect->inspect(*pkts[i], *dec[i], *e, slot, to_server);
      if (verdict) {
        verdict[i] = v;
        if (v != Verdict::kForward) inline_stats_.verdict_drops.inc();
      }
    }
    // The app label QoS classes match: nDPI's master protocol (or the
    // application when it has none), "Unknown" until classified. Read
    // before reassembly below, which may process other flows' packets
    // (those a reassembled tunnel carries): e is not looked at after it.
    std::string_view app_name;
    if (qos && app) {
      const FlowApp& fa = app->flow(slot);
      app_name = app->protocol_name(fa.master ? fa.master : fa.app);
    }
    if (defrag_ && (dec[i]->flags & kDecFragment) && (!verdict || verdict[i] == Verdict::kForward)) {
      Packet rp;
      if (defrag_->add(*pkts[i], *dec[i], rp)) {
        // Inline, the fragment that completed a datagram the rules drop is
        // dropped: the receiver cannot put it together without it.
        const Verdict v = process_reassembled(rp, *dec[i], roots ? roots[i] : nullptr, verdict != nullptr);
        if (verdict && v != Verdict::kForward) {
          verdict[i] = v;
          inline_stats_.verdict_drops.inc();
        }
      }
    }
    if (verdict && !roots && !cfg_.simulate_ips && verdict[i] == Verdict::kForward &&
        (pkts[i]->flags & kPktChecksumNotReady) &&
        complete_l4_checksum(const_cast<uint8_t*>(pkts[i]->data), pkts[i]->caplen, *dec[i])) {
      // A frame the sending host left to checksum offload leaves complete,
      // forwarded now or copied into a shaper queue below.
      inline_stats_.checksums_completed.inc();
    }
    if (qos && verdict[i] == Verdict::kForward) {
      const TcVerdict t = qos->apply(const_cast<uint8_t*>(pkts[i]->data), pkts[i]->caplen, *dec[i], app_name,
                                     to_server, InlineLink::peer(pkts[i]->ifindex), qos_now,
                                     stripped_vlan_tag(*pkts[i]));
      if (t == TcVerdict::kDrop) {
        verdict[i] = Verdict::kQosDrop;
        inline_stats_.qos_drops.inc();
      } else if (t == TcVerdict::kQueued) {
        verdict[i] = Verdict::kQueued;
        inline_stats_.qos_queued.inc();
      }
    }
  }
  if (detect && roots) detect->set_outer(nullptr);
  (roots ? stats_.tunnel_packets : stats_.flow_packets).inc(static_cast<uint64_t>(n));
  now_ns_.store(now, std::memory_order_relaxed);
  for (int i = 0; i < n; ++i) {
    if (dec[i]->inner == Inner::kNone || (verdict && verdict[i] != Verdict::kForward)) continue;
    process_inner(pkts, dec, n, verdict, roots);
    break;
  }
  flows_.advance(now);
  serve_snapshot(FlowSnapshotPort::kBurstStep);
}

void Worker::process_inner(const Packet* const* pkts, const Decoded* const* dec, int n, Verdict* verdict,
                           const Decoded* const* roots) {
  // Suricata's tunnel packets: the inner packet has a flow, an nDPI label
  // and rule matches of its own, after the packet that carried it. An
  // inline verdict against the inner packet is the frame's verdict.
  Decoded inner[kBurst];
  const Packet* ip[kBurst];
  const Decoded* id[kBurst];
  const Decoded* root[kBurst];
  int from[kBurst];
  Verdict iv[kBurst];
  int m = 0;
  for (int i = 0; i < n; ++i) {
    if (dec[i]->inner == Inner::kNone || (verdict && verdict[i] != Verdict::kForward)) continue;
    if (!decoder_.decode_inner(*pkts[i], *dec[i], inner[m])) continue;
    ip[m] = pkts[i];
    id[m] = &inner[m];
    root[m] = roots ? roots[i] : dec[i];
    from[m] = i;
    ++m;
  }
  if (!m) return;
  process_burst(ip, id, m, verdict ? iv : nullptr, root);
  if (verdict)
    for (int k = 0; k < m; ++k)
      if (iv[k] != Verdict::kForward) verdict[from[k]] = iv[k];
}

Verdict Worker::process_reassembled(const Packet& rp, const Decoded& frag, const Decoded* root, bool is_inline) {
  Decoded rd;
  if (!defrag_decoder_.decode(rp, rd)) {
    defrag_->count_no_flow();
    return Verdict::kForward;
  }
  rd.pkt_src = PktSrc::kDefrag;  // Suricata's pkt_src "defrag"
  if (frag.depth > 0) {
    // Out of a tunnel: it keeps its depth and the outer VLAN.
    rd.depth = frag.depth;
    rd.vlan[0] = frag.vlan[0];
    rd.vlan[1] = frag.vlan[1];
    rd.vlan_count = frag.vlan_count;
    rd.key.vlan = frag.key.vlan;
  }
  FlowKey canon = rd.key;
  bool side = canonicalize(canon);
  FlowEntry* e = flows_.find(canon);
  if (!e) {
    // A first fragment too short for its transport header (RFC 1858) put
    // the fragments in a flow without ports: the datagram is theirs.
    canon = frag.key;
    side = canonicalize(canon);
    e = flows_.find(canon);
  }
  if (!e) {
    defrag_->count_no_flow();
    return Verdict::kForward;
  }
  Verdict v = Verdict::kForward;
  if (detect_ && detect_->active() && !(is_inline && (e->verdict & kFlowDropped))) {
    detect_->set_outer(root);
    v = detect_->inspect(rp, rd, *e, flows_.index_of(*e), side == bool(e->client_is_b));
  }
  if (rd.inner != Inner::kNone && v == Verdict::kForward) {
    const Packet* pp = &rp;
    const Decoded* dp = &rd;
    const Decoded* rootp = root;
    Verdict iv = Verdict::kForward;
    process_inner(&pp, &dp, 1, is_inline ? &iv : nullptr, root ? &rootp : nullptr);
    v = iv;
  }
  if (detect_ && !root) detect_->set_outer(nullptr);
  return v;
}

void Worker::serve_snapshot(size_t step) {
  if (!app_) {
    snapshot_.serve(flows_, id_, step);
    return;
  }
  snapshot_.serve(flows_, id_, step,
                  [this](const FlowEntry& e, FlowRecord& r) { app_->label_record(flows_.index_of(e), r); });
}

void Worker::tick_idle() {
  stats_.idle_polls.inc();
  if (detect_) detect_->begin_burst();  // an idle worker still lets a reload retire the old rules
  serve_snapshot(FlowSnapshotPort::kIdleStep);
  if (!cfg_.live) return;
  // A quiet live link: let wall-clock time expire flows.
  const uint64_t now = std::max(now_ns_.load(std::memory_order_relaxed), wall_ns());
  now_ns_.store(now, std::memory_order_relaxed);
  flows_.advance(now);
}

void Worker::finish(uint64_t end_ns) {
  // Flows whose timeout passed before the input ended end as timeouts;
  // only those still open are flushed as `shutdown`.
  if (cfg_.live) end_ns = std::max(end_ns, wall_ns());
  if (end_ns) flows_.advance(end_ns);
  flows_.flush_all(FlowEndReason::kShutdown);
  if (detect_) {
    detect_->quiesce();
    detect_->alerts().consumer_parker.wake();
  }
  finished_.store(true, std::memory_order_release);
  records_.consumer_parker.wake();
}

void Worker::run(PacketSource& src, const std::atomic<bool>& stop) {
  Packet burst[kBurst];
  Decoded dec[kBurst];
  const Packet* pp[kBurst];
  const Decoded* dp[kBurst];
  while (!stop.load(std::memory_order_relaxed)) {
    const int n = src.rx_burst(burst, kBurst);
    if (n == PacketSource::kEof) break;
    if (n <= 0) {
      tick_idle();
      continue;
    }
    const uint64_t t0 = mono_ns();
    int k = 0;
    uint64_t bytes = 0;
    for (int i = 0; i < n; ++i) {
      bytes += burst[i].wirelen;
      if (decoder_.decode(burst[i], dec[k])) {
        pp[k] = &burst[i];
        dp[k] = &dec[k];
        ++k;
      }
    }
    stats_.packets.inc(static_cast<uint64_t>(n));
    stats_.bytes.inc(bytes);
    process(pp, dp, k, simulated_verdicts(k));
    src.release(burst, n);
    stats_.bursts.inc();
    burst_times_.record(mono_ns() - t0);
  }
  finish(now_ns_.load(std::memory_order_relaxed));
}

void Worker::run_inline(InlineLink& link) { inline_loop(link); }
void Worker::run_inline(DpdkInlineLink& link) { inline_loop(link); }

// Frames a shaper releases leave through the link. A shaper's frame data
// is valid during the emit call only, so each one is flushed at once (the
// frames of the burst that are queued with it go too; they stay valid
// until the link's release()).
template <class Link>
void Worker::drain_qos(Link& link) {
  if (!qos_) return;
  qos_->begin_burst();  // an idle worker still picks up a new policy set and flushes retired queues
  const uint32_t n = qos_->drain(mono_ns(), [&](const uint8_t* data, uint32_t len, uint16_t port) {
    link.send(port, data, len);
    link.flush();
  });
  if (n) inline_stats_.qos_released.inc(n);
}

template <class Link>
void Worker::inline_loop(Link& link) {
  Packet burst[kBurst];
  Decoded dec[kBurst];
  const Packet* pp[kBurst];
  const Decoded* dp[kBurst];
  Verdict verdict[kBurst];
  int which[kBurst];  // decoded index of each frame, -1: not decoded
  // Reject replies of one burst (rejectboth needs two): they must live
  // until the flush.
  static constexpr int kRejectSlots = 8;
  auto rejects = std::make_unique<uint8_t[]>(kRejectSlots * kRejectFrameMax);
  for (;;) {
    if (qos_) {
      // A shaper holding frames: wait for traffic no longer than until the
      // first of them is due.
      const uint64_t due = qos_->queued_frames() ? qos_->next_due_ns() : UINT64_MAX;
      const uint64_t now = mono_ns();
      link.set_max_wait_ns(due == UINT64_MAX ? Link::kDefaultWaitNs
                                             : std::min<uint64_t>(Link::kDefaultWaitNs, due > now ? due - now : 1));
    }
    const int n = link.rx_burst(burst, kBurst);
    if (n < 0) break;
    if (n == 0) {
      tick_idle();
      drain_qos(link);
      link.flush();
      continue;
    }
    const uint64_t t0 = mono_ns();
    int k = 0;
    uint64_t bytes = 0;
    for (int i = 0; i < n; ++i) {
      bytes += burst[i].wirelen;
      which[i] = -1;
      if (decoder_.decode(burst[i], dec[k])) {
        pp[k] = &burst[i];
        dp[k] = &dec[k];
        which[i] = k++;
      }
    }
    stats_.packets.inc(static_cast<uint64_t>(n));
    stats_.bytes.inc(bytes);
    process(pp, dp, k, verdict);
    int nreject = 0;
    for (int i = 0; i < n; ++i) {
      const Packet& p = burst[i];
      const int j = which[i];
      // A tag the capture stripped goes back with the TPID it had.
      const uint32_t vlan = stripped_vlan_tag(p);
      if (j < 0) {
        inline_stats_.uninspected.inc();
      } else if (verdict[j] != Verdict::kForward) {
        // Dropped: by a rule (verdict_drops) or with its flow (flow_drops),
        // both counted in process().
        const Verdict v = verdict[j];
        if (v == Verdict::kReject || v == Verdict::kRejectDst || v == Verdict::kRejectBoth) {
          // To the sender: out of the ingress side; to the destination:
          // on the way the packet was going.
          const bool to_src = v != Verdict::kRejectDst, to_dst = v != Verdict::kReject;
          for (const ReplyTo to : {ReplyTo::kSource, ReplyTo::kDestination}) {
            if (!(to == ReplyTo::kSource ? to_src : to_dst)) continue;
            size_t len = 0;
            uint8_t* out = nullptr;
            if (nreject < kRejectSlots) {
              out = rejects.get() + size_t(nreject) * kRejectFrameMax;
              len = build_reject(p, dec[j], out, to);
            }
            if (!len) {
              inline_stats_.rejects_none.inc();
              continue;
            }
            ++nreject;
            if (to == ReplyTo::kSource) {
              link.send(p.ifindex, out, static_cast<uint32_t>(len), vlan);
              inline_stats_.rejects_sent.inc();
            } else {
              link.send(Link::peer(p.ifindex), out, static_cast<uint32_t>(len), vlan);
              inline_stats_.rejects_sent_dst.inc();
            }
          }
        }
        continue;
      }
      link.send(Link::peer(p.ifindex), p.data, p.caplen, vlan);
      inline_stats_.forwarded.inc();
    }
    drain_qos(link);
    link.flush();
    link.release();
    stats_.bursts.inc();
    burst_times_.record(mono_ns() - t0);
  }
  link.flush();
  if (qos_) qos_->quiesce();
  finish(now_ns_.load(std::memory_order_relaxed));
}

void Worker::run(DispatchRing& in, FrameArena* arena, const std::atomic<bool>& input_done,
                 const std::atomic<bool>& stop, const std::atomic<uint64_t>* input_clock) {
  const Packet* pp[kBurst];
  const Decoded* dp[kBurst];
  for (;;) {
    DispatchItem* items;
    const size_t n = in.peek(&items, kBurst);
    if (n == 0) {
      if (stop.load(std::memory_order_relaxed)) break;
      if (input_done.load(std::memory_order_acquire) && in.empty()) break;
      // Sleep until there is a batch worth waking for: the dispatcher
      // wakes us at kWakeBatch items, when its source goes idle, or at the end.
      in.consumer_parker.wait(
          [&] { return in.size() >= kWakeBatch || input_done.load(std::memory_order_acquire); }, kIdleWaitNs);
      if (in.empty()) tick_idle();
      continue;
    }
    const uint64_t t0 = mono_ns();
    uint64_t bytes = 0;
    uint64_t arena_end = 0;
    int k = 0;
    // Items are processed in place in the ring. The dispatcher left the
    // payload checksum to this worker.
    for (size_t i = 0; i < n; ++i) {
      bytes += items[i].pkt.wirelen;
      if (items[i].arena_end) arena_end = items[i].arena_end;
      if (!decoder_.verify_checksums(items[i].pkt, items[i].dec)) continue;
      pp[k] = &items[i].pkt;
      dp[k] = &items[i].dec;
      ++k;
    }
    stats_.packets.inc(n);
    stats_.bytes.inc(bytes);
    process(pp, dp, k, simulated_verdicts(k));
    in.release(n);
    stats_.bursts.inc();
    burst_times_.record(mono_ns() - t0);
    if (arena && arena_end) arena->release_to(arena_end);
    if (in.size() <= in.capacity() / 2) in.producer_parker.wake();
  }
  uint64_t end = now_ns_.load(std::memory_order_relaxed);
  if (input_clock) end = std::max(end, input_clock->load(std::memory_order_acquire));
  finish(end);
}

Dispatcher::Dispatcher(PacketSource& src, std::vector<DispatchRing*> rings, std::vector<FrameArena*> arenas,
                       DecodeOptions decode)
    : src_(src), rings_(std::move(rings)), arenas_(std::move(arenas)), pending_(rings_.size(), 0), decoder_(decode) {}

void Dispatcher::commit_all() {
  for (size_t w = 0; w < rings_.size(); ++w) {
    if (!pending_[w]) continue;
    rings_[w]->commit(pending_[w]);
    stats_.dispatched.inc(pending_[w]);
    pending_[w] = 0;
  }
}

bool Dispatcher::push(uint32_t w, const Packet& p, const Decoded& d, const std::atomic<bool>& stop) {
  DispatchRing& ring = *rings_[w];
  DispatchItem* slot;
  while ((slot = ring.reserve(pending_[w])) == nullptr) {
    commit_all();  // publish what is filled before waiting for room
    stats_.ring_waits.inc();
    ring.consumer_parker.wake();
    // Sleep until the worker has drained half the ring, so that one
    // wake-up buys many bursts, not one.
    ring.producer_parker.wait([&] { return ring.size() <= ring.capacity() / 2; }, kIdleWaitNs);
    if (stop.load(std::memory_order_relaxed)) return false;
  }
  slot->pkt = p;
  slot->dec = d;
  slot->arena_end = 0;
  if (!arenas_.empty() && arenas_[w]) {
    uint8_t* copy;
    if (p.caplen > arenas_[w]->max_frame()) {
      stats_.oversize_frames.inc();
      return true;
    }
    while ((copy = arenas_[w]->put(p.data, p.caplen, &slot->arena_end)) == nullptr) {
      stats_.arena_waits.inc();
      commit_all();
      ring.consumer_parker.wake();
      ring.producer_parker.wait([] { return false; }, 1'000'000);
      if (stop.load(std::memory_order_relaxed)) return false;
    }
    slot->pkt.data = copy;
  }
  ++pending_[w];
  return true;
}

void Dispatcher::run(const std::atomic<bool>& stop) {
  Packet burst[kBurst];
  Decoded dec;
  const uint32_t nw = static_cast<uint32_t>(rings_.size());
  bool running = true;
  while (running && !stop.load(std::memory_order_relaxed)) {
    const int n = src_.rx_burst(burst, kBurst);
    if (n == PacketSource::kEof) break;
    if (n <= 0) {
      for (DispatchRing* r : rings_) r->consumer_parker.wake();
      continue;
    }
    stats_.frames.inc(static_cast<uint64_t>(n));
    uint64_t clock = clock_.load(std::memory_order_relaxed);
    for (int i = 0; i < n; ++i) clock = std::max(clock, burst[i].ts_ns);
    clock_.store(clock, std::memory_order_release);
    for (int i = 0; i < n && running; ++i) {
      // Checksums are verified here, while the frame is hot in this core's
      // cache (the decode just read it); the worker then never touches the
      // payload. On the worker's core the same sum pays a miss per payload
      // line (perf: ones_sum became the worker's largest cost).
      if (!decoder_.decode(burst[i], dec)) continue;
      FlowKey canon = dec.key;
      canonicalize(canon);
      const uint32_t w = shard_of(flow_hash(canon), nw);
      running = push(w, burst[i], dec, stop);
    }
    commit_all();
    src_.release(burst, n);
    // Wake a sleeping worker only once it has a burst's worth to do; it
    // also wakes on its own every few ms, and at the end of the input.
    for (DispatchRing* r : rings_)
      if (r->size() >= kWakeBatch) r->consumer_parker.wake();
  }
  commit_all();
  done_.store(true, std::memory_order_release);
  for (DispatchRing* r : rings_) r->consumer_parker.wake();
}

}  // namespace ws
