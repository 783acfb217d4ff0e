#include "rules/rule_parser.h"

#include <arpa/inet.h>

#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "rules/classification.h"

namespace ws {

const char* rule_action_name(RuleAction a) {
  switch (a) {
    case RuleAction::kAlert: return "alert";
    case RuleAction::kDrop: return "drop";
    case RuleAction::kPass: return "pass";
    case RuleAction::kReject: return "reject";
  }
  return "?";
}

RuleVars RuleVars::suricata_defaults() {
  RuleVars v;
  v.address = {
      {"HOME_NET", "[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]"},
      {"EXTERNAL_NET", "!$HOME_NET"},
      {"HTTP_SERVERS", "$HOME_NET"},
      {"SMTP_SERVERS", "$HOME_NET"},
      {"SQL_SERVERS", "$HOME_NET"},
      {"DNS_SERVERS", "$HOME_NET"},
      {"TELNET_SERVERS", "$HOME_NET"},
      {"AIM_SERVERS", "$EXTERNAL_NET"},
      {"DC_SERVERS", "$HOME_NET"},
      {"DNP3_SERVER", "$HOME_NET"},
      {"DNP3_CLIENT", "$HOME_NET"},
      {"MODBUS_CLIENT", "$HOME_NET"},
      {"MODBUS_SERVER", "$HOME_NET"},
      {"ENIP_CLIENT", "$HOME_NET"},
      {"ENIP_SERVER", "$HOME_NET"},
  };
  v.port = {
      {"HTTP_PORTS", "80"},
      {"SHELLCODE_PORTS", "!80"},
      {"ORACLE_PORTS", "1521"},
      {"SSH_PORTS", "22"},
      {"DNP3_PORTS", "20000"},
      {"MODBUS_PORTS", "502"},
      {"FILE_DATA_PORTS", "[$HTTP_PORTS,110,143]"},
      {"FTP_PORTS", "21"},
      {"GENEVE_PORTS", "6081"},
      {"VXLAN_PORTS", "4789"},
      {"TEREDO_PORTS", "3544"},
  };
  return v;
}

std::string RuleError::str() const {
  std::string s = file.empty() ? std::string("<rule>") : file;
  s += ':';
  s += std::to_string(line);
  s += ": ";
  if (sid) {
    s += "sid ";
    s += std::to_string(*sid);
    s += ": ";
  }
  s += reason;
  return s;
}

namespace {

// Variables may name variables; a chain longer than this is a cycle.
constexpr int kMaxVarDepth = 16;
// Lists inside lists; deeper than this is not a real rule (and would let a
// hostile file recurse without bound).
constexpr int kMaxListDepth = 32;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// A rule's action word, compared without regard to case as Suricata does
// (any_case false: lower case only).
bool parse_action(std::string_view s, RuleAction* action, RejectTo* to, bool any_case = true) {
  static constexpr struct {
    std::string_view name;
    RuleAction action;
    RejectTo to;
  } kActions[] = {
      {"alert", RuleAction::kAlert, RejectTo::kSource},
      {"pass", RuleAction::kPass, RejectTo::kSource},
      {"drop", RuleAction::kDrop, RejectTo::kSource},
      {"reject", RuleAction::kReject, RejectTo::kSource},
      {"rejectsrc", RuleAction::kReject, RejectTo::kSource},
      {"rejectdst", RuleAction::kReject, RejectTo::kDestination},
      {"rejectboth", RuleAction::kReject, RejectTo::kBoth},
  };
  for (const auto& a : kActions) {
    if (s.size() != a.name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < s.size() && same; ++i)
      same = (any_case && s[i] >= 'A' && s[i] <= 'Z' ? char(s[i] - 'A' + 'a') : s[i]) == a.name[i];
    if (same) {
      *action = a.action;
      *to = a.to;
      return true;
    }
  }
  return false;
}

std::string quote(std::string_view s) {
  std::string q = "'";
  q.append(s.substr(0, 64));
  if (s.size() > 64) q += "...";
  q += "'";
  return q;
}

// Unsigned decimal (or 0x hex when hex_ok), whole string, with a maximum.
bool parse_uint(std::string_view s, uint64_t max, uint64_t& out, bool hex_ok = false) {
  s = trim(s);
  int base = 10;
  if (hex_ok && s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    base = 16;
  }
  if (s.empty()) return false;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || p != s.data() + s.size() || v > max) return false;
  out = v;
  return true;
}

bool parse_int(std::string_view s, int64_t min, int64_t max, int64_t& out) {
  s = trim(s);
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < min || v > max) return false;
  out = v;
  return true;
}

bool is_ident(std::string_view s) {
  if (s.empty() || !(isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  return true;
}

// Splits on `sep` at bracket depth 0.
std::vector<std::string_view> split_top(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '[') ++depth;
    else if (s[i] == ']') --depth;
    else if (s[i] == sep && depth == 0) {
      out.push_back(trim(s.substr(start, i - start)));
      start = i + 1;
    }
  }
  out.push_back(trim(s.substr(start)));
  return out;
}

std::vector<std::string_view> split_plain(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      out.push_back(trim(s.substr(start, i - start)));
      start = i + 1;
    }
  }
  return out;
}

// ---- addresses and ports ------------------------------------------------

bool parse_prefix(std::string_view s, IpPrefix& out, std::string& err) {
  std::string_view addr = s, len;
  size_t slash = s.find('/');
  if (slash != std::string_view::npos) {
    addr = s.substr(0, slash);
    len = s.substr(slash + 1);
  }
  std::string a(addr);
  IpPrefix p;
  if (a.find(':') != std::string::npos) {
    p.v6 = true;
    if (inet_pton(AF_INET6, a.c_str(), p.bytes.data()) != 1) {
      err = "invalid IPv6 address " + quote(s);
      return false;
    }
  } else if (inet_pton(AF_INET, a.c_str(), p.bytes.data()) != 1) {
    err = "invalid address " + quote(s);
    return false;
  }
  const unsigned max = p.v6 ? 128 : 32;
  p.len = static_cast<uint8_t>(max);
  if (slash != std::string_view::npos) {
    uint64_t n = 0;
    if (parse_uint(len, max, n)) {
      p.len = static_cast<uint8_t>(n);
    } else if (!p.v6 && len.find('.') != std::string_view::npos) {
      // Netmask form, 10.0.0.0/255.0.0.0: only contiguous masks.
      std::array<uint8_t, 4> m{};
      std::string ms(len);
      if (inet_pton(AF_INET, ms.c_str(), m.data()) != 1) {
        err = "invalid netmask in " + quote(s);
        return false;
      }
      uint32_t mask = (uint32_t(m[0]) << 24) | (uint32_t(m[1]) << 16) | (uint32_t(m[2]) << 8) | m[3];
      unsigned bits = 0;
      while (bits < 32 && (mask & (0x80000000u >> bits))) ++bits;
      if (bits < 32 && (mask << bits) != 0) {
        err = "non-contiguous netmask in " + quote(s);
        return false;
      }
      p.len = static_cast<uint8_t>(bits);
    } else {
      err = "invalid prefix length in " + quote(s);
      return false;
    }
  }
  // Host bits below the prefix are cleared, as Suricata does.
  for (unsigned i = 0; i < 16; ++i) {
    unsigned lo = i * 8;
    if (lo >= p.len) p.bytes[i] = 0;
    else if (lo + 8 > p.len) p.bytes[i] &= static_cast<uint8_t>(0xff << (8 - (p.len - lo)));
  }
  if (!p.v6)
    for (unsigned i = 4; i < 16; ++i) p.bytes[i] = 0;
  out = p;
  return true;
}

