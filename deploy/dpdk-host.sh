#!/usr/bin/env bash
# Prepares a production host for `--capture dpdk`: reserves hugepages,
# loads vfio-pci and binds the named NICs to it, with the tools of Debian's
# `dpdk` package (dpdk-hugepages.py, dpdk-devbind.py). Tests and CI do not
# need this: they run the EAL with --no-huge on virtual devices.
#
#   deploy/dpdk-host.sh [--dry-run] [--pages-gb N] [--page-size 2M|1G] PCI_ADDR...
#   deploy/dpdk-host.sh [--dry-run] --unbind DRIVER PCI_ADDR...   (give a NIC back, e.g. to ixgbe)
#   deploy/dpdk-host.sh --status
#
# --dry-run prints the commands instead of running them. Run it again and it
# does nothing that is already done. A NIC bound to vfio-pci leaves the
# kernel: it carries no IP traffic of the host, so never name the NIC you
# reach the host over.
set -euo pipefail

dry=0
pages_gb=2
page_size=2M
unbind=""
status=0
addrs=()
die() { echo "dpdk-host.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry=1 ;;
    --pages-gb) pages_gb="${2:?--pages-gb needs a number}"; shift ;;
    --page-size) page_size="${2:?--page-size needs 2M or 1G}"; shift ;;
    --unbind) unbind="${2:?--unbind needs the kernel driver to give the NICs back to}"; shift ;;
    --status) status=1 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) addrs+=("$1") ;;
  esac
  shift
done

case "$pages_gb" in ''|*[!0-9]*) die "--pages-gb $pages_gb: must be a whole number of GiB" ;; esac
case "$page_size" in 2M|1G) ;; *) die "--page-size $page_size: must be 2M or 1G" ;; esac
for a in "${addrs[@]}"; do
  [[ "$a" =~ ^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$ ]] ||
    die "$a: not a PCI address (like 0000:01:00.0)"
done

run() {
  if [ "$dry" -eq 1 ]; then echo "+ $*"; else "$@"; fi
}

for tool in dpdk-hugepages.py dpdk-devbind.py; do
  command -v "$tool" >/dev/null || [ "$dry" -eq 1 ] || die "$tool missing: apt-get install dpdk"
done

if [ "$status" -eq 1 ]; then
  dpdk-hugepages.py --show
  dpdk-devbind.py --status-dev net
  exit 0
fi

if [ -n "$unbind" ]; then
  [ ${#addrs[@]} -gt 0 ] || die "--unbind needs the PCI addresses to give back"
  run dpdk-devbind.py --bind="$unbind" "${addrs[@]}"
  exit 0
fi

[ ${#addrs[@]} -gt 0 ] || die "name the PCI addresses of the capture NICs (dpdk-devbind.py --status-dev net lists them)"

# Hugepages: reserve and mount them (idempotent: --setup resets to the size).
run dpdk-hugepages.py --pagesize "$page_size" --setup "${pages_gb}G"

# vfio-pci with the IOMMU; without one, no-IOMMU mode (unsafe, as DPDK says).
run modprobe vfio-pci
if [ ! -d /sys/kernel/iommu_groups ] || [ -z "$(ls -A /sys/kernel/iommu_groups 2>/dev/null)" ]; then
  echo "dpdk-host.sh: no IOMMU groups; enabling vfio no-IOMMU mode" >&2
  if [ "$dry" -eq 1 ]; then
    echo "+ echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode"
  else
    echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode
  fi
fi

for a in "${addrs[@]}"; do
  drv=""
  [ -e "/sys/bus/pci/devices/$a/driver" ] && drv="$(basename "$(readlink "/sys/bus/pci/devices/$a/driver")")"
  if [ "$drv" = vfio-pci ]; then
    echo "dpdk-host.sh: $a already bound to vfio-pci" >&2
    continue
  fi
  run dpdk-devbind.py --bind=vfio-pci "$a"
done
echo "dpdk-host.sh: done; give the agent: capture: dpdk, interface: <PCI address>, dpdk.eal_args: [-a, <PCI address>]" >&2
