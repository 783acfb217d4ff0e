#include "telemetry/ipfix_encoder.h"

#include <cstring>

namespace ws {

namespace {

constexpr size_t kIpfixHeader = 16;
constexpr size_t kNetflow9Header = 20;
constexpr uint16_t kIpfixTemplateSet = 2;
constexpr uint16_t kNetflow9TemplateSet = 0;

void put16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}

void put32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24);
  p[1] = uint8_t(v >> 16);
  p[2] = uint8_t(v >> 8);
  p[3] = uint8_t(v);
}

// Big-endian, the low `len` bytes of v (reduced-size encoding, RFC 7011 6.2).
void put_uint(uint8_t* p, uint64_t v, size_t len) {
  for (size_t i = 0; i < len; ++i) {
    p[len - 1 - i] = i < 8 ? uint8_t(v >> (8 * i)) : 0;
  }
}

size_t align4(size_t n) {
  return (n + 3) & ~size_t(3);
}

ExportRecord one_direction(const FlowRecord& rec, int d) {
  ExportRecord r;
  r.family = rec.key.family;
  r.protocol = rec.key.proto;
  r.vlan = rec.vlan[0];
  r.ingress = rec.ifindex;
  r.end_reason = uint8_t(rec.reason);
  const size_t name_len = strnlen(rec.app.protocol, sizeof rec.app.protocol);
  std::memcpy(r.app_name, rec.app.protocol, name_len < kAppNameLength ? name_len : kAppNameLength);
  const bool swap = d == 1;
  std::memcpy(r.src, swap ? rec.key.dst : rec.key.src, 16);
  std::memcpy(r.dst, swap ? rec.key.src : rec.key.dst, 16);
  const bool icmp =
      (rec.key.family == 4 && rec.key.proto == 1) || (rec.key.family == 6 && rec.key.proto == 58);
  if (icmp) {
    // nfdump and softflowd read ICMP type/code from the destination port.
    r.src_port = 0;
    r.dst_port = uint16_t(rec.icmp_type[d] << 8 | rec.icmp_code[d]);
    r.icmp_type_code = r.dst_port;
  } else {
    r.src_port = swap ? rec.key.dport : rec.key.sport;
    r.dst_port = swap ? rec.key.sport : rec.key.dport;
  }
  r.fwd.octets = rec.l3_bytes[d];
  r.fwd.packets = rec.pkts[d];
  r.fwd.start_ns = rec.dir_start_ns[d];
  r.fwd.end_ns = rec.dir_end_ns[d];
  r.fwd.tcp_flags = rec.tcp_flags[d];
  return r;
}

}  // namespace

size_t to_export_records(const FlowRecord& rec, bool biflow, ExportRecord out[2]) {
  if (rec.key.family != 4 && rec.key.family != 6) return 0;
  if (rec.pkts[0] == 0 && rec.pkts[1] == 0) return 0;
  if (!biflow) {
    size_t n = 0;
    for (int d = 0; d < 2; ++d) {
      if (rec.pkts[d] > 0) out[n++] = one_direction(rec, d);
    }
    return n;
  }
  out[0] = one_direction(rec, 0);
  out[0].fwd.start_ns = rec.start_ns;
  out[0].fwd.end_ns = rec.end_ns;
  out[0].rev.octets = rec.l3_bytes[1];
  out[0].rev.packets = rec.pkts[1];
  out[0].rev.start_ns = rec.dir_start_ns[1];
  out[0].rev.end_ns = rec.dir_end_ns[1];
  out[0].rev.tcp_flags = rec.tcp_flags[1];
  return 1;
}

MessageEncoder::MessageEncoder(EncoderConfig cfg) : cfg_(std::move(cfg)) {
  buf_.reserve(cfg_.mtu);
  if (cfg_.boot_ns != 0) {
    boot_ms_ = cfg_.boot_ns / 1000000;
    boot_known_ = true;
  }
}

size_t MessageEncoder::header_length() const {
  return cfg_.format == MessageFormat::kIpfix ? kIpfixHeader : kNetflow9Header;
}

size_t MessageEncoder::template_set_length() const {
  size_t n = 4;
  for (const RecordTemplate& t : cfg_.templates) {
    n += 4;
    for (const TemplateField& f : t.fields) {
      n += 4 + (cfg_.format == MessageFormat::kIpfix && f.enterprise != 0 ? 4 : 0);
    }
  }
  return n;
}

