#include "dataplane/qos/policy.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <set>

namespace ws {

bool QosPolice::operator==(const QosPolice& o) const {
  auto same = [](const QosColorAction& a, const QosColorAction& b) { return a.kind == b.kind && a.dscp == b.dscp; };
  return enabled == o.enabled && trtcm == o.trtcm && cir_bps == o.cir_bps && cbs_bytes == o.cbs_bytes &&
         ebs_bytes == o.ebs_bytes && pir_bps == o.pir_bps && pbs_bytes == o.pbs_bytes && same(conform, o.conform) &&
         same(exceed, o.exceed) && same(violate, o.violate);
}

bool QosShape::operator==(const QosShape& o) const {
  return enabled == o.enabled && rate_bps == o.rate_bps && burst_bytes == o.burst_bytes &&
         queue_bytes == o.queue_bytes && queue_packets == o.queue_packets;
}

namespace {

using nlohmann::json;

// Unknown keys are refused: the first one not in allowed, in the object's order.
std::string unknown_key(const json& obj, const std::string& path, std::initializer_list<const char*> allowed) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool ok = false;
    for (const char* a : allowed) ok = ok || it.key() == a;
    if (!ok) {
      std::string list;
      for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return (path.empty() ? "" : path + ".") + it.key() + ": unknown key (expected one of " + list + ")";
    }
  }
  return "";
}

// An integer in [lo, hi]; a float, a string, a bool or null is refused.
std::string get_uint(const json& v, const std::string& path, uint64_t lo, uint64_t hi, uint64_t* out) {
  if (!v.is_number_integer() || (v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < 0)) {
    if (lo >= 1) return path + ": must be a positive integer";
    return path + ": must be a non-negative integer";
  }
  const uint64_t x = v.get<uint64_t>();
  if (x == 0 && lo >= 1) return path + ": must be a positive integer";
  if (x < lo || x > hi)
    return path + ": " + std::to_string(x) + " is out of range " + std::to_string(lo) + "-" + std::to_string(hi);
  *out = x;
  return "";
}

std::string parse_proto(const json& v, const std::string& path, int* out) {
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    static const std::pair<const char*, int> names[] = {{"tcp", 6},        {"udp", 17},   {"icmp", 1},
                                                        {"ipv6-icmp", 58}, {"icmpv6", 58}, {"sctp", 132},
                                                        {"gre", 47}};
    for (const auto& [n, p] : names)
      if (s == n) {
        *out = p;
        return "";
      }
    return path + ": '" + v.get<std::string>() + "' is not tcp, udp, icmp, ipv6-icmp, sctp, gre or a number 0-255";
  }
  uint64_t x;
  if (v.is_number_integer()) {
    if (std::string e = get_uint(v, path, 0, 255, &x); !e.empty()) return e;
    *out = static_cast<int>(x);
    return "";
  }
  return path + ": must be a protocol name or a number 0-255";
}