// Address and port specs share one grammar: `!` negation, `[a, b, ...]`
// lists (nested), `$VAR` from a variable table, and `any`; only the leaves
// differ. `what` ("address" / "port") names them in errors, and `leaf`
// parses a leaf (s, negated, out, err).
template <typename Node, typename Leaf>
bool parse_spec(std::string_view s, const std::map<std::string, std::string, std::less<>>& table,
                const char* what, int var_depth, int list_depth, Node& out, std::string& err,
                const Leaf& leaf) {
  const std::string w = what;
  s = trim(s);
  bool neg = false;
  while (!s.empty() && s[0] == '!') {
    neg = !neg;
    s = trim(s.substr(1));
  }
  if (s.empty()) {
    err = "empty " + w;
    return false;
  }
  if (s[0] == '[') {
    if (list_depth >= kMaxListDepth) {
      err = w + " lists nested too deep";
      return false;
    }
    if (s.back() != ']') {
      err = "unbalanced '[' in " + w + " " + quote(s);
      return false;
    }
    std::string_view inner = trim(s.substr(1, s.size() - 2));
    if (inner.empty()) {
      err = "empty " + w + " list";
      return false;
    }
    int depth = 0;
    for (char c : inner) {
      depth += (c == '[') - (c == ']');
      if (depth < 0) break;
    }
    if (depth != 0) {
      err = "unbalanced brackets in " + w + " " + quote(s);
      return false;
    }
    Node list;
    list.kind = Node::Kind::kList;
    for (std::string_view part : split_top(inner, ',')) {
      Node child;
      if (!parse_spec(part, table, what, var_depth, list_depth + 1, child, err, leaf)) return false;
      list.children.push_back(std::move(child));
    }
    list.negated = neg;
    out = std::move(list);
    return true;
  }
  if (s[0] == '$') {
    std::string_view name = s.substr(1);
    auto it = table.find(name);
    if (it == table.end()) {
      err = "unknown " + w + " variable '$" + std::string(name) + "'";
      return false;
    }
    if (var_depth >= kMaxVarDepth) {
      err = w + " variable '$" + std::string(name) + "' refers to itself";
      return false;
    }
    Node v;
    if (!parse_spec(it->second, table, what, var_depth + 1, list_depth, v, err, leaf)) {
      err = "in " + w + " variable '$" + std::string(name) + "': " + err;
      return false;
    }
    v.var = std::string(name);
    if (neg) v.negated = !v.negated;
    out = std::move(v);
    return true;
  }
  if (s == "any") {
    if (neg) {
      err = "'!any' matches no " + w;
      return false;
    }
    out = Node{};
    return true;
  }
  return leaf(s, neg, out, err);
}

bool parse_addr_leaf(std::string_view s, bool neg, AddressNode& out, std::string& err) {
  if (s.find_first_of("[],$! \t") != std::string_view::npos) {
    err = "invalid address " + quote(s);
    return false;
  }
  AddressNode n;
  n.kind = AddressNode::Kind::kPrefix;
  if (size_t dash = s.find('-'); dash != std::string_view::npos) {
    n.kind = AddressNode::Kind::kRange;
    std::string_view a = trim(s.substr(0, dash)), b = trim(s.substr(dash + 1));
    if (a.find('/') != std::string_view::npos || b.find('/') != std::string_view::npos) {
      err = "an address range takes two addresses, not prefixes: " + quote(s);
      return false;
    }
    if (!parse_prefix(a, n.prefix, err) || !parse_prefix(b, n.range_last, err)) return false;
    if (n.prefix.v6 != n.range_last.v6) {
      err = "address range " + quote(s) + " mixes IPv4 and IPv6";
      return false;
    }
    if (n.range_last.bytes < n.prefix.bytes) {
      err = "address range " + quote(s) + " has its first address after its last";
      return false;
    }
    n.negated = neg;
    out = std::move(n);
    return true;
  }
  if (!parse_prefix(s, n.prefix, err)) return false;
  n.negated = neg;
  out = std::move(n);
  return true;
}

bool parse_port_leaf(std::string_view s, bool neg, PortNode& out, std::string& err) {
  PortNode n;
  n.kind = PortNode::Kind::kRange;
  n.negated = neg;
  uint64_t lo = 0, hi = 65535;
  size_t colon = s.find(':');
  if (colon == std::string_view::npos) {
    if (!parse_uint(s, 65535, lo)) {
      err = "invalid port " + quote(s);
      return false;
    }
    hi = lo;
  } else {
    std::string_view a = trim(s.substr(0, colon)), b = trim(s.substr(colon + 1));
    if (a.empty() && b.empty()) {
      err = "invalid port range " + quote(s);
      return false;
    }
    if ((!a.empty() && !parse_uint(a, 65535, lo)) || (!b.empty() && !parse_uint(b, 65535, hi))) {
      err = "invalid port range " + quote(s);
      return false;
    }
    if (lo > hi) {
      err = "port range " + quote(s) + " has its low end above its high end";
      return false;
    }
  }
  n.lo = static_cast<uint16_t>(lo);
  n.hi = static_cast<uint16_t>(hi);
  out = std::move(n);
  return true;
}

bool parse_addr(std::string_view s, const RuleVars& vars, int var_depth, int list_depth, AddressNode& out,
                std::string& err) {
  return parse_spec(s, vars.address, "address", var_depth, list_depth, out, err, parse_addr_leaf);
}

bool parse_port(std::string_view s, const RuleVars& vars, int var_depth, int list_depth, PortNode& out,
                std::string& err) {
  return parse_spec(s, vars.port, "port", var_depth, list_depth, out, err, parse_port_leaf);
}

// ---- options ------------------------------------------------------------

struct Ctx {
  Rule& r;
  const RuleParseOptions& opts;
  std::string keyword;
  RuleError::Kind kind = RuleError::Kind::kSyntax;
  std::string err;  // set on failure: the reason after "keyword: "
  std::set<std::string, std::less<>> byte_vars;  // byte_extract names so far
  bool seen_flow = false;

  bool fail(std::string reason) {
    err = std::move(reason);
    return false;
  }
  ContentMatch* last_content() {
    for (auto it = r.payload.rbegin(); it != r.payload.rend(); ++it)
      if (auto* c = std::get_if<ContentMatch>(&*it)) return c;
    return nullptr;
  }
};

enum class Arg : uint8_t { kNone, kRequired };

using Handler = bool (*)(Ctx&, std::string_view);

struct Keyword {
  std::string_view name;
  Arg arg;
  Handler fn;
};

// Strips the quotes of a quoted value; an unquoted value is taken as is
// only when quotes are optional.
bool unquote(Ctx& c, std::string_view v, std::string_view& inner, bool required) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
    inner = v.substr(1, v.size() - 2);
    return true;
  }
  if (!v.empty() && v.front() == '"') return c.fail("missing closing quote");
  if (required) return c.fail("value must be in double quotes");
  inner = v;
  return true;
}

// Suricata's escapes inside quoted strings: \\ \" \; \: and nothing else.
bool unescape(Ctx& c, std::string_view s, std::string& out, bool strict) {
  out.clear();
  for (size_t i = 0; i < s.size(); ++i) {
    char ch = s[i];
    if (ch == '\\') {
      if (i + 1 >= s.size()) return c.fail("trailing backslash");
      char n = s[i + 1];
      if (n == '\\' || n == '"' || n == ';' || n == ':') {
        out += n;
        ++i;
        continue;
      }
      if (strict) return c.fail(std::string("invalid escape '\\") + n + "'");
      out += ch;
      continue;
    }
    if (ch == '"' && strict) return c.fail("unescaped '\"' inside the string");
    out += ch;
  }
  return true;
}

int hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

// Content bytes: text with escapes, and |41 42| hex runs.
bool decode_content(Ctx& c, std::string_view s, std::string& out) {
  out.clear();
  bool hex = false;
  int hi = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    char ch = s[i];
    if (hex) {
      if (ch == '|') {
        if (hi >= 0) return c.fail("odd number of hex digits in |...|");
        hex = false;
      } else if (ch == ' ' || ch == '\t') {
        if (hi >= 0) return c.fail("hex digit pair split by a space in |...|");
      } else {
        int v = hexval(ch);
        if (v < 0) return c.fail(std::string("invalid hex digit '") + ch + "' in |...|");
        if (hi < 0) {
          hi = v;
        } else {
          out += static_cast<char>(hi * 16 + v);
          hi = -1;
        }
      }
      continue;
    }
    if (ch == '|') {
      hex = true;
      continue;
    }
    if (ch == '\\') {
      if (i + 1 >= s.size()) return c.fail("trailing backslash");
      char n = s[i + 1];
      if (n == '\\' || n == '"' || n == ';' || n == ':') {
        out += n;
        ++i;
        continue;
      }
      return c.fail(std::string("invalid escape '\\") + n + "'");
    }
    if (ch == '"') return c.fail("unescaped '\"' inside the content");
    out += ch;
  }
  if (hex) return c.fail("unclosed '|'");
  if (out.empty()) return c.fail("empty content");
  return true;
}

