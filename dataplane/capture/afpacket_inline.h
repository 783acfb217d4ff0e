// InlineLink: a worker's AF_PACKET endpoint for inline pairs (`inline:`,
// `--inline A:B`). It receives every frame that arrives on any inline
// interface (the worker's share of them) and transmits on any of them.
//
// Ports. The interfaces are numbered in pair order: pair i is ports 2i (a)
// and 2i+1 (b), so a port's peer is port ^ 1. A received frame carries its
// ingress port in Packet::ifindex; forwarding sends it to peer(port).
//
// Receive: one TPACKET_V2 ring per worker on a socket bound to no
// interface, a member of one PACKET_FANOUT_HASH group. Why:
//   - one group for all interfaces: the kernel's fanout hash is symmetric
//     (__skb_get_hash_symmetric), so both directions of a flow, arriving
//     on different interfaces, reach the same member. A group can only
//     span interfaces when its sockets are bound to none; groups per
//     interface would need their members in the same order on both sides,
//     and the kernel re-links a device's members in reverse order when the
//     link comes back up — after a flap a flow's two directions would land
//     on different workers;
//   - an unbound socket is not touched by an interface going down and up,
//     so receiving needs no reopening;
//   - a socket filter keeps only frames arriving on an inline interface
//     (ancillary ifindex) that are not outgoing (the agent's own sends and
//     the host's traffic on those interfaces);
//   - TPACKET_V2, not V3: a V3 block reaches user space only when it is
//     full or its retire timer fires (at least one jiffy, 1-4 ms), which an
//     inline hop would add to every packet of a slow flow; a V2 frame is
//     visible as soon as it is written and wakes poll() at once.
// The ring is mapped read-write: in inline mode the worker may rewrite a
// frame in place (DSCP, checksums) before it leaves. Views stay valid until
// release() (the worker calls it after the burst's flush()).
//
// Transmit: per port a socket bound to that interface with protocol 0 (it
// receives nothing), PACKET_QDISC_BYPASS, and sendmmsg() of the frames
// queued by send() since the last flush(). send() copies nothing: the data
// must stay valid until flush(). A frame whose outer VLAN tag the
// receiving kernel or NIC stripped into metadata gets the tag back as it
// was (TPID 0x8100, or 0x88a8 for an 802.1ad service tag: tp_vlan_tpid)
// through a scatter-gather entry, still without a copy.
//
// Frames larger than a ring frame (GRO/LRO on the receiving side: turn
// generic-receive-offload off on inline interfaces, as for Suricata's IPS
// mode) arrive cut short; they are counted (rx_truncated) and dropped,
// never forwarded cut.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/counters.h"
#include "dataplane/packet.h"
#include "dataplane/source.h"

namespace ws {

#define WS_INLINE_PORT_COUNTERS(X)                                                             \
  X(rx_packets, "frames received on the interface")                                            \
  X(rx_bytes, "bytes of frames received on the interface")                                     \
  X(rx_truncated, "frames larger than a ring frame (GRO/LRO on?): dropped, not forwarded cut")  \
  X(tx_packets, "frames sent out of the interface")                                            \
  X(tx_bytes, "bytes of frames sent out of the interface")                                     \
  X(tx_busy, "frames not sent: the interface's queue or socket buffer was full")               \
  X(tx_link_down, "frames not sent: the interface was down")                                   \
  X(tx_oversize, "frames not sent: larger than the interface MTU")                             \
  X(tx_errors, "frames not sent for another error")                                            \
  X(tx_batch_full, "frames sent early because the batch of one burst was full")

struct InlinePortStats {
#define WS_X(name, help) Counter name;
  WS_INLINE_PORT_COUNTERS(WS_X)
#undef WS_X
};

struct InlinePair {
  std::string a, b;
};

// A PacketSource too, so that the runtime lists, stops and reports it like
// any capture; the worker calls it through the concrete (final) type.
class InlineLink final : public PacketSource {
 public:
  static constexpr int kPollMs = 50;
  // Frames one port queues between flushes: two bursts' worth (forwarded
  // frames plus rejects and a traffic-control stage's releases).
  static constexpr int kBatch = 128;
  static constexpr uint32_t kNoVlan = kNoVlanTag;

