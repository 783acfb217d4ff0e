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
  iperf3 tcpdump ethtool python3-aiohttp openssl
  logrotate dpkg-dev systemd
  chromium nodejs
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

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
apt_install() {
  if ! $SUDO apt-get install -y --no-install-recommends "$@"; then
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends "$@"
  fi
}
if [ ${#missing[@]} -gt 0 ]; then
  echo "deploy/setup.sh: installing ${missing[*]}" >&2
  # tshark asks whether non-root users may capture; answer no without a prompt.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
  apt_install "${missing[@]}"
fi

# The dashboard's browser test drives Chromium with playwright-core, pinned
# in tests/web/package-lock.json and installed from the npm registry. npm
# comes with NodeSource's nodejs; Debian's nodejs has it in a package of its
# own. A failure here only makes that one test skip, saying why.
case "${1:-all}" in
  all|test)
    web=$(cd "$(dirname "$0")/.." && pwd)/tests/web
    if [ ! -f "$web/node_modules/playwright-core/package.json" ] ||
       ! grep -q '"version": "1.61.1"' "$web/node_modules/playwright-core/package.json"; then
      command -v npm >/dev/null || apt_install npm || true
      (cd "$web" && npm ci --no-audit --no-fund --loglevel=error) ||
        echo "deploy/setup.sh: npm ci in tests/web failed; the dashboard browser test will skip" >&2
    fi
    ;;
esac
