#include "agent/config.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>

#include "agent/cpu_affinity.h"
#include "api/qos_routes.h"
#include "dataplane/qos/policy.h"
#include "dataplane/qos/tc_plan.h"
#include "telemetry/export_url.h"

namespace ws {
namespace {

// Errors unwind the walk of one file; they never escape load_config_file.
struct ConfigError {
  std::string msg;
};

class Walker {
 public:
  explicit Walker(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const YAML::Node& n, const std::string& what) const {
    const YAML::Mark m = n.Mark();
    throw ConfigError{file_ + ":" + std::to_string(m.line + 1) + ": " + what};
  }

  std::string scalar(const YAML::Node& n, const std::string& key) const {
    if (!n.IsScalar()) fail(n, key + ": expected a value, got a " + (n.IsMap() ? "map" : "list"));
    return n.Scalar();
  }

  uint64_t uint(const YAML::Node& n, const std::string& key, uint64_t max) const {
    const std::string s = scalar(n, key);
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size())
      fail(n, key + ": expected a whole number, got '" + s + "'");
    if (v > max) fail(n, key + ": " + s + " is larger than " + std::to_string(max));
    return v;
  }

  double number(const YAML::Node& n, const std::string& key, double max) const {
    const std::string s = scalar(n, key);
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || !(v >= 0))
      fail(n, key + ": expected a number of at least 0, got '" + s + "'");
    if (v > max) fail(n, key + ": " + s + " is larger than " + std::to_string(max));
    return v;
  }

  bool boolean(const YAML::Node& n, const std::string& key) const {
    const std::string s = scalar(n, key);
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
    fail(n, key + ": expected true or false, got '" + s + "'");
  }

  // Calls the handler of each key of map n; an unknown key is an error that
  // lists the known ones, so a typo is never silently ignored.
  void map(const YAML::Node& n, const std::string& where,
           const std::map<std::string, std::function<void(const YAML::Node&, const std::string&)>>& keys) const {
    if (n.IsNull()) return;
    if (!n.IsMap()) fail(n, (where.empty() ? std::string("top level") : where) + ": expected a map");
    for (const auto& kv : n) {
      const std::string k = kv.first.Scalar();
      const std::string path = where.empty() ? k : where + "." + k;
      auto it = keys.find(k);
      if (it == keys.end()) {
        std::string known;
        for (const auto& e : keys) known += (known.empty() ? "" : ", ") + e.first;
        fail(kv.first, "unknown key '" + path + "' (known here: " + known + ")");
      }
      it->second(kv.second, path);
    }
  }

 private:
  std::string file_;
};

// stream.midstream_policy / exception_policy: one of Suricata's policy names.
void exception_policy_key(const Walker& w, const YAML::Node& v, const std::string& k, ExceptionPolicy* out) {
  const std::string s = w.scalar(v, k);
  if (!parse_exception_policy(s, out))
    w.fail(v, k + ": expected auto, ignore, pass-flow, bypass, drop-flow, drop-packet or reject, got '" + s + "'");
}

// worker_cpus / management_cpus: "0,2-3", a number, or a list of those.
std::vector<int> cpu_list(const Walker& w, const YAML::Node& v, const std::string& k) {
  std::string text;
  if (v.IsSequence()) {
    for (const auto& e : v) {
      if (!text.empty()) text += ',';
      text += w.scalar(e, k);
    }
  } else {
    text = w.scalar(v, k);
  }
  std::vector<int> cpus;
  if (std::string e = parse_cpu_list(text, &cpus); !e.empty()) w.fail(v, k + ": " + e);
  return cpus;
}

// A YAML node as the JSON a REST client would send: plain scalars that
// read as integers, floats, booleans or null become those; quoted scalars
// and everything else stay strings.
nlohmann::json yaml_to_json(const YAML::Node& n) {
  if (n.IsNull()) return nullptr;
  if (n.IsSequence()) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& x : n) a.push_back(yaml_to_json(x));
    return a;
  }
  if (n.IsMap()) {
    nlohmann::json o = nlohmann::json::object();
    for (const auto& kv : n) o[kv.first.Scalar()] = yaml_to_json(kv.second);
    return o;
  }
  const std::string& s = n.Scalar();
  if (n.Tag() != "?") return s;  // quoted: a string
  if (s == "true" || s == "false") return s == "true";
  if (s == "null" || s == "~") return nullptr;
  const char* b = s.data();
  const char* e = b + s.size();
  if (!s.empty() && s[0] == '-') {
    int64_t v = 0;
    if (auto [p, ec] = std::from_chars(b, e, v); ec == std::errc() && p == e) return v;
  } else {
    uint64_t v = 0;
    if (auto [p, ec] = std::from_chars(b, e, v); ec == std::errc() && p == e) return v;
  }
  double d = 0;
  if (auto [p, ec] = std::from_chars(b, e, d); !s.empty() && ec == std::errc() && p == e) return d;
  return s;
}