bool kw_msg(Ctx& c, std::string_view v) {
  std::string_view inner;
  if (!unquote(c, v, inner, false)) return false;
  return unescape(c, inner, c.r.msg, false);
}

bool parse_u32(Ctx& c, std::string_view v, uint32_t& out, uint64_t min = 0) {
  uint64_t n = 0;
  if (!parse_uint(v, 0xffffffffu, n) || n < min) return c.fail("invalid number " + quote(v));
  out = static_cast<uint32_t>(n);
  return true;
}

bool kw_sid(Ctx& c, std::string_view v) { return parse_u32(c, v, c.r.sid, 1); }
bool kw_rev(Ctx& c, std::string_view v) { return parse_u32(c, v, c.r.rev); }
bool kw_gid(Ctx& c, std::string_view v) { return parse_u32(c, v, c.r.gid); }

bool kw_classtype(Ctx& c, std::string_view v) {
  if (!is_ident(v)) return c.fail("invalid class name " + quote(v));
  if (c.opts.classifications && !c.opts.classifications->find(v))
    return c.fail("unknown classtype " + quote(v) + " (not in the classification table)");
  c.r.classtype = std::string(v);
  return true;
}

bool kw_priority(Ctx& c, std::string_view v) {
  uint64_t n = 0;
  if (!parse_uint(v, 255, n) || n < 1) return c.fail("must be a number from 1 to 255, got " + quote(v));
  c.r.priority = static_cast<uint8_t>(n);
  return true;
}

bool kw_reference(Ctx& c, std::string_view v) {
  size_t comma = v.find(',');
  if (comma == std::string_view::npos) return c.fail("expected 'type,value', got " + quote(v));
  std::string_view t = trim(v.substr(0, comma)), val = trim(v.substr(comma + 1));
  if (t.empty() || val.empty()) return c.fail("expected 'type,value', got " + quote(v));
  c.r.references.emplace_back(std::string(t), std::string(val));
  return true;
}

bool kw_metadata(Ctx& c, std::string_view v) {
  for (std::string_view e : split_plain(v, ','))
    if (!e.empty()) c.r.metadata.emplace_back(e);
  return true;
}

bool kw_target(Ctx& c, std::string_view v) {
  if (v == "src_ip") c.r.target = Rule::Target::kSrcIp;
  else if (v == "dest_ip") c.r.target = Rule::Target::kDestIp;
  else return c.fail("must be src_ip or dest_ip, got " + quote(v));
  return true;
}

bool kw_content(Ctx& c, std::string_view v) {
  ContentMatch m;
  if (!v.empty() && v[0] == '!') {
    m.negated = true;
    v = trim(v.substr(1));
  }
  std::string_view inner;
  if (!unquote(c, v, inner, true)) return false;
  if (!decode_content(c, inner, m.bytes)) return false;
  c.r.payload.emplace_back(std::move(m));
  return true;
}

ContentMatch* need_content(Ctx& c) {
  ContentMatch* m = c.last_content();
  if (!m) c.fail("no content before it");
  return m;
}

bool kw_nocase(Ctx& c, std::string_view) {
  ContentMatch* m = need_content(c);
  if (!m) return false;
  if (m->nocase) return c.fail("used twice on one content");
  m->nocase = true;
  return true;
}

// A number or a byte_extract variable defined earlier in the rule.
bool int_or_var(Ctx& c, std::string_view v, int64_t min, int64_t max, IntOrVar& out) {
  v = trim(v);
  int64_t n = 0;
  if (parse_int(v, min, max, n)) {
    out = IntOrVar{n, {}};
    return true;
  }
  if (is_ident(v)) {
    if (!c.byte_vars.count(v)) return c.fail("unknown variable " + quote(v) + " (no byte_extract defines it)");
    out = IntOrVar{0, std::string(v)};
    return true;
  }
  return c.fail("invalid value " + quote(v));
}

enum class Mod : uint8_t { kDepth, kOffset, kDistance, kWithin };

bool kw_content_mod(Ctx& c, std::string_view v, Mod which) {
  ContentMatch* m = need_content(c);
  if (!m) return false;
  std::optional<IntOrVar>* slot = nullptr;
  bool relative = which == Mod::kDistance || which == Mod::kWithin;
  switch (which) {
    case Mod::kDepth: slot = &m->depth; break;
    case Mod::kOffset: slot = &m->offset; break;
    case Mod::kDistance: slot = &m->distance; break;
    case Mod::kWithin: slot = &m->within; break;
  }
  if (slot->has_value()) return c.fail("used twice on one content");
  if (m->startswith) return c.fail("cannot be combined with startswith");
  if (relative && (m->depth || m->offset))
    return c.fail("relative (distance/within) and absolute (depth/offset) modifiers on one content");
  if (!relative && (m->distance || m->within))
    return c.fail("relative (distance/within) and absolute (depth/offset) modifiers on one content");
  IntOrVar x;
  int64_t min = which == Mod::kDistance ? -65535 : 0;
  if (!int_or_var(c, v, min, 65535, x)) return false;
  if (x.var.empty()) {
    const auto len = static_cast<int64_t>(m->bytes.size());
    if (which == Mod::kDepth && x.value < len)
      return c.fail("depth " + std::to_string(x.value) + " is shorter than the content (" + std::to_string(len) + " bytes)");
    if (which == Mod::kWithin && x.value < len)
      return c.fail("within " + std::to_string(x.value) + " is shorter than the content (" + std::to_string(len) + " bytes)");
  }
  *slot = x;
  return true;
}

bool kw_depth(Ctx& c, std::string_view v) { return kw_content_mod(c, v, Mod::kDepth); }
bool kw_offset(Ctx& c, std::string_view v) { return kw_content_mod(c, v, Mod::kOffset); }
bool kw_distance(Ctx& c, std::string_view v) { return kw_content_mod(c, v, Mod::kDistance); }
bool kw_within(Ctx& c, std::string_view v) { return kw_content_mod(c, v, Mod::kWithin); }

bool kw_startswith(Ctx& c, std::string_view) {
  ContentMatch* m = need_content(c);
  if (!m) return false;
  if (m->startswith) return c.fail("used twice on one content");
  if (m->depth || m->offset || m->distance || m->within)
    return c.fail("cannot be combined with depth, offset, distance or within");
  if (m->negated) return c.fail("cannot be used on a negated content");
  m->startswith = true;
  return true;
}

bool kw_endswith(Ctx& c, std::string_view) {
  ContentMatch* m = need_content(c);
  if (!m) return false;
  if (m->endswith) return c.fail("used twice on one content");
  if (m->negated) return c.fail("cannot be used on a negated content");
  m->endswith = true;
  return true;
}

bool kw_fast_pattern(Ctx& c, std::string_view v) {
  ContentMatch* m = need_content(c);
  if (!m) return false;
  for (const auto& pm : c.r.payload)
    if (auto* o = std::get_if<ContentMatch>(&pm); o && o->fast_pattern)
      return c.fail("set on more than one content");
  if (v.empty()) {
    m->fast_pattern = true;
    return true;
  }
  if (v == "only") {
    m->fast_pattern = true;
    m->fast_pattern_only = true;
    return true;
  }
  size_t comma = v.find(',');
  uint64_t off = 0, len = 0;
  if (comma == std::string_view::npos || !parse_uint(v.substr(0, comma), 65535, off) ||
      !parse_uint(v.substr(comma + 1), 65535, len) || len == 0)
    return c.fail("expected nothing, 'only' or 'offset,length', got " + quote(v));
  if (off + len > m->bytes.size())
    return c.fail("offset " + std::to_string(off) + " + length " + std::to_string(len) +
                  " is past the end of the content (" + std::to_string(m->bytes.size()) + " bytes)");
  m->fast_pattern = true;
  m->fast_pattern_chop = std::pair<uint16_t, uint16_t>(static_cast<uint16_t>(off), static_cast<uint16_t>(len));
  return true;
}

bool kw_isdataat(Ctx& c, std::string_view v) {
  IsDataAt d;
  auto parts = split_plain(v, ',');
  std::string_view first = parts[0];
  if (!first.empty() && first[0] == '!') {
    d.negated = true;
    first = trim(first.substr(1));
  }
  if (!int_or_var(c, first, 0, 65535, d.size)) return false;
  for (size_t i = 1; i < parts.size(); ++i) {
    if (parts[i] == "relative") d.relative = true;
    else if (parts[i] == "rawbytes") continue;  // payload is always raw here
    else return c.fail("unknown option " + quote(parts[i]));
  }
  c.r.payload.emplace_back(d);
  return true;
}

