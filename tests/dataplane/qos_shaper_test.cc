// Shaper and its frame ring: rate over simulated time, tail drops counted,
// order kept, the ring's wrap-around against a plain queue.
#include "dataplane/qos/shaper.h"

#include <gtest/gtest.h>

#include <deque>
#include <random>
#include <vector>

namespace ws {
namespace {

std::vector<uint8_t> frame(uint32_t seq, uint32_t len) {
  std::vector<uint8_t> f(len, static_cast<uint8_t>(seq));
  std::memcpy(f.data(), &seq, sizeof seq);
  return f;
}

uint32_t seq_of(const uint8_t* d) {
  uint32_t s;
  std::memcpy(&s, d, sizeof s);
  return s;
}

TEST(FrameRing, MatchesAQueueThroughWrapArounds) {
  FrameRing ring(4096);
  std::deque<std::vector<uint8_t>> model;
  std::mt19937 rng(7);
  uint32_t seq = 0, refused = 0;
  for (int step = 0; step < 200000; ++step) {
    if (rng() % 2) {
      const uint32_t len = 4 + rng() % 700;
      auto f = frame(seq++, len);
      if (ring.push(f.data(), len, static_cast<uint16_t>(len))) model.push_back(std::move(f));
      else ++refused;
    } else if (!model.empty()) {
      ASSERT_FALSE(ring.empty());
      uint32_t len;
      uint16_t port;
      const uint8_t* d = ring.front(&len, &port);
      ASSERT_EQ(len, model.front().size());
      ASSERT_EQ(port, static_cast<uint16_t>(len));
      ASSERT_EQ(std::memcmp(d, model.front().data(), len), 0) << "step " << step;
      ring.pop();
      model.pop_front();
    }
    ASSERT_EQ(ring.count(), model.size());
  }
  EXPECT_GT(refused, 0u);  // it did fill up
  uint64_t bytes = 0;
  for (const auto& f : model) bytes += f.size();
  EXPECT_EQ(ring.bytes(), bytes);
}

TEST(FrameRing, RefusesWhatCannotFit) {
  FrameRing ring(256);
  auto big = frame(1, 300);
  EXPECT_FALSE(ring.push(big.data(), 300, 0));
  auto f = frame(2, 100);
  EXPECT_TRUE(ring.push(f.data(), 100, 0));
  EXPECT_TRUE(ring.push(f.data(), 100, 0));
  EXPECT_FALSE(ring.push(f.data(), 100, 0));  // 2 x 112 of 256 used
  ring.pop();
  EXPECT_TRUE(ring.push(f.data(), 100, 0));  // wraps to the front
  EXPECT_EQ(ring.count(), 2u);
}

// 1 Mbit/s, offered 8 Mbit/s of 1000-byte frames for 5 simulated seconds.
TEST(Shaper, RateOverSimulatedTime) {
  Shaper sh(1'000'000, 3000, 20000, UINT32_MAX);
  uint64_t sent = 0, dropped = 0, queued = 0;
  uint32_t last_seq = 0;
  bool first = true, in_order = true;
  auto emit = [&](const uint8_t* d, uint32_t len, uint16_t) {
    sent += len;
    const uint32_t s = seq_of(d);
    if (!first && s <= last_seq) in_order = false;
    first = false;
    last_seq = s;
  };
  const uint64_t t0 = 1'700'000'000'000'000'000ull;
  uint32_t seq = 0;
  for (uint64_t t = t0; t < t0 + 5'000'000'000ull; t += 100'000) {  // a loop turn every 100 us
    sh.drain(t, emit);
    if ((t - t0) % 1'000'000 == 0) {  // a frame per ms
      auto f = frame(++seq, 1000);
      switch (sh.offer(f.data(), 1000, 1, t)) {
        case Shaper::kSend: emit(f.data(), 1000, 1); break;
        case Shaper::kQueued: ++queued; break;
        case Shaper::kDropped: ++dropped; break;
      }
    }
  }
  // 5 s at 125000 B/s plus the initial burst, within one frame.
  EXPECT_NEAR(double(sent), 5 * 125000.0 + 3000, 1000);
  EXPECT_TRUE(in_order);
  EXPECT_GT(queued, 0u);
  EXPECT_EQ(sh.stats().tail_drops.get(), dropped);
  EXPECT_EQ(dropped * 1000 + sent + sh.queued_bytes(), uint64_t(seq) * 1000);
  EXPECT_EQ(sh.stats().tail_drop_bytes.get(), dropped * 1000);
  EXPECT_LE(sh.queued_bytes(), 20000u);
  EXPECT_EQ(sh.stats().sent_bytes.get(), sent);
}

TEST(Shaper, BurstPassesAtOnceThenQueues) {
  Shaper sh(8'000'000, 3000, 1'000'000, 3);  // 1 byte per us
  auto f = frame(0, 1000);
  EXPECT_EQ(sh.offer(f.data(), 1000, 0, 0), Shaper::kSend);
  EXPECT_EQ(sh.offer(f.data(), 1000, 0, 0), Shaper::kSend);
  EXPECT_EQ(sh.offer(f.data(), 1000, 0, 0), Shaper::kSend);
  EXPECT_EQ(sh.offer(f.data(), 1000, 0, 0), Shaper::kQueued);
  // Nothing overtakes a waiting frame, even once tokens are back.
  EXPECT_EQ(sh.offer(f.data(), 10, 0, 5000), Shaper::kQueued);
  EXPECT_EQ(sh.offer(f.data(), 10, 0, 5000), Shaper::kQueued);
  EXPECT_EQ(sh.offer(f.data(), 10, 0, 5000), Shaper::kDropped);  // 3 packets queued
  EXPECT_EQ(sh.stats().tail_drops.get(), 1u);
  EXPECT_EQ(sh.stats().depth.get(), 3u);
}

TEST(Shaper, NextDueIsExact) {
  Shaper sh(8'000'000, 1000, 100000, UINT32_MAX);  // 1000 ns per byte
  auto f = frame(1, 1000);
  ASSERT_EQ(sh.offer(f.data(), 1000, 3, 1'000'000), Shaper::kSend);  // empties the bucket
  ASSERT_EQ(sh.offer(f.data(), 500, 4, 1'000'000), Shaper::kQueued);
  EXPECT_EQ(sh.next_due_ns(), 1'500'000u);  // 500 bytes of tokens take 500 us
  std::vector<uint16_t> ports;
  auto emit = [&](const uint8_t*, uint32_t, uint16_t port) { ports.push_back(port); };
  EXPECT_EQ(sh.drain(1'499'999, emit), 0u);
  EXPECT_EQ(sh.drain(1'500'000, emit), 1u);
  EXPECT_EQ(ports, std::vector<uint16_t>{4});
  EXPECT_EQ(sh.next_due_ns(), UINT64_MAX);
}

TEST(Shaper, FrameLargerThanBurstLeavesWhenBucketIsFull) {
  Shaper sh(8'000'000, 100, 100000, UINT32_MAX);
  auto f = frame(1, 1500);
  EXPECT_EQ(sh.offer(f.data(), 1500, 0, 0), Shaper::kSend);  // full bucket
  EXPECT_EQ(sh.offer(f.data(), 1500, 0, 0), Shaper::kQueued);
  EXPECT_EQ(sh.next_due_ns(), 1'500'000u);  // once the debt is repaid
  size_t n = 0;
  EXPECT_EQ(sh.drain(1'500'000, [&](const uint8_t*, uint32_t, uint16_t) { ++n; }), 1u);
}

TEST(Shaper, FlushSendsEverythingInOrder) {
  Shaper sh(8000, 10, 100000, UINT32_MAX);
  for (uint32_t i = 1; i <= 5; ++i) {
    auto f = frame(i, 64);
    sh.offer(f.data(), 64, 0, 0);
  }
  std::vector<uint32_t> seqs;
  EXPECT_EQ(sh.flush([&](const uint8_t* d, uint32_t, uint16_t) { seqs.push_back(seq_of(d)); }), 4u);
  EXPECT_EQ(seqs, (std::vector<uint32_t>{2, 3, 4, 5}));
  EXPECT_EQ(sh.queued_frames(), 0u);
  EXPECT_EQ(sh.stats().depth.get(), 0u);
}

// A frame whose VLAN tag the capture stripped waits with the tag back in
// place (the link sends a queued frame as it is), and the bucket counts the
// 4 bytes the tag adds on the wire.
TEST(Shaper, QueuedFrameKeepsItsStrippedVlanTag) {
  Shaper sh(8'000'000, 100, 100000, UINT32_MAX);  // 1000 ns per byte
  std::vector<uint8_t> f(60);
  for (size_t i = 0; i < f.size(); ++i) f[i] = static_cast<uint8_t>(i);
  const uint32_t stag = uint32_t{kTpid8021ad} << 16 | 0x2064;  // 802.1ad, PCP 1, VID 100
  ASSERT_EQ(sh.offer(f.data(), 60, 2, 0, stag), Shaper::kSend);
  EXPECT_EQ(sh.stats().sent_bytes.get(), 64u);
  ASSERT_EQ(sh.offer(f.data(), 60, 2, 0, stag), Shaper::kQueued);
  EXPECT_EQ(sh.queued_bytes(), 64u);
  // 64 + 64 bytes against a 100-byte burst: due once 28 bytes of tokens are
  // back (20 us if the tag's 4 bytes were not counted on each frame).
  EXPECT_EQ(sh.next_due_ns(), 28'000u);
  std::vector<uint8_t> out;
  EXPECT_EQ(sh.drain(128'000, [&](const uint8_t* d, uint32_t len, uint16_t port) {
    EXPECT_EQ(port, 2);
    out.assign(d, d + len);
  }), 1u);
  ASSERT_EQ(out.size(), 64u);
  EXPECT_TRUE(std::equal(f.begin(), f.begin() + 12, out.begin())) << "MAC addresses";
  EXPECT_EQ(out[12], 0x88);
  EXPECT_EQ(out[13], 0xa8);
  EXPECT_EQ(out[14], 0x20);
  EXPECT_EQ(out[15], 0x64);
  EXPECT_TRUE(std::equal(f.begin() + 12, f.end(), out.begin() + 16)) << "the rest of the frame";
  EXPECT_EQ(sh.stats().sent_bytes.get(), 128u);

  // Without a tag the frame waits as it came.
  ASSERT_EQ(sh.offer(f.data(), 60, 1, 128'000), Shaper::kQueued);
  out.clear();
  sh.flush([&](const uint8_t* d, uint32_t len, uint16_t) { out.assign(d, d + len); });
  EXPECT_EQ(out, f);
}

}  // namespace
}  // namespace ws
