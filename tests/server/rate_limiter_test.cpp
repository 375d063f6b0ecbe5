#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "facefuse/server/rate_limiter.h"

namespace facefuse::server {
namespace {

using Clock = RateLimiter::Clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

const Clock::time_point kT0 = Clock::time_point{} + std::chrono::hours(1);

TEST(RateLimiter, AllowsTheBurstThenRefusesWithTheTimeToTheNextToken) {
  RateLimiter limiter({.rate_per_second = 2, .burst = 3});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.check("k", kT0).allowed) << i;
  auto refused = limiter.check("k", kT0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_DOUBLE_EQ(refused.retry_after_seconds, 0.5);
  EXPECT_EQ(refused.retry_after_header_seconds(), 1);

  refused = limiter.check("k", kT0 + milliseconds(250));
  EXPECT_FALSE(refused.allowed);
  EXPECT_NEAR(refused.retry_after_seconds, 0.25, 1e-9);
  auto allowed = limiter.check("k", kT0 + milliseconds(500));
  EXPECT_TRUE(allowed.allowed);
  EXPECT_EQ(allowed.retry_after_seconds, 0);
  EXPECT_FALSE(limiter.check("k", kT0 + milliseconds(500)).allowed);
}

TEST(RateLimiter, KeysHaveSeparateBuckets) {
  RateLimiter limiter({.rate_per_second = 1, .burst = 1});
  EXPECT_TRUE(limiter.check("a", kT0).allowed);
  EXPECT_FALSE(limiter.check("a", kT0).allowed);
  EXPECT_TRUE(limiter.check("b", kT0).allowed);
  EXPECT_TRUE(limiter.check("ip:10.0.0.1", kT0).allowed);
}

TEST(RateLimiter, RefillStopsAtTheBurst) {
  RateLimiter limiter({.rate_per_second = 5, .burst = 4});
  EXPECT_TRUE(limiter.check("k", kT0).allowed);
  int allowed = 0;
  for (int i = 0; i < 10; ++i) allowed += limiter.check("k", kT0 + seconds(100)).allowed ? 1 : 0;
  EXPECT_EQ(allowed, 4);
}

TEST(RateLimiter, TimeGoingBackwardsAddsNoTokens) {
  RateLimiter limiter({.rate_per_second = 1, .burst = 1});
  EXPECT_TRUE(limiter.check("k", kT0 + seconds(10)).allowed);
  EXPECT_FALSE(limiter.check("k", kT0).allowed);
  EXPECT_FALSE(limiter.check("k", kT0 + seconds(10)).allowed);
  EXPECT_TRUE(limiter.check("k", kT0 + seconds(11)).allowed);
}

TEST(RateLimiter, RetryAfterHeaderRoundsUpToWholeSeconds) {
  RateLimiter limiter({.rate_per_second = 0.4, .burst = 1});
  EXPECT_TRUE(limiter.check("k", kT0).allowed);
  auto refused = limiter.check("k", kT0);
  EXPECT_DOUBLE_EQ(refused.retry_after_seconds, 2.5);
  EXPECT_EQ(refused.retry_after_header_seconds(), 3);
}

TEST(RateLimiter, IdleBucketsAreDropped) {
  RateLimiter limiter({.rate_per_second = 10, .burst = 10});
  for (int i = 0; i < 500; ++i) limiter.check("key" + std::to_string(i), kT0);
  EXPECT_EQ(limiter.tracked_keys(), 500u);
  // 1 s refills 10 tokens: every earlier bucket is full again and forgotten.
  limiter.check("late", kT0 + seconds(1));
  EXPECT_EQ(limiter.tracked_keys(), 1u);
}

TEST(RateLimiter, BucketCountStaysWithinMaxKeys) {
  RateLimiter limiter({.rate_per_second = 1, .burst = 1, .max_keys = 16});
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(limiter.check("key" + std::to_string(i), kT0).allowed);
    EXPECT_LE(limiter.tracked_keys(), 16u);
  }
  // The most recent keys are kept and still limited.
  EXPECT_FALSE(limiter.check("key999", kT0).allowed);
}

TEST(RateLimiter, ConcurrentChecksNeverGrantMoreThanTheBurst) {
  RateLimiter limiter({.rate_per_second = 1, .burst = 100});
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) allowed += limiter.check("shared", kT0).allowed ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(allowed.load(), 100);
}

}  // namespace
}  // namespace facefuse::server
