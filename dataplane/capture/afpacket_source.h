// AfPacketSource: one member of an AF_PACKET TPACKET_V3 fanout group
// (`--capture afpacket`, the default for -i).
//
// Each worker owns one socket with its own memory-mapped ring; all of them
// join one fanout group in PACKET_FANOUT_CBPF mode with a program that
// picks the member from the sum of the IP addresses: symmetric, so both
// directions of a flow reach the same worker, and port-blind, so IP
// fragments stay with their flow without the kernel reassembling them
// (each fragment is counted as captured, exactly as a file replay counts
// it). On loopback only the arriving copy of each frame is kept.
//
// TPACKET_V3 fills whole blocks of frames and hands a block to user space
// when it is full or after kBlockTimeoutMs. rx_burst() walks the frames in
// place (no copy); a block goes back to the kernel at the start of the next
// rx_burst() after its last frame was handed out, so views are valid until
// the next rx_burst(). Sizing: block_kb * blocks is the ring per worker; a
// block must hold the largest frame (longer ones are cut to the block).
//
// Outgoing frames are captured too by default (the host's own traffic on a
// sniffing interface, as Suricata does); ignore_outgoing drops them in the
// kernel where it can, else per frame. Stripped 802.1Q tags come back as
// kPktVlanStripped + vlan_tci; frames the host sends before their checksum
// is filled in (offload) are marked kPktChecksumNotReady.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "dataplane/source.h"

namespace ws {

class AfPacketSource final : public PacketSource {
 public:
  // How long the kernel may hold a partly filled block: bounds the latency
  // an idle link adds, while a busy link fills blocks long before it.
  static constexpr int kBlockTimeoutMs = 10;
  static constexpr int kPollMs = 100;

  struct Options {
    std::string iface;
    int snaplen = 65535;
    bool promisc = true;
    std::string bpf;  // tcpdump syntax, compiled for the interface's link type
    int block_kb = 1024;
    int blocks = 32;
    bool fanout = true;
    uint16_t fanout_group = 0;  // the same for every member of the group
    bool ignore_outgoing = false;
    int member = 0;  // this worker's index, for name()
  };

  // nullptr with *error set ("<iface>: <reason>").
  static std::unique_ptr<AfPacketSource> open(const Options& opts, std::string* error);
  ~AfPacketSource() override;

  AfPacketSource(const AfPacketSource&) = delete;
  AfPacketSource& operator=(const AfPacketSource&) = delete;

  int rx_burst(Packet* out, int max) override;
  bool live() const override { return true; }
  void stop() override { stop_.store(true, std::memory_order_relaxed); }
  SourceStats stats() const override;
  const std::string& name() const override { return name_; }
  // The last socket error, e.g. "afpacket:eth0/0: Network is down".
  std::string error() const override;

 private:
  AfPacketSource(int fd, uint8_t* ring, uint32_t block_size, uint32_t blocks, std::string name,
                 uint32_t snaplen, LinkType link, bool drop_outgoing);
  int fill(Packet* out, int max);
  void release_done();
  void refresh_stats(uint64_t now_ns);

  int fd_;
  uint8_t* ring_;
  uint32_t block_size_;
  uint32_t blocks_;
  std::string name_;
  uint32_t snaplen_;
  LinkType link_;
  bool drop_outgoing_;  // kernel lacks PACKET_IGNORE_OUTGOING: drop them here

  // Ring walk. Blocks [cur_ - done_, cur_) were fully handed out by the last
  // burst and go back to the kernel at the next one; cur_ may be open.
  uint32_t cur_ = 0;
  uint32_t done_ = 0;
  bool cur_open_ = false;
  uint32_t left_ = 0;        // frames not yet handed out in cur_
  const uint8_t* next_ = nullptr;
  uint64_t next_stats_ns_ = 0;

  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> packets_{0}, bytes_{0}, kernel_drops_{0};
  mutable std::mutex error_mu_;
  std::string error_;
};

}  // namespace ws
