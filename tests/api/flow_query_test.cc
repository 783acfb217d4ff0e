#include "api/flow_query.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <set>

namespace ws {
namespace {

FlowRecord flow(uint64_t id, const char* src, const char* dst, uint16_t sp, uint16_t dp, uint8_t proto,
                uint64_t bytes, uint64_t pkts, uint64_t last_ns = 0) {
  FlowRecord r;
  // Garbage past an IPv4 address's fourth byte, as a record built without
  // zeroing would carry: queries must look only at the family's bytes.
  std::memset(r.key.src, static_cast<int>(0xA0 + id), sizeof r.key.src);
  std::memset(r.key.dst, static_cast<int>(0x50 + id), sizeof r.key.dst);
  r.flow_id = id;
  const bool v6 = std::strchr(src, ':') != nullptr;
  r.key.family = v6 ? 6 : 4;
  inet_pton(v6 ? AF_INET6 : AF_INET, src, r.key.src);
  inet_pton(v6 ? AF_INET6 : AF_INET, dst, r.key.dst);
  r.key.sport = sp;
  r.key.dport = dp;
  r.key.proto = proto;
  r.bytes[0] = bytes / 2;
  r.bytes[1] = bytes - bytes / 2;
  r.pkts[0] = pkts;
  r.end_ns = last_ns;
  r.flow_start_ns = 1'700'000'000'000'000'000ull;
  return r;
}

HttpRequest req(std::string query) {
  HttpRequest r;
  r.method = "GET";
  r.query = std::move(query);
  return r;
}

TEST(FlowQuery, ParsesPrefixes) {
  CidrFilter p;
  ASSERT_TRUE(parse_cidr_filter("10.1.0.0/16", &p));
  uint8_t a[16] = {};
  inet_pton(AF_INET, "10.1.200.3", a);
  EXPECT_TRUE(p.contains(a, 4));
  inet_pton(AF_INET, "10.2.0.1", a);
  EXPECT_FALSE(p.contains(a, 4));
  EXPECT_FALSE(p.contains(a, 6));
  ASSERT_TRUE(parse_cidr_filter("2001:db8::/33", &p));
  inet_pton(AF_INET6, "2001:db8:7fff::1", a);
  EXPECT_TRUE(p.contains(a, 6));
  inet_pton(AF_INET6, "2001:db8:8000::1", a);
  EXPECT_FALSE(p.contains(a, 6));
  ASSERT_TRUE(parse_cidr_filter("192.168.1.7", &p));
  EXPECT_EQ(p.len, 32);
  for (const char* bad : {"", "10.0.0.0/33", "10.0.0/8", "::/129", "x", "10.0.0.1/", "10.0.0.1/a"})
    EXPECT_FALSE(parse_cidr_filter(bad, &p)) << bad;
}

TEST(FlowQuery, RejectsBadParametersNamingThem) {
  FlowQuery q;
  const std::pair<const char*, const char*> cases[] = {
      {"limit=0", "limit"},         {"limit=1001", "limit"},  {"limit=x", "limit"},    {"sort=size", "sort"},
      {"port=70000", "port"},       {"proto=xyz", "proto"},   {"proto=300", "proto"},  {"vlan=4096", "vlan"},
      {"ip=10.0.0.300", "ip"},      {"cursor=zz", "cursor"},  {"cursor=b1.2&sort=packets", "cursor"},
  };
  for (const auto& [query, param] : cases) {
    const std::string err = parse_flow_query(req(query), &q);
    EXPECT_EQ(err.rfind(std::string(param) + ":", 0), 0u) << query << " → " << err;
  }
  EXPECT_EQ(parse_flow_query(req("limit=1000&sort=last_seen&proto=UDP&port=53&ip=10.0.0.0/8&vlan=7&app=dns"), &q), "");
  EXPECT_EQ(q.limit, 1000u);
  EXPECT_EQ(q.sort, FlowSort::kLastSeen);
  EXPECT_EQ(*q.filter.proto, 17);
  EXPECT_EQ(*q.filter.port, 53);
  EXPECT_EQ(*q.filter.vlan, 7);
  EXPECT_EQ(q.filter.app, "dns");
}

TEST(FlowQuery, CursorRoundTripsAndRejectsForgeries) {
  const FlowCursor c{FlowSort::kPackets, 0xfedcba9876543210ull, 42};
  auto d = decode_cursor(encode_cursor(c));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->sort, FlowSort::kPackets);
  EXPECT_EQ(d->value, c.value);
  EXPECT_EQ(d->flow_id, 42u);
  for (const char* bad : {"", "b", "b1.", "b.1", "x1.2", "b1.2.3", "b1g.2", "b11111111111111111111.2"})
    EXPECT_FALSE(decode_cursor(bad)) << bad;
}

TEST(FlowQuery, FiltersOnEveryField) {
  FlowSnapshot s;
  s.flows.push_back(flow(1, "10.0.0.1", "192.0.2.1", 40000, 443, 6, 1000, 10));
  s.flows.push_back(flow(2, "10.0.0.2", "192.0.2.53", 40001, 53, 17, 200, 2));
  s.flows.push_back(flow(3, "2001:db8::1", "2001:db8::2", 5000, 80, 6, 300, 3));
  s.flows[1].vlan_count = 2;
  s.flows[1].vlan[0] = 100;
  s.flows[1].vlan[1] = 7;
  std::memcpy(s.flows[1].app_proto, "dns", 3);
  auto ids = [&](const std::string& query) {
    FlowQuery q;
    EXPECT_EQ(parse_flow_query(req(query), &q), "") << query;
    std::set<uint64_t> out;
    for (const FlowRecord* r : query_flows(s, q).flows) out.insert(r->flow_id);
    return out;
  };
  EXPECT_EQ(ids(""), (std::set<uint64_t>{1, 2, 3}));
  EXPECT_EQ(ids("proto=tcp"), (std::set<uint64_t>{1, 3}));
  EXPECT_EQ(ids("port=53"), (std::set<uint64_t>{2}));
  EXPECT_EQ(ids("port=40000"), (std::set<uint64_t>{1}));
  EXPECT_EQ(ids("ip=192.0.2.0/24"), (std::set<uint64_t>{1, 2}));
  EXPECT_EQ(ids("ip=10.0.0.2"), (std::set<uint64_t>{2}));
  EXPECT_EQ(ids("ip=2001:db8::/64"), (std::set<uint64_t>{3}));
  EXPECT_EQ(ids("vlan=7"), (std::set<uint64_t>{2}));
  EXPECT_EQ(ids("vlan=100"), (std::set<uint64_t>{2}));
  EXPECT_EQ(ids("vlan=8"), (std::set<uint64_t>{}));
  EXPECT_EQ(ids("app=DNS"), (std::set<uint64_t>{2}));
  EXPECT_EQ(ids("app=dns&proto=tcp"), (std::set<uint64_t>{}));
  // nDPI's names: the full name and either part of it.
  std::memcpy(s.flows[0].app.protocol, "TLS.Google", 10);
  std::memcpy(s.flows[0].app_proto, "tls", 3);
  EXPECT_EQ(ids("app=TLS.Google"), (std::set<uint64_t>{1}));
  EXPECT_EQ(ids("app=google"), (std::set<uint64_t>{1}));
  EXPECT_EQ(ids("app=TLS"), (std::set<uint64_t>{1}));
  EXPECT_EQ(ids("app=TLS.Goo"), (std::set<uint64_t>{}));
  EXPECT_EQ(ids("app=Goo"), (std::set<uint64_t>{}));
}

TEST(FlowQuery, PagesVisitEveryFlowOnceInOrderEvenWhenTheSnapshotChanges) {
  FlowSnapshot s;
  // Ties on bytes are ordered by flow id.
  for (uint64_t i = 1; i <= 25; ++i) s.flows.push_back(flow(i, "10.0.0.1", "10.0.0.2", 1000 + i, 80, 6, (i % 5) * 100, i));
  FlowQuery q;
  ASSERT_EQ(parse_flow_query(req("limit=7"), &q), "");
  std::vector<uint64_t> seen;
  uint64_t prev_value = UINT64_MAX;
  int pages = 0;
  for (;;) {
    FlowPage p = query_flows(s, q);
    EXPECT_EQ(p.matched, 25u);
    ++pages;
    for (const FlowRecord* r : p.flows) {
      const uint64_t v = sort_value(*r, FlowSort::kBytes);
      EXPECT_LE(v, prev_value);
      if (v == prev_value) {
        EXPECT_GT(r->flow_id, seen.back());
      }
      prev_value = v;
      seen.push_back(r->flow_id);
    }
    if (p.next_cursor.empty()) break;
    ASSERT_EQ(parse_flow_query(req("limit=7&cursor=" + p.next_cursor), &q), "");
    if (pages == 2) {
      // A refresh between pages: a flow that was already listed is gone and a
      // new small flow appears. Neither disturbs the rows still to come.
      s.flows.erase(s.flows.begin() + 3);  // flow 4: 400 bytes, on page 1
      s.flows.push_back(flow(99, "10.0.0.9", "10.0.0.2", 9, 80, 6, 0, 1));
    }
  }
  EXPECT_EQ(pages, 4);
  std::set<uint64_t> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), seen.size()) << "no row twice";
  EXPECT_EQ(seen.size(), 26u) << "the 25 of the first set and the new flow 99";
  EXPECT_TRUE(unique.count(99));
}

