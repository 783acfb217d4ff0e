// Host mode (qos.mode: tc): the backend that makes the QoS policy set the
// kernel's traffic control on an interface, as the policy store
// (api/qos_routes.h, QosControl) sees it. QosControl makes every call under
// its lock, so a backend sees one call at a time from the API side.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dataplane/qos/policy.h"
#include "dataplane/qos/stage.h"

namespace ws {

class QosHost {
 public:
  virtual ~QosHost() = default;
  // "" or why the backend cannot express policy `name` of the set a change
  // would install ("classes[1].police: ..."); the change answers 400.
  virtual std::string check(const std::map<std::string, QosPolicy>& next, const std::string& name) = 0;
  // Makes the complete set the interface's traffic control; "" or why it
  // could not (the previous state is back in place); the change answers 500.
  virtual std::string apply(const std::map<std::string, QosPolicy>& next) = 0;
  // Counters of the classes installed now, policy (name order) then class
  // order.
  virtual std::vector<QosClassTotals> stats() = 0;
  // The backend's state, for GET /api/v1/qos/stats (its "tc" object).
  virtual nlohmann::json info() = 0;
  // Prometheus text of the backend's own counters (after the QoS families).
  virtual std::string metrics_text() = 0;
};

}  // namespace ws
