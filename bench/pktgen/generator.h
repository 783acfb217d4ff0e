// Deterministic synthetic traffic: many overlapping flows, streamed one
// frame at a time in timestamp order, with a ground-truth summary that
// tests compare the agent's output against.
//
// The idea: every flow is planned up front (kind, addresses, ports, VLANs,
// packet count, first and last packet time) from one seeded xoshiro256**
// stream; the content and time of packet i of flow f are then pure
// functions of (seed, f, i) through splitmix64, plus a little per-flow
// state (TCP sequence numbers) advanced in packet order. A binary heap of
// (next time, flow) merges the flows into one stream, so memory is
// O(flows), never O(packets), and the output is byte-identical for the
// same configuration on any build: all arithmetic that shapes the traffic
// is integer (no floating point that -march=native could contract
// differently), and std::random_device is never used.
//
// Traffic model (shares of flows):
//   short (8%):  DNS query/response, TCP connection refused (SYN, RST),
//                short complete TCP sessions; anywhere in the timeline.
//   long (92%):  TCP sessions (handshake, data both ways, FIN close; some
//                end in RST), bulk UDP, bulk UDP with an idle gap of at
//                least a third of the duration (longer than short UDP
//                timeouts), ICMP/ICMPv6 echo, fragmented UDP datagrams.
//                Every long flow starts before and ends after the middle
//                of the timeline, so about 92% of all flows are active at
//                once; most last longer than a 60 s active timeout.
// Packet counts are heavy-tailed (a few elephants, many mice) and sum
// exactly to `packets`; frames are 60–1522 bytes (Ethernet padding to 60;
// IP lengths exclude it), averaging about 250 bytes.
//
// A share of flows is 802.1Q tagged (a tenth of those QinQ, 0x88a8 outer),
// and a few flows repeat the 5-tuple of another flow on a different outer
// VLAN, so that a flow table that ignores the VLAN counts fewer flows
// (flows vs flows_ignoring_vlan in the truth).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bench/pktgen/builder.h"

namespace ws::pktgen {

struct GenConfig {
  uint64_t packets = 100000;
  uint64_t flows = 3000;
  uint64_t seed = 1;
  double ipv6_share = 0.3;    // share of flows over IPv6
  double vlan_share = 0.2;    // share of flows 802.1Q tagged
  uint32_t duration_s = 300;  // timeline length
  uint32_t snaplen = 262144;  // frames longer than this are cut in the file
  bool nano = false;          // nanosecond pcap timestamps
};

// Packets, IP bytes and flows of one IP protocol.
struct ProtoTruth {
  uint64_t packets = 0;
  uint64_t ip_bytes = 0;
  uint64_t flows = 0;
};

struct GenTruth {
  uint64_t packets = 0;
  uint64_t frame_bytes = 0;     // original (wire) frame lengths
  uint64_t captured_bytes = 0;  // bytes in the file after snaplen
  uint64_t ip_bytes = 0;        // IP header + payload (IPv4 total length, IPv6 40 + payload length)
  uint64_t flows = 0;           // distinct bidirectional 5-tuples, outer VLAN id included
  uint64_t flows_ignoring_vlan = 0;
  uint64_t max_concurrent_flows = 0;  // most flows between their first and last packet at once
  uint64_t flows_longer_than_60s = 0;
  uint64_t flows_with_idle_gap = 0;  // flows with a silence of >= duration/3 inside
  uint64_t ipv4_packets = 0;
  uint64_t ipv6_packets = 0;
  uint64_t vlan_packets = 0;      // with at least one tag
  uint64_t qinq_packets = 0;      // with two tags
  uint64_t fragment_packets = 0;  // IPv4/IPv6 fragments (first ones included)
  uint64_t tcp_syn_packets = 0;   // SYN without ACK
  uint64_t tcp_rst_packets = 0;
  uint64_t tcp_fin_packets = 0;
  uint64_t first_ts_ns = 0;
  uint64_t last_ts_ns = 0;
  ProtoTruth tcp, udp, icmp, icmpv6;
  // Flows per kind: "tcp", "tcp_rst", "tcp_refused", "tcp_short", "dns",
  // "udp_bulk", "udp_idle_gap", "icmp_echo", "udp_fragmented".
  uint64_t kind_flows[9] = {};
  static const char* kind_name(int k);
};

// One generated frame. The view is valid until the next call to next().
struct GenPacket {
  std::span<const uint8_t> frame;  // full frame (snaplen is applied by the writer)
  uint64_t ts_ns = 0;
};

class TrafficGenerator {
 public:
  // Plans all flows. Returns null with a message in `error` when the
  // configuration cannot be met (e.g. too few packets for the flows).
  static std::unique_ptr<TrafficGenerator> create(const GenConfig& cfg, std::string& error);
  ~TrafficGenerator();

  // The next frame in timestamp order; false after the last one.
  bool next(GenPacket& out);

  // Flow-level fields are final after create(); packet-level fields count
  // the frames produced so far (final once next() returned false).
  const GenTruth& truth() const { return truth_; }
  const GenConfig& config() const { return cfg_; }

 private:
  struct Flow;
  struct HeapEntry {
    uint64_t t;
    uint32_t flow;
  };
  explicit TrafficGenerator(const GenConfig& cfg);
  bool plan(std::string& error);
  uint64_t time_of(const Flow& f, uint32_t i) const;
  void emit(Flow& f, uint32_t idx);
  void account(const Flow& f, std::span<const uint8_t> frame, uint32_t l3_off);

  GenConfig cfg_;
  GenTruth truth_;
  std::vector<Flow> flows_;
  std::vector<HeapEntry> heap_;
  Builder b_;
  Bytes frag_;  // scratch for one fragment
  std::span<const uint8_t> cur_;
  uint64_t base_ns_ = 0;
};

// Generates cfg into a classic pcap file at path (Ethernet linktype).
// Returns false with a message in `error` on a bad configuration or an
// I/O failure; `truth` is filled in either way as far as it got.
bool write_capture(const GenConfig& cfg, const std::string& path, GenTruth& truth, std::string& error);

// The truth as a JSON document (stable key order), including the config.
std::string truth_json(const GenConfig& cfg, const GenTruth& truth);

}  // namespace ws::pktgen
