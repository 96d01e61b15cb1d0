#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# End-to-end test of vmtrack on a kernel with MADV_WATCH and the mm_watch
# events, as root (inside the test VM):
#
#   make -C tools/vmtrack && vm/run -k BZIMAGE -t 600 -- tools/vmtrack/tests/e2e.sh
#
# tests/workload writes a known set of pages per phase and records the truth;
# vmtrack's dirty sets must be a superset of it, and equal to it where no loss
# was reported. Prints "ok N - ..." lines and "N passed, N failed"; exits 4
# (skip) on a kernel without the feature, 1 on failure.

set -u
here=$(cd "$(dirname "$0")" && pwd)
VMTRACK=${VMTRACK:-$here/../vmtrack}
WORKLOAD=${WORKLOAD:-$here/workload}
T=/sys/kernel/tracing
PAGE=$(getconf PAGESIZE)
TMO=${E2E_TIMEOUT:-120}

passed=0
failed=0
n=0
pids=()

ok()   { n=$((n + 1)); passed=$((passed + 1)); echo "ok $n - $*"; }
nok()  { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
info() { echo "# $*"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }

cleanup() {
	local p
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${tmp:-}" ] && rm -rf "$tmp"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "# needs root"; exit 4; }
mountpoint -q $T || mount -t tracefs nodev $T 2>/dev/null
if [ ! -d $T/events/mm_watch ]; then
	echo "1..0 # SKIP kernel has no mm_watch events"
	exit 4
fi
for b in "$VMTRACK" "$WORKLOAD"; do
	[ -x "$b" ] || { echo "# missing $b (run make -C tools/vmtrack)"; exit 1; }
done
command -v jq >/dev/null || { echo "# jq missing"; exit 1; }
tmp=$(mktemp -d /tmp/vmtrack-e2e.XXXXXX)
echo "TAP version 13"

# ---- helpers ----------------------------------------------------------

# wait_for FILE REGEX [SECONDS]
wait_for() {
	local i
	for ((i = 0; i < ${3:-60} * 10; i++)); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	info "timeout waiting for '$2' in $1"
	return 1
}

buf_start() { awk '$1 == "B" { print $2 }' "$1"; }
buf_end()   { awk '$1 == "B" { print $3 }' "$1"; }
buf_range() { printf '%x-%x' "$(buf_start "$1")" "$(buf_end "$1")"; }

# truth_pages TRUTH [PHASE]: changed pages (decimal), sorted, unique
truth_pages() {
	awk -v p="${2:-}" '$1 == "P" && (p == "" || $2 == p) { print $3 }' "$1" | sort -u
}

# epoch_pages JSON EPOCH|all LO HI: dirty pages of an epoch (or all) in [LO, HI)
epoch_pages() {
	jq -r --arg e "$2" --argjson ps "$PAGE" \
		'select(.epoch != null and ($e == "all" or .epoch == ($e | tonumber)))
		 | .dirty[] | . as $r | range($r[0]; $r[1]; $ps)' "$1" |
		awk -v lo="$3" -v hi="$4" '$1 >= lo && $1 < hi' | sort -u
}

all_pages() { seq "$1" "$PAGE" $(($2 - 1)) | sort -u; }

# subset A B: every line of A is in B
subset() { [ -z "$(comm -23 "$1" "$2")" ]; }
same()   { cmp -s "$1" "$2"; }

epoch_field() { jq -r --argjson e "$2" "select(.epoch == \$e) | .$3" "$1"; }
loss_epochs() { jq -r 'select(.epoch != null and .all_dirty) | .epoch' "$1" | wc -l; }

no_instances() { ! compgen -G "$T/instances/vmtrack-*" > /dev/null; }

# watched PID ADDR: VmFlags of the mapping at ADDR has "wt"
watched() {
	awk -v a="$(printf '%x' "$2")" '
		/^[0-9a-f]+-[0-9a-f]+ / { split($1, r, "-"); cur = (r[1] == a) }
		cur && /^VmFlags:/ { for (i = 2; i <= NF; i++) if ($i == "wt") f = 1 }
		END { exit !f }' "/proc/$1/smaps"
}

start_workload() {	# TRUTH ARGS...: sets $wpid
	local truth=$1
	shift
	"$WORKLOAD" -w -t "$truth" "$@" &
	wpid=$!
	pids+=("$wpid")
	wait_for "$truth" '^B '
}

stop_workload() {
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# ---- 1: run --sync-stop: one epoch per phase, exact -------------------

t1() {
	local o=$tmp/o1 truth=$tmp/t1 lo hi p e rc
	timeout $TMO "$VMTRACK" run -s -j -- "$WORKLOAD" -s -z -p 256 -n 3 -t "$truth" \
		> $o 2> $tmp/e1
	rc=$?
	check "run -s: exit status 0 (got $rc)" [ $rc = 0 ]
	[ $rc = 0 ] || { sed 's/^/# /' $tmp/e1; return; }
	lo=$(buf_start "$truth")
	hi=$(buf_end "$truth")
	epoch_pages $o 1 "$lo" "$hi" > $tmp/g1
	all_pages "$lo" "$hi" > $tmp/a1
	check "run -s: epoch 1 reports the new buffer mapping dirty" same $tmp/g1 $tmp/a1
	for p in 1 2 3; do
		e=$((p + 1))
		truth_pages "$truth" $p > $tmp/w1
		epoch_pages $o $e "$lo" "$hi" > $tmp/g1
		if [ "$(epoch_field $o $e all_dirty)" = true ]; then
			check "run -s: phase $p superset (loss reported)" subset $tmp/w1 $tmp/g1
		else
			check "run -s: phase $p dirty set equals the truth ($(wc -l < $tmp/w1) pages)" \
				same $tmp/w1 $tmp/g1
		fi
	done
	check "run -s: final epoch reports the target gone" \
		[ "$(jq -r 'select(.final == true) | .target_gone' $o)" = true ]
	check "run -s: summary object present" [ -n "$(jq -r '.summary.epochs // empty' $o)" ]
	check "run -s: no instance left" no_instances
}

# ---- 2: watch -r, periodic epochs, SIGTERM, unwatch on exit -----------

t2() {
	local o=$tmp/o2 truth=$tmp/t2 lo hi p vpid rc
	start_workload "$truth" -p 256 -n 3 || { nok "watch -r: workload start"; return; }
	lo=$(buf_start "$truth")
	hi=$(buf_end "$truth")
	"$VMTRACK" watch -p $wpid -r "$(buf_range "$truth")" -i 0.5 -j > $o 2> $tmp/e2 &
	vpid=$!
	pids+=("$vpid")
	wait_for $tmp/e2 'watching|vmtrack' || { nok "watch -r: start"; return; }
	check "watch -r: buffer shows VmFlags wt while watched" watched $wpid "$lo"
	for p in 1 2 3; do
		kill -USR1 $wpid
		wait_for "$truth" "^D $p\$" || break
		sleep 0.7
	done
	kill -TERM $vpid
	wait $vpid
	rc=$?
	check "watch -r: SIGTERM: final epoch and exit status 0 (got $rc)" [ $rc = 0 ]
	check "watch -r: first epoch is precise (no restart)" \
		[ "$(epoch_field $o 1 all_dirty)" = false ]
	truth_pages "$truth" > $tmp/w2
	epoch_pages $o all "$lo" "$hi" > $tmp/g2
	if [ "$(loss_epochs $o)" = 0 ]; then
		check "watch -r: union of epochs equals the truth ($(wc -l < $tmp/w2) pages)" \
			same $tmp/w2 $tmp/g2
	else
		info "loss reported in $(loss_epochs $o) epochs"
		check "watch -r: union of epochs is a superset of the truth" subset $tmp/w2 $tmp/g2
	fi
	check "watch -r: ranges unwatched on exit" ! watched $wpid "$lo"
	check "watch -r: no instance left" no_instances
	stop_workload $wpid
}

# ---- 3: forced overflow: 4 KiB buffers, consumer stopped --------------

t3() {
	local o=$tmp/o3 truth=$tmp/t3 lo hi vpid le
	start_workload "$truth" -p 2048 -n 2 || { nok "overflow: workload start"; return; }
	lo=$(buf_start "$truth")
	hi=$(buf_end "$truth")
	"$VMTRACK" watch -p $wpid -r "$(buf_range "$truth")" -b 4 -i 0.5 -j > $o 2> $tmp/e3 &
	vpid=$!
	pids+=("$vpid")
	wait_for $tmp/e3 'watching|vmtrack' || { nok "overflow: start"; return; }
	kill -STOP $vpid		# cannot read: the 4 KiB buffers overflow
	kill -USR1 $wpid
	wait_for "$truth" '^D 1$'
	kill -CONT $vpid
	sleep 1.5
	kill -USR1 $wpid
	wait_for "$truth" '^D 2$'
	sleep 1
	kill -TERM $vpid
	wait $vpid
	le=$(jq -r 'select(.all_dirty and (.loss | contains("events")) and .lost_events > 0)
		    | .epoch' $o | head -1)
	check "overflow: lost events detected and reported" [ -n "$le" ]
	if [ -n "$le" ]; then
		epoch_pages $o "$le" "$lo" "$hi" > $tmp/g3
		all_pages "$lo" "$hi" > $tmp/a3
		check "overflow: loss epoch reports every watched page dirty" same $tmp/a3 $tmp/g3
		info "epoch $le lost $(epoch_field $o "$le" lost_events) events"
	fi
	truth_pages "$truth" > $tmp/w3
	epoch_pages $o all "$lo" "$hi" > $tmp/g3
	check "overflow: union of epochs is a superset of the truth" subset $tmp/w3 $tmp/g3
	check "overflow: no instance left" no_instances
	stop_workload $wpid
}

# ---- 4: watch all private writable mappings ---------------------------

t4() {
	local o=$tmp/o4 truth=$tmp/t4 lo hi p vpid
	start_workload "$truth" -p 128 -n 2 || { nok "watch all: workload start"; return; }
	lo=$(buf_start "$truth")
	hi=$(buf_end "$truth")
	"$VMTRACK" watch -p $wpid -i 0.5 -j > $o 2> $tmp/e4 &
	vpid=$!
	pids+=("$vpid")
	wait_for $tmp/e4 'watching|vmtrack' || { nok "watch all: start"; return; }
	for p in 1 2; do
		kill -USR1 $wpid
		wait_for "$truth" "^D $p\$" || break
		sleep 0.7
	done
	kill -TERM $vpid
	wait $vpid
	truth_pages "$truth" > $tmp/w4
	epoch_pages $o all "$lo" "$hi" > $tmp/g4
	if [ "$(loss_epochs $o)" = 0 ]; then
		check "watch all: buffer pages equal the truth" same $tmp/w4 $tmp/g4
	else
		check "watch all: buffer pages superset of the truth" subset $tmp/w4 $tmp/g4
	fi
	check "watch all: summary lists several mappings" \
		[ "$(jq -r '.summary.mappings // [] | length' $o | tail -1)" -gt 2 ]
	check "watch all: no instance left" no_instances
	stop_workload $wpid
}

# ---- 5: restart: a consumer after one that kept the watch -------------

t5() {
	local truth=$tmp/t5 lo rng
	start_workload "$truth" -p 64 -n 1 || { nok "restart: workload start"; return; }
	lo=$(buf_start "$truth")
	rng=$(buf_range "$truth")
	timeout $TMO "$VMTRACK" watch -p $wpid -r "$rng" -n 1 -i 0.3 -k -q > /dev/null 2>&1
	check "restart: --keep leaves the range watched" watched $wpid "$lo"
	timeout $TMO "$VMTRACK" watch -p $wpid -r "$rng" -n 2 -i 0.3 > $tmp/o5 2> $tmp/e5
	check "restart: first epoch of the next consumer is all dirty, reported" \
		grep -q '^epoch *1 .*LOSS(restart)' $tmp/o5
	check "restart: second epoch is precise again" \
		grep -qv '^epoch *2 .*LOSS' <(grep '^epoch *2 ' $tmp/o5)
	check "restart: no instance left" no_instances
	stop_workload $wpid
}

# ---- 6: instance of a SIGKILLed consumer is reaped --------------------

t6() {
	local truth=$tmp/t6 rng vpid
	start_workload "$truth" -p 16 -n 1 || { nok "reap: workload start"; return; }
	rng=$(buf_range "$truth")
	"$VMTRACK" watch -p $wpid -r "$rng" -i 10 > /dev/null 2> $tmp/e6 &
	vpid=$!
	wait_for $tmp/e6 'watching|vmtrack'
	kill -KILL $vpid
	wait $vpid 2>/dev/null
	check "reap: SIGKILL leaves vmtrack-$vpid behind" [ -d $T/instances/vmtrack-$vpid ]
	timeout $TMO "$VMTRACK" watch -p $wpid -r "$rng" -n 1 -i 0.2 -q > /dev/null 2>&1
	check "reap: the next consumer removed it" [ ! -d $T/instances/vmtrack-$vpid ]
	check "reap: no instance left" no_instances
	stop_workload $wpid
}

# ---- 7: bad input: one line on stderr, non-zero, nothing left ---------

bad() {	# DESC EXPECTED-REGEX ARGS...
	local d=$1 re=$2 rc lines
	shift 2
	timeout $TMO "$@" > /dev/null 2> $tmp/e7
	rc=$?
	lines=$(wc -l < $tmp/e7)
	if [ $rc != 0 ] && [ "$lines" = 1 ] && grep -qE "$re" $tmp/e7 && no_instances; then
		ok "bad input: $d"
	else
		nok "bad input: $d (rc $rc, $lines lines: $(head -c 200 $tmp/e7))"
	fi
}

t7() {
	local truth=$tmp/t7
	start_workload "$truth" -p 16 -n 1 || { nok "bad input: workload start"; return; }
	bad "no such pid" "no such process" "$VMTRACK" watch -p 999999
	bad "unmapped range" "nothing mapped" "$VMTRACK" watch -p $wpid -r 1000-2000
	bad "unaligned range" "invalid range" "$VMTRACK" watch -p $wpid -r 1001-2000
	bad "zero interval" "invalid interval" "$VMTRACK" watch -p $wpid -i 0
	bad "command not found" "cannot execute" "$VMTRACK" run -- /nonexistent/cmd
	if command -v setpriv > /dev/null; then
		bad "not root" "ermission|not permitted" \
			setpriv --reuid=65534 --regid=65534 --clear-groups "$VMTRACK" watch -p $wpid
	fi
	stop_workload $wpid
}

t1
t2
t3
t4
t5
t6
t7
echo "$passed passed, $failed failed"
[ $failed = 0 ]