// <5, >5, <=5, >=5, !5, =5, 5, 2<>8, 2-8.
bool parse_cond(Ctx& c, std::string_view v, uint64_t max, UintCond& out) {
  v = trim(v);
  UintCond u;
  size_t rng = v.find("<>");
  size_t dash = v.find('-');
  if (rng != std::string_view::npos || (dash != std::string_view::npos && dash > 0)) {
    size_t sep = rng != std::string_view::npos ? rng : dash;
    size_t seplen = rng != std::string_view::npos ? 2 : 1;
    uint64_t a = 0, b = 0;
    if (!parse_uint(v.substr(0, sep), max, a) || !parse_uint(v.substr(sep + seplen), max, b))
      return c.fail("invalid range " + quote(v));
    if (a >= b) return c.fail("range " + quote(v) + " is empty (the bounds are exclusive)");
    u.op = UintCond::Op::kRange;
    u.a = a;
    u.b = b;
    out = u;
    return true;
  }
  std::string_view num = v;
  if (starts_with(v, "<=")) { u.op = UintCond::Op::kLe; num = v.substr(2); }
  else if (starts_with(v, ">=")) { u.op = UintCond::Op::kGe; num = v.substr(2); }
  else if (starts_with(v, "<")) { u.op = UintCond::Op::kLt; num = v.substr(1); }
  else if (starts_with(v, ">")) { u.op = UintCond::Op::kGt; num = v.substr(1); }
  else if (starts_with(v, "!")) { u.op = UintCond::Op::kNe; num = v.substr(1); }
  else if (starts_with(v, "=")) { u.op = UintCond::Op::kEq; num = v.substr(1); }
  if (!parse_uint(num, max, u.a)) return c.fail("invalid value " + quote(v));
  if (u.op == UintCond::Op::kLt && u.a == 0) return c.fail("'<0' can never match");
  if (u.op == UintCond::Op::kGt && u.a == max) return c.fail("'>" + std::to_string(max) + "' can never match");
  out = u;
  return true;
}

bool kw_dsize(Ctx& c, std::string_view v) {
  if (c.r.dsize) return c.fail("used twice");
  UintCond u;
  if (!parse_cond(c, v, 65535, u)) return false;
  c.r.dsize = u;
  return true;
}

bool set_cond(Ctx& c, std::string_view v, uint64_t max, std::optional<UintCond>& slot) {
  if (slot) return c.fail("used twice");
  UintCond u;
  if (!parse_cond(c, v, max, u)) return false;
  slot = u;
  return true;
}

bool kw_itype(Ctx& c, std::string_view v) { return set_cond(c, v, 255, c.r.itype); }
bool kw_icode(Ctx& c, std::string_view v) { return set_cond(c, v, 255, c.r.icode); }
bool kw_ttl(Ctx& c, std::string_view v) { return set_cond(c, v, 255, c.r.ttl); }

bool kw_ip_proto(Ctx& c, std::string_view v) {
  static constexpr std::pair<std::string_view, int> kNames[] = {
      {"ip", 0},    {"hopopt", 0}, {"icmp", 1},  {"igmp", 2},       {"ipip", 4},  {"tcp", 6},
      {"egp", 8},   {"udp", 17},   {"ipv6", 41}, {"ipv6-route", 43}, {"ipv6-frag", 44},
      {"rsvp", 46}, {"gre", 47},   {"esp", 50},  {"ah", 51},        {"ipv6-icmp", 58},
      {"icmpv6", 58}, {"ipv6-nonxt", 59}, {"ipv6-opts", 60}, {"ospf", 89}, {"pim", 103},
      {"vrrp", 112}, {"l2tp", 115}, {"sctp", 132},
  };
  v = trim(v);
  std::string_view prefix, name = v;
  if (!v.empty() && (v[0] == '!' || v[0] == '<' || v[0] == '>' || v[0] == '=')) {
    prefix = v.substr(0, 1);
    name = trim(v.substr(1));
  }
  if (!name.empty() && isalpha(static_cast<unsigned char>(name[0]))) {
    for (const auto& [n, num] : kNames)
      if (n == name) return set_cond(c, std::string(prefix) + std::to_string(num), 255, c.r.ip_proto);
    return c.fail("unknown protocol name " + quote(name));
  }
  return set_cond(c, v, 255, c.r.ip_proto);
}

bool kw_icmp_u16(Ctx& c, std::string_view v, std::optional<uint16_t>& slot) {
  if (slot) return c.fail("used twice");
  uint64_t n = 0;
  if (!parse_uint(v, 65535, n)) return c.fail("invalid number " + quote(v));
  slot = static_cast<uint16_t>(n);
  return true;
}
bool kw_icmp_id(Ctx& c, std::string_view v) { return kw_icmp_u16(c, v, c.r.icmp_id); }
bool kw_icmp_seq(Ctx& c, std::string_view v) { return kw_icmp_u16(c, v, c.r.icmp_seq); }

bool kw_pcre(Ctx& c, std::string_view v) {
  PcreMatch m;
  if (!v.empty() && v[0] == '!') {
    m.negated = true;
    v = trim(v.substr(1));
  }
  std::string_view inner;
  if (!unquote(c, v, inner, true)) return false;
  if (inner.empty() || inner[0] != '/') return c.fail("expected \"/regex/flags\"");
  size_t end = inner.rfind('/');
  if (end == 0) return c.fail("missing closing '/'");
  m.pattern = std::string(inner.substr(1, end - 1));
  m.flags = std::string(inner.substr(end + 1));
  uint32_t options = 0;
  for (char f : m.flags) {
    switch (f) {
      case 'i': m.caseless = true; options |= PCRE2_CASELESS; break;
      case 's': m.dotall = true; options |= PCRE2_DOTALL; break;
      case 'm': m.multiline = true; options |= PCRE2_MULTILINE; break;
      case 'x': m.extended = true; options |= PCRE2_EXTENDED; break;
      case 'A': m.anchored = true; options |= PCRE2_ANCHORED; break;
      case 'E': m.dollar_endonly = true; options |= PCRE2_DOLLAR_ENDONLY; break;
      case 'G': m.ungreedy = true; options |= PCRE2_UNGREEDY; break;
      case 'R': m.relative = true; break;
      case 'B': m.rawbytes = true; break;
      case 'O': m.match_limit_off = true; break;
      case 'U': case 'I': case 'P': case 'Q': case 'H': case 'D': case 'M':
      case 'C': case 'S': case 'Y': case 'V': case 'W': case 'Z':
        c.kind = RuleError::Kind::kUnsupportedKeyword;
        return c.fail(std::string("unsupported flag '") + f + "' (selects an HTTP buffer)");
      default:
        return c.fail(std::string("unknown flag '") + f + "'");
    }
  }
  int errcode = 0;
  PCRE2_SIZE erroff = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(m.pattern.data()), m.pattern.size(),
                                   options, &errcode, &erroff, nullptr);
  if (!code) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(errcode, buf, sizeof buf);
    return c.fail("regex does not compile: " + std::string(reinterpret_cast<char*>(buf)) +
                  " at offset " + std::to_string(erroff));
  }
  pcre2_code_free(code);
  c.r.payload.emplace_back(std::move(m));
  return true;
}

bool kw_flow(Ctx& c, std::string_view v) {
  if (c.seen_flow) return c.fail("used twice");
  c.seen_flow = true;
  FlowOpts f;
  std::string_view dir_word, state_word, stream_word;
  for (std::string_view o : split_plain(v, ',')) {
    FlowOpts::Dir d = FlowOpts::Dir::kAny;
    FlowOpts::State s = FlowOpts::State::kAny;
    FlowOpts::Stream st = FlowOpts::Stream::kAny;
    if (o == "to_server" || o == "from_client") d = FlowOpts::Dir::kToServer;
    else if (o == "to_client" || o == "from_server") d = FlowOpts::Dir::kToClient;
    else if (o == "established") s = FlowOpts::State::kEstablished;
    else if (o == "not_established") s = FlowOpts::State::kNotEstablished;
    else if (o == "stateless") s = FlowOpts::State::kStateless;
    else if (o == "only_stream") st = FlowOpts::Stream::kOnlyStream;
    else if (o == "no_stream") st = FlowOpts::Stream::kNoStream;
    else return c.fail("unknown option " + quote(o));
    auto put = [&](auto& slot, auto val, std::string_view& word) {
      if (word.empty()) {
        slot = val;
        word = o;
        return true;
      }
      return c.fail("conflicting options '" + std::string(word) + "' and '" + std::string(o) + "'");
    };
    if (d != FlowOpts::Dir::kAny && !put(f.dir, d, dir_word)) return false;
    if (s != FlowOpts::State::kAny && !put(f.state, s, state_word)) return false;
    if (st != FlowOpts::Stream::kAny && !put(f.stream, st, stream_word)) return false;
  }
  c.r.flow = f;
  return true;
}

