// Per-thread counters. Each counter has exactly one writer (the thread that
// owns the struct) and any number of readers (the stats scrape), so an
// increment is a relaxed load and store — a plain add on x86, no lock
// prefix — and a reader always sees a whole 64-bit value.
#pragma once

#include <atomic>
#include <cstdint>

namespace ws {

class Counter {
 public:
  void inc(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void set(uint64_t n) { v_.store(n, std::memory_order_relaxed); }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

}  // namespace ws
