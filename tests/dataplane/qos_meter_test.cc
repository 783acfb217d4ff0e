// Meters: srTCM and trTCM against hand-worked RFC 2697/2698 sequences, and
// against DPDK's own rte_meter (librte_meter, linked statically) on seeded
// random packet sequences: same profile, same colours, same bucket levels.
#include "dataplane/qos/meter.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#ifdef WS_HAVE_RTE_METER
#include <rte_meter.h>

// librte_meter asks the EAL for the timer frequency when it builds a
// profile; this test runs without an EAL and gives it the nanosecond clock,
// the one wirescope's meters run on.
extern "C" uint64_t rte_get_tsc_hz(void) { return 1'000'000'000ull; }
#endif

namespace ws {
namespace {

constexpr QosColor G = QosColor::kGreen, Y = QosColor::kYellow, R = QosColor::kRed;
constexpr uint64_t kMs = 1'000'000;

TEST(QosMeter, TokenBucketParamsAsRteMeter) {
  uint64_t period, bpp;
  qos_tb_params(1000, &period, &bpp);  // 1 ms per byte
  EXPECT_EQ(period, 1'000'000u);
  EXPECT_EQ(bpp, 1u);
  qos_tb_params(125'000'000, &period, &bpp);  // 1 Gbit/s: 8 ns per byte, below the 100 ns floor
  EXPECT_EQ(bpp, 13u);                        // ceil(100 / 8)
  EXPECT_EQ(period, 104u);                    // 1e9 * 13 / 125e6
  qos_tb_params(0, &period, &bpp);
  EXPECT_EQ(bpp, 0u);
  EXPECT_EQ(period, 100u);
}

// RFC 2697 with CIR 1000 B/s (one byte per ms), CBS 1000, EBS 500.
TEST(QosMeter, SrTcmHandWorked) {
  const SrTcmProfile p = make_srtcm_profile(1000, 1000, 500);
  SrTcm m;
  m.start(p, 0);
  EXPECT_EQ(m.check(p, 0, 600), G);  // Tc 1000 -> 400
  EXPECT_EQ(m.check(p, 0, 600), R);  // Tc 400, Te 500: neither holds 600
  EXPECT_EQ(m.check(p, 0, 400), G);  // Tc -> 0
  EXPECT_EQ(m.check(p, 0, 500), Y);  // Te -> 0
  EXPECT_EQ(m.check(p, 0, 1), R);
  EXPECT_EQ(m.check(p, 300 * kMs, 300), G);  // 300 bytes came back
  EXPECT_EQ(m.check(p, 300 * kMs, 1), R);
  // Two idle seconds: C fills to 1000, the overflow fills E to 500.
  EXPECT_EQ(m.check(p, 2300 * kMs, 1000), G);
  EXPECT_EQ(m.check(p, 2300 * kMs, 500), Y);
  EXPECT_EQ(m.tc, 0u);
  EXPECT_EQ(m.te, 0u);
  // Half a period adds nothing; the remainder is kept for the next one.
  EXPECT_EQ(m.check(p, 2300 * kMs + kMs / 2, 1), R);
  EXPECT_EQ(m.check(p, 2301 * kMs, 1), G);
}

// RFC 2698 with CIR 1000 B/s, PIR 2000 B/s, CBS 1000, PBS 2000.
TEST(QosMeter, TrTcmHandWorked) {
  const TrTcmProfile p = make_trtcm_profile(1000, 2000, 1000, 2000);
  TrTcm m;
  m.start(p, 0);
  EXPECT_EQ(m.check(p, 0, 1500), Y);  // Tp 2000 -> 500; Tc 1000 < 1500
  EXPECT_EQ(m.check(p, 0, 600), R);   // Tp 500 < 600
  EXPECT_EQ(m.check(p, 0, 500), G);   // Tc 1000 -> 500, Tp 500 -> 0
  EXPECT_EQ(m.check(p, 0, 1), R);
  // 100 ms: Tc +100 (600), Tp +200 (200).
  EXPECT_EQ(m.check(p, 100 * kMs, 200), G);
  EXPECT_EQ(m.tc, 400u);
  EXPECT_EQ(m.tp, 0u);
  // One second: Tc capped at 1000, Tp 2000.
  EXPECT_EQ(m.check(p, 1100 * kMs, 1200), Y);
  EXPECT_EQ(m.check(p, 1100 * kMs, 800), G);
  EXPECT_EQ(m.tc, 200u);
  EXPECT_EQ(m.tp, 0u);
}

// A meter fed a constant overload passes CIR worth of green (and for
// trTCM, PIR - CIR of yellow) over time.
TEST(QosMeter, LongRunRates) {
  const uint64_t cir = 250'000, pir = 500'000;  // 2 and 4 Mbit/s
  const TrTcmProfile p = make_trtcm_profile(cir, pir, 3000, 3000);
  TrTcm m;
  m.start(p, 0);
  uint64_t bytes[3] = {};
  const uint64_t step = 1'000'000;  // a 1000-byte frame per ms: 8 Mbit/s offered
  for (uint64_t t = 0; t < 10'000 * step; t += step) bytes[int(m.check(p, t, 1000))] += 1000;
  // 10 s: 2.5 MB green (+ the initial bucket), 2.5 MB yellow.
  EXPECT_NEAR(double(bytes[0]), 2.5e6, 5000);
  EXPECT_NEAR(double(bytes[1]), 2.5e6, 5000);
  EXPECT_NEAR(double(bytes[2]), 5e6, 10000);
}

#ifdef WS_HAVE_RTE_METER

struct Profile {
  uint64_t cir, pir, cbs, pbs;
};

// Same random sequence through both; arrival gaps from back-to-back to
// several periods, lengths 40-9000 bytes.
std::vector<std::pair<uint64_t, uint32_t>> sequence(uint32_t seed, size_t n, uint64_t mean_gap_ns) {
  std::mt19937_64 rng(seed);
  std::vector<std::pair<uint64_t, uint32_t>> out;
  uint64_t t = 1'700'000'000'000'000'000ull;  // epoch ns, as packet times are
  for (size_t i = 0; i < n; ++i) {
    t += rng() % 4 == 0 ? 0 : rng() % (2 * mean_gap_ns + 1);
    out.push_back({t, static_cast<uint32_t>(40 + rng() % 8961)});
  }
  return out;
}

class QosMeterVsDpdk : public ::testing::TestWithParam<Profile> {};

TEST_P(QosMeterVsDpdk, SrTcmSameColours) {
  const Profile& pr = GetParam();
  rte_meter_srtcm_params params{pr.cir, pr.cbs, pr.pbs};  // pbs as EBS
  rte_meter_srtcm_profile dp;
  ASSERT_EQ(rte_meter_srtcm_profile_config(&dp, &params), 0);
  const SrTcmProfile wp = make_srtcm_profile(pr.cir, pr.cbs, pr.pbs);
  EXPECT_EQ(wp.period, dp.cir_period);
  EXPECT_EQ(wp.bytes_per_period, dp.cir_bytes_per_period);
  for (uint32_t seed = 1; seed <= 4; ++seed) {
    // Mean gap: the time the mean packet takes at CIR, so colours mix.
    const auto seq = sequence(seed, 20000, 4520ull * 1'000'000'000ull / pr.cir);
    rte_meter_srtcm dm;
    ASSERT_EQ(rte_meter_srtcm_config(&dm, &dp), 0);
    dm.time = seq[0].first;  // config starts the meter at the TSC; start both at the first packet
    SrTcm wm;
    wm.start(wp, seq[0].first);
    size_t colours[3] = {};
    for (size_t i = 0; i < seq.size(); ++i) {
      const auto [t, len] = seq[i];
      const rte_color dc = rte_meter_srtcm_color_blind_check(&dm, &dp, t, len);
      const QosColor wc = wm.check(wp, t, len);
      ASSERT_EQ(int(wc), int(dc)) << "packet " << i << " seed " << seed;
      ASSERT_EQ(wm.tc, dm.tc);
      ASSERT_EQ(wm.te, dm.te);
      ++colours[int(wc)];
    }
    // The sequence exercised every colour.
    EXPECT_GT(colours[0], 0u);
    EXPECT_GT(colours[2], 0u);
  }
}

TEST_P(QosMeterVsDpdk, TrTcmSameColours) {
  const Profile& pr = GetParam();
  rte_meter_trtcm_params params{pr.cir, pr.pir, pr.cbs, pr.pbs};
  rte_meter_trtcm_profile dp;
  ASSERT_EQ(rte_meter_trtcm_profile_config(&dp, &params), 0);
  const TrTcmProfile wp = make_trtcm_profile(pr.cir, pr.pir, pr.cbs, pr.pbs);
  EXPECT_EQ(wp.cir_period, dp.cir_period);
  EXPECT_EQ(wp.pir_bytes_per_period, dp.pir_bytes_per_period);
  for (uint32_t seed = 11; seed <= 14; ++seed) {
    const auto seq = sequence(seed, 20000, 4520ull * 1'000'000'000ull / pr.pir);
    rte_meter_trtcm dm;
    ASSERT_EQ(rte_meter_trtcm_config(&dm, &dp), 0);
    dm.time_tc = dm.time_tp = seq[0].first;
    TrTcm wm;
    wm.start(wp, seq[0].first);
    size_t colours[3] = {};
    for (size_t i = 0; i < seq.size(); ++i) {
      const auto [t, len] = seq[i];
      const rte_color dc = rte_meter_trtcm_color_blind_check(&dm, &dp, t, len);
      const QosColor wc = wm.check(wp, t, len);
      ASSERT_EQ(int(wc), int(dc)) << "packet " << i << " seed " << seed;
      ASSERT_EQ(wm.tc, dm.tc);
      ASSERT_EQ(wm.tp, dm.tp);
      ++colours[int(wc)];
    }
    EXPECT_GT(colours[0], 0u);
    if (pr.pir > pr.cir || pr.pbs > pr.cbs) {  // else yellow cannot happen
      EXPECT_GT(colours[1], 0u);
    }
    EXPECT_GT(colours[2], 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Rates, QosMeterVsDpdk,
                         ::testing::Values(Profile{1000, 2000, 9000, 18000},            // slow: 1 byte per ms
                                           Profile{250'000, 375'000, 20000, 30000},     // the voip class
                                           Profile{125'000'000, 250'000'000, 64000, 128000},  // 1 and 2 Gbit/s
                                           Profile{1'250'000'000, 1'250'000'000, 9000, 9000}));  // 10 Gbit/s
#endif

}  // namespace
}  // namespace ws
