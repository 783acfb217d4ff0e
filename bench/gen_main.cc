// wirescope-gen: writes a deterministic synthetic capture (and optionally
// its ground-truth summary) for tests, benchmarks and the demo. The same
// arguments always produce a byte-identical file; see
// bench/pktgen/generator.h for the traffic model.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <string>

#include "bench/pktgen/generator.h"

int main(int argc, char** argv) {
  ws::pktgen::GenConfig cfg;
  std::string out, truth_path;
  CLI::App app{"wirescope-gen: deterministic synthetic traffic capture writer"};
  app.add_option("--out,-o", out, "Capture file to write (classic pcap, Ethernet)")->required();
  app.add_option("--packets", cfg.packets, "Total packets")->capture_default_str();
  app.add_option("--flows", cfg.flows, "Distinct bidirectional 5-tuple flows")->capture_default_str();
  app.add_option("--seed", cfg.seed, "PRNG seed")->capture_default_str();
  app.add_option("--ipv6-share", cfg.ipv6_share, "Share of flows over IPv6 (0..1)")->capture_default_str();
  app.add_option("--vlan-share", cfg.vlan_share, "Share of flows 802.1Q tagged (0..1)")
      ->capture_default_str();
  app.add_option("--duration-s", cfg.duration_s, "Timeline length in seconds")->capture_default_str();
  app.add_option("--snaplen", cfg.snaplen, "Snapshot length written to the file")->capture_default_str();
  app.add_flag("--nano", cfg.nano, "Nanosecond timestamps (pcap magic a1b23c4d)");
  app.add_option("--truth", truth_path, "Also write the ground-truth summary (JSON) here");
  CLI11_PARSE(app, argc, argv);

  ws::pktgen::GenTruth truth;
  std::string error;
  if (!ws::pktgen::write_capture(cfg, out, truth, error)) {
    std::fprintf(stderr, "wirescope-gen: %s\n", error.c_str());
    return 1;
  }
  if (!truth_path.empty()) {
    std::ofstream t(truth_path, std::ios::binary | std::ios::trunc);
    t << ws::pktgen::truth_json(cfg, truth);
    t.close();
    if (!t) {
      std::fprintf(stderr, "wirescope-gen: cannot write %s\n", truth_path.c_str());
      return 1;
    }
  }
  std::printf("wrote %llu packets, %llu frame bytes, %llu flows (max %llu concurrent) to %s\n",
              static_cast<unsigned long long>(truth.packets),
              static_cast<unsigned long long>(truth.frame_bytes),
              static_cast<unsigned long long>(truth.flows),
              static_cast<unsigned long long>(truth.max_concurrent_flows), out.c_str());
  return 0;
}
