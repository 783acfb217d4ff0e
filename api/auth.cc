#include "api/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <cctype>

namespace ws {
namespace {

std::array<unsigned char, 32> sha256(std::string_view data) {
  std::array<unsigned char, 32> out{};
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  return out;
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  static const char* kHex = "0123456789abcdef";
  const auto h = sha256(data);
  std::string out;
  for (unsigned char b : h) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::string check_sha256_hex(const std::string& s) {
  if (s.size() != 64) return "expected 64 hex digits (sha256sum of the token), got " + std::to_string(s.size()) + " characters";
  for (char c : s)
    if (hexval(c) < 0) return std::string("expected hex digits, found '") + c + "'";
  return "";
}

std::string TokenTable::set(const std::vector<ApiToken>& tokens) {
  std::vector<Entry> out;
  for (const ApiToken& t : tokens) {
    if (t.name.empty()) return "a token has no name";
    if (t.role != Role::kViewer && t.role != Role::kAdmin) return "token '" + t.name + "': role must be viewer or admin";
    if (const std::string e = check_sha256_hex(t.token_sha256); !e.empty()) return "token '" + t.name + "': " + e;
    for (const Entry& o : out)
      if (o.who.name == t.name) return "token name '" + t.name + "' is used twice";
    Entry e;
    for (size_t i = 0; i < 32; ++i)
      e.hash[i] = static_cast<unsigned char>(hexval(t.token_sha256[2 * i]) * 16 + hexval(t.token_sha256[2 * i + 1]));
    e.who = {t.name, t.role};
    out.push_back(std::move(e));
  }
  entries_ = std::move(out);
  return "";
}

std::optional<Principal> TokenTable::check(std::string_view token) const {
  const auto h = sha256(token);
  // Every entry is compared, match or not; the first match wins.
  const Entry* found = nullptr;
  for (const Entry& e : entries_) {
    const bool eq = CRYPTO_memcmp(h.data(), e.hash.data(), h.size()) == 0;
    if (eq && !found) found = &e;
  }
  if (!found) return std::nullopt;
  return found->who;
}

std::optional<std::string_view> TokenTable::bearer(std::string_view header) {
  constexpr std::string_view kScheme = "bearer";
  if (header.size() <= kScheme.size() + 1) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) return std::nullopt;
  if (header[kScheme.size()] != ' ') return std::nullopt;
  std::string_view tok = header.substr(kScheme.size() + 1);
  while (!tok.empty() && tok.front() == ' ') tok.remove_prefix(1);
  while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t')) tok.remove_suffix(1);
  if (tok.empty() || tok.find(' ') != std::string_view::npos) return std::nullopt;
  return tok;
}

}  // namespace ws
