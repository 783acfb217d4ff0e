#include "telemetry/flow_transport.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <system_error>
#include <vector>

namespace ws {

namespace {

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

void sleep_ns(uint64_t ns) {
  timespec ts{time_t(ns / 1000000000ull), long(ns % 1000000000ull)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// Milliseconds left until deadline, at least 0, for poll().
int ms_left(uint64_t deadline_ns) {
  const uint64_t now = monotonic_ns();
  if (now >= deadline_ns) return 0;
  return int((deadline_ns - now + 999999) / 1000000);
}

struct Resolved {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = 0;
};

bool resolve(const ExportUrl& url, int socktype, Resolved* out, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(url.port);
  const int rc = getaddrinfo(url.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    if (error)
      *error = "export to " + url.str() + ": cannot resolve host '" + url.host + "': " + gai_strerror(rc);
    return false;
  }
  std::memcpy(&out->addr, res->ai_addr, res->ai_addrlen);
  out->len = res->ai_addrlen;
  out->family = res->ai_family;
  freeaddrinfo(res);
  return true;
}

class UdpTransport final : public FlowTransport {
 public:
  UdpTransport(int fd, const FlowTransportOptions& o) : fd_(fd), pacer_(o.max_rate, o.burst) {}
  ~UdpTransport() override { close(fd_); }

  bool prepare() override { return false; }

  bool send(std::span<const uint8_t> msg) override {
    if (pacer_.enabled()) {
      const uint64_t wait = pacer_.wait_ns(monotonic_ns());
      if (wait > 0) sleep_ns(wait);
      pacer_.sent(monotonic_ns());
    }
    for (int attempt = 0; attempt < 2; ++attempt) {
      const ssize_t n = ::send(fd_, msg.data(), msg.size(), MSG_NOSIGNAL);
      if (n == ssize_t(msg.size())) return true;
      // A connected UDP socket reports an earlier ICMP port-unreachable on
      // the next send, which then is not sent; that message deserves one
      // more try since the collector may be back.
      if (n < 0 && errno == ECONNREFUSED) continue;
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
    return false;
  }

  bool up() const override { return true; }
  bool reliable() const override { return false; }
  uint64_t reconnects() const override { return 0; }

 private:
  int fd_;
  Pacer pacer_;
};

class TcpTransport final : public FlowTransport {
 public:
  TcpTransport(const Resolved& to, const FlowTransportOptions& o)
      : to_(to),
        opts_(o),
        backoff_(uint64_t(o.backoff_min_ms) * 1000000, uint64_t(o.backoff_max_ms) * 1000000) {}
  ~TcpTransport() override { drop(); }

  bool prepare() override {
    if (fd_ >= 0 && peer_closed()) {
      drop();
      backoff_.failed(monotonic_ns());
    }
    if (fd_ >= 0) return false;
    const uint64_t now = monotonic_ns();
    if (!backoff_.may_try(now)) return false;
    if (!connect_once()) {
      backoff_.failed(monotonic_ns());
      return false;
    }
    backoff_.succeeded();
    if (ever_connected_) ++reconnects_;
    ever_connected_ = true;
    return true;
  }

  bool send(std::span<const uint8_t> msg) override {
    if (fd_ < 0) return false;
    const uint64_t deadline = monotonic_ns() + uint64_t(opts_.send_timeout_ms) * 1000000;
    size_t off = 0;
    while (off < msg.size()) {
      const ssize_t n = ::send(fd_, msg.data() + off, msg.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        off += size_t(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{fd_, POLLOUT, 0};
        const int left = ms_left(deadline);
        if (left > 0 && poll(&p, 1, left) > 0 && (p.revents & POLLOUT)) continue;
      }
      // Timed out or failed. Part of a message may be on the wire, which
      // leaves the stream unparseable: end the session and start afresh.
      drop();
      backoff_.failed(monotonic_ns());
      return false;
    }
    return true;
  }

  bool up() const override { return fd_ >= 0; }
  bool reliable() const override { return true; }
  uint64_t reconnects() const override { return reconnects_; }

 private:
  bool connect_once() {
    const int fd = socket(to_.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, reinterpret_cast<const sockaddr*>(&to_.addr), to_.len) != 0) {
      if (errno != EINPROGRESS) {
        close(fd);
        return false;
      }
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, int(opts_.connect_timeout_ms)) <= 0) {
        close(fd);
        return false;
      }
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        close(fd);
        return false;
      }
    }
    fd_ = fd;
    return true;
  }

  // A collector never writes to us, so a readable socket means it closed
  // (or reset) the connection.
  bool peer_closed() const {
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    if (poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return true;
    uint8_t b;
    const ssize_t n = recv(fd_, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }

  void drop() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  Resolved to_;
  FlowTransportOptions opts_;
  Backoff backoff_;
  int fd_ = -1;
  bool ever_connected_ = false;
  uint64_t reconnects_ = 0;
};

}  // namespace

Pacer::Pacer(uint32_t rate_per_s, uint32_t burst) {
  if (rate_per_s == 0) return;
  interval_ns_ = 1000000000ull / rate_per_s;
  if (interval_ns_ == 0) interval_ns_ = 1;
  tolerance_ns_ = uint64_t(burst > 0 ? burst - 1 : 0) * interval_ns_;
}

uint64_t Pacer::wait_ns(uint64_t now_ns) const {
  if (interval_ns_ == 0) return 0;
  const uint64_t allowed_at = tat_ns_ > tolerance_ns_ ? tat_ns_ - tolerance_ns_ : 0;
  return allowed_at > now_ns ? allowed_at - now_ns : 0;
}

void Pacer::sent(uint64_t now_ns) {
  if (interval_ns_ == 0) return;
  tat_ns_ = (tat_ns_ > now_ns ? tat_ns_ : now_ns) + interval_ns_;
}

void Backoff::failed(uint64_t now_ns) {
  next_ns_ = now_ns + delay_ns_;
  delay_ns_ = delay_ns_ * 2 > max_ns_ ? max_ns_ : delay_ns_ * 2;
}

std::unique_ptr<FlowTransport> make_flow_transport(const ExportUrl& url, const FlowTransportOptions& opts,
                                                   std::string* error) {
  const bool tcp = url.protocol == ExportProtocol::kTcp;
  Resolved to;
  if (!resolve(url, tcp ? SOCK_STREAM : SOCK_DGRAM, &to, error)) return nullptr;
  if (tcp) return std::make_unique<TcpTransport>(to, opts);

  const int fd = socket(to.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if (error) *error = "export to " + url.str() + ": socket: " + std::generic_category().message(errno);
    return nullptr;
  }
  // A full local send buffer blocks send(); bound that wait like TCP's.
  timeval tv{time_t(opts.send_timeout_ms / 1000), suseconds_t((opts.send_timeout_ms % 1000) * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&to.addr), to.len) != 0) {
    if (error) *error = "export to " + url.str() + ": connect: " + std::generic_category().message(errno);
    close(fd);
    return nullptr;
  }
  return std::make_unique<UdpTransport>(fd, opts);
}

}  // namespace ws
