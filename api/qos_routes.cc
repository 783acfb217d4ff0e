#include "api/qos_routes.h"

namespace ws {

using nlohmann::json;

QosControl::QosControl(size_t workers) : slot_(workers) {}

void QosControl::set_host(QosHost* host) {
  std::lock_guard<std::mutex> lock(mu_);
  host_ = host;
}

bool QosControl::host_mode() const {
  std::lock_guard<std::mutex> lock(mu_);
  return host_ != nullptr;
}

json QosControl::host_info() const {
  std::lock_guard<std::mutex> lock(mu_);
  return host_ ? host_->info() : json();
}

std::string QosControl::host_metrics() const {
  std::lock_guard<std::mutex> lock(mu_);
  return host_ ? host_->metrics_text() : std::string();
}

QosChange QosControl::install(std::map<std::string, QosPolicy> next, std::map<std::string, json> next_json) {
  QosChange c;
  if (host_) {
    if (std::string e = host_->apply(next); !e.empty()) {
      c.status = 500;
      c.error = "the policy could not be applied, nothing changed: " + e;
      return c;
    }
  }
  slot_.publish(build_qos_snapshot(next, slot_.current(), slot_.workers()));
  policies_ = std::move(next);
  json_ = std::move(next_json);
  c.generation = slot_.current()->generation;
  return c;
}

QosChange QosControl::put(const std::string& name, const std::string& body) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    std::string why = e.what();
    if (const size_t at = why.find("] "); at != std::string::npos) why = why.substr(at + 2);
    return {400, "body: not valid JSON: " + why};
  }
  return put_json(name, j);
}

QosChange QosControl::put_json(const std::string& name, const json& body) {
  if (std::string e = check_qos_name(name); !e.empty()) return {400, "name: " + e};
  QosPolicy p;
  if (std::string e = parse_qos_policy(body, &p); !e.empty()) return {400, e};
  std::lock_guard<std::mutex> lock(mu_);
  const bool created = !policies_.count(name);
  if (created && policies_.size() >= kQosMaxPolicies)
    return {409, "at most " + std::to_string(kQosMaxPolicies) + " policies; delete one first"};
  auto next = policies_;
  auto next_json = json_;
  next[name] = std::move(p);
  next_json[name] = body;
  if (host_)
    if (std::string e = host_->check(next, name); !e.empty()) return {400, e};
  QosChange c = install(std::move(next), std::move(next_json));
  c.created = created && c.status == 200;
  return c;
}

QosChange QosControl::remove(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!policies_.count(name)) return {404, "no QoS policy named '" + name + "'"};
  auto next = policies_;
  auto next_json = json_;
  next.erase(name);
  next_json.erase(name);
  return install(std::move(next), std::move(next_json));
}

std::optional<json> QosControl::get(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = json_.find(name);
  if (it == json_.end()) return std::nullopt;
  return it->second;
}

std::map<std::string, json> QosControl::list() const {
  std::lock_guard<std::mutex> lock(mu_);
  return json_;
}

uint64_t QosControl::generation() const {
  std::lock_guard<std::mutex> lock(mu_);
  return slot_.current()->generation;
}

std::vector<QosClassTotals> QosControl::stats() const {
  // Under the lock: no publish (which may free a snapshot) runs meanwhile.
  std::lock_guard<std::mutex> lock(mu_);
  if (host_) return host_->stats();
  return qos_stats(*slot_.current());
}

namespace {

json class_stats_json(const QosClassTotals& t, bool host) {
  json colors = json::object();
  for (int i = 0; i < kQosColors; ++i)
    colors[qos_color_name(QosColor(i))] = {{"packets", t.packets[i]}, {"bytes", t.bytes[i]}};
  json j = {{"name", t.cls},
            {"policed", t.policed},
            {"shaped", t.shaped},
            {"colors", std::move(colors)},
            {"drops", {{"police", t.police_drops}, {"queue", t.queue_drops}, {"total", t.police_drops + t.queue_drops}}},
            {"dscp_rewrites", t.dscp_rewrites},
            {"queued", {{"frames", t.queued_frames}, {"bytes", t.queued_bytes}}}};
  if (host) j["overlimits"] = t.overlimits;
  return j;
}

HttpResponse change_response(const QosChange& c, const std::string& name, const char* what) {
  if (c.status != 200) return error_response(c.status, c.error);
  return json_response(200, {{"name", name}, {what, true}, {"created", c.created}, {"generation", c.generation}});
}

HttpResponse unavailable() {
  return error_response(503, "traffic control is not available on this agent (needs inline mode or qos.mode: tc)");
}

}  // namespace

