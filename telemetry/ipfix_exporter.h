// FlowMessageExporter: the Exporter behind both --ipfix and --netflow9. It
// turns each FlowRecord into export records, packs them into as few
// MTU-sized messages as possible with a MessageEncoder, and hands whole
// messages to a FlowTransport. A message is sent as soon as it is full;
// a partly filled one waits for the next tick (about 100 ms), which bounds
// export latency without sending many small datagrams.
//
// Templates go out at the start of every transport session and, over UDP
// where a collector may start (or restart) at any time, again every
// refresh interval or message count, whichever comes first. Both are
// measured on the export clock (now_ns), so a replayed capture refreshes in
// capture time just as a live agent does in wall time.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "telemetry/exporter.h"
#include "telemetry/flow_transport.h"
#include "telemetry/ipfix_encoder.h"

namespace ws {

struct TemplateRefresh {
  uint64_t interval_ns = 0;  // 0 = never by time
  uint32_t messages = 0;     // templates in every this-many-th message; 0 = never by count
};

// Counters beyond ExporterStats, for the metrics page.
struct FlowMessageCounters {
  uint64_t data_records = 0;       // export records put into sent messages
  uint64_t template_messages = 0;  // sent messages that carried templates
  uint64_t skipped_records = 0;    // flow records with no packets or an unknown family
  uint64_t oversize_records = 0;   // export records larger than the MTU (dropped)
  uint64_t clamped_times = 0;      // NetFlow v9 times before boot_ns, sent as uptime 0
};

class FlowMessageExporter final : public Exporter {
 public:
  FlowMessageExporter(std::string name, MessageEncoder encoder, std::unique_ptr<FlowTransport> transport,
                      bool biflow, TemplateRefresh refresh);

  void export_flows(std::span<const FlowRecord> recs, uint64_t now_ns) override;
  void tick(uint64_t now_ns, bool final) override;
  ExporterStats stats() const override;
  const std::string& name() const override { return name_; }
  FlowMessageCounters counters() const;

 private:
  void add(const ExportRecord& rec, uint64_t now_ns);
  void flush(uint64_t now_ns);
  void begin_message(uint64_t now_ns);

  std::string name_;
  MessageEncoder encoder_;
  std::unique_ptr<FlowTransport> transport_;
  bool biflow_;
  TemplateRefresh refresh_;
  uint64_t last_templates_ns_ = 0;
  uint32_t messages_since_templates_ = 0;  // sent messages since and including the last with templates
  bool templates_ever_sent_ = false;

  // Written by the export thread only, read by stats() from anywhere.
  std::atomic<uint64_t> records_{0};
  std::atomic<uint64_t> messages_{0};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> send_errors_{0};
  std::atomic<uint64_t> dropped_records_{0};
  std::atomic<uint64_t> data_records_{0};
  std::atomic<uint64_t> template_messages_{0};
  std::atomic<uint64_t> skipped_records_{0};
  std::atomic<uint64_t> oversize_records_{0};
  std::atomic<uint64_t> clamped_times_{0};
  std::atomic<uint64_t> reconnects_{0};
  std::atomic<bool> up_{true};
};

// The factory behind make_ipfix_exporter and make_netflow9_exporter: checks
// the MTU against the encoder, opens the transport and assembles the
// exporter. nullptr and *error ("NAME: reason") when either fails.
std::unique_ptr<Exporter> make_message_exporter(const std::string& name, const EncoderConfig& cfg,
                                                const ExportUrl& collector,
                                                const FlowTransportOptions& transport, bool biflow,
                                                uint32_t template_refresh_s,
                                                uint32_t template_refresh_messages, std::string* error);

}  // namespace ws
