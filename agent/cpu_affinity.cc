#include "agent/cpu_affinity.h"

#include <pthread.h>
#include <sched.h>

#include <charconv>
#include <cstring>

namespace ws {

namespace {

bool parse_int(const std::string& s, size_t b, size_t e, int* out) {
  if (b >= e) return false;
  auto r = std::from_chars(s.data() + b, s.data() + e, *out);
  return r.ec == std::errc() && r.ptr == s.data() + e && *out >= 0 && *out < CPU_SETSIZE;
}

std::vector<int> cpus_of(const cpu_set_t& set) {
  std::vector<int> v;
  for (int i = 0; i < CPU_SETSIZE; ++i)
    if (CPU_ISSET(i, &set)) v.push_back(i);
  return v;
}

}  // namespace

std::string parse_cpu_list(const std::string& text, std::vector<int>* out) {
  out->clear();
  if (text.empty()) return "an empty CPU list";
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    const size_t dash = text.find('-', pos);
    int lo = 0, hi = 0;
    const std::string item = text.substr(pos, comma - pos);
    if (dash != std::string::npos && dash < comma) {
      if (!parse_int(text, pos, dash, &lo) || !parse_int(text, dash + 1, comma, &hi) || hi < lo)
        return "'" + item + "' is not a CPU range (LOW-HIGH, 0 to " + std::to_string(CPU_SETSIZE - 1) + ")";
    } else {
      if (!parse_int(text, pos, comma, &lo))
        return "'" + item + "' is not a CPU number (0 to " + std::to_string(CPU_SETSIZE - 1) + ")";
      hi = lo;
    }
    for (int c = lo; c <= hi; ++c) {
      if (!out->empty() && c <= out->back())
        return "CPU " + std::to_string(c) + " is listed twice or out of order in '" + text + "'";
      out->push_back(c);
    }
    pos = comma + 1;
    if (comma == text.size()) break;
  }
  return "";
}

std::string cpu_list_text(const std::vector<int>& cpus) {
  std::string s;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!s.empty()) s += ',';
    s += std::to_string(cpus[i]);
    if (j > i) s += '-' + std::to_string(cpus[j]);
    i = j + 1;
  }
  return s;
}

const std::vector<int>& startup_cpus() {
  static const std::vector<int> cpus = [] {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return std::vector<int>{};
    return cpus_of(set);
  }();
  return cpus;
}

// Taken before main() runs, so it is the set before any pinning.
[[maybe_unused]] static const bool kStartupTaken = !startup_cpus().empty();

std::string check_cpus(const std::vector<int>& cpus, const std::string& what) {
  const std::vector<int>& allowed = startup_cpus();
  for (int c : cpus) {
    bool ok = false;
    for (int a : allowed) ok = ok || a == c;
    if (!ok)
      return what + ": CPU " + std::to_string(c) + " is not available to this process (it may run on " +
             cpu_list_text(allowed) + ")";
  }
  return "";
}

std::string pin_this_thread(const std::vector<int>& cpus) {
  if (cpus.empty()) return "";
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) CPU_SET(c, &set);
  if (int e = pthread_setaffinity_np(pthread_self(), sizeof set, &set); e != 0)
    return "cannot pin to CPUs " + cpu_list_text(cpus) + ": " + std::strerror(e);
  return "";
}

std::vector<int> this_thread_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (pthread_getaffinity_np(pthread_self(), sizeof set, &set) != 0) return {};
  return cpus_of(set);
}

}  // namespace ws
