#include "dataplane/capture/afpacket_source.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ws {
namespace {

// The fanout program: picks the member for a frame from the sum of its IP
// source and destination address words, mixed by a multiplication. The sum
// is symmetric, so both directions of a flow reach one worker, and it
// ignores ports, so the
// fragments of a datagram (which carry no ports after the first) reach the
// same worker as the rest of their flow without the kernel reassembling
// them: each fragment is counted as captured, as with -r. Frames that are
// not IPv4/IPv6 go to member 0. The kernel takes the result modulo the
// members.
sock_fprog fanout_program() {
  // Offsets are from the network header (SKF_NET_OFF) and the ethertype is
  // skb->protocol: at the fanout hook an arriving frame's data starts at
  // the IP header but a departing one's at the MAC header.
  constexpr uint32_t kNet = static_cast<uint32_t>(SKF_NET_OFF);
  static sock_filter code[] = {
      /* 0 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PROTOCOL)),
      /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 5),
      /* 2 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNet + 12),
      /* 3 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
      /* 4 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNet + 16),
      /* 5 */ BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
      /* 6 */ BPF_JUMP(BPF_JMP | BPF_JA, 24, 0, 0),  // to 31: mix
      /* 7 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 0, 26),  // else to 34: member 0
      /* 8 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNet + 8),
      /* 9 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
      /*10 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNet + 12),
      /*11 */ BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
      /*12 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
      /*13 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNet + 16),
      /*14 */ BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
      /*15 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
      /*16 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNet + 20),
      /*17 */ BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
      /*18 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
      /*19 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNet + 24),
      /*20 */ BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
      /*21 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
      /*22 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNet + 28),
      /*23 */ BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
      /*24 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
      /*25 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNet + 32),
      /*26 */ BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
      /*27 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
      /*28 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNet + 36),
      /*29 */ BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
      /*30 */ BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 0),  // no-op: IPv6 falls through into the mix
      /*31 */ BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 0x9e3779b1u),  // mix: Fibonacci hashing,
      /*32 */ BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16),            //   keep the well-mixed bits
      /*33 */ BPF_STMT(BPF_RET | BPF_A, 0),
      /*34 */ BPF_STMT(BPF_RET | BPF_K, 0),
  };
  return sock_fprog{static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
}

constexpr uint64_t kStatsIntervalNs = 1000000000;
// Only used by the kernel to count frame slots in a V3 block; any aligned
// size that divides the block works.
constexpr uint32_t kFrameSize = 2048;

uint64_t coarse_now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

std::string errno_text(int e) {
  std::string s = std::strerror(e);
  if (e == EPERM || e == EACCES) s += " (needs root or CAP_NET_RAW)";
  return s;
}

// Compiles a tcpdump expression for a link type and attaches it, so that
// unwanted frames never reach the ring.
bool attach_filter(int fd, const std::string& expr, int dlt, int snaplen, std::string* error) {
  pcap_t* dead = pcap_open_dead(dlt, snaplen);
  if (!dead) {
    *error = "filter: libpcap could not set up a compiler";
    return false;
  }
  bpf_program prog;
  if (pcap_compile(dead, &prog, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    *error = "filter \"" + expr + "\": " + pcap_geterr(dead);
    pcap_close(dead);
    return false;
  }
  // struct bpf_insn and struct sock_filter have the same layout.
  sock_fprog fprog{};
  fprog.len = static_cast<unsigned short>(prog.bf_len);
  fprog.filter = reinterpret_cast<sock_filter*>(prog.bf_insns);
  const int rc = setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog);
  const int e = errno;
  pcap_freecode(&prog);
  pcap_close(dead);
  if (rc != 0) {
    *error = "attaching filter: " + errno_text(e);
    return false;
  }
  return true;
}

}  // namespace

