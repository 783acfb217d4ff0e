// A small IPFIX / NetFlow v9 decoder for tests, written from RFC 7011 and
// RFC 3954 and independent of the encoder under test: it keeps templates
// across messages like a collector, checks set framing, and hands back
// every data record as a map from (enterprise, element id) to raw bytes.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace ws::testing {

struct DecodedField {
  uint16_t id = 0;
  uint32_t pen = 0;
  uint16_t length = 0;
};

struct DecodedTemplate {
  uint16_t id = 0;
  std::vector<DecodedField> fields;
  size_t record_length() const {
    size_t n = 0;
    for (const auto& f : fields) n += f.length;
    return n;
  }
};

struct DecodedRecord {
  uint16_t template_id = 0;
  std::map<std::pair<uint32_t, uint16_t>, std::vector<uint8_t>> values;

  bool has(uint16_t id, uint32_t pen = 0) const { return values.count({pen, id}) != 0; }
  // Big-endian unsigned value of the element, any length up to 8.
  uint64_t num(uint16_t id, uint32_t pen = 0) const {
    auto it = values.find({pen, id});
    if (it == values.end()) return ~uint64_t(0);
    uint64_t v = 0;
    for (uint8_t b : it->second) v = v << 8 | b;
    return v;
  }
  std::vector<uint8_t> bytes(uint16_t id, uint32_t pen = 0) const {
    auto it = values.find({pen, id});
    return it == values.end() ? std::vector<uint8_t>{} : it->second;
  }
};

struct DecodedMessage {
  uint16_t version = 0;
  uint16_t length_or_count = 0;  // IPFIX: message length; v9: record count
  uint32_t export_time = 0;      // IPFIX export time / v9 unix_secs
  uint32_t sys_uptime = 0;       // v9 only
  uint32_t sequence = 0;
  uint32_t domain = 0;
  size_t size = 0;                         // bytes of the datagram
  std::vector<DecodedTemplate> templates;  // template records in this message
  std::vector<DecodedRecord> records;      // data records in this message
  std::vector<uint16_t> set_ids;           // in order
  uint16_t last_set_id = 0;
  std::string error;  // empty when the message decoded cleanly
};

class FlowMessageDecoder {
 public:
  DecodedMessage decode(std::span<const uint8_t> m) {
    DecodedMessage out;
    out.size = m.size();
    if (m.size() < 16) return fail(out, "short header");
    out.version = be16(m, 0);
    size_t pos;
    if (out.version == 10) {
      out.length_or_count = be16(m, 2);
      out.export_time = be32(m, 4);
      out.sequence = be32(m, 8);
      out.domain = be32(m, 12);
      if (out.length_or_count != m.size()) return fail(out, "ipfix length != datagram size");
      pos = 16;
    } else if (out.version == 9) {
      if (m.size() < 20) return fail(out, "short v9 header");
      out.length_or_count = be16(m, 2);
      out.sys_uptime = be32(m, 4);
      out.export_time = be32(m, 8);
      out.sequence = be32(m, 12);
      out.domain = be32(m, 16);
      pos = 20;
    } else {
      return fail(out, "unknown version");
    }
    const bool ipfix = out.version == 10;
    size_t v9_records = 0;
    while (pos < m.size()) {
      if (m.size() - pos < 4) return fail(out, "trailing bytes shorter than a set header");
      const uint16_t set_id = be16(m, pos);
      const uint16_t set_len = be16(m, pos + 2);
      if (set_len < 4 || pos + set_len > m.size()) return fail(out, "bad set length");
      if (!ipfix && set_len % 4 != 0) return fail(out, "v9 flowset not padded to 4 bytes");
      out.set_ids.push_back(set_id);
      const size_t end = pos + set_len;
      size_t p = pos + 4;
      if (set_id == (ipfix ? 2 : 0)) {
        while (end - p >= 4) {
          DecodedTemplate t;
          t.id = be16(m, p);
          const uint16_t count = be16(m, p + 2);
          p += 4;
          if (t.id == 0 && count == 0) break;  // padding
          for (uint16_t i = 0; i < count; ++i) {
            if (end - p < 4) return fail(out, "template field past set end");
            DecodedField f;
            f.id = be16(m, p);
            f.length = be16(m, p + 2);
            p += 4;
            if (ipfix && (f.id & 0x8000)) {
              if (end - p < 4) return fail(out, "enterprise number past set end");
              f.id &= 0x7fff;
              f.pen = be32(m, p);
              p += 4;
            }
            t.fields.push_back(f);
          }
          known_[t.id] = t;
          out.templates.push_back(t);
          ++v9_records;
        }
        if (p != end && !(end - p < 4)) return fail(out, "template set has stray bytes");
      } else if (set_id >= 256) {
        auto it = known_.find(set_id);
        if (it == known_.end()) return fail(out, "data set for unknown template " + std::to_string(set_id));
        const DecodedTemplate& t = it->second;
        const size_t rl = t.record_length();
        if (rl == 0) return fail(out, "empty template");
        while (end - p >= rl) {
          DecodedRecord r;
          r.template_id = set_id;
          for (const auto& f : t.fields) {
            r.values[{f.pen, f.id}] = std::vector<uint8_t>(m.begin() + p, m.begin() + p + f.length);
            p += f.length;
          }
          out.records.push_back(std::move(r));
          ++v9_records;
        }
        if (ipfix && p != end) return fail(out, "ipfix data set has trailing bytes");
        if (!ipfix && end - p >= 4) return fail(out, "v9 padding of 4 or more bytes");
      } else {
        return fail(out, "unexpected set id " + std::to_string(set_id));
      }
      pos = end;
    }
    if (!ipfix && out.length_or_count != v9_records) return fail(out, "v9 count != records in packet");
    return out;
  }

  static uint16_t be16(std::span<const uint8_t> m, size_t at) { return uint16_t(m[at] << 8 | m[at + 1]); }
  static uint32_t be32(std::span<const uint8_t> m, size_t at) {
    return uint32_t(m[at]) << 24 | uint32_t(m[at + 1]) << 16 | uint32_t(m[at + 2]) << 8 | m[at + 3];
  }

 private:
  static DecodedMessage fail(DecodedMessage& m, std::string why) {
    m.error = std::move(why);
    return m;
  }
  std::map<uint16_t, DecodedTemplate> known_;
};

}  // namespace ws::testing
