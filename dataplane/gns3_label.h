// Where a GNS3 link capture's packets came from: the labels EVE's "gns3"
// object, the protobuf Gns3Link message and the REST flows carry. Plain
// data, so that telemetry/ can format them without the GNS3 client.
#pragma once

#include <array>
#include <string>

namespace ws {

struct Gns3LinkLabel {
  std::string server;
  std::string project_id;
  std::string project;  // name
  std::string link_id;
  std::array<std::string, 2> nodes;  // node names at each end
};

}  // namespace ws
