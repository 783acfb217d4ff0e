// AgentMetrics over real runs of the agent's pipeline: the demo capture with
// the demo rules, and a small capture of frames the decoder refuses. The
// rendered text is parsed back and checked against the Runtime's own
// RunSummary, so a metric that reads the wrong counter, drops a thread's
// share or mislabels a reason fails here.
#include "agent/metrics.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/runtime.h"
#include "api/agent_routes.h"
#include "api/auth.h"
#include "api/server.h"

namespace ws {
namespace {

namespace fs = std::filesystem;

const std::string kDemo = WS_DEMO_DIR;

struct Sample {
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Family {
  std::string help;
  std::string type;
  std::vector<Sample> samples;  // including _bucket/_sum/_count of histograms, by full name in labels["__name__"]
};

// A parser of the text exposition format, strict enough to fail on output a
// Prometheus server would refuse: every sample's family must have been
// declared by # TYPE before it, label values are quoted with \\, \" and \n
// escapes.
std::map<std::string, Family> parse(const std::string& text) {
  std::map<std::string, Family> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.rfind("# HELP ", 0) == 0) {
      const std::string rest = line.substr(7);
      const size_t sp = rest.find(' ');
      out[rest.substr(0, sp)].help = sp == std::string::npos ? "" : rest.substr(sp + 1);
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      const std::string rest = line.substr(7);
      const size_t sp = rest.find(' ');
      out[rest.substr(0, sp)].type = rest.substr(sp + 1);
      continue;
    }
    EXPECT_NE(line[0], '#') << line;
    Sample s;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    const std::string name = line.substr(0, i);
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (line[i] != '}') {
        const size_t eq = line.find('=', i);
        const std::string key = line.substr(i, eq - i);
        i = eq + 1;
        EXPECT_EQ(line[i], '"') << line;
        ++i;
        std::string v;
        while (line[i] != '"') {
          if (line[i] == '\\') {
            ++i;
            v += line[i] == 'n' ? '\n' : line[i];
          } else {
            v += line[i];
          }
          ++i;
        }
        ++i;
        s.labels[key] = v;
        if (line[i] == ',') ++i;
      }
      ++i;
    }
    const std::string value = line.substr(i + 1);
    s.value = value == "+Inf" ? INFINITY : std::stod(value);
    // The family: the name itself, or a histogram's name without its suffix.
    std::string fam = name;
    if (!out.count(fam))
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        const std::string sfx = suffix;
        if (name.size() > sfx.size() && name.compare(name.size() - sfx.size(), sfx.size(), sfx) == 0 &&
            out.count(name.substr(0, name.size() - sfx.size()))) {
          fam = name.substr(0, name.size() - sfx.size());
          break;
        }
      }
    EXPECT_TRUE(out.count(fam)) << "sample before its # TYPE: " << line;
    s.labels["__name__"] = name;
    out[fam].samples.push_back(s);
  }
  return out;
}

