// AppDetect: the application-classification step of a worker's per-packet
// path, between the flow table and rule matching. One nDPI 4.2 detection
// module per worker, touched only by that worker, so nothing is locked.
//
// What runs when. The first packets of each flow, both directions, in
// capture order, go to ndpi_detection_process_packet() until nDPI names an
// application (and has no more metadata to collect, such as a TLS
// certificate or a DNS answer) or the flow reaches the packet limit (10 by
// default, as nProbe Cento). A flow that ends first, or stops at the limit
// unclassified, gets ndpi_detection_giveup()'s guess, as ndpiReader gives.
// After that the flow's packets cost one side-table read and two counter
// adds.
//
// Memory. nDPI's per-flow state (ndpi_flow_struct, ~700 bytes) is only
// needed during detection, so it comes from a fixed pool per worker and
// goes back to it (with nDPI's own allocations inside it freed) as soon as
// detection ends. At 1M flows only the flows still being classified hold
// one. When the pool is empty a new flow is not inspected (counted as
// pool_exhausted) and ends labelled Unknown. What a flow keeps afterwards
// (ids, category, confidence, risk bits, host name) lives in a side table
// indexed by FlowTable::index_of, committed by the kernel page by page as
// slots are first used (the flow entry itself stays 192 bytes).
//
// Allocation. Nothing here allocates after construction. nDPI itself
// mallocs inside some dissectors (HTTP URL and User-Agent, TLS server
// names and certificate fields, ...); those calls go through a counting
// wrapper and show as heap_allocs / heap_bytes, and are freed when the
// flow's state returns to the pool.
//
// Counters per application. Packets and bytes are counted per nDPI master
// protocol (TLS for TLS.Google; the application itself when it has no
// master), by one writer, read at scrape time from any thread. A flow's
// packets seen during detection are added when it is classified, so every
// counter only grows; flows not classified yet are in no counter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/counters.h"
#include "dataplane/decode.h"
#include "dataplane/flow_table.h"
#include "dataplane/packet.h"
#include "rules/app_proto.h"
#include "telemetry/alert_record.h"
#include "telemetry/flow_record.h"

struct ndpi_detection_module_struct;
struct ndpi_flow_struct;
struct ndpi_proto;

namespace ws {

struct AppDetectOptions {
  // The agent turns this on (ndpi.enabled, default true); a bare Worker
  // (tests, tools) runs without it.
  bool enabled = false;
  uint32_t max_packets = 10;  // packets of a flow given to nDPI at most (1..255)
  // nDPI flow states in this worker's pool: flows being classified at once.
  // 0: an eighth of the flow table, at least 1024 (never above it).
  size_t pool_flows = 0;
};

#define WS_APP_COUNTERS(X)                                                                          \
  X(packets_inspected, "packets given to nDPI")                                                    \
  X(flows_inspected, "flows whose classification started")                                         \
  X(flows_detected, "flows nDPI classified from their packets")                                    \
  X(flows_packet_limit, "flows whose classification stopped at the packet limit (nDPI's guess kept)") \
  X(flows_ended_in_detection, "flows that ended while being classified (nDPI's guess kept)")       \
  X(flows_unknown, "flows that ended Unknown, guess included")                                     \
  X(pool_exhausted, "flows not classified: no free nDPI flow state (ndpi.pool_flows)")             \
  X(heap_allocs, "allocations nDPI made inside its dissectors (URLs, certificate fields, ...)")   \
  X(heap_bytes, "bytes nDPI allocated inside its dissectors")

struct AppDetectStats {
#define WS_X(name, help) Counter name;
  WS_APP_COUNTERS(WS_X)
#undef WS_X
  Counter pool_in_use;  // flows holding an nDPI flow state now (a gauge)
};

// Per nDPI master protocol: what a worker has counted (single writer).
struct AppCounters {
  Counter packets;
  Counter bytes;  // frame bytes, as wirescope_bytes_total counts them
  Counter flows;  // flows classified as this protocol
};

// A sum over workers, for metrics and the API.
struct AppCount {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t flows = 0;
};

// What the side table keeps per flow slot. 112 bytes.
// rule_app is what rules see of the classification (rules/app_proto.h):
// kUnknown until nDPI names the protocol from the payload (it may read a
// few more packets for the rest of its label: master, app, category and
// confidence then already hold the name so far), then the Suricata
// protocol, kOther for one Suricata has no name for, or, once the label is
// final without a protocol from the payload, kFailed (Unknown, a port or
// address guess, a flow never classified).
struct FlowApp {
  uint64_t risk;        // nDPI risk bits
  uint32_t pool;        // index of the nDPI state while classifying
  uint32_t bytes;       // frame bytes seen while classifying
  uint16_t master;      // nDPI ids, final once state is kDone (see rule_app)
  uint16_t app;
  uint16_t category;
  uint8_t state;        // AppState
  uint8_t confidence;   // ndpi_confidence_t
  uint8_t packets;      // packets seen while classifying
  uint8_t guessed;      // the label is nDPI's give-up guess
  AppProto rule_app;    // for rule matching, set with state
  uint8_t rule_seen[2]; // rule_app + 1 as last matched per direction (to_server, to_client); 0: none
  char hostname[80];    // as nDPI's host_server_name
};
static_assert(sizeof(FlowApp) == 112);

enum AppState : uint8_t {
  kAppNone = 0,       // slot free, or the flow has not been seen yet
  kAppDetecting = 1,  // packets go to nDPI
  kAppDone = 2,       // classified (or guessed); label final
  kAppSkipped = 3,    // not classified (pool empty); Unknown
};

class AppDetect final : public FlowHooks {
 public:
  // Builds the worker's detection module and pool. Returns null with
  // *error set when nDPI cannot be initialised.
  static std::unique_ptr<AppDetect> create(uint16_t worker, size_t flow_capacity, const AppDetectOptions& opts,
                                           std::string* error);
  ~AppDetect() override;
  AppDetect(const AppDetect&) = delete;
  AppDetect& operator=(const AppDetect&) = delete;

