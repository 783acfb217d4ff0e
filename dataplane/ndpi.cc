#include "dataplane/ndpi.h"

#include <sys/mman.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <mutex>

extern "C" {
#include <ndpi_api.h>
}

namespace ws {
namespace {

// nDPI's malloc goes through here so that its allocations are counted: per
// worker while it dissects (the worker's stats), into a local tally while a
// module is built. nDPI calls ndpi_malloc for calloc/strdup/realloc too.
struct AllocTally {
  Counter* allocs = nullptr;
  Counter* bytes = nullptr;
};
thread_local AllocTally t_tally;

void* counting_malloc(size_t n) {
  if (t_tally.allocs) {
    t_tally.allocs->inc();
    t_tally.bytes->inc(n);
  }
  return std::malloc(n);
}

void counting_free(void* p) { std::free(p); }

// Points the tally at c for the life of the scope.
class TallyScope {
 public:
  TallyScope(Counter* allocs, Counter* bytes) : saved_(t_tally) { t_tally = {allocs, bytes}; }
  ~TallyScope() { t_tally = saved_; }

 private:
  AllocTally saved_;
};

// ndpi_init_detection_module() must not run in parallel with itself; the
// wrappers are process-wide and set once.
std::mutex g_init_mu;
bool g_wrappers_set = false;

template <typename T>
T* map_zeroed(size_t bytes) {
  // MAP_NORESERVE: pages are committed as slots are first touched, so a
  // 1M-slot side table costs memory only for the slots in use.
  void* m = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return m == MAP_FAILED ? nullptr : static_cast<T*>(m);
}

// Suricata's app-layer names where Suricata has a parser for the protocol
// (app-layer-protos.c), so EVE readers see the values they know.
const char* suricata_name(uint16_t id) {
  switch (id) {
    case NDPI_PROTOCOL_HTTP:
    case NDPI_PROTOCOL_HTTP_CONNECT:
    case NDPI_PROTOCOL_HTTP_PROXY: return "http";
    case NDPI_PROTOCOL_TLS:
    case NDPI_PROTOCOL_MAIL_SMTPS:
    case NDPI_PROTOCOL_MAIL_IMAPS:
    case NDPI_PROTOCOL_MAIL_POPS: return "tls";  // Suricata sees the TLS, not the mail inside it
    case NDPI_PROTOCOL_DNS: return "dns";
    case NDPI_PROTOCOL_SSH: return "ssh";
    case NDPI_PROTOCOL_MAIL_SMTP: return "smtp";
    case NDPI_PROTOCOL_MAIL_IMAP: return "imap";
    case NDPI_PROTOCOL_MAIL_POP: return "pop3";
    case NDPI_PROTOCOL_QUIC: return "quic";
    case NDPI_PROTOCOL_FTP_CONTROL: return "ftp";
    case NDPI_PROTOCOL_FTP_DATA: return "ftp-data";
    case NDPI_PROTOCOL_SMBV1:
    case NDPI_PROTOCOL_SMBV23: return "smb";
    case NDPI_PROTOCOL_DCERPC: return "dcerpc";
    case NDPI_PROTOCOL_DHCP: return "dhcp";
    case NDPI_PROTOCOL_NTP: return "ntp";
    case NDPI_PROTOCOL_TFTP: return "tftp";
    case NDPI_PROTOCOL_SNMP: return "snmp";
    case NDPI_PROTOCOL_SIP: return "sip";
    case NDPI_PROTOCOL_RDP: return "rdp";
    case NDPI_PROTOCOL_VNC: return "rfb";
    case NDPI_PROTOCOL_MQTT: return "mqtt";
    case NDPI_PROTOCOL_KERBEROS: return "krb5";
    case NDPI_PROTOCOL_NFS: return "nfs";
    case NDPI_PROTOCOL_MODBUS: return "modbus";
    case NDPI_PROTOCOL_DNP3: return "dnp3";
    case NDPI_PROTOCOL_ETHERNET_IP: return "enip";
    case NDPI_PROTOCOL_IP_IPSEC: return "ike";
    case NDPI_PROTOCOL_POSTGRES: return "pgsql";
    case NDPI_PROTOCOL_TELNET: return "telnet";
    case NDPI_PROTOCOL_WEBSOCKET: return "websocket";
    case NDPI_PROTOCOL_LDAP: return "ldap";
    default: return nullptr;
  }
}

// nDPI found the protocol in the payload (or in a flow it correlated by
// payload), not only by port or address.
bool by_payload(uint8_t confidence) {
  return confidence >= NDPI_CONFIDENCE_DPI_CACHE && confidence < NDPI_CONFIDENCE_MAX;
}

void copy_text(char* dst, size_t cap, const char* src) {
  size_t n = src ? strnlen(src, cap - 1) : 0;
  if (n) std::memcpy(dst, src, n);
  dst[n] = 0;
}

}  // namespace

AppDetect::AppDetect(size_t flow_capacity, const AppDetectOptions& opts)
    : opts_(opts), flow_cap_(std::max<size_t>(flow_capacity, 1)) {}

std::unique_ptr<AppDetect> AppDetect::create(uint16_t worker, size_t flow_capacity, const AppDetectOptions& opts,
                                             std::string* error) {
  auto fail = [&](std::string msg) -> std::unique_ptr<AppDetect> {
    if (error) *error = "ndpi (worker " + std::to_string(worker) + "): " + msg;
    return nullptr;
  };
  if (opts.max_packets < 1 || opts.max_packets > 255)
    return fail("max_packets " + std::to_string(opts.max_packets) + " out of range: use 1..255");
  std::unique_ptr<AppDetect> d(new AppDetect(flow_capacity, opts));
  Counter init_allocs, init_bytes;
  {
    std::lock_guard<std::mutex> lk(g_init_mu);
    if (!g_wrappers_set) {
      set_ndpi_malloc(counting_malloc);
      set_ndpi_free(counting_free);
      g_wrappers_set = true;
    }
    TallyScope scope(&init_allocs, &init_bytes);
    d->mod_ = ndpi_init_detection_module(ndpi_no_prefs);
    if (!d->mod_) return fail("ndpi_init_detection_module failed (out of memory?)");
    NDPI_PROTOCOL_BITMASK all;
    NDPI_BITMASK_SET_ALL(all);
    ndpi_set_protocol_detection_bitmask2(d->mod_, &all);
    ndpi_finalize_initialization(d->mod_);
  }
  d->module_bytes_ = init_bytes.get();

  const size_t nproto = ndpi_get_num_supported_protocols(d->mod_);
  d->names_.resize(nproto);
  d->suricata_names_.resize(nproto);
  d->rule_apps_.assign(nproto, AppProto::kOther);
  d->rule_apps_[NDPI_PROTOCOL_UNKNOWN] = AppProto::kFailed;
  for (size_t i = 0; i < nproto; ++i) {
    const char* n = ndpi_get_proto_name(d->mod_, static_cast<uint16_t>(i));
    d->names_[i] = n ? n : "";
    ShortName& s = d->suricata_names_[i];
    if (const char* sn = suricata_name(static_cast<uint16_t>(i))) {
      copy_text(s.name, sizeof s.name, sn);
      // Rules name the same protocols by the same names.
      if (std::optional<AppProto> p = app_proto_by_name(sn)) d->rule_apps_[i] = *p;
    } else {
      // Others: nDPI's name in lowercase with '-' for '_' ("bittorrent",
      // "ftp-data" style), cut to the field's 15 characters.
      size_t k = 0;
      for (; n && n[k] && k + 1 < sizeof s.name; ++k)
        s.name[k] = n[k] == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(n[k])));
      s.name[k] = 0;
    }
  }
  d->counters_ = std::make_unique<AppCounters[]>(nproto);

  d->state_size_ = (ndpi_detection_get_sizeof_ndpi_flow_struct() + 63) & ~size_t{63};
  size_t pool = opts.pool_flows ? opts.pool_flows : std::max<size_t>(d->flow_cap_ / 8, 1024);
  d->pool_cap_ = std::min(pool, d->flow_cap_);
  d->pool_bytes_ = d->pool_cap_ * d->state_size_;
  d->pool_ = map_zeroed<uint8_t>(d->pool_bytes_);
  d->side_bytes_ = d->flow_cap_ * sizeof(FlowApp);
  d->side_ = map_zeroed<FlowApp>(d->side_bytes_);
  if (!d->pool_ || !d->side_) return fail("cannot map " + std::to_string(d->pool_bytes_ + d->side_bytes_) + " bytes");
  d->free_.reserve(d->pool_cap_);
  for (size_t i = d->pool_cap_; i-- > 0;) d->free_.push_back(static_cast<uint32_t>(i));
  return d;
}

