#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Guest side: run every test program given (or every executable in a
# directory), prefix each TAP result with the program's name, and report a
# program that crashed or failed without a "not ok" line as a failure.
#   run-tap.sh DIR|PROGRAM... [-- ARGS]
set -u
progs=()
args=()
while [ $# -gt 0 ]; do
	a=$1
	shift
	if [ "$a" = -- ]; then
		args=("$@")	# for every program
		break
	elif [ -d "$a" ]; then
		for f in "$a"/*; do
			[ -f "$f" ] && [ -x "$f" ] && [[ $f != *.sh ]] && progs+=("$f")
		done
	else
		progs+=("$a")
	fi
done
rc_all=0
for p in "${progs[@]}"; do
	name=${p##*/}
	echo "# running $name"
	out=$(mktemp)
	# Run in a writable scratch directory: some tests create files in ".".
	work=$(mktemp -d)
	(cd "$work" && timeout -k 5 "${VMTRACK_TEST_TIMEOUT:-600}" "$p" "${args[@]}") > "$out" 2>&1
	rc=$?
	rm -rf "$work"
	# uffd-unit-tests reports "Testing NAME... done|skipped [...]|failed".
	if ! grep -qE '^(not )?ok ' "$out" && grep -qE '^Testing .*\.\.\. ' "$out"; then
		awk '/^Testing .*\.\.\. / {
			n++; name = $0; sub(/^Testing /, "", name); sub(/\.\.\. .*/, "", name)
			if ($0 ~ /\.\.\. done/) print "ok " n " " name
			else if ($0 ~ /\.\.\. skipped/) print "ok " n " " name " # SKIP"
			else print "not ok " n " " name
		}' "$out" > "$out.tap"
		cat "$out.tap" >> "$out"
		rm -f "$out.tap"
	fi
	sed -E "s/^(not ok|ok) ([0-9]+) /\1 \2 $name: /; t; s/^/# /" "$out"
	# 0 = pass, 4 = skip (kselftest); anything else needs a "not ok" line.
	if [ $rc != 0 ] && [ $rc != 4 ] && ! grep -q '^not ok ' "$out"; then
		echo "not ok - $name: exited with status $rc"
		rc_all=1
	elif ! grep -qE '^(not )?ok ' "$out"; then
		echo "not ok - $name: printed no TAP result (exit $rc)"
		rc_all=1
	fi
	grep -q '^not ok ' "$out" && rc_all=1
	rm -f "$out"
done
exit $rc_all