std::string parse_port_range(const json& v, const std::string& path, uint16_t* lo, uint16_t* hi) {
  uint64_t x;
  if (v.is_number()) {
    if (std::string e = get_uint(v, path, 0, 65535, &x); !e.empty()) return e;
    *lo = *hi = static_cast<uint16_t>(x);
    return "";
  }
  if (!v.is_string()) return path + ": must be a port number or \"a-b\"";
  const std::string s = v.get<std::string>();
  const std::string bad = path + ": '" + s + "' is not a port 0-65535 or a range \"a-b\" with a <= b";
  auto num = [](const std::string& t, uint64_t* n) {
    if (t.empty() || t.size() > 5 || !std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return false;
    *n = std::stoull(t);
    return *n <= 65535;
  };
  const size_t dash = s.find('-');
  uint64_t a, b;
  if (dash == std::string::npos) {
    if (!num(s, &a)) return bad;
    b = a;
  } else if (!num(s.substr(0, dash), &a) || !num(s.substr(dash + 1), &b) || a > b) {
    return bad;
  }
  *lo = static_cast<uint16_t>(a);
  *hi = static_cast<uint16_t>(b);
  return "";
}

std::string parse_color_action(const json& v, const std::string& path, QosColorAction* out) {
  const std::string bad = path + ": must be \"transmit\", \"drop\" or \"remark:N\" with N 0-63";
  if (!v.is_string()) return bad;
  const std::string s = v.get<std::string>();
  if (s == "transmit") {
    *out = {QosColorAction::kTransmit, 0};
  } else if (s == "drop") {
    *out = {QosColorAction::kDrop, 0};
  } else if (s.rfind("remark:", 0) == 0) {
    const std::string n = s.substr(7);
    if (n.empty() || n.size() > 2 || !std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoi(n) > 63)
      return bad;
    *out = {QosColorAction::kRemark, static_cast<uint8_t>(std::stoi(n))};
  } else {
    return bad;
  }
  return "";
}

std::string parse_match(const json& m, const std::string& path, QosMatch* out) {
  if (!m.is_object()) return path + ": must be an object";
  if (std::string e = unknown_key(m, path,
                                  {"proto", "src", "dst", "src_port", "dst_port", "vlan", "dscp", "app", "direction"});
      !e.empty())
    return e;
  uint64_t x;
  if (m.contains("proto"))
    if (std::string e = parse_proto(m["proto"], path + ".proto", &out->proto); !e.empty()) return e;
  for (const char* k : {"src", "dst"}) {
    if (!m.contains(k)) continue;
    const std::string p = path + "." + k;
    if (!m[k].is_string()) return p + ": must be an address or CIDR prefix string";
    if (std::string e = parse_qos_prefix(m[k].get<std::string>(), k[0] == 's' ? &out->src : &out->dst); !e.empty())
      return p + ": " + e;
  }
  if (out->src.family && out->dst.family && out->src.family != out->dst.family)
    return path + ".dst: an IPv" + std::to_string(out->dst.family) + " prefix with an IPv" +
           std::to_string(out->src.family) + " src never matches";
  if (m.contains("src_port")) {
    if (std::string e = parse_port_range(m["src_port"], path + ".src_port", &out->src_port_lo, &out->src_port_hi);
        !e.empty())
      return e;
    out->has_src_port = true;
  }
  if (m.contains("dst_port")) {
    if (std::string e = parse_port_range(m["dst_port"], path + ".dst_port", &out->dst_port_lo, &out->dst_port_hi);
        !e.empty())
      return e;
    out->has_dst_port = true;
  }
  if ((out->has_src_port || out->has_dst_port) && out->proto >= 0 && out->proto != 6 && out->proto != 17 &&
      out->proto != 132)
    return path + ".proto: ports need tcp, udp or sctp";
  if (m.contains("vlan")) {
    if (std::string e = get_uint(m["vlan"], path + ".vlan", 0, 4095, &x); !e.empty()) return e;
    out->vlan = static_cast<int>(x);
  }
  if (m.contains("dscp")) {
    if (std::string e = get_uint(m["dscp"], path + ".dscp", 0, 63, &x); !e.empty()) return e;
    out->dscp = static_cast<int>(x);
  }
  if (m.contains("app")) {
    const json& a = m["app"];
    if (!a.is_string() || a.get<std::string>().empty() || a.get<std::string>().size() > kQosMaxNameLen)
      return path + ".app: must be an nDPI protocol name (1-64 characters)";
    out->app = a.get<std::string>();
  }
  if (m.contains("direction")) {
    const json& d = m["direction"];
    if (d == "to_server") out->direction = 1;
    else if (d == "to_client") out->direction = 0;
    else return path + ".direction: must be \"to_server\" or \"to_client\"";
  }
  return "";
}

std::string parse_police(const json& p, const std::string& path, QosPolice* out) {
  if (!p.is_object()) return path + ": must be an object";
  if (std::string e = unknown_key(p, path,
                                  {"cir_bps", "cbs_bytes", "ebs_bytes", "pir_bps", "pbs_bytes", "conform", "exceed",
                                   "violate"});
      !e.empty())
    return e;
  out->enabled = true;
  out->trtcm = p.contains("pir_bps") || p.contains("pbs_bytes");
  for (const char* k : {"cir_bps", "cbs_bytes"})
    if (!p.contains(k)) return path + "." + k + ": required";
  // rte_meter counts bytes per second: a rate under 8 bit/s is zero.
  if (std::string e = get_uint(p["cir_bps"], path + ".cir_bps", 8, kQosMaxRateBps, &out->cir_bps); !e.empty()) return e;
  if (std::string e = get_uint(p["cbs_bytes"], path + ".cbs_bytes", 1, kQosMaxBurstBytes, &out->cbs_bytes); !e.empty())
    return e;
  if (out->trtcm) {
    if (p.contains("ebs_bytes"))
      return path + ".ebs_bytes: not used by a two-rate meter (pir_bps/pbs_bytes given); use pbs_bytes";
    for (const char* k : {"pir_bps", "pbs_bytes"})
      if (!p.contains(k)) return path + "." + k + ": required with " + (k[1] == 'i' ? "pbs_bytes" : "pir_bps");
    if (std::string e = get_uint(p["pir_bps"], path + ".pir_bps", 8, kQosMaxRateBps, &out->pir_bps); !e.empty())
      return e;
    if (std::string e = get_uint(p["pbs_bytes"], path + ".pbs_bytes", 1, kQosMaxBurstBytes, &out->pbs_bytes);
        !e.empty())
      return e;
    if (out->pir_bps < out->cir_bps)
      return path + ".pir_bps: must be at least cir_bps (" + std::to_string(out->cir_bps) + ")";
  } else if (p.contains("ebs_bytes")) {
    if (std::string e = get_uint(p["ebs_bytes"], path + ".ebs_bytes", 0, kQosMaxBurstBytes, &out->ebs_bytes);
        !e.empty())
      return e;
  }
  if (p.contains("conform"))
    if (std::string e = parse_color_action(p["conform"], path + ".conform", &out->conform); !e.empty()) return e;
  if (p.contains("exceed"))
    if (std::string e = parse_color_action(p["exceed"], path + ".exceed", &out->exceed); !e.empty()) return e;
  if (p.contains("violate"))
    if (std::string e = parse_color_action(p["violate"], path + ".violate", &out->violate); !e.empty()) return e;
  return "";
}

std::string parse_shape(const json& s, const std::string& path, QosShape* out) {
  if (!s.is_object()) return path + ": must be an object";
  if (std::string e = unknown_key(s, path, {"rate_bps", "burst_bytes", "queue_bytes", "queue_packets"}); !e.empty())
    return e;
  out->enabled = true;
  for (const char* k : {"rate_bps", "burst_bytes"})
    if (!s.contains(k)) return path + "." + k + ": required";
  if (std::string e = get_uint(s["rate_bps"], path + ".rate_bps", 8, kQosMaxRateBps, &out->rate_bps); !e.empty())
    return e;
  if (std::string e = get_uint(s["burst_bytes"], path + ".burst_bytes", 1, kQosMaxBurstBytes, &out->burst_bytes);
      !e.empty())
    return e;
  uint64_t qb = 0, qp = 0;
  if (s.contains("queue_bytes"))
    if (std::string e = get_uint(s["queue_bytes"], path + ".queue_bytes", 64, kQosMaxQueueBytes, &qb); !e.empty())
      return e;
  if (s.contains("queue_packets"))
    if (std::string e = get_uint(s["queue_packets"], path + ".queue_packets", 1, kQosMaxQueuePackets, &qp); !e.empty())
      return e;
  out->queue_packets = qp ? static_cast<uint32_t>(qp) : UINT32_MAX;
  if (qb) out->queue_bytes = qb;
  // 1600: a full Ethernet frame with tags, so a packet bound alone still
  // holds that many MTU-sized frames.
  else if (qp) out->queue_bytes = std::min<uint64_t>(qp * 1600, kQosMaxQueueBytes);
  // 100 ms of the rate: enough for TCP to see the bottleneck without
  // building a standing queue of seconds.
  else out->queue_bytes = std::clamp<uint64_t>(out->rate_bps / 8 / 10, 64 * 1024, kQosMaxQueueBytes);
  return "";
}

std::string parse_class(const json& c, const std::string& path, QosClass* out) {
  if (!c.is_object()) return path + ": must be an object";
  if (std::string e = unknown_key(c, path, {"name", "match", "shape", "police", "set_dscp"}); !e.empty()) return e;
  if (!c.contains("name")) return path + ".name: required";
  if (!c["name"].is_string()) return path + ".name: must be a string";
  out->name = c["name"].get<std::string>();
  if (std::string e = check_qos_name(out->name); !e.empty()) return path + ".name: " + e;
  if (c.contains("match"))
    if (std::string e = parse_match(c["match"], path + ".match", &out->match); !e.empty()) return e;
  if (c.contains("police"))
    if (std::string e = parse_police(c["police"], path + ".police", &out->police); !e.empty()) return e;
  if (c.contains("shape"))
    if (std::string e = parse_shape(c["shape"], path + ".shape", &out->shape); !e.empty()) return e;
  if (c.contains("set_dscp")) {
    uint64_t x;
    if (std::string e = get_uint(c["set_dscp"], path + ".set_dscp", 0, 63, &x); !e.empty()) return e;
    out->set_dscp = static_cast<int>(x);
  }
  return "";
}

}  // namespace

