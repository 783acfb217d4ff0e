// Shaper: a token bucket (rate, burst) in front of a bounded FIFO.
//
// The capture ring's buffers must go back to the kernel (or the NIC) at the
// end of the burst, so a frame that has to wait is COPIED into the class's
// own byte ring, allocated once when the policy is built: no allocation per
// packet. The FIFO is bounded in bytes and in packets; a frame that does not
// fit is tail-dropped and counted. Frames leave in the order they came.
//
// The bucket is kept as GCRA's theoretical arrival time (TAT): a frame of L
// bytes may leave at `now` when max(TAT, now) + L*ns_per_byte - now <= tau,
// with tau = burst * ns_per_byte. That is exactly "the bucket holds at least
// L tokens", but needs one multiply per frame and no division, and gives the
// exact time the head of the queue becomes sendable (next_due_ns), so a worker
// can sleep until then. ns_per_byte is fixed point (32 fraction bits), and
// the fraction is carried from frame to frame, so the long-run rate has no
// rounding drift. A frame larger than the burst leaves when the bucket is
// full (the bucket goes into debt) instead of never.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>

#include "dataplane/counters.h"
#include "dataplane/packet.h"

namespace ws {

// Bytes of whole frames in a circular buffer, each with a small header.
// Single-threaded (the worker that owns the class).
class FrameRing {
 public:
  // capacity: bytes of the buffer (headers and wrap waste included).
  explicit FrameRing(size_t capacity);

  // Copies the frame in; false when the buffer has no room. vlan_tag: a
  // tag the capture stripped (packet.h), put back after the MAC addresses
  // so that the frame waits as it will leave.
  bool push(const uint8_t* data, uint32_t len, uint16_t port, uint32_t vlan_tag = kNoVlanTag);
  bool empty() const { return count_ == 0; }
  uint32_t count() const { return count_; }
  uint64_t bytes() const { return bytes_; }  // frame bytes held
  size_t capacity() const { return cap_; }

  // The oldest frame; only when !empty().
  const uint8_t* front(uint32_t* len, uint16_t* port) const {
    Hdr h;
    std::memcpy(&h, buf_.get() + head_, sizeof h);
    if (h.len == kWrap) {
      std::memcpy(&h, buf_.get(), sizeof h);
      *len = h.len;
      *port = h.port;
      return buf_.get() + sizeof h;
    }
    *len = h.len;
    *port = h.port;
    return buf_.get() + head_ + sizeof h;
  }
  void pop();

 private:
  struct Hdr {
    uint32_t len;
    uint16_t port;
    uint16_t pad;
  };
  static constexpr uint32_t kWrap = UINT32_MAX;
  static size_t record_size(uint32_t len) { return (sizeof(Hdr) + len + 7) & ~size_t(7); }

  std::unique_ptr<uint8_t[]> buf_;
  size_t cap_;
  size_t head_ = 0;  // oldest record
  size_t tail_ = 0;  // next write
  uint32_t count_ = 0;
  uint64_t bytes_ = 0;
};

struct ShaperStats {
  Counter sent;        // frames that left (at once or from the queue)
  Counter sent_bytes;
  Counter queued;      // frames that had to wait (copied into the queue)
  Counter tail_drops;  // queue full (bytes, packets or buffer)
  Counter tail_drop_bytes;
  Counter depth;       // frames in the queue now (a gauge)
  Counter depth_bytes;  // frame bytes in the queue now (a gauge)
};

class Shaper {
 public:
  // rate_bps >= 8; queue_bytes bounds the frame bytes waiting,
  // queue_packets the frames.
  Shaper(uint64_t rate_bps, uint64_t burst_bytes, uint64_t queue_bytes, uint32_t queue_packets);

  enum Verdict : uint8_t { kSend, kQueued, kDropped };

