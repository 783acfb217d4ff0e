#include "api/rate_limit.h"

#include <algorithm>
#include <cmath>

namespace ws {

double RateLimiter::refilled(const Bucket& b, uint64_t now_ns) const {
  const double dt = now_ns > b.last_ns ? double(now_ns - b.last_ns) / 1e9 : 0.0;
  return std::min(limit_.burst, b.tokens + dt * limit_.requests_per_second);
}

void RateLimiter::evict(uint64_t now_ns) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    if (refilled(it->second, now_ns) >= limit_.burst) it = buckets_.erase(it);
    else ++it;
  }
  if (buckets_.size() < max_keys_) return;
  auto oldest = std::min_element(buckets_.begin(), buckets_.end(),
                                 [](const auto& a, const auto& b) { return a.second.last_ns < b.second.last_ns; });
  if (oldest != buckets_.end()) buckets_.erase(oldest);
}

uint32_t RateLimiter::take(const std::string& key, uint64_t now_ns) {
  if (limit_.requests_per_second <= 0) return 0;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) evict(now_ns);
    it = buckets_.emplace(key, Bucket{limit_.burst, now_ns}).first;
  }
  Bucket& b = it->second;
  b.tokens = refilled(b, now_ns);
  b.last_ns = std::max(b.last_ns, now_ns);
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return 0;
  }
  const double wait = (1.0 - b.tokens) / limit_.requests_per_second;
  return static_cast<uint32_t>(std::max(1.0, std::ceil(wait)));
}

size_t RateLimiter::keys() const {
  std::lock_guard<std::mutex> lock(mu_);
  return buckets_.size();
}

}  // namespace ws
