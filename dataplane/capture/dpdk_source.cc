#include "dataplane/capture/dpdk_source.h"

#include <time.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#ifdef WS_HAVE_DPDK
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#endif

namespace ws {

#ifndef WS_HAVE_DPDK

bool dpdk_available() { return false; }

std::vector<std::unique_ptr<PacketSource>> open_dpdk_sources(const DpdkOptions& opts, std::string* error) {
  *error = "dpdk: " + opts.port + ": this build has no DPDK support (install libdpdk-dev and rebuild)";
  return {};
}

struct DpdkInlineLink::Impl {};
DpdkInlineLink::DpdkInlineLink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DpdkInlineLink::~DpdkInlineLink() = default;
std::vector<std::unique_ptr<DpdkInlineLink>> DpdkInlineLink::open(const Options&, std::string* error) {
  *error = "dpdk: this build has no DPDK support (install libdpdk-dev and rebuild)";
  return {};
}
int DpdkInlineLink::rx_burst(Packet*, int) { return kEof; }
void DpdkInlineLink::release() {}
void DpdkInlineLink::send(uint16_t, const uint8_t*, uint32_t, uint32_t) {}
void DpdkInlineLink::flush() {}
SourceStats DpdkInlineLink::stats() const { return {}; }
std::vector<PortCounter> DpdkInlineLink::port_counters() const { return {}; }
uint16_t DpdkInlineLink::ports() const { return 0; }
const std::string& DpdkInlineLink::port_name(uint16_t) const { return name_; }

#else

bool dpdk_available() { return true; }

namespace {

// The EAL is process-wide and can be initialised once.
std::mutex g_eal_mu;
bool g_eal_done = false;
std::vector<std::string> g_eal_args;

std::string init_eal(const std::vector<std::string>& args) {
  std::lock_guard lk(g_eal_mu);
  if (g_eal_done) {
    if (args != g_eal_args) return "the EAL is already running with other arguments";
    return "";
  }
  std::vector<std::string> argv_s{"wirescope"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  const int rc = rte_eal_init(static_cast<int>(argv_s.size()), argv.data());
  if (rc < 0) return std::string("EAL initialisation failed: ") + rte_strerror(rte_errno);
  if (rc != static_cast<int>(argv_s.size()) - 1)
    return "EAL argument '" + argv_s[static_cast<size_t>(rc) + 1] + "' is not an EAL option";
  g_eal_done = true;
  g_eal_args = args;
  return "";
}

uint64_t wall_now_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

// The symmetric Toeplitz key: hashing (a, b) and (b, a) gives one value.
constexpr uint8_t kSymmetricRssKey[40] = {
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a};

// A started port; stopped when its last queue source goes. It is not
// closed: a closed virtual device is gone for good, and a port that is
// only stopped can be configured and started again (a restart of the
// capture in the same process, a test opening it twice).
struct Port {
  uint16_t id = 0;
  std::string name;
  rte_mempool* pool = nullptr;  // owned by the process (port_pool)
  uint16_t tx_queues = 0;
  ~Port() { rte_eth_dev_stop(id); }
};

// One mbuf pool per port for the life of the process: a stopped port's
// queues still hold mbufs from it until they are set up again.
rte_mempool* port_pool(uint16_t pid, unsigned mbufs, std::string* error) {
  const std::string name = "ws_pool_" + std::to_string(pid);
  if (rte_mempool* p = rte_mempool_lookup(name.c_str())) return p;
  rte_mempool* p = rte_pktmbuf_pool_create(name.c_str(), mbufs, mbufs >= 1024 ? 256 : 0, 0,
                                           RTE_MBUF_DEFAULT_BUF_SIZE, static_cast<int>(rte_eth_dev_socket_id(pid)));
  if (!p)
    *error = "mbuf pool of " + std::to_string(mbufs) + ": " + rte_strerror(rte_errno) +
             " (with --no-huge, give the EAL enough memory with -m)";
  return p;
}

class DpdkSource final : public PacketSource {
 public:
  DpdkSource(std::shared_ptr<Port> port, uint16_t queue)
      : port_(std::move(port)), queue_(queue), name_("dpdk:" + port_->name + "/" + std::to_string(queue)) {}

  int rx_burst(Packet* out, int max) override {
    if (stop_.load(std::memory_order_relaxed)) return kEof;
    if (!registered_) {
      // A worker thread is not an EAL lcore; registering gives it an lcore
      // id and with it the mempool's per-lcore cache. Without a free id the
      // pool still works, only without the cache.
      if (rte_lcore_id() == LCORE_ID_ANY) rte_thread_register();
      registered_ = true;
    }
    if (max > kMax) max = kMax;
    rte_mbuf* m[kMax];
    const uint16_t n = rte_eth_rx_burst(port_->id, queue_, m, static_cast<uint16_t>(max));
    if (n == 0) {
      // Poll mode: a short pause when idle keeps an empty queue from
      // spinning a core at 100% while the worker runs its timers.
      ++idle_;
      if (idle_ > 64) {
        timespec ts{0, 50'000};
        nanosleep(&ts, nullptr);
      }
      return 0;
    }
    idle_ = 0;
    const uint64_t now = wall_now_ns();
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < n; ++i) {
      Packet& p = out[i];
      p = Packet{};
      p.data = rte_pktmbuf_mtod(m[i], const uint8_t*);
      p.caplen = m[i]->data_len;
      p.wirelen = m[i]->pkt_len;
      p.ts_ns = now;
      p.opaque = m[i];
      p.link = LinkType::kEthernet;
      if (m[i]->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) {
        p.flags |= kPktVlanStripped;
        p.vlan_tci = m[i]->vlan_tci;
      }
      bytes += m[i]->pkt_len;
    }
    packets_.store(packets_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    bytes_.store(bytes_.load(std::memory_order_relaxed) + bytes, std::memory_order_relaxed);
    return n;
  }

  void release(Packet* pkts, int n) override {
    rte_mbuf* m[kMax];
    int k = 0;
    for (int i = 0; i < n; ++i) {
      if (!pkts[i].opaque) continue;
      m[k++] = static_cast<rte_mbuf*>(pkts[i].opaque);
      pkts[i].opaque = nullptr;
      if (k == kMax) {
        rte_pktmbuf_free_bulk(m, static_cast<unsigned>(k));
        k = 0;
      }
    }
    if (k) rte_pktmbuf_free_bulk(m, static_cast<unsigned>(k));
  }

  bool live() const override { return true; }
  void stop() override { stop_.store(true, std::memory_order_relaxed); }

  SourceStats stats() const override {
    SourceStats s;
    s.packets = packets_.load(std::memory_order_relaxed);
    s.bytes = bytes_.load(std::memory_order_relaxed);
    if (queue_ == 0) {
      rte_eth_stats st{};
      if (rte_eth_stats_get(port_->id, &st) == 0) {
        s.kernel_drops = st.imissed;
        s.if_drops = st.rx_nombuf;
      }
    }
    return s;
  }

  std::vector<PortCounter> port_counters() const override {
    if (queue_ != 0) return {};
    rte_eth_stats st{};
    if (rte_eth_stats_get(port_->id, &st) != 0) return {};
    return {{"dpdk", port_->name, "imissed", st.imissed},
            {"dpdk", port_->name, "ierrors", st.ierrors},
            {"dpdk", port_->name, "rx_nombuf", st.rx_nombuf}};
  }

  const std::string& name() const override { return name_; }

 private:
  static constexpr int kMax = 64;
  std::shared_ptr<Port> port_;
  uint16_t queue_;
  std::string name_;
  bool registered_ = false;
  uint32_t idle_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> packets_{0}, bytes_{0};
};

// Configures and starts a port with opts.queues RX queues and as many TX
// queues (inline pairs send on the worker's own); null with *error.
std::shared_ptr<Port> open_port(const DpdkOptions& opts, std::string* error) {
  std::shared_ptr<Port> out;
  const std::string where = "dpdk: " + opts.port + ": ";
  if (opts.port.empty()) {
    *error = "dpdk: no port given (a PCI address or a vdev name such as net_pcap0)";
    return out;
  }
  if (opts.queues < 1 || opts.queues > 64) {
    *error = where + std::to_string(opts.queues) + " queues: must be 1 to 64";
    return out;
  }
  if (std::string e = init_eal(opts.eal_args); !e.empty()) {
    *error = "dpdk: " + e;
    return out;
  }
  uint16_t pid = 0;
  if (rte_eth_dev_get_port_by_name(opts.port.c_str(), &pid) != 0) {
    std::string known;
    uint16_t p;
    RTE_ETH_FOREACH_DEV(p) {
      char nm[RTE_ETH_NAME_MAX_LEN];
      if (rte_eth_dev_get_name_by_port(p, nm) == 0) known += std::string(known.empty() ? "" : ", ") + nm;
    }
    *error = where + "no such port (ports: " + (known.empty() ? "none; give --vdev or a bound PCI device in dpdk.eal_args" : known) + ")";
    return out;
  }
  rte_eth_dev_info info{};
  if (int rc = rte_eth_dev_info_get(pid, &info); rc != 0) {
    *error = where + "device info: " + rte_strerror(-rc);
    return out;
  }
  const uint16_t nq = static_cast<uint16_t>(opts.queues);
  if (nq > info.max_rx_queues) {
    *error = where + "the port has " + std::to_string(info.max_rx_queues) + " RX queues, " + std::to_string(nq) +
             " workers need one each";
    return out;
  }
  std::string perr;
  rte_mempool* pool = port_pool(pid, static_cast<unsigned>(opts.mbufs), &perr);
  if (!pool) {
    *error = where + perr;
    return out;
  }
  rte_eth_conf conf{};
  uint8_t key[sizeof kSymmetricRssKey];
  std::memcpy(key, kSymmetricRssKey, sizeof key);
  if (nq > 1) {
    const uint64_t want = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
    if ((info.flow_type_rss_offloads & want) == 0) {
      *error = where + "the port cannot spread flows over queues (no RSS); run one worker on it";
      return out;
    }
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_key = key;
    conf.rx_adv_conf.rss_conf.rss_key_len = info.hash_key_size ? std::min<uint8_t>(info.hash_key_size, 40) : 40;
    conf.rx_adv_conf.rss_conf.rss_hf = want & info.flow_type_rss_offloads;
  }
  // One TX queue per RX queue, for inline pairs on DPDK ports.
  const uint16_t ntx = std::min<uint16_t>(nq, info.max_tx_queues ? info.max_tx_queues : 1);
  if (opts.need_tx && ntx < nq) {
    *error = where + "the port has " + std::to_string(ntx) + " TX queues, " + std::to_string(nq) +
             " inline workers need one each";
    return out;
  }
  if (int rc = rte_eth_dev_configure(pid, nq, ntx, &conf); rc != 0) {
    *error = where + "configure: " + rte_strerror(-rc);
    return out;
  }
  uint16_t nrx = static_cast<uint16_t>(opts.rx_descriptors), ntxd = 1024;
  rte_eth_dev_adjust_nb_rx_tx_desc(pid, &nrx, &ntxd);
  for (uint16_t q = 0; q < nq; ++q) {
    if (int rc = rte_eth_rx_queue_setup(pid, q, nrx, static_cast<unsigned>(rte_eth_dev_socket_id(pid)), nullptr,
                                        pool);
        rc != 0) {
      *error = where + "RX queue " + std::to_string(q) + ": " + rte_strerror(-rc);
      return out;
    }
  }
  for (uint16_t q = 0; q < ntx; ++q) {
    if (int rc = rte_eth_tx_queue_setup(pid, q, ntxd, static_cast<unsigned>(rte_eth_dev_socket_id(pid)), nullptr);
        rc != 0) {
      *error = where + "TX queue " + std::to_string(q) + ": " + rte_strerror(-rc);
      return out;
    }
  }
  if (int rc = rte_eth_dev_start(pid); rc != 0) {
    *error = where + "start: " + rte_strerror(-rc);
    return out;
  }
  if (opts.promisc) rte_eth_promiscuous_enable(pid);  // not every PMD has it; not an error
  auto port = std::make_shared<Port>();
  port->id = pid;
  port->name = opts.port;
  port->pool = pool;
  port->tx_queues = ntx;
  return port;
}

}  // namespace

std::vector<std::unique_ptr<PacketSource>> open_dpdk_sources(const DpdkOptions& opts, std::string* error) {
  std::vector<std::unique_ptr<PacketSource>> out;
  auto port = open_port(opts, error);
  if (!port) return out;
  for (uint16_t q = 0; q < static_cast<uint16_t>(opts.queues); ++q)
    out.push_back(std::make_unique<DpdkSource>(port, q));
  return out;
}

// ---- inline pairs ----------------------------------------------------------

#define WS_DPDK_INLINE_COUNTERS(X) \
  X(rx_packets)                    \
  X(rx_bytes)                      \
  X(tx_packets)                    \
  X(tx_bytes)                      \
  X(tx_busy)                       \
  X(tx_nombuf)                     \
  X(tx_copied)

struct DpdkInlineLink::Impl {
  struct PortQ {
    std::shared_ptr<Port> port;
    rte_mbuf* batch[kBatch];
    int queued = 0;
#define WS_X(c) std::atomic<uint64_t> c{0};
    WS_DPDK_INLINE_COUNTERS(WS_X)
#undef WS_X
    void add(std::atomic<uint64_t>& c, uint64_t v) { c.store(c.load(std::memory_order_relaxed) + v, std::memory_order_relaxed); }
  };
  std::vector<PortQ> ports;
  uint16_t queue = 0;
  uint16_t next_port = 0;  // round robin over the ports' RX queues
  bool registered = false;
  uint32_t idle = 0;
  rte_mbuf* cur[64];  // the last rx_burst's mbufs, by position
  const uint8_t* cur_data[64];
  int ncur = 0;
  int cursor = 0;  // where send() looks first for a frame of the burst
  uint64_t packets = 0, bytes = 0;

  void flush_port(PortQ& p) {
    int sent = 0;
    for (int tries = 0; tries < 4 && sent < p.queued; ++tries)
      sent += rte_eth_tx_burst(p.port->id, queue, p.batch + sent, static_cast<uint16_t>(p.queued - sent));
    uint64_t b = 0;
    for (int i = 0; i < sent; ++i) b += p.batch[i]->pkt_len;
    p.add(p.tx_packets, static_cast<uint64_t>(sent));
    p.add(p.tx_bytes, b);
    if (sent < p.queued) {
      p.add(p.tx_busy, static_cast<uint64_t>(p.queued - sent));
      rte_pktmbuf_free_bulk(p.batch + sent, static_cast<unsigned>(p.queued - sent));
    }
    p.queued = 0;
  }
};

DpdkInlineLink::DpdkInlineLink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  name_ = "dpdk-inline/" + std::to_string(impl_->queue);
}

DpdkInlineLink::~DpdkInlineLink() {
  flush();
  release();
}

std::vector<std::unique_ptr<DpdkInlineLink>> DpdkInlineLink::open(const Options& opts, std::string* error) {
  std::vector<std::unique_ptr<DpdkInlineLink>> out;
  if (opts.pairs.empty()) {
    *error = "dpdk inline: no pairs";
    return out;
  }
  std::vector<std::shared_ptr<Port>> ports;
  for (const auto& [a, b] : opts.pairs) {
    for (const std::string& name : {a, b}) {
      DpdkOptions d;
      d.eal_args = opts.eal_args;
      d.port = name;
      d.queues = opts.workers;
      d.mbufs = opts.mbufs;
      d.need_tx = true;
      auto p = open_port(d, error);
      if (!p) return out;
      ports.push_back(std::move(p));
    }
  }
  for (int w = 0; w < opts.workers; ++w) {
    auto impl = std::make_unique<Impl>();
    impl->queue = static_cast<uint16_t>(w);
    impl->ports = std::vector<Impl::PortQ>(ports.size());
    for (size_t i = 0; i < ports.size(); ++i) impl->ports[i].port = ports[i];
    out.push_back(std::unique_ptr<DpdkInlineLink>(new DpdkInlineLink(std::move(impl))));
  }
  return out;
}

int DpdkInlineLink::rx_burst(Packet* out, int max) {
  Impl& m = *impl_;
  if (stop_.load(std::memory_order_relaxed)) return kEof;
  if (!m.registered) {
    if (rte_lcore_id() == LCORE_ID_ANY) rte_thread_register();
    m.registered = true;
  }
  if (max > 64) max = 64;
  release();  // the previous burst's mbufs, if the caller did not
  const uint16_t np = static_cast<uint16_t>(m.ports.size());
  int n = 0;
  for (uint16_t k = 0; k < np && n == 0; ++k) {
    const uint16_t pi = m.next_port;
    m.next_port = static_cast<uint16_t>((m.next_port + 1) % np);
    Impl::PortQ& p = m.ports[pi];
    const uint16_t got = rte_eth_rx_burst(p.port->id, m.queue, m.cur, static_cast<uint16_t>(max));
    if (!got) continue;
    const uint64_t now = wall_now_ns();
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < got; ++i) {
      Packet& pk = out[i];
      pk = Packet{};
      pk.data = rte_pktmbuf_mtod(m.cur[i], const uint8_t*);
      pk.caplen = m.cur[i]->data_len;
      pk.wirelen = m.cur[i]->pkt_len;
      pk.ts_ns = now;
      pk.opaque = m.cur[i];
      pk.ifindex = pi;
      pk.link = LinkType::kEthernet;
      m.cur_data[i] = pk.data;
      bytes += m.cur[i]->pkt_len;
    }
    p.add(p.rx_packets, got);
    p.add(p.rx_bytes, bytes);
    m.packets += got;
    m.bytes += bytes;
    m.ncur = got;
    m.cursor = 0;
    n = got;
  }
  if (n == 0) {
    if (++m.idle > 64) {
      timespec ts{0, 50'000};
      nanosleep(&ts, nullptr);
    }
    return 0;
  }
  m.idle = 0;
  return n;
}

void DpdkInlineLink::release() {
  Impl& m = *impl_;
  if (m.ncur) rte_pktmbuf_free_bulk(m.cur, static_cast<unsigned>(m.ncur));
  m.ncur = 0;
}

void DpdkInlineLink::send(uint16_t port, const uint8_t* data, uint32_t len, uint32_t vlan_tag) {
  Impl& m = *impl_;
  if (port >= m.ports.size()) return;
  Impl::PortQ& p = m.ports[port];
  if (p.queued == kBatch) m.flush_port(p);
  // A frame of this burst, sent whole and untagged: its own mbuf goes out.
  if (vlan_tag == kNoVlan) {
    for (int k = 0; k < m.ncur; ++k) {
      const int i = (m.cursor + k) % m.ncur;
      if (m.cur_data[i] == data && m.cur[i]->pkt_len == len && m.cur[i]->nb_segs == 1) {
        rte_mbuf_refcnt_update(m.cur[i], 1);
        p.batch[p.queued++] = m.cur[i];
        m.cursor = i + 1;
        return;
      }
    }
  }
  rte_mbuf* c = rte_pktmbuf_alloc(p.port->pool);
  const uint32_t extra = vlan_tag == kNoVlan ? 0 : 4;
  if (!c || len < 12 || len + extra > rte_pktmbuf_tailroom(c)) {
    if (c) rte_pktmbuf_free(c);
    p.add(p.tx_nombuf, 1);
    return;
  }
  uint8_t* dst = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(c, static_cast<uint16_t>(len + extra)));
  if (extra) {
    insert_vlan_tag(data, len, vlan_tag, dst);
  } else {
    std::memcpy(dst, data, len);
  }
  p.add(p.tx_copied, 1);
  p.batch[p.queued++] = c;
}

void DpdkInlineLink::flush() {
  for (auto& p : impl_->ports)
    if (p.queued) impl_->flush_port(p);
}

SourceStats DpdkInlineLink::stats() const {
  SourceStats s;
  s.packets = 0;
  for (const auto& p : impl_->ports) {
    s.packets += p.rx_packets.load(std::memory_order_relaxed);
    s.bytes += p.rx_bytes.load(std::memory_order_relaxed);
  }
  if (impl_->queue == 0)
    for (const auto& p : impl_->ports) {
      rte_eth_stats st{};
      if (rte_eth_stats_get(p.port->id, &st) == 0) {
        s.kernel_drops += st.imissed;
        s.if_drops += st.rx_nombuf;
      }
    }
  return s;
}

std::vector<PortCounter> DpdkInlineLink::port_counters() const {
  std::vector<PortCounter> out;
  for (const auto& p : impl_->ports) {
#define WS_X(c) out.push_back({"inline", p.port->name, #c, p.c.load(std::memory_order_relaxed)});
    WS_DPDK_INLINE_COUNTERS(WS_X)
#undef WS_X
    if (impl_->queue == 0) {
      rte_eth_stats st{};
      if (rte_eth_stats_get(p.port->id, &st) == 0) {
        out.push_back({"dpdk", p.port->name, "imissed", st.imissed});
        out.push_back({"dpdk", p.port->name, "ierrors", st.ierrors});
        out.push_back({"dpdk", p.port->name, "rx_nombuf", st.rx_nombuf});
      }
    }
  }
  return out;
}

uint16_t DpdkInlineLink::ports() const { return static_cast<uint16_t>(impl_->ports.size()); }
const std::string& DpdkInlineLink::port_name(uint16_t port) const { return impl_->ports[port].port->name; }

#endif

}  // namespace ws
