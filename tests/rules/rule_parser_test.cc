// Table-driven tests of the rule parser: every header form and keyword,
// with exact parsed values for good rules and exact error text for bad ones.
#include "rules/rule_parser.h"

#include <gtest/gtest.h>

#include <functional>

#include "rules/classification.h"

namespace ws {
namespace {

const RuleVars kVars = RuleVars::suricata_defaults();

Rule parse_ok(const std::string& text) {
  RuleResult r = parse_rule(text, kVars, "t.rules", 1);
  EXPECT_TRUE(r.rule.has_value()) << text << "\n -> " << (r.error ? r.error->str() : "");
  EXPECT_FALSE(r.error.has_value());
  return r.rule ? *r.rule : Rule{};
}

std::string parse_err(const std::string& text) {
  RuleResult r = parse_rule(text, kVars, "t.rules", 7);
  EXPECT_FALSE(r.rule.has_value()) << text;
  return r.error ? r.error->str() : "<no error>";
}

std::string hdr(const std::string& opts) { return "alert tcp any any -> any any (" + opts + ")"; }

IpPrefix v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t len) {
  IpPrefix p;
  p.bytes[0] = a;
  p.bytes[1] = b;
  p.bytes[2] = c;
  p.bytes[3] = d;
  p.len = len;
  return p;
}

const ContentMatch& content_at(const Rule& r, size_t i) { return std::get<ContentMatch>(r.payload.at(i)); }

// ---- header ---------------------------------------------------------------

TEST(RuleHeader, ActionsAndProtocols) {
  struct Case {
    std::string text;
    RuleAction action;
    RuleProto proto;
    std::string app;
  } cases[] = {
      {"alert tcp any any -> any any (sid:1;)", RuleAction::kAlert, RuleProto::kTcp, ""},
      {"drop udp any any -> any any (sid:1;)", RuleAction::kDrop, RuleProto::kUdp, ""},
      {"pass icmp any any -> any any (sid:1;)", RuleAction::kPass, RuleProto::kIcmp, ""},
      {"reject ip any any -> any any (sid:1;)", RuleAction::kReject, RuleProto::kIp, ""},
      {"alert icmpv6 any any -> any any (sid:1;)", RuleAction::kAlert, RuleProto::kIcmpV6, ""},
      {"alert tcp-pkt any any -> any any (sid:1;)", RuleAction::kAlert, RuleProto::kTcpPkt, ""},
      {"alert tcp-stream any any -> any any (sid:1;)", RuleAction::kAlert, RuleProto::kTcpStream, ""},
      {"alert http any any -> any any (sid:1;)", RuleAction::kAlert, RuleProto::kAppLayer, "http"},
      {"alert tls any any -> any any (sid:1;)", RuleAction::kAlert, RuleProto::kAppLayer, "tls"},
      {"alert dns any any -> any any (sid:1;)", RuleAction::kAlert, RuleProto::kAppLayer, "dns"},
      {"alert quic any any -> any any (sid:1;)", RuleAction::kAlert, RuleProto::kAppLayer, "quic"},
  };
  for (const auto& c : cases) {
    Rule r = parse_ok(c.text);
    EXPECT_EQ(r.action, c.action) << c.text;
    EXPECT_EQ(r.proto, c.proto) << c.text;
    EXPECT_EQ(r.app_proto, c.app) << c.text;
  }
}

// Suricata's reject variants: all are the reject action (ranked as reject),
// each says who gets the RST or ICMP unreachable.
TEST(RuleHeader, RejectVariants) {
  struct Case {
    std::string action;
    RejectTo to;
  } cases[] = {
      {"reject", RejectTo::kSource},
      {"rejectsrc", RejectTo::kSource},
      {"rejectdst", RejectTo::kDestination},
      {"rejectboth", RejectTo::kBoth},
  };
  for (const auto& c : cases) {
    Rule r = parse_ok(c.action + " tcp any any -> any 80 (sid:1;)");
    EXPECT_EQ(r.action, RuleAction::kReject) << c.action;
    EXPECT_EQ(r.reject_to, c.to) << c.action;
  }
  EXPECT_EQ(parse_ok("drop tcp any any -> any 80 (sid:1;)").reject_to, RejectTo::kSource);
  // A typo is refused with the action named and what is known.
  EXPECT_EQ(parse_err("rejectdest tcp any any -> any 80 (sid:6;)"),
            "t.rules:7: sid 6: unknown action 'rejectdest': not alert, pass, drop, reject, rejectsrc, rejectdst "
            "nor rejectboth");
  // Suricata compares actions without regard to case.
  EXPECT_EQ(parse_ok("RejectBoth tcp any any -> any 80 (sid:1;)").reject_to, RejectTo::kBoth);
  EXPECT_EQ(parse_ok("ALERT tcp any any -> any 80 (sid:1;)").action, RuleAction::kAlert);
}

// A commented-out rule of any action counts as disabled.
TEST(RuleFile, DisabledRejectVariantsAreCounted) {
  RuleFileResult f = parse_rules_text(
      "# rejectboth tcp any any -> any 80 (sid:1;)\n#rejectdst udp any any -> any 53 (sid:2;)\n"
      "# rejectsrc ip any any -> any any (sid:3;)\n# rejected: a comment\n# Pass the following on\n",
      kVars, "t.rules");
  EXPECT_EQ(f.disabled, 3u);
  EXPECT_TRUE(f.rules.empty());
}

// App-layer header names: Suricata's, with its aliases, each with the
// AppProto value rules match on; names nDPI cannot classify are refused
// with the reason, anything else is an unknown protocol.
TEST(RuleHeader, AppLayerProtocols) {
  struct Case {
    std::string name;
    AppProto app;
  } cases[] = {
      {"http", AppProto::kHttp},   {"http1", AppProto::kHttp}, {"tls", AppProto::kTls},
      {"ssl", AppProto::kTls},     {"dns", AppProto::kDns},    {"ssh", AppProto::kSsh},
      {"smtp", AppProto::kSmtp},   {"ftp", AppProto::kFtp},    {"ftp-data", AppProto::kFtpData},
      {"quic", AppProto::kQuic},   {"dhcp", AppProto::kDhcp},  {"snmp", AppProto::kSnmp},
      {"sip", AppProto::kSip},     {"rdp", AppProto::kRdp},    {"smb", AppProto::kSmb},
      {"nfs", AppProto::kNfs},     {"ntp", AppProto::kNtp},    {"krb5", AppProto::kKrb5},
      {"ike", AppProto::kIke},     {"ikev2", AppProto::kIke},  {"mqtt", AppProto::kMqtt},
      {"modbus", AppProto::kModbus}, {"dnp3", AppProto::kDnp3}, {"rfb", AppProto::kRfb},
      {"dcerpc", AppProto::kDcerpc}, {"enip", AppProto::kEnip}, {"pgsql", AppProto::kPgsql},
      {"imap", AppProto::kImap},   {"pop3", AppProto::kPop3},  {"tftp", AppProto::kTftp},
      {"telnet", AppProto::kTelnet}, {"websocket", AppProto::kWebsocket}, {"ldap", AppProto::kLdap},
  };
  for (const auto& c : cases) {
    Rule r = parse_ok("alert " + c.name + " any any -> any any (sid:1;)");
    EXPECT_EQ(r.proto, RuleProto::kAppLayer) << c.name;
    EXPECT_EQ(r.app_proto, c.name);
    EXPECT_EQ(r.app, c.app) << c.name;
  }
  // Suricata's names that nDPI 4.2 has no protocol for: a limit, said so.
  RuleResult h2 = parse_rule("alert http2 any any -> any any (sid:4;)", kVars, "t.rules", 7);
  ASSERT_TRUE(h2.error);
  EXPECT_EQ(h2.error->kind, RuleError::Kind::kUnsupportedKeyword);
  EXPECT_EQ(h2.error->keyword, "header");
  EXPECT_EQ(h2.error->str(),
            "t.rules:7: sid 4: app-layer protocol 'http2' is not one nDPI 4.2 classifies (app-layer protocols "
            "are matched on nDPI's classification)");
  EXPECT_NE(parse_err("alert bittorrent-dht any any -> any any (sid:4;)").find("'bittorrent-dht' is not one nDPI"),
            std::string::npos);
  // A typo is a syntax error that lists what is known.
  RuleResult typo = parse_rule("alert htpp any any -> any any (sid:4;)", kVars, "t.rules", 7);
  ASSERT_TRUE(typo.error);
  EXPECT_EQ(typo.error->kind, RuleError::Kind::kSyntax);
  EXPECT_NE(typo.error->reason.find("unknown protocol 'htpp'"), std::string::npos) << typo.error->reason;
  EXPECT_NE(typo.error->reason.find("http, tls, dns"), std::string::npos) << typo.error->reason;
  // nDPI-only names are not Suricata's: refused as unknown.
  EXPECT_NE(parse_err("alert bittorrent any any -> any any (sid:4;)").find("unknown protocol 'bittorrent'"),
            std::string::npos);
}

TEST(RuleOptions, AppLayerProtocol) {
  struct Case {
    std::string value;
    uint64_t protos;
    bool negated;
  } cases[] = {
      {"http", app_bit(AppProto::kHttp), false},
      {"!tls", app_bit(AppProto::kTls), true},
      {"failed", app_bit(AppProto::kFailed), false},
      {"!failed", app_bit(AppProto::kFailed), true},
      {"unknown", app_bit(AppProto::kUnknown), false},
      {"unknown|tls", app_bit(AppProto::kUnknown) | app_bit(AppProto::kTls), false},
      {"!tls|http", app_bit(AppProto::kTls) | app_bit(AppProto::kHttp), true},
      {"dns,final", app_bit(AppProto::kDns), false},
      {"!http,final", app_bit(AppProto::kHttp), true},
      {"tls|dns,either,exact", app_bit(AppProto::kTls) | app_bit(AppProto::kDns), false},
      {"ssl", app_bit(AppProto::kTls), false},
  };
  for (const auto& c : cases) {
    Rule r = parse_ok(hdr("app-layer-protocol:" + c.value + "; sid:1;"));
    ASSERT_EQ(r.app_layer_protocol.size(), 1u) << c.value;
    EXPECT_EQ(r.app_layer_protocol[0].protos, c.protos) << c.value;
    EXPECT_EQ(r.app_layer_protocol[0].negated, c.negated) << c.value;
  }
  // Two keywords: both kept, both must hold.
  Rule two = parse_ok(hdr("app-layer-protocol:!failed; app-layer-protocol:!http; sid:1;"));
  EXPECT_EQ(two.app_layer_protocol.size(), 2u);

  struct Bad {
    std::string value, error;
  } bad[] = {
      {"!unknown", "t.rules:7: sid 9: app-layer-protocol: 'unknown' cannot be negated"},
      {"htpp",
       "t.rules:7: sid 9: app-layer-protocol: unknown app-layer protocol 'htpp' (known: http, tls, dns, ssh, smtp, "
       "imap, pop3, ftp, ftp-data, smb, dcerpc, nfs, ntp, dhcp, tftp, snmp, sip, rdp, rfb, mqtt, krb5, modbus, dnp3, "
       "enip, ike, pgsql, telnet, websocket, ldap, quic, unknown, failed)"},
      {"http2",
       "t.rules:7: sid 9: app-layer-protocol: app-layer protocol 'http2' is not one nDPI 4.2 classifies (app-layer "
       "protocols are matched on nDPI's classification)"},
      {"http,to_server",
       "t.rules:7: sid 9: app-layer-protocol: mode 'to_server' needs a protocol per direction or per protocol change; "
       "nDPI gives one classification per flow (use no mode, 'either' or 'final')"},
      {"http,original",
       "t.rules:7: sid 9: app-layer-protocol: mode 'original' needs a protocol per direction or per protocol change; "
       "nDPI gives one classification per flow (use no mode, 'either' or 'final')"},
      {"http,sideways", "t.rules:7: sid 9: app-layer-protocol: unknown mode 'sideways'"},
      {"tls||http", "t.rules:7: sid 9: app-layer-protocol: empty protocol name in 'tls||http'"},
  };
  for (const auto& b : bad) EXPECT_EQ(parse_err(hdr("app-layer-protocol:" + b.value + "; sid:9;")), b.error) << b.value;
  EXPECT_EQ(parse_err(hdr("app-layer-protocol; sid:9;")), "t.rules:7: sid 9: app-layer-protocol: needs a value");
  // What stays out of reach without parsers: the app-layer buffers and events.
  EXPECT_EQ(parse_err("alert http any any -> any any (http.uri; content:\"/x\"; sid:9;)"),
            "t.rules:7: sid 9: unsupported keyword 'http.uri' (needs the HTTP parser, which wirescope does not have "
            "yet)");
  EXPECT_EQ(parse_err("alert tls any any -> any any (tls.sni; content:\"a\"; sid:9;)"),
            "t.rules:7: sid 9: unsupported keyword 'tls.sni' (needs the TLS parser, which wirescope does not have "
            "yet)");
  EXPECT_EQ(parse_err("alert dns any any -> any any (dns.query; content:\"a\"; sid:9;)"),
            "t.rules:7: sid 9: unsupported keyword 'dns.query' (needs the DNS parser, which wirescope does not have "
            "yet)");
  EXPECT_NE(parse_err(hdr("app-layer-event:applayer_mismatch_protocol_both_directions; sid:9;"))
                .find("unsupported keyword 'app-layer-event' (needs an application-layer parser"),
            std::string::npos);
}

TEST(RuleHeader, AddressForms) {
  Rule r = parse_ok("alert ip 10.1.2.3 any -> 192.168.0.0/16 any (sid:1;)");
  EXPECT_EQ(r.src.kind, AddressNode::Kind::kPrefix);
  EXPECT_EQ(r.src.prefix, v4(10, 1, 2, 3, 32));
  EXPECT_EQ(r.dst.prefix, v4(192, 168, 0, 0, 16));

  // Host bits are cleared; netmask form converts to a prefix length.
  r = parse_ok("alert ip 10.1.2.3/8 any -> 172.16.5.0/255.255.0.0 any (sid:1;)");
  EXPECT_EQ(r.src.prefix, v4(10, 0, 0, 0, 8));
  EXPECT_EQ(r.dst.prefix, v4(172, 16, 0, 0, 16));

  r = parse_ok("alert ip 2001:db8::1/32 any -> ::1 any (sid:1;)");
  EXPECT_TRUE(r.src.prefix.v6);
  EXPECT_EQ(r.src.prefix.len, 32);
  EXPECT_EQ(r.src.prefix.bytes[0], 0x20);
  EXPECT_EQ(r.src.prefix.bytes[1], 0x01);
  EXPECT_EQ(r.src.prefix.bytes[2], 0x0d);
  EXPECT_EQ(r.src.prefix.bytes[15], 0);  // host bits cleared
  EXPECT_EQ(r.dst.prefix.len, 128);
  EXPECT_EQ(r.dst.prefix.bytes[15], 1);

  // Lists, nesting, negation, spaces inside the brackets.
  r = parse_ok("alert ip [10.0.0.0/8, ![10.1.0.0/16,10.2.3.4]] any -> !1.2.3.4 any (sid:1;)");
  ASSERT_EQ(r.src.kind, AddressNode::Kind::kList);
  ASSERT_EQ(r.src.children.size(), 2u);
  EXPECT_FALSE(r.src.children[0].negated);
  EXPECT_EQ(r.src.children[0].prefix, v4(10, 0, 0, 0, 8));
  const AddressNode& inner = r.src.children[1];
  EXPECT_TRUE(inner.negated);
  ASSERT_EQ(inner.kind, AddressNode::Kind::kList);
  ASSERT_EQ(inner.children.size(), 2u);
  EXPECT_EQ(inner.children[1].prefix, v4(10, 2, 3, 4, 32));
  EXPECT_TRUE(r.dst.negated);
  EXPECT_EQ(r.dst.prefix, v4(1, 2, 3, 4, 32));

  // Inclusive ranges.
  r = parse_ok("alert ip 10.0.0.1-10.0.0.9 any -> ![2001:db8::1-2001:db8::ff] any (sid:1;)");
  EXPECT_EQ(r.src.kind, AddressNode::Kind::kRange);
  EXPECT_EQ(r.src.prefix, v4(10, 0, 0, 1, 32));
  EXPECT_EQ(r.src.range_last, v4(10, 0, 0, 9, 32));
  ASSERT_EQ(r.dst.children.size(), 1u);
  EXPECT_EQ(r.dst.children[0].kind, AddressNode::Kind::kRange);
  EXPECT_TRUE(r.dst.children[0].range_last.v6);
  EXPECT_EQ(r.dst.children[0].range_last.bytes[15], 0xff);
  EXPECT_EQ(parse_err("alert ip 10.0.0.9-10.0.0.1 any -> any any (sid:2;)"),
            "t.rules:7: sid 2: source address: address range '10.0.0.9-10.0.0.1' has its first address after its last");
  EXPECT_EQ(parse_err("alert ip 10.0.0.1-::1 any -> any any (sid:2;)"),
            "t.rules:7: sid 2: source address: address range '10.0.0.1-::1' mixes IPv4 and IPv6");
}

TEST(RuleHeader, AddressVariables) {
  Rule r = parse_ok("alert tcp $EXTERNAL_NET any -> $HTTP_SERVERS any (sid:1;)");
  // EXTERNAL_NET is !$HOME_NET: a negated list of the three private ranges.
  EXPECT_EQ(r.src.var, "EXTERNAL_NET");
  EXPECT_TRUE(r.src.negated);
  ASSERT_EQ(r.src.kind, AddressNode::Kind::kList);
  ASSERT_EQ(r.src.children.size(), 3u);
  EXPECT_EQ(r.src.children[0].prefix, v4(192, 168, 0, 0, 16));
  EXPECT_EQ(r.src.children[2].prefix, v4(172, 16, 0, 0, 12));
  EXPECT_EQ(r.dst.var, "HTTP_SERVERS");
  EXPECT_FALSE(r.dst.negated);
  EXPECT_EQ(r.dst.children.size(), 3u);

  // !$EXTERNAL_NET is a double negation of HOME_NET.
  r = parse_ok("alert tcp !$EXTERNAL_NET any -> [$HOME_NET,!$DNS_SERVERS] any (sid:1;)");
  EXPECT_FALSE(r.src.negated);
  ASSERT_EQ(r.dst.children.size(), 2u);
  EXPECT_TRUE(r.dst.children[1].negated);

  // Overridden variables.
  RuleVars vars = kVars;
  vars.address["HOME_NET"] = "10.9.0.0/16";
  RuleResult rr = parse_rule("alert tcp $HOME_NET any -> $EXTERNAL_NET any (sid:1;)", vars);
  ASSERT_TRUE(rr.rule);
  EXPECT_EQ(rr.rule->src.prefix, v4(10, 9, 0, 0, 16));
  EXPECT_TRUE(rr.rule->dst.negated);
  EXPECT_EQ(rr.rule->dst.prefix, v4(10, 9, 0, 0, 16));

  // A variable that names itself is a reported error, not a loop.
  vars.address["LOOP"] = "[1.2.3.4,$LOOP]";
  rr = parse_rule("alert tcp $LOOP any -> any any (sid:3;)", vars, "v.rules", 2);
  ASSERT_TRUE(rr.error);
  EXPECT_NE(rr.error->reason.find("refers to itself"), std::string::npos) << rr.error->str();
}

TEST(RuleHeader, PortForms) {
  Rule r = parse_ok("alert tcp any 80 -> any 1024: (sid:1;)");
  EXPECT_EQ(r.sport.kind, PortNode::Kind::kRange);
  EXPECT_EQ(r.sport.lo, 80);
  EXPECT_EQ(r.sport.hi, 80);
  EXPECT_EQ(r.dport.lo, 1024);
  EXPECT_EQ(r.dport.hi, 65535);

  r = parse_ok("alert tcp any :1023 -> any [80:90, !85, [443,8443]] (sid:1;)");
  EXPECT_EQ(r.sport.lo, 0);
  EXPECT_EQ(r.sport.hi, 1023);
  ASSERT_EQ(r.dport.kind, PortNode::Kind::kList);
  ASSERT_EQ(r.dport.children.size(), 3u);
  EXPECT_EQ(r.dport.children[0].lo, 80);
  EXPECT_EQ(r.dport.children[0].hi, 90);
  EXPECT_TRUE(r.dport.children[1].negated);
  EXPECT_EQ(r.dport.children[1].lo, 85);
  EXPECT_EQ(r.dport.children[2].children.size(), 2u);
  EXPECT_EQ(r.dport.children[2].children[1].lo, 8443);

  r = parse_ok("alert tcp any $SHELLCODE_PORTS -> any $FILE_DATA_PORTS (sid:1;)");
  EXPECT_EQ(r.sport.var, "SHELLCODE_PORTS");
  EXPECT_TRUE(r.sport.negated);
  EXPECT_EQ(r.sport.lo, 80);
  ASSERT_EQ(r.dport.children.size(), 3u);
  EXPECT_EQ(r.dport.children[0].var, "HTTP_PORTS");
  EXPECT_EQ(r.dport.children[0].lo, 80);
  EXPECT_EQ(r.dport.children[2].lo, 143);
}

TEST(RuleHeader, Direction) {
  EXPECT_EQ(parse_ok("alert tcp any any -> any any (sid:1;)").direction, RuleDirection::kToDst);
  EXPECT_EQ(parse_ok("alert tcp any any <> any any (sid:1;)").direction, RuleDirection::kBoth);
}

TEST(RuleHeader, BadHeaders) {
  struct Case {
    std::string text, error;
  } cases[] = {
      {"alarm tcp any any -> any any (sid:5;)",
       "t.rules:7: sid 5: unknown action 'alarm': not alert, pass, drop, reject, rejectsrc, rejectdst nor rejectboth"},
      {"alert foo any any -> any any (sid:5;)", "t.rules:7: sid 5: unknown protocol 'foo': not ip, tcp, udp, icmp, icmpv4, icmpv6, tcp-pkt, tcp-stream nor an "
       "app-layer protocol (http, tls, dns, ssh, smtp, imap, pop3, ftp, ftp-data, smb, dcerpc, nfs, ntp, dhcp, tftp, "
       "snmp, sip, rdp, rfb, mqtt, krb5, modbus, dnp3, enip, ike, pgsql, telnet, websocket, ldap, quic)"},
      {"alert tcp any any <- any any (sid:5;)",
       "t.rules:7: sid 5: '<-' is not a direction: swap the two sides and use '->'"},
      {"alert tcp any any => any any (sid:5;)", "t.rules:7: sid 5: unknown direction '=>'"},
      {"alert tcp any -> any any (sid:5;)",
       "t.rules:7: sid 5: header must be 'action proto src_addr src_port direction dst_addr dst_port', got 6 fields"},
      {"alert tcp 10.0.0.256 any -> any any (sid:5;)", "t.rules:7: sid 5: source address: invalid address '10.0.0.256'"},
      {"alert tcp 10.0.0.0/33 any -> any any (sid:5;)",
       "t.rules:7: sid 5: source address: invalid prefix length in '10.0.0.0/33'"},
      {"alert tcp any any -> !any any (sid:5;)", "t.rules:7: sid 5: destination address: '!any' matches no address"},
      {"alert tcp $NOPE any -> any any (sid:5;)", "t.rules:7: sid 5: source address: unknown address variable '$NOPE'"},
      {"alert tcp [1.2.3.4 any -> any any (sid:5;)",
       "t.rules:7: sid 5: header must be 'action proto src_addr src_port direction dst_addr dst_port', got 3 fields"},
      {"alert tcp [] any -> any any (sid:5;)", "t.rules:7: sid 5: source address: empty address list"},
      {"alert tcp any 70000 -> any any (sid:5;)", "t.rules:7: sid 5: source port: invalid port '70000'"},
      {"alert tcp any any -> any 90:80 (sid:5;)",
       "t.rules:7: sid 5: destination port: port range '90:80' has its low end above its high end"},
      {"alert tcp any any -> any $NOPE_PORTS (sid:5;)",
       "t.rules:7: sid 5: destination port: unknown port variable '$NOPE_PORTS'"},
      {"alert tcp any any -> any $HOME_NET (sid:5;)",
       "t.rules:7: sid 5: destination port: unknown port variable '$HOME_NET'"},
      {"alert tcp any any -> any any sid:5;", "t.rules:7: rule has no '(' options section"},
      {"alert tcp any any -> any any (sid:5;", "t.rules:7: sid 5: rule does not end with ')'"},
  };
  for (const auto& c : cases) EXPECT_EQ(parse_err(c.text), c.error) << c.text;
}

// ---- options --------------------------------------------------------------

TEST(RuleOptions, Metadata) {
  Rule r = parse_ok(hdr(
      "msg:\"Test \\\"quoted\\\" \\; semi\"; sid:2001234; rev:7; gid:3; classtype:trojan-activity; priority:2; "
      "reference:url,example.com/a; reference:cve,2017-0144; metadata:former_category MALWARE, created_at 2017_01_01; "
      "target:dest_ip;"));
  EXPECT_EQ(r.msg, "Test \"quoted\" ; semi");
  EXPECT_EQ(r.sid, 2001234u);
  EXPECT_EQ(r.rev, 7u);
  EXPECT_EQ(r.gid, 3u);
  EXPECT_EQ(r.classtype, "trojan-activity");
  EXPECT_EQ(r.priority, 2);
  ASSERT_EQ(r.references.size(), 2u);
  EXPECT_EQ(r.references[0], (std::pair<std::string, std::string>("url", "example.com/a")));
  EXPECT_EQ(r.references[1].first, "cve");
  ASSERT_EQ(r.metadata.size(), 2u);
  EXPECT_EQ(r.metadata[0], "former_category MALWARE");
  EXPECT_EQ(r.metadata[1], "created_at 2017_01_01");
  EXPECT_EQ(r.target, Rule::Target::kDestIp);
  EXPECT_EQ(parse_ok(hdr("sid:1;")).gid, 1u);  // default gid
}

TEST(RuleOptions, Content) {
  Rule r = parse_ok(hdr("content:\"GET |20 2f|a\\;b\\\"c\\\\d\\:\"; content:!\"|00|\"; sid:1;"));
  ASSERT_EQ(r.payload.size(), 2u);
  EXPECT_EQ(content_at(r, 0).bytes, std::string("GET  /a;b\"c\\d:"));
  EXPECT_FALSE(content_at(r, 0).negated);
  EXPECT_EQ(content_at(r, 1).bytes, std::string(1, '\0'));
  EXPECT_TRUE(content_at(r, 1).negated);
}

TEST(RuleOptions, ContentModifiers) {
  Rule r = parse_ok(hdr(
      "content:\"abc\"; nocase; depth:10; offset:2; content:\"de\"; distance:-1; within:5; fast_pattern; "
      "content:\"xyz\"; startswith; content:\"end\"; endswith; sid:1;"));
  ASSERT_EQ(r.payload.size(), 4u);
  const ContentMatch& a = content_at(r, 0);
  EXPECT_TRUE(a.nocase);
  EXPECT_EQ(a.depth, (IntOrVar{10, ""}));
  EXPECT_EQ(a.offset, (IntOrVar{2, ""}));
  EXPECT_FALSE(a.distance.has_value());
  EXPECT_FALSE(a.fast_pattern);
  const ContentMatch& b = content_at(r, 1);
  EXPECT_EQ(b.distance, (IntOrVar{-1, ""}));
  EXPECT_EQ(b.within, (IntOrVar{5, ""}));
  EXPECT_TRUE(b.fast_pattern);
  EXPECT_FALSE(b.fast_pattern_only);
  EXPECT_TRUE(content_at(r, 2).startswith);
  EXPECT_TRUE(content_at(r, 3).endswith);

  r = parse_ok(hdr("content:\"abcdef\"; fast_pattern:only; sid:1;"));
  EXPECT_TRUE(content_at(r, 0).fast_pattern_only);
  r = parse_ok(hdr("content:\"abcdef\"; fast_pattern:2,3; sid:1;"));
  ASSERT_TRUE(content_at(r, 0).fast_pattern_chop);
  EXPECT_EQ(content_at(r, 0).fast_pattern_chop->first, 2);
  EXPECT_EQ(content_at(r, 0).fast_pattern_chop->second, 3);
}

TEST(RuleOptions, PcreIsdataatDsize) {
  Rule r = parse_ok(hdr("content:\"a\"; pcre:\"/^x\\d+y/smiR\"; pcre:!\"/foo/AEGxBO\"; isdataat:!10,relative; "
                        "isdataat:5; dsize:>100; sid:1;"));
  ASSERT_EQ(r.payload.size(), 5u);
  const auto& p = std::get<PcreMatch>(r.payload[1]);
  EXPECT_EQ(p.pattern, "^x\\d+y");
  EXPECT_EQ(p.flags, "smiR");
  EXPECT_TRUE(p.dotall && p.multiline && p.caseless && p.relative);
  EXPECT_FALSE(p.negated || p.anchored || p.rawbytes);
  const auto& q = std::get<PcreMatch>(r.payload[2]);
  EXPECT_TRUE(q.negated && q.anchored && q.dollar_endonly && q.ungreedy && q.extended && q.rawbytes &&
              q.match_limit_off);
  const auto& d = std::get<IsDataAt>(r.payload[3]);
  EXPECT_TRUE(d.negated);
  EXPECT_TRUE(d.relative);
  EXPECT_EQ(d.size.value, 10);
  EXPECT_FALSE(std::get<IsDataAt>(r.payload[4]).relative);
  EXPECT_EQ(r.dsize, (UintCond{UintCond::Op::kGt, 100, 0}));

  struct Case {
    std::string v;
    UintCond want;
  } dsizes[] = {
      {"300", {UintCond::Op::kEq, 300, 0}},   {"=300", {UintCond::Op::kEq, 300, 0}},
      {"<5", {UintCond::Op::kLt, 5, 0}},      {"!0", {UintCond::Op::kNe, 0, 0}},
      {">=7", {UintCond::Op::kGe, 7, 0}},     {"<=7", {UintCond::Op::kLe, 7, 0}},
      {"300<>400", {UintCond::Op::kRange, 300, 400}}, {"1-9", {UintCond::Op::kRange, 1, 9}},
  };
  for (const auto& c : dsizes) EXPECT_EQ(parse_ok(hdr("dsize:" + c.v + "; sid:1;")).dsize, c.want) << c.v;
}

TEST(RuleOptions, Flow) {
  struct Case {
    std::string v;
    FlowOpts want;
  } cases[] = {
      {"to_server,established", {FlowOpts::Dir::kToServer, FlowOpts::State::kEstablished, FlowOpts::Stream::kAny}},
      {"established, from_server", {FlowOpts::Dir::kToClient, FlowOpts::State::kEstablished, FlowOpts::Stream::kAny}},
      {"from_client", {FlowOpts::Dir::kToServer, FlowOpts::State::kAny, FlowOpts::Stream::kAny}},
      {"to_client,not_established", {FlowOpts::Dir::kToClient, FlowOpts::State::kNotEstablished, FlowOpts::Stream::kAny}},
      {"stateless", {FlowOpts::Dir::kAny, FlowOpts::State::kStateless, FlowOpts::Stream::kAny}},
      {"to_server,established,only_stream",
       {FlowOpts::Dir::kToServer, FlowOpts::State::kEstablished, FlowOpts::Stream::kOnlyStream}},
      {"no_stream", {FlowOpts::Dir::kAny, FlowOpts::State::kAny, FlowOpts::Stream::kNoStream}},
  };
  for (const auto& c : cases) EXPECT_EQ(parse_ok(hdr("flow:" + c.v + "; sid:1;")).flow, c.want) << c.v;
}

TEST(RuleOptions, Flowbits) {
  Rule r = parse_ok(hdr("flowbits:set,a.b; flowbits:isset,x|y; flowbits:isnotset,p&q; flowbits:unset,u; "
                        "flowbits:toggle,t; flowbits:noalert; sid:1;"));
  ASSERT_EQ(r.flowbits.size(), 6u);
  EXPECT_EQ(r.flowbits[0].cmd, Flowbits::Cmd::kSet);
  EXPECT_EQ(r.flowbits[0].names, std::vector<std::string>{"a.b"});
  EXPECT_EQ(r.flowbits[1].cmd, Flowbits::Cmd::kIsSet);
  EXPECT_TRUE(r.flowbits[1].any_of);
  EXPECT_EQ(r.flowbits[1].names, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(r.flowbits[2].cmd, Flowbits::Cmd::kIsNotSet);
  EXPECT_FALSE(r.flowbits[2].any_of);
  EXPECT_EQ(r.flowbits[2].names, (std::vector<std::string>{"p", "q"}));
  EXPECT_EQ(r.flowbits[3].cmd, Flowbits::Cmd::kUnset);
  EXPECT_EQ(r.flowbits[4].cmd, Flowbits::Cmd::kToggle);
  EXPECT_EQ(r.flowbits[5].cmd, Flowbits::Cmd::kNoAlert);
  EXPECT_TRUE(r.noalert);
}

TEST(RuleOptions, ThresholdAndDetectionFilter) {
  Rule r = parse_ok(hdr("threshold: type limit, track by_src, count 1, seconds 60; "
                        "detection_filter: track by_dst, count 5, seconds 10; sid:1;"));
  ASSERT_TRUE(r.threshold);
  EXPECT_EQ(r.threshold->type, ThresholdType::kLimit);
  EXPECT_EQ(r.threshold->track, ThresholdTrack::kBySrc);
  EXPECT_EQ(r.threshold->count, 1u);
  EXPECT_EQ(r.threshold->seconds, 60u);
  ASSERT_TRUE(r.detection_filter);
  EXPECT_EQ(r.detection_filter->track, ThresholdTrack::kByDst);
  EXPECT_EQ(r.detection_filter->count, 5u);
  EXPECT_EQ(r.detection_filter->seconds, 10u);
  const Rule b = parse_ok(hdr("threshold: type backoff, track by_flow, count 3, multiplier 10; sid:1;"));
  ASSERT_TRUE(b.threshold);
  EXPECT_EQ(b.threshold->type, ThresholdType::kBackoff);
  EXPECT_EQ(b.threshold->count, 3u);
  EXPECT_EQ(b.threshold->multiplier, 10u);
  const std::pair<std::string, ThresholdTrack> tracks[] = {
      {"by_rule", ThresholdTrack::kByRule}, {"by_flow", ThresholdTrack::kByFlow}, {"by_both", ThresholdTrack::kByBoth}};
  for (const auto& [word, want] : tracks)
    EXPECT_EQ(parse_ok(hdr("threshold:type both,track " + word + ",count 2,seconds 3; sid:1;")).threshold->track, want);
  EXPECT_EQ(parse_ok(hdr("threshold:type threshold,track by_src,count 2,seconds 3; sid:1;")).threshold->type,
            ThresholdType::kThreshold);
}

TEST(RuleOptions, ByteKeywords) {
  Rule r = parse_ok(hdr(
      "content:\"a\"; byte_extract:2,0,len,relative,little,multiplier 4,align 4; "
      "byte_test:4,!&,0x80,len,relative,big,bitmask 0xff; byte_test:3,>=,100,-2,string,hex; "
      "byte_jump:2,1,relative,multiplier 2,little,align,from_beginning,post_offset -3; "
      "byte_jump:4,0,string,dec,from_end,dce; content:\"b\"; distance:len; within:10; sid:1;"));
  ASSERT_EQ(r.payload.size(), 7u);
  const auto& e = std::get<ByteExtract>(r.payload[1]);
  EXPECT_EQ(e.nbytes, 2);
  EXPECT_EQ(e.offset, 0);
  EXPECT_EQ(e.name, "len");
  EXPECT_TRUE(e.relative);
  EXPECT_EQ(e.endian, ByteEndian::kLittle);
  EXPECT_EQ(e.multiplier, 4u);
  EXPECT_EQ(e.align, 4);
  const auto& t = std::get<ByteTest>(r.payload[2]);
  EXPECT_EQ(t.nbytes, 4);
  EXPECT_TRUE(t.negated);
  EXPECT_EQ(t.op, "&");
  EXPECT_EQ(t.value.value, 0x80);
  EXPECT_EQ(t.offset, (IntOrVar{0, "len"}));
  EXPECT_TRUE(t.relative);
  EXPECT_EQ(t.bitmask, 0xffu);
  const auto& t2 = std::get<ByteTest>(r.payload[3]);
  EXPECT_EQ(t2.op, ">=");
  EXPECT_EQ(t2.offset.value, -2);
  EXPECT_EQ(t2.base, ByteBase::kHex);
  const auto& j = std::get<ByteJump>(r.payload[4]);
  EXPECT_EQ(j.nbytes, 2);
  EXPECT_EQ(j.offset.value, 1);
  EXPECT_EQ(j.multiplier, 2u);
  EXPECT_TRUE(j.align && j.from_beginning && j.relative);
  EXPECT_EQ(j.post_offset, -3);
  EXPECT_EQ(j.endian, ByteEndian::kLittle);
  const auto& j2 = std::get<ByteJump>(r.payload[5]);
  EXPECT_EQ(j2.base, ByteBase::kDec);
  EXPECT_TRUE(j2.from_end && j2.dce);
  EXPECT_EQ(content_at(r, 6).distance, (IntOrVar{0, "len"}));
  // The byte count may be a variable; byte_jump may read 0 bytes.
  r = parse_ok(hdr("byte_extract:1,4,n; byte_jump:n,0,relative; byte_test:n,=,1,2147483647; byte_jump:0,0,post_offset -8; sid:1;"));
  EXPECT_EQ(std::get<ByteJump>(r.payload[1]).nbytes_var, "n");
  EXPECT_EQ(std::get<ByteTest>(r.payload[2]).nbytes_var, "n");
  EXPECT_EQ(std::get<ByteTest>(r.payload[2]).offset.value, 2147483647);
  EXPECT_EQ(std::get<ByteJump>(r.payload[3]).nbytes, 0);
  EXPECT_EQ(std::get<ByteJump>(r.payload[3]).post_offset, -8);
  EXPECT_EQ(parse_err(hdr("byte_jump:m,0; sid:1;")),
            "t.rules:7: sid 1: byte_jump: unknown variable 'm' (no byte_extract defines it)");
  EXPECT_EQ(parse_err(hdr("byte_test:0,=,1,0; sid:1;")),
            "t.rules:7: sid 1: byte_test: cannot read 0 bytes (1-8 binary; up to 10 with 'string')");
  // `string` without a base reads decimal.
  EXPECT_EQ(std::get<ByteTest>(parse_ok(hdr("byte_test:2,=,10,0,string; sid:1;")).payload[0]).base, ByteBase::kDec);
}

TEST(RuleOptions, PacketFields) {
  Rule r = parse_ok("alert icmp any any -> any any (itype:8; icode:0<>3; icmp_id:1234; icmp_seq:7; ttl:<5; "
                    "ip_proto:!udp; sid:1;)");
  EXPECT_EQ(r.itype, (UintCond{UintCond::Op::kEq, 8, 0}));
  EXPECT_EQ(r.icode, (UintCond{UintCond::Op::kRange, 0, 3}));
  EXPECT_EQ(r.icmp_id, 1234);
  EXPECT_EQ(r.icmp_seq, 7);
  EXPECT_EQ(r.ttl, (UintCond{UintCond::Op::kLt, 5, 0}));
  EXPECT_EQ(r.ip_proto, (UintCond{UintCond::Op::kNe, 17, 0}));
  EXPECT_EQ(parse_ok(hdr("ip_proto:47; sid:1;")).ip_proto, (UintCond{UintCond::Op::kEq, 47, 0}));
  EXPECT_EQ(parse_ok(hdr("itype:>10; sid:1;")).itype, (UintCond{UintCond::Op::kGt, 10, 0}));

  struct FlagCase {
    std::string v;
    TcpFlags::Mod mod;
    uint8_t bits, ignore;
  } flags[] = {
      {"S", TcpFlags::Mod::kExact, 0x02, 0},       {"SA", TcpFlags::Mod::kExact, 0x12, 0},
      {"S,12", TcpFlags::Mod::kExact, 0x02, 0xc0}, {"+A", TcpFlags::Mod::kPlus, 0x10, 0},
      {"A+", TcpFlags::Mod::kPlus, 0x10, 0},       {"*FPU", TcpFlags::Mod::kAny, 0x29, 0},
      {"!R", TcpFlags::Mod::kNot, 0x04, 0},        {"0", TcpFlags::Mod::kExact, 0, 0},
      {"FSRPAUCE", TcpFlags::Mod::kExact, 0xff, 0}, {"S,CE", TcpFlags::Mod::kExact, 0x02, 0xc0},
  };
  for (const auto& c : flags) {
    Rule fr = parse_ok(hdr("flags:" + c.v + "; sid:1;"));
    ASSERT_TRUE(fr.flags) << c.v;
    EXPECT_EQ(fr.flags->mod, c.mod) << c.v;
    EXPECT_EQ(fr.flags->bits, c.bits) << c.v;
    EXPECT_EQ(fr.flags->ignore, c.ignore) << c.v;
  }
  EXPECT_TRUE(parse_ok(hdr("noalert; sid:1;")).noalert);
  EXPECT_FALSE(parse_ok(hdr("sid:1;")).noalert);
}

TEST(RuleOptions, BadOptions) {
  struct Case {
    std::string opts, error;
  } cases[] = {
      {"msg:\"x\"; http_uri; sid:2001234;", "t.rules:7: sid 2001234: unsupported keyword 'http_uri' (needs the HTTP parser, which wirescope does not have yet)"},
      {"content:\"x\"; http.uri; sid:2001234;", "t.rules:7: sid 2001234: unsupported keyword 'http.uri' (needs the HTTP parser, which wirescope does not have yet)"},
      {"msg:\"x\";", "t.rules:7: rule has no sid"},
      {"sid:0;", "t.rules:7: sid: invalid number '0'"},
      {"sid:abc;", "t.rules:7: sid: invalid number 'abc'"},
      {"sid;", "t.rules:7: sid: needs a value"},
      {"nocase:1; content:\"a\"; sid:9;", "t.rules:7: sid 9: nocase: takes no value"},
      {"depth:4; sid:9;", "t.rules:7: sid 9: depth: no content before it"},
      {"content:\"abc\"; depth:2; sid:9;", "t.rules:7: sid 9: depth: depth 2 is shorter than the content (3 bytes)"},
      {"content:\"abc\"; within:2; sid:9;", "t.rules:7: sid 9: within: within 2 is shorter than the content (3 bytes)"},
      {"content:\"abc\"; depth:5; distance:1; sid:9;",
       "t.rules:7: sid 9: distance: relative (distance/within) and absolute (depth/offset) modifiers on one content"},
      {"content:\"a\"; nocase; nocase; sid:9;", "t.rules:7: sid 9: nocase: used twice on one content"},
      {"content:\"a\"; distance:len; sid:9;",
       "t.rules:7: sid 9: distance: unknown variable 'len' (no byte_extract defines it)"},
      {"content:\"a\"; startswith; offset:1; sid:9;", "t.rules:7: sid 9: offset: cannot be combined with startswith"},
      {"content:\"ab\"; fast_pattern:1,5; sid:9;",
       "t.rules:7: sid 9: fast_pattern: offset 1 + length 5 is past the end of the content (2 bytes)"},
      {"content:\"ab\"; fast_pattern; content:\"cd\"; fast_pattern; sid:9;",
       "t.rules:7: sid 9: fast_pattern: set on more than one content"},
      {"content:!\"ab\"; fast_pattern:only; sid:9;", "t.rules:7: sid 9: fast_pattern: 'only' on a negated content"},
      {"content:\"ab\"; fast_pattern:only; depth:4; sid:9;",
       "t.rules:7: sid 9: fast_pattern: 'only' on a content with depth, offset, distance or within"},
      {"content:\"|4|\"; sid:9;", "t.rules:7: sid 9: content: odd number of hex digits in |...|"},
      {"content:\"|4g|\"; sid:9;", "t.rules:7: sid 9: content: invalid hex digit 'g' in |...|"},
      {"content:\"|41\"; sid:9;", "t.rules:7: sid 9: content: unclosed '|'"},
      {"content:\"a\\x\"; sid:9;", "t.rules:7: sid 9: content: invalid escape '\\x'"},
      {"content:\"\"; sid:9;", "t.rules:7: sid 9: content: empty content"},
      {"content:abc; sid:9;", "t.rules:7: sid 9: content: value must be in double quotes"},
      {"pcre:\"/a/U\"; sid:9;", "t.rules:7: sid 9: pcre: unsupported flag 'U' (selects an HTTP buffer)"},
      {"pcre:\"/a/q\"; sid:9;", "t.rules:7: sid 9: pcre: unknown flag 'q'"},
      {"pcre:\"/a(b/\"; sid:9;",
       "t.rules:7: sid 9: pcre: regex does not compile: missing closing parenthesis at offset 3"},
      {"pcre:\"abc\"; sid:9;", "t.rules:7: sid 9: pcre: expected \"/regex/flags\""},
      {"dsize:5<>3; sid:9;", "t.rules:7: sid 9: dsize: range '5<>3' is empty (the bounds are exclusive)"},
      {"dsize:<0; sid:9;", "t.rules:7: sid 9: dsize: '<0' can never match"},
      {"dsize:x; sid:9;", "t.rules:7: sid 9: dsize: invalid value 'x'"},
      {"flow:to_server,to_client; sid:9;",
       "t.rules:7: sid 9: flow: conflicting options 'to_server' and 'to_client'"},
      {"flow:established,stateless; sid:9;",
       "t.rules:7: sid 9: flow: conflicting options 'established' and 'stateless'"},
      {"flow:sideways; sid:9;", "t.rules:7: sid 9: flow: unknown option 'sideways'"},
      {"flowbits:set,a|b; sid:9;", "t.rules:7: sid 9: flowbits: '|' groups are only for isset and isnotset"},
      {"flowbits:isset,a|b&c; sid:9;", "t.rules:7: sid 9: flowbits: cannot mix '|' and '&' in one flowbits"},
      {"flowbits:isset; sid:9;", "t.rules:7: sid 9: flowbits: isset needs a flowbit name"},
      {"flowbits:flip,a; sid:9;", "t.rules:7: sid 9: flowbits: unknown command 'flip'"},
      {"threshold:type limit, track by_src, count 1; sid:9;", "t.rules:7: sid 9: threshold: missing 'seconds'"},
      {"threshold:type sometimes, track by_src, count 1, seconds 2; sid:9;",
       "t.rules:7: sid 9: threshold: type must be limit, threshold, both or backoff, got 'sometimes'"},
      {"threshold:type backoff, track by_src, count 1, multiplier 2; sid:9;",
       "t.rules:7: sid 9: threshold: type backoff needs track by_flow"},
      {"threshold:type backoff, track by_flow, count 1, seconds 2; sid:9;",
       "t.rules:7: sid 9: threshold: type backoff takes 'multiplier', not 'seconds'"},
      {"threshold:type backoff, track by_flow, count 1; sid:9;", "t.rules:7: sid 9: threshold: missing 'multiplier'"},
      {"threshold:type backoff, track by_flow, count 1, multiplier 1; sid:9;",
       "t.rules:7: sid 9: threshold: invalid multiplier '1' (2 or more)"},
      {"threshold:type limit, track by_src, count 1, seconds 2, multiplier 2; sid:9;",
       "t.rules:7: sid 9: threshold: 'multiplier' is for type backoff only"},
      {"detection_filter:type limit, track by_src, count 1, seconds 2; sid:9;",
       "t.rules:7: sid 9: detection_filter: unknown option 'type'"},
      {"threshold:type limit, track by_nobody, count 1, seconds 2; sid:9;",
       "t.rules:7: sid 9: threshold: track must be by_src, by_dst, by_rule, by_flow or by_both, got 'by_nobody'"},
      {"byte_test:4,>,1; sid:9;", "t.rules:7: sid 9: byte_test: expected 'bytes, operator, value, offset[, options]'"},
      {"byte_test:4,~,1,0; sid:9;", "t.rules:7: sid 9: byte_test: unknown operator '~'"},
      {"byte_test:9,=,1,0; sid:9;",
       "t.rules:7: sid 9: byte_test: cannot read 9 bytes (1-8 binary; up to 10 with 'string')"},
      {"byte_test:2,=,1,0,hex; sid:9;", "t.rules:7: sid 9: byte_test: a number base (hex, dec, oct) needs 'string'"},
      {"byte_jump:2,0,sideways; sid:9;", "t.rules:7: sid 9: byte_jump: unknown option 'sideways'"},
      {"byte_jump:2,0,from_beginning,from_end; sid:9;",
       "t.rules:7: sid 9: byte_jump: from_beginning and from_end together"},
      {"byte_extract:2,0,1x; sid:9;", "t.rules:7: sid 9: byte_extract: invalid variable name '1x'"},
      {"byte_extract:2,0,v; byte_extract:1,0,v; sid:9;",
       "t.rules:7: sid 9: byte_extract: variable 'v' defined twice"},
      {"byte_extract:2,0,v,align 3; sid:9;", "t.rules:7: sid 9: byte_extract: align must be 2 or 4, got 'align 3'"},
      {"isdataat:5,absolute; sid:9;", "t.rules:7: sid 9: isdataat: unknown option 'absolute'"},
      {"itype:256; sid:9;", "t.rules:7: sid 9: itype: invalid value '256'"},
      {"icmp_id:70000; sid:9;", "t.rules:7: sid 9: icmp_id: invalid number '70000'"},
      {"flags:SX; sid:9;", "t.rules:7: sid 9: flags: unknown flag 'X'"},
      {"flags:S+A; sid:9;", "t.rules:7: sid 9: flags: the modifier (+, * or !) goes once, before or after the flags"},
      {"flags:0S; sid:9;", "t.rules:7: sid 9: flags: '0' (no flags) together with flags"},
      {"ip_proto:foo; sid:9;", "t.rules:7: sid 9: ip_proto: unknown protocol name 'foo'"},
      {"priority:0; sid:9;", "t.rules:7: sid 9: priority: must be a number from 1 to 255, got '0'"},
      {"reference:nocomma; sid:9;", "t.rules:7: sid 9: reference: expected 'type,value', got 'nocomma'"},
      {"target:both; sid:9;", "t.rules:7: sid 9: target: must be src_ip or dest_ip, got 'both'"},
      {"dsize:1; dsize:2; sid:9;", "t.rules:7: sid 9: dsize: used twice"},
  };
  for (const auto& c : cases) EXPECT_EQ(parse_err(hdr(c.opts)), c.error) << c.opts;
}

TEST(RuleOptions, ErrorKinds) {
  RuleResult r = parse_rule(hdr("content:\"a\"; http_header; sid:5;"), kVars, "f", 3);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, RuleError::Kind::kUnsupportedKeyword);
  EXPECT_EQ(r.error->keyword, "http_header");
  EXPECT_EQ(r.error->sid, 5u);
  r = parse_rule(hdr("content:\"a\"; depth:x; sid:5;"), kVars, "f", 3);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, RuleError::Kind::kSyntax);
  EXPECT_EQ(r.error->keyword, "depth");
}

