#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Guest side: the kernel's own mm selftests that exercise the machinery
# the series touches (list in DIR/list), each as TAP for compare-tap.sh.
set -u
dir=$1
# Swap for the tests that page out (cow, pagemap_ioctl).
if [ -e /sys/block/zram0 ] && ! grep -q zram0 /proc/swaps; then
	echo 256M > /sys/block/zram0/disksize && mkswap /dev/zram0 >/dev/null &&
		swapon /dev/zram0
fi
echo 1 > /proc/sys/vm/overcommit_memory
progs=()
while read -r t; do progs+=("$dir/$t"); done < "$dir/list"
VMTRACK_TEST_TIMEOUT=900 "$(dirname "$0")/run-tap.sh" "${progs[@]}"
exit 0
