// UringFile: the file holds exactly the bytes appended, in order, through
// buffer boundaries, short writes, reopen and failures; failures are counted
// and described, never fatal. Every case runs with io_uring and with the
// pwrite() fallback.
#include "telemetry/uring_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

namespace ws {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/ws-uring-XXXXXX";
    char* p = mkdtemp(tmpl.data());
    EXPECT_NE(p, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::string cmd = "rm -rf '" + path_ + "'";
    if (std::system(cmd.c_str()) != 0) std::perror("rm");
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Deterministic printable content with a newline every so often.
std::string make_chunk(std::mt19937& rng, size_t n) {
  std::string s(n, ' ');
  for (size_t i = 0; i < n; ++i) {
    uint32_t r = rng();
    s[i] = (r % 61 == 0) ? '\n' : static_cast<char>('a' + r % 26);
  }
  return s;
}

class UringFileTest : public ::testing::TestWithParam<bool> {
 protected:
  UringFileOptions opts(size_t buffer_size, unsigned buffers) const {
    UringFileOptions o;
    o.buffer_size = buffer_size;
    o.buffers = buffers;
    o.force_pwrite = GetParam();
    return o;
  }
  TempDir dir_;
};

TEST_P(UringFileTest, ManyWritesLargerThanBuffersKeepEveryByteInOrder) {
  std::string path = dir_.path() + "/out.json";
  std::string err;
  auto f = UringFile::open(path, &err, opts(4096, 4));
  ASSERT_NE(f, nullptr) << err;
  if (GetParam()) {
    EXPECT_TRUE(f->degraded());
  } else if (f->degraded()) {
    // No io_uring on this kernel: the fallback must say so.
    EXPECT_NE(f->last_error().find("io_uring unavailable"), std::string::npos);
  }

  std::mt19937 rng(12345);
  std::string expected;
  for (int i = 0; i < 600; ++i) {
    // Mostly small lines, sometimes several buffers' worth at once.
    size_t n = (i % 17 == 0) ? 3000 + rng() % 20000 : 1 + rng() % 900;
    std::string chunk = make_chunk(rng, n);
    f->append(chunk.data(), chunk.size());
    expected += chunk;
    if (i % 50 == 0) f->flush();
  }
  EXPECT_TRUE(f->sync());
  EXPECT_EQ(read_file(path), expected);  // visible after sync, before close
  f->close();
  EXPECT_FALSE(f->is_open());
  EXPECT_EQ(read_file(path), expected);
  const UringFileStats& s = f->stats();
  EXPECT_EQ(s.bytes_written, expected.size());
  EXPECT_EQ(s.bytes_lost, 0u);
  EXPECT_EQ(s.write_errors, 0u);
  EXPECT_GE(s.writes, expected.size() / 4096);
}

TEST_P(UringFileTest, AppendsAfterExistingContent) {
  std::string path = dir_.path() + "/eve.json";
  {
    std::ofstream out(path, std::ios::binary);
    out << "{\"old\":1}\n";
  }
  std::string err;
  auto f = UringFile::open(path, &err, opts(64, 2));
  ASSERT_NE(f, nullptr) << err;
  std::string line = "{\"new\":2}\n";
  for (int i = 0; i < 20; ++i) f->append(line.data(), line.size());
  f->close();
  std::string want = "{\"old\":1}\n";
  for (int i = 0; i < 20; ++i) want += line;
  EXPECT_EQ(read_file(path), want);
}

TEST_P(UringFileTest, ReopenAfterRenameStartsANewFile) {
  std::string path = dir_.path() + "/eve.json";
  std::string err;
  auto f = UringFile::open(path, &err, opts(256, 3));
  ASSERT_NE(f, nullptr) << err;
  std::string a, b;
  for (int i = 0; i < 100; ++i) a += "before " + std::to_string(i) + "\n";
  for (int i = 0; i < 100; ++i) b += "after " + std::to_string(i) + "\n";
  f->append(a.data(), a.size());  // some of it still in memory at rename time
  ASSERT_EQ(std::rename(path.c_str(), (path + ".1").c_str()), 0);
  EXPECT_TRUE(f->reopen());
  f->append(b.data(), b.size());
  f->close();
  EXPECT_EQ(read_file(path + ".1"), a);
  EXPECT_EQ(read_file(path), b);
  EXPECT_EQ(f->stats().reopens, 1u);
  EXPECT_EQ(f->stats().bytes_lost, 0u);
}

TEST_P(UringFileTest, WriteErrorsAreCountedAndReported) {
  std::string err;
  auto f = UringFile::open("/dev/full", &err, opts(1024, 2));
  ASSERT_NE(f, nullptr) << err;
  std::string lines;
  for (int i = 0; i < 300; ++i) lines += "{\"n\":" + std::to_string(i) + "}\n";
  for (int i = 0; i < 5; ++i) f->append(lines.data(), lines.size());
  EXPECT_FALSE(f->sync());
  const UringFileStats& s = f->stats();
  EXPECT_GT(s.write_errors, 0u);
  EXPECT_EQ(s.bytes_written, 0u);
  EXPECT_EQ(s.bytes_lost, 5 * lines.size());
  EXPECT_EQ(s.lines_lost, 5u * 300u);
  EXPECT_NE(f->last_error().find("/dev/full"), std::string::npos) << f->last_error();
  EXPECT_NE(f->last_error().find(std::strerror(ENOSPC)), std::string::npos) << f->last_error();
  // Still usable: more appends are counted the same way, close does not fail.
  f->append(lines.data(), lines.size());
  f->close();
  EXPECT_EQ(f->stats().bytes_lost, 6 * lines.size());
}

TEST_P(UringFileTest, FailedReopenDropsAndCountsThenRecovers) {
  std::string sub = dir_.path() + "/logs";
  ASSERT_EQ(mkdir(sub.c_str(), 0755), 0);
  std::string path = sub + "/eve.json";
  std::string err;
  auto f = UringFile::open(path, &err, opts(128, 2));
  ASSERT_NE(f, nullptr) << err;
  std::string a = "first\n";
  f->append(a.data(), a.size());
  ASSERT_EQ(std::rename(sub.c_str(), (sub + ".old").c_str()), 0);
  EXPECT_FALSE(f->reopen());  // the directory is gone
  EXPECT_FALSE(f->is_open());
  EXPECT_EQ(f->stats().open_errors, 1u);
  EXPECT_NE(f->last_error().find(path), std::string::npos) << f->last_error();
  std::string lost = "lost 1\nlost 2\n";
  f->append(lost.data(), lost.size());
  EXPECT_EQ(f->stats().bytes_lost, lost.size());
  EXPECT_EQ(f->stats().lines_lost, 2u);

  ASSERT_EQ(mkdir(sub.c_str(), 0755), 0);
  f->flush();  // retries the open
  EXPECT_TRUE(f->is_open());
  std::string c = "second\n";
  f->append(c.data(), c.size());
  f->close();
  EXPECT_EQ(read_file(sub + ".old/eve.json"), a);
  EXPECT_EQ(read_file(path), c);
}

TEST_P(UringFileTest, OpenFailureNamesPathAndReason) {
  std::string path = dir_.path() + "/missing/eve.json";
  std::string err;
  auto f = UringFile::open(path, &err, opts(1024, 2));
  EXPECT_EQ(f, nullptr);
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find(std::strerror(ENOENT)), std::string::npos) << err;
}

INSTANTIATE_TEST_SUITE_P(Modes, UringFileTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return i.param ? std::string("Pwrite") : std::string("IoUring");
                         });

}  // namespace
}  // namespace ws
