// DetectStage: the rule-matching step of a worker's per-packet path, after
// the flow table and before traffic control. One per worker; like the rest
// of the worker it takes no lock and allocates nothing per packet.
//
// Per burst it looks at the RuleSlot once and switches to a new snapshot if
// a reload published one (the worker's scratch for it was allocated by the
// loader). Per packet it fills a MatchInput from the decoded packet and its
// flow (direction, established, flowbits), runs the RuleSet, and turns each
// match into an AlertRecord in the worker's alert ring, in rule order:
//   - a `pass` match ends inspection of the packet; no alert is written.
//     Suricata's action scope decides how far it reaches: an IP-only pass
//     rule, or one on the app-layer protocol alone, passes the rest of the
//     flow (RuleSet::flow_scope), any other pass rule only the packet
//     (there is no stream or transaction match here, the other flow scopes);
//   - `noalert` matches (and flowbits:noalert) count but write nothing;
//   - at most max_alerts_per_packet alerts per packet (Suricata's
//     packet_alert_max, 15), the rest counted;
//   - alert thresholds and suppressions (shared by all workers) decide last;
//   - inline (DetectOptions::ips): a `drop` or `reject` match (any of
//     Suricata's reject variants: reject/rejectsrc, rejectdst, rejectboth,
//     all ranked as reject) drops the packet (and, with the same action
//     scope as pass, the rest of its flow); the first one in action order
//     decides the verdict (a reply or not). Later matches still alert, as
//     in Suricata, where only a pass ends a packet's alerts. The drop's
//     alert is written with blocked set (EVE alert.action "blocked")
//     unless the rule is noalert or suppressed, which still drop. Outside
//     inline mode they alert like `alert` rules ("allowed").
//
// App-layer rules (`alert http …`, `app-layer-protocol`) see the flow's
// protocol as nDPI has named it (AppDetect, run before this stage on the
// same packet): MatchInput::app is one byte from the flow's nDPI side-table
// slot, already in cache. Until nDPI names the protocol such rules do not
// match; the packet on which it does is the first they are evaluated on.
// Earlier packets are not looked at again (there is no stream buffer to
// replay), and an alert carries the flow's app_proto and nDPI label as
// they stand at that packet. Protocol-detection-only rules (app-layer-
// protocol and a header) see one packet per direction and protocol value,
// as Suricata matches them once per direction when detection is done.
//
// Flowbits live beside the flow table, not in it: kMaxFlowbits bits (128
// bytes) per flow slot in a lazily committed mapping, touched only by flows
// that set a bit. A flow reads its slot only once it has set a bit (the
// entry's kFlowbitsUsed flag); before that it works on a zeroed scratch
// block that is copied into the slot when a bit is first set, so a reused
// slot never leaks a previous flow's bits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "dataplane/counters.h"
#include "dataplane/decode.h"
#include "dataplane/flow_table.h"
#include "dataplane/ndpi.h"
#include "dataplane/packet.h"
#include "dataplane/ring.h"
#include "rules/matcher.h"
#include "rules/rule_snapshot.h"
#include "telemetry/alert_record.h"

