// Live capture on a veth pair between two network namespaces made for this
// run: frames sent with raw sockets on both ends must arrive at
// AfPacketSource (a two-member fanout group: every flow, both directions,
// on one member) and at PcapLiveSource with their exact lengths and bytes;
// kernel drops from a ring too small for a burst are reported exactly.
// Needs root; skipped otherwise.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/capture/afpacket_source.h"
#include "dataplane/capture/open.h"
#include "dataplane/capture/pcap_live_source.h"

namespace ws {
namespace {

constexpr char kMagic[8] = {'W', 'S', 'C', 'A', 'P', 'T', 'S', 'T'};
constexpr size_t kPayloadAt = 14 + 20 + 8;  // Ethernet, IPv4, UDP
constexpr const char* kCapIf = "wsa0";       // in the capture namespace
constexpr const char* kPeerIf = "wsb0";      // in the peer namespace

bool run(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

// The capture and peer namespaces, unique to this process, removed at the
// end of the suite even when tests fail.
std::string g_cap_ns, g_peer_ns;
bool g_ready = false;
std::string g_skip_reason;

// Runs the calling thread in a namespace for the guard's lifetime; sockets
// created meanwhile stay in that namespace.
class InNetns {
 public:
  explicit InNetns(const std::string& name) {
    self_ = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    const int target = open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    ok_ = self_ >= 0 && target >= 0 && setns(target, CLONE_NEWNET) == 0;
    if (target >= 0) close(target);
  }
  ~InNetns() {
    if (self_ >= 0) {
      if (ok_ && setns(self_, CLONE_NEWNET) != 0) std::abort();  // never run on in the wrong netns
      close(self_);
    }
  }
  bool ok() const { return ok_; }

 private:
  int self_ = -1;
  bool ok_ = false;
};

// A raw sender on one end of the veth.
class RawSender {
 public:
  RawSender(const std::string& ns, const char* ifname) {
    InNetns in(ns);
    if (!in.ok()) return;
    ifindex_ = int(if_nametoindex(ifname));
    fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  }
  ~RawSender() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return fd_ >= 0 && ifindex_ > 0; }
  bool send(const std::vector<uint8_t>& f) {
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = ifindex_;
    sll.sll_protocol = htons(ETH_P_IP);
    sll.sll_halen = 6;
    std::memcpy(sll.sll_addr, f.data(), 6);
    return sendto(fd_, f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&sll), sizeof sll) ==
           ssize_t(f.size());
  }

 private:
  int fd_ = -1;
  int ifindex_ = 0;
};

struct Tag {
  uint16_t flow;
  uint8_t dir;
  uint16_t seq;
  bool operator<(const Tag& o) const {
    return std::tie(flow, dir, seq) < std::tie(o.flow, o.dir, o.seq);
  }
};

size_t frame_len(const Tag& t) { return 60 + (t.flow * 37u + t.dir * 13u + t.seq * 101u) % 1400; }

uint16_t ip_checksum(const uint8_t* p, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < n; i += 2) s += uint32_t(p[i] << 8 | p[i + 1]);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint16_t(~s);
}