TEST(RuleOptions, ClasstypeCheckedAgainstTable) {
  ClassificationTable t = ClassificationTable::suricata_defaults();
  RuleParseOptions opts;
  opts.classifications = &t;
  EXPECT_TRUE(parse_rule(hdr("classtype:trojan-activity; sid:1;"), kVars, "f", 1, opts).rule);
  RuleResult r = parse_rule(hdr("classtype:made-up; sid:4;"), kVars, "f", 1, opts);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->str(), "f:1: sid 4: classtype: unknown classtype 'made-up' (not in the classification table)");
}

TEST(RuleOptions, KeywordTableIsTheSupportedSet) {
  auto kws = supported_rule_keywords();
  for (const char* k : {"msg", "content", "pcre", "flowbits", "byte_extract", "noalert", "ip_proto", "fast_pattern"})
    EXPECT_NE(std::find(kws.begin(), kws.end(), k), kws.end()) << k;
  // Every table keyword is accepted by the parser, never "unsupported".
  for (std::string_view k : kws) {
    RuleResult r = parse_rule(hdr(std::string(k) + "; sid:1;"), kVars);
    if (r.error) {
      EXPECT_NE(r.error->kind, RuleError::Kind::kUnsupportedKeyword) << k;
    }
  }
}

// ---- files ----------------------------------------------------------------

