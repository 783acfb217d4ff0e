// PcapFileSource: packets from a classic pcap or pcapng file.
//
// The file is mmap'd and parsed in place with PcapParser, so Packet::data
// points into the mapping and stays valid until the source is destroyed
// (stable_buffers()): a dispatcher can hand the views to workers without a
// copy. One source is one stream; the caller fans it out.
//
// A file that ends inside a record, or has a damaged record, is read up to
// the damage; the source then ends, counts SourceStats::truncated and error()
// names the file, the byte offset and the reason. Frames whose link type the
// data plane does not decode are skipped and counted (unsupported_link).
//
// With `loop`, the source restarts at the first packet at the end of the
// file, shifting time by (last − first + 1 s) per pass so timestamps keep
// increasing and flows from the previous pass time out normally; it runs
// until stop(). Packet::ifindex is the pcapng interface id (0 for classic
// pcap), so multi-interface captures keep their interfaces apart.
//
// With a replay speed (set_replay_speed, --replay-speed), packets are handed
// out at the pace they were recorded, scaled: at speed 2 a 60 s capture
// takes 30 s. Timestamps stay those of the file (time shifted by loop). A
// burst holds only packets that are due; when none is, the source naps at
// most kMaxReplayNapNs and returns 0, so stop() is seen promptly.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "dataplane/capture/pcap_parser.h"
#include "dataplane/source.h"

namespace ws {

// Wall clock for paced replay; tests drive their own.
struct ReplayClock {
  virtual ~ReplayClock() = default;
  virtual uint64_t now_ns() = 0;
  virtual void sleep_ns(uint64_t ns) = 0;
};

class PcapFileSource final : public PacketSource {
 public:
  // Maps and checks the file header. nullptr with *error set ("<path>:
  // <reason>") when the file cannot be opened or is not a capture file.
  static std::unique_ptr<PcapFileSource> open(const std::string& path, bool loop,
                                              std::string* error);
  ~PcapFileSource() override;

  PcapFileSource(const PcapFileSource&) = delete;
  PcapFileSource& operator=(const PcapFileSource&) = delete;

  int rx_burst(Packet* out, int max) override;
  bool stable_buffers() const override { return true; }
  bool live() const override { return false; }
  void stop() override { stop_.store(true, std::memory_order_relaxed); }
  SourceStats stats() const override;
  const std::string& name() const override { return name_; }
  std::string error() const override;

  // speed > 0: hand packets out at their recorded pace divided by speed;
  // 0 (the default): as fast as possible. clock: nullptr for the steady
  // clock; otherwise it must outlive the source. Call before the first burst.
  void set_replay_speed(double speed, ReplayClock* clock = nullptr);
  static constexpr uint64_t kMaxReplayNapNs = 10'000'000;

  // Completed passes over the file (grows with `loop`).
  uint64_t passes() const { return passes_.load(std::memory_order_relaxed); }

 private:
  PcapFileSource(std::string path, const uint8_t* base, size_t size, bool loop);
  void damaged();
  bool next_pass();
  // Paced replay: true when the packet of file time ts may go now; else
  // *wait_ns says how long until it may.
  bool due(uint64_t ts, uint64_t* wait_ns);

  std::string name_;
  const uint8_t* base_;
  size_t size_;
  size_t pos_ = 0;
  size_t prefetched_ = 0;  // the mapping is prefetched up to here
  bool loop_;
  bool done_ = false;
  bool damage_counted_ = false;
  PcapParser parser_;

  // Raw file times of the first pass, for the loop's time shift.
  bool have_first_ = false;
  uint64_t first_ts_ = 0;
  uint64_t max_ts_ = 0;
  uint64_t ts_shift_ = 0;
  uint64_t pass_packets_ = 0;
  uint64_t record_no_ = 0;  // records read so far (Packet::file_index)

  // Paced replay. A record read but not yet due waits in pending_.
  double speed_ = 0;
  ReplayClock* clock_ = nullptr;
  bool pace_started_ = false;
  uint64_t pace_wall0_ = 0, pace_ts0_ = 0;
  bool have_pending_ = false;
  PcapRecord pending_{};

  std::atomic<bool> stop_{false};
  // Written by the reading thread only, read by stats() from any thread.
  std::atomic<uint64_t> packets_{0}, bytes_{0}, truncated_{0}, unsupported_{0}, passes_{0};
  mutable std::mutex error_mu_;
  std::string error_;
};

}  // namespace ws
