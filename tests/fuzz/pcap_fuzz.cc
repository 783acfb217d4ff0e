// Drives PcapParser over arbitrary bytes: once over the whole input with
// parse() (as the file source does), then fed in chunks whose sizes come
// from the input itself (as a network stream arrives). Both must agree on
// the records and on whether the stream ended cleanly; sanitizers catch any
// read outside the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "dataplane/capture/pcap_parser.h"

namespace {

struct Seen {
  uint32_t caplen, wirelen;
  uint64_t ts_ns, offset;
  uint32_t linktype;
  uint32_t sum;  // of the record bytes: touches every byte it points at
  bool operator==(const Seen&) const = default;
};

Seen seen(const ws::PcapRecord& r) {
  uint32_t sum = 0;
  for (uint32_t i = 0; i < r.caplen; ++i) sum = sum * 31 + r.data[i];
  return {r.caplen, r.wirelen, r.ts_ns, r.offset, r.linktype, sum};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // The first byte seeds the chunk sizes; the rest is the stream.
  const uint8_t seed = data[0];
  const uint8_t* s = data + 1;
  const size_t n = size - 1;

  std::vector<Seen> whole;
  ws::PcapParser a;
  size_t pos = 0;
  bool a_clean;
  for (;;) {
    ws::PcapRecord r;
    size_t used = 0;
    const ws::ParseStatus st = a.parse({s + pos, n - pos}, &r, &used);
    if (used > n - pos) std::abort();
    pos += used;
    if (st == ws::ParseStatus::kRecord) {
      if (r.data < s || r.data + r.caplen > s + n) std::abort();
      whole.push_back(seen(r));
      continue;
    }
    a_clean = st == ws::ParseStatus::kNeedMore && a.finish(n - pos);
    break;
  }

  std::vector<Seen> chunked;
  ws::PcapParser b;
  size_t fed = 0;
  unsigned step = seed;
  bool b_clean;
  for (;;) {
    ws::PcapRecord r;
    ws::ParseStatus st;
    while ((st = b.next(&r)) == ws::ParseStatus::kRecord) chunked.push_back(seen(r));
    if (st == ws::ParseStatus::kError || fed == n) {
      b_clean = st == ws::ParseStatus::kNeedMore && b.finish();
      break;
    }
    step = step * 1103515245u + 12345u;
    size_t len = (step >> 16) % 97;  // 0..96, empty chunks included
    if (len > n - fed) len = n - fed;
    b.feed({s + fed, len});
    fed += len;
  }
  if (!(whole == chunked) || a_clean != b_clean) std::abort();
  return 0;
}
