#include "dataplane/capture/gns3_source.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <set>

#include "dataplane/capture/gns3_notify.h"
#include "dataplane/capture/gns3_stream.h"

namespace ws {
namespace {

uint64_t mono_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

struct Slot {
  uint64_t ts_ns;
  uint32_t caplen;
  uint32_t wirelen;
  uint8_t data[Gns3Source::kSlotData];
};
static_assert(sizeof(Slot) == 2048);

}  // namespace

struct Gns3Source::Server {
  explicit Server(const Gns3ServerConfig& c, const CircuitBreaker::Options& b) : client(c), breaker(b) {}
  Gns3Client client;
  CircuitBreaker breaker;
  mutable std::mutex mu;
  bool reachable = false;
  std::string version;
  std::string last_error;

  void ok() {
    breaker.success();
    std::lock_guard<std::mutex> g(mu);
    reachable = true;
  }
  void failed(const Gns3Reply& r) {
    // Only "no answer" and server errors say the server is in trouble; a
    // 404 or 409 is an answer.
    if (r.status == 0 || r.status >= 500) breaker.failure(mono_ns());
    else breaker.success();
    std::lock_guard<std::mutex> g(mu);
    if (r.status == 0) reachable = false;
    last_error = r.error;
  }
};

struct Gns3Source::Target {
  Server* server = nullptr;
  Gns3CaptureConfig cfg;
  std::atomic<bool> active{true};
  std::atomic<bool> stop{false};
  std::thread thread;
  std::unique_ptr<Gns3Notifications> notes;
  // Resolved (under Gns3Source::mu_).
  std::string project_id;
  std::string project_name;
  std::string error;
  std::set<size_t> streams;  // slots of this target's running streams
  // link.* events from the WebSocket thread.
  std::mutex ev_mu;
  std::condition_variable ev_cv;
  std::deque<std::pair<std::string, std::string>> events;
  uint64_t ws_events = 0;
};

struct Gns3Source::LinkStream {
  Target* target = nullptr;
  uint16_t ifindex = 0;
  std::shared_ptr<const Gns3LinkLabel> label;  // under Gns3Source::mu_
  std::unique_ptr<SpscRing<Slot>> ring;
  std::thread thread;
  std::atomic<bool> stop{false};
  bool running = false;  // under mu_
  bool we_started = false;  // this source started the capture (stop it when done)
  Gns3StreamParser parser;  // stream thread only
  std::atomic<uint64_t> packets{0}, bytes{0}, last_ns{0}, reconnects{0}, truncated{0}, unsupported{0},
      replayed{0}, clipped{0};
  mutable std::mutex st_mu;
  std::string state = "starting";
  std::string error;
  void set_state(const char* s, std::string e = {}) {
    std::lock_guard<std::mutex> g(st_mu);
    state = s;
    if (!e.empty() || std::string(s) == "streaming") error = std::move(e);
  }
};

Gns3Source::Gns3Source(Gns3Config config, Options opts) : opt_(opts) {
  for (const auto& s : config.servers) servers_.push_back(std::make_unique<Server>(s, opt_.breaker));
  for (const auto& c : config.capture) {
    auto t = std::make_unique<Target>();
    for (auto& s : servers_)
      if (s->client.server().name == c.server) t->server = s.get();
    if (!t->server) continue;  // parse_gns3_config refuses this
    t->cfg = c;
    t->project_name = c.project;
    targets_.push_back(std::move(t));
  }
}

Gns3Source::~Gns3Source() {
  stop();
  std::vector<Target*> ts;
  {
    std::lock_guard<std::mutex> g(mu_);
    for (auto& t : targets_) ts.push_back(t.get());
  }
  for (Target* t : ts) {
    if (t->thread.joinable()) t->thread.join();
    t->notes.reset();
  }
  for (auto& s : slots_)
    if (s && s->thread.joinable()) s->thread.join();
  if (ticker_.joinable()) ticker_.join();
}

void Gns3Source::start() {
  std::lock_guard<std::mutex> g(mu_);
  if (started_) return;
  started_ = true;
  for (auto& t : targets_) start_target(t.get());
  ticker_ = std::thread([this] { ticker_loop(); });
}

void Gns3Source::start_target(Target* t) {
  t->thread = std::thread([this, t] { target_loop(t); });
}

void Gns3Source::stop() {
  stop_.store(true);
  std::lock_guard<std::mutex> g(mu_);
  for (auto& t : targets_) {
    t->stop.store(true);
    t->ev_cv.notify_all();
  }
  for (size_t i = 0; i < nslots_.load(); ++i) slots_[i]->stop.store(true);
  parker_.wake();
}

bool Gns3Source::sleep_for(uint64_t ns, const std::atomic<bool>& stop) const {
  const uint64_t until = mono_ns() + ns;
  while (!stop.load(std::memory_order_relaxed) && !stop_.load(std::memory_order_relaxed)) {
    const uint64_t now = mono_ns();
    if (now >= until) return true;
    std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<uint64_t>(until - now, 20'000'000)));
  }
  return false;
}

