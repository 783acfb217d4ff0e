#include "dataplane/capture/pcap_live_source.h"

#include <pcap/pcap.h>
#include <poll.h>
#include <time.h>

#include <algorithm>

#include "dataplane/capture/link_type.h"

namespace ws {
namespace {

// pcap_stats() is a syscall; once a second is plenty for counters that a
// scrape reads every few seconds.
constexpr uint64_t kStatsIntervalNs = 1000000000;

uint64_t coarse_now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

std::string activate_error(pcap_t* h, int rc) {
  std::string detail = pcap_geterr(h);
  std::string what;
  switch (rc) {
    case PCAP_ERROR_NO_SUCH_DEVICE: what = "no such interface"; break;
    case PCAP_ERROR_PERM_DENIED: what = "permission denied (needs root or CAP_NET_RAW)"; break;
    case PCAP_ERROR_IFACE_NOT_UP: what = "interface is down"; break;
    default: what = pcap_statustostr(rc); break;
  }
  if (!detail.empty()) what += " (" + detail + ")";
  return what;
}

}  // namespace

std::unique_ptr<PcapLiveSource> PcapLiveSource::open(const Options& opts, std::string* error) {
  const std::string& ifc = opts.iface;
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* h = pcap_create(ifc.c_str(), errbuf);
  if (!h) {
    *error = ifc + ": " + errbuf;
    return nullptr;
  }
  auto fail = [&](std::string msg) {
    *error = ifc + ": " + msg;
    pcap_close(h);
    return nullptr;
  };
  pcap_set_snaplen(h, opts.snaplen);
  pcap_set_promisc(h, opts.promisc ? 1 : 0);
  pcap_set_timeout(h, kReadTimeoutMs);
  pcap_set_immediate_mode(h, 0);
  if (opts.buffer_mb > 0) pcap_set_buffer_size(h, opts.buffer_mb << 20);
  // Not every platform has nanosecond stamps; fall back to microseconds.
  pcap_set_tstamp_precision(h, PCAP_TSTAMP_PRECISION_NANO);
  const int rc = pcap_activate(h);
  if (rc < 0) return fail(activate_error(h, rc));
  const int dlt = pcap_datalink(h);
  if (!link_type_supported(uint32_t(dlt))) {
    const char* dname = pcap_datalink_val_to_name(dlt);
    return fail("link type " + std::to_string(dlt) + " (" + (dname ? dname : "unknown") +
                ") is not decoded by wirescope");
  }
  if (!opts.bpf.empty()) {
    bpf_program prog;
    if (pcap_compile(h, &prog, opts.bpf.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0)
      return fail("filter \"" + opts.bpf + "\": " + pcap_geterr(h));
    const int src = pcap_setfilter(h, &prog);
    pcap_freecode(&prog);
    if (src != 0) return fail(std::string("setting filter: ") + pcap_geterr(h));
  }
  if (pcap_setnonblock(h, 1, errbuf) != 0) return fail(std::string("nonblocking mode: ") + errbuf);
  const int fd = pcap_get_selectable_fd(h);
  if (fd < 0) return fail("libpcap gives no selectable descriptor for this interface");
  const bool nanos = pcap_get_tstamp_precision(h) == PCAP_TSTAMP_PRECISION_NANO;
  return std::unique_ptr<PcapLiveSource>(new PcapLiveSource(
      h, "pcap:" + ifc, fd, uint32_t(pcap_snapshot(h)), link_from_dlt(uint32_t(dlt)), nanos));
}

PcapLiveSource::PcapLiveSource(pcap* handle, std::string name, int fd, uint32_t snaplen,
                               LinkType link, bool nanos)
    : handle_(handle),
      name_(std::move(name)),
      fd_(fd),
      slot_((std::max<uint32_t>(snaplen, 64) + 63) & ~63u),
      link_(link),
      nanos_(nanos) {}

PcapLiveSource::~PcapLiveSource() { pcap_close(handle_); }

void PcapLiveSource::on_packet(unsigned char* user, const pcap_pkthdr* h, const unsigned char* bytes) {
  auto* self = reinterpret_cast<PcapLiveSource*>(user);
  // pcap_dispatch() was asked for at most as many frames as there are
  // slots, so out_n_ stays in range.
  uint8_t* slot = self->burst_buf_.data() + size_t(self->out_n_) * self->slot_;
  const uint32_t caplen = std::min(h->caplen, self->slot_);
  std::copy(bytes, bytes + caplen, slot);
  Packet& p = self->out_[self->out_n_++];
  p = Packet{};
  p.data = slot;
  p.caplen = caplen;
  p.wirelen = std::max(h->len, caplen);
  p.ts_ns = uint64_t(h->ts.tv_sec) * 1000000000u +
            uint64_t(h->ts.tv_usec) * (self->nanos_ ? 1u : 1000u);
  p.link = self->link_;
  self->bytes_in_burst_ += p.wirelen;
}

void PcapLiveSource::refresh_stats(uint64_t now_ns) {
  next_stats_ns_ = now_ns + kStatsIntervalNs;
  pcap_stat ps;
  // libpcap keeps these cumulative on every platform we run on.
  if (pcap_stats(handle_, &ps) != 0) return;
  kernel_drops_.store(ps.ps_drop, std::memory_order_relaxed);
  if_drops_.store(ps.ps_ifdrop, std::memory_order_relaxed);
}

void PcapLiveSource::set_error(std::string e) {
  std::lock_guard<std::mutex> lock(error_mu_);
  error_ = std::move(e);
}

int PcapLiveSource::rx_burst(Packet* out, int max) {
  if (failed_ || stop_.load(std::memory_order_relaxed)) {
    refresh_stats(coarse_now_ns());
    return kEof;
  }
  if (max <= 0) return 0;
  const size_t need = size_t(max) * slot_;
  if (burst_buf_.size() < need) burst_buf_.resize(need);  // once, at the first burst
  out_ = out;
  out_n_ = 0;
  bytes_in_burst_ = 0;
  int rc = pcap_dispatch(handle_, max, &PcapLiveSource::on_packet, reinterpret_cast<u_char*>(this));
  if (rc == 0 && out_n_ == 0) {
    pollfd pfd{fd_, POLLIN, 0};
    poll(&pfd, 1, kPollMs);
    if (stop_.load(std::memory_order_relaxed)) return kEof;
    rc = pcap_dispatch(handle_, max, &PcapLiveSource::on_packet, reinterpret_cast<u_char*>(this));
  }
  if (rc == PCAP_ERROR) {
    // E.g. the interface went away; nothing more will come from this handle.
    set_error(name_ + ": " + pcap_geterr(handle_));
    failed_ = true;
  }
  const uint64_t now = coarse_now_ns();
  if (out_n_ == 0 || now >= next_stats_ns_) refresh_stats(now);
  packets_.store(packets_.load(std::memory_order_relaxed) + uint64_t(out_n_), std::memory_order_relaxed);
  bytes_.store(bytes_.load(std::memory_order_relaxed) + bytes_in_burst_, std::memory_order_relaxed);
  if (out_n_ == 0 && failed_) return kEof;
  return out_n_;
}

SourceStats PcapLiveSource::stats() const {
  SourceStats s;
  s.packets = packets_.load(std::memory_order_relaxed);
  s.bytes = bytes_.load(std::memory_order_relaxed);
  s.kernel_drops = kernel_drops_.load(std::memory_order_relaxed);
  s.if_drops = if_drops_.load(std::memory_order_relaxed);
  return s;
}

std::string PcapLiveSource::error() const {
  std::lock_guard<std::mutex> lock(error_mu_);
  return error_;
}

}  // namespace ws
