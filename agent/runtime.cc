#include "agent/cpu_affinity.h"
#include "agent/runtime.h"

#include "api/ws_stream.h"

#include <net/if.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>

#include <chrono>
#include <cstdio>
#include <thread>
#include <tuple>

#include "agent/sd_notify.h"
#include "dataplane/capture/gns3_source.h"
#include "dataplane/capture/open.h"
#include "telemetry/eve.h"
#include "telemetry/export_url.h"
#include "telemetry/ipfix.h"
#include "telemetry/netflow9.h"
#include "telemetry/proto_exporter.h"

namespace ws {
namespace {

// Ring sizes: 4096 decoded frames (512 KiB) per worker ride out the
// export thread's scheduling gaps; the arena holds as many frames of
// typical size for sources whose buffers are reused.
constexpr size_t kDispatchRing = 4096;
constexpr size_t kArenaBytes = 8u << 20;

// Names show in top -H, perf and gdb (15 characters at most).
void name_thread(const std::string& name) { pthread_setname_np(pthread_self(), name.substr(0, 15).c_str()); }

// Passes everything to the real exporter and, after each tick (on the
// export thread, where reading its stats is safe), copies its stats into
// atomics the API reads (REST API: /api/v1/status).
template <typename Mirror>
class MirroredExporter final : public Exporter {
 public:
  MirroredExporter(Exporter& inner, Mirror& m) : inner_(inner), m_(m) {}
  void export_flows(std::span<const FlowRecord> recs, uint64_t now_ns) override { inner_.export_flows(recs, now_ns); }
  void export_alerts(std::span<const AlertRecord> alerts, uint64_t now_ns) override {
    inner_.export_alerts(alerts, now_ns);
  }
  void tick(uint64_t now_ns, bool final) override {
    inner_.tick(now_ns, final);
    const ExporterStats s = inner_.stats();
    constexpr auto r = std::memory_order_relaxed;
    m_.up.store(s.up, r);
    m_.records.store(s.records, r);
    m_.alerts.store(s.alerts, r);
    m_.messages.store(s.messages, r);
    m_.bytes.store(s.bytes, r);
    m_.send_errors.store(s.send_errors, r);
    m_.dropped_records.store(s.dropped_records, r);
    m_.reconnects.store(s.reconnects, r);
  }
  ExporterStats stats() const override { return inner_.stats(); }
  const std::string& name() const override { return inner_.name(); }

 private:
  Exporter& inner_;
  Mirror& m_;
};

}  // namespace

namespace {

// Adds v to the entry called name, creating it; zero values are left out so
// the lists hold only what happened.
void add_named(std::vector<std::pair<std::string, uint64_t>>& list, const std::string& name, uint64_t v) {
  if (!v) return;
  for (auto& e : list)
    if (e.first == name) {
      e.second += v;
      return;
    }
  list.emplace_back(name, v);
}

}  // namespace

namespace {

// The link labels of a GNS3 source as seen by one formatting thread. A slot
// never changes its link while the source lives, so each label is looked up
// (under the source's lock) once per link, not once per event.
class Gns3LabelCache {
 public:
  explicit Gns3LabelCache(const Gns3Source* src) : src_(src) {}
  const Gns3LinkLabel* get(uint16_t ifindex) {
    if (ifindex < cache_.size() && cache_[ifindex]) return cache_[ifindex].get();
    std::shared_ptr<const Gns3LinkLabel> l = src_->label(ifindex);
    if (!l) return nullptr;  // not a GNS3 link (ifindex 0) or not known yet
    if (ifindex >= cache_.size()) cache_.resize(size_t{ifindex} + 1);
    cache_[ifindex] = std::move(l);
    return cache_[ifindex].get();
  }

 private:
  const Gns3Source* src_;
  std::vector<std::shared_ptr<const Gns3LinkLabel>> cache_;
};

// EVE's "gns3" object: {"server", "project_id", "project", "link_id", "nodes": [a, b]}.
std::function<void(uint16_t, JsonWriter&)> gns3_eve_labels(const Gns3Source* src) {
  auto cache = std::make_shared<Gns3LabelCache>(src);
  return [cache](uint16_t ifindex, JsonWriter& out) {
    const Gns3LinkLabel* l = cache->get(ifindex);
    if (!l) return;
    out.begin_object("gns3");
    out.field("server", l->server);
    out.field("project_id", l->project_id);
    out.field("project", l->project);
    out.field("link_id", l->link_id);
    out.begin_array("nodes");
    out.string(l->nodes[0]);
    out.string(l->nodes[1]);
    out.end_array();
    out.end_object();
  };
}

// The label lookup of protobuf events (ProtoOptions::gns3_label), with a
// cache of its own: one per encoding thread.
std::function<const Gns3LinkLabel*(uint16_t)> gns3_label_lookup(const Gns3Source* src) {
  auto cache = std::make_shared<Gns3LabelCache>(src);
  return [cache](uint16_t ifindex) { return cache->get(ifindex); };
}

}  // namespace

std::function<void(uint16_t, JsonWriter&)> Runtime::gns3_eve_labels_for_thread() const {
  if (!gns3_) return {};
  return gns3_eve_labels(gns3_);
}

std::function<const Gns3LinkLabel*(uint16_t)> Runtime::gns3_labels_for_thread() const {
  if (!gns3_) return {};
  return gns3_label_lookup(gns3_);
}

// Alerts per GNS3 project, counted on the export thread like any exporter's
// work; the API reads the counts under a lock only it and this share.
class Runtime::Gns3AlertCount final : public Exporter {
 public:
  explicit Gns3AlertCount(const Gns3Source* src) : labels_(src) {}
  void export_flows(std::span<const FlowRecord>, uint64_t) override {}
  void export_alerts(std::span<const AlertRecord> alerts, uint64_t) override {
    for (const AlertRecord& a : alerts) {
      const Gns3LinkLabel* l = labels_.get(a.ifindex);
      if (!l) continue;
      std::lock_guard<std::mutex> lock(mu_);
      ++counts_[l->project_id];
    }
  }
  void tick(uint64_t, bool) override {}
  ExporterStats stats() const override { return {}; }
  const std::string& name() const override { return name_; }
  uint64_t count(const std::string& project_id) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = counts_.find(project_id);
    return it == counts_.end() ? 0 : it->second;
  }

 private:
  Gns3LabelCache labels_;  // export thread only
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> counts_;
  const std::string name_ = "gns3-alerts";
};

uint64_t Runtime::gns3_alerts(const std::string& project_id) const {
  return gns3_alerts_ ? gns3_alerts_->count(project_id) : 0;
}

uint64_t Runtime::gns3_active_flows(const std::string& project_id) {
  if (!gns3_) return 0;
  FlowSnapshotPtr snap = flow_snapshot();
  if (!snap) return 0;
  Gns3LabelCache labels(gns3_);
  uint64_t n = 0;
  for (const FlowRecord& r : snap->flows)
    if (const Gns3LinkLabel* l = labels.get(r.ifindex); l && l->project_id == project_id) ++n;
  return n;
}

