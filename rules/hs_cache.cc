#include "rules/hs_cache.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace ws {

namespace {

using Digest = std::array<unsigned char, 32>;

// File layout: magic, the key the file was written under, the length and
// SHA-256 of the serialised database, then the database. Hyperscan checks its
// own header (version, platform) on deserialising but not the body, so a
// flipped bit in the bytecode would otherwise load and scan wrongly; the
// digest catches that. The stored key catches a file copied or renamed from
// another set.
constexpr char kMagic[8] = {'W', 'S', 'H', 'S', 'D', 'B', '0', '1'};
constexpr size_t kHeaderBytes = sizeof(kMagic) + 32 + 8 + 32;

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// Length-prefixed so that no two different inputs serialise alike (patterns
// may contain any byte, including NUL).
void put_bytes(std::string& out, const std::string& s) {
  put_u64(out, s.size());
  out.append(s);
}

bool sha256(const char* data, size_t len, Digest* out) {
  unsigned int n = 0;
  return EVP_Digest(data, len, out->data(), &n, EVP_sha256(), nullptr) == 1 && n == out->size();
}

std::string hex(const Digest& d) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(d.size() * 2);
  for (unsigned char c : d) {
    s.push_back(kHex[c >> 4]);
    s.push_back(kHex[c & 0xf]);
  }
  return s;
}

std::string errno_text(int err) {
  return std::generic_category().message(err);
}

Digest key_digest(const HsLiteralSet& set) {
  std::string canon = "wirescope hyperscan literal database v1";
  canon.push_back('\0');
  put_bytes(canon, hs_version());
  // The database is compiled for the host (platform null), so the host's
  // platform is what it depends on; a database built on a CPU with AVX-512
  // must not be handed to one without.
  hs_platform_info_t plat{};
  hs_error_t perr = hs_populate_platform(&plat);
  put_u32(canon, static_cast<uint32_t>(perr));
  put_u32(canon, plat.tune);
  put_u64(canon, plat.cpu_features);
  put_u64(canon, plat.reserved1);
  put_u64(canon, plat.reserved2);
  put_u32(canon, set.mode);
  put_u64(canon, set.patterns.size());
  for (const std::string& p : set.patterns) put_bytes(canon, p);
  put_u64(canon, set.flags.size());
  for (unsigned f : set.flags) put_u32(canon, f);
  put_u64(canon, set.ids.size());
  for (unsigned id : set.ids) put_u32(canon, id);
  Digest d{};
  sha256(canon.data(), canon.size(), &d);
  return d;
}

void note(HsCacheStats* stats, uint64_t HsCacheStats::*counter, std::string msg) {
  if (!stats) return;
  ++(stats->*counter);
  stats->last_error = std::move(msg);
}

enum class Load { kAbsent, kLoaded, kBad };

Load load(const std::string& path, const Digest& key, hs_database_t** db, std::string* why) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    // No directory yet (or a path that cannot be one) is not a bad file:
    // the store that follows reports it.
    if (errno == ENOENT || errno == ENOTDIR) return Load::kAbsent;
    *why = "cannot open " + path + ": " + errno_text(errno);
    return Load::kBad;
  }
  std::string buf;
  std::string read_error;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    read_error = errno_text(errno);
  } else {
    buf.resize(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < buf.size()) {
      ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) read_error = errno_text(errno);
      if (n == 0) read_error = "file shrank while being read";
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
  }
  ::close(fd);
  if (!read_error.empty()) {
    *why = "cannot read " + path + ": " + read_error;
    return Load::kBad;
  }
  auto bad = [&](const std::string& what) {
    *why = path + ": " + what + "; recompiling and replacing it";
    return Load::kBad;
  };
  if (buf.size() < kHeaderBytes)
    return bad("shorter than the header (" + std::to_string(buf.size()) + " bytes)");
  const char* p = buf.data();
  if (std::memcmp(p, kMagic, sizeof(kMagic)) != 0) return bad("not a wirescope Hyperscan cache file");
  p += sizeof(kMagic);
  if (std::memcmp(p, key.data(), key.size()) != 0) return bad("written for another pattern set");
  p += key.size();
  uint64_t len = get_u64(p);
  p += 8;
  if (len != buf.size() - kHeaderBytes)
    return bad("truncated or padded: header says " + std::to_string(len) + " database bytes, file holds " +
               std::to_string(buf.size() - kHeaderBytes));
  Digest want{};
  std::memcpy(want.data(), p, want.size());
  p += want.size();
  Digest got{};
  if (!sha256(p, len, &got) || got != want) return bad("database bytes do not match their checksum");
  // Hyperscan's own view of the header: magic, version and target mode.
  char* info = nullptr;
  if (hs_serialized_database_info(p, len, &info) != HS_SUCCESS)
    return bad("Hyperscan does not recognise the serialised database");
  std::free(info);  // misc allocator: the default malloc (the agent sets none)
  if (hs_deserialize_database(p, len, db) != HS_SUCCESS) {
    *db = nullptr;
    return bad("Hyperscan rejected the serialised database (other version or platform)");
  }
  return Load::kLoaded;
}

// Creates each missing component with 0700: the cache holds nothing secret,
// but a file another user could swap in would be trusted by the agent.
bool make_dirs(const std::string& dir, std::string* why) {
  for (size_t pos = 0;;) {
    pos = dir.find('/', pos + 1);
    std::string part = dir.substr(0, pos);
    if (!part.empty() && ::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) {
      *why = "cannot create cache directory " + part + ": " + errno_text(errno);
      return false;
    }
    if (pos == std::string::npos) break;
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    *why = "cache directory " + dir + " is not a directory";
    return false;
  }
  return true;
}

