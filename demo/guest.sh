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
trace-cmd record -q -e mm_watch -o /tmp/demo.dat -F "$bin/writer"
echo
echo "=== trace-cmd report: one write_fault per page per epoch, a zap for the discard"
trace-cmd report -i /tmp/demo.dat 2>/dev/null | grep -E 'mm_watch|mark|write_fault|zap|unmap|exit' |
	sed -E 's/^ +//'

vmtrack=$root/tools/vmtrack/vmtrack
if [ -x "$vmtrack" ]; then
	echo
	echo "=== vmtrack run --interval 1 -- sample workload"
	"$vmtrack" run --interval 1 -- "$root/tools/vmtrack/tests/workload" --demo
fi