RuleLoadOptions rule_load_options(const AgentConfig& cfg, size_t workers) {
  RuleLoadOptions o;
  o.files = cfg.rule_files;
  for (const auto& [k, v] : cfg.address_vars) o.vars.address[k] = v;
  for (const auto& [k, v] : cfg.port_vars) o.vars.port[k] = v;
  o.classification_file = cfg.classification_file;
  o.threshold_file = cfg.threshold_file;
  o.cache_dir = cfg.rule_cache_dir;
  o.action_order = cfg.action_order;
  o.workers = workers;
  return o;
}

RuleLoadReport test_rules(const AgentConfig& cfg, bool* ok) {
  auto snap = load_rule_snapshot(rule_load_options(cfg, 1), nullptr);
  *ok = snap->report.fatal.empty() && !(cfg.strict_rules && snap->report.failed > 0);
  return std::move(snap->report);
}

Runtime::Runtime(AgentConfig cfg) : cfg_(std::move(cfg)) {}

Runtime::~Runtime() {
  if (link_fd_ >= 0) close(link_fd_);
  for (const std::string& e : offloads_.restore()) std::fprintf(stderr, "wirescope: %s\n", e.c_str());
}

size_t Runtime::bytes_per_flow() const {
  return workers_.empty() ? FlowTable::entry_bytes() : workers_.front()->flows().bytes_per_flow();
}