// --- the project's thread ------------------------------------------------

void Gns3Source::target_loop(Target* t) {
  JitterBackoff backoff(opt_.backoff_base_ns, opt_.backoff_max_ns, opt_.seed ^ std::hash<std::string>{}(t->cfg.project));
  while (!t->stop.load()) {
    if (!t->active.load()) {
      t->notes.reset();
      sleep_for(50'000'000, t->stop);
      continue;
    }
    Server* srv = t->server;
    if (!srv->breaker.allow(mono_ns())) {
      sleep_for(50'000'000, t->stop);
      continue;
    }
    if (!reconcile(t)) {
      sleep_for(backoff.next(), t->stop);
      continue;
    }
    backoff.reset();
    if (!t->notes || t->notes->closed()) {
      std::string err;
      t->notes = Gns3Notifications::open(
          srv->client, t->project_id,
          [t](const std::string& action, const std::string& event) {
            if (action.rfind("link.", 0) != 0) return;
            std::lock_guard<std::mutex> g(t->ev_mu);
            t->events.emplace_back(action, event);
            t->ev_cv.notify_all();
          },
          &err);
      if (!t->notes) {
        std::lock_guard<std::mutex> g(srv->mu);
        srv->last_error = err;
      }
    }
    // Wait for link.* events or the next re-list.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(opt_.relist_ns);
    bool relist = false;
    while (!relist && !t->stop.load() && t->active.load()) {
      std::unique_lock<std::mutex> lk(t->ev_mu);
      t->ev_cv.wait_for(lk, std::chrono::milliseconds(100), [&] { return !t->events.empty() || t->stop.load(); });
      while (!t->events.empty()) {
        auto [action, event] = std::move(t->events.front());
        t->events.pop_front();
        ++t->ws_events;
        lk.unlock();
        Gns3LinkInfo info;
        std::string err;
        if (gns3_parse_link(event, &info, &err)) {
          if (action == "link.deleted") {
            LinkStream* s = nullptr;
            {
              std::lock_guard<std::mutex> g(mu_);
              auto it = slot_of_.find(srv->client.server().name + "/" + t->project_id + "/" + info.link_id);
              if (it != slot_of_.end()) s = slots_[it->second].get();
            }
            if (s) end_stream(s, false);
          } else if (action == "link.created") {
            relist = true;  // node names and the selection come from a fresh listing
          }
        }
        lk.lock();
      }
      if (std::chrono::steady_clock::now() >= deadline) relist = true;
      if (t->notes && t->notes->closed()) relist = true;
    }
  }
  t->notes.reset();
}

bool Gns3Source::reconcile(Target* t) {
  Server* srv = t->server;
  Gns3ProjectInfo p;
  Gns3Reply r = srv->client.find_project(t->cfg.project, &p);
  std::vector<Gns3LinkInfo> links;
  if (r.ok()) r = srv->client.links(p.project_id, &links);
  if (!r.ok()) {
    srv->failed(r);
    std::lock_guard<std::mutex> g(mu_);
    t->error = r.error;
    return false;
  }
  srv->ok();
  {
    bool need_version;
    {
      std::lock_guard<std::mutex> g(srv->mu);
      need_version = srv->version.empty();
    }
    std::string v;
    if (need_version && srv->client.version(&v).ok()) {
      std::lock_guard<std::mutex> g(srv->mu);
      srv->version = v;
    }
  }
  std::set<std::string> present;
  {
    std::lock_guard<std::mutex> g(mu_);
    t->project_id = p.project_id;
    t->project_name = p.name;
    t->error.clear();
  }
  for (const auto& l : links) {
    const bool wanted = t->cfg.all_links ||
                        std::find(t->cfg.links.begin(), t->cfg.links.end(), l.link_id) != t->cfg.links.end();
    if (!wanted) continue;
    present.insert(l.link_id);
    if (t->active.load()) ensure_stream(t, l);
  }
  // Streams of links that are gone (deleted while the WebSocket was down).
  std::vector<LinkStream*> gone;
  {
    std::lock_guard<std::mutex> g(mu_);
    for (size_t i : t->streams)
      if (!present.count(slots_[i]->label->link_id)) gone.push_back(slots_[i].get());
  }
  for (LinkStream* s : gone) end_stream(s, false);
  return true;
}

