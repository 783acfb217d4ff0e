#!/usr/bin/env bash
# Installs what is missing, builds wirescope, and replays the bundled demo
# capture (deploy/demo/demo.pcap, made by bench's wirescope-gen) with the
# demo rules (deploy/demo/demo.rules): flows and alerts are written to
# build/demo/eve.json and a summary is printed. No root, no NIC.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash deploy/setup.sh build
# A build of its own without the test suites, whose libraries the demo
# does not install.
[ -d build-demo ] || meson setup build-demo -Dtests=false >/dev/null
ninja -C build-demo agent/wirescope >/dev/null
out=build/demo
mkdir -p "$out"
rm -f "$out/eve.json"
./build-demo/agent/wirescope -r deploy/demo/demo.pcap -S deploy/demo/demo.rules -l "$out" "$@"
echo
echo "First alert and first flow events of $out/eve.json:"
grep -m 1 '"event_type":"alert"' "$out/eve.json" || true
grep -m 2 '"event_type":"flow"' "$out/eve.json" || true
echo "... $(grep -c '"event_type":"alert"' "$out/eve.json") alert and $(grep -c '"event_type":"flow"' "$out/eve.json") flow events in all"
