#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# "make demo": build the patched kernel and the tools, boot the VM and show
# the feature: raw mm_watch events from trace-cmd, then vmtrack on a
# sample workload.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

msg "building the patched kernel (first time: several minutes)"
kernel=$("$VMTRACK_ROOT/scripts/kernel-image.sh" series)
msg "building the demo programs and tools/vmtrack"
"$VMTRACK_ROOT/tests/build-guest.sh"
mkdir -p "$VMTRACK_CACHE/demo"
gcc -O2 -Wall -o "$VMTRACK_CACHE/demo/writer" "$VMTRACK_ROOT/demo/writer.c"
msg "booting the VM"
VMTRACK_DEMO_BIN=$VMTRACK_CACHE/demo exec "$VMTRACK_ROOT/vm/run" -k "$kernel" -t 600 -- \
	env VMTRACK_DEMO_BIN="$VMTRACK_CACHE/demo" "$VMTRACK_ROOT/demo/guest.sh"
