#include "dataplane/defrag.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "dataplane/enum_names.h"

namespace ws {
namespace {

inline uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t rd32(const uint8_t* p) { return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]; }
inline void wr16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

constexpr size_t kDataBytes = 65536;
constexpr size_t kOwnerBytes = Defragmenter::kBlocks * sizeof(uint16_t);
constexpr size_t kSlotBytes = (Defragmenter::kHeadRoom + kDataBytes + kOwnerBytes + 4095) & ~size_t{4095};
constexpr size_t kOutBytes = (Defragmenter::kHeadRoom + kDataBytes + 4095) & ~size_t{4095};
constexpr int kMaxIpv6Ext = 8;

// Where a fragment's pieces are, read from its IP header (the decoder has
// checked the headers it walked; the lengths here are checked again).
struct FragInfo {
  uint32_t id = 0;
  size_t data_start = 0;  // offset in the packet of the fragmentable data
  size_t data_len = 0;
  size_t unfrag_end = 0;  // IPv6: where the fragment header starts (the head ends)
  size_t nh_pos = 0;      // IPv6: the byte that names the fragment header (44)
  uint32_t offset = 0;    // in the datagram's fragmentable part
  uint32_t limit = 0;     // the most fragmentable bytes the datagram can have
  uint8_t next_header = 0;
  bool more = false;
};

bool parse(const Packet& p, const Decoded& d, FragInfo& f) {
  const uint8_t* b = p.data;
  const size_t ip = d.l3_off;
  if (d.key.family == 4) {
    if (p.caplen < ip + 20) return false;
    const size_t hlen = size_t(b[ip] & 0x0f) * 4;
    const size_t total = rd16(b + ip + 2);
    if (hlen < 20 || total < hlen || p.caplen < ip + total) return false;  // cut by the snaplen
    const uint16_t fo = rd16(b + ip + 6);
    f.id = rd16(b + ip + 4);
    f.offset = uint32_t(fo & 0x1fff) * 8;
    f.more = fo & 0x2000;
    f.data_start = ip + hlen;
    f.data_len = total - hlen;
    f.unfrag_end = f.data_start;
    f.limit = static_cast<uint32_t>(65535 - hlen);
    return true;
  }
  if (p.caplen < ip + 40) return false;
  const size_t end = ip + 40 + rd16(b + ip + 4);
  if (p.caplen < end) return false;
  size_t nh_pos = ip + 6;
  size_t pos = ip + 40;
  for (int i = 0; i < kMaxIpv6Ext; ++i) {
    const uint8_t nh = b[nh_pos];
    if (end < pos + 8) return false;
    if (nh == 44) {
      const uint16_t fo = rd16(b + pos + 2);
      f.id = rd32(b + pos + 4);
      f.offset = fo & 0xfff8;
      f.more = fo & 1;
      f.next_header = b[pos];
      f.nh_pos = nh_pos;
      f.unfrag_end = pos;
      f.data_start = pos + 8;
      f.data_len = end - f.data_start;
      f.limit = static_cast<uint32_t>(65535 - (pos - ip - 40));
      return true;
    }
    if (nh != 0 && nh != 43 && nh != 60 && nh != 51 && nh != 135) return false;
    const size_t len = nh == 51 ? (size_t{b[pos + 1]} + 2) * 4 : (size_t{b[pos + 1]} + 1) * 8;
    nh_pos = pos;
    pos += len;
  }
  return false;
}

// Whether an IPv6 datagram's extension headers (len bytes from its IPv6
// header on) hold a fragment header.
bool has_fragment_header(const uint8_t* ip, size_t len) {
  uint8_t nh = ip[6];
  size_t pos = 40;
  for (int i = 0; i < kMaxIpv6Ext && pos + 8 <= len; ++i) {
    if (nh == 44) return true;
    if (nh != 0 && nh != 43 && nh != 60 && nh != 51 && nh != 135) return false;
    const size_t hl = nh == 51 ? (size_t{ip[pos + 1]} + 2) * 4 : (size_t{ip[pos + 1]} + 1) * 8;
    nh = ip[pos];
    pos += hl;
  }
  return false;
}

}  // namespace

// Suricata's names, in DefragPolicy's order.
static constexpr const char* kDefragPolicyNames[] = {"bsd", "linux", "first", "last"};

bool parse_defrag_policy(std::string_view s, DefragPolicy* out) { return enum_from_name(kDefragPolicyNames, s, out); }