AppDetect::~AppDetect() {
  if (pool_) {
    // States still in use (the table was not flushed) may hold nDPI's
    // allocations.
    for (size_t i = 0; side_ && i < flow_cap_; ++i)
      if (side_[i].state == kAppDetecting) ndpi_free_flow_data(state(side_[i].pool));
    ::munmap(pool_, pool_bytes_);
  }
  if (side_) ::munmap(side_, side_bytes_);
  if (mod_) {
    std::lock_guard<std::mutex> lk(g_init_mu);
    ndpi_exit_detection_module(mod_);
  }
}

void AppDetect::inspect_slow(const Packet& p, const Decoded& d, FlowApp& a) {
  if (a.state == kAppSkipped) {
    AppCounters& c = counters_[NDPI_PROTOCOL_UNKNOWN];
    c.packets.inc();
    c.bytes.inc(d.frame_len);
    return;
  }
  if (a.state == kAppNone) {
    std::memset(static_cast<void*>(&a), 0, sizeof a);
    if (free_.empty()) {
      stats_.pool_exhausted.inc();
      a.state = kAppSkipped;
      a.rule_app = AppProto::kFailed;  // final: nothing will classify it
      inspect_slow(p, d, a);
      return;
    }
    a.pool = free_.back();
    free_.pop_back();
    std::memset(static_cast<void*>(state(a.pool)), 0, state_size_);
    a.state = kAppDetecting;
    stats_.flows_inspected.inc();
    stats_.pool_in_use.set(pool_cap_ - free_.size());
  }
  a.packets = static_cast<uint8_t>(a.packets + 1);
  a.bytes += d.frame_len;
  // nDPI reads from the IP header: what was captured of the datagram.
  size_t len = p.caplen > d.l3_off ? p.caplen - d.l3_off : 0;
  if (d.l3_len && len > d.l3_len) len = d.l3_len;  // Ethernet padding is not IP
  len = std::min<size_t>(len, 0xffff);
  ndpi_flow_struct* f = state(a.pool);
  ndpi_protocol r;
  {
    TallyScope scope(&stats_.heap_allocs, &stats_.heap_bytes);
    r = ndpi_detection_process_packet(mod_, f, p.data + d.l3_off, static_cast<unsigned short>(len),
                                      p.ts_ns / 1000000u);
  }
  stats_.packets_inspected.inc();
  const bool enough = a.packets >= opts_.max_packets || f->fail_with_unknown;
  if (r.app_protocol != NDPI_PROTOCOL_UNKNOWN && by_payload(static_cast<uint8_t>(f->confidence))) {
    // Named from the payload: the protocol is known from this packet on,
    // as Suricata's protocol detection is done once a parser takes the flow,
    // even though nDPI may go on reading (a certificate, the response) for
    // the rest of the label. Rules match from here; the label so far is
    // kept for alerts (label_alert).
    const size_t n = names_.size();
    a.master = r.master_protocol < n ? r.master_protocol : 0;
    a.app = r.app_protocol < n ? r.app_protocol : 0;
    a.category = static_cast<uint16_t>(r.category);
    a.confidence = static_cast<uint8_t>(f->confidence);
    a.rule_app = rule_app_of(a.master ? a.master : a.app);
  }
  if (r.app_protocol == NDPI_PROTOCOL_UNKNOWN && !enough) return;
  if (!enough) {
    // Named, but nDPI still collects metadata (a certificate, the DNS
    // answer): keep feeding it, as ndpiReader does, up to the limit.
    TallyScope scope(&stats_.heap_allocs, &stats_.heap_bytes);
    if (ndpi_extra_dissection_possible(mod_, f)) return;
  }
  if (r.app_protocol != NDPI_PROTOCOL_UNKNOWN)
    stats_.flows_detected.inc();
  else
    stats_.flows_packet_limit.inc();
  finish(a, r.app_protocol == NDPI_PROTOCOL_UNKNOWN ? nullptr : &r);
}

