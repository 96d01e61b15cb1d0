#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Guest side, on a kernel without the feature: the suite given must skip
# every test (feature absent), neither pass nor fail.
set -u
out=$(mktemp)
"$@" > "$out" 2>&1
total=$(grep -cE '^(not )?ok ' "$out")
skips=$(grep -E '^ok ' "$out" | grep -ciE '# *skip')
sed 's/^/# /' "$out"
if [ "$total" -gt 0 ] && [ "$total" = "$skips" ]; then
	echo "ok 1 all $total tests skip on a kernel without MADV_WATCH"
else
	echo "not ok 1 without MADV_WATCH $((total - skips)) of $total tests did not skip"
	exit 1
fi
