// Rule: one parsed Suricata rule as plain data, the output of the rule parser
// and the input of the matcher compiler. Nothing here matches packets; the
// model keeps what the rule says, in the rule's own order, with variables
// already resolved and escapes already decoded, so the compiler never sees
// rule text. Values keep Suricata's meaning (a `<>` range is exclusive, a
// content's distance is relative to the previous match) and the comments
// say so where it is not obvious; the compiler applies them.
//
// Payload keywords live in one ordered list (`payload`) because their order
// is the rule's meaning: `distance` binds to the content before it, `relative`
// byte tests continue from the previous match, and byte_extract names can be
// used by later keywords.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "rules/app_proto.h"

namespace ws {

enum class RuleAction : uint8_t { kAlert, kDrop, kPass, kReject };

// Who gets a reject rule's reply (a TCP RST, an ICMP unreachable):
// Suricata's `reject` and `rejectsrc` (the packet's sender), `rejectdst`
// (its destination) and `rejectboth`. All three are RuleAction::kReject and
// rank as reject.
enum class RejectTo : uint8_t { kSource, kDestination, kBoth };

// kIcmp covers ICMPv4 and ICMPv6 (Suricata's `icmp`); kIcmpV4/kIcmpV6 are
// the explicit forms. kAppLayer keeps the protocol name in Rule::app_proto
// and its value in Rule::app (rules/app_proto.h).
enum class RuleProto : uint8_t {
  kIp, kTcp, kUdp, kIcmp, kIcmpV4, kIcmpV6, kTcpPkt, kTcpStream, kAppLayer
};

// An IPv4 address is stored in the first 4 bytes; `len` is the prefix length.
struct IpPrefix {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};
  uint8_t len = 0;
  bool operator==(const IpPrefix&) const = default;
};

// Address spec as written: `any`, a prefix, an inclusive range
// (`10.0.0.1-10.0.0.9`, both ends full addresses of one family), or a list
// (lists nest), each possibly negated. A variable is replaced by its parsed value, and `var`
// keeps the name for diagnostics.
struct AddressNode {
  enum class Kind : uint8_t { kAny, kPrefix, kRange, kList };
  Kind kind = Kind::kAny;
  bool negated = false;
  IpPrefix prefix;                    // kPrefix; kRange: the first address
  IpPrefix range_last;                // kRange: the last address
  std::vector<AddressNode> children;  // kList
  std::string var;                    // "HOME_NET" when it came from $HOME_NET
};

// Port spec: `any`, a range (a single port has lo == hi; `1024:` has hi
// 65535; `:1023` has lo 0), or a list, each possibly negated.
struct PortNode {
  enum class Kind : uint8_t { kAny, kRange, kList };
  Kind kind = Kind::kAny;
  bool negated = false;
  uint16_t lo = 0, hi = 65535;     // kRange
  std::vector<PortNode> children;  // kList
  std::string var;
};

enum class RuleDirection : uint8_t { kToDst, kBoth };  // `->`, `<>`

// A number or the name of a byte_extract variable (`distance:option_len`).
struct IntOrVar {
  int64_t value = 0;
  std::string var;  // non-empty: use the variable, ignore value
  bool operator==(const IntOrVar&) const = default;
};

// Comparison on an unsigned field (dsize, itype, icode, ttl, ip_proto).
// kRange is Suricata's `a<>b`: exclusive on both ends, a < x < b.
struct UintCond {
  enum class Op : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kRange };
  Op op = Op::kEq;
  uint64_t a = 0, b = 0;
  bool operator==(const UintCond&) const = default;
};

struct ContentMatch {
  std::string bytes;  // decoded: hex and escapes resolved
  bool negated = false;
  bool nocase = false;
  // Suricata's meaning: offset/depth from the buffer start, depth counted
  // from offset; distance/within from the end of the previous content match.
  std::optional<IntOrVar> depth, offset, distance, within;
  bool startswith = false, endswith = false;
  bool fast_pattern = false;
  bool fast_pattern_only = false;
  // `fast_pattern:offset,length`: only that slice goes to the prefilter.
  std::optional<std::pair<uint16_t, uint16_t>> fast_pattern_chop;
};

struct PcreMatch {
  std::string pattern;  // between the slashes, as written
  std::string flags;    // as written, validated
  bool negated = false;
  // Decoded flags. caseless..ungreedy map to PCRE2 compile options.
  bool caseless = false, dotall = false, multiline = false, extended = false;
  bool anchored = false, dollar_endonly = false, ungreedy = false;
  bool relative = false;        // R: from the end of the previous match
  bool rawbytes = false;        // B
  bool match_limit_off = false; // O: Suricata's override of its match limits
};

enum class ByteEndian : uint8_t { kBig, kLittle, kDce };
enum class ByteBase : uint8_t { kNone, kHex, kDec, kOct };  // kNone: binary

struct ByteTest {
  uint8_t nbytes = 0;
  std::string nbytes_var;              // byte count from a byte_extract variable
  bool negated = false;                // `!` before the operator
  std::string op;                      // one of < > = <= >= & ^
  IntOrVar value;
  IntOrVar offset;
  bool relative = false;
  ByteEndian endian = ByteEndian::kBig;
  ByteBase base = ByteBase::kNone;     // `string,<base>`; string without base = dec
  bool dce = false;
  std::optional<uint64_t> bitmask;
};

