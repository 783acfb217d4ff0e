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
};

// True when the build has DPDK (libdpdk-dev); otherwise open() fails with
// a message saying so.
bool dpdk_available();

// Opens the port with opts.queues RX queues and returns one source per
// queue, or an empty vector with *error ("dpdk: <port>: <reason>"). The EAL
// is initialised on the first call; later calls must pass the same
// arguments (the EAL cannot be initialised twice).
std::vector<std::unique_ptr<PacketSource>> open_dpdk_sources(const DpdkOptions& opts, std::string* error);

}  // namespace ws
