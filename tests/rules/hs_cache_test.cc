#include "rules/hs_cache.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace ws {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "hs_cache_test.XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

struct DbDeleter {
  void operator()(hs_database_t* db) const { hs_free_database(db); }
};
using Db = std::unique_ptr<hs_database_t, DbDeleter>;

using Matches = std::vector<std::pair<unsigned, unsigned long long>>;  // (id, end offset)

// A NUL inside a pattern, a caseless one and overlapping ones: the shapes a
// prefilter group really holds.
HsLiteralSet sample_set() {
  HsLiteralSet s;
  s.patterns = {"abc", std::string("b\0c", 3), "HeLLo", "aa", "GET /"};
  s.flags = {0, 0, HS_FLAG_CASELESS, 0, 0};
  s.ids = {10, 20, 30, 40, 50};
  return s;
}

std::string sample_buffer() {
  return std::string("xxabcxx b") + std::string(1, '\0') + "c hello HELLO aaaa GET /index abc";
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Every (id, end) a literal scan must report, found the slow way.
Matches expected_matches(const HsLiteralSet& set, const std::string& buf) {
  Matches out;
  for (size_t i = 0; i < set.patterns.size(); ++i) {
    bool nocase = set.flags[i] & HS_FLAG_CASELESS;
    std::string hay = nocase ? lower(buf) : buf;
    std::string needle = nocase ? lower(set.patterns[i]) : set.patterns[i];
    for (size_t pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + 1))
      out.emplace_back(set.ids[i], pos + needle.size());
  }
  std::sort(out.begin(), out.end());
  return out;
}

int on_match(unsigned id, unsigned long long, unsigned long long to, unsigned, void* ctx) {
  static_cast<Matches*>(ctx)->emplace_back(id, to);
  return 0;
}

Matches scan(const hs_database_t* db, const std::string& buf) {
  hs_scratch_t* scratch = nullptr;
  EXPECT_EQ(hs_alloc_scratch(db, &scratch), HS_SUCCESS);
  Matches out;
  EXPECT_EQ(hs_scan(db, buf.data(), static_cast<unsigned>(buf.size()), 0, scratch, on_match, &out),
            HS_SUCCESS);
  hs_free_scratch(scratch);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

Db compile(const HsLiteralSet& set, const fs::path& dir, HsCacheStats* stats) {
  std::string err;
  Db db(hs_compile_literals_cached(set, dir.string(), stats, &err));
  EXPECT_NE(db, nullptr) << err;
  return db;
}

TEST(HsCache, MissThenHitLoadsADatabaseThatScansIdentically) {
  TempDir tmp;
  fs::path dir = tmp.path / "cache";
  HsLiteralSet set = sample_set();
  std::string buf = sample_buffer();
  Matches want = expected_matches(set, buf);
  ASSERT_GE(want.size(), 6u);

  HsCacheStats stats;
  Db first = compile(set, dir, &stats);
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.stores, 1u);
  EXPECT_EQ(stats.hits, 0u);
  fs::path file = dir / (hs_cache_key(set) + ".hsdb");
  ASSERT_EQ(files_in(dir), std::vector<fs::path>{file});
  struct stat before {};
  ASSERT_EQ(::stat(file.c_str(), &before), 0);

  Db second = compile(set, dir, &stats);
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.stores, 1u);
  EXPECT_EQ(stats.load_errors, 0u);
  EXPECT_EQ(stats.store_errors, 0u);
  // A hit reads the file; it does not write a new one in its place.
  struct stat after {};
  ASSERT_EQ(::stat(file.c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);

  Db uncached(hs_compile_literals_cached(set, "", nullptr, nullptr));
  ASSERT_NE(uncached, nullptr);
  EXPECT_EQ(scan(uncached.get(), buf), want);
  EXPECT_EQ(scan(first.get(), buf), want);
  EXPECT_EQ(scan(second.get(), buf), want);
}