const char* defrag_policy_name(DefragPolicy p) { return enum_name(kDefragPolicyNames, p); }

struct Defragmenter::Tracker {
  uint8_t src[16];
  uint8_t dst[16];
  uint32_t id;
  uint16_t vlan;
  uint8_t proto, family, depth;
  bool have_first, have_last;
  uint32_t hash_next;            // index + 1 within the bucket chain (the free list when free)
  uint32_t bucket;
  uint32_t age_prev, age_next;   // index + 1, oldest first
  uint64_t expires_ns;
  uint32_t total;                // fragmentable bytes (known once the last fragment came)
  uint32_t max_end;              // highest end written (owners below it may be set)
  uint32_t covered;              // owned blocks below the end (all of them until it is known)
  uint16_t head_len;             // header bytes before the data: link header (depth 0) or the
                                 // tunnel packet's own (Ethernet, PPP), IP header
  uint16_t ip_off;               // the IP header's offset in the head
  uint16_t nh_off;               // IPv6: the byte in the head to set to next_header
  uint8_t next_header;
  bool in_use;
  Packet meta;                   // the first fragment's link, interface and stripped tag
  LinkType tunnel_link;          // depth > 0: what the head starts with (raw IP, Ethernet, PPP)
};

Defragmenter::Defragmenter(const DefragOptions& opt) : opt_(opt) {
  const size_t n = std::max<uint32_t>(opt_.trackers, 1);
  opt_.trackers = static_cast<uint32_t>(n);
  trackers_ = new Tracker[n]();
  nbuckets_ = 1;
  while (nbuckets_ < 2 * n) nbuckets_ <<= 1;
  buckets_ = new uint32_t[nbuckets_]();
  map_bytes_ = n * kSlotBytes + kOutDepths * kOutBytes;
  void* m = ::mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) throw std::bad_alloc();
  map_ = static_cast<uint8_t*>(m);
  for (size_t i = n; i-- > 0;) {
    trackers_[i].hash_next = free_;
    free_ = static_cast<uint32_t>(i + 1);
  }
}

Defragmenter::~Defragmenter() {
  if (map_) ::munmap(map_, map_bytes_);
  delete[] trackers_;
  delete[] buckets_;
}

uint8_t* Defragmenter::data_of(const Tracker* t) const {
  return map_ + size_t(t - trackers_) * kSlotBytes + kHeadRoom;
}

uint16_t* Defragmenter::owners_of(const Tracker* t) const {
  return reinterpret_cast<uint16_t*>(data_of(t) + kDataBytes);
}

size_t Defragmenter::bucket_of(const Decoded& d, uint32_t id) const {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ id ^ (uint64_t{d.key.proto} << 32) ^ (uint64_t{d.key.vlan} << 40);
  for (int i = 0; i < 16; i += 8) {
    uint64_t a, b;
    std::memcpy(&a, d.key.src + i, 8);
    std::memcpy(&b, d.key.dst + i, 8);
    h = (h ^ a ^ (b << 1)) * 0xff51afd7ed558ccdull;
  }
  return (h >> 29) & (nbuckets_ - 1);
}

Defragmenter::Tracker* Defragmenter::find(const Decoded& d, uint32_t id) {
  for (uint32_t i = buckets_[bucket_of(d, id)]; i; i = trackers_[i - 1].hash_next) {
    Tracker& t = trackers_[i - 1];
    if (t.id == id && t.proto == d.key.proto && t.family == d.key.family && t.vlan == d.key.vlan &&
        t.depth == d.depth && std::memcmp(t.src, d.key.src, 16) == 0 && std::memcmp(t.dst, d.key.dst, 16) == 0)
      return &t;
  }
  return nullptr;
}

void Defragmenter::unlink_hash(Tracker* t) {
  uint32_t* link = &buckets_[t->bucket];
  const uint32_t me = static_cast<uint32_t>(t - trackers_) + 1;
  while (*link && *link != me) link = &trackers_[*link - 1].hash_next;
  if (*link) *link = t->hash_next;
}

