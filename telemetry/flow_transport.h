// FlowTransport: how an IPFIX or NetFlow v9 message reaches its collector.
// The encoders build whole messages into a byte buffer; a transport only
// moves those bytes, so encoding stays a pure, testable function of the
// records and the transport stays ignorant of message contents.
//
// UDP sends are paced (a token bucket over a monotonic clock) because a burst
// of flow expiries can produce thousands of datagrams in a millisecond, more
// than a collector's socket buffer holds; loss on UDP is silent, so the only
// cure is not to overrun it. TCP connects lazily and reconnects with
// exponential backoff; no call waits longer than a short bound, so a dead
// collector costs the export thread at most a few hundred milliseconds per
// attempt and is otherwise skipped (the caller counts the lost records).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "telemetry/export_url.h"

namespace ws {

struct FlowTransportOptions {
  // UDP datagrams per second; 0 turns pacing off. 20k × 1400 bytes is about
  // 220 Mbit/s, well above what one agent's flow export needs, yet spread
  // out enough that a default 208 KiB collector socket buffer keeps up.
  uint32_t max_rate = 20000;
  // Datagrams that may go back to back before pacing starts to wait.
  uint32_t burst = 32;
  uint32_t connect_timeout_ms = 100;  // TCP: longest wait of one connect attempt
  uint32_t send_timeout_ms = 100;     // TCP: longest wait for buffer space per message
  uint32_t backoff_min_ms = 100;      // TCP: retry delay after the first failure,
  uint32_t backoff_max_ms = 30000;    //   doubled per failure up to this
};

// Token-bucket pacing as a pure function of time (GCRA): the caller asks
// how long to wait before sending, waits, then records the send.
class Pacer {
 public:
  Pacer(uint32_t rate_per_s, uint32_t burst);
  // Nanoseconds to wait before a message may be sent at now_ns (0 = now).
  uint64_t wait_ns(uint64_t now_ns) const;
  // Records a message sent at now_ns.
  void sent(uint64_t now_ns);
  bool enabled() const { return interval_ns_ != 0; }

 private:
  uint64_t interval_ns_ = 0;   // 1e9 / rate
  uint64_t tolerance_ns_ = 0;  // (burst - 1) × interval
  uint64_t tat_ns_ = 0;        // theoretical arrival time of the next message
};

// Exponential reconnect backoff as a pure function of time.
class Backoff {
 public:
  Backoff(uint64_t min_ns, uint64_t max_ns) : min_ns_(min_ns), max_ns_(max_ns), delay_ns_(min_ns) {}
  bool may_try(uint64_t now_ns) const { return now_ns >= next_ns_; }
  void failed(uint64_t now_ns);
  void succeeded() {
    delay_ns_ = min_ns_;
    next_ns_ = 0;
  }
  uint64_t next_try_ns() const { return next_ns_; }

 private:
  uint64_t min_ns_;
  uint64_t max_ns_;
  uint64_t delay_ns_;
  uint64_t next_ns_ = 0;
};

class FlowTransport {
 public:
  virtual ~FlowTransport() = default;
  // Readies the transport for the next message; a stream transport that is
  // down (re)connects here once its backoff has elapsed. Returns true when a
  // new transport session has begun: the caller must send templates first
  // and restart its sequence numbers.
  virtual bool prepare() = 0;
  // Sends one whole message. False if it was not (fully) sent.
  virtual bool send(std::span<const uint8_t> message) = 0;
  virtual bool up() const = 0;
  // True for TCP: templates are sent once per session, never refreshed.
  virtual bool reliable() const = 0;
  virtual uint64_t reconnects() const = 0;
};

// Resolves url.host (a literal or a name) and opens the socket. Errors name
// the url and the failing step.
std::unique_ptr<FlowTransport> make_flow_transport(const ExportUrl& url, const FlowTransportOptions& opts,
                                                   std::string* error);

}  // namespace ws
