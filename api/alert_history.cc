#include "api/alert_history.h"

#include <charconv>
#include <cstring>
#include <ctime>

namespace ws {

namespace {

bool parse_u64(std::string_view s, uint64_t* v) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && p == s.data() + s.size();
}

bool digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

bool parse_rfc3339(const std::string& s, uint64_t* ns) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM|+HHMM)
  int Y, M, D, h, m, sec;
  if (!digits(s, 0, 4, &Y) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, &M) || s[7] != '-' ||
      !digits(s, 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s, 11, 2, &h) ||
      s[13] != ':' || !digits(s, 14, 2, &m) || s[16] != ':' || !digits(s, 17, 2, &sec))
    return false;
  if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60) return false;
  size_t i = 19;
  uint64_t frac_ns = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    uint64_t scale = 100000000;
    const size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      frac_ns += static_cast<uint64_t>(s[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
    if (i == start) return false;
  }
  int64_t offset_s = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    const int sign = s[i] == '-' ? -1 : 1;
    int oh, om;
    if (!digits(s, i + 1, 2, &oh)) return false;
    size_t j = i + 3;
    if (j < s.size() && s[j] == ':') ++j;
    if (!digits(s, j, 2, &om) || oh > 23 || om > 59) return false;
    offset_s = sign * (oh * 3600 + om * 60);
    i = j + 2;
  } else {
    return false;
  }
  if (i != s.size()) return false;
  std::tm tm{};
  tm.tm_year = Y - 1900;
  tm.tm_mon = M - 1;
  tm.tm_mday = D;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = sec;
  const int64_t t = static_cast<int64_t>(timegm(&tm)) - offset_s;
  // Nanoseconds since the epoch fit 64 bits until 2554.
  if (t < 0 || static_cast<uint64_t>(t) >= UINT64_MAX / 1'000'000'000ull) return false;
  *ns = static_cast<uint64_t>(t) * 1'000'000'000ull + frac_ns;
  return true;
}

std::string parse_alert_query(const HttpRequest& req, AlertQuery* out) {
  AlertQuery q;
  if (std::string v = req.query_param("sid"); !v.empty()) {
    uint64_t n;
    if (!parse_u64(v, &n) || n > 0xffffffffull) return "sid: '" + v + "' is not a signature id";
    q.sid = static_cast<uint32_t>(n);
  }
  for (const char* name : {"src", "dst"}) {
    if (std::string v = req.query_param(name); !v.empty()) {
      CidrFilter p;
      if (!parse_cidr_filter(v, &p)) return std::string(name) + ": '" + v + "' is not an IPv4/IPv6 address or CIDR prefix";
      (name[0] == 's' ? q.src : q.dst) = p;
    }
  }
  if (std::string v = req.query_param("since"); !v.empty()) {
    uint64_t secs;
    if (parse_u64(v, &secs) && secs < 100'000'000'000ull) {
      q.since_ns = secs * 1'000'000'000ull;
    } else if (!parse_rfc3339(v, &q.since_ns)) {
      return "since: '" + v + "' is neither RFC 3339 time (2026-11-21T10:00:00Z) nor seconds since the epoch";
    }
  }
  if (std::string v = req.query_param("limit"); !v.empty()) {
    uint64_t n;
    if (!parse_u64(v, &n) || n < 1 || n > 1000) return "limit: '" + v + "' is not a number from 1 to 1000";
    q.limit = n;
  }
  if (std::string v = req.query_param("cursor"); !v.empty()) {
    uint64_t n;
    if (v[0] != 'a' || !parse_u64(std::string_view(v).substr(1), &n)) return "cursor: not a cursor this API gave out";
    q.before_seq = n;
  }
  *out = std::move(q);
  return "";
}

AlertHistory::AlertHistory(size_t capacity, ExportContext ctx, EveFormatOptions fmt)
    : capacity_(capacity ? capacity : 1), ctx_(std::move(ctx)), fmt_(fmt), line_(4096) {}

void AlertHistory::export_alerts(std::span<const AlertRecord> alerts, uint64_t) {
  for (const AlertRecord& a : alerts) {
    line_.clear();
    format_alert_event(a, ctx_, fmt_, line_);
    std::string_view text = line_.view();
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    Entry e;
    e.ts_ns = a.ts_ns;
    e.sid = a.meta ? a.meta->sid : 0;
    e.family = a.pkt.family;
    std::memcpy(e.src, a.pkt.src, 16);
    std::memcpy(e.dst, a.pkt.dst, 16);
    e.json.assign(text);
    std::lock_guard lock(mu_);
    e.seq = next_seq_++;
    if (ring_.size() == capacity_) {
      ring_.pop_front();
      ++evicted_;
    }
    ring_.push_back(std::move(e));
  }
}

AlertPage AlertHistory::query(const AlertQuery& q) const {
  AlertPage page;
  std::lock_guard lock(mu_);
  page.total = next_seq_ - 1;
  page.evicted = evicted_;
  for (auto it = ring_.rbegin(); it != ring_.rend(); ++it) {
    const Entry& e = *it;
    if (q.before_seq && e.seq >= *q.before_seq) continue;
    if (q.sid && e.sid != *q.sid) continue;
    if (e.ts_ns < q.since_ns) continue;
    if (q.src && !q.src->contains(e.src, e.family)) continue;
    if (q.dst && !q.dst->contains(e.dst, e.family)) continue;
    if (page.events.size() == q.limit) {
      // One more matches: there is a next page, after the last one returned.
      page.next_cursor.assign(1, 'a');
      page.next_cursor += std::to_string(page.last_seq);
      break;
    }
    page.events.push_back(e.json);
    page.last_seq = e.seq;
  }
  return page;
}

ExporterStats AlertHistory::stats() const {
  ExporterStats s;
  std::lock_guard lock(mu_);
  s.alerts = next_seq_ - 1;
  s.messages = s.alerts;
  s.dropped_records = 0;
  return s;
}

}  // namespace ws
