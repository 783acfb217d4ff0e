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

// Payload bytes an alert carries for EVE `payload`; longer payloads are cut.
// Bytes an alert carries of its packet: the whole frame (EVE `packet`) when
// packet logging is on, else only the payload (EVE `payload`). A standard
// frame with two VLAN tags fits; a longer one is cut at this length.
constexpr size_t kAlertDataMax = 2048;
constexpr size_t kAlertPayloadMax = kAlertDataMax;

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
  // reassembled from fragments; dataplane PktSrc),
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
  // The packet (EVE `packet` and `packet_info`): packet_len bytes of it in
  // data, from its first byte: the captured frame, or for a packet out of
  // a tunnel its own bytes from the inner IP (VXLAN: Ethernet) header.
  // 0 when packet logging is off.
  uint16_t packet_len = 0;
  bool packet_truncated = false;  // the packet was longer than kAlertDataMax
  uint16_t linktype = 0;          // its DLT as libpcap reports it (EVE packet_info.linktype)
  // The payload (EVE `payload`): payload_len bytes at data + payload_off
  // (0 when payload logging is off or the packet has none).
  uint16_t payload_off = 0;
  uint16_t payload_len = 0;
  bool payload_truncated = false;
  uint8_t data[kAlertDataMax];
  const uint8_t* payload() const { return data + payload_off; }
};

// A worker's alerts, filled and read in place (reserve/commit, peek/release).
using AlertRing = SpscRing<AlertRecord>;

}  // namespace ws