TEST(HsCache, CreatesTheDirectoryPrivately) {
  TempDir tmp;
  fs::path dir = tmp.path / "a" / "b" / "cache";
  HsCacheStats stats;
  Db db = compile(sample_set(), dir, &stats);
  EXPECT_EQ(stats.stores, 1u);
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  ASSERT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0077, 0u);
  EXPECT_EQ(st.st_mode & 0700, 0700u);
}

TEST(HsCache, AnyChangeToTheInputsIsAMiss) {
  TempDir tmp;
  HsLiteralSet base = sample_set();
  std::vector<HsLiteralSet> variants;
  variants.push_back(base);
  variants.back().patterns[1] = std::string("b\0d", 3);  // differs only after the NUL
  variants.push_back(base);
  variants.back().flags[0] = HS_FLAG_CASELESS;
  variants.push_back(base);
  variants.back().ids[4] = 51;
  variants.push_back(base);
  variants.back().mode = HS_MODE_STREAM;
  variants.push_back(base);
  std::swap(variants.back().patterns[0], variants.back().patterns[3]);
  // Same bytes split differently: the serialisation must keep the boundary.
  HsLiteralSet split_a, split_b;
  split_a.patterns = {"ab", "c"};
  split_b.patterns = {"a", "bc"};
  split_a.flags = split_b.flags = {0, 0};
  split_a.ids = split_b.ids = {1, 2};
  variants.push_back(split_a);
  variants.push_back(split_b);

  HsCacheStats stats;
  Db b = compile(base, tmp.path, &stats);
  for (const HsLiteralSet& v : variants) {
    EXPECT_NE(hs_cache_key(v), hs_cache_key(base));
    Db db = compile(v, tmp.path, &stats);
  }
  EXPECT_EQ(stats.hits, 0u);
  EXPECT_EQ(stats.misses, variants.size() + 1);
  EXPECT_EQ(files_in(tmp.path).size(), variants.size() + 1);

  // The key depends on the content only, so the original set still hits.
  EXPECT_EQ(hs_cache_key(sample_set()), hs_cache_key(base));
  Db again = compile(sample_set(), tmp.path, &stats);
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.load_errors, 0u);
}

// Damages the stored file, then expects a load error, a fresh compile that
// scans correctly, a replaced file and a hit on the next call.
void expect_replaced_after(const std::function<void(const fs::path&)>& damage) {
  TempDir tmp;
  HsLiteralSet set = sample_set();
  std::string buf = sample_buffer();
  HsCacheStats stats;
  { Db db = compile(set, tmp.path, &stats); }
  fs::path file = tmp.path / (hs_cache_key(set) + ".hsdb");
  std::string good = read_file(file);
  ASSERT_GT(good.size(), 100u);
  damage(file);
  ASSERT_NE(read_file(file), good);

  Db db = compile(set, tmp.path, &stats);
  EXPECT_EQ(stats.load_errors, 1u);
  EXPECT_NE(stats.last_error.find(file.string()), std::string::npos) << stats.last_error;
  EXPECT_EQ(stats.hits, 0u);
  EXPECT_EQ(stats.misses, 2u);
  EXPECT_EQ(stats.stores, 2u);
  EXPECT_EQ(scan(db.get(), buf), expected_matches(set, buf));
  EXPECT_EQ(files_in(tmp.path), std::vector<fs::path>{file});

  Db loaded = compile(set, tmp.path, &stats);
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.load_errors, 1u);
  EXPECT_EQ(scan(loaded.get(), buf), expected_matches(set, buf));
}

TEST(HsCache, TruncatedFileIsALoadErrorAndReplaced) {
  expect_replaced_after([](const fs::path& f) { fs::resize_file(f, fs::file_size(f) / 2); });
}

TEST(HsCache, FileCutInsideTheHeaderIsALoadErrorAndReplaced) {
  expect_replaced_after([](const fs::path& f) { fs::resize_file(f, 20); });
}

