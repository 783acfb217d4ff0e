#include "rules/app_proto.h"


namespace ws {
namespace {

struct Entry {
  AppProto proto;
  std::string_view name;
  uint8_t transports;  // where Suricata registers the protocol's parser
};

constexpr uint8_t kTcp = kAppOverTcp, kUdp = kAppOverUdp, kBoth = kAppOverTcp | kAppOverUdp;

constexpr Entry kEntries[] = {
    {AppProto::kHttp, "http", kTcp},       {AppProto::kTls, "tls", kTcp},
    {AppProto::kDns, "dns", kBoth},        {AppProto::kSsh, "ssh", kTcp},
    {AppProto::kSmtp, "smtp", kTcp},       {AppProto::kImap, "imap", kTcp},
    {AppProto::kPop3, "pop3", kTcp},       {AppProto::kFtp, "ftp", kTcp},
    {AppProto::kFtpData, "ftp-data", kTcp}, {AppProto::kSmb, "smb", kTcp},
    {AppProto::kDcerpc, "dcerpc", kBoth},  {AppProto::kNfs, "nfs", kBoth},
    {AppProto::kNtp, "ntp", kUdp},         {AppProto::kDhcp, "dhcp", kUdp},
    {AppProto::kTftp, "tftp", kUdp},       {AppProto::kSnmp, "snmp", kUdp},
    {AppProto::kSip, "sip", kBoth},        {AppProto::kRdp, "rdp", kTcp},
    {AppProto::kRfb, "rfb", kTcp},         {AppProto::kMqtt, "mqtt", kTcp},
    {AppProto::kKrb5, "krb5", kBoth},      {AppProto::kModbus, "modbus", kTcp},
    {AppProto::kDnp3, "dnp3", kTcp},       {AppProto::kEnip, "enip", kBoth},
    {AppProto::kIke, "ike", kUdp},         {AppProto::kPgsql, "pgsql", kTcp},
    {AppProto::kTelnet, "telnet", kTcp},   {AppProto::kWebsocket, "websocket", kTcp},
    {AppProto::kLdap, "ldap", kBoth},      {AppProto::kQuic, "quic", kUdp},
};

struct Alias {
  std::string_view name;
  AppProto proto;
};
// Suricata's other spellings of the same parsers.
constexpr Alias kAliases[] = {{"http1", AppProto::kHttp}, {"ikev2", AppProto::kIke}, {"ssl", AppProto::kTls}};

// Suricata names with no nDPI 4.2 protocol behind them: a rule naming them
// could never match, so it is refused with the reason.
constexpr std::string_view kNoNdpi[] = {"http2", "bittorrent-dht", "doh2"};

}  // namespace

std::optional<AppProto> app_proto_by_name(std::string_view name, std::string* why) {
  for (const Entry& e : kEntries)
    if (e.name == name) return e.proto;
  for (const Alias& a : kAliases)
    if (a.name == name) return a.proto;
  for (std::string_view n : kNoNdpi)
    if (n == name) {
      if (why)
        *why = "app-layer protocol '" + std::string(name) +
               "' is not one nDPI 4.2 classifies (app-layer protocols are matched on nDPI's classification)";
      return std::nullopt;
    }
  return std::nullopt;
}

const char* app_proto_name(AppProto p) {
  switch (p) {
    case AppProto::kUnknown: return "unknown";
    case AppProto::kFailed: return "failed";
    case AppProto::kOther: return "other";
    default: break;
  }
  for (const Entry& e : kEntries)
    if (e.proto == p) return e.name.data();  // the literals are NUL-terminated
  return "unknown";
}

uint8_t app_proto_transports(AppProto p) {
  for (const Entry& e : kEntries)
    if (e.proto == p) return e.transports;
  return 0;
}

std::string app_proto_names() {
  std::string out;
  for (const Entry& e : kEntries) {
    if (!out.empty()) out += ", ";
    out += e.name;
  }
  return out;
}

}  // namespace ws
