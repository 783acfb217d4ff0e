// The per-server circuit breaker and the reconnect backoff, on an injected clock.
#include <gtest/gtest.h>

#include "dataplane/capture/gns3_breaker.h"

namespace ws {
namespace {

constexpr uint64_t kS = 1'000'000'000;

TEST(Gns3Breaker, OpensAfterThresholdAndRecoversThroughOneProbe) {
  CircuitBreaker b({3, 2 * kS, 16 * kS});
  uint64_t t = 100 * kS;
  EXPECT_EQ(b.state(t), BreakerState::kClosed);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(b.allow(t));
    b.failure(t);
  }
  EXPECT_EQ(b.state(t), BreakerState::kClosed);
  ASSERT_TRUE(b.allow(t));
  b.failure(t);
  EXPECT_EQ(b.state(t), BreakerState::kOpen);
  EXPECT_EQ(b.opened(), 1u);
  EXPECT_FALSE(b.allow(t + kS));
  EXPECT_EQ(b.rejected(), 1u);
  // Period over: half-open, one probe only.
  t += 2 * kS;
  EXPECT_EQ(b.state(t), BreakerState::kHalfOpen);
  EXPECT_TRUE(b.allow(t));
  EXPECT_FALSE(b.allow(t));
  b.success();
  EXPECT_EQ(b.state(t), BreakerState::kClosed);
  EXPECT_TRUE(b.allow(t));
  EXPECT_EQ(b.consecutive_failures(), 0u);
}

TEST(Gns3Breaker, FailedProbeReopensForLongerUpToTheCap) {
  CircuitBreaker b({1, 2 * kS, 5 * kS});
  uint64_t t = 0;
  b.failure(t);
  EXPECT_EQ(b.state(t), BreakerState::kOpen);
  uint64_t expect = 2 * kS;
  for (int i = 0; i < 4; ++i) {
    t += expect;
    ASSERT_TRUE(b.allow(t)) << i;
    b.failure(t);
    expect = std::min<uint64_t>(expect * 2, 5 * kS);
    EXPECT_FALSE(b.allow(t + expect - 1)) << i;
    EXPECT_EQ(b.state(t + expect), BreakerState::kHalfOpen) << i;
  }
  EXPECT_EQ(b.opened(), 5u);
}

TEST(Gns3Breaker, SuccessResetsTheFailureCount) {
  CircuitBreaker b({3, kS, kS});
  b.failure(0);
  b.failure(0);
  b.success();
  b.failure(0);
  b.failure(0);
  EXPECT_EQ(b.state(0), BreakerState::kClosed);
  EXPECT_STREQ(breaker_state_name(BreakerState::kHalfOpen), "half-open");
}

TEST(Gns3Backoff, GrowsWithJitterAndCaps) {
  JitterBackoff a(100, 1000, 7), c(100, 1000, 7), d(100, 1000, 8);
  bool differs = false;
  for (int i = 0; i < 12; ++i) {
    const uint64_t cap = std::min<uint64_t>(100ull << std::min(i, 30), 1000);
    const uint64_t x = a.next();
    EXPECT_GE(x, cap / 2) << i;
    EXPECT_LE(x, cap) << i;
    EXPECT_EQ(x, c.next()) << "same seed, same delays";
    differs |= x != d.next();
  }
  EXPECT_TRUE(differs) << "another seed jitters differently";
  a.reset();
  EXPECT_LE(a.next(), 100u);
}

}  // namespace
}  // namespace ws
