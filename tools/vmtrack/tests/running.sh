#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# libvmtrack and vmtrack on a target that keeps running, as root, inside the
# test VM (kernel with MADV_WATCH):
#
#   make -C tools/vmtrack && vm/run -k BZIMAGE -c 2 -t 4800 -- tools/vmtrack/tests/running.sh
#
# - tests/unit on this kernel (the dense epochs' soft-dirty sweep for real)
# - tests/precopy: pre-copy rounds against a ground truth, many seeds; with
#   the write faults read from events, from soft-dirty sweeps (dense
#   epochs), and both in turn; with a tiny ring buffer (loss must be
#   reported, the result still exact); with the dirty ranges handed out in
#   batches; a target that only writes (dense epochs' sweeps give the dirty
#   set as found); with the ring buffers mapped (the default) and spliced;
#   a scripted target whose mappings are replaced, created or written and
#   made read-only, one step per epoch, with dense epochs (with events
#   only, and the writable mappings only, in parallel.sh); two and three
#   sessions on different targets in one process; consumer and target in
#   a child pid namespace
# - tests/exec-rearm: a target that execs between an epoch's drain and its
#   re-arm is left with nothing watched in its new program
# - vmtrack run exits with the command's status
# - vmtrack watch: the final epoch is taken with the target frozen; a target
#   that cannot be frozen (another tracer) is an error, not a final epoch
#
# PRECOPY_SEEDS (default 8) sets the number of seeds per precopy case,
# PRECOPY_TIMEOUT (default 900) the seconds one case may take.
# Prints TAP lines and "N passed, N failed"; exits 4 (skip) on a kernel
# without the feature, 1 on failure.

set -u
here=$(cd "$(dirname "$0")" && pwd)
VMTRACK=${VMTRACK:-$here/../vmtrack}
PRECOPY=${PRECOPY:-$here/precopy}
UNIT=${UNIT:-$here/unit}
SEEDS=${PRECOPY_SEEDS:-8}

. "$here/tap.sh"
tap_begin running "$VMTRACK" "$PRECOPY" "$UNIT"
echo "# $(nproc) CPUs"

# The host unit tests again, on this kernel: the tracker's dense epochs then
# sweep real soft-dirty bits (the host may lack them or PAGEMAP_SCAN), and
# the sweep re-arms watched pages (the host lacks MADV_WATCH).
(cd $tmp && "$UNIT") > $tmp/unit 2>&1
grep '^not ok' -B4 $tmp/unit | sed 's/^/# /'
check "unit tests on this kernel, the soft-dirty sweep live ($(tail -1 $tmp/unit))" \
	sh -c "grep -q '^# host soft-dirty sweep: yes' $tmp/unit &&
	       grep -q '^# kernel re-arms in the sweep: yes' $tmp/unit &&
	       tail -1 $tmp/unit | grep -q ' 0 failed'"

# under TCG an epoch of this workload takes seconds: few epochs per seed
precopy "precopy: running target, exact against snapshots" -n "$SEEDS" -s 1 -e 8
# the write faults from events only, from sweeps only, and in turn (enter,
# leave, the sweep after leaving, events only): the default above lets the
# library choose, which for this workload is mostly dense
precopy "precopy: events only (dense never), exact" -n $(( (SEEDS + 1) / 2 )) -s 501 -e 8 -d never
# (-R: this kernel's sweeps re-arm what they find, and must have done so;
# in turn, every dense epoch follows vmtrack's own switch of the event,
# which does not make its sweep wide)
precopy "precopy: dense epochs only (soft-dirty sweeps), exact" -n $(( (SEEDS + 1) / 2 )) -s 601 -e 8 -d always -R
precopy "precopy: dense epochs in and out in turn, exact" -n $(( (SEEDS + 1) / 2 )) -s 701 -e 9 -d cycle
# Only the writable mappings (VMTRACK_F_WRITABLE_ONLY) with the write
# faults from events, where a tracked mapping made read-only keeps its dirty
# pages and the events of one written through /proc/PID/mem or made
# writable again reach it, run in parallel.sh, on two CPUs at once; so do
# the scripted mapping changes below with events only. Here with dense
# epochs: mappings replaced, created or written and then made read-only, a
# read-only one replaced in place, one step and epoch at a time (a random
# mix reaches them only when an epoch falls inside an mprotect() window).
for mode in always cycle; do
	precopy "precopy: scripted mapping changes, every private mapping, dense $mode" \
		-X -d $mode
	precopy "precopy: scripted mapping changes, writable mappings only, dense $mode" \
		-X -w -d $mode
done
# every epoch all dirty copies everything: fewer epochs
precopy "precopy: 4 KiB buffers, loss reported, still exact" -n $(( (SEEDS + 1) / 2 )) -s 1001 -b 4 -L -e 4
# the dirty ranges handed out a few at a time, each batch re-armed and
# copied while the target runs (vmtrack_session_set_batch()): after events,
# after sweeps that re-armed, and after a loss
precopy "precopy: dirty ranges in batches of 3, dense in and out in turn, exact" \
	-n $(( (SEEDS + 1) / 2 )) -s 1101 -e 9 -d cycle -B 3
