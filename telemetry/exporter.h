// Exporter: a consumer of flow records (EVE JSON, IPFIX, NetFlow v9, later
// protobuf and WebSocket). Exporters run on the export thread, never on a
// worker: workers push FlowRecords into per-worker SPSC rings and the export
// thread drains them in batches and hands each batch to every exporter. An
// exporter may therefore block briefly (pacing, a reconnect), but the cost
// of a slow collector lands on the export ring, never on packet processing.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "telemetry/alert_record.h"
#include "telemetry/flow_record.h"

namespace ws {

struct ExporterStats {
  uint64_t records = 0;        // flow records accepted
  uint64_t alerts = 0;         // alerts accepted
  uint64_t messages = 0;       // datagrams / stream messages / lines written
  uint64_t bytes = 0;          // bytes written
  uint64_t send_errors = 0;    // failed sends or writes (never fatal)
  uint64_t dropped_records = 0;  // records lost because the output could not take them
  uint64_t reconnects = 0;     // stream transports only
  bool up = true;              // the transport is connected / the file is open
};

// Identity of the exporting process, common to every exporter.
struct ExportContext {
  uint32_t observation_domain = 1;  // IPFIX observation domain / NetFlow source id
  uint64_t boot_ns = 0;             // agent start, for NetFlow sysUptime
  std::string iface_name;           // EVE in_iface
};

class Exporter {
 public:
  virtual ~Exporter() = default;
  // Takes a batch of ended flow records. now_ns is the export thread's
  // clock (packet time when replaying a file).
  virtual void export_flows(std::span<const FlowRecord> recs, uint64_t now_ns) = 0;
  // Takes a batch of alerts. Flow-only outputs (IPFIX, NetFlow v9) ignore them.
  virtual void export_alerts(std::span<const AlertRecord> alerts, uint64_t now_ns) {
    (void)alerts;
    (void)now_ns;
  }
  // Called periodically (about every 100 ms) and once more at shutdown with
  // final=true: send partial messages, refresh templates, sync files.
  virtual void tick(uint64_t now_ns, bool final) = 0;
  virtual ExporterStats stats() const = 0;
  virtual const std::string& name() const = 0;
};

}  // namespace ws