void add_qos_routes(QosControl* q, std::vector<Route>& routes) {
  {
    Route r;
    r.method = "PUT";
    r.path = "/api/v1/qos/policies/{name}";
    r.access = Access::kAdmin;
    r.summary =
        "Installs or replaces a QoS policy ({\"classes\": [...]}: match, police, shape, set_dscp); it takes effect "
        "at the workers' next burst. 400 names the field and the reason, and nothing changes";
    r.request_schema = "QosPolicy";
    r.response_schema = "QosChange";
    r.errors = {400, 409, 415, 500, 503};
    r.handler = [q](const HttpRequest& req) {
      if (!q) return unavailable();
      const std::string ct = req.content_type.substr(0, req.content_type.find(';'));
      if (!ct.empty() && ct != "application/json")
        return error_response(415, "a QoS policy is sent as application/json, not " + ct);
      const std::string name = req.params.count("name") ? req.params.at("name") : "";
      return change_response(q->put(name, req.body), name, "installed");
    };
    routes.push_back(std::move(r));
  }
  {
    Route r;
    r.method = "GET";
    r.path = "/api/v1/qos/policies/{name}";
    r.summary = "A QoS policy as installed";
    r.response_schema = "QosPolicy";
    r.errors = {404, 503};
    r.handler = [q](const HttpRequest& req) {
      if (!q) return unavailable();
      const std::string name = req.params.count("name") ? req.params.at("name") : "";
      std::optional<json> p = q->get(name);
      if (!p) return error_response(404, "no QoS policy named '" + name + "'");
      return json_response(200, *p);
    };
    routes.push_back(std::move(r));
  }
  {
    Route r;
    r.method = "DELETE";
    r.path = "/api/v1/qos/policies/{name}";
    r.access = Access::kAdmin;
    r.summary = "Removes a QoS policy; frames its shapers still hold are sent at once";
    r.response_schema = "QosChange";
    r.errors = {404, 500, 503};
    r.handler = [q](const HttpRequest& req) {
      if (!q) return unavailable();
      const std::string name = req.params.count("name") ? req.params.at("name") : "";
      return change_response(q->remove(name), name, "deleted");
    };
    routes.push_back(std::move(r));
  }
  {
    Route r;
    r.method = "GET";
    r.path = "/api/v1/qos/policies";
    r.summary = "Every QoS policy, by name (evaluated in this order)";
    r.response_schema = "QosPolicies";
    r.errors = {503};
    r.handler = [q](const HttpRequest&) {
      if (!q) return unavailable();
      json list = json::array();
      for (auto& [name, p] : q->list()) list.push_back({{"name", name}, {"policy", std::move(p)}});
      return json_response(200, {{"policies", std::move(list)}, {"generation", q->generation()}});
    };
    routes.push_back(std::move(r));
  }
  {
    Route r;
    r.method = "GET";
    r.path = "/api/v1/qos/stats";
    r.summary =
        "Packets and bytes per policy, class and meter colour (green for classes without police), drops "
        "(police, queue) and frames waiting in shaper queues, summed over the workers; in tc mode the HTB "
        "classes' counters (green: sent), their overlimits, and the tree's state under tc";
    r.response_schema = "QosStats";
    r.errors = {503};
    r.handler = [q](const HttpRequest&) {
      if (!q) return unavailable();
      const bool host = q->host_mode();
      json policies = json::array();
      for (const QosClassTotals& t : q->stats()) {
        if (policies.empty() || policies.back()["name"] != t.policy)
          policies.push_back({{"name", t.policy}, {"classes", json::array()}});
        policies.back()["classes"].push_back(class_stats_json(t, host));
      }
      json out = {{"policies", std::move(policies)}, {"generation", q->generation()}};
      if (host) out["tc"] = q->host_info();
      return json_response(200, out);
    };
    routes.push_back(std::move(r));
  }
}

