// Token-bucket rate limits per key string (an API key id, "ip:<address>", ...), DESIGN.md §5.2.
// Each key has a bucket of `burst` tokens that refills at `rate_per_second`; a request takes one
// token or is refused with the time until one is available (for `429` + `Retry-After`).
//
// Memory is bounded: a bucket idle long enough to be full again holds no information and is
// dropped; beyond `max_keys` buckets the least recently used one is dropped too (that key starts
// over with a full bucket). Time is passed in by the caller, so tests need no sleeping.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace facefuse::server {

struct RateLimitDecision {
  bool allowed = true;
  // When refused: seconds until the next token (> 0); 0 when allowed. A Retry-After header wants
  // whole seconds: retry_after_header_seconds().
  double retry_after_seconds = 0;
  // Rounded up to whole seconds, at least 1 (the Retry-After header value when refused).
  long retry_after_header_seconds() const;
};

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    double rate_per_second = 10;  // sustained requests per second per key (> 0)
    double burst = 20;            // bucket size: requests allowed at once after idling (≥ 1)
    std::size_t max_keys = 100000;
  };

  // Options outside the ranges above are clamped to them.
  explicit RateLimiter(Options options);

  // Takes one token from `key`'s bucket at time `now` (monotonic; earlier times than a key's last
  // check count as no elapsed time).
  RateLimitDecision check(std::string_view key, Clock::time_point now);
  RateLimitDecision check(std::string_view key) { return check(key, Clock::now()); }

  // Buckets currently held (for tests and metrics).
  std::size_t tracked_keys() const;

 private:
  struct Bucket {
    double tokens;
    Clock::time_point updated;
    std::list<std::string>::iterator lru_position;  // in lru_, most recent first
  };
  bool is_full_again(const Bucket& bucket, Clock::time_point now) const;
  void evict(Clock::time_point now);

  const Options options_;
  mutable std::mutex mutex_;
  std::list<std::string> lru_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace facefuse::server
