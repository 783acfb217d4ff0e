#include "dataplane/capture/pcap_parser.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include <bit>

namespace ws {

static_assert(std::endian::native == std::endian::little, "PcapParser::u32 assumes a little-endian host");
namespace {

__extension__ typedef unsigned __int128 u128;
__extension__ typedef __int128 i128;

constexpr uint32_t kMagicMicro = 0xa1b2c3d4;
constexpr uint32_t kMagicNano = 0xa1b23c4d;
constexpr uint32_t kMagicMicroSwapped = 0xd4c3b2a1;
constexpr uint32_t kMagicNanoSwapped = 0x4d3cb2a1;
constexpr uint32_t kMagicKuznetzov = 0xa1b2cd34;
constexpr uint32_t kMagicKuznetzovSwapped = 0x34cdb2a1;

constexpr uint32_t kPcapHeaderLen = 24;
constexpr uint32_t kPcapRecordHeaderLen = 16;

constexpr uint32_t kBlockShb = 0x0A0D0D0A;  // same in both byte orders
constexpr uint32_t kBlockIdb = 0x00000001;
constexpr uint32_t kBlockOpb = 0x00000002;  // obsolete Packet Block
constexpr uint32_t kBlockSpb = 0x00000003;
constexpr uint32_t kBlockEpb = 0x00000006;
constexpr uint32_t kByteOrderMagic = 0x1A2B3C4D;
constexpr uint32_t kShbMinLen = 28;  // header, BOM, versions, section length, trailer

constexpr uint16_t kOptEnd = 0;
constexpr uint16_t kOptTsresol = 9;
constexpr uint16_t kOptTsoffset = 14;

uint32_t le32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

uint32_t be32(const uint8_t* p) {
  return uint32_t(p[3]) | uint32_t(p[2]) << 8 | uint32_t(p[1]) << 16 | uint32_t(p[0]) << 24;
}

constexpr uint64_t kPow10[] = {
    1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
    100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
    10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
    100000000000000000ull, 1000000000000000000ull, 10000000000000000000ull,
};

std::string strf(const char* fmt, auto... args) {
  char buf[160];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

}  // namespace

uint16_t PcapParser::u16(const uint8_t* p) const {
  return big_endian_ ? uint16_t(p[0] << 8 | p[1]) : uint16_t(p[1] << 8 | p[0]);
}


uint64_t PcapParser::u64(const uint8_t* p) const {
  // pcapng stores 64-bit values as one integer in section byte order.
  return big_endian_ ? uint64_t(be32(p)) << 32 | be32(p + 4)
                     : uint64_t(le32(p + 4)) << 32 | le32(p);
}

ParseStatus PcapParser::fail(uint64_t at, std::string reason) {
  failed_ = true;
  error_ = strf("offset %" PRIu64 ": ", at) + reason;
  return ParseStatus::kError;
}

ParseStatus PcapParser::need(uint64_t at, uint64_t bytes, Pending what, uint32_t detail) {
  pending_ = what;
  pending_at_ = at;
  pending_bytes_ = bytes;
  pending_detail_ = detail;
  return ParseStatus::kNeedMore;
}

void PcapParser::reset() {
  format_ = Format::kUnknown;
  big_endian_ = false;
  nanos_ = false;
  header_seen_ = false;
  failed_ = false;
  snaplen_ = 0;
  linktype_ = 0;
  offset_ = 0;
  last_ts_ns_ = 0;
  interfaces_.clear();
  error_.clear();
  pending_ = Pending::kNothing;
  pending_at_ = pending_bytes_ = 0;
  pending_detail_ = 0;
  buffer_.clear();
  head_ = 0;
}

ParseStatus PcapParser::parse(std::span<const uint8_t> w, PcapRecord* rec, size_t* consumed) {
  *consumed = 0;
  if (failed_) return ParseStatus::kError;
  if (format_ == Format::kUnknown) {
    if (w.size() < 4) return need(offset_, 4, Pending::kFileHeader);
    const uint32_t magic = le32(w.data());
    switch (magic) {
      case kMagicMicro: format_ = Format::kPcap; break;
      case kMagicNano: format_ = Format::kPcap; nanos_ = true; break;
      case kMagicMicroSwapped: format_ = Format::kPcap; big_endian_ = true; break;
      case kMagicNanoSwapped: format_ = Format::kPcap; big_endian_ = true; nanos_ = true; break;
      case kBlockShb: format_ = Format::kPcapng; break;
      case kMagicKuznetzov:
      case kMagicKuznetzovSwapped:
        return fail(offset_, "modified (Kuznetzov) pcap format is not supported; convert it with editcap");
      default:
        return fail(offset_, strf("not a pcap or pcapng file (magic 0x%08x)", magic));
    }
  }
  ParseStatus st = format_ == Format::kPcap ? parse_pcap(w, rec, consumed)
                                            : parse_pcapng(w, rec, consumed);
  offset_ += *consumed;
  return st;
}

ParseStatus PcapParser::parse_pcap(std::span<const uint8_t> w, PcapRecord* rec, size_t* consumed) {
  size_t pos = 0;
  if (!header_seen_) {
    if (w.size() < kPcapHeaderLen) return need(offset_, kPcapHeaderLen, Pending::kFileHeader);
    const uint8_t* h = w.data();
    const uint16_t major = u16(h + 4);
    if (major != 2) return fail(offset_, strf("unsupported pcap version %u.%u", major, u16(h + 6)));
    snaplen_ = u32(h + 16);
    linktype_ = u32(h + 20) & 0xFFFF;  // upper bits: FCS length, not the link type
    header_seen_ = true;
    pos = kPcapHeaderLen;
    *consumed = pos;
  }
  const uint64_t at = offset_ + pos;
  if (w.size() - pos < kPcapRecordHeaderLen) return need(at, kPcapRecordHeaderLen, Pending::kRecordHeader);
  const uint8_t* h = w.data() + pos;
  const uint32_t caplen = u32(h + 8);
  const uint32_t wirelen = u32(h + 12);
  if (caplen > kMaxCaplen)
    return fail(at, strf("record length %u exceeds the %u-byte limit", caplen, kMaxCaplen));
  // Writers put what they were asked to capture in snaplen; 65535 is the
  // historic default some of them kept while writing longer frames.
  const uint32_t limit = std::max<uint32_t>(snaplen_, 65535);
  if (caplen > limit)
    return fail(at, strf("record length %u exceeds snaplen %u", caplen, limit));
  const uint64_t total = uint64_t(kPcapRecordHeaderLen) + caplen;
  if (w.size() - pos < total) return need(at, total, Pending::kRecord);
  const uint32_t sec = u32(h);
  const uint32_t frac = u32(h + 4);
  rec->data = h + kPcapRecordHeaderLen;
  rec->caplen = caplen;
  rec->wirelen = std::max(wirelen, caplen);
  rec->ts_ns = uint64_t(sec) * 1000000000u + uint64_t(frac) * (nanos_ ? 1u : 1000u);
  rec->linktype = linktype_;
  rec->interface_id = 0;
  rec->offset = at;
  *consumed = pos + total;
  return ParseStatus::kRecord;
}

ParseStatus PcapParser::read_shb(const uint8_t* p, size_t avail, uint64_t at, size_t* len) {
  if (avail < 12) return need(at, 12, Pending::kBlockHeader, kBlockShb);
  const uint32_t bom = le32(p + 8);
  if (bom == kByteOrderMagic) {
    big_endian_ = false;
  } else if (be32(p + 8) == kByteOrderMagic) {
    big_endian_ = true;
  } else {
    return fail(at, strf("section header has a bad byte-order magic 0x%08x", bom));
  }
  const uint32_t block_len = u32(p + 4);
  if (block_len < kShbMinLen || block_len % 4 != 0 || block_len > kMaxBlockLen)
    return fail(at, strf("section header block length %u is invalid", block_len));
  if (avail < block_len) return need(at, block_len, Pending::kBlock, kBlockShb);
  if (u32(p + block_len - 4) != block_len)
    return fail(at, strf("section header block length %u does not match its trailer %u",
                           block_len, u32(p + block_len - 4)));
  const uint16_t major = u16(p + 12);
  if (major != 1)
    return fail(at, strf("unsupported pcapng version %u.%u", major, u16(p + 14)));
  interfaces_.clear();  // interface ids restart in each section
  header_seen_ = true;
  *len = block_len;
  return ParseStatus::kRecord;  // "block accepted"; the caller goes on
}

ParseStatus PcapParser::read_idb(const uint8_t* body, uint32_t body_len, uint64_t at) {
  if (body_len < 8) return fail(at, strf("interface block body of %u bytes is too short", body_len));
  Interface ifc;
  ifc.linktype = u16(body);
  ifc.snaplen = u32(body + 4);
  uint32_t pos = 8;
  while (pos + 4 <= body_len) {
    const uint16_t code = u16(body + pos);
    const uint16_t olen = u16(body + pos + 2);
    if (code == kOptEnd) break;
    const uint32_t padded = (uint32_t(olen) + 3) & ~3u;
    if (pos + 4 + padded > body_len)
      return fail(at, strf("interface block option %u of length %u runs past the block", code, olen));
    const uint8_t* v = body + pos + 4;
    if (code == kOptTsresol && olen == 1) {
      ifc.tsres_pow2 = (v[0] & 0x80) != 0;
      ifc.tsres_exp = v[0] & 0x7f;
    } else if (code == kOptTsoffset && olen == 8) {
      ifc.tsoffset_s = int64_t(u64(v));
    }
    pos += 4 + padded;
  }
  interfaces_.push_back(ifc);
  return ParseStatus::kRecord;
}

uint64_t PcapParser::scale_ts(const Interface& ifc, uint64_t units) const {
  u128 ns;
  if (ifc.tsres_pow2) {
    ns = (u128(units) * 1000000000u) >> ifc.tsres_exp;
  } else if (ifc.tsres_exp <= 9) {
    ns = u128(units) * kPow10[9 - ifc.tsres_exp];
  } else if (ifc.tsres_exp - 9 < int(std::size(kPow10))) {
    ns = units / kPow10[ifc.tsres_exp - 9];
  } else {
    ns = 0;
  }
  i128 t = i128(ns) + i128(ifc.tsoffset_s) * 1000000000;
  if (t < 0) return 0;
  if (t > i128(UINT64_MAX)) return UINT64_MAX;
  return uint64_t(t);
}

ParseStatus PcapParser::packet_block(uint32_t type, const uint8_t* body, uint32_t body_len,
                                     uint64_t at, PcapRecord* rec) {
  uint32_t ifid, caplen, wirelen;
  uint64_t units = 0;
  const uint8_t* data;
  if (type == kBlockSpb) {
    if (body_len < 4) return fail(at, "simple packet block too short");
    ifid = 0;
    wirelen = u32(body);
    caplen = std::min(wirelen, body_len - 4);
    data = body + 4;
  } else {
    if (body_len < 20)
      return fail(at, strf("packet block body of %u bytes is too short", body_len));
    if (type == kBlockEpb) {
      ifid = u32(body);
    } else {
      ifid = u16(body);  // OPB: 16-bit interface id, then a 16-bit drop count
    }
    units = uint64_t(u32(body + 4)) << 32 | u32(body + 8);
    caplen = u32(body + 12);
    wirelen = u32(body + 16);
    data = body + 20;
    if (caplen > body_len - 20)
      return fail(at, strf("packet length %u runs past its block of %u bytes", caplen, body_len + 12));
  }
  if (ifid >= interfaces_.size())
    return fail(at, strf("packet for interface %u, but the section describes %zu", ifid,
                           interfaces_.size()));
  const Interface& ifc = interfaces_[ifid];
  if (type == kBlockSpb && ifc.snaplen != 0) caplen = std::min(caplen, ifc.snaplen);
  if (caplen > kMaxCaplen)
    return fail(at, strf("record length %u exceeds the %u-byte limit", caplen, kMaxCaplen));
  rec->data = data;
  rec->caplen = caplen;
  rec->wirelen = std::max(wirelen, caplen);
  // A Simple Packet Block has no time; the previous packet's keeps the
  // clock monotonic for flow timeouts.
  rec->ts_ns = type == kBlockSpb ? last_ts_ns_ : scale_ts(ifc, units);
  last_ts_ns_ = rec->ts_ns;
  rec->linktype = ifc.linktype;
  rec->interface_id = ifid;
  rec->offset = at;
  return ParseStatus::kRecord;
}

ParseStatus PcapParser::parse_pcapng(std::span<const uint8_t> w, PcapRecord* rec, size_t* consumed) {
  size_t pos = 0;
  for (;;) {
    *consumed = pos;
    const uint64_t at = offset_ + pos;
    const uint8_t* p = w.data() + pos;
    const size_t avail = w.size() - pos;
    if (avail < 8) return need(at, 8, Pending::kBlockHeader);
    // The section header's type reads the same in both byte orders; it
    // sets the order for what follows.
    if (le32(p) == kBlockShb) {
      size_t len = 0;
      ParseStatus st = read_shb(p, avail, at, &len);
      if (st != ParseStatus::kRecord) return st;
      pos += len;
      continue;
    }
    if (!header_seen_) return fail(at, "pcapng stream does not start with a section header");
    const uint32_t type = u32(p);
    const uint32_t block_len = u32(p + 4);
    if (block_len < 12 || block_len % 4 != 0)
      return fail(at, strf("block type 0x%08x has an invalid length %u", type, block_len));
    if (block_len > kMaxBlockLen)
      return fail(at, strf("block type 0x%08x length %u exceeds the %u-byte limit", type,
                             block_len, kMaxBlockLen));
    if (avail < block_len) return need(at, block_len, Pending::kBlock, type);
    const uint32_t trailer = u32(p + block_len - 4);
    if (trailer != block_len)
      return fail(at, strf("block type 0x%08x length %u does not match its trailer %u", type,
                             block_len, trailer));
    const uint8_t* body = p + 8;
    const uint32_t body_len = block_len - 12;
    switch (type) {
      case kBlockIdb: {
        ParseStatus st = read_idb(body, body_len, at);
        if (st != ParseStatus::kRecord) return st;
        break;
      }
      case kBlockEpb:
      case kBlockSpb:
      case kBlockOpb: {
        ParseStatus st = packet_block(type, body, body_len, at, rec);
        if (st == ParseStatus::kRecord) *consumed = pos + block_len;
        return st;
      }
      default:
        break;  // statistics, name resolution, secrets, custom: not ours
    }
    pos += block_len;
  }
}

void PcapParser::feed(std::span<const uint8_t> chunk) {
  if (head_ > 0) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + head_);
    head_ = 0;
  }
  buffer_.insert(buffer_.end(), chunk.begin(), chunk.end());
}

