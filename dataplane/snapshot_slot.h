// SnapshotSlot<T>: how an immutable snapshot (rules, QoS policies) reaches
// the workers without a lock on their side, and how old ones are freed.
//
// The control side publishes a new snapshot: it gets the next generation
// number and becomes current with one atomic store; the previous one is
// retired. Each worker loads current once per burst and acknowledges the
// generation it now uses. A retired snapshot is freed once every worker
// has acknowledged a later generation (and, when T has `bool held() const`,
// once that says nothing else still points into it). A worker that stops
// for good acknowledges "everything" (quiesce).
//
// T needs a `uint64_t generation` member.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace ws {

template <class T>
class SnapshotSlot {
 public:
  explicit SnapshotSlot(size_t workers) : acks_(new Ack[std::max<size_t>(workers, 1)]), workers_(workers) {}
  SnapshotSlot(const SnapshotSlot&) = delete;
  SnapshotSlot& operator=(const SnapshotSlot&) = delete;

  size_t workers() const { return workers_; }

  // Control side (any thread; serialised internally). Makes s the current
  // snapshot and frees whatever older ones are no longer used.
  void publish(std::unique_ptr<T> s) {
    std::lock_guard<std::mutex> lock(mu_);
    s->generation = next_gen_++;
    const T* raw = s.get();
    if (owned_) retired_.push_back(std::move(owned_));
    owned_ = std::move(s);
    current_.store(raw, std::memory_order_release);
    collect_locked();
  }
  // Frees retired snapshots nothing uses; returns how many are still held.
  size_t collect() {
    std::lock_guard<std::mutex> lock(mu_);
    return collect_locked();
  }
  // The running snapshot, for reports: valid until the next publish.
  const T* current() const { return current_.load(std::memory_order_acquire); }

  // Worker side: the snapshot to use for the next burst. Cheap when
  // nothing changed.
  const T* acquire(size_t worker, const T* in_use) {
    const T* s = current_.load(std::memory_order_acquire);
    if (s != in_use) ack(worker, s);
    return s;
  }
  // The two halves of acquire(), for a worker that must finish with the
  // snapshot in use after seeing a new one and before letting the old one
  // go: peek, switch, then ack.
  const T* peek() const { return current_.load(std::memory_order_acquire); }
  void ack(size_t worker, const T* now_using) {
    acks_[worker].gen.store(now_using->generation, std::memory_order_release);
  }
  // A worker that stops for good releases every snapshot.
  void quiesce(size_t worker) { acks_[worker].gen.store(UINT64_MAX, std::memory_order_release); }

 private:
  struct alignas(64) Ack {
    std::atomic<uint64_t> gen{0};
  };

  size_t collect_locked() {
    for (auto it = retired_.begin(); it != retired_.end();) {
      bool used = false;
      if constexpr (requires(const T& t) { t.held(); }) used = (*it)->held();
      for (size_t w = 0; w < workers_ && !used; ++w)
        if (acks_[w].gen.load(std::memory_order_acquire) <= (*it)->generation) used = true;
      it = used ? it + 1 : retired_.erase(it);
    }
    return retired_.size();
  }

  std::atomic<const T*> current_{nullptr};
  std::unique_ptr<Ack[]> acks_;
  size_t workers_;
  std::mutex mu_;  // control side only
  std::unique_ptr<T> owned_;
  std::vector<std::unique_ptr<T>> retired_;
  uint64_t next_gen_ = 1;
};

}  // namespace ws
