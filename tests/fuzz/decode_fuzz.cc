// Drives Decoder::decode over arbitrary frames and feeds what it accepts
// into a small FlowTable, so that the flow table's state machine (TCP
// states, timeouts, active-timeout slices, eviction when full, 5-tuple
// reuse) is fuzzed with the decoder's real output.
//
// Input layout:
//   byte 0      link type: index into kLinks (all of LinkType)
//   byte 1      bit 0: the capture stripped an 802.1Q tag (kPktVlanStripped)
//               bit 1: checksum not ready (kPktChecksumNotReady)
//               bit 2: drop bad checksums (-k all)
//               bit 3: open IPv4 in IPv4 (decoder.ipv4_in_ipv4)
//               bits 4-5: defrag.policy (bsd, linux, first, last)
//   bytes 2-3   the stripped tag's TCI, big-endian
//   then frames, each: 2-byte little-endian length, 1 byte time step, the
//   frame bytes (a short last frame takes what is left).
// The time step is 100 ms units below 200 and whole minutes above, so a
// run crosses idle, active and fragment timeouts.
//
// Invariants checked (abort on violation): decoded offsets and payload lie
// inside the captured bytes, and so do those of every packet a tunnel
// carries (IP-in-IP, GRE, VXLAN, Geneve, Teredo; nested at most 3 deep);
// every fragment (of the frame or of a packet it carries) goes to a
// 4-tracker Defragmenter, and a datagram it completes lies within its
// buffer and decodes like any frame;
// the flow table never holds more than its
// capacity; every packet accounted to a flow comes out in exactly one
// record once the table is flushed (packets and bytes are conserved across
// idle, forced, reuse and active-timeout records).
//
// Seeds (tests/fuzz/corpus/decode/): the frames of tests/golden/*.pcap,
// re-framed in this layout and re-headed for each link type, and one frame
// per kind of tunnel (eth_tunnel_*).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "dataplane/decode.h"
#include "dataplane/defrag.h"
#include "dataplane/flow_table.h"
#include "dataplane/packet.h"

namespace {

constexpr ws::LinkType kLinks[] = {
    ws::LinkType::kEthernet, ws::LinkType::kNull, ws::LinkType::kRaw,  ws::LinkType::kLoop,
    ws::LinkType::kLinuxSll, ws::LinkType::kIpv4, ws::LinkType::kIpv6, ws::LinkType::kLinuxSll2,
    ws::LinkType::kPpp,
};

void check(bool ok) {
  if (!ok) std::abort();
}

// Sums what the table emits and checks each record on the way.
class Tally final : public ws::RecordSink {
 public:
  void put(const ws::FlowRecord& r) override {
    check(r.pkts[0] + r.pkts[1] > 0);
    check(r.start_ns <= r.end_ns);
    check(r.flow_start_ns <= r.start_ns);
    check(r.flow_id != 0);
    check(static_cast<uint8_t>(r.state) <= static_cast<uint8_t>(ws::FlowState::kClosed));
    check(static_cast<uint8_t>(r.tcp_state) <= static_cast<uint8_t>(ws::TcpState::kClosed));
    check(r.key.family == 4 || r.key.family == 6);
    check(r.vlan_count <= 2);
    pkts += r.pkts[0] + r.pkts[1];
    bytes += r.bytes[0] + r.bytes[1];
  }
  uint64_t pkts = 0;
  uint64_t bytes = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const ws::LinkType link = kLinks[data[0] % (sizeof kLinks / sizeof kLinks[0])];
  const uint8_t opts = data[1];
  const uint16_t tci = static_cast<uint16_t>((data[2] << 8) | data[3]);
  size_t pos = 4;

