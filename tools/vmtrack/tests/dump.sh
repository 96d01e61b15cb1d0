#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# vmtrack dump end to end (TAP), as root on a kernel with CONFIG_MEM_WATCH:
#
#   VMTRACK_TCG=multi vm/run -k BZIMAGE -c 2 -t 2400 -- tools/vmtrack/tests/dump.sh
#
# (make test runs it with a thread per vCPU, as above: the two CPUs run at
# once; it starts one vmtrack session at a time, see "The test VM" in
# README.md)
#
# For seeded random targets (tests/dump-target: threads, writes, DONTNEED,
# MADV_FREE then discarded, mprotect() and back, read() into memory, mremap,
# munmap, MAP_FIXED over a part, fork, new mappings, THP, COW of a private
# file mapping, the program break grown, written and trimmed):
# vmtrack dump --leave-stopped, then the chain of images must restore
# exactly the frozen target's memory (tests/dumpcheck, page by page against
# process_vm_readv and /proc/PID/mem), the pages of a mapping left PROT_NONE
# too; crit must decode every pagemap image with the entries vmtrack
# reported, and the same with tiny ring buffers (events lost: the
# epochs recover by a sweep of the soft-dirty bits). A THP collapse of a
# range while the target is frozen (tests/thp-target) leaves the images
# exact; so does --throttle, and a dump killed while it throttles leaves the
# target running. So do real programs: Node.js compiling new code and
# churning its heap (tests/js-target.js), and stress-ng's memory stressors
# (malloc, vm, mremap, stack, madvise). A target killed
# mid-dump must leave no image behind and a non-zero exit; so must a full
# disk or a page server gone, and they let the target go; so must a process
# that shares the target's memory (clone(CLONE_VM)), found before the dump
# starts or at its final freeze. Bad input gets one-line errors, and so do
# a kernel thread, a zombie and a thread id, each with its own reason.
# The exit status is the dump's, not the command's; 2 when the dump is
# complete and its journal or its output is not.
# --journal: vmtrack report prints the dump's own lines from the journal,
# as JSON and as a plot with the freeze; a dump killed with SIGKILL leaves
# a journal that decodes up to where it was written; a dump that fails
# before it starts leaves none.
#
# Binaries: VMTRACK_BUILD (default: the source tree, "make -C tools/vmtrack
# all"), holding vmtrack, tests/dump-target, tests/dumpcheck and
# tests/thp-target.
# DUMP_SEEDS, DUMP_LOSS_SEEDS: the seeds of the random targets (empty: none).
# DUMP_ONLY: the cases to run, "seeds" (the random targets), "node",
# "stress" (every stress-ng case) or "stress-NAME" (one of them), empty
# for every case (parallel.sh); DUMP_ARGS: options added to the dumps of
# those cases (e.g. --events-only).
set -u

here=$(cd "$(dirname "$0")" && pwd)
build=${VMTRACK_BUILD:-$here/..}
vmtrack=$build/vmtrack
target=$build/tests/dump-target
check=$build/tests/dumpcheck
thp=$build/tests/thp-target
seeds=${DUMP_SEEDS-"1 2 3 4 5"}
loss_seeds=${DUMP_LOSS_SEEDS-"6 7"}
read -ra dump_args <<< "${DUMP_ARGS-}"
work=$(mktemp -d /tmp/vmtrack-dump.XXXXXX)
n=0
failed=0
pids=()

since=$SECONDS

# The seconds since the last result, when they count: what each case takes
# against the suite's limit (tests/run.sh).
took() {
	[ $((SECONDS - since)) -lt 2 ] || echo "# $((SECONDS - since)) s"
	since=$SECONDS
}

ok() {
	n=$((n + 1))
	echo "ok $n - $*"
	took
}

not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $*"
	took
}

cleanup() {
	local p

	for p in "${pids[@]}"; do
		kill -9 "$p" 2>/dev/null
	done
	rm -rf "$work" /tmp/vmtrack-dump-e3.$$
}
trap cleanup EXIT

for b in "$vmtrack" "$target" "$check" "$thp"; do
	if [ ! -x "$b" ]; then
		echo "Bail out! $b not built (make -C tools/vmtrack all)"
		exit 1
	fi
done
if [ ! -d /sys/kernel/tracing/events/mm_watch ] &&
   [ ! -d /sys/kernel/debug/tracing/events/mm_watch ]; then
	echo "1..0 # SKIP kernel without CONFIG_MEM_WATCH"
	exit 0
fi
if ! command -v crit >/dev/null; then
	echo "Bail out! crit not installed (Debian package criu)"
	exit 1
fi
if ! command -v node >/dev/null; then
	echo "Bail out! node not installed (Debian package nodejs)"
	exit 1
fi
if ! command -v stress-ng >/dev/null; then
	echo "Bail out! stress-ng not installed (Debian package stress-ng)"
	exit 1
fi
# a file for a private file mapping (COW pages are dumped, the rest is not)
head -c 1048576 "$vmtrack" > "$work/file" 2>/dev/null ||
	dd if=/dev/urandom of="$work/file" bs=64k count=16 2>/dev/null

