// CircuitBreaker and JitterBackoff: how the GNS3 source treats a server that fails.
//
// Every request to a server (listing, capture start, a pcap stream that
// drops) reports success or failure to the server's breaker. After
// `failure_threshold` failures in a row the breaker opens: nothing is sent
// to that server for `open_ns` (doubling on each failed probe up to
// `max_open_ns`), so a lab host that is down costs no connection storms and
// no thread time. When the wait is over the breaker is half-open: one probe
// goes through; its success closes the breaker, its failure opens it again.
//
// Between attempts each link stream waits an exponentially growing delay
// with jitter ("full jitter" halved: uniform in [d/2, d]), so that the
// streams of one server do not reconnect in lock step after it comes back.
//
// Time is passed in (ns, any monotonic origin): the tests drive both
// without sleeping. The breaker is shared by a server's threads and locks;
// a JitterBackoff belongs to one thread.
#pragma once

#include <cstdint>
#include <mutex>
#include <random>

namespace ws {

enum class BreakerState : uint8_t { kClosed, kOpen, kHalfOpen };

const char* breaker_state_name(BreakerState s);

class CircuitBreaker {
 public:
  struct Options {
    uint32_t failure_threshold = 5;
    uint64_t open_ns = 2'000'000'000;       // first open period
    uint64_t max_open_ns = 60'000'000'000;  // cap after failed probes
  };

  CircuitBreaker() : CircuitBreaker(Options{}) {}
  explicit CircuitBreaker(Options o) : opt_(o), open_for_(o.open_ns) {}

  // May a request go out now? Open: no, until the period is over; then the
  // breaker turns half-open and lets exactly one caller through (the probe).
  bool allow(uint64_t now_ns);
  void success();
  void failure(uint64_t now_ns);

  BreakerState state(uint64_t now_ns) const;
  uint64_t opened() const;          // times it opened
  uint64_t rejected() const;        // requests refused while open
  uint64_t consecutive_failures() const;

 private:
  mutable std::mutex mu_;
  Options opt_;
  BreakerState state_ = BreakerState::kClosed;
  uint32_t failures_ = 0;
  uint64_t open_until_ = 0;
  uint64_t open_for_;
  bool probe_out_ = false;
  uint64_t opened_ = 0;
  uint64_t rejected_ = 0;
};

class JitterBackoff {
 public:
  JitterBackoff(uint64_t base_ns, uint64_t max_ns, uint64_t seed) : base_(base_ns), max_(max_ns), rng_(seed) {}

  // The next delay: uniform in [d/2, d] with d = base * 2^attempt, capped.
  uint64_t next();
  void reset() { attempt_ = 0; }
  uint32_t attempt() const { return attempt_; }

 private:
  uint64_t base_;
  uint64_t max_;
  uint32_t attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace ws
