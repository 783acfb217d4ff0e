// Matcher: fast pattern choice, prefilter use and full confirmation. The
// expected results come from Suricata's documentation of each keyword
// (payload keywords, fast pattern determination, flow, flags, byte_*), not
// from this implementation; the comment on each row says why it holds.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "rules/classification.h"
#include "rules/fast_pattern.h"
#include "rules/matcher.h"
#include "rules/rule_parser.h"

namespace fs = std::filesystem;

namespace ws {
namespace {

Rule parse(const std::string& text) {
  RuleResult r = parse_rule(text, RuleVars::suricata_defaults());
  EXPECT_TRUE(r.rule.has_value()) << text << ": " << (r.error ? r.error->str() : "");
  return r.rule ? *r.rule : Rule{};
}

// Content notation for payloads: text with |hex| blocks.
std::string bytes(const std::string& s) {
  std::string out;
  bool hex = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '|') { hex = !hex; continue; }
    if (!hex) { out += s[i]; continue; }
    if (s[i] == ' ') continue;
    out += static_cast<char>(std::stoi(s.substr(i, 2), nullptr, 16));
    ++i;
  }
  return out;
}

// ---------------------------------------------------------------- fast pattern

TEST(PatternStrength, SuricataScores) {
  EXPECT_EQ(pattern_strength("abcd"), 12u);          // 4 new alpha x3
  EXPECT_EQ(pattern_strength("aaaa"), 6u);           // 3 + 1 + 1 + 1
  EXPECT_EQ(pattern_strength(bytes("|00 01 02 03|")), 20u);  // 4 + 4 + 6 + 6
  EXPECT_EQ(pattern_strength("A1!"), 11u);           // 3 + 4 + 4
}

struct FpCase {
  const char* name;
  const char* options;
  const char* expect;  // content notation; "" means no fast pattern
  bool negated = false, only = false, nocase = false;
};

TEST(FastPattern, Selection) {
  const FpCase cases[] = {
      {"longest wins", R"(content:"abc"; content:"abcdef";)", "abcdef"},
      {"equal length: stronger (binary) wins", R"(content:"abcd"; content:"|00 01 02 03|";)", "|00 01 02 03|"},
      {"equal length: diverse beats repeated", R"(content:"aaaa"; content:"abcd";)", "abcd"},
      {"full tie: first in rule order", R"(content:"abcd"; content:"efgh";)", "abcd"},
      {"explicit beats longer", R"(content:"abcdefgh"; content:"xy"; fast_pattern;)", "xy"},
      {"only", R"(content:"abc"; content:"xyz"; fast_pattern:only;)", "xyz", false, true},
      {"chop", R"(content:"abcdefgh"; fast_pattern:2,3;)", "cde"},
      {"negated ignored while a positive exists", R"(content:!"longerpattern"; content:"abc";)", "abc"},
      {"only negated contents: negated used", R"(content:!"abc";)", "abc", true},
      {"nocase carried", R"(content:"Evil"; nocase;)", "Evil", false, false, true},
      {"no content", R"(dsize:5;)", ""},
  };
  for (const FpCase& c : cases) {
    Rule r = parse(std::string("alert tcp any any -> any any (") + c.options + " sid:1;)");
    auto fp = select_fast_pattern(r);
    if (std::string(c.expect).empty()) {
      EXPECT_FALSE(fp.has_value()) << c.name;
      continue;
    }
    ASSERT_TRUE(fp.has_value()) << c.name;
    EXPECT_EQ(fp->bytes, bytes(c.expect)) << c.name;
    EXPECT_EQ(fp->negated, c.negated) << c.name;
    EXPECT_EQ(fp->only, c.only) << c.name;
    EXPECT_EQ(fp->nocase, c.nocase) << c.name;
  }
}

// ---------------------------------------------------------------- confirmation

// Packet metadata; defaults: TCP 10.0.0.1:1234 -> 192.0.2.1:80, to_server,
// established, ttl 64, flags PA.
struct Meta {
  uint8_t proto = 6;
  const char* src = "10.0.0.1";
  const char* dst = "192.0.2.1";
  uint16_t sport = 1234, dport = 80;
  bool to_server = true, established = true, has_flow = true, stream = false;
  uint8_t ttl = 64, flags = 0x18;
  uint8_t itype = 0, icode = 0;
  bool has_id = false;
  uint16_t id = 0, seq = 0;
  AppProto app = AppProto::kUnknown;  // the flow's application protocol
};

bool parse_ip(const char* s, bool& v6, std::array<uint8_t, 16>& out) {
  out = {};
  std::string t = s;
  v6 = t.find(':') != std::string::npos;
  AddressResult a = parse_address_spec(t, RuleVars::suricata_defaults());
  if (!a.node || a.node->kind != AddressNode::Kind::kPrefix) return false;
  out = a.node->prefix.bytes;
  return true;
}

MatchInput make_input(const std::string& payload, const Meta& m) {
  MatchInput in;
  in.payload = {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()};
  in.ip_proto = m.proto;
  bool v6 = false;
  EXPECT_TRUE(parse_ip(m.src, v6, in.src));
  EXPECT_TRUE(parse_ip(m.dst, v6, in.dst));
  in.ipv6 = v6;
  in.sport = m.sport;
  in.dport = m.dport;
  in.to_server = m.to_server;
  in.established = m.established;
  in.has_flow = m.has_flow;
  in.stream = m.stream;
  in.ttl = m.ttl;
  in.tcp_flags = m.flags;
  in.icmp_type = m.itype;
  in.icmp_code = m.icode;
  in.icmp_has_id = m.has_id;
  in.icmp_id = m.id;
  in.icmp_seq = m.seq;
  in.app = m.app;
  return in;
}

struct Case {
  const char* why;
  const char* rule;     // full rule text
  const char* payload;  // content notation
  bool match;
  Meta meta{};
};

