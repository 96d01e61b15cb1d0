#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the VM for "make demo".
set -eu
bin=${VMTRACK_DEMO_BIN:?}
root=$(cd "$(dirname "$0")/.." && pwd)
cd /tmp
cp "$bin/writer" ./prog

echo
echo "=== Linux $(uname -r) with MADV_WATCH: the mm_watch tracepoints"
ls /sys/kernel/tracing/events/mm_watch/
echo
echo "=== the sample program (demo/writer.c): watch 16 pages, write, re-arm, write, discard"
echo "=== trace-cmd record -e mm_watch -F ./prog; trace-cmd report"
trace-cmd record -e mm_watch -F ./prog
echo
echo "--- one write_fault per page per epoch, a zap for the discard:"
trace-cmd report 2>&1 | grep -v '^cpus=' | sed -E 's/^ +//'

echo
echo "=== perf record -a -e 'mm_watch:*' ./prog; perf script"
perf record -q -a -e 'mm_watch:*' ./prog > /dev/null
perf script | sed -E 's/^ +//'

echo
echo "=== bpftrace -e 'tracepoint:mm_watch:mm_watch_write_fault { @[comm] = count(); }' -c ./prog"
bpftrace -e 'tracepoint:mm_watch:mm_watch_write_fault { @[comm] = count(); }' -c ./prog

vmtrack=$root/tools/vmtrack/vmtrack
if [ -x "$vmtrack" ]; then
	echo
	echo "=== vmtrack run --interval 1 -- sample workload"
	"$vmtrack" run --interval 1 -- "$root/tools/vmtrack/tests/workload" --demo
fi
