#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build one of the test kernels and print the path of its bzImage:
#   series  pristine baseline + kernel-patches/, CONFIG_MEM_WATCH=y
#   debug   the same with vm/debug.config (KASAN, lockdep, DEBUG_VM, ...)
#   base    the pristine baseline, same config without the feature
#   base-debug  the pristine baseline with vm/debug.config, the reference
#           for the debug kernel's regression comparison
set -euo pipefail
. "$(dirname "$0")/lib.sh"

case ${1:-series} in
series)
	tree=$("$VMTRACK_ROOT/scripts/kernel-series.sh" tree)
	exec "$VMTRACK_ROOT/scripts/kernel-build.sh" "$tree" "$VMTRACK_CACHE/build" --feature ;;
debug)
	tree=$("$VMTRACK_ROOT/scripts/kernel-series.sh" tree)
	exec "$VMTRACK_ROOT/scripts/kernel-build.sh" "$tree" "$VMTRACK_CACHE/build-debug" \
		--feature --debug ;;
base)
	"$VMTRACK_ROOT/scripts/kernel-baseline.sh"
	exec "$VMTRACK_ROOT/scripts/kernel-build.sh" "$KSRC" "$VMTRACK_CACHE/build-base" ;;
base-debug)
	"$VMTRACK_ROOT/scripts/kernel-baseline.sh"
	exec "$VMTRACK_ROOT/scripts/kernel-build.sh" "$KSRC" "$VMTRACK_CACHE/build-base-debug" \
		--debug ;;
*) die "usage: ${0##*/} series|debug|base|base-debug" ;;
esac
