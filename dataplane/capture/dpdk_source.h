// DpdkSource: one RX queue of a DPDK ethdev port (`--capture dpdk`).
//
// The EAL is initialised once per process from the configured arguments
// (dpdk.eal_args; tests and CI run with --no-huge). A port is named by its
// PCI address ("0000:01:00.0") or by a virtual device the EAL arguments
// create (`--vdev net_pcap0,rx_pcap=in.pcap`, net_ring, net_null,
// net_af_packet). The port gets one RX queue per worker; with more than one
// queue it is configured for RSS on IP addresses and ports with the
// symmetric key (0x6d5a repeated), so both directions of a flow reach one
// worker, as AF_PACKET's fanout program does.
//
// rx_burst() hands out the mbufs' data in place: Packet::opaque carries the
// rte_mbuf and release() frees the burst back to the pool, so nothing is
// copied (source.h). A frame longer than one mbuf segment is seen up to the
// first segment's end (caplen < wirelen), never reassembled.
//
// Port statistics: imissed (the NIC had no descriptor: kernel_drops),
// rx_nombuf (no mbuf: if_drops) and ierrors are reported by queue 0's
// source only, so that summing the sources counts each once.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/source.h"

namespace ws {

struct DpdkOptions {
  std::vector<std::string> eal_args;  // without argv[0]
  std::string port;                   // PCI address or vdev name
  int queues = 1;                     // RX queues = workers
  int rx_descriptors = 1024;
  int mbufs = 8191;                   // pool size (a power of two minus one)
  bool promisc = true;
  bool need_tx = false;               // inline: one TX queue per worker or fail
};

// True when the build has DPDK (libdpdk-dev); otherwise open() fails with
// a message saying so.
bool dpdk_available();

// Opens the port with opts.queues RX queues and returns one source per
// queue, or an empty vector with *error ("dpdk: <port>: <reason>"). The EAL
// is initialised on the first call; later calls must pass the same
// arguments (the EAL cannot be initialised twice).
std::vector<std::unique_ptr<PacketSource>> open_dpdk_sources(const DpdkOptions& opts, std::string* error);

// DpdkInlineLink: a worker's endpoint for inline pairs of DPDK ports
// (`--capture dpdk` with `inline:`), the DPDK twin of InlineLink
// (afpacket_inline.h) with the same port numbering and calls, so the
// worker's inline loop runs on either. Pair i is ports 2i (a) and 2i+1
// (b); every port has one RX and one TX queue per worker (RSS spreads the
// flows as for capture). rx_burst() polls the worker's queue of each port in
// turn. send() of a frame received in the current burst sends that very
// mbuf (its reference count is raised, so release() and the transmit each
// drop one): forwarding copies nothing. Other frames (reject replies,
// frames a shaper held) are copied into a new mbuf. flush() hands each
// port's batch to rte_eth_tx_burst; what the NIC does not take after a few
// tries is freed and counted (tx_busy).
class DpdkInlineLink final : public PacketSource {
 public:
  static constexpr uint32_t kNoVlan = kNoVlanTag;
  static constexpr int kBatch = 128;
  static uint16_t peer(uint16_t port) { return port ^ 1u; }

  struct Options {
    std::vector<std::pair<std::string, std::string>> pairs;  // (a, b) port names
    std::vector<std::string> eal_args;
    int workers = 1;
    int mbufs = 8191;
  };
  // One link per worker, or empty with *error naming the port and reason.
  static std::vector<std::unique_ptr<DpdkInlineLink>> open(const Options& opts, std::string* error);
  ~DpdkInlineLink() override;

  int rx_burst(Packet* out, int max) override;
  void release();
  using PacketSource::release;  // the per-burst form stays callable (a no-op here)
  // vlan_tag != kNoVlan (TPID << 16 | TCI): the copy gets that tag after
  // its MAC addresses. The ports are configured without VLAN stripping, so
  // received frames keep their tags (802.1Q and 802.1ad) in the data and
  // the worker passes none.
  void send(uint16_t port, const uint8_t* data, uint32_t len, uint32_t vlan_tag = kNoVlan);
  void flush();
  // Polling: an idle queue already waits only 50 µs between polls.
  void set_max_wait_ns(uint64_t) {}
  static constexpr uint64_t kDefaultWaitNs = 50'000;
  bool live() const override { return true; }
  void stop() override { stop_.store(true, std::memory_order_relaxed); }
  SourceStats stats() const override;
  std::vector<PortCounter> port_counters() const override;
  const std::string& name() const override { return name_; }
  uint16_t ports() const;
  const std::string& port_name(uint16_t port) const;

  struct Impl;

 private:
  explicit DpdkInlineLink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string name_;
  std::atomic<bool> stop_{false};
};

}  // namespace ws