void add_qos_schemas(json& s) {
  auto obj = [](json props, json required) {
    return json{{"type", "object"}, {"properties", std::move(props)}, {"required", std::move(required)}};
  };
  const json u64 = {{"type", "integer"}, {"format", "int64"}, {"minimum", 0}};
  const json str = {{"type", "string"}};
  const json boolean = {{"type", "boolean"}};
  const json action = {{"type", "string"},
                       {"pattern", "^(transmit|drop|remark:([0-9]|[1-5][0-9]|6[0-3]))$"},
                       {"description", "transmit, drop or remark:N (DSCP 0-63)"}};
  const json port = {{"oneOf", json::array({{{"type", "integer"}, {"minimum", 0}, {"maximum", 65535}},
                                            {{"type", "string"}, {"pattern", "^[0-9]+-[0-9]+$"}}})}};
  json match = {{"type", "object"},
                {"additionalProperties", false},
                {"properties",
                 {{"proto", {{"oneOf", json::array({str, {{"type", "integer"}, {"minimum", 0}, {"maximum", 255}}})},
                             {"description", "tcp, udp, icmp, ipv6-icmp, sctp, gre or a number"}}},
                  {"src", {{"type", "string"}, {"description", "address or CIDR prefix, v4 or v6"}}},
                  {"dst", {{"type", "string"}, {"description", "address or CIDR prefix, v4 or v6"}}},
                  {"src_port", port},
                  {"dst_port", port},
                  {"vlan", {{"type", "integer"}, {"minimum", 0}, {"maximum", 4095}}},
                  {"dscp", {{"type", "integer"}, {"minimum", 0}, {"maximum", 63}}},
                  {"app", {{"type", "string"}, {"description", "nDPI protocol name: the label or either part"}}},
                  {"direction", {{"type", "string"}, {"enum", {"to_server", "to_client"}}}}}}};
  json police = {{"type", "object"},
                 {"additionalProperties", false},
                 {"description", "srTCM (RFC 2697) with cir/cbs/ebs; trTCM (RFC 2698) with pir_bps and pbs_bytes"},
                 {"required", {"cir_bps", "cbs_bytes"}},
                 {"properties",
                  {{"cir_bps", u64},
                   {"cbs_bytes", u64},
                   {"ebs_bytes", u64},
                   {"pir_bps", u64},
                   {"pbs_bytes", u64},
                   {"conform", action},
                   {"exceed", action},
                   {"violate", action}}}};
  json shape = {{"type", "object"},
                {"additionalProperties", false},
                {"required", {"rate_bps", "burst_bytes"}},
                {"properties", {{"rate_bps", u64}, {"burst_bytes", u64}, {"queue_bytes", u64}, {"queue_packets", u64}}}};
  json cls = {{"type", "object"},
              {"additionalProperties", false},
              {"required", {"name"}},
              {"properties",
               {{"name", str},
                {"match", std::move(match)},
                {"police", std::move(police)},
                {"shape", std::move(shape)},
                {"set_dscp", {{"type", "integer"}, {"minimum", 0}, {"maximum", 63}}}}}};
  s["QosPolicy"] = {{"type", "object"},
                    {"additionalProperties", false},
                    {"required", {"classes"}},
                    {"properties", {{"classes", {{"type", "array"}, {"maxItems", kQosMaxClasses}, {"items", cls}}}}}};
  s["QosChange"] = obj({{"name", str}, {"installed", boolean}, {"deleted", boolean}, {"created", boolean},
                        {"generation", u64}},
                       {"name", "created", "generation"});
  s["QosPolicies"] =
      obj({{"policies",
            {{"type", "array"},
             {"items", obj({{"name", str}, {"policy", {{"$ref", "#/components/schemas/QosPolicy"}}}}, {"name", "policy"})}}},
           {"generation", u64}},
          {"policies", "generation"});
  const json counts = obj({{"packets", u64}, {"bytes", u64}}, {"packets", "bytes"});
  json class_stats = obj({{"name", str},
                          {"policed", boolean},
                          {"shaped", boolean},
                          {"colors", obj({{"green", counts}, {"yellow", counts}, {"red", counts}}, {"green", "yellow", "red"})},
                          {"drops", obj({{"police", u64}, {"queue", u64}, {"total", u64}}, {"police", "queue", "total"})},
                          {"dscp_rewrites", u64},
                          {"queued", obj({{"frames", u64}, {"bytes", u64}}, {"frames", "bytes"})},
                          {"overlimits", u64}},
                         {"name", "policed", "shaped", "colors", "drops", "dscp_rewrites", "queued"});
  class_stats["properties"]["overlimits"]["description"] =
      "tc mode only: times the HTB class held a packet back for want of tokens";
  const json drop_count = obj({{"packets", u64}, {"bytes", u64}, {"drops", u64}, {"overlimits", u64}}, json::array());
  json tc = obj({{"interface", str},
                 {"installed", boolean},
                 {"classifier", {{"type", "string"}, {"enum", {"u32"}}}},
                 {"leaf_qdisc", {{"type", "string"}, {"enum", {"", "fq_codel", "pfifo"}}}},
                 {"line_rate_bps", u64},
                 {"filters", u64},
                 {"default_class", drop_count},
                 {"police_action", {{"type", "string"}, {"enum", {"unknown", "absent", "present"}}}},
                 {"pedit_action", {{"type", "string"}, {"enum", {"unknown", "absent", "present"}}}},
                 {"applied", u64},
                 {"refused", u64},
                 {"rollbacks", u64},
                 {"netlink_errors", u64},
                 {"last_error", str}},
                {"interface", "installed", "classifier", "leaf_qdisc"});
  tc["description"] =
      "tc mode only (qos.mode: tc): the HTB tree on the interface; leaf_qdisc is empty until the first shaped "
      "class is installed";
  s["QosStats"] = obj(
      {{"policies",
        {{"type", "array"},
         {"items", obj({{"name", str}, {"classes", {{"type", "array"}, {"items", std::move(class_stats)}}}},
                       {"name", "classes"})}}},
       {"generation", u64},
       {"tc", std::move(tc)}},
      {"policies", "generation"});
}

