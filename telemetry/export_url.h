// ExportUrl: where a flow exporter sends its messages, written as
// `udp://HOST:PORT` or `tcp://HOST:PORT` on the command line and in the
// config. Parsing happens once, at start-up; the result keeps the host as
// text (a name or a literal address, IPv6 without its brackets) and leaves
// name resolution to the transport, so a config check needs no DNS.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ws {

enum class ExportProtocol : uint8_t { kUdp, kTcp };

struct ExportUrl {
  ExportProtocol protocol = ExportProtocol::kUdp;
  std::string host;  // "127.0.0.1", "::1" (no brackets), "collector.example"
  uint16_t port = 0;

  // Back to the `udp://HOST:PORT` form, with brackets around IPv6 hosts.
  std::string str() const;
};

// Either a url or an error message that names the bad part of the text.
struct ExportUrlResult {
  std::optional<ExportUrl> url;
  std::string error;

  explicit operator bool() const { return url.has_value(); }
};

ExportUrlResult parse_export_url(std::string_view text);

const char* export_protocol_name(ExportProtocol p);

}  // namespace ws
