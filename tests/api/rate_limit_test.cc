#include "api/rate_limit.h"

#include <gtest/gtest.h>

namespace ws {
namespace {

constexpr uint64_t kSec = 1'000'000'000;

TEST(RateLimiter, BurstThenRefusedWithRetryAfter) {
  RateLimiter rl({2, 3});  // 2/s, burst 3
  const uint64_t t = 100 * kSec;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(rl.take("ip:a", t), 0u) << i;
  EXPECT_EQ(rl.take("ip:a", t), 1u);  // a token in 0.5 s: at least 1 s
  // Another key has its own bucket.
  EXPECT_EQ(rl.take("ip:b", t), 0u);
}

TEST(RateLimiter, RefillsAtTheConfiguredRate) {
  RateLimiter rl({2, 2});
  uint64_t t = 5 * kSec;
  EXPECT_EQ(rl.take("k", t), 0u);
  EXPECT_EQ(rl.take("k", t), 0u);
  EXPECT_NE(rl.take("k", t), 0u);
  t += kSec / 2;  // one token back
  EXPECT_EQ(rl.take("k", t), 0u);
  EXPECT_NE(rl.take("k", t), 0u);
  t += 10 * kSec;  // full again, but never more than the burst
  EXPECT_EQ(rl.take("k", t), 0u);
  EXPECT_EQ(rl.take("k", t), 0u);
  EXPECT_NE(rl.take("k", t), 0u);
}

TEST(RateLimiter, RetryAfterGrowsWithSlowRates) {
  RateLimiter rl({0.1, 1});  // one request per 10 s
  EXPECT_EQ(rl.take("k", kSec), 0u);
  EXPECT_EQ(rl.take("k", kSec), 10u);
  EXPECT_EQ(rl.take("k", 6 * kSec), 5u);
}

TEST(RateLimiter, ZeroRateMeansNoLimit) {
  RateLimiter rl({0, 1});
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(rl.take("k", kSec), 0u);
  EXPECT_EQ(rl.keys(), 0u);
}

TEST(RateLimiter, TableStaysBounded) {
  RateLimiter rl({1, 5}, 8);
  for (int i = 0; i < 100; ++i) rl.take("ip:" + std::to_string(i), kSec + uint64_t(i));
  EXPECT_LE(rl.keys(), 8u);
  // A busy key still limited after others came and went.
  RateLimiter r2({1, 2}, 4);
  EXPECT_EQ(r2.take("busy", kSec), 0u);
  EXPECT_EQ(r2.take("busy", kSec), 0u);
  for (int i = 0; i < 3; ++i) r2.take("o" + std::to_string(i), kSec);
  EXPECT_NE(r2.take("busy", kSec), 0u);
}

}  // namespace
}  // namespace ws