uint32_t MessageEncoder::record_length(const RecordTemplate& t, const ExportRecord&) const {
  uint32_t n = 0;
  for (const TemplateField& f : t.fields) n += f.length;
  return n;
}

uint32_t MessageEncoder::min_mtu() const {
  uint32_t largest = 0;
  for (const RecordTemplate& t : cfg_.templates) {
    const uint32_t n = record_length(t, ExportRecord{});
    if (n > largest) largest = n;
  }
  const size_t n = header_length() + template_set_length() + 4 + largest;
  return uint32_t(cfg_.format == MessageFormat::kNetflow9 ? align4(n) : n);
}

void MessageEncoder::restart_session() {
  sequence_ = 0;
  templates_due_ = true;
}

void MessageEncoder::begin() {
  buf_.clear();
  buf_.resize(header_length());
  data_records_ = 0;
  template_records_ = 0;
  open_template_ = -1;
  open_ = true;
  if (templates_due_) {
    write_templates();
    templates_due_ = false;
    had_templates_ = true;
  } else {
    had_templates_ = false;
  }
}

void MessageEncoder::write_templates() {
  const bool ipfix = cfg_.format == MessageFormat::kIpfix;
  const size_t start = buf_.size();
  buf_.resize(start + template_set_length());
  uint8_t* p = buf_.data() + start;
  put16(p, ipfix ? kIpfixTemplateSet : kNetflow9TemplateSet);
  put16(p + 2, uint16_t(template_set_length()));
  p += 4;
  for (const RecordTemplate& t : cfg_.templates) {
    put16(p, t.id);
    put16(p + 2, uint16_t(t.fields.size()));
    p += 4;
    for (const TemplateField& f : t.fields) {
      const bool ent = ipfix && f.enterprise != 0;
      put16(p, uint16_t(f.id | (ent ? 0x8000 : 0)));
      put16(p + 2, f.length);
      p += 4;
      if (ent) {
        put32(p, f.enterprise);
        p += 4;
      }
    }
    ++template_records_;
  }
}

void MessageEncoder::close_set() {
  if (open_template_ < 0) return;
  if (cfg_.format == MessageFormat::kNetflow9) {
    // RFC 3954 5.3: flowsets are padded to a 32-bit boundary.
    buf_.resize(set_start_ + align4(buf_.size() - set_start_), 0);
  }
  put16(buf_.data() + set_start_ + 2, uint16_t(buf_.size() - set_start_));
  open_template_ = -1;
}

MessageEncoder::Add MessageEncoder::add(const ExportRecord& rec) {
  int idx = -1;
  for (size_t i = 0; i < cfg_.templates.size(); ++i) {
    if (cfg_.templates[i].family == rec.family) {
      idx = int(i);
      break;
    }
  }
  if (idx < 0) return Add::kNoTemplate;
  const RecordTemplate& t = cfg_.templates[size_t(idx)];
  const size_t len = record_length(t, rec);

  // Size of the message with this record in it, padding of a v9 set included.
  const bool fresh = !open_;
  const size_t now_len = fresh ? header_length() + (templates_due_ ? template_set_length() : 0) : buf_.size();
  size_t need;
  if (!fresh && open_template_ == idx) {
    need = now_len + len;
  } else {
    const size_t closed = cfg_.format == MessageFormat::kNetflow9 && !fresh && open_template_ >= 0
                              ? set_start_ + align4(now_len - set_start_)
                              : now_len;
    need = closed + 4 + len;
  }
  if (cfg_.format == MessageFormat::kNetflow9) need = align4(need);
  if (need > cfg_.mtu) return fresh ? Add::kTooLarge : Add::kFull;

  if (!boot_known_) {
    // No boot time given: the first record's start becomes uptime 0.
    uint64_t first = rec.fwd.start_ns;
    if (rec.rev.start_ns != 0 && (first == 0 || rec.rev.start_ns < first)) first = rec.rev.start_ns;
    boot_ms_ = first / 1000000;
    boot_known_ = true;
  }
  if (fresh) begin();
  if (open_template_ != idx) {
    close_set();
    set_start_ = buf_.size();
    buf_.resize(set_start_ + 4);
    put16(buf_.data() + set_start_, t.id);
    open_template_ = idx;
  }
  write_record(t, rec);
  ++data_records_;
  return Add::kAdded;
}

