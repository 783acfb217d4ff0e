#include "dataplane/qos/tc_plan.h"

#include <algorithm>
#include <cstdio>

namespace ws {

size_t TcPlan::filters() const {
  size_t n = 0;
  for (const TcClassPlan& c : classes) n += c.filters.size();
  return n;
}

std::vector<std::pair<uint16_t, uint16_t>> tc_port_masks(uint16_t lo, uint16_t hi) {
  std::vector<std::pair<uint16_t, uint16_t>> out;
  uint32_t at = lo;
  while (at <= hi) {
    // The largest aligned block starting at `at` that ends inside the range.
    uint32_t size = 1;
    while (size < 65536 && at % (size * 2) == 0 && at + size * 2 - 1 <= hi) size *= 2;
    out.emplace_back(static_cast<uint16_t>(at), static_cast<uint16_t>(~(size - 1) & 0xffff));
    at += size;
  }
  return out;
}

std::string tc_filter_text(const TcFilter& f) {
  std::string out = f.protocol == kEthPIpv6 ? "ipv6" : "ip";
  for (size_t i = 0; i < f.keys.size(); ++i) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%s %08x/%08x at %d", i ? "," : "", f.keys[i].value, f.keys[i].mask,
                  f.keys[i].offset);
    out += buf;
  }
  return out;
}

namespace {

constexpr int kTcp = 6, kUdp = 17, kSctp = 132, kIcmp = 1, kIcmpv6 = 58;

// Keys by offset: a new key at an offset already there is merged into it.
void add_key(std::vector<TcU32Key>& keys, int offset, uint32_t value, uint32_t mask) {
  if (mask == 0) return;
  for (TcU32Key& k : keys)
    if (k.offset == offset) {
      k.value |= value & mask;
      k.mask |= mask;
      return;
    }
  keys.push_back({value & mask, mask, offset});
}

// A prefix as keys over the 32-bit words of its address at offset.
void add_prefix(std::vector<TcU32Key>& keys, int offset, const QosPrefix& p) {
  const int words = p.family == 4 ? 1 : 4;
  for (int w = 0; w < words; ++w) {
    const int bits = std::clamp(int(p.bits) - 32 * w, 0, 32);
    if (bits == 0) break;
    const uint32_t mask = bits == 32 ? 0xffffffffu : ~(0xffffffffu >> bits);
    const uint8_t* a = p.addr + 4 * w;
    const uint32_t value = uint32_t(a[0]) << 24 | uint32_t(a[1]) << 16 | uint32_t(a[2]) << 8 | a[3];
    add_key(keys, offset + 4 * w, value, mask);
  }
}

// The match's port blocks: one (value, mask) pair covering every port
// when the field is not given.
std::vector<std::pair<uint16_t, uint16_t>> port_blocks(bool given, uint16_t lo, uint16_t hi) {
  if (!given) return {{0, 0}};
  return tc_port_masks(lo, hi);
}

bool has_ports(const QosMatch& m) {
  return m.has_src_port || m.has_dst_port;
}

std::vector<int> families(const QosMatch& m) {
  if (m.src.family) return {m.src.family};
  if (m.dst.family) return {m.dst.family};
  if (m.proto == kIcmp) return {4};
  if (m.proto == kIcmpv6) return {6};
  return {4, 6};
}

std::vector<int> protos(const QosMatch& m) {
  if (m.proto >= 0) return {m.proto};
  if (has_ports(m)) return {kTcp, kUdp, kSctp};
  return {-1};
}

std::string action_refusal(const std::string& path, TcCaps::Probe probe, const char* module,
                           const char* action, const char* what) {
  if (probe == TcCaps::Probe::kAbsent)
    return path + ": the kernel has no " + module + " (tc " + action + " action)" + what;
  return path + ": not supported in tc mode (wirescope installs no tc " + action +
         " actions); use qos.mode: inline for it";
}

std::string check_class(const QosClass& c, const std::string& path, const TcCaps& caps) {
  if (c.police.enabled) return action_refusal(path + ".police", caps.police, "act_police", "police", "");
  if (c.set_dscp >= 0)
    return action_refusal(path + ".set_dscp", caps.pedit, "act_pedit", "pedit", " to rewrite DSCP");
  const QosMatch& m = c.match;
  if (!m.app.empty())
    return path +
           ".match.app: nDPI's application label is not in the packet, so no tc filter can match it; "
           "not supported in tc mode";
  if (m.direction >= 0)
    return path +
           ".match.direction: which side opened the flow is not in the packet, so no tc filter can "
           "match it; not supported in tc mode";
  if (m.vlan >= 0)
    return path +
           ".match.vlan: on egress the kernel keeps the 802.1Q tag out of the packet data u32 reads; "
           "not supported in tc mode";
  size_t blocks[2] = {1, 1};
  const char* names[2] = {"src_port", "dst_port"};
  const bool given[2] = {m.has_src_port, m.has_dst_port};
  const uint16_t lo[2] = {m.src_port_lo, m.dst_port_lo}, hi[2] = {m.src_port_hi, m.dst_port_hi};
  for (int i = 0; i < 2; ++i) {
    if (!given[i]) continue;
    blocks[i] = tc_port_masks(lo[i], hi[i]).size();
    if (blocks[i] > kTcMaxPortMasks)
      return path + ".match." + names[i] + ": " + std::to_string(lo[i]) + "-" + std::to_string(hi[i]) +
             " needs " + std::to_string(blocks[i]) + " u32 value/mask pairs, at most " +
             std::to_string(kTcMaxPortMasks) +
             " in tc mode (a range of aligned blocks, such as 8000-8191, needs few)";
  }
  const size_t fam = families(m).size(), pro = protos(m).size();
  const size_t filters = fam * pro * blocks[0] * blocks[1];
  if (filters > kTcMaxFiltersPerClass)
    return path + ".match: needs " + std::to_string(filters) + " u32 filters (" + std::to_string(fam) +
           " address families x " + std::to_string(pro) + " protocols x " + std::to_string(blocks[0]) +
           " src_port blocks x " + std::to_string(blocks[1]) + " dst_port blocks), at most " +
           std::to_string(kTcMaxFiltersPerClass) + " per class in tc mode";
  if (c.shape.enabled) {
    const uint64_t seconds = c.shape.burst_bytes * 8 / c.shape.rate_bps;
    if (seconds > kTcMaxBurstSeconds)
      return path + ".shape.burst_bytes: " + std::to_string(c.shape.burst_bytes) + " bytes last " +
             std::to_string(seconds) + " s at " + std::to_string(c.shape.rate_bps) +
             " bit/s; tc mode takes bursts of at most " + std::to_string(kTcMaxBurstSeconds) +
             " s at the rate";
  }
  return "";
}

std::vector<TcFilter> class_filters(const QosMatch& m) {
  std::vector<TcFilter> out;
  const auto sports = port_blocks(m.has_src_port, m.src_port_lo, m.src_port_hi);
  const auto dports = port_blocks(m.has_dst_port, m.dst_port_lo, m.dst_port_hi);
  for (int family : families(m)) {
    for (int proto : protos(m)) {
      for (auto [sv, sm] : sports) {
        for (auto [dv, dm] : dports) {
          TcFilter f;
          std::vector<TcU32Key>& k = f.keys;
          if (family == 4) {
            f.protocol = kEthPIp;
            if (has_ports(m)) {
              add_key(k, 0, 0x05000000, 0x0f000000);  // IHL 5: the ports are at 20
              add_key(k, 4, 0, 0x00001fff);           // fragment offset 0: they are there at all
            }
            if (m.dscp >= 0) add_key(k, 0, uint32_t(m.dscp) << 18, 0x00fc0000);
            if (proto >= 0) add_key(k, 8, uint32_t(proto) << 16, 0x00ff0000);
            add_prefix(k, 12, m.src);
            add_prefix(k, 16, m.dst);
            if (has_ports(m)) add_key(k, 20, uint32_t(sv) << 16 | dv, uint32_t(sm) << 16 | dm);
          } else {
            f.protocol = kEthPIpv6;
            if (m.dscp >= 0) add_key(k, 0, uint32_t(m.dscp) << 22, 0x0fc00000);
            if (proto >= 0) add_key(k, 4, uint32_t(proto) << 8, 0x0000ff00);
            add_prefix(k, 8, m.src);
            add_prefix(k, 24, m.dst);
            if (has_ports(m)) add_key(k, 40, uint32_t(sv) << 16 | dv, uint32_t(sm) << 16 | dm);
          }
          // u32 needs one key; mask 0 takes every packet of the protocol.
          if (k.empty()) k.push_back({0, 0, 0});
          std::sort(k.begin(), k.end(),
                    [](const TcU32Key& a, const TcU32Key& b) { return a.offset < b.offset; });
          out.push_back(std::move(f));
        }
      }
    }
  }
  return out;
}

}  // namespace

