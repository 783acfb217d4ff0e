// Drives the REST API's query-string parsers and the flow queries behind
// GET /api/v1/flows, /flows/top and /hosts/top over arbitrary text.
//
// Input: "PATH?QUERY" or, without a '?', a bare query string. The query is
// parsed as /flows, /flows/top and /alerts parameters; the whole text, the
// path and the cursor/ip/since values also go straight to url_decode,
// decode_cursor, parse_cidr_filter and parse_rfc3339.
//
// Invariants (abort on violation):
//   - a cursor that decodes re-encodes to one that decodes to the same
//     value, and every cursor the API can make decodes back to itself;
//   - a parsed CIDR prefix has a length within its family and contains its
//     own address, whose text parses back to the same address;
//   - an RFC 3339 time that parses lands in the year it names (±1 for the
//     offset and day normalisation), so it cannot have wrapped around;
//   - a flow page holds at most `limit` rows, sorted by sort_value
//     descending then flow id ascending, each matching the filter and
//     coming after the cursor, and is exactly the start of what a plain
//     filter-and-sort of the snapshot gives after the cursor; `matched`
//     counts every matching flow; a next cursor is given exactly when rows
//     are left and points at the last row; following the cursors visits
//     every matching flow once;
//   - top flows are the same prefix without a cursor; top hosts are sorted,
//     at most n, and their flow counts add up to two per flow when all fit;
//   - an alert page holds at most `limit` events, each of the asked sid.
//
// Seeds (tests/fuzz/corpus/api_query/): realistic query strings.
#include <arpa/inet.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/alert_history.h"
#include "api/flow_query.h"
#include "api/http.h"
#include "telemetry/eve.h"

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "api_query_fuzz: invariant violated: %s\n", what);
    std::abort();
  }
}

void set_addr(uint8_t* out, uint8_t family, const char* text) {
  std::memset(out, 0, 16);
  check(inet_pton(family == 6 ? AF_INET6 : AF_INET, text, out) == 1, "fixture address");
}

// Twenty-four flows with repeated byte and packet counts (so the flow id
// tie-break matters), v4 and v6, tagged and untagged, several protocols and
// application names, and shared endpoints (so hosts add up over flows).
const ws::FlowSnapshot& snapshot() {
  static const ws::FlowSnapshot snap = [] {
    static const char* const v4[] = {"10.0.0.1", "10.0.0.2", "10.1.2.3", "192.0.2.7", "198.51.100.9", "0.0.0.0"};
    static const char* const v6[] = {"2001:db8::1", "2001:db8::2", "fe80::1", "::"};
    static const uint8_t protos[] = {6, 17, 1, 58, 132, 47};
    static const char* const apps[] = {"", "http", "tls", "dns", "HTTP", "ssh"};
    ws::FlowSnapshot s;
    s.taken_ns = 1'700'000'000ull * 1'000'000'000ull;
    for (unsigned i = 0; i < 24; ++i) {
      ws::FlowRecord r;
      const bool six = i % 4 == 3;
      r.key.family = six ? 6 : 4;
      if (six) {
        set_addr(r.key.src, 6, v6[i % 4]);
        set_addr(r.key.dst, 6, v6[(i / 4) % 4]);
      } else {
        set_addr(r.key.src, 4, v4[i % 6]);
        set_addr(r.key.dst, 4, v4[(i * 5 + 1) % 6]);
      }
      r.key.proto = protos[i % 6];
      r.key.sport = static_cast<uint16_t>(i % 5 == 0 ? 0 : 40000 + i);
      r.key.dport = static_cast<uint16_t>((i % 3 == 0) ? 80 : (i % 3 == 1 ? 443 : 53));
      r.flow_id = 1000 + (i * 7919) % 97;  // distinct, not in sort order
      r.pkts[0] = i % 5;
      r.pkts[1] = (i * 3) % 4;
      r.bytes[0] = (i % 4) * 1500;
      r.bytes[1] = (i % 3) * 60;
      r.flow_start_ns = s.taken_ns - (24 - i) * 1'000'000'000ull;
      r.start_ns = r.flow_start_ns;
      r.end_ns = s.taken_ns - (i % 6) * 1'000'000ull;
      if (i % 5 == 1) {
        r.vlan_count = 1;
        r.vlan[0] = static_cast<uint16_t>(100 + i % 2);
      } else if (i % 5 == 2) {
        r.vlan_count = 2;
        r.vlan[0] = 100;
        r.vlan[1] = static_cast<uint16_t>(4095 - i % 3);
      }
      std::snprintf(r.app_proto, sizeof r.app_proto, "%s", apps[i % 6]);
      r.worker = static_cast<uint16_t>(i % 2);
      s.flows.push_back(r);
    }
    return s;
  }();
  return snap;
}

