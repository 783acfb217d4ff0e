// Traffic control over REST: the policy store (QosControl) and its routes.
//
//   PUT    /api/v1/qos/policies/{name}   install or replace a policy (admin)
//   GET    /api/v1/qos/policies/{name}   the policy as installed
//   DELETE /api/v1/qos/policies/{name}   remove it (admin)
//   GET    /api/v1/qos/policies          every policy
//   GET    /api/v1/qos/stats             packets and bytes per policy, class and colour; drops
//
// QosControl keeps name -> policy (its JSON as given and the parsed form).
// A PUT or DELETE builds a whole new snapshot of every policy and publishes
// it into the QosSlot the workers' QosStages read, so a change takes effect
// at the workers' next burst, without a restart (dataplane/qos/stage.h tells
// which meter and queue state an update keeps). A body that does not parse
// or validate answers 400 with the field path and the reason, and nothing
// changes: the store and the running snapshot stay as they were.
//
// Host mode (`qos.mode: tc`) sets a QosHost (dataplane/qos/host.h): it
// sees the complete new policy set before it is published, refuses what it
// cannot express (400 with the field path), applies the set (500 when that
// fails, nothing changed), and gives the counters GET /api/v1/qos/stats and the metrics
// show (its own state under "tc", and each class's HTB "overlimits").
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/router.h"
#include "dataplane/qos/host.h"
#include "dataplane/qos/stage.h"

namespace ws {

// More named policies than this is a runaway client, not a configuration.
inline constexpr size_t kQosMaxPolicies = 32;

struct QosChange {
  int status = 200;   // 200, or the HTTP error to answer (400, 404, 409, 500)
  std::string error;  // when status is not 200
  bool created = false;
  uint64_t generation = 0;  // of the snapshot published
};

class QosControl {
 public:
  // workers: how many QosStages will read the slot (one per worker; 0 when
  // no worker applies traffic control, e.g. host mode only).
  explicit QosControl(size_t workers);

  // The slot the workers' QosStages read: QosStage(&control.slot(), i).
  QosSlot& slot() { return slot_; }

  // Host mode: the backend every change goes through and the stats come
  // from (not owned; it must outlive the store's use). Set it before the
  // first policy.
  void set_host(QosHost* host);
  bool host_mode() const;
  // The backend's state (null without one) and its metrics text ("" without one).
  nlohmann::json host_info() const;
  std::string host_metrics() const;

  // Validates body (JSON text) and installs it as policy name.
  QosChange put(const std::string& name, const std::string& body);
  // Same, from a parsed document (policies from a config file).
  QosChange put_json(const std::string& name, const nlohmann::json& body);
  QosChange remove(const std::string& name);

  // The policy as given (parsed and re-serialised); nullopt when there is none.
  std::optional<nlohmann::json> get(const std::string& name) const;
  // Every policy by name.
  std::map<std::string, nlohmann::json> list() const;
  uint64_t generation() const;
  // Sums over the workers (host mode: the backend's counters), policy
  // (name order) then class order.
  std::vector<QosClassTotals> stats() const;

 private:
  QosChange install(std::map<std::string, QosPolicy> next, std::map<std::string, nlohmann::json> next_json);

  mutable std::mutex mu_;  // the store, and readers of slot_.current()
  QosSlot slot_;
  std::map<std::string, QosPolicy> policies_;
  std::map<std::string, nlohmann::json> json_;
  QosHost* host_ = nullptr;
};

// The routes above; control may be null (answers 503: no traffic control
// on this agent).
void add_qos_routes(QosControl* control, std::vector<Route>& routes);
void add_qos_schemas(nlohmann::json& schemas);

// Prometheus text (exposition format 0.0.4) for
//   wirescope_qos_packets_total{policy,class,color}
//   wirescope_qos_bytes_total{policy,class,color}
//   wirescope_qos_drops_total{policy,class}           (police + queue)
//   wirescope_qos_police_drops_total{policy,class}
//   wirescope_qos_queue_drops_total{policy,class}     (shaper tail drops)
//   wirescope_qos_dscp_rewrites_total{policy,class}
//   wirescope_qos_queued_frames{policy,class}         (gauge: waiting now)
// with HELP and TYPE lines; empty families are left out; then the host-mode
// backend's own families, if any. To append to the agent's /metrics body.
std::string qos_metrics_text(const QosControl& control);
std::string qos_metrics_text(const std::vector<QosClassTotals>& stats);

}  // namespace ws
