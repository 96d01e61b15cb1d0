#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the test VM (see bench/run.sh). Every result is a "@@BENCH {json}"
# line on stdout; "# ..." lines are progress. ROLE:
#   main       the kernel under test: probe, tracked write cost, epoch sweeps,
#              event loss
#   unwatched  writes to unwatched mappings (run.sh alternates short runs of
#              this on the kernel under test and on the unpatched kernel);
#              with LABEL "test" also while a watch is active elsewhere
# Sizes, counts and repetitions come from the BENCH_* variables run.sh sets.
set -u
role=${1:?usage: guest.sh main|unwatched LABEL}
label=${2:-$role}
bin=$(dirname "$0")/.build/vmbench

: "${BENCH_FRACTIONS:=0.01%,0.1%,1%,10%,100%}"
: "${BENCH_FIXED_DIRTY:=256}"
: "${BENCH_FRACTION_MIB:=1024}"
: "${BENCH_WORKLOAD_FRACTIONS:=1%,10%}"
: "${BENCH_PAUSE_FRACTIONS:=0.01%,0.1%,1%}"
: "${BENCH_PAUSE_MS:=100}"
: "${BENCH_SIZES_MIB:=64,256,1024,2048}"
: "${BENCH_EPOCHS:=7}"
: "${BENCH_WARMUP:=2}"
: "${BENCH_WCOST_PAGES:=1024}"
: "${BENCH_WCOST_REPS:=7}"
: "${BENCH_SYNC_MAX_DIRTY:=3000}"
: "${BENCH_LOSS_BUFFERS:=16,64,256,1024,0}"
: "${BENCH_LOSS_RATES:=5000,20000,50000,100000,0}"
: "${BENCH_LOSS_PLACEMENTS:=split,two}"
: "${BENCH_LOSS_PAGES:=32768}"
: "${BENCH_LOCKSTEP_MAX_MIB:=1024}"
# writer and monitor of sync uffd on one CPU (see bench/README.md)
export VMBENCH_UFFD_PIN=1

step() { echo "# === $* ($(date +%T))" >&2; }
# a run that dies must not stop the others; its absence shows in the results
run() { "$@" || echo "@@BENCH {\"kind\":\"error\",\"cmd\":\"$*\",\"status\":$?}"; }

echo 3 > /proc/sys/vm/drop_caches 2>/dev/null
step "probe $label"
run "$bin" probe "$label"

if [ "$role" = unwatched ]; then
	step "unwatched write cost"
	extra=()
	[ "$label" = test ] && extra=(--watch-elsewhere)
	run "$bin" wcost --unwatched-only "${extra[@]}" --pages "$BENCH_WCOST_PAGES" \
		--reps "$BENCH_WCOST_REPS" --kernel "$label" --tag wcost
	exit 0
fi

step "tracked write cost"
run "$bin" wcost --no-unwatched --pages "$BENCH_WCOST_PAGES" \
	--reps "$BENCH_WCOST_REPS" --kernel "$label" --tag wcost

# the 1 GiB cells run the dirty fractions and the fixed count: one populate
step "epoch cost: dirty fraction at $BENCH_FRACTION_MIB MiB"
run "$bin" epoch --tag epoch --size "$BENCH_FRACTION_MIB" \
	--dirty "$BENCH_FRACTIONS,$BENCH_FIXED_DIRTY" --epochs "$BENCH_EPOCHS" --warmup "$BENCH_WARMUP" \
	--sync-max-dirty "$BENCH_SYNC_MAX_DIRTY" --lockstep-max-mib "$BENCH_LOCKSTEP_MAX_MIB"

# the strided sweep with the region in a process of its own, as C/R tools track
step "epoch cost: the target in another process, dirty fraction at $BENCH_FRACTION_MIB MiB"
run "$bin" epoch --remote --tag epoch-remote --size "$BENCH_FRACTION_MIB" \
	--dirty "$BENCH_FRACTIONS" --epochs "$BENCH_EPOCHS" --warmup "$BENCH_WARMUP" \
	--sync-max-dirty "$BENCH_SYNC_MAX_DIRTY" --lockstep-max-mib "$BENCH_LOCKSTEP_MAX_MIB" \
	--mech soft-dirty,uffd-wp,wp-async+scan,vmtrack

# the sparse points again, each epoch after the tracker slept, as between
# the epochs of a pre-copy loop
step "epoch cost: after a pause of $BENCH_PAUSE_MS ms, dirty fraction at $BENCH_FRACTION_MIB MiB"
run "$bin" epoch --tag epoch-pause --pause-ms "$BENCH_PAUSE_MS" --size "$BENCH_FRACTION_MIB" \
	--dirty "$BENCH_PAUSE_FRACTIONS" --epochs "$BENCH_EPOCHS" --warmup "$BENCH_WARMUP" \
	--sync-max-dirty "$BENCH_SYNC_MAX_DIRTY" --lockstep-max-mib "$BENCH_LOCKSTEP_MAX_MIB"

# the same with the dirty pages in one run, then in a THP-backed region
step "epoch cost: sequential writes at $BENCH_FRACTION_MIB MiB, 4 KiB and THP"
run "$bin" epoch --tag epoch-seq --seq --size "$BENCH_FRACTION_MIB" \
	--dirty "$BENCH_WORKLOAD_FRACTIONS" --epochs "$BENCH_EPOCHS" --warmup "$BENCH_WARMUP" \
	--sync-max-dirty "$BENCH_SYNC_MAX_DIRTY" --lockstep-max-mib "$BENCH_LOCKSTEP_MAX_MIB"
run "$bin" epoch --tag epoch-thp --seq --thp --size "$BENCH_FRACTION_MIB" \
	--dirty "$BENCH_WORKLOAD_FRACTIONS" --epochs "$BENCH_EPOCHS" --warmup "$BENCH_WARMUP" \
	--sync-max-dirty "$BENCH_SYNC_MAX_DIRTY" --lockstep-max-mib "$BENCH_LOCKSTEP_MAX_MIB"

others=$(echo "$BENCH_SIZES_MIB" | tr , '\n' | grep -vx "$BENCH_FRACTION_MIB" | paste -sd,)
if [ -n "$others" ]; then
	step "epoch cost: mapped size $others MiB, $BENCH_FIXED_DIRTY dirty pages"
	run "$bin" epoch --tag epoch --size "$others" --dirty "$BENCH_FIXED_DIRTY" \
		--epochs "$BENCH_EPOCHS" --warmup "$BENCH_WARMUP" --sync-max-dirty "$BENCH_SYNC_MAX_DIRTY" \
		--lockstep-max-mib "$BENCH_LOCKSTEP_MAX_MIB"
fi

step "event loss"
run "$bin" loss --tag loss --buffers "$BENCH_LOSS_BUFFERS" --rates "$BENCH_LOSS_RATES" \
	--pages "$BENCH_LOSS_PAGES" --placements "$BENCH_LOSS_PLACEMENTS"
step "done"
