// Opening capture sources from the command line's choices: a capture file
// (-r), or an interface (-i) through AF_PACKET (default) or libpcap.
//
// A file or a libpcap handle is a single stream, so one source comes back
// and the caller fans its packets out to the workers. AF_PACKET gives one
// source per worker, all members of one fanout group, and each worker
// polls its own.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/source.h"

namespace ws {

struct CaptureOptions {
  std::string file;   // capture file (pcap or pcapng); exclusive with iface
  bool loop = false;  // replay the file until stopped
  double replay_speed = 0;  // > 0: at the recorded pace times this (PcapFileSource)
  std::string iface;
  // kDpdk: iface names a DPDK port (PCI address or vdev, dpdk_source.h).
  enum class Method { kAfPacket, kPcap, kDpdk } method = Method::kAfPacket;
  int workers = 1;
  int snaplen = 65535;
  bool promisc = true;
  std::string bpf;  // tcpdump filter syntax; empty = everything
  // AF_PACKET ring per worker: 32 blocks of 1 MiB ride out a stall of about
  // 25 ms at 10 Gbit/s line rate.
  int ring_block_kb = 1024;
  int ring_blocks = 32;
  uint16_t fanout_group = 0;  // 0 = derived from the process id
  bool ignore_outgoing = false;  // AF_PACKET: skip frames this host sends
  int pcap_buffer_mb = 32;       // libpcap kernel buffer
  std::vector<std::string> dpdk_eal_args;  // DPDK EAL arguments (dpdk.eal_args)
  int dpdk_mbufs = 8191;                   // mbuf pool per port
};

// Returns the opened sources, or an empty vector with *error naming the file
// or interface and the reason.
std::vector<std::unique_ptr<PacketSource>> open_sources(const CaptureOptions& opts,
                                                        std::string* error);

// Parses "afpacket" / "pcap" / "dpdk" (the --capture flag); false if none.
bool parse_capture_method(const std::string& s, CaptureOptions::Method* out);

}  // namespace ws
