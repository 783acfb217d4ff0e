#!/usr/bin/env bash
# Installs what is missing, builds wirescope, and replays the bundled demo
# capture (deploy/demo/demo.pcap, made by bench's wirescope-gen): flows are
# written to build/demo/eve.json and a summary is printed. No root, no NIC.
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
./build-demo/agent/wirescope -r deploy/demo/demo.pcap -l "$out" "$@"
echo
echo "First flow records of $out/eve.json:"
head -n 3 "$out/eve.json"
echo "... $(wc -l < "$out/eve.json") flow events in all"
