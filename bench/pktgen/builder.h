// Packet builder for table-driven tests, fixtures and the traffic generator.
//
// A Builder serialises layers outermost first, straight into one byte
// buffer, as they are named:
//
//   auto frame = ws::pktgen::Builder()
//                    .eth().vlan(10).ipv4("10.0.0.1", "10.0.0.2")
//                    .tcp(1234, 80, ws::pktgen::TCP_SYN).payload("GET /")
//                    .build();
//
// Each layer fills in the "next protocol" field of the layer before it
// (ethertype, IPv4 protocol, IPv6 next header, GRE protocol, SLL protocol,
// DLT_NULL family), unless an option set that field explicitly. build()
// then walks the layers innermost first and writes every length (IPv4 total
// length and IHL, IPv6 payload length, UDP length, TCP data offset) and
// every checksum (IPv4 header, TCP/UDP/ICMPv6 with their IPv4 or IPv6
// pseudo-header, ICMP, GRE, SCTP CRC32c), so that inner checksums are final
// before the outer ones that cover them.
//
// Deliberate damage for negative tests: bad_checksum() spoils the checksum
// of the most recently added checksummed layer; truncate(n) cuts the
// finished frame to n bytes while wire_len() still reports the full length
// (write it as a pcap record with caplen < len); the *_len overrides in the
// option structs write a wrong length on purpose.
//
// The builder allocates only while its buffer grows: reset() keeps the
// capacity, and finish() finalises in place and returns a view, so the
// generator can build millions of frames with one Builder. build() returns
// a copy for tests.
//
// Addresses are given as text ("10.0.0.1", "2001:db8::1"), as an Ip4 (host
// order uint32) or as 16-byte Ip6 arrays. An unparsable address string is a
// bug in the test that passes it and aborts with a message.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ws::pktgen {

using Mac = std::array<uint8_t, 6>;
using Ip6 = std::array<uint8_t, 16>;
using Bytes = std::vector<uint8_t>;

// TCP flag bits, as in the header's flags byte.
enum TcpFlag : uint8_t {
  TCP_FIN = 0x01,
  TCP_SYN = 0x02,
  TCP_RST = 0x04,
  TCP_PSH = 0x08,
  TCP_ACK = 0x10,
  TCP_URG = 0x20,
  TCP_ECE = 0x40,
  TCP_CWR = 0x80,
};

// Parses "aa:bb:cc:dd:ee:ff"; aborts on malformed text.
Mac mac(std::string_view text);
// Parses a dotted quad into a host-order value; aborts on malformed text.
uint32_t ip4(std::string_view text);
// Parses an IPv6 address; aborts on malformed text.
Ip6 ip6(std::string_view text);

// One's complement sum folded to 16 bits, not inverted (RFC 1071). Seed
// with a previous partial sum to chain buffers.
uint32_t ones_sum(const uint8_t* p, size_t n, uint32_t sum = 0);
// ~fold(ones_sum(p, n)): the Internet checksum of a buffer.
uint16_t inet_checksum(const uint8_t* p, size_t n);
// CRC32c (Castagnoli), as SCTP uses it (RFC 9260 appendix A).
uint32_t crc32c(const uint8_t* p, size_t n);

struct Ipv4Opts {
  uint8_t tos = 0;  // whole byte: DSCP << 2 | ECN
  uint8_t ttl = 64;
  uint16_t id = 1;
  bool df = false;
  bool mf = false;
  uint16_t frag_offset = 0;          // in 8-byte units
  int proto = -1;                    // -1: set by the next layer (253, experimental, if none)
  std::span<const uint8_t> options = {};  // raw option bytes, padded with EOL to 4
  int total_len = -1;                // -1: computed; else written as is
  int ihl = -1;                      // -1: computed; else written as is (words)
};

struct Ipv6Opts {
  uint8_t tclass = 0;
  uint32_t flow_label = 0;
  uint8_t hop_limit = 64;
  int next_header = -1;  // -1: set by the next layer (59, no next header, if none)
  int payload_len = -1;  // -1: computed
};

struct TcpOpts {
  uint32_t seq = 1;
  uint32_t ack = 0;
  uint16_t window = 65535;
  uint16_t urgent = 0;
  std::span<const uint8_t> options = {};  // raw option bytes, padded with EOL to 4
  int data_offset = -1;              // -1: computed (words)
};

struct GreOpts {
  bool checksum = false;  // C bit: checksum over GRE header and payload
  bool has_key = false;
  uint32_t key = 0;
  bool has_seq = false;
  uint32_t seq = 0;
  int proto = -1;  // -1: set by the next layer
};

class Builder {
 public:
  Builder();

  // Clears all layers; keeps the buffer's capacity.
  Builder& reset();