  struct Options {
    std::vector<InlinePair> pairs;
    uint16_t fanout_group = 0;  // the same for every worker's link
    bool fanout = true;         // false: a single worker
    uint32_t ring_frames = 4096;  // receive ring size (frames)
    int member = 0;               // worker index, for names
  };

  // nullptr with *error naming the interface and the reason.
  static std::unique_ptr<InlineLink> open(const Options& opts, std::string* error);
  ~InlineLink() override;
  InlineLink(const InlineLink&) = delete;
  InlineLink& operator=(const InlineLink&) = delete;

  // Up to max frames, waiting up to kPollMs for the first; 0 when none
  // came, kEof once stop() was called. Packet::ifindex is the ingress port.
  int rx_burst(Packet* out, int max) override;
  // Gives the frames of the last rx_burst() back to the kernel.
  void release();
  using PacketSource::release;  // the per-burst form stays callable (a no-op here)
  // How long rx_burst() waits for a first frame (default kPollMs): a
  // worker whose shaper holds frames waits no longer than until the next
  // one is due.
  void set_max_wait_ns(uint64_t ns) { wait_ns_ = ns ? ns : 1; }
  static constexpr uint64_t kDefaultWaitNs = uint64_t(kPollMs) * 1'000'000u;
  void stop() override { stop_.store(true, std::memory_order_relaxed); }
  bool live() const override { return true; }
  SourceStats stats() const override;
  const std::string& name() const override { return name_; }
  // Every port's counters as "<iface>.<counter>" (metrics, the summary).
  std::vector<PortCounter> port_counters() const override;

  uint16_t ports() const { return nports_; }
  static uint16_t peer(uint16_t port) { return port ^ 1u; }
  // Queues a frame for port; sent at the next flush() (or now, when the
  // port's batch is full). vlan_tag != kNoVlan: insert that tag (TPID <<
  // 16 | TCI, stripped_vlan_tag()) after the MAC addresses.
  void send(uint16_t port, const uint8_t* data, uint32_t len, uint32_t vlan_tag = kNoVlan) {
    Port& p = ports_[port];
    if (p.queued == kBatch) {
      p.stats.tx_batch_full.inc();
      flush_port(p);
    }
    queue(p, data, len, vlan_tag);
  }
  // Sends everything queued, on every port.
  void flush() {
    for (uint16_t i = 0; i < nports_; ++i)
      if (ports_[i].queued) flush_port(ports_[i]);
  }

  const std::string& port_name(uint16_t port) const { return ports_[port].name; }
  int kernel_ifindex(uint16_t port) const { return ports_[port].ifindex; }
  const InlinePortStats& port_stats(uint16_t port) const { return ports_[port].stats; }
  // Frames the kernel dropped because this worker's ring was full.
  uint64_t kernel_drops() const { return kernel_drops_.load(std::memory_order_relaxed); }

 private:
  struct Port {
    std::string name;
    int ifindex = 0;
    int fd = -1;
    InlinePortStats stats;
    int queued = 0;
    mmsghdr msgs[kBatch];
    iovec iov[kBatch][3];
    uint8_t tags[kBatch][4];
  };

  InlineLink() = default;
  void queue(Port& p, const uint8_t* data, uint32_t len, uint32_t vlan_tag);
  void flush_port(Port& p);
  void refresh_stats();

  int rx_fd_ = -1;
  uint8_t* ring_ = nullptr;
  size_t ring_len_ = 0;
  uint32_t frame_size_ = 0;
  uint32_t frames_ = 0;
  uint32_t head_ = 0;     // next frame to look at
  uint32_t pending_ = 0;  // frames handed out and not yet released, ending at head_
  std::unique_ptr<Port[]> ports_;
  uint16_t nports_ = 0;
  uint64_t wait_ns_ = kDefaultWaitNs;
  std::string name_;
  uint64_t polls_ = 0;
  std::atomic<uint64_t> kernel_drops_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace ws
