#include "telemetry/proto_exporter.h"

#include <chrono>

namespace ws {
namespace {

// A chunk is closed once it holds this much: one send() per 64 KiB keeps
// syscalls few while one failed send loses little.
constexpr size_t kChunkBytes = 64 * 1024;
// export_flows/export_alerts send at once from this much buffered data;
// less waits for the next tick (about 100 ms), as IPFIX's partial messages do.
constexpr size_t kFlushBytes = 64 * 1024;
// What the final tick may spend sending what is left.
constexpr uint64_t kFinalBudgetNs = 1'000'000'000;

uint64_t monotonic_ns() {
  return uint64_t(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

void bump(std::atomic<uint64_t>& c, uint64_t n = 1) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

}  // namespace

void JitteredBackoff::failed(uint64_t now_ns) {
  backoff_.failed(now_ns);
  const uint64_t d = backoff_.next_try_ns() - now_ns;
  const uint64_t half = d / 2;
  next_ns_ = now_ns + (d - half) + (half ? rng_() % (half + 1) : 0);
}

ProtoExporter::ProtoExporter(std::string name, std::unique_ptr<FlowTransport> transport, const ExportContext& ctx,
                             ProtoExportOptions opts)
    : name_(std::move(name)),
      transport_(std::move(transport)),
      encoder_(ctx, opts.format),
      opts_(std::move(opts)),
      backoff_(uint64_t(opts_.transport.backoff_min_ms) * 1000000, uint64_t(opts_.transport.backoff_max_ms) * 1000000,
               opts_.jitter_seed ? opts_.jitter_seed : std::random_device{}()) {}

bool ProtoExporter::admit(size_t before, bool record) {
  if (buffer_.size() > opts_.max_buffer_bytes) {
    buffer_.resize(before);
    return false;
  }
  ++open_.events;
  if (record) {
    ++open_.records;
  } else {
    ++open_.stats;
  }
  const size_t start = chunks_.empty() ? 0 : chunks_.back().end;
  if (buffer_.size() - start >= kChunkBytes) close_chunk();
  return true;
}

void ProtoExporter::close_chunk() {
  if (open_.events == 0) return;
  open_.end = buffer_.size();
  chunks_.push_back(open_);
  open_ = Chunk{};
}

void ProtoExporter::export_flows(std::span<const FlowRecord> recs, uint64_t /*now_ns*/) {
  for (const FlowRecord& r : recs) {
    const size_t before = buffer_.size();
    encoder_.append_flow(r, buffer_, true);
    if (!admit(before, true)) bump(dropped_buffer_full_);
  }
  bump(records_, recs.size());
  if (buffer_.size() >= kFlushBytes) flush(false);
  publish();
}

void ProtoExporter::export_alerts(std::span<const AlertRecord> alerts, uint64_t /*now_ns*/) {
  for (const AlertRecord& a : alerts) {
    const size_t before = buffer_.size();
    encoder_.append_alert(a, buffer_, true);
    if (!admit(before, true)) bump(dropped_buffer_full_);
  }
  bump(alerts_, alerts.size());
  if (buffer_.size() >= kFlushBytes) flush(false);
  publish();
}

void ProtoExporter::tick(uint64_t /*now_ns*/, bool final) {
  const uint64_t mono = monotonic_ns();
  if (opts_.stats && (final || mono >= next_stats_ns_)) {
    const StatsSnapshot s = opts_.stats();
    const size_t before = buffer_.size();
    encoder_.append_stats(s, buffer_, true);
    if (admit(before, false)) {
      bump(stats_events_);
    } else {
      bump(dropped_stats_);
    }
    next_stats_ns_ = mono + opts_.stats_interval_ns;
  }
  flush(final);
  // Idle: still notice a collector that went away, and retry one that is
  // away, so `up` tells the truth before the next record needs it.
  if (!final && chunks_.empty()) ensure_up(false);
  if (final) {
    for (const Chunk& c : chunks_) {
      bump(dropped_at_exit_, c.records);
      bump(dropped_stats_, c.stats);
    }
    chunks_.clear();
    buffer_.clear();
  }
  publish();
}

bool ProtoExporter::ensure_up(bool ignore_backoff) {
  const uint64_t now = monotonic_ns();
  const bool was_up = transport_->up();
  if (!was_up && !ignore_backoff && !backoff_.may_try(now)) return false;
  // Up: checks whether the collector closed, and if so connects again at
  // once (the transport's own backoff is off). Down: one attempt.
  const bool fresh = transport_->prepare();
  if (!transport_->up()) {
    bump(connect_failures_);
    backoff_.failed(now);
    return false;
  }
  if (fresh) backoff_.succeeded();
  return true;
}

void ProtoExporter::flush(bool final) {
  close_chunk();
  if (chunks_.empty()) return;
  if (!ensure_up(final)) return;
  size_t start = 0;  // buffer_ offset of the first unsent chunk
  size_t done = 0;   // chunks sent or given up
  // A slow but live collector may take each chunk just within the send
  // timeout; one call still spends at most about one timeout sending and
  // leaves the rest for the next (the bounded buffer absorbs the gap). The
  // last call gets longer, within the agent's 2 s to exit.
  const uint64_t budget = final ? kFinalBudgetNs : uint64_t(opts_.transport.send_timeout_ms) * 1000000;
  const uint64_t budget_end = monotonic_ns() + budget;
  while (done < chunks_.size()) {
    if (done > 0 && monotonic_ns() >= budget_end) break;
    const Chunk& c = chunks_[done];
    const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(buffer_.data()) + start, c.end - start);
    const bool sent = transport_->send(bytes);
    ++done;
    start = c.end;
    if (sent) {
      bump(messages_, c.events);
      bump(bytes_, bytes.size());
      continue;
    }
    // The transport closed the connection (part of this chunk may be on
    // it); the rest waits for the next one, which starts at a message.
    bump(send_errors_);
    bump(dropped_send_failed_, c.records);
    bump(dropped_stats_, c.stats);
    backoff_.failed(monotonic_ns());
    break;
  }
  buffer_.erase(0, start);
  chunks_.erase(chunks_.begin(), chunks_.begin() + std::ptrdiff_t(done));
  for (Chunk& c : chunks_) c.end -= start;
}

void ProtoExporter::publish() {
  constexpr auto r = std::memory_order_relaxed;
  up_.store(transport_->up(), r);
  reconnects_.store(transport_->reconnects(), r);
  buffered_bytes_.store(buffer_.size(), r);
}

ExporterStats ProtoExporter::stats() const {
  constexpr auto r = std::memory_order_relaxed;
  ExporterStats s;
  s.records = records_.load(r);
  s.alerts = alerts_.load(r);
  s.messages = messages_.load(r);
  s.bytes = bytes_.load(r);
  s.send_errors = send_errors_.load(r);
  s.dropped_records = dropped_buffer_full_.load(r) + dropped_send_failed_.load(r) + dropped_at_exit_.load(r);
  s.reconnects = reconnects_.load(r);
  s.up = up_.load(r);
  return s;
}

ProtoExportCounters ProtoExporter::counters() const {
  constexpr auto r = std::memory_order_relaxed;
  ProtoExportCounters c;
  c.stats_events = stats_events_.load(r);
  c.dropped_buffer_full = dropped_buffer_full_.load(r);
  c.dropped_send_failed = dropped_send_failed_.load(r);
  c.dropped_at_exit = dropped_at_exit_.load(r);
  c.dropped_stats = dropped_stats_.load(r);
  c.connect_failures = connect_failures_.load(r);
  c.buffered_bytes = buffered_bytes_.load(r);
  return c;
}

std::unique_ptr<ProtoExporter> make_proto_exporter(const ProtoExportOptions& opts, const ExportContext& ctx,
                                                   std::string* error) {
  if (opts.collector.protocol != ExportProtocol::kTcp) {
    if (error)
      *error = "proto: export to " + opts.collector.str() +
               ": protobuf events are a stream of length-delimited messages; use tcp://HOST:PORT";
    return nullptr;
  }
  // The exporter schedules reconnects itself (with jitter); the transport
  // is told to try whenever asked.
  FlowTransportOptions t = opts.transport;
  t.backoff_min_ms = 0;
  t.backoff_max_ms = 0;
  std::string why;
  std::unique_ptr<FlowTransport> transport = make_flow_transport(opts.collector, t, &why);
  if (!transport) {
    if (error) *error = "proto: " + why;
    return nullptr;
  }
  return std::make_unique<ProtoExporter>("proto", std::move(transport), ctx, opts);
}

}  // namespace ws