// Ethernet/IPv4/UDP between 10.9.0.1:(10000+flow) and 10.9.0.2:(20000+flow);
// dir 1 is the reverse direction. With vlan != 0 an 802.1Q tag follows the
// MAC addresses.
std::vector<uint8_t> make_frame(const Tag& t, uint16_t vlan = 0) {
  const size_t len = frame_len(t);
  std::vector<uint8_t> f(len, 0);
  const uint8_t mac_a[6] = {0x02, 0, 0, 0, 0, 0x0a}, mac_b[6] = {0x02, 0, 0, 0, 0, 0x0b};
  std::memcpy(&f[0], t.dir ? mac_a : mac_b, 6);
  std::memcpy(&f[6], t.dir ? mac_b : mac_a, 6);
  f[12] = 0x08;
  f[13] = 0x00;
  uint8_t* ip = &f[14];
  const size_t ip_len = len - 14;
  ip[0] = 0x45;
  ip[2] = uint8_t(ip_len >> 8);
  ip[3] = uint8_t(ip_len);
  ip[8] = 64;
  ip[9] = 17;
  // One host pair per flow: the fanout program spreads by address pair.
  const uint8_t a[4] = {10, 9, uint8_t(t.flow), 1}, b[4] = {10, 9, uint8_t(t.flow), 2};
  std::memcpy(ip + 12, t.dir ? b : a, 4);
  std::memcpy(ip + 16, t.dir ? a : b, 4);
  const uint16_t ck = ip_checksum(ip, 20);
  ip[10] = uint8_t(ck >> 8);
  ip[11] = uint8_t(ck);
  uint8_t* udp = ip + 20;
  const uint16_t pa = uint16_t(10000 + t.flow), pb = uint16_t(20000 + t.flow);
  const uint16_t sp = t.dir ? pb : pa, dp = t.dir ? pa : pb;
  udp[0] = uint8_t(sp >> 8);
  udp[1] = uint8_t(sp);
  udp[2] = uint8_t(dp >> 8);
  udp[3] = uint8_t(dp);
  udp[4] = uint8_t((ip_len - 20) >> 8);
  udp[5] = uint8_t(ip_len - 20);
  uint8_t* pl = udp + 8;
  std::memcpy(pl, kMagic, 8);
  pl[8] = uint8_t(t.flow >> 8);
  pl[9] = uint8_t(t.flow);
  pl[10] = t.dir;
  pl[11] = uint8_t(t.seq >> 8);
  pl[12] = uint8_t(t.seq);
  for (size_t i = kPayloadAt + 13; i < len; ++i) f[i] = uint8_t(i * 3 + t.seq);
  if (vlan) {
    const uint8_t tag[4] = {0x81, 0x00, uint8_t(vlan >> 8), uint8_t(vlan)};
    f.insert(f.begin() + 12, tag, tag + 4);
  }
  return f;
}

// Our test frame's tag, if `d` is one (Ethernet, maybe one 802.1Q tag,
// IPv4/UDP, magic).
bool parse_tag(const uint8_t* d, uint32_t caplen, Tag* t) {
  if (caplen >= 18 && d[12] == 0x81 && d[13] == 0x00) {
    d += 4;  // look past the tag; the MAC addresses are not needed
    caplen -= 4;
  }
  if (caplen < kPayloadAt + 13 || d[12] != 0x08 || d[13] != 0x00 || d[14 + 9] != 17) return false;
  if (std::memcmp(d + kPayloadAt, kMagic, 8) != 0) return false;
  const uint8_t* pl = d + kPayloadAt;
  t->flow = uint16_t(pl[8] << 8 | pl[9]);
  t->dir = pl[10];
  t->seq = uint16_t(pl[11] << 8 | pl[12]);
  return true;
}

struct Received {
  Tag tag;
  size_t member;
  Packet pkt;
  std::vector<uint8_t> bytes;
};

// Polls every source until `want` test frames arrived or 15 s passed (a
// deadline for a broken capture, not a measurement).
std::vector<Received> collect(std::vector<std::unique_ptr<PacketSource>>& srcs, size_t want) {
  std::vector<Received> got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  Packet buf[32];
  while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
    for (size_t m = 0; m < srcs.size(); ++m) {
      const int n = srcs[m]->rx_burst(buf, 32);
      EXPECT_NE(n, PacketSource::kEof) << srcs[m]->name();
      for (int i = 0; i < n; ++i) {
        Tag t;
        if (parse_tag(buf[i].data, buf[i].caplen, &t))
          got.push_back({t, m, buf[i], std::vector<uint8_t>(buf[i].data, buf[i].data + buf[i].caplen)});
      }
    }
  }
  return got;
}

// Reads until every source is idle, so that the kernel's counters settle.
size_t drain_idle(std::vector<std::unique_ptr<PacketSource>>& srcs) {
  size_t ours = 0;
  Packet buf[32];
  for (auto& s : srcs) {
    int idle = 0;
    while (idle < 2) {
      const int n = s->rx_burst(buf, 32);
      if (n <= 0) {
        ++idle;
        continue;
      }
      Tag t;
      for (int i = 0; i < n; ++i) ours += parse_tag(buf[i].data, buf[i].caplen, &t);
    }
  }
  return ours;
}

