// Receive and segmentation offloads of the interfaces the agent captures
// on or bridges (input.disable_offloading, default true, as Suricata's
// capture.disable-offloading).
//
// GRO, LRO and hardware GRO merge a flow's packets into one frame larger
// than the MTU before a packet socket sees it: the agent would count one
// packet where the wire carried many, and an inline pair could not forward
// it (the frame is larger than a ring frame and than the other side's MTU:
// rx_truncated, tx_oversize). TSO and GSO do the same to what the host
// itself sends on the interface. So the agent turns these features off on
// each interface at start and turns back on, at exit, exactly the ones it
// turned off. A feature the driver does not let us change stays as it is
// and is reported.
//
// Through the ethtool ioctl's feature interface (ETHTOOL_GFEATURES and
// ETHTOOL_SFEATURES, by feature name), as `ethtool -K IFACE gro off` does.
// Needs CAP_NET_ADMIN; without it each interface is reported and left as
// it is.
#pragma once

#include <string>
#include <vector>

namespace ws {

class OffloadGuard {
 public:
  // The features turned off, by their kernel names (`ethtool -k` prints
  // some under a shorter name: rx-gro is generic-receive-offload).
  static const std::vector<std::string>& feature_names();

  OffloadGuard() = default;
  OffloadGuard(const OffloadGuard&) = delete;
  OffloadGuard& operator=(const OffloadGuard&) = delete;
  ~OffloadGuard() { restore(); }

  // Turns the features off on ifc. Returns one line for the log: what was
  // turned off, what could not be, or why nothing was done.
  std::string disable(const std::string& ifc);
  // Turns back on what disable() turned off, interface by interface.
  // Returns a line per interface that could not be restored.
  std::vector<std::string> restore();

 private:
  struct Changed {
    std::string ifc;
    std::vector<int> bits;  // feature indexes turned off
  };
  std::vector<Changed> changed_;
};

}  // namespace ws
