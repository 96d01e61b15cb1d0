#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Bad input to vmtrack dump (part of "make check"; no root, no tracefs): each
# is refused before anything is touched, with exit status 1, one line on
# stderr that names the problem, and no directory left behind; a refused
# vmtrack dump -- COMMAND never runs COMMAND. And vmtrack report's bad
# journal file names, options that conflict, and its output on a full
# device; the options watch and run refuse, named as given.
#
#   tests/cli.sh VMTRACK WORKDIR
#
# Prints TAP and "N passed, N failed".

set -u
vmtrack=${1:?VMTRACK}
work=${2:?WORKDIR}

passed=0
failed=0
n=0
ok()  { n=$((n + 1)); passed=$((passed + 1)); echo "ok $n - cli: $*"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - cli: $*"; }

rm -rf "$work"
mkdir -p "$work"

# refused WANT ARGS...: vmtrack dump ARGS fails as above, saying WANT
refused() {
	local want=$1 out res

	shift
	out=$("$vmtrack" dump "$@" 2>&1 > /dev/null)
	res=$?
	if [ $res = 1 ] && [ "$(echo "$out" | wc -l)" = 1 ] && [[ $out == *"$want"* ]] &&
	   [ ! -e "$work/d" ]; then
		ok "dump $*: $out"
	else
		nok "dump $*: exit $res, want '$want': $out; left: $(ls -A "$work")"
	fi
}

d=$work/d
refused "give -D DIR, -P HOST:PORT, or both" -p 1
refused "give either -p PID or -- COMMAND" -D "$d"
refused "invalid pid '0'" -p 0 -D "$d"
refused "invalid pid 'abc'" -p abc -D "$d"
refused "invalid number of iterations '0' (want 1 to 1000)" -p 1 -D "$d" -n 0
refused "invalid number of iterations '-3'" -p 1 -D "$d" -n -3
refused "invalid threshold 'x'" -p 1 -D "$d" -t x
refused "invalid downtime '3600001' (want 0 to 3600000 ms)" -p 1 -D "$d" -T 3600001
refused "invalid copy buffer size '0' (want 4 to 1048576 KiB)" -p 1 -D "$d" \
	--copy-buffer-kb 0
refused "invalid buffer size '2' (want 4 to 4194304 KiB)" -p 1 -D "$d" -b 2
refused "invalid --throttle '10' (want 20 to 99 %)" -p 1 -D "$d" --throttle=10
refused "invalid page server header size '28' (want 24 or 32)" -p 1 -P 127.0.0.1:1 -H 28
refused "-H is the page server's request size: it needs -P HOST:PORT" -p 1 -D "$d" -H 32
refused "invalid page server timeout '-1' (want 0 to 86400 s)" -p 1 -P 127.0.0.1:1 \
	--ps-timeout -1
refused "--ps-timeout limits the waits for a page server: it needs -P HOST:PORT" -p 1 \
	-D "$d" --ps-timeout 5
refused "expected HOST:PORT" -p 1 -P localhost
refused "--track-mem hands DIR/last to criu dump" -p 1 -P 127.0.0.1:1 --track-mem
refused "--journal-ranges needs --journal FILE" -p 1 -D "$d" --journal-ranges
refused "unknown option '--bogus'" -p 1 -D "$d" --bogus
refused "unknown option '-z'" -Sz -p 1 -D "$d"
refused "option '--json' takes no value" --json=1 -p 1 -D "$d"
refused "option '-p' needs a value" -D "$d" -p
refused "option '--pid' needs a value" -D "$d" --pid
refused "empty directory name" -p 1 -D ""
refused "empty journal file name" -p 1 -D "$d" --journal ""
refused "pid 2147483647: no such process" -p 2147483647 -D "$d"

# wait_for FILE GLOB: up to 10 s until FILE's first line matches GLOB
wait_for() {
	local i line

	for i in $(seq 200); do
		line=$(head -1 "$1" 2> /dev/null)
		# shellcheck disable=SC2053 # GLOB is a pattern
		[[ $line == $2 ]] && return 0
		sleep 0.05
	done
	return 1
}

# Targets without memory of their own, each with its reason, not as
# sharing their memory with one another (kcmp(KCMP_VM) finds them equal).
# Kernel threads are visible unless the test runs in a pid namespace.
if [ "$(cat /proc/2/comm 2> /dev/null)" = kthreadd ]; then
	refused "pid 2 (kthreadd) is a kernel thread" -p 2 -D "$d"
fi
# a zombie: it exits after its parent exec'd a program that never reaps it
sh -c 'sleep 1 & echo $! > "$1"; exec sleep 60' sh "$work/zpid" &
zparent=$!
if wait_for "$work/zpid" "[0-9]*" && zpid=$(cat "$work/zpid") &&
   wait_for "/proc/$zpid/stat" "*) Z *"; then
	refused "pid $zpid (sleep) is a zombie" -p "$zpid" -D "$d"
else
	nok "dump -p ZOMBIE: no zombie"
fi
kill $zparent
if command -v python3 > /dev/null; then
	python3 -c 'import sys, threading, time
def f():
	open(sys.argv[1], "w").write("%d\n" % threading.get_native_id())
	time.sleep(60)
threading.Thread(target=f, daemon=True).start()
time.sleep(60)' "$work/tid" &
	tpid=$!
	if wait_for "$work/tid" "[0-9]*"; then
		refused "is a thread of process $tpid" \
			-p "$(cat "$work/tid")" -D "$d"
	else
		nok "dump -p TID: no thread"
	fi
	kill $tpid
fi
# vmtrack report's journal file: exit 1, one line saying WANT
report_refused() {
	local want=$1 out res

	shift
	out=$("$vmtrack" report "$@" 2>&1 > /dev/null)
	res=$?
	if [ $res = 1 ] && [ "$(echo "$out" | wc -l)" = 1 ] && [[ $out == *"$want"* ]]; then
		ok "report $*: $out"
	else
		nok "report $*: exit $res, want '$want': $out"
	fi
}
report_refused "missing journal file"
report_refused "empty journal file name" ""
report_refused "one journal file at a time" "$work/a" "$work/b"
report_refused "$work/none: No such file or directory" "$work/none"
report_refused "option '--plot' needs a value" --plot
report_refused "unknown option '-z'" -jz "$work/none"
report_refused "option '--json' takes no value" --json=yes "$work/none"
# options that choose what is printed are not ignored with one that prints another
journal=$(dirname "$0")/journal-v1.bin
report_refused "--plot draws the epochs, it prints no lines: not with --json" \
	-p "$work/p.svg" -j "$journal"
report_refused "--plot draws the epochs, it prints no lines: not with --dirty" \
	-d -p "$work/p.svg" "$journal"
report_refused "--plot draws the epochs, it prints no lines: not with --raw" \
	-p "$work/p.svg" -r "$journal"
report_refused "--raw prints the records as they are: not with --json" -r -j "$journal"
report_refused "--raw prints the records as they are: not with --dirty" -r -d "$journal"
report_refused "empty plot file name" -p "" "$journal"
[ -e "$work/p.svg" ] && nok "report: a refused --plot wrote $work/p.svg"

# watch and run: an option refused is named as it was given
usage_refused() {
	local want=$1 out res

	shift
	out=$("$vmtrack" "$@" 2>&1 > /dev/null)
	res=$?
	if [ $res = 1 ] && [ "$(echo "$out" | wc -l)" = 1 ] && [[ $out == *"$want"* ]]; then
		ok "$*: $out"
	else
		nok "$*: exit $res, want '$want': $out"
	fi
}
usage_refused "option '-p' is not valid for run" run -p 1 -- true
usage_refused "option '-r' is not valid for run" run -r 1000-2000 -- true
usage_refused "option '-s' is not valid for watch" watch -sq -p 1
usage_refused "option '--json' takes no value" watch -p 1 --json=x
usage_refused "option '--pid' needs a value" watch --pid

# vmtrack report whose output cannot be written: exit 1, one line saying WANT
report_full() {
	local want=$1 out res

	shift
	out=$("$vmtrack" report "$@" 2>&1 > /dev/full)
	res=$?
	if [ $res = 1 ] && [ "$(echo "$out" | wc -l)" = 1 ] && [[ $out == *"$want"* ]]; then
		ok "report $* > /dev/full: $out"
	else
		nok "report $* > /dev/full: exit $res, want '$want': $out"
	fi
}
for args in "" -j -d -r; do
	# shellcheck disable=SC2086 # no option is one word
	report_full "writing standard output: No space left on device" $args "$journal"
done
report_full "/dev/full: No space left on device" -p /dev/full "$journal"

mkdir -p "$work/full" && touch "$work/full/x"
sleep 60 &
refused "directory not empty" -p $! -D "$work/full"
kill $!

# A refused dump never runs its command. The directory is checked before
# the command is started: a command that cannot be started is not what
# the error is about.
refused "directory not empty" -D "$work/full" -- /nonexistent/command
ran=$work/ran
for i in 1 2 3 4 5; do
	refused "directory not empty" -D "$work/full" -- sh -c "touch $ran"
	[ -e "$ran" ] && nok "dump -D $work/full -- COMMAND: the command ran (try $i)"
done

# A dump whose session cannot start (no tracefs, no mm_watch events, or not
# root: it runs as nobody where the test runs as root) kills its command
# before it lets it go. The error line goes to a pipe that is read a second
# later, kept full meanwhile: a dump that let the command go before it
# printed the error would give it that second.
open=$work/open
mkdir -p "$open" && chmod 777 "$open"
as_user=()
[ "$(id -u)" = 0 ] && command -v setpriv > /dev/null &&
	as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
for i in 1 2 3; do
	out=$({ head -c 1048576 /dev/zero &
		"${as_user[@]}" "$vmtrack" dump -D "$open/d" -- sh -c "touch $open/ran" \
			2>&1 > /dev/null
		echo "exit $?"
		wait; } | { sleep 1; tr -d '\0'; })
	res=${out##*exit }
	out=${out%$'\n'exit*}
	if [ "$res" = 1 ] && [ "$(echo "$out" | wc -l)" = 1 ] && [ ! -e "$open/ran" ] &&
	   [ ! -e "$open/d" ]; then
		ok "dump -- COMMAND, no session: the command never ran (try $i: $out)"
	else
		nok "dump -- COMMAND, no session: exit $res, $out; left: $(ls -A "$open")"
	fi
	rm -f "$open/ran"
done

echo "1..$n"
echo "$passed passed, $failed failed"
[ $failed = 0 ]