// Namespaces left behind by an earlier run that crashed before its
// teardown: their names end in the pid of a process that is gone.
void remove_stale_namespaces() {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/run/netns", ec)) {
    const std::string n = e.path().filename().string();
    for (const char* prefix : {"wscap", "wspeer"}) {
      const size_t len = std::strlen(prefix);
      if (n.compare(0, len, prefix) != 0 || n.size() == len) continue;
      if (n.find_first_not_of("0123456789", len) != std::string::npos) continue;
      const pid_t pid = pid_t(std::stol(n.substr(len)));
      if (kill(pid, 0) != 0 && errno == ESRCH) run("ip netns del " + n);
    }
  }
}

class LiveCapture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) {
      g_skip_reason = "needs root for network namespaces and raw sockets";
      return;
    }
    remove_stale_namespaces();
    const std::string id = std::to_string(getpid());
    g_cap_ns = "wscap" + id;
    g_peer_ns = "wspeer" + id;
    if (!run("ip netns add " + g_cap_ns) || !run("ip netns add " + g_peer_ns)) {
      g_skip_reason = "cannot create network namespaces (ip netns add)";
      return;
    }
    const std::string cap = "ip netns exec " + g_cap_ns + " ";
    const std::string peer = "ip netns exec " + g_peer_ns + " ";
    // No IPv6 on the pair: router/neighbour discovery would add frames the
    // drop counts below must not see.
    const bool ok =
        run(cap + "sysctl -qw net.ipv6.conf.all.disable_ipv6=1") &&
        run(cap + "sysctl -qw net.ipv6.conf.default.disable_ipv6=1") &&
        run(peer + "sysctl -qw net.ipv6.conf.all.disable_ipv6=1") &&
        run(peer + "sysctl -qw net.ipv6.conf.default.disable_ipv6=1") &&
        run("ip -n " + g_cap_ns + " link add name " + kCapIf + " type veth peer name " + kPeerIf +
            " netns " + g_peer_ns) &&
        run("ip -n " + g_cap_ns + " link set " + kCapIf + " up") &&
        // An address and a fixed neighbour, so that a UDP socket can send
        // out of wsa0 without ARP traffic.
        run("ip -n " + g_cap_ns + " addr add 10.9.0.1/24 dev " + kCapIf) &&
        run("ip -n " + g_cap_ns + " neigh add 10.9.0.2 lladdr 02:00:00:00:00:0b dev " + kCapIf) &&
        run("ip -n " + g_peer_ns + " link set " + kPeerIf + " up");
    if (!ok) {
      g_skip_reason = "cannot create a veth pair between namespaces";
      return;
    }
    g_ready = true;
  }

  static void TearDownTestSuite() {
    if (!g_cap_ns.empty()) run("ip netns del " + g_cap_ns);  // takes the veth pair with it
    if (!g_peer_ns.empty()) run("ip netns del " + g_peer_ns);
  }

  void SetUp() override {
    if (!g_ready) GTEST_SKIP() << g_skip_reason;
  }

  std::vector<std::unique_ptr<PacketSource>> open_in_cap_ns(const CaptureOptions& o) {
    InNetns in(g_cap_ns);
    EXPECT_TRUE(in.ok());
    std::string err;
    auto v = open_sources(o, &err);
    EXPECT_FALSE(v.empty()) << err;
    return v;
  }
};

