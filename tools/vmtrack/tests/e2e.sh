#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# End-to-end test of vmtrack on a kernel with MADV_WATCH and the mm_watch
# events, as root (inside the test VM):
#
#   make -C tools/vmtrack && vm/run -k BZIMAGE -t 2100 -- tools/vmtrack/tests/e2e.sh
#
# tests/workload writes a known set of pages per phase and records the truth;
# vmtrack's dirty sets must be a superset of it, and equal to it where no loss
# was reported. Prints "ok N - ..." lines and "N passed, N failed"; exits 4
# (skip) on a kernel without the feature, 1 on failure.

set -u
here=$(cd "$(dirname "$0")" && pwd)
VMTRACK=${VMTRACK:-$here/../vmtrack}
WORKLOAD=${WORKLOAD:-$here/workload}
PAGE=$(getconf PAGESIZE)
TMO=${E2E_TIMEOUT:-120}
TIMEOUT="timeout -k 10 $TMO"

. "$here/tap.sh"
tap_begin e2e "$VMTRACK" "$WORKLOAD"

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

# The JSON lines of vmtrack -j, read with awk (no jq): jv(KEY) is the value
# of a scalar key of the current line, strings without their quotes.
JV='
function jv(k,   i, s) {
	i = index($0, "\"" k "\":")
	if (!i)
		return ""
	s = substr($0, i + length(k) + 3)
	if (substr(s, 1, 1) == "\"") {
		s = substr(s, 2)
		return substr(s, 1, index(s, "\"") - 1)
	}
	match(s, /^[^,}\]]*/)
	return substr(s, 1, RLENGTH)
}'

# epoch_pages JSON EPOCH|all LO HI [SET]: dirty pages of an epoch (or all,
# of one --follow set if given) in [LO, HI) (%.0f: mawk's %d stops at 2^31)
epoch_pages() {
	awk -v e="$2" -v ps="$PAGE" -v lo="$3" -v hi="$4" -v set="${5:-}" "$JV"'
		{
			ep = jv("epoch")
			if (ep == "" || (e != "all" && ep != e) || (set != "" && jv("set") != set))
				next
			s = substr($0, index($0, "\"dirty\":[") + 9)
			gsub(/[][{}]/, "", s)
			n = split(s, v, ",")
			for (j = 1; j < n; j += 2) {
				a = v[j] + 0 < lo + 0 ? lo + 0 : v[j] + 0
				b = v[j + 1] + 0 > hi + 0 ? hi + 0 : v[j + 1] + 0
				for (; a < b; a += ps)
					printf "%.0f\n", a
			}
		}' "$1" | sort -u
}

all_pages() { awk -v lo="$1" -v hi="$2" -v ps="$PAGE" \
	'BEGIN { for (a = lo + 0; a < hi + 0; a += ps) printf "%.0f\n", a }' | sort -u; }

# subset A B: every line of A is in B
# the pages of a failed comparison, hex, for the log
pages_hex() { head -n 24 | xargs -r printf ' %x'; }
subset() {
	[ -z "$(comm -23 "$1" "$2")" ] && return
	info "missing:$(comm -23 "$1" "$2" | pages_hex)"
	return 1
}
same() {
	cmp -s "$1" "$2" && return
	info "missing:$(comm -23 "$1" "$2" | pages_hex)"
	info "extra:$(comm -13 "$1" "$2" | pages_hex)"
	return 1
}

# check_swept DESC JSON EPOCH TRUTH [PHASE]: EPOCH recovered its loss by a
# sweep (the kernel keeps soft-dirty), which found every page PHASE wrote
# and no page of [$lo, $hi) that the workload never wrote (all dirty would)
check_swept() {
	check "$1: recovered by a sweep ($(epoch_field "$2" "$3" swept_pages) pages)" \
		[ "$(epoch_field "$2" "$3" swept)" = true ]
	epoch_pages "$2" "$3" "$lo" "$hi" > $tmp/gsw
	if [ -n "${5:-}" ]; then
		truth_pages "$4" "$5" > $tmp/wsw
		check "$1: the sweep found the $(wc -l < $tmp/wsw) pages of phase $5" \
			subset $tmp/wsw $tmp/gsw
	fi
	truth_pages "$4" > $tmp/wsw
	check "$1: and only pages the workload wrote ($(wc -l < $tmp/gsw) of $(all_pages "$lo" "$hi" | wc -l))" \
		subset $tmp/gsw $tmp/wsw
}

# check_union DESC JSON TRUTH: the epochs together report every page of
# [$lo, $hi) that TRUTH says was written
check_union() {
	truth_pages "$3" > $tmp/wun
	epoch_pages "$2" all "$lo" "$hi" > $tmp/gun
	check "$1" subset $tmp/wun $tmp/gun
}

# check_exact DESC WANT GOT JSON: the page list GOT equals WANT if the
# epochs of JSON report no loss, else holds it
check_exact() {
	if [ "$(loss_epochs "$4")" = 0 ]; then
		check "$1: union of epochs equals the truth ($(wc -l < "$2") pages)" \
			same "$2" "$3"
	else
		info "$1: loss reported in $(loss_epochs "$4") epochs"
		check "$1: union of epochs is a superset of the truth" subset "$2" "$3"
	fi
}

# epoch_field JSON EPOCH KEY
epoch_field() { awk -v e="$2" -v k="$3" "$JV"' jv("epoch") == e { print jv(k) }' "$1"; }
loss_epochs() { awk "$JV"' jv("epoch") != "" && jv("loss") != ""' "$1" | wc -l; }
# final_field JSON KEY: KEY of the final epoch
final_field() { awk -v k="$2" "$JV"' jv("final") == "true" { print jv(k) }' "$1"; }
# summary_field JSON KEY
summary_field() { awk -v k="$2" "$JV"' /^{"summary":/ { print jv(k) }' "$1"; }
# summary_mappings JSON: number of mappings in the summary
summary_mappings() { awk '/^{"summary":/ { print gsub(/"start":/, "&") }' "$1"; }
# last_epoch JSON: number of the last epoch written so far, 0 if none
last_epoch() { awk "$JV"' jv("epoch") != "" { e = jv("epoch") } END { print e + 0 }' "$1"; }
# wait_sparse JSON N: until an epoch numbered N or later is back on
# events ("dense":false), at most $TMO s
wait_sparse() {
	local i
	for ((i = 0; i < TMO * 10; i++)); do
		awk -v n="$2" "$JV"' jv("epoch") + 0 >= n + 0 && jv("dense") == "false" {
			f = 1; exit } END { exit !f }' "$1" && return 0
		sleep 0.1
	done
	info "timeout waiting for an epoch from $2 on with \"dense\":false in $1"
	return 1
}
# first_event_loss JSON: first epoch with lost events counted
first_event_loss() {
	awk "$JV"' jv("loss") ~ /events/ && jv("lost_events") + 0 > 0 {
		print jv("epoch"); exit }' "$1"
}

# watched PID ADDR: VmFlags of the mapping at ADDR has "wt"
watched() {
	awk -v a="$(printf '%x' "$2")" '
		/^[0-9a-f]+-[0-9a-f]+ / { split($1, r, "-"); cur = (r[1] == a) }
		cur && /^VmFlags:/ { for (i = 2; i <= NF; i++) if ($i == "wt") f = 1 }
		END { exit !f }' "/proc/$1/smaps"
}
unwatched() { ! watched "$@"; }

start_workload() {	# TRUTH ARGS...: sets $wpid
	local truth=$1
	shift
	"$WORKLOAD" -w -t "$truth" "$@" &
	wpid=$!
	pids+=("$wpid")
	wait_for "$truth" '^B '
}

# watch_buffer NAME OUT ERR TRUTH PAGES PHASES [WATCH ARGS...]: the workload
# (with the options in $workload_args) and vmtrack watch of its buffer
# (-i 0.5 -j); sets $lo, $hi and $vpid
watch_buffer() {
	local name=$1 out=$2 err=$3 truth=$4 pages=$5 phases=$6
	shift 6
	start_workload "$truth" -p "$pages" -n "$phases" ${workload_args-} ||
		{ nok "$name: workload start"; return 1; }
	lo=$(buf_start "$truth")
	hi=$(buf_end "$truth")
	"$VMTRACK" watch -p $wpid -r "$(buf_range "$truth")" -i 0.5 -j "$@" > "$out" 2> "$err" &
	vpid=$!
	pids+=("$vpid")
	wait_for "$err" 'watching|vmtrack' || { nok "$name: start"; return 1; }
}