// The snapshot's prebuilt sort orders (index_flows, what the agent builds)
// give exactly the pages a per-query sort gives: same rows, same order,
// same matched counts and cursors, for every sort, with and without
// filters, paged to the end, including ties and an emptied snapshot.
TEST(FlowQuery, IndexedSnapshotPagesAsThePerQuerySort) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 20; ++round) {
    FlowSnapshot plain;
    const size_t n = round == 0 ? 0 : rng() % 400;
    for (size_t i = 0; i < n; ++i) {
      char src[32];
      std::snprintf(src, sizeof src, "10.0.%u.%u", static_cast<unsigned>(rng() % 4), static_cast<unsigned>(rng() % 8));
      // Few distinct values, so ties (ordered by flow id) are common.
      plain.flows.push_back(flow(1 + rng() % 100000, src, "10.9.0.1", 1000 + rng() % 5, 80, rng() % 2 ? 6 : 17,
                                 (rng() % 6) * 100, rng() % 7, rng() % 5));
    }
    FlowSnapshot indexed = plain;
    index_flows(indexed);
    ASSERT_EQ(indexed.order[0].size(), n);
    for (const char* base : {"limit=13", "limit=1&sort=packets", "limit=50&sort=last_seen", "limit=7&proto=udp",
                             "limit=9&ip=10.0.1.0/24&sort=packets", "limit=1000&port=1002"}) {
      std::string query = base;
      for (int page = 0; page < 1000; ++page) {
        FlowQuery q;
        ASSERT_EQ(parse_flow_query(req(query), &q), "") << query;
        const FlowPage a = query_flows(plain, q);
        const FlowPage b = query_flows(indexed, q);
        ASSERT_EQ(a.matched, b.matched) << query;
        ASSERT_EQ(a.next_cursor, b.next_cursor) << query;
        ASSERT_EQ(a.flows.size(), b.flows.size()) << query;
        for (size_t i = 0; i < a.flows.size(); ++i) {
          // Same row: the two snapshots hold the same records at the same places.
          EXPECT_EQ(a.flows[i] - plain.flows.data(), b.flows[i] - indexed.flows.data()) << query << " row " << i;
        }
        if (a.next_cursor.empty()) break;
        query = std::string(base) + "&cursor=" + a.next_cursor;
      }
    }
    for (FlowSort by : {FlowSort::kBytes, FlowSort::kPackets}) {
      FlowFilter f;
      const auto a = top_flows(plain, by, 10, f);
      const auto b = top_flows(indexed, by, 10, f);
      ASSERT_EQ(a.size(), b.size());
      for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i] - plain.flows.data(), b[i] - indexed.flows.data());
    }
  }
}