TEST_F(LiveCapture, AfPacketFanoutKeepsBothDirectionsOfAFlowTogether) {
  CaptureOptions o;
  o.iface = kCapIf;
  o.workers = 2;
  o.ring_block_kb = 64;
  o.ring_blocks = 16;
  auto srcs = open_in_cap_ns(o);
  ASSERT_EQ(srcs.size(), 2u);
  RawSender from_peer(g_peer_ns, kPeerIf), from_cap(g_cap_ns, kCapIf);
  ASSERT_TRUE(from_peer.ok() && from_cap.ok());

  constexpr uint16_t kFlows = 64;
  std::map<Tag, std::vector<uint8_t>> sent;
  for (uint16_t f = 0; f < kFlows; ++f) {
    for (uint16_t seq = 0; seq < 2; ++seq) {
      // Received on wsa0 from the peer, and sent out of wsa0 (captured as
      // outgoing, which is on by default).
      const Tag in{f, 0, seq}, out{f, 1, seq};
      sent[in] = make_frame(in);
      sent[out] = make_frame(out);
      ASSERT_TRUE(from_peer.send(sent[in]));
      ASSERT_TRUE(from_cap.send(sent[out]));
    }
  }
  const auto got = collect(srcs, sent.size());
  ASSERT_EQ(got.size(), sent.size());
  std::map<uint16_t, std::set<size_t>> members_of_flow;
  std::set<Tag> seen;
  std::vector<size_t> per_member(2, 0);
  for (const Received& r : got) {
    EXPECT_TRUE(seen.insert(r.tag).second) << "duplicate frame";
    const auto& want = sent.at(r.tag);
    EXPECT_EQ(r.pkt.caplen, want.size());
    EXPECT_EQ(r.pkt.wirelen, want.size());
    EXPECT_EQ(r.bytes, want);
    EXPECT_EQ(r.pkt.link, LinkType::kEthernet);
    EXPECT_EQ(r.pkt.flags & kPktVlanStripped, 0);
    EXPECT_GT(r.pkt.ts_ns, 1600000000ull * 1000000000u);  // wall clock, ns
    members_of_flow[r.tag.flow].insert(r.member);
    ++per_member[r.member];
  }
  for (const auto& [flow, members] : members_of_flow)
    EXPECT_EQ(members.size(), 1u) << "flow " << flow << " reached both members";
  // 64 flows all hashed to one of two members would mean no fanout.
  EXPECT_GT(per_member[0], 0u);
  EXPECT_GT(per_member[1], 0u);
  EXPECT_EQ(srcs[0]->stats().packets + srcs[1]->stats().packets >= sent.size(), true);
}

TEST_F(LiveCapture, AfPacketIgnoreOutgoingAndVlanStripping) {
  CaptureOptions o;
  o.iface = kCapIf;
  o.ignore_outgoing = true;
  o.ring_block_kb = 64;
  o.ring_blocks = 8;
  auto srcs = open_in_cap_ns(o);
  ASSERT_EQ(srcs.size(), 1u);
  RawSender from_peer(g_peer_ns, kPeerIf), from_cap(g_cap_ns, kCapIf);
  ASSERT_TRUE(from_peer.ok() && from_cap.ok());
  // Outgoing first: had they been captured, they would precede the rest.
  for (uint16_t s = 0; s < 10; ++s) ASSERT_TRUE(from_cap.send(make_frame({500, 1, s})));
  std::map<Tag, std::vector<uint8_t>> sent;
  for (uint16_t s = 0; s < 10; ++s) {
    const Tag t{500, 0, s};
    sent[t] = make_frame(t);
    ASSERT_TRUE(from_peer.send(sent[t]));
  }
  // Tagged frames: the kernel moves the 802.1Q tag into metadata.
  const uint16_t tci = (5u << 13) | 100;  // priority 5, VLAN 100
  for (uint16_t s = 10; s < 15; ++s) ASSERT_TRUE(from_peer.send(make_frame({500, 0, s}, tci)));
  const auto got = collect(srcs, 15);
  ASSERT_EQ(got.size(), 15u);
  for (const Received& r : got) {
    EXPECT_EQ(r.tag.dir, 0) << "outgoing frame captured with ignore_outgoing";
    if (r.tag.seq < 10) {
      EXPECT_EQ(r.bytes, sent.at(r.tag));
      EXPECT_EQ(r.pkt.flags & kPktVlanStripped, 0);
    } else {
      EXPECT_NE(r.pkt.flags & kPktVlanStripped, 0);
      EXPECT_EQ(r.pkt.vlan_tci, tci);
      EXPECT_EQ(r.bytes, make_frame(r.tag));  // the frame without its tag
      EXPECT_EQ(r.pkt.wirelen, make_frame(r.tag).size());
    }
  }
  EXPECT_EQ(drain_idle(srcs), 0u);
}