ParseStatus PcapParser::next(PcapRecord* rec) {
  size_t consumed = 0;
  ParseStatus st = parse({buffer_.data() + head_, buffer_.size() - head_}, rec, &consumed);
  head_ += consumed;
  return st;
}

bool PcapParser::finish(size_t pending) {
  if (failed_) return false;
  if (pending == 0) {
    if (header_seen_) return true;
    fail(offset_, "stream ended before a file header: not a capture file");
    return false;
  }
  const uint64_t at = pending_at_;
  switch (pending_) {
    case Pending::kFileHeader:
      fail(at, strf("file header truncated (%zu of %" PRIu64 " bytes)", pending, pending_bytes_));
      break;
    case Pending::kRecordHeader:
      fail(at, strf("record header truncated (%zu of %" PRIu64 " bytes)", pending, pending_bytes_));
      break;
    case Pending::kRecord:
      fail(at, strf("record truncated (%zu of %" PRIu64 " bytes)", pending, pending_bytes_));
      break;
    case Pending::kBlockHeader:
      fail(at, strf("block header truncated (%zu of %" PRIu64 " bytes)", pending, pending_bytes_));
      break;
    case Pending::kBlock:
      fail(at, strf("block type 0x%08x of length %" PRIu64 " runs past the end (%zu bytes left)",
                      pending_detail_, pending_bytes_, pending));
      break;
    case Pending::kNothing:
      fail(offset_, strf("stream ended inside a record (%zu bytes left)", pending));
      break;
  }
  return false;
}

}  // namespace ws
