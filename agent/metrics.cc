#include "agent/metrics.h"

#include <prometheus/gauge.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <utility>

#include "agent/runtime.h"
#include "api/server.h"
#include "dataplane/capture/gns3_source.h"

namespace ws {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Sums of named counters over threads, in first-seen order (the order of the
// X-macro tables), zero values kept so every series exists from the start.
class Sums {
 public:
  void add(const std::string& name, const char* help, uint64_t v) {
    for (auto& e : entries_)
      if (e.name == name) {
        e.value += v;
        return;
      }
    entries_.push_back({name, help, v});
  }
  struct Entry {
    std::string name;
    const char* help;
    uint64_t value;
  };
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void sample(MetricFamily& f, double v, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter)
    m.counter.value = v;
  else
    m.gauge.value = v;
  f.metric.push_back(std::move(m));
}

MetricFamily one(std::string name, std::string help, MetricType type, double v) {
  MetricFamily f = family(std::move(name), std::move(help), type);
  sample(f, v);
  return f;
}

// Each counter of a table as wirescope_<prefix><name>_total.
void counters_of(const Sums& sums, const std::string& prefix, std::vector<MetricFamily>& out) {
  for (const auto& e : sums.entries())
    out.push_back(one("wirescope_" + prefix + e.name + "_total", e.help, MetricType::Counter, double(e.value)));
}

// Decode counters that name a malformed frame (wirescope_decode_errors_total);
// the rest (decoded, non-IP, link type, fragments, checksum drops) are
// outcomes, exported under their own names.
bool is_decode_error(const std::string& n) {
  return n.rfind("truncated_", 0) == 0 || n.rfind("bad_", 0) == 0 || n.rfind("mpls_", 0) == 0;
}

// Decode counters that remove a frame from the flow path, the same split as
// RunSummary::drops: decoded frames, fragments and bad checksums are counted
// but kept (only checksum_drop removes a frame).
bool is_decode_drop(const std::string& n) { return decode_counter_is_drop(n.c_str()); }

class RuntimeCollectable : public prometheus::Collectable {
 public:
  RuntimeCollectable(const Runtime& rt, const ApiServer* api) : rt_(rt), api_(api) {}
  std::vector<MetricFamily> Collect() const override;

 private:
  void sources(std::vector<MetricFamily>& out, Sums& drops) const;
  void decode(std::vector<MetricFamily>& out, Sums& drops) const;
  void workers(std::vector<MetricFamily>& out) const;
  void rules(std::vector<MetricFamily>& out) const;
  void apps(std::vector<MetricFamily>& out) const;
  void exporters(std::vector<MetricFamily>& out) const;
  void gns3(std::vector<MetricFamily>& out) const;
  void alerts_by_rule(const ExportLoop& loop, std::vector<MetricFamily>& out) const;
  void api(std::vector<MetricFamily>& out) const;

  const Runtime& rt_;
  const ApiServer* api_;  // null: no API server
};

void RuntimeCollectable::sources(std::vector<MetricFamily>& out, Sums& drops) const {
  MetricFamily capture = family("wirescope_capture_drops_total",
                                "frames the kernel or the interface dropped before the agent read them, by source",
                                MetricType::Counter);
  // Per source as well as summed: a dashboard shows which interface, queue
  // or stream carries the traffic (sources are few: one per interface
  // queue, file or GNS3 input).
  MetricFamily src_packets =
      family("wirescope_source_packets_total", "frames read from a capture source", MetricType::Counter);
  MetricFamily src_bytes =
      family("wirescope_source_bytes_total", "wire bytes of the frames read from a capture source", MetricType::Counter);
  SourceStats sum{};
  for (const auto& s : rt_.sources()) {
    const SourceStats st = s->stats();
    sum += st;
    sample(capture, double(st.kernel_drops + st.if_drops), {{"source", s->name()}});
    sample(src_packets, double(st.packets), {{"source", s->name()}});
    sample(src_bytes, double(st.bytes), {{"source", s->name()}});
  }
  out.push_back(one("wirescope_packets_total", "frames read from the capture sources", MetricType::Counter,
                    double(sum.packets)));
  out.push_back(one("wirescope_bytes_total", "wire bytes of the frames read from the capture sources",
                    MetricType::Counter, double(sum.bytes)));
  out.push_back(std::move(capture));
  out.push_back(std::move(src_packets));
  out.push_back(std::move(src_bytes));
  // Device counters of ports that have them (DPDK: imissed, ierrors,
  // rx_nombuf; inline ports: rx/tx counts), one family per counter,
  // labelled with the port and summed over the sources (an inline port is
  // served by every worker).
  std::map<std::string, std::map<std::string, uint64_t>> port_sums;  // family name -> port -> value
  for (const auto& s : rt_.sources())
    for (const PortCounter& pc : s->port_counters())
      port_sums[std::string("wirescope_") + pc.family + "_" + pc.counter + "_total"][pc.port] += pc.value;
  std::vector<MetricFamily> port;
  for (const auto& [fam, ports] : port_sums) {
    port.push_back(family(fam, "port counter " + fam.substr(10, fam.size() - 16) + ", by port", MetricType::Counter));
    for (const auto& [name, v] : ports) sample(port.back(), double(v), {{"port", name}});
  }
  for (auto& f : port) out.push_back(std::move(f));
  drops.add("kernel", nullptr, sum.kernel_drops);
  drops.add("interface", nullptr, sum.if_drops);
  drops.add("truncated_record", nullptr, sum.truncated);
  drops.add("unsupported_link", nullptr, sum.unsupported_link);
}

void RuntimeCollectable::decode(std::vector<MetricFamily>& out, Sums& drops) const {
  size_t n = 0;
  const DecodeCounterInfo* info = decode_counter_info(&n);
  // Frames are decoded by the dispatcher (one-stream sources) or by the
  // workers (per-worker queues); checksums always by the workers.
  std::vector<const DecodeStats*> stats;
  if (const Dispatcher* d = rt_.dispatcher()) stats.push_back(&d->decode_stats());
  for (const auto& w : rt_.worker_list()) stats.push_back(&w->decode_stats());
  Sums all;
  for (size_t i = 0; i < n; ++i) {
    uint64_t v = 0;
    for (const DecodeStats* s : stats) v += decode_counter_value(*s, i);
    all.add(info[i].name, info[i].help, v);
  }
  MetricFamily errors = family("wirescope_decode_errors_total", "malformed frames, by what was wrong with them",
                               MetricType::Counter);
  for (const auto& e : all.entries()) {
    if (is_decode_drop(e.name)) drops.add(e.name, nullptr, e.value);
    if (is_decode_error(e.name)) {
      sample(errors, double(e.value), {{"reason", e.name}});
    } else if (e.name == "decoded") {
      out.push_back(one("wirescope_decoded_frames_total", e.help, MetricType::Counter, double(e.value)));
    } else {
      out.push_back(one("wirescope_decode_" + e.name + "_total", e.help, MetricType::Counter, double(e.value)));
    }
  }
  out.push_back(std::move(errors));
}

void RuntimeCollectable::workers(std::vector<MetricFamily>& out) const {
  Sums worker, flow, detect, dispatch, defrag;
  bool defragging = false;
  MetricFamily ended = family("wirescope_flows_ended_total",
                              "flows ended, by reason (idle, closed, forced, shutdown, reuse)", MetricType::Counter);
  uint64_t active = 0, capacity = 0;
  uint64_t buckets[BurstTimes::kBounds + 1] = {};
  uint64_t sum_ns = 0;
  bool rules = false;
  for (const auto& w : rt_.worker_list()) {
#define WS_X(name, help) worker.add(#name, help, w->stats().name.get());
    WS_WORKER_COUNTERS(WS_X)
#undef WS_X
    const FlowTableStats& fs = w->flows().stats();
#define WS_X(name, help) flow.add(#name, help, fs.name.get());
    WS_FLOW_COUNTERS(WS_X)
#undef WS_X
    active += fs.active.get();
    capacity += w->flows().capacity();
    if (const DetectStage* d = w->detect()) {
      rules = true;
#define WS_X(name, help) detect.add(#name, help, d->stats().name.get());
      WS_DETECT_COUNTERS(WS_X)
#undef WS_X
    }
    if (const Defragmenter* df = w->defrag()) {
      defragging = true;
#define WS_X(name, help) defrag.add(#name, help, df->stats().name.get());
      WS_DEFRAG_COUNTERS(WS_X)
#undef WS_X
    }
    const BurstTimes& bt = w->burst_times();
    for (size_t i = 0; i <= BurstTimes::kBounds; ++i) buckets[i] += bt.bucket[i].get();
    sum_ns += bt.sum_ns.get();
  }
  counters_of(worker, "worker_", out);

  for (const auto& e : flow.entries()) {
    if (e.name == "flows_created") {
      out.push_back(one("wirescope_flows_created_total", e.help, MetricType::Counter, double(e.value)));
    } else if (e.name.rfind("flows_ended_", 0) == 0) {
      sample(ended, double(e.value), {{"reason", e.name.substr(std::strlen("flows_ended_"))}});
    } else {
      out.push_back(one("wirescope_flow_" + e.name + "_total", e.help, MetricType::Counter, double(e.value)));
    }
  }
  out.push_back(std::move(ended));
  out.push_back(one("wirescope_flows_active", "flows in the flow tables now", MetricType::Gauge, double(active)));
  out.push_back(one("wirescope_flows_capacity", "flows the flow tables can hold (all workers)", MetricType::Gauge,
                    double(capacity)));

  if (const Dispatcher* d = rt_.dispatcher()) {
#define WS_X(name, help) dispatch.add(#name, help, d->stats().name.get());
    WS_DISPATCH_COUNTERS(WS_X)
#undef WS_X
    counters_of(dispatch, "dispatch_", out);
  }
  if (defragging) counters_of(defrag, "defrag_", out);
  if (rules) {
    counters_of(detect, "detect_", out);
    const MatchCounters m = rt_.match_counters();
    out.push_back(one("wirescope_match_scans_total", "prefilter scans run", MetricType::Counter, double(m.scans)));
    out.push_back(one("wirescope_match_scan_errors_total", "prefilter scans that failed (packet not matched)",
                      MetricType::Counter, double(m.scan_errors)));
    out.push_back(one("wirescope_match_candidates_total", "rules confirmed because of a prefilter hit",
                      MetricType::Counter, double(m.candidates)));
    out.push_back(one("wirescope_match_always_checked_total", "rules confirmed without a prefilter hit",
                      MetricType::Counter, double(m.always_checked)));
    out.push_back(one("wirescope_match_matches_total", "rules that matched a packet", MetricType::Counter,
                      double(m.matches)));
    out.push_back(one("wirescope_match_pcre_errors_total", "pcre matches that failed with an error (limits)",
                      MetricType::Counter, double(m.pcre_errors)));
  }

  MetricFamily hist = family("wirescope_burst_processing_seconds",
                             "time a worker spends on one burst of frames, from its arrival to the end of its "
                             "per-packet path",
                             MetricType::Histogram);
  ClientMetric h;
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= BurstTimes::kBounds; ++i) {
    cumulative += buckets[i];
    ClientMetric::Bucket b;
    b.cumulative_count = cumulative;
    b.upper_bound = i < BurstTimes::kBounds ? double(BurstTimes::kBoundsNs[i]) / 1e9
                                             : std::numeric_limits<double>::infinity();
    h.histogram.bucket.push_back(b);
  }
  h.histogram.sample_count = cumulative;
  h.histogram.sample_sum = double(sum_ns) / 1e9;
  hist.metric.push_back(std::move(h));
  out.push_back(std::move(hist));
  out.push_back(one("wirescope_workers", "worker threads", MetricType::Gauge, double(rt_.worker_list().size())));
}

// nDPI: packets, bytes and flows per master protocol (the label is nDPI's
// protocol name, so the series are bounded by nDPI's protocol list; only
// protocols seen so far have a series), the classification counters, and
// the memory nDPI holds.
void RuntimeCollectable::apps(std::vector<MetricFamily>& out) const {
  Sums counters;
  uint64_t in_use = 0, pool_bytes = 0, module_bytes = 0, side_bytes = 0;
  bool any = false;
  for (const auto& w : rt_.worker_list()) {
    const AppDetect* a = w->app_detect();
    if (!a) continue;
    any = true;
#define WS_X(name, help) counters.add(#name, help, a->stats().name.get());
    WS_APP_COUNTERS(WS_X)
#undef WS_X
    in_use += a->stats().pool_in_use.get();
    pool_bytes += a->pool_bytes();
    module_bytes += a->module_bytes();
    side_bytes += w->flows().capacity() * AppDetect::side_bytes_per_flow();
  }
  if (!any) return;
  MetricFamily packets = family("wirescope_app_packets_total",
                                "frames of classified flows, by nDPI master protocol (a flow's packets are added "
                                "when it is classified)",
                                MetricType::Counter);
  MetricFamily bytes = family("wirescope_app_bytes_total", "frame bytes of classified flows, by nDPI master protocol",
                              MetricType::Counter);
  MetricFamily flows = family("wirescope_app_flows_total", "flows classified, by nDPI master protocol",
                              MetricType::Counter);
  for (const AppTotal& t : app_totals(rt_.worker_list())) {
    const std::vector<ClientMetric::Label> l{{"app", t.name}};
    sample(packets, double(t.count.packets), l);
    sample(bytes, double(t.count.bytes), l);
    sample(flows, double(t.count.flows), l);
  }
  out.push_back(std::move(packets));
  out.push_back(std::move(bytes));
  out.push_back(std::move(flows));
  counters_of(counters, "ndpi_", out);
  out.push_back(one("wirescope_ndpi_flows_in_detection", "flows holding an nDPI flow state now", MetricType::Gauge,
                    double(in_use)));
  MetricFamily mem = family("wirescope_ndpi_memory_bytes",
                            "memory set aside for nDPI: the flow-state pools and label side tables (reserved, "
                            "committed as used) and the detection modules",
                            MetricType::Gauge);
  sample(mem, double(pool_bytes), {{"part", "flow_state_pool"}});
  sample(mem, double(side_bytes), {{"part", "side_table"}});
  sample(mem, double(module_bytes), {{"part", "detection_modules"}});
  out.push_back(std::move(mem));
}

void RuntimeCollectable::rules(std::vector<MetricFamily>& out) const {
  const RuleCounts c = rt_.rule_counts();
  out.push_back(one("wirescope_rules_loaded", "rules in the running rule set", MetricType::Gauge, double(c.loaded)));
  out.push_back(one("wirescope_rules_failed", "rules of the running rule files that failed to load",
                    MetricType::Gauge, double(c.failed)));
  MetricFamily reloads = family("wirescope_rule_reloads_total",
                                "rule reloads, by result (failed: the running rules stayed)", MetricType::Counter);
  sample(reloads, double(c.reloads_ok), {{"result", "ok"}});
  sample(reloads, double(c.reloads_failed), {{"result", "failed"}});
  out.push_back(std::move(reloads));
  out.push_back(one("wirescope_rules_last_reload_success",
                    "0 when the last rule reload was refused (the previous rules stayed), else 1 (no reload yet: 1)",
                    MetricType::Gauge, c.last_reload_failed ? 0.0 : 1.0));
  // The -c config file's reloads (SIGHUP), when there is one. The gauge
  // says whether the config in force is the file's latest: a counter alone
  // cannot tell a refused reload that was later fixed from one that was not.
  const ConfigStatus cs = rt_.config_status();
  if (cs.file.empty()) return;
  MetricFamily config = family("wirescope_config_reloads_total",
                               "config file reloads, by result (failed: the previous config stayed)",
                               MetricType::Counter);
  sample(config, double(cs.reloads_ok), {{"result", "ok"}});
  sample(config, double(cs.reloads_failed), {{"result", "failed"}});
  out.push_back(std::move(config));
  out.push_back(one("wirescope_config_last_reload_success",
                    "0 when the last config file reload was refused, else 1 (no reload yet: 1)", MetricType::Gauge,
                    cs.last_error.empty() ? 1.0 : 0.0));
}

void RuntimeCollectable::exporters(std::vector<MetricFamily>& out) const {
  const ExportLoop* loop = rt_.export_loop();
  out.push_back(one("wirescope_alerts_total", "alerts handed to the exporters", MetricType::Counter,
                    loop ? double(loop->alerts()) : 0.0));
  out.push_back(one("wirescope_flow_records_total", "flow records taken from the workers for export",
                    MetricType::Counter, loop ? double(loop->records()) : 0.0));
  MetricFamily records = family("wirescope_flow_records_exported_total", "flow records an exporter accepted",
                                MetricType::Counter);
  MetricFamily messages = family("wirescope_export_messages_total",
                                 "datagrams, stream messages or lines an exporter wrote", MetricType::Counter);
  MetricFamily bytes = family("wirescope_export_bytes_total", "bytes an exporter wrote", MetricType::Counter);
  MetricFamily errors = family("wirescope_export_send_errors_total", "failed sends or writes of an exporter",
                               MetricType::Counter);
  MetricFamily dropped = family("wirescope_export_dropped_records_total",
                                "records an exporter lost because its output could not take them",
                                MetricType::Counter);
  MetricFamily reconnects = family("wirescope_export_reconnects_total", "reconnects of a stream exporter",
                                   MetricType::Counter);
  MetricFamily up = family("wirescope_exporter_up", "1 when the exporter's transport is connected or its file open",
                           MetricType::Gauge);
  // Through the runtime's status: it reads the exporters' mirrored atomics,
  // never an exporter's own fields, which the export thread writes.
  for (const ExporterStatus& st : rt_.status().exporters) {
    const std::vector<ClientMetric::Label> l{{"exporter", st.name}};
    sample(records, double(st.records), l);
    sample(messages, double(st.messages), l);
    sample(bytes, double(st.bytes), l);
    sample(errors, double(st.send_errors), l);
    sample(dropped, double(st.dropped_records), l);
    sample(reconnects, double(st.reconnects), l);
    sample(up, st.up ? 1.0 : 0.0, l);
  }
  for (MetricFamily* f : {&records, &messages, &bytes, &errors, &dropped, &reconnects, &up})
    out.push_back(std::move(*f));
  if (loop) alerts_by_rule(*loop, out);
}

// Alerts by severity (the rule's priority, as EVE's alert.severity) and by
// rule. Severities 1-4 (Suricata's classtypes) always have a series; others
// once seen. Rules are labelled "gid:sid" and their msg; the export loop
// keeps the first ExportLoop::kMaxSignatures rules to alert and counts the
// rest under sid="other", so a large rule set cannot flood the server.
void RuntimeCollectable::alerts_by_rule(const ExportLoop& loop, std::vector<MetricFamily>& out) const {
  MetricFamily sev = family("wirescope_alerts_by_severity_total",
                            "alerts handed to the exporters, by the rule's severity (priority: 1 highest)",
                            MetricType::Counter);
  for (int s = 1; s < 256; ++s) {
    const uint64_t v = loop.alerts_of_severity(uint8_t(s));
    if (v || s <= 4) sample(sev, double(v), {{"severity", std::to_string(s)}});
  }
  MetricFamily sig = family("wirescope_alerts_by_signature_total",
                            "alerts handed to the exporters, by rule (sid is gid:sid; rules past the first " +
                                std::to_string(ExportLoop::kMaxSignatures) + " to alert are counted as sid other)",
                            MetricType::Counter);
  uint64_t other = 0;
  for (const ExportLoop::SignatureCount& c : loop.signatures(&other))
    sample(sig, double(c.alerts),
           {{"sid", std::to_string(c.gid) + ":" + std::to_string(c.sid)}, {"signature", c.signature}});
  sample(sig, double(other), {{"sid", "other"}, {"signature", "other"}});
  out.push_back(std::move(sev));
  out.push_back(std::move(sig));
}

std::vector<MetricFamily> RuntimeCollectable::Collect() const {
  std::vector<MetricFamily> out;
  Sums drops;
  sources(out, drops);
  decode(out, drops);
  MetricFamily d = family("wirescope_drops_total", "frames that did not reach the flow tables, by reason",
                          MetricType::Counter);
  for (const auto& e : drops.entries()) sample(d, double(e.value), {{"reason", e.name}});
  out.push_back(std::move(d));
  workers(out);
  apps(out);
  rules(out);
  exporters(out);
  gns3(out);
  if (api_) api(out);
  return out;
}

// The API server: requests answered, refused by the rate limits, answered
// to anonymous viewers (api.anonymous_view), and the dashboard's files by
// outcome (refused: a path that tried to leave the directory or name a
// hidden or unserved file, worth watching).
void RuntimeCollectable::api(std::vector<MetricFamily>& out) const {
  out.push_back(one("wirescope_api_requests_total", "requests the API answered (WebSocket upgrades included)",
                    MetricType::Counter, double(api_->requests())));
  out.push_back(one("wirescope_api_rate_limited_total", "API requests refused by the rate limits (429)",
                    MetricType::Counter, double(api_->rate_limited())));
  out.push_back(one("wirescope_api_anonymous_requests_total",
                    "API requests answered as viewer without a token (api.anonymous_view)", MetricType::Counter,
                    double(api_->anonymous())));
  const DashboardAssets& d = api_->dashboard();
  MetricFamily files = family("wirescope_dashboard_files_total",
                              "requests for the web dashboard's files, by result (refused: an unsafe path)",
                              MetricType::Counter);
  sample(files, double(d.served()), {{"result", "served"}});
  sample(files, double(d.not_modified()), {{"result", "not_modified"}});
  sample(files, double(d.not_found()), {{"result", "not_found"}});
  sample(files, double(d.refused()), {{"result", "refused"}});
  out.push_back(std::move(files));
}

// GNS3 link captures: the breaker of each server (0 closed, 1 half-open,
// 2 open), traffic per project, and per link the stream's troubles.
void RuntimeCollectable::gns3(std::vector<MetricFamily>& out) const {
  const Gns3Source* src = rt_.gns3_source();
  if (!src) return;
  MetricFamily breaker = family("wirescope_gns3_breaker_state",
                                "circuit breaker of a GNS3 server: 0 closed, 1 half-open, 2 open", MetricType::Gauge);
  MetricFamily opened = family("wirescope_gns3_breaker_opened_total", "times a GNS3 server's breaker opened",
                               MetricType::Counter);
  MetricFamily reachable = family("wirescope_gns3_server_up", "1 when the GNS3 server answered its last request",
                                  MetricType::Gauge);
  for (const Gns3ServerStatus& s : src->servers()) {
    const double state = s.breaker == BreakerState::kOpen ? 2 : s.breaker == BreakerState::kHalfOpen ? 1 : 0;
    sample(breaker, state, {{"server", s.name}});
    sample(opened, double(s.breaker_opened), {{"server", s.name}});
    sample(reachable, s.reachable ? 1 : 0, {{"server", s.name}});
  }
  MetricFamily packets = family("wirescope_gns3_project_packets_total", "frames captured from a GNS3 project's links",
                                MetricType::Counter);
  MetricFamily bytes = family("wirescope_gns3_project_bytes_total", "frame bytes captured from a GNS3 project's links",
                              MetricType::Counter);
  std::vector<Gns3ProjectStatus> projects = src->projects();
  for (const Gns3ProjectStatus& p : projects) {
    const std::vector<ClientMetric::Label> l = {
        {"server", p.server}, {"project", p.name}, {"project_id", p.project_id}};
    sample(packets, double(p.packets), l);
    sample(bytes, double(p.bytes), l);
  }
  MetricFamily reconnects = family("wirescope_gns3_link_reconnects_total",
                                   "reconnects of a GNS3 link's capture stream", MetricType::Counter);
  MetricFamily replayed = family("wirescope_gns3_link_replayed_total",
                                 "records skipped after a reconnect because they were delivered before",
                                 MetricType::Counter);
  MetricFamily clipped = family("wirescope_gns3_link_clipped_total",
                                "frames longer than a ring slot, kept cut to the slot", MetricType::Counter);
  MetricFamily truncated = family("wirescope_gns3_stream_truncated_total",
                                  "GNS3 capture streams that ended inside a record", MetricType::Counter);
  MetricFamily unsupported = family("wirescope_gns3_stream_unsupported_total",
                                    "records of GNS3 links whose link type is not Ethernet", MetricType::Counter);
  for (const Gns3ProjectStatus& p : projects) {
    std::vector<Gns3LinkStatus> links;
    const std::string& key = p.project_id.empty() ? p.name : p.project_id;
    if (!src->links(key, &links)) continue;
    for (const Gns3LinkStatus& k : links) {
      const std::vector<ClientMetric::Label> l = {
          {"server", k.label.server}, {"project", k.label.project}, {"link_id", k.label.link_id}};
      sample(reconnects, double(k.reconnects), l);
      sample(replayed, double(k.replayed), l);
      sample(clipped, double(k.clipped), l);
      sample(truncated, double(k.truncated), l);
      sample(unsupported, double(k.unsupported_link), l);
    }
  }
  for (MetricFamily* f : {&breaker, &opened, &reachable, &packets, &bytes, &reconnects, &replayed, &clipped,
                          &truncated, &unsupported})
    out.push_back(std::move(*f));
}

}  // namespace