namespace ws {

// What the rules decided about one packet. Only an inline (IPS) worker
// acts on it; elsewhere drop and reject rules alert and nothing more, as
// Suricata in IDS mode.
// kReject, kRejectDst and kRejectBoth drop the packet and say who gets the
// reply: its sender (`reject`, `rejectsrc`), its destination (`rejectdst`)
// or both (`rejectboth`).
// kQosDrop and kQueued come from traffic control after the rules
// (Worker::process): a police action or a full shaper queue dropped the
// frame, or a shaper holds a copy of it to send later.
enum class Verdict : uint8_t {
  kForward = 0,
  kDrop = 1,
  kReject = 2,
  kQosDrop = 3,
  kQueued = 4,
  kRejectDst = 5,
  kRejectBoth = 6,
};

// Suricata's exception policies, as far as they apply here: what happens
// to a TCP session picked up mid-stream (stream.midstream-policy).
// The order of detect.cc's name table.
enum class ExceptionPolicy : uint8_t { kAuto, kIgnore, kPassFlow, kBypass, kDropFlow, kDropPacket, kReject };
// Suricata's names: auto, ignore, pass-flow, bypass, drop-flow, drop-packet, reject.
bool parse_exception_policy(std::string_view s, ExceptionPolicy* out);
const char* exception_policy_name(ExceptionPolicy p);
// The policy that applies to mid-stream sessions, as Suricata settles it:
// the specific one, else the master switch (exception-policy), else auto:
// drop-flow inline (IPS), ignore otherwise. Outside IPS the drop policies
// become ignore; with stream.midstream on, so do they (Suricata accepts
// only ignore, pass-flow and bypass there).
ExceptionPolicy effective_midstream_policy(ExceptionPolicy specific, ExceptionPolicy master, bool ips, bool midstream);

struct DetectOptions {
  // Inline (IPS) mode, or --simulate-ips: a drop or reject match drops the
  // packet, marks the flow dropped (FlowEntry::verdict) when the rule's
  // action scope is the flow (RuleSet::flow_scope), and its alert says
  // blocked.
  bool ips = false;
  bool payload = false;                 // copy packet payload into alerts (EVE payload)
  bool packet = false;                  // copy the packet into alerts (EVE packet, packet_info)
  uint32_t max_alerts_per_packet = 15;  // Suricata's packet_alert_max
  // Suricata's stream.midstream: a TCP session picked up mid-stream is
  // established from its first packet (false: it never is).
  bool midstream = false;
  // What a TCP session picked up mid-stream gets (effective_midstream_policy):
  // ignore (inspected), pass-flow or bypass (not inspected), drop-flow (it
  // and every later packet dropped), drop-packet, reject (each of its
  // packets dropped; reject also replies).
  ExceptionPolicy midstream_policy = ExceptionPolicy::kIgnore;
  // The worker reassembles fragments (dataplane/defrag.h): a fragment is
  // matched as an IP packet only, its datagram whole once complete. Set by
  // the worker from WorkerConfig::defrag.
  bool defrag = false;
  // decoder.track_parent_flow (DecodeOptions): the outer packets of an
  // IP-in-IP tunnel see IP-only rules once per direction, as any flow's.
  bool tunnel_parent_flow = false;
  size_t alert_ring_size = 1024;
  // Raw stream inspection outside inline mode (see DetectStage): the bytes
  // of un-inspected TCP data a direction holds before it is inspected
  // (Suricata's stream.reassembly.toserver-chunk-size, 2560), and the
  // worker's memory for holding it (0: no holding; stream rules then see
  // each segment as it comes, as in inline mode).
  uint32_t stream_chunk_size = 2560;
  size_t stream_memcap = size_t{64} << 20;
};

#define WS_DETECT_COUNTERS(X)                                                        \
  X(inspected, "packets run through the rules")                                     \
  X(alerts, "alerts written")                                                       \
  X(noalert_matches, "matches of noalert rules (no event by design)")               \
  X(threshold_held, "matches a threshold or detection_filter has not let through yet") \
  X(threshold_suppressed, "matches whose alert a limit or suppress withheld")       \
  X(alerts_over_max, "alerts not written: over the per-packet limit (packet_alert_max)") \
  X(pass_matches, "packets whose flow a pass rule exempted from inspection")        \
  X(pass_packet_matches, "packets a pass rule ended inspection of, flow still inspected") \
  X(passed_packets, "packets not inspected because their flow was passed")         \
  X(ips_drops, "packets a drop or reject rule dropped (inline or simulated)")           \
  X(alert_ring_waits, "times the worker waited for room in its alert ring")         \
  X(alert_bytes_cut, "alert packets or payloads cut to 2,048 bytes: the long-packet buffer was full") \
  X(rule_swaps, "times the worker switched to a reloaded rule set")                \
  X(stream_matches, "matches of content spanning two in-order TCP segments")        \
  X(stream_retransmits, "TCP segments whose data was inspected before (stream check skipped)") \
  X(stream_gaps, "TCP segments after a sequence gap (no join with the previous data)")         \
  X(stream_inspections, "times held TCP stream data was inspected (chunk size reached, session closed, flow end)") \
  X(stream_flow_end_inspections, "stream inspections at a flow's end (EVE pkt_src \"stream (flow timeout)\")") \
  X(stream_memcap, "TCP segments inspected at once as stream data: the stream memory (stream_memcap) was full") \
  X(midstream_passed, "packets of TCP sessions picked up mid-stream not inspected (midstream policy pass-flow or bypass)") \
  X(midstream_dropped, "packets of TCP sessions picked up mid-stream dropped by the midstream policy")

struct DetectStats {
#define WS_X(name, help) Counter name;
  WS_DETECT_COUNTERS(WS_X)
#undef WS_X
};

class DetectStage {
 public:
  DetectStage(uint16_t worker, RuleSlot& slot, size_t flow_capacity, const DetectOptions& opts);
  ~DetectStage();
  DetectStage(const DetectStage&) = delete;
  DetectStage& operator=(const DetectStage&) = delete;