// qos.policies: each policy parsed as the REST API would, refused with the
// policy's field path at the line of the class it names.
void load_qos_policies(const Walker& w, const YAML::Node& v, const std::string& k,
                       std::map<std::string, nlohmann::json>& out) {
  out.clear();
  if (v.IsNull()) return;
  if (!v.IsMap()) w.fail(v, k + ": expected a map of NAME: {classes: [...]}");
  if (v.size() > kQosMaxPolicies)
    w.fail(v, k + ": " + std::to_string(v.size()) + " policies, at most " + std::to_string(kQosMaxPolicies));
  for (const auto& kv : v) {
    const std::string name = kv.first.Scalar();
    const std::string path = k + "." + name;
    if (std::string e = check_qos_name(name); !e.empty()) w.fail(kv.first, path + ": " + e);
    const YAML::Node& pn = kv.second;
    if (!pn.IsMap()) w.fail(pn, path + ": must be a map {classes: [...]}");
    nlohmann::json j = yaml_to_json(pn);
    QosPolicy p;
    if (std::string e = parse_qos_policy(j, &p); !e.empty()) {
      YAML::Node at = pn;
      size_t i = 0;
      if (std::sscanf(e.c_str(), "classes[%zu]", &i) == 1 && pn["classes"].IsSequence() && i < pn["classes"].size())
        at = pn["classes"][i];
      w.fail(at, path + "." + e);
    }
    out[name] = std::move(j);
  }
}

void load_timeouts(const Walker& w, const YAML::Node& n, const std::string& where, StateTimeouts& t) {
  constexpr uint64_t kDay = 86400;
  w.map(n, where,
        {{"new", [&](auto& v, auto& k) { t.new_s = uint32_t(w.uint(v, k, kDay)); }},
         {"established", [&](auto& v, auto& k) { t.established_s = uint32_t(w.uint(v, k, kDay)); }},
         {"closed", [&](auto& v, auto& k) { t.closed_s = uint32_t(w.uint(v, k, kDay)); }}});
}


// api.tokens (or a tokens file's top level): a list of {name, role,
// token_sha256}, appended to out; a name already in out is an error.
void load_tokens(const Walker& w, const YAML::Node& v, const std::string& k, std::vector<ApiToken>& out) {
  if (v.IsNull()) return;
  if (!v.IsSequence()) w.fail(v, k + ": expected a list of {name, role, token_sha256}");
  for (const auto& t : v) {
    ApiToken tok;
    bool has_hash = false;
    w.map(t, k,
          {{"name", [&](auto& x, auto& xk) { tok.name = w.scalar(x, xk); }},
           {"role", [&](auto& x, auto& xk) {
              const std::string r = w.scalar(x, xk);
              if (r == "admin") tok.role = Role::kAdmin;
              else if (r == "viewer") tok.role = Role::kViewer;
              else w.fail(x, xk + ": expected admin or viewer, got '" + r + "'");
            }},
           {"token_sha256", [&](auto& x, auto& xk) {
              tok.token_sha256 = w.scalar(x, xk);
              if (std::string e = check_sha256_hex(tok.token_sha256); !e.empty()) w.fail(x, xk + ": " + e);
              has_hash = true;
            }}});
    if (tok.name.empty()) w.fail(t, k + ": a token needs a name");
    if (!has_hash) w.fail(t, k + ": token '" + tok.name + "' needs token_sha256 (sha256sum of the token)");
    for (const ApiToken& o : out)
      if (o.name == tok.name) w.fail(t, k + ": token name '" + tok.name + "' is used twice");
    out.push_back(std::move(tok));
  }
}