// Runs each case through build + match (prefilter included), one rule set per case.
void run_cases(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    std::vector<Rule> rules{parse(c.rule)};
    std::string err;
    auto set = RuleSet::build(rules, &err);
    ASSERT_TRUE(set) << c.why << ": " << err;
    auto scratch = set->make_scratch();
    ASSERT_TRUE(scratch);
    std::string p = bytes(c.payload);
    MatchInput in = make_input(p, c.meta);
    size_t n = set->match(in, *scratch, [](const Rule&) {});
    EXPECT_EQ(n, c.match ? 1u : 0u) << c.why << "\n  rule: " << c.rule << "\n  payload: " << c.payload;
    // The same answer without the prefilter: the prefilter never changes a result.
    EXPECT_EQ(set->confirm(0, in, *scratch), c.match) << c.why << " (confirm only)";
  }
}

#define R(opts) "alert tcp any any -> any any (" opts " sid:1;)"

TEST(Match, Content) {
  run_cases({
      {"plain content present", R(R"(content:"abc";)"), "xxabcxx", true},
      {"plain content absent", R(R"(content:"abc";)"), "xxabxcx", false},
      {"case matters without nocase", R(R"(content:"ABC";)"), "xxabcxx", false},
      {"nocase", R(R"(content:"ABC"; nocase;)"), "xxabcxx", true},
      {"hex bytes", R(R"(content:"|00 ff|A";)"), "x|00 ff|Ax", true},
      {"offset: search starts at 2", R(R"(content:"cde"; offset:2;)"), "abcdefg", true},
      {"offset past the match", R(R"(content:"cde"; offset:3;)"), "abcdefg", false},
      {"depth 5 covers abcde", R(R"(content:"cde"; depth:5;)"), "abcdefg", true},
      {"depth 4 cuts cde", R(R"(content:"cde"; depth:4;)"), "abcdefg", false},
      {"depth counts from offset", R(R"(content:"cde"; offset:2; depth:3;)"), "abcdefg", true},
      {"depth from offset too short", R(R"(content:"def"; offset:2; depth:3;)"), "abcdefg", false},
      {"startswith", R(R"(content:"GET"; startswith;)"), "GET /", true},
      {"startswith not at start", R(R"(content:"GET"; startswith;)"), " GET /", false},
      {"endswith", R(R"(content:"end"; endswith;)"), "the end", true},
      {"endswith not at end", R(R"(content:"end"; endswith;)"), "end the", false},
      {"negated absolute: absent", R(R"(content:"foo"; content:!"bar";)"), "foo baz", true},
      {"negated absolute: present anywhere", R(R"(content:"foo"; content:!"bar";)"), "bar foo", false},
      {"two absolute contents in any order", R(R"(content:"foo"; content:"bar";)"), "bar foo", true},
  });
}

TEST(Match, RelativeContent) {
  run_cases({
      {"distance 2 within 2: ef right after cd", R(R"(content:"ab"; content:"ef"; distance:2; within:2;)"), "abcdef", true},
      {"distance 3 skips past ef", R(R"(content:"ab"; content:"ef"; distance:3; within:2;)"), "abcdef", false},
      {"within too small for a later occurrence", R(R"(content:"ab"; content:"ef"; distance:0; within:3;)"), "abcdef", false},
      {"distance 0 means anywhere after", R(R"(content:"ab"; content:"ef"; distance:0;)"), "abxxxxxxef", true},
      {"relative content must follow, not precede", R(R"(content:"ef"; content:"ab"; distance:0;)"), "abcdef", false},
      {"negative distance reaches back", R(R"(content:"def"; content:"bc"; distance:-5; within:2;)"), "abcdefg", true},
      {"negative distance window excludes it", R(R"(content:"def"; content:"bc"; distance:-4; within:2;)"), "abcdefg", false},
      {"within alone is from the end of the previous match", R(R"(content:"ab"; content:"cd"; within:2;)"), "abcd", true},
      {"within alone, gap too large", R(R"(content:"ab"; content:"cd"; within:2;)"), "abxcd", false},
      // Backtracking: the first 'a' fails the relative test, a later one passes.
      {"backtrack to a later first content", R(R"(content:"a"; content:"b"; distance:0; within:1;)"), "axxab", true},
      {"backtrack through three levels",
       R(R"(content:"a"; content:"b"; distance:0; within:1; content:"c"; distance:0; within:1;)"), "abxabc", true},
      {"no occurrence satisfies the chain",
       R(R"(content:"a"; content:"b"; distance:0; within:1; content:"c"; distance:0; within:1;)"), "abxabd", false},
      {"negated relative: present in window", R(R"(content:"foo"; content:!"bar"; distance:0; within:3;)"), "foobar", false},
      {"negated relative: absent in window", R(R"(content:"foo"; content:!"bar"; distance:0; within:3;)"), "foobaz", true},
      {"negated relative: later occurrence passes", R(R"(content:"foo"; content:!"bar"; distance:0; within:3;)"),
       "foobar foobaz", true},
      {"negated relative outside window does not count",
       R(R"(content:"foo"; content:!"bar"; distance:0; within:3;)"), "foo___bar", true},
      {"relative nocase", R(R"(content:"ab"; content:"CD"; nocase; distance:0; within:2;)"), "abcd", true},
  });
}

TEST(Match, IsDataAtAndDsize) {
  run_cases({
      {"isdataat relative: 2 more bytes", R(R"(content:"ab"; isdataat:2,relative;)"), "abcd", true},
      {"isdataat relative: only 1 more", R(R"(content:"ab"; isdataat:2,relative;)"), "abc", false},
      {"negated relative isdataat at the end", R(R"(content:"ab"; isdataat:!1,relative;)"), "xab", true},
      {"negated relative isdataat with data", R(R"(content:"ab"; isdataat:!1,relative;)"), "abc", false},
      {"absolute isdataat: byte at offset 4 exists", R(R"(isdataat:4;)"), "abcde", true},
      {"absolute isdataat: no byte at offset 4", R(R"(isdataat:4;)"), "abcd", false},
      {"dsize >3", R(R"(dsize:>3;)"), "abcd", true},
      {"dsize >3 on 3", R(R"(dsize:>3;)"), "abc", false},
      {"dsize range exclusive, inside", R(R"(dsize:2<>5;)"), "abc", true},
      {"dsize range exclusive, at bound", R(R"(dsize:2<>5;)"), "abcde", false},
      {"dsize exact", R(R"(dsize:3;)"), "abc", true},
  });
}

