#include "dataplane/capture/gns3_breaker.h"

#include <algorithm>

namespace ws {

const char* breaker_state_name(BreakerState s) {
  switch (s) {
    case BreakerState::kClosed: return "closed";
    case BreakerState::kOpen: return "open";
    case BreakerState::kHalfOpen: return "half-open";
  }
  return "?";
}

bool CircuitBreaker::allow(uint64_t now_ns) {
  std::lock_guard<std::mutex> g(mu_);
  switch (state_) {
    case BreakerState::kClosed:
      return true;
    case BreakerState::kOpen:
      if (now_ns < open_until_) {
        ++rejected_;
        return false;
      }
      state_ = BreakerState::kHalfOpen;
      probe_out_ = true;
      return true;
    case BreakerState::kHalfOpen:
      // One probe at a time; the others wait for its verdict.
      if (probe_out_) {
        ++rejected_;
        return false;
      }
      probe_out_ = true;
      return true;
  }
  return false;
}

void CircuitBreaker::success() {
  std::lock_guard<std::mutex> g(mu_);
  state_ = BreakerState::kClosed;
  failures_ = 0;
  probe_out_ = false;
  open_for_ = opt_.open_ns;
}

void CircuitBreaker::failure(uint64_t now_ns) {
  std::lock_guard<std::mutex> g(mu_);
  ++failures_;
  if (state_ == BreakerState::kHalfOpen) {
    // The probe failed: open again, for longer.
    open_for_ = std::min(opt_.max_open_ns, open_for_ * 2);
  } else if (state_ == BreakerState::kOpen || failures_ < opt_.failure_threshold) {
    return;
  }
  state_ = BreakerState::kOpen;
  open_until_ = now_ns + open_for_;
  probe_out_ = false;
  ++opened_;
}

BreakerState CircuitBreaker::state(uint64_t now_ns) const {
  std::lock_guard<std::mutex> g(mu_);
  // An open breaker whose period is over lets the next request probe.
  if (state_ == BreakerState::kOpen && now_ns >= open_until_) return BreakerState::kHalfOpen;
  return state_;
}

uint64_t CircuitBreaker::opened() const {
  std::lock_guard<std::mutex> g(mu_);
  return opened_;
}

uint64_t CircuitBreaker::rejected() const {
  std::lock_guard<std::mutex> g(mu_);
  return rejected_;
}

uint64_t CircuitBreaker::consecutive_failures() const {
  std::lock_guard<std::mutex> g(mu_);
  return failures_;
}

uint64_t JitterBackoff::next() {
  const uint32_t shift = std::min<uint32_t>(attempt_, 30);
  uint64_t d = base_ << shift;
  if (d > max_ || (base_ && (d >> shift) != base_)) d = max_;
  ++attempt_;
  std::uniform_int_distribution<uint64_t> u(d / 2, d);
  return u(rng_);
}

}  // namespace ws
