// RuleSet: parsed rules compiled for matching. Two stages, as in Suricata:
//
//   prefilter  - each rule's fast pattern (rules/fast_pattern.h) goes into a
//                Hyperscan block-mode literal database; one scan of the
//                payload yields the rules worth confirming.
//   confirm    - each candidate, plus the group's rules without a usable
//                fast pattern ("always check"), is checked in full in rule
//                order: header, flow, packet fields, then the payload
//                keywords in the rule's own order with Suricata's content
//                inspection semantics (relative positions, backtracking over
//                earlier matches, negation, pcre, byte_*).
//
// Groups are keyed by the packet's protocol class (tcp, udp, icmp, other)
// and direction (to_server, to_client). A rule goes into every group it can
// match: an `ip` rule into all four protocol classes, a rule without a flow
// direction into both directions. Patterns are duplicated across groups so
// a packet costs exactly one scan.
//
// A built RuleSet is immutable and shared between workers by pointer (a
// reload builds a new one off the data path). Everything mutable during a
// match lives in a MatchScratch, one per worker: Hyperscan scratch, PCRE2
// match data, candidate lists. match() neither allocates nor locks.
//
// Flowbits: names are numbered at build (flowbit_count()); the bits live with
// the flow, owned by the caller, and come in through MatchInput::flowbits.
// isset/isnotset are conditions; set/unset/toggle are applied when the rule
// has matched in full, before the next rule is confirmed, so a later rule in
// the same packet sees them (rules are confirmed in the order given; put
// setters before checkers as Suricata's rule ordering does). A rule with
// `noalert` still reaches the callback: it may have set bits, and the caller
// decides not to alert.
//
// App-layer protocols (`alert http …`, `app-layer-protocol`) are matched on
// the flow's classification, which the caller passes in MatchInput::app
// (the data plane takes it from nDPI, dataplane/ndpi.h). As in Suricata, a
// rule with app-layer-protocol and nothing else but header, flow direction
// and flowbit setters is "protocol-detection-only": it is matched on the
// first packet of each direction that sees the protocol (MatchInput::
// app_first), not on every packet. Each rule's
// protocol conditions are folded at build into one mask of the AppProto
// values it accepts, and confirm() tests that bit before anything else, so
// a rule for another protocol costs one shift per candidate. A rule with an
// app-layer header goes only into the groups of the transports Suricata
// parses that protocol on (http: tcp; dns: tcp and udp).
//
// Not supported yet (build() rejects the rule and says why): dce byte
// options. threshold and detection_filter are accepted
// and left to the alert stage (rules/threshold.h): a match here is a
// candidate alert that the thresholds may still hold back.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "rules/fast_pattern.h"
#include "rules/hs_cache.h"
#include "rules/ip_only.h"
#include "rules/rule.h"
#include "rules/rule_parser.h"

struct hs_database;
struct hs_scratch;

