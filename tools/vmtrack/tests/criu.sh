#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# CRIU end to end (TAP), as root on a kernel with CONFIG_MEM_WATCH and
# CONFIG_MEM_SOFT_DIRTY, with Debian's criu:
#
#   VMTRACK_TCG=multi vm/run -k BZIMAGE -c 2 -t 900 -- tools/vmtrack/tests/criu.sh
#
# (make test runs it with a thread per vCPU, as above: the two CPUs run at
# once; it starts one vmtrack session at a time, see "The test VM" in
# README.md)
#
# For seeded targets (tests/criu-target: a running writer whose pages can be
# checked against a table of versions in its own memory):
#  1. vmtrack dump -p PID -D PRE --leave-stopped --track-mem pre-copies the
#     running target and leaves it stopped after the last increment;
#  2. PRE/last restores exactly the stopped target's memory (dumpcheck);
#  3. criu dump -t PID -D FINAL --prev-images-dir PRE/last --track-mem
#     writes the rest of the checkpoint and copies (almost) no page again:
#     they are holes into vmtrack's images;
#  4. the chain FINAL -> PRE/last restores the stopped target's memory;
#  5. criu restore -D FINAL brings the process back stopped; its memory is
#     the chain's, page by page, so it is the memory the target had when
#     vmtrack froze it;
#  6. let go, the restored target checks every page against its own table
#     and goes on writing;
# once more with shared anonymous memory in the target (CRIU's to dump);
# with tests/dump-target, whose threads mremap, munmap, map, DONTNEED,
# free, mprotect() and fork all the time (steps 1-5); with a process tree,
# whose child criu dumps whole (vmtrack dump pre-copies one process); with
# CPython (tests/py-target.py), a real program whose heap changes as it
# runs; with targets that run on after vmtrack's last copy, whose changes
# since must be in criu's own pages (soft-dirty);
# and a chain that lacks a page the target has makes criu dump fail rather
# than restore stale memory.
#
# Binaries: VMTRACK_BUILD (default: the source tree, "make -C tools/vmtrack
# all"), holding vmtrack, tests/criu-target and tests/dumpcheck.
set -u

here=$(cd "$(dirname "$0")" && pwd)
build=${VMTRACK_BUILD:-$here/..}
vmtrack=$build/vmtrack
target=$build/tests/criu-target
dump_target=$build/tests/dump-target
check=$build/tests/dumpcheck
seeds=${CRIU_SEEDS:-"1 2 3"}
churn_seeds=${CRIU_CHURN_SEEDS:-"70 71"}

. "$here/tap.sh"
tap_begin criu "$vmtrack" "$target" "$dump_target" "$check"
work=$tmp
for b in criu crit; do
	if ! command -v $b > /dev/null; then
		echo "Bail out! $b not installed (Debian package criu)"
		exit 1
	fi
done
if ! criu check > "$work/check.log" 2>&1; then
	echo "Bail out! criu check fails on this kernel:"
	grep -E "Error|Warn" "$work/check.log" | tail -10 | sed 's/^/# /'
	exit 1
fi
info "$(criu --version | head -1); criu check: $(tail -1 "$work/check.log")"
if ! criu check --feature mem_dirty_track > /dev/null 2>&1; then
	echo "Bail out! criu sees no soft-dirty tracking (CONFIG_MEM_SOFT_DIRTY)"
	exit 1
fi
head -c 2097152 "$vmtrack" > "$work/file"
truncate -s 2M "$work/file"

# pagemap_counts IMG: "PARENT PRESENT", the pages of the entries that are
# holes into the parent and the pages the image holds itself
pagemap_counts() {
	crit decode -i "$1" 2> /dev/null | python3 -c '
import json, sys
# flags: PE_PARENT 1, PE_LAZY 2, PE_PRESENT 4 (criu/include/pagemap.h)
parent = present = 0
for e in json.load(sys.stdin)["entries"][1:]:
    n = int(e.get("nr_pages", 0))
    f = int(e.get("flags", 0))
    if f & 1 or e.get("in_parent"):
        parent += n
    elif f & 4:
        present += n
print(parent, present)'
}

