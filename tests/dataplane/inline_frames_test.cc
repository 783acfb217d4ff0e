// Reject replies and checksum completion (dataplane/inline_frames.h): each
// reply is decoded again with checksum verification on, so a wrong IP, TCP,
// ICMP or ICMPv6 checksum fails the decode (ChecksumMode::kAll drops it).
#include "dataplane/inline_frames.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "bench/pktgen/builder.h"

namespace ws {
namespace {

using pktgen::Builder;
using pktgen::Bytes;

struct Decodes {
  Packet p;
  Decoded d;
  bool ok = false;
};

Decodes decode(const Bytes& f, uint8_t pkt_flags = 0) {
  Decodes r;
  DecodeOptions o;
  o.checksum = ChecksumMode::kAll;
  Decoder dec(o);
  r.p.data = f.data();
  r.p.caplen = r.p.wirelen = static_cast<uint32_t>(f.size());
  r.p.flags = pkt_flags;
  r.ok = dec.decode(r.p, r.d);
  EXPECT_EQ(dec.stats().checksum_drop.get(), 0u) << "bad checksum";
  return r;
}

std::string addr(const uint8_t* a, int family) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family == 4 ? AF_INET : AF_INET6, a, buf, sizeof buf);
  return buf;
}


// Builds the reply to frame `in` and decodes it.
Decodes reply(const Bytes& in, Bytes* out_bytes = nullptr, ReplyTo to = ReplyTo::kSource) {
  Decodes src = decode(in);
  EXPECT_TRUE(src.ok);
  Bytes out(kRejectFrameMax);
  const size_t n = build_reject(src.p, src.d, out.data(), to);
  out.resize(n);
  if (out_bytes) *out_bytes = out;
  if (!n) return {};
  Bytes keep = out;
  static std::vector<Bytes> hold;  // the decoded views point into it
  hold.push_back(std::move(keep));
  return decode(hold.back());
}

TEST(Reject, TcpWithAckGetsRstAtItsAckNumber) {
  pktgen::TcpOpts t;
  t.seq = 1000;
  t.ack = 5555;
  Bytes out;
  const Bytes in = Builder().eth("02:00:00:00:00:01", "02:00:00:00:00:02").ipv4("10.0.0.1", "10.0.0.2")
                       .tcp(40000, 80, pktgen::TCP_ACK | pktgen::TCP_PSH, t).payload("GET /evil").build();
  Decodes r = reply(in, &out);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(addr(r.d.key.src, 4), "10.0.0.2");
  EXPECT_EQ(addr(r.d.key.dst, 4), "10.0.0.1");
  EXPECT_EQ(r.d.key.sport, 80);
  EXPECT_EQ(r.d.key.dport, 40000);
  EXPECT_EQ(r.d.tcp_flags, pktgen::TCP_RST);
  EXPECT_EQ(r.d.seq, 5555u);
  EXPECT_EQ(r.d.payload_len, 0);
  // MACs turned around: the reply goes back to the sender.
  EXPECT_EQ(0, std::memcmp(out.data(), in.data() + 6, 6));
  EXPECT_EQ(0, std::memcmp(out.data() + 6, in.data(), 6));
  EXPECT_EQ(reject_kind(decode(in).p, decode(in).d), RejectKind::kTcpRst);
}

TEST(Reject, SynWithoutAckGetsRstAckCoveringTheSegment) {
  pktgen::TcpOpts t;
  t.seq = 0xfffffff0u;  // wraps
  const Bytes in = Builder().eth().ipv6("2001:db8::1", "2001:db8::2").tcp(1234, 443, pktgen::TCP_SYN, t)
                       .payload("abc").build();
  Decodes r = reply(in);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.d.key.family, 6);
  EXPECT_EQ(addr(r.d.key.src, 6), "2001:db8::2");
  EXPECT_EQ(r.d.tcp_flags, pktgen::TCP_RST | pktgen::TCP_ACK);
  EXPECT_EQ(r.d.seq, 0u);
  EXPECT_EQ(r.d.ack, 0xfffffff0u + 3 + 1);  // data and SYN
  EXPECT_EQ(r.d.ttl, 64);
}

TEST(Reject, UdpGetsIcmpPortUnreachableQuotingThePacket) {
  Bytes out;
  const Bytes in =
      Builder().eth().vlan(42).ipv4("192.0.2.1", "192.0.2.9").udp(5353, 53).payload_fill(1000, 0xab).build();
  Decodes r = reply(in, &out);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.d.key.proto, 1);
  EXPECT_EQ(r.d.icmp_type, 3);
  EXPECT_EQ(r.d.icmp_code, 3);
  EXPECT_EQ(r.d.vlan_count, 1);
  EXPECT_EQ(r.d.vlan[0], 42);
  EXPECT_EQ(addr(r.d.key.src, 4), "192.0.2.9");
  // 576-byte datagram at most: 20 IP + 8 ICMP + 548 quoted.
  EXPECT_EQ(r.d.l3_len, 576u);
  // The quote starts with the offending IP header.
  EXPECT_EQ(0, std::memcmp(out.data() + r.d.l4_off + 8, in.data() + 18, 20));
}