TEST(Match, Pcre) {
  run_cases({
      {"pcre plain", R(R"(pcre:"/a.c/";)"), "xabcx", true},
      {"pcre no match", R(R"(pcre:"/a.c/";)"), "xacx", false},
      {"pcre i flag", R(R"(pcre:"/ABC/i";)"), "xabcx", true},
      {"pcre without i", R(R"(pcre:"/ABC/";)"), "xabcx", false},
      {"pcre R: ^ anchors at the previous match", R(R"(content:"foo"; pcre:"/^bar/R";)"), "foobar", true},
      {"pcre R: not right after", R(R"(content:"foo"; pcre:"/^bar/R";)"), "foo bar", false},
      {"pcre R: only after the match", R(R"(content:"foo"; pcre:"/bar/R";)"), "barfoo", false},
      {"negated pcre", R(R"(content:"foo"; pcre:!"/bar/";)"), "foobaz", true},
      {"negated pcre present", R(R"(content:"foo"; pcre:!"/bar/";)"), "foobar", false},
      {"s flag: dot matches newline", R(R"(pcre:"/a.b/s";)"), "a|0a|b", true},
      {"without s dot stops at newline", R(R"(pcre:"/a.b/";)"), "a|0a|b", false},
      {"content relative to a pcre match", R(R"(pcre:"/x[0-9]+/"; content:"y"; distance:0; within:1;)"), "x123y", true},
      {"pcre R with backtracking over the content",
       R(R"(content:"k="; pcre:"/^[0-9]{3}/R";)"), "k=ab k=123", true},
  });
}

TEST(Match, ByteKeywords) {
  run_cases({
      {"byte_test big endian >", R(R"(byte_test:2,>,256,0;)"), "|01 01|", true},
      {"byte_test big endian > fails", R(R"(byte_test:2,>,257,0;)"), "|01 01|", false},
      {"byte_test little endian =", R(R"(byte_test:2,=,258,0,little;)"), "|02 01|", true},
      {"byte_test string dec", R(R"(byte_test:3,=,123,0,string,dec;)"), "123abc", true},
      {"byte_test string hex", R(R"(byte_test:2,=,255,0,string,hex;)"), "ffxx", true},
      {"byte_test relative", R(R"(content:"ab"; byte_test:1,=,65,0,relative;)"), "xabA", true},
      {"byte_test relative wrong byte", R(R"(content:"ab"; byte_test:1,=,65,0,relative;)"), "xaAb", false},
      {"byte_test negated op", R(R"(byte_test:1,!=,5,0;)"), "|06|", true},
      {"byte_test negated op equal", R(R"(byte_test:1,!=,5,0;)"), "|05|", false},
      {"byte_test & any common bit", R(R"(byte_test:1,&,128,0;)"), "|81|", true},
      {"byte_test & no common bit", R(R"(byte_test:1,&,128,0;)"), "|01|", false},
      {"byte_test bitmask shifts", R(R"(byte_test:1,=,3,0,bitmask 0xf0;)"), "|30|", true},
      {"byte_test past the end", R(R"(byte_test:4,>,0,0;)"), "|01 02|", false},
      {"byte_jump then relative content", R(R"(byte_jump:1,0; content:"X"; distance:0; within:1;)"), "|02|abXY", true},
      {"byte_jump lands elsewhere", R(R"(byte_jump:1,0; content:"X"; distance:0; within:1;)"), "|01|abXY", false},
      {"byte_jump past the end fails", R(R"(byte_jump:1,0; content:"a"; distance:0;)"), "|09|ab", false},
      {"byte_jump from_beginning", R(R"(byte_jump:1,0,from_beginning; content:"X"; distance:0; within:1;)"), "|03|abXY", true},
      {"byte_jump multiplier", R(R"(byte_jump:1,0,multiplier 2; content:"X"; distance:0; within:1;)"), "|02|abcdXY", true},
      // Suricata clamps a target before the buffer start to the start
      // (suricata-verify detect-bytejump-05): "NS" is at 0, the jump from
      // the end of "|0A 95|" (4) by -4 lands at 0, by -9 would be at -5.
      {"byte_jump negative post_offset to the start",
       R(R"(content:"|0A 95|"; byte_jump:0,0,relative,post_offset -4; pcre:"/^NS/R";)"), "NS|0A 95|xx", true},
      {"byte_jump before the start is clamped to it",
       R(R"(content:"|0A 95|"; byte_jump:0,0,relative,post_offset -9; pcre:"/^NS/R";)"), "NS|0A 95|xx", true},
      {"byte_jump clamped, content relative from the start",
       R(R"(content:"|0A 95|"; byte_jump:0,0,relative,post_offset -100; content:"NS"; distance:0; within:2;)"),
       "NS|0A 95|xx", true},
      {"byte_jump clamped target is the start, not the old base",
       R(R"(content:"|0A 95|"; byte_jump:0,0,relative,post_offset -100; content:"xx"; distance:0; within:2;)"),
       "NS|0A 95|xx", false},
      {"byte_jump relative with nothing left after its base",
       R(R"(content:"|0A 95|"; byte_jump:0,0,relative,post_offset -2;)"), "NS|0A 95|", false},
      {"byte_extract as within", R(R"(byte_extract:1,0,len; content:"abc"; distance:0; within:len;)"), "|05|xxabc", true},
      {"byte_extract as within, too short", R(R"(byte_extract:1,0,len; content:"abc"; distance:0; within:len;)"),
       "|04|xxabc", false},
      {"byte_extract as byte_test value", R(R"(byte_extract:1,0,v; byte_test:1,=,v,1;)"), "|07 07|", true},
      {"byte_extract as byte_test value differs", R(R"(byte_extract:1,0,v; byte_test:1,=,v,1;)"), "|07 08|", false},
  });
}

