// Runtime: builds the pipeline from an AgentConfig and runs it.
//
//   source(s) ──► [dispatcher ─SPSC─►] worker × N ─SPSC─► export loop ─► EVE / IPFIX / NetFlow v9
//
// Everything is constructed and connected here by hand, in one place; no
// component looks another up. Threads: one per worker, a dispatcher when a
// one-stream source feeds several workers, the export loop, and the
// calling thread, which waits for signals and the end of the input.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "agent/config.h"
#include "api/agent_view.h"
#include "api/alert_history.h"
#include "api/qos_routes.h"
#include "api/flow_query.h"
#include "api/gns3_routes.h"
#include "dataplane/capture/offload.h"
#include "dataplane/gns3_label.h"
#include "dataplane/source.h"
#include "dataplane/worker.h"
#include "rules/rule_snapshot.h"
#include "telemetry/export_loop.h"
#include "telemetry/exporter.h"
#include "telemetry/json_writer.h"

namespace ws {

class EveExporter;

struct RunSummary {
  uint64_t packets = 0;  // frames read from the sources
  uint64_t bytes = 0;
  uint64_t flows = 0;    // flows created
  uint64_t records = 0;  // flow records exported
  uint64_t alerts = 0;   // alerts exported
  bool rules = false;    // rules were loaded (the summary then reports alerts)
  double seconds = 0;
  std::vector<std::pair<std::string, uint64_t>> drops;  // non-zero reasons only
  std::vector<std::pair<std::string, uint64_t>> counters;  // every non-zero counter, summed over threads
  std::string errors;    // source/exporter errors worth telling the user
};

// Rule counts for metrics and reports, readable from any thread.
struct RuleCounts {
  bool configured = false;  // rules were given (-S or rules.files)
  uint64_t loaded = 0;      // rules in the running set
  uint64_t failed = 0;      // rules of the running set's files that failed to load
  uint64_t reloads_ok = 0;
  uint64_t reloads_failed = 0;  // reloads refused (the running rules stayed)
  bool last_reload_failed = false;  // the last reload was refused (none yet: false)
};

// The config file behind a running agent and its reloads (SIGHUP).
struct ConfigStatus {
  std::string file;  // empty: no -c
  uint64_t reloads_ok = 0, reloads_failed = 0;
  std::string last_error;                   // why the last reload was refused; empty: it worked
  std::vector<std::string> restart_needed;  // keys the last good reload changed that only a restart applies
};

// Reads the config again (the file, then the command line's overrides):
// "" or the error, naming FILE:LINE.
using ConfigLoader = std::function<std::string(AgentConfig* out)>;

class Runtime {
 public:
  explicit Runtime(AgentConfig cfg);
  ~Runtime();
  // Link state changes of each inline interface (down, up), by name.
  std::vector<std::tuple<std::string, uint64_t, uint64_t>> link_events() const {
    std::vector<std::tuple<std::string, uint64_t, uint64_t>> out;
    for (const auto& l : links_) out.emplace_back(l->name, l->downs.load(), l->ups.load());
    return out;
  }

  // An exporter the runtime does not own (the API's WebSocket stream),
  // fed like the configured ones. Before open(); it must outlive run().
  void add_exporter(Exporter* e) { external_.push_back(e); }
  // Opens sources and exporters. Returns "" or what went wrong.
  std::string open();
  // Runs until the input ends or stop becomes true; returns when every flow
  // has been flushed and every exporter has finished. Each time reload is
  // found true it is reset, the rules (or the config) are reloaded and
  // eve.json is reopened on the export thread before its next write
  // (SIGHUP; logrotate moves the file, then signals).
  void run(const std::atomic<bool>& stop, std::atomic<bool>* reload = nullptr);
  // Told the service state as sd_notify(3) assignments (agent/sd_notify.h):
  // READY=1 once the sources run, RELOADING=1 ... READY=1 around each
  // SIGHUP reload, STOPPING=1 when the run begins to end. Before run().
  void set_notify(std::function<void(const std::string&)> notify) { notify_ = std::move(notify); }

  // Parses and compiles the configured rules off the data path and, when
  // that succeeds, swaps them in; workers switch at their next burst. On
  // failure (report.fatal, or any failed rule with strict_rules) the running
  // rules stay. Thread-safe against the workers; one reload at a time.
  // strict (API): overrides rules.strict for this reload.
  RuleLoadReport reload_rules(std::optional<bool> strict = std::nullopt);
  // The report of the rules running now (null without rules).
  const RuleLoadReport* rules_report() const;
  uint64_t rules_generation() const { return rule_slot_ ? rule_slot_->generation() : 0; }

