// HTTP request and response as the API's handlers see them: plain values,
// with no civetweb type in sight, so the routing, auth and handlers can be
// tested without a socket and the server is the only file that knows the
// HTTP library.
//
// Every error body has one shape, {"error":{"code":N,"message":"..."}},
// optionally with "details" (e.g. the rule load report of a failed reload).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace ws {

// What a caller may do. kViewer may GET; kAdmin may also change state.
// Ordered: a higher role includes the lower ones.
enum class Role : int { kNone = 0, kViewer = 1, kAdmin = 2 };

const char* role_name(Role r);

struct HttpRequest {
  std::string method;  // GET, POST, ...
  std::string path;    // decoded path, no query
  std::string query;   // raw query string, no '?'
  std::map<std::string, std::string> params;  // {name} segments of the route
  std::string body;
  std::string content_type;
  std::string remote;      // client IP
  Role role = Role::kNone;  // the caller's role once authenticated
  std::string token_name;   // the token's configured name, or empty

  // A query parameter, URL-decoded; empty when absent.
  std::string query_param(const std::string& name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

HttpResponse json_response(int status, const nlohmann::json& body);
// {"error":{"code":status,"message":message[,"details":details]}}
HttpResponse error_response(int status, const std::string& message, const nlohmann::json& details = nullptr);

// %XX and '+' decoding for query strings; invalid escapes are kept as is.
std::string url_decode(const std::string& s, bool plus_is_space);

}  // namespace ws
