#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite:
#   1. the `fast` and `integration` suites on a release build;
#   2. the `fast` suite on an ASan+UBSan build;
#   3. every libFuzzer target for a fixed time (WIRESCOPE_FUZZ_SECONDS, default 30).
# The `perf` suite (benchmarks) is not part of this run: see bench/README.md.
# Ends with one line: "tests: N passed, N failed, N skipped".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash deploy/setup.sh all || { echo "deploy/setup.sh failed" >&2; exit 1; }

jobs=${WIRESCOPE_JOBS:-$(nproc)}
fuzz_seconds=${WIRESCOPE_FUZZ_SECONDS:-30}
passed=0 failed=0 skipped=0 status=0
failures=()  # "build: test" of every failed or timed-out test, repeated at the end

# Adds one meson test run's counts (from its summary) to the totals.
count() {
  local log=$1 ok fail skip to
  ok=$(awk '/^Ok:/{print $2}' "$log" | tail -1)
  fail=$(awk '/^Fail:/{print $2}' "$log" | tail -1)
  to=$(awk '/^Timeout:/{print $2}' "$log" | tail -1)
  skip=$(awk '/^Skipped:/{print $2}' "$log" | tail -1)
  passed=$((passed + ${ok:-0}))
  failed=$((failed + ${fail:-0} + ${to:-0}))
  skipped=$((skipped + ${skip:-0}))
}

setup() {  # dir, meson args...
  local dir=$1; shift
  if [ -d "$dir" ]; then meson setup --reconfigure "$dir" "$@" >/dev/null || return 1
  else meson setup "$dir" "$@" >/dev/null || return 1; fi
}

run_suites() {  # dir, suites...
  local dir=$1; shift
  local args=()
  for s in "$@"; do args+=(--suite "$s"); done
  local log
  log=$(mktemp)
  meson test -C "$dir" --num-processes "$jobs" --print-errorlogs "${args[@]}" 2>&1 | tee "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  count "$log"
  while IFS= read -r name; do failures+=("$dir: $name"); done < <(
    sed -nE 's/^ *[0-9]+\/[0-9]+ +(.*[^ ]) +(FAIL|TIMEOUT|ERROR) .*/\1/p' "$log")
  rm -f "$log"
}

stage_start=$SECONDS
# The minutes a stage took, after its results (CI reads them to keep the run short).
stage_end() { echo "== $1: $(( (SECONDS - stage_start) / 60 ))m$(( (SECONDS - stage_start) % 60 ))s"; stage_start=$SECONDS; }

echo "== release build: fast + integration"
# --prefix=/usr: Debian's layout, which the package test (tests/install) needs.
if setup build -Dtests=true --prefix=/usr && ninja -C build -j "$jobs"; then
  run_suites build fast integration
else
  echo "release build failed" >&2; status=1; failed=$((failed + 1))
fi
stage_end "release build and tests"

echo "== ASan+UBSan build: fast"
# -O1 with line tables only (-g1): what the sanitizers' reports need, at well
# under half the compile time of -O2 -g (the sanitizer builds are most of
# this run's time).
san_opts=(-Dbuildtype=plain -Doptimization=1 -Ddebug=false -Db_sanitize=address,undefined -Db_lundef=false)
if setup build-asan -Dtests=true "${san_opts[@]}" -Dcpp_args=-g1 &&
   ninja -C build-asan -j "$jobs"; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    run_suites build-asan fast
else
  echo "sanitizer build failed" >&2; status=1; failed=$((failed + 1))
fi
stage_end "ASan+UBSan build and fast suite"

echo "== libFuzzer targets, ${fuzz_seconds}s each"
# Only the fuzz targets are built here (they compile in the sources they fuzz).
fuzz_targets() {
  /usr/bin/python3 -c 'import json, os, sys
for t in json.load(open("build-fuzz/meson-info/intro-targets.json")):
    if t["type"] == "executable" and t["name"].endswith("_fuzz"):
        print(os.path.relpath(t["filename"][0], os.path.abspath("build-fuzz")))'
}
if CXX=clang++ setup build-fuzz -Dfuzz=true -Dtests=false "${san_opts[@]}" -Dcpp_args=-gline-tables-only &&
   targets=$(fuzz_targets) && [ -n "$targets" ] && ninja -C build-fuzz -j "$jobs" $targets; then
  for f in build-fuzz/tests/fuzz/*_fuzz; do
    [ -x "$f" ] || continue
    name=$(basename "$f")
    corpus="tests/fuzz/corpus/${name%_fuzz}"
    work=$(mktemp -d)
    [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/ 2>/dev/null
    if "$f" -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -print_final_stats=0 "$work" \
        >"build-fuzz/$name.log" 2>&1; then
      echo "fuzz $name: ok"; passed=$((passed + 1))
    else
      echo "fuzz $name: FAILED"; tail -40 "build-fuzz/$name.log"; failed=$((failed + 1)); status=1
      failures+=("fuzz: $name")
    fi
    rm -rf "$work"
  done
else
  echo "fuzz build failed" >&2; status=1; failed=$((failed + 1))
fi
stage_end "fuzz build and runs"

# The dashboard test's screenshot (tests/web), kept with the build.
[ -f build/tests/web/dashboard.png ] && echo "dashboard screenshot: $root/build/tests/web/dashboard.png"
for f in "${failures[@]}"; do echo "failed: $f"; done
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $status
