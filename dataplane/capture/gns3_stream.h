// Gns3StreamParser: the pcap answer of a GNS3 link capture (v2 `/pcap`, v3
// `/capture/stream`) turned into frames, one chunk at a time.
//
// The server relays the capture file uBridge or Dynamips writes, so the
// answer is a classic pcap that is EMPTY until the link carries its first
// packet: the global header is only written with it. Chunk boundaries fall
// anywhere (inside the header, a record header or a frame), and the answer
// can stop anywhere when the server or the network goes away. The parser
// buffers across chunks (PcapParser's stream mode), delivers each complete
// Ethernet record, counts records of other link types (serial links are
// captured as C_HDLC, PPP_SERIAL, FRELAY or ATM_RFC1483) as unsupported, and
// at the end tells a clean stop (also an answer that never got a byte) from
// one inside a record, which it counts as truncated.
//
// A capture replayed after a reconnect starts again at the file's first
// byte: skip_records(n) drops the n records already delivered from the
// previous answer so that nothing arrives twice.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "dataplane/capture/pcap_parser.h"

namespace ws {

struct Gns3StreamCounters {
  uint64_t records = 0;           // complete records seen (all link types)
  uint64_t frames = 0;            // Ethernet frames delivered
  uint64_t bytes = 0;             // their wire length
  uint64_t unsupported_link = 0;  // records of a link type the data plane does not decode
  uint64_t truncated = 0;         // answers that ended inside the header or a record
  uint64_t replayed = 0;          // records skipped because an earlier answer delivered them
  uint64_t damaged = 0;           // answers that were not a pcap (bad magic, absurd lengths)
};

class Gns3StreamParser {
 public:
  // The link types GNS3 captures; only DLT_EN10MB is decoded.
  static constexpr uint32_t kDltEn10mb = 1;
  static constexpr uint32_t kDltAtmRfc1483 = 11;
  static constexpr uint32_t kDltPppSerial = 50;
  static constexpr uint32_t kDltCHdlc = 104;
  static constexpr uint32_t kDltFrelay = 107;

  // A new answer begins (a fresh connection); the first `skip` records of
  // it were delivered before and are dropped.
  void begin(uint64_t skip = 0);

  // Parses one chunk; emit(const PcapRecord&) for each Ethernet record.
  // Returns false when the answer is damaged (error() says where and why):
  // the caller drops the connection.
  template <typename Emit>
  bool feed(std::span<const uint8_t> chunk, Emit&& emit) {
    if (failed_) return false;
    if (!chunk.empty()) any_bytes_ = true;
    parser_.feed(chunk);
    PcapRecord rec;
    for (;;) {
      const ParseStatus st = parser_.next(&rec);
      if (st == ParseStatus::kNeedMore) return true;
      if (st == ParseStatus::kError) {
        failed_ = true;
        ++c_.damaged;
        return false;
      }
      ++answer_records_;
      ++c_.records;
      linktype_ = rec.linktype;
      if (answer_records_ <= skip_) {
        ++c_.replayed;
        continue;
      }
      if (rec.linktype != kDltEn10mb) {
        ++c_.unsupported_link;
        continue;
      }
      ++c_.frames;
      c_.bytes += rec.wirelen;
      emit(rec);
    }
  }

  // The answer ended. True for a clean end: between records, or before any
  // byte came. Otherwise the partial header or record is counted as
  // truncated and error() names it.
  bool end();

  // Records of this answer, including skipped ones: what the next answer of
  // the same capture file has to skip.
  uint64_t answer_records() const { return answer_records_; }
  // The link type of the last record; 0 before the first.
  uint32_t linktype() const { return linktype_; }
  bool header_seen() const { return parser_.header_seen(); }
  const std::string& error() const { return error_.empty() ? parser_.error() : error_; }
  const Gns3StreamCounters& counters() const { return c_; }

 private:
  PcapParser parser_;
  Gns3StreamCounters c_;
  uint64_t skip_ = 0;
  uint64_t answer_records_ = 0;
  uint32_t linktype_ = 0;
  bool failed_ = false;
  bool any_bytes_ = false;
  std::string error_;
};

// "DLT_C_HDLC" for 104, ...; "DLT_<n>" for others.
std::string gns3_dlt_name(uint32_t dlt);

}  // namespace ws