  // A frame arrives. kSend: the bucket has the tokens and nothing waits,
  // send it now (not copied). kQueued: copied into the queue. kDropped: the
  // queue is full (counted). vlan_tag: the tag the capture stripped, which
  // the frame gets back on the wire: a queued copy holds it, and its 4
  // bytes are counted.
  Verdict offer(const uint8_t* data, uint32_t len, uint16_t port, uint64_t now_ns,
                uint32_t vlan_tag = kNoVlanTag) {
    const uint32_t wire = wire_len_with_tag(len, vlan_tag);
    if (ring_.empty() && conforms(wire, now_ns)) {
      take(wire, now_ns);
      stats_.sent.inc();
      stats_.sent_bytes.inc(wire);
      return kSend;
    }
    if (ring_.count() >= queue_packets_ || ring_.bytes() + wire > queue_bytes_ ||
        !ring_.push(data, len, port, vlan_tag)) {
      stats_.tail_drops.inc();
      stats_.tail_drop_bytes.inc(wire);
      return kDropped;
    }
    stats_.queued.inc();
    stats_.depth.set(ring_.count());
    stats_.depth_bytes.set(ring_.bytes());
    return kQueued;
  }

  // Releases queued frames whose tokens are there, oldest first:
  // emit(const uint8_t* data, uint32_t len, uint16_t port). The data is
  // valid only during the call. Returns the frames emitted.
  template <class Emit>
  uint32_t drain(uint64_t now_ns, Emit&& emit) {
    uint32_t n = 0;
    while (!ring_.empty()) {
      uint32_t len;
      uint16_t port;
      const uint8_t* d = ring_.front(&len, &port);
      if (!conforms(len, now_ns)) break;
      take(len, now_ns);
      emit(d, len, port);
      ring_.pop();
      stats_.sent.inc();
      stats_.sent_bytes.inc(len);
      ++n;
    }
    if (n) {
      stats_.depth.set(ring_.count());
      stats_.depth_bytes.set(ring_.bytes());
    }
    return n;
  }

  // Emits every queued frame now, whatever the tokens (a policy change
  // retired this shaper: its frames have waited already).
  template <class Emit>
  uint32_t flush(Emit&& emit) {
    uint32_t n = 0;
    while (!ring_.empty()) {
      uint32_t len;
      uint16_t port;
      const uint8_t* d = ring_.front(&len, &port);
      emit(d, len, port);
      ring_.pop();
      stats_.sent.inc();
      stats_.sent_bytes.inc(len);
      ++n;
    }
    stats_.depth.set(0);
    stats_.depth_bytes.set(0);
    return n;
  }

  // When the head of the queue may leave (ns); UINT64_MAX when empty.
  uint64_t next_due_ns() const;
  uint32_t queued_frames() const { return ring_.count(); }
  uint64_t queued_bytes() const { return ring_.bytes(); }
  const ShaperStats& stats() const { return stats_; }
  uint64_t queue_bytes_limit() const { return queue_bytes_; }

 private:
  // The cost of len bytes in ns, as 32.32 fixed point.
  unsigned __int128 cost(uint32_t len) const { return static_cast<unsigned __int128>(len) * ns_per_byte_q32_; }
  // Earliest start of a frame's transmission as TAT (32.32) so that it conforms.
  bool conforms(uint32_t len, uint64_t now_ns) const {
    const unsigned __int128 now = static_cast<unsigned __int128>(now_ns) << 32;
    const unsigned __int128 start = tat_ > now ? tat_ : now;
    const unsigned __int128 c = cost(len);
    const unsigned __int128 allowance = c > tau_ ? c : tau_;
    return start + c - now <= allowance;
  }
  void take(uint32_t len, uint64_t now_ns) {
    const unsigned __int128 now = static_cast<unsigned __int128>(now_ns) << 32;
    tat_ = (tat_ > now ? tat_ : now) + cost(len);
  }

  uint64_t ns_per_byte_q32_;
  unsigned __int128 tau_;  // burst in ns, 32.32
  unsigned __int128 tat_ = 0;
  uint64_t queue_bytes_;
  uint32_t queue_packets_;
  FrameRing ring_;
  ShaperStats stats_;
};

}  // namespace ws
