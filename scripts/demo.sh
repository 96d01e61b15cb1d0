#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# "make demo": build the patched kernel and the tools, boot the VM and show
# the feature: raw mm_watch events from trace-cmd (the README's one-liner),
# perf and bpftrace, then vmtrack run on a sample workload and vmtrack dump
# of a running one (iterations, pages per iteration, freeze time).
#
#   scripts/demo.sh		the demo
#   scripts/demo.sh --build	only build the demo programs (demo/writer.c,
#				demo/events.c) into $VMTRACK_CACHE/demo, for
#				demo/tracers.sh in make test
set -euo pipefail
. "$(dirname "$0")/lib.sh"

bin=$VMTRACK_CACHE/demo

build_programs() {
	mkdir -p "$bin"
	gcc -O2 -Wall -o "$bin/writer" "$VMTRACK_ROOT/demo/writer.c"
	gcc -O2 -Wall -o "$bin/events" "$VMTRACK_ROOT/demo/events.c"
}

if [ "${1:-}" = --build ]; then
	build_programs
	exit 0
fi

msg "building the patched kernel (first time: several minutes)"
kernel=$("$VMTRACK_ROOT/scripts/kernel-image.sh" series)
msg "building the demo programs and tools/vmtrack"
"$VMTRACK_ROOT/tests/build-guest.sh"
build_programs
msg "booting the VM"
exec "$VMTRACK_ROOT/vm/run" -k "$kernel" -t 600 -- \
	env VMTRACK_DEMO_BIN="$bin" "$VMTRACK_ROOT/demo/guest.sh"
