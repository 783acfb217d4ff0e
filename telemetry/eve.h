// EVE JSON output: Suricata's event log format, one JSON object per line in
// DIR/eve.json, so that tools built for Suricata (Evebox, Filebeat's
// Suricata module, jq scripts, SIEM parsers) read wirescope's output as is.
//
// Three parts, so that later event types (alert, anomaly, stats) share the
// writer:
//   - format_flow_event() turns one FlowRecord into one `flow` event line,
//     with Suricata's field names, order and value formats (see eve.cc for
//     the details taken from Suricata's output-json-flow.c);
//   - EveWriter is the line sink: it owns the UringFile of DIR/eve.json and
//     knows nothing about event types;
//   - EveExporter is the Exporter that joins the two for flow records.
//
// Formatting is hand-written appends into a reusable JsonWriter (no DOM, no
// allocation per record once warm): the export thread formats every flow
// record, hundreds of thousands a second at peak.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "telemetry/alert_record.h"
#include "telemetry/exporter.h"
#include "telemetry/flow_record.h"
#include "telemetry/json_writer.h"
#include "telemetry/uring_file.h"

namespace ws {

struct EveFormatOptions {
  bool community_id = true;
  uint16_t community_id_seed = 0;
  // true: RFC 5952 text from inet_ntop ("2001:db8::1"), as the API prints
  // addresses. false: Suricata's form, eight zero-padded groups
  // ("2001:0db8:0000:...:0001"), eve.json's default (output.eve.ipv6).
  bool ipv6_compressed = true;
  // Fields for events from a labelled ingress (GNS3 link captures write
  // their "gns3" object here), appended last to flow and alert events.
  // Called on the thread that formats (the export thread), once per flow
  // record or alert and never by a worker; unset, it costs nothing.
  std::function<void(uint16_t ifindex, JsonWriter& out)> labels;
};

struct EveOptions {
  std::string dir;                  // must exist and be writable
  std::string filename = "eve.json";
  EveFormatOptions format;
  UringFileOptions file;
};

// Suricata's timestamp text for ns since the epoch, in UTC:
// "2026-11-21T04:58:10.123456+0000". Microseconds are truncated, as
// Suricata does when it takes a nanosecond capture time. Writes exactly
// kEveTimestampLen characters (no terminator) and returns that count.
inline constexpr size_t kEveTimestampLen = 31;
size_t format_eve_timestamp(uint64_t ns, char* out);

// Suricata's "proto" text for an IP protocol number ("TCP", "IPv6-ICMP", or
// the decimal number for protocols without a name).
std::string_view eve_proto_name(uint8_t proto);

// Appends one `flow` event for rec, terminated by '\n'. now_ns is the
// event's "timestamp" (Suricata logs the time the flow was logged).
void format_flow_event(const FlowRecord& rec, const ExportContext& ctx, uint64_t now_ns,
                       const EveFormatOptions& opts, JsonWriter& out);

// Appends one `alert` event for a, terminated by '\n', with Suricata's
// fields: the packet's own addresses and direction, the rule's alert
// object, the flow's counters so far, and the payload when the record
// carries one.
void format_alert_event(const AlertRecord& a, const ExportContext& ctx, const EveFormatOptions& opts,
                        JsonWriter& out);

// The line sink for DIR/eve.json, shared by every EVE event type.
class EveWriter {
 public:
  // Checks the directory and opens the file. Returns nullptr with a message
  // naming the path and the reason on failure.
  static std::unique_ptr<EveWriter> open(const EveOptions& opts, std::string* error);

  // Appends complete lines (each ending in '\n').
  void write(std::string_view lines) { file_->append(lines.data(), lines.size()); }
  void flush() { file_->flush(); }
  bool sync() { return file_->sync(); }
  bool reopen() { return file_->reopen(); }
  void close() { file_->close(); }

  const UringFile& file() const { return *file_; }
  const std::string& path() const { return file_->path(); }

 private:
  explicit EveWriter(std::unique_ptr<UringFile> f) : file_(std::move(f)) {}
  std::unique_ptr<UringFile> file_;
};

class EveExporter final : public Exporter {
 public:
  EveExporter(std::unique_ptr<EveWriter> writer, const EveOptions& opts, const ExportContext& ctx);
  ~EveExporter() override;

  void export_flows(std::span<const FlowRecord> recs, uint64_t now_ns) override;
  void export_alerts(std::span<const AlertRecord> alerts, uint64_t now_ns) override;
  void tick(uint64_t now_ns, bool final) override;
  ExporterStats stats() const override;
  const std::string& name() const override { return name_; }

  // Reopens eve.json after logrotate moved it (SIGHUP).
  bool reopen() { return writer_->reopen(); }
  // The last write error or degradation notice; empty if none.
  const std::string& last_error() const { return writer_->file().last_error(); }
  const UringFileStats& file_stats() const { return writer_->file().stats(); }

 private:
  std::unique_ptr<EveWriter> writer_;
  EveFormatOptions format_;
  ExportContext ctx_;
  JsonWriter line_;
  std::string name_ = "eve";
  uint64_t records_ = 0;
  uint64_t alerts_ = 0;
  uint64_t lines_ = 0;
};

std::unique_ptr<EveExporter> make_eve_exporter(const EveOptions& opts, const ExportContext& ctx,
                                               std::string* error);

}  // namespace ws
