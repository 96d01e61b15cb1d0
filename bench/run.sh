#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# "make bench": vmtrack against soft-dirty, userfaultfd write-protect and
# UFFD_FEATURE_WP_ASYNC + PAGEMAP_SCAN, side by side in one VM run, plus the
# unwatched write cost on the unpatched kernel. Writes bench/results/.
#
# Environment (all optional):
#   BENCH_KERNEL        bzImage under test (default: scripts/kernel-image.sh series)
#   BENCH_BASE_KERNEL   unpatched bzImage (default: scripts/kernel-image.sh base)
#   BENCH_SIZES_MIB     mapped sizes (default 64,256,1024,2048; the VM's RAM follows)
#   BENCH_EPOCHS        measured epochs per point (default 7)
#   BENCH_WARMUP        warm-up epochs per point, not measured (default 2)
#   BENCH_QUICK=1       small sizes and few repetitions (a smoke test, minutes)
#   BENCH_SKIP_BASE=1   no run on the unpatched kernel
#   BENCH_ANALYZE_ONLY=1  re-run the analysis on bench/results/raw/
# and the other BENCH_* knobs of bench/guest.sh and bench/dump-precopy.sh.
set -uo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

BENCH=$VMTRACK_ROOT/bench
BUILD=$BENCH/.build
RESULTS=$BENCH/results
RAW=$RESULTS/raw

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	export BENCH_SIZES_MIB=${BENCH_SIZES_MIB:-16,64}
	export BENCH_FRACTION_MIB=${BENCH_FRACTION_MIB:-64}
	export BENCH_EPOCHS=${BENCH_EPOCHS:-2}
	export BENCH_WCOST_REPS=${BENCH_WCOST_REPS:-3}
	export BENCH_WCOST_PAGES=${BENCH_WCOST_PAGES:-256}
	export BENCH_LOSS_BUFFERS=${BENCH_LOSS_BUFFERS:-16,0}
	export BENCH_LOSS_RATES=${BENCH_LOSS_RATES:-5000,0}
	export BENCH_LOSS_PAGES=${BENCH_LOSS_PAGES:-4096}
	export BENCH_SYNC_MAX_DIRTY=${BENCH_SYNC_MAX_DIRTY:-300}
fi
export BENCH_SIZES_MIB=${BENCH_SIZES_MIB:-64,256,1024,2048}
export BENCH_FRACTION_MIB=${BENCH_FRACTION_MIB:-1024}

# ---- build ----

uapi_headers() {
	# the 6.12 UAPI (PAGEMAP_SCAN, UFFD_FEATURE_WP_ASYNC), from the pristine tree
	if [ -f "$BUILD/uapi/include/linux/userfaultfd.h" ] &&
	   grep -q PAGEMAP_SCAN "$BUILD/uapi/include/linux/fs.h"; then
		return 0
	fi
	"$VMTRACK_ROOT/scripts/kernel-baseline.sh" >/dev/null || return 1
	msg "installing the kernel UAPI headers"
	rm -rf "$BUILD/hdr" "$BUILD/uapi"
	make -s -C "$KSRC" O="$BUILD/hdr" headers >/dev/null || return 1
	mv "$BUILD/hdr/usr" "$BUILD/uapi"
	rm -rf "$BUILD/hdr"
}

build() {
	mkdir -p "$BUILD"
	uapi_headers || die "cannot install the kernel UAPI headers"
	make -s -C "$VMTRACK_ROOT/tools/vmtrack" O="$BUILD/vmtrack" \
		"$BUILD/vmtrack/libvmtrack.a" >/dev/null || die "cannot build libvmtrack.a"
	make -s -C "$BENCH/src" O="$BUILD" UAPI="$BUILD/uapi/include" \
		VMTRACK_LIB="$BUILD/vmtrack/libvmtrack.a" >/dev/null || die "cannot build vmbench"
}

# ---- kernels ----

kernel_under_test() {
	local k
	if [ -n "${BENCH_KERNEL:-}" ]; then
		echo "$BENCH_KERNEL"
		return
	fi
	k=$("$VMTRACK_ROOT/scripts/kernel-image.sh" series 2>"$RAW/kernel-series.log" | tail -1)
	if [ -n "$k" ] && [ -r "$k" ]; then
		echo "$k"
		return
	fi
	msg "the patched kernel did not build (see $RAW/kernel-series.log); using the base kernel"
	echo ""
}

# ---- VM runs ----