struct ByteJump {
  uint8_t nbytes = 0;  // 0 is allowed: jump by post_offset alone
  std::string nbytes_var;
  IntOrVar offset;
  bool relative = false;
  uint32_t multiplier = 1;
  ByteEndian endian = ByteEndian::kBig;
  ByteBase base = ByteBase::kNone;
  bool align = false, from_beginning = false, from_end = false, dce = false;
  int64_t post_offset = 0;
  std::optional<uint64_t> bitmask;
};

struct ByteExtract {
  uint8_t nbytes = 0;
  int64_t offset = 0;
  std::string name;
  bool relative = false;
  uint32_t multiplier = 1;
  ByteEndian endian = ByteEndian::kBig;
  ByteBase base = ByteBase::kNone;
  uint8_t align = 0;  // 0, 2 or 4
  bool dce = false;
};

struct IsDataAt {
  IntOrVar size;
  bool negated = false;
  bool relative = false;
};

using PayloadMatch = std::variant<ContentMatch, PcreMatch, ByteTest, ByteJump, ByteExtract, IsDataAt>;

struct FlowOpts {
  enum class Dir : uint8_t { kAny, kToServer, kToClient };  // from_client = to_server
  enum class State : uint8_t { kAny, kEstablished, kNotEstablished, kStateless };
  enum class Stream : uint8_t { kAny, kOnlyStream, kNoStream };
  Dir dir = Dir::kAny;
  State state = State::kAny;
  Stream stream = Stream::kAny;
  bool operator==(const FlowOpts&) const = default;
};

// One `flowbits` keyword. `a|b` (isset/isnotset only) means any of the
// names; `a&b` means all of them.
struct Flowbits {
  enum class Cmd : uint8_t { kSet, kUnset, kToggle, kIsSet, kIsNotSet, kNoAlert };
  Cmd cmd = Cmd::kSet;
  std::vector<std::string> names;
  bool any_of = false;  // joined by `|`
};

// kBackoff: Suricata 8's `threshold: type backoff` (rules only, by_flow
// only): alerts on the count-th match, then on count * multiplier^k.
enum class ThresholdType : uint8_t { kLimit, kThreshold, kBoth, kBackoff };
enum class ThresholdTrack : uint8_t { kBySrc, kByDst, kByRule, kByFlow, kByBoth, kByEither };

// `threshold` (with a type) and `detection_filter` (type is meaningless).
struct ThresholdSpec {
  ThresholdType type = ThresholdType::kThreshold;
  ThresholdTrack track = ThresholdTrack::kBySrc;
  uint32_t count = 0;
  uint32_t seconds = 0;
  uint32_t multiplier = 0;  // kBackoff; it has no seconds
};

// TCP flags as bits: F=0x01 S=0x02 R=0x04 P=0x08 A=0x10 U=0x20 E(2)=0x40
// C(1)=0x80. Without a modifier the masked flags must equal `bits` exactly.
struct TcpFlags {
  enum class Mod : uint8_t { kExact, kPlus, kAny, kNot };  // none, +, *, !
  Mod mod = Mod::kExact;
  uint8_t bits = 0;
  uint8_t ignore = 0;  // the mask after the comma: flags left out of the test
};

// `app-layer-protocol:[!]a|b[,mode]`: the flow's application protocol is
// (not) one of `protos` (AppProto bits; `unknown` and `failed` are values
// too). Negated, it never matches while the protocol is unknown (Suricata).
struct AppLayerProtocol {
  uint64_t protos = 0;
  bool negated = false;
};

struct Rule {
  RuleAction action = RuleAction::kAlert;
  RejectTo reject_to = RejectTo::kSource;  // action kReject: the variant written
  RuleProto proto = RuleProto::kIp;
  std::string app_proto;  // for kAppLayer: "http", "tls", "dns", ... as written
  AppProto app = AppProto::kUnknown;  // for kAppLayer: the protocol app_proto names
  AddressNode src, dst;
  PortNode sport, dport;
  RuleDirection direction = RuleDirection::kToDst;

  std::string msg;
  uint32_t sid = 0;
  uint32_t rev = 0;
  uint32_t gid = 1;
  std::string classtype;
  std::optional<uint8_t> priority;
  std::vector<std::pair<std::string, std::string>> references;  // (type, value)
  std::vector<std::string> metadata;  // "key value" entries, trimmed
  enum class Target : uint8_t { kNone, kSrcIp, kDestIp };
  Target target = Target::kNone;

  std::vector<PayloadMatch> payload;
  std::optional<UintCond> dsize;
  std::optional<FlowOpts> flow;
  std::vector<Flowbits> flowbits;
  std::optional<ThresholdSpec> threshold;
  std::optional<ThresholdSpec> detection_filter;
  std::optional<UintCond> itype, icode, ttl, ip_proto;
  std::optional<uint16_t> icmp_id, icmp_seq;
  std::optional<TcpFlags> flags;
  bool noalert = false;  // `noalert`, or `flowbits:noalert`
  std::vector<AppLayerProtocol> app_layer_protocol;  // all must hold

  // Where it came from, for diagnostics.
  std::string file;
  uint32_t line = 0;
};

const char* rule_action_name(RuleAction a);

}  // namespace ws
