// Runtime: builds the pipeline from an AgentConfig and runs it.
//
//   source(s) ──► [dispatcher ─SPSC─►] worker × N ─SPSC─► export loop ─► EVE / IPFIX / NetFlow v9
//
// Everything is constructed and connected here by hand, in one place; no
// component looks another up. Threads: one per worker, a dispatcher when a
// one-stream source feeds several workers, the export loop, and the
// calling thread, which waits for signals and the end of the input.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "agent/config.h"
#include "dataplane/source.h"
#include "dataplane/worker.h"
#include "telemetry/export_loop.h"
#include "telemetry/exporter.h"

namespace ws {

struct RunSummary {
  uint64_t packets = 0;  // frames read from the sources
  uint64_t bytes = 0;
  uint64_t flows = 0;    // flows created
  uint64_t records = 0;  // flow records exported
  double seconds = 0;
  std::vector<std::pair<std::string, uint64_t>> drops;  // non-zero reasons only
  std::vector<std::pair<std::string, uint64_t>> counters;  // every non-zero counter, summed over threads
  std::string errors;    // source/exporter errors worth telling the user
};

class Runtime {
 public:
  explicit Runtime(AgentConfig cfg);
  ~Runtime();

  // Opens sources and exporters. Returns "" or what went wrong.
  std::string open();
  // Runs until the input ends or stop becomes true; returns when every flow
  // has been flushed and every exporter has finished.
  void run(const std::atomic<bool>& stop);

  RunSummary summary() const;
  unsigned workers() const { return nworkers_; }
  size_t bytes_per_flow() const;

 private:
  AgentConfig cfg_;
  unsigned nworkers_ = 1;
  std::vector<std::unique_ptr<PacketSource>> sources_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<DispatchRing>> rings_;
  std::vector<std::unique_ptr<FrameArena>> arenas_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::vector<std::unique_ptr<Exporter>> exporters_;
  std::unique_ptr<ExportLoop> export_loop_;
  ExportContext ctx_;
  double seconds_ = 0;
};

}  // namespace ws
