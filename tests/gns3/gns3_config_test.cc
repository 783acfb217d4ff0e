// The gns3: config section: the pinned keys and the errors with file:line.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "dataplane/capture/gns3_config.h"

namespace ws {
namespace {

std::string parse(const std::string& text, Gns3Config* c) {
  YAML::Node root = YAML::Load(text);
  return parse_gns3_config(root["gns3"], "lab.yaml", c);
}

TEST(Gns3Config, PinnedKeys) {
  Gns3Config c;
  ASSERT_EQ(parse(R"(
gns3:
  servers:
    - {name: lab1, url: "http://127.0.0.1:3080", api: v2, user: admin, password: secret}
    - {name: lab2, url: "https://gns3.example:3080", api: v3, user: admin, password: secret}
  capture:
    - {server: lab1, project: "Enterprise Lab", links: all}
    - {server: lab2, project: "6b5a0e1c-uuid", links: ["l-1", "l-2"]}
)",
                  &c),
            "");
  ASSERT_EQ(c.servers.size(), 2u);
  EXPECT_EQ(c.servers[0].name, "lab1");
  EXPECT_EQ(c.servers[0].api, Gns3Api::kV2);
  EXPECT_EQ(c.servers[1].api, Gns3Api::kV3);
  EXPECT_EQ(c.servers[1].url, "https://gns3.example:3080");
  EXPECT_EQ(c.servers[1].user, "admin");
  EXPECT_EQ(c.servers[1].password, "secret");
  ASSERT_EQ(c.capture.size(), 2u);
  EXPECT_TRUE(c.capture[0].all_links);
  EXPECT_EQ(c.capture[0].project, "Enterprise Lab");
  EXPECT_FALSE(c.capture[1].all_links);
  EXPECT_EQ(c.capture[1].links, (std::vector<std::string>{"l-1", "l-2"}));
}

TEST(Gns3Config, ErrorsNameTheLineAndTheReason) {
  struct Case {
    const char* yaml;
    const char* expect;
  } cases[] = {
      {"gns3:\n  servers:\n    - {name: a, url: \"ftp://x\"}\n", "lab.yaml:3: gns3.servers[0].url: url 'ftp://x' is not http"},
      {"gns3:\n  servers:\n    - {name: a, url: \"http://x:99999\"}\n", "lab.yaml:3: gns3.servers[0].url: url 'http://x:99999': port '99999'"},
      {"gns3:\n  servers:\n    - {name: a, url: \"http://x\", api: v4}\n", "lab.yaml:3: gns3.servers[0].api: expected v2 or v3, got 'v4'"},
      {"gns3:\n  servers:\n    - {name: a, url: \"http://x\", api: v3}\n", "lab.yaml:3: gns3.servers[0]: server 'a' (api v3) needs user"},
      {"gns3:\n  servers:\n    - {url: \"http://x\"}\n", "lab.yaml:3: gns3.servers[0]: a server needs a name"},
      {"gns3:\n  servers:\n    - {name: a, url: \"http://x\", pasword: s}\n", "lab.yaml:3: unknown key 'gns3.servers[0].pasword'"},
      {"gns3:\n  servers:\n    - {name: a, url: \"http://x\"}\n    - {name: a, url: \"http://y\"}\n", "lab.yaml:4: gns3.servers[1]: server name 'a' is used twice"},
      {"gns3:\n  servers: []\n  capture:\n    - {server: nope, project: p}\n", "lab.yaml:4: gns3.capture[0]: server 'nope' is not in gns3.servers"},
      {"gns3:\n  servers:\n    - {name: a, url: \"http://x\"}\n  capture:\n    - {server: a, project: p, links: some}\n", "lab.yaml:5: gns3.capture[0].links: expected all or a list"},
      {"gns3:\n  servers:\n    - {name: a, url: \"http://x\"}\n  capture:\n    - {server: a}\n", "lab.yaml:5: gns3.capture[0]: a capture needs a project"},
      {"gns3:\n  servers: {name: a}\n", "lab.yaml:2: gns3.servers: expected a list"},
  };
  for (const auto& c : cases) {
    Gns3Config cfg;
    const std::string err = parse(c.yaml, &cfg);
    EXPECT_EQ(err.rfind(c.expect, 0), 0u) << "got: " << err << "\nexpected: " << c.expect;
  }
}

}  // namespace
}  // namespace ws