Meta icmp_meta(uint8_t type, uint8_t code, bool has_id = false, uint16_t id = 0, uint16_t seq = 0) {
  Meta m;
  m.proto = 1;
  m.itype = type;
  m.icode = code;
  m.has_id = has_id;
  m.id = id;
  m.seq = seq;
  return m;
}

Meta flags_meta(uint8_t flags) {
  Meta m;
  m.flags = flags;
  return m;
}

TEST(Match, PacketFields) {
  Meta ttl5;
  ttl5.ttl = 5;
  Meta udp;
  udp.proto = 17;
  run_cases({
      {"itype 8", "alert icmp any any -> any any (itype:8; sid:1;)", "", true, icmp_meta(8, 0)},
      {"itype 8 vs 0", "alert icmp any any -> any any (itype:8; sid:1;)", "", false, icmp_meta(0, 0)},
      {"icode >0", "alert icmp any any -> any any (icode:>0; sid:1;)", "", true, icmp_meta(3, 1)},
      {"icode >0 with 0", "alert icmp any any -> any any (icode:>0; sid:1;)", "", false, icmp_meta(3, 0)},
      {"icmp_id", "alert icmp any any -> any any (icmp_id:77; sid:1;)", "", true, icmp_meta(8, 0, true, 77, 1)},
      {"icmp_id other", "alert icmp any any -> any any (icmp_id:77; sid:1;)", "", false, icmp_meta(8, 0, true, 78, 1)},
      {"icmp_seq", "alert icmp any any -> any any (icmp_seq:2; sid:1;)", "", true, icmp_meta(8, 0, true, 1, 2)},
      {"icmp rule on tcp", "alert icmp any any -> any any (itype:8; sid:1;)", "", false},
      {"flags S exact on SYN", R(R"(flags:S;)"), "", true, flags_meta(0x02)},
      {"flags S exact on SYN-ACK", R(R"(flags:S;)"), "", false, flags_meta(0x12)},
      {"flags S+ on SYN-ACK", R(R"(flags:S+;)"), "", true, flags_meta(0x12)},
      {"flags *SA on ACK", R(R"(flags:*SA;)"), "", true, flags_meta(0x10)},
      {"flags *SA on FIN", R(R"(flags:*SA;)"), "", false, flags_meta(0x01)},
      {"flags !S on ACK", R(R"(flags:!S;)"), "", true, flags_meta(0x10)},
      {"flags !S on SYN", R(R"(flags:!S;)"), "", false, flags_meta(0x02)},
      {"flags S ignoring CWR/ECE", R(R"(flags:S,12;)"), "", true, flags_meta(0xC2)},
      {"flags S with CWR/ECE not ignored", R(R"(flags:S;)"), "", false, flags_meta(0xC2)},
      {"ttl <10", R(R"(ttl:<10;)"), "", true, ttl5},
      {"ttl <10 on 64", R(R"(ttl:<10;)"), "", false},
      {"ip_proto 17", "alert ip any any -> any any (ip_proto:17; sid:1;)", "", true, udp},
      {"ip_proto 17 on tcp", "alert ip any any -> any any (ip_proto:17; sid:1;)", "", false},
      {"udp rule on udp", "alert udp any any -> any any (sid:1;)", "", true, udp},
      {"udp rule on tcp", "alert udp any any -> any any (sid:1;)", "", false},
  });
}

TEST(Match, Flow) {
  Meta to_client;
  to_client.to_server = false;
  Meta not_est;
  not_est.established = false;
  Meta no_flow;
  no_flow.has_flow = false;
  no_flow.established = false;
  Meta stream;
  stream.stream = true;
  run_cases({
      {"to_server established", R(R"(flow:to_server,established;)"), "", true},
      {"to_server on to_client", R(R"(flow:to_server,established;)"), "", false, to_client},
      {"from_server is to_client", R(R"(flow:from_server;)"), "", true, to_client},
      {"established on a new flow", R(R"(flow:established;)"), "", false, not_est},
      {"not_established on a new flow", R(R"(flow:not_established;)"), "", true, not_est},
      {"stateless without a flow", R(R"(flow:stateless;)"), "", true, no_flow},
      {"established without a flow", R(R"(flow:established;)"), "", false, no_flow},
      {"only_stream on a packet", R(R"(flow:established,only_stream;)"), "", false},
      {"only_stream on stream data", R(R"(flow:established,only_stream;)"), "", true, stream},
      {"no_stream on stream data", R(R"(flow:established,no_stream;)"), "", false, stream},
  });
}

TEST(Match, Header) {
  Meta v6;
  v6.src = "2001:db8::1";
  v6.dst = "2001:db8::2";
  Meta rev;  // the reply: 192.0.2.1:80 -> 10.0.0.1:1234
  rev.src = "192.0.2.1";
  rev.dst = "10.0.0.1";
  rev.sport = 80;
  rev.dport = 1234;
  Meta sub;
  sub.src = "10.1.2.3";
  run_cases({
      {"prefix and port", "alert tcp 10.0.0.0/8 any -> 192.0.2.0/24 80 (sid:1;)", "", true},
      {"wrong destination port", "alert tcp 10.0.0.0/8 any -> 192.0.2.0/24 443 (sid:1;)", "", false},
      {"port list", "alert tcp any any -> any [443,80] (sid:1;)", "", true},
      {"negated port range", "alert tcp any any -> any !1:1024 (sid:1;)", "", false},
      {"port range", "alert tcp any 1024: -> any any (sid:1;)", "", true},
      {"negated address", "alert tcp !10.0.0.0/8 any -> any any (sid:1;)", "", false},
      {"list with a negated member, outside it", "alert tcp [10.0.0.0/8,!10.1.0.0/16] any -> any any (sid:1;)", "", true},
      {"list with a negated member, inside it", "alert tcp [10.0.0.0/8,!10.1.0.0/16] any -> any any (sid:1;)", "", false,
       sub},
      {"one-way rule on the reply", "alert tcp 10.0.0.0/8 any -> any 80 (sid:1;)", "", false, rev},
      {"bidirectional rule on the reply", "alert tcp 10.0.0.0/8 any <> any 80 (sid:1;)", "", true, rev},
      {"ipv6 prefix", "alert tcp 2001:db8::/32 any -> any any (sid:1;)", "", true, v6},
      {"ipv4 prefix on ipv6", "alert tcp 10.0.0.0/8 any -> any any (sid:1;)", "", false, v6},
      {"HOME_NET default covers 10/8", "alert tcp $HOME_NET any -> $EXTERNAL_NET any (sid:1;)", "", true},
  });
}