// QinQ with an 802.1ad outer tag: the kernel strips the outer tag (either
// TPID) into metadata and says which TPID it had; the source keeps the
// TCI and marks an 802.1ad tag, so the inline path puts 0x88a8 back. The
// inner 802.1Q tag stays in the frame.
TEST_F(LiveCapture, AfPacketKeepsTheTpidOfAStrippedServiceTag) {
  CaptureOptions o;
  o.iface = kCapIf;
  o.ignore_outgoing = true;
  o.ring_block_kb = 64;
  o.ring_blocks = 8;
  auto srcs = open_in_cap_ns(o);
  ASSERT_EQ(srcs.size(), 1u);
  RawSender from_peer(g_peer_ns, kPeerIf);
  ASSERT_TRUE(from_peer.ok());
  const uint16_t outer = (3u << 13) | 300, inner = 400;
  for (uint16_t s = 0; s < 6; ++s) {
    std::vector<uint8_t> f = make_frame({600, 0, s}, inner);
    if (s % 2 == 0) {  // an 802.1ad service tag outside the 802.1Q one
      const uint8_t stag[4] = {0x88, 0xa8, uint8_t(outer >> 8), uint8_t(outer)};
      f.insert(f.begin() + 12, stag, stag + 4);
    }
    ASSERT_TRUE(from_peer.send(f));
  }
  const auto got = collect(srcs, 6);
  ASSERT_EQ(got.size(), 6u);
  for (const Received& r : got) {
    ASSERT_NE(r.pkt.flags & kPktVlanStripped, 0) << r.tag.seq;
    if (r.tag.seq % 2 == 0) {
      EXPECT_NE(r.pkt.flags & kPktVlanStag, 0) << r.tag.seq;
      EXPECT_EQ(r.pkt.vlan_tci, outer);
      EXPECT_EQ(stripped_vlan_tag(r.pkt), 0x88a80000u | outer);
      EXPECT_EQ(r.bytes, make_frame(r.tag, inner)) << "the frame without its outer tag";
    } else {
      EXPECT_EQ(r.pkt.flags & kPktVlanStag, 0) << r.tag.seq;
      EXPECT_EQ(r.pkt.vlan_tci, inner);
      EXPECT_EQ(stripped_vlan_tag(r.pkt), 0x81000000u | inner);
      EXPECT_EQ(r.bytes, make_frame(r.tag));
    }
  }
  EXPECT_EQ(drain_idle(srcs), 0u);
}

TEST_F(LiveCapture, AfPacketMarksChecksumNotReadyOnLocallySentFrames) {
  CaptureOptions o;
  o.iface = kCapIf;
  o.ring_block_kb = 64;
  o.ring_blocks = 8;
  auto srcs = open_in_cap_ns(o);
  ASSERT_EQ(srcs.size(), 1u);
  RawSender from_peer(g_peer_ns, kPeerIf);
  ASSERT_TRUE(from_peer.ok());
  // A datagram from the host's own UDP stack leaves with the checksum for
  // the (veth) NIC to fill in; a frame built whole by a raw socket on the
  // peer arrives complete.
  int fd;
  {
    InNetns in(g_cap_ns);
    ASSERT_TRUE(in.ok());
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  }
  ASSERT_GE(fd, 0);
  const Tag local{77, 0, 0};
  const std::vector<uint8_t> f = make_frame(local);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(20000 + 77);
  to.sin_addr.s_addr = htonl(0x0a090002);
  ASSERT_EQ(sendto(fd, f.data() + kPayloadAt, f.size() - kPayloadAt, 0,
                   reinterpret_cast<sockaddr*>(&to), sizeof to),
            ssize_t(f.size() - kPayloadAt));
  close(fd);
  ASSERT_TRUE(from_peer.send(make_frame({77, 1, 1})));
  const auto got = collect(srcs, 2);
  ASSERT_EQ(got.size(), 2u);
  for (const Received& r : got) {
    if (r.tag.dir == 0) {
      EXPECT_NE(r.pkt.flags & kPktChecksumNotReady, 0) << "locally sent UDP";
      EXPECT_EQ(r.pkt.wirelen, f.size());
    } else {
      EXPECT_EQ(r.pkt.flags & kPktChecksumNotReady, 0) << "frame from the peer";
    }
  }
}

