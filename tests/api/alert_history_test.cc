#include "api/alert_history.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace ws {
namespace {

constexpr uint64_t kSec = 1'000'000'000ull;
constexpr uint64_t kT0 = 1'700'000'000ull * kSec;  // 2023-11-14T22:13:20Z

AlertRecord alert(const AlertMeta& m, const char* src, const char* dst, uint64_t ts) {
  AlertRecord a;
  a.ts_ns = ts;
  a.meta = &m;
  a.pkt.family = a.flow.family = 4;
  inet_pton(AF_INET, src, a.pkt.src);
  inet_pton(AF_INET, dst, a.pkt.dst);
  a.pkt.proto = a.flow.proto = 6;
  a.pkt.sport = 1234;
  a.pkt.dport = 80;
  a.flow = a.pkt;
  return a;
}

HttpRequest req(std::string query) {
  HttpRequest r;
  r.query = std::move(query);
  return r;
}

std::vector<uint64_t> sids(const AlertPage& p) {
  std::vector<uint64_t> out;
  for (const std::string& e : p.events) out.push_back(nlohmann::json::parse(e)["alert"]["signature_id"]);
  return out;
}

TEST(AlertHistory, ParsesTimes) {
  uint64_t ns;
  ASSERT_TRUE(parse_rfc3339("2023-11-14T22:13:20Z", &ns));
  EXPECT_EQ(ns, kT0);
  ASSERT_TRUE(parse_rfc3339("2023-11-14T23:13:20.25+01:00", &ns));
  EXPECT_EQ(ns, kT0 + kSec / 4);
  ASSERT_TRUE(parse_rfc3339("2023-11-14T22:13:20.000001+0000", &ns));  // EVE's own form
  EXPECT_EQ(ns, kT0 + 1000);
  for (const char* bad : {"2023-11-14", "2023-11-14T22:13:20", "2023-13-14T22:13:20Z", "2023-11-14T22:13:20.Z",
                          "2023-11-14T22:13:20Zjunk", "yesterday", "6026-11-21T10:00:00.123456789Z"})
    EXPECT_FALSE(parse_rfc3339(bad, &ns)) << bad;
}

TEST(AlertHistory, RejectsBadParametersNamingThem) {
  AlertQuery q;
  for (const auto& [query, param] : std::vector<std::pair<std::string, std::string>>{
           {"sid=x", "sid"}, {"sid=99999999999", "sid"}, {"src=1.2.3", "src"}, {"dst=::/200", "dst"},
           {"since=soon", "since"}, {"limit=0", "limit"}, {"cursor=b12", "cursor"}}) {
    const std::string err = parse_alert_query(req(query), &q);
    EXPECT_EQ(err.rfind(param + ":", 0), 0u) << query << " → " << err;
  }
  ASSERT_EQ(parse_alert_query(req("since=1700000000&sid=5&src=10.0.0.0/8&limit=3"), &q), "");
  EXPECT_EQ(q.since_ns, kT0);
  EXPECT_EQ(*q.sid, 5u);
  EXPECT_EQ(q.limit, 3u);
}

TEST(AlertHistory, KeepsTheNewestAndFiltersAndPages) {
  AlertMeta m1{.sid = 1, .rev = 1, .signature = "one"};
  AlertMeta m2{.sid = 2, .rev = 1, .signature = "two"};
  AlertHistory h(5, ExportContext{}, EveFormatOptions{});
  std::vector<AlertRecord> batch;
  for (int i = 0; i < 7; ++i)
    batch.push_back(alert(i % 2 ? m2 : m1, i < 4 ? "10.0.0.1" : "192.0.2.7", "10.9.9.9", kT0 + i * kSec));
  h.export_alerts(batch, 0);
  // Seven alerts into a ring of five: the two oldest (i=0,1) are gone.
  AlertQuery q;
  AlertPage p = h.query(q);
  EXPECT_EQ(p.total, 7u);
  EXPECT_EQ(p.evicted, 2u);
  ASSERT_EQ(p.events.size(), 5u);
  EXPECT_EQ(sids(p), (std::vector<uint64_t>{1, 2, 1, 2, 1}));  // i = 6..2, newest first
  EXPECT_TRUE(p.next_cursor.empty());
  const nlohmann::json first = nlohmann::json::parse(p.events[0]);
  EXPECT_EQ(first["event_type"], "alert");
  EXPECT_EQ(first["src_ip"], "192.0.2.7");
  EXPECT_EQ(first["alert"]["signature"], "one");

  ASSERT_EQ(parse_alert_query(req("sid=2"), &q), "");
  EXPECT_EQ(sids(h.query(q)), (std::vector<uint64_t>{2, 2}));
  ASSERT_EQ(parse_alert_query(req("src=192.0.2.0/24"), &q), "");
  EXPECT_EQ(h.query(q).events.size(), 3u);
  ASSERT_EQ(parse_alert_query(req("dst=10.0.0.1"), &q), "");
  EXPECT_EQ(h.query(q).events.size(), 0u);
  ASSERT_EQ(parse_alert_query(req("since=2023-11-14T22:13:25Z"), &q), "");
  EXPECT_EQ(h.query(q).events.size(), 2u);  // i = 5, 6

  // Pages of two: 6,5 / 4,3 (i=2 leaves the ring when a new alert comes
  // between the pages), each continuing after the last.
  ASSERT_EQ(parse_alert_query(req("limit=2"), &q), "");
  std::vector<std::string> ips;
  int pages = 0;
  for (;;) {
    p = h.query(q);
    ++pages;
    for (const std::string& e : p.events) ips.push_back(nlohmann::json::parse(e)["timestamp"]);
    if (p.next_cursor.empty()) break;
    // A new alert between pages does not shift the pages.
    if (pages == 1) h.export_alerts(std::vector<AlertRecord>{alert(m1, "10.0.0.1", "10.9.9.9", kT0 + 60 * kSec)}, 0);
    ASSERT_EQ(parse_alert_query(req("limit=2&cursor=" + p.next_cursor), &q), "");
  }
  EXPECT_EQ(pages, 2);
  ASSERT_EQ(ips.size(), 4u) << "the ring dropped i=2 when the new alert came";
  EXPECT_EQ(ips[0], "2023-11-14T22:13:26.000000+0000");
  EXPECT_EQ(ips[3], "2023-11-14T22:13:23.000000+0000");
}

}  // namespace
}  // namespace ws
