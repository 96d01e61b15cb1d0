#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Pre-copy with the target's threads and the consumer on two CPUs that run at
# once, as root, inside the test VM (kernel with MADV_WATCH):
#
#   VMTRACK_TCG=multi VMTRACK_VM_CMDLINE=numa=fake=2 vm/run -k BZIMAGE -c 2 -t 2400 -- \
#	tools/vmtrack/tests/parallel.sh
#
# running.sh and e2e.sh, which also start several sessions at once, run
# under qemu's TCG with one thread for all vCPUs: the CPUs take turns, and a
# fault on one never overlaps a re-arm on the other. With a thread per vCPU
# (VMTRACK_TCG=multi) they do overlap, but live-patching a tracepoint's call
# sites while another vCPU runs through them can crash the guest (a qemu
# bug, see vm/run). libvmtrack's dense epochs switch the write_fault event
# in soft mode, which patches nothing (DENSE EPOCHS in vmtrack(1)); what
# still patches is a second instance's probe coming or going. So this suite
# runs one session at a time.
#
# - tests/cpus-at-once: the two CPUs run at once (adds lost to each other);
#   if not, the checks below still run, on CPUs taking turns
# - tests/precopy: the mixed workload with the library's choice of dense
#   epochs and with dense epochs in and out in turn; with the kernel
#   swapping, migrating (between the two nodes of numa=fake=2) and merging
#   the target's pages meanwhile; with the target's own userfaultfd
#   WP_ASYNC card marking; events only: the
#   mixed workload, writes only, loss, batches, spliced buffers, writable
#   mappings only and the scripted mapping changes; each against snapshots
#   of the frozen target
#
# (make test also runs tests/dump.sh and tests/criu.sh so, as suites of
# their own.)
#
# PRECOPY_SEEDS (default 3) sets the number of seeds of the first precopy
# case; the others take fewer. PRECOPY_TIMEOUT (default 900) the seconds
# one case may take.
# Prints TAP lines and "N passed, N failed"; exits 4 (skip) on a kernel
# without the feature, 1 on failure.

set -u
here=$(cd "$(dirname "$0")" && pwd)
PRECOPY=${PRECOPY:-$here/precopy}
AT_ONCE=$here/cpus-at-once
SEEDS=${PRECOPY_SEEDS:-3}

. "$here/tap.sh"
tap_begin parallel "$PRECOPY" "$AT_ONCE"
info "$(nproc) CPUs"

out=$("$AT_ONCE" 2>&1)
case $? in
0) ok "two CPUs run at once: $out" ;;
1) n=$((n + 1)); echo "ok $n - two CPUs run at once # SKIP they took turns: $out" ;;
*) nok "two CPUs run at once: $out" ;;
esac

precopy "precopy: running target, exact against snapshots" -n "$SEEDS" -s 9501 -e 8
precopy "precopy: dense epochs in and out in turn, exact" \
	-n $(( (SEEDS + 1) / 2 )) -s 9511 -e 9 -d cycle
# the kernel swaps, migrates and merges the pages the epochs track (the
# library's choice of dense epochs: the sweeps read the bits those moves
# must keep)
precopy "precopy: pages swapped out, migrated and merged meanwhile, exact" \
	-n $(( (SEEDS + 1) / 2 )) -s 9601 -e 8 -K
# the target's own WP_ASYNC card marking (the kernel ends the watch of what
# it registers): its scans, which span watched runs, must still see its
# writes and leave the runs' alone, and the consumer's dense sweeps must
# leave its protection alone
precopy "precopy: the target's own uffd WP_ASYNC, dense epochs, exact" \
	-n $(( (SEEDS + 1) / 2 )) -s 9611 -e 8 -U -d always -R
precopy "precopy: running target, events only, exact against snapshots" \
	-n "$SEEDS" -s 9001 -e 8 -d never
precopy "precopy: running target, writes only, events only, exact" \
	-n $(( (SEEDS + 1) / 2 )) -s 9101 -e 8 -d never -W
precopy "precopy: 4 KiB buffers, events only, loss reported, still exact" \
	-n $(( (SEEDS + 2) / 3 )) -s 9201 -e 4 -d never -b 4 -L
# running.sh's other ways, with the events read as they come
precopy "precopy: dirty ranges in batches of 3, events only, exact" \
	-n $(( (SEEDS + 2) / 3 )) -s 9401 -e 8 -d never -B 3
precopy "precopy: buffers spliced, not mapped, events only, exact" \
	-n $(( (SEEDS + 2) / 3 )) -s 9411 -e 8 -d never -S
precopy "precopy: writable mappings only, events only, exact" \
	-n $(( (SEEDS + 2) / 3 )) -s 9421 -e 8 -d never -w
precopy "precopy: scripted mapping changes, events only" -X -d never
precopy "precopy: scripted mapping changes, writable mappings only, events only" -X -w -d never
check "precopy: no instance left" no_instances

tap_end
