// AppProto: the application protocols a rule can name, in the header
// (`alert http …`) or with `app-layer-protocol`, as one small number per
// flow. Suricata decides a flow's protocol with its own parsers; wirescope
// has none and takes nDPI's classification instead (dataplane/ndpi.h turns
// nDPI's protocol ids into these values once per flow). Keeping the values
// here, not nDPI's ids, leaves the rule language free of nDPI and makes the
// per-packet check one shift and one bit test against a mask the rule
// compiler precomputes.
//
// The names are Suricata's app-layer names (app-layer-protos.c), for the
// protocols nDPI 4.2 recognises; a Suricata name nDPI has no counterpart
// for (http2, bittorrent-dht) is rejected where it is written, with the
// reason.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ws {

enum class AppProto : uint8_t {
  kUnknown = 0,  // not known yet: classification still running, or no classifier
  kFailed,       // final, and no protocol recognised in the payload (Unknown, or only a port guess)
  kOther,        // final: nDPI recognised a protocol Suricata has no name for (BitTorrent, ...)
  kHttp,
  kTls,
  kDns,
  kSsh,
  kSmtp,
  kImap,
  kPop3,
  kFtp,
  kFtpData,
  kSmb,
  kDcerpc,
  kNfs,
  kNtp,
  kDhcp,
  kTftp,
  kSnmp,
  kSip,
  kRdp,
  kRfb,
  kMqtt,
  kKrb5,
  kModbus,
  kDnp3,
  kEnip,
  kIke,
  kPgsql,
  kTelnet,
  kWebsocket,
  kLdap,
  kQuic,
  kCount
};
static_assert(static_cast<int>(AppProto::kCount) <= 64, "AppProto values are bits of a uint64_t mask");

constexpr uint64_t app_bit(AppProto p) { return uint64_t{1} << static_cast<unsigned>(p); }

// The transports Suricata runs a protocol's parser on, as bits: a rule
// `alert http` is a TCP rule, `alert dns` a TCP and UDP one.
constexpr uint8_t kAppOverTcp = 1, kAppOverUdp = 2;

// A name as a rule writes it: Suricata's names, with the aliases Suricata
// accepts (http1 for http, ikev2 for ike, ssl for tls). nullopt: not an
// app-layer name at all. *why is set when the name is Suricata's but has no
// nDPI counterpart (the value is then nullopt too).
std::optional<AppProto> app_proto_by_name(std::string_view name, std::string* why = nullptr);
// The canonical name ("http"); "unknown", "failed" and "other" for the three
// states.
const char* app_proto_name(AppProto p);
// kAppOverTcp | kAppOverUdp bits; 0 for the three states.
uint8_t app_proto_transports(AppProto p);
// The names a rule may use, comma separated, for error messages.
std::string app_proto_names();

}  // namespace ws