stop_workload() {
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# stop_consumer PID: SIGTERM, and SIGKILL if it has not ended in $TMO s;
# returns its exit status
stop_consumer() {
	local k
	kill -TERM "$1" 2>/dev/null
	( sleep $TMO; kill -KILL "$1" 2>/dev/null ) & k=$!
	wait "$1"
	set -- $?
	kill $k 2>/dev/null
	wait $k 2>/dev/null
	return $1
}

# ---- 1: run --sync-stop: one epoch per phase, exact -------------------

t1() {
	local o=$tmp/o1 truth=$tmp/t1 lo hi p e rc
	$TIMEOUT "$VMTRACK" run -s -j -- "$WORKLOAD" -s -z -p 256 -n 3 -t "$truth" \
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
		if [ -n "$(epoch_field $o $e loss)" ]; then
			check "run -s: phase $p superset (loss reported)" subset $tmp/w1 $tmp/g1
		else
			check "run -s: phase $p dirty set equals the truth ($(wc -l < $tmp/w1) pages)" \
				same $tmp/w1 $tmp/g1
		fi
	done
	check "run -s: final epoch reports the target gone" \
		[ "$(final_field $o target_gone)" = true ]
	check "run -s: summary counts every epoch" \
		[ "$(summary_field $o epochs)" = "$(awk "$JV"' jv("epoch") != ""' $o | wc -l)" ]
	check "run -s: no instance left" no_instances
}

# ---- 2: watch -r, periodic epochs, SIGTERM, unwatch on exit -----------

t2() {
	local o=$tmp/o2 truth=$tmp/t2 lo hi p vpid rc
	watch_buffer "watch -r" $o $tmp/e2 "$truth" 256 3 || return
	check "watch -r: buffer shows VmFlags wt while watched" watched $wpid "$lo"
	for p in 1 2 3; do
		kill -USR1 $wpid
		wait_for "$truth" "^D $p\$" || break
		sleep 0.7
	done
	stop_consumer $vpid
	rc=$?
	check "watch -r: SIGTERM: final epoch and exit status 0 (got $rc)" [ $rc = 0 ]
	check "watch -r: first epoch is precise (no restart)" \
		[ -z "$(epoch_field $o 1 loss)" ]
	truth_pages "$truth" > $tmp/w2
	epoch_pages $o all "$lo" "$hi" > $tmp/g2
	check_exact "watch -r" $tmp/w2 $tmp/g2 $o
	check "watch -r: ranges unwatched on exit" unwatched $wpid "$lo"
	check "watch -r: no instance left" no_instances
	stop_workload $wpid
}

# check_event_loss NAME JSON TRUTH: an epoch of JSON lost events, and a
# sweep recovered the pages of phase 1 with only pages TRUTH lists
check_event_loss() {
	local le

	le=$(first_event_loss "$2")
	check "$1: lost events detected and reported" [ -n "$le" ]
	[ -n "$le" ] || return
	check_swept "$1: loss epoch" "$2" "$le" "$3" 1
	info "epoch $le lost $(epoch_field "$2" "$le" lost_events) events"
}

# ---- 3: forced overflow: 4 KiB buffers, consumer stopped --------------

t3() {
	local o=$tmp/o3 truth=$tmp/t3 lo hi vpid
	watch_buffer overflow $o $tmp/e3 "$truth" 2048 2 -b 4 || return
	kill -STOP $vpid		# cannot read: the 4 KiB buffers overflow
	kill -USR1 $wpid
	wait_for "$truth" '^D 1$'
	kill -CONT $vpid
	sleep 1.5
	kill -USR1 $wpid
	wait_for "$truth" '^D 2$'
	sleep 1
	stop_consumer $vpid
	check_event_loss "overflow" $o "$truth"
	check_union "overflow: union of epochs is a superset of the truth" $o "$truth"
	check "overflow: no instance left" no_instances
	stop_workload $wpid
}

# ---- 3b: the auto-sized buffer of a large target, consumer stopped ------
# Over 256 MiB watched, the auto-sized buffer holds a record for 65536
# pages plus one for every 8 more (BUFFER SIZE in vmtrack(1)). Two phases
# of a 1.25 GiB buffer, written on one CPU while the consumer is stopped,
# fault 5/9 of its pages, 182k, where the CPU's buffer holds some 125k
# records of 52 bytes: the loss is recovered by a sweep, and the epochs
# report the pages written, no more, no fewer.

t3b() {
	local o=$tmp/o3b truth=$tmp/t3b lo hi vpid p=327680 kb
	watch_buffer "auto overflow" $o $tmp/e3b "$truth" $p 3 || return
	kb=$(( (65536 + (p - 65536) / 8) * 64 / 1024 + 256 ))
	check "auto overflow: $kb KiB per CPU for $p pages ($(grep -o 'buffer [0-9]* KiB' $tmp/e3b))" \
		grep -q "buffer $kb KiB/CPU" $tmp/e3b
	taskset -p -c 0 $wpid > /dev/null
	kill -STOP $vpid
	kill -USR1 $wpid
	wait_for "$truth" '^D 1$'
	kill -USR1 $wpid
	wait_for "$truth" '^D 2$'
	kill -CONT $vpid
	sleep 2
	kill -USR1 $wpid
	wait_for "$truth" '^D 3$'
	sleep 1.5
	stop_consumer $vpid
	check_event_loss "auto overflow" $o "$truth"
	truth_pages "$truth" > $tmp/w3b
	epoch_pages $o all "$lo" "$hi" > $tmp/g3b
	check "auto overflow: union of epochs equals the truth ($(wc -l < $tmp/w3b) pages)" \
		same $tmp/w3b $tmp/g3b
	# without a sweep to fall back on, the buffer holds a record per page
	"$VMTRACK" watch -p $wpid -r "$(buf_range "$truth")" -n 1 -i 0.1 -q --events-only \
		> /dev/null 2> $tmp/e3c
	kb=$(( p * 64 / 1024 + 256 ))
	check "auto overflow: --events-only: $kb KiB per CPU ($(grep -o 'buffer [0-9]* KiB' $tmp/e3c))" \
		grep -q "buffer $kb KiB/CPU" $tmp/e3c
	check "auto overflow: no instance left" no_instances
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
	stop_consumer $vpid
	truth_pages "$truth" > $tmp/w4
	epoch_pages $o all "$lo" "$hi" > $tmp/g4
	if [ "$(loss_epochs $o)" = 0 ]; then
		check "watch all: buffer pages equal the truth" same $tmp/w4 $tmp/g4
	else
		check "watch all: buffer pages superset of the truth" subset $tmp/w4 $tmp/g4
	fi
	check "watch all: summary lists several mappings" \
		[ "$(summary_mappings $o)" -gt 2 ]
	check "watch all: no instance left" no_instances
	stop_workload $wpid
}

# ---- 5: restart: a consumer after one that kept the watch -------------

t5() {
	local truth=$tmp/t5 lo rng
	start_workload "$truth" -p 64 -n 1 || { nok "restart: workload start"; return; }
	lo=$(buf_start "$truth")
	rng=$(buf_range "$truth")
	$TIMEOUT "$VMTRACK" watch -p $wpid -r "$rng" -n 1 -i 0.3 -k -q > /dev/null 2>&1
	check "restart: --keep leaves the range watched" watched $wpid "$lo"
	$TIMEOUT "$VMTRACK" watch -p $wpid -r "$rng" -n 2 -i 0.3 > $tmp/o5 2> $tmp/e5
	check "restart: first epoch of the next consumer is all dirty, reported" \
		grep -q '^epoch *1 .*LOSS(restart)' $tmp/o5
	# nothing was written after the first epoch
	check "restart: second epoch is precise again (0 dirty, no loss)" \
		awk '$1 == "epoch" && $2 == 2 && $5 == 0 && !/LOSS/ { f = 1 } END { exit !f }' \
		$tmp/o5
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
	$TIMEOUT "$VMTRACK" watch -p $wpid -r "$rng" -n 1 -i 0.2 -q > /dev/null 2>&1
	check "reap: the next consumer removed it" [ ! -d $T/instances/vmtrack-$vpid ]
	check "reap: no instance left" no_instances
	stop_workload $wpid
}

# ---- 7: bad input: one line on stderr, non-zero, nothing left ---------

bad() {	# DESC EXPECTED-REGEX ARGS...
	local d=$1 re=$2 rc lines
	shift 2
	$TIMEOUT "$@" > /dev/null 2> $tmp/e7
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
		bad "not root" "permission denied on tracefs .*run as root" \
			setpriv --reuid=65534 --regid=65534 --clear-groups "$VMTRACK" watch -p $wpid
	fi
	t7_targets
	t7_tracefs
	stop_workload $wpid
}

# targets without user memory of their own: each has its own message
t7_targets() {
	local zpid mpid tpid tid
	bad "kernel thread" "pid 2 \(kthreadd\) is a kernel thread" "$VMTRACK" watch -p 2
	# a zombie: its parent never reaps it (SIGCHLD set to its default: an
	# ignored SIGCHLD, which a parent may pass on, reaps children at once)
	python3 -c 'import os, signal, sys, time
signal.signal(signal.SIGCHLD, signal.SIG_DFL)
pid = os.fork()
if pid == 0:
	os._exit(0)
open(sys.argv[1], "w").write("%d\n" % pid)
time.sleep(60)' $tmp/zpid &
	pids+=("$!")
	wait_for $tmp/zpid '^[0-9]+$' 10
	zpid=$(cat $tmp/zpid)
	wait_for "/proc/$zpid/stat" '\) Z ' 10
	bad "zombie" "pid $zpid \(.*\) is a zombie" "$VMTRACK" watch -p "$zpid"
	# a process whose main thread has exited while another thread runs on
	printf '%s\n' '#include <pthread.h>' '#include <unistd.h>' \
		'static void *run(void *arg) { sleep(60); return arg; }' \
		'int main(void) { pthread_t t; pthread_create(&t, NULL, run, NULL);' \
		'pthread_exit(NULL); }' > $tmp/mainexit.c
	if gcc -pthread -o $tmp/mainexit $tmp/mainexit.c; then
		$tmp/mainexit &
		mpid=$!
		pids+=("$mpid")
		wait_for "/proc/$mpid/stat" '\) Z ' 10
		bad "main thread exited" \
			"pid $mpid \(.*\): its main thread has exited while 1 other thread runs on" \
			"$VMTRACK" watch -p "$mpid"
		kill -KILL "$mpid"
	else
		nok "bad input: main thread exited: the target builds"
	fi
	python3 -c 'import sys, threading, time
def f():
	open(sys.argv[1], "w").write("%d\n" % threading.get_native_id())
	time.sleep(60)
threading.Thread(target=f).start()' $tmp/tid &
	tpid=$!
	pids+=("$tpid")
	wait_for $tmp/tid '^[0-9]+$' 30
	tid=$(cat $tmp/tid)
	check "a thread of its own ($tid of $tpid)" [ -n "$tid" -a "$tid" != "$tpid" ]
	bad "thread id" "pid $tid \(.*\) is a thread of process $tpid" "$VMTRACK" watch -p "$tid"
	kill -KILL "$tpid"
}

# tracefs_mounts: mount points of tracefs, one a line
tracefs_mounts() { awk '$3 == "tracefs" { print $2 }' /proc/mounts; }

# vmtrack mounts tracefs where none is mounted, and unmounts it on every exit
t7_tracefs() {
	local m rc vpid
	for m in $(tracefs_mounts | sort -r); do umount "$m"; done
	check "tracefs: none mounted before the test" [ -z "$(tracefs_mounts)" ]
	"$VMTRACK" watch -p $wpid -i 0.5 -n 3 -q > /dev/null 2> $tmp/e7m &
	vpid=$!
	wait_for $tmp/e7m 'watching|vmtrack'
	check "tracefs: mounted by vmtrack while it runs" mountpoint -q $T
	wait $vpid
	rc=$?
	check "tracefs: the run succeeded (exit $rc)" [ $rc = 0 ]
	check "tracefs: unmounted when vmtrack ended" [ -z "$(tracefs_mounts)" ]
	bad "nothing mapped, tracefs not mounted before" "nothing mapped" \
		"$VMTRACK" watch -p $wpid -r 1000-2000
	check "tracefs: unmounted after that error" [ -z "$(tracefs_mounts)" ]
	if command -v setpriv > /dev/null; then
		bad "not root, tracefs not mounted" "not mounted, and mounting it needs root" \
			setpriv --reuid=65534 --regid=65534 --clear-groups \
			"$VMTRACK" watch -p $wpid
	fi
	mountpoint -q $T || mount -t tracefs nodev $T
}

# ---- 8: the demo: periodic epochs, union exact ------------------------

t8() {
	local o=$tmp/o8 truth=$tmp/t8 lo hi rc ne e
	$TIMEOUT "$VMTRACK" run -i 1 -j -- "$WORKLOAD" --demo -t "$truth" > $o 2> $tmp/e8
	rc=$?
	check "demo: exit status 0 (got $rc)" [ $rc = 0 ]
	lo=$(buf_start "$truth")
	hi=$(buf_end "$truth")
	[ -n "$lo" ] || { nok "demo: workload recorded its buffer"; return; }
	truth_pages "$truth" > $tmp/w8
	all_pages "$lo" "$hi" > $tmp/a8
	ne=$(summary_field $o epochs)
	for ((e = 1; e <= ${ne:-0}; e++)); do
		epoch_pages $o $e "$lo" "$hi" > $tmp/g8
		cmp -s $tmp/a8 $tmp/g8 && break
	done
	check "demo: the new buffer is reported dirty in full (epoch $e)" [ "$e" -le "${ne:-0}" ]
	# phase 1 may share that epoch; phase 3 writes its pages again
	: > $tmp/g8
	for ((e++; e <= ${ne:-0}; e++)); do
		epoch_pages $o $e "$lo" "$hi" >> $tmp/g8
	done
	sort -u -o $tmp/g8 $tmp/g8
	if [ "$(loss_epochs $o)" = 0 ]; then
		check "demo: later epochs report exactly the pages of phases 1-4 ($(wc -l < $tmp/w8))" \
			same $tmp/w8 $tmp/g8
	else
		info "loss reported in $(loss_epochs $o) epochs"
		check "demo: later epochs report a superset of phases 1-4" subset $tmp/w8 $tmp/g8
	fi
	check "demo: periodic epochs, one per second (got ${ne:-0})" [ "${ne:-0}" -ge 5 ]
	check "demo: no instance left" no_instances
}

# ---- 9: the instance changed behind the consumer's back -------------

# tamper_epoch JSON: first epoch that reports the tamper gap
tamper_epoch() {
	awk "$JV"' jv("loss") ~ /tamper/ { print jv("epoch"); exit }' "$1"
}

# tamper_case NAME FILE VALUE [SETTLED]: write VALUE to FILE of the
# consumer's instance (once FILE matches the regex SETTLED, if given); the
# next epoch must report a gap, recovered by a sweep, and FILE must read as
# before again
tamper_case() {
	# Output files of their own: a stale "watching" line of the case
	# before would end the wait for this consumer's start too early.
	local name=$1 file=$2 val=$3 settled=${4:-} o=$tmp/o9$1 truth=$tmp/t9$1 err=$tmp/e9$1
	local lo hi vpid inst e before
	start_workload "$truth" -p 64 -n 1 || { nok "tamper $name: workload start"; return; }
	lo=$(buf_start "$truth")
	hi=$(buf_end "$truth")
	"$VMTRACK" watch -p $wpid -r "$(buf_range "$truth")" -i 0.3 -j > $o 2> $err &
	vpid=$!
	pids+=("$vpid")
	wait_for $err 'watching|vmtrack' || { nok "tamper $name: start"; return; }
	inst=$T/instances/vmtrack-$vpid
	sleep 0.5
	if [ -n "$settled" ]; then
		wait_for "$inst/$file" "$settled" 10
		check "tamper $name: $file matches '$settled' once the consumer runs" \
			grep -qE "$settled" "$inst/$file"
	fi
	before=$(cat "$inst/$file")
	check "tamper $name: $file changed behind the consumer" \
		sh -c "echo '$val' > '$inst/$file'"
	kill -USR1 $wpid
	wait_for "$truth" '^D 1$'
	# restored by the epoch that finds the change (-i 0.3), whose sweep
	# may make the next ones dense, write_fault off: looked at once an
	# epoch after it is back on events
	wait_for "$o" '"loss":"[^"]*tamper' "$TMO"
	wait_sparse "$o" $(($(tamper_epoch "$o") + 1))
	check "tamper $name: $file restored by the consumer" \
		[ "$(cat "$inst/$file")" = "$before" ]
	stop_consumer $vpid
	e=$(tamper_epoch $o)
	check "tamper $name: the change is reported as a gap" [ -n "$e" ]
	[ -n "$e" ] || { sed 's/^/# /' $o | cut -c1-200; sed 's/^/# /' $err; }
	if [ -n "$e" ]; then
		check_swept "tamper $name: that epoch" $o "$e" "$truth"
	fi
	check_union "tamper $name: union of epochs is a superset of the truth" $o "$truth"
	stop_workload $wpid
}

t9() {
	tamper_case event "events/mm_watch/mm_watch_write_fault/enable" 0
	tamper_case filter "events/mm_watch/mm_watch_write_fault/filter" "tgid == 1"
	# the consumer disables the re-arm event after the first epoch
	tamper_case rearm "events/mm_watch/mm_watch_rearm/enable" 1 '^0$'
}

# ---- 10: --output: JSON in a file, text on stdout, per-mapping rates ----

# epoch_mappings JSON EPOCH: "START END PAGES DIRTY RATE" per listed mapping
epoch_mappings() {
	awk -v e="$2" "$JV"'
	function num(p, k,   i, t) {
		i = index(p, "\"" k "\":")
		t = substr(p, i + length(k) + 3)
		match(t, /^[0-9.]+/)
		return substr(t, 1, RLENGTH)
	}
	jv("epoch") == e {
		a = index($0, "\"mappings\":[") + 12
		n = split(substr($0, a, index($0, "],\"dirty\":[") - a), m, "{\"start\":")
		for (i = 2; i <= n; i++) {
			match(m[i], /^[0-9]+/)
			print substr(m[i], 1, RLENGTH), num(m[i], "end"), num(m[i], "pages"),
			      num(m[i], "dirty"), num(m[i], "rate")
		}
	}' "$1"
}

t10() {
	local o=$tmp/o10 j=$tmp/j10 truth=$tmp/t10 lo hi rc ne e bad=0 sum dp dur m
	$TIMEOUT "$VMTRACK" run -s -o $j -- "$WORKLOAD" -s -p 128 -n 2 -t "$truth" \
		> $o 2> $tmp/e10
	rc=$?
	check "output: exit status 0 (got $rc)" [ $rc = 0 ]
	ne=$(summary_field $j epochs)
	check "output: the JSON epochs and summary are in the file (${ne:-no} epochs)" \
		[ "${ne:-0}" -ge 3 ]
	check "output: stdout has the text, one line per epoch" \
		[ "$(grep -c '^epoch ' $o)" = "$ne" ]
	check "output: no JSON on stdout" eval '! grep -q "^{" $o'
	for ((e = 1; e <= ${ne:-0}; e++)); do
		sum=$(epoch_mappings $j $e | awk '{ s += $4 } END { printf "%.0f", s }')
		dp=$(epoch_field $j $e dirty_pages)
		dur=$(epoch_field $j $e duration)
		[ "$sum" = "$dp" ] || { bad=1; info "epoch $e: mappings sum to $sum, dirty_pages $dp"; }
		# the duration is printed to the millisecond: the rate was
		# computed from the exact one, within half a millisecond of it
		epoch_mappings $j $e | awk -v d="$dur" '
			{ lo = $4 / (d + 0.0005); hi = d > 0.0005 ? $4 / (d - 0.0005) : 1e18
			  if ($5 < lo - 0.002 || $5 > hi + 0.002) bad = 1 }
			END { exit bad }' || { bad=1; info "epoch $e: a rate is not dirty/duration"; }
	done
	check "output: per-mapping dirty pages add up to dirty_pages, rate = dirty/duration" \
		[ $bad = 0 ]
	lo=$(buf_start "$truth")
	hi=$(buf_end "$truth")
	[ -n "$lo" ] || { nok "output: workload recorded its buffer"; return; }
	# phase 1 is epoch 2: the mapping holding the buffer counts its pages
	m=$(epoch_mappings $j 2 | awk -v lo="$lo" '$1 <= lo + 0 && lo + 0 < $2 { print; exit }')
	epoch_pages $j 2 "$(echo $m | cut -d' ' -f1)" "$(echo $m | cut -d' ' -f2)" > $tmp/g10
	truth_pages "$truth" 1 > $tmp/w10
	check "output: the buffer's mapping lists the pages dirty in it ($m)" \
		[ -n "$m" -a "$(echo $m | cut -d' ' -f4)" = "$(wc -l < $tmp/g10)" ]
	if [ -z "$(epoch_field $j 2 loss)" ]; then
		check "output: and they include phase 1's $(wc -l < $tmp/w10) pages" subset $tmp/w10 $tmp/g10
	fi
	check "output: no instance left" no_instances
}

# ---- 11: --journal: vmtrack report prints what the run printed ---------

# the JSON epoch objects of a file, without "mappings" and "dirty" (those
# are journaled with --journal-ranges only)
json_epochs() { grep '^{"epoch":' "$1" | sed 's/,"mappings":\[.*$/}/'; }

t11() {
	local j=$tmp/j11 o=$tmp/o11 x=$tmp/x11 r=$tmp/r11 truth=$tmp/t11 rc vpid cpid ne deadline
	$TIMEOUT "$VMTRACK" run -s -o $x --journal $j -- "$WORKLOAD" -s -p 128 -n 3 \
		-t "$truth" > $o 2> $tmp/e11
	rc=$?
	check "journal: run --journal exit status 0 (got $rc)" [ $rc = 0 ]
	"$VMTRACK" report $j > $r 2> $tmp/je11
	rc=$?
	check "journal: report exit status 0 (got $rc)" [ $rc = 0 ]
	ne=$(grep -c '^epoch ' $o)
	check "journal: report prints the live text, its $ne epoch lines and summary" \
		cmp -s $o $r
	cmp -s $o $r || diff $o $r | head -10 | sed 's/^/# /'
	"$VMTRACK" report --json $j > $r 2> $tmp/je11
	json_epochs $x > $tmp/live11
	json_epochs $r > $tmp/rep11
	check "journal: report --json prints the live JSON epochs, but mappings and dirty" \
		cmp -s $tmp/live11 $tmp/rep11
	grep '^{"summary":' $x > $tmp/live11
	grep '^{"summary":' $r > $tmp/rep11
	check "journal: and the same summary object" cmp -s $tmp/live11 $tmp/rep11
	check "journal: report --json has $ne epochs" [ "$(json_epochs $r | wc -l)" = "$ne" ]

	# with the ranges, the JSON lines and the listed dirty ranges are the same
	$TIMEOUT "$VMTRACK" run -s -d -o $x --journal $j --journal-ranges -- "$WORKLOAD" -s \
		-p 128 -n 3 -t "$truth" > $o 2> $tmp/e11
	rc=$?
	check "journal: run --journal-ranges exit status 0 (got $rc)" [ $rc = 0 ]
	"$VMTRACK" report --json $j > $r 2> $tmp/je11
	check "journal: report --json of --journal-ranges prints the live JSON file" cmp -s $x $r
	"$VMTRACK" report -d $j > $r 2> $tmp/je11
	check "journal: report -d prints the live text with its dirty ranges" cmp -s $o $r
	"$VMTRACK" report --plot $tmp/p11.svg $j 2> $tmp/je11
	check "journal: report --plot draws the epochs" grep -q '<polyline' $tmp/p11.svg

	# a consumer killed mid-run: the journal decodes up to where it was written
	"$VMTRACK" run -i 0.2 --journal $j -- "$WORKLOAD" -d 0.2 -n 100000 -p 64 \
		-t $tmp/truth11k > /dev/null 2> $tmp/e11 &
	vpid=$!
	pids+=("$vpid")
	wait_for $tmp/e11 'watching|vmtrack' || { nok "journal: killed run: start"; return; }
	# killed once three epochs are in the journal, while the workload (a
	# phase every 0.2 s until killed) runs, however slow the kernel
	deadline=$((SECONDS + TMO))
	while [ $SECONDS -lt $deadline ]; do
		[ "$("$VMTRACK" report $j 2> /dev/null | grep -c '^epoch ')" -ge 3 ] && break
		sleep 0.1
	done
	cpid=$(pgrep -P $vpid)
	pids+=($cpid)
	if [ -z "$cpid" ] || ! kill -KILL $vpid $cpid; then
		nok "journal: killed run: the run ended before it was killed"
		return
	fi
	wait $vpid 2>/dev/null
	"$VMTRACK" report $j > $r 2> $tmp/je11
	rc=$?
	check "journal: killed run: report exit status 2 (got $rc)" [ $rc = 2 ]
	check "journal: killed run: the epochs written before decode ($(grep -c '^epoch ' $r))" \
		[ "$(grep -c '^epoch ' $r)" -ge 3 ]
	check "journal: killed run: report says the run did not finish" \
		grep -qE 'no end record|stopped at byte' $tmp/je11
	# the instance of the killed consumer is the next one's to reap
	"$VMTRACK" run -n 1 -q -- true > /dev/null 2>&1
	check "journal: no instance left" no_instances
}

# ---- 12, 13: --follow, a dirty set per process of a tree --------------

truth_pid() { awk '$1 == "I" { print $2 }' "$1"; }

# set_of JSON PID ORIGIN: the number of the set of PID that ORIGIN started
set_of() {
	awk -v pid="$2" -v o="$3" "$JV"'
		/^{"process":/ && jv("pid") == pid && jv("origin") == o { print jv("set") }' "$1"
}

# set_pages JSON SET LO HI: the pages of [LO, HI) in any epoch of a set
set_pages() { epoch_pages "$1" all "$3" "$4" "$2"; }

set_loss() { awk -v set="$2" "$JV"' jv("epoch") != "" && jv("set") == set &&
	jv("loss") != ""' "$1" | wc -l; }
# set_count JSON SET: epochs of a set, its final ones, and the epochs its summary counts
set_epochs() { awk -v set="$2" "$JV"' jv("epoch") != "" && jv("set") == set' "$1" | wc -l; }
set_finals() { awk -v set="$2" "$JV"' jv("epoch") != "" && jv("set") == set &&
	jv("final") == "true"' "$1" | wc -l; }
set_summary() { awk -v set="$2" -v k="$3" "$JV"' /^{"summary":/ && jv("set") == set {
	print jv(k) }' "$1"; }
follow_field() { awk -v k="$2" "$JV"' /^{"follow":/ { print jv(k) }' "$1"; }

# check_set NAME JSON SET TRUTH exact|superset: the set's pages in the buffer
# of TRUTH against the pages TRUTH says the process wrote
check_set() {
	local name=$1 o=$2 set=$3 truth=$4 how=$5 lo hi
	if [ -z "$set" ]; then
		nok "$name: no dirty set"
		return
	fi
	lo=$(buf_start "$truth")
	hi=$(buf_end "$truth")
	truth_pages "$truth" > $tmp/fw
	set_pages "$o" "$set" "$lo" "$hi" > $tmp/fg
	if [ "$how" = exact ] && [ "$(set_loss "$o" "$set")" = 0 ]; then
		check "$name: set $set equals the $(wc -l < $tmp/fw) pages written" \
			same $tmp/fw $tmp/fg
	else
		check "$name: set $set ($(wc -l < $tmp/fg) pages) holds the $(wc -l < $tmp/fw) written" \
			subset $tmp/fw $tmp/fg
	fi
	check "$name: set $set: one final epoch, the summary counts its $(set_epochs "$o" "$set") epochs" \
		[ "$(set_finals "$o" "$set")" = 1 -a \
		  "$(set_summary "$o" "$set" epochs)" = "$(set_epochs "$o" "$set")" ]
}

# A shell starts a workload that forks (its child writes other pages of the
# inherited buffer) and a second workload; each runs its phases at its own
# pace, between the epochs.
t12() {
	local o=$tmp/o12 a=$tmp/t12a b=$tmp/t12b rc apid cpid bpid shpid nfork c set
	$TIMEOUT "$VMTRACK" run --follow -i 0.2 -j --journal $tmp/j12 --journal-ranges -- \
		sh -c "$WORKLOAD -p 96 -n 3 -d 0.3 -f -t $a & $WORKLOAD -p 64 -n 2 -d 0.3 \
		-t $b; wait; exit 7" > $o 2> $tmp/e12
	rc=$?
	check "run --follow: the command's exit status (7, got $rc)" [ $rc = 7 ]
	"$VMTRACK" report --json $tmp/j12 > $tmp/r12 2> $tmp/re12
	check "run --follow: vmtrack report --json prints the live JSON lines ($(wc -l < $o))" \
		cmp -s $o $tmp/r12
	"$VMTRACK" report --plot $tmp/p12.svg $tmp/j12 2> $tmp/pe12
	check "run --follow: report --plot draws a line per set ($(grep -c '<polyline' $tmp/p12.svg) for $(follow_field $o sets) sets)" \
		[ "$(grep -c '<polyline' $tmp/p12.svg)" = "$(follow_field $o sets)" -a \
		  "$(grep -c '>set [0-9]*: ' $tmp/p12.svg)" = "$(follow_field $o sets)" ]
	apid=$(truth_pid $a)
	cpid=$(truth_pid $a.child)
	bpid=$(truth_pid $b)
	shpid=$(follow_field $o pid)
	info "sh $shpid, workload $apid (forks $cpid), workload $bpid"
	check "run --follow: the shell's set is the command's" [ -n "$(set_of $o "$shpid" run)" ]
	check_set "run --follow: exec'd workload" $o "$(set_of $o "$apid" exec)" $a superset
	check_set "run --follow: its forked child" $o "$(set_of $o "$cpid" fork)" $a.child exact
	check_set "run --follow: second workload" $o "$(set_of $o "$bpid" exec)" $b superset
	# a child forked (not vforked: the shell goes on) has a set until its exec
	check "run --follow: the background child had a set before its exec" \
		[ -n "$(set_of $o "$apid" fork)" ]
	nfork=$(awk -v sh="$shpid" "$JV"' /^{"process":/ && jv("origin") == "fork" &&
		jv("ppid") == sh' $o | wc -l)
	info "$nfork of the shell's children forked (a vforked one shares its mm until the exec)"
	check "run --follow: $((4 + nfork)) sets of 4 processes (got $(follow_field $o sets) of $(follow_field $o processes))" \
		[ "$(follow_field $o sets)" = $((4 + nfork)) -a "$(follow_field $o processes)" = 4 ]
	check "run --follow: a summary per set" \
		[ "$(grep -c '^{"summary":{"set":' $o)" = "$(follow_field $o sets)" ]
	check "run --follow: no instance left" no_instances

	# a thread (traced too, no set of its own) starts a workload
	if command -v python3 > /dev/null; then
		$TIMEOUT "$VMTRACK" run --follow -i 0.2 -j -- python3 -c "if True:
			import subprocess, threading
			def f(): subprocess.run(['$WORKLOAD', '-p', '64', '-n', '2', '-d', '0.3', '-t', '$b'])
			t = threading.Thread(target=f); t.start(); t.join()" > $o 2> $tmp/e12
		rc=$?
		bpid=$(truth_pid $b)
		check "run --follow thread: exit status 0 (got $rc)" [ $rc = 0 ]
		shpid=$(follow_field $o pid)
		check "run --follow thread: the thread has no set of its own" \
			[ "$(awk -v r="$shpid" "$JV"' /^{"process":/ && jv("origin") == "fork" &&
				jv("ppid") != r' $o | wc -l)" = 0 -a -n "$(set_of $o "$shpid" run)" ]
		check_set "run --follow thread: the workload it started" $o \
			"$(set_of $o "$bpid" exec)" $b superset
	else
		ok "run --follow thread # SKIP no python3"
	fi

	# a compiler driver: gcc vforks cc1 and as, which live a fraction of a second
	if command -v gcc > /dev/null; then
		printf 'int x[4096];\nint main(void) { return x[1]; }\n' > $tmp/x.c
		$TIMEOUT "$VMTRACK" run --follow -q -j -- sh -c "gcc -c -o $tmp/x.o $tmp/x.c" \
			> $o 2> $tmp/e12
		rc=$?
		check "run --follow gcc: exit status 0 (got $rc), object written" [ $rc = 0 -a -s $tmp/x.o ]
		for c in cc1 as; do
			set=$(awk -v c=$c "$JV"' /^{"process":/ && jv("comm") == c { print jv("set") }' $o)
			check "run --follow gcc: $c has a set ($set) with $(set_summary $o "$set" dirty_pages) dirty pages" \
				[ -n "$set" -a "$(set_summary $o "$set" dirty_pages)" -gt 0 ] 2>/dev/null
		done
	else
		ok "run --follow gcc # SKIP no gcc"
	fi

	# without --follow only the shell is watched
	$TIMEOUT "$VMTRACK" run -i 0.2 -j -- sh -c "$WORKLOAD -p 96 -n 3 -d 0.3 -f \
		-t $a & $WORKLOAD -p 64 -n 2 -d 0.3 -t $b; wait; exit 7" > $o 2> $tmp/e12
	rc=$?
	check "run: exit status 7 (got $rc)" [ $rc = 7 ]
	[ $rc = 7 ] || sed 's/^/# /' $tmp/e12 | tail -5
	check "run: without --follow, no set of the children" \
		[ "$(grep -c '^{"process":' $o)" = 0 -a "$(grep -c '"set":' $o)" = 0 ]
	check "run: without --follow, the workload's mappings are not in the summary" \
		[ "$(grep '^{"summary":' $o | grep -c "$WORKLOAD")" = 0 ]
	check "run: without --follow, the summary is the shell's ($(summary_field $o pid))" \
		[ "$(summary_field $o pid)" != "$apid" -a "$(summary_field $o pid)" != "$bpid" ]
}

# vmtrack watch --follow on a shell whose workload runs already; it starts
# a second one (that forks) once the watch is on
t13() {
	local o=$tmp/o13 a=$tmp/t13a b=$tmp/t13b rc apid cpid bpid shpid vpid
	mkfifo $tmp/go13
	sh -c "$WORKLOAD -w -p 64 -n 2 -t $a & read x < $tmp/go13; \
		$WORKLOAD -p 48 -n 2 -d 0.3 -f -t $b; wait" &
	shpid=$!
	pids+=("$shpid")
	wait_for $a '^I ' || { nok "watch --follow: workload start"; return; }
	apid=$(truth_pid $a)
	pids+=("$apid")
	"$VMTRACK" watch --follow -p $shpid -i 0.2 -j > $o 2> $tmp/e13 &
	vpid=$!
	pids+=("$vpid")
	wait_for $tmp/e13 "watching pid $apid .*found|vmtrack: [^w]" ||
		{ nok "watch --follow: start"; return; }
	check "watch --follow: the running workload is found" grep -q "pid $apid (workload, set [0-9]*, found)" $tmp/e13
	# its signals pass through vmtrack, the tracer
	kill -USR1 $apid
	wait_for $a '^D 1$'
	sleep 0.5
	kill -USR1 $apid
	wait_for $a '^D 2$'
	echo go > $tmp/go13
	wait_for $b '^D 2$' 120 && wait_for $b.child '^D 2$'
	sleep 0.5
	kill -TERM $apid
	( sleep $TMO; kill -TERM $vpid 2>/dev/null ) & local k=$!
	wait $vpid
	rc=$?
	kill $k 2>/dev/null
	check "watch --follow: ends when the tree exits, status 0 (got $rc)" [ $rc = 0 ]
	cpid=$(truth_pid $b.child)
	bpid=$(truth_pid $b)
	info "sh $shpid, workload $apid, workload $bpid (forks $cpid)"
	check "watch --follow: the shell's set" [ -n "$(set_of $o "$shpid" watch)" ]
	check_set "watch --follow: running workload" $o "$(set_of $o "$apid" found)" $a exact
	check_set "watch --follow: new workload" $o "$(set_of $o "$bpid" exec)" $b superset
	check_set "watch --follow: its forked child" $o "$(set_of $o "$cpid" fork)" $b.child exact
	check "watch --follow: no instance left" no_instances
}

# vmtrack watch --follow stopped by SIGTERM while the tree runs on: the
# last epochs with the tree stopped, then the tree goes on, unwatched
t14() {
	local o=$tmp/o14 a=$tmp/t14a rc apid shpid vpid lo state
	sh -c "$WORKLOAD -w -p 64 -n 2 -t $a; echo end > $tmp/end14" &
	shpid=$!
	pids+=("$shpid")
	wait_for $a '^I ' || { nok "watch --follow stop: workload start"; return; }
	apid=$(truth_pid $a)
	pids+=("$apid")
	lo=$(buf_start $a)
	"$VMTRACK" watch --follow -p $shpid -i 0.2 -j > $o 2> $tmp/e14 &
	vpid=$!
	pids+=("$vpid")
	wait_for $tmp/e14 "watching pid $apid .*found|vmtrack: [^w]" ||
		{ nok "watch --follow stop: start"; return; }
	kill -USR1 $apid
	wait_for $a '^D 1$'
	sleep 0.5
	check "watch --follow stop: the buffer is watched meanwhile" watched $apid "$lo"
	kill -USR1 $apid
	wait_for $a '^D 2$'
	sleep 0.3
	stop_consumer $vpid
	rc=$?
	check "watch --follow stop: SIGTERM: exit status 0 (got $rc)" [ $rc = 0 ]
	check_set "watch --follow stop: running workload" $o "$(set_of $o "$apid" found)" $a exact
	check "watch --follow stop: the shell's set ends with a final epoch too" \
		[ "$(set_finals $o "$(set_of $o "$shpid" watch)")" = 1 ]
	state=$(awk '{ sub(/.*\) /, ""); print $1 }' /proc/$apid/stat 2>/dev/null)
	check "watch --follow stop: the workload runs on, not stopped (state $state)" \
		[ "$state" = S -o "$state" = R ]
	check "watch --follow stop: its buffer unwatched" unwatched $apid "$lo"
	kill -TERM $apid
	wait $shpid
	rc=$?
	check "watch --follow stop: the tree ran on to its end (exit $rc)" [ $rc = 0 -a -s $tmp/end14 ]
	check "watch --follow stop: no instance left" no_instances
}

# ---- 15: --journal of a run that fails before it watches: no file ------

t15() {
	local j=$tmp/j15 out rc
	start_workload $tmp/t15 -p 16 -n 1 || { nok "journal, no start: workload start"; return; }
	bad "no such pid, --journal" "no such process" "$VMTRACK" watch -p 999999 --journal $j
	check "journal, no start: watch of no such pid leaves no journal" [ ! -e $j ]
	bad "command not found, --journal" "cannot execute" \
		"$VMTRACK" run --journal $j -- /nonexistent/cmd
	check "journal, no start: run of a missing command leaves no journal" [ ! -e $j ]
	bad "unmapped range, --journal" "nothing mapped" \
		"$VMTRACK" watch -p $wpid -r 1000-2000 --journal $j
	check "journal, no start: watch of an unmapped range leaves no journal" [ ! -e $j ]
	echo earlier > $j
	bad "no such pid, --journal FILE that exists" "no such process" \
		"$VMTRACK" watch -p 999999 --journal $j
	check "journal, no start: an existing file is left as it was" \
		[ "$(cat $j)" = earlier ]
	bad "journal in a missing directory" "cannot write '/nonexistent/j'" \
		"$VMTRACK" watch -p $wpid --journal /nonexistent/j
	rm -f $j
	# the same for --output
	bad "no such pid, --output" "no such process" "$VMTRACK" watch -p 999999 -o $j
	check "output, no start: watch of no such pid leaves no output file" [ ! -e $j ]
	bad "command not found, --follow --output" "cannot execute" \
		"$VMTRACK" run --follow -o $j -- /nonexistent/cmd
	check "output, no start: run --follow of a missing command leaves no output file" \
		[ ! -e $j ]
	echo earlier > $j
	bad "no such pid, --output FILE that exists" "no such process" \
		"$VMTRACK" watch -p 999999 -o $j
	check "output, no start: an existing file is left as it was" [ "$(cat $j)" = earlier ]
	bad "journal in a missing directory, --output" "cannot write '/nonexistent/j'" \
		"$VMTRACK" watch -p $wpid -o $j.out --journal /nonexistent/j
	check "output, no start: a journal that cannot be written leaves no output file" \
		[ ! -e $j.out ]
	yes earlier | head -n 2000 > $j
	$TIMEOUT "$VMTRACK" watch -p $wpid -i 0.2 -n 2 -q -o $j > /dev/null 2>&1
	check "output, no start: a run that starts replaces the file ($(head -c 40 $j))" \
		eval "grep -q '^{\"epoch\":' $j && ! grep -q earlier $j"
	rm -f $j
	bad "no such pid, --follow --journal" "no such process" \
		"$VMTRACK" watch --follow -p 999999 --journal $j
	check "journal, no start: watch --follow of no such pid leaves no journal" [ ! -e $j ]
	bad "command not found, --follow --journal" "cannot execute" \
		"$VMTRACK" run --follow --journal $j -- /nonexistent/cmd
	check "journal, no start: run --follow of a missing command leaves no journal" [ ! -e $j ]
	# once it watches, the file is the journal of this run
	$TIMEOUT "$VMTRACK" watch -p $wpid -i 0.2 -n 2 -q --journal $j > /dev/null 2>&1
	out=$("$VMTRACK" report $j 2>&1 > /dev/null)
	rc=$?
	check "journal, no start: a run that starts replaces the file (report exit $rc, '$out')" \
		[ $rc = 0 -a -z "$out" ]
	stop_workload $wpid
}

# ---- 16: events lost where only their numbers show it -----------------

# The write faults of a phase are not recorded (the event disabled in
# vmtrack's instance and enabled again while vmtrack is stopped): no counter
# and no instance check can see it, the gap in the kernel's numbers does.
# With the write faults read from events: see t18 for dense epochs.
t16() {
	local o=$tmp/o16 truth=$tmp/t16 lo hi vpid ev le n2 e
	watch_buffer seq $o $tmp/e16 "$truth" 256 3 --events-only || return
	ev=$T/instances/vmtrack-$vpid/events/mm_watch/mm_watch_write_fault/enable
	kill -USR1 $wpid
	wait_for "$truth" '^D 1$'
	# phase 2's writes to phase 1's pages fault only once those are armed
	# again: by the epoch after the next one, which began after the phase
	e=$(last_epoch "$o")
	wait_for "$o" "\"epoch\":$((e + 2))," "$TMO"
	kill -STOP $vpid
	echo 0 > $ev
	kill -USR1 $wpid
	wait_for "$truth" '^D 2$'
	echo 1 > $ev
	kill -CONT $vpid
	sleep 1
	kill -USR1 $wpid
	wait_for "$truth" '^D 3$'
	sleep 1.5
	stop_consumer $vpid
	le=$(awk "$JV"' jv("loss") ~ /seq/ { print jv("epoch"); exit }' $o)
	n2=$(truth_pages "$truth" 2 | wc -l)
	check "seq: the write faults not recorded are reported lost (loss seq)" [ -n "$le" ]
	check "seq: no other loss is reported" \
		[ -z "$(awk "$JV"' jv("epoch") != "" && jv("loss") != "" && jv("loss") != "seq"' $o)" ]
	if [ -n "$le" ]; then
		check "seq: the count is the phase's write faults ($n2)" \
			[ "$(epoch_field $o "$le" lost_events)" = "$n2" ]
		check_swept "seq: the loss epoch" $o "$le" "$truth" 2
	fi
	check_union "seq: union of epochs is a superset of the truth" $o "$truth"
	# the marks of re-arms are filtered out, the write faults all come
	check "seq: after the first epoch, precise epochs read no more events than dirty pages" \
		awk "$JV"' jv("epoch") + 0 > 1 && jv("loss") == "" {
			ev += jv("events"); pg += jv("dirty_pages") }
			END { printf "# %d events, %d dirty pages\n", ev, pg; exit !(pg > 0 && ev <= pg) }' $o
	check "seq: no instance left" no_instances
	stop_workload $wpid
}

# ---- 18: t16 in dense epochs ---------------------------------------------

# The same phase in dense epochs, where vmtrack itself turned the write
# faults off and the numbers cannot count them: the test's write to the
# instance makes the next sweep as wide as after a loss, and the event
# turned back on behind vmtrack's back is a change of the instance (loss
# tamper). Every page of every phase is still reported.
t18() {
	local o=$tmp/o18 truth=$tmp/t18 lo hi vpid ev i j state st idle
	watch_buffer dense $o $tmp/e18 "$truth" 256 3 || return
	ev=$T/instances/vmtrack-$vpid/events/mm_watch/mm_watch_write_fault/enable
	# dense from the end of the epoch that reports the phase, for one
	# quiet epoch (-i 0.5): stopped then, the event is off. Looked for
	# with builtins only (a read that times out on a FIFO for the sleep):
	# on a loaded debug kernel, a grep and a sleep per look for the
	# phase's end, then a cat per look, missed the window. Each look stops
	# the consumer first: stopped after the look, it could have left the
	# window in between. The consumer is stopped over the phase and a
	# second past it: its epoch that reports the phase is overdue then and
	# runs at once, and the next one comes a whole interval after its end
	# (a late epoch does not make the next one early). Otherwise that epoch
	# came on time and, slowed by the looks on a loaded machine, could end
	# so late that the next one was due at once, and the window closed
	# between two looks.
	mkfifo $tmp/idle18
	exec {idle}<>$tmp/idle18
	kill -STOP "$vpid"
	kill -USR1 $wpid
	wait_for "$truth" '^D 1$'
	sleep 1
	for ((i = 0; i < 3000; i++)); do
		kill -STOP "$vpid"
		# the stop takes effect once a system call under way returns
		for ((j = 0; j < 1000; j++)); do
			{ read -r st < "/proc/$vpid/stat"; } 2>/dev/null || break
			[[ $st == *") T "* ]] && break
			read -r -t 0.01 -u "$idle"
		done
		# "0*": off, in the soft mode the session holds it in
		{ read -r state < $ev; } 2>/dev/null && [ "$state" = "0*" ] && break
		kill -CONT "$vpid"
		read -r -t 0.01 -u "$idle"
	done
	kill -STOP $vpid
	exec {idle}>&-
	check "dense: the phase made the epochs dense (write_fault off when stopped)" \
		[ "$(cat $ev)" = "0*" ]
	echo 0 > $ev
	kill -USR1 $wpid
	wait_for "$truth" '^D 2$'
	echo 1 > $ev
	kill -CONT $vpid
	# the consumer turns it off again, then on once its epochs are quiet;
	# the last phase comes after the epoch after that, on events again
	wait_for $ev '^0\*$' 10
	wait_for $ev '^1\*$' 10
	sleep 1.2
	kill -USR1 $wpid
	wait_for "$truth" '^D 3$'
	sleep 1.5
	stop_consumer $vpid
	check "dense: dense epochs reported" grep -q '"dense":true' $o
	awk "$JV"' jv("epoch") != "" { printf "# epoch %s: %s dirty, dense %s, loss \"%s\", swept %s\n",
		jv("epoch"), jv("dirty_pages"), jv("dense"), jv("loss"), jv("swept") }' $o
	check "dense: no loss but the instance's change (tamper)" \
		[ -z "$(awk "$JV"' jv("epoch") != "" && jv("loss") != "" && jv("loss") != "tamper"' $o)" ]
	check_union "dense: union of epochs is a superset of the truth" $o "$truth"
	check "dense: no instance left" no_instances
	stop_workload $wpid
}

# ---- 20: a page table moved whole while its events are lost -----------

# Every event of phase 2 is lost (the mm_watch events disabled and enabled
# again while vmtrack is stopped): its writes, and at its end an mremap() of
# the buffer's first 2 MiB, clean since armed, over its last 2 MiB, both
# PMD-aligned. The sweep after the gap finds the moved entries only if the
# kernel marks them written: a page table moved whole would keep their bits,
# and vmtrack would take the last 2 MiB for what it copied there before.
t20() {
	local o=$tmp/o20 truth=$tmp/t20 lo hi vpid en
	workload_args=-m watch_buffer "moved, lost" $o $tmp/e20 "$truth" 1536 2 --events-only ||
		return
	en=$T/instances/vmtrack-$vpid/events/mm_watch/enable
	kill -USR1 $wpid
	wait_for "$truth" '^D 1$'
	sleep 1
	kill -STOP $vpid
	echo 0 > $en
	kill -USR1 $wpid
	wait_for "$truth" '^D 2$'
	echo 1 > $en
	kill -CONT $vpid
	sleep 1.5
	stop_consumer $vpid
	check "moved, lost: an epoch saw the loss and swept" \
		[ -n "$(awk "$JV"' jv("loss") != "" && jv("swept") == "true"' $o)" ]
	check_union "moved, lost: union of epochs is a superset of the truth" $o "$truth"
	check "moved, lost: no instance left" no_instances
	stop_workload $wpid
}

# ---- 21: another watched process's faults in the consumer's epochs ----

# Two targets, a consumer each. A's write_fault event is not filtered at
# first (its filter would cost each of A's faults about as much as the
# event); B's faults reach A's buffer, are ignored, and once an epoch
# reads many of them A filters them out. Both dirty sets stay exact.
t21() {
	local oa=$tmp/o21a ob=$tmp/o21b ta=$tmp/t21a tb=$tmp/t21b
	local apid va alo ahi bpid vb blo bhi ff mf p rc
	watch_buffer "other mm: A" $oa $tmp/e21a "$ta" 64 2 || return
	apid=$wpid va=$vpid alo=$lo ahi=$hi
	ff=$T/instances/vmtrack-$va/events/mm_watch/mm_watch_write_fault/filter
	mf=$T/instances/vmtrack-$va/events/mm_watch/mm_watch_mark/filter
	check "other mm: A's write_fault unfiltered at first ($(cat $ff))" \
		[ "$(cat $ff)" = none ]
	check "other mm: A's other events filtered on A ($(cat $mf))" \
		grep -qE "^tgid ?== ?$apid\$" $mf
	watch_buffer "other mm: B" $ob $tmp/e21b "$tb" 4096 2 || return
	bpid=$wpid vb=$vpid blo=$lo bhi=$hi
	for p in 1 2; do
		kill -USR1 $apid
		kill -USR1 $bpid
		wait_for "$ta" "^D $p\$" || break
		wait_for "$tb" "^D $p\$" || break
		sleep 1.2
	done
	check "other mm: A's write_fault filtered on A once B's faults came ($(cat $ff))" \
		grep -qE "^tgid ?== ?$apid\$" $ff
	stop_consumer $va
	rc=$?
	check "other mm: A's consumer exit status 0 (got $rc)" [ $rc = 0 ]
	stop_consumer $vb
	rc=$?
	check "other mm: B's consumer exit status 0 (got $rc)" [ $rc = 0 ]
	for p in a b; do
		if [ $p = a ]; then
			lo=$alo hi=$ahi
		else
			lo=$blo hi=$bhi
		fi
		truth_pages $tmp/t21$p > $tmp/w21
		epoch_pages $tmp/o21$p all "$lo" "$hi" > $tmp/g21
		check_exact "other mm: $p" $tmp/w21 $tmp/g21 $tmp/o21$p
	done
	stop_workload $apid
	stop_workload $bpid
}

# ---- 17: --follow past its 64 sets -------------------------------------

# A whole process (its text, libraries and untouched heap too) watched
# while it writes a burst, then waits: the burst makes the epochs dense,
# and the quiet ones after it report nothing and turn the events back on.
# vmtrack's own switch of the event is no write behind its back: were it
# taken for one, the sweep after it would be as wide as after a loss and
# report every page of the program's text, which would keep the epochs
# dense, a page-table walk each, for as long as the process lives.
t22() {
	local o=$tmp/o22 truth=$tmp/t22 vpid e
	start_workload "$truth" -p 2048 -n 1 || { nok "dense, idle: workload start"; return; }
	"$VMTRACK" watch -p $wpid -i 0.3 -j > $o 2> $tmp/e22 &
	vpid=$!
	pids+=("$vpid")
	wait_for $tmp/e22 'watching|vmtrack' || { nok "dense, idle: start"; return; }
	wait_for $o '"epoch":2,' 20
	kill -USR1 $wpid
	wait_for "$truth" '^D 1$'
	wait_for $o '"dense":true' 20
	# the next epoch may hold the end of the burst, the one after it
	# began after the burst
	e=$(last_epoch "$o")
	wait_for "$o" "\"epoch\":$((e + 2))," "$TMO"
	e=$(last_epoch "$o")
	# then quiet epochs, until one from e + 2 on is back on events
	wait_sparse "$o" $((e + 2))
	stop_consumer $vpid
	awk "$JV"' jv("epoch") != "" { printf "# epoch %s: %s dirty, dense %s, loss \"%s\"\n",
		jv("epoch"), jv("dirty_pages"), jv("dense"), jv("loss") }' $o
	check "dense, idle: the burst made the epochs dense" grep -q '"dense":true' $o
	check "dense, idle: the quiet epochs after epoch $e report no page" \
		[ -z "$(awk -v e="$e" "$JV"' jv("epoch") + 0 > e + 0 && jv("final") == "false" &&
			jv("dirty_pages") + 0 > 0' $o)" ]
	check "dense, idle: and are back on events" \
		[ "$(awk "$JV"' jv("final") == "false" { d = jv("dense") }
			END { print d }' $o)" = false ]
	check "dense, idle: no instance left" no_instances
	stop_workload $wpid
}

# A process whose threads write while it exits: its set ends in its exit
# stop, its memory still there, so even a dense epoch, which sweeps the
# pages written, is exact. By the last thread's exit (joined), and by
# exit_group() with the other threads still writing (killed by it).
t23() {
	local o=$tmp/o23 how rc w
	if ! command -v python3 > /dev/null; then
		ok "exit stop # SKIP no python3"
		return
	fi
	cat > $tmp/mt.py <<-'PY'
	import threading, time, os, sys
	b = bytearray(32 << 20)
	stop = False
	def w(k):
	    i = k * 4096
	    while not stop:
	        b[i % len(b)] = 1
	        i += 4096 * 7
	ts = [threading.Thread(target=w, args=(k,), daemon=True) for k in range(3)]
	for t in ts:
	    t.start()
	time.sleep(2)
	if sys.argv[1] == "group":
	    os._exit(0)
	stop = True
	for t in ts:
	    t.join()
	PY
	for how in join group; do
		$TIMEOUT "$VMTRACK" run --follow -i 0.3 -j -- python3 $tmp/mt.py $how \
			> $o 2> $tmp/e23
		rc=$?
		awk -v how=$how "$JV"' jv("epoch") != "" {
			printf "# %s epoch %s: %s dirty, dense %s, loss \"%s\", final %s\n",
				how, jv("epoch"), jv("dirty_pages"), jv("dense"),
				jv("loss"), jv("final") }' $o | tail -3
		check "exit stop, $how: exit status 0 (got $rc)" [ $rc = 0 ]
		check "exit stop, $how: the epochs were dense" grep -q '"dense":true' $o
		check "exit stop, $how: the final epoch is exact (no loss)" \
			[ "$(final_field $o loss)" = "" -a "$(final_field $o final)" = true ]
		# taken in the exit stop, not after the exit (no memory left)
		w=$(final_field $o watched_pages)
		check "exit stop, $how: the final epoch still saw the memory ($w pages)" \
			[ "${w:-0}" -ge 8192 ]
	done
	check "exit stop: no instance left" no_instances
}

# 66 processes alive at once under the shell that starts them: 64 sets, the
# 3 processes beyond them followed but reported as not watched
# Back on events after dense epochs, the count of the kernel's numbers
# waits for the first one read to start again from. Meanwhile the event is
# turned off and on behind vmtrack's back (stopped) while the target
# writes, and no write after that is recorded: no number can show those
# writes, the instance check finds the instance as it left it, and only a
# sweep catches them.
t19() {
	local o=$tmp/o19 truth=$tmp/t19 lo hi vpid ev e
	watch_buffer "dense, then events" $o $tmp/e19 "$truth" 256 2 || return
	ev=$T/instances/vmtrack-$vpid/events/mm_watch/mm_watch_write_fault/enable
	kill -USR1 $wpid
	wait_for "$truth" '^D 1$'
	wait_for $o '"dense":true' 20
	wait_for $ev '^1\*$' 20
	# the epoch that left the dense ones may not be written yet; it and
	# the one after it still sweep: wait for an epoch after them
	e=$(last_epoch "$o")
	wait_sparse "$o" $((e + 2))
	kill -STOP $vpid
	e=$(last_epoch "$o")
	check "dense, then events: the consumer left the dense epochs (write_fault on, epoch $e)" \
		[ "$(cat $ev 2>/dev/null)" = "1*" -a "$(epoch_field $o "$e" dense)" = false ]
	echo 0 > $ev
	kill -USR1 $wpid
	wait_for "$truth" '^D 2$'
	echo 1 > $ev
	kill -CONT $vpid
	sleep 1.5
	stop_consumer $vpid
	check "dense, then events: an epoch after the change swept the written pages" \
		[ -n "$(awk -v e="$e" "$JV"' jv("epoch") + 0 > e + 0 && jv("dense") == "true" &&
			jv("dirty_pages") + 0 > 0' $o)" ]
	check_union "dense, then events: union of epochs is a superset of the truth" $o "$truth"
	check "dense, then events: no instance left" no_instances
	stop_workload $wpid
}

t17() {
	local o=$tmp/o17 e=$tmp/e17 f=$tmp/f17 vpid rc nw i k
	mkfifo $f
	# no $(seq): its process, still a set when the cats come, would be a 4th
	"$VMTRACK" run --follow -i 1 -j -- \
		sh -c "i=0; while [ \$i -lt 66 ]; do cat $f > /dev/null & i=\$((i + 1)); done; wait" \
		> $o 2> $e &
	vpid=$!
	pids+=("$vpid")
	# every cat blocks in open() until the fifo has a writer
	for ((i = 0; i < 1800; i++)); do
		[ "$(pgrep -c -x cat)" -ge 66 ] && [ "$(grep -c 'not watched' $e)" -ge 3 ] && break
		sleep 0.1
	done
	# a writer lets every cat past open(); once all 66 read, EOF ends them
	exec 7> $f
	for ((i = 0; i < 1800; i++)); do
		[ "$(for c in $(pgrep -x cat); do ls -l /proc/$c/fd; done 2>/dev/null |
		     grep -c " -> $f\$")" -ge 66 ] && break
		sleep 0.1
	done
	exec 7>&-
	( sleep $TMO; kill -KILL $vpid 2>/dev/null ) & k=$!
	wait $vpid
	rc=$?
	kill $k 2>/dev/null
	wait $k 2>/dev/null
	nw=$(grep 'not watched: too many processes watched at once' $e | awk '{ print $3 }' | sort -u | wc -l)
	check "follow limit: exit status 0 (got $rc)" [ $rc = 0 ]
	check "follow limit: the 3 processes beyond 64 sets are reported not watched (got $nw)" \
		[ "$nw" = 3 ]
	check "follow limit: no instance left" no_instances
	[ $rc = 0 ] || sed 's/^/# /' $e | tail -5
}

# ---- 24: a second vmtrack on one process -----------------------------

# Its re-arms would take the soft-dirty bits the first one's dense epochs
# and loss sweeps read: refused, with one line naming the first one's
# instance, and the first goes on untouched; two with --events-only (no
# epoch reads a bit) may watch one process.
t24() {
	local truth=$tmp/t24 rng vpid rc e=$tmp/e24 ev=--events-only
	start_workload "$truth" -p 16 -n 1 || { nok "second: workload start"; return; }
	rng=$(buf_range "$truth")
	"$VMTRACK" watch -p $wpid -r "$rng" -i 0.2 -q > /dev/null 2> $tmp/e24a &
	vpid=$!
	wait_for $T/instances/vmtrack-$vpid/events/mm_watch/mm_watch_mark/filter tgid
	$TIMEOUT "$VMTRACK" watch -p $wpid -r "$rng" -n 1 -i 0.1 -q > /dev/null 2> $e
	rc=$?
	check "second: a second vmtrack on the process is refused (exit $rc)" [ $rc = 1 ]
	check "second: one line, naming the first one's instance ($(head -c 160 $e))" \
		eval '[ "$(wc -l < $e)" = 1 ] && grep -q "instance vmtrack-$vpid" $e'
	$TIMEOUT "$VMTRACK" watch -p $wpid -r "$rng" -n 1 -i 0.1 -q $ev > /dev/null 2> $e
	rc=$?
	check "second: refused with --events-only too, the first is not (exit $rc)" [ $rc = 1 ]
	check "second: the first one's range is still watched" watched $wpid "$(buf_start "$truth")"
	stop_consumer $vpid > /dev/null
	"$VMTRACK" watch -p $wpid -r "$rng" -i 0.2 -q $ev > /dev/null 2> $tmp/e24a &
	vpid=$!
	wait_for $T/instances/vmtrack-$vpid/events/mm_watch/mm_watch_mark/filter tgid
	$TIMEOUT "$VMTRACK" watch -p $wpid -r "$rng" -n 2 -i 0.1 -q $ev > /dev/null 2> $e
	rc=$?
	check "second: two with --events-only may watch one process (exit $rc)" [ $rc = 0 ]
	stop_consumer $vpid > /dev/null
	rc=$?
	check "second: the first --events-only one ends cleanly (exit $rc)" [ $rc = 0 ]
	check "second: no instance left" no_instances
	stop_workload $wpid
}

# ---- 25: vmtrack's own errors fail the run, an output that fails too ---

# poll() of more descriptors than RLIMIT_NOFILE allows fails (EINVAL): the
# readers of the ring buffers stop, and the run fails with one line, no
# final epoch; run too, whatever the command's status
t25() {
	local vpid rc e=$tmp/e25 f=$tmp/f25 cmd k spid
	mkfifo "$f"
	for cmd in watch follow run; do
		if [ $cmd != run ]; then
			sleep 60 &
			spid=$!
			pids+=("$spid")
			"$VMTRACK" watch -p $spid -i 0.2 -q $([ $cmd = follow ] && echo -f) \
				> /dev/null 2> $e &
		else
			# a command that exits 0 when let go (the FIFO opened),
			# once the limit is in place
			"$VMTRACK" run -i 0.2 -q -- cat "$f" > /dev/null 2> "$e" &
		fi
		vpid=$!
		wait_for "$e" 'watching' || {
			nok "$cmd, buffers unreadable: start"
			: 1<> "$f"
			continue
		}
		prlimit --pid $vpid --nofile=1:
		if [ "$cmd" = run ]; then
			# not before the run failed: had the command exited
			# first, the run would have ended with it, no error
			wait_for "$e" 'reading the ring buffers' "$TMO"
			: 1<> "$f"
		fi
		( sleep $TMO; kill -KILL $vpid 2>/dev/null ) & k=$!
		wait $vpid
		rc=$?
		kill $k 2>/dev/null
		wait $k 2>/dev/null
		sed -i '/^vmtrack: watching/d' $e
		check "$cmd, buffers unreadable: exit 1 (got $rc)" [ $rc = 1 ]
		check "$cmd, buffers unreadable: one line ($(head -c 160 $e))" \
			eval '[ "$(wc -l < $e)" = 1 ] && grep -q "^vmtrack: .*reading the ring buffers: " $e'
		check "$cmd, buffers unreadable: no instance left" no_instances
		[ $cmd = run ] || kill $spid
	done
	t25_output
}

# full DESC WANT OUT ARGS...: vmtrack ARGS with stdout on OUT exits 1 with
# one line (the "watching" lines aside) that says WANT
full() {
	local d=$1 want=$2 out=$3 rc e=$tmp/e25o
	shift 3
	$TIMEOUT "$VMTRACK" "$@" > "$out" 2> $e
	rc=$?
	sed -i '/^vmtrack: watching/d' $e
	if [ $rc = 1 ] && [ "$(wc -l < $e)" = 1 ] && grep -qF "$want" $e && no_instances; then
		ok "output full: $d ($(cat $e))"
	else
		nok "output full: $d (rc $rc: $(head -c 200 $e))"
	fi
}

# an output that cannot be written fails the run: run's too, whatever the
# command's status
t25_output() {
	local spid so="writing standard output: No space left on device"
	sleep 60 &
	spid=$!
	pids+=("$spid")
	full "watch, text" "$so" /dev/full watch -p $spid -n 2 -i 0.2
	full "watch -j" "$so" /dev/full watch -p $spid -n 2 -i 0.2 -j
	full "watch -o FILE" "writing /dev/full: No space left on device" /dev/null \
		watch -p $spid -n 2 -i 0.2 -o /dev/full
	full "watch --follow" "$so" /dev/full watch -f -p $spid -n 2 -i 0.2
	full "run, text, a command that exits 0" "$so" /dev/full run -i 0.2 -- sleep 0.5
	full "run -j, a command that exits 0" "$so" /dev/full run -j -i 0.2 -- sleep 0.5
	full "run --follow, a command that exits 0" "$so" /dev/full run -f -i 0.2 -- sleep 0.5
	kill $spid
}

ALL_TESTS="t1 t2 t3 t3b t4 t5 t6 t7 t8 t9 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19 t20 t21 t22
	t23 t24 t25"
for t in ${E2E_TESTS:-$ALL_TESTS}; do
	$t
done
tap_end
