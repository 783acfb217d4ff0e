#include "telemetry/uring_file.h"

#include <fcntl.h>
#include <liburing.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ws {

namespace {

// One write in flight plus room for a retry; a small ring is enough.
constexpr unsigned kRingEntries = 8;

uint64_t count_lines(const char* p, size_t n) {
  uint64_t lines = 0;
  const char* end = p + n;
  while (p < end) {
    const void* nl = std::memchr(p, '\n', static_cast<size_t>(end - p));
    if (!nl) break;
    ++lines;
    p = static_cast<const char*>(nl) + 1;
  }
  return lines;
}

}  // namespace

UringFile::UringFile(std::string path, const UringFileOptions& opts)
    : path_(std::move(path)), opts_(opts) {
  if (opts_.buffers < 2) opts_.buffers = 2;
  if (opts_.buffer_size < 64) opts_.buffer_size = 64;
  buffers_.resize(opts_.buffers);
  for (unsigned i = 0; i < opts_.buffers; ++i) {
    buffers_[i].data.reset(new char[opts_.buffer_size]);
    free_.push_back(opts_.buffers - 1 - i);
  }
  queue_.reserve(opts_.buffers);
}

std::unique_ptr<UringFile> UringFile::open(const std::string& path, std::string* error,
                                           const UringFileOptions& opts) {
  std::unique_ptr<UringFile> f(new UringFile(path, opts));
  if (!f->open_fd(error)) return nullptr;
  if (!opts.force_pwrite) {
    auto* ring = new io_uring;
    int rc = io_uring_queue_init(kRingEntries, ring, 0);
    if (rc == 0) {
      f->ring_ = ring;
    } else {
      delete ring;
      f->stats_.degraded = true;
      f->last_error_ = "io_uring unavailable (" + std::string(std::strerror(-rc)) +
                       "); writing '" + path + "' with pwrite()";
    }
  } else {
    f->stats_.degraded = true;
  }
  return f;
}

UringFile::~UringFile() { close(); }

bool UringFile::open_fd(std::string* error) {
  int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, opts_.file_mode);
  if (fd < 0) {
    int err = errno;
    ++stats_.open_errors;
    last_error_ = "cannot open '" + path_ + "' for writing: " + std::strerror(err);
    if (error) *error = last_error_;
    return false;
  }
  struct stat st;
  // Append at the end; explicit offsets (not O_APPEND) keep queued writes
  // in order even if the kernel ran them concurrently.
  offset_ = (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) ? static_cast<uint64_t>(st.st_size) : 0;
  fd_ = fd;
  return true;
}

void UringFile::close_fd() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

void UringFile::set_error(const char* what, int err) {
  last_error_ = std::string(what) + " '" + path_ + "' failed: " + std::strerror(err);
}

void UringFile::lose_buffer(Buffer& b, size_t from) {
  if (b.len > from) {
    stats_.bytes_lost += b.len - from;
    stats_.lines_lost += count_lines(b.data.get() + from, b.len - from);
  }
  sync_failed_ = true;
}

UringFile::Buffer* UringFile::take_free_buffer() {
  if (free_.empty()) reap(false);
  if (free_.empty()) {
    ++stats_.buffer_waits;
    while (free_.empty()) {
      if (!in_flight_ && !queue_.empty()) start_write();
      reap(true);
      if (free_.empty() && !in_flight_ && queue_.empty()) break;  // cannot happen; no spin
    }
  }
  if (free_.empty()) return nullptr;
  current_ = static_cast<int>(free_.back());
  free_.pop_back();
  Buffer& b = buffers_[static_cast<size_t>(current_)];
  b.len = 0;
  b.done = 0;
  return &b;
}

void UringFile::append(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  if (fd_ < 0 || buffers_.empty()) {
    // Closed (or a reopen failed): drop and count, keep running.
    stats_.bytes_lost += n;
    stats_.lines_lost += count_lines(p, n);
    sync_failed_ = true;
    return;
  }
  while (n > 0) {
    Buffer* b = current_ >= 0 ? &buffers_[static_cast<size_t>(current_)] : take_free_buffer();
    if (!b) {
      stats_.bytes_lost += n;
      stats_.lines_lost += count_lines(p, n);
      return;
    }
    size_t room = opts_.buffer_size - b->len;
    size_t take = std::min(room, n);
    std::memcpy(b->data.get() + b->len, p, take);
    b->len += take;
    p += take;
    n -= take;
    if (b->len == opts_.buffer_size) {
      queue_current();
      start_write();
    }
  }
  if (in_flight_) reap(false);
}

void UringFile::queue_current() {
  if (current_ < 0) return;
  Buffer& b = buffers_[static_cast<size_t>(current_)];
  if (b.len == 0) return;  // keep filling the same empty buffer
  queue_.push_back(static_cast<unsigned>(current_));
  current_ = -1;
}

