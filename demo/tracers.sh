#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Every tracing tool reads the mm_watch events: runs in the test VM, as root,
# on a kernel with the series.
#
#   demo/tracers.sh BINDIR	(BINDIR: writer and events, built by
#				 scripts/demo.sh --build)
#
# - trace-cmd: the README's one-liner, exactly as written there
#   ("trace-cmd record -e mm_watch -F ./prog; trace-cmd report"), on
#   demo/writer;
# - perf record -a -e 'mm_watch:*' + perf script: every field of every
#   event decoded, with the values demo/events says the events must carry
#   (-a: perf stops a task's own events before its address space is torn
#   down, so "perf record -- CMD" alone never sees mm_watch_exit);
# - bpftrace: write faults counted per comm, as many as perf saw.
#
# TAP, then "N passed, N failed"; exit 1 on a failure, 4 (skip) on a kernel
# without the mm_watch events. A tool that is not installed fails its tests
# (scripts/deps.sh installs them all).

set -u
bin=$(cd "${1:?BINDIR}" && pwd)
T=/sys/kernel/tracing
TMO=${TRACERS_TIMEOUT:-300}

passed=0
failed=0
n=0
ok()   { n=$((n + 1)); passed=$((passed + 1)); echo "ok $n - $*"; }
nok()  { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
info() { echo "# $*"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }
# show: the first lines of a file as TAP comments
show() { sed 's/^/#   /' "$1" | head -"${2:-15}"; }

[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root"; exit 4; }
mountpoint -q $T || mount -t tracefs nodev $T
if [ ! -d $T/events/mm_watch ]; then
	echo "1..0 # SKIP kernel has no mm_watch events"
	exit 4
fi
for b in writer events; do
	[ -x "$bin/$b" ] || { echo "# missing $bin/$b (scripts/demo.sh --build)"; exit 1; }
done
tmp=$(mktemp -d /tmp/tracers.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
echo "TAP version 13"

# ---- trace-cmd: the README's one-liner ----------------------------------

trace_cmd() {
	local rc nwf
	if ! command -v trace-cmd > /dev/null; then
		nok "trace-cmd: installed"
		return
	fi
	# exactly as the README has it, in a directory holding ./prog
	cp "$bin/writer" "$tmp/prog"
	(cd "$tmp" && timeout $TMO sh -c 'trace-cmd record -e mm_watch -F ./prog; trace-cmd report') \
		> "$tmp/tc.out" 2> "$tmp/tc.err"
	rc=$?
	check "trace-cmd: record + report as in the README: exit status 0 (got $rc)" [ $rc = 0 ]
	nwf=$(grep -c 'mm_watch_write_fault:' "$tmp/tc.out")
	# writer: pages 1, 3, 5, 10 in epoch 1; 3, 5, 9 after the re-arm
	check "trace-cmd: report shows the 7 write faults of writer (got $nwf)" [ "$nwf" = 7 ]
	check "trace-cmd: report shows the mark, the zap and the unmap" \
		eval 'grep -q mm_watch_mark: "$tmp/tc.out" && grep -q mm_watch_zap: "$tmp/tc.out" &&
		      grep -q mm_watch_unmap: "$tmp/tc.out"'
	check "trace-cmd: no warning or error on stderr" \
		eval '! grep -Eiq "error|warn|fail|cannot|unable" "$tmp/tc.err"'
	[ $failed = 0 ] || { show "$tmp/tc.err"; show "$tmp/tc.out"; }
}

# ---- perf: every field of every event -----------------------------------

# fields EVENT: the event's own fields (common_* left out), from its format
fields() {
	sed -nE 's/^[[:space:]]*field:[^;]*[[:space:]*]([a-z_0-9]+)(\[[0-9]*\])?;.*/\1/p' \
		"$T/events/mm_watch/$1/format" | grep -v '^common_'
}

perf_test() {
	local rc pid ev line want f missing=0 nev=0 mm
	if ! command -v perf > /dev/null; then
		nok "perf: installed"
		return
	fi
	(cd "$tmp" && timeout $TMO perf record -q -a -e 'mm_watch:*' -o perf.data -- \
		"$bin/events" > events.out 2> perf-record.err)
	rc=$?
	check "perf record -a -e 'mm_watch:*' -- events: exit status 0 (got $rc)" [ $rc = 0 ]
	timeout $TMO perf script -i "$tmp/perf.data" > "$tmp/perf.out" 2> "$tmp/perf-script.err"
	rc=$?
	check "perf script: exit status 0 (got $rc)" [ $rc = 0 ]
	pid=$(sed -n 's/^pid //p' "$tmp/events.out")
	# every kind of event the kernel has, every field named with a value
	for ev in $(ls "$T/events/mm_watch" | grep '^mm_watch_'); do
		line=$(grep -m1 " mm_watch:$ev: " "$tmp/perf.out")
		if [ -z "$line" ]; then
			info "$ev: no event in perf script"
			missing=1
			continue
		fi
		nev=$((nev + 1))
		for f in $(fields "$ev"); do
			if ! grep -Eq " $f=[^ ]" <<< "$line"; then
				info "$ev: field $f not decoded in: $line"
				missing=1
			fi
		done
		if grep -Eq 'FAILED TO PARSE|\(null\)|=\?' <<< "$line"; then
			info "$ev: $line"
			missing=1
		fi
	done
	check "perf script: every mm_watch event kind seen ($nev), every field decoded" \
		[ $missing = 0 ]
	# the values the program says each event carries
	missing=0
	while read -r ev want; do
		case $ev in mark|rearm|pinned|write_fault|zap|move|unmark|unmap|exit) ;; *) continue ;; esac
		if ! grep " mm_watch:mm_watch_$ev: " "$tmp/perf.out" | grep -E "tgid=$pid( |\$)" |
			grep -qF -- "$want"; then
			info "no mm_watch_$ev with tgid=$pid $want"
			missing=1
		fi
	done < "$tmp/events.out"
	check "perf script: each event carries the addresses, sizes and flags of its cause" \
		[ $missing = 0 ]
	mm=$(grep -oE "mm_id=[0-9]+ tgid=$pid( |\$)" "$tmp/perf.out" | sed 's/ *$//' | sort -u)
	check "perf script: all events of the process carry one mm_id ($(echo $mm))" \
		[ "$(wc -l <<< "$mm")" = 1 -a -n "$mm" ]
	[ $failed = 0 ] || { show "$tmp/perf-record.err"; show "$tmp/perf-script.err"; \
			     show "$tmp/perf.out" 40; }
}

# ---- bpftrace ------------------------------------------------------------

bpftrace_test() {
	local rc want got
	if ! command -v bpftrace > /dev/null; then
		nok "bpftrace: installed"
		return
	fi
	cp "$bin/writer" "$tmp/prog"
	want=$(grep -c 'mm_watch_write_fault:' "$tmp/tc.out" 2>/dev/null)
	timeout $TMO bpftrace -e 'tracepoint:mm_watch:mm_watch_write_fault { @[comm] = count(); }' \
		-c "$tmp/prog" > "$tmp/bt.out" 2> "$tmp/bt.err"
	rc=$?
	check "bpftrace -e 'tracepoint:mm_watch:mm_watch_write_fault { @[comm] = count(); }' -c prog: exit status 0 (got $rc)" \
		[ $rc = 0 ]
	got=$(sed -n 's/^@\[prog\]: //p' "$tmp/bt.out")
	check "bpftrace: @[prog] counts the write faults trace-cmd saw (${got:-none} = ${want:-?})" \
		[ -n "$got" -a "$got" = "$want" ]
	[ $failed = 0 ] || { show "$tmp/bt.err"; show "$tmp/bt.out"; }
}

for t in ${TRACERS_TESTS:-trace_cmd perf_test bpftrace_test}; do
	$t
done
echo "$passed passed, $failed failed"
[ $failed = 0 ]