void AppDetect::finish(FlowApp& a, const ndpi_proto* detected) {
  ndpi_flow_struct* f = state(a.pool);
  TallyScope scope(&stats_.heap_allocs, &stats_.heap_bytes);
  ndpi_protocol r;
  // Named from the payload on an earlier packet while nDPI went on reading
  // for the rest of its label (inspect()): that name stands at the end,
  // whatever giveup() makes of the unfinished state.
  const bool named = !detected && a.state == kAppDetecting && a.rule_app != AppProto::kUnknown &&
                     a.rule_app != AppProto::kFailed;
  if (detected) {
    r = *detected;
  } else {
    uint8_t guessed = 0;
    r = ndpi_detection_giveup(mod_, f, 1, &guessed);
    a.guessed = named ? 0 : guessed;
  }
  if (named) {
    r.master_protocol = a.master;
    r.app_protocol = a.app;
    r.category = static_cast<ndpi_protocol_category_t>(a.category);
  }
  const size_t n = names_.size();
  a.master = r.master_protocol < n ? r.master_protocol : 0;
  a.app = r.app_protocol < n ? r.app_protocol : 0;
  a.category = static_cast<uint16_t>(r.category);
  if (!named) a.confidence = static_cast<uint8_t>(f->confidence);
  a.risk = f->risk;
  copy_text(a.hostname, sizeof a.hostname, f->host_server_name);
  // Rules see a protocol only when nDPI recognised it in the payload, as
  // EVE's app_proto does (label()): a guess from ports or addresses is no
  // parsed protocol, so the flow counts as failed, as in Suricata.
  const uint16_t id = a.master ? a.master : a.app;
  a.rule_app = by_payload(a.confidence) ? rule_app_of(id) : AppProto::kFailed;
  release(a);
  a.state = kAppDone;
  count_flow(a);
}

