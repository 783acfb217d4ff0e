#include "api/http.h"

namespace ws {

const char* role_name(Role r) {
  switch (r) {
    case Role::kAdmin: return "admin";
    case Role::kViewer: return "viewer";
    case Role::kNone: break;
  }
  return "none";
}

std::string url_decode(const std::string& s, bool plus_is_space) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string HttpRequest::query_param(const std::string& name) const {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string::npos) amp = query.size();
    const std::string pair = query.substr(pos, amp - pos);
    const size_t eq = pair.find('=');
    const std::string k = url_decode(pair.substr(0, eq), true);
    if (k == name) return eq == std::string::npos ? std::string() : url_decode(pair.substr(eq + 1), true);
    pos = amp + 1;
  }
  return {};
}

HttpResponse json_response(int status, const nlohmann::json& body) {
  HttpResponse r;
  r.status = status;
  // Replacement of invalid UTF-8 (a rule file's bytes in a failure reason)
  // instead of an exception on the API thread.
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

HttpResponse error_response(int status, const std::string& message, const nlohmann::json& details) {
  nlohmann::json e = {{"code", status}, {"message", message}};
  if (!details.is_null()) e["details"] = details;
  return json_response(status, {{"error", e}});
}

}  // namespace ws