TEST(FlowQuery, TopFlowsAndHosts) {
  FlowSnapshot s;
  s.flows.push_back(flow(1, "10.0.0.1", "10.0.0.9", 1, 80, 6, 5000, 5));
  s.flows.push_back(flow(2, "10.0.0.2", "10.0.0.9", 2, 80, 6, 100, 50));
  s.flows.push_back(flow(3, "10.0.0.1", "10.0.0.8", 3, 80, 6, 700, 7));
  auto top = top_flows(s, FlowSort::kBytes, 2);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0]->flow_id, 1u);
  EXPECT_EQ(top[1]->flow_id, 3u);
  top = top_flows(s, FlowSort::kPackets, 1);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0]->flow_id, 2u);

  auto hosts = top_hosts(s, FlowSort::kBytes, 10);
  ASSERT_EQ(hosts.size(), 4u);
  EXPECT_EQ(ip_text(hosts[0].addr, hosts[0].family), "10.0.0.1");
  EXPECT_EQ(hosts[0].bytes, 5700u);
  EXPECT_EQ(hosts[0].flows, 2u);
  EXPECT_EQ(ip_text(hosts[1].addr, hosts[1].family), "10.0.0.9");
  EXPECT_EQ(hosts[1].bytes, 5100u);
  EXPECT_EQ(hosts[1].packets, 55u);
  hosts = top_hosts(s, FlowSort::kPackets, 1);
  ASSERT_EQ(hosts.size(), 1u);
  EXPECT_EQ(ip_text(hosts[0].addr, hosts[0].family), "10.0.0.9");
}

TEST(FlowQuery, FlowJsonUsesEveNames) {
  FlowRecord r = flow(7, "10.0.0.1", "10.0.0.2", 1234, 53, 17, 300, 3, 1'700'000'001'500'000'000ull);
  r.vlan_count = 1;
  r.vlan[0] = 12;
  const nlohmann::json j = flow_json(r);
  EXPECT_EQ(j["flow_id"], 7);
  EXPECT_EQ(j["src_ip"], "10.0.0.1");
  EXPECT_EQ(j["dest_port"], 53);
  EXPECT_EQ(j["proto"], "UDP");
  EXPECT_EQ(j["vlan"], nlohmann::json::array({12}));
  EXPECT_EQ(j["bytes_toserver"], 150);
  EXPECT_EQ(j["bytes_toclient"], 150);
  EXPECT_EQ(j["last_seen"], "2023-11-14T22:13:21.500000+0000");
  EXPECT_TRUE(j["app_proto"].is_null());
  EXPECT_FALSE(j.contains("tcp_state"));
}

}  // namespace
}  // namespace ws