namespace {

// Label values are policy and class names ([A-Za-z0-9_.-]) and colour
// names; escaped anyway, as the format asks.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

std::string qos_metrics_text(const std::vector<QosClassTotals>& stats) {
  if (stats.empty()) return "";
  std::string out;
  auto head = [&](const char* name, const char* help, const char* type) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  auto series = [&](const char* name, const QosClassTotals& t, const char* color, uint64_t v) {
    out += std::string(name) + "{policy=\"" + label(t.policy) + "\",class=\"" + label(t.cls) + "\"";
    if (color) out += std::string(",color=\"") + color + "\"";
    out += "} " + std::to_string(v) + "\n";
  };
  head("wirescope_qos_packets_total",
       "frames a QoS class took, by meter colour (green for classes without police)", "counter");
  for (const auto& t : stats)
    for (int i = 0; i < kQosColors; ++i)
      series("wirescope_qos_packets_total", t, qos_color_name(QosColor(i)), t.packets[i]);
  head("wirescope_qos_bytes_total", "frame bytes a QoS class took, by meter colour", "counter");
  for (const auto& t : stats)
    for (int i = 0; i < kQosColors; ++i)
      series("wirescope_qos_bytes_total", t, qos_color_name(QosColor(i)), t.bytes[i]);
  head("wirescope_qos_drops_total", "frames a QoS class dropped (police action or full shaper queue)", "counter");
  for (const auto& t : stats) series("wirescope_qos_drops_total", t, nullptr, t.police_drops + t.queue_drops);
  head("wirescope_qos_police_drops_total", "frames dropped by a police colour action", "counter");
  for (const auto& t : stats) series("wirescope_qos_police_drops_total", t, nullptr, t.police_drops);
  head("wirescope_qos_queue_drops_total", "frames tail-dropped by a full shaper queue", "counter");
  for (const auto& t : stats) series("wirescope_qos_queue_drops_total", t, nullptr, t.queue_drops);
  head("wirescope_qos_dscp_rewrites_total", "frames whose DSCP a QoS class rewrote", "counter");
  for (const auto& t : stats) series("wirescope_qos_dscp_rewrites_total", t, nullptr, t.dscp_rewrites);
  head("wirescope_qos_queued_frames", "frames waiting in a QoS class's shaper queues now", "gauge");
  for (const auto& t : stats) series("wirescope_qos_queued_frames", t, nullptr, t.queued_frames);
  return out;
}

std::string qos_metrics_text(const QosControl& control) {
  return qos_metrics_text(control.stats()) + control.host_metrics();
}

}  // namespace ws