  // Brings the flow's side-table slot into cache ahead of inspect().
  void prefetch(uint32_t flow_index) const { __builtin_prefetch(&side_[flow_index], 1); }

  // One packet of flow e (flow_index: FlowTable::index_of(e)), after the
  // flow table has counted it.
  void inspect(const Packet& p, const Decoded& d, uint32_t flow_index) {
    FlowApp& a = side_[flow_index];
    if (a.state == kAppDone) {
      AppCounters& c = counters_[a.master ? a.master : a.app];
      c.packets.inc();
      c.bytes.inc(d.frame_len);
      return;
    }
    inspect_slow(p, d, a);
  }

  // FlowHooks: labels each record; frees the nDPI state at the flow's end.
  void on_record(uint32_t flow_index, FlowRecord& r) override;
  void on_end(uint32_t flow_index) override;

  // Worker thread: the flow's classification so far (state kAppDone once
  // final), for rule matching.
  const FlowApp& flow(uint32_t flow_index) const { return side_[flow_index]; }
  // Worker thread: what rules match on (FlowApp::rule_app). The packet on
  // which nDPI names the protocol already sees it, since inspect() runs
  // before the rules.
  AppProto rule_app(uint32_t flow_index) const { return side_[flow_index].rule_app; }
  // Worker thread, rule matching: true when this packet is the first of its
  // direction to see the flow's present rule_app, and remembers it. Kept
  // here because the slot lives exactly as long as the flow.
  bool first_sight(uint32_t flow_index, bool to_server) {
    FlowApp& a = side_[flow_index];
    const auto v = static_cast<uint8_t>(static_cast<uint8_t>(a.rule_app) + 1);
    uint8_t& seen = a.rule_seen[to_server ? 0 : 1];
    if (seen == v) return false;
    seen = v;
    return true;
  }
  // Any thread: the rule value an nDPI master (or application) id stands
  // for when recognised in the payload.
  AppProto rule_app_of(uint16_t id) const { return rule_apps_[id < rule_apps_.size() ? id : 0]; }
  // Worker thread: fills r.app_proto and r.app from the flow's state (empty
  // while it is still being classified). so_far: also a flow nDPI has named
  // but still reads (the label an alert on that packet carries); records
  // wait for the final label.
  void label(uint32_t flow_index, uint8_t ip_proto, char (&app_proto)[16], AppLabel& out,
             bool so_far = false) const;
  void label_record(uint32_t flow_index, FlowRecord& r) const { label(flow_index, r.key.proto, r.app_proto, r.app); }
  void label_alert(uint32_t flow_index, AlertRecord& a) const {
    label(flow_index, a.flow.proto, a.app_proto, a.app, true);
  }

  // Any thread (fixed after create()): nDPI's protocol ids are 0..protocols()-1.
  size_t protocols() const { return names_.size(); }
  const std::string& protocol_name(uint16_t id) const { return names_[id < names_.size() ? id : 0]; }
  // The lowercase Suricata-style name of an nDPI master protocol ("tls").
  const char* app_proto_name(uint16_t id) const { return suricata_names_[id < names_.size() ? id : 0].name; }
  // Any thread: adds this worker's per-protocol counts into sum (resized to protocols()).
  void add_totals(std::vector<AppCount>& sum) const;
  const AppDetectStats& stats() const { return stats_; }

  // Memory: bytes of one nDPI flow state, of the whole pool, and of the side
  // table per flow slot; the detection module's own allocations at start-up.
  size_t state_bytes() const { return state_size_; }
  size_t pool_bytes() const { return pool_bytes_; }
  size_t pool_flows() const { return pool_cap_; }
  static constexpr size_t side_bytes_per_flow() { return sizeof(FlowApp); }
  size_t module_bytes() const { return module_bytes_; }
  uint32_t max_packets() const { return opts_.max_packets; }

 private:
  AppDetect(size_t flow_capacity, const AppDetectOptions& opts);
  void inspect_slow(const Packet& p, const Decoded& d, FlowApp& a);
  // Ends classification with nDPI's answer r, or with its give-up guess
  // when r is null; keeps the label and returns the state to the pool.
  void finish(FlowApp& a, const ndpi_proto* r);
  ndpi_flow_struct* state(uint32_t i) const {
    return reinterpret_cast<ndpi_flow_struct*>(pool_ + size_t{i} * state_size_);
  }
  void release(FlowApp& a);
  void count_flow(const FlowApp& a);

  struct ShortName {
    char name[16];
  };

  AppDetectOptions opts_;
  ndpi_detection_module_struct* mod_ = nullptr;
  size_t flow_cap_;
  FlowApp* side_ = nullptr;  // flow_cap_ entries, mmap'd
  size_t side_bytes_ = 0;
  uint8_t* pool_ = nullptr;  // pool_cap_ states of state_size_ bytes, mmap'd
  size_t pool_cap_ = 0;
  size_t pool_bytes_ = 0;
  size_t state_size_ = 0;
  std::vector<uint32_t> free_;  // free pool indices (a stack: recently used states stay warm)
  size_t module_bytes_ = 0;
  std::vector<std::string> names_;
  std::vector<ShortName> suricata_names_;
  std::vector<AppProto> rule_apps_;  // per nDPI id: the AppProto it maps to
  std::unique_ptr<AppCounters[]> counters_;  // names_.size() entries
  AppDetectStats stats_;
};

}  // namespace ws
