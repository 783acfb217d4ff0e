// AlertRecord: what a worker emits when a rule matches a packet. Like a
// FlowRecord it leaves the worker through an SPSC ring and is formatted on
// the export thread (EVE `alert` events, later protobuf and WebSocket).
//
// The rule's text fields (signature, category, metadata) are not copied into
// the record: it points at an AlertMeta owned by the rule snapshot the alert
// came from. That snapshot is kept alive until the export thread has
// formatted every alert that points into it: the worker counts each alert
// into `*in_flight` before pushing it and the export loop counts it out
// after every exporter has seen it, and a retired snapshot is only freed
// when its count is back to zero (see rules/rule_snapshot.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/flow_key.h"
#include "dataplane/ring.h"
#include "telemetry/flow_record.h"

namespace ws {

// What an alert says about its rule, as EVE's `alert` object prints it.
struct AlertMeta {
  uint32_t gid = 1;
  uint32_t sid = 0;
  uint32_t rev = 0;
  std::string signature;  // msg
  std::string category = {};  // the classtype's description; empty: none
  uint8_t severity = 3;   // priority: the rule's own, else its classtype's, else 3
  // `metadata` entries grouped by key in first-seen order, as Suricata
  // prints them ({"key": ["v1", "v2"]}).
  std::vector<std::pair<std::string, std::vector<std::string>>> metadata = {};
};

// Bytes an alert carries of its packet in the record itself: the whole
// frame (EVE `packet`) when packet logging is on, else only the payload (EVE
// `payload`). A standard frame with two VLAN tags fits; a longer one (a jumbo
// frame, a reassembled datagram) goes whole to the worker's AlertBytes and
// is cut at this length only when that is full.
constexpr size_t kAlertDataMax = 2048;

// The bytes of alerts whose packet is longer than kAlertDataMax: one per
// worker, a ring of bytes the worker takes from in alert order and the
// export loop gives back in the same order, once every exporter has
// formatted the alert (AlertRecord::bytes_end). Allocated untouched, so
// only the pages a long packet has used are committed.
class AlertBytes {
 public:
  static constexpr size_t kDefaultCapacity = size_t{1} << 20;  // sixteen 64 KiB datagrams
  explicit AlertBytes(size_t capacity = kDefaultCapacity) {
    size_t c = 1;
    while (c < capacity) c <<= 1;
    cap_ = c;
    buf_.reset(new uint8_t[c]);
  }
  size_t capacity() const { return cap_; }
  // Producer: n contiguous bytes, or nullptr while they do not fit (the
  // export loop has not given enough back). *end is what release() takes.
  uint8_t* take(size_t n, uint64_t* end) {
    if (n == 0 || n > cap_) return nullptr;
    uint64_t pos = head_;
    size_t off = static_cast<size_t>(pos & (cap_ - 1));
    if (off + n > cap_) {  // no wrap inside a packet: skip to the start
      pos += cap_ - off;
      off = 0;
    }
    if (pos + n - tail_.load(std::memory_order_acquire) > cap_) return nullptr;
    head_ = pos + n;
    *end = head_;
    return buf_.get() + off;
  }
  // Consumer: everything taken up to `end` is free again.
  void release(uint64_t end) { tail_.store(end, std::memory_order_release); }

 private:
  std::unique_ptr<uint8_t[]> buf_;
  size_t cap_ = 0;
  uint64_t head_ = 0;                 // producer only
  alignas(64) std::atomic<uint64_t> tail_{0};
};

struct AlertRecord {
  uint64_t ts_ns = 0;          // the packet's time
  uint64_t flow_id = 0;        // EVE flow_id of the packet's flow
  uint64_t flow_start_ns = 0;  // the flow's first packet
  uint64_t pkts[2] = {0, 0};   // the flow so far, to server / to client, this packet included
  uint64_t bytes[2] = {0, 0};
  FlowKey pkt{};               // this packet's own tuple: src is its sender
  FlowKey flow{};              // the flow's tuple, client first
  const AlertMeta* meta = nullptr;
  std::atomic<uint64_t>* in_flight = nullptr;  // decremented once exported
  uint16_t vlan[2] = {0, 0};
  uint8_t vlan_count = 0;
  uint8_t action = 0;          // RuleAction of the rule (alert, drop, reject, pass)
  bool blocked = false;        // inline mode dropped the packet (EVE alert.action "blocked")
  bool to_server = true;       // the packet's direction
  bool stream = false;         // matched on reassembled stream data
  uint8_t icmp_type = 0, icmp_code = 0;
  // A packet decoded out of a tunnel: pkt_src names the tunnel (0: from
  // the wire, 1: ipv4 tunnel, 2: ipv6 tunnel, 3: vxlan, 4: gre, 5: geneve, 6: teredo, 7: a datagram
  // reassembled from fragments, 8: no packet, a flow's stream data inspected
  // at its end; dataplane PktSrc),
  // tunnel is the captured (outermost) packet's own tuple, tunnel_depth
  // how many encapsulations this packet sits in.
  uint8_t pkt_src = 0;
  uint8_t tunnel_depth = 0;
  FlowKey tunnel{};
  uint16_t ifindex = 0;
  uint16_t worker = 0;
  uint64_t pcap_cnt = 0;       // the packet's number in the capture file (EVE pcap_cnt); 0: live
  char app_proto[16] = {};     // the flow's application protocol; empty: none
  AppLabel app;                // nDPI's classification of the flow so far (empty: none yet)
  // The packet (EVE `packet` and `packet_info`): packet_len bytes of it at
  // packet_data(), from its first byte: the captured frame, or for a packet out of
  // a tunnel its own bytes from what the tunnel carries (the inner IP
  // header; VXLAN's Ethernet header, PPP's header). 0 when packet logging
  // is off.
  uint32_t packet_len = 0;
  bool packet_truncated = false;  // cut at kAlertDataMax: the worker's AlertBytes was full
  uint16_t linktype = 0;          // its DLT as libpcap reports it (EVE packet_info.linktype)
  // The payload (EVE `payload`): payload_len bytes at packet_data() + payload_off
  // (0 when payload logging is off or the packet has none). For a match on
  // stream data (stream), the stream data inspected, after the packet's
  // bytes.
  uint32_t payload_off = 0;
  uint32_t payload_len = 0;
  bool payload_truncated = false;
  // Longer than data: the bytes are in the worker's AlertBytes, given back
  // up to bytes_end once the alert is exported.
  const uint8_t* long_bytes = nullptr;
  AlertBytes* bytes_owner = nullptr;
  uint64_t bytes_end = 0;
  uint8_t data[kAlertDataMax];
  const uint8_t* packet_data() const { return long_bytes ? long_bytes : data; }
  const uint8_t* payload() const { return packet_data() + payload_off; }
};

// A worker's alerts, filled and read in place (reserve/commit, peek/release).
using AlertRing = SpscRing<AlertRecord>;

}  // namespace ws