uint32_t MessageEncoder::uptime_ms(uint64_t ns) {
  const uint64_t ms = ns / 1000000;
  if (ms < boot_ms_) {
    ++clamped_times_;
    return 0;
  }
  return uint32_t(ms - boot_ms_);
}

void MessageEncoder::write_record(const RecordTemplate& t, const ExportRecord& rec) {
  const size_t start = buf_.size();
  buf_.resize(start + record_length(t, rec));
  uint8_t* p = buf_.data() + start;
  for (const TemplateField& f : t.fields) {
    uint64_t v = 0;
    switch (f.value) {
      case FlowField::kOctets:
        v = rec.fwd.octets;
        break;
      case FlowField::kPackets:
        v = rec.fwd.packets;
        break;
      case FlowField::kTcpFlags:
        v = rec.fwd.tcp_flags;
        break;
      case FlowField::kRevOctets:
        v = rec.rev.octets;
        break;
      case FlowField::kRevPackets:
        v = rec.rev.packets;
        break;
      case FlowField::kRevTcpFlags:
        v = rec.rev.tcp_flags;
        break;
      case FlowField::kStartMs:
        v = rec.fwd.start_ns / 1000000;
        break;
      case FlowField::kEndMs:
        v = rec.fwd.end_ns / 1000000;
        break;
      case FlowField::kRevStartMs:
        v = rec.rev.start_ns / 1000000;
        break;
      case FlowField::kRevEndMs:
        v = rec.rev.end_ns / 1000000;
        break;
      case FlowField::kStartUptime:
        v = uptime_ms(rec.fwd.start_ns);
        break;
      case FlowField::kEndUptime:
        v = uptime_ms(rec.fwd.end_ns);
        break;
      case FlowField::kProtocol:
        v = rec.protocol;
        break;
      case FlowField::kSrcPort:
        v = rec.src_port;
        break;
      case FlowField::kDstPort:
        v = rec.dst_port;
        break;
      case FlowField::kIcmpTypeCode:
        v = rec.icmp_type_code;
        break;
      case FlowField::kEndReason:
        v = rec.end_reason;
        break;
      case FlowField::kVlan:
        v = rec.vlan;
        break;
      case FlowField::kIngress:
        v = rec.ingress;
        break;
      case FlowField::kSrcIpv4:
      case FlowField::kSrcIpv6:
        std::memcpy(p, rec.src, f.length <= 16 ? f.length : 16);
        p += f.length;
        continue;
      case FlowField::kDstIpv4:
      case FlowField::kDstIpv6:
        std::memcpy(p, rec.dst, f.length <= 16 ? f.length : 16);
        p += f.length;
        continue;
      case FlowField::kAppName: {
        const size_t n = f.length < kAppNameLength ? f.length : kAppNameLength;
        std::memcpy(p, rec.app_name, n);
        std::memset(p + n, 0, f.length - n);
        p += f.length;
        continue;
      }
    }
    put_uint(p, v, f.length);
    p += f.length;
  }
}

std::span<const uint8_t> MessageEncoder::finish(uint64_t export_ns) {
  if (!open_) return {};
  close_set();
  uint8_t* h = buf_.data();
  if (cfg_.format == MessageFormat::kIpfix) {
    put16(h, 10);
    put16(h + 2, uint16_t(buf_.size()));
    put32(h + 4, uint32_t(export_ns / 1000000000ull));
    put32(h + 8, sequence_);
    put32(h + 12, cfg_.domain);
    sequence_ += data_records_;
  } else {
    // Export time rounded up to a whole second, with sysUptime taken at that
    // same instant: collectors compute boot = unix_secs*1000 - sysUptime,
    // which is then exact to the millisecond, and no record ends after the
    // export time.
    const uint64_t secs = (export_ns + 999999999ull) / 1000000000ull;
    const uint64_t ms = secs * 1000;
    put16(h, 9);
    put16(h + 2, uint16_t(template_records_ + data_records_));
    put32(h + 4, uint32_t(ms > boot_ms_ ? ms - boot_ms_ : 0));
    put32(h + 8, uint32_t(secs));
    put32(h + 12, sequence_);
    put32(h + 16, cfg_.domain);
    ++sequence_;
  }
  last_had_templates_ = had_templates_;
  open_ = false;
  data_records_ = 0;
  return {buf_.data(), buf_.size()};
}

}  // namespace ws
