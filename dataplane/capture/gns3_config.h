// The gns3: section of the agent config (keys pinned by other programs'
// tests):
//
//   gns3:
//     servers:
//       - {name: lab1, url: "http://127.0.0.1:3080", api: v2, user: admin, password: secret}
//       - {name: lab2, url: "https://gns3.example:3080", api: v3, user: admin, password: secret}
//     capture:
//       - {server: lab1, project: "Enterprise Lab", links: all}
//       - {server: lab2, project: "6b5a...-uuid", links: ["<link_id>"]}
//
// Parsed once into plain structs; the source never sees YAML.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace YAML {
class Node;
}

namespace ws {

enum class Gns3Api : uint8_t { kV2, kV3 };

struct Gns3ServerConfig {
  std::string name;
  std::string url;  // http(s)://host:port
  Gns3Api api = Gns3Api::kV2;
  std::string user;  // v3: the username exchanged for a JWT
  std::string password;
};

struct Gns3CaptureConfig {
  std::string server;   // a servers[].name
  std::string project;  // project name or project_id
  bool all_links = true;
  std::vector<std::string> links;  // link_ids when !all_links
};

struct Gns3Config {
  std::vector<Gns3ServerConfig> servers;
  std::vector<Gns3CaptureConfig> capture;
  bool empty() const { return servers.empty() && capture.empty(); }
};

// Parses the node under `gns3:`. Returns "" or "<file>:<line>: <reason>"
// (unknown keys, a missing name/url/server/project, api not v2|v3, a url that
// is not http(s)://host:port, duplicate server names, a capture naming an
// unknown server, links neither `all` nor a list).
std::string parse_gns3_config(const YAML::Node& node, const std::string& file, Gns3Config* out);

const char* gns3_api_name(Gns3Api a);

}  // namespace ws