void AppDetect::count_flow(const FlowApp& a) {
  const uint16_t id = a.master ? a.master : a.app;
  AppCounters& c = counters_[id];
  c.flows.inc();
  c.packets.inc(a.packets);
  c.bytes.inc(a.bytes);
  if (id == NDPI_PROTOCOL_UNKNOWN) stats_.flows_unknown.inc();
}

void AppDetect::release(FlowApp& a) {
  // Frees what nDPI allocated inside the state (URL, server names, ...);
  // the state itself is zeroed again when it is next taken.
  ndpi_free_flow_data(state(a.pool));
  free_.push_back(a.pool);
  stats_.pool_in_use.set(pool_cap_ - free_.size());
}

void AppDetect::on_record(uint32_t flow_index, FlowRecord& r) {
  FlowApp& a = side_[flow_index];
  if (r.last_slice && a.state == kAppDetecting) {
    // The flow ends before classification did: nDPI's guess, as ndpiReader
    // gives for flows still open at the end of a capture.
    stats_.flows_ended_in_detection.inc();
    finish(a, nullptr);
  }
  label_record(flow_index, r);
}

void AppDetect::on_end(uint32_t flow_index) {
  FlowApp& a = side_[flow_index];
  if (a.state == kAppDetecting) {
    // Ended without a record (an empty last slice): no label to give,
    // but the state goes back and the flow is still counted.
    stats_.flows_ended_in_detection.inc();
    finish(a, nullptr);
  }
  a.state = kAppNone;
  a.rule_app = AppProto::kUnknown;
  a.rule_seen[0] = a.rule_seen[1] = 0;
}

void AppDetect::label(uint32_t flow_index, uint8_t ip_proto, char (&app_proto)[16], AppLabel& out,
                      bool so_far) const {
  const FlowApp& a = side_[flow_index];
  out = AppLabel{};
  app_proto[0] = 0;
  // While nDPI still reads a flow it has named, the ids are final enough
  // (the master does not change) and the host name and risks are those
  // found so far.
  const bool named = so_far && a.state == kAppDetecting && a.rule_app != AppProto::kUnknown;
  if (a.state != kAppDone && a.state != kAppSkipped && !named) return;
  if (a.state == kAppDone || named) {
    ndpi_protocol r;
    r.master_protocol = a.master;
    r.app_protocol = a.app;
    r.category = static_cast<ndpi_protocol_category_t>(a.category);
    ndpi_protocol2name(mod_, r, out.protocol, sizeof out.protocol);
    copy_text(out.category, sizeof out.category, ndpi_category_get_name(mod_, r.category));
    const ndpi_flow_struct* f = named ? state(a.pool) : nullptr;
    copy_text(out.hostname, sizeof out.hostname, f ? f->host_server_name : a.hostname);
    out.risk = f ? f->risk : a.risk;
    out.master = a.master;
    out.app = a.app;
    out.confidence = a.confidence;
    out.guessed = a.guessed != 0;
  } else {
    copy_text(out.protocol, sizeof out.protocol, protocol_name(NDPI_PROTOCOL_UNKNOWN).c_str());
    copy_text(out.category, sizeof out.category,
              ndpi_category_get_name(mod_, NDPI_PROTOCOL_CATEGORY_UNSPECIFIED));
  }
  // EVE app_proto only where Suricata logs one (TCP, UDP, SCTP), and only
  // for a protocol nDPI recognised in the payload: an Unknown flow, or one
  // only guessed from its ports or addresses, is "failed" like a flow no
  // Suricata parser took (see eve.cc); ndpi.protocol still shows the guess.
  const uint16_t id = a.master ? a.master : a.app;
  if ((a.state == kAppDone || named) && by_payload(a.confidence) && id != NDPI_PROTOCOL_UNKNOWN &&
      (ip_proto == 6 || ip_proto == 17 || ip_proto == 132))
    copy_text(app_proto, sizeof app_proto, app_proto_name(id));
}

void AppDetect::add_totals(std::vector<AppCount>& sum) const {
  if (sum.size() < names_.size()) sum.resize(names_.size());
  for (size_t i = 0; i < names_.size(); ++i) {
    sum[i].packets += counters_[i].packets.get();
    sum[i].bytes += counters_[i].bytes.get();
    sum[i].flows += counters_[i].flows.get();
  }
}

}  // namespace ws
