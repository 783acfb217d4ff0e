#include "api/flow_query.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <unordered_map>

#include "telemetry/eve.h"

namespace ws {

const char* flow_sort_name(FlowSort s) {
  switch (s) {
    case FlowSort::kBytes: return "bytes";
    case FlowSort::kPackets: return "packets";
    case FlowSort::kLastSeen: return "last_seen";
  }
  return "bytes";
}

namespace {

bool parse_u64(const std::string& s, uint64_t* v) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && p == s.data() + s.size();
}

bool parse_sort(const std::string& s, FlowSort* out) {
  if (s == "bytes") *out = FlowSort::kBytes;
  else if (s == "packets") *out = FlowSort::kPackets;
  else if (s == "last_seen") *out = FlowSort::kLastSeen;
  else return false;
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

// Protocol names as EVE prints them, plus the usual lower-case spellings.
bool parse_proto(const std::string& s, uint8_t* out) {
  uint64_t n;
  if (parse_u64(s, &n)) {
    if (n > 255) return false;
    *out = static_cast<uint8_t>(n);
    return true;
  }
  static const std::pair<const char*, uint8_t> kNames[] = {
      {"tcp", 6}, {"udp", 17}, {"icmp", 1}, {"ipv6-icmp", 58}, {"icmpv6", 58}, {"sctp", 132}, {"gre", 47}};
  for (const auto& [name, num] : kNames)
    if (iequals(s, name)) {
      *out = num;
      return true;
    }
  return false;
}

// The sort order: larger value first, then smaller flow id first.
bool before(uint64_t va, uint64_t ida, uint64_t vb, uint64_t idb) {
  return va != vb ? va > vb : ida < idb;
}

}  // namespace

bool CidrFilter::contains(const uint8_t* a, uint8_t fam) const {
  if (fam != family) return false;
  const unsigned full = len / 8, rest = len % 8;
  if (std::memcmp(a, addr, full) != 0) return false;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (addr[full] & mask);
}

bool parse_cidr_filter(const std::string& s, CidrFilter* out) {
  CidrFilter p;
  std::string host = s;
  std::optional<uint64_t> len;
  if (const size_t slash = s.find('/'); slash != std::string::npos) {
    host = s.substr(0, slash);
    uint64_t n;
    if (!parse_u64(s.substr(slash + 1), &n)) return false;
    len = n;
  }
  if (inet_pton(AF_INET, host.c_str(), p.addr) == 1) {
    p.family = 4;
    p.len = 32;
  } else if (inet_pton(AF_INET6, host.c_str(), p.addr) == 1) {
    p.family = 6;
    p.len = 128;
  } else {
    return false;
  }
  if (len) {
    if (*len > p.len) return false;
    p.len = static_cast<uint8_t>(*len);
  }
  *out = p;
  return true;
}

// `app` names the flow's application as the API and metrics do: the EVE
// app_proto ("tls"), nDPI's full name ("TLS.Google") or either of its parts
// ("TLS", "Google"), case-insensitive.
bool FlowFilter::app_matches(const FlowRecord& r) const {
  if (iequals(app, std::string_view(r.app_proto, strnlen(r.app_proto, sizeof r.app_proto)))) return true;
  const std::string_view full(r.app.protocol, strnlen(r.app.protocol, sizeof r.app.protocol));
  if (full.empty()) return false;
  if (iequals(app, full)) return true;
  const size_t dot = full.find('.');
  return dot != std::string_view::npos && (iequals(app, full.substr(0, dot)) || iequals(app, full.substr(dot + 1)));
}

bool FlowFilter::matches(const FlowRecord& r) const {
  if (proto && r.key.proto != *proto) return false;
  if (port && r.key.sport != *port && r.key.dport != *port) return false;
  if (ip && !ip->contains(r.key.src, r.key.family) && !ip->contains(r.key.dst, r.key.family)) return false;
  if (vlan && !((r.vlan_count > 0 && r.vlan[0] == *vlan) || (r.vlan_count > 1 && r.vlan[1] == *vlan))) return false;
  if (!app.empty() && !app_matches(r)) return false;
  if (!project.empty() && !(labels && labels->in_project && labels->in_project(r.ifindex, project))) return false;
  return true;
}

std::string parse_flow_filter(const HttpRequest& req, FlowFilter* out, const FlowLabels* labels) {
  FlowFilter f;
  if (std::string v = req.query_param("ip"); !v.empty()) {
    CidrFilter p;
    if (!parse_cidr_filter(v, &p)) return "ip: '" + v + "' is not an IPv4/IPv6 address or CIDR prefix";
    f.ip = p;
  }
  if (std::string v = req.query_param("port"); !v.empty()) {
    uint64_t n;
    if (!parse_u64(v, &n) || n > 65535) return "port: '" + v + "' is not a port number (0-65535)";
    f.port = static_cast<uint16_t>(n);
  }
  if (std::string v = req.query_param("proto"); !v.empty()) {
    uint8_t p;
    if (!parse_proto(v, &p)) return "proto: '" + v + "' is not tcp, udp, icmp, ipv6-icmp, sctp, gre or 0-255";
    f.proto = p;
  }
  if (std::string v = req.query_param("vlan"); !v.empty()) {
    uint64_t n;
    if (!parse_u64(v, &n) || n > 4095) return "vlan: '" + v + "' is not a VLAN id (0-4095)";
    f.vlan = static_cast<uint16_t>(n);
  }
  f.app = req.query_param("app");
  if (std::string v = req.query_param("project"); !v.empty()) {
    if (!labels || !labels->in_project) return "project: '" + v + "': this agent captures no GNS3 projects";
    f.project = std::move(v);
    f.labels = labels;
  }
  *out = std::move(f);
  return "";
}

std::string parse_flow_query(const HttpRequest& req, FlowQuery* out, const FlowLabels* labels) {
  FlowQuery q;
  if (std::string err = parse_flow_filter(req, &q.filter, labels); !err.empty()) return err;
  if (std::string v = req.query_param("sort"); !v.empty() && !parse_sort(v, &q.sort))
    return "sort: '" + v + "' is not bytes, packets or last_seen";
  if (std::string v = req.query_param("limit"); !v.empty()) {
    uint64_t n;
    if (!parse_u64(v, &n) || n < 1 || n > kFlowPageMax)
      return "limit: '" + v + "' is not a number from 1 to " + std::to_string(kFlowPageMax);
    q.limit = n;
  }
  if (std::string v = req.query_param("cursor"); !v.empty()) {
    auto c = decode_cursor(v);
    if (!c) return "cursor: not a cursor this API gave out";
    if (c->sort != q.sort)
      return std::string("cursor: it continues a listing sorted by ") + flow_sort_name(c->sort) + ", not by " +
             flow_sort_name(q.sort);
    q.after = c;
  }
  *out = std::move(q);
  return "";
}

// "<sort>.<value hex>.<flow id hex>": opaque to clients, checked on return.
std::string encode_cursor(const FlowCursor& c) {
  char buf[64];
  const int n = std::snprintf(buf, sizeof buf, "%c%llx.%llx", "bpl"[static_cast<int>(c.sort)],
                              static_cast<unsigned long long>(c.value), static_cast<unsigned long long>(c.flow_id));
  return std::string(buf, static_cast<size_t>(n));
}

std::optional<FlowCursor> decode_cursor(const std::string& s) {
  if (s.size() < 4 || s.size() > 40) return std::nullopt;
  FlowCursor c;
  switch (s[0]) {
    case 'b': c.sort = FlowSort::kBytes; break;
    case 'p': c.sort = FlowSort::kPackets; break;
    case 'l': c.sort = FlowSort::kLastSeen; break;
    default: return std::nullopt;
  }
  const size_t dot = s.find('.', 1);
  if (dot == std::string::npos || dot == 1 || dot + 1 == s.size()) return std::nullopt;
  const char* b = s.data();
  auto r1 = std::from_chars(b + 1, b + dot, c.value, 16);
  auto r2 = std::from_chars(b + dot + 1, b + s.size(), c.flow_id, 16);
  if (r1.ec != std::errc() || r1.ptr != b + dot || r2.ec != std::errc() || r2.ptr != b + s.size())
    return std::nullopt;
  return c;
}

uint64_t sort_value(const FlowRecord& r, FlowSort s) {
  switch (s) {
    case FlowSort::kBytes: return r.bytes[0] + r.bytes[1];
    case FlowSort::kPackets: return r.pkts[0] + r.pkts[1];
    case FlowSort::kLastSeen: return r.end_ns;
  }
  return 0;
}

namespace {

// The first n rows (in sort order) of the flows matching f that come after
// `after`: from the snapshot's order for `sort` when index_flows() built it,
// else by a partial sort over pointers.
std::vector<const FlowRecord*> select(const FlowSnapshot& snap, FlowSort sort, const FlowFilter& f,
                                      const std::optional<FlowCursor>& after, size_t n, size_t* matched,
                                      bool* more) {
  std::vector<const FlowRecord*> rows;
  const auto& order = snap.order[static_cast<size_t>(sort)];
  if (order.size() == snap.flows.size()) {
    using Key = FlowSnapshot::OrderKey;
    auto it = order.begin();
    if (after)  // the first row the cursor's row comes before
      it = std::upper_bound(order.begin(), order.end(), *after, [](const FlowCursor& c, const Key& k) {
        return before(c.value, c.flow_id, k.value, k.flow_id);
      });
    const bool all = f.empty();
    rows.reserve(std::min(n, static_cast<size_t>(order.end() - it)));
    for (; it != order.end(); ++it) {
      const FlowRecord& r = snap.flows[it->row];
      if (!all && !f.matches(r)) continue;
      if (rows.size() == n) {  // one more exists
        if (more) *more = true;
        break;
      }
      rows.push_back(&r);
    }
    if (matched) {
      if (all) {
        *matched = snap.flows.size();
      } else {
        size_t m = 0;
        for (const FlowRecord& r : snap.flows) m += f.matches(r) ? 1 : 0;
        *matched = m;
      }
    }
    return rows;
  }
  size_t m = 0;
  for (const FlowRecord& r : snap.flows) {
    if (!f.matches(r)) continue;
    ++m;
    if (after && !before(after->value, after->flow_id, sort_value(r, sort), r.flow_id)) continue;
    rows.push_back(&r);
  }
  if (matched) *matched = m;
  auto cmp = [sort](const FlowRecord* a, const FlowRecord* b) {
    return before(sort_value(*a, sort), a->flow_id, sort_value(*b, sort), b->flow_id);
  };
  if (more) *more = rows.size() > n;
  if (rows.size() > n) {
    std::partial_sort(rows.begin(), rows.begin() + static_cast<long>(n), rows.end(), cmp);
    rows.resize(n);
  } else {
    std::sort(rows.begin(), rows.end(), cmp);
  }
  return rows;
}

}  // namespace

void index_flows(FlowSnapshot& snap) {
  const size_t n = snap.flows.size();
  for (FlowSort sort : {FlowSort::kBytes, FlowSort::kPackets, FlowSort::kLastSeen}) {
    auto& order = snap.order[static_cast<size_t>(sort)];
    order.resize(n);
    for (size_t i = 0; i < n; ++i)
      order[i] = {sort_value(snap.flows[i], sort), snap.flows[i].flow_id, static_cast<uint32_t>(i)};
    std::sort(order.begin(), order.end(), [](const FlowSnapshot::OrderKey& a, const FlowSnapshot::OrderKey& b) {
      return before(a.value, a.flow_id, b.value, b.flow_id);
    });
  }
}

FlowPage query_flows(const FlowSnapshot& snap, const FlowQuery& q) {
  FlowPage page;
  bool more = false;
  page.flows = select(snap, q.sort, q.filter, q.after, q.limit, &page.matched, &more);
  if (more && !page.flows.empty()) {
    const FlowRecord& last = *page.flows.back();
    page.next_cursor = encode_cursor({q.sort, sort_value(last, q.sort), last.flow_id});
  }
  return page;
}

std::vector<const FlowRecord*> top_flows(const FlowSnapshot& snap, FlowSort by, size_t n, const FlowFilter& f) {
  return select(snap, by, f, std::nullopt, n, nullptr, nullptr);
}

std::vector<HostTotal> top_hosts(const FlowSnapshot& snap, FlowSort by, size_t n) {
  struct Key {
    uint8_t b[17];
    bool operator==(const Key& o) const { return std::memcmp(b, o.b, sizeof b) == 0; }
  };
  struct Hash {
    size_t operator()(const Key& k) const {
      uint64_t h = 1469598103934665603ull;
      for (uint8_t c : k.b) h = (h ^ c) * 1099511628211ull;
      return h;
    }
  };
  std::unordered_map<Key, HostTotal, Hash> hosts;
  hosts.reserve(snap.flows.size());
  auto add = [&](const uint8_t* addr, uint8_t fam, const FlowRecord& r) {
    // Only the family's own bytes name the host: an IPv4 key's bytes past
    // the fourth carry nothing and must not split one host in two.
    const size_t len = fam == 6 ? 16 : 4;
    Key k{};
    k.b[0] = fam;
    std::memcpy(k.b + 1, addr, len);
    HostTotal& h = hosts[k];
    h.family = fam;
    std::memcpy(h.addr, k.b + 1, 16);
    h.packets += r.pkts[0] + r.pkts[1];
    h.bytes += r.bytes[0] + r.bytes[1];
    ++h.flows;
  };
  for (const FlowRecord& r : snap.flows) {
    add(r.key.src, r.key.family, r);
    add(r.key.dst, r.key.family, r);
  }
  std::vector<HostTotal> out;
  out.reserve(hosts.size());
  for (auto& [k, h] : hosts) out.push_back(h);
  auto value = [by](const HostTotal& h) { return by == FlowSort::kPackets ? h.packets : h.bytes; };
  auto cmp = [&](const HostTotal& a, const HostTotal& b) {
    if (value(a) != value(b)) return value(a) > value(b);
    if (a.family != b.family) return a.family < b.family;
    return std::memcmp(a.addr, b.addr, 16) < 0;
  };
  const size_t k = std::min(n, out.size());
  std::partial_sort(out.begin(), out.begin() + static_cast<long>(k), out.end(), cmp);
  out.resize(k);
  return out;
}

std::string ip_text(const uint8_t* addr, uint8_t family) {
  char buf[INET6_ADDRSTRLEN];
  if (!inet_ntop(family == 6 ? AF_INET6 : AF_INET, addr, buf, sizeof buf)) return "";
  return buf;
}

void write_flow_json(JsonWriter& w, const FlowRecord& r, const FlowLabels* labels) {
  auto ts = [&w](std::string_view k, uint64_t ns) {
    char buf[kEveTimestampLen];
    w.field(k, std::string_view(buf, format_eve_timestamp(ns, buf)));
  };
  auto text = [&w](std::string_view k, const char* s, size_t cap) { w.field(k, std::string_view(s, strnlen(s, cap))); };
  w.begin_object();
  w.field_u64("flow_id", r.flow_id);
  w.field("src_ip", ip_text(r.key.src, r.key.family));
  w.field_u64("src_port", r.key.sport);
  w.field("dest_ip", ip_text(r.key.dst, r.key.family));
  w.field_u64("dest_port", r.key.dport);
  w.field("proto", eve_proto_name(r.key.proto));
  if (r.vlan_count) {
    w.begin_array("vlan");
    for (int i = 0; i < r.vlan_count && i < 2; ++i) w.u64(r.vlan[i]);
    w.end_array();
  }
  if (strnlen(r.app_proto, sizeof r.app_proto)) {
    text("app_proto", r.app_proto, sizeof r.app_proto);
  } else {
    w.key("app_proto");
    w.raw("null");
  }
  w.field_u64("pkts_toserver", r.pkts[0]);
  w.field_u64("pkts_toclient", r.pkts[1]);
  w.field_u64("bytes_toserver", r.bytes[0]);
  w.field_u64("bytes_toclient", r.bytes[1]);
  ts("start", r.flow_start_ns);
  ts("last_seen", r.end_ns);
  if (r.app.present()) {
    w.begin_object("ndpi");
    text("protocol", r.app.protocol, sizeof r.app.protocol);
    text("category", r.app.category, sizeof r.app.category);
    w.field("confidence", app_confidence_name(r.app.confidence));
    if (strnlen(r.app.hostname, sizeof r.app.hostname)) text("hostname", r.app.hostname, sizeof r.app.hostname);
    w.end_object();
  }
  w.field("state", flow_state_name(r.state));
  if (r.key.proto == 6) w.field("tcp_state", tcp_state_name(r.tcp_state));
  w.field_u64("worker", r.worker);
  if (labels && labels->json)
    if (nlohmann::json g = labels->json(r.ifindex); !g.is_null()) {
      w.key("gns3");
      w.raw(g.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
  w.end_object();
}

nlohmann::json flow_json(const FlowRecord& r, const FlowLabels* labels) {
  JsonWriter w(1024);
  write_flow_json(w, r, labels);
  return nlohmann::json::parse(w.view());
}

nlohmann::json host_json(const HostTotal& h) {
  return {{"ip", ip_text(h.addr, h.family)}, {"packets", h.packets}, {"bytes", h.bytes}, {"flows", h.flows}};
}

}  // namespace ws
