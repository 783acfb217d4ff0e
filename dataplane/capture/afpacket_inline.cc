#include "dataplane/capture/afpacket_inline.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ws {
namespace {

std::string errno_text(int e) {
  std::string s = std::strerror(e);
  if (e == EPERM || e == EACCES) s += " (needs root or CAP_NET_RAW)";
  return s;
}

// Keeps frames that arrive (not outgoing) on one of the inline interfaces.
std::vector<sock_filter> inline_filter(const std::vector<int>& ifindexes) {
  const auto n = static_cast<uint8_t>(ifindexes.size());
  std::vector<sock_filter> f;
  f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_IFINDEX)));
  for (uint8_t i = 0; i < n; ++i)  // match: jump over the rest of the list and the reject
    f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(ifindexes[i]),
                         static_cast<uint8_t>(n - i), 0));
  f.push_back(BPF_STMT(BPF_RET | BPF_K, 0));
  f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PKTTYPE)));
  f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 0, 1));
  f.push_back(BPF_STMT(BPF_RET | BPF_K, 0));
  f.push_back(BPF_STMT(BPF_RET | BPF_K, 0x40000));
  return f;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  int release() {
    const int f = fd;
    fd = -1;
    return f;
  }
};

}  // namespace

std::unique_ptr<InlineLink> InlineLink::open(const Options& opts, std::string* error) {
  if (opts.pairs.empty()) {
    *error = "inline: no interface pairs";
    return nullptr;
  }
  std::unique_ptr<InlineLink> link(new InlineLink());
  link->name_ = "inline/" + std::to_string(opts.member);
  link->nports_ = static_cast<uint16_t>(opts.pairs.size() * 2);
  link->ports_ = std::make_unique<Port[]>(link->nports_);
  std::vector<int> ifindexes;
  int max_mtu = 1500;
  for (size_t i = 0; i < opts.pairs.size(); ++i) {
    for (int side = 0; side < 2; ++side) {
      const std::string& ifc = side ? opts.pairs[i].b : opts.pairs[i].a;
      Port& p = link->ports_[i * 2 + side];
      p.name = ifc;
      if (ifc.empty() || ifc.size() >= IFNAMSIZ) {
        *error = "inline: \"" + ifc + "\": not a valid interface name";
        return nullptr;
      }
      p.ifindex = static_cast<int>(if_nametoindex(ifc.c_str()));
      if (p.ifindex == 0) {
        *error = "inline: " + ifc + ": no such interface";
        return nullptr;
      }
      Fd fd{socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0)};
      if (fd.fd < 0) {
        *error = "inline: " + ifc + ": AF_PACKET socket: " + errno_text(errno);
        return nullptr;
      }
      ifreq ifr{};
      std::memcpy(ifr.ifr_name, ifc.c_str(), ifc.size());
      if (ioctl(fd.fd, SIOCGIFHWADDR, &ifr) != 0 || ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
        *error = "inline: " + ifc + ": not an Ethernet interface (inline pairs bridge Ethernet frames)";
        return nullptr;
      }
      std::memcpy(ifr.ifr_name, ifc.c_str(), ifc.size());
      if (ioctl(fd.fd, SIOCGIFMTU, &ifr) == 0) max_mtu = std::max(max_mtu, ifr.ifr_mtu);
      // Protocol 0 in bind(): the socket is bound for sending and receives nothing.
      sockaddr_ll sll{};
      sll.sll_family = AF_PACKET;
      sll.sll_protocol = 0;
      sll.sll_ifindex = p.ifindex;
      if (bind(fd.fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
        *error = "inline: " + ifc + ": bind: " + errno_text(errno);
        return nullptr;
      }
      // Straight to the driver: no qdisc between the two sides of a bridge
      // (its queueing would add latency and reorder nothing useful).
      const int one = 1;
      setsockopt(fd.fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
      p.fd = fd.release();
      ifindexes.push_back(p.ifindex);
    }
  }
  for (size_t i = 0; i < ifindexes.size(); ++i)
    for (size_t j = i + 1; j < ifindexes.size(); ++j)
      if (ifindexes[i] == ifindexes[j]) {
        *error = "inline: " + link->ports_[j].name + " is in two pairs (or paired with itself)";
        return nullptr;
      }

  Fd rx{socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0)};
  if (rx.fd < 0) {
    *error = "inline: AF_PACKET socket: " + errno_text(errno);
    return nullptr;
  }
  const int version = TPACKET_V2;
  if (setsockopt(rx.fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0) {
    *error = "inline: TPACKET_V2: " + errno_text(errno);
    return nullptr;
  }
  {
    const int one = 1;  // best effort: the filter drops outgoing frames anyway
    setsockopt(rx.fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  }
  std::vector<sock_filter> code = inline_filter(ifindexes);
  sock_fprog prog{static_cast<unsigned short>(code.size()), code.data()};
  if (setsockopt(rx.fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0) {
    *error = "inline: attaching the interface filter: " + errno_text(errno);
    return nullptr;
  }
  // A ring frame holds the V2 header, the sockaddr_ll, alignment and the
  // largest frame the MTU allows with two VLAN tags; a power of two.
  const uint32_t need = TPACKET_ALIGN(TPACKET2_HDRLEN) + 16 + static_cast<uint32_t>(max_mtu) + 14 + 8;
  uint32_t frame = 2048;
  while (frame < need) frame <<= 1;
  const uint32_t block = std::max<uint32_t>(frame, static_cast<uint32_t>(getpagesize())) * 8;
  const uint32_t per_block = block / frame;
  const uint32_t blocks = std::max<uint32_t>(1, (opts.ring_frames + per_block - 1) / per_block);
  tpacket_req req{};
  req.tp_block_size = block;
  req.tp_block_nr = blocks;
  req.tp_frame_size = frame;
  req.tp_frame_nr = blocks * per_block;
  if (setsockopt(rx.fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0) {
    *error = "inline: setting up the receive ring: " + errno_text(errno);
    return nullptr;
  }
  const size_t ring_len = size_t(block) * blocks;
  void* ring = mmap(nullptr, ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, rx.fd, 0);
  if (ring == MAP_FAILED) ring = mmap(nullptr, ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, rx.fd, 0);
  if (ring == MAP_FAILED) {
    *error = "inline: mapping the receive ring: " + errno_text(errno);
    return nullptr;
  }
  link->ring_ = static_cast<uint8_t*>(ring);
  link->ring_len_ = ring_len;
  link->frame_size_ = frame;
  link->frames_ = req.tp_frame_nr;
  // Bound to no interface: every interface of the namespace, narrowed by
  // the filter.
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = 0;
  if (bind(rx.fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
    *error = "inline: bind: " + errno_text(errno);
    return nullptr;
  }
  for (uint16_t i = 0; i < link->nports_; ++i) {
    // Promiscuous: a bridge forwards frames for any MAC. Undone by the
    // kernel when the socket closes; it survives the link going down.
    packet_mreq mr{};
    mr.mr_ifindex = link->ports_[i].ifindex;
    mr.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(rx.fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0) {
      *error = "inline: " + link->ports_[i].name + ": promiscuous mode: " + errno_text(errno);
      return nullptr;
    }
  }
  if (opts.fanout) {
    const int arg = int(opts.fanout_group) | PACKET_FANOUT_HASH << 16;
    if (setsockopt(rx.fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) != 0) {
      *error = "inline: joining fanout group " + std::to_string(opts.fanout_group) + ": " + errno_text(errno);
      return nullptr;
    }
  }
  link->rx_fd_ = rx.release();
  return link;
}

InlineLink::~InlineLink() {
  if (ring_) munmap(ring_, ring_len_);
  if (rx_fd_ >= 0) close(rx_fd_);
  for (uint16_t i = 0; i < nports_; ++i)
    if (ports_[i].fd >= 0) close(ports_[i].fd);
}

void InlineLink::release() {
  for (; pending_ > 0; --pending_) {
    auto* h = reinterpret_cast<tpacket2_hdr*>(ring_ + size_t((head_ + frames_ - pending_) % frames_) * frame_size_);
    // Release: our reads (and in-place writes) happen before the kernel refills it.
    __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
  }
}

int InlineLink::rx_burst(Packet* out, int max) {
  if (stop_.load(std::memory_order_relaxed)) return kEof;
  release();
  int n = 0;
  for (int attempt = 0; attempt < 2 && n == 0; ++attempt) {
    while (n < max && pending_ < frames_) {
      auto* h = reinterpret_cast<tpacket2_hdr*>(ring_ + size_t(head_) * frame_size_);
      // Acquire: the frame's bytes are visible once its status says so.
      const uint32_t status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
      if (!(status & TP_STATUS_USER)) break;
      head_ = (head_ + 1) % frames_;
      ++pending_;
      const auto* sll = reinterpret_cast<const sockaddr_ll*>(reinterpret_cast<const uint8_t*>(h) +
                                                             TPACKET_ALIGN(sizeof(tpacket2_hdr)));
      if (sll->sll_pkttype == PACKET_OUTGOING) continue;  // the filter's job; kept for safety
      uint16_t port = 0;
      while (port < nports_ && ports_[port].ifindex != sll->sll_ifindex) ++port;
      if (port == nports_) continue;
      Port& in = ports_[port];
      in.stats.rx_packets.inc();
      in.stats.rx_bytes.inc(h->tp_len);
      if (h->tp_snaplen < h->tp_len) {
        in.stats.rx_truncated.inc();
        continue;
      }
      Packet& p = out[n++];
      p = Packet{};
      p.data = reinterpret_cast<const uint8_t*>(h) + h->tp_mac;
      p.caplen = h->tp_snaplen;
      p.wirelen = h->tp_len;
      p.ts_ns = uint64_t(h->tp_sec) * 1000000000u + h->tp_nsec;
      p.ifindex = port;
      p.link = LinkType::kEthernet;
      if (status & TP_STATUS_CSUMNOTREADY) p.flags |= kPktChecksumNotReady;
      if (status & TP_STATUS_VLAN_VALID) {
        // The kernel strips an outer 802.1ad tag as well as an 802.1Q one;
        // its TPID is what the frame gets back when it leaves.
        p.flags |= kPktVlanStripped;
        p.vlan_tci = h->tp_vlan_tci;
        if ((status & TP_STATUS_VLAN_TPID_VALID) && h->tp_vlan_tpid == ETH_P_8021AD) p.flags |= kPktVlanStag;
      }
    }
    if (n || attempt) break;
    pollfd pfd{rx_fd_, POLLIN, 0};
    const timespec wait{static_cast<time_t>(wait_ns_ / 1'000'000'000u), static_cast<long>(wait_ns_ % 1'000'000'000u)};
    ppoll(&pfd, 1, &wait, nullptr);
    if (stop_.load(std::memory_order_relaxed)) return kEof;
  }
  if (n == 0 || (++polls_ & 1023) == 0) refresh_stats();
  return n;
}

SourceStats InlineLink::stats() const {
  SourceStats s;
  for (uint16_t i = 0; i < nports_; ++i) {
    s.packets += ports_[i].stats.rx_packets.get();
    s.bytes += ports_[i].stats.rx_bytes.get();
  }
  s.kernel_drops = kernel_drops();
  return s;
}

std::vector<PortCounter> InlineLink::port_counters() const {
  std::vector<PortCounter> out;
  for (uint16_t i = 0; i < nports_; ++i) {
    const InlinePortStats& st = ports_[i].stats;
#define WS_X(c, help) out.push_back({"inline", ports_[i].name, #c, st.c.get()});
    WS_INLINE_PORT_COUNTERS(WS_X)
#undef WS_X
  }
  return out;
}

void InlineLink::refresh_stats() {
  tpacket_stats st{};
  socklen_t len = sizeof st;
  if (getsockopt(rx_fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) != 0) return;
  // The kernel zeroes its counters on every read.
  kernel_drops_.store(kernel_drops_.load(std::memory_order_relaxed) + st.tp_drops, std::memory_order_relaxed);
}

void InlineLink::queue(Port& p, const uint8_t* data, uint32_t len, uint32_t vlan_tag) {
  const int i = p.queued++;
  mmsghdr& m = p.msgs[i];
  std::memset(&m, 0, sizeof m);
  m.msg_hdr.msg_iov = p.iov[i];
  if (vlan_tag == kNoVlan || len < 14) {
    p.iov[i][0] = {const_cast<uint8_t*>(data), len};
    m.msg_hdr.msg_iovlen = 1;
    return;
  }
  // MACs, the tag (its own TPID), then the rest of the frame from its
  // ethertype on.
  uint8_t* t = p.tags[i];
  put_vlan_tag(t, vlan_tag);
  p.iov[i][0] = {const_cast<uint8_t*>(data), 12};
  p.iov[i][1] = {t, 4};
  p.iov[i][2] = {const_cast<uint8_t*>(data + 12), len - 12};
  m.msg_hdr.msg_iovlen = 3;
}

void InlineLink::flush_port(Port& p) {
  int i = 0;
  const int n = p.queued;
  p.queued = 0;
  while (i < n) {
    const int r = sendmmsg(p.fd, p.msgs + i, static_cast<unsigned>(n - i), MSG_DONTWAIT);
    if (r > 0) {
      for (int k = i; k < i + r; ++k) {
        uint64_t len = 0;
        for (size_t v = 0; v < p.msgs[k].msg_hdr.msg_iovlen; ++v) len += p.iov[k][v].iov_len;
        p.stats.tx_bytes.inc(len);
      }
      p.stats.tx_packets.inc(static_cast<uint64_t>(r));
      i += r;
      continue;
    }
    // The frame at i failed; count why and go on with the next one.
    switch (errno) {
      case EAGAIN:
      case ENOBUFS:
        p.stats.tx_busy.inc();
        break;
      case ENETDOWN:
      case ENXIO:
        // The whole batch would fail the same way.
        p.stats.tx_link_down.inc(static_cast<uint64_t>(n - i));
        return;
      case EMSGSIZE:
        p.stats.tx_oversize.inc();
        break;
      case EINTR:
        continue;
      default:
        p.stats.tx_errors.inc();
        break;
    }
    ++i;
  }
}

}  // namespace ws