TEST(HsCache, GarbageFileIsALoadErrorAndReplaced) {
  expect_replaced_after([](const fs::path& f) {
    std::mt19937 rng(7);
    std::string junk(fs::file_size(f), '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    write_file(f, junk);
  });
}

TEST(HsCache, FlippedDatabaseByteIsALoadErrorAndReplaced) {
  expect_replaced_after([](const fs::path& f) {
    std::string bytes = read_file(f);
    bytes[bytes.size() - 10] = static_cast<char>(bytes[bytes.size() - 10] ^ 0x40);
    write_file(f, bytes);
  });
}

TEST(HsCache, EmptyFileIsALoadErrorAndReplaced) {
  expect_replaced_after([](const fs::path& f) { write_file(f, ""); });
}

TEST(HsCache, FileOfAnotherSetIsNotLoaded) {
  TempDir tmp;
  HsLiteralSet a = sample_set();
  HsLiteralSet b;
  b.patterns = {"index", "xx"};
  b.flags = {0, 0};
  b.ids = {7, 8};
  std::string buf = sample_buffer();
  ASSERT_NE(expected_matches(a, buf), expected_matches(b, buf));
  HsCacheStats stats;
  { Db da = compile(a, tmp.path, &stats); }
  { Db db = compile(b, tmp.path, &stats); }
  fs::path fa = tmp.path / (hs_cache_key(a) + ".hsdb");
  fs::path fb = tmp.path / (hs_cache_key(b) + ".hsdb");
  fs::copy_file(fb, fa, fs::copy_options::overwrite_existing);

  Db db = compile(a, tmp.path, &stats);
  EXPECT_EQ(stats.load_errors, 1u);
  EXPECT_EQ(stats.hits, 0u);
  EXPECT_EQ(scan(db.get(), buf), expected_matches(a, buf));
  EXPECT_NE(read_file(fa), read_file(fb));
}

TEST(HsCache, EmptyCacheDirCompilesWithoutTouchingDisk) {
  TempDir tmp;
  fs::path old = fs::current_path();
  fs::current_path(tmp.path);
  HsCacheStats stats;
  std::string err;
  Db db(hs_compile_literals_cached(sample_set(), "", &stats, &err));
  fs::current_path(old);
  ASSERT_NE(db, nullptr) << err;
  EXPECT_TRUE(files_in(tmp.path).empty());
  EXPECT_EQ(stats.hits + stats.misses + stats.stores + stats.store_errors + stats.load_errors, 0u);
  EXPECT_EQ(scan(db.get(), sample_buffer()), expected_matches(sample_set(), sample_buffer()));
}

TEST(HsCache, UnwritableDirStillCompiles) {
  TempDir tmp;
  // A regular file where a directory should be: fails for root as well,
  // where permission bits would not.
  write_file(tmp.path / "plain", "not a directory");
  for (const fs::path& dir : {tmp.path / "plain" / "cache", tmp.path / "plain"}) {
    SCOPED_TRACE(dir.string());
    HsCacheStats stats;
    for (int call = 1; call <= 2; ++call) {
      Db db = compile(sample_set(), dir, &stats);
      ASSERT_NE(db, nullptr);
      EXPECT_EQ(scan(db.get(), sample_buffer()), expected_matches(sample_set(), sample_buffer()));
      EXPECT_EQ(stats.store_errors, static_cast<uint64_t>(call));  // once per call
      EXPECT_EQ(stats.misses, static_cast<uint64_t>(call));
      EXPECT_EQ(stats.stores, 0u);
      EXPECT_EQ(stats.load_errors, 0u);
      EXPECT_NE(stats.last_error.find("plain"), std::string::npos) << stats.last_error;
    }
  }
  EXPECT_EQ(read_file(tmp.path / "plain"), "not a directory");
  EXPECT_EQ(files_in(tmp.path).size(), 1u);
}

TEST(HsCache, CompileErrorNamesThePatternAndStoresNothing) {
  TempDir tmp;
  HsLiteralSet set = sample_set();
  set.flags[3] = HS_FLAG_DOTALL;  // not a literal flag
  HsCacheStats stats;
  std::string err;
  int failed = -2;
  Db db(hs_compile_literals_cached(set, tmp.path.string(), &stats, &err, &failed));
  EXPECT_EQ(db, nullptr);
  EXPECT_EQ(failed, 3);
  EXPECT_NE(err.find("pattern id 40"), std::string::npos) << err;
  EXPECT_EQ(stats.stores, 0u);
  EXPECT_TRUE(files_in(tmp.path).empty());

  // Hyperscan itself crashes on a zero-length literal; it must come back as an error.
  set = sample_set();
  set.patterns[2].clear();
  err.clear();
  db.reset(hs_compile_literals_cached(set, tmp.path.string(), &stats, &err, &failed));
  EXPECT_EQ(db, nullptr);
  EXPECT_EQ(failed, 2);
  EXPECT_NE(err.find("pattern id 30"), std::string::npos) << err;

  set = sample_set();
  set.ids.pop_back();
  err.clear();
  db.reset(hs_compile_literals_cached(set, "", nullptr, &err, &failed));
  EXPECT_EQ(db, nullptr);
  EXPECT_NE(err.find("5 patterns"), std::string::npos) << err;
  EXPECT_TRUE(files_in(tmp.path).empty());
}

TEST(HsCache, ConcurrentWritersLeaveOneCompleteFile) {
  TempDir tmp;
  HsLiteralSet set = sample_set();
  std::string buf = sample_buffer();
  Matches want = expected_matches(set, buf);
  constexpr int kThreads = 4;
  constexpr int kRounds = 5;
  std::vector<HsCacheStats> stats(kThreads);
  std::vector<int> good(kThreads, 0);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        Db db(hs_compile_literals_cached(set, tmp.path.string(), &stats[t], nullptr));
        if (db && scan(db.get(), buf) == want) ++good[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  uint64_t hits = 0;
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(good[t], kRounds);
    EXPECT_EQ(stats[t].load_errors, 0u);
    EXPECT_EQ(stats[t].store_errors, 0u);
    hits += stats[t].hits;
  }
  // Each thread's later rounds find a file that some earlier store wrote.
  EXPECT_GE(hits, static_cast<uint64_t>(kThreads * (kRounds - 1)));
  EXPECT_EQ(files_in(tmp.path), std::vector<fs::path>{tmp.path / (hs_cache_key(set) + ".hsdb")});
}

}  // namespace
}  // namespace ws

