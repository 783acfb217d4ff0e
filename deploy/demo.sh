#!/usr/bin/env bash
# Installs what is missing, builds wirescope, and runs it on the bundled
# demo capture (deploy/demo/demo.pcap, made by bench's wirescope-gen) with
# the demo rules (deploy/demo/demo.rules). No root, no NIC.
#
#   1. One pass as fast as possible: flows and alerts in build/demo/eve.json
#      and the run's summary.
#   2. Then the capture replayed forever at its recorded pace (--loop
#      --replay-speed) with the API up on 127.0.0.1:8080: the dashboard,
#      /metrics, /api/v1/flows and /api/v1/alerts, with a viewer token made
#      for this run. Ctrl-C stops it.
#
# Options: --once (step 1 only). Environment: WIRESCOPE_DEMO_PORT (8080),
# WIRESCOPE_DEMO_SPEED (1), WIRESCOPE_DEMO_OUT (build/demo), WIRESCOPE_DEMO_BIN
# (a wirescope binary to use instead of building one; the setup and build
# are then skipped).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
once=false
for a in "$@"; do
  case "$a" in
    --once) once=true ;;
    *) echo "usage: $0 [--once]" >&2; exit 2 ;;
  esac
done
port=${WIRESCOPE_DEMO_PORT:-8080}
speed=${WIRESCOPE_DEMO_SPEED:-1}

if [ -n "${WIRESCOPE_DEMO_BIN:-}" ]; then
  ws=$WIRESCOPE_DEMO_BIN
else
  bash deploy/setup.sh build
  # A build of its own without the test suites, whose libraries the demo
  # does not install.
  [ -d build-demo ] || meson setup build-demo -Dtests=false >/dev/null
  ninja -C build-demo agent/wirescope >/dev/null
  ws=./build-demo/agent/wirescope
fi

out=$(mkdir -p "${WIRESCOPE_DEMO_OUT:-build/demo}" && cd "${WIRESCOPE_DEMO_OUT:-build/demo}" && pwd)
mkdir -p "$out"
rm -f "$out/eve.json"
"$ws" -r deploy/demo/demo.pcap -S deploy/demo/demo.rules -l "$out"
echo
echo "First alert and first flow events of $out/eve.json:"
grep -m 1 '"event_type":"alert"' "$out/eve.json" || true
grep -m 2 '"event_type":"flow"' "$out/eve.json" || true
echo "... $(grep -c '"event_type":"alert"' "$out/eve.json") alert and $(grep -c '"event_type":"flow"' "$out/eve.json") flow events in all"
$once && exit 0

# The live part: a token for this run only, its hash in the config.
live=$out/live
mkdir -p "$live"
rm -f "$live/eve.json"
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
hash=$(printf %s "$token" | sha256sum | cut -d' ' -f1)
cat >"$live/demo.yaml" <<EOF
# Written by deploy/demo.sh for one run.
input:
  file: $root/deploy/demo/demo.pcap
  loop: true
  replay_speed: $speed
rules:
  files: [$root/deploy/demo/demo.rules]
output:
  log_dir: $live
api:
  listen: 127.0.0.1:$port
  tokens:
    - {name: demo, role: viewer, token_sha256: "$hash"}
EOF
cat <<EOF

Replaying deploy/demo/demo.pcap forever at ${speed}x its recorded pace, API on 127.0.0.1:$port.
  token:      $token
  dashboard:  http://127.0.0.1:$port/   (sign in with the token)
  metrics:    curl -s http://127.0.0.1:$port/metrics | grep ^wirescope_
  flows:      curl -s -H "Authorization: Bearer $token" 'http://127.0.0.1:$port/api/v1/flows/top?n=5'
  alerts:     curl -s -H "Authorization: Bearer $token" 'http://127.0.0.1:$port/api/v1/alerts?limit=5'
  events:     tail -f $live/eve.json
Ctrl-C stops it.
EOF
exec "$ws" -c "$live/demo.yaml"