bool kw_flowbits(Ctx& c, std::string_view v) {
  Flowbits fb;
  size_t comma = v.find(',');
  std::string_view cmd = trim(v.substr(0, comma));
  std::string_view names = comma == std::string_view::npos ? std::string_view() : trim(v.substr(comma + 1));
  if (cmd == "set") fb.cmd = Flowbits::Cmd::kSet;
  else if (cmd == "unset") fb.cmd = Flowbits::Cmd::kUnset;
  else if (cmd == "toggle") fb.cmd = Flowbits::Cmd::kToggle;
  else if (cmd == "isset") fb.cmd = Flowbits::Cmd::kIsSet;
  else if (cmd == "isnotset") fb.cmd = Flowbits::Cmd::kIsNotSet;
  else if (cmd == "noalert") fb.cmd = Flowbits::Cmd::kNoAlert;
  else return c.fail("unknown command " + quote(cmd));
  if (fb.cmd == Flowbits::Cmd::kNoAlert) {
    if (comma != std::string_view::npos) return c.fail("noalert takes no name");
    c.r.noalert = true;
    c.r.flowbits.push_back(std::move(fb));
    return true;
  }
  if (names.empty()) return c.fail(std::string(cmd) + " needs a flowbit name");
  const bool has_or = names.find('|') != std::string_view::npos;
  const bool has_and = names.find('&') != std::string_view::npos;
  if (has_or && has_and) return c.fail("cannot mix '|' and '&' in one flowbits");
  if (has_or && fb.cmd != Flowbits::Cmd::kIsSet && fb.cmd != Flowbits::Cmd::kIsNotSet)
    return c.fail("'|' groups are only for isset and isnotset");
  fb.any_of = has_or;
  for (std::string_view n : split_plain(names, has_or ? '|' : '&')) {
    if (n.empty() || n.find_first_of(" \t,") != std::string_view::npos)
      return c.fail("invalid flowbit name " + quote(n));
    fb.names.emplace_back(n);
  }
  c.r.flowbits.push_back(std::move(fb));
  return true;
}

bool parse_track(std::string_view v, ThresholdTrack& t, bool allow_either) {
  if (v == "by_src") t = ThresholdTrack::kBySrc;
  else if (v == "by_dst") t = ThresholdTrack::kByDst;
  else if (v == "by_rule") t = ThresholdTrack::kByRule;
  else if (v == "by_flow") t = ThresholdTrack::kByFlow;
  else if (v == "by_both") t = ThresholdTrack::kByBoth;
  else if (allow_either && v == "by_either") t = ThresholdTrack::kByEither;
  else return false;
  return true;
}

bool parse_threshold_type(std::string_view v, ThresholdType& t) {
  if (v == "limit") t = ThresholdType::kLimit;
  else if (v == "threshold") t = ThresholdType::kThreshold;
  else if (v == "both") t = ThresholdType::kBoth;
  else if (v == "backoff") t = ThresholdType::kBackoff;
  else return false;
  return true;
}

bool threshold_like(Ctx& c, std::string_view v, bool with_type, std::optional<ThresholdSpec>& slot) {
  if (slot) return c.fail("used twice");
  ThresholdSpec t;
  bool has_type = false, has_track = false, has_count = false, has_seconds = false, has_multiplier = false;
  for (std::string_view part : split_plain(v, ',')) {
    size_t sp = part.find_first_of(" \t");
    if (sp == std::string_view::npos) return c.fail("expected 'name value', got " + quote(part));
    std::string_view k = trim(part.substr(0, sp)), val = trim(part.substr(sp));
    bool* seen = nullptr;
    if (k == "type" && with_type) {
      seen = &has_type;
      if (!parse_threshold_type(val, t.type))
        return c.fail("type must be limit, threshold, both or backoff, got " + quote(val));
    } else if (k == "track") {
      seen = &has_track;
      if (!parse_track(val, t.track, false))
        return c.fail("track must be by_src, by_dst, by_rule, by_flow or by_both, got " + quote(val));
    } else if (k == "count") {
      seen = &has_count;
      uint64_t n = 0;
      if (!parse_uint(val, 0xffffffffu, n) || n == 0) return c.fail("invalid count " + quote(val));
      t.count = static_cast<uint32_t>(n);
    } else if (k == "seconds") {
      seen = &has_seconds;
      uint64_t n = 0;
      if (!parse_uint(val, 0xffffffffu, n) || n == 0) return c.fail("invalid seconds " + quote(val));
      t.seconds = static_cast<uint32_t>(n);
    } else if (k == "multiplier" && with_type) {
      seen = &has_multiplier;
      uint64_t n = 0;
      if (!parse_uint(val, 0xffffffffu, n) || n < 2) return c.fail("invalid multiplier " + quote(val) + " (2 or more)");
      t.multiplier = static_cast<uint32_t>(n);
    } else if (k == "unique_on" && !with_type) {
      // Newer Suricata counts distinct ports; a real feature we lack, not a typo.
      c.kind = RuleError::Kind::kUnsupportedKeyword;
      return c.fail("unsupported option 'unique_on'");
    } else {
      return c.fail("unknown option " + quote(k));
    }
    if (*seen) return c.fail("option " + quote(k) + " given twice");
    *seen = true;
  }
  if (with_type && !has_type) return c.fail("missing 'type'");
  if (!has_track) return c.fail("missing 'track'");
  if (!has_count) return c.fail("missing 'count'");
  if (t.type == ThresholdType::kBackoff) {  // only `threshold` has a type
    // Suricata 8: backoff counts per flow, by a multiplier instead of a window.
    if (t.track != ThresholdTrack::kByFlow) return c.fail("type backoff needs track by_flow");
    if (has_seconds) return c.fail("type backoff takes 'multiplier', not 'seconds'");
    if (!has_multiplier) return c.fail("missing 'multiplier'");
  } else {
    if (has_multiplier) return c.fail("'multiplier' is for type backoff only");
    if (!has_seconds) return c.fail("missing 'seconds'");
  }
  slot = t;
  return true;
}

bool kw_threshold(Ctx& c, std::string_view v) { return threshold_like(c, v, true, c.r.threshold); }
bool kw_detection_filter(Ctx& c, std::string_view v) {
  return threshold_like(c, v, false, c.r.detection_filter);
}

// Options shared by byte_test, byte_jump and byte_extract.
bool byte_common(Ctx& c, std::string_view o, ByteEndian& endian, ByteBase& base, bool& is_string,
                 bool& dce, bool& relative, bool& handled) {
  handled = true;
  if (o == "relative") relative = true;
  else if (o == "big") endian = ByteEndian::kBig;
  else if (o == "little") endian = ByteEndian::kLittle;
  else if (o == "dce") { dce = true; endian = ByteEndian::kDce; }
  else if (o == "string") is_string = true;
  else if (o == "hex") base = ByteBase::kHex;
  else if (o == "dec") base = ByteBase::kDec;
  else if (o == "oct") base = ByteBase::kOct;
  else handled = false;
  (void)c;
  return true;
}

// The byte count: a number, or (byte_test, byte_jump) a byte_extract variable.
bool parse_nbytes(Ctx& c, std::string_view v, bool var_ok, uint64_t& n, std::string& var) {
  if (parse_uint(v, 255, n)) return true;
  if (var_ok && is_ident(v)) {
    if (!c.byte_vars.count(v)) return c.fail("unknown variable " + quote(v) + " (no byte_extract defines it)");
    var = std::string(v);
    return true;
  }
  return c.fail("invalid byte count " + quote(v));
}