precopy "precopy: batches of 5, 4 KiB buffers, loss reported, still exact" \
	-n $(( (SEEDS + 2) / 3 )) -s 1201 -b 4 -L -e 4 -B 5
# a target that only writes: no other event makes a page dirty, so a dense
# epoch's re-arming sweep hands its regions on as the dirty ranges, at once
# or batch by batch as it goes
precopy "precopy: writes only, dense, the sweep's regions as the dirty set, exact" \
	-n $(( (SEEDS + 2) / 3 )) -s 1801 -e 8 -d always -R -W
precopy "precopy: writes only, dense, swept batch by batch (3 ranges), exact" \
	-n $(( (SEEDS + 2) / 3 )) -s 1701 -e 8 -d always -R -W -B 3
# the buffers read by splice() and read() (kernels before 6.10, or
# VMTRACK_F_NO_MAP) rather than in place through their mapping
precopy "precopy: buffers spliced, not mapped, exact" -n $(( (SEEDS + 2) / 3 )) -s 801 -e 8 -S
precopy "precopy: buffers spliced, 4 KiB, loss reported, still exact" \
	-n $(( (SEEDS + 3) / 4 )) -s 1301 -b 4 -L -e 4 -S
precopy "precopy: two sessions on two targets in one process, exact" -n $(( (SEEDS + 2) / 3 )) -s 2001 -t 2 -e 4
precopy "precopy: three sessions in one process, exact" -n $(( (SEEDS + 5) / 6 )) -s 3001 -t 3 -e 3
if command -v unshare > /dev/null; then
	# the consumer and its targets in a child pid namespace: the events name
	# the target by its tgid in the initial one
	precopy "precopy: in a child pid namespace (unshare -p -f --mount-proc), exact" \
		-n $(( (SEEDS + 3) / 4 )) -s 4001 -e 6
else
	nok "precopy: in a child pid namespace: unshare (util-linux) not found"
fi
check "precopy: no instance left" no_instances

# ---- the target execs between an epoch's drain and its re-arm --------

# the re-arm watches the new program's mapping at the re-armed addresses;
# the next epoch reads the old mm's exit and must unwatch it there
"$here/exec-rearm" > $tmp/exec 2>&1
rc=$?
sed 's/^/# /' $tmp/exec
check "exec before a re-arm: the new program is left unwatched (exit $rc)" [ $rc = 0 ]
check "exec before a re-arm: no instance left" no_instances

# ---- vmtrack run: the command's exit status -------------------------

run_status() {
	"$VMTRACK" run -q -- "$@" > /dev/null 2> $tmp/err
	echo $?
}
check "run: 'false' exits 1" [ "$(run_status false)" = 1 ]
check "run: 'true' exits 0" [ "$(run_status true)" = 0 ]
check "run: 'sh -c exit 7' exits 7" [ "$(run_status sh -c 'exit 7')" = 7 ]
check "run: a command killed by SIGKILL gives 137" [ "$(run_status sh -c 'kill -9 $$')" = 137 ]

# ---- vmtrack watch: the final epoch's freeze ------------------------

sleep 1000 &
target=$!
pids+=("$target")

# a target held by another tracer cannot be frozen: error, no final epoch
"$PRECOPY" --hold $target > $tmp/hold &
holder=$!
pids+=("$holder")
for ((i = 0; i < 600; i++)); do grep -q holding $tmp/hold && break; sleep 0.1; done
check "watch: another tracer holds the target" grep -q holding $tmp/hold
"$VMTRACK" watch -p $target -n 2 -i 0.2 -j > $tmp/out 2> $tmp/err
rc=$?
check "watch: a target that cannot be frozen fails the run (exit $rc)" [ $rc != 0 ]
check "watch: ... and says why" grep -q "cannot freeze pid $target: another process traces it" $tmp/err
check "watch: ... and takes no final epoch" sh -c "! grep -q '\"final\":true' $tmp/out"
kill $holder
wait $holder 2>/dev/null

# without it, the final epoch is taken frozen, and the target goes on after
"$VMTRACK" watch -p $target -n 2 -i 0.2 -j > $tmp/out 2> $tmp/err
rc=$?
check "watch: the final epoch of a free target (exit $rc)" \
	sh -c "[ $rc = 0 ] && grep -q '\"final\":true' $tmp/out"
check "watch: the target is not left stopped" \
	sh -c "! grep -qE '^State:.*(stopped|tracing)' /proc/$target/status"
check "watch: no tracer left" grep -q '^TracerPid:[[:space:]]*0$' /proc/$target/status
kill $target
check "no instance left" no_instances

tap_end