  RunSummary summary() const;
  unsigned workers() const { return nworkers_; }

  // Read-only views for the metrics scrape: filled by open() and fixed
  // from then on, so they may be read from any thread while run() runs
  // (every counter behind them is a relaxed atomic with one writer).
  const std::vector<std::unique_ptr<PacketSource>>& sources() const { return sources_; }
  const std::vector<std::unique_ptr<Worker>>& worker_list() const { return workers_; }
  const Dispatcher* dispatcher() const { return dispatcher_.get(); }
  const ExportLoop* export_loop() const { return export_loop_.get(); }
  RuleCounts rule_counts() const;
  // Matcher counters summed over the workers. Safe while running: the rule
  // snapshots whose scratch holds them are freed only under the same lock.
  MatchCounters match_counters() const;
  size_t bytes_per_flow() const;

  // For the API, from any thread while run() runs (added for the REST
  // API). They read only atomic counters and values fixed by open(), so a
  // request never waits on or slows a worker; the rule calls take the
  // reload lock (control side only).
  bool running() const { return running_.load(std::memory_order_acquire); }
  AgentStatus status() const;
  RulesStatus rules_status() const;
  // SIGHUP re-reads the config through loader (before run()). The rules.*
  // keys apply at once (the rules are reloaded with them); other changed
  // keys are listed as needing a restart. A config that does not load or
  // validate, or whose rules fail to load, changes nothing.
  void set_config_loader(std::string file, ConfigLoader loader);
  // One config reload now; "" or why it was refused. Thread-safe.
  std::string reload_config();
  ConfigStatus config_status() const;

  // A reload for the API: kBusy instead of waiting when one is running.
  ReloadOutcome try_reload_rules(std::optional<bool> strict);
  // POST (replace false: append) or PUT (replace true: the body becomes
  // the whole set, rule files included) /api/v1/rules. The body's rules
  // are loaded with the rest; if any of them fails, kInvalid with those
  // failures and nothing changes. kBusy while a reload runs.
  ReloadOutcome edit_rules(bool replace, const std::string& text);
  // The active flows of every worker (api/flow_query.h): the cached copy
  // when it is younger than flow_refresh_ms, else a new one, which each
  // worker fills a few slots per burst. Null before open(). Waits up to
  // 2 s for a stalled worker, then leaves its flows out (workers_missing).
  FlowSnapshotPtr flow_snapshot();
  // Totals per application over the workers (GET /api/v1/apps).
  AppsStatus apps_status() const;
  // Recent alerts (GET /api/v1/alerts); null when the API is off.
  const AlertHistory* alert_history() const { return alert_history_; }

  // GNS3 link captures (gns3: config): the source (one of sources()), the
  // orchestration routes' hooks (source status plus active flows and
  // alerts per project) and the flows' labels for the API. All null
  // without GNS3 captures; fixed by open().
  Gns3Source* gns3_source() const { return gns3_; }
  const Gns3Hooks* gns3_hooks() const { return gns3_ ? &gns3_hooks_ : nullptr; }
  const FlowLabels* flow_labels() const { return gns3_ ? &flow_labels_ : nullptr; }
  // GNS3 link labels for one more formatting thread (the API's stream):
  // EVE's "gns3" object and protobuf's Gns3Link. Empty without GNS3 captures.
  std::function<void(uint16_t, JsonWriter&)> gns3_eve_labels_for_thread() const;
  std::function<const Gns3LinkLabel*(uint16_t)> gns3_labels_for_thread() const;
  // Alerts exported per GNS3 project id since start.
  uint64_t gns3_alerts(const std::string& project_id) const;
  // Active flows per GNS3 project id in the current flow snapshot.
  uint64_t gns3_active_flows(const std::string& project_id);
  // Traffic control (inline mode): the policy store the API edits; set
  // before open(), it must outlive run(). Without it the inline path runs
  // no QoS stage.
  void set_qos(QosControl* q) { qos_ = q; }
  const QosControl* qos() const { return qos_; }