std::string check_qos_name(const std::string& name) {
  if (name.empty() || name.size() > kQosMaxNameLen) return "must be 1-64 characters";
  for (char ch : name)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == '-'))
      return "'" + name + "' has a character outside A-Z, a-z, 0-9, '_', '.', '-'";
  return "";
}

std::string parse_qos_prefix(const std::string& s, QosPrefix* out) {
  *out = QosPrefix{};
  const size_t slash = s.find('/');
  const std::string addr = s.substr(0, slash);
  if (inet_pton(AF_INET, addr.c_str(), out->addr) == 1) out->family = 4;
  else if (inet_pton(AF_INET6, addr.c_str(), out->addr) == 1) out->family = 6;
  else return "'" + s + "' is not an IPv4 or IPv6 address or prefix";
  const unsigned max = out->family == 4 ? 32 : 128;
  unsigned bits = max;
  if (slash != std::string::npos) {
    const std::string b = s.substr(slash + 1);
    if (b.empty() || b.size() > 3 || !std::all_of(b.begin(), b.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoul(b) > max)
      return "'" + s + "': prefix length must be 0-" + std::to_string(max);
    bits = std::stoul(b);
  }
  out->bits = static_cast<uint8_t>(bits);
  // Host bits cleared, so a match is a masked compare.
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * i : 0;
    out->addr[i] &= static_cast<uint8_t>(keep ? 0xff << (8 - keep) : 0);
  }
  return "";
}

