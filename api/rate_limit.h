// RateLimiter: one token bucket per key ("ip:127.0.0.1", "token:ops").
// A bucket holds up to `burst` requests and refills at
// `requests_per_second`; a request takes one. A refused request learns how
// long until the next one would pass (the 429's Retry-After).
//
// The API threads share it behind a mutex: a few hundred nanoseconds per
// request on the control plane, never on a worker. The table is bounded
// (a scan of many source addresses cannot grow it without limit): when
// full, buckets that have refilled completely are forgotten (they carry no
// state), and failing that the one idle longest.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace ws {

struct RateLimit {
  double requests_per_second = 50;  // 0: no limit
  double burst = 100;
};

class RateLimiter {
 public:
  explicit RateLimiter(RateLimit limit, size_t max_keys = 16384) : limit_(limit), max_keys_(max_keys) {}

  // 0 when the request may pass (it took a token); otherwise the whole
  // seconds to wait, at least 1. now_ns: a monotonic clock, injected so
  // tests need no sleeping.
  uint32_t take(const std::string& key, uint64_t now_ns);

  size_t keys() const;

 private:
  struct Bucket {
    double tokens;
    uint64_t last_ns;
  };
  double refilled(const Bucket& b, uint64_t now_ns) const;
  void evict(uint64_t now_ns);

  RateLimit limit_;
  size_t max_keys_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace ws