 private:
  // The CPUs the workers and the file reader may run on.
  const std::vector<int>& worker_cpu_set() const;
  // Pins the calling thread, worker i, to its CPU of worker_cpus (if any).
  void pin_worker(unsigned i) const;
  // An exporter's stats copied into atomics by the export thread after
  // each tick (about every 100 ms), because Exporter::stats() may only be
  // called from that thread while it runs.
  struct ExporterMirror {
    std::string name;
    std::atomic<bool> up{true};
    bool seen = false;  // run()'s thread only
    std::atomic<uint64_t> records{0}, alerts{0}, messages{0}, bytes{0}, send_errors{0}, dropped_records{0},
        reconnects{0};
  };
  RuleLoadReport reload_locked(std::optional<bool> strict);
  // Inline interfaces' link state, polled by run()'s thread.
  struct LinkWatch {
    std::string name;
    std::atomic<bool> up{true};
    bool seen = false;  // run()'s thread only
    std::atomic<uint64_t> downs{0}, ups{0};
    bool told_truncated = false, told_oversize = false;  // run()'s thread only
  };
  void tell_oversize_frames(size_t port, LinkWatch& l);
  void watch_links();
  RuleLoadReport reload_attempt(std::optional<bool> strict);

  std::atomic<bool> running_{false};
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  mutable std::mutex reload_mu_;  // one reload at a time; rules_status() reads under it
  std::string last_reload_error_;
  std::atomic<bool> last_reload_failed_{false};  // !last_reload_error_.empty(), for any thread
  void set_reload_error(std::string e);
  std::vector<std::unique_ptr<ExporterMirror>> mirrors_;
  std::vector<std::unique_ptr<Exporter>> mirrored_;  // what the export loop calls
  AgentConfig cfg_;
  unsigned nworkers_ = 1;
  // Declared before the workers: they hold it until they are destroyed.
  std::unique_ptr<RuleSlot> rule_slot_;
  RuleLoadOptions rule_opts_;
  std::vector<std::unique_ptr<PacketSource>> sources_;
  OffloadGuard offloads_;  // input.disable_offloading: restored by ~Runtime
  std::vector<InlineLink*> inline_links_;  // inline mode: sources_, one per worker
  std::vector<DpdkInlineLink*> dpdk_links_;  // inline mode on DPDK ports: sources_, one per worker
  QosControl* qos_ = nullptr;
  bool inline_mode() const { return !inline_links_.empty() || !dpdk_links_.empty(); }
  std::vector<std::unique_ptr<LinkWatch>> links_;
  int link_fd_ = -1;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<DispatchRing>> rings_;
  std::vector<std::unique_ptr<FrameArena>> arenas_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::vector<std::unique_ptr<Exporter>> exporters_;
  std::vector<Exporter*> external_;  // add_exporter(), not owned
  std::unique_ptr<ExportLoop> export_loop_;
  ExportContext ctx_;
  double seconds_ = 0;
  // Held while rule snapshots are published or freed, and while a scrape
  // reads the matcher counters in them (control threads only, never a worker).
  mutable std::mutex snapshots_mu_;
  std::atomic<uint64_t> rules_loaded_{0};
  std::atomic<uint64_t> rules_failed_{0};
  std::atomic<uint64_t> reloads_ok_{0};
  std::atomic<uint64_t> reloads_failed_{0};
  ConfigLoader config_loader_;
  ConfigStatus config_status_;  // under reload_mu_
  std::atomic<bool> rules_configured_{false};  // rule files or API rules are part of the set
  uint64_t api_texts_ = 0;                     // rule texts the API added (names api-N)
  // Flow snapshots: one taker at a time; the buffers each worker copies
  // into, the request it is serving, and the last snapshot handed out.
  std::mutex flows_mu_;
  std::vector<std::vector<FlowRecord>> snap_bufs_;
  std::vector<uint64_t> snap_req_;
  FlowSnapshotPtr snap_;
  std::chrono::steady_clock::time_point snap_at_{};
  AlertHistory* alert_history_ = nullptr;  // owned by exporters_
  Gns3Source* gns3_ = nullptr;             // owned by sources_
  Gns3Hooks gns3_hooks_;
  FlowLabels flow_labels_;
  class Gns3AlertCount;
  Gns3AlertCount* gns3_alerts_ = nullptr;  // owned by exporters_
  EveExporter* eve_ = nullptr;             // owned by exporters_; null without -l
  std::atomic<bool> reopen_eve_{false};    // run()'s thread asks, the export thread reopens
  std::function<void(const std::string&)> notify_;
};

// What the config says about rules, as loader options.
RuleLoadOptions rule_load_options(const AgentConfig& cfg, size_t workers);

// -T: loads the configured rules once. With strict_rules any failed rule
// makes *ok false; a fatal error always does.
RuleLoadReport test_rules(const AgentConfig& cfg, bool* ok);

}  // namespace ws
