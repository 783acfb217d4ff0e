#include "api/traffic_routes.h"

#include <algorithm>
#include <chrono>

#include "api/alert_history.h"
#include "api/flow_query.h"
#include "telemetry/eve.h"

namespace ws {

namespace {

uint64_t wall_now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

nlohmann::json snapshot_json(const FlowSnapshot& s) {
  char ts[kEveTimestampLen];
  const uint64_t now = wall_now_ns();
  return {{"taken", std::string(ts, format_eve_timestamp(s.taken_ns, ts))},
          {"age_ms", now > s.taken_ns ? (now - s.taken_ns) / 1'000'000 : 0},
          {"flows", s.flows.size()},
          {"overflow", s.overflow},
          {"workers_missing", s.workers_missing}};
}

// "flows":[...] of a page, written straight as text: a page of 1000 flows
// through a JSON tree cost the API more CPU than the rest of the request.
void write_flows(JsonWriter& w, const std::vector<const FlowRecord*>& rows, const FlowLabels* labels) {
  w.begin_array("flows");
  for (const FlowRecord* r : rows) write_flow_json(w, *r, labels);
  w.end_array();
}

void write_snapshot(JsonWriter& w, const FlowSnapshot& s) {
  w.key("snapshot");
  w.raw(snapshot_json(s).dump());
}

HttpResponse text_response(const JsonWriter& w) {
  HttpResponse r;
  r.status = 200;
  r.body.assign(w.data(), w.size());
  return r;
}

// The snapshot, or the 503 to answer when there is none.
FlowSnapshotPtr snapshot_or(const AgentHooks* h, HttpResponse* err) {
  FlowSnapshotPtr s = h->flows ? h->flows() : nullptr;
  if (!s) *err = error_response(503, "the flow table is not available: the capture is not running");
  return s;
}

// by= and n= of the top routes.
std::string parse_top(const HttpRequest& req, FlowSort* by, size_t* n) {
  *by = FlowSort::kBytes;
  *n = 10;
  if (std::string v = req.query_param("by"); !v.empty()) {
    if (v == "bytes") *by = FlowSort::kBytes;
    else if (v == "packets") *by = FlowSort::kPackets;
    else return "by: '" + v + "' is not bytes or packets";
  }
  if (std::string v = req.query_param("n"); !v.empty()) {
    char* end = nullptr;
    const unsigned long x = std::strtoul(v.c_str(), &end, 10);
    if (v[0] == '-' || *end || x < 1 || x > kFlowPageMax)
      return "n: '" + v + "' is not a number from 1 to " + std::to_string(kFlowPageMax);
    *n = x;
  }
  return "";
}

const std::vector<QueryParamDoc>& filter_docs() {
  static const std::vector<QueryParamDoc> docs = {
      {"ip", "string", "either endpoint is this address or in this CIDR prefix (v4 or v6)"},
      {"port", "integer", "either port"},
      {"proto", "string", "tcp, udp, icmp, ipv6-icmp, sctp, gre or a protocol number"},
      {"app", "string", "application protocol (app_proto), case-insensitive"},
      {"vlan", "integer", "outer or inner VLAN id"},
      {"project", "string", "GNS3 project id or name (flows from its captured links)"},
  };
  return docs;
}

}  // namespace

void add_traffic_routes(const AgentHooks* h, std::vector<Route>& routes) {
  {
    Route r;
    r.method = "GET";
    r.path = "/api/v1/flows";
    r.summary =
        "Active flows from a snapshot at most api.flow_refresh_ms old, sorted (descending) and paged with an "
        "opaque cursor; counters are those of the flow's current record slice";
    r.response_schema = "FlowList";
    r.errors = {400, 503};
    r.query = filter_docs();
    r.query.push_back({"sort", "string", "bytes (default), packets or last_seen"});
    r.query.push_back({"limit", "integer", "rows per page, 1-1000 (default 100)"});
    r.query.push_back({"cursor", "string", "next_cursor of the previous page"});
    r.handler = [h](const HttpRequest& req) {
      FlowQuery q;
      if (std::string err = parse_flow_query(req, &q, h->flow_labels); !err.empty()) return error_response(400, err);
      HttpResponse err;
      FlowSnapshotPtr snap = snapshot_or(h, &err);
      if (!snap) return err;
      const FlowPage page = query_flows(*snap, q);
      JsonWriter w(1024 + page.flows.size() * 512);
      w.begin_object();
      write_flows(w, page.flows, h->flow_labels);
      w.field_u64("matched", page.matched);
      w.field("sort", flow_sort_name(q.sort));
      w.key("next_cursor");
      if (page.next_cursor.empty()) w.raw("null");
      else w.string(page.next_cursor);
      write_snapshot(w, *snap);
      w.end_object();
      return text_response(w);
    };
    routes.push_back(std::move(r));
  }
  {
    Route r;
    r.method = "GET";
    r.path = "/api/v1/flows/top";
    r.summary = "The n largest active flows by bytes or packets (filters as for /flows)";
    r.response_schema = "TopFlows";
    r.errors = {400, 503};
    r.query = filter_docs();
    r.query.push_back({"by", "string", "bytes (default) or packets"});
    r.query.push_back({"n", "integer", "how many, 1-1000 (default 10)"});
    r.handler = [h](const HttpRequest& req) {
      FlowSort by;
      size_t n;
      if (std::string e = parse_top(req, &by, &n); !e.empty()) return error_response(400, e);
      FlowFilter f;
      if (std::string e = parse_flow_filter(req, &f, h->flow_labels); !e.empty()) return error_response(400, e);
      HttpResponse err;
      FlowSnapshotPtr snap = snapshot_or(h, &err);
      if (!snap) return err;
      const std::vector<const FlowRecord*> rows = top_flows(*snap, by, n, f);
      JsonWriter w(1024 + rows.size() * 512);
      w.begin_object();
      w.field("by", flow_sort_name(by));
      write_flows(w, rows, h->flow_labels);
      write_snapshot(w, *snap);
      w.end_object();
      return text_response(w);
    };
    routes.push_back(std::move(r));
  }
  {
    Route r;
    r.method = "GET";
    r.path = "/api/v1/hosts/top";
    r.summary = "The n addresses with the most traffic (sent plus received) over the active flows";
    r.response_schema = "TopHosts";
    r.errors = {400, 503};
    r.query = {{"by", "string", "bytes (default) or packets"}, {"n", "integer", "how many, 1-1000 (default 10)"}};
    r.handler = [h](const HttpRequest& req) {
      FlowSort by;
      size_t n;
      if (std::string e = parse_top(req, &by, &n); !e.empty()) return error_response(400, e);
      HttpResponse err;
      FlowSnapshotPtr snap = snapshot_or(h, &err);
      if (!snap) return err;
      nlohmann::json hosts = nlohmann::json::array();
      for (const HostTotal& x : top_hosts(*snap, by, n)) hosts.push_back(host_json(x));
      return json_response(
          200, {{"by", flow_sort_name(by)}, {"hosts", std::move(hosts)}, {"snapshot", snapshot_json(*snap)}});
    };
    routes.push_back(std::move(r));
  }
  {
    Route r;
    r.method = "GET";
    r.path = "/api/v1/apps";
    r.summary =
        "Packets, bytes and flows per application (nDPI master protocol) since start, largest first; the names "
        "are the /metrics `app` label and the /flows `app` filter's";
    r.response_schema = "Apps";
    r.errors = {400};
    r.query = {{"sort", "string", "bytes (default), packets or flows"}};
    r.handler = [h](const HttpRequest& req) {
      const std::string sort = req.query_param("sort").empty() ? "bytes" : req.query_param("sort");
      if (sort != "bytes" && sort != "packets" && sort != "flows")
        return error_response(400, "sort: '" + sort + "' is not bytes, packets or flows");
      AppsStatus st = h->apps ? h->apps() : AppsStatus{};
      auto key = [&](const AppSummary& a) { return sort == "packets" ? a.packets : sort == "flows" ? a.flows : a.bytes; };
      std::stable_sort(st.apps.begin(), st.apps.end(),
                       [&](const AppSummary& a, const AppSummary& b) { return key(a) > key(b); });
      nlohmann::json apps = nlohmann::json::array();
      for (const AppSummary& a : st.apps)
        apps.push_back({{"name", a.name},
                        {"app_proto", a.app_proto.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.app_proto)},
                        {"packets", a.packets},
                        {"bytes", a.bytes},
                        {"flows", a.flows}});
      return json_response(200, {{"enabled", st.enabled}, {"sort", sort}, {"apps", std::move(apps)}});
    };
    routes.push_back(std::move(r));
  }
  {
    Route r;
    r.method = "GET";
    r.path = "/api/v1/alerts";
    r.summary =
        "Recent alerts (EVE alert events), newest first, from a ring of api.alert_history alerts; paged with "
        "an opaque cursor";
    r.response_schema = "AlertList";
    r.errors = {400};
    r.query = {{"sid", "integer", "signature id"},
               {"src", "string", "the packet's source address or CIDR prefix"},
               {"dst", "string", "the packet's destination address or CIDR prefix"},
               {"since", "string", "RFC 3339 time or seconds since the epoch (packet time)"},
               {"limit", "integer", "alerts per page, 1-1000 (default 100)"},
               {"cursor", "string", "next_cursor of the previous page"}};
    r.handler = [h](const HttpRequest& req) {
      AlertQuery q;
      if (std::string err = parse_alert_query(req, &q); !err.empty()) return error_response(400, err);
      AlertPage page;
      if (h->alerts) page = h->alerts->query(q);
      // The events are already JSON text: splice them in rather than re-parse.
      std::string body = "{\"alerts\":[";
      for (size_t i = 0; i < page.events.size(); ++i) {
        if (i) body += ',';
        body += page.events[i];
      }
      body += "],\"next_cursor\":";
      body += page.next_cursor.empty() ? "null" : "\"" + page.next_cursor + "\"";
      body += ",\"total\":" + std::to_string(page.total) + ",\"evicted\":" + std::to_string(page.evicted) + "}";
      HttpResponse resp;
      resp.body = std::move(body);
      return resp;
    };
    routes.push_back(std::move(r));
  }
}

