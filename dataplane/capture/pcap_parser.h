// PcapParser: an incremental reader of classic pcap and pcapng streams.
//
// The same parser serves an mmap'd capture file (one window covering the
// whole mapping, records point into it: zero copy) and a capture streamed
// over the network in arbitrary chunks (feed() copies into a small internal
// buffer). It never reads past the bytes it is given: a header, block or
// record that is not complete yet is "need more", and only the owner knows
// whether more will come, so it calls finish() at the end of the stream to
// learn whether the stream stopped cleanly or inside a record.
//
// Formats: classic pcap in both byte orders with microsecond or nanosecond
// timestamps; pcapng with any number of sections (each with its own byte
// order), interfaces with their own link type, if_tsresol (powers of 10 and
// of 2) and if_tsoffset, and Enhanced, Simple and obsolete Packet blocks.
// Other blocks (name resolution, statistics, secrets, custom) are skipped.
//
// Damage is an error with the stream offset and the reason; after an error
// the parser stays in the error state until reset(). Limits: a record may
// not capture more than kMaxCaplen bytes and a pcapng block may not be longer
// than kMaxBlockLen, so a corrupt length can neither make a stream reader
// buffer without bound nor make anyone read outside the data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ws {

// One frame found in a capture stream. `data` points into the window given
// to parse() (or into the parser's buffer for next()).
struct PcapRecord {
  const uint8_t* data = nullptr;
  uint32_t caplen = 0;
  uint32_t wirelen = 0;
  uint64_t ts_ns = 0;         // ns since the Unix epoch
  uint32_t linktype = 0;      // LINKTYPE_* of the record's interface
  uint32_t interface_id = 0;  // pcapng interface in its section; 0 for classic pcap
  uint64_t offset = 0;        // stream offset of the record header / block
};

enum class ParseStatus : uint8_t {
  kRecord,    // *rec is filled
  kNeedMore,  // the data given so far ends inside a header, block or record
  kError,     // damaged stream; error() says where and why
};

class PcapParser {
 public:
  // libpcap's own ceiling (MAXIMUM_SNAPLEN); larger is corruption.
  static constexpr uint32_t kMaxCaplen = 256 * 1024;
  // Name resolution and decryption-secrets blocks can be large, but not
  // this large; a stream reader buffers at most one block.
  static constexpr uint32_t kMaxBlockLen = 16u << 20;

  enum class Format : uint8_t { kUnknown, kPcap, kPcapng };

  // Zero-copy step. `window` must start at the first byte not yet consumed
  // (stream offset offset()). Consumes the file header and skipped blocks,
  // and at most one record; *consumed says how many bytes to advance, on
  // every status (on kError: the good bytes before the damage). On kRecord,
  // *rec points into `window`.
  ParseStatus parse(std::span<const uint8_t> window, PcapRecord* rec, size_t* consumed);

  // Buffered mode for streams arriving in chunks: feed() copies the chunk
  // (an empty chunk is fine) and next() parses from what was fed. A record
  // from next() stays valid until the following feed(). Do not mix with
  // parse() on the same parser.
  void feed(std::span<const uint8_t> chunk);
  ParseStatus next(PcapRecord* rec);

  // The stream has ended with `pending` bytes given but not consumed.
  // Returns true for a clean end (between records, after a complete file
  // header); otherwise false with error() naming the truncated item.
  bool finish(size_t pending);
  bool finish() { return finish(buffer_.size() - head_); }

  // Back to the start of a new stream (keeps the buffer's capacity).
  void reset();

  // "offset N: reason", empty while the stream is healthy.
  const std::string& error() const { return error_; }
  uint64_t offset() const { return offset_; }
  Format format() const { return format_; }
  // A complete file header (classic) or section header (pcapng) was read.
  bool header_seen() const { return header_seen_; }

 private:
  struct Interface {
    uint32_t linktype = 0;
    uint32_t snaplen = 0;
    bool tsres_pow2 = false;
    uint8_t tsres_exp = 6;  // pcapng default: microseconds
    int64_t tsoffset_s = 0;
  };

  ParseStatus parse_pcap(std::span<const uint8_t> w, PcapRecord* rec, size_t* consumed);
  ParseStatus parse_pcapng(std::span<const uint8_t> w, PcapRecord* rec, size_t* consumed);
  ParseStatus read_shb(const uint8_t* p, size_t avail, uint64_t at, size_t* len);
  ParseStatus read_idb(const uint8_t* body, uint32_t body_len, uint64_t at);
  ParseStatus packet_block(uint32_t type, const uint8_t* body, uint32_t body_len,
                           uint64_t at, PcapRecord* rec);
  // What a kNeedMore is waiting for; finish() turns it into a message.
  enum class Pending : uint8_t { kNothing, kFileHeader, kRecordHeader, kRecord, kBlockHeader, kBlock };

  ParseStatus fail(uint64_t at, std::string reason);
  ParseStatus need(uint64_t at, uint64_t bytes, Pending what, uint32_t detail = 0);
  uint64_t scale_ts(const Interface& ifc, uint64_t units) const;

  uint16_t u16(const uint8_t* p) const;
  // Inline: it runs several times per record on the read path.
  uint32_t u32(const uint8_t* p) const {
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return big_endian_ ? __builtin_bswap32(v) : v;  // the parser only runs on little-endian hosts
  }
  uint64_t u64(const uint8_t* p) const;

  Format format_ = Format::kUnknown;
  bool big_endian_ = false;  // of the file, or of the current pcapng section
  bool nanos_ = false;
  bool header_seen_ = false;
  bool failed_ = false;
  uint32_t snaplen_ = 0;
  uint32_t linktype_ = 0;
  uint64_t offset_ = 0;
  uint64_t last_ts_ns_ = 0;  // for Simple Packet Blocks, which carry no time
  std::vector<Interface> interfaces_;
  std::string error_;

  // The last kNeedMore, for finish()'s message.
  Pending pending_ = Pending::kNothing;
  uint32_t pending_detail_ = 0;  // block type
  uint64_t pending_at_ = 0;
  uint64_t pending_bytes_ = 0;

  // Buffered mode.
  std::vector<uint8_t> buffer_;
  size_t head_ = 0;
};

}  // namespace ws
