#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make bench's epoch sweep, small, in the test VM (tests/run.sh): every
# mechanism, the benchmark tracking itself (sections 1a-1d), a target in
# another process (section 1e) and epochs after a pause (section 1f), must
# be available on the kernel under test
# and report every page written in every epoch, as make bench requires of
# the epochs it measures. The timings are not looked at, only how the
# vmtrack consumers' epochs are split (section 5): their calls timed, and
# within the epoch.
#
#   bench/smoke.sh VMBENCH
#
# Prints TAP.

set -u
bin=${1:?usage: smoke.sh VMBENCH}
mechs="soft-dirty uffd-wp wp-async+scan vmtrack vmtrack-batch vmtrack-raw"
# 2 points of 2 measured epochs each
want_epochs=4
n=0
failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

ok()  { n=$((n + 1)); echo "ok $n - bench $*"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - bench $*"; }

# as bench/guest.sh: the sync uffd-wp writer and monitor on one CPU
export VMBENCH_UFFD_PIN=1

# tally MECH: "EPOCHS MISSED UNSPLIT" over the measured epochs of MECH in
# $out; UNSPLIT: epochs whose split into re-arm, other calls and user space
# (section 5) is missing or adds up to more than the epoch, for the vmtrack
# consumers; for the peers, epochs split although their calls are not timed
tally() {
	python3 - "$out" "$1" <<'EOF'
import json, sys

epochs = missed = unsplit = 0
vmtrack = sys.argv[2].startswith("vmtrack")
for line in open(sys.argv[1]):
    if not line.startswith("@@BENCH "):
        continue
    r = json.loads(line[8:])
    if r.get("kind") == "epoch" and r["mech"] == sys.argv[2] and not r["warmup"]:
        epochs += 1
        missed += r["missed"]
        if vmtrack:
            unsplit += ("other_sys_ns" not in r or
                        r["rearm_ns"] + r["other_sys_ns"] > r["epoch_ns"])
        else:
            unsplit += "other_sys_ns" in r
print(epochs, missed, unsplit)
EOF
}

for mode in self remote pause; do
	args=()
	[ $mode = remote ] && args=(--remote)
	[ $mode = pause ] && args=(--pause-ms 20)
	"$bin" epoch "${args[@]}" --tag "smoke-$mode" --size 16 --dirty 1%,10% \
		--epochs 2 --warmup 1 --lockstep-max-mib 16 > "$out" 2> /dev/null
	res=$?
	bad=$(grep -E '"kind":"(unavailable|error)"' "$out" | cut -c1-200 | tr '\n' ' ')
	if [ $res = 0 ] && [ -z "$bad" ]; then
		ok "$mode: vmbench epoch ran every mechanism"
	else
		nok "$mode: vmbench epoch exited $res: $bad"
	fi
	for m in $mechs; do
		read -r epochs missed unsplit <<< "$(tally "$m")"
		if [ "$epochs" = $want_epochs ] && [ "$missed" = 0 ]; then
			ok "$mode: $m: $epochs epochs, every written page reported"
		else
			nok "$mode: $m: $epochs epochs (want $want_epochs), $missed written pages missed"
		fi
		case $m in
		vmtrack*) split="re-arm and other calls timed, within the epoch" ;;
		*) split="calls not timed (section 5 splits only vmtrack's epochs)" ;;
		esac
		if [ "$unsplit" = 0 ]; then
			ok "$mode: $m: $split"
		else
			nok "$mode: $m: $unsplit epochs not so: $split"
		fi
	done
done
echo "# $((n - failed)) passed, $failed failed"
[ $failed = 0 ]