void Gns3Source::ensure_stream(Target* t, const Gns3LinkInfo& l) {
  const std::string server = t->server->client.server().name;
  const std::string key = server + "/" + t->project_id + "/" + l.link_id;
  auto label = std::make_shared<Gns3LinkLabel>();
  label->server = server;
  label->project_id = t->project_id;
  label->project = t->project_name;
  label->link_id = l.link_id;
  for (size_t i = 0; i < 2 && i < l.nodes.size(); ++i) label->nodes[i] = l.nodes[i].node_name;

  std::unique_lock<std::mutex> g(mu_);
  size_t slot;
  if (auto it = slot_of_.find(key); it != slot_of_.end()) {
    slot = it->second;
  } else {
    slot = nslots_.load();
    if (slot >= kMaxLinks || slot + opt_.ifindex_base > 0xFFFF) {
      ++links_refused_;
      return;
    }
    auto s = std::make_unique<LinkStream>();
    s->ring = std::make_unique<SpscRing<Slot>>(opt_.ring_slots);
    s->ifindex = uint16_t(opt_.ifindex_base + slot);
    slots_[slot] = std::move(s);
    slot_of_[key] = slot;
    nslots_.store(slot + 1, std::memory_order_release);
  }
  LinkStream* s = slots_[slot].get();
  s->label = label;  // names may have changed (a renamed node)
  if (s->running) return;
  // A stream that ended is joined before its slot runs again.
  if (s->thread.joinable()) {
    g.unlock();
    s->thread.join();
    g.lock();
  }
  s->target = t;
  s->running = true;
  s->stop.store(false);
  s->set_state("starting");
  t->streams.insert(slot);
  s->thread = std::thread([this, s] { stream_loop(s); });
}

void Gns3Source::end_stream(LinkStream* s, bool stop_capture) {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (!s->running) return;
    s->running = false;
    s->stop.store(true);
    for (auto& t : targets_) t->streams.erase(s->ifindex - opt_.ifindex_base);
  }
  if (s->thread.joinable()) s->thread.join();
  if (stop_capture && s->we_started) {
    const auto& l = *s->label;
    s->target->server->client.stop_capture(l.project_id, l.link_id);
    s->we_started = false;
  }
  s->set_state("stopped");
}

// --- a link's thread -------------------------------------------------------

bool Gns3Source::push_frames(LinkStream* s, std::span<const uint8_t> chunk) {
  size_t pending = 0;
  auto& ring = *s->ring;
  uint64_t packets = 0, bytes = 0, last = 0, clipped = 0;
  auto flush = [&] {
    if (!pending) return;
    ring.commit(pending);
    pending = 0;
    parker_.wake();
  };
  const bool ok = s->parser.feed(chunk, [&](const PcapRecord& rec) {
    Slot* slot;
    while (!(slot = ring.reserve(pending))) {
      // Full: publish what is there and wait for the dispatcher. The server
      // waits with us (TCP flow control); nothing is dropped.
      flush();
      ring.producer_parker.wait([&] { return !ring.full() || s->stop.load(std::memory_order_relaxed); },
                                50'000'000);
      if (s->stop.load(std::memory_order_relaxed)) return;
    }
    const uint32_t n = std::min(rec.caplen, kSlotData);
    if (n < rec.caplen) ++clipped;
    std::memcpy(slot->data, rec.data, n);
    slot->caplen = n;
    slot->wirelen = rec.wirelen;
    slot->ts_ns = rec.ts_ns;
    ++pending;
    ++packets;
    bytes += rec.wirelen;
    last = rec.ts_ns;
  });
  flush();
  if (packets) {
    s->packets.fetch_add(packets, std::memory_order_relaxed);
    s->bytes.fetch_add(bytes, std::memory_order_relaxed);
    s->last_ns.store(last, std::memory_order_relaxed);
  }
  if (clipped) s->clipped.fetch_add(clipped, std::memory_order_relaxed);
  const auto& c = s->parser.counters();
  s->unsupported.store(c.unsupported_link, std::memory_order_relaxed);
  s->replayed.store(c.replayed, std::memory_order_relaxed);
  return ok && !s->stop.load(std::memory_order_relaxed);
}