std::string Runtime::open() {
  nworkers_ = cfg_.workers ? cfg_.workers : std::max(1u, std::thread::hardware_concurrency());

  CaptureOptions co;
  co.file = cfg_.read_file;
  co.loop = cfg_.loop;
  co.replay_speed = cfg_.replay_speed;
  co.iface = cfg_.interface;
  co.method = cfg_.capture == "pcap"   ? CaptureOptions::Method::kPcap
              : cfg_.capture == "dpdk" ? CaptureOptions::Method::kDpdk
                                       : CaptureOptions::Method::kAfPacket;
  co.dpdk_eal_args = cfg_.dpdk_eal_args;
  co.dpdk_mbufs = static_cast<int>(cfg_.dpdk_mbufs);
  co.workers = static_cast<int>(nworkers_);
  co.snaplen = cfg_.snaplen;
  co.promisc = cfg_.promisc;
  co.bpf = cfg_.bpf;
  std::string err;
  if (cfg_.disable_offloading && cfg_.capture != "dpdk") {
    // The inline pairs, else a live interface (the order of the inputs
    // below); before the sockets open, so no merged frame reaches a ring.
    std::vector<std::string> ifcs;
    for (const InlinePair& p : cfg_.inline_pairs) ifcs.insert(ifcs.end(), {p.a, p.b});
    if (ifcs.empty() && cfg_.gns3.empty() && cfg_.read_file.empty() && !cfg_.interface.empty() &&
        cfg_.interface != "any")
      ifcs.push_back(cfg_.interface);
    for (const std::string& i : ifcs) std::fprintf(stderr, "wirescope: %s\n", offloads_.disable(i).c_str());
  }
  if (!cfg_.inline_pairs.empty() && cfg_.capture == "dpdk") {
    // One DpdkInlineLink per worker, each on its own queue of every port.
    DpdkInlineLink::Options dl;
    for (const InlinePair& p : cfg_.inline_pairs) dl.pairs.emplace_back(p.a, p.b);
    dl.eal_args = cfg_.dpdk_eal_args;
    dl.workers = static_cast<int>(nworkers_);
    dl.mbufs = static_cast<int>(cfg_.dpdk_mbufs);
    auto links = DpdkInlineLink::open(dl, &err);
    if (links.empty()) return err;
    for (auto& l : links) {
      dpdk_links_.push_back(l.get());
      sources_.push_back(std::move(l));
    }
  } else if (!cfg_.inline_pairs.empty()) {
    // One InlineLink per worker, all in one fanout group (afpacket_inline.h).
    for (unsigned i = 0; i < nworkers_; ++i) {
      InlineLink::Options lo;
      lo.pairs = cfg_.inline_pairs;
      lo.fanout = nworkers_ > 1;
      lo.fanout_group = static_cast<uint16_t>((getpid() & 0xffff) ^ 0x4e4c);
      lo.member = static_cast<int>(i);
      auto link = InlineLink::open(lo, &err);
      if (!link) {
        sources_.clear();
        inline_links_.clear();
        return err;
      }
      inline_links_.push_back(link.get());
      sources_.push_back(std::move(link));
    }
    for (const InlinePair& p : cfg_.inline_pairs)
      for (const std::string& n : {p.a, p.b}) {
        links_.push_back(std::make_unique<LinkWatch>());
        links_.back()->name = n;
      }
  } else if (!cfg_.gns3.empty()) {
    // Every captured link of every server is one stream of this source;
    // the dispatcher spreads its frames over the workers by flow.
    auto g = std::make_unique<Gns3Source>(cfg_.gns3, Gns3Source::Options{});
    gns3_ = g.get();
    gns3_->start();
    sources_.push_back(std::move(g));
    gns3_hooks_ = gns3_hooks_for(gns3_);
    gns3_hooks_.active_flows = [this](const std::string& id) { return gns3_active_flows(id); };
    gns3_hooks_.alerts = [this](const std::string& id) { return gns3_alerts(id); };
    // Called from the API's threads: each call takes the source's lock
    // (once per flow of a response, never per packet).
    Gns3Source* src = gns3_;
    flow_labels_.json = [src](uint16_t ifindex) -> nlohmann::json {
      auto l = src->label(ifindex);
      if (!l) return nullptr;
      return {{"server", l->server},
              {"project_id", l->project_id},
              {"project", l->project},
              {"link_id", l->link_id},
              {"nodes", {l->nodes[0], l->nodes[1]}}};
    };
    flow_labels_.in_project = [src](uint16_t ifindex, const std::string& project) {
      auto l = src->label(ifindex);
      return l && (l->project_id == project || l->project == project);
    };
  } else {
    sources_ = open_sources(co, &err);
  }
  if (sources_.empty()) return err.empty() ? "no capture source could be opened" : err;

  // With the API on, rules can arrive later (POST/PUT /api/v1/rules), so
  // the workers get a rule slot even when no rule file is configured; an
  // empty set costs them one check per burst.
  rules_configured_ = !cfg_.rule_files.empty();
  if (rules_configured_ || !cfg_.api.listen.empty()) {
    rule_opts_ = rule_load_options(cfg_, nworkers_);
    auto snap = load_rule_snapshot(rule_opts_, nullptr);
    const RuleLoadReport& rep = snap->report;
    if (!rep.fatal.empty()) return "rules: " + rep.fatal;
    if (cfg_.strict_rules && rep.failed)
      return "rules: " + std::to_string(rep.failed) + " rules failed to load and strict rules are on; first: " +
             rep.errors.front().str();
    rules_loaded_.store(rep.loaded);
    rules_failed_.store(rep.failed);
    rule_slot_ = std::make_unique<RuleSlot>(nworkers_);
    rule_slot_->publish(std::move(snap));
  }

  WorkerConfig wc;
  wc.decode = cfg_.decoder;
  wc.rules = rule_slot_.get();
  wc.detect.payload = cfg_.eve_payload;
  wc.detect.packet = cfg_.eve_packet;
  wc.detect.max_alerts_per_packet = cfg_.max_alerts_per_packet;
  wc.detect.ips = inline_mode() || cfg_.simulate_ips;
  wc.simulate_ips = cfg_.simulate_ips && !inline_mode();
  wc.detect.midstream = cfg_.stream_midstream;
  wc.detect.stream_chunk_size = cfg_.stream_chunk_size;
  wc.detect.stream_memcap = cfg_.stream_memcap;
  wc.detect.tunnel_parent_flow = cfg_.decoder.track_parent_flow;
  wc.detect.midstream_policy = effective_midstream_policy(cfg_.midstream_policy, cfg_.exception_policy,
                                                          wc.detect.ips, cfg_.stream_midstream);
  if (rule_slot_ && wc.detect.midstream_policy != ExceptionPolicy::kIgnore)
    std::fprintf(stderr, "wirescope: TCP sessions picked up mid-stream: %s (stream.midstream_policy)\n",
                 exception_policy_name(wc.detect.midstream_policy));
  wc.defrag = cfg_.defrag;
  if (inline_mode() && qos_) wc.qos = &qos_->slot();
  wc.live = sources_.front()->live();
  wc.flows.capacity = std::max<uint64_t>(1, cfg_.max_flows / nworkers_);
  wc.flows.active_timeout_s = cfg_.active_timeout_s;
  wc.flows.tcp = cfg_.tcp;
  wc.flows.udp = cfg_.udp;
  wc.flows.icmp = cfg_.icmp;
  wc.flows.other = cfg_.other;
  wc.ndpi.enabled = cfg_.ndpi_enabled;
  wc.ndpi.max_packets = cfg_.ndpi_max_packets;
  if (cfg_.ndpi_pool_flows) wc.ndpi.pool_flows = std::max<uint64_t>(1, cfg_.ndpi_pool_flows / nworkers_);
  for (unsigned i = 0; i < nworkers_; ++i) {
    workers_.push_back(std::make_unique<Worker>(static_cast<uint16_t>(i), wc));
    if (!workers_.back()->start_error().empty()) return workers_.back()->start_error();
  }

  if (sources_.size() == 1 && nworkers_ > 1) {
    std::vector<DispatchRing*> rings;
    std::vector<FrameArena*> arenas;
    const bool copy = !sources_.front()->stable_buffers();
    for (unsigned i = 0; i < nworkers_; ++i) {
      rings_.push_back(std::make_unique<DispatchRing>(kDispatchRing));
      rings.push_back(rings_.back().get());
      if (copy) {
        arenas_.push_back(std::make_unique<FrameArena>(kArenaBytes));
        arenas.push_back(arenas_.back().get());
      }
    }
    dispatcher_ = std::make_unique<Dispatcher>(*sources_.front(), rings, arenas, wc.decode);
  } else if (sources_.size() != 1 && sources_.size() != nworkers_) {
    return "capture gave " + std::to_string(sources_.size()) + " queues for " + std::to_string(nworkers_) +
           " workers";
  }

  // NetFlow v9 uptimes count from boot_ns. A replay's clock is packet time,
  // so there it is left 0: the exporter then starts it at the first flow.
  ctx_.boot_ns = sources_.front()->live() ? wall_ns() : 0;
  ctx_.iface_name = cfg_.interface;
  if (!cfg_.log_dir.empty()) {
    EveOptions eo;
    eo.dir = cfg_.log_dir;
    eo.filename = cfg_.eve_filename;
    eo.format.ipv6_compressed = cfg_.eve_ipv6_compressed;
    if (gns3_) eo.format.labels = gns3_eve_labels(gns3_);
    auto e = make_eve_exporter(eo, ctx_, &err);
    if (!e) return err;
    eve_ = e.get();
    exporters_.push_back(std::move(e));
  }
  if (!cfg_.ipfix_url.empty()) {
    IpfixOptions io;
    io.collector = *parse_export_url(cfg_.ipfix_url).url;
    io.biflow = cfg_.ipfix_biflow;
    io.mtu = cfg_.export_mtu;
    io.template_refresh_s = cfg_.template_refresh_s;
    io.transport.max_rate = cfg_.export_rate;
    auto e = make_ipfix_exporter(io, ctx_, &err);
    if (!e) return "--ipfix " + cfg_.ipfix_url + ": " + err;
    exporters_.push_back(std::move(e));
  }
  if (!cfg_.netflow9_url.empty()) {
    Netflow9Options no;
    no.collector = *parse_export_url(cfg_.netflow9_url).url;
    no.mtu = cfg_.export_mtu;
    no.template_refresh_s = cfg_.template_refresh_s;
    no.transport.max_rate = cfg_.export_rate;
    auto e = make_netflow9_exporter(no, ctx_, &err);
    if (!e) return "--netflow9 " + cfg_.netflow9_url + ": " + err;
    exporters_.push_back(std::move(e));
  }
  if (!cfg_.proto_url.empty()) {
    ProtoExportOptions po;
    po.collector = *parse_export_url(cfg_.proto_url).url;
    // Called on the export thread about once a second; status() reads
    // only atomics and the exporters' mirrors.
    po.stats = [this] { return stats_snapshot(status()); };
    if (gns3_) po.format.gns3_label = gns3_label_lookup(gns3_);
    auto e = make_proto_exporter(po, ctx_, &err);
    if (!e) return "--export-proto " + cfg_.proto_url + ": " + err;
    exporters_.push_back(std::move(e));
  }
  if (!cfg_.api.listen.empty()) {
    // GET /api/v1/alerts pages through the recent alerts as EVE prints them.
    EveFormatOptions fo;
    if (gns3_) fo.labels = gns3_eve_labels(gns3_);
    auto h = std::make_unique<AlertHistory>(cfg_.alert_history, ctx_, fo);
    alert_history_ = h.get();
    exporters_.push_back(std::move(h));
  }
  if (gns3_) {
    auto c = std::make_unique<Gns3AlertCount>(gns3_);
    gns3_alerts_ = c.get();
    exporters_.push_back(std::move(c));
  }
  std::vector<RecordRing*> rrings;
  std::vector<AlertRing*> arings;
  for (auto& w : workers_) {
    rrings.push_back(&w->records());
    arings.push_back(w->alerts());
  }
  std::vector<Exporter*> ex;
  for (auto& e : exporters_) {
    // Through a mirror, so the API can read the exporter's stats (REST API).
    mirrors_.push_back(std::make_unique<ExporterMirror>());
    mirrors_.back()->name = e->name();
    mirrored_.push_back(std::make_unique<MirroredExporter<ExporterMirror>>(*e, *mirrors_.back()));
    ex.push_back(mirrored_.back().get());
  }
  for (Exporter* e : external_) {  // the API's stream (add_exporter)
    mirrors_.push_back(std::make_unique<ExporterMirror>());
    mirrors_.back()->name = e->name();
    mirrored_.push_back(std::make_unique<MirroredExporter<ExporterMirror>>(*e, *mirrors_.back()));
    ex.push_back(mirrored_.back().get());
  }
  export_loop_ = std::make_unique<ExportLoop>(rrings, ex, !sources_.front()->live(), arings);
  return "";
}

RuleLoadReport Runtime::reload_rules(std::optional<bool> strict) {
  // Serialised: SIGHUP (run()'s thread) and the API may ask at once.
  std::lock_guard<std::mutex> lock(reload_mu_);
  return reload_locked(strict);
}