TEST_F(LiveCapture, AfPacketReportsKernelDropsExactly) {
  CaptureOptions o;
  o.iface = kCapIf;
  o.ring_block_kb = 4;  // two pages: room for a handful of frames
  o.ring_blocks = 2;
  o.bpf = "udp";       // and the filter keeps anything else out of the count
  auto srcs = open_in_cap_ns(o);
  ASSERT_EQ(srcs.size(), 1u);
  RawSender from_peer(g_peer_ns, kPeerIf);
  ASSERT_TRUE(from_peer.ok());
  constexpr uint16_t kSent = 300;
  for (uint16_t s = 0; s < kSent; ++s) ASSERT_TRUE(from_peer.send(make_frame({7, 0, s})));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the backlog reach the ring
  const size_t ours = drain_idle(srcs);
  const SourceStats st = srcs[0]->stats();
  EXPECT_GT(ours, 0u);
  EXPECT_GT(st.kernel_drops, 0u);
  EXPECT_EQ(ours + st.kernel_drops, kSent);
  EXPECT_EQ(st.packets, ours);
}

TEST_F(LiveCapture, PcapLiveReceivesExactFrames) {
  CaptureOptions o;
  o.iface = kCapIf;
  o.method = CaptureOptions::Method::kPcap;
  auto srcs = open_in_cap_ns(o);
  ASSERT_EQ(srcs.size(), 1u);
  EXPECT_TRUE(srcs[0]->live());
  RawSender from_peer(g_peer_ns, kPeerIf);
  ASSERT_TRUE(from_peer.ok());
  std::map<Tag, std::vector<uint8_t>> sent;
  for (uint16_t s = 0; s < 40; ++s) {
    const Tag t{900, 0, s};
    sent[t] = make_frame(t, s % 4 == 0 ? 42 : 0);  // libpcap puts stripped tags back
    ASSERT_TRUE(from_peer.send(sent[t]));
  }
  const auto got = collect(srcs, sent.size());
  ASSERT_EQ(got.size(), sent.size());
  std::set<Tag> seen;
  for (const Received& r : got) {
    EXPECT_TRUE(seen.insert(r.tag).second) << "duplicate frame";
    EXPECT_EQ(r.bytes, sent.at(r.tag));
    EXPECT_EQ(r.pkt.caplen, sent.at(r.tag).size());
    EXPECT_EQ(r.pkt.wirelen, sent.at(r.tag).size());
    EXPECT_EQ(r.pkt.link, LinkType::kEthernet);
    EXPECT_GT(r.pkt.ts_ns, 1600000000ull * 1000000000u);
  }
  EXPECT_EQ(srcs[0]->stats().kernel_drops, 0u);
}

TEST_F(LiveCapture, PcapLiveReportsKernelDropsExactly) {
  CaptureOptions o;
  o.iface = kCapIf;
  o.method = CaptureOptions::Method::kPcap;
  o.bpf = "udp";  // keeps anything else out of the count
  o.pcap_buffer_mb = 1;
  auto srcs = open_in_cap_ns(o);
  ASSERT_EQ(srcs.size(), 1u);
  RawSender from_peer(g_peer_ns, kPeerIf);
  ASSERT_TRUE(from_peer.ok());
  // A burst far larger than the 1 MiB buffer, unread until it is over.
  constexpr size_t kBurst = 4000;
  for (size_t s = 0; s < kBurst; ++s)
    ASSERT_TRUE(from_peer.send(make_frame({901, 0, uint16_t(s)})));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const size_t ours = drain_idle(srcs);
  const SourceStats st = srcs[0]->stats();
  EXPECT_GT(ours, 0u);
  EXPECT_GT(st.kernel_drops, 0u);
  EXPECT_EQ(ours + st.kernel_drops, kBurst);
  EXPECT_EQ(st.packets, ours);
}

}  // namespace
}  // namespace ws