void Gns3Source::stream_loop(LinkStream* s) {
  Server* srv = s->target->server;
  JitterBackoff backoff(opt_.backoff_base_ns, opt_.backoff_max_ns, opt_.seed ^ std::hash<std::string>{}(s->label->link_id));
  const std::string project_id = s->label->project_id;
  const std::string link_id = s->label->link_id;
  uint64_t skip = 0;  // records of the current capture file already delivered
  bool first = true;
  while (!s->stop.load()) {
    if (!srv->breaker.allow(mono_ns())) {
      s->set_state("backoff");
      sleep_for(50'000'000, s->stop);
      continue;
    }
    s->parser.begin(skip);
    const auto before = s->parser.counters();
    bool announced = false;
    Gns3Reply r = srv->client.stream_pcap(
        project_id, link_id,
        [&](std::span<const uint8_t> chunk) {
          if (!announced) {
            s->set_state("streaming");
            announced = true;
          }
          return push_frames(s, chunk);
        },
        s->stop, [&] {
          // The server took the stream: that is the half-open probe's
          // success (a stream may stay open for hours; waiting for its end
          // would keep the breaker half-open and every other call out).
          srv->ok();
          s->set_state("waiting");  // empty until the link's first packet
        });
    if (s->stop.load()) break;
    const bool answered = r.status >= 200 && r.status < 300;
    if (answered) {
      const bool clean = s->parser.end() && r.ok();
      const auto& c = s->parser.counters();
      s->truncated.store(c.truncated, std::memory_order_relaxed);
      s->unsupported.store(c.unsupported_link, std::memory_order_relaxed);
      s->replayed.store(c.replayed, std::memory_order_relaxed);
      skip = std::max(skip, s->parser.answer_records());
      srv->ok();
      if (c.frames > before.frames || c.unsupported_link > before.unsupported_link) backoff.reset();
      if (clean) {
        // The capture stopped on the server; the next request answers 409
        // and starts a new capture file if the link is still wanted.
        continue;
      }
      s->reconnects.fetch_add(1, std::memory_order_relaxed);
      s->set_state("backoff", r.ok() ? s->parser.error() : r.error);
      sleep_for(backoff.next(), s->stop);
      continue;
    }
    if (r.status == 409) {
      // Not capturing: start it. The new capture file starts empty.
      s->set_state("starting");
      Gns3Reply st = srv->client.start_capture(project_id, link_id);
      if (st.ok()) {
        srv->ok();
        s->we_started = true;
        skip = 0;
        continue;
      }
      srv->failed(st);
      s->set_state("backoff", st.error);
      sleep_for(backoff.next(), s->stop);
      continue;
    }
    srv->failed(r);
    if (!first) s->reconnects.fetch_add(1, std::memory_order_relaxed);
    first = false;
    s->set_state("backoff", r.error);
    sleep_for(backoff.next(), s->stop);
  }
  s->set_state("stopped");
}

// --- the dispatcher side -----------------------------------------------------

int Gns3Source::rx_burst(Packet* out, int max) {
  for (auto& [s, n] : held_) {
    s->ring->release(n);
    s->ring->producer_parker.wake();
  }
  held_.clear();
  if (stop_.load(std::memory_order_relaxed)) return kEof;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const size_t n = nslots_.load(std::memory_order_acquire);
    int got = 0;
    for (size_t k = 0; k < n && got < max; ++k) {
      const size_t i = (rr_ + k) % n;
      LinkStream* s = slots_[i].get();
      Slot* first;
      const size_t m = s->ring->peek(&first, size_t(max - got));
      for (size_t j = 0; j < m; ++j) {
        Packet& p = out[got++];
        p = Packet{};
        p.data = first[j].data;
        p.caplen = first[j].caplen;
        p.wirelen = first[j].wirelen;
        p.ts_ns = first[j].ts_ns;
        p.ifindex = s->ifindex;
        p.link = LinkType::kEthernet;
      }
      if (m) held_.emplace_back(s, m);
    }
    if (n) rr_ = (rr_ + 1) % n;
    if (got) return got;
    if (attempt == 0)
      parker_.wait(
          [&] {
            if (stop_.load(std::memory_order_relaxed)) return true;
            const size_t k = nslots_.load(std::memory_order_acquire);
            for (size_t i = 0; i < k; ++i)
              if (!slots_[i]->ring->empty()) return true;
            return false;
          },
          uint64_t(kPollMs) * 1'000'000);
    if (stop_.load(std::memory_order_relaxed)) return kEof;
  }
  return 0;
}

