// AgentConfig: every setting of the agent in one plain struct, defaults in
// the declarations (Katran's KatranConfig style). It is filled once, from
// the YAML file (-c) and then the command line, and validated before
// anything starts; runtime code never sees YAML or flags.
//
// Every flag has a config key:
//   -r FILE            input.file            --loop            input.loop
//   --replay-speed X   input.replay_speed    --simulate-ips    input.simulate_ips
//   -i IFACE           input.interface       --capture M       input.capture
//   --snaplen N        input.snaplen         --bpf EXPR        input.bpf
//   --no-promisc       input.promisc: false
//   --workers N        workers               -k none|all       checksum
//   -l DIR             output.log_dir        --eve-file NAME   output.eve.filename
//   --ipfix URL        output.ipfix.url      --ipfix-biflow    output.ipfix.biflow
//   --netflow9 URL     output.netflow9.url   --export-mtu N    output.export.mtu
//   --export-rate N    output.export.rate    --template-refresh S  output.export.template_refresh
//   --export-proto URL output.proto.url      (protobuf events to tcp://HOST:PORT)
//   --max-flows N      flow.max_flows        --active-timeout S    flow.active_timeout
//   (per-state idle timeouts: flow.timeouts.{tcp,udp,icmp,other}.{new,established,closed})
//   -S FILE (repeatable) rules.files      --strict-rules    rules.strict
//   (rules.classification_file, rules.threshold_file, rules.cache_dir,
//    rules.max_alerts_per_packet, rules.action_order, rules.vars.address.NAME, rules.vars.port.NAME,
//    output.eve.payload)
//   --api HOST:PORT    api.listen        (api.tokens, api.metrics_auth, api.max_body_bytes,
//    api.rate_limit.requests_per_second, api.rate_limit.burst, api.tls_cert, api.tls_key,
//    api.max_stream_clients, api.stream_queue_frames, api.dashboard, api.dashboard_dir,
//    api.anonymous_view)
//   -T                 test the config and rules, then exit (no key: an action)
//   --no-ndpi          ndpi.enabled: false   --ndpi-max-packets N  ndpi.max_packets
//   (ndpi.pool_flows)
//   --inline A:B (repeatable) inline: [{a: A, b: B}]   (bridge A and B, IPS verdicts)
//   --dpdk-eal-args "ARGS"  dpdk.eal_args (a list, or one string split at spaces)
//   (dpdk.mbufs; with --capture dpdk, -i names the port: PCI address or vdev)
//   (gns3.servers, gns3.capture: GNS3 link captures, an input of their own;
//    see dataplane/capture/gns3_config.h)
//   (qos.mode: inline or tc, qos.interface (tc: the interface whose egress is
//    shaped), qos.policies.NAME: QoS policies installed at start, the
//    PUT /api/v1/qos/policies/NAME body written as YAML)
//   -v                 verbose (a count)
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/server.h"
#include "dataplane/capture/afpacket_inline.h"
#include "dataplane/capture/gns3_config.h"
#include "dataplane/decode.h"
#include "dataplane/defrag.h"
#include "dataplane/detect.h"
#include "dataplane/flow_table.h"
#include "rules/rule_snapshot.h"

namespace ws {

// Traffic control (the qos: section).
struct QosConfig {
  // inline: the inline path's own QoS stage (needs inline pairs); tc: the
  // kernel's traffic control on `interface` (dataplane/qos/tc_host.h).
  std::string mode = "inline";
  std::string interface;
  // Installed at start as PUT /api/v1/qos/policies/NAME would; parsed (and
  // refused with the field path) when the file is read.
  std::map<std::string, nlohmann::json> policies;
};

struct AgentConfig {
  // input
  std::string read_file;
  bool loop = false;
  // Suricata's --simulate-ips: drop and reject rules act as inline (the
  // alert says blocked, the flow is dropped and not inspected further, the
  // drops are counted) on a passive input; nothing is forwarded anyway.
  bool simulate_ips = false;
  double replay_speed = 0;  // -r at the recorded pace times this; 0: as fast as possible
  std::string interface;
  std::string capture = "afpacket";  // afpacket | pcap | dpdk
  std::vector<std::string> dpdk_eal_args;  // EAL arguments for --capture dpdk
  uint32_t dpdk_mbufs = 8191;              // mbuf pool of the DPDK port
  int snaplen = 65535;
  bool promisc = true;
  std::string bpf;
  // GRO, LRO, TSO, GSO off on the live and inline interfaces while the
  // agent runs, turned back on at exit (dataplane/capture/offload.h).
  bool disable_offloading = true;
  // Inline pairs (an input of their own, instead of -r or -i): each pair is
  // bridged at layer 2 and rule verdicts (drop, reject) apply.
  std::vector<InlinePair> inline_pairs;
  // GNS3 link captures (the gns3: section): another input of its own, every
  // captured link of every server merged into one source.
  Gns3Config gns3;
  // Traffic control: inline QoS stage or host mode (Linux tc).
  QosConfig qos;

