#!/usr/bin/env bash
# deploy/dpdk-host.sh in --dry-run: the commands it would run for a host,
# and the arguments it refuses before touching anything.
set -u
script="$1"
fail=0
check() {  # name, expected substring, command...
  local name="$1" want="$2"; shift 2
  local out
  out="$("$@" 2>&1)"
  if [[ "$out" != *"$want"* ]]; then
    echo "FAIL $name: wanted '$want' in:"; echo "$out"; fail=1
  else
    echo "ok   $name"
  fi
}
check hugepages "+ dpdk-hugepages.py --pagesize 1G --setup 4G" \
  "$script" --dry-run --pages-gb 4 --page-size 1G 0000:00:1f.7
check bind "+ dpdk-devbind.py --bind=vfio-pci 0000:00:1f.7" "$script" --dry-run 0000:00:1f.7
check vfio "+ modprobe vfio-pci" "$script" --dry-run 0000:00:1f.7
check unbind "+ dpdk-devbind.py --bind=ixgbe 0000:00:1f.7" "$script" --dry-run --unbind ixgbe 0000:00:1f.7
check bad_pci "eth0: not a PCI address" "$script" --dry-run eth0
check bad_size "--page-size 4K: must be 2M or 1G" "$script" --dry-run --page-size 4K 0000:00:1f.7
check bad_gb "--pages-gb x: must be a whole number" "$script" --dry-run --pages-gb x 0000:00:1f.7
check no_nic "name the PCI addresses" "$script" --dry-run
if "$script" --dry-run eth0 >/dev/null 2>&1; then echo "FAIL bad_pci exits 0"; fail=1; fi
exit $fail