void add_traffic_schemas(nlohmann::json& s) {
  using nlohmann::json;
  auto obj = [](json props, json required) {
    return json{{"type", "object"}, {"properties", std::move(props)}, {"required", std::move(required)}};
  };
  const json u64 = {{"type", "integer"}, {"format", "int64"}, {"minimum", 0}};
  const json str = {{"type", "string"}};
  const json nstr = {{"type", "string"}, {"nullable", true}};
  auto array_of = [](const char* ref) {
    return json{{"type", "array"}, {"items", {{"$ref", std::string("#/components/schemas/") + ref}}}};
  };
  s["Flow"] = obj({{"flow_id", u64},
                   {"src_ip", str},
                   {"src_port", u64},
                   {"dest_ip", str},
                   {"dest_port", u64},
                   {"proto", str},
                   {"vlan", {{"type", "array"}, {"items", u64}}},
                   {"app_proto", nstr},
                   {"pkts_toserver", u64},
                   {"pkts_toclient", u64},
                   {"bytes_toserver", u64},
                   {"bytes_toclient", u64},
                   {"start", str},
                   {"last_seen", str},
                   {"state", str},
                   {"tcp_state", str},
                   {"ndpi", obj({{"protocol", str}, {"category", str}, {"confidence", str}, {"hostname", str}},
                                {"protocol", "category", "confidence"})},
                   {"worker", u64}},
                  {"flow_id", "src_ip", "src_port", "dest_ip", "dest_port", "proto", "pkts_toserver", "pkts_toclient",
                   "bytes_toserver", "bytes_toclient", "start", "last_seen", "state"});
  s["FlowSnapshot"] = obj({{"taken", str},
                           {"age_ms", u64},
                           {"flows", u64},
                           {"overflow", {{"type", "integer"}, {"description", "active flows the copy had no room for"}}},
                           {"workers_missing", u64}},
                          {"taken", "age_ms", "flows", "overflow", "workers_missing"});
  s["FlowList"] = obj({{"flows", array_of("Flow")},
                       {"matched", u64},
                       {"sort", str},
                       {"next_cursor", nstr},
                       {"snapshot", {{"$ref", "#/components/schemas/FlowSnapshot"}}}},
                      {"flows", "matched", "next_cursor", "snapshot"});
  s["TopFlows"] = obj({{"by", str}, {"flows", array_of("Flow")}, {"snapshot", {{"$ref", "#/components/schemas/FlowSnapshot"}}}},
                      {"by", "flows", "snapshot"});
  s["Host"] = obj({{"ip", str}, {"packets", u64}, {"bytes", u64}, {"flows", u64}}, {"ip", "packets", "bytes", "flows"});
  s["TopHosts"] = obj({{"by", str}, {"hosts", array_of("Host")}, {"snapshot", {{"$ref", "#/components/schemas/FlowSnapshot"}}}},
                      {"by", "hosts", "snapshot"});
  s["App"] = obj({{"name", str}, {"app_proto", nstr}, {"packets", u64}, {"bytes", u64}, {"flows", u64}},
                 {"name", "app_proto", "packets", "bytes", "flows"});
  s["Apps"] = obj({{"enabled", {{"type", "boolean"}}}, {"sort", str}, {"apps", array_of("App")}},
                  {"enabled", "sort", "apps"});
  s["AlertList"] = obj({{"alerts", {{"type", "array"}, {"items", {{"type", "object"}, {"description", "an EVE alert event"}}}}},
                        {"next_cursor", nstr},
                        {"total", u64},
                        {"evicted", u64}},
                       {"alerts", "next_cursor", "total", "evicted"});
}

}  // namespace ws
