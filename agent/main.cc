// wirescope: capture → decode → flows → EVE / IPFIX / NetFlow v9.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "agent/cpu_affinity.h"
#include "agent/config.h"
#include "agent/metrics.h"
#include "agent/runtime.h"
#include "agent/sd_notify.h"
#include "api/agent_routes.h"
#include "api/server.h"
#include "api/ws_stream.h"
#include "dataplane/qos/tc_host.h"

namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};

void on_signal(int) { g_stop.store(true); }
void on_hup(int) { g_reload.store(true); }

// `rules: loaded=N failed=M`, then each failure as file:line: sid N: reason.
// With verbose, also the rule groups and the rules in them that have no
// usable fast pattern (confirmed on every packet of their group).
void print_rule_report(const ws::RuleLoadReport& rep, FILE* summary_to, const char* prefix, int verbose) {
  for (const ws::RuleError& e : rep.errors) std::fprintf(stderr, "%s%s\n", prefix, e.str().c_str());
  for (const std::string& e : rep.config_errors) std::fprintf(stderr, "%s%s\n", prefix, e.c_str());
  std::fprintf(summary_to, "%srules: loaded=%zu failed=%zu\n", prefix, rep.loaded, rep.failed);
  if (!verbose) return;
  std::fprintf(stderr, "%srules: parsed in %.0f ms, compiled in %.0f ms; database cache hits=%llu misses=%llu\n",
               prefix, rep.parse_ms, rep.build_ms, static_cast<unsigned long long>(rep.cache.hits),
               static_cast<unsigned long long>(rep.cache.misses));
  for (const ws::RuleGroupInfo& g : rep.groups)
    std::fprintf(stderr, "%srules: group %s: %zu rules, %zu patterns, %zu without a usable fast pattern, %zu bytes\n",
                 prefix, g.name.c_str(), g.rules, g.patterns, g.always_check, g.database_bytes);
}

}  // namespace

