// make_golden: writes the golden capture of every case in tests/golden/
// (one classic pcap each, microsecond timestamps) into a directory.
//
// Each case is a short scripted exchange built with the packet builder, so
// the packets, sizes and times in tests/golden/README.md can be checked
// against the code that made them. Deterministic: no clock, no randomness
// beyond the builder's seeded payload pattern; running it twice writes the
// same bytes, and the `golden_pcaps_current` test holds the checked-in files
// to that.
//
//   make_golden OUTDIR            write every case
//   make_golden OUTDIR CASE...    write only the named cases
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "bench/pktgen/builder.h"

namespace {

using ws::pktgen::Builder;
using ws::pktgen::Bytes;
using ws::pktgen::TcpOpts;

// 2023-11-14T22:13:20Z: every case starts here.
constexpr uint64_t kBase = 1700000000ull * 1000000000ull;
constexpr uint64_t kMs = 1000000ull;
constexpr uint64_t kSec = 1000000000ull;

ws::pktgen::Ipv4Opts ip_id(uint16_t id) {
  ws::pktgen::Ipv4Opts o;
  o.id = id;
  return o;
}

// A capture being written, with a clear error on the first failure.
class Capture {
 public:
  Capture(const std::string& path, uint32_t linktype = 1) : path_(path) {
    if (!w_.open(path, linktype)) fail(w_.error());
  }
  void put(uint64_t ts, const Bytes& frame, uint32_t orig_len = 0) {
    if (!w_.write(ts, frame, orig_len)) fail(w_.error());
  }
  ~Capture() {
    if (!w_.close()) fail(w_.error());
  }

 private:
  [[noreturn]] void fail(const std::string& why) {
    std::fprintf(stderr, "make_golden: %s: %s\n", path_.c_str(), why.c_str());
    std::exit(1);
  }
  std::string path_;
  ws::pktgen::PcapWriter w_;
};

// One TCP conversation over IPv4 or IPv6 with sequence numbers kept right,
// so that a stateful reader (Suricata, tshark) sees a valid stream.
class TcpTalk {
 public:
  TcpTalk(bool v6, std::string c, std::string s, uint16_t cport, uint16_t sport)
      : v6_(v6), c_(std::move(c)), s_(std::move(s)), cport_(cport), sport_(sport) {}

  // A segment from the client (to_server) or the server with these flags
  // and payload_len bytes of seeded payload.
  Bytes seg(bool from_client, uint8_t flags, size_t payload_len = 0) {
    uint32_t& my_seq = from_client ? cseq_ : sseq_;
    const uint32_t peer_next = from_client ? sseq_ : cseq_;
    TcpOpts o;
    o.seq = my_seq;
    o.ack = (flags & ws::pktgen::TCP_ACK) ? peer_next : 0;
    o.window = 64240;
    Builder b;
    b.eth(from_client ? Builder::kSrcMac : Builder::kDstMac,
          from_client ? Builder::kDstMac : Builder::kSrcMac);
    const std::string& src = from_client ? c_ : s_;
    const std::string& dst = from_client ? s_ : c_;
    if (v6_)
      b.ipv6(src, dst);
    else
      b.ipv4(src, dst, ip_id(++ipid_));
    b.tcp(from_client ? cport_ : sport_, from_client ? sport_ : cport_, flags, o);
    if (payload_len) b.payload_pattern(payload_len, ++pattern_);
    my_seq += static_cast<uint32_t>(payload_len);
    if (flags & (ws::pktgen::TCP_SYN | ws::pktgen::TCP_FIN)) my_seq += 1;
    return b.build();
  }
  void set_seqs(uint32_t c, uint32_t s) {
    cseq_ = c;
    sseq_ = s;
  }

