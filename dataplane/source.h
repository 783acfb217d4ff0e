// PacketSource: where frames come from. One interface, several real
// implementations chosen at start-up (pcap/pcapng file, libpcap live,
// AF_PACKET TPACKET_V3, and later DPDK and GNS3 link streams).
//
// A source delivers bursts of Packet views. The views stay valid until the
// next rx_burst() on the same source, or until release() is called for
// them, whichever the source documents (stable_buffers()). This is the DPDK
// model: rte_eth_rx_burst fills an array of mbuf pointers, the worker
// processes them in place and frees them, so a DPDK source fits without a
// copy by putting the mbuf in Packet::opaque and freeing it in release().
//
// A source is either one stream (a file, a libpcap handle: one reader fans
// packets out to the workers over SPSC rings) or one of a set of per-worker
// queues (AF_PACKET fanout members, DPDK RX queues: each worker polls its
// own). open_sources() returns one source per worker in the second case.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/packet.h"

namespace ws {

struct SourceStats {
  uint64_t packets = 0;         // frames delivered to the agent
  uint64_t bytes = 0;           // their wire length
  uint64_t kernel_drops = 0;    // dropped by the kernel/NIC before us (ps_drop, tp_drops, imissed)
  uint64_t if_drops = 0;        // dropped by the interface/driver (ps_ifdrop, rx_nombuf)
  uint64_t truncated = 0;       // records cut short or malformed in a capture file
  uint64_t unsupported_link = 0;  // frames of a link type we do not decode

  SourceStats& operator+=(const SourceStats& o) {
    packets += o.packets;
    bytes += o.bytes;
    kernel_drops += o.kernel_drops;
    if_drops += o.if_drops;
    truncated += o.truncated;
    unsupported_link += o.unsupported_link;
    return *this;
  }
};

struct PortCounter {
  const char* family;   // "dpdk", "inline"
  std::string port;     // the port or interface
  const char* counter;  // "imissed", "tx_packets"
  uint64_t value;
};

class PacketSource {
 public:
  static constexpr int kEof = -1;

  virtual ~PacketSource() = default;

  // Receives up to `max` packets into `out`. Returns the number received;
  // 0 when nothing arrived within the source's poll interval (live sources
  // return so that the caller can run timers); kEof once the source has
  // ended or stop() was called. Never throws.
  virtual int rx_burst(Packet* out, int max) = 0;

  // Gives packets back to the source (DPDK frees mbufs here). Default: no-op.
  virtual void release(Packet* /*pkts*/, int /*n*/) {}

  // True when packet data stays valid until the source is destroyed (an
  // mmap'd file), so a dispatcher may pass pointers on without copying.
  virtual bool stable_buffers() const { return false; }

  // True for live capture: flows also expire on wall-clock time.
  virtual bool live() const = 0;

  // Thread-safe; makes rx_burst() return kEof promptly.
  virtual void stop() = 0;

  virtual SourceStats stats() const = 0;
  virtual const std::string& name() const = 0;

  // The last error, e.g. a capture file that ended mid-record; empty if none.
  virtual std::string error() const { return {}; }

  // Device counters beyond SourceStats (a DPDK port's imissed, ierrors,
  // rx_nombuf; an inline port's rx/tx counts), for metrics: each becomes
  // wirescope_<family>_<counter>_total{port="<port>"}, summed over the
  // sources that report the same one. Empty for most sources. Any thread.
  virtual std::vector<PortCounter> port_counters() const { return {}; }
};

}  // namespace ws
