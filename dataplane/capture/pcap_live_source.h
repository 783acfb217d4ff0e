// PcapLiveSource: live capture through libpcap (`--capture pcap`).
//
// The portable path, and the one that works on any interface libpcap can
// open. One handle is one stream: the caller fans packets out to workers.
// libpcap's buffer is reused by its next read, so frames are copied into a
// burst buffer owned by the source; the views are valid until the next
// rx_burst(). AF_PACKET (AfPacketSource) avoids that copy and scales across
// workers; this source trades that for portability and BPF filters compiled
// for the real interface.
//
// The handle is nonblocking with immediate mode off: the kernel hands over
// frames in batches (a TPACKET_V3 block on Linux) or after kReadTimeoutMs,
// and rx_burst() waits at most kPollMs for the descriptor before returning
// 0, so the caller's timers run on an idle link.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dataplane/source.h"

struct pcap;
struct pcap_pkthdr;

namespace ws {

class PcapLiveSource final : public PacketSource {
 public:
  // Short enough for sub-second flow timing, long enough that an idle
  // handle is not a busy loop.
  static constexpr int kReadTimeoutMs = 20;
  static constexpr int kPollMs = 100;

  struct Options {
    std::string iface;
    int snaplen = 65535;
    bool promisc = true;
    int buffer_mb = 32;  // kernel buffer; larger rides out longer stalls
    std::string bpf;     // tcpdump filter syntax; empty = everything
  };

  // nullptr with *error set ("<iface>: <reason>") when the interface does
  // not exist, needs privileges, has a link type the data plane does not
  // decode, or the filter does not compile.
  static std::unique_ptr<PcapLiveSource> open(const Options& opts, std::string* error);
  ~PcapLiveSource() override;

  PcapLiveSource(const PcapLiveSource&) = delete;
  PcapLiveSource& operator=(const PcapLiveSource&) = delete;

  int rx_burst(Packet* out, int max) override;
  bool live() const override { return true; }
  void stop() override { stop_.store(true, std::memory_order_relaxed); }
  SourceStats stats() const override;
  const std::string& name() const override { return name_; }
  std::string error() const override;

 private:
  PcapLiveSource(pcap* handle, std::string name, int fd, uint32_t snaplen, LinkType link,
                 bool nanos);
  static void on_packet(unsigned char* user, const ::pcap_pkthdr* h, const unsigned char* bytes);
  void refresh_stats(uint64_t now_ns);
  void set_error(std::string e);

  pcap* handle_;
  std::string name_;
  int fd_;
  uint32_t slot_;  // bytes per frame in the burst buffer: snaplen, cache-line aligned
  LinkType link_;
  bool nanos_;
  bool failed_ = false;

  // Burst in progress (valid during pcap_dispatch only).
  Packet* out_ = nullptr;
  int out_n_ = 0;
  std::vector<uint8_t> burst_buf_;
  uint64_t bytes_in_burst_ = 0;
  uint64_t next_stats_ns_ = 0;

  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> packets_{0}, bytes_{0}, kernel_drops_{0}, if_drops_{0};
  mutable std::mutex error_mu_;
  std::string error_;
};

}  // namespace ws
