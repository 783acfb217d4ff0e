// ExportLoop's alert counts by rule and severity: what the metrics export
// as wirescope_alerts_by_{signature,severity}_total. Alerts are pushed into
// a worker's alert ring as a worker would, and the loop drains them.
#include "telemetry/export_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace ws {
namespace {

struct Rig {
  ExportLoop::RecordRing records{64};
  AlertRing alerts{4096};
  std::vector<std::unique_ptr<AlertMeta>> metas;
  std::atomic<uint64_t> in_flight{0};

  const AlertMeta* meta(uint32_t sid, uint8_t severity, uint32_t gid = 1) {
    auto m = std::make_unique<AlertMeta>();
    m->gid = gid;
    m->sid = sid;
    m->severity = severity;
    m->signature = "rule " + std::to_string(sid);
    metas.push_back(std::move(m));
    return metas.back().get();
  }
  void push(const AlertMeta* m) {
    AlertRecord* r = alerts.reserve();
    ASSERT_NE(r, nullptr);
    r->meta = m;
    r->in_flight = &in_flight;
    in_flight.fetch_add(1);
    alerts.commit();
  }
  // Runs the loop until both rings are empty (no exporters: counting only).
  void drain(ExportLoop& loop) {
    loop.run([] { return true; });
  }
};

TEST(ExportLoop, CountsAlertsByRuleAndSeverity) {
  Rig rig;
  ExportLoop loop({&rig.records}, {}, false, {&rig.alerts});
  const AlertMeta* a = rig.meta(1000001, 3);
  const AlertMeta* b = rig.meta(1000002, 1);
  const AlertMeta* b_other_gid = rig.meta(1000002, 1, 3);
  for (int i = 0; i < 5; ++i) rig.push(a);
  for (int i = 0; i < 2; ++i) rig.push(b);
  rig.push(b_other_gid);
  rig.drain(loop);

  EXPECT_EQ(loop.alerts(), 8u);
  EXPECT_EQ(rig.in_flight.load(), 0u) << "every alert was counted out of its snapshot";
  uint64_t other = 99;
  const auto sigs = loop.signatures(&other);
  EXPECT_EQ(other, 0u);
  ASSERT_EQ(sigs.size(), 3u);
  EXPECT_EQ(sigs[0].sid, 1000001u);
  EXPECT_EQ(sigs[0].gid, 1u);
  EXPECT_EQ(sigs[0].signature, "rule 1000001");
  EXPECT_EQ(sigs[0].alerts, 5u);
  EXPECT_EQ(sigs[1].sid, 1000002u);
  EXPECT_EQ(sigs[1].alerts, 2u);
  EXPECT_EQ(sigs[2].gid, 3u) << "the same sid under another gid is another rule";
  EXPECT_EQ(sigs[2].alerts, 1u);
  EXPECT_EQ(loop.alerts_of_severity(3), 5u);
  EXPECT_EQ(loop.alerts_of_severity(1), 3u);
  EXPECT_EQ(loop.alerts_of_severity(2), 0u);

  // A second drain adds to the same entries.
  rig.push(a);
  rig.drain(loop);
  EXPECT_EQ(loop.signatures(&other)[0].alerts, 6u);
  EXPECT_EQ(loop.alerts_of_severity(3), 6u);
}

TEST(ExportLoop, RulesPastTheLimitAreCountedAsOther) {
  Rig rig;
  ExportLoop loop({&rig.records}, {}, false, {&rig.alerts});
  const size_t n = ExportLoop::kMaxSignatures + 7;
  for (size_t i = 0; i < n; ++i) {
    rig.push(rig.meta(uint32_t(i + 1), 2));
    if (i % 1000 == 999) rig.drain(loop);  // the ring holds 4096
  }
  rig.push(rig.metas.front().get());  // a rule within the limit stays counted as itself
  rig.drain(loop);
  uint64_t other = 0;
  const auto sigs = loop.signatures(&other);
  EXPECT_EQ(sigs.size(), ExportLoop::kMaxSignatures);
  EXPECT_EQ(other, 7u);
  EXPECT_EQ(sigs.front().alerts, 2u);
  EXPECT_EQ(loop.alerts_of_severity(2), n + 1) << "severities count every alert, limit or not";
  EXPECT_EQ(loop.alerts(), n + 1);
}

}  // namespace
}  // namespace ws
