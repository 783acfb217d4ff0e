// ProtoExporter: the Exporter behind --export-proto tcp://HOST:PORT. It
// writes every flow record and alert, and about once a second the agent's
// stats, as length-delimited `Event` messages (telemetry/wirescope.proto)
// on one TCP stream: the feed of a fleet pipeline's collector.
//
// Connection handling is FlowTransport's TCP transport (lazy connect, a
// bounded wait per connect and per send, a collector's close noticed
// before the next send); this exporter adds the schedule of reconnects —
// doubling delays with jitter, so a fleet of agents that lost the same
// collector does not reconnect in lockstep — and a bounded buffer.
//
// Events are encoded into that buffer as they arrive and sent in chunks of
// whole messages, so the stream is cut only between messages: a send that
// fails leaves at most one partial message on the old connection (which
// the collector discards with that connection) and the next connection
// starts at a message boundary. The failed chunk's records are counted as
// dropped, not sent again (no duplicates). One call sends for at most about
// one send timeout and leaves the rest buffered. While the collector is
// away the buffer keeps filling up to max_buffer_bytes; beyond that new records are
// dropped and counted, so a dead collector costs memory and a counter,
// never a stalled export thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "telemetry/export_url.h"
#include "telemetry/exporter.h"
#include "telemetry/flow_transport.h"
#include "telemetry/proto_codec.h"

namespace ws {

// Backoff's doubling delays with "equal jitter": each wait is drawn
// uniformly from [d/2, d] for the doubling d. A pure function of time and
// a seeded generator.
class JitteredBackoff {
 public:
  JitteredBackoff(uint64_t min_ns, uint64_t max_ns, uint64_t seed)
      : backoff_(min_ns, max_ns), rng_(seed) {}
  bool may_try(uint64_t now_ns) const { return now_ns >= next_ns_; }
  void failed(uint64_t now_ns);
  void succeeded() {
    backoff_.succeeded();
    next_ns_ = 0;
  }
  uint64_t next_try_ns() const { return next_ns_; }

 private:
  Backoff backoff_;
  std::mt19937_64 rng_;
  uint64_t next_ns_ = 0;
};

struct ProtoExportOptions {
  ExportUrl collector;  // tcp:// only
  // Connect and send timeouts; backoff_min_ms/backoff_max_ms bound the
  // reconnect delays (the transport itself is told not to wait).
  FlowTransportOptions transport;
  // Encoded events held while the collector is away or slow. 8 MiB is
  // about 50k flow records: a minute of a busy sensor's flow ends.
  size_t max_buffer_bytes = 8u << 20;
  ProtoOptions format;
  // The agent's counters for Stats events; null: no Stats events.
  std::function<StatsSnapshot()> stats;
  uint64_t stats_interval_ns = 1'000'000'000;  // on the monotonic clock
  uint64_t jitter_seed = 0;                    // 0: a random seed
};

// Counters beyond ExporterStats (each kind of loss by name).
struct ProtoExportCounters {
  uint64_t stats_events = 0;         // Stats events queued
  uint64_t dropped_buffer_full = 0;  // records refused: the buffer was full
  uint64_t dropped_send_failed = 0;  // records of chunks whose send failed
  uint64_t dropped_at_exit = 0;      // records still buffered at the final tick
  uint64_t dropped_stats = 0;        // Stats events refused or lost, for the same reasons
  uint64_t connect_failures = 0;     // connection attempts that failed
  uint64_t buffered_bytes = 0;       // encoded, not yet sent (as of the last call)
};

class ProtoExporter final : public Exporter {
 public:
  ProtoExporter(std::string name, std::unique_ptr<FlowTransport> transport, const ExportContext& ctx,
                ProtoExportOptions opts);

  void export_flows(std::span<const FlowRecord> recs, uint64_t now_ns) override;
  void export_alerts(std::span<const AlertRecord> alerts, uint64_t now_ns) override;
  // Reconnects when due, queues a Stats event when due and sends what is
  // buffered. final: one connection attempt regardless of the backoff, a
  // last Stats event, and whatever cannot be sent is counted as dropped.
  void tick(uint64_t now_ns, bool final) override;
  ExporterStats stats() const override;
  const std::string& name() const override { return name_; }
  ProtoExportCounters counters() const;

 private:
  // A run of whole messages in buffer_, sent with one send().
  struct Chunk {
    size_t end = 0;        // offset in buffer_ just past its last message
    uint32_t records = 0;  // flow records and alerts in it
    uint32_t stats = 0;    // Stats events in it
    uint32_t events = 0;
  };
  // Keeps the message appended at buffer_[before..] if the buffer has room;
  // otherwise removes it and returns false.
  bool admit(size_t before, bool record);
  void close_chunk();
  bool ensure_up(bool ignore_backoff);
  // final: ignores the backoff and may send for longer (the last tick).
  void flush(bool final);
  void publish();

  std::string name_;
  std::unique_ptr<FlowTransport> transport_;
  ProtoEncoder encoder_;
  ProtoExportOptions opts_;
  JitteredBackoff backoff_;
  std::string buffer_;
  std::vector<Chunk> chunks_;  // closed chunks, in order; the open one follows the last
  Chunk open_;                 // messages after the last closed chunk
  uint64_t next_stats_ns_ = 0;

  // Written by the export thread only, read by stats()/counters() from anywhere.
  std::atomic<uint64_t> records_{0}, alerts_{0}, messages_{0}, bytes_{0}, send_errors_{0};
  std::atomic<uint64_t> dropped_buffer_full_{0}, dropped_send_failed_{0}, dropped_at_exit_{0};
  std::atomic<uint64_t> stats_events_{0}, dropped_stats_{0}, connect_failures_{0}, reconnects_{0};
  std::atomic<uint64_t> buffered_bytes_{0};
  std::atomic<bool> up_{false};
};

// Checks the url (tcp:// only), resolves it and assembles the exporter.
// nullptr and *error ("proto: reason") on failure. No connection is made
// here: the first one is tried at the first send or tick.
std::unique_ptr<ProtoExporter> make_proto_exporter(const ProtoExportOptions& opts, const ExportContext& ctx,
                                                   std::string* error);

}  // namespace ws
