#!/bin/sh
# Rewrites the golden captures (make_golden) and the expected eve.json of
# each case from the current wirescope, keeping the correct values listed in
# known_bugs.json. The result is only a proposal: review `git diff
# tests/golden` line by line against README.md before committing; an
# expected file must say what Suricata would print, not whatever the agent
# printed today.
#
#   tests/golden/regen.sh BUILD_DIR [CASE...]
set -eu
if [ $# -lt 1 ]; then
  echo "usage: $0 BUILD_DIR [CASE...]   (e.g. $0 /tmp/build)" >&2
  exit 2
fi
build=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
ninja -j2 -C "$build" agent/wirescope tests/golden/make_golden
exec /usr/bin/python3 "$here/golden.py" regen \
  --wirescope "$build/agent/wirescope" \
  --make-golden "$build/tests/golden/make_golden" \
  --dir "$here" "$@"