// ---------------------------------------------------------------- prefilter

std::vector<Rule> numbered_rules(size_t n) {
  std::vector<Rule> rules;
  for (size_t i = 0; i < n; ++i) {
    char buf[160];
    std::snprintf(buf, sizeof buf, R"(alert tcp any any -> any any (content:"marker%03zu"; content:"x"; sid:%zu;))", i,
                  i + 1);
    rules.push_back(parse(buf));
  }
  return rules;
}

// ---------------------------------------------------------------- app layer

Meta app_meta(AppProto app, uint8_t proto = 6) {
  Meta m;
  m.app = app;
  m.proto = proto;
  return m;
}

// Suricata's meaning: an app-layer header rule matches only flows whose
// detected protocol is that one (never before detection), over the
// transports Suricata parses it on; app-layer-protocol matches the detected
// protocol, and negated never matches while it is unknown.
TEST(Match, AppLayerHeader) {
  const char* http = R"(alert http any any -> any any (content:"GET"; sid:1;))";
  const char* dns = R"(alert dns any any -> any any (content:"|01 00|"; sid:1;))";
  run_cases({
      {"http rule on an HTTP flow", http, "GET / HTTP/1.1", true, app_meta(AppProto::kHttp)},
      {"http rule before the protocol is known", http, "GET / HTTP/1.1", false, app_meta(AppProto::kUnknown)},
      {"http rule on a flow that failed detection", http, "GET / HTTP/1.1", false, app_meta(AppProto::kFailed)},
      {"http rule on a TLS flow", http, "GET / HTTP/1.1", false, app_meta(AppProto::kTls)},
      {"http rule on a protocol Suricata has no name for", http, "GET /", false, app_meta(AppProto::kOther)},
      {"http is a TCP protocol", http, "GET / HTTP/1.1", false, app_meta(AppProto::kHttp, 17)},
      {"http rule still needs its content", http, "POST / HTTP/1.1", false, app_meta(AppProto::kHttp)},
      {"dns over udp", dns, "|12 34 01 00|", true, app_meta(AppProto::kDns, 17)},
      {"dns over tcp", dns, "|12 34 01 00|", true, app_meta(AppProto::kDns, 6)},
      {"dns rule on an HTTP flow", dns, "|12 34 01 00|", false, app_meta(AppProto::kHttp, 17)},
      {"ssl is tls", R"(alert ssl any any -> any any (sid:1;))", "", true, app_meta(AppProto::kTls)},
      {"http1 is http", R"(alert http1 any any -> any any (sid:1;))", "x", true, app_meta(AppProto::kHttp)},
      {"header ports still apply", R"(alert http any any -> any 8080 (sid:1;))", "x", false,
       app_meta(AppProto::kHttp)},
  });
}

TEST(Match, AppLayerProtocolKeyword) {
  auto rule = [](const char* v) {
    return std::string("alert tcp any any -> any any (app-layer-protocol:") + v + "; sid:1;)";
  };
  const std::string http = rule("http"), not_tls = rule("!tls"), failed = rule("failed"),
                    not_failed = rule("!failed"), unknown = rule("unknown"), list = rule("tls|dns"),
                    not_list = rule("!tls|http");
  run_cases({
      {"http on http", http.c_str(), "", true, app_meta(AppProto::kHttp)},
      {"http on tls", http.c_str(), "", false, app_meta(AppProto::kTls)},
      {"http while unknown", http.c_str(), "", false, app_meta(AppProto::kUnknown)},
      {"!tls on http", not_tls.c_str(), "", true, app_meta(AppProto::kHttp)},
      {"!tls on tls", not_tls.c_str(), "", false, app_meta(AppProto::kTls)},
      {"!tls on failed: a known outcome, not tls", not_tls.c_str(), "", true, app_meta(AppProto::kFailed)},
      {"!tls while unknown: negation waits for detection", not_tls.c_str(), "", false,
       app_meta(AppProto::kUnknown)},
      {"!tls on a protocol without a Suricata name", not_tls.c_str(), "", true, app_meta(AppProto::kOther)},
      {"failed on failed", failed.c_str(), "", true, app_meta(AppProto::kFailed)},
      {"failed on http", failed.c_str(), "", false, app_meta(AppProto::kHttp)},
      {"failed while unknown", failed.c_str(), "", false, app_meta(AppProto::kUnknown)},
      {"failed on a protocol without a Suricata name", failed.c_str(), "", false, app_meta(AppProto::kOther)},
      {"!failed on http", not_failed.c_str(), "", true, app_meta(AppProto::kHttp)},
      {"!failed on failed", not_failed.c_str(), "", false, app_meta(AppProto::kFailed)},
      {"unknown while unknown", unknown.c_str(), "", true, app_meta(AppProto::kUnknown)},
      {"unknown once known", unknown.c_str(), "", false, app_meta(AppProto::kHttp)},
      {"list: dns", list.c_str(), "", true, app_meta(AppProto::kDns)},
      {"list: http", list.c_str(), "", false, app_meta(AppProto::kHttp)},
      {"negated list: dns", not_list.c_str(), "", true, app_meta(AppProto::kDns)},
      {"negated list: http", not_list.c_str(), "", false, app_meta(AppProto::kHttp)},
      {"keyword and header agree", R"(alert http any any -> any any (app-layer-protocol:!failed; sid:1;))", "",
       true, app_meta(AppProto::kHttp)},
      {"keyword and header disagree", R"(alert http any any -> any any (app-layer-protocol:dns; sid:1;))", "",
       false, app_meta(AppProto::kHttp)},
  });
}