  ws::DecodeOptions dopt;
  dopt.checksum = (opts & 4) ? ws::ChecksumMode::kAll : ws::ChecksumMode::kNone;
  dopt.ipv4_in_ipv4 = (opts & 8) != 0;
  ws::Decoder dec(dopt);
  ws::DefragOptions fopt;
  fopt.trackers = 4;
  fopt.policy = static_cast<ws::DefragPolicy>((opts >> 4) & 3);
  ws::Defragmenter defrag(fopt);
  ws::Decoder redec(dopt);
  // A fragment into the defragmenter; a datagram it completes must lie in
  // its buffer and decode within itself.
  auto reassemble = [&](const ws::Packet& p, const ws::Decoded& d) {
    if (!(d.flags & ws::kDecFragment)) return;
    ws::Packet out;
    if (!defrag.add(p, d, out)) return;
    check(out.caplen > 0 && out.caplen <= ws::Defragmenter::kHeadRoom + ws::Defragmenter::kMaxData);
    check(out.caplen == out.wirelen);
    volatile uint8_t sink = out.data[0] ^ out.data[out.caplen - 1];
    (void)sink;
    ws::Decoded r;
    if (!redec.decode(out, r)) return;
    check(!(r.flags & ws::kDecFragment));
    check(size_t{r.payload_off} + r.payload_len <= out.caplen);
  };

  ws::FlowTableConfig cfg;
  cfg.capacity = 64;
  cfg.active_timeout_s = 120;
  Tally tally;
  ws::FlowTable table(cfg, &tally);

  uint64_t now = 1700000000ull * 1000000000ull;
  uint64_t accounted_pkts = 0, accounted_bytes = 0;
  while (pos < size) {
    size_t len = size - pos;
    uint8_t step = 0;
    if (len >= 3) {
      len = std::min<size_t>(size_t{data[pos]} | (size_t{data[pos + 1]} << 8), size - pos - 3);
      step = data[pos + 2];
      pos += 3;
    }
    now += step < 200 ? uint64_t{step} * 100000000ull : uint64_t{step - 199u} * 60000000000ull;

    ws::Packet p;
    p.data = data + pos;
    p.caplen = static_cast<uint32_t>(len);
    p.wirelen = static_cast<uint32_t>(len);
    p.ts_ns = now;
    p.link = link;
    if (opts & 1) {
      p.flags |= ws::kPktVlanStripped;
      p.vlan_tci = tci;
    }
    if (opts & 2) p.flags |= ws::kPktChecksumNotReady;
    pos += len;

    ws::Decoded d;
    if (!dec.decode(p, d)) continue;
    check(d.key.family == 4 || d.key.family == 6);
    check(d.vlan_count <= 2);
    check(d.frame_len >= p.wirelen);
    check(d.l3_off <= p.caplen);
    check(d.l4_off <= p.caplen);
    check(size_t{d.payload_off} + d.payload_len <= p.caplen);
    if (d.payload_len) {
      // Touch the payload bytes: ASan reports any that lie outside the frame.
      volatile uint8_t sink = p.data[d.payload_off] ^ p.data[d.payload_off + d.payload_len - 1];
      (void)sink;
    }

    reassemble(p, d);
    // Tunnels: every inner packet the frame carries decodes within it too.
    for (ws::Decoded outer = d, in; outer.inner != ws::Inner::kNone && dec.decode_inner(p, outer, in); outer = in) {
      reassemble(p, in);
      check(in.key.family == 4 || in.key.family == 6);
      check(in.depth == outer.depth + 1 && in.depth <= 3);
      check(in.pkt_src != ws::PktSrc::kWire);
      check(in.l3_off >= outer.payload_off && in.l3_off <= p.caplen);
      check(size_t{in.payload_off} + in.payload_len <= p.caplen);
      check(in.frame_len <= p.caplen);
    }

    const ws::FlowEntry* e = table.update(p, d);
    check(e != nullptr && e->in_use);
    check(e->key == d.key || e->key == d.key.reversed());
    check(table.active() <= table.capacity());
    accounted_pkts += 1;
    accounted_bytes += d.frame_len;
    table.advance(now);
    check(table.active() <= table.capacity());
    check(table.find(d.key) == nullptr || table.find(d.key)->in_use);
  }
  table.flush_all(ws::FlowEndReason::kShutdown);
  check(table.active() == 0);
  check(tally.pkts == accounted_pkts);
  check(tally.bytes == accounted_bytes);
  return 0;
}
