#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Guest side: the kernel's own mm selftests that exercise the machinery
# the series touches (those in DIR/list, or the PROGs given), each as TAP
# for compare-tap.sh.
#   mm-selftests.sh DIR [PROG...]
set -u
dir=$1
shift
# Swap for the tests that page out (cow, pagemap_ioctl).
if [ -e /sys/block/zram0 ] && ! grep -q zram0 /proc/swaps; then
	echo 256M > /sys/block/zram0/disksize && mkswap /dev/zram0 >/dev/null &&
		swapon /dev/zram0
fi
echo 1 > /proc/sys/vm/overcommit_memory
if [ $# -gt 0 ]; then names=("$@"); else mapfile -t names < "$dir/list"; fi
progs=("${names[@]/#/$dir/}")
VMTRACK_TEST_TIMEOUT=${VMTRACK_TEST_TIMEOUT:-900} "$(dirname "$0")/run-tap.sh" "${progs[@]}"
exit 0