TEST(Reject, Udp6GetsIcmp6PortUnreachable) {
  const Bytes in = Builder().eth().ipv6("2001:db8::1", "2001:db8::2").udp(1, 2).payload("x").build();
  Decodes r = reply(in);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.d.key.proto, 58);
  EXPECT_EQ(r.d.icmp_type, 1);
  EXPECT_EQ(r.d.icmp_code, 4);
  EXPECT_EQ(r.d.l3_len, 40u + 8 + in.size() - 14);
}

TEST(Reject, OtherProtocolGetsHostUnreachable) {
  const Bytes in = Builder().eth().ipv4("10.1.1.1", "10.1.1.2").icmp_echo(true, 7, 1).payload("ping").build();
  Decodes r = reply(in);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.d.icmp_type, 3);
  EXPECT_EQ(r.d.icmp_code, 1);
}

TEST(Reject, NoReplyToRstOrIcmpErrors) {
  Bytes out;
  reply(Builder().eth().ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2, pktgen::TCP_RST).build(), &out);
  EXPECT_TRUE(out.empty());
  reply(Builder().eth().ipv4("10.0.0.1", "10.0.0.2").icmp(3, 3).payload_fill(28).build(), &out);
  EXPECT_TRUE(out.empty());
  reply(Builder().eth().ipv6("2001:db8::1", "2001:db8::2").icmpv6(1, 4).payload_fill(48).build(), &out);
  EXPECT_TRUE(out.empty());
}

// Suricata's rejectdst (and rejectboth's second reply): the RST goes to the
// packet's destination as if the sender had sent it: the packet's own
// addresses, ports and MACs, its sequence number, and its ack with ACK set
// when the packet had one.
TEST(RejectToDestination, TcpRstCarriesTheSendersSeqAndAck) {
  pktgen::TcpOpts t;
  t.seq = 1000;
  t.ack = 5555;
  Bytes out;
  const Bytes in = Builder().eth("02:00:00:00:00:01", "02:00:00:00:00:02").ipv4("10.0.0.1", "10.0.0.2")
                       .tcp(40000, 80, pktgen::TCP_ACK | pktgen::TCP_PSH, t).payload("GET /evil").build();
  Decodes r = reply(in, &out, ReplyTo::kDestination);
  ASSERT_TRUE(r.ok);  // checksums verified (IP and TCP)
  EXPECT_EQ(addr(r.d.key.src, 4), "10.0.0.1");
  EXPECT_EQ(addr(r.d.key.dst, 4), "10.0.0.2");
  EXPECT_EQ(r.d.key.sport, 40000);
  EXPECT_EQ(r.d.key.dport, 80);
  EXPECT_EQ(r.d.tcp_flags, pktgen::TCP_RST | pktgen::TCP_ACK);
  EXPECT_EQ(r.d.seq, 1000u);
  EXPECT_EQ(r.d.ack, 5555u);
  EXPECT_EQ(r.d.payload_len, 0);
  EXPECT_EQ(r.d.ttl, 64);
  ASSERT_EQ(out.size(), 14u + 20 + 20);
  // The link header is the packet's own: it goes on towards the destination.
  EXPECT_EQ(0, std::memcmp(out.data(), in.data(), 14));
  // The source direction of the same packet is unchanged.
  Decodes back = reply(in, nullptr, ReplyTo::kSource);
  ASSERT_TRUE(back.ok);
  EXPECT_EQ(addr(back.d.key.dst, 4), "10.0.0.1");
  EXPECT_EQ(back.d.seq, 5555u);
}

TEST(RejectToDestination, Tcp6WithoutAckGetsAPlainRstAtItsSeq) {
  pktgen::TcpOpts t;
  t.seq = 0x12345678u;
  const Bytes in =
      Builder().eth().vlan(7).ipv6("2001:db8::1", "2001:db8::2").tcp(1234, 443, pktgen::TCP_SYN, t).build();
  Bytes out;
  Decodes r = reply(in, &out, ReplyTo::kDestination);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.d.key.family, 6);
  EXPECT_EQ(addr(r.d.key.src, 6), "2001:db8::1");
  EXPECT_EQ(addr(r.d.key.dst, 6), "2001:db8::2");
  EXPECT_EQ(r.d.key.sport, 1234);
  EXPECT_EQ(r.d.key.dport, 443);
  EXPECT_EQ(r.d.tcp_flags, pktgen::TCP_RST);
  EXPECT_EQ(r.d.seq, 0x12345678u);
  EXPECT_EQ(r.d.ack, 0u);
  EXPECT_EQ(r.d.ttl, 64);
  EXPECT_EQ(r.d.vlan_count, 1);
  EXPECT_EQ(r.d.vlan[0], 7);
  EXPECT_EQ(0, std::memcmp(out.data(), in.data(), 18));  // MACs and tag as they were
}

