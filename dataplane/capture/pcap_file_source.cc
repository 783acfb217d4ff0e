#include "dataplane/capture/pcap_file_source.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "dataplane/capture/link_type.h"

namespace ws {
namespace {

void add(std::atomic<uint64_t>& c, uint64_t v) {
  // Single writer: a plain load/store pair is enough and avoids a locked add.
  if (v) c.store(c.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
}

struct SteadyClock final : ReplayClock {
  uint64_t now_ns() override {
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count());
  }
  void sleep_ns(uint64_t ns) override { std::this_thread::sleep_for(std::chrono::nanoseconds(ns)); }
};

}  // namespace

void PcapFileSource::set_replay_speed(double speed, ReplayClock* clock) {
  speed_ = speed > 0 ? speed : 0;
  if (clock) {
    clock_ = clock;
  } else {
    static SteadyClock steady;
    clock_ = &steady;
  }
}

bool PcapFileSource::due(uint64_t ts, uint64_t* wait_ns) {
  const uint64_t now = clock_->now_ns();
  if (!pace_started_) {
    pace_started_ = true;
    pace_wall0_ = now;
    pace_ts0_ = ts;
  }
  // Out-of-order timestamps (they happen in merged captures) go at once.
  const uint64_t offset = ts > pace_ts0_ ? uint64_t(double(ts - pace_ts0_) / speed_) : 0;
  const uint64_t at = pace_wall0_ + offset;
  if (now >= at) return true;
  *wait_ns = at - now;
  return false;
}

std::unique_ptr<PcapFileSource> PcapFileSource::open(const std::string& path, bool loop,
                                                     std::string* error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = path + ": " + std::strerror(errno);
    return nullptr;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    *error = path + ": " + std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  if (!S_ISREG(st.st_mode)) {
    *error = path + ": not a regular file (capture files are mapped into memory)";
    ::close(fd);
    return nullptr;
  }
  if (st.st_size == 0) {
    *error = path + ": empty file, not a capture file";
    ::close(fd);
    return nullptr;
  }
  const size_t size = size_t(st.st_size);
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);  // the mapping keeps the file
  if (map == MAP_FAILED) {
    *error = path + ": mmap: " + std::strerror(map_errno);
    return nullptr;
  }
  madvise(map, size, MADV_SEQUENTIAL);
  const auto* base = static_cast<const uint8_t*>(map);

  // Read up to the first packet now, so that a file that is not a capture
  // at all fails here rather than on the first burst.
  PcapParser probe;
  PcapRecord rec;
  size_t used = 0;
  const ParseStatus ps = probe.parse({base, size}, &rec, &used);
  if (!probe.header_seen()) {
    if (ps == ParseStatus::kNeedMore) probe.finish(size - used);
    *error = path + ": " + probe.error();
    munmap(map, size);
    return nullptr;
  }
  return std::unique_ptr<PcapFileSource>(new PcapFileSource(path, base, size, loop));
}

PcapFileSource::PcapFileSource(std::string path, const uint8_t* base, size_t size, bool loop)
    : name_(std::move(path)), base_(base), size_(size), loop_(loop) {}

PcapFileSource::~PcapFileSource() {
  munmap(const_cast<uint8_t*>(base_), size_);
}

void PcapFileSource::damaged() {
  // With loop the same damage comes back every pass; count the file once.
  if (damage_counted_) return;
  damage_counted_ = true;
  add(truncated_, 1);
  std::lock_guard<std::mutex> lock(error_mu_);
  error_ = name_ + ": " + parser_.error();
}

bool PcapFileSource::next_pass() {
  passes_.store(passes_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  // A pass without a single deliverable packet would spin forever.
  if (!loop_ || pass_packets_ == 0 || stop_.load(std::memory_order_relaxed)) return false;
  ts_shift_ += max_ts_ - first_ts_ + 1000000000u;
  parser_.reset();
  pos_ = 0;
  prefetched_ = 0;
  pass_packets_ = 0;
  return true;
}

int PcapFileSource::rx_burst(Packet* out, int max) {
  if (done_ || stop_.load(std::memory_order_relaxed)) return kEof;
  int n = 0;
  uint64_t bytes = 0, unsupported = 0;
  // Prefetch the mapping a few KiB ahead of the parser: each record is a
  // first touch, and the hardware prefetcher stops at 4 KiB page edges.
  constexpr size_t kAhead = 4096;
  while (n < max) {
    PcapRecord rec;
    if (have_pending_) {
      rec = pending_;
    } else {
      size_t used = 0;
      const size_t want = std::min(size_, pos_ + kAhead);
      for (; prefetched_ < want; prefetched_ += 64) __builtin_prefetch(base_ + prefetched_);
      const ParseStatus st = parser_.parse({base_ + pos_, size_ - pos_}, &rec, &used);
      pos_ += used;
      if (st != ParseStatus::kRecord) {
        if (st == ParseStatus::kError || !parser_.finish(size_ - pos_)) damaged();
        if (!next_pass()) {
          done_ = true;
          break;
        }
        continue;
      }
      if (!link_type_supported(rec.linktype)) {
        ++unsupported;
        ++record_no_;
        continue;
      }
    }
    if (speed_ > 0) {
      uint64_t wait = 0;
      if (!due(rec.ts_ns + ts_shift_, &wait)) {
        // The record's data points into the mapping, so it keeps.
        pending_ = rec;
        have_pending_ = true;
        if (n == 0) clock_->sleep_ns(std::min(wait, kMaxReplayNapNs));
        break;
      }
      have_pending_ = false;
    }
    if (!have_first_) {
      have_first_ = true;
      first_ts_ = max_ts_ = rec.ts_ns;
    }
    max_ts_ = std::max(max_ts_, rec.ts_ns);
    ++pass_packets_;
    Packet& p = out[n++];
    p = Packet{};
    p.data = rec.data;
    p.caplen = rec.caplen;
    p.wirelen = rec.wirelen;
    p.ts_ns = rec.ts_ns + ts_shift_;
    p.ifindex = uint16_t(rec.interface_id);
    p.link = link_from_dlt(rec.linktype);
    p.file_index = ++record_no_;  // across passes and files, as Suricata's pcap_cnt
    p.flags = kPktFileIndex;
    bytes += rec.wirelen;
  }
  add(packets_, uint64_t(n));
  add(bytes_, bytes);
  add(unsupported_, unsupported);
  if (n == 0 && done_) return kEof;
  return n;
}

SourceStats PcapFileSource::stats() const {
  SourceStats s;
  s.packets = packets_.load(std::memory_order_relaxed);
  s.bytes = bytes_.load(std::memory_order_relaxed);
  s.truncated = truncated_.load(std::memory_order_relaxed);
  s.unsupported_link = unsupported_.load(std::memory_order_relaxed);
  return s;
}

std::string PcapFileSource::error() const {
  std::lock_guard<std::mutex> lock(error_mu_);
  return error_;
}

}  // namespace ws