bool check_nbytes(Ctx& c, std::string_view v, bool is_string, ByteBase& base, uint64_t n, uint8_t& out,
                  bool from_var = false, uint64_t min = 1) {
  if (base != ByteBase::kNone && !is_string) return c.fail("a number base (hex, dec, oct) needs 'string'");
  if (is_string && base == ByteBase::kNone) base = ByteBase::kDec;
  if (from_var) return true;
  if (n < min || n > (is_string ? 10u : 8u))
    return c.fail("cannot read " + std::string(v) + " bytes (" + std::to_string(min) + "-" + (is_string ? "10" : "8") +
                  (is_string ? " as a string)" : " binary; up to 10 with 'string')"));
  out = static_cast<uint8_t>(n);
  return true;
}

bool kw_byte_test(Ctx& c, std::string_view v) {
  auto p = split_plain(v, ',');
  if (p.size() < 4) return c.fail("expected 'bytes, operator, value, offset[, options]'");
  ByteTest b;
  uint64_t n = 0;
  if (!parse_nbytes(c, p[0], true, n, b.nbytes_var)) return false;
  std::string_view op = p[1];
  if (!op.empty() && op[0] == '!') {
    b.negated = true;
    op = trim(op.substr(1));
  }
  if (op != "<" && op != ">" && op != "=" && op != "<=" && op != ">=" && op != "&" && op != "^")
    return c.fail("unknown operator " + quote(p[1]));
  b.op = std::string(op);
  uint64_t val = 0;
  if (parse_uint(p[2], UINT64_MAX, val, true)) {
    b.value.value = static_cast<int64_t>(val);
  } else if (!int_or_var(c, p[2], 0, INT64_MAX, b.value)) {
    return false;
  }
  if (!int_or_var(c, p[3], INT32_MIN, INT32_MAX, b.offset)) return false;
  bool is_string = false;
  for (size_t i = 4; i < p.size(); ++i) {
    bool handled = false;
    byte_common(c, p[i], b.endian, b.base, is_string, b.dce, b.relative, handled);
    if (handled) continue;
    if (starts_with(p[i], "bitmask")) {
      uint64_t m = 0;
      if (!parse_uint(trim(p[i].substr(7)), UINT32_MAX, m, true)) return c.fail("invalid bitmask " + quote(p[i]));
      b.bitmask = m;
      continue;
    }
    return c.fail("unknown option " + quote(p[i]));
  }
  if (!check_nbytes(c, p[0], is_string, b.base, n, b.nbytes, !b.nbytes_var.empty())) return false;
  c.r.payload.emplace_back(std::move(b));
  return true;
}

bool kw_byte_jump(Ctx& c, std::string_view v) {
  auto p = split_plain(v, ',');
  if (p.size() < 2) return c.fail("expected 'bytes, offset[, options]'");
  ByteJump b;
  uint64_t n = 0;
  if (!parse_nbytes(c, p[0], true, n, b.nbytes_var)) return false;
  if (!int_or_var(c, p[1], INT32_MIN, INT32_MAX, b.offset)) return false;
  bool is_string = false;
  for (size_t i = 2; i < p.size(); ++i) {
    bool handled = false;
    byte_common(c, p[i], b.endian, b.base, is_string, b.dce, b.relative, handled);
    if (handled) continue;
    std::string_view o = p[i];
    if (o == "align") b.align = true;
    else if (o == "from_beginning") b.from_beginning = true;
    else if (o == "from_end") b.from_end = true;
    else if (starts_with(o, "multiplier")) {
      uint64_t m = 0;
      if (!parse_uint(trim(o.substr(10)), 65535, m) || m == 0) return c.fail("invalid multiplier " + quote(o));
      b.multiplier = static_cast<uint32_t>(m);
    } else if (starts_with(o, "post_offset")) {
      int64_t m = 0;
      if (!parse_int(trim(o.substr(11)), -65535, 65535, m)) return c.fail("invalid post_offset " + quote(o));
      b.post_offset = m;
    } else if (starts_with(o, "bitmask")) {
      uint64_t m = 0;
      if (!parse_uint(trim(o.substr(7)), UINT32_MAX, m, true)) return c.fail("invalid bitmask " + quote(o));
      b.bitmask = m;
    } else {
      return c.fail("unknown option " + quote(o));
    }
  }
  if (b.from_beginning && b.from_end) return c.fail("from_beginning and from_end together");
  if (!check_nbytes(c, p[0], is_string, b.base, n, b.nbytes, !b.nbytes_var.empty(), 0)) return false;
  c.r.payload.emplace_back(std::move(b));
  return true;
}

bool kw_byte_extract(Ctx& c, std::string_view v) {
  auto p = split_plain(v, ',');
  if (p.size() < 3) return c.fail("expected 'bytes, offset, name[, options]'");
  ByteExtract b;
  uint64_t n = 0;
  if (!parse_uint(p[0], 255, n)) return c.fail("invalid byte count " + quote(p[0]));
  if (!parse_int(p[1], INT32_MIN, INT32_MAX, b.offset)) return c.fail("invalid offset " + quote(p[1]));
  if (!is_ident(p[2])) return c.fail("invalid variable name " + quote(p[2]));
  if (c.byte_vars.count(p[2])) return c.fail("variable " + quote(p[2]) + " defined twice");
  b.name = std::string(p[2]);
  bool is_string = false;
  for (size_t i = 3; i < p.size(); ++i) {
    bool handled = false;
    byte_common(c, p[i], b.endian, b.base, is_string, b.dce, b.relative, handled);
    if (handled) continue;
    std::string_view o = p[i];
    if (starts_with(o, "multiplier")) {
      uint64_t m = 0;
      if (!parse_uint(trim(o.substr(10)), 65535, m) || m == 0) return c.fail("invalid multiplier " + quote(o));
      b.multiplier = static_cast<uint32_t>(m);
    } else if (starts_with(o, "align")) {
      uint64_t m = 0;
      if (!parse_uint(trim(o.substr(5)), 4, m) || (m != 2 && m != 4)) return c.fail("align must be 2 or 4, got " + quote(o));
      b.align = static_cast<uint8_t>(m);
    } else {
      return c.fail("unknown option " + quote(o));
    }
  }
  if (!check_nbytes(c, p[0], is_string, b.base, n, b.nbytes)) return false;
  c.byte_vars.insert(b.name);
  c.r.payload.emplace_back(std::move(b));
  return true;
}

bool tcp_flag_bit(char ch, uint8_t& bit) {
  switch (ch) {
    case 'F': case 'f': bit = 0x01; return true;
    case 'S': case 's': bit = 0x02; return true;
    case 'R': case 'r': bit = 0x04; return true;
    case 'P': case 'p': bit = 0x08; return true;
    case 'A': case 'a': bit = 0x10; return true;
    case 'U': case 'u': bit = 0x20; return true;
    case 'E': case 'e': case '2': bit = 0x40; return true;
    case 'C': case 'c': case '1': bit = 0x80; return true;
    default: return false;
  }
}

bool kw_flags(Ctx& c, std::string_view v) {
  if (c.r.flags) return c.fail("used twice");
  TcpFlags f;
  size_t comma = v.find(',');
  std::string_view test = trim(v.substr(0, comma));
  std::string_view mask = comma == std::string_view::npos ? std::string_view() : trim(v.substr(comma + 1));
  auto mod_of = [](char ch, TcpFlags::Mod& m) {
    if (ch == '+') m = TcpFlags::Mod::kPlus;
    else if (ch == '*') m = TcpFlags::Mod::kAny;
    else if (ch == '!') m = TcpFlags::Mod::kNot;
    else return false;
    return true;
  };
  bool have_mod = false, zero = false;
  for (size_t i = 0; i < test.size(); ++i) {
    char ch = test[i];
    TcpFlags::Mod m;
    if (mod_of(ch, m)) {
      if (have_mod || (i != 0 && i + 1 != test.size()))
        return c.fail("the modifier (+, * or !) goes once, before or after the flags");
      have_mod = true;
      f.mod = m;
      continue;
    }
    if (ch == '0') {
      zero = true;
      continue;
    }
    uint8_t bit = 0;
    if (!tcp_flag_bit(ch, bit)) return c.fail(std::string("unknown flag '") + ch + "'");
    f.bits |= bit;
  }
  if (f.bits == 0 && !zero) return c.fail("no flags given");
  if (zero && f.bits != 0) return c.fail("'0' (no flags) together with flags");
  for (char ch : mask) {
    uint8_t bit = 0;
    if (!tcp_flag_bit(ch, bit)) return c.fail(std::string("unknown flag '") + ch + "' in the mask");
    f.ignore |= bit;
  }
  c.r.flags = f;
  return true;
}