void UringFile::start_write() {
  while (!in_flight_ && !queue_.empty()) {
    Buffer& b = buffers_[queue_.front()];
    if (fd_ < 0) {
      lose_buffer(b, b.done);
      on_complete(0);  // releases the buffer; 0 with fd closed is not counted as an error
      continue;
    }
    const char* p = b.data.get() + b.done;
    size_t len = b.len - b.done;
    if (ring_) {
      io_uring_sqe* sqe = io_uring_get_sqe(ring_);
      if (sqe) {
        io_uring_prep_write(sqe, fd_, p, static_cast<unsigned>(len), offset_);
        int rc = io_uring_submit(ring_);
        if (rc >= 1) {
          in_flight_ = true;
          return;
        }
        // The submission itself failed (e.g. the ring is unusable): write
        // this buffer synchronously instead and remember why.
        set_error("io_uring submit for", rc < 0 ? -rc : EIO);
      }
    }
    ssize_t r = ::pwrite(fd_, p, len, static_cast<off_t>(offset_));
    on_complete(r >= 0 ? static_cast<int>(r) : -errno);
  }
}

void UringFile::on_complete(int res) {
  if (queue_.empty()) return;
  unsigned idx = queue_.front();
  Buffer& b = buffers_[idx];
  bool release = false;
  if (fd_ < 0) {
    release = true;  // already counted by lose_buffer
  } else if (res == -EINTR || res == -EAGAIN) {
    return;  // resubmitted unchanged by start_write
  } else if (res < 0 || (res == 0 && b.len > b.done)) {
    ++stats_.write_errors;
    set_error("write to", res < 0 ? -res : ENOSPC);
    lose_buffer(b, b.done);
    release = true;  // offset_ stays: the next buffer fills the same range
  } else {
    ++stats_.writes;
    stats_.bytes_written += static_cast<uint64_t>(res);
    offset_ += static_cast<uint64_t>(res);
    b.done += static_cast<size_t>(res);
    if (b.done < b.len) {
      ++stats_.short_writes;
    } else {
      release = true;
    }
  }
  if (release) {
    b.len = 0;
    b.done = 0;
    queue_.erase(queue_.begin());
    free_.push_back(idx);
  }
}

void UringFile::reap(bool wait_one) {
  if (!ring_) return;
  bool waited = false;
  while (in_flight_) {
    io_uring_cqe* cqe = nullptr;
    int rc;
    if (wait_one && !waited) {
      rc = io_uring_wait_cqe(ring_, &cqe);
      if (rc == -EINTR) continue;
      waited = true;
    } else {
      rc = io_uring_peek_cqe(ring_, &cqe);
    }
    if (rc < 0 && waited && rc != -EAGAIN) {
      // The ring itself failed while a write was in flight; its outcome is
      // unknown, so count the buffer as lost rather than wait forever.
      in_flight_ = false;
      on_complete(rc);
      start_write();
      continue;
    }
    if (rc < 0 || !cqe) break;
    int res = cqe->res;
    io_uring_cqe_seen(ring_, cqe);
    in_flight_ = false;
    on_complete(res);
    start_write();
  }
}

void UringFile::drain() {
  queue_current();
  start_write();
  while (in_flight_) reap(true);
}

void UringFile::flush() {
  if (fd_ < 0 && !buffers_.empty()) {
    std::string err;
    if (open_fd(&err)) ++stats_.reopens;
  }
  queue_current();
  start_write();
  reap(false);
}

bool UringFile::sync() {
  drain();
  if (fd_ >= 0 && ::fsync(fd_) != 0) {
    int err = errno;
    // Character devices and pipes cannot be synced; that is not data loss.
    if (err != EINVAL && err != EROFS) {
      ++stats_.write_errors;
      set_error("fsync of", err);
      sync_failed_ = true;
    }
  }
  bool ok = !sync_failed_;
  sync_failed_ = false;
  return ok;
}

bool UringFile::reopen() {
  if (buffers_.empty()) return false;
  drain();
  if (fd_ >= 0) ::fsync(fd_);
  close_fd();
  std::string err;
  if (!open_fd(&err)) return false;
  ++stats_.reopens;
  return true;
}

void UringFile::close() {
  if (buffers_.empty()) return;
  drain();
  if (fd_ >= 0) {
    if (::fsync(fd_) != 0 && errno != EINVAL && errno != EROFS) set_error("fsync of", errno);
    close_fd();
  }
  if (ring_) {
    io_uring_queue_exit(ring_);
    delete ring_;
    ring_ = nullptr;
  }
  buffers_.clear();
  free_.clear();
  queue_.clear();
  current_ = -1;
}

}  // namespace ws
