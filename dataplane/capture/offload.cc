#include "dataplane/capture/offload.h"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>

namespace ws {
namespace {

struct Sock {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ~Sock() {
    if (fd >= 0) close(fd);
  }
};

// One SIOCETHTOOL call on ifc with cmd as its data; 0 or errno.
int ethtool(int fd, const std::string& ifc, void* cmd) {
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, ifc.data(), std::min(ifc.size(), size_t(IFNAMSIZ - 1)));
  ifr.ifr_data = static_cast<char*>(cmd);
  return ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? errno : 0;
}

// A buffer for an ethtool command with a flexible array member, zeroed.
template <typename T>
struct Cmd {
  std::unique_ptr<uint8_t[]> buf;
  explicit Cmd(size_t extra) : buf(new uint8_t[sizeof(T) + extra]()) {}
  T* operator->() { return reinterpret_cast<T*>(buf.get()); }
  T* get() { return reinterpret_cast<T*>(buf.get()); }
};

struct Features {
  std::vector<std::string> names;
  std::vector<ethtool_get_features_block> blocks;
};

// The interface's feature names and states; "" or why not.
std::string read_features(int fd, const std::string& ifc, Features& f, bool names) {
  if (names) {
    Cmd<ethtool_sset_info> info(sizeof(uint32_t));
    info->cmd = ETHTOOL_GSSET_INFO;
    info->sset_mask = 1ull << ETH_SS_FEATURES;
    if (int e = ethtool(fd, ifc, info.get()))
      return std::string("cannot read its features: ") + std::strerror(e);
    if (!(info->sset_mask & (1ull << ETH_SS_FEATURES))) return "its driver reports no features";
    const uint32_t count = info->data[0];
    Cmd<ethtool_gstrings> s(size_t(count) * ETH_GSTRING_LEN);
    s->cmd = ETHTOOL_GSTRINGS;
    s->string_set = ETH_SS_FEATURES;
    s->len = count;
    if (int e = ethtool(fd, ifc, s.get()))
      return std::string("cannot read its feature names: ") + std::strerror(e);
    f.names.clear();
    for (uint32_t i = 0; i < s->len; ++i) {
      const char* n = reinterpret_cast<const char*>(s->data) + size_t(i) * ETH_GSTRING_LEN;
      f.names.emplace_back(n, strnlen(n, ETH_GSTRING_LEN));
    }
  }
  const uint32_t nblocks = static_cast<uint32_t>((f.names.size() + 31) / 32);
  Cmd<ethtool_gfeatures> g(nblocks * sizeof(ethtool_get_features_block));
  g->cmd = ETHTOOL_GFEATURES;
  g->size = nblocks;
  if (int e = ethtool(fd, ifc, g.get())) return std::string("cannot read its features: ") + std::strerror(e);
  f.blocks.assign(g->features, g->features + nblocks);
  return "";
}

bool active(const Features& f, int bit) {
  return f.blocks[bit / 32].active & (1u << (bit % 32));
}

// Sets the given features on or off; 0 or errno.
int set_features(int fd, const std::string& ifc, size_t nfeatures, const std::vector<int>& bits, bool on) {
  const uint32_t nblocks = static_cast<uint32_t>((nfeatures + 31) / 32);
  Cmd<ethtool_sfeatures> s(nblocks * sizeof(ethtool_set_features_block));
  s->cmd = ETHTOOL_SFEATURES;
  s->size = nblocks;
  for (int b : bits) {
    s->features[b / 32].valid |= 1u << (b % 32);
    if (on) s->features[b / 32].requested |= 1u << (b % 32);
  }
  return ethtool(fd, ifc, s.get());
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace

const std::vector<std::string>& OffloadGuard::feature_names() {
  static const std::vector<std::string> names = {"rx-gro",
                                                 "rx-lro",
                                                 "rx-gro-hw",
                                                 "rx-gro-list",
                                                 "rx-udp-gro-forwarding",
                                                 "tx-generic-segmentation",
                                                 "tx-tcp-segmentation",
                                                 "tx-tcp-ecn-segmentation",
                                                 "tx-tcp-mangleid-segmentation",
                                                 "tx-tcp6-segmentation",
                                                 "tx-udp-segmentation"};
  return names;
}

std::string OffloadGuard::disable(const std::string& ifc) {
  const std::string head = "offloads: " + ifc + ": ";
  if (ifc.empty() || ifc.size() >= IFNAMSIZ || if_nametoindex(ifc.c_str()) == 0)
    return head + "no such interface";
  Sock sock;
  if (sock.fd < 0) return head + "socket: " + std::strerror(errno);
  Features f;
  if (std::string e = read_features(sock.fd, ifc, f, true); !e.empty()) return head + e + "; left as it is";
  std::vector<int> on;
  std::vector<std::string> on_names, fixed;
  for (const std::string& want : feature_names())
    for (size_t i = 0; i < f.names.size(); ++i) {
      if (f.names[i] != want || !active(f, static_cast<int>(i))) continue;
      const auto& b = f.blocks[i / 32];
      const uint32_t bit = 1u << (i % 32);
      if ((b.available & bit) && !(b.never_changed & bit)) {
        on.push_back(static_cast<int>(i));
        on_names.push_back(want);
      } else {
        fixed.push_back(want);
      }
    }
  std::string line = head;
  if (!on.empty()) {
    // A positive answer (ETHTOOL_F_WISH) means some stayed on: read back.
    if (int e = set_features(sock.fd, ifc, f.names.size(), on, false))
      return head + "cannot turn off " + join(on_names) + ": " + std::strerror(e) + "; left as it is";
    // Read back; if that fails, take the request as done, so that exit
    // still turns them back on.
    Features after = f;
    const bool read_back = read_features(sock.fd, ifc, after, false).empty();
    Changed c{ifc, {}};
    std::vector<std::string> off;
    for (int b : on) {
      if (read_back && active(after, b)) {
        fixed.push_back(f.names[b]);
      } else {
        c.bits.push_back(b);
        off.push_back(f.names[b]);
      }
    }
    if (!off.empty()) {
      line += "turned off " + join(off) + " (turned back on at exit)";
      changed_.push_back(std::move(c));
    }
  }
  if (!fixed.empty())
    line += std::string(line.size() > head.size() ? "; " : "") + join(fixed) +
            " stay on (the driver does not let them change)";
  if (line.size() == head.size()) line += "none of them on";
  return line;
}

std::vector<std::string> OffloadGuard::restore() {
  std::vector<std::string> errors;
  if (changed_.empty()) return errors;
  Sock sock;
  for (const Changed& c : changed_) {
    Features f;
    std::string e =
        sock.fd < 0 ? std::string("socket: ") + std::strerror(errno) : read_features(sock.fd, c.ifc, f, true);
    if (e.empty()) {
      if (int err = set_features(sock.fd, c.ifc, f.names.size(), c.bits, true)) e = std::strerror(err);
    }
    if (!e.empty()) errors.push_back("offloads: " + c.ifc + ": not turned back on: " + e);
  }
  changed_.clear();
  return errors;
}

}  // namespace ws