void Defragmenter::release(Tracker* t) {
  unlink_hash(t);
  const uint32_t me = static_cast<uint32_t>(t - trackers_) + 1;
  if (t->age_prev) trackers_[t->age_prev - 1].age_next = t->age_next;
  else oldest_ = t->age_next;
  if (t->age_next) trackers_[t->age_next - 1].age_prev = t->age_prev;
  else newest_ = t->age_prev;
  // Only the owners of blocks written are set: clear those for the next
  // datagram. The data itself is left; the reassembled packet may still be
  // read until the next add().
  std::memset(owners_of(t), 0, ((size_t{t->max_end} + 7) / 8) * sizeof(uint16_t));
  t->in_use = false;
  t->hash_next = free_;
  free_ = me;
}

Defragmenter::Tracker* Defragmenter::take(const Decoded& d, uint32_t id, uint64_t now_ns) {
  // Trackers past their time go first (oldest first), then, when none is
  // free, the oldest one still waiting for fragments.
  while (oldest_ && trackers_[oldest_ - 1].expires_ns <= now_ns) {
    stats_.timeouts.inc();
    release(&trackers_[oldest_ - 1]);
  }
  if (!free_) {
    stats_.evicted.inc();
    release(&trackers_[oldest_ - 1]);
  }
  Tracker* t = &trackers_[free_ - 1];
  free_ = t->hash_next;
  const uint32_t me = static_cast<uint32_t>(t - trackers_) + 1;
  std::memcpy(t->src, d.key.src, 16);
  std::memcpy(t->dst, d.key.dst, 16);
  t->id = id;
  t->vlan = d.key.vlan;
  t->proto = d.key.proto;
  t->family = d.key.family;
  t->depth = d.depth;
  t->have_first = t->have_last = false;
  t->expires_ns = now_ns + uint64_t{opt_.timeout_s} * 1000000000ull;
  t->total = 0;
  t->max_end = 0;
  t->covered = 0;
  t->head_len = 0;
  t->in_use = true;
  t->bucket = static_cast<uint32_t>(bucket_of(d, id));
  t->hash_next = buckets_[t->bucket];
  buckets_[t->bucket] = me;
  t->age_prev = newest_;
  t->age_next = 0;
  if (newest_) trackers_[newest_ - 1].age_next = me;
  else oldest_ = me;
  newest_ = me;
  return t;
}