 private:
  bool v6_;
  std::string c_, s_;
  uint16_t cport_, sport_;
  uint32_t cseq_ = 1000, sseq_ = 5000;
  uint16_t ipid_ = 0;
  uint64_t pattern_ = 0;
};

constexpr uint8_t SYN = ws::pktgen::TCP_SYN, ACK = ws::pktgen::TCP_ACK, FIN = ws::pktgen::TCP_FIN,
                  RST = ws::pktgen::TCP_RST, PSH = ws::pktgen::TCP_PSH;

// Handshake, 100 bytes up, 300 bytes down, client-initiated FIN close.
void full_session(Capture& cap, TcpTalk& t, uint64_t t0) {
  cap.put(t0 + 0 * kMs, t.seg(true, SYN));
  cap.put(t0 + 1 * kMs, t.seg(false, SYN | ACK));
  cap.put(t0 + 2 * kMs, t.seg(true, ACK));
  cap.put(t0 + 3 * kMs, t.seg(true, PSH | ACK, 100));
  cap.put(t0 + 10 * kMs, t.seg(false, ACK));
  cap.put(t0 + 11 * kMs, t.seg(false, PSH | ACK, 300));
  cap.put(t0 + 12 * kMs, t.seg(true, ACK));
  cap.put(t0 + 20 * kMs, t.seg(true, FIN | ACK));
  cap.put(t0 + 21 * kMs, t.seg(false, FIN | ACK));
  cap.put(t0 + 22 * kMs, t.seg(true, ACK));
}

void tcp_v4_session(const std::string& path) {
  Capture cap(path);
  TcpTalk t(false, "10.0.0.1", "10.0.0.2", 40000, 80);
  full_session(cap, t, kBase);
}

void tcp_v6_session(const std::string& path) {
  Capture cap(path);
  TcpTalk t(true, "2001:db8::1", "2001:db8::2", 40000, 80);
  full_session(cap, t, kBase);
}

// Picked up mid-stream: no handshake; the first packet seen (client data)
// names the client.
void tcp_midstream(const std::string& path) {
  Capture cap(path);
  TcpTalk t(false, "10.0.0.3", "10.0.0.4", 50000, 443);
  t.set_seqs(700000, 900000);
  cap.put(kBase + 0 * kMs, t.seg(true, PSH | ACK, 200));
  cap.put(kBase + 5 * kMs, t.seg(false, ACK));
  cap.put(kBase + 6 * kMs, t.seg(false, PSH | ACK, 500));
  cap.put(kBase + 7 * kMs, t.seg(true, ACK));
}

// A refused connection: SYN answered by RST/ACK.
void tcp_rst(const std::string& path) {
  Capture cap(path);
  TcpTalk t(false, "10.0.0.5", "10.0.0.6", 40001, 23);
  cap.put(kBase, t.seg(true, SYN));
  cap.put(kBase + 1 * kMs, t.seg(false, RST | ACK));
}

// DNS A query and its answer for example.com.
void dns_udp(const std::string& path) {
  Capture cap(path);
  // Header: id 0x1a2b, RD; one question example.com A IN.
  const uint8_t query[] = {0x1a, 0x2b, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
                           0x00, 0x00, 7,    'e',  'x',  'a',  'm',  'p',  'l',  'e',
                           3,    'c',  'o',  'm',  0,    0x00, 0x01, 0x00, 0x01};
  // Response: QR RD RA, one answer: pointer to the name, A IN TTL 300, 93.184.216.34.
  const uint8_t answer[] = {0x1a, 0x2b, 0x81, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
                            7,    'e',  'x',  'a',  'm',  'p',  'l',  'e',  3,    'c',  'o',  'm',
                            0,    0x00, 0x01, 0x00, 0x01, 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00,
                            0x00, 0x01, 0x2c, 0x00, 0x04, 93,   184,  216,  34};
  static_assert(sizeof query == 29 && sizeof answer == 45);
  cap.put(kBase, Builder().eth().ipv4("192.168.1.10", "192.168.1.1").udp(53000, 53).payload(query).build());
  cap.put(kBase + 8 * kMs, Builder()
                               .eth(Builder::kDstMac, Builder::kSrcMac)
                               .ipv4("192.168.1.1", "192.168.1.10")
                               .udp(53, 53000)
                               .payload(answer)
                               .build());
}

// Echo request/reply, and a port unreachable about a datagram that is not
// in the capture (so it has no flow of its own to join).
void icmp(const std::string& path) {
  Capture cap(path);
  cap.put(
      kBase,
      Builder().eth().ipv4("10.0.0.7", "10.0.0.8").icmp_echo(true, 0x1234, 1).payload_fill(56, 0x61).build());
  cap.put(kBase + 2 * kMs, Builder()
                               .eth(Builder::kDstMac, Builder::kSrcMac)
                               .ipv4("10.0.0.8", "10.0.0.7")
                               .icmp_echo(false, 0x1234, 1)
                               .payload_fill(56, 0x61)
                               .build());
  // The quoted datagram: IPv4 header + the first 8 bytes (the UDP header).
  Bytes quoted = Builder().raw().ipv4("10.0.0.7", "10.0.0.9").udp(5000, 6000).payload_fill(32, 0).build();
  quoted.resize(28);
  cap.put(kBase + 100 * kMs, Builder().eth().ipv4("10.0.0.9", "10.0.0.7").icmp(3, 3).payload(quoted).build());
}

// QinQ (802.1ad 100 over 802.1Q 200) UDP both ways, and UDP inside a
// two-label MPLS stack both ways.
void qinq_mpls(const std::string& path) {
  Capture cap(path);
  cap.put(kBase, Builder()
                     .eth()
                     .qinq(100, 200)
                     .ipv4("10.1.0.1", "10.1.0.2")
                     .udp(1000, 2000)
                     .payload_fill(20, 1)
                     .build());
  cap.put(kBase + 1 * kMs, Builder()
                               .eth(Builder::kDstMac, Builder::kSrcMac)
                               .qinq(100, 200)
                               .ipv4("10.1.0.2", "10.1.0.1")
                               .udp(2000, 1000)
                               .payload_fill(40, 2)
                               .build());
  cap.put(kBase + 2 * kMs, Builder()
                               .eth()
                               .mpls(16)
                               .mpls(17)
                               .ipv4("10.2.0.1", "10.2.0.2")
                               .udp(33000, 34000)
                               .payload_fill(20, 3)
                               .build());
  cap.put(kBase + 3 * kMs, Builder()
                               .eth(Builder::kDstMac, Builder::kSrcMac)
                               .mpls(18)
                               .mpls(19)
                               .ipv4("10.2.0.2", "10.2.0.1")
                               .udp(34000, 33000)
                               .payload_fill(40, 4)
                               .build());
}

// A 3000-byte UDP datagram in three IPv4 fragments, then a small reply;
// the same over IPv6 with fragment headers.
void frag_udp(const std::string& path) {
  Capture cap(path);
  Bytes big4 = Builder()
                   .eth()
                   .ipv4("10.3.0.1", "10.3.0.2", ip_id(0x4242))
                   .udp(7000, 7001)
                   .payload_pattern(3000, 7)
                   .build();
  uint64_t t = kBase;
  for (const Bytes& f : ws::pktgen::fragment(big4, 14, 1480, 0)) cap.put(t += kMs, f);
  cap.put(t += kMs, Builder()
                        .eth(Builder::kDstMac, Builder::kSrcMac)
                        .ipv4("10.3.0.2", "10.3.0.1")
                        .udp(7001, 7000)
                        .payload_fill(10, 5)
                        .build());
  Bytes big6 =
      Builder().eth().ipv6("2001:db8:3::1", "2001:db8:3::2").udp(7000, 7001).payload_pattern(3000, 8).build();
  for (const Bytes& f : ws::pktgen::fragment(big6, 14, 1448, 0xabcd)) cap.put(t += kMs, f);
  cap.put(t += kMs, Builder()
                        .eth(Builder::kDstMac, Builder::kSrcMac)
                        .ipv6("2001:db8:3::2", "2001:db8:3::1")
                        .udp(7001, 7000)
                        .payload_fill(10, 6)
                        .build());
}

// A UDP exchange every 10 s for 150 s: with --active-timeout 60 it is
// reported in three slices of [0,60), [60,120), [120,150.5] s.
void active_timeout(const std::string& path) {
  Capture cap(path);
  for (int i = 0; i <= 15; ++i) {
    const uint64_t t = kBase + uint64_t(i) * 10 * kSec;
    cap.put(
        t, Builder().eth().ipv4("10.4.0.1", "10.4.0.2").udp(9000, 9001).payload_fill(20, uint8_t(i)).build());
    cap.put(t + 500 * kMs, Builder()
                               .eth(Builder::kDstMac, Builder::kSrcMac)
                               .ipv4("10.4.0.2", "10.4.0.1")
                               .udp(9001, 9000)
                               .payload_fill(20, uint8_t(i))
                               .build());
  }
}

// A UDP request/reply, a 400 s silence (longer than the 300 s established
// timeout) and another exchange on the same 5-tuple: two flows. Plus a
// one-way datagram that ends on the 30 s new-flow timeout.
void idle_gap(const std::string& path) {
  Capture cap(path);
  auto up = [] {
    return Builder().eth().ipv4("10.5.0.1", "10.5.0.2").udp(6000, 6001).payload_fill(30, 1).build();
  };
  auto down = [] {
    return Builder()
        .eth(Builder::kDstMac, Builder::kSrcMac)
        .ipv4("10.5.0.2", "10.5.0.1")
        .udp(6001, 6000)
        .payload_fill(50, 2)
        .build();
  };
  cap.put(kBase, up());
  cap.put(kBase + 100 * kMs, down());
  cap.put(kBase + 1 * kSec,
          Builder().eth().ipv4("10.5.0.3", "10.5.0.4").udp(7000, 7001).payload_fill(10, 3).build());
  cap.put(kBase + 400 * kSec, up());
  cap.put(kBase + 400 * kSec + 100 * kMs, down());
}

// A connection reset by its client, then a new SYN on the same 5-tuple
// 4 s later and a full close.
void syn_after_rst(const std::string& path) {
  Capture cap(path);
  TcpTalk t(false, "10.6.0.1", "10.6.0.2", 41000, 8080);
  cap.put(kBase, t.seg(true, SYN));
  cap.put(kBase + 1 * kMs, t.seg(false, SYN | ACK));
  cap.put(kBase + 2 * kMs, t.seg(true, ACK));
  cap.put(kBase + 1 * kSec, t.seg(true, RST | ACK));
  TcpTalk u(false, "10.6.0.1", "10.6.0.2", 41000, 8080);
  u.set_seqs(90000, 70000);
  const uint64_t t1 = kBase + 5 * kSec;
  cap.put(t1, u.seg(true, SYN));
  cap.put(t1 + 1 * kMs, u.seg(false, SYN | ACK));
  cap.put(t1 + 2 * kMs, u.seg(true, ACK));
  cap.put(t1 + 3 * kMs, u.seg(true, FIN | ACK));
  cap.put(t1 + 4 * kMs, u.seg(false, FIN | ACK));
  cap.put(t1 + 5 * kMs, u.seg(true, ACK));
}

// Frames the decoder refuses, and one good datagram so the run is not
// empty: a runt shorter than an Ethernet header, a frame cut inside the
// TCP header, an ARP request, an IPv4 header with IHL 4.
void refused(const std::string& path) {
  Capture cap(path);
  Bytes runt = Builder().eth().ipv4("10.7.0.1", "10.7.0.2").udp(1, 2).build();
  runt.resize(10);
  cap.put(kBase, runt, 10);
  Builder cut;
  cut.eth().ipv4("10.7.0.3", "10.7.0.4").tcp(1234, 80, SYN).truncate(40);
  Bytes cutf = cut.build();
  cap.put(kBase + 1 * kMs, cutf, static_cast<uint32_t>(cut.wire_len()));
  // ARP request who-has 10.7.0.2 tell 10.7.0.1 (ethertype 0x0806).
  const uint8_t arp[] = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01, 0x02, 0, 0,  0, 0, 0x01,
                         10,   7,    0,    1,    0, 0, 0,    0,    0,    0, 10, 7, 0, 2};
  cap.put(kBase + 2 * kMs, Builder()
                               .eth(Builder::kSrcMac, ws::pktgen::mac("ff:ff:ff:ff:ff:ff"), 0x0806)
                               .payload(arp)
                               .pad_to(60)
                               .build());
  ws::pktgen::Ipv4Opts short_ihl;
  short_ihl.ihl = 4;
  cap.put(kBase + 3 * kMs, Builder().eth().ipv4("10.7.0.5", "10.7.0.6", short_ihl).udp(1, 2).build());
  cap.put(kBase + 4 * kMs,
          Builder().eth().ipv4("10.7.0.7", "10.7.0.8").udp(3333, 4444).payload_fill(16, 9).build());
}