  // Once per burst, before inspect(): picks up a reloaded rule set.
  void begin_burst() {
    // Peek, switch (which still reads the old scratch), and only then ack:
    // until the ack the old snapshot cannot be freed.
    const RuleSnapshot* s = slot_.peek();
    if (s != snap_) {
      switch_to(s);
      slot_.ack(worker_, s);
    }
  }
  // The worker's application classification, read for app-layer rules and
  // alert labels (null: none, app-layer rules never match).
  void set_app(AppDetect* app) { app_ = app; }
  // False when the running set has no rules: inspect() need not be called.
  bool active() const { return active_; }

  // Runs the rules on one packet of flow e (flow_index: FlowTable::index_of).
  // kForward unless options.ips and a drop or reject rule matched.
  Verdict inspect(const Packet& p, const Decoded& d, FlowEntry& e, uint32_t flow_index, bool to_server);
  // Flow e ends (FlowHooks::on_ending, before its last record): outside
  // inline mode, each direction's held stream data is inspected, as
  // Suricata inspects what is left of a stream when the flow times out
  // (alerts say pkt_src "stream (flow timeout)"); the memory goes back.
  void flow_end(FlowEntry& e, uint32_t flow_index);
  // The captured packet around the packets inspect() sees next (null:
  // they came from the wire); alerts on a tunnel's inner packet name it.
  void set_outer(const Decoded* outer) { outer_ = outer; }

  // The worker stops: it uses no snapshot any more (its scratch counts are
  // kept, since the snapshot may now be freed by a reload).
  void quiesce();

  AlertRing& alerts() { return alerts_; }
  const DetectStats& stats() const { return stats_; }
  // Matcher counters over every rule set this worker has run (a reload
  // starts a new scratch; the old one's counts are kept here).
  MatchCounters match_counters() const;

 private:
  const Decoded* outer_ = nullptr;
  void switch_to(const RuleSnapshot* s);
  // One packet's (or one stream inspection's) rule matches as they come.
  struct MatchCtx {
    const Packet& p;
    const Decoded& d;
    FlowEntry& e;
    uint32_t flow_index;
    bool to_server;
    const MatchInput& in;
    uint32_t written = 0;
    Verdict verdict = Verdict::kForward;
    bool stopped = false;      // a pass rule ended the packet's inspection
    bool from_stream = false;  // the match being handled came from stream data
    uint32_t matched[64];      // rules that matched in the packet pass (kMaxMatched)
    size_t nmatched = 0;
  };
  // Thresholds, pass, drop and the alert of one match; false ends the
  // packet's inspection (a pass).
  bool on_match(MatchCtx& c, const Rule& r, size_t ri);
  void copy_packet(const Packet& p, const Decoded& d, AlertRecord& a);
  void emit(const Packet& p, const Decoded& d, FlowEntry& e, uint32_t flow_index, size_t rule_index, bool to_server,
            RuleAction action, bool stream, bool blocked);
  template <typename F>
  void inspect_stream(const MatchInput& pkt, const Decoded& d, const FlowEntry& e, uint32_t flow_index,
                      bool to_server, std::span<const uint32_t> pkt_matched, F& on_match);

