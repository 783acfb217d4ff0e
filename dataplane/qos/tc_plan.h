// Host mode (qos.mode: tc): what the QoS policies become as Linux traffic
// control on one interface's egress, computed without touching the kernel
// (dataplane/qos/tc_host.h installs it through netlink).
//
//   root HTB qdisc 1: (default class 1:fffe: unmatched traffic, line rate)
//   ├── class 1:100  first class of the first policy (name order)
//   │     shape: rate = ceil = rate_bps, burst = cburst = burst_bytes,
//   │            leaf fq_codel (pfifo when the kernel has no fq_codel)
//   │     no shape: line rate, the HTB's default leaf (counted only)
//   ├── class 1:101  next class, ...
//   └── u32 filters on 1:, one priority each, in the same order: the first
//       filter that matches sends the packet to its class.
//
// So in tc mode a packet belongs to one class: the first, in policy name
// order then class order, whose match holds (inline mode lets every policy
// see it). Match fields become u32 keys at fixed offsets from the network
// header (host byte order below; the netlink side writes them big-endian):
//
//   IPv4 (protocol ip)    proto: byte 9; dscp: bits 2-7 of byte 1;
//                         src, dst: bytes 12, 16 under the prefix mask;
//                         ports: bytes 20-23, only for a 20-byte header
//                         (IHL 5) and the first fragment (offset 0)
//   IPv6 (protocol ipv6)  proto: next header (byte 6), so a packet with
//                         extension headers does not match; dscp: bits
//                         22-27 of word 0; src, dst: bytes 8-23, 24-39;
//                         ports: bytes 40-43
//
// A class with ports and no proto gets one filter per port protocol (tcp,
// udp, sctp); a class without src/dst gets an IPv4 and an IPv6 filter (icmp
// only IPv4, ipv6-icmp only IPv6); a port range becomes the aligned blocks
// that cover it (one value/mask pair each, one filter each). Flower would
// say the same in fewer filters, but Debian 12's libnl-route 3.7 has no
// flower keys for ports or ip_proto, so u32 is used everywhere.
//
// Refused, with the field's path: police and set_dscp (they need the tc
// police and pedit actions; see TcCaps), match.app (nDPI's label is not in
// the packet), match.direction (neither is which side opened the flow),
// match.vlan (on egress the kernel keeps the 802.1Q tag out of the data u32
// reads), a port range needing more than kTcMaxPortMasks blocks, a class
// needing more than kTcMaxFiltersPerClass filters, a burst lasting more
// than kTcMaxBurstSeconds at its rate.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/qos/policy.h"

namespace ws {

inline constexpr uint16_t kTcRootMajor = 1;          // root qdisc 1:
inline constexpr uint16_t kTcDefaultMinor = 0xfffe;  // default class 1:fffe (marks the tree as ours)
inline constexpr uint16_t kTcFirstMinor = 0x100;     // classes 1:100, 1:101, ...; leaves 100:, 101:, ...
inline constexpr size_t kTcMaxPortMasks = 16;
inline constexpr size_t kTcMaxFiltersPerClass = 64;
inline constexpr size_t kTcMaxFilters = 4096;
inline constexpr uint64_t kTcMaxBurstSeconds = 60;
// A leaf FIFO holds queue_packets, or queue_bytes in frames of this size.
inline constexpr uint64_t kTcLeafFrameBytes = 1514;
inline constexpr uint16_t kEthPIp = 0x0800, kEthPIpv6 = 0x86DD;

// What the kernel was found to have (TcHost probes it at start).
struct TcCaps {
  enum class Probe : uint8_t { kUnknown, kAbsent, kPresent };
  Probe police = Probe::kUnknown;  // act_police
  Probe pedit = Probe::kUnknown;   // act_pedit
};

// One 32-bit u32 key: (word at offset & mask) == value, offset in bytes
// from the network header, value and mask in host byte order.
struct TcU32Key {
  uint32_t value = 0, mask = 0;
  int offset = 0;
  bool operator==(const TcU32Key& o) const {
    return value == o.value && mask == o.mask && offset == o.offset;
  }
};

struct TcFilter {
  uint16_t protocol = 0;       // kEthPIp or kEthPIpv6
  std::vector<TcU32Key> keys;  // ascending offsets, one per word; at least one (mask 0 matches all)
};

struct TcClassPlan {
  std::string policy, cls;
  uint16_t minor = 0;  // HTB class 1:minor; its leaf qdisc is minor:
  bool shaped = false;
  uint64_t rate_bps = 0;     // the shape's rate, or the line rate
  uint64_t burst_bytes = 0;  // the shape's burst (0: HTB's default)
  uint32_t leaf_limit = 0;   // packets the leaf queue holds (shaped classes)
  std::vector<TcFilter> filters;
};

struct TcPlan {
  uint64_t line_rate_bps = 0;
  std::vector<TcClassPlan> classes;  // policy name order, then class order: the filters' order
  size_t filters() const;
};

// "" or why tc mode cannot express the policy, with the field's path
// ("classes[1].police: the kernel has no act_police (tc police action)").
std::string check_tc_policy(const QosPolicy& policy, const TcCaps& caps);

// The tree for the whole set (by name). Returns "" and fills *out, or the
// first refusal as "policy 'NAME': classes[i]...: reason" (or a set-wide
// limit). An empty plan (no classes) means no tree.
std::string build_tc_plan(const std::map<std::string, QosPolicy>& policies, const TcCaps& caps,
                          uint64_t line_rate_bps, TcPlan* out);

// The aligned blocks covering lo-hi: (value, mask) pairs, ascending.
std::vector<std::pair<uint16_t, uint16_t>> tc_port_masks(uint16_t lo, uint16_t hi);

// "ip 00060000/00ff0000 at 8, ..." as tc -s filter show prints the keys.
std::string tc_filter_text(const TcFilter& f);

}  // namespace ws
