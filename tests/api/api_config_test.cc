// The api.* config keys: parsed into ApiOptions, refused with FILE:LINE.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "agent/config.h"

namespace ws {
namespace {

std::string load(const std::string& yaml, AgentConfig& cfg) {
  char path[] = "/tmp/ws-api-config-XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << yaml;
  const std::string err = load_config_file(path, cfg);
  std::remove(path);
  return err;
}

const std::string kHash = sha256_hex("t");

TEST(ApiConfig, ReadsEveryKey) {
  AgentConfig c;
  ASSERT_EQ(load("api:\n"
                 "  listen: 127.0.0.1:8080\n"
                 "  tokens:\n"
                 "    - {name: ops, role: admin, token_sha256: \"" + kHash + "\"}\n"
                 "    - {name: grafana, role: viewer, token_sha256: \"" + sha256_hex("u") + "\"}\n"
                 "  metrics_auth: true\n"
                 "  max_body_bytes: 4096\n"
                 "  rate_limit: {requests_per_second: 2.5, burst: 7}\n"
                 "  tls_cert: /a.crt\n"
                 "  tls_key: /a.key\n",
                 c),
            "");
  EXPECT_EQ(c.api.listen, "127.0.0.1:8080");
  ASSERT_EQ(c.api.tokens.size(), 2u);
  EXPECT_EQ(c.api.tokens[0].name, "ops");
  EXPECT_EQ(c.api.tokens[0].role, Role::kAdmin);
  EXPECT_EQ(c.api.tokens[0].token_sha256, kHash);
  EXPECT_EQ(c.api.tokens[1].role, Role::kViewer);
  EXPECT_TRUE(c.api.metrics_auth);
  EXPECT_EQ(c.api.max_body_bytes, 4096u);
  EXPECT_DOUBLE_EQ(c.api.rate_limit.requests_per_second, 2.5);
  EXPECT_DOUBLE_EQ(c.api.rate_limit.burst, 7);
  EXPECT_EQ(c.api.tls_cert, "/a.crt");
  EXPECT_EQ(c.api.tls_key, "/a.key");
}

TEST(ApiConfig, DashboardKeys) {
  AgentConfig c;
  EXPECT_TRUE(c.api.dashboard);
  EXPECT_FALSE(c.api.anonymous_view);
  EXPECT_EQ(c.api.dashboard_dir, "");
  ASSERT_EQ(load("api:\n  dashboard: false\n  dashboard_dir: /srv/web\n  anonymous_view: true\n", c), "");
  EXPECT_FALSE(c.api.dashboard);
  EXPECT_EQ(c.api.dashboard_dir, "/srv/web");
  EXPECT_TRUE(c.api.anonymous_view);
  const std::string e = load("api:\n  anonymous_view: maybe\n", c);
  EXPECT_NE(e.find(":2"), std::string::npos) << e;
  EXPECT_NE(e.find("anonymous_view"), std::string::npos) << e;
}

TEST(ApiConfig, DefaultsWithoutTheSection) {
  AgentConfig c;
  ASSERT_EQ(load("workers: 1\n", c), "");
  EXPECT_EQ(c.api.listen, "");
  EXPECT_EQ(c.api.max_body_bytes, 1u << 20);
  EXPECT_GT(c.api.rate_limit.requests_per_second, 0);
  EXPECT_FALSE(c.api.metrics_auth);
}

TEST(ApiConfig, RefusesBadValuesWithTheLine) {
  AgentConfig c;
  EXPECT_NE(load("api:\n  listen: localhost:80\n", c).find(":2: api.listen"), std::string::npos);
  EXPECT_NE(load("api:\n  tokens:\n    - {name: a, role: root, token_sha256: \"" + kHash + "\"}\n", c).find(":3:"),
            std::string::npos);
  EXPECT_NE(load("api:\n  tokens:\n    - {name: a, role: admin, token_sha256: \"abc\"}\n", c).find("64 hex"),
            std::string::npos);
  EXPECT_NE(load("api:\n  tokens:\n    - {role: admin, token_sha256: \"" + kHash + "\"}\n", c).find("name"),
            std::string::npos);
  EXPECT_NE(load("api:\n  tokens:\n    - {name: a, role: admin}\n", c).find("token_sha256"), std::string::npos);
  EXPECT_NE(load("api:\n  tokens:\n    - {name: a, role: admin, token_sha256: \"" + kHash +
                     "\"}\n    - {name: a, role: viewer, token_sha256: \"" + kHash + "\"}\n",
                 c)
                .find("twice"),
            std::string::npos);
  EXPECT_NE(load("api:\n  rate_limit: {burst: 0}\n", c), "");
  EXPECT_NE(load("api:\n  rate_limit: {requests_per_second: fast}\n", c), "");
  EXPECT_NE(load("api:\n  max_body_bytes: 0\n", c), "");
  EXPECT_NE(load("api:\n  lisen: 127.0.0.1:1\n", c).find("unknown key 'api.lisen'"), std::string::npos);
}

TEST(ApiConfig, ValidateChecksListenAndTlsPairs) {
  AgentConfig c;
  c.read_file = "x.pcap";
  c.api.listen = "127.0.0.1:99999";
  EXPECT_NE(validate_config(c), "");
  c.api.listen = "0.0.0.0:0";
  EXPECT_EQ(validate_config(c), "");
  c.api.tls_cert = "/a.crt";
  EXPECT_NE(validate_config(c).find("tls_key"), std::string::npos);
}

}  // namespace
}  // namespace ws
