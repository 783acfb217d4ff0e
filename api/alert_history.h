// AlertHistory: the recent alerts behind GET /api/v1/alerts.
//
// It is an Exporter, so alerts reach it the way they reach eve.json: on the
// export thread, after the workers have pushed them through their rings.
// Each alert is formatted once as its EVE `alert` event and kept, with the
// fields the API filters on, in a ring of fixed size; the oldest alert makes
// room for the newest (counted as `evicted`). Requests read under a mutex
// shared only with the export thread, never with a worker.
//
// Every alert gets a sequence number; pages run from the newest down and the
// cursor is the last sequence number returned, so paging is stable while
// new alerts keep arriving.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/flow_query.h"
#include "telemetry/eve.h"
#include "telemetry/exporter.h"

namespace ws {

struct AlertQuery {
  std::optional<uint32_t> sid;
  std::optional<CidrFilter> src;  // the packet's source
  std::optional<CidrFilter> dst;  // the packet's destination
  uint64_t since_ns = 0;        // alerts at or after (packet time)
  size_t limit = 100;           // 1..1000
  std::optional<uint64_t> before_seq;  // from the cursor
};

// Parses /alerts query parameters (sid, src, dst, since, limit, cursor).
// since: RFC 3339 ("2026-11-21T10:00:00Z", fractional seconds and offsets
// allowed) or seconds since the epoch. Returns "" or what is wrong.
std::string parse_alert_query(const HttpRequest& req, AlertQuery* out);

// "2026-11-21T10:00:00.5+01:00" → ns since the epoch; false when malformed.
bool parse_rfc3339(const std::string& s, uint64_t* ns);

struct AlertPage {
  std::vector<std::string> events;  // EVE alert objects (JSON text, no newline), newest first
  std::string next_cursor;          // empty on the last page
  uint64_t total = 0;               // alerts received since start
  uint64_t evicted = 0;             // alerts pushed out of the ring
  uint64_t last_seq = 0;            // sequence number of the last event returned
};

class AlertHistory final : public Exporter {
 public:
  AlertHistory(size_t capacity, ExportContext ctx, EveFormatOptions fmt);

  AlertPage query(const AlertQuery& q) const;

  void export_flows(std::span<const FlowRecord>, uint64_t) override {}
  void export_alerts(std::span<const AlertRecord> alerts, uint64_t now_ns) override;
  void tick(uint64_t, bool) override {}
  ExporterStats stats() const override;
  const std::string& name() const override { return name_; }

 private:
  struct Entry {
    uint64_t seq;
    uint64_t ts_ns;
    uint32_t sid;
    uint8_t family;
    uint8_t src[16], dst[16];
    std::string json;
  };
  const size_t capacity_;
  const ExportContext ctx_;
  const EveFormatOptions fmt_;
  const std::string name_ = "api-alerts";
  JsonWriter line_;  // export thread only
  mutable std::mutex mu_;
  std::deque<Entry> ring_;  // oldest first
  uint64_t next_seq_ = 1;
  uint64_t evicted_ = 0;
};

}  // namespace ws