// The value of the sample of family f with the given labels (besides
// __name__ == f); fails the test when there is not exactly one.
double value(const std::map<std::string, Family>& m, const std::string& f,
             const std::map<std::string, std::string>& labels = {}, const std::string& sample_name = "") {
  auto it = m.find(f);
  if (it == m.end()) {
    ADD_FAILURE() << "no family " << f;
    return NAN;
  }
  std::vector<double> found;
  for (const Sample& s : it->second.samples) {
    if (s.labels.at("__name__") != (sample_name.empty() ? f : sample_name)) continue;
    bool ok = s.labels.size() == labels.size() + 1;
    for (const auto& [k, v] : labels) ok = ok && s.labels.count(k) && s.labels.at(k) == v;
    if (ok) found.push_back(s.value);
  }
  if (found.size() != 1) {
    ADD_FAILURE() << f << ": " << found.size() << " samples with those labels";
    return NAN;
  }
  return found[0];
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "ws-metrics-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

AgentConfig demo_config(const TempDir& dir, const std::string& rules) {
  AgentConfig cfg;
  cfg.read_file = kDemo + "/demo.pcap";
  cfg.rule_files = {rules};
  cfg.workers = 2;  // a dispatcher and two workers: sums over threads are checked
  cfg.log_dir = dir.path();
  return cfg;
}

std::string copy_rules(const TempDir& dir) {
  const std::string p = dir.path() + "/demo.rules";
  fs::copy_file(kDemo + "/demo.rules", p);
  return p;
}

// The metric a RunSummary counter ("stage.name") is exported as: its family
// and labels.
std::pair<std::string, std::map<std::string, std::string>> metric_of(const std::string& counter) {
  const size_t dot = counter.find('.');
  const std::string stage = counter.substr(0, dot), name = counter.substr(dot + 1);
  auto starts = [&](const char* p) { return name.rfind(p, 0) == 0; };
  if (stage == "decode") {
    if (name == "decoded") return {"wirescope_decoded_frames_total", {}};
    if (starts("truncated_") || starts("bad_") || starts("mpls_")) return {"wirescope_decode_errors_total", {{"reason", name}}};
    return {"wirescope_decode_" + name + "_total", {}};
  }
  if (stage == "flow") {
    if (name == "flows_created") return {"wirescope_flows_created_total", {}};
    if (starts("flows_ended_")) return {"wirescope_flows_ended_total", {{"reason", name.substr(12)}}};
  }
  return {"wirescope_" + stage + "_" + name + "_total", {}};
}

// Checks that hold for any run: names, help, types, labels, the histogram.
void check_shape(const std::map<std::string, Family>& m) {
  // app: nDPI protocol names (a fixed list); part: nDPI memory parts.
  // sid ("gid:sid"), signature and severity: rules of the rule set (the
  // export loop bounds how many).
  const std::set<std::string> allowed_labels{"__name__", "reason", "source", "exporter", "result",   "version",
                                             "le",       "app",    "part",   "sid",      "signature", "severity"};
  const std::regex name_re("^wirescope_[a-z0-9_]+$");
  const std::regex ipv4(R"(\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b)");
  const std::regex ipv6(R"([0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)");
  const std::regex digits(R"(^\d+$)");
  for (const auto& [name, f] : m) {
    EXPECT_TRUE(std::regex_match(name, name_re)) << name;
    EXPECT_FALSE(f.help.empty()) << name << " has no HELP";
    EXPECT_TRUE(f.type == "counter" || f.type == "gauge" || f.type == "histogram") << name << ": " << f.type;
    const bool total = name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
    EXPECT_EQ(f.type == "counter", total) << name;
    for (const Sample& s : f.samples) {
      for (const auto& [k, v] : s.labels) {
        EXPECT_TRUE(allowed_labels.count(k)) << name << " label " << k;
        if (k == "le" || k == "__name__" || k == "severity") continue;  // severity: a small number
        EXPECT_FALSE(std::regex_search(v, ipv4)) << name << "{" << k << "=" << v << "} looks like an address";
        EXPECT_FALSE(std::regex_search(v, ipv6)) << name << "{" << k << "=" << v << "} looks like an address";
        EXPECT_FALSE(std::regex_match(v, digits)) << name << "{" << k << "=" << v << "} looks like a port or id";
      }
      EXPECT_GE(s.value, 0) << name;
    }
  }
  for (const char* pinned :
       {"wirescope_packets_total", "wirescope_bytes_total", "wirescope_drops_total", "wirescope_decode_errors_total",
        "wirescope_capture_drops_total", "wirescope_flows_active", "wirescope_flows_created_total",
        "wirescope_flow_records_exported_total", "wirescope_alerts_total", "wirescope_rules_loaded",
        "wirescope_rules_failed", "wirescope_rule_reloads_total", "wirescope_build_info",
        "wirescope_burst_processing_seconds"})
    EXPECT_TRUE(m.count(pinned)) << pinned;
  EXPECT_EQ(m.at("wirescope_flows_active").type, "gauge");
  EXPECT_EQ(m.at("wirescope_rules_loaded").type, "gauge");
  EXPECT_EQ(m.at("wirescope_build_info").type, "gauge");
  EXPECT_EQ(value(m, "wirescope_build_info", {{"version", WIRESCOPE_VERSION}}), 1);

  // The histogram: bounds ascending, counts cumulative, +Inf last and equal
  // to _count.
  const Family& h = m.at("wirescope_burst_processing_seconds");
  EXPECT_EQ(h.type, "histogram");
  double prev_le = -1, prev_count = 0;
  size_t buckets = 0;
  for (const Sample& s : h.samples) {
    if (s.labels.at("__name__") != "wirescope_burst_processing_seconds_bucket") continue;
    const double le = s.labels.at("le") == "+Inf" ? INFINITY : std::stod(s.labels.at("le"));
    EXPECT_GT(le, prev_le);
    EXPECT_GE(s.value, prev_count) << "bucket le=" << s.labels.at("le") << " is not cumulative";
    prev_le = le;
    prev_count = s.value;
    ++buckets;
  }
  EXPECT_GE(buckets, 5u);
  EXPECT_TRUE(std::isinf(prev_le)) << "the last bucket is not +Inf";
  EXPECT_EQ(prev_count, value(m, "wirescope_burst_processing_seconds", {}, "wirescope_burst_processing_seconds_count"));
}

uint64_t summary_counter(const RunSummary& s, const std::string& name) {
  for (const auto& [n, v] : s.counters)
    if (n == name) return v;
  return 0;
}

TEST(AgentMetrics, DemoRunMatchesTheSummary) {
  TempDir dir;
  Runtime rt(demo_config(dir, copy_rules(dir)));
  ASSERT_EQ(rt.open(), "");
  const std::atomic<bool> stop{false};
  rt.run(stop);
  const RunSummary s = rt.summary();
  ASSERT_GT(s.packets, 0u);
  ASSERT_GT(s.alerts, 0u);  // the demo rules alert on the demo capture

  AgentMetrics metrics(rt);
  const std::string text = metrics.render();
  const auto m = parse(text);
  check_shape(m);

  EXPECT_EQ(value(m, "wirescope_packets_total"), double(s.packets));
  EXPECT_EQ(value(m, "wirescope_bytes_total"), double(s.bytes));
  EXPECT_EQ(value(m, "wirescope_flows_created_total"), double(s.flows));
  EXPECT_EQ(value(m, "wirescope_flows_active"), 0);  // every flow was flushed at the end
  EXPECT_EQ(value(m, "wirescope_alerts_total"), double(s.alerts));
  EXPECT_EQ(value(m, "wirescope_flow_records_exported_total", {{"exporter", "eve"}}), double(s.records));
  EXPECT_EQ(value(m, "wirescope_rules_loaded"), 5);
  EXPECT_EQ(value(m, "wirescope_rules_failed"), 0);
  EXPECT_EQ(value(m, "wirescope_rule_reloads_total", {{"result", "ok"}}), 0);
  EXPECT_EQ(value(m, "wirescope_rule_reloads_total", {{"result", "failed"}}), 0);
  EXPECT_EQ(value(m, "wirescope_capture_drops_total", {{"source", kDemo + "/demo.pcap"}}), 0);
  // Per source (one here): what it read, the same as the totals.
  EXPECT_EQ(value(m, "wirescope_source_packets_total", {{"source", kDemo + "/demo.pcap"}}), double(s.packets));
  EXPECT_EQ(value(m, "wirescope_source_bytes_total", {{"source", kDemo + "/demo.pcap"}}), double(s.bytes));
  // Alerts by rule and severity: the same counts as the alert events of
  // eve.json (each demo rule's classtype gives its severity).
  std::map<std::string, double> eve_sids;
  std::map<std::string, double> eve_severity;
  {
    std::ifstream eve(dir.path() + "/eve.json");
    const std::regex sid_re(R"re("gid":(\d+),"signature_id":(\d+))re"), sev_re(R"re("severity":(\d+))re");
    std::string line;
    std::smatch mt;
    while (std::getline(eve, line)) {
      if (line.find("\"event_type\":\"alert\"") == std::string::npos) continue;
      if (std::regex_search(line, mt, sid_re)) eve_sids[mt[1].str() + ":" + mt[2].str()] += 1;
      if (std::regex_search(line, mt, sev_re)) eve_severity[mt[1].str()] += 1;
    }
  }
  ASSERT_GE(eve_sids.size(), 2u) << "several demo rules alert on the demo capture";
  // One series per rule that alerted, and the "other" one.
  EXPECT_EQ(m.at("wirescope_alerts_by_signature_total").samples.size(), eve_sids.size() + 1);
  for (const auto& [sid, n] : eve_sids) {
    double found = -1;
    for (const Sample& x : m.at("wirescope_alerts_by_signature_total").samples)
      if (x.labels.at("sid") == sid) found = x.value;
    EXPECT_EQ(found, n) << sid;
  }
  EXPECT_EQ(value(m, "wirescope_alerts_by_signature_total", {{"sid", "1:1000001"},
                                                             {"signature", "DEMO TLS port connection attempt"}}),
            eve_sids["1:1000001"]);
  EXPECT_EQ(value(m, "wirescope_alerts_by_signature_total", {{"sid", "other"}, {"signature", "other"}}), 0);
  double by_severity = 0;
  for (const Sample& x : m.at("wirescope_alerts_by_severity_total").samples) {
    by_severity += x.value;
    EXPECT_EQ(x.value, eve_severity[x.labels.at("severity")]) << "severity " << x.labels.at("severity");
  }
  EXPECT_EQ(by_severity, double(s.alerts));
  // Without -c there is no config file to reload: no config families.
  EXPECT_EQ(m.count("wirescope_config_reloads_total"), 0u);
  EXPECT_EQ(m.count("wirescope_config_last_reload_success"), 0u);

  // Every non-zero counter of the summary, under its metric name.
  ASSERT_FALSE(s.counters.empty());
  for (const auto& [name, v] : s.counters) {
    const auto [fam, labels] = metric_of(name);
    EXPECT_EQ(value(m, fam, labels), double(v)) << name;
  }
  // Drops: the same reasons and counts as the summary's.
  double drops = 0;
  for (const Sample& x : m.at("wirescope_drops_total").samples) drops += x.value;
  double summary_drops = 0;
  for (const auto& [reason, v] : s.drops) {
    summary_drops += double(v);
    EXPECT_EQ(value(m, "wirescope_drops_total", {{"reason", reason}}), double(v)) << reason;
  }
  EXPECT_EQ(drops, summary_drops);

  // nDPI is on by default: after the flush every flow is classified, so the
  // per-application packets add up to the frames that reached a flow, and
  // the flows to the flows created.
  double app_packets = 0, app_flows = 0;
  for (const Sample& x : m.at("wirescope_app_packets_total").samples) app_packets += x.value;
  for (const Sample& x : m.at("wirescope_app_flows_total").samples) app_flows += x.value;
  EXPECT_EQ(app_packets, double(summary_counter(s, "worker.flow_packets")));
  EXPECT_EQ(app_flows, double(s.flows));
  EXPECT_EQ(value(m, "wirescope_ndpi_flows_in_detection"), 0) << "every nDPI state went back to its pool";
  EXPECT_GT(value(m, "wirescope_ndpi_memory_bytes", {{"part", "flow_state_pool"}}), 0);

  // One histogram sample per processed burst; a burst holds 1..32 frames.
  const double bursts = value(m, "wirescope_burst_processing_seconds", {}, "wirescope_burst_processing_seconds_count");
  EXPECT_EQ(bursts, double(summary_counter(s, "worker.bursts")));
  EXPECT_GE(bursts, std::ceil(double(s.packets) / kBurst));
  EXPECT_LE(bursts, double(s.packets));
  EXPECT_GT(value(m, "wirescope_burst_processing_seconds", {}, "wirescope_burst_processing_seconds_sum"), 0);

  // make_metrics_renderer serves the same families.
  const auto again = parse(make_metrics_renderer(rt)());
  EXPECT_EQ(again.size(), m.size());
  EXPECT_EQ(value(again, "wirescope_packets_total"), double(s.packets));
}

TEST(AgentMetrics, RuleReloadsAreCountedByResult) {
  TempDir dir;
  const std::string rules = copy_rules(dir);
  Runtime rt(demo_config(dir, rules));
  ASSERT_EQ(rt.open(), "");
  const std::atomic<bool> stop{false};
  rt.run(stop);
  AgentMetrics metrics(rt);

  // A reload of the same file succeeds.
  EXPECT_TRUE(rt.reload_rules().fatal.empty());
  // A rule file that is gone: the reload fails and the running rules stay.
  fs::rename(rules, rules + ".away");
  EXPECT_FALSE(rt.reload_rules().fatal.empty());
  auto m = parse(metrics.render());
  EXPECT_EQ(value(m, "wirescope_rule_reloads_total", {{"result", "ok"}}), 1);
  EXPECT_EQ(value(m, "wirescope_rule_reloads_total", {{"result", "failed"}}), 1);
  EXPECT_EQ(value(m, "wirescope_rules_loaded"), 5);
  EXPECT_EQ(value(m, "wirescope_rules_last_reload_success"), 0) << "the last reload was refused";
  EXPECT_EQ(m.at("wirescope_rules_last_reload_success").type, "gauge");

  // Back with one bad rule more: loaded (not strict), the bad one counted.
  fs::rename(rules + ".away", rules);
  std::ofstream(rules, std::ios::app) << "alert tcp any any -> any any (msg:\"bad\"; nosuchkeyword; sid:9;)\n";
  EXPECT_TRUE(rt.reload_rules().fatal.empty());
  m = parse(metrics.render());
  EXPECT_EQ(value(m, "wirescope_rule_reloads_total", {{"result", "ok"}}), 2);
  EXPECT_EQ(value(m, "wirescope_rules_loaded"), 5);
  EXPECT_EQ(value(m, "wirescope_rules_failed"), 1);
  EXPECT_EQ(value(m, "wirescope_rules_last_reload_success"), 1) << "a later good reload clears it";
}

// Config file reloads (SIGHUP): counted by result, and whether the last
// one worked, which the WirescopeConfigReloadFailed alert reads.
TEST(AgentMetrics, ConfigReloadsAreCountedByResult) {
  TempDir dir;
  const AgentConfig cfg = demo_config(dir, copy_rules(dir));
  Runtime rt(cfg);
  ASSERT_EQ(rt.open(), "");
  const std::atomic<bool> stop{false};
  rt.run(stop);
  bool broken = false;
  rt.set_config_loader(dir.path() + "/ws.yaml", [&](AgentConfig* out) -> std::string {
    if (broken) return "ws.yaml:3: flow.max_flows: not a number";
    *out = cfg;
    return "";
  });
  AgentMetrics metrics(rt);
  auto m = parse(metrics.render());
  check_shape(m);
  EXPECT_EQ(value(m, "wirescope_config_reloads_total", {{"result", "ok"}}), 0);
  EXPECT_EQ(value(m, "wirescope_config_reloads_total", {{"result", "failed"}}), 0);
  EXPECT_EQ(value(m, "wirescope_config_last_reload_success"), 1) << "no reload yet: the config in force is good";

  broken = true;
  EXPECT_NE(rt.reload_config(), "");
  m = parse(metrics.render());
  EXPECT_EQ(value(m, "wirescope_config_reloads_total", {{"result", "failed"}}), 1);
  EXPECT_EQ(value(m, "wirescope_config_last_reload_success"), 0);

  broken = false;
  EXPECT_EQ(rt.reload_config(), "");
  m = parse(metrics.render());
  EXPECT_EQ(value(m, "wirescope_config_reloads_total", {{"result", "ok"}}), 1);
  EXPECT_EQ(value(m, "wirescope_config_reloads_total", {{"result", "failed"}}), 1);
  EXPECT_EQ(value(m, "wirescope_config_last_reload_success"), 1);
  EXPECT_EQ(m.at("wirescope_config_last_reload_success").type, "gauge");
}

// A capture of frames the decoder refuses, with a DLT_EN10MB header.
void write_pcap(const std::string& path, const std::vector<std::vector<uint8_t>>& frames) {
  std::ofstream f(path, std::ios::binary);
  auto u32 = [&](uint32_t v) { f.write(reinterpret_cast<const char*>(&v), 4); };
  auto u16 = [&](uint16_t v) { f.write(reinterpret_cast<const char*>(&v), 2); };
  u32(0xa1b2c3d4);
  u16(2);
  u16(4);
  u32(0);
  u32(0);
  u32(65535);
  u32(1);
  uint32_t t = 1700000000;
  for (const auto& fr : frames) {
    u32(t++);
    u32(0);
    u32(uint32_t(fr.size()));
    u32(uint32_t(fr.size()));
    f.write(reinterpret_cast<const char*>(fr.data()), std::streamsize(fr.size()));
  }
}

TEST(AgentMetrics, RefusedFramesAreCountedByReason) {
  TempDir dir;
  std::vector<uint8_t> eth(12, 0x02);
  std::vector<uint8_t> arp = eth, trunc4 = eth, trunc_tcp = eth;
  arp.insert(arp.end(), {0x08, 0x06});
  arp.resize(60, 0);
  trunc4.insert(trunc4.end(), {0x08, 0x00, 0x45, 0x00, 0x00, 0x28});  // IPv4 header cut after 4 bytes
  // IPv4 + 8 bytes of a 20-byte TCP header.
  trunc_tcp.insert(trunc_tcp.end(), {0x08, 0x00, 0x45, 0x00, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x40, 0x06, 0x00,
                                     0x00, 10, 0, 0, 1, 10, 0, 0, 2, 0x00, 0x50, 0x01, 0xbb, 0, 0, 0, 0});
  const std::string pcap = dir.path() + "/refused.pcap";
  write_pcap(pcap, {arp, arp, trunc4, trunc_tcp});
  AgentConfig cfg;
  cfg.read_file = pcap;
  cfg.workers = 1;
  Runtime rt(cfg);
  ASSERT_EQ(rt.open(), "");
  const std::atomic<bool> stop{false};
  rt.run(stop);
  const RunSummary s = rt.summary();
  const auto m = parse(AgentMetrics(rt).render());
  check_shape(m);
  EXPECT_EQ(value(m, "wirescope_packets_total"), 4);
  EXPECT_EQ(value(m, "wirescope_drops_total", {{"reason", "non_ip"}}), 2);
  EXPECT_EQ(value(m, "wirescope_drops_total", {{"reason", "truncated_ipv4"}}), 1);
  EXPECT_EQ(value(m, "wirescope_drops_total", {{"reason", "truncated_tcp"}}), 1);
  EXPECT_EQ(value(m, "wirescope_decode_errors_total", {{"reason", "truncated_ipv4"}}), 1);
  EXPECT_EQ(value(m, "wirescope_decode_errors_total", {{"reason", "truncated_tcp"}}), 1);
  EXPECT_EQ(value(m, "wirescope_decode_errors_total", {{"reason", "bad_tcp_header"}}), 0);
  EXPECT_EQ(value(m, "wirescope_flows_created_total"), 0);
  // Without rules: the rule families say so, and no detect families appear.
  EXPECT_EQ(value(m, "wirescope_rules_loaded"), 0);
  EXPECT_EQ(m.count("wirescope_detect_inspected_total"), 0u);
  for (const auto& [reason, v] : s.drops) EXPECT_EQ(value(m, "wirescope_drops_total", {{"reason", reason}}), double(v));
}

// The API server's own counters: requests, rate-limited ones, anonymous
// viewers, and the dashboard's files by outcome (a refused path is a probe
// worth an alert, so it has its own series).
TEST(AgentMetrics, ApiServerCountersAreExported) {
  TempDir dir;
  Runtime rt(demo_config(dir, copy_rules(dir)));
  ASSERT_EQ(rt.open(), "");
  const std::atomic<bool> stop{false};
  rt.run(stop);

  fs::create_directory(dir.path() + "/web");
  std::ofstream(dir.path() + "/web/index.html") << "<!doctype html><title>t</title>\n";
  ApiOptions o;
  o.listen = "127.0.0.1:0";
  o.dashboard_dir = dir.path() + "/web";
  o.anonymous_view = true;
  o.tokens = {{"ops", Role::kAdmin, sha256_hex("admin-token")}};
  o.rate_limit.requests_per_second = 1;
  o.rate_limit.burst = 6;
  ApiServer api(o);
  AgentHooks hooks;
  hooks.status = [] {
    AgentStatus st;
    st.running = true;
    return st;
  };
  hooks.rules = [] { return RulesStatus{}; };
  hooks.reload_rules = [](std::optional<bool>) { return ReloadOutcome{}; };
  ASSERT_EQ(add_agent_routes(api.router(), hooks), "");
  ASSERT_EQ(api.configure(), "");
  auto get = [&](const std::string& path) {
    HttpRequest r;
    r.method = "GET";
    r.path = path;
    r.remote = "10.0.0.1";
    return api.handle(std::move(r), std::nullopt, 10'000'000'000ull).status;
  };
  EXPECT_EQ(get("/"), 200);
  EXPECT_EQ(get("/index.html"), 200);
  EXPECT_EQ(get("/../secret.txt"), 404);
  EXPECT_EQ(get("/missing.js"), 404);
  EXPECT_EQ(get("/api/v1/status"), 200);  // anonymous viewer
  for (int i = 0; i < 4; ++i) get("/");  // past the burst of 6: rate limited

  AgentMetrics without(rt);
  EXPECT_EQ(parse(without.render()).count("wirescope_api_requests_total"), 0u) << "no API, no API metrics";

  AgentMetrics metrics(rt, &api);
  const auto m = parse(metrics.render());
  check_shape(m);
  EXPECT_EQ(value(m, "wirescope_api_requests_total"), double(api.requests()));
  EXPECT_GE(value(m, "wirescope_api_requests_total"), 6);
  EXPECT_EQ(value(m, "wirescope_api_rate_limited_total"), double(api.rate_limited()));
  EXPECT_GE(value(m, "wirescope_api_rate_limited_total"), 1);
  EXPECT_EQ(value(m, "wirescope_api_anonymous_requests_total"), double(api.anonymous()));
  EXPECT_GE(value(m, "wirescope_api_anonymous_requests_total"), 1);
  EXPECT_EQ(value(m, "wirescope_dashboard_files_total", {{"result", "served"}}), double(api.dashboard().served()));
  EXPECT_GE(value(m, "wirescope_dashboard_files_total", {{"result", "served"}}), 2);
  EXPECT_EQ(value(m, "wirescope_dashboard_files_total", {{"result", "refused"}}), 1);
  EXPECT_EQ(value(m, "wirescope_dashboard_files_total", {{"result", "not_found"}}), 1);
  EXPECT_EQ(value(m, "wirescope_dashboard_files_total", {{"result", "not_modified"}}), 0);
  EXPECT_EQ(m.at("wirescope_dashboard_files_total").type, "counter");
}

// Scrapes while the workers run (a looping replay): counters only grow and
// every scrape is well formed. Stops after a fixed number of scrapes that
// saw traffic, not after a time.
TEST(AgentMetrics, ScrapesWhileRunning) {
  TempDir dir;
  AgentConfig cfg = demo_config(dir, copy_rules(dir));
  cfg.loop = true;
  cfg.log_dir.clear();
  Runtime rt(cfg);
  ASSERT_EQ(rt.open(), "");
  std::atomic<bool> stop{false};
  std::thread runner([&] { rt.run(stop); });
  AgentMetrics metrics(rt);
  double packets = 0, bursts = 0;
  int growing = 0;
  for (int i = 0; i < 100000 && growing < 20; ++i) {
    const auto m = parse(metrics.render());
    const double p = value(m, "wirescope_packets_total");
    const double b = value(m, "wirescope_burst_processing_seconds", {}, "wirescope_burst_processing_seconds_count");
    ASSERT_GE(p, packets);
    ASSERT_GE(b, bursts);
    if (p > packets) ++growing;
    if (i % 10 == 0) rt.reload_rules();  // rule snapshots are swapped and freed under the scrapes
    packets = p;
    bursts = b;
  }
  stop.store(true);
  runner.join();
  EXPECT_EQ(growing, 20);
  const auto m = parse(metrics.render());
  check_shape(m);
  EXPECT_GT(value(m, "wirescope_rule_reloads_total", {{"result", "ok"}}), 0);
  EXPECT_EQ(value(m, "wirescope_packets_total"), double(rt.summary().packets));
}

}  // namespace
}  // namespace ws