  unsigned workers = 0;  // 0: one per core
  // CPU placement (empty: wherever the kernel puts them). Worker i runs on
  // worker_cpus[i % n] (the file reader anywhere in worker_cpus); every other
  // thread on management_cpus.
  std::vector<int> worker_cpus;
  std::vector<int> management_cpus;
  // The workers' decoder as the config sets it: `checksum` (-k) and the
  // decoder.* keys (tunnels, ipv4_in_ipv4, vxlan_port, gre, geneve_port,
  // teredo_port), with DecodeOptions' defaults.
  DecodeOptions decoder;
  // IP defragmentation for rule matching (the defrag: section).
  DefragOptions defrag;

  // flow table; max_flows is for the whole agent, split over the workers
  uint64_t max_flows = 1u << 20;
  uint32_t active_timeout_s = 1800;
  StateTimeouts tcp{60, 600, 60};
  StateTimeouts udp{30, 300, 0};
  StateTimeouts icmp{30, 300, 0};
  StateTimeouts other{30, 300, 0};

  // outputs
  std::string log_dir;
  std::string eve_filename = "eve.json";
  std::string ipfix_url;
  bool ipfix_biflow = false;
  std::string netflow9_url;
  uint32_t export_mtu = 1400;
  uint32_t export_rate = 20000;       // datagrams/s, 0 = unpaced
  uint32_t template_refresh_s = 30;
  std::string proto_url;  // length-delimited protobuf events (telemetry/wirescope.proto), tcp:// only

  bool eve_payload = false;  // alerts carry payload / payload_printable
  bool eve_packet = true;    // alerts carry packet / packet_info, as Suricata's by default
  // output.eve.ipv6: false ("full", Suricata's form: eight zero-padded
  // groups) or true ("compressed", RFC 5952). The API always compresses.
  bool eve_ipv6_compressed = false;

  // rules
  std::vector<std::string> rule_files;
  std::string classification_file;  // empty: Suricata's default table
  std::string threshold_file;
  std::string rule_cache_dir;       // compiled Hyperscan databases; empty: no cache
  bool strict_rules = false;        // a rule that fails to load is an error
  uint32_t max_alerts_per_packet = 15;
  // Suricata's action-order (rules.action_order): pass, drop, reject, alert.
  ActionOrder action_order = kDefaultActionOrder;
  // Suricata's stream.midstream, stream.midstream-policy and the
  // exception-policy master switch (stream.midstream, stream.midstream_policy,
  // exception_policy); see effective_midstream_policy().
  bool stream_midstream = false;
  ExceptionPolicy midstream_policy = ExceptionPolicy::kAuto;
  ExceptionPolicy exception_policy = ExceptionPolicy::kAuto;
  // Raw stream inspection outside inline mode (stream.chunk_size,
  // stream.memcap; DetectOptions): bytes a TCP direction holds before it
  // is inspected, and each worker's memory for held stream data.
  uint32_t stream_chunk_size = 2560;
  uint64_t stream_memcap = uint64_t{64} << 20;
  std::map<std::string, std::string> address_vars;  // override Suricata's defaults
  std::map<std::string, std::string> port_vars;

  // application classification (nDPI): packets per flow given to nDPI at
  // most (nProbe Cento's 10), and nDPI flow states for the whole agent
  // (flows being classified at once; 0: max_flows / 8, at least 1024 per
  // worker), split over the workers
  bool ndpi_enabled = true;
  uint32_t ndpi_max_packets = 10;
  uint64_t ndpi_pool_flows = 0;

  // REST API; no API when api.listen is empty. Defaults in ApiOptions.
  ApiOptions api;
  // What the API's data routes keep (agent side): how old a flow snapshot
  // may be before a request takes a new one, how many flows each worker
  // copies into it, and how many recent alerts GET /alerts can page through.
  uint32_t flow_refresh_ms = 1000;
  uint64_t flow_snapshot_max = 65536;
  uint64_t alert_history = 10000;

  int verbose = 0;
};

// Reads a YAML config file into cfg (keys not in the file keep their
// values). Returns "" or an error naming FILE:LINE and the reason.
std::string load_config_file(const std::string& path, AgentConfig& cfg);

// Splits a --dpdk-eal-args string at runs of spaces.
std::vector<std::string> split_eal_args(const std::string& text);

// Parses "A:B" (the --inline flag); "" or the reason.
std::string parse_inline_pair(const std::string& text, InlinePair* out);

// Checks cross-field rules (exactly one input, known capture method,
// parseable export URLs, sane sizes). Returns "" or the reason.
// need_input false (-T) skips the input checks.
std::string validate_config(const AgentConfig& cfg, bool need_input = true);

}  // namespace ws
