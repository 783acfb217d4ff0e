// Defragmenter: puts fragmented IPv4 and IPv6 datagrams back together for
// rule matching, as Suricata's defrag engine does before detection, so a
// content, dsize or pcre that spans fragments is found and an evasion by
// overlapping fragments is resolved the way the target host would.
//
// Flow accounting is not changed by it: every fragment still counts to
// its flow as it arrives (ipfixprobe's view, the decoder's FragTable). The
// reassembled datagram is an extra packet for the rule stage only (and,
// when it carries a tunnel, for the packets inside it), built with the
// first fragment's link header and IP header (lengths and offsets fixed,
// IPv4's header checksum recomputed; IPv6's fragment header removed), so
// an alert's `packet` is the datagram as the host sees it.
//
// One per worker, like the rest of the worker's state: no locks, nothing
// allocated per packet. Every tracker (one datagram being reassembled) has
// a fixed 84 KiB slot in one mapping that is reserved at start and only
// committed where trackers are used, so memory is bounded by
// DefragOptions::trackers. Data is written in place at its offset; which
// fragment owns each 8-byte block (offsets are multiples of 8) decides
// overlaps by the configured policy:
//   bsd    the fragment that starts lower wins; at equal starts the first
//          one received (Suricata's default policy);
//   linux  the fragment that starts lower wins; at equal starts the last;
//   first  data received first always wins;
//   last   data received last always wins.
// A tracker lasts DefragOptions::timeout_s from its first fragment; when
// every tracker is in use the oldest one is given up (counted).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dataplane/counters.h"
#include "dataplane/decode.h"
#include "dataplane/packet.h"

namespace ws {

enum class DefragPolicy : uint8_t { kBsd, kLinux, kFirst, kLast };  // the order of defrag.cc's name table

// The policy by Suricata's name (bsd, linux, first, last); false if unknown.
bool parse_defrag_policy(std::string_view s, DefragPolicy* out);
const char* defrag_policy_name(DefragPolicy p);

struct DefragOptions {
  bool enabled = true;
  uint32_t trackers = 256;   // datagrams being reassembled at once, per worker
  uint32_t timeout_s = 60;   // Suricata's defrag.timeout
  DefragPolicy policy = DefragPolicy::kBsd;

  bool operator==(const DefragOptions&) const = default;
};

#define WS_DEFRAG_COUNTERS(X)                                                                  \
  X(fragments, "IP fragments taken for reassembly")                                           \
  X(reassembled, "datagrams reassembled and inspected")                                       \
  X(overlaps, "fragments that overlapped data already received (policy applied)")             \
  X(invalid, "fragments not usable: cut by the snaplen, a non-last one not a multiple of 8 bytes, beyond 65535 bytes or past the datagram's end; datagrams with a second fragment header") \
  X(timeouts, "datagrams given up incomplete after defrag.timeout")                           \
  X(evicted, "datagrams given up incomplete because every tracker was in use")                \
  X(no_flow, "reassembled datagrams not inspected: not decodable, or their flow had ended")

struct DefragStats {
#define WS_X(name, help) Counter name;
  WS_DEFRAG_COUNTERS(WS_X)
#undef WS_X
};

class Defragmenter {
 public:
  explicit Defragmenter(const DefragOptions& opt);
  ~Defragmenter();
  Defragmenter(const Defragmenter&) = delete;
  Defragmenter& operator=(const Defragmenter&) = delete;

  // Takes a fragment (d.flags & kDecFragment) of packet p. When it
  // completes its datagram, returns true and sets out to the reassembled
  // packet: the first fragment's link header (none for a packet out of a
  // tunnel, d.depth > 0: then out.link is kRaw) and the whole datagram.
  // out.data stays valid until the next datagram of the same tunnel depth
  // is complete (so a tunnel inside it can be reassembled in turn).
  bool add(const Packet& p, const Decoded& d, Packet& out);

  const DefragStats& stats() const { return stats_; }
  // The caller could not inspect a reassembled datagram (no_flow).
  void count_no_flow() { stats_.no_flow.inc(); }
  const DefragOptions& options() const { return opt_; }
  // Bytes reserved for the trackers (committed only as used).
  size_t reserved_bytes() const { return map_bytes_; }

  // Tracker layout, exposed for the memory figure in the docs and tests.
  static constexpr size_t kHeadRoom = 512;      // link header + IP header + IPv6 unfragmentable part
  static constexpr size_t kMaxData = 65535;     // fragmentable bytes of one datagram
  static constexpr size_t kBlocks = (kMaxData + 7) / 8;
  static constexpr size_t kOutDepths = 4;       // tunnel depths 0..3 (the decoder's limit)

 private:
  struct Tracker;
  Tracker* find(const Decoded& d, uint32_t id);
  Tracker* take(const Decoded& d, uint32_t id, uint64_t now_ns);
  void release(Tracker* t);
  void unlink_hash(Tracker* t);
  size_t bucket_of(const Decoded& d, uint32_t id) const;
  uint8_t* data_of(const Tracker* t) const;
  uint16_t* owners_of(const Tracker* t) const;

  DefragOptions opt_;
  DefragStats stats_;
  Tracker* trackers_ = nullptr;  // opt_.trackers, metadata only
  uint8_t* map_ = nullptr;       // per tracker: kSlotBytes of head room, data and block owners
  size_t map_bytes_ = 0;
  uint32_t* buckets_ = nullptr;  // tracker index + 1 per hash bucket, chained
  size_t nbuckets_ = 0;
  uint32_t free_ = 0;            // free list head (index + 1)
  uint32_t oldest_ = 0, newest_ = 0;  // in-use trackers by age (index + 1)
};

}  // namespace ws