SourceStats Gns3Source::stats() const {
  SourceStats st;
  const size_t n = nslots_.load(std::memory_order_acquire);
  for (size_t i = 0; i < n; ++i) {
    const LinkStream& s = *slots_[i];
    st.packets += s.packets.load(std::memory_order_relaxed);
    st.bytes += s.bytes.load(std::memory_order_relaxed);
    st.truncated += s.truncated.load(std::memory_order_relaxed);
    st.unsupported_link += s.unsupported.load(std::memory_order_relaxed);
  }
  return st;
}

std::string Gns3Source::error() const {
  for (const auto& s : servers_) {
    std::lock_guard<std::mutex> g(s->mu);
    if (!s->reachable && !s->last_error.empty()) return s->last_error;
  }
  return {};
}

// --- status and control --------------------------------------------------------

std::shared_ptr<const Gns3LinkLabel> Gns3Source::label(uint16_t ifindex) const {
  if (ifindex < opt_.ifindex_base) return nullptr;
  const size_t i = ifindex - opt_.ifindex_base;
  std::lock_guard<std::mutex> g(mu_);
  if (i >= nslots_.load()) return nullptr;
  return slots_[i]->label;
}

std::vector<Gns3ServerStatus> Gns3Source::servers() const {
  std::vector<Gns3ServerStatus> out;
  const uint64_t now = mono_ns();
  for (const auto& s : servers_) {
    Gns3ServerStatus st;
    st.name = s->client.server().name;
    st.url = s->client.server().url;
    st.api = gns3_api_name(s->client.server().api);
    st.breaker = s->breaker.state(now);
    st.breaker_opened = s->breaker.opened();
    st.breaker_rejected = s->breaker.rejected();
    std::lock_guard<std::mutex> g(s->mu);
    st.reachable = s->reachable && st.breaker != BreakerState::kOpen;
    st.version = s->version;
    st.last_error = s->last_error;
    out.push_back(std::move(st));
  }
  return out;
}

Gns3ProjectStatus Gns3Source::project_status(const Target& t) const {
  Gns3ProjectStatus p;
  p.server = t.server->client.server().name;
  p.project_id = t.project_id;
  p.name = t.project_name;
  p.error = t.error;
  for (size_t i : t.streams) {
    const LinkStream& s = *slots_[i];
    ++p.links;
    {
      std::lock_guard<std::mutex> g(s.st_mu);
      if (s.state == "streaming" || s.state == "waiting") ++p.links_capturing;
    }
  }
  // Counters include links that ended (their frames still count).
  for (size_t i = 0; i < nslots_.load(); ++i) {
    const LinkStream& s = *slots_[i];
    if (s.target != &t) continue;
    p.packets += s.packets.load(std::memory_order_relaxed);
    p.bytes += s.bytes.load(std::memory_order_relaxed);
    p.last_packet_ns = std::max(p.last_packet_ns, s.last_ns.load(std::memory_order_relaxed));
  }
  const BreakerState b = t.server->breaker.state(mono_ns());
  if (!t.active.load()) p.capture = "stopped";
  else if (b == BreakerState::kOpen) p.capture = "unreachable";
  else if (p.links_capturing > 0) p.capture = "capturing";
  else if (!t.error.empty()) p.capture = "error";
  else p.capture = "starting";
  {
    std::lock_guard<std::mutex> g(rates_mu_);
    if (auto it = rates_.find(&t); it != rates_.end()) {
      p.pps = it->second.pps;
      p.bps = it->second.bps;
    }
  }
  return p;
}

std::vector<Gns3ProjectStatus> Gns3Source::projects() const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<Gns3ProjectStatus> out;
  for (const auto& t : targets_) out.push_back(project_status(*t));
  return out;
}