std::unique_ptr<AfPacketSource> AfPacketSource::open(const Options& opts, std::string* error) {
  const std::string& ifc = opts.iface;
  auto fail_errno = [&](const char* what) {
    *error = ifc + ": " + what + ": " + errno_text(errno);
    return nullptr;
  };
  if (opts.block_kb <= 0 || opts.blocks <= 0 || (opts.block_kb * 1024) % getpagesize() != 0) {
    *error = ifc + ": ring block size " + std::to_string(opts.block_kb) +
             " KiB must be a positive multiple of the page size, with at least one block";
    return nullptr;
  }
  if (ifc.empty() || ifc.size() >= IFNAMSIZ) {
    *error = "\"" + ifc + "\": not a valid interface name";
    return nullptr;
  }
  const unsigned ifindex = if_nametoindex(ifc.c_str());
  if (ifindex == 0) {
    *error = ifc + ": no such interface";
    return nullptr;
  }
  // Protocol 0: the socket receives nothing until bind(), so no frame
  // lands outside the ring or the fanout group while it is set up.
  const int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail_errno("AF_PACKET socket");
  struct Closer {
    int fd;
    ~Closer() { if (fd >= 0) close(fd); }
  } closer{fd};

  ifreq ifr{};
  std::memcpy(ifr.ifr_name, ifc.c_str(), ifc.size());
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) return fail_errno("reading hardware type");
  LinkType link;
  int dlt;
  switch (ifr.ifr_hwaddr.sa_family) {
    case ARPHRD_ETHER:
    case ARPHRD_LOOPBACK:  // Linux gives loopback frames a zeroed Ethernet header
      link = LinkType::kEthernet;
      dlt = DLT_EN10MB;
      break;
    case ARPHRD_NONE:  // tun, WireGuard: bare IP packets
      link = LinkType::kRaw;
      dlt = DLT_RAW;
      break;
    default:
      *error = ifc + ": hardware type " + std::to_string(ifr.ifr_hwaddr.sa_family) +
               " is not supported by AF_PACKET capture; use --capture pcap";
      return nullptr;
  }

  const int version = TPACKET_V3;
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0)
    return fail_errno("TPACKET_V3");
  // PACKET_IGNORE_OUTGOING (4.20) applies to the socket's own hook only; a
  // fanout group delivers through the group's hook, which honours it only
  // on recent kernels. So with fanout, or without the option, outgoing
  // frames are dropped per frame here as well.
  bool drop_outgoing = false;
  if (opts.ignore_outgoing) {
    const int one = 1;
    drop_outgoing = opts.fanout ||
                    setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0;
  }
  // On loopback every frame is seen twice, leaving and arriving; keep the
  // arriving copy only, as libpcap does.
  if (ifr.ifr_hwaddr.sa_family == ARPHRD_LOOPBACK) drop_outgoing = true;
  if (!opts.bpf.empty()) {
    std::string ferr;
    if (!attach_filter(fd, opts.bpf, dlt, opts.snaplen, &ferr)) {
      *error = ifc + ": " + ferr;
      return nullptr;
    }
  }

  const uint32_t block_size = uint32_t(opts.block_kb) * 1024;
  const uint32_t blocks = uint32_t(opts.blocks);
  tpacket_req3 req{};
  req.tp_block_size = block_size;
  req.tp_block_nr = blocks;
  req.tp_frame_size = kFrameSize;
  req.tp_frame_nr = (block_size / kFrameSize) * blocks;
  req.tp_retire_blk_tov = kBlockTimeoutMs;
  if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0)
    return fail_errno("setting up the receive ring (try fewer or smaller blocks)");
  const size_t ring_len = size_t(block_size) * blocks;
  // Locked pages cannot be swapped out under the kernel's writes; fall back
  // when RLIMIT_MEMLOCK does not allow it.
  void* ring = mmap(nullptr, ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, fd, 0);
  if (ring == MAP_FAILED) ring = mmap(nullptr, ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (ring == MAP_FAILED) return fail_errno("mapping the receive ring");

  auto unmap_fail = [&](const char* what) {
    const int e = errno;
    munmap(ring, ring_len);
    errno = e;
    return fail_errno(what);
  };
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = int(ifindex);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) return unmap_fail("bind");
  if (opts.promisc) {
    packet_mreq mr{};
    mr.mr_ifindex = int(ifindex);
    mr.mr_type = PACKET_MR_PROMISC;  // undone by the kernel when the socket closes
    if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0)
      return unmap_fail("promiscuous mode");
  }
  if (opts.fanout) {
    const int arg = int(opts.fanout_group) | PACKET_FANOUT_CBPF << 16;
    sock_fprog prog = fanout_program();
    if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) != 0 ||
        setsockopt(fd, SOL_PACKET, PACKET_FANOUT_DATA, &prog, sizeof prog) != 0) {
      const int e = errno;
      munmap(ring, ring_len);
      *error = ifc + ": joining fanout group " + std::to_string(opts.fanout_group) + ": " +
               errno_text(e);
      if (e == EINVAL || e == EALREADY || e == EEXIST)
        *error += " (the group is in use with other settings or on another interface; choose another fanout group)";
      return nullptr;
    }
  }
  closer.fd = -1;
  return std::unique_ptr<AfPacketSource>(new AfPacketSource(
      fd, static_cast<uint8_t*>(ring), block_size, blocks,
      "afpacket:" + ifc + "/" + std::to_string(opts.member), uint32_t(std::max(opts.snaplen, 1)),
      link, drop_outgoing));
}

AfPacketSource::AfPacketSource(int fd, uint8_t* ring, uint32_t block_size, uint32_t blocks,
                               std::string name, uint32_t snaplen, LinkType link,
                               bool drop_outgoing)
    : fd_(fd),
      ring_(ring),
      block_size_(block_size),
      blocks_(blocks),
      name_(std::move(name)),
      snaplen_(snaplen),
      link_(link),
      drop_outgoing_(drop_outgoing) {}

AfPacketSource::~AfPacketSource() {
  munmap(ring_, size_t(block_size_) * blocks_);
  close(fd_);
}