  // The stream check's memory of one TCP flow: per direction the next
  // expected sequence number and the last kCarry bytes of in-order data.
  // flow_id tells a stale slot (a previous flow in the same entry) apart.
  static constexpr size_t kCarry = 52;
  // Held stream data of one direction (outside inline mode): a chain of
  // pool blocks, and where sequence gaps fall in it.
  static constexpr uint32_t kNoBlock = ~uint32_t{0};
  static constexpr size_t kMaxHeldGaps = 2;
  struct HeldStream {
    uint32_t head, tail;  // block chain, kNoBlock when empty
    uint32_t len;         // data bytes held (gaps not counted)
    uint8_t ngaps;
    struct Gap {
      uint32_t at;    // data bytes held before the gap
      uint32_t size;  // bytes missing
    } gaps[kMaxHeldGaps];
  };
  struct StreamCarry {
    uint64_t flow_id;
    uint32_t next_seq[2];
    uint8_t len[2];
    uint8_t valid[2];
    uint8_t data[2][kCarry];
    HeldStream held[2];
  };
  static constexpr uint32_t kBlockData = 248;
  struct HeldBlock {
    uint32_t next;
    uint32_t len;
    uint8_t data[kBlockData];
  };
  bool holding() const { return blocks_ != nullptr && !opts_.ips; }
  // The flowbit words the running set uses, and the flow's bits: its own
  // slot once it has set a bit, a zeroed scratch block until then.
  size_t flowbit_words() const { return (snap_->set->flowbit_count() + 63) / 64; }
  uint64_t* flow_bits(const FlowEntry& e, uint32_t flow_index) {
    return (e.bits & kFlowbitsUsed) ? flowbits_ + size_t{flow_index} * kWords : zero_bits_;
  }
  // Appends a segment's new bytes (after a gap of gap bytes) to the held
  // data; false when the pool has no room for it.
  bool hold(HeldStream& h, uint32_t gap, const uint8_t* data, uint32_t len);
  void release(HeldStream& h);
  // Lays the held data out in flat_ with Suricata's "[N bytes missing]" at
  // each gap; the data regions go to regions_. Empties h.
  size_t lay_out(HeldStream& h);
  // Inspects the held data of one direction with the stream rules
  // (RuleSet::stream_flush). on_match as in inspect(); each rule matches at
  // most once per inspection, as Suricata's stream inspection stops at a
  // rule's first match.
  template <typename F>
  void inspect_held(HeldStream& h, const MatchInput& base, F& on_match);
  static constexpr size_t kMaxMatched = 64;

  uint16_t worker_;
  RuleSlot& slot_;
  DetectOptions opts_;
  const RuleSnapshot* snap_ = nullptr;
  // Counts rule sets switched to, mod 64 (FlowEntry::rule_gen): a flow's
  // IP-only marks from an older set are cleared, so a reload's IP-only
  // rules see existing flows again.
  uint8_t rule_gen_ = 0;
  AppDetect* app_ = nullptr;  // read, and its per-direction marks (first_sight) kept
  MatchScratch* scratch_ = nullptr;
  MatchCounters earlier_;  // counts of the scratches of earlier rule sets
  bool active_ = false;
  AlertRing alerts_;
  // Alert packets longer than an AlertRecord holds; only with packet or
  // payload logging.
  std::unique_ptr<AlertBytes> long_bytes_;
  uint64_t* flowbits_ = nullptr;  // flow_capacity * kWords words, mmap'd
  size_t flowbits_bytes_ = 0;
  StreamCarry* carry_ = nullptr;  // flow_capacity entries, mmap'd
  size_t carry_bytes_ = 0;
  HeldBlock* blocks_ = nullptr;  // stream_memcap bytes, mmap'd, committed as used
  size_t blocks_bytes_ = 0;
  uint32_t block_count_ = 0, block_high_ = 0, free_block_ = kNoBlock, free_count_ = 0;
  std::vector<uint8_t> flat_;  // one direction's held data, laid out for inspection
  struct Region {
    uint32_t off, len;
  };
  Region regions_[kMaxHeldGaps + 1];
  size_t nregions_ = 0;
  // While set, alerts carry this as their payload (stream data) instead of
  // the packet's.
  std::span<const uint8_t> stream_payload_;
  uint64_t zero_bits_[kMaxFlowbits / 64] = {};
  DetectStats stats_;
  static constexpr size_t kWords = kMaxFlowbits / 64;
};

}  // namespace ws
