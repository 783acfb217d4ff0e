#include "rules/classification.h"

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

// Suricata's etc/classification.config.
constexpr struct {
  const char* name;
  const char* description;
  uint8_t priority;
} kDefaults[] = {
    {"not-suspicious", "Not Suspicious Traffic", 3},
    {"unknown", "Unknown Traffic", 3},
    {"bad-unknown", "Potentially Bad Traffic", 2},
    {"attempted-recon", "Attempted Information Leak", 2},
    {"successful-recon-limited", "Information Leak", 2},
    {"successful-recon-largescale", "Large Scale Information Leak", 2},
    {"attempted-dos", "Attempted Denial of Service", 2},
    {"successful-dos", "Denial of Service", 2},
    {"attempted-user", "Attempted User Privilege Gain", 1},
    {"unsuccessful-user", "Unsuccessful User Privilege Gain", 1},
    {"successful-user", "Successful User Privilege Gain", 1},
    {"attempted-admin", "Attempted Administrator Privilege Gain", 1},
    {"successful-admin", "Successful Administrator Privilege Gain", 1},
    {"rpc-portmap-decode", "Decode of an RPC Query", 2},
    {"shellcode-detect", "Executable code was detected", 1},
    {"string-detect", "A suspicious string was detected", 3},
    {"suspicious-filename-detect", "A suspicious filename was detected", 2},
    {"suspicious-login", "An attempted login using a suspicious username was detected", 2},
    {"system-call-detect", "A system call was detected", 2},
    {"tcp-connection", "A TCP connection was detected", 4},
    {"trojan-activity", "A Network Trojan was detected", 1},
    {"unusual-client-port-connection", "A client was using an unusual port", 2},
    {"network-scan", "Detection of a Network Scan", 3},
    {"denial-of-service", "Detection of a Denial of Service Attack", 2},
    {"non-standard-protocol", "Detection of a non-standard protocol or event", 2},
    {"protocol-command-decode", "Generic Protocol Command Decode", 3},
    {"web-application-activity", "access to a potentially vulnerable web application", 2},
    {"web-application-attack", "Web Application Attack", 1},
    {"misc-activity", "Misc activity", 3},
    {"misc-attack", "Misc Attack", 2},
    {"icmp-event", "Generic ICMP event", 3},
    {"inappropriate-content", "Inappropriate Content was Detected", 1},
    {"policy-violation", "Potential Corporate Privacy Violation", 1},
    {"default-login-attempt", "Attempt to login by a default username and password", 2},
    {"targeted-activity", "Targeted Malicious Activity was Detected", 1},
    {"exploit-kit", "Exploit Kit Activity Detected", 1},
    {"external-ip-check", "Device Retrieving External IP Address Detected", 2},
    {"domain-c2", "Domain Observed Used for C2 Detected", 1},
    {"pup-activity", "Possibly Unwanted Program Detected", 2},
    {"credential-theft", "Successful Credential Theft Detected", 1},
    {"social-engineering", "Possible Social Engineering Attempted", 2},
    {"coin-mining", "Crypto Currency Mining Activity Detected", 2},
    {"command-and-control", "Malware Command and Control Activity Detected", 1},
};

}  // namespace

std::string ClassificationError::str() const {
  return (file.empty() ? std::string("<classification>") : file) + ":" + std::to_string(line) + ": " + reason;
}

ClassificationTable ClassificationTable::suricata_defaults() {
  ClassificationTable t;
  for (const auto& d : kDefaults) t.add({d.name, d.description, d.priority});
  return t;
}

void ClassificationTable::add(Classification c) {
  for (auto& e : entries_)
    if (e.name == c.name) {
      e = std::move(c);
      return;
    }
  entries_.push_back(std::move(c));
}

const Classification* ClassificationTable::find(std::string_view name) const {
  for (const auto& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

std::vector<ClassificationError> parse_classification_text(std::string_view text, std::string_view file,
                                                           ClassificationTable& table) {
  std::vector<ClassificationError> errors;
  uint32_t lineno = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++lineno;
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    auto err = [&](std::string reason) { errors.push_back({std::string(file), lineno, std::move(reason)}); };
    constexpr std::string_view kPrefix = "config classification:";
    if (line.substr(0, kPrefix.size()) != kPrefix) {
      err("expected 'config classification: name,description,priority'");
      continue;
    }
    std::string_view rest = line.substr(kPrefix.size());
    size_t c1 = rest.find(',');
    size_t c2 = rest.rfind(',');
    if (c1 == std::string_view::npos || c1 == c2) {
      err("expected 'name,description,priority'");
      continue;
    }
    Classification c;
    std::string_view name = trim(rest.substr(0, c1));
    std::string_view desc = trim(rest.substr(c1 + 1, c2 - c1 - 1));
    std::string_view prio = trim(rest.substr(c2 + 1));
    if (name.empty() || name.find_first_of(" \t") != std::string_view::npos) {
      err("invalid class name '" + std::string(name) + "'");
      continue;
    }
    unsigned p = 0;
    auto [ptr, ec] = std::from_chars(prio.data(), prio.data() + prio.size(), p);
    if (prio.empty() || ec != std::errc() || ptr != prio.data() + prio.size() || p < 1 || p > 255) {
      err("priority must be a number from 1 to 255, got '" + std::string(prio) + "'");
      continue;
    }
    c.name = std::string(name);
    c.description = std::string(desc);
    c.priority = static_cast<uint8_t>(p);
    table.add(std::move(c));
  }
  return errors;
}

std::vector<ClassificationError> parse_classification_file(const std::string& path, ClassificationTable& table) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {{path, 0, "cannot open the classification file"}};
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_classification_text(ss.str(), path, table);
}

}  // namespace ws
