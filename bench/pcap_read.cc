// pcap_read: the floor for reading a capture file. A bare libpcap loop
// (pcap_open_offline + pcap_next_ex) that only counts packets and bytes;
// no agent can read the same file faster through libpcap, so the
// end-to-end benchmark compares wirescope's time against this one.
#include <pcap/pcap.h>

#include <chrono>
#include <cstdint>
#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s FILE.pcap\n", argv[0]);
    return 2;
  }
  char err[PCAP_ERRBUF_SIZE];
  auto t0 = std::chrono::steady_clock::now();
  pcap_t* p = pcap_open_offline(argv[1], err);
  if (!p) {
    std::fprintf(stderr, "pcap_read: %s\n", err);
    return 1;
  }
  uint64_t packets = 0, bytes = 0, caplen = 0;
  pcap_pkthdr* h;
  const u_char* data;
  int rc;
  while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
    ++packets;
    bytes += h->len;
    caplen += h->caplen;
  }
  if (rc == PCAP_ERROR) {
    std::fprintf(stderr, "pcap_read: %s\n", pcap_geterr(p));
    pcap_close(p);
    return 1;
  }
  pcap_close(p);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("packets=%llu bytes=%llu caplen_bytes=%llu seconds=%.6f mpps=%.3f\n",
              static_cast<unsigned long long>(packets), static_cast<unsigned long long>(bytes),
              static_cast<unsigned long long>(caplen), s, s > 0 ? packets / s / 1e6 : 0.0);
  return 0;
}
