// What the API may see of and do to the running agent, as plain values and
// functions. The agent fills these from its Runtime (reading only atomic
// counters, so a request never waits on, or slows, a worker); tests fill
// them with fixed values. Keeping api/ free of the Runtime type keeps the
// layering one way: agent/ depends on api/, never the reverse.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ws {

struct FlowSnapshot;  // api/flow_query.h
struct FlowLabels;    // api/flow_query.h
struct Gns3Hooks;     // api/gns3_routes.h
class AlertHistory;  // api/alert_history.h
class QosControl;    // api/qos_routes.h

struct SourceStatus {
  std::string name;
  uint64_t packets = 0, bytes = 0;
  uint64_t kernel_drops = 0, if_drops = 0, truncated = 0, unsupported_link = 0;
};

struct WorkerStatus {
  unsigned id = 0;
  uint64_t packets = 0, bytes = 0;
  uint64_t flows_active = 0, flows_capacity = 0, flows_created = 0;
  bool finished = false;
};

struct ExporterStatus {
  std::string name;
  bool up = true;  // state: "up" or "down"
  uint64_t records = 0, alerts = 0, messages = 0, bytes = 0;
  uint64_t send_errors = 0, dropped_records = 0, reconnects = 0;
};

struct ConfigReloadStatus {
  std::string file;  // empty: no -c
  uint64_t reloads_ok = 0, reloads_failed = 0;
  std::string last_error;                   // empty when the last reload worked (or none ran)
  std::vector<std::string> restart_needed;  // changed keys that apply at the next restart
};

// A GNS3 server as /api/v1/status lists it (the source's, when the agent
// captures GNS3 links; GET /api/v1/gns3/servers has the rest).
struct Gns3ServerBrief {
  std::string name;
  bool reachable = false;
  std::string breaker;  // closed, half-open, open
};
struct AgentStatus {
  std::string version;
  double uptime_s = 0;
  bool running = false;  // the sources are being read (ready)
  std::vector<SourceStatus> sources;
  std::vector<WorkerStatus> workers;
  std::vector<ExporterStatus> exporters;
  uint64_t records_exported = 0, alerts_exported = 0;
  ConfigReloadStatus config;
  bool gns3 = false;  // a GNS3 source runs
  std::vector<Gns3ServerBrief> gns3_servers;
};

struct RuleFailure {
  std::string file;
  uint32_t line = 0;
  std::optional<uint32_t> sid;
  std::string keyword;
  std::string reason;
};

struct RulesStatus {
  bool configured = false;  // rule files were given
  uint64_t loaded = 0, failed = 0, disabled = 0;
  uint64_t generation = 0;
  std::vector<RuleFailure> failures;
  std::vector<std::string> config_errors;  // classification/threshold lines skipped
  std::string last_reload_error;            // empty when the last reload worked (or none ran)
};

struct ReloadOutcome {
  enum class Result { kOk, kNotConfigured, kBusy, kFailed, kInvalid };  // kInvalid: rules of the request failed
  Result result = Result::kOk;
  std::string error;   // why, when not kOk
  RulesStatus report;  // the attempted load (kOk, kFailed) or the running rules
};

// Totals per application since start (GET /api/v1/apps): one row per nDPI
// master protocol (or application without one), the metrics' `app` label.
struct AppSummary {
  std::string name;       // nDPI's name ("TLS", "DNS", "Unknown")
  std::string app_proto;  // EVE app_proto ("tls"); empty: none
  uint64_t packets = 0, bytes = 0, flows = 0;
};

struct AppsStatus {
  bool enabled = false;  // nDPI classification runs
  std::vector<AppSummary> apps;
};

struct AgentHooks {
  std::function<AgentStatus()> status;
  std::function<RulesStatus()> rules;
  // strict: nullopt keeps rules.strict; true refuses a set with any failed rule.
  std::function<ReloadOutcome(std::optional<bool> strict)> reload_rules;
  // POST (replace false) / PUT (replace true) /api/v1/rules with a text body.
  std::function<ReloadOutcome(bool replace, const std::string& text)> edit_rules;
  // Prometheus text exposition (version 0.0.4).
  std::function<std::string()> metrics;
  // The active flows, at most api.flow_refresh_ms old; null when the agent
  // cannot give them (not running yet).
  std::function<std::shared_ptr<const FlowSnapshot>()> flows;
  std::function<AppsStatus()> apps;
  // Recent alerts (GET /api/v1/alerts); null: none kept.
  const AlertHistory* alerts = nullptr;
  // Labels of flows from GNS3 link captures (flow_json's "gns3" object, the
  // flow filter's project=); null: the agent captures no GNS3 links.
  const FlowLabels* flow_labels = nullptr;
  // The GNS3 orchestration routes' hooks; null: the routes answer with
  // empty lists (and 503 for capture on/off).
  const Gns3Hooks* gns3 = nullptr;
  // Traffic-control policies (/api/v1/qos/...); null: the routes answer 503.
  QosControl* qos = nullptr;
};

}  // namespace ws
