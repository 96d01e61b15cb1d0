#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bench/micro/run.sh [BZIMAGE]: the micro-benchmarks behind the figures
# "measured apart" in bench/README.md (Findings), in one VM run on the
# kernel under test (default: scripts/kernel-image.sh series). Prints every
# repetition, then per case the minimum and the median (TCG on a shared
# host: the minima are the steadier figure).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
kernel=${1:-$("$root/scripts/kernel-image.sh" series)}
out=$here/.build
mkdir -p "$out"
for p in first-write rearm stall; do
	${CC:-cc} -O2 -Wall -o "$out/$p" "$here/$p.c" -lpthread
done
# A host thread per vCPU, as the benchmark's VMs: stall's writer and the
# re-arm it measures must run at once, not in turns of one host thread.
VMTRACK_TCG=multi "$root/vm/run" -k "$kernel" -c 2 -m 2048 -t 1800 -o "$out/guest.out" -- \
	env MICRO_BIN="$out" ${MICRO_ROUNDS:+MICRO_ROUNDS=$MICRO_ROUNDS} "$here/guest.sh" \
	> "$out/console" 2>&1 || { tail -20 "$out/console"; exit 1; }
grep -E '^(soft-dirty|watch|rearm|stall)' "$out/guest.out"
awk '
/ns\/write:/ { for (i = 3; i <= NF; i++) v[$1] = v[$1] " " $i }
/^rearm / { k = substr($0, 7, index($0, ": ms") - 7); r[k] = r[k] " " $(NF - 2) }
/^stall .*: re-arm ms median / {
	k = $4 " ranges, " $6; sub(/:$/, "", k)
	sr[k] = sr[k] " " ($10 + 0); sw[k] = sw[k] " " $15
}
function stats(s,   n, a, i, j, t) {
	n = split(s, a, " ")
	for (i = 1; i <= n; i++)
		for (j = i + 1; j <= n; j++)
			if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
	return sprintf("min %s median %s (%d runs)", a[1], a[int((n + 1) / 2)], n)
}
END {
	for (k in v) printf "first write, %s: ns %s\n", k, stats(v[k])
	for (k in r) printf "re-arm %s: median ms of each run: %s\n", k, stats(r[k])
	for (k in sr) printf "stall %s: re-arm ms %s; the writer'"'"'s longest write ms %s\n",
		k, stats(sr[k]), stats(sw[k])
}' "$out/guest.out" | sort