TEST(RejectToDestination, UdpGetsIcmpPortUnreachableFromTheSender) {
  Bytes out;
  const Bytes in = Builder().eth().ipv4("192.0.2.1", "192.0.2.9").udp(5353, 53).payload("query").build();
  Decodes r = reply(in, &out, ReplyTo::kDestination);
  ASSERT_TRUE(r.ok);  // IP and ICMP checksums verified
  EXPECT_EQ(r.d.key.proto, 1);
  EXPECT_EQ(r.d.icmp_type, 3);
  EXPECT_EQ(r.d.icmp_code, 3);
  EXPECT_EQ(addr(r.d.key.src, 4), "192.0.2.1");
  EXPECT_EQ(addr(r.d.key.dst, 4), "192.0.2.9");
  EXPECT_EQ(0, std::memcmp(out.data(), in.data(), 14));
  EXPECT_EQ(r.d.l3_len, 20u + 8 + in.size() - 14);
  EXPECT_EQ(0, std::memcmp(out.data() + r.d.l4_off + 8, in.data() + 14, in.size() - 14));
}

TEST(RejectToDestination, Udp6AndOtherProtocols) {
  Decodes r = reply(Builder().eth().ipv6("2001:db8::1", "2001:db8::2").udp(1, 2).payload("x").build(), nullptr,
                    ReplyTo::kDestination);
  ASSERT_TRUE(r.ok);  // ICMPv6 checksum over the pseudo-header verified
  EXPECT_EQ(r.d.key.proto, 58);
  EXPECT_EQ(r.d.icmp_type, 1);
  EXPECT_EQ(r.d.icmp_code, 4);
  EXPECT_EQ(addr(r.d.key.src, 6), "2001:db8::1");
  EXPECT_EQ(addr(r.d.key.dst, 6), "2001:db8::2");
  Decodes h = reply(Builder().eth().ipv4("10.1.1.1", "10.1.1.2").icmp_echo(true, 7, 1).payload("ping").build(),
                    nullptr, ReplyTo::kDestination);
  ASSERT_TRUE(h.ok);
  EXPECT_EQ(h.d.icmp_type, 3);
  EXPECT_EQ(h.d.icmp_code, 1);
  EXPECT_EQ(addr(h.d.key.dst, 4), "10.1.1.2");
}

TEST(RejectToDestination, NoReplyToRstOrIcmpErrorsEither) {
  Bytes out;
  reply(Builder().eth().ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2, pktgen::TCP_RST).build(), &out,
        ReplyTo::kDestination);
  EXPECT_TRUE(out.empty());
  reply(Builder().eth().ipv4("10.0.0.1", "10.0.0.2").icmp(3, 3).payload_fill(28).build(), &out,
        ReplyTo::kDestination);
  EXPECT_TRUE(out.empty());
}

// QinQ whose outer (802.1ad) tag the capture stripped into metadata: the
// inner tag stays in the frame, and the reply keeps it there (the link
// puts the outer one back).
TEST(Reject, QinqWithTheOuterTagStripped) {
  pktgen::TcpOpts t;
  t.ack = 99;
  const Bytes full = Builder().eth().qinq(100, 200).ipv4("10.0.0.1", "10.0.0.2")
                         .tcp(40000, 80, pktgen::TCP_ACK, t).payload("x").build();
  // What AF_PACKET hands over: the frame without its outer tag.
  Bytes in(full.begin(), full.begin() + 12);
  in.insert(in.end(), full.begin() + 16, full.end());
  Decodes src = decode(in, kPktVlanStripped | kPktVlanStag);
  src.p.vlan_tci = 100;
  Decoder dec;
  ASSERT_TRUE(dec.decode(src.p, src.d));
  EXPECT_EQ(src.d.vlan_count, 2);
  EXPECT_EQ(src.d.vlan[0], 100);
  EXPECT_EQ(src.d.vlan[1], 200);
  ASSERT_EQ(reject_kind(src.p, src.d), RejectKind::kTcpRst);
  for (ReplyTo to : {ReplyTo::kSource, ReplyTo::kDestination}) {
    Bytes out(kRejectFrameMax);
    const size_t n = build_reject(src.p, src.d, out.data(), to);
    ASSERT_EQ(n, 14u + 4 + 20 + 20);
    out.resize(n);
    EXPECT_EQ(0, std::memcmp(out.data() + 12, in.data() + 12, 4)) << "inner tag kept";
    Decodes r = decode(out);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.d.vlan_count, 1);
    EXPECT_EQ(r.d.vlan[0], 200);
    EXPECT_EQ(r.d.tcp_flags & pktgen::TCP_RST, pktgen::TCP_RST);
  }
}

