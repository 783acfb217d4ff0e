#include "dataplane/qos/shaper.h"

#include <algorithm>

namespace ws {

FrameRing::FrameRing(size_t capacity) : cap_((std::max<size_t>(capacity, 64) + 7) & ~size_t(7)) {
  buf_.reset(new uint8_t[cap_]);
}

bool FrameRing::push(const uint8_t* data, uint32_t len, uint16_t port, uint32_t vlan_tag) {
  const bool tag = vlan_tag_goes_back(len, vlan_tag);
  const uint32_t wire = wire_len_with_tag(len, vlan_tag);
  const size_t need = record_size(wire);
  if (len >= kWrap - 4 || need > cap_) return false;
  if (count_ == 0) head_ = tail_ = 0;
  else if (tail_ == head_) return false;  // full
  size_t at;
  if (tail_ >= head_) {
    // Free space is [tail, cap) then [0, head).
    if (need <= cap_ - tail_) {
      at = tail_;
    } else if (need <= head_) {
      if (tail_ < cap_) {
        const Hdr wrap{kWrap, 0, 0};
        std::memcpy(buf_.get() + tail_, &wrap, sizeof wrap);
      }
      at = 0;
    } else {
      return false;
    }
  } else {
    if (need > head_ - tail_) return false;
    at = tail_;
  }
  const Hdr h{wire, port, 0};
  std::memcpy(buf_.get() + at, &h, sizeof h);
  if (tag) insert_vlan_tag(data, len, vlan_tag, buf_.get() + at + sizeof h);
  else std::memcpy(buf_.get() + at + sizeof h, data, len);
  tail_ = at + need;
  if (tail_ == cap_) tail_ = 0;
  ++count_;
  bytes_ += wire;
  return true;
}

void FrameRing::pop() {
  Hdr h;
  std::memcpy(&h, buf_.get() + head_, sizeof h);
  if (h.len == kWrap) {
    head_ = 0;
    std::memcpy(&h, buf_.get(), sizeof h);
  }
  head_ += record_size(h.len);
  if (head_ == cap_) head_ = 0;
  --count_;
  bytes_ -= h.len;
  if (count_ == 0) head_ = tail_ = 0;
}

Shaper::Shaper(uint64_t rate_bps, uint64_t burst_bytes, uint64_t queue_bytes, uint32_t queue_packets)
    : ns_per_byte_q32_(static_cast<uint64_t>((static_cast<unsigned __int128>(8'000'000'000ull) << 32) /
                                             std::max<uint64_t>(rate_bps, 8))),
      tau_(static_cast<unsigned __int128>(burst_bytes) * ns_per_byte_q32_),
      queue_bytes_(queue_bytes),
      queue_packets_(queue_packets),
      // Headers (8 bytes) and alignment (up to 7) per frame, and the wrap
      // waste (less than one 64 KiB frame): half again the byte bound holds
      // any mix of frames of 30 bytes or more.
      ring_(queue_bytes + queue_bytes / 2 + 65536 + 16) {}

uint64_t Shaper::next_due_ns() const {
  if (ring_.empty()) return UINT64_MAX;
  uint32_t len;
  uint16_t port;
  ring_.front(&len, &port);
  const unsigned __int128 c = cost(len);
  const unsigned __int128 allowance = c > tau_ ? c : tau_;
  // Sendable once max(TAT, now) + c - now <= allowance, i.e. now >= TAT + c - allowance.
  const unsigned __int128 due = tat_ + c > allowance ? tat_ + c - allowance : 0;
  const unsigned __int128 ns = (due + 0xffffffffu) >> 32;  // round up
  return ns > UINT64_MAX ? UINT64_MAX : static_cast<uint64_t>(ns);
}

}  // namespace ws
