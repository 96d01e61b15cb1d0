#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Guest side: run every test program given (or every executable in a
# directory), prefix each TAP result with the program's name, and report a
# program that crashed or failed without a "not ok" line as a failure.
#   run-tap.sh DIR|PROGRAM... [-- ARGS]
set -u
progs=()
for a; do
	if [ -d "$a" ]; then
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
	(cd "$(dirname "$p")" && timeout -k 5 "${VMTRACK_TEST_TIMEOUT:-600}" "./$name") > "$out" 2>&1
	rc=$?
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
