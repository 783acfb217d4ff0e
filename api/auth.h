// Bearer tokens. The config holds only the SHA-256 of each token (hex), so
// a leaked config file does not leak a credential. A presented token is
// hashed and compared with every configured hash in constant time
// (CRYPTO_memcmp, no early exit), so neither the position of a mismatch nor
// which entry matched shows in the answer's timing.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http.h"

namespace ws {

struct ApiToken {
  std::string name;
  Role role = Role::kViewer;
  std::string token_sha256;  // 64 hex digits
};

struct Principal {
  std::string name;
  Role role = Role::kNone;
};

// SHA-256 of data as 64 lower-case hex digits.
std::string sha256_hex(std::string_view data);

// Returns "" or why s is not 64 hex digits.
std::string check_sha256_hex(const std::string& s);

class TokenTable {
 public:
  // Returns "" or what is wrong with a token (names must be unique and
  // non-empty, hashes 64 hex digits, roles viewer or admin).
  std::string set(const std::vector<ApiToken>& tokens);

  // The token's principal, or nullopt when it matches none.
  std::optional<Principal> check(std::string_view token) const;

  // The token of an "Authorization: Bearer <token>" header value, or
  // nullopt when the header is not of that form (the scheme is
  // case-insensitive, as RFC 7235 says).
  static std::optional<std::string_view> bearer(std::string_view header);

  bool empty() const { return entries_.empty(); }

 private:
  struct Entry {
    std::array<unsigned char, 32> hash;
    Principal who;
  };
  std::vector<Entry> entries_;
};

}  // namespace ws
