// AgentMetrics: the agent's Prometheus metrics (GET /metrics).
//
// Nothing on the data path knows about Prometheus. Workers, the dispatcher,
// sources and exporters keep their own single-writer counters (relaxed
// atomics, a plain add on x86); a scrape walks the Runtime once, sums those
// counters over the threads and builds the metric families on the spot
// (a prometheus::Collectable), so a scrape costs the scraping thread a few
// microseconds and the workers nothing: no lock, no atomic read-modify-write.
//
// Names are pinned (dashboards and other programs' tests use them):
// wirescope_packets_total, wirescope_bytes_total, wirescope_drops_total{reason},
// wirescope_decode_errors_total{reason}, wirescope_capture_drops_total{source},
// wirescope_source_{packets,bytes}_total{source},
// wirescope_flows_active, wirescope_flows_created_total,
// wirescope_flow_records_exported_total{exporter}, wirescope_alerts_total,
// wirescope_rules_loaded, wirescope_rules_failed,
// wirescope_rule_reloads_total{result}, wirescope_rules_last_reload_success,
// wirescope_build_info{version},
// wirescope_config_reloads_total{result} and
// wirescope_config_last_reload_success (with -c),
// wirescope_burst_processing_seconds (histogram),
// wirescope_app_{packets,bytes,flows}_total{app} (nDPI master protocol, with
// nDPI on); with the API server: wirescope_api_requests_total,
// wirescope_api_rate_limited_total, wirescope_api_anonymous_requests_total,
// wirescope_dashboard_files_total{result}; every other named counter
// is exported as wirescope_<stage>_<name>_total with its table's help text.
// Label values are reasons, exporter and source names and nDPI protocol names
// only: never an address, a port or a flow id, so the series count stays
// bounded.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

namespace ws {

class ApiServer;
class Runtime;

class AgentMetrics {
 public:
  // The Content-Type of render()'s text (exposition format 0.0.4).
  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

  // rt (and api, when given) must outlive this object; scrape only after
  // rt.open() succeeded. api: the API server whose counters to add.
  explicit AgentMetrics(const Runtime& rt, const ApiServer* api = nullptr);
  ~AgentMetrics();
  AgentMetrics(const AgentMetrics&) = delete;
  AgentMetrics& operator=(const AgentMetrics&) = delete;

  // Every family as of now. Thread-safe; any number of concurrent scrapes.
  std::vector<prometheus::MetricFamily> collect() const;
  // collect() in the Prometheus text format.
  std::string render() const;

  // For a prometheus::Exposer or another registry: the static families
  // (build info) and the scrape-time ones.
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  std::shared_ptr<prometheus::Collectable> runtime_collectable() const { return runtime_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<prometheus::Collectable> runtime_;
  const Runtime& rt_;
};

// The body of GET /metrics for rt, as a function the API server calls per
// request (it keeps the AgentMetrics alive).
std::function<std::string()> make_metrics_renderer(const Runtime& rt);

}  // namespace ws