bool kw_noalert(Ctx& c, std::string_view) {
  c.r.noalert = true;
  return true;
}

// `app-layer-protocol:[!]name[|name...][,qualifier...]`. One nDPI
// classification stands for the whole flow, so the modes that pick one
// direction's or the original protocol cannot be honoured and are refused;
// `direction` (the default), `either` and `final` all mean that
// classification, and `exact` changes nothing (no protocol here has
// sub-protocols a rule could match loosely).
bool kw_app_layer_protocol(Ctx& c, std::string_view v) {
  std::vector<std::string_view> parts = split_plain(v, ',');
  std::string_view names = parts[0];
  AppLayerProtocol a;
  if (!names.empty() && names[0] == '!') {
    a.negated = true;
    names = trim(names.substr(1));
  }
  for (std::string_view n : split_plain(names, '|')) {
    if (n.empty()) return c.fail("empty protocol name in " + quote(v));
    if (n == "unknown") {
      if (a.negated) return c.fail("'unknown' cannot be negated");
      a.protos |= app_bit(AppProto::kUnknown);
      continue;
    }
    if (n == "failed") {
      a.protos |= app_bit(AppProto::kFailed);
      continue;
    }
    std::string why;
    std::optional<AppProto> p = app_proto_by_name(n, &why);
    if (!p) {
      c.kind = RuleError::Kind::kUnsupportedKeyword;
      if (!why.empty()) return c.fail(why);
      return c.fail("unknown app-layer protocol " + quote(n) + " (known: " + app_proto_names() +
                    ", unknown, failed)");
    }
    a.protos |= app_bit(*p);
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    std::string_view q = parts[i];
    if (q == "direction" || q == "either" || q == "final" || q == "exact") continue;
    if (q == "to_server" || q == "to_client" || q == "original") {
      c.kind = RuleError::Kind::kUnsupportedKeyword;
      return c.fail("mode " + quote(q) +
                    " needs a protocol per direction or per protocol change; nDPI gives one classification "
                    "per flow (use no mode, 'either' or 'final')");
    }
    return c.fail("unknown mode " + quote(q));
  }
  c.r.app_layer_protocol.push_back(a);
  return true;
}

// Every option keyword the parser accepts. Anything else rejects the rule.
constexpr Keyword kKeywords[] = {
    {"msg", Arg::kRequired, kw_msg},
    {"sid", Arg::kRequired, kw_sid},
    {"rev", Arg::kRequired, kw_rev},
    {"gid", Arg::kRequired, kw_gid},
    {"classtype", Arg::kRequired, kw_classtype},
    {"priority", Arg::kRequired, kw_priority},
    {"reference", Arg::kRequired, kw_reference},
    {"metadata", Arg::kRequired, kw_metadata},
    {"target", Arg::kRequired, kw_target},
    {"content", Arg::kRequired, kw_content},
    {"nocase", Arg::kNone, kw_nocase},
    {"depth", Arg::kRequired, kw_depth},
    {"offset", Arg::kRequired, kw_offset},
    {"distance", Arg::kRequired, kw_distance},
    {"within", Arg::kRequired, kw_within},
    {"startswith", Arg::kNone, kw_startswith},
    {"endswith", Arg::kNone, kw_endswith},
    {"fast_pattern", Arg::kNone, kw_fast_pattern},  // value optional: handled below
    {"isdataat", Arg::kRequired, kw_isdataat},
    {"dsize", Arg::kRequired, kw_dsize},
    {"pcre", Arg::kRequired, kw_pcre},
    {"flow", Arg::kRequired, kw_flow},
    {"flowbits", Arg::kRequired, kw_flowbits},
    {"threshold", Arg::kRequired, kw_threshold},
    {"detection_filter", Arg::kRequired, kw_detection_filter},
    {"byte_test", Arg::kRequired, kw_byte_test},
    {"byte_jump", Arg::kRequired, kw_byte_jump},
    {"byte_extract", Arg::kRequired, kw_byte_extract},
    {"itype", Arg::kRequired, kw_itype},
    {"icode", Arg::kRequired, kw_icode},
    {"icmp_id", Arg::kRequired, kw_icmp_id},
    {"icmp_seq", Arg::kRequired, kw_icmp_seq},
    {"flags", Arg::kRequired, kw_flags},
    {"ttl", Arg::kRequired, kw_ttl},
    {"ip_proto", Arg::kRequired, kw_ip_proto},
    {"noalert", Arg::kNone, kw_noalert},
    {"app-layer-protocol", Arg::kRequired, kw_app_layer_protocol},
};

const Keyword* find_keyword(std::string_view name) {
  for (const Keyword& k : kKeywords)
    if (k.name == name) return &k;
  return nullptr;
}

struct Option {
  std::string_view keyword;
  std::string_view value;
  bool has_value = false;
};

// Splits the option body on unescaped ';' (Suricata does not look at quotes
// here: a ';' inside a string must be written `\;`).
bool split_options(std::string_view body, std::vector<Option>& out, std::string& err) {
  size_t start = 0;
  for (size_t i = 0; i <= body.size(); ++i) {
    if (i < body.size() && body[i] == '\\') {
      ++i;
      continue;
    }
    if (i == body.size() || body[i] == ';') {
      std::string_view opt = trim(body.substr(start, std::min(i, body.size()) - start));
      start = i + 1;
      if (opt.empty()) continue;
      Option o;
      size_t colon = opt.find(':');
      if (colon == std::string_view::npos) {
        o.keyword = opt;
      } else {
        o.keyword = trim(opt.substr(0, colon));
        o.value = trim(opt.substr(colon + 1));
        o.has_value = true;
      }
      if (o.keyword.empty() || o.keyword.find_first_of(" \t\"()") != std::string_view::npos) {
        err = "malformed option " + quote(opt);
        return false;
      }
      out.push_back(o);
    }
  }
  return true;
}

// The header's protocol; an app-layer name becomes kAppLayer with its
// AppProto. Returns the reason when the name is refused.
std::string parse_proto(std::string_view s, Rule& r) {
  if (s == "ip") r.proto = RuleProto::kIp;
  else if (s == "tcp") r.proto = RuleProto::kTcp;
  else if (s == "udp") r.proto = RuleProto::kUdp;
  else if (s == "icmp") r.proto = RuleProto::kIcmp;
  else if (s == "icmpv4") r.proto = RuleProto::kIcmpV4;
  else if (s == "icmpv6") r.proto = RuleProto::kIcmpV6;
  else if (s == "tcp-pkt") r.proto = RuleProto::kTcpPkt;
  else if (s == "tcp-stream") r.proto = RuleProto::kTcpStream;
  else {
    std::string why;
    std::optional<AppProto> p = app_proto_by_name(s, &why);
    if (!p) {
      if (!why.empty()) return why;
      return "unknown protocol " + quote(s) + ": not ip, tcp, udp, icmp, icmpv4, icmpv6, tcp-pkt, tcp-stream " +
             "nor an app-layer protocol (" + app_proto_names() + ")";
    }
    r.proto = RuleProto::kAppLayer;
    r.app_proto = std::string(s);
    r.app = *p;
  }
  return {};
}

// The checks that need the whole rule.
bool finish(Ctx& c) {
  Rule& r = c.r;
  for (const auto& pm : r.payload) {
    const auto* m = std::get_if<ContentMatch>(&pm);
    if (!m || !m->fast_pattern_only) continue;
    c.keyword = "fast_pattern";
    if (m->negated) return c.fail("'only' on a negated content");
    if (m->depth || m->offset || m->distance || m->within)
      return c.fail("'only' on a content with depth, offset, distance or within");
  }
  return true;
}

}  // namespace

std::vector<std::string_view> supported_rule_keywords() {
  std::vector<std::string_view> out;
  for (const Keyword& k : kKeywords) out.push_back(k.name);
  return out;
}

AddressResult parse_address_spec(std::string_view text, const RuleVars& vars) {
  AddressResult res;
  AddressNode n;
  if (parse_addr(text, vars, 0, 0, n, res.error)) res.node = std::move(n);
  return res;
}

PortResult parse_port_spec(std::string_view text, const RuleVars& vars) {
  PortResult res;
  PortNode n;
  if (parse_port(text, vars, 0, 0, n, res.error)) res.node = std::move(n);
  return res;
}