namespace ws {
namespace {

// The directory stays bounded: beyond max_files the least recently used
// databases go, and a hit counts as a use.
TEST(HsCache, KeepsAtMostMaxFilesLeastRecentlyUsedFirst) {
  TempDir dir;
  const std::string d = dir.path.string();
  auto set_n = [](int n) {
    HsLiteralSet s;
    s.patterns = {"pattern-" + std::to_string(n)};
    s.flags = {0};
    s.ids = {1};
    return s;
  };
  auto file_of = [&](int n) { return dir.path / (hs_cache_key(set_n(n)) + ".hsdb"); };
  auto age = [&](int n, int seconds_ago) {
    fs::last_write_time(file_of(n), fs::file_time_type::clock::now() - std::chrono::seconds(seconds_ago));
  };
  HsCacheStats st;
  std::string err;
  for (int n = 0; n < 3; ++n) Db(hs_compile_literals_cached(set_n(n), d, &st, &err, nullptr, 3));
  age(0, 300);
  age(1, 200);
  age(2, 100);
  // Set 0 is used again: it becomes the most recent.
  Db(hs_compile_literals_cached(set_n(0), d, &st, &err, nullptr, 3));
  EXPECT_EQ(st.hits, 1u);
  // A fourth set: one file must go, the least recently used one (set 1).
  Db(hs_compile_literals_cached(set_n(3), d, &st, &err, nullptr, 3));
  EXPECT_EQ(st.pruned, 1u);
  EXPECT_TRUE(fs::exists(file_of(0)));
  EXPECT_FALSE(fs::exists(file_of(1)));
  EXPECT_TRUE(fs::exists(file_of(2)));
  EXPECT_TRUE(fs::exists(file_of(3)));
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) n += e.path().extension() == ".hsdb";
  EXPECT_EQ(n, 3u);
}

}  // namespace
}  // namespace ws