namespace ws {

// What the matcher needs to know about one packet (or one reassembled
// stream chunk). Addresses are in network order; IPv4 uses the first 4 bytes.
struct MatchInput {
  std::span<const uint8_t> payload;
  uint8_t ip_proto = 0;  // 6 tcp, 17 udp, 1 icmp, 58 icmpv6, ...
  bool ipv6 = false;
  std::array<uint8_t, 16> src{}, dst{};
  uint16_t sport = 0, dport = 0;
  // Flow state. Without a flow (has_flow false) `flow:to_server`,
  // `established` and friends do not match; `stateless` always does.
  bool has_flow = true;
  bool to_server = true;
  bool established = false;
  bool stream = false;  // payload is reassembled stream data, not one packet
  uint8_t ttl = 0;
  uint8_t tcp_flags = 0;  // the TCP header's flag byte (CWR 0x80 .. FIN 0x01)
  uint8_t icmp_type = 0, icmp_code = 0;
  bool icmp_has_id = false;  // echo / echo reply and the like carry id+seq
  uint16_t icmp_id = 0, icmp_seq = 0;
  // The flow's application protocol (rules/app_proto.h): kUnknown while it
  // is being classified or without a classifier, then known for the flow.
  AppProto app = AppProto::kUnknown;
  // The first packet of this direction to see `app` (protocol-detection-only
  // rules are matched once per direction, when detection is done, as in
  // Suricata). The caller keeps that per flow; true by default.
  bool app_first = true;
  // The flow's flowbits, ceil(flowbit_count() / 64) words, owned by the flow
  // and updated in place by set/unset/toggle. Empty: no flow, every bit
  // reads as unset and changes are dropped.
  std::span<uint64_t> flowbits;
};

// Counters of one worker's matching; summed by the caller when scraped.
struct MatchCounters {
  uint64_t scans = 0;               // prefilter scans run
  uint64_t scan_errors = 0;         // hs_scan failures (packet skipped)
  uint64_t candidates = 0;          // rules confirmed because of the prefilter
  uint64_t always_checked = 0;      // rules confirmed without a prefilter hit
  uint64_t matches = 0;             // rules that matched
  uint64_t pcre_errors = 0;         // pcre2_match errors other than no-match (limits)

  MatchCounters& operator+=(const MatchCounters& o) {
    scans += o.scans;
    scan_errors += o.scan_errors;
    candidates += o.candidates;
    always_checked += o.always_checked;
    matches += o.matches;
    pcre_errors += o.pcre_errors;
    return *this;
  }
};

class RuleSet;

// How a RuleSet is built, beyond its rules.
struct RuleBuildOptions {
  // Names numbered before these rules' own, in that order. A reload passes
  // the running set's flowbit_names() so a name keeps its bit and flows keep
  // their bits across the swap. A rule that would take the count past
  // kMaxFlowbits is rejected.
  const std::vector<std::string>* flowbit_names = nullptr;
  // Compiled prefilter databases are kept here (rules/hs_cache.h); empty:
  // always compile.
  std::string cache_dir;
  HsCacheStats* cache_stats = nullptr;  // may be null
};

// Flowbit names a rule set may number (the per-flow bit storage is sized
// for this many: 16 words).
constexpr size_t kMaxFlowbits = 1024;

// Per-worker mutable state. Make one per worker with RuleSet::make_scratch
// (or clone one); it is tied to the RuleSet it was made for.
class MatchScratch {
 public:
  MatchScratch(const MatchScratch&) = delete;
  MatchScratch& operator=(const MatchScratch&) = delete;
  ~MatchScratch();
  // A copy for another worker (hs_clone_scratch + fresh buffers).
  std::unique_ptr<MatchScratch> clone() const;
  MatchCounters counters;

 private:
  friend class RuleSet;
  MatchScratch() = default;
  const RuleSet* set_ = nullptr;
  hs_scratch* hs_ = nullptr;
  void* pcre_data_ = nullptr;             // pcre2_match_data_8*
  std::vector<uint8_t> pattern_hit_;      // per pattern id, this scan
  std::vector<uint32_t> hit_patterns_;    // pattern ids hit, this scan
  std::vector<uint32_t> candidates_;      // rule indices to confirm
};

// One group's figures, for reports and the "rule groups without a usable
// fast pattern" diagnostic.
struct RuleGroupInfo {
  std::string name;          // "tcp to_server"
  size_t rules = 0;          // rules in the group
  size_t patterns = 0;       // distinct prefilter patterns
  size_t always_check = 0;   // rules confirmed on every packet of the group
  size_t database_bytes = 0;
};

class RuleSet {
 public:
  // Compiles rules. Rules the matcher cannot honour (see the header comment)
  // are skipped and listed in *rejected when it is given; when it is null
  // any such rule fails the whole build. Returns null on failure with the
  // reason in *error (a Hyperscan or PCRE2 compile error names the sid).
  static std::shared_ptr<const RuleSet> build(const std::vector<Rule>& rules, std::string* error,
                                              std::vector<RuleError>* rejected = nullptr,
                                              const RuleBuildOptions& opts = {});
  ~RuleSet();
  RuleSet(const RuleSet&) = delete;
  RuleSet& operator=(const RuleSet&) = delete;