// Groups: an app-layer rule sits only in its transports' groups, and a
// header-only rule with app-layer-protocol is not IP-only (it must see
// every packet, not only the first of each direction).
TEST(Match, AppLayerGroupsAndIpOnly) {
  std::vector<Rule> rules{
      parse(R"(alert http any any -> any any (content:"GET"; sid:1;))"),
      parse(R"(alert dns any any -> any any (sid:2;))"),
      parse(R"(alert tcp any any -> any any (app-layer-protocol:http; sid:3;))"),
      parse(R"(alert quic any any -> any any (sid:4;))"),
  };
  std::string err;
  auto set = RuleSet::build(rules, &err);
  ASSERT_TRUE(set) << err;
  std::map<std::string, size_t> per_group;
  for (const RuleGroupInfo& g : set->groups()) per_group[g.name] = g.rules;
  EXPECT_EQ(per_group["tcp to_server"], 3u);  // http, dns, app-layer-protocol
  EXPECT_EQ(per_group["udp to_server"], 2u);  // dns, quic
  EXPECT_EQ(per_group["icmp to_server"], 0u);
  EXPECT_EQ(per_group["other to_server"], 0u);
  EXPECT_FALSE(set->ip_only(2));
  EXPECT_EQ(set->ip_only_count(), 0u);

  // A TLS flow's packet with the http rule's content: the candidate is
  // confirmed (and refused) on the protocol before its payload is read.
  auto scratch = set->make_scratch();
  std::string p = "GET / HTTP/1.1";
  Meta m = app_meta(AppProto::kTls);
  EXPECT_EQ(set->match(make_input(p, m), *scratch, [](const Rule&) {}), 0u);
  m.app = AppProto::kHttp;
  std::vector<uint32_t> sids;
  set->match(make_input(p, m), *scratch, [&](const Rule& r) { sids.push_back(r.sid); });
  EXPECT_EQ(sids, (std::vector<uint32_t>{1, 3}));
}

// Suricata's rule types for app-layer rules: app-layer-protocol with only a
// header, flow direction and flowbit setters is protocol-detection-only
// (once per direction, flow action scope); a bare protocol header is an
// app-layer rule (every packet, flow scope); anything a packet must be
// looked at for makes it a packet rule (packet scope).
TEST(Match, AppLayerRuleTypes) {
  struct Case {
    const char* rule;
    bool pd_only, flow_scope;
  } cases[] = {
      {"alert tcp any any -> any 80 (flow:to_server; app-layer-protocol:!http,final; sid:1;)", true, true},
      {"alert ip any any -> any any (app-layer-protocol:failed; flowbits:set,x; sid:1;)", true, true},
      {"alert tcp any any -> any any (app-layer-protocol:http; content:\"GET\"; sid:1;)", false, false},
      {"alert tcp any any -> any any (app-layer-protocol:http; flow:established; sid:1;)", false, false},
      {"alert tcp any any -> any any (app-layer-protocol:http; flowbits:isset,x; sid:1;)", false, false},
      {"alert tcp any any -> any any (app-layer-protocol:http; dsize:>0; sid:1;)", false, false},
      {"pass http any any -> any any (sid:1;)", false, true},
      {"pass http any any -> any any (flow:to_server; sid:1;)", false, true},
      {"pass http any any -> any any (app-layer-protocol:http; sid:1;)", false, true},
      {"pass http any any -> any any (content:\"GET\"; sid:1;)", false, false},
      {"alert tcp any any -> any any (content:\"GET\"; sid:1;)", false, false},
      {"alert tcp 10.0.0.0/8 any -> any any (sid:1;)", false, true},  // IP-only
  };
  for (const Case& c : cases) {
    std::vector<Rule> rules{parse(c.rule)};
    std::string err;
    auto set = RuleSet::build(rules, &err);
    ASSERT_TRUE(set) << c.rule << ": " << err;
    EXPECT_EQ(set->pd_only(0), c.pd_only) << c.rule;
    EXPECT_EQ(set->flow_scope(0), c.flow_scope) << c.rule;
  }

  // A protocol-detection-only rule needs the direction's first sight of the
  // protocol; a packet rule with the same condition does not.
  std::vector<Rule> rules{parse("alert tcp any any -> any any (app-layer-protocol:http; sid:1;)"),
                          parse("alert tcp any any -> any any (app-layer-protocol:http; dsize:>0; sid:2;)")};
  std::string err;
  auto set = RuleSet::build(rules, &err);
  ASSERT_TRUE(set) << err;
  auto scratch = set->make_scratch();
  std::string p = "GET /";
  Meta m = app_meta(AppProto::kHttp);
  MatchInput first = make_input(p, m), later = make_input(p, m);
  later.app_first = false;
  std::vector<uint32_t> sids;
  set->match(first, *scratch, [&](const Rule& r) { sids.push_back(r.sid); });
  EXPECT_EQ(sids, (std::vector<uint32_t>{1, 2}));
  sids.clear();
  set->match(later, *scratch, [&](const Rule& r) { sids.push_back(r.sid); });
  EXPECT_EQ(sids, (std::vector<uint32_t>{2}));
}

TEST(Prefilter, OnlyRulesWithTheirFastPatternAreConfirmed) {
  std::vector<Rule> rules = numbered_rules(300);
  rules.push_back(parse(R"(alert tcp any any -> any any (dsize:>0; sid:9001;))"));  // no content: always checked
  std::string err;
  auto set = RuleSet::build(rules, &err);
  ASSERT_TRUE(set) << err;
  auto scratch = set->make_scratch();
  std::string p = "..marker007..marker123..x";
  MatchInput in = make_input(p, Meta{});
  std::vector<uint32_t> sids;
  size_t n = set->match(in, *scratch, [&](const Rule& r) { sids.push_back(r.sid); });
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(sids, (std::vector<uint32_t>{8, 124, 9001}));  // rule order
  // Two rules had their fast pattern in the payload; 298 others were never confirmed.
  EXPECT_EQ(scratch->counters.candidates, 2u);
  EXPECT_EQ(scratch->counters.always_checked, 1u);
  EXPECT_EQ(scratch->counters.scans, 1u);

  // Every "x" rule would confirm on "x" alone but is not a candidate.
  std::string only_x = "xxxx";
  MatchInput in2 = make_input(only_x, Meta{});
  EXPECT_EQ(set->match(in2, *scratch, [](const Rule&) {}), 1u);  // sid 9001 only
  EXPECT_EQ(scratch->counters.candidates, 2u);
}

