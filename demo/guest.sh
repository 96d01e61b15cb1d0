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

dump_target=$root/tools/vmtrack/tests/dump-target
check=$root/tools/vmtrack/tests/dumpcheck
if [ -x "$vmtrack" ] && [ -x "$dump_target" ] && [ -x "$check" ]; then
	echo
	echo "=== vmtrack dump: CRIU images of a running process (3 threads writing 16 MiB)"
	echo "=== copy everything, then only what changed, then freeze it for the rest"
	head -c 1048576 "$vmtrack" > file
	"$dump_target" -s 1 -m 16 -T 3 -u 300 -f file > target.out 2>&1 &
	tpid=$!
	until grep -q ready target.out; do
		kill -0 $tpid 2>/dev/null || { echo "dump-target died: $(cat target.out)"; exit 1; }
		sleep 0.1
	done
	sleep 1
	echo "# vmtrack dump -p $tpid -D /tmp/dump --leave-stopped"
	"$vmtrack" dump -p $tpid -D /tmp/dump --leave-stopped
	echo "--- iter N*: the frozen iteration; the summary's 'frozen' is how long"
	echo "--- the process stood still. The chain against the stopped process:"
	"$check" -p $tpid -D /tmp/dump/last
	echo "# ls /tmp/dump/last/"
	ls /tmp/dump/last/
	kill -9 $tpid
fi
