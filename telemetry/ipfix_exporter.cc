#include "telemetry/ipfix_exporter.h"

namespace ws {

namespace {

void bump(std::atomic<uint64_t>& c, uint64_t n = 1) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

}  // namespace

FlowMessageExporter::FlowMessageExporter(std::string name, MessageEncoder encoder,
                                         std::unique_ptr<FlowTransport> transport, bool biflow,
                                         TemplateRefresh refresh)
    : name_(std::move(name)),
      encoder_(std::move(encoder)),
      transport_(std::move(transport)),
      biflow_(biflow),
      refresh_(refresh) {}

void FlowMessageExporter::export_flows(std::span<const FlowRecord> recs, uint64_t now_ns) {
  ExportRecord out[2];
  for (const FlowRecord& rec : recs) {
    bump(records_);
    const size_t n = to_export_records(rec, biflow_, out);
    if (n == 0) bump(skipped_records_);
    for (size_t i = 0; i < n; ++i) add(out[i], now_ns);
  }
}

void FlowMessageExporter::tick(uint64_t now_ns, bool) {
  if (!encoder_.empty()) flush(now_ns);
  up_.store(transport_->up(), std::memory_order_relaxed);
}

void FlowMessageExporter::begin_message(uint64_t now_ns) {
  if (transport_->prepare()) encoder_.restart_session();
  if (transport_->reliable() || !templates_ever_sent_) return;
  const bool by_time = refresh_.interval_ns != 0 && now_ns >= last_templates_ns_ + refresh_.interval_ns;
  const bool by_count = refresh_.messages != 0 && messages_since_templates_ >= refresh_.messages;
  if (by_time || by_count) encoder_.want_templates();
}

void FlowMessageExporter::add(const ExportRecord& rec, uint64_t now_ns) {
  if (encoder_.empty()) begin_message(now_ns);
  MessageEncoder::Add r = encoder_.add(rec);
  if (r == MessageEncoder::Add::kFull) {
    flush(now_ns);
    begin_message(now_ns);
    r = encoder_.add(rec);
  }
  if (r != MessageEncoder::Add::kAdded) {
    // Factories reject MTUs below min_mtu() and build a template for every
    // family to_export_records() emits, so this is a safety net.
    bump(oversize_records_);
    bump(dropped_records_);
  }
}

void FlowMessageExporter::flush(uint64_t now_ns) {
  const uint32_t n = encoder_.open_records();
  const std::span<const uint8_t> msg = encoder_.finish(now_ns);
  if (msg.empty()) return;
  const bool had_templates = encoder_.last_had_templates();
  clamped_times_.store(encoder_.clamped_times(), std::memory_order_relaxed);
  if (transport_->send(msg)) {
    bump(messages_);
    bump(bytes_, msg.size());
    bump(data_records_, n);
    if (had_templates) {
      bump(template_messages_);
      templates_ever_sent_ = true;
      last_templates_ns_ = now_ns;
      messages_since_templates_ = 1;
    } else {
      ++messages_since_templates_;
    }
  } else {
    bump(send_errors_);
    bump(dropped_records_, n);
    // Lost templates must not wait for the next refresh.
    if (had_templates) encoder_.want_templates();
  }
  up_.store(transport_->up(), std::memory_order_relaxed);
  reconnects_.store(transport_->reconnects(), std::memory_order_relaxed);
}

ExporterStats FlowMessageExporter::stats() const {
  ExporterStats s;
  s.records = records_.load(std::memory_order_relaxed);
  s.messages = messages_.load(std::memory_order_relaxed);
  s.bytes = bytes_.load(std::memory_order_relaxed);
  s.send_errors = send_errors_.load(std::memory_order_relaxed);
  s.dropped_records = dropped_records_.load(std::memory_order_relaxed);
  s.reconnects = reconnects_.load(std::memory_order_relaxed);
  s.up = up_.load(std::memory_order_relaxed);
  return s;
}

FlowMessageCounters FlowMessageExporter::counters() const {
  FlowMessageCounters c;
  c.data_records = data_records_.load(std::memory_order_relaxed);
  c.template_messages = template_messages_.load(std::memory_order_relaxed);
  c.skipped_records = skipped_records_.load(std::memory_order_relaxed);
  c.oversize_records = oversize_records_.load(std::memory_order_relaxed);
  c.clamped_times = clamped_times_.load(std::memory_order_relaxed);
  return c;
}

std::unique_ptr<Exporter> make_message_exporter(const std::string& name, const EncoderConfig& cfg,
                                                const ExportUrl& collector,
                                                const FlowTransportOptions& transport, bool biflow,
                                                uint32_t template_refresh_s,
                                                uint32_t template_refresh_messages, std::string* error) {
  MessageEncoder encoder(cfg);
  if (cfg.mtu < encoder.min_mtu() || cfg.mtu > 65535) {
    if (error) {
      *error = name + ": mtu " + std::to_string(cfg.mtu) + " must be between " +
               std::to_string(encoder.min_mtu()) + " and 65535 bytes";
    }
    return nullptr;
  }
  std::string why;
  std::unique_ptr<FlowTransport> sender = make_flow_transport(collector, transport, &why);
  if (!sender) {
    if (error) *error = name + ": " + why;
    return nullptr;
  }
  TemplateRefresh refresh;
  refresh.interval_ns = uint64_t(template_refresh_s) * 1000000000ull;
  refresh.messages = template_refresh_messages;
  return std::make_unique<FlowMessageExporter>(name, std::move(encoder), std::move(sender), biflow, refresh);
}

}  // namespace ws