bool Gns3Source::has_traffic(const Gns3ProjectStatus& p, uint64_t now_wall_ns) const {
  if (p.pps > 0) return true;
  return p.last_packet_ns && now_wall_ns >= p.last_packet_ns && now_wall_ns - p.last_packet_ns <= opt_.traffic_window_ns;
}

void Gns3Source::ticker_loop() {
  // A project's first rate counts from here: frames that came before the
  // first tick are in it.
  const uint64_t started = mono_ns();
  while (sleep_for(1'000'000'000, stop_)) {
    std::vector<std::pair<const void*, Gns3ProjectStatus>> now;
    {
      std::lock_guard<std::mutex> g(mu_);
      for (const auto& t : targets_) now.emplace_back(t.get(), project_status(*t));
    }
    const uint64_t at = mono_ns();
    std::lock_guard<std::mutex> g(rates_mu_);
    for (auto& [key, p] : now) {
      Rate& r = rates_[static_cast<const Target*>(key)];
      if (!r.at_ns) r.at_ns = started;
      if (at > r.at_ns) {
        const double dt = double(at - r.at_ns) / 1e9;
        r.pps = double(p.packets - r.packets) / dt;
        r.bps = double(p.bytes - r.bytes) * 8 / dt;
      }
      r.packets = p.packets;
      r.bytes = p.bytes;
      r.at_ns = at;
    }
  }
}

Gns3Source::Target* Gns3Source::find_target(const std::string& project) const {
  for (const auto& t : targets_)
    if (t->project_id == project || (t->project_id.empty() && t->cfg.project == project) || t->project_name == project)
      return t.get();
  return nullptr;
}

bool Gns3Source::links(const std::string& project, std::vector<Gns3LinkStatus>* out) const {
  std::lock_guard<std::mutex> g(mu_);
  const Target* t = find_target(project);
  if (!t) return false;
  out->clear();
  for (size_t i = 0; i < nslots_.load(); ++i) {
    const LinkStream& s = *slots_[i];
    if (s.target != t) continue;
    Gns3LinkStatus l;
    l.ifindex = s.ifindex;
    l.label = *s.label;
    {
      std::lock_guard<std::mutex> sg(s.st_mu);
      l.state = s.running ? s.state : "stopped";
      l.error = s.error;
    }
    l.packets = s.packets.load();
    l.bytes = s.bytes.load();
    l.last_packet_ns = s.last_ns.load();
    l.reconnects = s.reconnects.load();
    l.truncated = s.truncated.load();
    l.unsupported_link = s.unsupported.load();
    l.replayed = s.replayed.load();
    l.clipped = s.clipped.load();
    out->push_back(std::move(l));
  }
  return true;
}

std::string Gns3Source::capture_project(const std::string& project, const std::string& server) {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (Target* t = find_target(project)) {
      if (!server.empty() && t->server->client.server().name != server)
        return "project '" + project + "' is on server '" + t->server->client.server().name + "'";
      t->active.store(true);
      t->ev_cv.notify_all();
      return "";
    }
  }
  // A project the config does not name: look for it on the servers.
  for (auto& s : servers_) {
    if (!server.empty() && s->client.server().name != server) continue;
    Gns3ProjectInfo p;
    Gns3Reply r = s->client.find_project(project, &p);
    if (r.status == 404) continue;
    if (!r.ok()) return r.error;
    auto t = std::make_unique<Target>();
    t->server = s.get();
    t->cfg.server = s->client.server().name;
    t->cfg.project = p.project_id;
    t->project_name = p.name;
    std::lock_guard<std::mutex> g(mu_);
    if (stop_.load()) return "the source is stopping";
    Target* raw = t.get();
    targets_.push_back(std::move(t));
    if (started_) start_target(raw);
    return "";
  }
  return "no configured GNS3 server has a project named or with id '" + project + "'";
}

std::string Gns3Source::stop_project(const std::string& project) {
  Target* t;
  std::vector<LinkStream*> streams;
  {
    std::lock_guard<std::mutex> g(mu_);
    t = find_target(project);
    if (!t) return "no captured project named or with id '" + project + "'";
    t->active.store(false);
    for (size_t i : t->streams) streams.push_back(slots_[i].get());
  }
  for (LinkStream* s : streams) end_stream(s, true);
  return "";
}

const Gns3Client* Gns3Source::client(const std::string& server) const {
  for (const auto& s : servers_)
    if (s->client.server().name == server) return &s->client;
  return nullptr;
}

}  // namespace ws
