#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the test VM (see bench/micro/run.sh): the first write to a
# tracked page under each tracking setup, and the re-arm of written pages
# (MADV_WATCH against uffd-wp's re-protect, and PAGEMAP_SCAN's re-arming
# walk in watched VMAs against WP_ASYNC's; the sparse ones also after an
# idle pause, as between epochs), and how long each re-arm holds
# up a thread of the target that writes meanwhile, each case ROUNDS times
# in rotation so that the host's drift hits all.
set -eu
bin=${MICRO_BIN:?}
rounds=${MICRO_ROUNDS:-3}
pages=${MICRO_PAGES:-262144}	# 1 GiB
stride=${MICRO_STRIDE:-10}	# 10 % written, every page its own range
T=/sys/kernel/tracing
mount -t tracefs nodev $T 2>/dev/null || true
I=$T/instances/vmtrack-micro
mkdir -p $I
trap 'rmdir $I 2>/dev/null || true' EXIT
echo 8192 > $I/buffer_size_kb		# one repetition's events fit
echo 0 > $I/options/overwrite
ev=$I/events/mm_watch/mm_watch_write_fault
# held in soft mode by a trigger that never fires, as libvmtrack does
trig=$I/events/mm_watch/mm_watch_exit/trigger
soft='enable_event:mm_watch:mm_watch_write_fault if common_pid < 0'

fw() {	# LABEL MODE: one round of first writes, writer pinned to CPU 0
	taskset -c 0 "$bin/first-write" "$2" "$pages" "$stride" 5 $I/trace "$1"
}
for ((r = 0; r < rounds; r++)); do
	echo 0 > $ev/enable
	fw soft-dirty soft-dirty
	fw watch-event-off watch
	echo "$soft" > $trig
	echo 0 > $ev/enable
	fw watch-event-soft-off watch	# a dense epoch's write fault
	echo "!$soft" > $trig
	echo 1 > $ev/enable
	fw watch-event watch
	echo "tgid != 0" > $ev/filter	# passes every event: the filter's own cost
	fw watch-event-filtered watch
	echo 0 > $ev/filter
	echo 0 > $ev/enable
	for s in 10 100 1000 10000 $pages; do
		"$bin/rearm" $((pages / 256)) $s 7 watch
		"$bin/rearm" $((pages / 256)) $s 7 uffd-wp
	done
	# the same re-arms of 0.1 and 0.01 %, each after 100 ms of idle
	for s in 1000 10000; do
		MICRO_GAP_MS=100 "$bin/rearm" $((pages / 256)) $s 7 watch
		MICRO_GAP_MS=100 "$bin/rearm" $((pages / 256)) $s 7 uffd-wp
	done
	for s in 1 10 100; do
		"$bin/rearm" $((pages / 256)) $s 7 scan-watch
		"$bin/rearm" $((pages / 256)) $s 7 scan-uffd
	done
	# calls of 1024 regions against 4096, long enough for TCG's steady state
	for v in 1024 4096; do
		"$bin/rearm" $((pages / 256)) $stride 24 scan-watch $v
		"$bin/rearm" $((pages / 256)) $stride 24 scan-uffd $v
	done
	for m in scan-watch scan-uffd watch uffd-wp; do
		"$bin/stall" $((pages / 256)) 10 5 $m
	done
	for m in scan-watch scan-uffd watch; do	# uffd-wp: 229376 ioctls
		"$bin/stall" $((pages / 256)) 1 5 $m
	done
done
