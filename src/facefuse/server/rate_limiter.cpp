#include "facefuse/server/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace facefuse::server {

long RateLimitDecision::retry_after_header_seconds() const {
  return std::max(1L, static_cast<long>(std::ceil(retry_after_seconds)));
}

namespace {

RateLimiter::Options clamped(RateLimiter::Options o) {
  o.rate_per_second = std::max(o.rate_per_second, 1e-6);
  o.burst = std::max(o.burst, 1.0);
  o.max_keys = std::max<std::size_t>(o.max_keys, 1);
  return o;
}

double seconds_between(RateLimiter::Clock::time_point from, RateLimiter::Clock::time_point to) {
  return std::max(0.0, std::chrono::duration<double>(to - from).count());
}

}  // namespace

RateLimiter::RateLimiter(Options options) : options_(clamped(options)) {}

bool RateLimiter::is_full_again(const Bucket& bucket, Clock::time_point now) const {
  return bucket.tokens + seconds_between(bucket.updated, now) * options_.rate_per_second >= options_.burst;
}

void RateLimiter::evict(Clock::time_point now) {
  // The least recently used buckets sit at the back; the first one that is not full again ends the
  // sweep, which keeps each check O(1) amortised.
  while (!lru_.empty()) {
    auto it = buckets_.find(lru_.back());
    if (buckets_.size() <= options_.max_keys && !is_full_again(it->second, now)) break;
    buckets_.erase(it);
    lru_.pop_back();
  }
}

RateLimitDecision RateLimiter::check(std::string_view key, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = buckets_.find(std::string(key));
  if (it == buckets_.end()) {
    lru_.emplace_front(key);
    it = buckets_.emplace(lru_.front(), Bucket{options_.burst, now, lru_.begin()}).first;
  } else {
    Bucket& b = it->second;
    b.tokens = std::min(options_.burst, b.tokens + seconds_between(b.updated, now) * options_.rate_per_second);
    b.updated = std::max(b.updated, now);
    lru_.splice(lru_.begin(), lru_, b.lru_position);
  }
  Bucket& bucket = it->second;
  RateLimitDecision decision;
  if (bucket.tokens >= 1.0) {
    bucket.tokens -= 1.0;
  } else {
    decision.allowed = false;
    decision.retry_after_seconds = (1.0 - bucket.tokens) / options_.rate_per_second;
  }
  evict(now);
  return decision;
}

std::size_t RateLimiter::tracked_keys() const {
  std::lock_guard lock(mutex_);
  return buckets_.size();
}

}  // namespace facefuse::server
