#include "rules/rule_snapshot.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace ws {
namespace {

int action_rank(RuleAction a, const ActionOrder& order) {
  for (size_t i = 0; i < order.size(); ++i)
    if (order[i] == a) return static_cast<int>(i);
  return static_cast<int>(order.size());
}

// Suricata ranks flowbit use: only setting (set/unset/toggle) first, setting
// and reading next, only reading after, and rules without flowbits last.
int flowbits_rank(const Rule& r) {
  bool sets = false, reads = false;
  for (const Flowbits& f : r.flowbits) {
    switch (f.cmd) {
      case Flowbits::Cmd::kSet: case Flowbits::Cmd::kUnset: case Flowbits::Cmd::kToggle: sets = true; break;
      case Flowbits::Cmd::kIsSet: case Flowbits::Cmd::kIsNotSet: reads = true; break;
      case Flowbits::Cmd::kNoAlert: break;
    }
  }
  if (sets && !reads) return 0;
  if (sets && reads) return 1;
  if (reads) return 2;
  return 3;
}

// A rule, classification or threshold path must be a readable regular
// file: a directory would otherwise read as an empty file.
std::string check_file(const std::string& path, const char* what) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return path + ": cannot open the " + what + ": " + std::strerror(errno);
  if (!S_ISREG(st.st_mode)) return path + ": the " + std::string(what) + " is not a regular file";
  return "";
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

std::string parse_action_order(const std::vector<std::string>& names, ActionOrder* out) {
  static constexpr std::pair<const char*, RuleAction> kNames[] = {
      {"pass", RuleAction::kPass}, {"drop", RuleAction::kDrop}, {"reject", RuleAction::kReject},
      {"alert", RuleAction::kAlert}};
  if (names.size() != 4) return "expected the four actions pass, drop, reject and alert, each once";
  ActionOrder order{};
  bool seen[4] = {};
  for (size_t i = 0; i < names.size(); ++i) {
    size_t k = 0;
    while (k < 4 && names[i] != kNames[k].first) ++k;
    if (k == 4) return "'" + names[i] + "' is not an action (pass, drop, reject, alert)";
    if (seen[k]) return "'" + names[i] + "' is listed twice";
    seen[k] = true;
    order[i] = kNames[k].second;
  }
  *out = order;
  return "";
}

void sort_rules_for_matching(std::vector<Rule>& rules, const ActionOrder& order) {
  std::stable_sort(rules.begin(), rules.end(), [&order](const Rule& a, const Rule& b) {
    const int aa = action_rank(a.action, order), ab = action_rank(b.action, order);
    if (aa != ab) return aa < ab;
    const int fa = flowbits_rank(a), fb = flowbits_rank(b);
    if (fa != fb) return fa < fb;
    // A rule without a priority ranks as Suricata's default, 3.
    return a.priority.value_or(3) < b.priority.value_or(3);
  });
}

AlertMeta make_alert_meta(const Rule& r, const ClassificationTable& classes) {
  AlertMeta m;
  m.gid = r.gid;
  m.sid = r.sid;
  m.rev = r.rev;
  m.signature = r.msg;
  uint8_t severity = 3;
  if (!r.classtype.empty()) {
    if (const Classification* c = classes.find(r.classtype)) {
      m.category = c->description;
      severity = c->priority;
    }
  }
  if (r.priority) severity = *r.priority;
  m.severity = severity;
  for (const std::string& entry : r.metadata) {
    const size_t sp = entry.find(' ');
    std::string key = entry.substr(0, sp);
    std::string value = sp == std::string::npos ? std::string() : entry.substr(sp + 1);
    auto it = std::find_if(m.metadata.begin(), m.metadata.end(), [&](const auto& kv) { return kv.first == key; });
    if (it == m.metadata.end()) {
      m.metadata.emplace_back(std::move(key), std::vector<std::string>{});
      it = m.metadata.end() - 1;
    }
    it->second.push_back(std::move(value));
  }
  return m;
}

std::unique_ptr<RuleSnapshot> empty_rule_snapshot(size_t workers) {
  auto s = std::make_unique<RuleSnapshot>();
  std::string error;
  s->set = RuleSet::build({}, &error);
  s->thresholds = ThresholdPolicy::build({}, ThresholdConfig{});
  for (size_t w = 0; w < workers; ++w) s->scratch.push_back(s->set->make_scratch());
  return s;
}

std::unique_ptr<RuleSnapshot> load_rule_snapshot(const RuleLoadOptions& opts, const RuleSnapshot* previous) {
  auto s = std::make_unique<RuleSnapshot>();
  RuleLoadReport& rep = s->report;
  auto t0 = std::chrono::steady_clock::now();

  for (const std::string& f : opts.files) {
    if (std::string e = check_file(f, "rules file"); !e.empty()) {
      rep.fatal = e;
      return s;
    }
  }
  for (const auto& [f, what] : {std::pair{&opts.classification_file, "classification file"},
                                std::pair{&opts.threshold_file, "threshold file"}}) {
    if (f->empty()) continue;
    if (std::string e = check_file(*f, what); !e.empty()) {
      rep.fatal = e;
      return s;
    }
  }
  ClassificationTable classes = ClassificationTable::suricata_defaults();
  if (!opts.classification_file.empty()) {
    ClassificationTable own;
    auto errs = parse_classification_file(opts.classification_file, own);
    for (const ClassificationError& e : errs) {
      if (e.line == 0) {
        rep.fatal = e.str();
        return s;
      }
      rep.config_errors.push_back(e.str());
    }
    classes = std::move(own);
  }
  RuleParseOptions popts;
  popts.classifications = &classes;

  std::vector<Rule> rules;
  for (const std::string& file : opts.files) {
    RuleFileResult fr = parse_rules_file(file, opts.vars, popts);
    for (RuleError& e : fr.errors) {
      if (e.line == 0) {  // the file itself could not be read
        rep.fatal = e.str();
        return s;
      }
      rep.errors.push_back(std::move(e));
    }
    rep.disabled += fr.disabled;
    for (Rule& r : fr.rules) rules.push_back(std::move(r));
  }
  for (const auto& [name, text] : opts.texts) {
    RuleFileResult fr = parse_rules_text(text, opts.vars, name, popts);
    for (RuleError& e : fr.errors) rep.errors.push_back(std::move(e));
    rep.disabled += fr.disabled;
    for (Rule& r : fr.rules) rules.push_back(std::move(r));
  }
  rep.parse_ms = ms_since(t0);

  t0 = std::chrono::steady_clock::now();
  sort_rules_for_matching(rules, opts.action_order);
  std::vector<RuleError> rejected;
  std::string error;
  RuleBuildOptions bopts;
  bopts.flowbit_names = previous && previous->set ? &previous->set->flowbit_names() : nullptr;
  bopts.cache_dir = opts.cache_dir;
  bopts.cache_stats = &rep.cache;
  s->set = RuleSet::build(rules, &error, &rejected, bopts);
  if (!s->set) {
    rep.fatal = error;
    return s;
  }
  rep.build_ms = ms_since(t0);
  for (RuleError& e : rejected) rep.errors.push_back(std::move(e));
  // Report failures in file order, whatever stage found them.
  auto file_index = [&](const std::string& f) {
    auto i = std::find(opts.files.begin(), opts.files.end(), f) - opts.files.begin();
    if (static_cast<size_t>(i) < opts.files.size()) return i;
    return i + (std::find_if(opts.texts.begin(), opts.texts.end(), [&](const auto& t) { return t.first == f; }) -
                opts.texts.begin());
  };
  std::stable_sort(rep.errors.begin(), rep.errors.end(), [&](const RuleError& a, const RuleError& b) {
    const auto fa = file_index(a.file), fb = file_index(b.file);
    return fa != fb ? fa < fb : a.line < b.line;
  });
  rep.loaded = s->set->size();
  rep.failed = rep.errors.size();
  rep.groups = s->set->groups();
  for (const RuleGroupInfo& g : rep.groups) rep.always_check_rules += g.always_check;

  std::vector<Rule> loaded;
  loaded.reserve(s->set->size());
  for (size_t i = 0; i < s->set->size(); ++i) loaded.push_back(s->set->rule(i));
  ThresholdConfig tc;
  if (!opts.threshold_file.empty()) {
    tc = parse_threshold_config_file(opts.threshold_file, opts.vars);
    for (const ThresholdConfigError& e : tc.errors) {
      if (e.line == 0) {
        rep.fatal = e.str();
        return s;
      }
      rep.config_errors.push_back(e.str());
    }
  }
  std::vector<ThresholdConfigError> warnings;
  s->thresholds = ThresholdPolicy::build(loaded, tc, &warnings);
  for (ThresholdConfigError& e : warnings) {
    // Policy warnings come from the parsed entries; name the file they are in.
    if (e.file.empty() || e.file[0] == '<') e.file = opts.threshold_file;
    rep.config_errors.push_back(e.str());
  }

  s->meta.reserve(s->set->size());
  for (size_t i = 0; i < s->set->size(); ++i) s->meta.push_back(make_alert_meta(s->set->rule(i), classes));
  for (size_t w = 0; w < std::max<size_t>(opts.workers, 1); ++w) s->scratch.push_back(s->set->make_scratch());
  return s;
}

RuleSlot::RuleSlot(size_t workers) : SnapshotSlot<RuleSnapshot>(workers) { publish(empty_rule_snapshot(workers)); }

RuleSlot::~RuleSlot() = default;

}  // namespace ws