struct Case {
  const char* name;
  std::function<void(const std::string&)> make;
};

const Case kCases[] = {
    {"tcp_v4_session", tcp_v4_session},
    {"tcp_v6_session", tcp_v6_session},
    {"tcp_midstream", tcp_midstream},
    {"tcp_rst", tcp_rst},
    {"dns_udp", dns_udp},
    {"icmp", icmp},
    {"qinq_mpls", qinq_mpls},
    {"frag_udp", frag_udp},
    {"active_timeout", active_timeout},
    {"idle_gap", idle_gap},
    {"syn_after_rst", syn_after_rst},
    {"refused", refused},
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: make_golden OUTDIR [CASE...]\ncases:");
    for (const Case& c : kCases) std::fprintf(stderr, " %s", c.name);
    std::fprintf(stderr, "\n");
    return 2;
  }
  const std::string dir = argv[1];
  std::vector<std::string> want(argv + 2, argv + argc);
  for (const std::string& w : want) {
    bool known = false;
    for (const Case& c : kCases) known |= w == c.name;
    if (!known) {
      std::fprintf(stderr, "make_golden: no case named '%s'\n", w.c_str());
      return 2;
    }
  }
  for (const Case& c : kCases) {
    bool selected = want.empty();
    for (const std::string& w : want) selected |= w == c.name;
    if (selected) c.make(dir + "/" + c.name + ".pcap");
  }
  return 0;
}
