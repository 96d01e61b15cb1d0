# SPDX-License-Identifier: GPL-2.0-only
#
# Sourced by the guest tests (e2e.sh, running.sh, parallel.sh, criu.sh): TAP
# lines and their count, the cleanup of what a test started, the common
# preamble, and a run of tests/precopy as one test.

T=/sys/kernel/tracing

passed=0
failed=0
n=0
pids=()

ok()   { n=$((n + 1)); passed=$((passed + 1)); echo "ok $n - $*"; }
nok()  { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
info() { echo "# $*"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }

# no tracefs instance of a session left behind
no_instances() { ! compgen -G "$T/instances/vmtrack-*" > /dev/null; }

# kills what was added to $pids, removes $tmp
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${tmp:-}" ] && rm -rf "$tmp"
}
trap cleanup EXIT

# tap_begin NAME BINARY...: root, the mm_watch events (exit 4 to skip
# without them), the binaries built; makes $tmp
tap_begin() {
	local name=$1 b
	shift
	[ "$(id -u)" = 0 ] || { echo "# needs root"; exit 4; }
	mountpoint -q $T || mount -t tracefs nodev $T 2>/dev/null
	if [ ! -d $T/events/mm_watch ]; then
		echo "1..0 # SKIP kernel has no mm_watch events"
		exit 4
	fi
	for b in "$@"; do
		[ -x "$b" ] || { echo "# missing $b (run make -C tools/vmtrack)"; exit 1; }
	done
	tmp=$(mktemp -d /tmp/vmtrack-$name.XXXXXX)
	echo "TAP version 13"
}

# precopy NAME ARGS...: one check for a run of $PRECOPY, its failures and
# notes as comments; PRECOPY_TIMEOUT (default 900) seconds for the run. A NAME
# with "namespace" in it runs consumer and target in a child pid namespace.
precopy() {
	local name=$1 t0 rc ns=()
	shift
	[[ $name == *namespace* ]] && ns=(unshare -p -f --mount-proc)
	t0=$(date +%s)
	timeout -k 10 "${PRECOPY_TIMEOUT:-900}" "${ns[@]}" "$PRECOPY" "$@" > $tmp/pc 2>&1
	rc=$?
	grep -E '^(not ok|# )' $tmp/pc | grep -v '^# seed .* 0 differ, 0 unknown' | head -40
	# the seeds' lines only: -K adds a check of its own
	grep -cE '^ok [0-9]+ - precopy ' $tmp/pc | sed 's/^/# seeds passed: /'
	check "$name ($* : $(( $(date +%s) - t0 )) s)" [ $rc = 0 ]
}

# the last line; the exit status is the script's
tap_end() {
	echo "$passed passed, $failed failed"
	[ $failed = 0 ]
}