# maps_of_missing PID LOG: the mapping of each page criu missed in a parent
maps_of_missing() {
	local a lo hi line

	for a in $(grep -o 'Missing [0-9a-f]* in parent' "$2" | cut -d' ' -f2); do
		while read -r line; do
			lo=${line%%-*}
			hi=${line#*-}
			hi=${hi%% *}
			if ((16#$a >= 16#$lo && 16#$a < 16#$hi)); then
				echo "# missed in: $line"
			fi
		done < "/proc/$1/maps"
	done
}

# wait_for FILE PATTERN SECONDS
wait_for() {
	wait_lines "$1" "$2" 1 "$3"
}

# wait_lines FILE PATTERN N SECONDS: FILE has N lines matching PATTERN
wait_lines() {
	local i

	for ((i = 0; i < $4 * 10; i++)); do
		[ "$(grep -c "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
		sleep 0.1
	done
	return 1
}

# pid_state PID: the state letter in /proc/PID/stat
pid_state() {
	sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null
}

# stopped_state PID: the state letter once it is T or t, within 10 s. A
# task let go by its tracer with SIGSTOP pending runs in the kernel for a
# moment before it stops.
stopped_state() {
	local i st

	for ((i = 0; i < 100; i++)); do
		st=$(pid_state "$1")
		[[ $st == [Tt] ]] && break
		sleep 0.1
	done
	echo "$st"
}

# start KIND SEED MIB [ARGS]: a running target in a session of its own
# (criu dumps and restores it with the files it has open), $tpid once it is
# set up. KIND "self": tests/criu-target, which checks its own pages on
# SIGUSR1; "python": tests/py-target.py, CPython writing a buffer and its
# own heap, which checks the buffer on SIGUSR1; "churn": tests/dump-target
# (threads, mremap, munmap, new mappings, DONTNEED, THP, all the time).
start() {
	local kind=$1 seed=$2 mib=$3 dir=$work/s$2

	shift 3
	mkdir -p "$dir"
	if [ "$kind" = self ]; then
		setsid "$target" -s "$seed" -m "$mib" -f "$work/file" -o "$dir/verify" "$@" \
			< /dev/null > "$dir/target.out" 2>&1 &
	elif [ "$kind" = python ]; then
		setsid /usr/bin/python3 "$here/py-target.py" "$seed" "$mib" "$dir/verify" \
			< /dev/null > "$dir/target.out" 2>&1 &
	else
		setsid "$dump_target" -s "$seed" -m "$mib" -f "$work/file" "$@" \
			< /dev/null > "$dir/target.out" 2>&1 &
	fi
	tpid=$!
	pids+=("$tpid")
	wait_for "$dir/target.out" ready 60
}

# criu_dump T DIR: criu dump of $tpid's tree into DIR/final on top of
# vmtrack's DIR/pre/last, left stopped; one check
criu_dump() {
	local rc

	mkdir -p "$2/final"
	criu dump -t "$tpid" -D "$2/final" --prev-images-dir "$2/pre/last" \
		--track-mem --leave-stopped -v4 -o dump.log > /dev/null 2>&1
	rc=$?
	check "$1: criu dump --prev-images-dir PRE/last --track-mem exits 0 (got $rc)" \
		[ $rc = 0 ]
	[ $rc = 0 ] && return 0
	grep -E "Error|Warn" "$2/final/dump.log" | tail -15 | sed 's/^/# /'
	maps_of_missing "$tpid" "$2/final/dump.log"
	return 1
}

# criu_restore T DIR: criu restore of DIR/final, left stopped; one check
criu_restore() {
	local rc

	criu restore -D "$2/final" -d --leave-stopped -v4 -o restore.log > /dev/null 2>&1
	rc=$?
	check "$1: criu restore exits 0 (got $rc)" [ $rc = 0 ]
	[ $rc = 0 ] && return 0
	grep -E "Error|Warn" "$2/final/restore.log" | tail -15 | sed 's/^/# /'
	return 1
}

# one_seed MODE KIND SEED [TARGET-ARGS]: MODE "stopped": vmtrack leaves the
# target stopped and criu copies (almost) nothing again; "running": the
# target runs on after vmtrack's last copy, and what it changes meanwhile
# must be in criu's own pages
one_seed() {
	local mode=$1 kind=$2 seed=$3 dir=$work/s$3 rc parent_pages own restored
	local t="$2 seed $3, $1" stop=(--leave-stopped)

	shift 3
	[ "$mode" = running ] && stop=()
	if ! start "$kind" "$seed" 16 "$@"; then
		nok "$t: the target starts"
		return
	fi
	# 1. pre-copy, running
	"$vmtrack" dump -p "$tpid" -D "$dir/pre" "${stop[@]}" --track-mem \
		> "$dir/vmtrack.out" 2>&1
	rc=$?
	check "$t: vmtrack dump ${stop[*]} --track-mem exits 0 (got $rc)" [ $rc = 0 ]
	if [ $rc != 0 ]; then
		sed 's/^/# /' "$dir/vmtrack.out"
		return
	fi
	info "$(tail -1 "$dir/vmtrack.out")"
	if [ "$mode" = stopped ]; then
		restored=$(stopped_state "$tpid")
		check "$t: the target is left stopped ($restored)" [ "$restored" = T ]
		# 2. vmtrack's chain is the stopped target's memory
		"$check" -p "$tpid" -D "$dir/pre/last" > "$dir/check-pre" 2>&1
		check "$t: vmtrack's chain holds the stopped target's memory: $(cat "$dir/check-pre")" \
			[ $? = 0 ]
	else
		sleep 1
	fi
	# 3. criu dump on top of it
	criu_dump "$t" "$dir" || return
	read -r parent_pages own <<< "$(pagemap_counts "$dir/final/pagemap-$tpid.img")"
	info "criu wrote ${own:-?} private pages itself, ${parent_pages:-?} are holes into vmtrack's images"
	if [ "$mode" = stopped ]; then
		check "$t: criu takes the pages from vmtrack's images (${parent_pages:-0} in parent, ${own:-?} copied again)" \
			[ "${parent_pages:-0}" -gt 1024 -a "${own:-99999}" -lt 64 ]
	else
		check "$t: criu copies what changed after vmtrack's last copy (${own:-0} pages) and takes the rest (${parent_pages:-0}) from vmtrack's images" \
			[ "${parent_pages:-0}" -gt 0 -a "${own:-0}" -gt 0 ]
	fi
	# 4. the whole chain is the stopped target's memory
	"$check" -p "$tpid" -D "$dir/final" > "$dir/check-final" 2>&1
	check "$t: criu's chain (through vmtrack's) holds the memory: $(cat "$dir/check-final")" \
		[ $? = 0 ]
	# 5. restore, stopped
	kill -9 "$tpid"
	wait "$tpid" 2> /dev/null
	criu_restore "$t" "$dir" || return
	restored=$(stopped_state "$tpid")
	check "$t: pid $tpid is back, stopped ($restored)" [ "$restored" = T -o "$restored" = t ]
	"$check" -p "$tpid" -D "$dir/final" > "$dir/check-restored" 2>&1
	check "$t: the restored memory is the frozen memory: $(cat "$dir/check-restored")" \
		[ $? = 0 ]
	kill -CONT "$tpid"
	if [ "$kind" != churn ]; then
		# 6. the target checks itself and goes on
		kill -USR1 "$tpid"
		wait_for "$dir/verify" "verified\|MISMATCH" 120
		check "$t: the restored target finds every page as its table says: $(tail -1 "$dir/verify" 2>/dev/null)" \
			grep -q "^verified" "$dir/verify"
		kill -USR1 "$tpid"
		# a second check of the whole table: seconds for the Python target
		wait_lines "$dir/verify" "^verified\|MISMATCH" 2 120
		check "$t: and carries on writing ($(grep -c verified "$dir/verify") checks passed)" \
			[ "$(grep -c '^verified' "$dir/verify")" -ge 2 ]
	else
		sleep 1
		restored=$(pid_state "$tpid")
		check "$t: the restored target carries on (${restored:-gone})" \
			[ -n "$restored" -a "$restored" != Z ]
	fi
	kill -9 "$tpid" 2> /dev/null
	wait "$tpid" 2> /dev/null
}

# A process tree (criu-target -F: a parent and a child, both writing): vmtrack
# dump pre-copies the parent, criu dump takes the tree, the parent's pages
# as holes into vmtrack's chain and the child's whole, as it finds no image
# of it there; both come back with the memory they had and check it.
tree_seed() {
	local seed=$1 dir=$work/s$1 rc child p parent_pages own restored
	local t="tree seed $1, stopped"

	if ! start self "$seed" 8 -F; then
		nok "$t: the target starts"
		return
	fi
	child=$(sed -n 's/^child //p' "$dir/target.out")
	pids+=("$child")
	"$vmtrack" dump -p "$tpid" -D "$dir/pre" --leave-stopped --track-mem \
		> "$dir/vmtrack.out" 2>&1
	rc=$?
	check "$t: vmtrack dump of the parent exits 0 (got $rc)" [ $rc = 0 ]
	[ $rc = 0 ] || { sed 's/^/# /' "$dir/vmtrack.out"; return; }
	criu_dump "$t" "$dir" || return
	read -r parent_pages own <<< "$(pagemap_counts "$dir/final/pagemap-$tpid.img")"
	check "$t: criu takes the parent's pages from vmtrack's images (${parent_pages:-0} in parent, ${own:-?} copied again)" \
		[ "${parent_pages:-0}" -gt 1024 -a "${own:-99999}" -lt 64 ]
	read -r parent_pages own <<< "$(pagemap_counts "$dir/final/pagemap-$child.img")"
	check "$t: criu copies the child whole (${own:-0} pages, ${parent_pages:-?} in parent)" \
		[ "${parent_pages:-1}" = 0 -a "${own:-0}" -gt 1024 ]
	for p in "$tpid" "$child"; do
		"$check" -p "$p" -D "$dir/final" > "$dir/check-$p" 2>&1
		check "$t: the chain holds the memory of pid $p: $(cat "$dir/check-$p")" [ $? = 0 ]
	done
	kill -9 "$tpid" "$child"
	wait "$tpid" 2> /dev/null
	# the child is init's to reap once its parent is gone; its pid must be free
	for _ in $(seq 100); do
		[ -e "/proc/$child" ] || break
		sleep 0.1
	done
	criu_restore "$t" "$dir" || return
	for p in "$tpid" "$child"; do
		restored=$(stopped_state "$p")
		check "$t: pid $p is back, stopped ($restored)" [ "$restored" = T -o "$restored" = t ]
		"$check" -p "$p" -D "$dir/final" > "$dir/check-restored-$p" 2>&1
		check "$t: pid $p's restored memory is its frozen memory: $(cat "$dir/check-restored-$p")" \
			[ $? = 0 ]
	done
	kill -CONT "$tpid" "$child"
	kill -USR1 "$tpid" "$child"
	for p in parent:verify child:verify.child; do
		wait_for "$dir/${p#*:}" "verified\|MISMATCH" 120
		check "$t: the restored ${p%%:*} finds every page as its table says: $(tail -1 "$dir/${p#*:}" 2>/dev/null)" \
			grep -q "^verified" "$dir/${p#*:}"
	done
	kill -9 "$tpid" "$child" 2> /dev/null
	wait "$tpid" 2> /dev/null
}

# A chain without one of the target's pages: criu must refuse to dump
# rather than leave that page to a parent that does not have it.
uncovered_page() {
	local dir rc img why

	if ! start self 99 4; then
		nok "uncovered page: the target starts"
		return
	fi
	dir=$work/s99
	if ! "$vmtrack" dump -p "$tpid" -D "$dir/pre" --leave-stopped --track-mem \
		> "$dir/vmtrack.out" 2>&1; then
		nok "uncovered page: vmtrack dump"
		return
	fi
	# every iteration loses its first entry
	for img in "$dir"/pre/[0-9]*/pagemap-*.img; do
		crit decode -i "$img" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
d["entries"] = d["entries"][:1] + d["entries"][2:]
json.dump(d, sys.stdout)' > "$img.json" &&
		crit encode -i "$img.json" -o "$img" 2>/dev/null
	done
	mkdir -p "$dir/final"
	criu dump -t "$tpid" -D "$dir/final" --prev-images-dir "$dir/pre/last" \
		--track-mem -v4 -o dump.log > /dev/null 2>&1
	rc=$?
	why=$(grep -m1 -o 'Missing .* in parent.*' "$dir/final/dump.log")
	check "uncovered page: criu dump fails (got $rc) on the hole: ${why:-no such error}" \
		[ $rc != 0 -a -n "$why" ]
	kill -9 "$tpid" 2> /dev/null
	wait "$tpid" 2> /dev/null
}

for s in $seeds; do
	one_seed stopped self "$s"
done
# shared anonymous memory: CRIU dumps it itself (vmtrack cannot watch it)
one_seed stopped self 50 -S
# threads, mremap, munmap, new mappings and THP between iterations
for s in $churn_seeds; do
	one_seed stopped churn "$s" -T 3 -u 300
done
# a real program: the interpreter's heap and arenas change under the copy
one_seed stopped python 80
# a parent and a child
tree_seed 90
# the target runs on after vmtrack's last copy
one_seed running self 60
one_seed running churn 61 -T 2 -u 300
one_seed running python 81
uncovered_page
echo "1..$n"
tap_end
