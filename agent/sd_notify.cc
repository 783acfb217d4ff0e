#include "agent/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace ws {

std::string sd_notify(std::string_view state) {
  const char* env = std::getenv("NOTIFY_SOCKET");
  if (!env || !*env) return "";
  const std::string path = env;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path[0] != '/' && path[0] != '@')
    return "NOTIFY_SOCKET '" + path + "': not an absolute path or an abstract socket ('@...')";
  if (path.size() > sizeof addr.sun_path)
    return "NOTIFY_SOCKET '" + path + "': longer than a unix socket path (" +
           std::to_string(sizeof addr.sun_path) + " bytes)";
  std::memcpy(addr.sun_path, path.data(), path.size());
  socklen_t len = socklen_t(offsetof(sockaddr_un, sun_path) + path.size());
  if (path[0] == '@') {
    addr.sun_path[0] = '\0';  // abstract: the length, not a NUL, ends the name
  } else {
    ++len;  // include the terminating NUL of a filesystem path
    if (len > sizeof addr) len = sizeof addr;
  }
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("NOTIFY_SOCKET: socket: ") + std::strerror(errno);
  ssize_t n;
  do {
    n = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr), len);
  } while (n < 0 && errno == EINTR);
  const int err = errno;
  close(fd);
  if (n < 0) return "NOTIFY_SOCKET '" + path + "': " + std::strerror(err);
  if (size_t(n) != state.size()) return "NOTIFY_SOCKET '" + path + "': short send";
  return "";
}

std::string sd_reloading_message() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const unsigned long long usec = static_cast<unsigned long long>(ts.tv_sec) * 1000000ull + ts.tv_nsec / 1000;
  return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec);
}

}  // namespace ws