// For keywords that select an application-layer buffer: what they need, so
// a rejected rule says why ("needs the HTTP parser"), not only what.
static std::string app_layer_need(std::string_view kw) {
  auto starts = [&](std::string_view p) { return kw.substr(0, p.size()) == p; };
  const char* what = nullptr;
  if (starts("http") || kw == "uricontent" || kw == "urilen") what = "the HTTP parser";
  else if (kw == "file_data" || starts("file.") || starts("file_") || kw == "filename" || kw == "fileext" ||
           kw == "filemagic" || kw == "filestore")
    what = "file extraction from an application-layer parser";
  else if (starts("dns")) what = "the DNS parser";
  else if (starts("tls") || starts("ssl_") || starts("ja3")) what = "the TLS parser";
  else if (starts("ssh")) what = "the SSH parser";
  else if (starts("smb") || starts("dce") || starts("ftp") || starts("smtp") || starts("krb5") || starts("sip") ||
           starts("snmp") || starts("quic") || starts("mqtt") || starts("modbus") || starts("dnp3") ||
           kw == "app-layer-event")
    what = "an application-layer parser";
  if (!what) return "";
  return std::string(" (needs ") + what + ", which wirescope does not have yet)";
}

RuleResult parse_rule(std::string_view text, const RuleVars& vars, std::string_view file,
                      uint32_t line, const RuleParseOptions& opts) {
  RuleResult res;
  RuleError e;
  e.file = std::string(file);
  e.line = line;
  auto fail = [&](RuleError::Kind kind, std::string keyword, std::string reason) {
    e.kind = kind;
    e.keyword = std::move(keyword);
    e.reason = std::move(reason);
    res.error = std::move(e);
    return res;
  };

  text = trim(text);
  size_t open = text.find('(');
  if (open == std::string_view::npos) return fail(RuleError::Kind::kSyntax, "rule", "rule has no '(' options section");
  const bool closed = text.back() == ')';
  std::string_view header = trim(text.substr(0, open));
  std::string_view body = text.substr(open + 1, text.size() - open - 1 - (closed ? 1 : 0));

  std::vector<Option> options;
  std::string err;
  const bool split_ok = split_options(body, options, err);
  // The sid first, so every later error can name its rule.
  for (const Option& o : options) {
    uint64_t n = 0;
    if (o.keyword == "sid" && parse_uint(o.value, 0xffffffffu, n) && n > 0) e.sid = static_cast<uint32_t>(n);
  }
  if (!closed) return fail(RuleError::Kind::kSyntax, "rule", "rule does not end with ')'");
  if (!split_ok) return fail(RuleError::Kind::kSyntax, "rule", err);

  Rule r;
  r.file = std::string(file);
  r.line = line;

  // Header: action proto src sport dir dst dport; lists may hold spaces.
  std::vector<std::string_view> h;
  {
    int depth = 0;
    size_t start = std::string_view::npos;
    for (size_t i = 0; i <= header.size(); ++i) {
      const bool end = i == header.size();
      const char ch = end ? ' ' : header[i];
      if (ch == '[') ++depth;
      if (ch == ']') --depth;
      const bool space = ch == ' ' || ch == '\t';
      if (space && (depth <= 0 || end)) {
        if (start != std::string_view::npos) h.push_back(header.substr(start, i - start));
        start = std::string_view::npos;
      } else if (start == std::string_view::npos) {
        start = i;
      }
    }
  }
  if (h.size() != 7)
    return fail(RuleError::Kind::kSyntax, "header",
                "header must be 'action proto src_addr src_port direction dst_addr dst_port', got " +
                    std::to_string(h.size()) + " fields");
  if (!parse_action(h[0], &r.action, &r.reject_to))
    return fail(RuleError::Kind::kSyntax, "header",
                "unknown action " + quote(h[0]) +
                    ": not alert, pass, drop, reject, rejectsrc, rejectdst nor rejectboth");
  if (std::string why = parse_proto(h[1], r); !why.empty()) {
    // A name Suricata knows but nDPI cannot classify is a limit of
    // wirescope, not a typo.
    const bool known = why.rfind("unknown protocol", 0) != 0;
    return fail(known ? RuleError::Kind::kUnsupportedKeyword : RuleError::Kind::kSyntax, "header", why);
  }
  if (!parse_addr(h[2], vars, 0, 0, r.src, err))
    return fail(RuleError::Kind::kSyntax, "header", "source address: " + err);
  if (!parse_port(h[3], vars, 0, 0, r.sport, err))
    return fail(RuleError::Kind::kSyntax, "header", "source port: " + err);
  if (h[4] == "->") r.direction = RuleDirection::kToDst;
  else if (h[4] == "<>") r.direction = RuleDirection::kBoth;
  else if (h[4] == "<-")
    return fail(RuleError::Kind::kSyntax, "header", "'<-' is not a direction: swap the two sides and use '->'");
  else return fail(RuleError::Kind::kSyntax, "header", "unknown direction " + quote(h[4]));
  if (!parse_addr(h[5], vars, 0, 0, r.dst, err))
    return fail(RuleError::Kind::kSyntax, "header", "destination address: " + err);
  if (!parse_port(h[6], vars, 0, 0, r.dport, err))
    return fail(RuleError::Kind::kSyntax, "header", "destination port: " + err);

  Ctx c{r, opts, {}, RuleError::Kind::kSyntax, {}, {}, false};
  for (const Option& o : options) {
    const Keyword* k = find_keyword(o.keyword);
    if (!k)
      return fail(RuleError::Kind::kUnsupportedKeyword, std::string(o.keyword),
                  "unsupported keyword " + quote(o.keyword) + app_layer_need(o.keyword));
    c.keyword = std::string(o.keyword);
    bool ok = true;
    if (k->arg == Arg::kRequired && (!o.has_value || o.value.empty())) {
      ok = c.fail("needs a value");
    } else if (k->arg == Arg::kNone && o.has_value && k->fn != kw_fast_pattern) {
      ok = c.fail("takes no value");
    } else {
      ok = k->fn(c, o.value);
    }
    if (!ok) return fail(c.kind, c.keyword, c.keyword + ": " + c.err);
  }
  if (r.sid == 0) return fail(RuleError::Kind::kSyntax, "sid", "rule has no sid");
  if (!finish(c)) return fail(c.kind, c.keyword, c.keyword + ": " + c.err);
  res.rule = std::move(r);
  return res;
}

namespace {
// A commented-out rule, as rule files write them (in lower case: "# Pass
// the following" is prose).
bool looks_like_rule(std::string_view s) {
  const size_t end = s.find_first_of(" \t");
  RuleAction a;
  RejectTo to;
  return end != std::string_view::npos && parse_action(s.substr(0, end), &a, &to, false);
}
}  // namespace

RuleFileResult parse_rules_text(std::string_view text, const RuleVars& vars, std::string_view file,
                                const RuleParseOptions& opts) {
  RuleFileResult out;
  std::string pending;
  uint32_t pending_line = 0;
  uint32_t lineno = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    const bool last = nl == std::string_view::npos;
    std::string_view raw = text.substr(pos, last ? std::string_view::npos : nl - pos);
    pos = last ? text.size() + 1 : nl + 1;
    if (last && raw.empty() && pending.empty()) break;
    ++lineno;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    std::string_view t = trim(raw);
    if (pending.empty()) {
      if (t.empty()) continue;
      if (t[0] == '#') {
        if (looks_like_rule(trim(t.substr(1)))) ++out.disabled;
        continue;
      }
      pending_line = lineno;
    }
    // A trailing backslash continues the rule on the next line.
    if (!t.empty() && t.back() == '\\' && !last) {
      pending.append(t.substr(0, t.size() - 1));
      continue;
    }
    pending.append(t);
    RuleResult r = parse_rule(pending, vars, file, pending_line, opts);
    if (r.rule) out.rules.push_back(std::move(*r.rule));
    else out.errors.push_back(std::move(*r.error));
    pending.clear();
  }
  return out;
}

RuleFileResult parse_rules_file(const std::string& path, const RuleVars& vars, const RuleParseOptions& opts) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    RuleFileResult out;
    RuleError e;
    e.file = path;
    e.keyword = "file";
    e.reason = "cannot open the rules file";
    out.errors.push_back(std::move(e));
    return out;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_rules_text(ss.str(), vars, path, opts);
}

}  // namespace ws
