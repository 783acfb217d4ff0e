#include "telemetry/export_url.h"

#include <charconv>

namespace ws {

namespace {

ExportUrlResult fail(std::string_view text, std::string why) {
  ExportUrlResult r;
  r.error = "bad export url '" + std::string(text) + "': " + std::move(why);
  return r;
}

bool valid_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
         c == '_';
}

// Hex digits, ':' and '.' (an embedded IPv4 tail); a zone after '%' ("fe80::1%eth0")
// is an interface name and checked as a host name.
bool valid_ipv6_char(char c) {
  return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') || c == ':' || c == '.';
}

}  // namespace

const char* export_protocol_name(ExportProtocol p) {
  return p == ExportProtocol::kTcp ? "tcp" : "udp";
}

std::string ExportUrl::str() const {
  std::string out = export_protocol_name(protocol);
  out += "://";
  if (host.find(':') != std::string::npos) {
    out += '[' + host + ']';
  } else {
    out += host;
  }
  out += ':' + std::to_string(port);
  return out;
}

ExportUrlResult parse_export_url(std::string_view text) {
  const size_t sep = text.find("://");
  if (sep == std::string_view::npos) {
    return fail(text, "missing scheme, expected udp://HOST:PORT or tcp://HOST:PORT");
  }
  const std::string_view scheme = text.substr(0, sep);
  ExportUrl url;
  if (scheme == "udp") {
    url.protocol = ExportProtocol::kUdp;
  } else if (scheme == "tcp") {
    url.protocol = ExportProtocol::kTcp;
  } else {
    return fail(text, "scheme '" + std::string(scheme) + "' is not udp or tcp");
  }

  std::string_view rest = text.substr(sep + 3);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);  // tolerate "udp://h:1/"
  std::string_view host;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      return fail(text, "IPv6 host has '[' but no closing ']'");
    }
    host = rest.substr(1, close - 1);
    if (host.empty()) return fail(text, "empty host between '[' and ']'");
    const size_t zone = host.find('%');
    for (size_t i = 0; i < host.size(); ++i) {
      const char c = host[i];
      if (zone == std::string_view::npos || i < zone ? !valid_ipv6_char(c)
                                                     : (i > zone && !valid_host_char(c))) {
        return fail(
            text, "IPv6 host '" + std::string(host) + "' has invalid character '" + std::string(1, c) + "'");
      }
    }
    if (host.find(':') == std::string_view::npos) {
      return fail(text, "bracketed host '" + std::string(host) + "' is not an IPv6 address");
    }
    const std::string_view after = rest.substr(close + 1);
    if (after.empty() || after.front() != ':') {
      return fail(text, "missing ':PORT' after ']'");
    }
    port = after.substr(1);
  } else {
    const size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) return fail(text, "missing ':PORT' after host");
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return fail(text, "IPv6 host must be in brackets, e.g. udp://[::1]:4739");
    }
    if (host.empty()) return fail(text, "empty host");
    for (char c : host) {
      if (!valid_host_char(c)) {
        return fail(text,
                    "host '" + std::string(host) + "' has invalid character '" + std::string(1, c) + "'");
      }
    }
  }

  if (port.empty()) return fail(text, "empty port");
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size()) {
    return fail(text, "port '" + std::string(port) + "' is not a number");
  }
  if (value == 0 || value > 65535) {
    return fail(text, "port " + std::string(port) + " is out of range 1-65535");
  }
  url.host = std::string(host);
  url.port = static_cast<uint16_t>(value);
  ExportUrlResult r;
  r.url = std::move(url);
  return r;
}

}  // namespace ws