RuleLoadReport Runtime::reload_locked(std::optional<bool> strict) {
  RuleLoadReport rep = reload_attempt(strict);
  set_reload_error(rep.fatal);
  return rep;
}

void Runtime::set_reload_error(std::string e) {
  last_reload_failed_.store(!e.empty());
  last_reload_error_ = std::move(e);
}

RuleLoadReport Runtime::reload_attempt(std::optional<bool> strict) {
  if (!rule_slot_) {
    RuleLoadReport r;
    r.fatal = "no rules configured (-S FILE or rules.files)";
    reloads_failed_.fetch_add(1);
    return r;
  }
  auto snap = load_rule_snapshot(rule_opts_, rule_slot_->current());
  RuleLoadReport rep = snap->report;
  if (!rep.fatal.empty()) {
    reloads_failed_.fetch_add(1);
    return rep;
  }
  if (strict.value_or(cfg_.strict_rules) && rep.failed) {
    rep.fatal = std::to_string(rep.failed) + " rules failed to load and strict rules are on; first: " +
                rep.errors.front().str();
    reloads_failed_.fetch_add(1);
    return rep;
  }
  {
    std::lock_guard<std::mutex> lock(snapshots_mu_);
    rule_slot_->publish(std::move(snap));
  }
  rules_loaded_.store(rep.loaded);
  rules_failed_.store(rep.failed);
  reloads_ok_.fetch_add(1);
  return rep;
}

RuleCounts Runtime::rule_counts() const {
  RuleCounts c;
  c.configured = rules_configured_.load();
  c.loaded = rules_loaded_.load();
  c.failed = rules_failed_.load();
  c.reloads_ok = reloads_ok_.load();
  c.reloads_failed = reloads_failed_.load();
  c.last_reload_failed = last_reload_failed_.load();
  return c;
}

MatchCounters Runtime::match_counters() const {
  MatchCounters sum;
  std::lock_guard<std::mutex> lock(snapshots_mu_);
  for (auto& w : workers_) {
    const DetectStage* d = w->detect();
    if (!d) continue;
    sum += d->match_counters();
  }
  return sum;
}

const RuleLoadReport* Runtime::rules_report() const {
  return rule_slot_ ? &rule_slot_->current()->report : nullptr;
}

const std::vector<int>& Runtime::worker_cpu_set() const {
  // Without worker_cpus: any CPU the process started with, set explicitly,
  // because a thread inherits its creator's mask, which DPDK's EAL narrowed
  // to its main lcore.
  return cfg_.worker_cpus.empty() ? startup_cpus() : cfg_.worker_cpus;
}

void Runtime::pin_worker(unsigned i) const {
  const std::vector<int>& set = worker_cpu_set();
  const std::vector<int> cpus = cfg_.worker_cpus.empty() ? set : std::vector<int>{set[i % set.size()]};
  if (std::string e = pin_this_thread(cpus); !e.empty())
    std::fprintf(stderr, "wirescope: worker %u: --worker-cpus (worker_cpus): %s\n", i, e.c_str());
}