AgentMetrics::AgentMetrics(const Runtime& rt, const ApiServer* api)
    : registry_(std::make_shared<prometheus::Registry>()),
      runtime_(std::make_shared<RuntimeCollectable>(rt, api)),
      rt_(rt) {
  prometheus::BuildGauge()
      .Name("wirescope_build_info")
      .Help("always 1; the version label names the running build")
      .Register(*registry_)
      .Add({{"version", WIRESCOPE_VERSION}})
      .Set(1);
}

AgentMetrics::~AgentMetrics() = default;

std::vector<MetricFamily> AgentMetrics::collect() const {
  std::vector<MetricFamily> out = registry_->Collect();
  std::vector<MetricFamily> rt = runtime_->Collect();
  out.insert(out.end(), std::make_move_iterator(rt.begin()), std::make_move_iterator(rt.end()));
  return out;
}

// The QoS families (wirescope_qos_*) come from the policy store's text,
// after the rest.
std::string AgentMetrics::render() const {
  std::string out = prometheus::TextSerializer().Serialize(collect());
  if (const QosControl* q = rt_.qos()) out += qos_metrics_text(*q);
  return out;
}

std::function<std::string()> make_metrics_renderer(const Runtime& rt) {
  auto m = std::make_shared<AgentMetrics>(rt);
  return [m] { return m->render(); };
}

}  // namespace ws
