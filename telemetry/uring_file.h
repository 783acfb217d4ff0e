// UringFile: an append-only log file written through io_uring, for outputs
// that produce a steady stream of lines (EVE JSON) on the export thread.
//
// The caller appends bytes into one of a few large buffers (default 4 ×
// 256 KiB). A full buffer is queued for writing and appending continues in
// the next free one, so formatting overlaps with the kernel copying earlier
// buffers. Exactly one write is in flight at a time, at an explicit file
// offset: the file's content is then always the buffers in order, with no
// hole even when a write fails (the failed bytes are dropped and the next
// write goes to the same offset). A single 256 KiB buffered write takes
// tens of microseconds, far more than one output line per record needs.
//
// Completions are reaped without blocking on every append/flush; the only
// waits are when every buffer is full (the output is slower than the input,
// and waiting is the back-pressure) and in sync()/reopen()/close(). A short
// write is resubmitted for the remainder. A failed write is counted
// (write_errors, bytes_lost, lines_lost) and described in last_error(); it is
// never fatal. Where io_uring is unavailable (old kernel, seccomp, the
// io_uring_disabled sysctl) the file falls back to plain pwrite() and says so
// in degraded() and last_error().
//
// reopen() drains everything, closes the descriptor and opens the path again,
// which is what logrotate's "move then signal" needs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct io_uring;

namespace ws {

struct UringFileOptions {
  size_t buffer_size = 256 * 1024;
  unsigned buffers = 4;
  bool force_pwrite = false;  // skip io_uring (tests, or a known-hostile sandbox)
  unsigned file_mode = 0640;
};

struct UringFileStats {
  uint64_t bytes_written = 0;  // bytes the kernel accepted
  uint64_t writes = 0;         // write operations completed (incl. resubmitted remainders)
  uint64_t short_writes = 0;   // completions that wrote less than asked
  uint64_t write_errors = 0;   // failed write operations
  uint64_t bytes_lost = 0;     // bytes dropped because their write failed or the file was closed
  uint64_t lines_lost = 0;     // newline-terminated lines among them
  uint64_t buffer_waits = 0;   // appends that had to wait for a free buffer
  uint64_t reopens = 0;
  uint64_t open_errors = 0;    // failed (re)opens
  bool degraded = false;       // io_uring unavailable: writing with pwrite()
};

class UringFile {
 public:
  // Opens (creating if needed) path for appending. Returns nullptr and a
  // message naming the path and the reason on failure.
  static std::unique_ptr<UringFile> open(const std::string& path, std::string* error,
                                         const UringFileOptions& opts = {});
  ~UringFile();
  UringFile(const UringFile&) = delete;
  UringFile& operator=(const UringFile&) = delete;

  // Copies n bytes into the buffers, queueing each buffer as it fills.
  // Data larger than a buffer is split across buffers. Never throws.
  void append(const void* data, size_t n);

  // Queues the partly filled buffer and reaps finished writes, waiting for
  // nothing. Call periodically so that a quiet output still reaches the file.
  void flush();

  // Writes everything appended so far and fsyncs. Returns false if any data
  // could not be written since the last sync.
  bool sync();

  // Drains, closes and opens the path again (logrotate). On failure the data
  // appended until the next successful reopen is dropped and counted; each
  // flush() retries the open.
  bool reopen();

  // Drains, fsyncs and closes. Idempotent; the destructor calls it.
  void close();

  bool is_open() const { return fd_ >= 0; }
  bool degraded() const { return stats_.degraded; }
  const UringFileStats& stats() const { return stats_; }
  // The last error or degradation notice; empty if none.
  const std::string& last_error() const { return last_error_; }
  const std::string& path() const { return path_; }

 private:
  struct Buffer {
    std::unique_ptr<char[]> data;
    size_t len = 0;       // bytes filled
    size_t done = 0;      // bytes written so far (while queued/in flight)
  };

  UringFile(std::string path, const UringFileOptions& opts);
  bool open_fd(std::string* error);
  void close_fd();
  // Moves the current buffer to the write queue if it holds data.
  void queue_current();
  // Starts the next write if none is in flight.
  void start_write();
  // Handles one finished write of `res` bytes (or -errno).
  void on_complete(int res);
  // Handles every finished write; with wait_one, blocks until at least one
  // finishes if a write is in flight.
  void reap(bool wait_one);
  void drain();
  void lose_buffer(Buffer& b, size_t from);
  void set_error(const char* what, int err);
  Buffer* take_free_buffer();

  std::string path_;
  UringFileOptions opts_;
  int fd_ = -1;
  uint64_t offset_ = 0;  // where the next write goes
  io_uring* ring_ = nullptr;
  bool in_flight_ = false;
  bool sync_failed_ = false;

  std::vector<Buffer> buffers_;
  std::vector<unsigned> free_;      // indices of empty buffers
  std::vector<unsigned> queue_;     // indices waiting to be written, FIFO (front = in flight)
  int current_ = -1;                // buffer being filled

  UringFileStats stats_;
  std::string last_error_;
};

}  // namespace ws
