#include "dataplane/capture/open.h"

#include <unistd.h>

#include "dataplane/capture/afpacket_source.h"
#include "dataplane/capture/dpdk_source.h"
#include "dataplane/capture/pcap_file_source.h"
#include "dataplane/capture/pcap_live_source.h"

namespace ws {

bool parse_capture_method(const std::string& s, CaptureOptions::Method* out) {
  if (s == "afpacket" || s == "af_packet") {
    *out = CaptureOptions::Method::kAfPacket;
    return true;
  }
  if (s == "pcap" || s == "libpcap") {
    *out = CaptureOptions::Method::kPcap;
    return true;
  }
  if (s == "dpdk") {
    *out = CaptureOptions::Method::kDpdk;
    return true;
  }
  return false;
}

std::vector<std::unique_ptr<PacketSource>> open_sources(const CaptureOptions& opts,
                                                        std::string* error) {
  std::vector<std::unique_ptr<PacketSource>> out;
  if (!opts.file.empty() && !opts.iface.empty()) {
    *error = "give either a capture file or an interface, not both";
    return out;
  }
  if (opts.file.empty() && opts.iface.empty()) {
    *error = "no capture file or interface given";
    return out;
  }
  if (opts.snaplen <= 0) {
    *error = "snaplen " + std::to_string(opts.snaplen) + " must be positive";
    return out;
  }
  if (!opts.file.empty()) {
    if (auto s = PcapFileSource::open(opts.file, opts.loop, error)) {
      s->set_replay_speed(opts.replay_speed);
      out.push_back(std::move(s));
    }
    return out;
  }
  if (opts.method == CaptureOptions::Method::kPcap) {
    PcapLiveSource::Options o;
    o.iface = opts.iface;
    o.snaplen = opts.snaplen;
    o.promisc = opts.promisc;
    o.buffer_mb = opts.pcap_buffer_mb;
    o.bpf = opts.bpf;
    if (auto s = PcapLiveSource::open(o, error)) out.push_back(std::move(s));
    return out;
  }
  if (opts.workers < 1) {
    *error = "workers " + std::to_string(opts.workers) + " must be at least 1";
    return out;
  }
  if (opts.method == CaptureOptions::Method::kDpdk) {
    DpdkOptions d;
    d.eal_args = opts.dpdk_eal_args;
    d.port = opts.iface;
    d.queues = opts.workers;
    d.mbufs = opts.dpdk_mbufs;
    d.promisc = opts.promisc;
    if (!opts.bpf.empty()) {
      *error = "dpdk: " + opts.iface + ": a BPF filter needs the kernel; DPDK capture takes none";
      return out;
    }
    return open_dpdk_sources(d, error);
  }
  AfPacketSource::Options o;
  o.iface = opts.iface;
  o.snaplen = opts.snaplen;
  o.promisc = opts.promisc;
  o.bpf = opts.bpf;
  o.block_kb = opts.ring_block_kb;
  o.blocks = opts.ring_blocks;
  o.ignore_outgoing = opts.ignore_outgoing;
  // Fanout group ids are shared by every process in the network namespace;
  // the pid keeps two agents on one host apart.
  o.fanout_group = opts.fanout_group ? opts.fanout_group : uint16_t(getpid() & 0xffff);
  for (int w = 0; w < opts.workers; ++w) {
    o.member = w;
    auto s = AfPacketSource::open(o, error);
    if (!s) {
      out.clear();
      return out;
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace ws
