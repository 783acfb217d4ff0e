#!/usr/bin/env bash
# Installs every Debian package that wirescope's build, tests and demo need.
# Idempotent: packages already present are skipped, and nothing is done when
# all are there. Needs root (or sudo) only when something is missing.
set -euo pipefail

BUILD_PKGS=(
  meson ninja-build pkg-config g++ clang
  libpcap-dev liburing-dev libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libssl-dev libpcre2-dev libhyperscan-dev prometheus-cpp-dev libcivetweb-dev
  libprotobuf-dev protobuf-compiler libndpi-dev
  libdpdk-dev libnl-route-3-dev libcurl4-openssl-dev
)
TEST_PKGS=(
  libgtest-dev libgmock-dev libbenchmark-dev
  libfuzzer-14-dev libclang-rt-14-dev
  nfdump tshark softflowd tcpreplay iproute2 python3-yaml python3-websocket prometheus libndpi-bin wrk
  iperf3 tcpdump python3-aiohttp
  logrotate dpkg-dev systemd
)

want=("${BUILD_PKGS[@]}")
case "${1:-all}" in
  build) ;;
  all|test) want+=("${TEST_PKGS[@]}") ;;
  *) echo "usage: $0 [build|test|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deploy/setup.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
if ! $SUDO apt-get install -y --no-install-recommends "${missing[@]}"; then
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
