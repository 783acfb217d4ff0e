#include "bench/pktgen/capture_image.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace ws {

PcapImage::PcapImage(const Options& opts) : opts_(opts) {
  put32(opts.nanos ? 0xa1b23c4d : 0xa1b2c3d4);
  put16(2);
  put16(4);
  put32(0);  // thiszone
  put32(0);  // sigfigs
  put32(opts.snaplen);
  put32(opts.linktype);
}

void PcapImage::put32(uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out_.push_back(uint8_t(opts_.big_endian ? v >> (24 - 8 * i) : v >> (8 * i)));
}

void PcapImage::put16(uint16_t v) {
  for (int i = 0; i < 2; ++i)
    out_.push_back(uint8_t(opts_.big_endian ? v >> (8 - 8 * i) : v >> (8 * i)));
}

void PcapImage::add(std::span<const uint8_t> frame, uint64_t ts_ns, uint32_t wirelen) {
  const uint32_t sec = uint32_t(ts_ns / 1000000000u);
  const uint32_t ns = uint32_t(ts_ns % 1000000000u);
  add_raw(sec, opts_.nanos ? ns : ns / 1000u, uint32_t(frame.size()),
          wirelen ? wirelen : uint32_t(frame.size()), frame);
}

void PcapImage::add_raw(uint32_t ts_sec, uint32_t ts_frac, uint32_t caplen, uint32_t wirelen,
                         std::span<const uint8_t> data) {
  put32(ts_sec);
  put32(ts_frac);
  put32(caplen);
  put32(wirelen);
  out_.insert(out_.end(), data.begin(), data.end());
}

PcapngImage::PcapngImage(bool big_endian) { section(big_endian); }

void PcapngImage::put32(uint32_t v) {
  for (int i = 0; i < 4; ++i) out_.push_back(uint8_t(big_ ? v >> (24 - 8 * i) : v >> (8 * i)));
}

void PcapngImage::put16(uint16_t v) {
  for (int i = 0; i < 2; ++i) out_.push_back(uint8_t(big_ ? v >> (8 - 8 * i) : v >> (8 * i)));
}

void PcapngImage::pad() {
  while (out_.size() % 4 != 0) out_.push_back(0);
}

size_t PcapngImage::begin_block(uint32_t type) {
  const size_t start = out_.size();
  put32(type);
  put32(0);  // length, patched by end_block
  return start;
}

void PcapngImage::end_block(size_t start) {
  pad();
  const uint32_t len = uint32_t(out_.size() - start + 4);
  put32(len);
  for (int i = 0; i < 4; ++i)
    out_[start + 4 + i] = uint8_t(big_ ? len >> (24 - 8 * i) : len >> (8 * i));
}

void PcapngImage::section(bool big_endian) {
  big_ = big_endian;
  interfaces_ = 0;
  const size_t b = begin_block(0x0A0D0D0A);
  put32(0x1A2B3C4D);
  put16(1);
  put16(0);
  put32(0xffffffff);  // section length unknown
  put32(0xffffffff);
  end_block(b);
}

uint32_t PcapngImage::interface(uint16_t linktype, uint32_t snaplen, int tsresol,
                                 int64_t tsoffset_s) {
  const size_t b = begin_block(1);
  put16(linktype);
  put16(0);
  put32(snaplen);
  if (tsresol >= 0) {
    put16(9);
    put16(1);
    out_.push_back(uint8_t(tsresol));
    pad();
  }
  if (tsoffset_s != 0) {
    put16(14);
    put16(8);
    const uint64_t v = uint64_t(tsoffset_s);
    if (big_) {
      put32(uint32_t(v >> 32));
      put32(uint32_t(v));
    } else {
      put32(uint32_t(v));
      put32(uint32_t(v >> 32));
    }
  }
  if (tsresol >= 0 || tsoffset_s != 0) {
    put16(0);  // opt_endofopt
    put16(0);
  }
  end_block(b);
  return interfaces_++;
}

void PcapngImage::epb(uint32_t ifid, std::span<const uint8_t> frame, uint64_t ts_units,
                       uint32_t wirelen) {
  const size_t b = begin_block(6);
  put32(ifid);
  put32(uint32_t(ts_units >> 32));
  put32(uint32_t(ts_units));
  put32(uint32_t(frame.size()));
  put32(wirelen ? wirelen : uint32_t(frame.size()));
  out_.insert(out_.end(), frame.begin(), frame.end());
  end_block(b);
}

void PcapngImage::spb(std::span<const uint8_t> frame, uint32_t wirelen) {
  const size_t b = begin_block(3);
  put32(wirelen ? wirelen : uint32_t(frame.size()));
  out_.insert(out_.end(), frame.begin(), frame.end());
  end_block(b);
}

void PcapngImage::opb(uint16_t ifid, std::span<const uint8_t> frame, uint64_t ts_units,
                       uint32_t wirelen) {
  const size_t b = begin_block(2);
  put16(ifid);
  put16(0);  // drops count
  put32(uint32_t(ts_units >> 32));
  put32(uint32_t(ts_units));
  put32(uint32_t(frame.size()));
  put32(wirelen ? wirelen : uint32_t(frame.size()));
  out_.insert(out_.end(), frame.begin(), frame.end());
  end_block(b);
}

void PcapngImage::block(uint32_t type, std::span<const uint8_t> body) {
  const size_t b = begin_block(type);
  out_.insert(out_.end(), body.begin(), body.end());
  end_block(b);
}

bool write_file(const std::string& path, std::span<const uint8_t> bytes, std::string* error) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) {
    *error = path + ": " + std::strerror(errno);
    return false;
  }
  // An empty span may have a null data(): fwrite's pointer must not be null.
  const bool ok = bytes.empty() || std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) {
    *error = path + ": write failed";
    return false;
  }
  return true;
}

}  // namespace ws
