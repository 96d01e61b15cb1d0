#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Compare the per-test results of two runs of the same guest suite (the
# unpatched kernel first, the patched one second): one TAP result per
# program, "not ok" when any of its test results differ.
set -u
base=$1 patched=$2
norm() { # "ok 3 prog: desc # SKIP x" -> "prog<TAB>status<TAB>desc"
	# Numbers in a test's description are often measurements ("Extra
	# pages 23"): they are masked. The runner's own verdicts ("not ok -
	# prog: exited with status N") keep theirs.
	sed -nE 's/^(not ok|ok) ([0-9-]+) ?([^:]+): (.*)$/\3\t\1\t\2\t\4/p' "$1" |
		awk -F'\t' -v OFS='\t' '{
			if ($3 != "-")
				gsub(/[0-9]+/, "N", $4)
			if ($2 == "ok" && $4 ~ /# *(SKIP|skip)/)
				$2 = "skip"
			sub(/[ \t]+$/, "", $4)
			print $1, $2, $4
		}' | sort
}
[ -s "$base" ] || { echo "not ok 1 no results from the unpatched kernel"; exit 1; }
[ -s "$patched" ] || { echo "not ok 1 no results from the patched kernel"; exit 1; }
n=0 rc=0
for prog in $(norm "$base" | cut -f1 | sort -u); do
	n=$((n + 1))
	a=$(norm "$base" | awk -F'\t' -v p="$prog" '$1 == p')
	b=$(norm "$patched" | awk -F'\t' -v p="$prog" '$1 == p')
	summary=$(echo "$b" | cut -f2 | sort | uniq -c | tr -s ' ' | paste -sd, -)
	if [ "$a" = "$b" ]; then
		echo "ok $n $prog: same results patched and unpatched ($summary)"
	else
		echo "not ok $n $prog: results differ (unpatched < > patched)"
		diff <(echo "$a") <(echo "$b") | sed 's/^/#   /' | head -20
		rc=1
	fi
done
exit $rc