int main(int argc, char** argv) {
  ws::AgentConfig cfg;
  CLI::App app{"wirescope: packet and flow telemetry agent"};
  app.set_version_flag("--version", std::string("wirescope ") + WIRESCOPE_VERSION);

  std::string api_listen;
  bool f_list_routes = false;
  std::string config_file, read_file, iface, capture, log_dir, ipfix, netflow9, checksum, bpf, eve_file;
  unsigned workers = 0;
  bool f_loop = false, f_nopromisc = false, f_biflow = false, f_test = false, f_strict = false;
  bool f_metrics_dump = false;
  std::vector<std::string> rule_files;
  int f_verbose = 0;
  int snaplen = 0;
  uint64_t max_flows = 0;
  uint32_t active_timeout = 0, export_mtu = 0, export_rate = 0, template_refresh = 0;
  app.add_option("-c,--config", config_file, "YAML config file (every flag has a key)");
  app.add_option("-r,--read", read_file, "Read a pcap or pcapng file");
  app.add_flag("--loop", f_loop, "Replay the file (-r) forever");
  bool f_simulate_ips = false;
  app.add_flag("--simulate-ips", f_simulate_ips,
               "Drop and reject rules act as inline (blocked alerts, dropped flows) on a passive input");
  double replay_speed = 0;
  app.add_option("--replay-speed", replay_speed,
                 "Replay the file (-r) at its recorded pace times X (1: as recorded; default 0: as fast as possible)");
  app.add_option("-i,--interface", iface, "Capture live from an interface");
  std::vector<std::string> inline_pairs;
  app.add_option("--inline", inline_pairs,
                 "Bridge two interfaces A:B at layer 2 with IPS verdicts (drop, reject); repeatable")
      ->take_all();
  std::string dpdk_eal;
  app.add_option("--dpdk-eal-args", dpdk_eal,
                 "DPDK EAL arguments for --capture dpdk, one string (e.g. \"-a 0000:01:00.0\" or "
                 "\"--no-huge -m 512 --vdev net_pcap0,rx_pcap=in.pcap\")");
  app.add_option("--capture", capture, "Live capture method: afpacket (default), pcap or dpdk (-i names the port)")
      ->check(CLI::IsMember({"afpacket", "pcap", "dpdk"}));
  app.add_option("--snaplen", snaplen, "Bytes captured per frame (live)");
  app.add_option("--bpf", bpf, "Capture filter, tcpdump syntax (live)");
  app.add_flag("--no-promisc", f_nopromisc, "Do not put the interface in promiscuous mode");
  app.add_option("--workers", workers, "Worker threads (default: one per core)");
  std::string worker_cpus, management_cpus;
  app.add_option("--worker-cpus", worker_cpus,
                 "CPUs for the workers, e.g. 1-3 (worker i on the i-th, round robin); default: any");
  app.add_option("--management-cpus", management_cpus,
                 "CPUs for every other thread (API, exporters, main), e.g. 0; default: any");
  app.add_option("-k,--checksum", checksum, "Checksum validation: none (count only) or all (drop bad)")
      ->check(CLI::IsMember({"none", "all"}));
  app.add_option("-l,--log-dir", log_dir, "Write EVE JSON to DIR/eve.json");
  app.add_option("--eve-file", eve_file, "EVE file name inside the log dir (default eve.json)");
  app.add_option("--ipfix", ipfix, "Export IPFIX to udp://HOST:PORT or tcp://HOST:PORT");
  app.add_flag("--ipfix-biflow", f_biflow, "Export RFC 5103 biflow records instead of two uniflows");
  app.add_option("--netflow9", netflow9, "Export NetFlow v9 to udp://HOST:PORT");
  app.add_option("--export-mtu", export_mtu, "Largest IPFIX/NetFlow message, bytes (default 1400)");
  app.add_option("--export-rate", export_rate, "UDP export pacing, datagrams/s (0 = unpaced; default 20000)");
  app.add_option("--template-refresh", template_refresh, "UDP template refresh interval, seconds (default 30)");
  std::string export_proto;
  app.add_option("--export-proto", export_proto,
                 "Stream length-delimited protobuf events (telemetry/wirescope.proto) to tcp://HOST:PORT");
  app.add_option("--max-flows", max_flows, "Flow table capacity for the whole agent (default 1048576)");
  app.add_option("--active-timeout", active_timeout, "Report long flows every S seconds (default 1800)");
  app.add_option("-S,--rules", rule_files, "Load Suricata-syntax rules from FILE (repeatable)")->take_all();
  app.add_flag("-T,--test", f_test, "Test the config and rules, print rules: loaded=N failed=M, and exit");
  app.add_flag("--strict-rules", f_strict, "Any rule that fails to load is an error");
  app.add_option("--api", api_listen, "Serve the REST API on HOST:PORT (port 0: any free port)");
  bool f_no_ndpi = false;
  uint32_t ndpi_max_packets = 0;
  app.add_flag("--no-ndpi", f_no_ndpi, "Do not classify applications with nDPI");
  app.add_option("--ndpi-max-packets", ndpi_max_packets, "Packets per flow given to nDPI at most (1..255, default 10)");
  // Hidden: prints every route (METHOD PATH ACCESS) and exits; the API
  // tests compare it with the OpenAPI document.
  app.add_flag("--list-routes", f_list_routes, "")->group("");
  auto* verbose = app.add_flag("-v,--verbose", f_verbose, "More output (repeatable)");
  // Hidden (empty group): prints /metrics to stdout once the input has ended,
  // for tests and promtool without an API server.
  app.add_flag("--metrics-dump", f_metrics_dump, "Print the Prometheus metrics at the end")->group("");
  app.footer(
      "Examples:\n"
      "  wirescope -r capture.pcap -l out/ --ipfix udp://127.0.0.1:4739\n"
      "  wirescope -i eth0 --workers 2 --netflow9 udp://collector:2055\n"
      "  wirescope --inline veth-a:veth-b -S ips.rules --api 127.0.0.1:8080 -c wirescope.yaml\n"
      "  wirescope -r capture.pcap -S local.rules -l out/\n"
      "  wirescope -T -S emerging.rules --strict-rules\n"
      "  wirescope -r capture.pcap --loop --api 127.0.0.1:8080 -c wirescope.yaml\n"
      "  wirescope -c /etc/wirescope/wirescope.yaml");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version end here too, with 0; every usage error exits 2
    // like the config checks below (CLI11's own codes are 100 and up).
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (!config_file.empty()) {
    const std::string err = ws::load_config_file(config_file, cfg);
    if (!err.empty()) {
      std::fprintf(stderr, "wirescope: %s\n", err.c_str());
      return 2;
    }
  }
  std::string flag_error;  // a malformed --inline or CPU list, found by apply_flags
  // Flags given on the command line override the file (at start and at
  // each config reload).
  auto apply_flags = [&](ws::AgentConfig& c) {
    if (app.count("-r")) c.read_file = read_file;
    if (app.count("--loop")) c.loop = true;
    if (app.count("--simulate-ips")) c.simulate_ips = true;
    if (app.count("--replay-speed")) c.replay_speed = replay_speed;
    if (app.count("-i")) c.interface = iface;
    if (app.count("--inline")) {
      c.inline_pairs.clear();
      for (const std::string& t : inline_pairs) {
        ws::InlinePair p;
        if (std::string e = ws::parse_inline_pair(t, &p); !e.empty()) {
          flag_error = e;
          break;
        }
        c.inline_pairs.push_back(std::move(p));
      }
    }
    if (app.count("--capture")) c.capture = capture;
    if (app.count("--dpdk-eal-args")) c.dpdk_eal_args = ws::split_eal_args(dpdk_eal);
    if (app.count("--snaplen")) c.snaplen = snaplen;
    if (app.count("--bpf")) c.bpf = bpf;
    if (app.count("--no-promisc")) c.promisc = false;
    if (app.count("--workers")) c.workers = workers;
    for (auto [flag, text, out] : {std::tuple{"--worker-cpus", &worker_cpus, &c.worker_cpus},
                                   std::tuple{"--management-cpus", &management_cpus, &c.management_cpus}})
      if (app.count(flag))
        if (std::string e = ws::parse_cpu_list(*text, out); !e.empty() && flag_error.empty())
          flag_error = std::string(flag) + ": " + e;
    if (app.count("-k")) c.decoder.checksum = checksum == "all" ? ws::ChecksumMode::kAll : ws::ChecksumMode::kNone;
    if (app.count("-l")) c.log_dir = log_dir;
    if (app.count("--eve-file")) c.eve_filename = eve_file;
    if (app.count("--ipfix")) c.ipfix_url = ipfix;
    if (app.count("--ipfix-biflow")) c.ipfix_biflow = true;
    if (app.count("--netflow9")) c.netflow9_url = netflow9;
    if (app.count("--export-mtu")) c.export_mtu = export_mtu;
    if (app.count("--export-rate")) c.export_rate = export_rate;
    if (app.count("--template-refresh")) c.template_refresh_s = template_refresh;
    if (app.count("--export-proto")) c.proto_url = export_proto;
    if (app.count("--max-flows")) c.max_flows = max_flows;
    if (app.count("--active-timeout")) c.active_timeout_s = active_timeout;
    if (verbose->count()) c.verbose = static_cast<int>(verbose->count());
    if (app.count("-S")) c.rule_files = rule_files;
    if (app.count("--strict-rules")) c.strict_rules = true;
    if (app.count("--api")) c.api.listen = api_listen;
    if (app.count("--no-ndpi")) c.ndpi_enabled = false;
    if (app.count("--ndpi-max-packets")) c.ndpi_max_packets = ndpi_max_packets;
  };
  apply_flags(cfg);
  if (!flag_error.empty()) {
    std::fprintf(stderr, "wirescope: %s\n", flag_error.c_str());
    return 2;
  }

  // The agent's routes, on hooks that reach the runtime once it exists.
  ws::Runtime* rtp = nullptr;
  const ws::ApiServer* apip = nullptr;  // its counters are on /metrics too
  ws::AgentHooks hooks;
  hooks.status = [&rtp] { return rtp ? rtp->status() : ws::AgentStatus{}; };
  hooks.rules = [&rtp] { return rtp ? rtp->rules_status() : ws::RulesStatus{}; };
  hooks.reload_rules = [&rtp](std::optional<bool> strict) {
    if (rtp) return rtp->try_reload_rules(strict);
    ws::ReloadOutcome o;
    o.result = ws::ReloadOutcome::Result::kNotConfigured;
    o.error = "the agent is not running";
    return o;
  };
  hooks.metrics = [&rtp, &apip] { return rtp ? ws::AgentMetrics(*rtp, apip).render() : std::string(); };
  hooks.flows = [&rtp]() -> ws::FlowSnapshotPtr { return rtp ? rtp->flow_snapshot() : nullptr; };
  hooks.edit_rules = [&rtp](bool replace, const std::string& text) {
    if (rtp) return rtp->edit_rules(replace, text);
    ws::ReloadOutcome o;
    o.result = ws::ReloadOutcome::Result::kNotConfigured;
    o.error = "the agent is not running yet";
    return o;
  };
  hooks.apps = [&rtp] { return rtp ? rtp->apps_status() : ws::AppsStatus{}; };
  // GNS3: the routes and the stream read these; they are filled from the
  // runtime once it is open, before the API starts.
  ws::Gns3Hooks gns3_hooks;
  ws::FlowLabels flow_labels;
  if (!cfg.gns3.empty()) {
    hooks.gns3 = &gns3_hooks;
    hooks.flow_labels = &flow_labels;
  }
  // Traffic control (/api/v1/qos/...): the policy store exists in inline
  // mode, one QoS stage per worker reads it, and in host mode (qos.mode:
  // tc), where the kernel's tc does the work (no worker reads it); without
  // it the routes answer 503. Declared before the store: the tree it
  // installed is removed when main returns, after the API has stopped.
  std::unique_ptr<ws::TcHost> tc_host;
  std::unique_ptr<ws::QosControl> qos;
  if (cfg.qos.mode == "tc")
    qos = std::make_unique<ws::QosControl>(0);
  else if (!cfg.inline_pairs.empty())
    qos = std::make_unique<ws::QosControl>(cfg.workers ? cfg.workers : std::max(1u, std::thread::hardware_concurrency()));
  hooks.qos = qos.get();
  // WebSocket /api/v1/stream: fed by the export thread as one more
  // exporter, served by the API (declared first: both hold it).
  ws::StreamOptions so;
  so.max_clients = cfg.api.max_stream_clients;
  so.queue_frames = cfg.api.stream_queue_frames;
  ws::ExportContext stream_ctx;
  stream_ctx.iface_name = cfg.interface;  // EVE in_iface, as the runtime sets it
  ws::Stream stream(so, hooks, stream_ctx);
  ws::ApiServer api(cfg.api);
  apip = &api;
  api.set_stream(&stream);
  std::string route_err = ws::add_agent_routes(api.router(), hooks);
  if (route_err.empty()) route_err = ws::add_stream_route(api.router(), stream);
  if (route_err.empty()) route_err = ws::add_openapi_route(api.router(), WIRESCOPE_VERSION, cfg.api.metrics_auth);
  if (!route_err.empty()) {
    std::fprintf(stderr, "wirescope: api: %s\n", route_err.c_str());
    return 1;
  }
  if (f_list_routes) {
    static const char* kAccess[] = {"open", "viewer", "admin"};
    for (const ws::Route& r : api.router().routes())
      std::printf("%s %s %s\n", r.method.c_str(), r.path.c_str(), kAccess[static_cast<int>(r.access)]);
    return 0;
  }

  const std::string bad = ws::validate_config(cfg, !f_test);
  if (!bad.empty()) {
    std::fprintf(stderr, "wirescope: %s\n", bad.c_str());
    return 2;
  }

  if (f_test) {
    // The config is valid (checked above); now the rules.
    bool ok = true;
    const ws::RuleLoadReport rep = ws::test_rules(cfg, &ok);
    if (!rep.fatal.empty()) {
      std::fprintf(stderr, "wirescope: rules: %s\n", rep.fatal.c_str());
      return 1;
    }
    print_rule_report(rep, stdout, "", cfg.verbose);
    return ok ? 0 : 1;
  }

  // A capture file that is not there is a usage error (exit 2), found
  // before anything is opened; a file that is there but unreadable or not
  // a capture is reported by the source (exit 1).
  if (!cfg.read_file.empty() && access(cfg.read_file.c_str(), F_OK) != 0) {
    std::fprintf(stderr, "wirescope: capture file '%s': %s\n", cfg.read_file.c_str(), std::strerror(errno));
    return 2;
  }

  // Host mode: the interface is checked (a root qdisc that is not ours
  // refuses the start) and the kernel probed before anything is captured.
  if (cfg.qos.mode == "tc") {
    tc_host = std::make_unique<ws::TcHost>(cfg.qos.interface);
    if (std::string e = tc_host->open(); !e.empty()) {
      std::fprintf(stderr, "wirescope: %s\n", e.c_str());
      return 1;
    }
    qos->set_host(tc_host.get());
  }

  ws::Runtime rt(cfg);
  rt.set_qos(qos.get());
  if (!config_file.empty())
    rt.set_config_loader(config_file, [&](ws::AgentConfig* out) {
      ws::AgentConfig c;
      if (std::string e = ws::load_config_file(config_file, c); !e.empty()) return e;
      apply_flags(c);
      *out = std::move(c);
      return std::string();
    });
  if (!cfg.api.listen.empty()) rt.add_exporter(&stream);
  const std::string err = rt.open();
  if (!err.empty()) {
    std::fprintf(stderr, "wirescope: %s\n", err.c_str());
    return 1;
  }
  // Every thread started from here on (the API's, the exporters', the
  // stream's) inherits this; the workers pin themselves in run().
  // Without management_cpus: every CPU the process started with (DPDK's
  // EAL pins this thread to its main lcore).
  if (std::string e = ws::pin_this_thread(cfg.management_cpus.empty() ? ws::startup_cpus() : cfg.management_cpus);
      !e.empty()) {
    std::fprintf(stderr, "wirescope: --management-cpus (management_cpus): %s\n", e.c_str());
    return 1;
  }
  if (!cfg.worker_cpus.empty() || !cfg.management_cpus.empty())
    std::fprintf(stderr, "wirescope: workers on CPUs %s, other threads on CPUs %s\n",
                 cfg.worker_cpus.empty() ? "(any)" : ws::cpu_list_text(cfg.worker_cpus).c_str(),
                 cfg.management_cpus.empty() ? "(any)" : ws::cpu_list_text(cfg.management_cpus).c_str());
  if (const ws::RuleLoadReport* rep = rt.rules_report()) print_rule_report(*rep, stderr, "wirescope: ", cfg.verbose);
  // qos.policies: installed as PUT /api/v1/qos/policies/NAME would, before
  // the API and the workers start; one that cannot be installed stops the start.
  for (const auto& [name, body] : cfg.qos.policies) {
    const ws::QosChange ch = qos->put_json(name, body);
    if (ch.status != 200) {
      std::fprintf(stderr, "wirescope: qos.policies.%s: %s\n", name.c_str(), ch.error.c_str());
      return 1;
    }
  }
  if (!cfg.qos.policies.empty())
    std::fprintf(stderr, "wirescope: qos: %zu %s from the config installed (%s)\n", cfg.qos.policies.size(),
                 cfg.qos.policies.size() == 1 ? "policy" : "policies",
                 cfg.qos.mode == "tc" ? ("tc on " + cfg.qos.interface).c_str() : "inline");
  if (cfg.verbose)
    std::fprintf(stderr, "wirescope: %u workers, %zu bytes per flow entry\n", rt.workers(), rt.bytes_per_flow());
  if (cfg.verbose && !rt.worker_list().empty())
    if (const ws::AppDetect* a = rt.worker_list().front()->app_detect())
      std::fprintf(stderr,
                   "wirescope: ndpi: %zu protocols, first %u packets per flow; per worker: %zu flow states of %zu bytes "
                   "(%.1f MiB), module %zu bytes; %zu bytes per flow slot in the side table\n",
                   a->protocols(), a->max_packets(), a->pool_flows(), a->state_bytes(), a->pool_bytes() / 1048576.0,
                   a->module_bytes(), ws::AppDetect::side_bytes_per_flow());

  // The API starts once the runtime is open (its routes read it) and stops
  // before the runtime is destroyed; it runs on civetweb's threads.
  rtp = &rt;
  hooks.alerts = rt.alert_history();
  if (const ws::Gns3Hooks* g = rt.gns3_hooks()) gns3_hooks = *g;
  if (const ws::FlowLabels* l = rt.flow_labels()) flow_labels = *l;
  if (rt.gns3_hooks()) stream.set_gns3_labels(rt.gns3_eve_labels_for_thread(), rt.gns3_labels_for_thread());
  if (!cfg.api.listen.empty()) {
    if (cfg.api.tokens.empty())
      std::fprintf(stderr, cfg.api.anonymous_view
                               ? "wirescope: api: no api.tokens configured; anonymous viewers may read "
                                 "(api.anonymous_view), nothing may change\n"
                               : "wirescope: api: no api.tokens configured; only /metrics, /api/v1/health and "
                                 "the dashboard's files answer\n");
    if (std::string e = api.start(); !e.empty()) {
      std::fprintf(stderr, "wirescope: %s\n", e.c_str());
      return 1;
    }
    std::fprintf(stderr, "wirescope: api listening on %s:%u%s\n", api.host().c_str(), unsigned(api.port()),
                 cfg.api.tls_cert.empty() ? "" : " (TLS)");
    if (cfg.api.dashboard)
      std::fprintf(stderr, "wirescope: dashboard at http%s://%s:%u/\n", cfg.api.tls_cert.empty() ? "" : "s",
                   api.host().c_str(), unsigned(api.port()));
  }

  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sa.sa_handler = on_hup;
  sigaction(SIGHUP, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // systemd (Type=notify): readiness, reloads and shutdown over
  // $NOTIFY_SOCKET; a socket that refuses is told once and then ignored.
  rt.set_notify([told = false](const std::string& state) mutable {
    if (std::string e = ws::sd_notify(state); !e.empty() && !told) {
      told = true;
      std::fprintf(stderr, "wirescope: systemd notify: %s\n", e.c_str());
    }
  });
  rt.run(g_stop, &g_reload);
  api.stop();
  rtp = nullptr;
  // Host mode: the tree goes with the agent.
  if (tc_host && tc_host->installed()) {
    if (std::string e = tc_host->remove(); e.empty())
      std::fprintf(stderr, "wirescope: qos: removed the tc tree from %s\n", cfg.qos.interface.c_str());
    else
      std::fprintf(stderr, "wirescope: qos: could not remove the tc tree from %s: %s\n", cfg.qos.interface.c_str(),
                   e.c_str());
  }

  const ws::RunSummary s = rt.summary();
  uint64_t dropped = 0;
  std::string reasons;
  for (const auto& [name, v] : s.drops) {
    dropped += v;
    reasons += (reasons.empty() ? "" : " ") + name + "=" + std::to_string(v);
  }
  const std::string alerts = s.rules ? ", " + std::to_string(s.alerts) + " alerts" : "";
  // With --metrics-dump stdout carries the metrics text alone.
  std::fprintf(f_metrics_dump ? stderr : stdout,
              "wirescope: %llu packets, %llu bytes, %llu flows, %llu records%s, %llu dropped%s%s%s, %.2f Mpps in %.3f s\n",
              static_cast<unsigned long long>(s.packets), static_cast<unsigned long long>(s.bytes),
              static_cast<unsigned long long>(s.flows), static_cast<unsigned long long>(s.records), alerts.c_str(),
              static_cast<unsigned long long>(dropped), reasons.empty() ? "" : " (", reasons.c_str(),
              reasons.empty() ? "" : ")", s.seconds > 0 ? s.packets / s.seconds / 1e6 : 0.0, s.seconds);
  if (cfg.verbose)
    for (const auto& [name, v] : s.counters)
      std::fprintf(stderr, "wirescope: %s %llu\n", name.c_str(), static_cast<unsigned long long>(v));
  if (!s.errors.empty()) std::fprintf(stderr, "wirescope: %s\n", s.errors.c_str());
  if (f_metrics_dump) std::fputs(ws::AgentMetrics(rt).render().c_str(), stdout);
  return 0;
}