  std::unique_ptr<MatchScratch> make_scratch() const;

  // Calls on_match(const Rule&) or on_match(const Rule&, size_t rule_index)
  // for each matching rule, in rule order. When on_match returns bool, false
  // stops the packet's inspection there (a `pass` rule): later rules are
  // neither confirmed nor allowed to change flowbits. Returns the number of
  // matching rules.
  //
  // with_ip_only: also the IP-only rules (rules/ip_only.h), in their place in
  // rule order. Suricata runs those on the first packet of each direction of
  // a flow only (and on every packet without a flow); the caller decides.
  //
  // with_always false: only rules the prefilter found (a caller looking for
  // content, such as the stream check's join, skips the always-check rules).
  template <typename F>
  size_t match(const MatchInput& in, MatchScratch& scratch, F&& on_match, bool with_ip_only = true,
               bool with_always = true) const {
    size_t n = collect(in, scratch, with_ip_only, with_always);
    size_t hits = 0;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t ri = scratch.candidates_[i];
      if (!confirm(ri, in, scratch)) continue;
      ++hits;
      if (!call_on_match(on_match, rule(ri), ri)) break;
    }
    scratch.counters.matches += hits;
    return hits;
  }

  size_t ip_only_count() const { return ip_only_count_; }

  // Confirms one rule against the input, without the prefilter. For tests
  // and for callers that already know the candidate.
  bool confirm(size_t rule_index, const MatchInput& in, MatchScratch& scratch) const;

  size_t size() const;
  const Rule& rule(size_t i) const;
  // The rule's prefilter pattern; null when it has no content.
  const FastPattern* fast_pattern(size_t i) const;
  // True when rule i is IP-only (rules/ip_only.h). Suricata's action scope:
  // a pass on such a rule applies to the whole flow, on any other rule
  // (payload, packet fields, flow keywords) to the matching packet only.
  bool ip_only(size_t i) const;
  // IP-only or "like IP-only" (a negated address).
  bool header_only(size_t i) const;
  // Suricata's action scope is the flow, not the packet: IP-only and like
  // IP-only rules, protocol-detection-only rules (app-layer-protocol with
  // nothing but header, flow direction and flowbit setters) and app-layer
  // header rules with nothing more. A pass on such a rule covers the flow.
  bool flow_scope(size_t i) const;
  // Protocol-detection-only (Suricata's pd_only): matched only when
  // MatchInput::app_first says the packet is the first of its direction
  // with the flow's present protocol value.
  bool pd_only(size_t i) const;
  // Every payload condition is relative, so the rule means the same on any
  // window of a stream (see is_floating in matcher.cc).
  bool floating(size_t i) const;
  // Some rule inspects only reassembled stream data (`tcp-stream`,
  // `flow:only_stream`).
  bool has_stream_only_rules() const { return stream_only_rules_; }
  // Rule i is looked for in a TCP stream's raw data when the stream is
  // inspected (Suricata's IDS-mode raw stream inspection): a `tcp-stream`
  // or `flow:only_stream` rule, and a rule that can match TCP with payload
  // keywords and a content anchored by depth, offset or startswith, which
  // Suricata inspects on both the packet and the stream (its SigValidate
  // gives such a rule SIG_FLAG_REQUIRE_PACKET and SIG_FLAG_REQUIRE_STREAM).
  bool stream_flush(size_t i) const;
  bool has_stream_flush_rules() const { return stream_flush_rules_; }
  std::vector<RuleGroupInfo> groups() const;
  size_t database_bytes() const;
  // Distinct flowbit names; bit i is word i / 64, bit i % 64.
  size_t flowbit_count() const { return flowbit_names_.size(); }
  const std::vector<std::string>& flowbit_names() const { return flowbit_names_; }