// The tag a capture stripped goes back as it was on the wire: its TPID
// (0x88a8 for an 802.1ad service tag, else 0x8100) and its TCI.
TEST(VlanTag, StrippedTagKeepsItsTpid) {
  Packet p;
  EXPECT_EQ(stripped_vlan_tag(p), kNoVlanTag);
  p.flags = kPktVlanStripped;
  p.vlan_tci = 0xa064;  // priority 5, VLAN 100
  EXPECT_EQ(stripped_vlan_tag(p), 0x8100a064u);
  p.flags = kPktVlanStripped | kPktVlanStag;
  EXPECT_EQ(stripped_vlan_tag(p), 0x88a8a064u);
  uint8_t t[4];
  put_vlan_tag(t, stripped_vlan_tag(p));
  EXPECT_EQ(t[0], 0x88);
  EXPECT_EQ(t[1], 0xa8);
  EXPECT_EQ(t[2], 0xa0);
  EXPECT_EQ(t[3], 0x64);
}

TEST(VlanTag, InsertingTheStrippedTagRestoresTheFrame) {
  const Bytes full = Builder().eth().qinq(100, 200).ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).payload("data").build();
  ASSERT_EQ(full[12], 0x88);
  ASSERT_EQ(full[13], 0xa8);
  Bytes in(full.begin(), full.begin() + 12);
  in.insert(in.end(), full.begin() + 16, full.end());
  Packet p;
  p.flags = kPktVlanStripped | kPktVlanStag;
  p.vlan_tci = 100;
  Bytes out(in.size() + 4);
  ASSERT_EQ(insert_vlan_tag(in.data(), static_cast<uint32_t>(in.size()), stripped_vlan_tag(p), out.data()),
            full.size());
  EXPECT_EQ(out, full);
  // An 802.1Q tag: 0x8100.
  const Bytes q = Builder().eth().vlan(42, 3).ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build();
  Bytes qin(q.begin(), q.begin() + 12);
  qin.insert(qin.end(), q.begin() + 16, q.end());
  p.flags = kPktVlanStripped;
  p.vlan_tci = static_cast<uint16_t>(3 << 13 | 42);
  Bytes qout(q.size());
  ASSERT_EQ(insert_vlan_tag(qin.data(), static_cast<uint32_t>(qin.size()), stripped_vlan_tag(p), qout.data()),
            q.size());
  EXPECT_EQ(qout, q);
}

TEST(CompleteChecksum, FillsAPartialTcpChecksum) {
  Bytes f = Builder().eth().ipv4("10.0.0.1", "10.0.0.2").tcp(1000, 2000, pktgen::TCP_ACK).payload("hello world")
                .build();
  Decodes good = decode(f);
  ASSERT_TRUE(good.ok);
  const size_t field = good.d.l4_off + 16;
  const uint8_t want[2] = {f[field], f[field + 1]};
  // What a sender with checksum offload hands over: a partial sum.
  f[field] = 0x12;
  f[field + 1] = 0x34;
  Decodes partial = decode(f, kPktChecksumNotReady);
  ASSERT_TRUE(partial.ok);
  ASSERT_TRUE(complete_l4_checksum(f.data(), static_cast<uint32_t>(f.size()), partial.d));
  EXPECT_EQ(f[field], want[0]);
  EXPECT_EQ(f[field + 1], want[1]);
  EXPECT_TRUE(decode(f).ok);
}

TEST(CompleteChecksum, Udp6AndNotForIcmp) {
  Bytes f = Builder().eth().ipv6("2001:db8::1", "2001:db8::2").udp(9, 10).payload("data").build();
  Decodes d0 = decode(f);
  const size_t field = d0.d.l4_off + 6;
  f[field] = f[field + 1] = 0;
  ASSERT_TRUE(complete_l4_checksum(f.data(), static_cast<uint32_t>(f.size()), d0.d));
  EXPECT_TRUE(decode(f).ok);
  Bytes icmp = Builder().eth().ipv4("10.0.0.1", "10.0.0.2").icmp_echo(true, 1, 1).build();
  Decodes di = decode(icmp);
  EXPECT_FALSE(complete_l4_checksum(icmp.data(), static_cast<uint32_t>(icmp.size()), di.d));
}

}  // namespace
}  // namespace ws