TEST(Prefilter, CaseAndChop) {
  std::vector<Rule> rules{
      parse(R"(alert tcp any any -> any any (content:"EVIL"; nocase; sid:1;))"),
      parse(R"(alert tcp any any -> any any (content:"BAD"; sid:2;))"),
      parse(R"(alert tcp any any -> any any (content:"abcdefgh"; fast_pattern:2,3; sid:3;))"),
  };
  std::string err;
  auto set = RuleSet::build(rules, &err);
  ASSERT_TRUE(set) << err;
  auto scratch = set->make_scratch();
  std::string p = "evil bad";
  std::vector<uint32_t> sids;
  set->match(make_input(p, Meta{}), *scratch, [&](const Rule& r) { sids.push_back(r.sid); });
  EXPECT_EQ(sids, std::vector<uint32_t>{1});
  EXPECT_EQ(scratch->counters.candidates, 1u);  // "BAD" is case-sensitive in the prefilter too

  // The chopped slice gates the rule; confirmation still needs the whole content.
  std::string chop = "xxcdexx";
  EXPECT_EQ(set->match(make_input(chop, Meta{}), *scratch, [](const Rule&) {}), 0u);
  EXPECT_EQ(scratch->counters.candidates, 2u);
  std::string whole = "xabcdefghx";
  sids.clear();
  set->match(make_input(whole, Meta{}), *scratch, [&](const Rule& r) { sids.push_back(r.sid); });
  EXPECT_EQ(sids, std::vector<uint32_t>{3});
}

TEST(Prefilter, DirectionGroups) {
  std::vector<Rule> rules{
      parse(R"(alert tcp any any -> any any (flow:to_client; content:"resp"; sid:1;))"),
      parse(R"(alert tcp any any -> any any (content:"resp"; sid:2;))"),
      parse(R"(alert udp any any -> any any (content:"resp"; sid:3;))"),
  };
  std::string err;
  auto set = RuleSet::build(rules, &err);
  ASSERT_TRUE(set) << err;
  auto scratch = set->make_scratch();
  std::string p = "resp";
  Meta m;  // tcp to_server: sid 1 belongs to the to_client group, sid 3 to udp
  set->match(make_input(p, m), *scratch, [](const Rule&) {});
  EXPECT_EQ(scratch->counters.candidates, 1u);
  m.to_server = false;
  std::vector<uint32_t> sids;
  set->match(make_input(p, m), *scratch, [&](const Rule& r) { sids.push_back(r.sid); });
  EXPECT_EQ(sids, (std::vector<uint32_t>{1, 2}));
  bool found_tcp_client = false;
  for (const RuleGroupInfo& g : set->groups())
    if (g.name == "tcp to_client") {
      found_tcp_client = true;
      EXPECT_EQ(g.rules, 2u);
      EXPECT_EQ(g.patterns, 1u);  // one distinct pattern shared by both rules
      EXPECT_GT(g.database_bytes, 0u);
    }
  EXPECT_TRUE(found_tcp_client);
}

TEST(Scratch, CloneMatchesLikeTheOriginal) {
  std::vector<Rule> rules = numbered_rules(20);
  std::string err;
  auto set = RuleSet::build(rules, &err);
  ASSERT_TRUE(set) << err;
  auto a = set->make_scratch();
  auto b = a->clone();
  ASSERT_TRUE(b);
  std::string p = "marker005 x";
  std::vector<uint32_t> sa, sb;
  set->match(make_input(p, Meta{}), *a, [&](const Rule& r) { sa.push_back(r.sid); });
  set->match(make_input(p, Meta{}), *b, [&](const Rule& r) { sb.push_back(r.sid); });
  EXPECT_EQ(sa, std::vector<uint32_t>{6});
  EXPECT_EQ(sa, sb);
}

// ---------------------------------------------------------------- flowbits

TEST(Flowbits, SetThenCheckAcrossPackets) {
  std::vector<Rule> rules{
      parse(R"(alert tcp any any -> any any (content:"login"; flowbits:set,auth; flowbits:noalert; sid:1;))"),
      parse(R"(alert tcp any any -> any any (content:"secret"; flowbits:isset,auth; sid:2;))"),
      parse(R"(alert tcp any any -> any any (content:"secret"; flowbits:isnotset,auth; sid:3;))"),
      parse(R"(alert tcp any any -> any any (content:"logout"; flowbits:unset,auth; sid:4;))"),
  };
  std::string err;
  auto set = RuleSet::build(rules, &err);
  ASSERT_TRUE(set) << err;
  ASSERT_EQ(set->flowbit_count(), 1u);
  auto scratch = set->make_scratch();
  std::vector<uint64_t> bits(1, 0);
  auto run = [&](const std::string& p, std::span<uint64_t> fb) {
    MatchInput in = make_input(p, Meta{});
    in.flowbits = fb;
    std::vector<uint32_t> sids;
    set->match(in, *scratch, [&](const Rule& r) { sids.push_back(r.sid); });
    return sids;
  };
  EXPECT_EQ(run("secret", bits), std::vector<uint32_t>{3});  // not yet logged in
  EXPECT_EQ(run("login", bits), std::vector<uint32_t>{1});   // sets the bit (the rule is noalert)
  EXPECT_TRUE(set->rule(0).noalert);
  EXPECT_EQ(bits[0], 1u);
  EXPECT_EQ(run("secret", bits), std::vector<uint32_t>{2});
  EXPECT_EQ(run("logout", bits), std::vector<uint32_t>{4});
  EXPECT_EQ(bits[0], 0u);
  // Within one packet a setter earlier in rule order is seen by a later checker.
  EXPECT_EQ(run("login secret", bits), (std::vector<uint32_t>{1, 2}));
  // Without flow storage nothing is set and nothing reads as set.
  EXPECT_EQ(run("login secret", {}), (std::vector<uint32_t>{1, 3}));
}

