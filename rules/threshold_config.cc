#include "rules/threshold_config.h"

#include <charconv>
#include <fstream>
#include <sstream>

namespace ws {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool parse_u32(std::string_view s, uint32_t& out) {
  s = trim(s);
  if (s.empty()) return false;
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return false;
  out = v;
  return true;
}

// Splits "a b, c d, ip [1.2.3.4, 5.6.7.8]" on commas outside brackets.
std::vector<std::string_view> split_fields(std::string_view s) {
  std::vector<std::string_view> out;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i < s.size() && s[i] == '[') ++depth;
    if (i < s.size() && s[i] == ']') --depth;
    if (i == s.size() || (s[i] == ',' && depth == 0)) {
      out.push_back(trim(s.substr(start, i - start)));
      start = i + 1;
    }
  }
  return out;
}

// Returns an empty string on success, the reason otherwise.
std::string parse_line(std::string_view line, const RuleVars& vars, ThresholdEntry& e) {
  size_t sp = line.find_first_of(" \t");
  if (sp == std::string_view::npos) return "expected 'threshold|event_filter|suppress|rate_filter gen_id N, sig_id N, ...'";
  std::string_view kind = line.substr(0, sp);
  if (kind == "threshold") e.kind = ThresholdEntry::Kind::kThreshold;
  else if (kind == "event_filter") e.kind = ThresholdEntry::Kind::kEventFilter;
  else if (kind == "suppress") e.kind = ThresholdEntry::Kind::kSuppress;
  else if (kind == "rate_filter") e.kind = ThresholdEntry::Kind::kRateFilter;
  else return "unknown entry '" + std::string(kind) + "' (threshold, event_filter, suppress or rate_filter)";
  const bool suppress = e.kind == ThresholdEntry::Kind::kSuppress;
  const bool rate = e.kind == ThresholdEntry::Kind::kRateFilter;

  bool gid = false, sid = false, type = false, track = false, count = false, seconds = false, ip = false,
       new_action = false, timeout = false;
  for (std::string_view f : split_fields(line.substr(sp))) {
    size_t ws = f.find_first_of(" \t");
    if (ws == std::string_view::npos) return "expected 'name value', got '" + std::string(f) + "'";
    std::string_view k = f.substr(0, ws), v = trim(f.substr(ws));
    auto once = [&](bool& seen) {
      if (seen) return false;
      seen = true;
      return true;
    };
    std::string dup = std::string("'").append(k).append("' given twice");
    if (k == "gen_id") {
      if (!once(gid)) return dup;
      if (!parse_u32(v, e.gid)) return "invalid gen_id '" + std::string(v) + "'";
    } else if (k == "sig_id") {
      if (!once(sid)) return dup;
      if (!parse_u32(v, e.sid)) return "invalid sig_id '" + std::string(v) + "'";
    } else if (k == "type" && !suppress && !rate) {
      if (!once(type)) return dup;
      if (v == "limit") e.type = ThresholdType::kLimit;
      else if (v == "threshold") e.type = ThresholdType::kThreshold;
      else if (v == "both") e.type = ThresholdType::kBoth;
      else return "type must be limit, threshold or both, got '" + std::string(v) + "'";
    } else if (k == "track") {
      if (!once(track)) return dup;
      if (v == "by_src") e.track = ThresholdTrack::kBySrc;
      else if (v == "by_dst") e.track = ThresholdTrack::kByDst;
      else if (v == "by_either" && suppress) e.track = ThresholdTrack::kByEither;
      else if (v == "by_rule" && !suppress) e.track = ThresholdTrack::kByRule;
      else if (v == "by_both" && !suppress) e.track = ThresholdTrack::kByBoth;
      // rate_filter by_flow: Suricata 8 (suricata-verify threshold-config-rate-filter-alert-flow).
      else if (v == "by_flow" && !suppress) e.track = ThresholdTrack::kByFlow;
      else
        return std::string("track must be ") +
               (suppress ? "by_src, by_dst or by_either" : "by_src, by_dst, by_rule, by_both or by_flow") +
               ", got '" + std::string(v) + "'";
    } else if (k == "count" && !suppress) {
      if (!once(count)) return dup;
      if (!parse_u32(v, e.count) || e.count == 0) return "invalid count '" + std::string(v) + "'";
    } else if (k == "seconds" && !suppress) {
      if (!once(seconds)) return dup;
      if (!parse_u32(v, e.seconds) || e.seconds == 0) return "invalid seconds '" + std::string(v) + "'";
    } else if (k == "ip" && suppress) {
      if (!once(ip)) return dup;
      AddressResult a = parse_address_spec(v, vars);
      if (!a.node) return "ip: " + a.error;
      e.ip = std::move(*a.node);
    } else if (k == "new_action" && rate) {
      if (!once(new_action)) return dup;
      if (v == "alert") e.new_action = RuleAction::kAlert;
      else if (v == "drop") e.new_action = RuleAction::kDrop;
      else if (v == "pass") e.new_action = RuleAction::kPass;
      else if (v == "reject") e.new_action = RuleAction::kReject;
      else return "new_action must be alert, drop, pass or reject, got '" + std::string(v) + "'";
    } else if (k == "timeout" && rate) {
      if (!once(timeout)) return dup;
      if (!parse_u32(v, e.timeout)) return "invalid timeout '" + std::string(v) + "'";
    } else {
      return "unexpected '" + std::string(k) + "' in " + std::string(kind);
    }
  }
  if (!gid) return "missing gen_id";
  if (!sid) return "missing sig_id";
  if (suppress) {
    if (track != ip) return "suppress needs both 'track' and 'ip', or neither";
    return {};
  }
  if (!type && !rate) return "missing type";
  if (!track) return "missing track";
  if (!count) return "missing count";
  if (!seconds) return "missing seconds";
  if (rate && !new_action) return "missing new_action";
  if (rate && !timeout) return "missing timeout";
  return {};
}

}  // namespace

std::string ThresholdConfigError::str() const {
  return (file.empty() ? std::string("<threshold>") : file) + ":" + std::to_string(line) + ": " + reason;
}

ThresholdConfig parse_threshold_config_text(std::string_view text, std::string_view file, const RuleVars& vars) {
  ThresholdConfig out;
  uint32_t lineno = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++lineno;
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    ThresholdEntry e;
    e.line = lineno;
    std::string reason = parse_line(line, vars, e);
    if (reason.empty()) out.entries.push_back(std::move(e));
    else out.errors.push_back({std::string(file), lineno, std::move(reason)});
  }
  return out;
}

ThresholdConfig parse_threshold_config_file(const std::string& path, const RuleVars& vars) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ThresholdConfig out;
    out.errors.push_back({path, 0, "cannot open the threshold file"});
    return out;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_threshold_config_text(ss.str(), path, vars);
}

}  // namespace ws
