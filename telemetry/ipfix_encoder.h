// Template-based flow message encoding shared by IPFIX (RFC 7011) and
// NetFlow v9 (RFC 3954). The two differ only in the message header, set ids,
// the enterprise bit in template fields and what the sequence number counts;
// records and templates are the same idea, so one encoder serves both.
//
// The path is FlowRecord → ExportRecord (oriented sender→receiver, one per
// direction, or one biflow) → data record laid out by a RecordTemplate.
// A template is a list of (IE id, length, value source); writing a record
// walks the list, so adding an element (say applicationName, IE 96, a
// variable-length string) means a FlowField value, its source in
// ExportRecord, and its size in MessageEncoder::record_length(), which is
// computed per record for that reason; templates and set framing need no
// change.
//
// MessageEncoder is pure: records in, whole messages out as bytes, never
// larger than the MTU. It holds no socket and reads no clock.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "telemetry/flow_record.h"

namespace ws {

enum class MessageFormat : uint8_t { kIpfix, kNetflow9 };

// One direction's counters and times.
struct ExportDirection {
  uint64_t octets = 0;  // IP header + payload
  uint64_t packets = 0;
  uint64_t start_ns = 0;  // ns since the Unix epoch
  uint64_t end_ns = 0;
  uint8_t tcp_flags = 0;
};

// Bytes of applicationName (IE 96) in every template: a fixed-length
// string (RFC 7011 6.1.6), so NetFlow v9, which has no variable-length
// fields, carries it too. nDPI's names fit; a master.app pair longer than
// this is cut.
constexpr size_t kAppNameLength = 32;

// A flow as it goes on the wire: src is the sender of fwd. In biflow
// records rev is the other direction (RFC 5103); in uniflow records it is
// zero and unused.
struct ExportRecord {
  uint8_t src[16] = {};
  uint8_t dst[16] = {};
  uint8_t family = 4;
  uint8_t protocol = 0;
  uint16_t src_port = 0;        // 0 for ICMP
  uint16_t dst_port = 0;        // ICMP: type << 8 | code
  uint16_t icmp_type_code = 0;  // type << 8 | code; 0 unless ICMP or ICMPv6
  uint16_t vlan = 0;
  uint32_t ingress = 0;
  uint8_t end_reason = 0;  // IPFIX flowEndReason
  // applicationName (IE 96): nDPI's protocol name ("TLS.Google"), NUL
  // padded; all zero when nDPI did not classify the flow.
  char app_name[kAppNameLength] = {};
  ExportDirection fwd;
  ExportDirection rev;
};

// Uniflow: one record per direction that carried packets, direction 1 with
// addresses and ports swapped, each with its own times. Biflow: one record,
// fwd = to-server; flowStart/End then cover the whole slice and the reverse
// times are direction 1's. Returns the number of records written to out
// (0 when no direction carried packets or the family is unknown).
size_t to_export_records(const FlowRecord& rec, bool biflow, ExportRecord out[2]);

// Where a template field's value comes from.
enum class FlowField : uint8_t {
  kOctets,
  kPackets,
  kTcpFlags,
  kRevOctets,
  kRevPackets,
  kRevTcpFlags,
  kStartMs,
  kEndMs,
  kRevStartMs,
  kRevEndMs,  // ms since the Unix epoch (IPFIX)
  kStartUptime,
  kEndUptime,  // ms since boot (NetFlow v9)
  kProtocol,
  kSrcPort,
  kDstPort,
  kSrcIpv4,
  kDstIpv4,
  kSrcIpv6,
  kDstIpv6,
  kIcmpTypeCode,
  kEndReason,
  kVlan,
  kIngress,
  kAppName,  // applicationName: fixed-length string, NUL padded
};

struct TemplateField {
  uint16_t id;          // IPFIX IE id or NetFlow v9 field type
  uint16_t length;      // bytes on the wire; integers are written big-endian, truncated
  uint32_t enterprise;  // IPFIX private enterprise number, 0 for IANA elements
  FlowField value;
};

struct RecordTemplate {
  uint16_t id;     // >= 256
  uint8_t family;  // the ExportRecord family this template carries
  std::vector<TemplateField> fields;
};

constexpr uint32_t kReversePen = 29305;  // RFC 5103 reverse information elements

struct EncoderConfig {
  MessageFormat format = MessageFormat::kIpfix;
  uint32_t domain = 1;                    // IPFIX observation domain / NetFlow v9 source id
  uint32_t mtu = 1400;                    // largest message, header included
  uint64_t boot_ns = 0;                   // NetFlow v9 sysUptime origin; 0 = first record's start
  std::vector<RecordTemplate> templates;  // one per family
};

class MessageEncoder {
 public:
  enum class Add : uint8_t {
    kAdded,       // in the open message
    kFull,        // does not fit: finish() the message and add again
    kTooLarge,    // does not fit even an empty message (MTU too small)
    kNoTemplate,  // no template for the record's family
  };

  explicit MessageEncoder(EncoderConfig cfg);

  // Smallest MTU that holds the header, every template and one largest
  // record; configs below it are rejected by the exporter factories.
  uint32_t min_mtu() const;

  Add add(const ExportRecord& rec);
  // Closes the open message and returns its bytes (valid until the next
  // add). export_ns is the export clock: packet time when replaying.
  std::span<const uint8_t> finish(uint64_t export_ns);

  bool empty() const { return !open_; }
  uint32_t open_records() const { return data_records_; }
  // The next message starts with every template (template refresh).
  void want_templates() { templates_due_ = true; }
  bool templates_due() const { return templates_due_; }
  // True if the last finished message carried the templates.
  bool last_had_templates() const { return last_had_templates_; }
  // A new transport session: templates first, sequence numbers from 0.
  void restart_session();

  // IPFIX: data records finished so far (the next header's sequence number).
  // NetFlow v9: messages finished so far.
  uint32_t sequence() const { return sequence_; }
  uint64_t clamped_times() const { return clamped_times_; }
  const EncoderConfig& config() const { return cfg_; }

  uint32_t record_length(const RecordTemplate& t, const ExportRecord& rec) const;

 private:
  size_t header_length() const;
  size_t template_set_length() const;
  void begin();
  void write_templates();
  void close_set();
  void write_record(const RecordTemplate& t, const ExportRecord& rec);
  uint32_t uptime_ms(uint64_t ns);

  EncoderConfig cfg_;
  std::vector<uint8_t> buf_;
  size_t set_start_ = 0;       // offset of the open data set's header
  int open_template_ = -1;     // index into cfg_.templates of the open set, -1 none
  uint32_t data_records_ = 0;  // in the open message
  uint32_t template_records_ = 0;
  uint32_t sequence_ = 0;
  uint64_t boot_ms_ = 0;
  bool boot_known_ = false;
  bool open_ = false;  // a message has been begun and not finished
  bool templates_due_ = true;
  bool had_templates_ = false;  // the open message carries the templates
  bool last_had_templates_ = false;
  uint64_t clamped_times_ = 0;  // v9 times before boot, sent as uptime 0
};

}  // namespace ws