bool Defragmenter::add(const Packet& p, const Decoded& d, Packet& out) {
  FragInfo f;
  if (!parse(p, d, f)) {
    stats_.invalid.inc();
    return false;
  }
  // A non-last fragment carries whole 8-byte blocks; nothing may reach past
  // the largest datagram the IP header can describe.
  if ((f.more && (f.data_len == 0 || f.data_len % 8 != 0)) || f.offset + f.data_len > f.limit) {
    stats_.invalid.inc();
    return false;
  }
  if (d.depth >= kOutDepths) {
    stats_.invalid.inc();
    return false;
  }
  // Inside a tunnel the datagram starts where the tunnel's packet does, as
  // Suricata's tunnel packets: its IP header, or the Ethernet or PPP header
  // before it.
  size_t head_start = 0;
  LinkType tunnel_link = LinkType::kRaw;
  if (d.depth > 0) {
    head_start = std::min<size_t>(tunnel_packet_span(p, d).start, d.l3_off);
    // An Ethernet header takes 14 bytes or more, PPP's at most 4.
    if (head_start < d.l3_off) tunnel_link = d.l3_off - head_start >= 14 ? LinkType::kEthernet : LinkType::kPpp;
  }
  if (f.offset == 0 && f.unfrag_end - head_start > kHeadRoom) {
    stats_.invalid.inc();
    return false;
  }
  stats_.fragments.inc();

  Tracker* t = find(d, f.id);
  if (t && t->expires_ns <= p.ts_ns) {
    stats_.timeouts.inc();
    release(t);
    t = nullptr;
  }
  if (!t) t = take(d, f.id, p.ts_ns);

  uint32_t end = static_cast<uint32_t>(f.offset + f.data_len);
  if (!f.more) {
    if (t->have_last && end != t->total) {
      stats_.invalid.inc();  // a second, different end: the first one stands
      return false;
    }
    if (!t->have_last) {
      t->have_last = true;
      t->total = end;
      if (t->max_end > end) {
        // Data was received past the end now known: it is not part of the
        // datagram. Count only the blocks below the end.
        stats_.invalid.inc();
        const uint16_t* own = owners_of(t);
        t->covered = 0;
        for (size_t b = 0; b < (size_t{end} + 7) / 8; ++b) t->covered += own[b] != 0;
      }
    }
  }
  if (t->have_last && end > t->total) {
    stats_.invalid.inc();
    if (f.offset >= t->total) return false;
    end = t->total;
  }
  if (f.offset == 0 && !t->have_first) {
    // The head: link header (for a packet from the wire) and the IP header
    // up to the fragment header, right before the data.
    t->have_first = true;
    const size_t hl = f.unfrag_end - head_start;
    t->head_len = static_cast<uint16_t>(hl);
    t->ip_off = static_cast<uint16_t>(d.l3_off - head_start);
    t->nh_off = static_cast<uint16_t>(d.key.family == 6 ? f.nh_pos - head_start : 0);
    t->next_header = f.next_header;
    t->meta = p;
    t->tunnel_link = tunnel_link;
    std::memcpy(data_of(t) - hl, p.data + head_start, hl);
  }

  // Write the data block by block, where the policy lets this fragment
  // own the block.
  uint16_t* own = owners_of(t);
  uint8_t* data = data_of(t);
  const uint8_t* src = p.data + f.data_start;
  const uint16_t mine = static_cast<uint16_t>(f.offset / 8 + 1);
  const size_t need = t->have_last ? (size_t{t->total} + 7) / 8 : kBlocks;
  bool overlap = false;
  for (uint32_t pos = f.offset; pos < end; pos += 8) {
    const size_t b = pos / 8;
    const uint16_t o = own[b];
    bool write;
    if (o == 0) {
      write = true;
      if (b < need) ++t->covered;
    } else {
      overlap = true;
      switch (opt_.policy) {
        case DefragPolicy::kBsd: write = mine < o; break;
        case DefragPolicy::kLinux: write = mine <= o; break;
        case DefragPolicy::kFirst: write = false; break;
        case DefragPolicy::kLast: write = true; break;
        default: write = false;
      }
    }
    if (write) {
      own[b] = mine;
      std::memcpy(data + pos, src + (pos - f.offset), std::min<uint32_t>(8, end - pos));
    }
  }
  if (overlap) stats_.overlaps.inc();
  t->max_end = std::max(t->max_end, end);

  if (!t->have_first || !t->have_last || t->covered < (size_t{t->total} + 7) / 8) return false;

  // Complete: fix the IP header in the head and hand the datagram out.
  uint8_t* head = data - t->head_len;
  uint8_t* ip = head + t->ip_off;
  if (t->family == 4) {
    const size_t hlen = size_t(ip[0] & 0x0f) * 4;
    wr16(ip + 2, static_cast<uint16_t>(hlen + t->total));
    wr16(ip + 6, rd16(ip + 6) & 0x4000);  // DF stays; MF and the offset go
    wr16(ip + 10, 0);
    const uint16_t sum = static_cast<uint16_t>(~ones_sum(ip, hlen));  // in memory order
    std::memcpy(ip + 10, &sum, 2);
  } else {
    wr16(ip + 4, static_cast<uint16_t>(t->head_len - t->ip_off - 40 + t->total));
    head[t->nh_off] = t->next_header;
    if (has_fragment_header(ip, size_t{t->head_len} - t->ip_off + t->total)) {
      // A second fragment header (RFC 8200 allows one): put together, the
      // datagram would be a fragment again. Not handed out.
      stats_.invalid.inc();
      release(t);
      return false;
    }
  }
  // Copied out (to the buffer of its tunnel depth) so the tracker is free
  // at once: the datagram may carry a tunnel whose own fragments come
  // through add() while this packet is still being looked at.
  uint8_t* copy = map_ + size_t{opt_.trackers} * kSlotBytes + size_t{t->depth} * kOutBytes;
  const uint32_t len = t->head_len + t->total;
  std::memcpy(copy, head, len);
  out = Packet{};
  out.data = copy;
  out.caplen = out.wirelen = len;
  out.ts_ns = p.ts_ns;
  out.ifindex = t->meta.ifindex;
  if (t->depth > 0) {
    out.link = t->tunnel_link;
  } else {
    out.link = t->meta.link;
    out.vlan_tci = t->meta.vlan_tci;
    out.flags = t->meta.flags & (kPktVlanStripped | kPktVlanStag);
  }
  if (p.flags & kPktFileIndex) {  // the completing fragment's number in the file
    out.flags |= kPktFileIndex;
    out.file_index = p.file_index;
  }
  stats_.reassembled.inc();
  release(t);
  return true;
}

}  // namespace ws
