// Application traffic for tests, built with the packet builder: a TCP
// conversation with its handshake and in-sequence payloads, a TLS
// ClientHello with SNI, DNS queries and answers. Shared by the nDPI stage
// tests and the app-layer rule tests, which need nDPI to recognise these
// flows from their payload as it would real ones.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bench/pktgen/builder.h"

namespace ws::apptraffic {

using pktgen::Builder;
using pktgen::Bytes;
using pktgen::TCP_ACK;
using pktgen::TCP_PSH;
using pktgen::TCP_SYN;

// A frame with its time, as a capture would give it.
struct Frame {
  Bytes bytes;
  uint64_t ts_ns;
};

constexpr uint64_t kT0 = 1'700'000'000'000'000'000ull;

// A TCP conversation: handshake, then each payload in turn from the client
// (to_server) or the server, each acknowledged in sequence.
class TcpTalk {
 public:
  TcpTalk(std::string client, std::string server, uint16_t sport, uint16_t dport)
      : c_(std::move(client)), s_(std::move(server)), sport_(sport), dport_(dport) {}
  void handshake() {
    add(true, TCP_SYN, {});
    add(false, TCP_SYN | TCP_ACK, {});
    add(true, TCP_ACK, {});
  }
  void send(bool to_server, std::string_view data) {
    add(to_server, TCP_PSH | TCP_ACK, Bytes(data.begin(), data.end()));
  }
  void send(bool to_server, const Bytes& data) { add(to_server, TCP_PSH | TCP_ACK, data); }
  std::vector<Frame>& frames() { return frames_; }

 private:
  void add(bool to_server, uint8_t flags, const Bytes& data) {
    pktgen::TcpOpts o;
    o.seq = to_server ? cseq_ : sseq_;
    o.ack = (flags & TCP_ACK) ? (to_server ? sseq_ : cseq_) : 0;
    Builder b;
    b.eth().ipv4(to_server ? c_ : s_, to_server ? s_ : c_);
    b.tcp(to_server ? sport_ : dport_, to_server ? dport_ : sport_, flags, o);
    if (!data.empty()) b.payload(data);
    frames_.push_back({b.build(), kT0 + frames_.size() * 1'000'000ull});
    uint32_t& seq = to_server ? cseq_ : sseq_;
    seq += static_cast<uint32_t>(data.size()) + ((flags & TCP_SYN) ? 1 : 0);
  }
  std::string c_, s_;
  uint16_t sport_, dport_;
  uint32_t cseq_ = 1000, sseq_ = 5000;
  std::vector<Frame> frames_;
};

// A TLS 1.2 ClientHello record carrying server_name = sni (RFC 8446 4.1.2,
// RFC 6066 3), with the handful of fields a real one has.
inline Bytes client_hello(const std::string& sni) {
  auto u16 = [](Bytes& b, size_t v) {
    b.push_back(uint8_t(v >> 8));
    b.push_back(uint8_t(v));
  };
  Bytes ext;
  // server_name
  u16(ext, 0x0000);
  u16(ext, sni.size() + 5);
  u16(ext, sni.size() + 3);
  ext.push_back(0);  // host_name
  u16(ext, sni.size());
  ext.insert(ext.end(), sni.begin(), sni.end());
  // supported_groups: x25519, secp256r1
  for (int v : {0x000a, 6, 4, 0x001d, 0x0017}) u16(ext, v);
  // ec_point_formats: uncompressed
  u16(ext, 0x000b);
  u16(ext, 2);
  ext.push_back(1);
  ext.push_back(0);
  // signature_algorithms: rsa_pss_rsae_sha256, ecdsa_secp256r1_sha256
  for (int v : {0x000d, 6, 4, 0x0804, 0x0403}) u16(ext, v);

  Bytes body;
  u16(body, 0x0303);  // client_version TLS 1.2
  for (int i = 0; i < 32; ++i) body.push_back(uint8_t(i * 7 + 1));  // random
  body.push_back(0);  // session id
  const int suites[] = {0xc02f, 0xc030, 0xc02b, 0x009e, 0x003c};
  u16(body, sizeof suites / sizeof suites[0] * 2);
  for (int s : suites) u16(body, s);
  body.push_back(1);  // compression methods: null
  body.push_back(0);
  u16(body, ext.size());
  body.insert(body.end(), ext.begin(), ext.end());

  Bytes hs{0x01, uint8_t(body.size() >> 16), uint8_t(body.size() >> 8), uint8_t(body.size())};
  hs.insert(hs.end(), body.begin(), body.end());
  Bytes rec{0x16, 0x03, 0x01};
  u16(rec, hs.size());
  rec.insert(rec.end(), hs.begin(), hs.end());
  return rec;
}

// A DNS query (RFC 1035 4.1) for name, type A, recursion desired.
inline Bytes dns_query(const std::string& name, uint16_t id) {
  Bytes q{uint8_t(id >> 8), uint8_t(id), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    q.push_back(uint8_t(dot - start));
    q.insert(q.end(), name.begin() + long(start), name.begin() + long(dot));
    start = dot + 1;
  }
  q.push_back(0);
  for (uint8_t b : {0, 1, 0, 1}) q.push_back(b);  // QTYPE A, QCLASS IN
  return q;
}

// The answer to dns_query(name, id): one A record, 192.0.2.7.
inline Bytes dns_answer(const std::string& name, uint16_t id) {
  Bytes a = dns_query(name, id);
  a[2] = 0x81;  // QR, RD
  a[3] = 0x80;  // RA
  a[7] = 1;     // ANCOUNT
  for (uint8_t b : {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, 7}) a.push_back(b);
  return a;
}

inline Frame udp_frame(const std::string& src, const std::string& dst, uint16_t sp, uint16_t dp, const Bytes& data,
                uint64_t ts) {
  return {Builder().eth().ipv4(src, dst).udp(sp, dp).payload(data).build(), ts};
}

}  // namespace ws::apptraffic