std::string check_tc_policy(const QosPolicy& policy, const TcCaps& caps) {
  for (size_t i = 0; i < policy.classes.size(); ++i)
    if (std::string e = check_class(policy.classes[i], "classes[" + std::to_string(i) + "]", caps);
        !e.empty())
      return e;
  return "";
}

std::string build_tc_plan(const std::map<std::string, QosPolicy>& policies, const TcCaps& caps,
                          uint64_t line_rate_bps, TcPlan* out) {
  *out = TcPlan{};
  out->line_rate_bps = line_rate_bps;
  uint32_t minor = kTcFirstMinor;
  size_t filters = 0;
  for (const auto& [name, p] : policies) {
    if (std::string e = check_tc_policy(p, caps); !e.empty()) return "policy '" + name + "': " + e;
    for (const QosClass& c : p.classes) {
      if (minor >= kTcDefaultMinor) return "the policies have too many classes for one HTB tree";
      TcClassPlan t;
      t.policy = name;
      t.cls = c.name;
      t.minor = static_cast<uint16_t>(minor++);
      t.shaped = c.shape.enabled;
      if (t.shaped) {
        t.rate_bps = c.shape.rate_bps;
        t.burst_bytes = c.shape.burst_bytes;
        const uint64_t limit = c.shape.queue_packets != UINT32_MAX
                                   ? c.shape.queue_packets
                                   : (c.shape.queue_bytes + kTcLeafFrameBytes - 1) / kTcLeafFrameBytes;
        t.leaf_limit = static_cast<uint32_t>(std::max<uint64_t>(limit, 1));
      } else {
        t.rate_bps = line_rate_bps;
      }
      t.filters = class_filters(c.match);
      filters += t.filters.size();
      out->classes.push_back(std::move(t));
    }
  }
  if (filters > kTcMaxFilters)
    return "the policies need " + std::to_string(filters) + " u32 filters, at most " +
           std::to_string(kTcMaxFilters) + " in tc mode";
  return "";
}

}  // namespace ws