vm_mem_for() { # guest RAM in MiB: the largest size, or 5 lockstep regions
	local max=0 s lock=${BENCH_LOCKSTEP_MAX_MIB:-1024}
	for s in ${BENCH_SIZES_MIB//,/ } $BENCH_FRACTION_MIB; do
		[ "$s" -gt "$max" ] && max=$s
		[ "$s" -le "$lock" ] && [ $((5 * s)) -gt "$max" ] && max=$((5 * s))
	done
	echo $((max + 2048))
}

guest() { # ROLE LABEL KERNEL TIMEOUT [RUN NAME]
	local role=$1 label=$2 kernel=$3 limit=$4 name=${5:-$2} rc mem
	msg "VM $name ($kernel): $role benchmarks"
	mem=$(vm_mem_for)
	[ "$role" = main ] || mem=1024
	local vars=() v
	for v in $(compgen -e | grep '^BENCH_'); do
		vars+=("$v=${!v}")
	done
	# a thread per vCPU: the consumer and the writers run at once
	VMTRACK_TCG=${VMTRACK_TCG:-multi} \
		"$VMTRACK_ROOT/vm/run" -k "$kernel" -t "$limit" -m "$mem" \
		-o "$RAW/$name.out" -- env "${vars[@]}" "$BENCH/guest.sh" "$role" "$label" \
		> "$RAW/$name.console" 2>&1
	rc=$?
	[ $rc = 0 ] || msg "VM run $name exited with $rc (see $RAW/$name.console)"
	return 0
}

# the command line that reproduces this run: make bench with the BENCH_* set
repro_command() {
	local v out=""
	for v in $(compgen -e | grep '^BENCH_' | sort); do
		case $v in BENCH_SIZES_MIB|BENCH_FRACTION_MIB) continue ;; esac
		out+="$v=${!v} "
	done
	[ "$BENCH_SIZES_MIB" = 64,256,1024,2048 ] || out+="BENCH_SIZES_MIB=$BENCH_SIZES_MIB "
	echo "${out}make bench"
}

unwatched_pair() { # N TEST_KERNEL BASE_KERNEL
	guest unwatched test "$2" 600 "unwatched-test-$1"
	[ "${BENCH_SKIP_BASE:-0}" = 1 ] || guest unwatched base "$3" 600 "unwatched-base-$1"
}

host_info() {
	{
		echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "commit=$(git -C "$VMTRACK_ROOT" rev-parse --short HEAD 2>/dev/null)"
		# the run rewrites bench/results/ itself: not a change of the tree
		echo "dirty_tree=$(git -C "$VMTRACK_ROOT" status --porcelain -- . \
			':!bench/results' 2>/dev/null | wc -l)"
		echo "host_cpus=$(nproc)"
		echo "host_load_$1=$(cut -d' ' -f1-3 /proc/loadavg)"
		echo "accel=$(grep -q yes "$VMTRACK_CACHE/kvm-probe" 2>/dev/null && echo kvm || echo tcg)"
	} >> "$RAW/host.txt"
}

main() {
	local t0=$SECONDS kut base
	if [ "${BENCH_ANALYZE_ONLY:-0}" != 1 ]; then
		build
		rm -rf "$RAW"
		mkdir -p "$RAW"
		kut=$(kernel_under_test)
		base=${BENCH_BASE_KERNEL:-$("$VMTRACK_ROOT/scripts/kernel-image.sh" base | tail -1)}
		[ -r "$base" ] || die "no unpatched kernel"
		[ -n "$kut" ] || kut=$base
		echo "kernel_main=$kut" > "$RAW/host.txt"
		echo "kernel_base=$base" >> "$RAW/host.txt"
		# private copies: a rebuild during the run must not swap the images
		mkdir -p "$BUILD/kernels"
		cp "$kut" "$BUILD/kernels/test.bzImage" && kut=$BUILD/kernels/test.bzImage
		cp "$base" "$BUILD/kernels/base.bzImage" && base=$BUILD/kernels/base.bzImage
		echo "sizes_mib=$BENCH_SIZES_MIB" >> "$RAW/host.txt"
		echo "command=$(repro_command)" >> "$RAW/host.txt"
		host_info start
		# unwatched writes: short runs alternating between the two kernels,
		# around the main run, so that the host's load drift hits both
		unwatched_pair 1 "$kut" "$base"
		guest main test "$kut" "${BENCH_VM_TIMEOUT:-2400}"
		unwatched_pair 2 "$kut" "$base"
		# the freeze time of a CRIU checkpoint, four ways (criu-freeze.md)
		"$BENCH/criu-freeze.sh" "$kut" > /dev/null ||
			msg "criu-freeze.sh failed"
		"$BENCH/journal-cost.sh" "$kut" || msg "journal-cost.sh failed"
		# an overflowed epoch: sweep against all dirty (recovery.md)
		"$BENCH/recovery.sh" "$kut" || msg "recovery.sh failed"
		# vmtrack dump against stop-and-copy and soft-dirty (dump-precopy.md)
		"$BENCH/dump-precopy.sh" "$kut" > /dev/null ||
			msg "dump-precopy.sh failed"
		# vmtrack dump's own memory against the ranges (dump-memory.md)
		"$BENCH/dump-memory.sh" "$kut" || msg "dump-memory.sh failed"
		host_info end
		echo "wall_s=$((SECONDS - t0))" >> "$RAW/host.txt"
	fi
	python3 "$BENCH/analyze.py" --raw "$RAW" --out "$RESULTS" ||
		die "analysis failed"
	if [ "${BENCH_ANALYZE_ONLY:-0}" = 1 ] && [ -f "$RAW/recovery.out" ]; then
		"$BENCH/recovery.sh" || die "recovery analysis failed"
	fi
	if [ "${BENCH_ANALYZE_ONLY:-0}" = 1 ] && [ -f "$RAW/dump-memory.out" ]; then
		"$BENCH/dump-memory.sh" || die "dump-memory analysis failed"
	fi
	if [ "${BENCH_ANALYZE_ONLY:-0}" = 1 ] && [ -f "$RAW/dump-precopy.out" ]; then
		"$BENCH/dump-precopy.sh" --analyze > /dev/null || die "dump-precopy analysis failed"
	fi
	msg "results: $RESULTS/results.md ($((SECONDS - t0)) s)"
}

main "$@"
