#include "dataplane/detect.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include "dataplane/capture/link_type.h"
#include "dataplane/enum_names.h"
#include "dataplane/flow_hash.h"

namespace ws {
namespace {

constexpr uint64_t kIdleWaitNs = 1'000'000;

// ICMP messages that carry an identifier and sequence number after the
// checksum (Suricata's icmp_id/icmp_seq apply to these).
bool icmp_has_id(bool v6, uint8_t type) {
  if (v6) return type == 128 || type == 129;
  switch (type) {
    case 0: case 8: case 13: case 14: case 15: case 16: case 17: case 18: return true;
    default: return false;
  }
}

// The packet's tuple, as the rules' header sees it, on a flow.
void set_tuple(MatchInput& in, const FlowKey& k, bool to_server) {
  in.ip_proto = k.proto;
  in.ipv6 = k.family == 6;
  std::memcpy(in.src.data(), k.src, 16);
  std::memcpy(in.dst.data(), k.dst, 16);
  in.sport = k.sport;
  in.dport = k.dport;
  in.has_flow = true;
  in.to_server = to_server;
}

}  // namespace

DetectStage::DetectStage(uint16_t worker, RuleSlot& slot, size_t flow_capacity, const DetectOptions& opts)
    : worker_(worker), slot_(slot), opts_(opts), alerts_(opts.alert_ring_size) {
  if (opts.packet || opts.payload) long_bytes_ = std::make_unique<AlertBytes>();
  flowbits_bytes_ = std::max<size_t>(flow_capacity, 1) * kWords * sizeof(uint64_t);
  // Reserved, not committed: pages appear only under flows that set a bit.
  void* m = ::mmap(nullptr, flowbits_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
  if (m == MAP_FAILED) {
    flowbits_bytes_ = 0;
  } else {
    flowbits_ = static_cast<uint64_t*>(m);
  }
  carry_bytes_ = std::max<size_t>(flow_capacity, 1) * sizeof(StreamCarry);
  m = ::mmap(nullptr, carry_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) {
    carry_bytes_ = 0;
  } else {
    carry_ = static_cast<StreamCarry*>(m);
  }
  const size_t nblocks = std::min<size_t>(opts.stream_memcap / sizeof(HeldBlock), kNoBlock - 1);
  if (nblocks && carry_ && !opts.ips) {
    blocks_bytes_ = nblocks * sizeof(HeldBlock);
    m = ::mmap(nullptr, blocks_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
      blocks_bytes_ = 0;
    } else {
      blocks_ = static_cast<HeldBlock*>(m);
      block_count_ = static_cast<uint32_t>(nblocks);
      // Held data stays under the chunk size plus one segment; the gap
      // notes add at most a few dozen bytes each.
      flat_.resize(size_t{std::max<uint32_t>(opts.stream_chunk_size, 1)} + 65536 + kMaxHeldGaps * 32);
    }
  }
}

DetectStage::~DetectStage() {
  slot_.quiesce(worker_);
  if (flowbits_) ::munmap(flowbits_, flowbits_bytes_);
  if (carry_) ::munmap(carry_, carry_bytes_);
  if (blocks_) ::munmap(blocks_, blocks_bytes_);
}

MatchCounters DetectStage::match_counters() const {
  MatchCounters c = earlier_;
  if (scratch_) c += scratch_->counters;
  return c;
}

void DetectStage::quiesce() {
  if (scratch_) earlier_ += scratch_->counters;
  scratch_ = nullptr;
  snap_ = nullptr;
  active_ = false;
  slot_.quiesce(worker_);
}

void DetectStage::switch_to(const RuleSnapshot* s) {
  if (snap_) stats_.rule_swaps.inc();
  if (scratch_) earlier_ += scratch_->counters;
  snap_ = s;
  rule_gen_ = static_cast<uint8_t>((rule_gen_ + 1) & 63);
  scratch_ = worker_ < s->scratch.size() ? s->scratch[worker_].get() : nullptr;
  active_ = scratch_ && s->set && s->set->size() > 0;
}

// Suricata's names, in ExceptionPolicy's order.
static constexpr const char* kExceptionPolicyNames[] = {"auto",      "ignore",      "pass-flow", "bypass",
                                                        "drop-flow", "drop-packet", "reject"};

bool parse_exception_policy(std::string_view s, ExceptionPolicy* out) {
  return enum_from_name(kExceptionPolicyNames, s, out);
}

const char* exception_policy_name(ExceptionPolicy p) { return enum_name(kExceptionPolicyNames, p); }

ExceptionPolicy effective_midstream_policy(ExceptionPolicy specific, ExceptionPolicy master, bool ips, bool midstream) {
  ExceptionPolicy p = specific != ExceptionPolicy::kAuto ? specific : master;
  if (p == ExceptionPolicy::kAuto) p = ips ? ExceptionPolicy::kDropFlow : ExceptionPolicy::kIgnore;
  const bool drops = p == ExceptionPolicy::kDropFlow || p == ExceptionPolicy::kDropPacket || p == ExceptionPolicy::kReject;
  if (drops && (!ips || midstream)) p = ExceptionPolicy::kIgnore;
  return p;
}

bool DetectStage::on_match(MatchCtx& c, const Rule& r, size_t ri) {
  const RuleSet& set = *snap_->set;
  const ThresholdPolicy& policy = *snap_->thresholds;
  if (!c.from_stream && c.nmatched < kMaxMatched) c.matched[c.nmatched++] = static_cast<uint32_t>(ri);
  RuleAction action = r.action;
  RejectTo reject_to = r.reject_to;
  bool alert = !r.noalert;
  if (policy.affects(r.gid, r.sid)) {
    ThresholdEvent ev;
    ev.gid = r.gid;
    ev.sid = r.sid;
    ev.ipv6 = c.in.ipv6;
    ev.src = c.in.src;
    ev.dst = c.in.dst;
    ev.flow_id = c.e.flow_id;
    ev.ts_ns = c.p.ts_ns;
    const ThresholdOutcome o = slot_.thresholds().evaluate(policy, ev);
    if (o.decision == AlertDecision::kNoMatch) {
      stats_.threshold_held.inc();
      return true;  // the rule does not match (yet)
    }
    if (o.decision == AlertDecision::kSuppress) {
      stats_.threshold_suppressed.inc();
      alert = false;
    }
    if (o.new_action) {
      // A rate_filter's new_action `reject` is Suricata's reject: to the sender.
      action = *o.new_action;
      reject_to = RejectTo::kSource;
    }
  }
  if (action == RuleAction::kPass) {
    // Suricata's action scope: only an IP-only (or like IP-only) rule's
    // pass covers the flow, and one on the app-layer protocol alone. A
    // payload or packet-field pass rule says "this packet is fine", not
    // "this flow is" (suricata-verify util-action-03). A packet that a
    // rule ranked before the pass has dropped stays dropped, and its
    // flow is not passed either: with action-order ranking drop first,
    // the drop wins (suricata-verify util-action-16, where a content drop
    // keeps firing on every packet of the flow past an IP-only pass).
    if (set.flow_scope(ri) && c.in.has_flow && c.verdict == Verdict::kForward) {
      c.e.bits |= kFlowPassed;
      stats_.pass_matches.inc();
    } else {
      stats_.pass_packet_matches.inc();
    }
    c.stopped = true;
    return false;
  }
  // Inline: the packet is dropped; the first drop or reject in action
  // order says how (a reply or not). Later matches still alert, as in
  // Suricata, where only a pass ends the packet's alerts (suricata-verify
  // util-action-07: an alert ranked after a drop fires on the dropped
  // packets). Suricata's action scope decides whether the
  // rest of the flow goes too, as for pass: a header-only (IP-only) or
  // protocol-detection-only rule drops the flow, a rule on the payload
  // or packet fields only its packet (suricata-verify util-action-06:
  // a content drop matches each packet that carries the content); a
  // match on stream data drops the flow, as Suricata's stream matches.
  const bool drops = opts_.ips && (action == RuleAction::kDrop || action == RuleAction::kReject);
  if (drops) {
    if (c.verdict == Verdict::kForward) {
      c.verdict = action == RuleAction::kDrop           ? Verdict::kDrop
                : reject_to == RejectTo::kDestination ? Verdict::kRejectDst
                : reject_to == RejectTo::kBoth        ? Verdict::kRejectBoth
                                                      : Verdict::kReject;
      stats_.ips_drops.inc();
    }
    if (set.flow_scope(ri) || c.from_stream) c.e.verdict |= kFlowDropped;
  }
  if (!alert) {
    if (r.noalert) stats_.noalert_matches.inc();
    return true;
  }
  if (c.written >= opts_.max_alerts_per_packet) {
    stats_.alerts_over_max.inc();
    return true;
  }
  ++c.written;
  emit(c.p, c.d, c.e, c.flow_index, ri, c.to_server, action, c.from_stream, drops);
  return true;
}

Verdict DetectStage::inspect(const Packet& p, const Decoded& d, FlowEntry& e, uint32_t flow_index, bool to_server) {
  if (e.bits & kFlowPassed) {
    stats_.passed_packets.inc();
    return Verdict::kForward;
  }
  if (d.key.proto == 6 && e.syn_seen != 1 && opts_.midstream_policy != ExceptionPolicy::kIgnore &&
      !(d.flags & kDecFragment)) {
    // A TCP session picked up mid-stream (no SYN, or the SYN/ACK first, as
    // Suricata tells it): Suricata's midstream exception policy.
    switch (opts_.midstream_policy) {
      case ExceptionPolicy::kPassFlow: case ExceptionPolicy::kBypass:
        e.bits |= kFlowPassed;
        stats_.midstream_passed.inc();
        return Verdict::kForward;
      case ExceptionPolicy::kDropFlow:
        e.verdict |= kFlowDropped;
        stats_.midstream_dropped.inc();
        return Verdict::kDrop;
      case ExceptionPolicy::kDropPacket:
        stats_.midstream_dropped.inc();
        return Verdict::kDrop;
      case ExceptionPolicy::kReject:
        stats_.midstream_dropped.inc();
        return Verdict::kReject;
      default: break;
    }
  }
  stats_.inspected.inc();
  // With defragmentation the rules see a fragment as Suricata does: an IP
  // packet without its transport header, payload or flow (the datagram is
  // matched whole once reassembled).
  const bool no_l4 = opts_.defrag && (d.flags & kDecFragment);
  MatchInput in;
  const uint8_t* data = p.data;
  in.payload = std::span<const uint8_t>(data + d.payload_off, d.payload_len);
  set_tuple(in, d.key, to_server);
  if (d.key.proto == 6) {
    // Suricata: a TCP packet is "established" when the session had reached
    // ESTABLISHED before it (so not the ACK that completes the handshake),
    // through the closing states. A session picked up mid-stream never is
    // (Suricata's default, stream.midstream: false).
    in.established = e.syn_seen ? e.pkt_tcp_state >= static_cast<uint8_t>(TcpState::kEstablished)
                                : opts_.midstream;  // stream.midstream: picked up established
  } else {
    in.established = e.flow_state != static_cast<uint8_t>(FlowState::kNew);
  }
  // Suricata runs its app-layer on TCP, UDP and SCTP only; a flow of
  // another protocol never has an app-layer protocol for rules.
  if (app_ && (d.key.proto == 6 || d.key.proto == 17 || d.key.proto == 132)) {
    in.app = app_->rule_app(flow_index);
    in.app_first = app_->first_sight(flow_index, to_server);
  } else {
    in.app_first = false;  // never a protocol: protocol-detection-only rules have nothing to see
  }
  in.ttl = d.ttl;
  if (no_l4) {
    in.payload = {};
    in.sport = in.dport = 0;
    in.has_flow = false;
    in.established = false;
    in.app = AppProto::kUnknown;
    in.app_first = false;
  } else {
    in.tcp_flags = d.tcp_flags;
    in.icmp_type = d.icmp_type;
    in.icmp_code = d.icmp_code;
  }
  if (!no_l4 && (d.key.proto == 1 || d.key.proto == 58) && icmp_has_id(in.ipv6, d.icmp_type) &&
      size_t{d.l4_off} + 8 <= p.caplen) {
    const uint8_t* h = data + d.l4_off;
    in.icmp_has_id = true;
    in.icmp_id = static_cast<uint16_t>(h[4] << 8 | h[5]);
    in.icmp_seq = static_cast<uint16_t>(h[6] << 8 | h[7]);
  }
  const size_t words = flowbit_words();
  uint64_t* bits = nullptr;
  if (words && flowbits_ && !no_l4) {
    bits = flow_bits(e, flow_index);
    in.flowbits = std::span<uint64_t>(bits, words);
  }

  const RuleSet& set = *snap_->set;
  MatchCtx ctx{p, d, e, flow_index, to_server, in};
  auto on_match = [&](const Rule& r, size_t ri) -> bool { return this->on_match(ctx, r, ri); };
  // IP-only rules: on the first packet of each direction of the flow, as
  // Suricata does (rules/ip_only.h); the rest on every packet. Suricata
  // decodes IP-in-IP and IPv6-in-IP and keeps no flow for the outer packet,
  // so its IP-only rules see every outer packet; so do they here, unless
  // decoder.track_parent_flow gives the outer packets a flow, as Suricata's
  // decoder.ipv4.ipip.track-parent-flow does.
  const uint8_t ip_only_bit = to_server ? kIpOnlyToServer : kIpOnlyToClient;
  if (e.rule_gen != rule_gen_) {
    // First packet of the flow under this rule set: its IP-only rules have
    // not run on the flow yet (unlike Suricata, which keeps the marks
    // across a rule swap, so that a rule added to block a host would
    // miss the host's open connections).
    e.bits &= static_cast<uint8_t>(~(kIpOnlyToServer | kIpOnlyToClient));
    e.rule_gen = rule_gen_;
  }
  const bool tunnel = !opts_.tunnel_parent_flow && (d.key.proto == 4 || d.key.proto == 41);
  const bool ip_only = tunnel || no_l4 || !(e.bits & ip_only_bit);
  if (!no_l4) e.bits |= ip_only_bit;
  set.match(in, *scratch_, on_match, ip_only);

  // A TCP session is followed as a stream from its SYN, or picked up
  // mid-stream where Suricata's stream.midstream lets it.
  const bool tracked = e.syn_seen || opts_.midstream;
  if (d.key.proto == 6 && d.payload_len && tracked && !ctx.stopped && carry_ && !no_l4) {
    ctx.from_stream = true;
    inspect_stream(in, d, e, flow_index, to_server, std::span<const uint32_t>(ctx.matched, ctx.nmatched), on_match);
  }
  // A closed session (FIN both ways, or RST): Suricata inspects what the
  // packet's direction still holds.
  if (holding() && d.key.proto == 6 && e.tcp_state == static_cast<uint8_t>(TcpState::kClosed) && tracked &&
      !ctx.stopped && !no_l4) {
    StreamCarry& sc = carry_[flow_index];
    HeldStream& h = sc.held[to_server ? 0 : 1];
    if (sc.flow_id == e.flow_id && h.len) {
      ctx.from_stream = true;
      inspect_held(h, in, on_match);
    }
  }

  if (bits == zero_bits_) {
    bool any = false;
    for (size_t i = 0; i < words; ++i) any |= zero_bits_[i] != 0;
    if (any) {
      // First bit set on this flow: move the block into the flow's slot,
      // all of it, so words a later rule set adds read as zero.
      std::memcpy(flowbits_ + size_t{flow_index} * kWords, zero_bits_, sizeof zero_bits_);
      std::memset(zero_bits_, 0, sizeof zero_bits_);
      e.bits |= kFlowbitsUsed;
    }
  }
  return ctx.verdict;
}

template <typename F>
void DetectStage::inspect_stream(const MatchInput& pkt, const Decoded& d, const FlowEntry& e, uint32_t flow_index,
                                 bool to_server, std::span<const uint32_t> pkt_matched, F& on_match) {
  StreamCarry& sc = carry_[flow_index];
  if (sc.flow_id != e.flow_id) {  // the slot last held another flow
    for (HeldStream& h : sc.held)
      if (h.len) release(h);  // a flow that ended unseen (flow_end gives it back otherwise)
    std::memset(&sc, 0, sizeof sc);
    sc.flow_id = e.flow_id;
  }
  const int dir = to_server ? 0 : 1;
  const uint32_t seq = d.seq, len = d.payload_len;
  if (sc.valid[dir] && static_cast<int32_t>(seq + len - sc.next_seq[dir]) <= 0) {
    stats_.stream_retransmits.inc();  // data already inspected
    return;
  }
  const bool in_order = sc.valid[dir] && seq == sc.next_seq[dir];
  if (sc.valid[dir] && !in_order) stats_.stream_gaps.inc();
  const size_t carry = in_order ? sc.len[dir] : 0;
  const RuleSet& set = *snap_->set;
  MatchInput in = pkt;
  in.stream = true;

  // Outside inline mode the segment's new bytes are held until the
  // direction's stream is inspected (holding()).
  HeldStream* held = nullptr;
  if (holding() && set.has_stream_flush_rules()) {
    HeldStream& h = sc.held[dir];
    uint32_t gap = 0, skip = 0;
    if (sc.valid[dir]) {
      const int32_t delta = static_cast<int32_t>(seq - sc.next_seq[dir]);
      if (delta > 0) gap = static_cast<uint32_t>(delta);
      else skip = static_cast<uint32_t>(-delta);  // overlaps data held or inspected already
    }
    const uint8_t* fresh = pkt.payload.data() + skip;
    if (hold(h, gap, fresh, len - skip)) {
      held = &h;
    } else {
      // No room: what this direction holds is inspected now, and the
      // segment held anew; if even that fails (other flows hold the
      // memory), the segment is inspected by itself, as in inline mode.
      if (h.len) inspect_held(h, in, on_match);
      if (hold(h, 0, fresh, len - skip)) held = &h;
      else stats_.stream_memcap.inc();
    }
  }

  // Stream-only rules (`tcp-stream`, `only_stream`) see the segment as
  // stream data when it is not held; the packet pass could not match them.
  if (set.has_stream_only_rules() && !held) {
    set.match(in, *scratch_, [&](const Rule& r, size_t ri) -> bool {
      const bool stream_only =
          r.proto == RuleProto::kTcpStream || (r.flow && r.flow->stream == FlowOpts::Stream::kOnlyStream);
      return stream_only ? on_match(r, ri) : true;
    }, /*with_ip_only=*/false);
  }

  // The join: the previous segment's tail and this one's head. A floating
  // rule that matches there but in neither part alone spans the two.
  if (carry) {
    const size_t head = std::min<size_t>(len, kCarry);
    uint8_t join[2 * kCarry];
    std::memcpy(join, sc.data[dir], carry);
    std::memcpy(join + carry, pkt.payload.data(), head);
    uint64_t bits_copy[kWords];
    MatchInput j = in;
    j.payload = std::span<const uint8_t>(join, carry + head);
    if (!in.flowbits.empty()) {  // conditions read the flow's bits; changes wait for the verdict
      std::memcpy(bits_copy, in.flowbits.data(), in.flowbits.size() * sizeof(uint64_t));
      j.flowbits = std::span<uint64_t>(bits_copy, in.flowbits.size());
    }
    MatchInput a = j, b = j;
    a.payload = std::span<const uint8_t>(join, carry);
    b.payload = std::span<const uint8_t>(join + carry, head);
    a.flowbits = b.flowbits = {};
    uint32_t spanning[kMaxMatched];
    size_t nspan = 0;
    // Content rules only: a rule without a fast pattern (pcre alone) is not
    // looked for across the join.
    set.match(
        j, *scratch_,
        [&](const Rule&, size_t ri) {
          if (!set.floating(ri) || nspan == kMaxMatched) return;
          if (held && set.stream_flush(ri)) return;  // the held data's inspection covers it
          if (std::find(pkt_matched.begin(), pkt_matched.end(), ri) != pkt_matched.end()) return;
          if (set.confirm(ri, a, *scratch_) || set.confirm(ri, b, *scratch_)) return;
          spanning[nspan++] = static_cast<uint32_t>(ri);
        },
        /*with_ip_only=*/false, /*with_always=*/false);
    for (size_t i = 0; i < nspan; ++i) {
      // Confirm once more on the flow's own bits so that its flowbit
      // changes apply, then handle it like any match.
      MatchInput real = j;
      real.flowbits = in.flowbits;
      if (!set.confirm(spanning[i], real, *scratch_)) continue;
      stats_.stream_matches.inc();
      if (!on_match(set.rule(spanning[i]), spanning[i])) break;
    }
  }

  // Keep the last kCarry bytes of the stream for the next join.
  if (len >= kCarry) {
    std::memcpy(sc.data[dir], pkt.payload.data() + len - kCarry, kCarry);
    sc.len[dir] = kCarry;
  } else {
    const size_t keep = std::min<size_t>(carry, kCarry - len);
    std::memmove(sc.data[dir], sc.data[dir] + carry - keep, keep);
    std::memcpy(sc.data[dir] + keep, pkt.payload.data(), len);
    sc.len[dir] = static_cast<uint8_t>(keep + len);
  }
  sc.next_seq[dir] = seq + len;
  sc.valid[dir] = 1;
  // Suricata inspects a direction's stream once its chunk size of data
  // is there (stream.reassembly.*-chunk-size; it waits for the data to be
  // acknowledged, which this does not).
  if (held && held->len >= opts_.stream_chunk_size) inspect_held(*held, in, on_match);
}

bool DetectStage::hold(HeldStream& h, uint32_t gap, const uint8_t* data, uint32_t len) {
  if (h.len == 0) {
    h.head = h.tail = kNoBlock;
    h.ngaps = 0;
    gap = 0;  // nothing held before it: nothing to mark
  }
  if (len == 0) return true;
  if (gap && h.ngaps == kMaxHeldGaps) return false;
  const uint32_t room = h.tail != kNoBlock ? kBlockData - blocks_[h.tail].len : 0;
  const uint32_t need = len > room ? (len - room + kBlockData - 1) / kBlockData : 0;
  if (need > free_count_ + (block_count_ - block_high_)) return false;
  if (gap) h.gaps[h.ngaps++] = HeldStream::Gap{h.len, gap};
  uint32_t done = 0;
  while (done < len) {
    if (h.tail == kNoBlock || blocks_[h.tail].len == kBlockData) {
      uint32_t b;
      if (free_block_ != kNoBlock) {
        b = free_block_;
        free_block_ = blocks_[b].next;
        --free_count_;
      } else {
        b = block_high_++;
      }
      blocks_[b].next = kNoBlock;
      blocks_[b].len = 0;
      if (h.tail == kNoBlock) h.head = b;
      else blocks_[h.tail].next = b;
      h.tail = b;
    }
    HeldBlock& t = blocks_[h.tail];
    const uint32_t n = std::min(len - done, kBlockData - t.len);
    std::memcpy(t.data + t.len, data + done, n);
    t.len += n;
    done += n;
  }
  h.len += len;
  return true;
}

void DetectStage::release(HeldStream& h) {
  for (uint32_t b = h.len ? h.head : kNoBlock; b != kNoBlock;) {
    const uint32_t next = blocks_[b].next;
    blocks_[b].next = free_block_;
    free_block_ = b;
    ++free_count_;
    b = next;
  }
  h.head = h.tail = kNoBlock;
  h.len = 0;
  h.ngaps = 0;
}

size_t DetectStage::lay_out(HeldStream& h) {
  size_t n = 0;
  uint32_t pos = 0;  // data bytes laid out
  size_t g = 0;
  nregions_ = 1;
  regions_[0] = Region{0, 0};
  auto note_gap = [&] {
    regions_[nregions_ - 1].len = static_cast<uint32_t>(n - regions_[nregions_ - 1].off);
    char note[48];
    const int k = std::snprintf(note, sizeof note, "[%u bytes missing]", h.gaps[g].size);
    std::memcpy(flat_.data() + n, note, static_cast<size_t>(k));
    n += static_cast<size_t>(k);
    regions_[nregions_++] = Region{static_cast<uint32_t>(n), 0};
    ++g;
  };
  for (uint32_t b = h.len ? h.head : kNoBlock; b != kNoBlock; b = blocks_[b].next) {
    const HeldBlock& blk = blocks_[b];
    uint32_t i = 0;
    while (i < blk.len) {
      while (g < h.ngaps && h.gaps[g].at == pos) note_gap();
      uint32_t take = blk.len - i;
      if (g < h.ngaps) take = std::min(take, h.gaps[g].at - pos);
      std::memcpy(flat_.data() + n, blk.data + i, take);
      n += take;
      i += take;
      pos += take;
    }
  }
  regions_[nregions_ - 1].len = static_cast<uint32_t>(n - regions_[nregions_ - 1].off);
  release(h);
  return n;
}

template <typename F>
void DetectStage::inspect_held(HeldStream& h, const MatchInput& base, F& on_match) {
  const size_t n = lay_out(h);
  stats_.stream_inspections.inc();
  const RuleSet& set = *snap_->set;
  uint32_t done[kMaxMatched];
  size_t ndone = 0;
  bool go = true;
  stream_payload_ = std::span<const uint8_t>(flat_.data(), n);
  // Each stretch between gaps on its own: content does not match across
  // missing bytes.
  for (size_t k = 0; k < nregions_ && go; ++k) {
    if (!regions_[k].len) continue;
    MatchInput in = base;
    in.stream = true;
    in.payload = std::span<const uint8_t>(flat_.data() + regions_[k].off, regions_[k].len);
    set.match(in, *scratch_, [&](const Rule& r, size_t ri) -> bool {
      if (!set.stream_flush(ri)) return true;
      if (std::find(done, done + ndone, static_cast<uint32_t>(ri)) != done + ndone) return true;
      if (ndone < kMaxMatched) done[ndone++] = static_cast<uint32_t>(ri);
      go = on_match(r, ri);
      return go;
    }, /*with_ip_only=*/false);
  }
  stream_payload_ = {};
}

void DetectStage::flow_end(FlowEntry& e, uint32_t flow_index) {
  if (!carry_ || !blocks_) return;
  StreamCarry& sc = carry_[flow_index];
  if (sc.flow_id != e.flow_id || (!sc.held[0].len && !sc.held[1].len)) return;
  if (!active_ || !snap_ || !scratch_ || !snap_->set->has_stream_flush_rules() || (e.bits & kFlowPassed)) {
    for (HeldStream& h : sc.held) release(h);
    return;
  }
  const Decoded* outer = outer_;
  outer_ = nullptr;
  const FlowKey client_first = e.client_is_b ? e.key.reversed() : e.key;
  for (int dir = 0; dir < 2; ++dir) {
    HeldStream& h = sc.held[dir];
    if (!h.len) continue;
    const bool to_server = dir == 0;
    // Suricata's pseudo packet: the flow's tuple in the stream's direction,
    // no bytes of its own.
    Packet p{};
    p.ts_ns = e.last_ns;
    p.ifindex = e.ifindex;
    Decoded d{};
    d.key = to_server ? client_first : client_first.reversed();
    d.vlan[0] = e.vlan[0];
    d.vlan[1] = e.vlan[1];
    d.vlan_count = e.vlan_count;
    d.pkt_src = PktSrc::kStreamTimeout;
    MatchInput in;
    set_tuple(in, d.key, to_server);
    in.established = e.syn_seen ? e.tcp_state >= static_cast<uint8_t>(TcpState::kEstablished) : opts_.midstream;
    if (app_) in.app = app_->rule_app(flow_index);
    in.app_first = false;
    if (const size_t words = flowbit_words(); words && flowbits_)
      in.flowbits = std::span<uint64_t>(flow_bits(e, flow_index), words);
    MatchCtx ctx{p, d, e, flow_index, to_server, in};
    ctx.from_stream = true;
    auto cb = [&](const Rule& r, size_t ri) -> bool { return this->on_match(ctx, r, ri); };
    stats_.stream_flow_end_inspections.inc();
    inspect_held(h, in, cb);
  }
  std::memset(zero_bits_, 0, sizeof zero_bits_);  // the flow is gone: bits it set go with it
  outer_ = outer;
}

void DetectStage::copy_packet(const Packet& p, const Decoded& d, AlertRecord& a) {
  a.packet_len = 0;
  a.packet_truncated = false;
  a.payload_off = 0;
  a.payload_len = 0;
  a.payload_truncated = false;
  a.long_bytes = nullptr;
  a.bytes_owner = nullptr;
  a.bytes_end = 0;
  // The packet (packet logging): the captured frame; a packet out of a
  // tunnel is its own bytes, as Suricata's tunnel packets (link type RAW):
  // from what the tunnel carries (the inner IP header; the inner Ethernet
  // header under VXLAN, the PPP header under GRE; frame_len counts it).
  const uint8_t* pkt = nullptr;
  uint32_t start = 0, pkt_len = 0;
  if (opts_.packet && p.caplen) {
    pkt_len = p.caplen;
    a.linktype = dlt_of(p.link);
    if (d.depth > 0) {
      const TunnelSpan t = tunnel_packet_span(p, d);
      start = t.start;
      pkt_len = t.end - t.start;
      a.linktype = kDltRaw;
    }
    pkt = p.data + start;
  }
  // The payload: the stream data a stream inspection matched on, else the
  // packet's own, which is part of the packet's bytes when those are kept.
  const uint8_t* pay = nullptr;
  uint32_t pay_len = 0;
  bool within = false;
  if (opts_.payload) {
    if (!stream_payload_.empty()) {
      pay = stream_payload_.data();
      pay_len = static_cast<uint32_t>(stream_payload_.size());
    } else if (d.payload_len) {
      within = pkt && d.payload_off >= start;
      if (!within) {
        pay = p.data + d.payload_off;
        pay_len = d.payload_len;
      }
    }
  }
  // Both into the record, or whole into the long-packet bytes when they do
  // not fit; cut at kAlertDataMax when those are full too.
  const uint32_t total = pkt_len + pay_len;
  uint8_t* dst = a.data;
  uint32_t cap = total;
  if (total > kAlertDataMax) {
    uint64_t end = 0;
    if (uint8_t* b = long_bytes_ ? long_bytes_->take(total, &end) : nullptr) {
      dst = b;
      a.long_bytes = b;
      a.bytes_owner = long_bytes_.get();
      a.bytes_end = end;
    } else {
      stats_.alert_bytes_cut.inc();
      cap = kAlertDataMax;
    }
  }
  const uint32_t n = std::min(pkt_len, cap);
  if (n) std::memcpy(dst, pkt, n);
  a.packet_len = n;
  a.packet_truncated = n < pkt_len;
  if (pay_len) {
    const uint32_t m = std::min(pay_len, cap - n);
    if (m) std::memcpy(dst + n, pay, m);
    a.payload_off = n;
    a.payload_len = m;
    a.payload_truncated = m < pay_len;
  } else if (within) {
    a.payload_off = std::min<uint32_t>(d.payload_off - start, n);
    a.payload_len = std::min<uint32_t>(d.payload_len, n - a.payload_off);
    a.payload_truncated = a.payload_len < d.payload_len;
  }
}

void DetectStage::emit(const Packet& p, const Decoded& d, FlowEntry& e, uint32_t flow_index, size_t rule_index,
                       bool to_server, RuleAction action, bool stream, bool blocked) {
  AlertRecord* a;
  while ((a = alerts_.reserve()) == nullptr) {
    // The export thread drains this ring; waiting loses nothing.
    stats_.alert_ring_waits.inc();
    alerts_.consumer_parker.wake();
    alerts_.producer_parker.wait([&] { return !alerts_.full(); }, kIdleWaitNs);
  }
  const FlowEntry& f = e;
  a->ts_ns = p.ts_ns;
  a->flow_id = f.flow_id;
  a->flow_start_ns = f.flow_start_ns;
  // Counters by canonical side; the client is side client_is_b.
  const int cs = f.client_is_b;
  a->pkts[0] = f.pkts[cs];
  a->pkts[1] = f.pkts[1 - cs];
  a->bytes[0] = f.bytes[cs];
  a->bytes[1] = f.bytes[1 - cs];
  a->pkt = d.key;
  a->flow = cs ? f.key.reversed() : f.key;
  a->meta = &snap_->meta[rule_index];
  a->in_flight = &snap_->alerts_in_flight;
  a->vlan[0] = d.vlan[0];
  a->vlan[1] = d.vlan[1];
  a->vlan_count = d.vlan_count;
  a->action = static_cast<uint8_t>(action);
  a->blocked = blocked;
  a->to_server = to_server;
  a->stream = stream;
  a->icmp_type = d.icmp_type;
  a->icmp_code = d.icmp_code;
  a->pkt_src = static_cast<uint8_t>(d.pkt_src);
  a->tunnel_depth = d.depth;
  if (outer_) a->tunnel = outer_->key;
  a->ifindex = p.ifindex;
  a->pcap_cnt = (p.flags & kPktFileIndex) ? p.file_index : 0;
  a->worker = worker_;
  if (app_) {
    app_->label_alert(flow_index, *a);
  } else {
    a->app_proto[0] = 0;
    a->app = AppLabel{};
  }
  copy_packet(p, d, *a);
  snap_->alerts_in_flight.fetch_add(1, std::memory_order_relaxed);
  alerts_.commit();
  e.bits |= kAlerted;
  stats_.alerts.inc();
  if (alerts_.size() >= alerts_.capacity() / 4) alerts_.consumer_parker.wake();
}

}  // namespace ws