// api.tokens_file: a YAML list of tokens kept apart from the config (a
// Kubernetes Secret, a file only root and the agent may read). A relative
// path is taken from the config file's directory.
std::string load_tokens_file(const std::string& config_path, const std::string& name, const YAML::Node& where,
                             std::vector<ApiToken>& out) {
  std::string file = name;
  if (file.front() != '/') {
    const size_t slash = config_path.rfind('/');
    if (slash != std::string::npos) file = config_path.substr(0, slash + 1) + file;
  }
  YAML::Node root;
  try {
    root = YAML::LoadFile(file);
  } catch (const YAML::BadFile&) {
    return config_path + ":" + std::to_string(where.Mark().line + 1) + ": api.tokens_file: cannot open '" + file + "'";
  } catch (const YAML::Exception& e) {
    return file + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg;
  }
  try {
    load_tokens(Walker(file), root, "tokens", out);
  } catch (const ConfigError& e) {
    return e.msg;
  } catch (const YAML::Exception& e) {
    return file + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg;
  }
  return "";
}

}  // namespace

std::string load_config_file(const std::string& path, AgentConfig& c) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return path + ": cannot open the config file";
  } catch (const YAML::Exception& e) {
    return path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg;
  }
  const Walker w(path);
  // api.tokens_file: read after the walk, so its tokens join api.tokens
  // wherever the two keys stand in the file.
  std::string tokens_file;
  YAML::Node tokens_file_node;
  try {
    w.map(root, "",
      {{"input", [&](auto& n, auto& where) {
          w.map(n, where,
            {{"file", [&](auto& v, auto& k) { c.read_file = w.scalar(v, k); }},
             {"loop", [&](auto& v, auto& k) { c.loop = w.boolean(v, k); }},
             {"simulate_ips", [&](auto& v, auto& k) { c.simulate_ips = w.boolean(v, k); }},
             {"replay_speed", [&](auto& v, auto& k) { c.replay_speed = w.number(v, k, 1e6); }},
             {"interface", [&](auto& v, auto& k) { c.interface = w.scalar(v, k); }},
             {"capture", [&](auto& v, auto& k) {
                c.capture = w.scalar(v, k);
                if (c.capture != "afpacket" && c.capture != "pcap" && c.capture != "dpdk")
                  w.fail(v, k + ": expected afpacket, pcap or dpdk, got '" + c.capture + "'");
              }},
             {"snaplen", [&](auto& v, auto& k) { c.snaplen = int(w.uint(v, k, 262144)); }},
             {"promisc", [&](auto& v, auto& k) { c.promisc = w.boolean(v, k); }},
             {"bpf", [&](auto& v, auto& k) { c.bpf = w.scalar(v, k); }},
             {"disable_offloading", [&](auto& v, auto& k) { c.disable_offloading = w.boolean(v, k); }}});
        }},
       {"inline", [&](auto& v, auto& k) {
          c.inline_pairs.clear();
          if (v.IsNull()) return;
          if (!v.IsSequence()) w.fail(v, k + ": expected a list of {a: IFACE, b: IFACE}");
          for (const auto& item : v) {
            InlinePair pair;
            w.map(item, k,
              {{"a", [&](auto& x, auto& xk) { pair.a = w.scalar(x, xk); }},
               {"b", [&](auto& x, auto& xk) { pair.b = w.scalar(x, xk); }}});
            if (pair.a.empty() || pair.b.empty()) w.fail(item, k + ": a pair needs both a and b");
            if (pair.a == pair.b) w.fail(item, k + ": " + pair.a + " is paired with itself");
            for (const InlinePair& o : c.inline_pairs)
              for (const std::string& n : {pair.a, pair.b})
                if (n == o.a || n == o.b) w.fail(item, k + ": interface " + n + " is in two pairs");
            c.inline_pairs.push_back(std::move(pair));
          }
        }},
       {"qos", [&](auto& n, auto& where) {
          w.map(n, where,
            {{"mode", [&](auto& v, auto& k) {
                c.qos.mode = w.scalar(v, k);
                if (c.qos.mode != "inline" && c.qos.mode != "tc")
                  w.fail(v, k + ": expected inline or tc, got '" + c.qos.mode + "'");
              }},
             {"interface", [&](auto& v, auto& k) { c.qos.interface = w.scalar(v, k); }},
             {"policies", [&](auto& v, auto& k) { load_qos_policies(w, v, k, c.qos.policies); }}});
        }},
       {"gns3", [&](auto& n, auto&) {
          if (std::string e = parse_gns3_config(n, path, &c.gns3); !e.empty()) throw ConfigError{e};
        }},
       {"dpdk", [&](auto& n, auto& where) {
          w.map(n, where,
            {{"eal_args", [&](auto& v, auto& k) {
                c.dpdk_eal_args.clear();
                if (v.IsScalar()) {
                  c.dpdk_eal_args = split_eal_args(w.scalar(v, k));
                  return;
                }
                if (!v.IsSequence()) w.fail(v, k + ": expected a list of EAL arguments or one string");
                for (const auto& a : v) c.dpdk_eal_args.push_back(w.scalar(a, k));
              }},
             {"mbufs", [&](auto& v, auto& k) {
                c.dpdk_mbufs = uint32_t(w.uint(v, k, 1u << 24));
                if (c.dpdk_mbufs < 512) w.fail(v, k + ": at least 512 mbufs");
              }}});
        }},
       {"workers", [&](auto& v, auto& k) { c.workers = unsigned(w.uint(v, k, 1024)); }},
       {"worker_cpus", [&](auto& v, auto& k) { c.worker_cpus = cpu_list(w, v, k); }},
       {"management_cpus", [&](auto& v, auto& k) { c.management_cpus = cpu_list(w, v, k); }},
       {"checksum", [&](auto& v, auto& k) {
          const std::string s = w.scalar(v, k);
          if (s == "none") c.decoder.checksum = ChecksumMode::kNone;
          else if (s == "all") c.decoder.checksum = ChecksumMode::kAll;
          else w.fail(v, k + ": expected none or all, got '" + s + "'");
        }},
       {"decoder", [&](auto& n, auto& where) {
          w.map(n, where,
            {{"tunnels", [&](auto& v, auto& k) { c.decoder.tunnels = w.boolean(v, k); }},
             {"ipv4_in_ipv4", [&](auto& v, auto& k) { c.decoder.ipv4_in_ipv4 = w.boolean(v, k); }},
             {"track_parent_flow", [&](auto& v, auto& k) { c.decoder.track_parent_flow = w.boolean(v, k); }},
             {"vxlan_port", [&](auto& v, auto& k) { c.decoder.vxlan_port = uint16_t(w.uint(v, k, 65535)); }},
             {"gre", [&](auto& v, auto& k) { c.decoder.gre = w.boolean(v, k); }},
             {"geneve_port", [&](auto& v, auto& k) { c.decoder.geneve_port = uint16_t(w.uint(v, k, 65535)); }},
             {"teredo_port", [&](auto& v, auto& k) { c.decoder.teredo_port = uint16_t(w.uint(v, k, 65535)); }}});
        }},
       {"stream", [&](auto& n, auto& where) {
          w.map(n, where,
            {{"midstream", [&](auto& v, auto& k) { c.stream_midstream = w.boolean(v, k); }},
             {"midstream_policy", [&](auto& v, auto& k) { exception_policy_key(w, v, k, &c.midstream_policy); }},
             {"chunk_size", [&](auto& v, auto& k) {
                c.stream_chunk_size = uint32_t(w.uint(v, k, 1u << 20));
                if (c.stream_chunk_size < 1) w.fail(v, k + ": must be at least 1");
              }},
             {"memcap", [&](auto& v, auto& k) { c.stream_memcap = w.uint(v, k, uint64_t{1} << 36); }}});
        }},
       {"exception_policy", [&](auto& v, auto& k) { exception_policy_key(w, v, k, &c.exception_policy); }},
       {"defrag", [&](auto& n, auto& where) {
          w.map(n, where,
            {{"enabled", [&](auto& v, auto& k) { c.defrag.enabled = w.boolean(v, k); }},
             {"trackers", [&](auto& v, auto& k) {
                c.defrag.trackers = uint32_t(w.uint(v, k, 65536));
                if (c.defrag.trackers == 0) w.fail(v, k + ": at least 1 tracker");
              }},
             {"timeout", [&](auto& v, auto& k) {
                c.defrag.timeout_s = uint32_t(w.uint(v, k, 3600));
                if (c.defrag.timeout_s == 0) w.fail(v, k + ": at least 1 second");
              }},
             {"policy", [&](auto& v, auto& k) {
                const std::string s = w.scalar(v, k);
                if (!parse_defrag_policy(s, &c.defrag.policy))
                  w.fail(v, k + ": expected bsd, linux, first or last, got '" + s + "'");
              }}});
        }},
       {"verbose", [&](auto& v, auto& k) { c.verbose = int(w.uint(v, k, 4)); }},
       {"rules", [&](auto& n, auto& where) {
          w.map(n, where,
            {{"files", [&](auto& v, auto& k) {
                c.rule_files.clear();
                if (v.IsScalar()) {
                  c.rule_files.push_back(w.scalar(v, k));
                  return;
                }
                if (!v.IsSequence()) w.fail(v, k + ": expected a list of rule files");
                for (const auto& f : v) c.rule_files.push_back(w.scalar(f, k));
              }},
             {"classification_file", [&](auto& v, auto& k) { c.classification_file = w.scalar(v, k); }},
             {"threshold_file", [&](auto& v, auto& k) { c.threshold_file = w.scalar(v, k); }},
             {"cache_dir", [&](auto& v, auto& k) { c.rule_cache_dir = w.scalar(v, k); }},
             {"strict", [&](auto& v, auto& k) { c.strict_rules = w.boolean(v, k); }},
             {"action_order", [&](auto& v, auto& k) {
                if (!v.IsSequence()) w.fail(v, k + ": expected a list of the four actions, e.g. [pass, drop, reject, alert]");
                std::vector<std::string> names;
                for (const auto& a : v) names.push_back(w.scalar(a, k));
                if (std::string e = parse_action_order(names, &c.action_order); !e.empty()) w.fail(v, k + ": " + e);
              }},
             {"max_alerts_per_packet", [&](auto& v, auto& k) {
                c.max_alerts_per_packet = uint32_t(w.uint(v, k, 1000));
              }},
             {"vars", [&](auto& vn, auto& vw) {
                auto vars = [&](const YAML::Node& m, const std::string& mk, std::map<std::string, std::string>& out) {
                  if (m.IsNull()) return;
                  if (!m.IsMap()) w.fail(m, mk + ": expected a map of NAME: value");
                  for (const auto& kv : m) out[kv.first.Scalar()] = w.scalar(kv.second, mk + "." + kv.first.Scalar());
                };
                w.map(vn, vw,
                  {{"address", [&](auto& v, auto& k) { vars(v, k, c.address_vars); }},
                   {"port", [&](auto& v, auto& k) { vars(v, k, c.port_vars); }}});
              }}});
        }},
       {"api", [&](auto& n, auto& where) {
          w.map(n, where,
            {{"listen", [&](auto& v, auto& k) {
                c.api.listen = w.scalar(v, k);
                std::string host;
                uint16_t port = 0;
                if (std::string e = parse_listen(c.api.listen, &host, &port); !e.empty()) w.fail(v, k + ": " + e);
              }},
             {"tokens", [&](auto& v, auto& k) {
                c.api.tokens.clear();
                load_tokens(w, v, k, c.api.tokens);
              }},
             {"tokens_file", [&](auto& v, auto& k) {
                tokens_file = w.scalar(v, k);
                tokens_file_node = v;
              }},
             {"metrics_auth", [&](auto& v, auto& k) { c.api.metrics_auth = w.boolean(v, k); }},
             {"max_body_bytes", [&](auto& v, auto& k) {
                c.api.max_body_bytes = w.uint(v, k, 1ull << 30);
                if (c.api.max_body_bytes < 1) w.fail(v, k + ": must be at least 1");
              }},
             {"rate_limit", [&](auto& r, auto& rw) {
                w.map(r, rw,
                  {{"requests_per_second", [&](auto& v, auto& k) {
                      c.api.rate_limit.requests_per_second = w.number(v, k, 1e6);
                    }},
                   {"burst", [&](auto& v, auto& k) {
                      c.api.rate_limit.burst = w.number(v, k, 1e6);
                      if (c.api.rate_limit.burst < 1) w.fail(v, k + ": must be at least 1");
                    }}});
              }},
             {"flow_refresh_ms", [&](auto& v, auto& k) { c.flow_refresh_ms = uint32_t(w.uint(v, k, 3'600'000)); }},
             {"flow_snapshot_max", [&](auto& v, auto& k) {
                c.flow_snapshot_max = w.uint(v, k, 1ull << 26);
                if (c.flow_snapshot_max < 1) w.fail(v, k + ": must be at least 1");
              }},
             {"alert_history", [&](auto& v, auto& k) {
                c.alert_history = w.uint(v, k, 10'000'000);
                if (c.alert_history < 1) w.fail(v, k + ": must be at least 1");
              }},
             {"max_stream_clients", [&](auto& v, auto& k) {
                // Each client holds a civetweb thread: a few hundred at most.
                c.api.max_stream_clients = uint32_t(w.uint(v, k, 1024));
              }},
             {"stream_queue_frames", [&](auto& v, auto& k) {
                c.api.stream_queue_frames = uint32_t(w.uint(v, k, 1u << 20));
                if (c.api.stream_queue_frames < 1) w.fail(v, k + ": must be at least 1");
              }},
             {"tls_cert", [&](auto& v, auto& k) { c.api.tls_cert = w.scalar(v, k); }},
             {"tls_key", [&](auto& v, auto& k) { c.api.tls_key = w.scalar(v, k); }},
             {"dashboard", [&](auto& v, auto& k) { c.api.dashboard = w.boolean(v, k); }},
             {"dashboard_dir", [&](auto& v, auto& k) { c.api.dashboard_dir = w.scalar(v, k); }},
             {"anonymous_view", [&](auto& v, auto& k) { c.api.anonymous_view = w.boolean(v, k); }}});
        }},
       {"flow", [&](auto& n, auto& where) {
          w.map(n, where,
            {{"max_flows", [&](auto& v, auto& k) { c.max_flows = w.uint(v, k, 1ull << 28); }},
             {"active_timeout", [&](auto& v, auto& k) { c.active_timeout_s = uint32_t(w.uint(v, k, 7 * 86400)); }},
             {"timeouts", [&](auto& t, auto& tw) {
                w.map(t, tw,
                  {{"tcp", [&](auto& v, auto& k) { load_timeouts(w, v, k, c.tcp); }},
                   {"udp", [&](auto& v, auto& k) { load_timeouts(w, v, k, c.udp); }},
                   {"icmp", [&](auto& v, auto& k) { load_timeouts(w, v, k, c.icmp); }},
                   {"other", [&](auto& v, auto& k) { load_timeouts(w, v, k, c.other); }}});
              }}});
        }},
       {"ndpi", [&](auto& n, auto& where) {
          w.map(n, where,
            {{"enabled", [&](auto& v, auto& k) { c.ndpi_enabled = w.boolean(v, k); }},
             {"max_packets", [&](auto& v, auto& k) {
                c.ndpi_max_packets = uint32_t(w.uint(v, k, 255));
                if (c.ndpi_max_packets < 1) w.fail(v, k + ": must be at least 1");
              }},
             {"pool_flows", [&](auto& v, auto& k) { c.ndpi_pool_flows = w.uint(v, k, 1ull << 28); }}});
        }},
       {"output", [&](auto& n, auto& where) {
          w.map(n, where,
            {{"log_dir", [&](auto& v, auto& k) { c.log_dir = w.scalar(v, k); }},
             {"eve", [&](auto& e, auto& ew) {
                w.map(e, ew,
                  {{"filename", [&](auto& v, auto& k) { c.eve_filename = w.scalar(v, k); }},
                   {"payload", [&](auto& v, auto& k) { c.eve_payload = w.boolean(v, k); }},
                   {"packet", [&](auto& v, auto& k) { c.eve_packet = w.boolean(v, k); }},
                   {"ipv6", [&](auto& v, auto& k) {
                      const std::string f = w.scalar(v, k);
                      if (f != "full" && f != "compressed")
                        w.fail(v, k + ": expected full or compressed, got '" + f + "'");
                      c.eve_ipv6_compressed = f == "compressed";
                    }}});
              }},
             {"ipfix", [&](auto& e, auto& ew) {
                w.map(e, ew,
                  {{"url", [&](auto& v, auto& k) { c.ipfix_url = w.scalar(v, k); }},
                   {"biflow", [&](auto& v, auto& k) { c.ipfix_biflow = w.boolean(v, k); }}});
              }},
             {"netflow9", [&](auto& e, auto& ew) {
                w.map(e, ew, {{"url", [&](auto& v, auto& k) { c.netflow9_url = w.scalar(v, k); }}});
              }},
             {"proto", [&](auto& e, auto& ew) {
                w.map(e, ew, {{"url", [&](auto& v, auto& k) { c.proto_url = w.scalar(v, k); }}});
              }},
             {"export", [&](auto& e, auto& ew) {
                w.map(e, ew,
                  {{"mtu", [&](auto& v, auto& k) { c.export_mtu = uint32_t(w.uint(v, k, 65000)); }},
                   {"rate", [&](auto& v, auto& k) { c.export_rate = uint32_t(w.uint(v, k, 10000000)); }},
                   {"template_refresh", [&](auto& v, auto& k) { c.template_refresh_s = uint32_t(w.uint(v, k, 86400)); }}});
              }}});
        }}});
  } catch (const ConfigError& e) {
    return e.msg;
  } catch (const YAML::Exception& e) {
    return path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg;
  }
  if (!tokens_file.empty()) return load_tokens_file(path, tokens_file, tokens_file_node, c.api.tokens);
  return "";
}