bool write_all(int fd, const char* p, size_t len) {
  while (len > 0) {
    ssize_t n = ::write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// Temp file + rename, so a reader sees the old file, no file or the whole new
// one. No fsync: a file torn by a power cut fails the length or checksum
// check and is simply recompiled.
bool store(const std::string& dir, const std::string& path, const Digest& key, const hs_database_t* db,
           std::string* why) {
  if (!make_dirs(dir, why)) return false;
  char* bytes = nullptr;
  size_t len = 0;
  if (hs_serialize_database(db, &bytes, &len) != HS_SUCCESS) {
    *why = "cannot serialise the Hyperscan database";
    return false;
  }
  std::string header(kMagic, sizeof(kMagic));
  header.append(reinterpret_cast<const char*>(key.data()), key.size());
  put_u64(header, len);
  Digest sum{};
  bool ok = sha256(bytes, len, &sum);
  header.append(reinterpret_cast<const char*>(sum.data()), sum.size());

  std::string tmp = dir + "/." + hex(key) + ".tmp.XXXXXX";
  int fd = ok ? ::mkstemp(tmp.data()) : -1;
  if (fd < 0) {
    *why = ok ? "cannot create a file in cache directory " + dir + ": " + errno_text(errno)
              : "cannot checksum the serialised database";
    std::free(bytes);
    return false;
  }
  ok = write_all(fd, header.data(), header.size()) && write_all(fd, bytes, len);
  int err = errno;
  std::free(bytes);  // misc allocator: the default malloc (the agent sets none)
  if (::close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    *why = "cannot write " + path + ": " + errno_text(err);
  }
  return ok;
}

// Removes the least recently used databases beyond max_files.
void prune(const std::string& dir, size_t max_files, HsCacheStats* stats) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<std::pair<fs::file_time_type, fs::path>> files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".hsdb") continue;
    auto t = entry.last_write_time(ec);
    if (!ec) files.emplace_back(t, entry.path());
  }
  if (files.size() <= max_files) return;
  std::sort(files.begin(), files.end());
  for (size_t i = 0; i + max_files < files.size(); ++i)
    if (fs::remove(files[i].second, ec) && stats) ++stats->pruned;
}

hs_database_t* compile(const HsLiteralSet& set, std::string* error, int* failed_index) {
  if (failed_index) *failed_index = -1;
  size_t n = set.patterns.size();
  if (set.flags.size() != n || set.ids.size() != n) {
    if (error)
      *error = "literal set has " + std::to_string(n) + " patterns, " + std::to_string(set.flags.size()) +
               " flags and " + std::to_string(set.ids.size()) +
               " ids; each pattern needs one flag and one id";
    return nullptr;
  }
  std::vector<const char*> exprs(n);
  std::vector<size_t> lens(n);
  for (size_t i = 0; i < n; ++i) {
    // Hyperscan 5.4 crashes on a zero-length literal instead of reporting it.
    if (set.patterns[i].empty()) {
      if (error)
        *error = "hyperscan compile failed for pattern id " + std::to_string(set.ids[i]) + ": empty literal";
      if (failed_index) *failed_index = static_cast<int>(i);
      return nullptr;
    }
    exprs[i] = set.patterns[i].data();
    lens[i] = set.patterns[i].size();
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* cerr = nullptr;
  if (hs_compile_lit_multi(exprs.data(), set.flags.data(), set.ids.data(), lens.data(),
                           static_cast<unsigned>(n), set.mode, nullptr, &db, &cerr) == HS_SUCCESS)
    return db;
  std::string msg = "hyperscan compile failed";
  if (cerr) {
    if (cerr->expression >= 0 && static_cast<size_t>(cerr->expression) < n) {
      msg += " for pattern id " + std::to_string(set.ids[static_cast<size_t>(cerr->expression)]);
      if (failed_index) *failed_index = cerr->expression;
    }
    msg += std::string(": ") + cerr->message;
    hs_free_compile_error(cerr);
  }
  if (error) *error = std::move(msg);
  return nullptr;
}

}  // namespace

std::string hs_cache_key(const HsLiteralSet& set) {
  return hex(key_digest(set));
}

hs_database_t* hs_compile_literals_cached(const HsLiteralSet& set, const std::string& cache_dir,
                                          HsCacheStats* stats, std::string* error, int* failed_index,
                                          size_t max_files) {
  if (cache_dir.empty()) return compile(set, error, failed_index);

  Digest key = key_digest(set);
  std::string path = cache_dir + "/" + hex(key) + ".hsdb";
  hs_database_t* db = nullptr;
  std::string why;
  switch (load(path, key, &db, &why)) {
    case Load::kLoaded:
      if (stats) ++stats->hits;
      ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);  // most recently used: pruned last
      if (failed_index) *failed_index = -1;
      return db;
    case Load::kBad:
      note(stats, &HsCacheStats::load_errors, why);
      break;
    case Load::kAbsent:
      break;
  }
  if (stats) ++stats->misses;
  db = compile(set, error, failed_index);
  if (!db) return nullptr;
  if (store(cache_dir, path, key, db, &why)) {
    if (stats) ++stats->stores;
    prune(cache_dir, max_files, stats);
  } else {
    note(stats, &HsCacheStats::store_errors, why);
  }
  return db;
}

}  // namespace ws