TEST(RuleFile, CommentsContinuationsAndLines) {
  const std::string text =
      "# a comment\n"
      "\n"
      "alert tcp any any -> any 80 (msg:\"one\"; \\\n"
      "    content:\"abc\"; \\\n"
      "    sid:1;)\n"
      "# alert tcp any any -> any any (msg:\"disabled\"; sid:2;)\n"
      "alert tcp any any -> any any (msg:\"bad\"; http_uri; sid:3;)\r\n"
      "   \n"
      "drop udp any any -> any 53 (msg:\"two\"; sid:4;)\n"
      "alert tcp any any -> any any (msg:\"x\"; sid:5;";
  RuleFileResult f = parse_rules_text(text, kVars, "local.rules");
  ASSERT_EQ(f.rules.size(), 2u);
  EXPECT_EQ(f.rules[0].msg, "one");
  EXPECT_EQ(f.rules[0].line, 3u);
  EXPECT_EQ(content_at(f.rules[0], 0).bytes, "abc");
  EXPECT_EQ(f.rules[1].sid, 4u);
  EXPECT_EQ(f.rules[1].line, 9u);
  EXPECT_EQ(f.rules[1].file, "local.rules");
  EXPECT_EQ(f.disabled, 1u);
  ASSERT_EQ(f.errors.size(), 2u);
  EXPECT_EQ(f.errors[0].str(), "local.rules:7: sid 3: unsupported keyword 'http_uri' (needs the HTTP parser, which wirescope does not have yet)");
  EXPECT_EQ(f.errors[1].str(), "local.rules:10: sid 5: rule does not end with ')'");
}

TEST(RuleFile, MissingFile) {
  RuleFileResult f = parse_rules_file("/nonexistent/dir/x.rules", kVars);
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_EQ(f.errors[0].str(), "/nonexistent/dir/x.rules:0: cannot open the rules file");
}

}  // namespace
}  // namespace ws
