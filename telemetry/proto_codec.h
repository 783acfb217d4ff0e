// ProtoCodec: flow records, alerts and agent stats as the protobuf `Event`
// messages of telemetry/wirescope.proto, and the framing of a stream of
// them (each message preceded by its length as a base-128 varint, the
// framing of protobuf's writeDelimitedTo / parseDelimitedFrom).
//
// Two callers: the --export-proto exporter, which frames every Event onto a
// TCP stream, and the WebSocket stream, which sends one Event per binary
// frame. The generated classes stay private to proto_codec.cc, so callers
// only ever see bytes and need neither protoc's headers nor libprotobuf's.
//
// ProtoEncoder is for the export thread: it keeps one message object per
// kind and clears it for the next record, so after the first records no
// string, vlan list or metadata entry allocates again; bytes are serialized
// straight into the caller's buffer. (Protobuf deletes a proto3 sub-message
// on Clear(), so the sub-messages — the alert's flow, the flow's nDPI
// verdict — are kept as messages of their own and appended as fields: a
// message's bytes followed by a field's tag and bytes are that message with
// the field set, and appending them in field-number order keeps the output
// byte for byte what protobuf's own serializer writes.)
//
// The free encode_* functions are the same with a fresh encoder, for
// callers that encode rarely.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <functional>
#include <vector>

#include "dataplane/gns3_label.h"
#include "telemetry/alert_record.h"
#include "telemetry/exporter.h"
#include "telemetry/flow_record.h"

namespace ws {

struct ProtoOptions {
  bool community_id = true;  // fill community_id, as EVE does by default
  uint16_t community_id_seed = 0;
  // The GNS3 link behind an ifindex, or nullptr (not a GNS3 link): fills
  // the gns3 fields. Called on the encoding thread; the label must stay
  // valid until the event is appended.
  std::function<const Gns3LinkLabel*(uint16_t ifindex)> gns3_label;
};

// The agent's counters at one moment, the contents of a `Stats` message.
// A plain value so that telemetry/ needs nothing from agent/ or api/: the
// agent fills it from its status (see agent/runtime.cc).
struct StatsSnapshot {
  struct Source {
    std::string name;
    uint64_t packets = 0, bytes = 0, kernel_drops = 0, if_drops = 0;
  };
  struct Worker {
    uint32_t id = 0;
    uint64_t packets = 0, bytes = 0, flows_active = 0, flows_created = 0;
  };
  uint64_t timestamp_ns = 0;  // wall clock, ns since the epoch
  double uptime_s = 0;
  uint64_t packets = 0, bytes = 0;
  uint64_t drops = 0;  // capture drops over all sources (kernel + interface)
  uint64_t flows_active = 0, flows_created = 0;
  uint64_t records_exported = 0, alerts = 0;
  std::vector<Source> sources;
  std::vector<Worker> workers;
};

class ProtoEncoder {
 public:
  explicit ProtoEncoder(ExportContext ctx = {}, ProtoOptions opts = {});
  ~ProtoEncoder();
  ProtoEncoder(const ProtoEncoder&) = delete;
  ProtoEncoder& operator=(const ProtoEncoder&) = delete;

  // Each appends one serialized Event to out — preceded by its varint
  // length when delimited — and returns the bytes appended.
  size_t append_flow(const FlowRecord& rec, std::string& out, bool delimited);
  // a.meta must be set (every alert a worker emits has it).
  size_t append_alert(const AlertRecord& a, std::string& out, bool delimited);
  size_t append_stats(const StatsSnapshot& s, std::string& out, bool delimited);

 private:
  struct Messages;  // the generated message objects, reused
  ExportContext ctx_;
  ProtoOptions opts_;
  std::unique_ptr<Messages> m_;
};

// One serialized Event, without a length prefix (a WebSocket frame's payload).
std::string encode_flow(const FlowRecord& rec, const ExportContext& ctx, const ProtoOptions& opts = {});
std::string encode_alert(const AlertRecord& a, const ExportContext& ctx, const ProtoOptions& opts = {});
std::string encode_stats(const StatsSnapshot& s);

// --- framing -----------------------------------------------------------------

// Longest base-128 varint of a 64-bit value.
inline constexpr size_t kMaxVarintBytes = 10;

// Bytes the varint of v takes (1..10).
size_t varint_size(uint64_t v);
void append_varint(std::string& out, uint64_t v);
// Appends varint(msg.size()) then msg.
void append_delimited(std::string& out, std::string_view msg);

enum class FrameRead : uint8_t {
  kOk,          // *msg is the next message; *pos is past it
  kIncomplete,  // in ends inside the length or the message: read more bytes (nothing consumed)
  kMalformed,   // a length varint over 10 bytes, or a length over max_len: the stream is lost
};

// Reads the length-delimited message starting at in[*pos]. A receiver
// appends what arrives to a buffer and calls this until kIncomplete.
FrameRead read_delimited(std::string_view in, size_t* pos, std::string_view* msg,
                         uint64_t max_len = 64u << 20);

}  // namespace ws