void AfPacketSource::release_done() {
  for (uint32_t i = done_; i > 0; --i) {
    auto* bd = reinterpret_cast<tpacket_block_desc*>(
        ring_ + size_t((cur_ + blocks_ - i) % blocks_) * block_size_);
    // Release: our reads of the block happen before the kernel may refill it.
    __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
  }
  done_ = 0;
}

int AfPacketSource::fill(Packet* out, int max) {
  int n = 0;
  uint64_t bytes = 0;
  while (n < max) {
    if (!cur_open_) {
      auto* bd = reinterpret_cast<tpacket_block_desc*>(ring_ + size_t(cur_) * block_size_);
      // Acquire: the frames are visible once the status says so.
      if ((__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0) break;
      cur_open_ = true;
      left_ = bd->hdr.bh1.num_pkts;
      next_ = reinterpret_cast<const uint8_t*>(bd) + bd->hdr.bh1.offset_to_first_pkt;
    }
    while (left_ > 0 && n < max) {
      const auto* h = reinterpret_cast<const tpacket3_hdr*>(next_);
      next_ += h->tp_next_offset;
      --left_;
      if (drop_outgoing_) {
        const auto* sll = reinterpret_cast<const sockaddr_ll*>(
            reinterpret_cast<const uint8_t*>(h) + TPACKET_ALIGN(sizeof(tpacket3_hdr)));
        if (sll->sll_pkttype == PACKET_OUTGOING) continue;
      }
      Packet& p = out[n++];
      p = Packet{};
      p.data = reinterpret_cast<const uint8_t*>(h) + h->tp_mac;
      p.caplen = std::min(h->tp_snaplen, snaplen_);
      p.wirelen = std::max(h->tp_len, p.caplen);
      p.ts_ns = uint64_t(h->tp_sec) * 1000000000u + h->tp_nsec;
      p.link = link_;
      // The host's own frames leave with the checksum still to be filled
      // in by the NIC; the decoder must not call them corrupt.
      if (h->tp_status & TP_STATUS_CSUMNOTREADY) p.flags |= kPktChecksumNotReady;
      if (h->tp_status & TP_STATUS_VLAN_VALID) {
        // The outer tag, 802.1Q or 802.1ad (the kernel strips either); its
        // id is the flow's VLAN whichever TPID it had.
        p.flags |= kPktVlanStripped;
        p.vlan_tci = uint16_t(h->hv1.tp_vlan_tci);
        if ((h->tp_status & TP_STATUS_VLAN_TPID_VALID) && h->hv1.tp_vlan_tpid == ETH_P_8021AD)
          p.flags |= kPktVlanStag;
      }
      bytes += p.wirelen;
    }
    if (left_ == 0) {
      cur_open_ = false;
      cur_ = (cur_ + 1) % blocks_;
      // Every block is handed out and none released yet: the next one is
      // ours already, wait for the next call to give them back.
      if (++done_ == blocks_) break;
    }
  }
  packets_.store(packets_.load(std::memory_order_relaxed) + uint64_t(n), std::memory_order_relaxed);
  bytes_.store(bytes_.load(std::memory_order_relaxed) + bytes, std::memory_order_relaxed);
  return n;
}

void AfPacketSource::refresh_stats(uint64_t now_ns) {
  next_stats_ns_ = now_ns + kStatsIntervalNs;
  tpacket_stats_v3 st{};
  socklen_t len = sizeof st;
  if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) != 0) return;
  // The kernel zeroes its counters on every read, so sum them here.
  kernel_drops_.store(kernel_drops_.load(std::memory_order_relaxed) + st.tp_drops,
                      std::memory_order_relaxed);
}

int AfPacketSource::rx_burst(Packet* out, int max) {
  if (stop_.load(std::memory_order_relaxed)) {
    release_done();
    refresh_stats(coarse_now_ns());
    return kEof;
  }
  release_done();
  int n = fill(out, max);
  if (n == 0) {
    pollfd pfd{fd_, POLLIN | POLLERR, 0};
    if (poll(&pfd, 1, kPollMs) > 0 && (pfd.revents & POLLERR)) {
      // E.g. ENETDOWN when the interface goes down; reading clears it, and
      // capture resumes by itself when the interface comes back.
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
        std::lock_guard<std::mutex> lock(error_mu_);
        error_ = name_ + ": " + std::strerror(err);
      }
    }
    if (stop_.load(std::memory_order_relaxed)) return kEof;
    n = fill(out, max);
  }
  const uint64_t now = coarse_now_ns();
  if (n == 0 || now >= next_stats_ns_) refresh_stats(now);
  return n;
}

std::string AfPacketSource::error() const {
  std::lock_guard<std::mutex> lock(error_mu_);
  return error_;
}

SourceStats AfPacketSource::stats() const {
  SourceStats s;
  s.packets = packets_.load(std::memory_order_relaxed);
  s.bytes = bytes_.load(std::memory_order_relaxed);
  s.kernel_drops = kernel_drops_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace ws