// Alerts for /alerts: sids 1..3 from a few sources, one second apart.
const ws::AlertHistory& alerts() {
  static const ws::AlertMeta metas[3] = {
      {.sid = 1, .rev = 1, .signature = "one"}, {.sid = 2, .rev = 1, .signature = "two"},
      {.sid = 3, .rev = 2, .signature = "three"}};
  static ws::AlertHistory* h = [] {
    auto* a = new ws::AlertHistory(8, ws::ExportContext{}, ws::EveFormatOptions{});
    std::vector<ws::AlertRecord> batch(10);
    for (unsigned i = 0; i < batch.size(); ++i) {
      ws::AlertRecord& r = batch[i];
      r.ts_ns = 1'700'000'000ull * 1'000'000'000ull + i * 1'000'000'000ull;
      r.meta = &metas[i % 3];
      r.pkt.family = 4;
      set_addr(r.pkt.src, 4, i % 2 ? "10.0.0.1" : "192.0.2.7");
      set_addr(r.pkt.dst, 4, "10.9.9.9");
      r.pkt.proto = 6;
      r.pkt.sport = 1234;
      r.pkt.dport = 80;
      r.flow = r.pkt;
    }
    a->export_alerts(batch, 0);
    return a;
  }();
  return *h;
}

bool in_order(const ws::FlowRecord* a, const ws::FlowRecord* b, ws::FlowSort s) {
  const uint64_t va = ws::sort_value(*a, s), vb = ws::sort_value(*b, s);
  return va != vb ? va > vb : a->flow_id < b->flow_id;
}

bool after_cursor(const ws::FlowRecord& r, const ws::FlowCursor& c) {
  const uint64_t v = ws::sort_value(r, c.sort);
  return v != c.value ? v < c.value : r.flow_id > c.flow_id;
}

// Every flow matching f in the API's order, by a plain filter and sort.
std::vector<const ws::FlowRecord*> reference(const ws::FlowFilter& f, ws::FlowSort s) {
  std::vector<const ws::FlowRecord*> out;
  for (const ws::FlowRecord& r : snapshot().flows)
    if (f.matches(r)) out.push_back(&r);
  std::sort(out.begin(), out.end(), [s](const ws::FlowRecord* a, const ws::FlowRecord* b) { return in_order(a, b, s); });
  return out;
}

void check_cursor_round_trip(const std::string& text) {
  const auto c = ws::decode_cursor(text);
  if (!c) return;
  const std::string again = ws::encode_cursor(*c);
  const auto c2 = ws::decode_cursor(again);
  check(c2.has_value(), "encode_cursor(decode_cursor(x)) does not decode");
  check(c2->sort == c->sort && c2->value == c->value && c2->flow_id == c->flow_id,
        "encode_cursor(decode_cursor(x)) decodes to another cursor");
  check(ws::encode_cursor(*c2) == again, "encode_cursor is not stable");
}

void check_cidr(const std::string& text) {
  ws::CidrFilter p;
  if (!ws::parse_cidr_filter(text, &p)) return;
  check(p.family == 4 || p.family == 6, "CIDR family");
  check(p.len <= (p.family == 4 ? 32 : 128), "CIDR length over the family's width");
  check(p.contains(p.addr, p.family), "a prefix does not contain its own address");
  check(!p.contains(p.addr, p.family == 4 ? 6 : 4), "a prefix contains an address of the other family");
  ws::CidrFilter back;
  check(ws::parse_cidr_filter(ws::ip_text(p.addr, p.family), &back), "ip_text of a parsed address does not parse");
  check(back.family == p.family && std::memcmp(back.addr, p.addr, 16) == 0, "ip_text does not round-trip");
}

