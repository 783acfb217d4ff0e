// FlowRecord: what a worker emits when a flow (or one active-timeout slice
// of it) ends. Exporters (EVE, IPFIX, NetFlow v9) format it; they never see
// the flow table. Oriented by client: key.src/sport is the client, the
// sender of the flow's first packet or of its SYN. Index 0 of the per-
// direction arrays is to-server (client → server), index 1 to-client.
//
// When a long flow is cut by the active timeout, each record carries the
// deltas for its slice, so the records of one flow sum exactly to its
// totals; flow_id and flow_start_ns stay the same across slices.
#pragma once

#include <cstdint>

#include "dataplane/flow_key.h"

namespace ws {

// Values are IPFIX flowEndReason (IANA IE 136).
enum class FlowEndReason : uint8_t {
  kIdleTimeout = 1,
  kActiveTimeout = 2,
  kEndOfFlow = 3,   // TCP FIN/RST seen, closed-state timeout elapsed
  kForced = 4,      // evicted: table full
  kShutdown = 5,    // capture ended or agent stopping (IPFIX: lack of resources is 5; we use 5 for shutdown as ipfixprobe does)
};

// EVE flow.state, as Suricata names it.
enum class FlowState : uint8_t { kNew = 0, kEstablished = 1, kClosed = 2 };

// TCP connection state, as Suricata's EVE tcp.state names it.
enum class TcpState : uint8_t {
  kNone = 0, kSynSent, kSynRecv, kEstablished, kFinWait1, kFinWait2, kTimeWait,
  kLastAck, kCloseWait, kClosing, kClosed,
};

const char* flow_state_name(FlowState s);
const char* tcp_state_name(TcpState s);
// EVE flow.reason: "timeout", "forced" or "shutdown".
const char* flow_end_reason_eve(FlowEndReason r);

// nDPI's classification of a flow (dataplane/ndpi.h), carried as text and
// ids so that exporters on other threads print it without a detection
// module, and fixed in size so a record never allocates. 176 bytes.
struct AppLabel {
  char protocol[48] = {};   // nDPI's name as `ndpiReader -v 2` prints it ("TLS.Google", "Unknown");
                            // empty: nDPI never looked at the flow (disabled)
  char category[24] = {};   // nDPI's category name ("Web", "Network")
  char hostname[80] = {};   // TLS SNI, HTTP Host, DNS query name, ...; empty: none
  uint64_t risk = 0;        // bit i set: nDPI flow risk i (ndpi_risk_enum)
  uint16_t master = 0;      // nDPI protocol ids: master (TLS in TLS.Google), 0 when none
  uint16_t app = 0;         //   and application (Google); both 0: Unknown
  uint8_t confidence = 0;   // ndpi_confidence_t
  bool guessed = false;     // from nDPI's guess at give-up (ports, addresses), not its dissectors

  bool present() const { return protocol[0] != 0; }
};

// nDPI's text for a confidence value ("DPI", "Match by port", ...) and for
// flow risk bit i ("Self-signed Certificate"); nullptr when i is no risk.
const char* app_confidence_name(uint8_t confidence);
const char* app_risk_name(unsigned bit);
// Risk bits nDPI defines (bits at or above it are never set).
unsigned app_risk_bits();

struct FlowRecord {
  FlowKey key;                 // client-oriented
  uint64_t flow_id = 0;        // stable for the life of the flow; EVE flow_id
  uint64_t flow_start_ns = 0;  // first packet of the flow (all slices)
  uint64_t start_ns = 0;       // first packet of this record's slice
  uint64_t end_ns = 0;         // last packet of this record's slice
  uint64_t dir_start_ns[2] = {0, 0};  // first/last packet per direction in this slice
  uint64_t dir_end_ns[2] = {0, 0};    //   (0 when the direction carried none)
  uint64_t pkts[2] = {0, 0};          // packets to server / to client
  uint64_t bytes[2] = {0, 0};         // captured frame bytes incl. link header (EVE)
  uint64_t l3_bytes[2] = {0, 0};      // IP header + payload (IPFIX octetDeltaCount)
  uint16_t vlan[2] = {0, 0};   // outer, inner 802.1Q ids
  uint8_t vlan_count = 0;
  uint8_t tcp_flags[2] = {0, 0};  // OR of TCP flags to server / to client in this slice
  uint8_t icmp_type[2] = {0, 0};  // last ICMP type/code seen per direction
  uint8_t icmp_code[2] = {0, 0};
  FlowEndReason reason = FlowEndReason::kIdleTimeout;
  FlowState state = FlowState::kNew;
  TcpState tcp_state = TcpState::kNone;
  uint8_t alerted = 0;
  // What the rules did to the whole flow (EVE flow.action, as Suricata's):
  // 0 nothing, 1 a pass covered it, 2 a drop (inline or simulated) did.
  uint8_t action = 0;
  uint16_t ifindex = 0;        // agent-local ingress interface (IPFIX ingressInterface)
  uint16_t worker = 0;
  bool last_slice = true;      // false for active-timeout records of a flow that continues
  char app_proto[16] = {};  // lowercase Suricata-style name; empty = none
  AppLabel app;             // nDPI's classification (empty when nDPI is off)
  bool payload_seen = false;  // some packet carried L4 payload: application detection could run
  bool tcp_reuse = false;     // ended by a new SYN on its closed 5-tuple (EVE reason tcp_reuse)
  uint64_t emit_ns = 0;     // when the record was made: the worker's clock (packet time on replay)
};

}  // namespace ws