std::string parse_inline_pair(const std::string& text, InlinePair* out) {
  const size_t colon = text.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size() ||
      text.find(':', colon + 1) != std::string::npos)
    return "--inline '" + text + "': expected IFACE_A:IFACE_B";
  out->a = text.substr(0, colon);
  out->b = text.substr(colon + 1);
  return "";
}

std::vector<std::string> split_eal_args(const std::string& text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    size_t j = i;
    while (j < text.size() && text[j] != ' ') ++j;
    if (j > i) out.push_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

namespace {

// The qos: section against the rest: which mode has what it needs, and in
// tc mode whether tc can express every configured policy (the kernel's
// actions are not probed here, so police and set_dscp read "not supported").
std::string validate_qos(const AgentConfig& c, bool need_input) {
  const QosConfig& q = c.qos;
  if (q.mode != "inline" && q.mode != "tc") return "qos.mode '" + q.mode + "' unknown: use inline or tc";
  if (q.mode == "inline") {
    if (!q.interface.empty()) return "qos.interface is used only with qos.mode: tc";
    if (need_input && !q.policies.empty() && c.inline_pairs.empty())
      return "qos.policies need inline pairs (--inline, inline:) or qos.mode: tc";
    return "";
  }
  if (q.interface.empty()) return "qos.mode: tc needs qos.interface (the interface whose egress is shaped)";
  if (!c.inline_pairs.empty())
    return "qos.mode: tc shapes a host interface, and inline pairs (--inline, inline:) shape in their own path: "
           "use qos.mode: inline with them";
  std::map<std::string, QosPolicy> set;
  for (const auto& [name, j] : q.policies) {
    QosPolicy p;
    if (std::string e = parse_qos_policy(j, &p); !e.empty()) return "qos.policies." + name + "." + e;
    if (std::string e = check_tc_policy(p, TcCaps{}); !e.empty()) return "qos.policies." + name + "." + e;
    set[name] = std::move(p);
  }
  TcPlan plan;
  if (std::string e = build_tc_plan(set, TcCaps{}, 1, &plan); !e.empty()) return "qos.policies: " + e;
  return "";
}

}  // namespace

std::string validate_config(const AgentConfig& c, bool need_input) {
  if (!c.inline_pairs.empty()) {
    if (!c.read_file.empty() || !c.interface.empty())
      return "inline pairs (--inline, inline:) are the agent's input: give no -r or -i with them";
    for (size_t i = 0; i < c.inline_pairs.size(); ++i) {
      const InlinePair& p = c.inline_pairs[i];
      if (p.a == p.b) return "inline: " + p.a + " is paired with itself";
      for (size_t j = 0; j < i; ++j)
        for (const std::string& n : {p.a, p.b})
          if (n == c.inline_pairs[j].a || n == c.inline_pairs[j].b) return "inline: interface " + n + " is in two pairs";
    }
    if (c.inline_pairs.size() > 32) return "inline: at most 32 pairs";
  }
  // GNS3 captures are the whole input: their frames come from lab links,
  // and mixing them with a local capture would merge two clocks and two
  // ifindex spaces in one flow table.
  if (!c.gns3.empty()) {
    if (!c.read_file.empty() || !c.interface.empty() || !c.inline_pairs.empty())
      return "gns3: GNS3 captures are the agent's input: give no -r, -i or --inline with them";
    if (c.gns3.servers.empty()) return "gns3: captures need at least one server (gns3.servers)";
  }
  if (need_input && c.read_file.empty() && c.interface.empty() && c.inline_pairs.empty() && c.gns3.empty())
    return "no input: give a capture file (-r FILE, input.file), an interface (-i IFACE, input.interface), "
           "inline pairs (--inline A:B, inline:) or GNS3 captures (gns3:)";
  if (!c.read_file.empty() && !c.interface.empty())
    return "both a capture file (-r) and an interface (-i) given: choose one";
  if (c.loop && c.read_file.empty()) return "--loop (input.loop) needs a capture file (-r)";
  // CPUs the process may not use: checked at start (need_input), not by
  // -T, since a config is often checked on another machine than its own.
  if (need_input) {
    if (std::string e = check_cpus(c.worker_cpus, "--worker-cpus (worker_cpus)"); !e.empty()) return e;
    if (std::string e = check_cpus(c.management_cpus, "--management-cpus (management_cpus)"); !e.empty()) return e;
  }
  if (!(c.replay_speed >= 0 && c.replay_speed <= 1e6))
    return "--replay-speed (input.replay_speed) must be between 0 (as fast as possible) and 1000000";
  if (c.replay_speed > 0 && c.read_file.empty())
    return "--replay-speed (input.replay_speed) needs a capture file (-r)";
  if (c.capture != "afpacket" && c.capture != "pcap" && c.capture != "dpdk")
    return "capture method '" + c.capture + "' unknown: use afpacket, pcap or dpdk";
  if (c.capture == "dpdk" && c.interface.empty() && c.read_file.empty() && c.inline_pairs.empty())
    return "--capture dpdk needs the port: -i PCI_ADDRESS or -i VDEV_NAME (input.interface)";
  if (c.capture == "dpdk" && c.dpdk_eal_args.empty() && !c.inline_pairs.empty())
    return "--capture dpdk with inline pairs needs EAL arguments (--dpdk-eal-args, dpdk.eal_args) naming the ports";
  if (c.capture == "dpdk" && c.dpdk_eal_args.empty() && !c.interface.empty())
    return "--capture dpdk needs EAL arguments (--dpdk-eal-args, dpdk.eal_args), e.g. -a " + c.interface +
           " or --no-huge --vdev " + c.interface + ",...";
  if (c.snaplen < 64) return "snaplen " + std::to_string(c.snaplen) + " is too small: at least 64";
  if (c.max_flows < 1) return "flow.max_flows must be at least 1";
  if (c.active_timeout_s < 1) return "flow.active_timeout must be at least 1 second";
  if (!c.ipfix_url.empty()) {
    auto r = parse_export_url(c.ipfix_url);
    if (!r) return "--ipfix: " + r.error;
  }
  if (!c.netflow9_url.empty()) {
    auto r = parse_export_url(c.netflow9_url);
    if (!r) return "--netflow9: " + r.error;
    if (r.url->protocol != ExportProtocol::kUdp) return "--netflow9: NetFlow v9 is exported over udp:// only";
  }
  if (!c.proto_url.empty()) {
    auto r = parse_export_url(c.proto_url);
    if (!r) return "--export-proto (output.proto.url): " + r.error;
    if (r.url->protocol != ExportProtocol::kTcp)
      return "--export-proto (output.proto.url): protobuf events are a stream; use tcp://HOST:PORT";
  }
  if (c.max_alerts_per_packet < 1) return "rules.max_alerts_per_packet must be at least 1";
  if (c.ndpi_max_packets < 1 || c.ndpi_max_packets > 255)
    return "ndpi.max_packets " + std::to_string(c.ndpi_max_packets) + " out of range: use 1..255";
  if (!c.api.listen.empty()) {
    std::string host;
    uint16_t port = 0;
    if (std::string e = parse_listen(c.api.listen, &host, &port); !e.empty()) return "--api (api.listen): " + e;
  }
  if (c.api.tls_cert.empty() != c.api.tls_key.empty())
    return "api.tls_cert and api.tls_key go together: give both or neither";
  if (c.export_mtu < 256) return "output.export.mtu " + std::to_string(c.export_mtu) + " is too small: at least 256";
  return validate_qos(c, need_input);
}

}  // namespace ws
