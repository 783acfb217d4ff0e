// Hyperscan database cache: compiling the prefilter databases of a large
// ruleset takes seconds, and an agent restarted with the same rules would pay
// that again for an identical result. So a compiled database is serialised
// into a directory under a name that is the SHA-256 of everything that decides
// its bytes: the literals, their flags and ids, the mode, the Hyperscan
// version and the CPU platform it was built for. A restart finds the file and
// deserialises it instead of compiling; any change to the inputs, a library
// upgrade or a move to another CPU gives another name, so a stale database is
// never loaded.
//
// The cache only ever saves time, it never decides an outcome: a missing,
// truncated, corrupt or foreign file is counted, ignored and overwritten by a
// fresh compile, and a directory that cannot be created or written is counted
// and otherwise ignored. Files are written to a temporary name and renamed, so
// several agents sharing one directory only ever see complete files. Nothing
// here is on the packet path: it runs while a rule snapshot is being built.
#pragma once

#include <hs/hs.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ws {

// Counts since the stats were created; the caller owns and may share them
// across calls (one per ruleset build, summed into the agent's counters).
// Calls with an empty cache_dir count nothing here.
struct HsCacheStats {
  uint64_t hits = 0;          // database loaded from the cache, no compile
  uint64_t misses = 0;        // compiled (no usable file), whether or not the store worked
  uint64_t stores = 0;        // files written
  uint64_t store_errors = 0;  // directory or file could not be written (once per call)
  uint64_t load_errors = 0;   // file present but unreadable, corrupt or foreign
  uint64_t pruned = 0;        // old files removed to keep the directory bounded
  std::string last_error;     // the latest store or load problem, for the log
};

// Exactly what hs_compile_lit_multi takes; the three vectors are parallel.
struct HsLiteralSet {
  std::vector<std::string> patterns;  // raw bytes (may contain NUL)
  std::vector<unsigned> flags;        // HS_FLAG_* per pattern
  std::vector<unsigned> ids;
  unsigned mode = HS_MODE_BLOCK;
};

// SHA-256 (lower-case hex) of a canonical serialisation of the set plus
// hs_version() and the host platform: the cache file is "<key>.hsdb".
std::string hs_cache_key(const HsLiteralSet& set);

// Compiles the set for the host platform, or loads it from cache_dir when a
// database compiled from an identical set (same patterns, flags, ids, mode,
// Hyperscan version and platform) is stored there. An empty cache_dir
// disables caching. The directory is created (0700) if missing; cache
// problems are counted in stats and never fail the call.
// On a compile failure returns nullptr and sets *error to Hyperscan's message
// with the failing pattern's id, and *failed_index to that pattern's position
// in set.patterns (-1 when Hyperscan names none). stats, error and
// failed_index may be null. The caller frees the result with
// hs_free_database().
//
// The directory is kept to max_files databases: a hit refreshes its file's
// modification time, and after each store the least recently used files
// beyond the limit are removed (a rule set has 8 databases, so the default
// keeps the last few dozen rule sets).
hs_database_t* hs_compile_literals_cached(const HsLiteralSet& set, const std::string& cache_dir,
                                          HsCacheStats* stats, std::string* error,
                                          int* failed_index = nullptr, size_t max_files = 256);

}  // namespace ws
