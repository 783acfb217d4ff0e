// Helpers for the flow-export integration tests: synthetic flow records,
// a loopback UDP sink, a pcap writer for captured export datagrams, and
// running external programs (nfcapd, nfdump, tshark).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "telemetry/flow_record.h"

namespace ws::testing {

extern "C" char** environ;

inline bool have_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  p += ":/usr/sbin:/sbin";
  size_t at = 0;
  while (at <= p.size()) {
    const size_t end = p.find(':', at);
    const std::string dir = p.substr(at, end == std::string::npos ? std::string::npos : end - at);
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) return true;
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return false;
}

// Runs a shell command and returns its stdout; *status gets the exit code.
inline std::string run(const std::string& cmd, int* status = nullptr) {
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const int rc = pclose(f);
  if (status) *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/ws-export-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// A background program, stopped with SIGTERM (SIGKILL if it lingers).
struct Child {
  pid_t pid = -1;
  explicit Child(const std::vector<std::string>& argv, const std::string& log_path) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  // Returns the exit status, or -1.
  int stop() {
    if (pid < 0) return -1;
    kill(pid, SIGTERM);
    int st = 0;
    for (int i = 0; i < 200; ++i) {  // up to 10 s
      if (waitpid(pid, &st, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
      }
      usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    pid = -1;
    return -1;
  }
  ~Child() { stop(); }
};

// A free UDP port on 127.0.0.1 (bound, read, released).
inline uint16_t free_udp_port() {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// True once some process has bound 127.0.0.1:port (our bind then fails).
inline bool udp_port_taken(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool taken = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0;
  close(fd);
  return taken;
}

// Bytes waiting in the receive queue of the UDP socket bound to port, from
// /proc/net/udp; -1 if there is no such socket.
inline long udp_rx_queue(uint16_t port) {
  std::ifstream f("/proc/net/udp");
  std::string line;
  std::getline(f, line);
  char want[8];
  std::snprintf(want, sizeof want, ":%04X", port);
  while (std::getline(f, line)) {
    // sl local_address rem_address st tx_queue:rx_queue ...
    char local[64], remote[64], st[8], queues[64];
    if (std::sscanf(line.c_str(), "%*s %63s %63s %7s %63s", local, remote, st, queues) != 4) continue;
    if (std::string(local).find(want) == std::string::npos) continue;
    const char* colon = std::strchr(queues, ':');
    return colon ? std::strtol(colon + 1, nullptr, 16) : -1;
  }
  return -1;
}

struct UdpSink {
  int fd = -1;
  uint16_t port = 0;
  UdpSink() {
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    const int buf = 8 << 20;
    // Beyond net.core.rmem_max when allowed (root), else up to it.
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) != 0) {
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~UdpSink() { close(fd); }
  std::vector<std::vector<uint8_t>> drain() {
    std::vector<std::vector<uint8_t>> out;
    std::vector<uint8_t> b(65536);
    pollfd p{fd, POLLIN, 0};
    while (poll(&p, 1, 300) > 0) {
      const ssize_t n = recv(fd, b.data(), b.size(), 0);
      if (n <= 0) break;
      out.emplace_back(b.begin(), b.begin() + n);
    }
    return out;
  }
};

// Writes datagrams as Ethernet/IPv4/UDP frames from 127.0.0.1:40000 to
// 127.0.0.1:dst_port, one per microsecond from ts_s.
inline bool write_udp_pcap(const std::string& path, const std::vector<std::vector<uint8_t>>& dgrams,
                           uint16_t dst_port, uint32_t ts_s) {
  std::ofstream f(path, std::ios::binary);
  auto u32 = [&](uint32_t v) { f.write(reinterpret_cast<const char*>(&v), 4); };
  auto u16 = [&](uint16_t v) { f.write(reinterpret_cast<const char*>(&v), 2); };
  u32(0xa1b2c3d4);
  u16(2);
  u16(4);
  u32(0);
  u32(0);
  u32(65535);
  u32(1);  // Ethernet
  uint32_t usec = 0;
  for (const auto& d : dgrams) {
    std::vector<uint8_t> fr(14 + 20 + 8);
    fr[12] = 0x08;  // IPv4
    uint8_t* ip = fr.data() + 14;
    const uint16_t total = uint16_t(20 + 8 + d.size());
    ip[0] = 0x45;
    ip[2] = uint8_t(total >> 8);
    ip[3] = uint8_t(total);
    ip[8] = 64;
    ip[9] = 17;
    ip[12] = 127, ip[15] = 1;
    ip[16] = 127, ip[19] = 1;
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2) sum += uint32_t(ip[i] << 8 | ip[i + 1]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    ip[10] = uint8_t(~sum >> 8);
    ip[11] = uint8_t(~sum);
    uint8_t* udp = ip + 20;
    udp[0] = 40000 >> 8, udp[1] = 40000 & 0xff;
    udp[2] = uint8_t(dst_port >> 8), udp[3] = uint8_t(dst_port);
    udp[4] = uint8_t((8 + d.size()) >> 8), udp[5] = uint8_t(8 + d.size());
    fr.insert(fr.end(), d.begin(), d.end());
    u32(ts_s);
    u32(usec++);
    u32(uint32_t(fr.size()));
    u32(uint32_t(fr.size()));
    f.write(reinterpret_cast<const char*>(fr.data()), std::streamsize(fr.size()));
  }
  return bool(f);
}

struct FlowTotals {
  uint64_t packets = 0;
  uint64_t octets = 0;    // l3 bytes
  uint64_t uniflows = 0;  // directions that carried packets
};

// Deterministic flows: TCP, UDP and ICMP over IPv4 and IPv6, some one-sided,
// with times in [t0, t0 + 60 s).
inline std::vector<FlowRecord> synthetic_flows(size_t n, uint32_t seed, uint64_t t0_ns, FlowTotals* totals) {
  std::mt19937 rng(seed);
  std::vector<FlowRecord> out;
  for (size_t i = 0; i < n; ++i) {
    FlowRecord r;
    std::memset(&r.key, 0, sizeof r.key);
    const bool v6 = rng() % 4 == 0;
    r.key.family = v6 ? 6 : 4;
    if (v6) {
      r.key.src[0] = r.key.dst[0] = 0x20;
      r.key.src[1] = r.key.dst[1] = 0x01;
      r.key.src[2] = r.key.dst[2] = 0x0d;
      r.key.src[3] = r.key.dst[3] = 0xb8;
      for (int k = 8; k < 16; ++k) {
        r.key.src[k] = uint8_t(rng());
        r.key.dst[k] = uint8_t(rng());
      }
    } else {
      r.key.src[0] = 10;
      r.key.dst[0] = 192, r.key.dst[1] = 168;
      for (int k = 1; k < 4; ++k) r.key.src[k] = uint8_t(rng());
      for (int k = 2; k < 4; ++k) r.key.dst[k] = uint8_t(rng());
    }
    const uint32_t kind = rng() % 10;
    if (kind < 6) {
      r.key.proto = 6;
      r.key.sport = uint16_t(1024 + rng() % 60000);
      r.key.dport = uint16_t(rng() % 2 ? 443 : 80);
      r.tcp_flags[0] = 0x1b;
      r.tcp_flags[1] = 0x1a;
    } else if (kind < 9) {
      r.key.proto = 17;
      r.key.sport = uint16_t(1024 + rng() % 60000);
      r.key.dport = 53;
    } else {
      r.key.proto = v6 ? 58 : 1;
      r.icmp_type[0] = v6 ? 128 : 8;
      r.icmp_type[1] = v6 ? 129 : 0;
    }
    const uint64_t start = t0_ns + (rng() % 60000) * 1000000ull;
    const uint64_t dur = (rng() % 30000) * 1000000ull;
    r.flow_start_ns = r.start_ns = start;
    r.end_ns = start + dur;
    r.pkts[0] = 1 + rng() % 50;
    r.pkts[1] = rng() % 5 == 0 ? 0 : 1 + rng() % 80;
    for (int d = 0; d < 2; ++d) {
      if (r.pkts[d] == 0) continue;
      r.l3_bytes[d] = r.pkts[d] * (40 + rng() % 1400);
      r.bytes[d] = r.l3_bytes[d] + 14 * r.pkts[d];
      r.dir_start_ns[d] = d == 0 ? start : start + 1000000;
      r.dir_end_ns[d] = d == 0 ? start + dur / 2 : start + dur;
      if (r.dir_end_ns[d] < r.dir_start_ns[d]) r.dir_end_ns[d] = r.dir_start_ns[d];
      totals->packets += r.pkts[d];
      totals->octets += r.l3_bytes[d];
      ++totals->uniflows;
    }
    r.end_ns = std::max(r.dir_end_ns[0], r.dir_end_ns[1]);
    r.vlan[0] = uint16_t(rng() % 3 == 0 ? 100 + rng() % 10 : 0);
    r.ifindex = 1;
    r.reason = FlowEndReason(1 + rng() % 3);
    r.flow_id = i + 1;
    out.push_back(r);
  }
  return out;
}

}  // namespace ws::testing