  // ---- link layers (the first layer added sets link_type()) ----
  // Ethernet II. The ethertype is set by the next layer unless given.
  Builder& eth(const Mac& src = kSrcMac, const Mac& dst = kDstMac, int ethertype = -1);
  Builder& eth(std::string_view src, std::string_view dst, int ethertype = -1);
  // An 802.1Q tag (TPID 0x8100 written into the previous layer's type).
  Builder& vlan(uint16_t vid, uint8_t pcp = 0, bool dei = false);
  // An 802.1ad service tag (TPID 0x88a8); follow it with vlan() for QinQ.
  Builder& svlan(uint16_t vid, uint8_t pcp = 0);
  // QinQ shorthand: svlan(outer).vlan(inner).
  Builder& qinq(uint16_t outer, uint16_t inner);
  // One MPLS label stack entry (ethertype 0x8847). The last entry of a run
  // gets the bottom-of-stack bit.
  Builder& mpls(uint32_t label, uint8_t tc = 0, uint8_t ttl = 64);
  // Linux cooked capture v1 (LINKTYPE_LINUX_SLL, 113), 16 bytes.
  Builder& sll(uint16_t pkttype = 0, const Mac& addr = kSrcMac);
  // Linux cooked capture v2 (LINKTYPE_LINUX_SLL2, 276), 20 bytes.
  Builder& sll2(uint32_t ifindex = 1, uint8_t pkttype = 0, const Mac& addr = kSrcMac);
  // BSD loopback (DLT_NULL, 0): 4-byte host-order address family, set by
  // the next layer (2 for IPv4, inet6_family for IPv6).
  Builder& null_link(uint32_t inet6_family = 24);
  // OpenBSD loopback (DLT_LOOP, 108): the same in network order.
  Builder& loop_link(uint32_t inet6_family = 24);
  // Raw IP (LINKTYPE_RAW, 101): no link header; only sets link_type().
  Builder& raw();

  // ---- network layers ----
  Builder& ipv4(std::string_view src, std::string_view dst, const Ipv4Opts& o = {});
  Builder& ipv4(uint32_t src, uint32_t dst, const Ipv4Opts& o = {});
  Builder& ipv6(std::string_view src, std::string_view dst, const Ipv6Opts& o = {});
  Builder& ipv6(const Ip6& src, const Ip6& dst, const Ipv6Opts& o = {});
  // IPv6 extension headers, in the order added. Option bytes are padded
  // with PadN to a multiple of 8 bytes.
  Builder& hop_by_hop(std::span<const uint8_t> options = {});
  Builder& dest_opts(std::span<const uint8_t> options = {});
  // Routing header. For type 0 with segments_left > 0 the last address is
  // the final destination used in the upper-layer pseudo-header; for type 4
  // (segment routing) it is the first.
  Builder& routing(uint8_t type, uint8_t segments_left, std::span<const Ip6> addrs = {});
  // Fragment header: offset in 8-byte units.
  Builder& frag6(uint16_t offset, bool more, uint32_t id);
  // GRE (RFC 2784/2890); the protocol type is set by the next layer.
  Builder& gre(const GreOpts& o = {});

  // ---- transport layers ----
  Builder& tcp(uint16_t sport, uint16_t dport, uint8_t flags, const TcpOpts& o = {});
  // UDP. length: -1 computed, else written as is.
  Builder& udp(uint16_t sport, uint16_t dport, int length = -1);
  // ICMP (v4): type, code, then the 4 "rest of header" bytes.
  Builder& icmp(uint8_t type, uint8_t code, uint32_t rest = 0);
  Builder& icmp_echo(bool request, uint16_t id, uint16_t seq);
  Builder& icmpv6(uint8_t type, uint8_t code, uint32_t rest = 0);
  Builder& icmpv6_echo(bool request, uint16_t id, uint16_t seq);
  // SCTP common header; add chunks after it.
  Builder& sctp(uint16_t sport, uint16_t dport, uint32_t vtag = 1);
  // A chunk: type, flags, body (chunk length = 4 + body; padded to 4).
  Builder& sctp_chunk(uint8_t type, uint8_t flags, std::span<const uint8_t> body = {});
  // A DATA chunk (type 0, flags B|E) carrying user data.
  Builder& sctp_data(uint32_t tsn, uint16_t stream, uint16_t ssn, uint32_t ppid,
                     std::span<const uint8_t> data);

  // ---- payload ----
  Builder& payload(std::span<const uint8_t> bytes);
  Builder& payload(std::string_view text);
  // n bytes of a fixed value.
  Builder& payload_fill(size_t n, uint8_t value = 0);
  // n bytes of a cheap pseudo-random pattern determined by seed.
  Builder& payload_pattern(size_t n, uint64_t seed);

  // ---- damage and padding ----
  // Spoils the checksum of the last checksummed layer added so far.
  Builder& bad_checksum();
  // Cuts the finished frame to n bytes (if longer).
  Builder& truncate(size_t n);
  // Pads the frame with zeros up to n bytes (Ethernet minimum: 60); the
  // padding is not counted in IP/UDP lengths.
  Builder& pad_to(size_t n);

  // Finalises lengths and checksums in place and returns the frame. The
  // view stays valid until the next change to this Builder.
  std::span<const uint8_t> finish();
  // finish() and copy.
  Bytes build();