bool qos_prefix_contains(const QosPrefix& p, uint8_t family, const uint8_t* addr) {
  if (p.family == 0) return true;
  if (p.family != family) return false;
  const unsigned full = p.bits / 8;
  if (std::memcmp(p.addr, addr, full) != 0) return false;
  if (const unsigned rest = p.bits % 8)
    return (addr[full] & static_cast<uint8_t>(0xff << (8 - rest))) == p.addr[full];
  return true;
}

std::string parse_qos_policy(const json& body, QosPolicy* out) {
  *out = QosPolicy{};
  if (!body.is_object()) return "body: must be a JSON object {\"classes\": [...]}";
  if (std::string e = unknown_key(body, "", {"classes"}); !e.empty()) return e;
  if (!body.contains("classes")) return "classes: required";
  const json& cs = body["classes"];
  if (!cs.is_array()) return "classes: must be an array";
  if (cs.size() > kQosMaxClasses)
    return "classes: " + std::to_string(cs.size()) + " classes, at most " + std::to_string(kQosMaxClasses);
  std::set<std::string> seen;
  for (size_t i = 0; i < cs.size(); ++i) {
    const std::string path = "classes[" + std::to_string(i) + "]";
    QosClass c;
    if (std::string e = parse_class(cs[i], path, &c); !e.empty()) return e;
    if (!seen.insert(c.name).second) return path + ".name: '" + c.name + "' is used by an earlier class";
    out->classes.push_back(std::move(c));
  }
  return "";
}

std::string parse_qos_policy_text(const std::string& text, QosPolicy* out) {
  json body;
  try {
    body = json::parse(text);
  } catch (const json::exception& e) {
    // A syntax error or a number too large for any JSON type (out_of_range.406);
    // e.what() is "[json.exception.parse_error.101] parse error at line 1, column 3: ...".
    std::string why = e.what();
    if (const size_t at = why.find("] "); at != std::string::npos) why = why.substr(at + 2);
    return "body: not valid JSON: " + why;
  }
  return parse_qos_policy(body, out);
}

}  // namespace ws
