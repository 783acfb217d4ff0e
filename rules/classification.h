// ClassificationTable: the classtype names a rule may use, each with the
// description EVE writes as `alert.category` and the default priority EVE
// writes as `alert.severity` when the rule sets none. Read from Suricata's
// classification.config format, or taken from the shipped default, which
// holds Suricata's own default entries so rules written for Suricata load
// without a config file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ws {

struct Classification {
  std::string name;         // "trojan-activity"
  std::string description;  // "A Network Trojan was detected"
  uint8_t priority = 3;
};

struct ClassificationError {
  std::string file;
  uint32_t line = 0;
  std::string reason;
  std::string str() const;  // "file:line: reason"
};

class ClassificationTable {
 public:
  // Suricata's default classification.config.
  static ClassificationTable suricata_defaults();

  // Adds or replaces (a later line for the same name wins, as in Suricata).
  void add(Classification c);
  const Classification* find(std::string_view name) const;
  const std::vector<Classification>& entries() const { return entries_; }

 private:
  std::vector<Classification> entries_;
};

// `config classification: shortname,description,priority` lines; `#`
// comments and blank lines are skipped. Bad lines are reported and skipped;
// good lines are added to `table`.
std::vector<ClassificationError> parse_classification_text(std::string_view text, std::string_view file,
                                                           ClassificationTable& table);
std::vector<ClassificationError> parse_classification_file(const std::string& path,
                                                           ClassificationTable& table);

}  // namespace ws