  struct CompiledRule;
  struct Group;

 private:
  RuleSet() = default;
  template <typename F>
  static bool call_on_match(F& f, const Rule& r, size_t i) {
    if constexpr (std::is_invocable_v<F&, const Rule&, size_t>) {
      if constexpr (std::is_same_v<std::invoke_result_t<F&, const Rule&, size_t>, bool>) return f(r, i);
      else f(r, i);
    } else {
      if constexpr (std::is_same_v<std::invoke_result_t<F&, const Rule&>, bool>) return f(r);
      else f(r);
    }
    return true;
  }
  // Prefilter scan; leaves the rule indices to confirm, sorted, in
  // scratch.candidates_ and returns how many.
  size_t collect(const MatchInput& in, MatchScratch& scratch, bool with_ip_only, bool with_always) const;
  void append_ip_only(const MatchInput& in, MatchScratch& scratch) const;

  std::vector<CompiledRule> rules_;
  std::vector<Group> groups_;
  size_t pattern_count_ = 0;  // distinct pattern ids across groups
  size_t max_rules_per_group_ = 0;
  void* match_ctx_ = nullptr;  // pcre2_match_context_8*, read-only after build
  std::vector<std::string> flowbit_names_;
  IpOnlyIndex ip_index_;      // IP-only rules by source list (`<>`: by both lists)
  IpOnlyIndex ip_dst_index_;  // IP-only `->` rules whose destination list is the narrower
  std::vector<uint32_t> ip_only_always_;  // IP-only rules the index cannot hold
  size_t ip_only_count_ = 0;
  bool stream_only_rules_ = false;
  bool stream_flush_rules_ = false;
  friend class MatchScratch;
};

struct RuleSet::CompiledRule {
  Rule rule;
  bool ip_only = false;      // header and flowbit setters only: matched once per flow direction
  bool header_only = false;  // ip_only, or the same with a negated address ("like IP-only")
  bool floating = false;     // payload conditions all relative: can match across a segment join
  bool stream_flush = false; // also matched on inspected stream data (RuleSet::stream_flush)
  // AppProto values the flow may have (bit per value): the header's
  // protocol and every app-layer-protocol keyword folded together.
  uint64_t app_allowed = ~uint64_t{0};
  bool pd_only = false;     // app-layer-protocol and header only: once per direction
  bool flow_scope = false;  // a pass covers the flow (see RuleSet::flow_scope)
  std::optional<FastPattern> fp;
  std::vector<void*> pcre;  // pcre2_code_8* per payload item (null if not pcre)
  struct FlowbitOp {
    Flowbits::Cmd cmd;
    bool any_of;
    std::vector<uint32_t> bits;
  };
  std::vector<FlowbitOp> flowbits;  // conditions and actions, as written
  ~CompiledRule();
  CompiledRule() = default;
  CompiledRule(CompiledRule&&) noexcept;
  CompiledRule& operator=(CompiledRule&&) = delete;
};

struct RuleSet::Group {
  std::string name;
  hs_database* db = nullptr;
  std::vector<std::vector<uint32_t>> pattern_rules;  // pattern id (local) -> rule indices
  uint32_t pattern_base = 0;  // offset of this group's ids in the scratch hit table
  std::vector<uint32_t> always;  // rule indices, sorted
  // The always-check rules split by destination port, as Suricata's rule
  // groups split by port: a rule for a few ports is only confirmed for
  // packets to one of them. Sorted by port.
  std::vector<std::pair<uint16_t, uint32_t>> always_by_port;
  std::vector<uint32_t> always_any_port;  // sorted
  size_t rules = 0;
  size_t db_bytes = 0;
};

}  // namespace ws
