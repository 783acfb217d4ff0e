// Drives the QoS policy parser over arbitrary text (the body of PUT
// /api/v1/qos/policies/{name}). Every input ends in a policy or an error
// that names a field and a reason, never both or neither. A policy that
// parses is compiled into a snapshot and a fixed set of frames goes through
// a QosStage (classify, police, mark, shape, drain) against it, so whatever
// the parser accepts the worker can run; sanitizers catch the rest.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "dataplane/qos/stage.h"

namespace {

// An Ethernet + IPv4/IPv6 + TCP/UDP frame as QosStage sees it: the
// decode fields it reads, filled by hand so no decoder is needed.
struct TestFrame {
  uint8_t bytes[128] = {};
  ws::Decoded dec{};
};

TestFrame make(uint8_t family, uint8_t proto, uint16_t sport, uint16_t dport, uint8_t tos, uint16_t vlan) {
  TestFrame f;
  f.dec.key.family = family;
  f.dec.key.proto = proto;
  f.dec.key.sport = sport;
  f.dec.key.dport = dport;
  f.dec.key.src[0] = 10;
  f.dec.key.dst[0] = family == 6 ? 0x20 : 192;
  f.dec.tos = tos;
  f.dec.l3_off = 14;
  if (vlan) {
    f.dec.vlan[0] = vlan;
    f.dec.vlan_count = 1;
  }
  f.bytes[14] = family == 6 ? 0x60 : 0x45;
  f.bytes[15] = tos;
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  ws::QosPolicy p;
  const std::string err = ws::parse_qos_policy_text(text, &p);
  if (!err.empty()) {
    if (err.find(": ") == std::string::npos) abort();  // "<field path>: <reason>"
    return 0;
  }
  for (const ws::QosClass& c : p.classes) {
    if (!ws::check_qos_name(c.name).empty()) abort();
    if (c.shape.enabled && (c.shape.queue_bytes == 0 || c.shape.queue_bytes > ws::kQosMaxQueueBytes)) abort();
  }
  // Small queues only: a fuzzer's 64 MiB queue per run would be slow, not wrong.
  for (ws::QosClass& c : p.classes)
    if (c.shape.enabled) c.shape.queue_bytes = std::min<uint64_t>(c.shape.queue_bytes, 1 << 16);
  ws::QosSlot slot(1);
  slot.publish(ws::build_qos_snapshot({{"fuzz", p}}, nullptr, 1));
  ws::QosStage stage(&slot, 0);
  stage.begin_burst();
  TestFrame frames[] = {make(4, 6, 40000, 5201, 0xb8, 0), make(6, 17, 53, 5353, 0x01, 30),
                        make(4, 1, 0, 0, 0, 4095), make(4, 17, 5060, 5060, 46 << 2, 0)};
  const char* apps[] = {"", "TLS.Google", "DNS", "HTTP"};
  uint64_t now = 1'000'000'000, emitted = 0;
  for (int i = 0; i < 64; ++i) {
    TestFrame& f = frames[i % 4];
    const uint32_t len = 60 + (i * 37) % 68;
    stage.apply(f.bytes, len, f.dec, apps[i % 4], i % 2, 1, now);
    now += 1000 * (i % 5);
    stage.drain(now, [&](const uint8_t*, uint32_t n, uint16_t) { emitted += n; });
  }
  // Deleting the policy flushes whatever is queued.
  slot.publish(ws::build_qos_snapshot({}, slot.current(), 1));
  stage.begin_burst();
  stage.drain(now, [&](const uint8_t*, uint32_t n, uint16_t) { emitted += n; });
  if (stage.queued_frames() != 0) abort();
  return 0;
}
