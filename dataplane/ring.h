// SpscRing: a bounded single-producer single-consumer ring, the only way
// packets and records move between threads (DPDK rte_ring in SP/SC mode,
// ipfixprobe's output ring). Head and tail sit on their own cache lines and
// each side caches the other's index, so a burst costs one shared-line read
// at most. Items are copied in and out in bursts.
//
// Parker: lets one side sleep when the ring is empty (consumer) or full
// (producer) instead of spinning. The machine may have fewer cores than
// threads (a reader plus N workers on N cores), so a thread with nothing to
// do must give its core away. Spin briefly first: bursts arrive close
// together and a futex round trip costs microseconds.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace ws {

class Parker {
 public:
  // Sleeps until wake() or timeout_ns passes, unless ready() is already
  // true. ready() is re-checked after announcing the wait, so a wake() that
  // races with the check is never lost.
  template <typename Ready>
  void wait(Ready ready, uint64_t timeout_ns) {
    for (int i = 0; i < 16; ++i) {
      if (ready()) return;
      __builtin_ia32_pause();
    }
    waiting_.store(1, std::memory_order_seq_cst);
    const uint32_t e = epoch_.load(std::memory_order_seq_cst);
    if (!ready()) {
      timespec ts{static_cast<time_t>(timeout_ns / 1000000000ull),
                  static_cast<long>(timeout_ns % 1000000000ull)};
      syscall(SYS_futex, reinterpret_cast<uint32_t*>(&epoch_), FUTEX_WAIT_PRIVATE, e, &ts, nullptr, 0);
    }
    waiting_.store(0, std::memory_order_relaxed);
  }

  // Wakes a waiter if there is one; costs one load when there is none.
  void wake() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (waiting_.load(std::memory_order_relaxed)) {
      epoch_.fetch_add(1, std::memory_order_seq_cst);
      syscall(SYS_futex, reinterpret_cast<uint32_t*>(&epoch_), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
    }
  }

 private:
  std::atomic<uint32_t> epoch_{0};
  std::atomic<uint32_t> waiting_{0};
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
};

template <typename T>
class SpscRing {
 public:
  explicit SpscRing(size_t capacity) {
    size_t c = 2;
    while (c < capacity) c <<= 1;
    mask_ = c - 1;
    slots_ = std::make_unique<T[]>(c);
  }

  size_t capacity() const { return mask_ + 1; }

  // Producer: copies up to n items in; returns how many fit.
  size_t push(const T* items, size_t n) {
    const size_t head = head_.load(std::memory_order_relaxed);
    if (head + n - cached_tail_ > mask_ + 1) {
      cached_tail_ = tail_.load(std::memory_order_acquire);
      const size_t room = mask_ + 1 - (head - cached_tail_);
      if (n > room) n = room;
    }
    for (size_t i = 0; i < n; ++i) slots_[(head + i) & mask_] = items[i];
    head_.store(head + n, std::memory_order_release);
    return n;
  }

  // Producer: the slot `ahead` places past the head, to fill in place, or
  // nullptr when the ring has no room for it; commit(n) publishes n filled
  // slots at once, so a burst costs one store to the shared head line.
  T* reserve(size_t ahead = 0) {
    const size_t head = head_.load(std::memory_order_relaxed) + ahead;
    if (head - cached_tail_ > mask_) {
      cached_tail_ = tail_.load(std::memory_order_acquire);
      if (head - cached_tail_ > mask_) return nullptr;
    }
    return &slots_[head & mask_];
  }
  void commit(size_t n = 1) { head_.store(head_.load(std::memory_order_relaxed) + n, std::memory_order_release); }

  // Consumer: copies up to n items out; returns how many there were.
  size_t pop(T* out, size_t n) {
    const size_t tail = tail_.load(std::memory_order_relaxed);
    if (cached_head_ - tail < n) {
      cached_head_ = head_.load(std::memory_order_acquire);
      if (cached_head_ - tail < n) n = cached_head_ - tail;
    }
    for (size_t i = 0; i < n; ++i) out[i] = slots_[(tail + i) & mask_];
    tail_.store(tail + n, std::memory_order_release);
    return n;
  }

  // Consumer: view of up to n items in place (no copy); release(k) frees them.
  size_t peek(T** first, size_t n) {
    const size_t tail = tail_.load(std::memory_order_relaxed);
    if (cached_head_ - tail < n) {
      cached_head_ = head_.load(std::memory_order_acquire);
      if (cached_head_ - tail < n) n = cached_head_ - tail;
    }
    // Only the run up to the wrap point is contiguous.
    const size_t until_wrap = mask_ + 1 - (tail & mask_);
    if (n > until_wrap) n = until_wrap;
    *first = &slots_[tail & mask_];
    return n;
  }
  void release(size_t n) { tail_.store(tail_.load(std::memory_order_relaxed) + n, std::memory_order_release); }

  bool empty() const { return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_acquire); }
  size_t size() const { return head_.load(std::memory_order_acquire) - tail_.load(std::memory_order_acquire); }
  bool full() const { return size() > mask_; }

  Parker consumer_parker;  // consumer sleeps here when empty
  Parker producer_parker;  // producer sleeps here when full

 private:
  alignas(64) std::atomic<size_t> head_{0};
  size_t cached_tail_ = 0;
  alignas(64) std::atomic<size_t> tail_{0};
  size_t cached_head_ = 0;
  alignas(64) size_t mask_ = 0;
  std::unique_ptr<T[]> slots_;
};

}  // namespace ws