TEST(Flowbits, GroupsAndToggle) {
  std::vector<Rule> rules{
      parse(R"(alert tcp any any -> any any (content:"t"; flowbits:toggle,b; sid:1;))"),
      parse(R"(alert tcp any any -> any any (content:"q"; flowbits:isset,a|b; sid:2;))"),
      parse(R"(alert tcp any any -> any any (content:"q"; flowbits:isset,a&b; sid:3;))"),
      parse(R"(alert tcp any any -> any any (content:"s"; flowbits:set,a; sid:4;))"),
  };
  std::string err;
  auto set = RuleSet::build(rules, &err);
  ASSERT_TRUE(set) << err;
  auto scratch = set->make_scratch();
  std::vector<uint64_t> bits(1, 0);
  auto run = [&](const std::string& p) {
    MatchInput in = make_input(p, Meta{});
    in.flowbits = bits;
    std::vector<uint32_t> sids;
    set->match(in, *scratch, [&](const Rule& r) { sids.push_back(r.sid); });
    return sids;
  };
  EXPECT_EQ(run("q"), std::vector<uint32_t>{});       // neither set
  EXPECT_EQ(run("t"), std::vector<uint32_t>{1});      // b on
  EXPECT_EQ(run("q"), std::vector<uint32_t>{2});      // a|b holds, a&b does not
  EXPECT_EQ(run("s"), std::vector<uint32_t>{4});      // a on
  EXPECT_EQ(run("q"), (std::vector<uint32_t>{2, 3}));
  EXPECT_EQ(run("t"), std::vector<uint32_t>{1});      // b off again
  EXPECT_EQ(run("q"), std::vector<uint32_t>{2});
}

// ---------------------------------------------------------------- rejections

TEST(Build, RejectsWhatItCannotHonour) {
  std::vector<Rule> rules{
      parse(R"(alert tcp any any -> any any (content:"ok"; sid:1;))"),
      parse(R"(alert http any any -> any any (content:"c"; sid:2;))"),
      parse(R"(alert tcp any any -> any any (content:"a"; byte_test:4,>,1,0,dce; sid:3;))"),
      // Thresholds are the alert stage's business (rules/threshold.h): accepted.
      parse(R"(alert tcp any any -> any any (content:"d"; detection_filter:track by_src,count 5,seconds 60; sid:5;))"),
      parse(R"(alert tcp any any -> any any (flowbits:noalert; content:"b"; sid:4;))"),
  };
  std::string err;
  std::vector<RuleError> rejected;
  auto set = RuleSet::build(rules, &err, &rejected);
  ASSERT_TRUE(set) << err;
  // An app-layer header is matched on the flow's classification: accepted.
  EXPECT_EQ(set->size(), 4u);
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0].sid, 3u);
  EXPECT_EQ(rejected[0].keyword, "byte_test");

  // Without a rejection list the build fails and names the rule.
  auto none = RuleSet::build(rules, &err);
  EXPECT_FALSE(none);
  EXPECT_NE(err.find("sid 3"), std::string::npos) << err;
  EXPECT_NE(err.find("dce"), std::string::npos) << err;
}

// ---------------------------------------------------------------- ET Open

TEST(Build, EtOpen2017Compiles) {
  const fs::path tarball = fs::path(WS_TESTDATA_DIR) / "et-open-2017" / "emerging.rules.tar.gz";
  if (!fs::exists(tarball)) GTEST_SKIP() << tarball << " not present";
  std::string tmpl = (fs::temp_directory_path() / "ws-etm-XXXXXX").string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  const fs::path dir = tmpl;
  const std::string cmd = "tar -xzf '" + tarball.string() + "' -C '" + dir.string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const RuleVars vars = RuleVars::suricata_defaults();
  const ClassificationTable classes = ClassificationTable::suricata_defaults();
  RuleParseOptions opts;
  opts.classifications = &classes;
  std::vector<Rule> rules;
  for (const auto& ent : fs::recursive_directory_iterator(dir)) {
    if (ent.path().extension() != ".rules") continue;
    RuleFileResult f = parse_rules_file(ent.path().string(), vars, opts);
    for (Rule& r : f.rules) rules.push_back(std::move(r));
  }
  fs::remove_all(dir);
  ASSERT_GT(rules.size(), 300u);

  std::string err;
  std::vector<RuleError> rejected;
  auto t0 = std::chrono::steady_clock::now();
  auto set = RuleSet::build(rules, &err, &rejected);
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(set) << err;
  EXPECT_GT(set->size(), 300u);
  EXPECT_EQ(set->size() + rejected.size(), rules.size());
  std::map<std::string, size_t> reasons;
  for (const RuleError& e : rejected) reasons[e.reason]++;
  for (const auto& [reason, n] : reasons) std::printf("  rejected %6zu  %s\n", n, reason.c_str());
  size_t patterns = 0, always = 0;
  for (const RuleGroupInfo& g : set->groups()) {
    patterns += g.patterns;
    always += g.always_check;
    std::printf("  %-16s rules=%zu patterns=%zu always_check=%zu db=%zu bytes\n", g.name.c_str(), g.rules,
                g.patterns, g.always_check, g.database_bytes);
  }
  std::printf("ET Open 2017 matcher: parsed=%zu compiled=%zu rejected=%zu build=%.0f ms databases=%zu bytes "
              "always_check=%zu flowbits=%zu\n",
              rules.size(), set->size(), rejected.size(), ms, set->database_bytes(), always, set->flowbit_count());
  EXPECT_GT(patterns, 0u);
  EXPECT_GT(set->database_bytes(), 0u);

  // The compiled set scans and confirms: a benign payload through every group.
  auto scratch = set->make_scratch();
  ASSERT_TRUE(scratch);
  std::string p = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
  set->match(make_input(p, Meta{}), *scratch, [](const Rule&) {});
  EXPECT_EQ(scratch->counters.scans, 1u);
  EXPECT_EQ(scratch->counters.scan_errors, 0u);
}

}  // namespace
}  // namespace ws