  // Frame length before truncate(); after finish().
  size_t wire_len() const { return wire_len_; }
  // LINKTYPE of the first layer (Ethernet if none was added).
  uint32_t link_type() const { return link_type_; }

  static constexpr Mac kSrcMac = {0x02, 0, 0, 0, 0, 0x01};
  static constexpr Mac kDstMac = {0x02, 0, 0, 0, 0, 0x02};

 private:
  enum class Kind : uint8_t {
    kEth,
    kVlan,
    kMpls,
    kSll,
    kSll2,
    kNull,
    kLoop,
    kIpv4,
    kIpv6,
    kExt6,
    kGre,
    kTcp,
    kUdp,
    kIcmp,
    kIcmp6,
    kSctp,
    kChunk,
    kPayload,
  };
  struct Layer {
    Kind kind;
    uint32_t off;        // start of the layer in buf_
    uint32_t type_off;   // where the next layer's type goes, or kNone
    uint8_t type_width;  // 1, 2 or 4 bytes; 4 = host-order (DLT_NULL) unless net
    bool type_set;       // explicitly set by an option; don't overwrite
    bool type_net;       // for 4-byte types: network order (DLT_LOOP)
    bool corrupt;
    int len_override;   // layer-specific explicit length, -1 auto
    int hlen_override;  // IHL / data offset override
    uint32_t aux;       // IPv6: inet6 family for DLT_NULL; routing: final dst index
  };
  static constexpr uint32_t kNone = 0xffffffffu;
  static constexpr int kMaxLayers = 24;

  Layer& push(Kind k, size_t size);
  void set_next_type(Kind next, uint32_t value_eth, uint32_t value_ip);
  uint8_t* at(size_t off) { return buf_.data() + off; }
  int enclosing_ip(int idx) const;
  uint32_t pseudo_sum(int ip_idx, uint8_t proto, uint32_t len) const;
  void corrupt16(size_t off);

  Bytes buf_;
  Layer layers_[kMaxLayers];
  int nlayers_ = 0;
  uint32_t link_type_ = 1;
  bool link_set_ = false;
  size_t truncate_ = SIZE_MAX;
  size_t pad_to_ = 0;
  size_t wire_len_ = 0;
  bool finished_ = false;
};

// Splits a built IPv4 or IPv6 packet (the outermost IP layer of `frame`,
// whose link header is `l3_off` bytes) into fragments carrying at most
// `max_payload` bytes of IP payload each (rounded down to a multiple of 8).
// IPv4 fragments copy the header (keeping its identification) and set
// MF/offset; IPv6 fragments insert a fragment header with identification
// `id` after the base header. Each fragment repeats the link header.
// Returns the input unchanged if it already fits.
std::vector<Bytes> fragment(std::span<const uint8_t> frame, size_t l3_off, size_t max_payload, uint32_t id);

enum class TsResolution { kMicro, kNano };

// Classic libpcap file writer (host byte order, magic a1b2c3d4 or a1b23c4d).
// Frames longer than snaplen are cut and recorded with their full length.
class PcapWriter {
 public:
  PcapWriter() = default;
  ~PcapWriter();
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  // Creates/truncates path and writes the file header. False on failure;
  // error() says why.
  bool open(const std::string& path, uint32_t linktype = 1, uint32_t snaplen = 262144,
            TsResolution res = TsResolution::kMicro);
  // Writes one record. orig_len 0 means frame.size(). False once a write
  // has failed.
  bool write(uint64_t ts_ns, std::span<const uint8_t> frame, uint32_t orig_len = 0);
  // Flushes and closes; false if any write failed.
  bool close();
  const std::string& error() const { return error_; }
  uint64_t records() const { return records_; }

 private:
  std::FILE* f_ = nullptr;
  std::vector<char> iobuf_;
  uint32_t snaplen_ = 0;
  bool nano_ = false;
  bool failed_ = false;
  uint64_t records_ = 0;
  std::string error_;
};

// Minimal pcapng writer: one section header, one interface (linktype,
// snaplen, and if_tsresol=9 for nanosecond resolution), enhanced packet
// blocks.
class PcapngWriter {
 public:
  PcapngWriter() = default;
  ~PcapngWriter();
  PcapngWriter(const PcapngWriter&) = delete;
  PcapngWriter& operator=(const PcapngWriter&) = delete;

  bool open(const std::string& path, uint32_t linktype = 1, uint32_t snaplen = 262144,
            TsResolution res = TsResolution::kMicro);
  bool write(uint64_t ts_ns, std::span<const uint8_t> frame, uint32_t orig_len = 0);
  bool close();
  const std::string& error() const { return error_; }

 private:
  bool put(const void* p, size_t n);
  std::FILE* f_ = nullptr;
  uint32_t snaplen_ = 0;
  bool nano_ = false;
  bool failed_ = false;
  std::string error_;
};

}  // namespace ws::pktgen
