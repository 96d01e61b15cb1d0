#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the VM for "make demo".
set -eu
bin=${VMTRACK_DEMO_BIN:?}
root=$(cd "$(dirname "$0")/.." && pwd)
cd /tmp

echo
echo "=== Linux $(uname -r) with MADV_WATCH: the mm_watch tracepoints"
ls /sys/kernel/tracing/events/mm_watch/
echo
echo "=== trace-cmd record -e mm_watch -F writer"
# File version 6: this trace-cmd's version 7 files need a compression
# library the host may not have.
trace-cmd record -q --file-version 6 -e mm_watch -o /tmp/demo.dat -F "$bin/writer"
echo
echo "=== trace-cmd report: one write_fault per page per epoch, a zap for the discard"
trace-cmd report -i /tmp/demo.dat | grep -v '^cpus=' | sed -E 's/^ +//'

vmtrack=$root/tools/vmtrack/vmtrack
if [ -x "$vmtrack" ]; then
	echo
	echo "=== vmtrack run --interval 1 -- sample workload"
	"$vmtrack" run --interval 1 -- "$root/tools/vmtrack/tests/workload" --demo
fi