void check_rfc3339(const std::string& text) {
  uint64_t ns = 0;
  if (!ws::parse_rfc3339(text, &ns)) return;
  // The input's first four characters are its year (the parser checked).
  const int year = std::atoi(text.substr(0, 4).c_str());
  char ts[ws::kEveTimestampLen];
  ws::format_eve_timestamp(ns, ts);
  const int got = std::atoi(std::string(ts, 4).c_str());
  check(got >= year - 1 && got <= year + 1, "parse_rfc3339 gave a time outside the year it names (overflow)");
  uint64_t again = 0;
  check(ws::parse_rfc3339(std::string(ts, ws::kEveTimestampLen), &again), "an EVE timestamp does not parse");
  check(again == ns / 1000 * 1000, "an EVE timestamp does not parse back to its time");
}

void check_flows(const ws::FlowQuery& q) {
  const ws::FlowSnapshot& snap = snapshot();
  const std::vector<const ws::FlowRecord*> all = reference(q.filter, q.sort);
  std::vector<const ws::FlowRecord*> rest;
  for (const ws::FlowRecord* r : all)
    if (!q.after || after_cursor(*r, *q.after)) rest.push_back(r);

  const ws::FlowPage page = ws::query_flows(snap, q);
  check(page.flows.size() <= q.limit, "page larger than limit");
  check(page.matched == all.size(), "matched is not the number of matching flows");
  for (size_t i = 0; i < page.flows.size(); ++i) {
    const ws::FlowRecord* r = page.flows[i];
    check(q.filter.matches(*r), "a row does not match the filter");
    check(!q.after || after_cursor(*r, *q.after), "a row is not after the cursor");
    if (i) check(in_order(page.flows[i - 1], r, q.sort), "rows not sorted by sort_value descending, flow id ascending");
  }
  check(page.flows.size() == std::min(q.limit, rest.size()), "page is not as long as it can be");
  check(std::equal(page.flows.begin(), page.flows.end(), rest.begin()), "page is not the start of the sorted rest");
  check(page.next_cursor.empty() == (rest.size() <= q.limit), "next cursor given or left out wrongly");
  if (!page.next_cursor.empty()) {
    const auto c = ws::decode_cursor(page.next_cursor);
    check(c.has_value(), "next cursor does not decode");
    check(c->sort == q.sort && c->flow_id == page.flows.back()->flow_id &&
              c->value == ws::sort_value(*page.flows.back(), q.sort),
          "next cursor does not point at the last row");
  }

  // Page through the rest with the cursors: every matching flow once.
  ws::FlowQuery walk = q;
  std::vector<const ws::FlowRecord*> seen(page.flows.begin(), page.flows.end());
  std::string cursor = page.next_cursor;
  for (size_t guard = 0; !cursor.empty(); ++guard) {
    check(guard <= snap.flows.size(), "cursor walk does not end");
    walk.after = ws::decode_cursor(cursor);
    const ws::FlowPage next = ws::query_flows(snap, walk);
    check(!next.flows.empty(), "a next cursor led to an empty page");
    seen.insert(seen.end(), next.flows.begin(), next.flows.end());
    cursor = next.next_cursor;
  }
  check(seen == rest, "following the cursors does not visit every matching flow once, in order");

  const std::vector<const ws::FlowRecord*> top = ws::top_flows(snap, q.sort, q.limit, q.filter);
  check(top.size() == std::min(q.limit, all.size()), "top flows: wrong count");
  check(std::equal(top.begin(), top.end(), all.begin()), "top flows are not the first of the sorted matches");

  const ws::FlowSort by = q.sort == ws::FlowSort::kPackets ? ws::FlowSort::kPackets : ws::FlowSort::kBytes;
  const std::vector<ws::HostTotal> hosts = ws::top_hosts(snap, by, q.limit);
  check(hosts.size() <= q.limit, "top hosts: more than n");
  uint64_t flows = 0;
  for (size_t i = 0; i < hosts.size(); ++i) {
    flows += hosts[i].flows;
    check(hosts[i].family == 4 || hosts[i].family == 6, "top hosts: family");
    if (i) {
      const uint64_t a = by == ws::FlowSort::kPackets ? hosts[i - 1].packets : hosts[i - 1].bytes;
      const uint64_t b = by == ws::FlowSort::kPackets ? hosts[i].packets : hosts[i].bytes;
      check(a >= b, "top hosts: not sorted descending");
    }
  }
  if (hosts.size() < q.limit) check(flows == 2 * snap.flows.size(), "top hosts: flows do not add up to two per flow");
}

