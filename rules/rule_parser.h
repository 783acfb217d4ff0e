// Rule parser: Suricata rule text -> ws::Rule. A rule is parsed whole or not
// at all: a keyword we do not support, or any syntax error, rejects the rule
// with a RuleError (file, line, sid when known, keyword, reason) and nothing
// of it is loaded, because a rule silently missing one condition alerts on
// traffic its author never meant. Errors are values; nothing here throws.
//
// Address and port variables come from RuleVars, which starts with the
// values of Suricata's default suricata.yaml; the config overrides them.
// Variable values are themselves parsed as specs and may name other
// variables (EXTERNAL_NET is `!$HOME_NET`).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rules/rule.h"

namespace ws {

class ClassificationTable;

struct RuleVars {
  std::map<std::string, std::string, std::less<>> address;  // name without '$'
  std::map<std::string, std::string, std::less<>> port;

  // HOME_NET, EXTERNAL_NET, ... HTTP_PORTS, ... as in Suricata's suricata.yaml.
  static RuleVars suricata_defaults();
};

struct RuleError {
  enum class Kind : uint8_t { kUnsupportedKeyword, kSyntax };
  Kind kind = Kind::kSyntax;
  std::string file;
  uint32_t line = 0;
  std::optional<uint32_t> sid;
  std::string keyword;  // the option keyword at fault, or "header"/"rule"
  std::string reason;   // "unsupported keyword 'http_uri'", "depth: ..."

  // `file:line: sid N: reason` (the sid part only when it was parsed).
  std::string str() const;
};

struct RuleResult {
  std::optional<Rule> rule;
  std::optional<RuleError> error;  // set exactly when rule is not
  explicit operator bool() const { return rule.has_value(); }
};

struct RuleFileResult {
  std::vector<Rule> rules;
  std::vector<RuleError> errors;
  uint32_t disabled = 0;  // commented-out rules (`# alert ...`), not parsed
};

struct RuleParseOptions {
  // When set, a classtype not in the table is an error (as in Suricata).
  const ClassificationTable* classifications = nullptr;
};

// Parses one rule (no line continuations). file/line only label errors.
RuleResult parse_rule(std::string_view text, const RuleVars& vars,
                      std::string_view file = "", uint32_t line = 0,
                      const RuleParseOptions& opts = {});

// A whole rules file: `#` comments, blank lines, and lines ending in `\`
// joined with the next. Errors carry the line the rule starts on.
RuleFileResult parse_rules_text(std::string_view text, const RuleVars& vars,
                                std::string_view file,
                                const RuleParseOptions& opts = {});

// Reads and parses a file; an unreadable file is one error with line 0.
RuleFileResult parse_rules_file(const std::string& path, const RuleVars& vars,
                                const RuleParseOptions& opts = {});

// Address / port specs on their own (threshold.config `ip`, config checks).
struct AddressResult {
  std::optional<AddressNode> node;
  std::string error;
};
AddressResult parse_address_spec(std::string_view text, const RuleVars& vars);
struct PortResult {
  std::optional<PortNode> node;
  std::string error;
};
PortResult parse_port_spec(std::string_view text, const RuleVars& vars);

// The option keywords this parser accepts, for `--list-keywords` and tests.
std::vector<std::string_view> supported_rule_keywords();

}  // namespace ws
