#!/usr/bin/env bash
# Builds wirescope_<version>_<arch>.deb from a configured and built meson
# build directory: `meson install --destdir` into a scratch root, the
# control file with Depends computed from the binary's shared libraries
# (dpkg-shlibdeps, or ldd + dpkg -S where that is unavailable), conffiles,
# maintainer scripts, then `dpkg-deb --build --root-owner-group`.
#
#   deploy/package/build-deb.sh BUILD_DIR OUT_DIR
#
# The build directory must be configured with --prefix=/usr (Debian's
# layout: /usr/bin, /etc, /usr/lib/systemd/system):
#   meson setup --prefix=/usr build && ninja -C build agent/wirescope
# Prints the path of the .deb on stdout.
set -euo pipefail

die() { echo "build-deb.sh: $*" >&2; exit 2; }
[ $# -eq 2 ] || die "usage: $0 BUILD_DIR OUT_DIR"
build=$(cd "$1" && pwd) || die "build dir '$1' does not exist"
mkdir -p "$2"
out=$(cd "$2" && pwd)
[ -f "$build/meson-info/meson-info.json" ] || die "$build is not a meson build directory"
for tool in meson dpkg-deb dpkg python3; do
  command -v "$tool" >/dev/null || die "$tool not found"
done

field() {  # field JSON-ARG PYTHON-EXPR
  meson introspect "$build" "$1" | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"
}
version=$(field --projectinfo 'd["version"]')
prefix=$(field --buildoptions 'next(o["value"] for o in d if o["name"] == "prefix")')
[ "$prefix" = /usr ] || die "$build has prefix '$prefix'; a package needs --prefix=/usr (meson configure $build -Dprefix=/usr)"
arch=$(dpkg --print-architecture)

ninja -C "$build" agent/wirescope >/dev/null || die "building agent/wirescope in $build failed"
root=$(mktemp -d "${TMPDIR:-/tmp}/wirescope-deb.XXXXXX")
trap 'rm -rf "$root"' EXIT
meson install -C "$build" --destdir "$root" --no-rebuild --quiet >/dev/null ||
  die "meson install --destdir $root failed"
bin="$root/usr/bin/wirescope"
[ -x "$bin" ] || die "meson install put no usr/bin/wirescope in $root"

# Depends: the packages whose shared libraries the binary links, with the
# versions their shlibs/symbols files ask for.
depends=""
if command -v dpkg-shlibdeps >/dev/null; then
  work=$(mktemp -d "${TMPDIR:-/tmp}/wirescope-shlibdeps.XXXXXX")
  mkdir -p "$work/debian"
  printf 'Source: wirescope\n\nPackage: wirescope\nArchitecture: any\n' > "$work/debian/control"
  if line=$(cd "$work" && dpkg-shlibdeps -O "$bin" 2>"$work/err"); then
    depends=${line#shlibs:Depends=}
  else
    echo "build-deb.sh: dpkg-shlibdeps failed, using ldd + dpkg -S: $(cat "$work/err")" >&2
  fi
  rm -rf "$work"
fi
if [ -z "$depends" ]; then
  pkgs=()
  while read -r lib; do
    real=$(readlink -f "$lib")
    pkg=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$real" 2>/dev/null || true)
    [ -n "$pkg" ] || die "no installed package provides $lib"
    pkgs+=("${pkg%%:*}")
  done < <(ldd "$bin" | awk '/=> \//{print $3}')
  depends=$(printf '%s\n' "${pkgs[@]}" | sort -u | paste -sd, | sed 's/,/, /g')
fi

mkdir -p "$root/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: wirescope
Version: $version
Architecture: $arch
Maintainer: wirescope developers <packaging@wirescope.invalid>
Installed-Size: $size
Depends: $depends
Recommends: logrotate
Section: net
Priority: optional
Description: packet and flow telemetry agent
 Captures traffic (AF_PACKET, libpcap, DPDK, GNS3 lab links, inline
 bridging), builds flow records and writes them as EVE JSON, IPFIX and
 NetFlow v9; matches Suricata-syntax rules with Hyperscan; serves a REST
 API, Prometheus metrics and a live web dashboard.
CONTROL

# Every file under /etc is configuration the admin may edit: dpkg keeps
# edits across upgrades.
(cd "$root" && find etc -type f | sed 's|^|/|' | sort) > "$root/DEBIAN/conffiles"

cat > "$root/DEBIAN/postinst" <<'SCRIPT'
#!/bin/sh
# The service user and its directories (sysusers.d, tmpfiles.d), the config
# readable by that user, and systemd told about the unit. The service is not
# started: the interface in /etc/wirescope/wirescope.yaml is the admin's call.
set -e
if [ "$1" = configure ]; then
  # Without systemd (a container) the same user and directories by hand;
  # an existing wirescope user is kept either way.
  if command -v systemd-sysusers >/dev/null 2>&1; then
    systemd-sysusers /usr/lib/sysusers.d/wirescope.conf
  elif ! getent passwd wirescope >/dev/null; then
    useradd --system --user-group --home-dir /var/lib/wirescope --shell /usr/sbin/nologin wirescope
  fi
  if command -v systemd-tmpfiles >/dev/null 2>&1; then
    systemd-tmpfiles --create /usr/lib/tmpfiles.d/wirescope.conf
  else
    install -d -o wirescope -g wirescope -m 0750 /var/log/wirescope /var/lib/wirescope
  fi
  chgrp wirescope /etc/wirescope/wirescope.yaml
  chmod 0640 /etc/wirescope/wirescope.yaml
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
    echo "wirescope: edit /etc/wirescope/wirescope.yaml, then: systemctl enable --now wirescope"
  fi
fi
exit 0
SCRIPT
cat > "$root/DEBIAN/prerm" <<'SCRIPT'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && { [ "$1" = remove ] || [ "$1" = upgrade ]; }; then
  systemctl stop wirescope.service >/dev/null 2>&1 || true
fi
exit 0
SCRIPT
cat > "$root/DEBIAN/postrm" <<'SCRIPT'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
SCRIPT
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"

deb="$out/wirescope_${version}_${arch}.deb"
dpkg-deb --build --root-owner-group "$root" "$deb" >/dev/null
echo "$deb"
