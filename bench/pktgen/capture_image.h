// Capture-file images: classic pcap and pcapng files built whole in memory
// and written out with write_file() (pktgen::PcapWriter in builder.h, by
// contrast, streams records of the generator to a file). Capture tests use
// them to make exact files
// (either byte order, any timestamp resolution, several pcapng sections and
// interfaces, unknown blocks); tools use them to cut captures. Values are
// written as given: an EPB takes its time in the interface's own units, so
// a reader's conversion is checked against numbers computed independently.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ws {

class PcapImage {
 public:
  struct Options {
    bool big_endian = false;
    bool nanos = false;  // nanosecond magic 0xa1b23c4d
    uint32_t snaplen = 65535;
    uint32_t linktype = 1;
  };

  explicit PcapImage(const Options& opts);

  // One record. `wirelen` 0 means frame.size().
  void add(std::span<const uint8_t> frame, uint64_t ts_ns, uint32_t wirelen = 0);
  // A record header with any values followed by `data`, so that a test can
  // claim a length that differs from the bytes present.
  void add_raw(uint32_t ts_sec, uint32_t ts_frac, uint32_t caplen, uint32_t wirelen,
               std::span<const uint8_t> data);

  const std::vector<uint8_t>& bytes() const { return out_; }

 private:
  void put32(uint32_t v);
  void put16(uint16_t v);

  Options opts_;
  std::vector<uint8_t> out_;
};

class PcapngImage {
 public:
  // Starts the first section.
  explicit PcapngImage(bool big_endian = false);

  // Starts another section; interface ids restart at 0.
  void section(bool big_endian);

  // Describes an interface and returns its id in the section. `tsresol` is
  // the raw if_tsresol byte (e.g. 9 for ns, 0x80|20 for 2^-20 s), -1 to
  // leave the option out (microseconds).
  uint32_t interface(uint16_t linktype, uint32_t snaplen = 0, int tsresol = -1,
                     int64_t tsoffset_s = 0);

  // Enhanced Packet Block; `ts_units` in the interface's resolution.
  void epb(uint32_t ifid, std::span<const uint8_t> frame, uint64_t ts_units, uint32_t wirelen = 0);
  // Simple Packet Block (interface 0, no time).
  void spb(std::span<const uint8_t> frame, uint32_t wirelen = 0);
  // Obsolete Packet Block.
  void opb(uint16_t ifid, std::span<const uint8_t> frame, uint64_t ts_units, uint32_t wirelen = 0);
  // Any block, e.g. one a reader must skip.
  void block(uint32_t type, std::span<const uint8_t> body);

  const std::vector<uint8_t>& bytes() const { return out_; }

 private:
  void put32(uint32_t v);
  void put16(uint16_t v);
  void pad();
  size_t begin_block(uint32_t type);
  void end_block(size_t start);

  bool big_ = false;
  uint32_t interfaces_ = 0;
  std::vector<uint8_t> out_;
};

// Writes `bytes` to `path`; false with *error set on failure.
bool write_file(const std::string& path, std::span<const uint8_t> bytes, std::string* error);

}  // namespace ws