void check_alerts(const ws::AlertQuery& q) {
  check(q.limit >= 1 && q.limit <= 1000, "alert limit out of range");
  const ws::AlertPage page = alerts().query(q);
  check(page.events.size() <= q.limit, "alert page larger than limit");
  // The ring's events, parsed once: each answer must be one of them.
  static const std::map<std::string, uint32_t> sid_of = [] {
    std::map<std::string, uint32_t> m;
    for (const std::string& e : alerts().query(ws::AlertQuery{}).events) {
      const nlohmann::json j = nlohmann::json::parse(e, nullptr, false);
      check(!j.is_discarded() && j.is_object(), "an alert event is not a JSON object");
      m[e] = j["alert"]["signature_id"].get<uint32_t>();
    }
    return m;
  }();
  for (const std::string& e : page.events) {
    const auto it = sid_of.find(e);
    check(it != sid_of.end(), "an alert event that is not in the ring");
    if (q.sid) check(it->second == *q.sid, "an alert of another sid");
  }
  if (!page.next_cursor.empty()) check(page.events.size() == q.limit, "next cursor on a short page");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);

  ws::HttpRequest req;
  req.method = "GET";
  if (const size_t q = text.find('?'); q != std::string::npos) {
    req.path = text.substr(0, q);
    req.query = text.substr(q + 1);
  } else {
    req.path = "/api/v1/flows";
    req.query = text;
  }

  for (bool plus : {false, true}) {
    const std::string d = ws::url_decode(text, plus);
    check(d.size() <= text.size(), "url_decode grew its input");
    if (text.find('%') == std::string::npos && (!plus || text.find('+') == std::string::npos))
      check(d == text, "url_decode changed text without escapes");
  }
  (void)ws::url_decode(req.path, false);

  for (const std::string& s : {text, req.query_param("cursor")}) check_cursor_round_trip(s);
  for (const std::string& s : {text, req.query_param("ip"), req.query_param("src")}) check_cidr(s);
  for (const std::string& s : {text, req.query_param("since")}) check_rfc3339(s);

  // Every cursor the API can make decodes to itself.
  if (size >= 17) {
    ws::FlowCursor c;
    c.sort = static_cast<ws::FlowSort>(data[0] % 3);
    std::memcpy(&c.value, data + 1, 8);
    std::memcpy(&c.flow_id, data + 9, 8);
    const auto back = ws::decode_cursor(ws::encode_cursor(c));
    check(back && back->sort == c.sort && back->value == c.value && back->flow_id == c.flow_id,
          "an encoded cursor does not decode to itself");
  }

  ws::FlowFilter filter;
  const std::string ferr = ws::parse_flow_filter(req, &filter);
  ws::FlowQuery q;
  const std::string qerr = ws::parse_flow_query(req, &q);
  // The filter's parameters are a subset of the query's: a bad filter makes
  // a bad query, with the same message.
  if (!ferr.empty()) check(qerr == ferr, "parse_flow_query does not report the filter's error");
  if (qerr.empty()) {
    check(q.limit >= 1 && q.limit <= ws::kFlowPageMax, "flow limit out of range");
    check(!q.after || q.after->sort == q.sort, "cursor of another sort accepted");
    check_flows(q);
  } else {
    check(qerr.find(':') != std::string::npos, "a query error does not name its parameter");
  }
  if (ferr.empty()) {
    // The filter alone, as /flows/top takes it, with the default sort.
    ws::FlowQuery fq;
    fq.filter = filter;
    fq.limit = 5;
    check_flows(fq);
  }

  ws::AlertQuery aq;
  const std::string aerr = ws::parse_alert_query(req, &aq);
  if (aerr.empty()) check_alerts(aq);
  else check(aerr.find(':') != std::string::npos, "an alert query error does not name its parameter");
  return 0;
}