# wait_ready FILE [PID [SECONDS]]: wait up to SECONDS (10) for a target's
# "ready" line in FILE; fail at once if PID is given and has exited
wait_ready() {
	for _ in $(seq $((${3:-10} * 20))); do
		grep -q ready "$1" && return 0
		[ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null && return 1
		sleep 0.05
	done
	return 1
}

# wait_exists PATH: wait up to 20 s for PATH (called through interrupt())
# shellcheck disable=SC2317
wait_exists() {
	for _ in $(seq 400); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# free_work: remove what the cases before left in $work but the file the
# targets map; they are checked and done with, and a 256 MiB target's
# images need the room (the guest's /tmp is a tmpfs of half its memory,
# less on the debug kernel)
free_work() {
	find "$work" -mindepth 1 -maxdepth 1 ! -name file -exec rm -rf {} +
}

# start_target SEED ARGS...: sets $tpid once it is ready
start_target() {
	local seed=$1 out=$work/target-$1.out

	shift
	"$target" -s "$seed" -f "$work/file" "$@" > "$out" 2>&1 &
	tpid=$!
	pids+=("$tpid")
	wait_ready "$out" && return 0
	echo "# target seed $seed did not start: $(cat "$out")"
	return 1
}

# crit's view of each iteration against vmtrack's JSON lines
crit_matches() {
	local dir=$1 json=$2 id=$3 it

	for it in "$dir"/[0-9]*; do
		[ -e "$it/pagemap-$id.img" ] || continue	# a page server still waiting
		crit decode -i "$it/pagemap-$id.img" -o "$it.json" 2>"$it.crit.err" || {
			echo "# crit cannot decode $it: $(cat "$it.crit.err")"
			return 1
		}
	done
	python3 - "$dir" "$json" <<'EOF'
import json, sys, os
d, jl = sys.argv[1], sys.argv[2]
bad = 0
for line in open(jl):
    o = json.loads(line)
    if "iteration" not in o:
        continue
    img = json.load(open(os.path.join(d, "%d.json" % o["iteration"])))
    ents = img["entries"][1:]
    present = sum(e["nr_pages"] for e in ents if e["flags"] & 4)
    holes = sum(e["nr_pages"] for e in ents if e["flags"] & 1)
    if (present, holes) != (o["pages"], o["holes"]):
        print("# iteration %d: crit %d present %d holes, vmtrack %d %d" %
              (o["iteration"], present, holes, o["pages"], o["holes"]))
        bad += 1
    last = 0
    for e in ents:
        if e["vaddr"] < last:
            print("# iteration %d: entries not sorted" % o["iteration"])
            bad += 1
        last = e["vaddr"] + e["nr_pages"] * 4096
sys.exit(1 if bad else 0)
EOF
}

# stop_servers PID: end a loop of page servers (PID: the subshell) and the
# one it runs. Stopped first, so that it starts no other; the servers' output
# goes to /dev/null, so that none left behind holds the test's output open.
stop_servers() {
	kill -STOP "$1" 2> /dev/null
	pkill -KILL -P "$1" 2> /dev/null
	kill -KILL "$1" 2> /dev/null
	wait "$1" 2> /dev/null
}

# dump_stopped LABEL DIR [options]: vmtrack dump of $tpid, left stopped
dump_stopped() {
	local label=$1 dir=$2 res

	shift 2
	"$vmtrack" dump -p "$tpid" -D "$dir" --leave-stopped --json "${dump_args[@]}" "$@" \
		> "$dir.json" 2> "$dir.err"
	res=$?
	[ $res -eq 0 ] && [ -L "$dir/last" ] && return 0
	not_ok "$label: vmtrack dump exited $res: $(cat "$dir.err")"
	kill -9 "$tpid"
	return 1
}

# chain_exact LABEL WHAT DIR: DIR/last against the stopped $tpid, page by page
chain_exact() {
	local label=$1 what=$2 dir=$3 iters out res

	iters=$(grep -c '"iteration"' "$dir.json")
	out=$("$check" -p "$tpid" -D "$dir/last" 2>&1)
	res=$?
	echo "# $label: $iters iterations; $out; $(tail -1 "$dir.json")"
	if [ $res -eq 0 ]; then
		ok "$label: the chain restores the frozen $what exactly ($iters iterations)"
	else
		not_ok "$label: chain differs from the frozen $what: $out"
		"$check" -p "$tpid" -D "$dir/last" -v | head -20 | sed 's/^/# /'
	fi
}

# hidden_kept LABEL DIR SEED: the chain holds every page of the target's
# PROT_NONE mapping (dump-target's "hidden"), which process_vm_readv() cannot
# read
hidden_kept() {
	local range out pages

	range=$(awk '/^hidden/ { print $2 }' "$work/target-$3.out")
	if [ -z "$range" ]; then
		not_ok "$1: the target printed no PROT_NONE mapping"
		return
	fi
	pages=$(( (0x${range#*-} - 0x${range%-*}) / 4096 ))
	out=$("$check" -p "$tpid" -D "$2/last" -r "$range" 2>&1)
	if [[ $out == *"held $pages same $pages differ 0 missing 0 "* ]]; then
		ok "$1: the chain holds the $pages pages of a PROT_NONE mapping"
	else
		not_ok "$1: the PROT_NONE mapping $range ($pages pages): $out"
	fi
}

# dump_seed SEED NAME [vmtrack dump options]: dump, compare, decode
dump_seed() {
	local seed=$1 name=$2 dir

	shift 2
	dir=$work/dump-$name-$seed
	local pause=300

	# a writer without pauses for the 4 KiB buffers: lost events for sure,
	# also when a loaded host slows it (a 20 us pause lost none in 3 runs)
	[ "$name" = loss ] && pause=0
	if ! start_target "$seed" -m 16 -T 3 -u $pause; then
		not_ok "$name seed $seed: target did not start"
		return
	fi
	dump_stopped "$name seed $seed" "$dir" -n 6 "$@" || return
	chain_exact "$name seed $seed" target "$dir"
	hidden_kept "$name seed $seed" "$dir" "$seed"
	if crit_matches "$dir" "$dir.json" "$tpid"; then
		ok "$name seed $seed: crit decodes every pagemap image, entries as vmtrack reported"
	else
		not_ok "$name seed $seed: crit disagrees"
	fi
	# MADV_WATCH_ALL watches whole VMAs: a mark never splits a mapping the
	# target is about to mremap() (which fails across two VMAs).
	if grep -q "mremap EFAULT" "$work/target-$seed.out"; then
		not_ok "$name seed $seed: the target's mremap() failed with EFAULT" \
			"$(grep -c "mremap EFAULT" "$work/target-$seed.out") times: watching split a mapping"
	fi
	lost=no
	grep -q '"loss":"[a-z]' "$dir.json" && lost=yes
	kill -9 "$tpid"
	wait "$tpid" 2>/dev/null
}

# loss_seed SEED: a dump with 4 KiB buffers, exact whatever it lost; one that
# lost nothing (the consumer kept up) tested nothing: another run, 3 at most
loss_seed() {
	local try

	for try in 1 2 3; do
		dump_seed "$1" loss -b 4
		[ $lost = yes ] && break
		echo "# loss seed $1: run $try lost no event, again"
		rm -rf "$work/dump-loss-$1" "$work/dump-loss-$1".*
	done
	if [ $lost = yes ]; then
		ok "loss seed $1: events were lost (the checks above ran on a lossy dump)"
		# The kernel keeps soft-dirty: a sweep, not every page, recovers.
		if grep -q '"all_dirty":true' "$work/dump-loss-$1.json"; then
			not_ok "loss seed $1: a loss fell back to all dirty instead of a sweep"
		else
			ok "loss seed $1: every loss was recovered by a sweep"
		fi
	else
		not_ok "loss seed $1: no loss with 4 KiB buffers in 3 runs (nothing tested)"
	fi
}

# only CASE: is CASE one of DUMP_ONLY (or DUMP_ONLY empty)?
only() {
	[ -z "${DUMP_ONLY:-}" ] || [[ " $DUMP_ONLY " == *" $1 "* ]]
}

finish() {
	echo "1..$n"
	echo "# $((n - failed)) passed, $failed failed"
	[ $failed -eq 0 ]
	exit
}

echo "TAP version 13"

if only seeds; then
	for s in $seeds; do
		dump_seed "$s" exact
	done
	for s in $loss_seeds; do
		loss_seed "$s"
	done
fi

# a real program: Node.js compiling new code and churning its heap
node_target() {
	local dir=$work/node out=$work/node.out

	node "$here/js-target.js" > "$out" 2>&1 &
	tpid=$!
	pids+=("$tpid")
	# node starts in seconds under TCG, longer beside other guests
	if ! wait_ready "$out" "$tpid" 300; then
		not_ok "node: the target did not start: $(head -c 300 "$out")"
		kill -9 "$tpid" 2>/dev/null
		return
	fi
	sleep 2
	dump_stopped node "$dir" -n 5 -t 0 -T 0 || return
	chain_exact node "Node.js process" "$dir"
	kill -9 "$tpid"
	wait "$tpid" 2>/dev/null
	rm -rf "$dir"
}
only node && node_target

# descendants PID: every process below PID
descendants() {
	local p

	for p in $(pgrep -P "$1"); do
		echo "$p"
		descendants "$p"
	done
}

# the worker of a stress-ng run: its descendant with the largest resident set
stress_worker() {
	local p rss

	for p in $(descendants "$1"); do
		rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$p/status" 2>/dev/null)
		[ -n "$rss" ] && echo "$rss $p"
	done | sort -n | tail -n 1 | cut -d' ' -f2
}

# stress_ng NAME STRESSOR-ARGS...: real programs, one stress-ng memory
# stressor each (malloc's heap grows and is trimmed by brk() all the time;
# vm writes in every pattern; mremap moves and resizes; stack grows): its
# worker dumped while it runs, the chain against the frozen worker
stress_ng() {
	local name=$1 dir=$work/stress-$1 out=$work/stress-$1.out sp

	shift
	only stress || only "stress-$name" || return 0
	(cd "$work" && exec stress-ng "$@" --timeout 900) > "$out" 2>&1 &
	sp=$!
	pids+=("$sp")
	tpid=
	# the worker is the stressor's child or grandchild; let it get going
	for _ in $(seq 120); do
		sleep 0.5
		tpid=$(stress_worker "$sp")
		[ -n "$tpid" ] &&
			[ "$(awk '/^VmRSS/ { print $2 }' "/proc/$tpid/status" 2>/dev/null)" -gt 4096 ] \
			2>/dev/null && break
	done
	if [ -z "$tpid" ]; then
		not_ok "stress-ng $name: no worker started: $(head -c 300 "$out")"
	elif dump_stopped "stress-ng $name" "$dir" -n 5; then
		chain_exact "stress-ng $name" "stress-ng $name worker" "$dir"
	fi
	# shellcheck disable=SC2046
	kill -9 "$sp" $(descendants "$sp") 2>/dev/null
	wait "$sp" 2>/dev/null
	rm -rf "$dir"
}
stress_ng malloc --malloc 1 --malloc-bytes 4M
stress_ng vm --vm 1 --vm-bytes 32M --vm-method all --vm-keep
stress_ng mremap --mremap 1 --mremap-bytes 16M
stress_ng stack --stack 1
stress_ng madvise --madvise 1
# the cases below cannot be chosen: they run with every case only
[ -n "${DUMP_ONLY:-}" ] && finish

# a target killed mid-dump: non-zero exit, no iteration left behind
kill_mid_dump() {
	local dir=$work/killed res

	free_work
	start_target 99 -m 256 -T 2 -u 0 || { not_ok "killed: target did not start"; return; }
	"$vmtrack" dump -p "$tpid" -D "$dir" -n 1000 -t 0 -T 0 --json \
		> "$dir.json" 2> "$dir.err" &
	local dpid=$!

	# kill it once the first iteration is being written
	local seen=
	for _ in $(seq 1000); do
		compgen -G "$dir/.1.partial" >/dev/null && { seen=1; break; }
		sleep 0.01
	done
	kill -9 "$tpid"
	wait "$dpid"
	res=$?
	if [ -z "$seen" ]; then
		not_ok "killed: the dump never started writing an iteration: $(cat "$dir.err")"
	elif ! grep -q "exited" "$dir.err"; then
		not_ok "killed: not reported as the target's exit: $(cat "$dir.err")"
	elif [ $res -eq 0 ]; then
		not_ok "killed: vmtrack dump exited 0"
	elif compgen -G "$dir/*/pagemap-*.img" >/dev/null || [ -e "$dir/last" ] ||
	     compgen -G "$dir/.*.partial" >/dev/null; then
		not_ok "killed: images left behind: $(ls -a "$dir")"
	else
		ok "killed: exit $res, no image left ($(cat "$dir.err"))"
	fi
}
kill_mid_dump

# the same loop into a stock criu page-server, one server per iteration
page_server() {
	local dir=$work/ps port=27027 spid res last out k

	if ! criu page-server --help >/dev/null 2>&1; then
		echo "ok $((n + 1)) - page server # SKIP criu not installed"
		n=$((n + 1))
		return
	fi
	start_target 11 -m 8 -T 2 -u 500 || { not_ok "page server: target did not start"; return; }
	mkdir -p "$dir"
	(
		for k in 1 2 3 4; do
			mkdir -p "$dir/$k"
			args=()
			[ "$k" -gt 1 ] && args=(--prev-images-dir "../$((k - 1))")
			criu page-server -D "$dir/$k" --address 127.0.0.1 --port $port \
				"${args[@]}" -v4 -o "$dir/ps-$k.log" > /dev/null 2>&1 || exit 1
		done
	) &
	spid=$!
	"$vmtrack" dump -p "$tpid" -P 127.0.0.1:$port -n 4 -t 0 -T 0 --json \
		--leave-stopped > "$dir.json" 2> "$dir.err"
	res=$?
	stop_servers "$spid"
	if [ $res -ne 0 ]; then
		not_ok "page server: vmtrack dump exited $res: $(cat "$dir.err")" \
			"$(grep -h Error "$dir"/ps-*.log | head -3)"
		kill -9 "$tpid"
		return
	fi
	last=$(grep -c '"iteration"' "$dir.json")
	out=$("$check" -p "$tpid" -D "$dir/$last" 2>&1)
	if [ $? -eq 0 ] && crit_matches "$dir" "$dir.json" "$tpid"; then
		ok "page server: $last iterations received by criu page-server restore the" \
			"frozen target exactly ($out)"
	else
		not_ok "page server: $last iterations: $out"
		# what a failure needs to be explained: the missing pages and where
		"$check" -p "$tpid" -D "$dir/$last" -v 2>&1 | head -20 | sed 's/^/# /'
		sed 's/^/# /' "$dir.json"
		head -60 "/proc/$tpid/maps" | sed 's/^/# /'
	fi
	kill -9 "$tpid"
}
page_server

# khugepaged collapses ranges of a frozen process too. The collapse's event
# then comes after the dump's last look at them, and the pages it fills in
# are in no image: they hold zeroes, which a restore gives as well
# (dumpcheck's "zero"). The collapse comes in the frozen iteration, after
# its last drain, while it waits for its page server:
# process_madvise(MADV_COLLAPSE), as khugepaged would. After the dump the
# range is unwatched, and its entries, read-only until written, make the
# collapse fail (SCAN_PAGE_RO: no writable entry), so a collapse that came
# late failed with EINVAL.
collapse_frozen() {
	local dir=$work/thp out=$work/thp.out port=27033 tp addr dpid spid res got check_out

	"$thp" > "$out" 2>&1 &
	tp=$!
	pids+=("$tp")
	wait_ready "$out"
	addr=$(awk '/^ready/ { print $2 }' "$out")
	if [ -z "$addr" ]; then
		not_ok "collapse while frozen: the target did not start: $(cat "$out")"
		return
	fi
	# The first iteration goes to a page server, the frozen one waits for a
	# second that starts once the collapse is done: the dump retries the
	# connection for 10 s, the target frozen.
	mkdir -p "$dir/1" "$dir/2"
	criu page-server -D "$dir/1" --address 127.0.0.1 --port $port > /dev/null 2>&1 &
	spid=$!
	listening "$port"
	"$vmtrack" dump -p "$tp" -P 127.0.0.1:$port -n 2 -t 0 -T 0 -j -S > "$dir.json" \
		2> "$dir.err" &
	dpid=$!
	until ! kill -0 "$spid" 2>/dev/null &&
	      grep -q '^State:.*tracing stop' "/proc/$tp/status"; do
		kill -0 "$dpid" 2>/dev/null || break
		sleep 0.01
	done
	stop_servers "$spid"
	if grep -q '"frozen":true' "$dir.json"; then
		got="the frozen iteration ended before the collapse"
	else
		got=$("$thp" -c "$tp" "$addr")
	fi
	criu page-server -D "$dir/2" --address 127.0.0.1 --port $port --prev-images-dir ../1 \
		> /dev/null 2>&1 &
	spid=$!
	wait "$dpid"
	res=$?
	stop_servers "$spid"
	if [ $res -ne 0 ]; then
		not_ok "collapse while frozen: vmtrack dump exited $res: $(cat "$dir.err")"
	elif [ "$got" != collapsed ]; then
		not_ok "collapse while frozen: the range was not collapsed in the frozen" \
			"iteration ($got)"
	elif check_out=$("$check" -p "$tp" -D "$dir/2" 2>&1); then
		ok "collapse while frozen: the images restore the target exactly ($check_out)"
	else
		not_ok "collapse while frozen: $check_out"
	fi
	kill -9 "$tp"
}
collapse_frozen

# how a target is held: "" when it runs on, untraced; else its State and
# TracerPid
held_as() {
	local st

	st=$(awk '/^(State|TracerPid):/ { printf "%s %s ", $1, $2 }' "/proc/$1/status" \
		2> /dev/null)
	[ -n "$st" ] || { echo "gone"; return; }
	[[ $st == *"State: "[tT]* ]] || [[ $st != *"TracerPid: 0 "* ]] && echo "$st"
}

# --throttle against a writer that rewrites its 32 MiB all the time: every
# copy leaves everything dirty, so the throttle rises from 20 % after each
# running iteration and holds the target for part of the next copy; the frozen
# iteration has none, and the images stay exact. A dump killed while it
# throttles leaves the target running and untraced.
throttle() {
	local dir=$work/throttle out=$work/throttle.out tp dpid res check_out bad
	local utime0

	"$thp" -m 32 > "$out" 2>&1 &
	tp=$!
	pids+=("$tp")
	if ! wait_ready "$out"; then
		not_ok "throttle: the target did not start: $(cat "$out")"
		return
	fi
	# no downtime rule: on a fast machine it would freeze the target after
	# the first copy
	"$vmtrack" dump -p "$tp" -D "$dir" -n 4 -T 0 --throttle -j -S > "$dir.json" \
		2> "$dir.err"
	res=$?
	bad=$(python3 - "$dir.json" <<'PY'
import json, sys
its = [o for o in map(json.loads, open(sys.argv[1])) if "iteration" in o]
run, frozen = its[1:-1], its[-1]
if len(its) != 4 or not frozen["frozen"]:
    print("not 4 iterations, the last frozen:", len(its))
elif [o["throttle"] for o in run] != [20, 30]:
    print("throttle of the running copies:", [o["throttle"] for o in run])
elif not all(0 < o["held_s"] < o["seconds"] for o in run):
    print("held:", [(o["held_s"], o["seconds"]) for o in run])
elif frozen["throttle"] or frozen["held_s"]:
    print("the frozen iteration throttled")
PY
)
	if [ $res -ne 0 ]; then
		not_ok "throttle: vmtrack dump exited $res: $(cat "$dir.err")"
	elif [ -n "$bad" ]; then
		not_ok "throttle: $bad"
	elif check_out=$("$check" -p "$tp" -D "$dir/last" 2>&1); then
		ok "throttle: 20 and 30 % in the running copies after the first, the images restore the" \
			"target exactly ($check_out)"
	else
		not_ok "throttle: $check_out"
	fi
	kill -CONT "$tp"

	# no rule but the iteration count may end it (the downtime rule could
	# freeze it before 50 %)
	"$vmtrack" dump -p "$tp" -D "$dir-killed" -n 50 -t 0 -T 0 --throttle -j \
		> "$dir-killed.json" 2> /dev/null &
	dpid=$!
	# killed at 50 %: as likely as not while it holds the target
	until grep -q '"throttle":[5-9]' "$dir-killed.json"; do
		kill -0 "$dpid" 2>/dev/null || break
		sleep 0.01
	done
	kill -9 "$dpid"
	wait "$dpid" 2>/dev/null
	sleep 0.2
	utime0=$(awk '{ print $14 }' "/proc/$tp/stat")
	sleep 1
	if ! grep -q '"throttle":[5-9]' "$dir-killed.json"; then
		not_ok "throttle, killed: the dump ended before it throttled"
	elif [ -n "$(held_as "$tp")" ]; then
		not_ok "throttle, killed: the target is left $(held_as "$tp")"
	elif [ "$(awk '{ print $14 }' "/proc/$tp/stat")" -le "$utime0" ]; then
		not_ok "throttle, killed: the target does not run on"
	else
		ok "throttle, killed: a dump killed while it throttles leaves the target running"
	fi
	kill -9 "$tp"
}
throttle

# one-line errors, nothing written
# A stopped target dumped twice, once into a directory and once to a criu
# page-server: the server must hold the same pages, byte for byte, under the
# same entries. Its files differ in what is the server's own: the pages file
# id (CRIU gives remote images ids above 65535), nr_pages written once, and
# entries it splits where its input buffer ends; no inventory.img.
same_images() {
	local a b

	a=$(crit decode -i "$1/pagemap-$3.img" 2> /dev/null) || return 1
	b=$(crit decode -i "$2/pagemap-$3.img" 2> /dev/null) || return 1
	python3 - "$1" "$2" 3<<< "$a" 4<<< "$b" << 'PY'
import json, os, sys

def load(fd, d):
    e = json.load(os.fdopen(fd))["entries"]
    runs = []
    for x in e[1:]:
        v, n, f = int(x["vaddr"]), int(x["nr_pages"]), int(x.get("flags", 0))
        if runs and runs[-1][2] == f and runs[-1][0] + runs[-1][1] * 4096 == v:
            runs[-1][1] += n
        else:
            runs.append([v, n, f])
    with open("%s/pages-%d.img" % (d, e[0]["pages_id"]), "rb") as p:
        return runs, p.read()

ra, pa = load(3, sys.argv[1])
rb, pb = load(4, sys.argv[2])
sys.exit(0 if ra == rb and pa == pb and len(pa) else 1)
PY
}

page_server_same_bytes() {
	local dir=$work/same port=27028 spid res

	start_target 12 -m 4 -T 2 -u 500 || { not_ok "page server, same bytes: target"; return; }
	kill -STOP "$tpid"
	mkdir -p "$dir/ps"
	criu page-server -D "$dir/ps" --address 127.0.0.1 --port $port \
		-v4 -o "$dir/ps.log" > /dev/null 2>&1 &
	spid=$!
	"$vmtrack" dump -p "$tpid" -D "$dir/dir" -n 1 -q > /dev/null 2> "$dir.err1"
	res=$?
	"$vmtrack" dump -p "$tpid" -P 127.0.0.1:$port -n 1 -q > /dev/null 2> "$dir.err2"
	res=$((res | $?))
	wait "$spid"
	res=$((res | $?))
	if [ $res = 0 ] && same_images "$dir/dir/1" "$dir/ps" "$tpid"; then
		ok "page server, same bytes: criu page-server holds the directory dump's" \
			"pages and entries ($(stat -c %s "$dir/dir/1/pages-1.img") bytes)"
	else
		not_ok "page server, same bytes: exit $res, or the images differ" \
			"$(cat "$dir.err1" "$dir.err2")"
	fi
	kill -9 "$tpid"
}

# pagemap_counts IMG: "PARENT PRESENT" pages of an image's entries
pagemap_counts() {
	crit decode -i "$1" 2> /dev/null | python3 -c '
import json, sys
parent = present = 0
for e in json.load(sys.stdin)["entries"][1:]:
    n, f = int(e.get("nr_pages", 0)), int(e.get("flags", 0))
    if f & 1 or e.get("in_parent"):
        parent += n
    elif f & 4:
        present += n
print(parent, present)'
}

# tcp_wait PORT FIELD STATE: wait up to 10 s for a TCP socket in STATE whose
# address in FIELD of /proc/net/tcp (2 local, 3 remote) has PORT
tcp_wait() {
	local hex i

	hex=$(printf '%04X' "$1")
	for ((i = 0; i < 200; i++)); do
		awk -v p=":$hex" -v f="$2" -v st="$3" '$f ~ p"$" && $4 == st { ok = 1 }
			END { exit !ok }' /proc/net/tcp && return 0
		sleep 0.05
	done
	return 1
}

# listening PORT: a socket listens on PORT
listening() {
	tcp_wait "$1" 2 0A
}

# connected PORT: a connection to PORT on this machine is established
connected() {
	tcp_wait "$1" 3 01
}

# criu_ps_dump PID LOCAL REMOTE PORT PARENT [criu dump args]: criu dump into
# LOCAL with its pages to a page server in REMOTE (parent ../PARENT)
criu_ps_dump() {
	local pid=$1 local=$2 remote=$3 port=$4 parent=$5 spid rc i

	shift 5
	mkdir -p "$local" "$remote"
	criu page-server -D "$remote" --address 127.0.0.1 --port "$port" \
		--prev-images-dir "../$parent" -v4 -o ps.log > /dev/null 2>&1 &
	spid=$!
	# criu dump connects once (vmtrack retries): the server must listen
	listening "$port" || echo "# criu page-server on port $port: not listening after 10 s"
	criu dump -t "$pid" -D "$local" --page-server --address 127.0.0.1 --port "$port" \
		--leave-stopped -v4 -o dump.log "$@" > /dev/null 2>&1
	rc=$?
	# the server writes its images until it reads criu dump's EOF, then
	# exits: killed earlier, it could leave them cut short
	for ((i = 0; rc == 0 && i < 1200; i++)); do
		kill -0 "$spid" 2> /dev/null || break
		sleep 0.05
	done
	kill -KILL "$spid" 2> /dev/null
	wait "$spid" 2> /dev/null
	return $rc
}

# The page server with a local directory: the server gets the pages, DIR/K
# what criu pre-dump --page-server keeps locally (inventory.img, parent), and
# criu dump --page-server --prev-images-dir DIR/last then takes vmtrack's
# chain on the server as its parent; the destination (server images + criu
# dump's own) restores the process. Without the local inventory criu dump
# refuses to use the server's parent.
page_server_local() {
	local dir=$work/psl port=27029 spid res n_it k bad=0 out counts
	local t="page server + local dir"

	if ! command -v criu > /dev/null; then
		echo "ok $((n + 1)) - $t # SKIP criu not installed"
		n=$((n + 1))
		return
	fi
	mkdir -p "$dir/remote"
	setsid "$target" -s 13 -m 8 -T 2 -u 500 -f "$work/file" < /dev/null \
		> "$work/target-13.out" 2>&1 &
	tpid=$!
	pids+=("$tpid")
	wait_ready "$work/target-13.out"
	(
		for k in 1 2 3 4; do
			mkdir -p "$dir/remote/$k"
			args=()
			[ "$k" -gt 1 ] && args=(--prev-images-dir "../$((k - 1))")
			criu page-server -D "$dir/remote/$k" --address 127.0.0.1 --port $port \
				"${args[@]}" -v4 -o "ps.log" > /dev/null 2>&1 || exit 1
		done
	) &
	spid=$!
	"$vmtrack" dump -p "$tpid" -P 127.0.0.1:$port -D "$dir/local" -n 4 -t 0 -T 0 --json \
		--leave-stopped --track-mem > "$dir.json" 2> "$dir.err"
	res=$?
	stop_servers "$spid"
	if [ $res -ne 0 ]; then
		not_ok "$t: vmtrack dump exited $res: $(cat "$dir.err")"
		kill -9 "$tpid"
		return
	fi
	n_it=$(grep -c '"iteration"' "$dir.json")
	# the local half: inventory and parent link per iteration, no pages
	for ((k = 1; k <= n_it; k++)); do
		out=$(crit decode -i "$dir/local/$k/inventory.img" 2>&1) || bad=1
		[[ $out == *'"pre_dump_mode": 2'* || $out == *'"pre_dump_mode": "READ"'* ]] || bad=1
		[ ! -e "$dir/local/$k/pagemap-$tpid.img" ] && [ ! -e "$dir/local/$k/pages-1.img" ] ||
			bad=1
		[ "$k" = 1 ] || [ "$(readlink "$dir/local/$k/parent")" = "../$((k - 1))" ] || bad=1
		[ -e "$dir/remote/$k/inventory.img" ] && bad=1
	done
	[ "$(readlink "$dir/local/last")" = "$n_it" ] || bad=1
	if [ $bad = 0 ]; then
		ok "$t: DIR/1..$n_it hold inventory.img (pre_dump_mode read) and the parent links," \
			"the server the pages; DIR/last -> $n_it"
	else
		not_ok "$t: local images: $(ls -lR "$dir/local" | tr '\n' ' ')" \
			"$(crit decode -i "$dir/local/1/inventory.img" 2>&1 | tr '\n' ' ')"
	fi
	out=$("$check" -p "$tpid" -D "$dir/remote/$n_it" 2>&1)
	if [ $? -eq 0 ]; then
		ok "$t: the server's chain restores the frozen target exactly ($out)"
	else
		not_ok "$t: the server's chain differs from the frozen target: $out"
		"$check" -p "$tpid" -D "$dir/remote/$n_it" -v 2>&1 | grep -v '^zero' |
			head -20 | sed 's/^/# /'
		sed 's/^/# /' "$dir.json"
		head -60 "/proc/$tpid/maps" | sed 's/^/# /'
	fi
	# criu dump on top: parent inventory here, parent pagemap on the server
	if criu_ps_dump "$tpid" "$dir/final" "$dir/remote/final" $((port + 1)) "$n_it" \
		--prev-images-dir "$dir/local/last" --track-mem; then
		counts=$(pagemap_counts "$dir/remote/final/pagemap-$tpid.img")
		if [ "${counts% *}" -gt 1024 ] && [ "${counts#* }" -lt 64 ]; then
			ok "$t: criu dump --page-server --prev-images-dir DIR/last takes the pages" \
				"from vmtrack's chain on the server (in parent, copied: $counts)"
		else
			not_ok "$t: criu dump's pages on the server: in parent, copied: $counts"
		fi
	else
		not_ok "$t: criu dump --page-server --prev-images-dir DIR/last failed:" \
			"$(grep -E "Error" "$dir/final/dump.log" | head -3)" \
			"server: $(grep -E "Error" "$dir/remote/final/ps.log" | tail -3)"
		kill -9 "$tpid"
		return
	fi
	# without the local half: the parent is on the server, its inventory nowhere
	if criu_ps_dump "$tpid" "$dir/neg" "$dir/remote/neg" $((port + 2)) "$n_it" --track-mem
	then
		not_ok "$t: criu dump with the server's parent and no parent inventory succeeded"
	elif grep -q "no parent inventory" "$dir/neg/dump.log"; then
		ok "$t: without DIR criu dump refuses the server's parent:" \
			"$(grep -o "Pid-reuse detection failed: no parent inventory" "$dir/neg/dump.log" |
			   head -1)"
	else
		not_ok "$t: without DIR criu dump failed otherwise:" \
			"$(grep Error "$dir/neg/dump.log" | tail -2)"
	fi
	# the destination restores: the server's images plus criu dump's own
	kill -9 "$tpid"
	wait "$tpid" 2> /dev/null
	cp -n "$dir"/final/*.img "$dir/remote/final/"
	criu restore -D "$dir/remote/final" -d --leave-stopped -v4 -o restore.log \
		> /dev/null 2>&1
	res=$?
	out=$("$check" -p "$tpid" -D "$dir/remote/final" 2>&1)
	k=$?
	if [ $res = 0 ] && [ $k = 0 ]; then
		ok "$t: criu restore on the destination brings the process back with the" \
			"chain's memory ($out)"
	else
		not_ok "$t: criu restore on the destination: exit $res," \
			"$(grep Error "$dir/remote/final/restore.log" | tail -2) $out"
	fi
	kill -9 "$tpid" 2> /dev/null
}

# refused_as LABEL WANT ARGS...: vmtrack dump ARGS exits 1 with one line that
# holds WANT, and writes nothing
refused_as() {
	local label=$1 want=$2 out res

	shift 2
	out=$("$vmtrack" dump "$@" -D "$work/e4" 2>&1)
	res=$?
	if [ $res = 1 ] && [ "$(echo "$out" | wc -l)" = 1 ] && [[ $out == *"$want"* ]] &&
	   [ ! -e "$work/e4" ]; then
		ok "errors: $label ($out)"
	else
		not_ok "errors: $label: exit $res, want '$want': $out"
	fi
}

# Targets without memory of their own, each with its reason; not taken for
# processes that share memory, as kcmp(KCMP_VM) finds them all equal.
no_memory() {
	local zpid zparent tid

	refused_as "a kernel thread" "pid 2 (kthreadd) is a kernel thread" -p 2
	# a zombie: it exits after its parent exec'd a program that never reaps it
	sh -c 'sleep 1 & echo $! > "$1"; exec sleep 60' sh "$work/zpid" &
	zparent=$!
	pids+=("$zparent")
	for _ in $(seq 200); do
		zpid=$(cat "$work/zpid" 2> /dev/null)
		[ -n "$zpid" ] && grep -q ') Z ' "/proc/$zpid/stat" 2> /dev/null && break
		sleep 0.05
	done
	refused_as "a zombie" "pid $zpid (sleep) is a zombie" -p "$zpid"
	kill "$zparent"
	# a thread of the target that is not its main thread
	tid=$(ls "/proc/$tpid/task" | grep -vx "$tpid" | head -1)
	if [ -n "$tid" ]; then
		refused_as "a thread id" "pid $tid (" -p "$tid"
		refused_as "a thread id: its process" "is a thread of process $tpid" -p "$tid"
	else
		not_ok "errors: a thread id: the target has no second thread"
	fi
}

errors() {
	local out

	out=$("$vmtrack" dump -p 999999 -D "$work/e1" 2>&1)
	if [ $? -ne 0 ] && [[ $out == *"no such process"* ]] && [ ! -e "$work/e1" ]; then
		ok "errors: no such pid ($out)"
	else
		not_ok "errors: no such pid: $out"
	fi
	# nothing watched, nothing journaled: no file, an earlier one left as it was
	out=$("$vmtrack" dump -p 999999 -D "$work/e1" --journal "$work/e1.vmj" 2>&1)
	if [ $? -ne 0 ] && [ "$(echo "$out" | wc -l)" = 1 ] && [ ! -e "$work/e1.vmj" ]; then
		ok "errors: no such pid, --journal: no journal left ($out)"
	else
		not_ok "errors: no such pid, --journal: $out; $(ls -l "$work/e1.vmj" 2>&1)"
	fi
	echo earlier > "$work/e1.vmj"
	out=$("$vmtrack" dump -p 999999 -D "$work/e1" --journal "$work/e1.vmj" 2>&1)
	if [ $? -ne 0 ] && [ "$(cat "$work/e1.vmj")" = earlier ]; then
		ok "errors: no such pid, --journal: an existing file is left as it was"
	else
		not_ok "errors: no such pid, --journal: the existing file changed: $out"
	fi
	out=$("$vmtrack" dump -p 1 -D "$work/e1" --throttle=10 2>&1)
	if [ $? -ne 0 ] && [ "$(echo "$out" | wc -l)" = 1 ] && [[ $out == *"--throttle"* ]] &&
	   [ ! -e "$work/e1" ]; then
		ok "errors: --throttle below 20 % ($out)"
	else
		not_ok "errors: --throttle=10: $out"
	fi
	mkdir -p "$work/e2" && touch "$work/e2/x"
	# two threads: no_memory() dumps the id of the second
	start_target 5 -m 1 -T 2 -u 1000 || return
	out=$("$vmtrack" dump -p "$tpid" -D "$work/e2" 2>&1)
	if [ $? -ne 0 ] && [[ $out == *"not empty"* ]]; then
		ok "errors: directory not empty ($out)"
	else
		not_ok "errors: directory not empty: $out"
	fi
	no_memory
	# a directory the user may write to, outside $work (mode 0700)
	local e3=/tmp/vmtrack-dump-e3.$$
	mkdir -p "$e3" && chmod 777 "$e3"
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$vmtrack" dump -p "$tpid" -D "$e3" 2>&1)
	if [ $? -ne 0 ] && [ -z "$(ls -A "$e3")" ] && [ "$(echo "$out" | wc -l)" = 1 ] &&
	   [[ $out == *"ermitted"* || $out == *root* || $out == *privilege* ]]; then
		ok "errors: unprivileged user refused ($out)"
	else
		not_ok "errors: unprivileged user: $out"
	fi
	# a command whose dump is refused never runs, not even for a moment
	local i ran=0
	for i in 1 2 3 4 5; do
		out=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
			"$vmtrack" dump -D "$e3/d" -- sh -c "touch $e3/ran" 2>&1)
		[ $? = 1 ] && [ ! -e "$e3/ran" ] && [ -z "$(ls -A "$e3")" ] && ran=$((ran + 1))
		rm -rf "$e3/ran" "$e3/d"
	done
	if [ $ran = 5 ]; then
		ok "errors: unprivileged user, -- COMMAND: refused 5 times, the command never ran"
	else
		not_ok "errors: unprivileged user, -- COMMAND: the command ran or the dump" \
			"went on ($((5 - ran)) of 5): $out"
	fi
	# the guest's root is read-only
	out=$("$vmtrack" dump -p "$tpid" -D /vmtrack-dump-test 2>&1)
	if [ $? -ne 0 ] && [ ! -e /vmtrack-dump-test ] && [[ $out == *"cannot create"* ]]; then
		ok "errors: directory not writable ($out)"
	else
		not_ok "errors: directory not writable: $out"
	fi
	kill -9 "$tpid"
}

# The exit status is the dump's: 0 once DIR/last exists, whatever the
# command does after the dump (one line on stderr says it), and 2 when the
# dump is complete but its journal or its lines could not be written.
exit_status() {
	local out res

	out=$("$vmtrack" dump -D "$work/x1" -n 1 -q -- sh -c 'sleep 5; exit 3' 2>&1 > /dev/null)
	res=$?
	if [ $res = 0 ] && [ -L "$work/x1/last" ] && [ "$(echo "$out" | wc -l)" = 1 ] &&
	   [[ $out == *"sh exited with status 3 after the dump"* ]]; then
		ok "exit status: 0 after a complete dump of a command that exits 3 ($out)"
	else
		not_ok "exit status: a command that exits 3 after the dump: exit $res, $out;" \
			"$(ls "$work/x1" 2>&1)"
	fi
	out=$("$vmtrack" dump -D "$work/x2" -n 1 -q -- sh -c 'sleep 5; kill -9 $$' 2>&1 > /dev/null)
	res=$?
	if [ $res = 0 ] && [ -L "$work/x2/last" ] && [ "$(echo "$out" | wc -l)" = 1 ] &&
	   [[ $out == *"sh was killed by signal 9 (Killed) after the dump"* ]]; then
		ok "exit status: 0 after a complete dump of a command then killed ($out)"
	else
		not_ok "exit status: a command killed after the dump: exit $res, $out;" \
			"$(ls "$work/x2" 2>&1)"
	fi
	start_target 51 -m 4 -T 1 -u 300 || { not_ok "exit status: target did not start"; return; }
	out=$("$vmtrack" dump -p "$tpid" -D "$work/x3" -n 2 -q --journal /dev/full 2>&1 > /dev/null)
	res=$?
	if [ $res = 2 ] && [ -L "$work/x3/last" ] && [ "$(echo "$out" | wc -l)" = 1 ] &&
	   [[ $out == *"journal /dev/full: No space left on device (the dump itself is complete)"* ]]
	then
		ok "exit status: 2 when the dump is complete and its journal is not ($out)"
	else
		not_ok "exit status: a journal that cannot be written: exit $res, $out;" \
			"$(ls "$work/x3" 2>&1)"
	fi
	for json in "" -j; do
		rm -rf "$work/x4"
		out=$("$vmtrack" dump -p "$tpid" -D "$work/x4" -n 2 $json 2>&1 > /dev/full)
		res=$?
		if [ $res = 2 ] && [ -L "$work/x4/last" ] && [ "$(echo "$out" | wc -l)" = 1 ] &&
		   [[ $out == *"writing standard output: No space left on device (the dump itself is complete)"* ]]
		then
			ok "exit status: 2 when the dump is complete and its lines${json:+ ($json)}" \
				"are not ($out)"
		else
			not_ok "exit status: stdout on /dev/full${json:+ ($json)}: exit $res, $out;" \
				"$(ls "$work/x4" 2>&1)"
		fi
	done
	kill -9 "$tpid"
}

# how a target is left that a failed dump must let go: "" when it runs on,
# untraced, with no watched mapping (VmFlags "wt"). A dump killed with
# SIGKILL cannot unwatch: held_as() is the first half.
left_as() {
	held_as "$1"
	awk '/^VmFlags:/ { for (i = 2; i <= NF; i++) if ($i == "wt") w++ }
		END { if (w) printf "%d mappings watched", w }' "/proc/$1/smaps" 2> /dev/null
}

# failed_cleanly RES OUT GLOB DIR: a dump that failed as a failed dump
# must: exit 1, one line that matches GLOB, no DIR, the target let go.
# Otherwise sets $why to what was found.
failed_cleanly() {
	local left

	left=$(left_as "$tpid")
	# shellcheck disable=SC2053 # GLOB is a pattern
	[ "$1" = 1 ] && [ "$(echo "$2" | wc -l)" = 1 ] && [[ $2 == $3 ]] && [ ! -e "$4" ] &&
		[ -z "$left" ] && return 0
	why="exit $1, $2${left:+; the target: $left}"
	[ -e "$4" ] && why+="; $4 left: $(ls -A "$4" | head -5 | tr '\n' ' ')"
	return 1
}

# A dump that fails on the way (the disk full, the page server gone) exits
# 1 with one line, leaves no image and lets the target go, --leave-stopped
# or not; so does one interrupted by SIGINT. A bad page-server address is
# refused before the target is touched.
failures() {
	local small=$work/small port=27031 spid out res left why

	start_target 31 -m 16 -T 2 -u 300 || { not_ok "failures: target did not start"; return; }
	mkdir -p "$small" && mount -t tmpfs -o size=2m none "$small" ||
		{ not_ok "failures: no tmpfs"; kill -9 "$tpid"; return; }
	out=$("$vmtrack" dump -p "$tpid" -D "$small/d" --leave-stopped 2>&1)
	res=$?
	left=$(left_as "$tpid")
	if [ $res = 1 ] && [ "$(echo "$out" | wc -l)" = 1 ] && [[ $out == *"No space"* ]] &&
	   [ -z "$(ls -A "$small")" ] && [ -z "$left" ]; then
		ok "failures: disk full: nothing left, the target runs on ($out)"
	else
		not_ok "failures: disk full: exit $res, $out; left: $(ls -A "$small") $left"
	fi
	umount "$small"

	# one server for the first iteration only: the second cannot connect
	mkdir -p "$work/gone-srv"
	criu page-server -D "$work/gone-srv" --address 127.0.0.1 --port $port \
		-o "$work/ps-gone.log" > /dev/null 2>&1 &
	spid=$!
	out=$("$vmtrack" dump -p "$tpid" -P 127.0.0.1:$port -D "$work/gone" -n 4 -t 0 -T 0 \
		-q 2>&1)
	res=$?
	kill "$spid" 2>/dev/null	# still there only if the dump never connected
	wait "$spid"
	if failed_cleanly $res "$out" \
		"*iteration 2: *refused*; iteration 1 stays on its page server" "$work/gone" &&
	   compgen -G "$work/gone-srv/pagemap-*.img" > /dev/null; then
		ok "failures: page server gone after iteration 1: nothing left here, the" \
			"target runs on, the error names what the server keeps ($out)"
	else
		not_ok "failures: page server gone: ${why:-no pagemap image on the server}"
	fi

	refused "port 99999" 127.0.0.1:99999 "*HOST:PORT*"
	# not a usage error: no pointer to --help
	refused "an unknown host" no-such-host.invalid:3000 "*unknown host*" "*--help*"
	kill -9 "$tpid"

	# Ctrl-C as the dump starts (DIR is made once its handlers are in place):
	# the first copy, of 64 MiB, ends in the signal's check
	start_target 32 -m 64 -T 2 -u 0 || { not_ok "failures: SIGINT: target did not start"; return; }
	interrupt "during the copy" "$work/int" wait_exists "$work/int" -n 1000 -t 0 -T 0

	# and while it waits for a page server that does not answer (stopped
	# before the dump connects)
	mkdir -p "$work/int-srv"
	criu page-server -D "$work/int-srv" --address 127.0.0.1 --port $port \
		> /dev/null 2>&1 &
	spid=$!
	if ! listening "$port" || ! kill -STOP "$spid"; then
		not_ok "failures: SIGINT: no page server"
	else
		interrupt "waiting for a page server" "$work/int-ps" connected "$port" \
			-P 127.0.0.1:$port
		ps_timeout "$work/to-ps" "$port"
	fi
	stop_servers "$spid"
	kill -9 "$tpid"
}

# ps_timeout DIR PORT: a stop-and-copy dump (the target frozen from the
# start) to the stopped page server on PORT, --ps-timeout 2: it fails
# within seconds, with one line that says so, DIR removed, the target let
# go although --leave-stopped
ps_timeout() {
	local dir=$1 res out t0 took why

	t0=$(date +%s)
	"$vmtrack" dump -p "$tpid" -P "127.0.0.1:$2" -D "$dir" -n 1 --ps-timeout 2 -q \
		--leave-stopped > /dev/null 2> "$dir.err"
	res=$?
	took=$(($(date +%s) - t0))
	out=$(cat "$dir.err")
	if failed_cleanly $res "$out" "*nothing sent or received for 2 s*" "$dir" &&
	   [ "$took" -ge 2 ] && [ "$took" -le 30 ]; then
		ok "failures: a page server that does not answer: --ps-timeout 2 ends the frozen copy" \
			"in $took s, nothing left, the target runs on ($out)"
	else
		not_ok "failures: --ps-timeout: after $took s, ${why:-exit $res, $out}"
	fi
}

# interrupt LABEL DIR UNTIL ARG [OPTIONS]: vmtrack dump -D DIR OPTIONS
# --leave-stopped, SIGINT once "UNTIL ARG" returns: exit 1, one line, DIR
# removed, the target runs on
interrupt() {
	local label=$1 dir=$2 until=$3 arg=$4 dpid res out why

	shift 4
	"$vmtrack" dump -p "$tpid" -D "$dir" "$@" -q --leave-stopped > /dev/null 2> "$dir.err" &
	dpid=$!
	"$until" "$arg"
	kill -INT "$dpid"
	wait "$dpid"
	res=$?
	out=$(cat "$dir.err")
	if failed_cleanly $res "$out" "*interrupted by signal 2" "$dir"; then
		ok "failures: SIGINT $label: nothing left, the target runs on ($out)"
	else
		not_ok "failures: SIGINT $label: $why"
	fi
}

# A page server's address refused while the options are parsed: exit 1, one
# line that matches GLOB (and not NOT-GLOB), no image, the target untouched.
refused() { # NAME ADDR GLOB [NOT-GLOB]
	local out res why

	out=$("$vmtrack" dump -p "$tpid" -P "$2" -D "$work/refused" 2>&1)
	res=$?
	# shellcheck disable=SC2053 # NOT-GLOB is a pattern
	if failed_cleanly $res "$out" "$3" "$work/refused" &&
	   { [ -z "${4-}" ] || [[ $out != $4 ]]; }; then
		ok "failures: $1 refused before the dump starts ($out)"
	else
		not_ok "failures: $1: ${why:-matches $4: $out}"
	fi
}

# start_sharer: SIGUSR1 to $tpid (dump-target -V) starts a process that
# shares its memory; sets $sharer
start_sharer() {
	local i

	kill -USR1 "$tpid"
	for i in $(seq 200); do
		sharer=$(awk '$1 == "sharer" { print $2 }' "$work/target-$1.out")
		[ -n "$sharer" ] && pids+=("$sharer") && return 0
		sleep 0.05
	done
	return 1
}

# shared_mm_refused LABEL DIR OUT RES: one line naming the sharer, no image,
# the target let go
shared_mm_refused() {
	local why

	if failed_cleanly "$4" "$3" "*shares its memory with pid $sharer*" "$2"; then
		ok "shared memory: $1: refused, nothing left, the target runs on ($3)"
	else
		not_ok "shared memory: $1: $why"
	fi
}

# A process that shares the target's memory without being one of its threads
# (clone(CLONE_VM)) writes on while the target is frozen, so the last copy
# would not be a snapshot: the dump is refused before it starts, or at the
# final freeze when the process appears during the dump.
shared_mm() {
	local out res dpid sharer spid server port=27090 args k

	start_target 41 -m 4 -T 2 -u 300 -V || { not_ok "shared memory: target"; return; }
	start_sharer 41 || { not_ok "shared memory: no sharer"; kill -9 "$tpid"; return; }
	out=$("$vmtrack" dump -p "$tpid" -D "$work/sh1" --leave-stopped 2>&1)
	shared_mm_refused "at the start" "$work/sh1" "$out" $?
	kill -9 "$sharer" "$tpid"

	# The sharer must start once the dump is past its first check and before
	# it freezes the target (traced by the dump, the target could not start
	# it). The dump sends to a criu page-server that is stopped: the first
	# copy, 64 MiB, fills the socket and waits, the target running, until
	# the server goes on.
	start_target 42 -m 64 -T 2 -u 300 -V || { not_ok "shared memory: target"; return; }
	mkdir -p "$work/sh2-ps"
	(
		for k in $(seq 12); do
			mkdir -p "$work/sh2-ps/$k"
			args=()
			[ "$k" -gt 1 ] && args=(--prev-images-dir "../$((k - 1))")
			criu page-server -D "$work/sh2-ps/$k" --address 127.0.0.1 --port $port \
				"${args[@]}" > /dev/null 2>&1 || exit 1
		done
	) &
	spid=$!
	if ! listening "$port" || ! server=$(pgrep -P "$spid" -x criu) ||
	   ! kill -STOP "$server"; then
		not_ok "shared memory: no page server"; stop_servers "$spid"; kill -9 "$tpid"; return
	fi
	"$vmtrack" dump -p "$tpid" -P 127.0.0.1:$port -D "$work/sh2" -n 12 -t 0 -T 0 -q \
		--leave-stopped > /dev/null 2> "$work/sh2.err" &
	dpid=$!
	connected "$port"
	if [ "$(awk '$1 == "TracerPid:" { print $2 }' "/proc/$tpid/status")" != 0 ]; then
		not_ok "shared memory: the dump froze the target before the sharer could start"
		kill -9 "$dpid" "$tpid"
		stop_servers "$spid"
		return
	fi
	start_sharer 42 || {
		not_ok "shared memory: no sharer"; kill -9 "$dpid" "$tpid"; stop_servers "$spid"; return
	}
	kill -CONT "$server"
	wait "$dpid"
	res=$?
	stop_servers "$spid"
	shared_mm_refused "appeared during the first copy" "$work/sh2" "$(cat "$work/sh2.err")" $res
	kill -9 "$sharer" "$tpid"
}

# --journal: the report prints the lines the dump printed, its iterations
# and freeze are recorded, --json parses, --plot draws the freeze
journal_dump() {
	local dir=$work/journal j=$work/journal.vmj res iters out

	start_target 21 -m 16 -T 3 -u 300 || { not_ok "journal: target did not start"; return; }
	"$vmtrack" dump -p "$tpid" -D "$dir" -n 5 --journal "$j" > "$dir.txt" 2> "$dir.err"
	res=$?
	kill -9 "$tpid"
	if [ $res -ne 0 ]; then
		not_ok "journal: vmtrack dump --journal exited $res: $(cat "$dir.err")"
		return
	fi
	iters=$(grep -c '^iter ' "$dir.txt")
	"$vmtrack" report "$j" > "$dir.report" 2> "$dir.rerr"
	res=$?
	if [ $res -eq 0 ] && [ "$iters" -ge 2 ] && cmp -s "$dir.txt" "$dir.report" &&
	   [ ! -s "$dir.rerr" ]; then
		ok "journal: vmtrack report prints the dump's lines as it printed them" \
			"($iters iterations, $(wc -l < "$dir.txt") lines)"
	else
		not_ok "journal: report exited $res ($(cat "$dir.rerr")), $iters iterations," \
			"the lines differ: $(diff "$dir.txt" "$dir.report" | head -5 | tr '\n' '|')"
	fi
	# the records themselves: one per iteration, the last frozen, one freeze
	# whose duration is the summary's
	"$vmtrack" report --raw "$j" > "$dir.raw" 2>&1
	out=$(awk -v want="$iters" '
		/ dump_iter: / { n++; last = $0 }
		/ freeze: / { nf++; split($0, a, "frozen "); ms = a[2] + 0 }
		/ dump_summary: / { split($0, a, "frozen "); sms = a[2] + 0 }
		END {
			printf "%d iterations, %d freeze records (%.1f ms, summary %.1f ms)", n, nf, ms, sms
			exit !(n == want && nf == 1 && last ~ /\(frozen 1\)/ && ms > 0 &&
			       sprintf("%.1f", ms) == sprintf("%.1f", sms))
		}' "$dir.raw")
	if [ $? -eq 0 ]; then
		ok "journal: the iterations and the freeze are recorded: $out"
	else
		not_ok "journal: records: $out"
		grep -E 'dump_iter|freeze|dump_summary' "$dir.raw" | sed 's/^/# /'
	fi
	"$vmtrack" report --json "$j" > "$dir.json" 2> "$dir.rerr"
	out=$(python3 - "$dir.json" "$iters" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
its = [o for o in lines if "iteration" in o]
summ = [o["summary"] for o in lines if "summary" in o]
ok = (len(its) == int(sys.argv[2]) and its[-1]["frozen"] and
      not any(o["frozen"] for o in its[:-1]) and len(summ) == 1 and
      summ[0]["iterations"] == len(its) and summ[0]["freeze_ms"] > 0)
print("%d objects, %d iterations" % (len(lines), len(its)))
sys.exit(0 if ok else 1)
PY
	)
	if [ $? -eq 0 ]; then
		ok "journal: report --json parses: $out, the last one frozen, one summary"
	else
		not_ok "journal: report --json: $out $(head -c 300 "$dir.json")"
	fi
	"$vmtrack" report --plot "$dir.svg" "$j" 2> "$dir.rerr"
	res=$?
	if [ $res -eq 0 ] && python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' \
		"$dir.svg" && grep -q '<polyline' "$dir.svg" &&
	   grep -q 'stroke="blue" stroke-dasharray' "$dir.svg" &&
	   grep -qE '>freeze [0-9.]+ ms<' "$dir.svg"; then
		ok "journal: report --plot writes an SVG with the epochs and the freeze" \
			"($(grep -oE 'freeze [0-9.]+ ms' "$dir.svg"))"
	else
		not_ok "journal: report --plot exited $res: $(cat "$dir.rerr")"
	fi
}

# a dump killed with SIGKILL: its journal decodes up to where it was written,
# the lines before that are the dump's own, and the report says it stopped.
# A large target with a fast writer: the copy of iteration 2 (what changed
# during the long first one) is still running when iteration 1 is printed.
journal_killed() {
	local dir=$work/jkilled j=$work/jkilled.vmj dpid res printed killed=

	free_work
	start_target 22 -m 256 -T 2 -u 0 || { not_ok "journal, killed: target did not start"; return; }
	"$vmtrack" dump -p "$tpid" -D "$dir" -n 1000 -t 0 -T 0 --journal "$j" \
		> "$dir.txt" 2> "$dir.err" &
	dpid=$!
	for _ in $(seq 1200); do
		grep -q '^iter ' "$dir.txt" 2>/dev/null && break
		sleep 0.05
	done
	kill -9 "$dpid" 2>/dev/null && killed=1
	wait "$dpid" 2>/dev/null
	kill -9 "$tpid"
	rm -rf "$dir"
	printed=$(grep -c '^iter ' "$dir.txt")
	"$vmtrack" report "$j" > "$dir.report" 2> "$dir.rerr"
	res=$?
	head -n "$(wc -l < "$dir.report")" "$dir.txt" > "$dir.head"
	if [ -z "$killed" ]; then
		not_ok "journal, killed: the dump ended before it was killed (exit $res of" \
			"report, $printed iterations): $(cat "$dir.err")"
	# the report's lines are the first lines the dump printed
	elif [ $res -eq 2 ] && [ "$(grep -c '^iter ' "$dir.report")" -ge 1 ] &&
	     cmp -s "$dir.report" "$dir.head" &&
	     grep -qE 'no end record, the run did not finish|stopped at byte [0-9]+' "$dir.rerr"
	then
		ok "journal, killed: report exit 2, $(grep -c '^iter ' "$dir.report") of" \
			"$printed iterations as printed; $(cat "$dir.rerr")"
	else
		not_ok "journal, killed: $printed iterations printed, report exit $res:" \
			"$(cat "$dir.rerr"); $(diff "$dir.txt" "$dir.report" | head -5 | tr '\n' '|')"
	fi
}

page_server_same_bytes
page_server_local
errors
exit_status
failures
shared_mm
journal_dump
journal_killed

finish