void Runtime::run(const std::atomic<bool>& stop, std::atomic<bool>* reload) {
  const auto t0 = std::chrono::steady_clock::now();
  // Sources stop when asked; workers then drain and flush.
  std::atomic<bool> stop_workers{false};
  std::vector<std::thread> threads;
  static const std::atomic<bool> kNever{false};
  for (unsigned i = 0; i < nworkers_; ++i) {
    Worker* w = workers_[i].get();
    if (dispatcher_) {
      threads.emplace_back([this, w, i, &stop_workers] {
        name_thread("ws-worker-" + std::to_string(i));
        pin_worker(i);
        w->run(*rings_[i], arenas_.empty() ? nullptr : arenas_[i].get(), dispatcher_->done(), stop_workers,
               &dispatcher_->clock());
      });
    } else {
      PacketSource* s = sources_[sources_.size() == 1 ? 0 : i].get();
      InlineLink* link = inline_links_.empty() ? nullptr : inline_links_[i];
      DpdkInlineLink* dlink = dpdk_links_.empty() ? nullptr : dpdk_links_[i];
      threads.emplace_back([this, w, s, i, link, dlink] {
        name_thread("ws-worker-" + std::to_string(i));
        pin_worker(i);
        if (link)
          w->run_inline(*link);
        else if (dlink)
          w->run_inline(*dlink);
        else
          w->run(*s, kNever);
      });
    }
  }
  std::thread dispatch;
  if (dispatcher_)
    dispatch = std::thread([this] {
      name_thread("ws-reader");
      // The reader feeds the workers: it shares their CPUs.
      if (std::string e = pin_this_thread(worker_cpu_set()); !e.empty())
        std::fprintf(stderr, "wirescope: reader: --worker-cpus (worker_cpus): %s\n", e.c_str());
      dispatcher_->run(kNever);
    });
  std::thread exporter([this] {
    name_thread("ws-export");
    export_loop_->run([this] {
      // Asked once per loop pass, on this thread, which is the only one
      // writing eve.json: a reopen here drains what was appended into the
      // moved file and the next record goes to the new one.
      if (eve_ && reopen_eve_.exchange(false, std::memory_order_acq_rel) && !eve_->reopen())
        std::fprintf(stderr,
                     "wirescope: eve: reopening %s failed: %s (retried on every flush; lines meanwhile are "
                     "lost and counted)\n",
                     (cfg_.log_dir + "/" + cfg_.eve_filename).c_str(), eve_->last_error().c_str());
      for (auto& w : workers_)
        if (!w->finished()) return false;
      return true;
    });
  });

  running_.store(true, std::memory_order_release);  // ready (REST API)
  // The API (main) listens before run() is called, so this is the moment
  // systemd's Type=notify waits for.
  auto notify = [this](const std::string& state) {
    if (notify_) notify_(state);
  };
  notify("READY=1\nSTATUS=capturing");
  auto next_link_check = std::chrono::steady_clock::now();
  // Wait for the input to end or for a stop request; on stop, end the
  // sources so that everything already read is still processed and flushed.
  bool stopping = false;
  for (;;) {
    bool all = true;
    for (auto& w : workers_) all = all && w->finished();
    if (all) break;
    if (stop.load() && !stopping) {
      stopping = true;
      notify("STOPPING=1\nSTATUS=flushing flows");
      for (auto& s : sources_) s->stop();
    }
    const bool hup = reload && reload->exchange(false);
    if (hup) {
      notify(sd_reloading_message());
      reopen_eve_.store(true, std::memory_order_release);  // logrotate: move, then SIGHUP
    }
    if (hup && config_loader_) {
      if (std::string e = reload_config(); !e.empty())
        std::fprintf(stderr, "wirescope: config reload failed, the running config and rules stay: %s\n", e.c_str());
    } else if (hup && rules_configured_.load()) {
      const RuleLoadReport rep = reload_rules();
      if (!rep.fatal.empty()) {
        std::fprintf(stderr, "wirescope: rule reload failed, the running rules stay: %s\n", rep.fatal.c_str());
      } else {
        std::fprintf(stderr, "wirescope: rules reloaded: loaded=%zu failed=%zu (generation %llu)\n", rep.loaded,
                     rep.failed, static_cast<unsigned long long>(rules_generation()));
      }
    }
    // Without rules or a config file SIGHUP only reopens eve.json (logrotate),
    // which is no failed reload. A refused reload keeps the agent serving on
    // its previous state.
    if (hup) notify("READY=1\nSTATUS=capturing");
    if (rule_slot_) {
      std::lock_guard<std::mutex> lock(snapshots_mu_);
      rule_slot_->collect();
    }
    if (!links_.empty() && std::chrono::steady_clock::now() >= next_link_check) {
      watch_links();
      next_link_check = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  running_.store(false, std::memory_order_release);
  if (!stopping) notify("STOPPING=1\nSTATUS=input ended, flushing flows");
  for (auto& t : threads) t.join();
  if (dispatch.joinable()) dispatch.join();
  exporter.join();
  seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Frames too large for a ring frame or for the other side's MTU are
// counted per port (rx_truncated, tx_oversize) and dropped; the first of
// each is also told once, with its likely cause, since a TCP connection
// through the bridge then stalls.
void Runtime::tell_oversize_frames(size_t port, LinkWatch& l) {
  uint64_t truncated = 0, oversize = 0;
  for (const InlineLink* link : inline_links_) {
    truncated += link->port_stats(static_cast<uint16_t>(port)).rx_truncated.get();
    oversize += link->port_stats(static_cast<uint16_t>(port)).tx_oversize.get();
  }
  if (truncated && !l.told_truncated) {
    l.told_truncated = true;
    std::fprintf(stderr,
                 "wirescope: inline: %s: frames larger than the interface MTU arrive and are dropped "
                 "(rx_truncated): receive offloads (GRO/LRO) on it, or segmentation offloads (TSO/GSO) on "
                 "the sender when it is a veth or TAP peer; turn them off there\n",
                 l.name.c_str());
  }
  if (oversize && !l.told_oversize) {
    l.told_oversize = true;
    std::fprintf(stderr,
                 "wirescope: inline: %s: frames larger than its MTU cannot be sent and are dropped "
                 "(tx_oversize): give both sides of the pair the same MTU\n",
                 l.name.c_str());
  }
}

void Runtime::watch_links() {
  if (!inline_links_.empty())
    for (size_t i = 0; i < links_.size(); ++i) tell_oversize_frames(i, *links_[i]);
  // An inline interface that goes down stops carrying frames (sends to it
  // fail and are counted per port as tx_link_down); the receive socket is
  // bound to no interface, so forwarding resumes by itself when it comes
  // back. Here the transitions are counted and told.
  if (link_fd_ < 0) link_fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (link_fd_ < 0) return;
  for (auto& l : links_) {
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, l->name.c_str(), std::min(l->name.size(), sizeof ifr.ifr_name - 1));
    bool up = false;
    if (ioctl(link_fd_, SIOCGIFFLAGS, &ifr) == 0) up = (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
    // The first look only learns the state: a veth just set up may take a
    // moment to report its carrier, which is no fault.
    if (!l->seen) {
      l->seen = true;
      l->up.store(up, std::memory_order_relaxed);
      continue;
    }
    if (up == l->up.load(std::memory_order_relaxed)) continue;
    l->up.store(up, std::memory_order_relaxed);
    if (up) {
      l->ups.fetch_add(1, std::memory_order_relaxed);
      std::fprintf(stderr, "wirescope: inline: %s is up again; forwarding resumes\n", l->name.c_str());
    } else {
      l->downs.fetch_add(1, std::memory_order_relaxed);
      std::fprintf(stderr, "wirescope: inline: %s is down; frames for it are dropped (tx_link_down)\n",
                   l->name.c_str());
    }
  }
}

RunSummary Runtime::summary() const {
  RunSummary s;
  s.seconds = seconds_;
  SourceStats src{};
  for (auto& so : sources_) {
    src += so->stats();
    const std::string e = so->error();
    if (!e.empty()) s.errors += (s.errors.empty() ? "" : "; ") + e;
  }
  s.packets = src.packets;
  s.bytes = src.bytes;
  auto add_drop = [&](const std::string& name, uint64_t v) { add_named(s.drops, name, v); };
  add_drop("kernel", src.kernel_drops);
  add_drop("interface", src.if_drops);
  add_drop("truncated_record", src.truncated);
  add_drop("unsupported_link", src.unsupported_link);
  size_t ninfo = 0;
  const DecodeCounterInfo* info = decode_counter_info(&ninfo);
  auto add_decode = [&](const DecodeStats& ds) {
    for (size_t i = 0; i < ninfo; ++i) {
      if (decode_counter_is_drop(info[i].name)) add_drop(info[i].name, decode_counter_value(ds, i));
    }
  };
  if (dispatcher_) add_decode(dispatcher_->decode_stats());
  for (auto& w : workers_) {
    add_decode(w->decode_stats());
    s.flows += w->flows().stats().flows_created.get();
  }
  auto add_counter = [&](const std::string& name, uint64_t v) { add_named(s.counters, name, v); };
  auto add_decode_all = [&](const DecodeStats& ds) {
    for (size_t i = 0; i < ninfo; ++i) add_counter(std::string("decode.") + info[i].name, decode_counter_value(ds, i));
  };
  if (dispatcher_) {
    add_decode_all(dispatcher_->decode_stats());
#define WS_X(name, help) add_counter("dispatch." #name, dispatcher_->stats().name.get());
    WS_DISPATCH_COUNTERS(WS_X)
#undef WS_X
  }
  for (auto& w : workers_) {
    add_decode_all(w->decode_stats());
#define WS_X(name, help) add_counter("worker." #name, w->stats().name.get());
    WS_WORKER_COUNTERS(WS_X)
#undef WS_X
#define WS_X(name, help) add_counter("flow." #name, w->flows().stats().name.get());
    WS_FLOW_COUNTERS(WS_X)
#undef WS_X
    if (const Defragmenter* df = w->defrag()) {
#define WS_X(name, help) add_counter("defrag." #name, df->stats().name.get());
      WS_DEFRAG_COUNTERS(WS_X)
#undef WS_X
    }
  }
  for (auto& w : workers_) {
    const AppDetect* a = w->app_detect();
    if (!a) continue;
#define WS_X(name, help) add_counter("ndpi." #name, a->stats().name.get());
    WS_APP_COUNTERS(WS_X)
#undef WS_X
  }
  for (auto& w : workers_) {
    if (!inline_mode() && !cfg_.simulate_ips) break;
#define WS_X(name, help) add_counter("inline." #name, w->inline_stats().name.get());
    WS_INLINE_COUNTERS(WS_X)
#undef WS_X
  }
  for (const InlineLink* l : inline_links_)
    for (const PortCounter& pc : l->port_counters()) add_counter("inline." + pc.port + "." + pc.counter, pc.value);
  for (const auto& l : links_) {
    add_counter("inline." + l->name + ".link_down", l->downs.load(std::memory_order_relaxed));
    add_counter("inline." + l->name + ".link_up", l->ups.load(std::memory_order_relaxed));
  }
  for (auto& w : workers_) {
    if (!inline_mode() && !cfg_.simulate_ips) break;
    add_drop("inline_verdict", w->inline_stats().verdict_drops.get());
    add_drop("inline_flow", w->inline_stats().flow_drops.get());
    add_drop("qos", w->inline_stats().qos_drops.get());
  }
  for (const InlineLink* l : inline_links_)
    for (const PortCounter& pc : l->port_counters()) {
      const std::string c = pc.counter;
      if (c == "rx_truncated" || c.rfind("tx_", 0) == 0) {
        if (c == "tx_packets" || c == "tx_bytes" || c == "tx_batch_full") continue;
        add_drop("inline_" + c, pc.value);
      }
    }
  s.records = export_loop_ ? export_loop_->records() : 0;
  s.alerts = export_loop_ ? export_loop_->alerts() : 0;
  s.rules = rules_configured_.load();
  for (auto& w : workers_) {
    const DetectStage* d = w->detect();
    if (!d) continue;
#define WS_X(name, help) add_counter("detect." #name, d->stats().name.get());
    WS_DETECT_COUNTERS(WS_X)
#undef WS_X
  }
  if (rule_slot_) {
    // Summed under the snapshot lock: a reload may free a scratch.
    const MatchCounters m = match_counters();
    add_counter("match.scans", m.scans);
    add_counter("match.scan_errors", m.scan_errors);
    add_counter("match.candidates", m.candidates);
    add_counter("match.always_checked", m.always_checked);
    add_counter("match.matches", m.matches);
    add_counter("match.pcre_errors", m.pcre_errors);
  }
  for (auto& e : exporters_) {
    const ExporterStats st = e->stats();
    if (st.send_errors) add_drop(e->name() + "_send_errors", st.send_errors);
    if (st.dropped_records) add_drop(e->name() + "_dropped_records", st.dropped_records);
    // --export-proto: each kind of loss by name (shown with -v).
    if (const auto* p = dynamic_cast<const ProtoExporter*>(e.get())) {
      const ProtoExportCounters pc = p->counters();
      add_counter("proto.stats_events", pc.stats_events);
      add_counter("proto.dropped_buffer_full", pc.dropped_buffer_full);
      add_counter("proto.dropped_send_failed", pc.dropped_send_failed);
      add_counter("proto.dropped_at_exit", pc.dropped_at_exit);
      add_counter("proto.dropped_stats", pc.dropped_stats);
      add_counter("proto.connect_failures", pc.connect_failures);
      add_counter("proto.reconnects", st.reconnects);
    }
  }
  return s;
}

// REST API accessors: atomics and values fixed by open() only.
AppsStatus Runtime::apps_status() const {
  AppsStatus st;
  st.enabled = !workers_.empty() && workers_.front()->app_detect() != nullptr;
  for (AppTotal& t : app_totals(workers_))
    st.apps.push_back({std::move(t.name), t.id && t.app_proto ? t.app_proto : "", t.count.packets, t.count.bytes,
                       t.count.flows});  // Unknown (id 0) has no app_proto
  return st;
}

FlowSnapshotPtr Runtime::flow_snapshot() {
  if (workers_.empty()) return nullptr;
  std::lock_guard lock(flows_mu_);
  const auto now = std::chrono::steady_clock::now();
  if (snap_ && now - snap_at_ < std::chrono::milliseconds(cfg_.flow_refresh_ms)) return snap_;
  const size_t n = workers_.size();
  if (snap_bufs_.empty()) {
    snap_bufs_.resize(n);
    snap_req_.assign(n, 0);
  }
  // Ask every worker first so they copy in parallel. A worker still busy
  // with a request that timed out earlier finishes that one first (into the
  // same buffer) and is asked again below.
  std::vector<bool> asked(n, false);
  auto ask = [&](size_t i) {
    FlowSnapshotPort& port = workers_[i]->snapshot_port();
    if (port.busy()) return;
    std::vector<FlowRecord>& buf = snap_bufs_[i];
    if (buf.empty()) buf.resize(std::min<size_t>(cfg_.flow_snapshot_max, workers_[i]->flows().capacity()));
    snap_req_[i] = port.request(buf.data(), buf.size());
    asked[i] = snap_req_[i] != 0;
  };
  for (size_t i = 0; i < n; ++i) ask(i);
  auto snap = std::make_shared<FlowSnapshot>();
  std::vector<bool> settled(n, false);
  const auto deadline = now + std::chrono::seconds(2);
  for (;;) {
    bool all = true;
    for (size_t i = 0; i < n; ++i) {
      if (settled[i]) continue;
      Worker& w = *workers_[i];
      FlowSnapshotPort& port = w.snapshot_port();
      if (asked[i] && port.done(snap_req_[i])) {
        const std::vector<FlowRecord>& buf = snap_bufs_[i];
        snap->flows.insert(snap->flows.end(), buf.begin(), buf.begin() + static_cast<long>(port.count()));
        snap->overflow += port.overflow();
        settled[i] = true;
        continue;
      }
      if (w.finished()) {  // it flushed its flows and serves no more
        settled[i] = true;
        continue;
      }
      if (!asked[i]) ask(i);
      all = false;
    }
    if (all) break;
    if (std::chrono::steady_clock::now() > deadline) {
      for (size_t i = 0; i < n; ++i) snap->workers_missing += settled[i] ? 0 : 1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  index_flows(*snap);
  snap->taken_ns = wall_ns();
  snap_ = std::move(snap);
  snap_at_ = std::chrono::steady_clock::now();
  return snap_;
}

AgentStatus Runtime::status() const {
  AgentStatus st;
  st.version = WIRESCOPE_VERSION;
  st.uptime_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  st.running = running();
  for (const auto& so : sources_) {
    const SourceStats s = so->stats();
    st.sources.push_back({so->name(), s.packets, s.bytes, s.kernel_drops, s.if_drops, s.truncated, s.unsupported_link});
  }
  for (const auto& w : workers_) {
    WorkerStatus ws;
    ws.id = w->id();
    ws.packets = w->stats().packets.get();
    ws.bytes = w->stats().bytes.get();
    ws.flows_active = w->flows().stats().active.get();
    ws.flows_capacity = w->flows().capacity();
    ws.flows_created = w->flows().stats().flows_created.get();
    ws.finished = w->finished();
    st.workers.push_back(ws);
  }
  constexpr auto r = std::memory_order_relaxed;
  for (const auto& m : mirrors_) {
    ExporterStatus e;
    e.name = m->name;
    e.up = m->up.load(r);
    e.records = m->records.load(r);
    e.alerts = m->alerts.load(r);
    e.messages = m->messages.load(r);
    e.bytes = m->bytes.load(r);
    e.send_errors = m->send_errors.load(r);
    e.dropped_records = m->dropped_records.load(r);
    e.reconnects = m->reconnects.load(r);
    st.exporters.push_back(std::move(e));
  }
  if (gns3_) {
    st.gns3 = true;
    for (const Gns3ServerStatus& g : gns3_->servers())
      st.gns3_servers.push_back({g.name, g.reachable, breaker_state_name(g.breaker)});
  }
  st.records_exported = export_loop_ ? export_loop_->records() : 0;
  st.alerts_exported = export_loop_ ? export_loop_->alerts() : 0;
  {
    const ConfigStatus c = config_status();
    st.config = {c.file, c.reloads_ok, c.reloads_failed, c.last_error, c.restart_needed};
  }
  return st;
}

namespace {

RulesStatus to_rules_status(const RuleLoadReport& rep) {
  RulesStatus r;
  r.configured = true;
  r.loaded = rep.loaded;
  r.failed = rep.failed;
  r.disabled = rep.disabled;
  for (const RuleError& e : rep.errors) r.failures.push_back({e.file, e.line, e.sid, e.keyword, e.reason});
  r.config_errors = rep.config_errors;
  return r;
}

}  // namespace

ReloadOutcome Runtime::edit_rules(bool replace, const std::string& text) {
  ReloadOutcome o;
  std::unique_lock<std::mutex> lock(reload_mu_, std::try_to_lock);
  if (!lock.owns_lock()) {
    o.result = ReloadOutcome::Result::kBusy;
    o.error = "a rule reload is already running; try again when it has finished";
    return o;
  }
  if (!rule_slot_) {
    o.result = ReloadOutcome::Result::kNotConfigured;
    o.error = "rules cannot change: the agent runs without the API's rule slot";
    return o;
  }
  // The candidate: the current sources plus (POST) or instead of (PUT) the
  // body, loaded in full, so the matcher's checks run on it too.
  static constexpr const char* kBody = "request";
  RuleLoadOptions cand = rule_opts_;
  if (replace) {
    cand.files.clear();
    cand.texts.clear();
  }
  cand.texts.emplace_back(kBody, text);
  auto snap = load_rule_snapshot(cand, rule_slot_->current());
  RuleLoadReport rep = snap->report;
  auto status = [&](const RuleLoadReport& r) {
    RulesStatus st = to_rules_status(r);
    st.generation = rule_slot_->generation();
    return st;
  };
  if (!rep.fatal.empty()) {
    o.result = ReloadOutcome::Result::kFailed;
    o.error = rep.fatal;
    o.report = status(rep);
    reloads_failed_.fetch_add(1);
    set_reload_error(rep.fatal);
    return o;
  }
  // Any rule of the body that failed refuses the whole body.
  RuleLoadReport body_errors;
  for (const RuleError& e : rep.errors)
    if (e.file == kBody) body_errors.errors.push_back(e);
  if (!body_errors.errors.empty()) {
    body_errors.failed = body_errors.errors.size();
    o.result = ReloadOutcome::Result::kInvalid;
    o.error = std::to_string(body_errors.failed) + " of the request's rules are invalid; nothing was applied";
    o.report = status(body_errors);
    return o;
  }
  // Applied: the body becomes one more named text of the running sources.
  const std::string name = "api-" + std::to_string(++api_texts_);
  for (RuleError& e : rep.errors)
    if (e.file == kBody) e.file = name;
  cand.texts.back().first = name;
  {
    std::lock_guard<std::mutex> slock(snapshots_mu_);
    rule_slot_->publish(std::move(snap));
  }
  rule_opts_ = std::move(cand);
  rules_configured_ = !rule_opts_.files.empty() || !rule_opts_.texts.empty();
  rules_loaded_.store(rep.loaded);
  rules_failed_.store(rep.failed);
  reloads_ok_.fetch_add(1);
  set_reload_error("");
  o.report = status(rep);
  return o;
}

void Runtime::set_config_loader(std::string file, ConfigLoader loader) {
  std::lock_guard<std::mutex> lock(reload_mu_);
  config_status_.file = std::move(file);
  config_loader_ = std::move(loader);
}

ConfigStatus Runtime::config_status() const {
  std::lock_guard<std::mutex> lock(reload_mu_);
  return config_status_;
}

namespace {

// Keys a running agent cannot change: the capture, the pipeline's shape and
// sizes, the outputs and the API listener are built once by open().
std::vector<std::string> restart_keys(const AgentConfig& a, const AgentConfig& b) {
  std::vector<std::string> out;
  auto cmp = [&](const char* key, const auto& x, const auto& y) {
    if (!(x == y)) out.push_back(key);
  };
  auto timeouts = [](const StateTimeouts& t) { return std::tuple(t.new_s, t.established_s, t.closed_s); };
  cmp("input.file", a.read_file, b.read_file);
  cmp("input.loop", a.loop, b.loop);
  cmp("input.replay_speed", a.replay_speed, b.replay_speed);
  cmp("input.interface", a.interface, b.interface);
  cmp("input.capture", a.capture, b.capture);
  cmp("input.snaplen", a.snaplen, b.snaplen);
  cmp("input.promisc", a.promisc, b.promisc);
  cmp("input.bpf", a.bpf, b.bpf);
  cmp("input.disable_offloading", a.disable_offloading, b.disable_offloading);
  cmp("input.simulate_ips", a.simulate_ips, b.simulate_ips);
  cmp("dpdk", std::tie(a.dpdk_eal_args, a.dpdk_mbufs), std::tie(b.dpdk_eal_args, b.dpdk_mbufs));
  {
    // The GNS3 input's clients and streams are built once by open().
    auto servers = [](const Gns3Config& g) {
      std::vector<std::tuple<std::string, std::string, int, std::string, std::string>> v;
      for (const Gns3ServerConfig& s : g.servers) v.emplace_back(s.name, s.url, int(s.api), s.user, s.password);
      return v;
    };
    auto captures = [](const Gns3Config& g) {
      std::vector<std::tuple<std::string, std::string, bool, std::vector<std::string>>> v;
      for (const Gns3CaptureConfig& c : g.capture) v.emplace_back(c.server, c.project, c.all_links, c.links);
      return v;
    };
    cmp("gns3.servers", servers(a.gns3), servers(b.gns3));
    cmp("gns3.capture", captures(a.gns3), captures(b.gns3));
  }
  {
    std::vector<std::string> pa, pb;
    for (const InlinePair& p : a.inline_pairs) pa.push_back(p.a + ":" + p.b);
    for (const InlinePair& p : b.inline_pairs) pb.push_back(p.a + ":" + p.b);
    cmp("inline", pa, pb);
  }
  // Traffic control: the mode and the interface shape what main() built;
  // the config's policies are installed once, at start (the API changes
  // them at run time), so a changed set applies at the next restart.
  cmp("qos.mode", a.qos.mode, b.qos.mode);
  cmp("qos.interface", a.qos.interface, b.qos.interface);
  cmp("qos.policies", a.qos.policies, b.qos.policies);
  cmp("workers", a.workers, b.workers);
  cmp("worker_cpus", a.worker_cpus, b.worker_cpus);
  cmp("management_cpus", a.management_cpus, b.management_cpus);
  cmp("checksum", a.decoder.checksum, b.decoder.checksum);
  // Every decoder.* key: the options but the checksum mode (its own key).
  auto tunnels = [](DecodeOptions o) {
    o.checksum = ChecksumMode::kNone;
    return o;
  };
  cmp("decoder", tunnels(a.decoder), tunnels(b.decoder));
  cmp("defrag", a.defrag, b.defrag);
  cmp("stream", std::tie(a.stream_midstream, a.midstream_policy, a.stream_chunk_size, a.stream_memcap),
      std::tie(b.stream_midstream, b.midstream_policy, b.stream_chunk_size, b.stream_memcap));
  cmp("exception_policy", a.exception_policy, b.exception_policy);
  cmp("flow.max_flows", a.max_flows, b.max_flows);
  cmp("flow.active_timeout", a.active_timeout_s, b.active_timeout_s);
  cmp("flow.timeouts", std::tuple(timeouts(a.tcp), timeouts(a.udp), timeouts(a.icmp), timeouts(a.other)),
      std::tuple(timeouts(b.tcp), timeouts(b.udp), timeouts(b.icmp), timeouts(b.other)));
  cmp("output.eve", std::tie(a.log_dir, a.eve_filename, a.eve_payload, a.eve_packet, a.eve_ipv6_compressed),
      std::tie(b.log_dir, b.eve_filename, b.eve_payload, b.eve_packet, b.eve_ipv6_compressed));
  cmp("output.ipfix", std::tie(a.ipfix_url, a.ipfix_biflow), std::tie(b.ipfix_url, b.ipfix_biflow));
  cmp("output.netflow9", a.netflow9_url, b.netflow9_url);
  cmp("output.proto", a.proto_url, b.proto_url);
  cmp("output.export", std::tie(a.export_mtu, a.export_rate, a.template_refresh_s),
      std::tie(b.export_mtu, b.export_rate, b.template_refresh_s));
  cmp("rules.max_alerts_per_packet", a.max_alerts_per_packet, b.max_alerts_per_packet);
  cmp("ndpi", std::tie(a.ndpi_enabled, a.ndpi_max_packets, a.ndpi_pool_flows),
      std::tie(b.ndpi_enabled, b.ndpi_max_packets, b.ndpi_pool_flows));
  cmp("api.listen", a.api.listen, b.api.listen);
  std::vector<std::string> ta, tb;
  for (const ApiToken& t : a.api.tokens) ta.push_back(t.name + ":" + t.token_sha256 + ":" + role_name(t.role));
  for (const ApiToken& t : b.api.tokens) tb.push_back(t.name + ":" + t.token_sha256 + ":" + role_name(t.role));
  cmp("api.tokens", ta, tb);
  cmp("api.limits", std::tie(a.api.metrics_auth, a.api.max_body_bytes, a.api.rate_limit.requests_per_second,
                             a.api.rate_limit.burst, a.api.tls_cert, a.api.tls_key),
      std::tie(b.api.metrics_auth, b.api.max_body_bytes, b.api.rate_limit.requests_per_second, b.api.rate_limit.burst,
               b.api.tls_cert, b.api.tls_key));
  cmp("api.dashboard", std::tie(a.api.dashboard, a.api.dashboard_dir, a.api.anonymous_view),
      std::tie(b.api.dashboard, b.api.dashboard_dir, b.api.anonymous_view));
  cmp("api.data", std::tie(a.flow_refresh_ms, a.flow_snapshot_max, a.alert_history),
      std::tie(b.flow_refresh_ms, b.flow_snapshot_max, b.alert_history));
  return out;
}

}  // namespace

std::string Runtime::reload_config() {
  std::lock_guard<std::mutex> lock(reload_mu_);
  auto refuse = [&](std::string why) {
    config_status_.reloads_failed++;
    config_status_.last_error = why;
    return why;
  };
  if (!config_loader_) return refuse("no config file (-c FILE)");
  AgentConfig next;
  if (std::string e = config_loader_(&next); !e.empty()) return refuse(e);
  if (std::string e = validate_config(next); !e.empty()) return refuse(config_status_.file + ": " + e);
  // The rules: the new rule keys, with the API's rule texts kept.
  const bool had_rules = rule_slot_ != nullptr;
  const bool wants_rules = !next.rule_files.empty();
  if (wants_rules && !had_rules)
    return refuse("rules.files: the agent started without rules or the API, so rules need a restart");
  if (had_rules) {
    RuleLoadOptions opts = rule_load_options(next, nworkers_);
    opts.texts = rule_opts_.texts;
    auto snap = load_rule_snapshot(opts, rule_slot_->current());
    const RuleLoadReport& rep = snap->report;
    std::string rules_error = rep.fatal;
    if (rules_error.empty() && next.strict_rules && rep.failed)
      rules_error = std::to_string(rep.failed) + " rules failed to load and strict rules are on; first: " +
                    rep.errors.front().str();
    if (!rules_error.empty()) {
      // The same line as a rule-only reload, for whoever watches the log.
      std::fprintf(stderr, "wirescope: rule reload failed, the running rules stay: %s\n", rules_error.c_str());
      reloads_failed_.fetch_add(1);
      set_reload_error(rules_error);
      return refuse("rules: " + rules_error);
    }
    const size_t loaded = rep.loaded, failed = rep.failed;
    {
      std::lock_guard<std::mutex> slock(snapshots_mu_);
      rule_slot_->publish(std::move(snap));
    }
    rule_opts_ = std::move(opts);
    rules_configured_ = !rule_opts_.files.empty() || !rule_opts_.texts.empty();
    rules_loaded_.store(loaded);
    rules_failed_.store(failed);
    reloads_ok_.fetch_add(1);
    set_reload_error("");
    std::fprintf(stderr, "wirescope: rules reloaded: loaded=%zu failed=%zu (generation %llu)\n", loaded, failed,
                 static_cast<unsigned long long>(rule_slot_->generation()));
  }
  std::fprintf(stderr, "wirescope: config reloaded from %s\n", config_status_.file.c_str());
  config_status_.restart_needed = restart_keys(cfg_, next);
  if (!config_status_.restart_needed.empty()) {
    std::string keys;
    for (const std::string& k : config_status_.restart_needed) keys += (keys.empty() ? "" : ", ") + k;
    std::fprintf(stderr, "wirescope: config: changed keys that apply at the next restart: %s\n", keys.c_str());
  }
  // What applied now; the rest keeps its running value until a restart.
  cfg_.rule_files = next.rule_files;
  cfg_.classification_file = next.classification_file;
  cfg_.threshold_file = next.threshold_file;
  cfg_.rule_cache_dir = next.rule_cache_dir;
  cfg_.strict_rules = next.strict_rules;
  cfg_.address_vars = next.address_vars;
  cfg_.port_vars = next.port_vars;
  config_status_.reloads_ok++;
  config_status_.last_error.clear();
  return "";
}

RulesStatus Runtime::rules_status() const {
  // Under the reload lock: no publish can retire the snapshot being read.
  std::lock_guard<std::mutex> lock(reload_mu_);
  RulesStatus r;
  if (rule_slot_) {
    r = to_rules_status(rule_slot_->current()->report);
    r.generation = rule_slot_->generation();
    r.configured = rules_configured_;
  }
  r.last_reload_error = last_reload_error_;
  return r;
}

ReloadOutcome Runtime::try_reload_rules(std::optional<bool> strict) {
  ReloadOutcome o;
  std::unique_lock<std::mutex> lock(reload_mu_, std::try_to_lock);
  if (!lock.owns_lock()) {
    o.result = ReloadOutcome::Result::kBusy;
    o.error = "a rule reload is already running; try again when it has finished";
    return o;
  }
  if (!rule_slot_ || !rules_configured_) {
    o.result = ReloadOutcome::Result::kNotConfigured;
    o.error = "no rules configured (-S FILE, rules.files or POST /api/v1/rules)";
    return o;
  }
  const RuleLoadReport rep = reload_locked(strict);
  o.report = to_rules_status(rep);
  o.report.generation = rule_slot_->generation();
  o.report.last_reload_error = rep.fatal;
  if (!rep.fatal.empty()) {
    o.result = ReloadOutcome::Result::kFailed;
    o.error = rep.fatal;
  }
  return o;
}

}  // namespace ws
