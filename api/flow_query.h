// Flow queries for the REST API and the WebSocket stream: filters, sorting,
// keyset pagination and top-N over a snapshot of the active flows.
//
// A FlowSnapshot is a copy of every worker's active flows (see
// dataplane/flow_snapshot.h), taken off the data path and shared read-only
// by every request that arrives while it is fresh, so a busy dashboard costs
// the workers one table walk per refresh interval, not one per request.
//
// Pages are cut with a keyset cursor (the last row's sort value and flow id)
// rather than an offset: the next page continues after that row even when
// the snapshot under it has been refreshed, and never repeats a row.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/http.h"
#include "telemetry/flow_record.h"
#include "telemetry/json_writer.h"

namespace ws {

struct FlowSnapshot {
  std::vector<FlowRecord> flows;  // client-oriented; counters of the current record slice
  uint64_t taken_ns = 0;          // wall clock, ns since the epoch, when the copy finished
  uint64_t overflow = 0;          // active flows left out because the copy was full
  unsigned workers_missing = 0;   // workers that did not answer in time (their flows are absent)
  // The rows in each sort order (indexed by FlowSort), built once by
  // index_flows() when the snapshot is taken, so that a page costs a binary
  // search and the rows it prints instead of a sort of the whole snapshot
  // per request. A snapshot without them (tests) is sorted per query.
  struct OrderKey {
    uint64_t value;    // sort_value() of the row
    uint64_t flow_id;  // ties: ascending flow id
    uint32_t row;      // index into flows
  };
  std::vector<OrderKey> order[3];
};
using FlowSnapshotPtr = std::shared_ptr<const FlowSnapshot>;

enum class FlowSort { kBytes, kPackets, kLastSeen };
const char* flow_sort_name(FlowSort s);

// Builds snap.order for every sort (after its flows are complete).
void index_flows(FlowSnapshot& snap);

// An address or a CIDR prefix (v4 or v6).
struct CidrFilter {
  uint8_t family = 4;
  uint8_t addr[16] = {};
  uint8_t len = 32;
  bool contains(const uint8_t* a, uint8_t fam) const;
};
// "10.0.0.1", "10.0.0.0/8", "2001:db8::/32"; false when malformed.
bool parse_cidr_filter(const std::string& s, CidrFilter* out);

// Labels of an ingress, for flows from GNS3 link captures: the agent fills
// these from the source's link labels (per flow, never per packet); tests
// fill them with fixed values. Either function may be unset.
struct FlowLabels {
  // The "gns3" object of flows from ifindex; null when it has none.
  std::function<nlohmann::json(uint16_t ifindex)> json;
  // Whether flows from ifindex belong to project (its id or its name).
  std::function<bool(uint16_t ifindex, const std::string& project)> in_project;
};

struct FlowFilter {
  std::optional<CidrFilter> ip;  // either endpoint
  std::optional<uint16_t> port;  // either port
  std::optional<uint8_t> proto;
  std::string app;  // app_proto or nDPI name, case-insensitive (see app_matches); empty: any
  std::optional<uint16_t> vlan;  // outer or inner id
  std::string project;           // GNS3 project id or name; empty: any
  const FlowLabels* labels = nullptr;  // set with project (parse_flow_filter)
  bool matches(const FlowRecord& r) const;
  // Whether every flow matches (no filter given).
  bool empty() const { return !ip && !port && !proto && app.empty() && !vlan && project.empty(); }
  bool app_matches(const FlowRecord& r) const;
};

struct FlowCursor {
  FlowSort sort = FlowSort::kBytes;
  uint64_t value = 0;
  uint64_t flow_id = 0;
};

constexpr size_t kFlowPageMax = 1000;

struct FlowQuery {
  FlowFilter filter;
  FlowSort sort = FlowSort::kBytes;
  size_t limit = 100;  // 1..kFlowPageMax
  std::optional<FlowCursor> after;
};

// Parses /flows query parameters (limit, cursor, sort, ip, port, proto,
// app, vlan, project). Returns "" or a message naming the parameter and the
// reason. project needs labels (an agent without GNS3 captures refuses it);
// labels must outlive the query.
std::string parse_flow_query(const HttpRequest& req, FlowQuery* out, const FlowLabels* labels = nullptr);
// Parses the filter parameters only (ip, port, proto, app, vlan, project).
std::string parse_flow_filter(const HttpRequest& req, FlowFilter* out, const FlowLabels* labels = nullptr);

std::string encode_cursor(const FlowCursor& c);
std::optional<FlowCursor> decode_cursor(const std::string& s);

// The value a flow is sorted by (descending; ties by ascending flow id).
uint64_t sort_value(const FlowRecord& r, FlowSort s);

struct FlowPage {
  std::vector<const FlowRecord*> flows;  // into the snapshot
  size_t matched = 0;                    // flows matching the filter, all pages
  std::string next_cursor;               // empty on the last page
};
FlowPage query_flows(const FlowSnapshot& snap, const FlowQuery& q);

// The n largest flows by `by` (kBytes or kPackets) that match f.
std::vector<const FlowRecord*> top_flows(const FlowSnapshot& snap, FlowSort by, size_t n,
                                         const FlowFilter& f = {});

struct HostTotal {
  uint8_t family = 4;
  uint8_t addr[16] = {};
  uint64_t packets = 0, bytes = 0;  // sent plus received
  uint64_t flows = 0;
};
// Per-address totals over both endpoints of every flow, the n largest by `by`.
std::vector<HostTotal> top_hosts(const FlowSnapshot& snap, FlowSort by, size_t n);

std::string ip_text(const uint8_t* addr, uint8_t family);
// One flow as the API prints it (EVE field names), with its "gns3" object
// when labels give one.
nlohmann::json flow_json(const FlowRecord& r, const FlowLabels* labels = nullptr);
// The same object written as text (what the /flows routes send).
void write_flow_json(JsonWriter& w, const FlowRecord& r, const FlowLabels* labels = nullptr);
nlohmann::json host_json(const HostTotal& h);

}  // namespace ws
