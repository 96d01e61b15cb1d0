#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The kernel side's workflow. kernel-patches/ is the one source of truth;
# the top-level mm/, include/, Documentation/ and selftests/ files are the
# files the series adds, mirrored for reading and checked by "sync".
#
#   apply     git am kernel-patches/ onto the pristine baseline; prints the
#             resulting commit (the series' tip) on stdout
#   check     checkpatch --strict and a build of every patch (cached per tree)
#   w1        no new W=1 or sparse warnings in the C files the series touches
#   configs   the tip built in configs the test kernels do not cover [BUILT]
#   sync      fail if the top-level mirror differs from what the series adds
#   dev       create or refresh the development worktree (branch vmtrack)
#   export    regenerate kernel-patches/ and the mirror from the dev branch
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PATCHES=$VMTRACK_ROOT/kernel-patches
AM_TREE=$VMTRACK_CACHE/linux-am
SERIES_TREE=${VMTRACK_SERIES_TREE:-$VMTRACK_CACHE/linux-series}
DEV_TREE=${VMTRACK_DEV_TREE:-$VMTRACK_CACHE/linux-dev}
STAMPS=$VMTRACK_CACHE/stamps
GIT_ID=(-c user.name="vmtrack" -c user.email="vmtrack@localhost")
# Top-level paths that are not part of the series: the man pages of
# tools/vmtrack, which is userspace maintained beside the series.
NOT_MIRRORED='^Documentation/tools/vmtrack/'
# Top-level directory -> path in the kernel tree.
mirror_to_kernel() {
	case $1 in
	selftests/*) echo "tools/testing/$1" ;;
	*) echo "$1" ;;
	esac
}
kernel_to_mirror() {
	case $1 in
	tools/testing/selftests/*) echo "${1#tools/testing/}" ;;
	mm/*|include/*|Documentation/*) echo "$1" ;;
	*) return 1 ;;
	esac
}

series_patches() {
	ls "$PATCHES"/[0-9][0-9][0-9][0-9]-*.patch 2>/dev/null | grep -v '/0000-' || true
}

ensure_worktree() {
	local dir=$1
	[ -e "$dir/.git" ] && return 0
	git -C "$KSRC" worktree prune
	git -C "$KSRC" worktree add -q --detach "$dir" baseline
}

cmd_apply() {
	"$VMTRACK_ROOT/scripts/kernel-baseline.sh"
	mapfile -t patches < <(series_patches)
	local id
	id=$(cat "${patches[@]}" /dev/null | sha1sum | cut -c1-40)
	if [ "$(cat "$STAMPS/applied-$id" 2>/dev/null)" != "" ] &&
	   git -C "$KSRC" cat-file -e "$(cat "$STAMPS/applied-$id")" 2>/dev/null; then
		cat "$STAMPS/applied-$id"
		return 0
	fi
	ensure_worktree "$AM_TREE"
	git -C "$AM_TREE" am --abort >/dev/null 2>&1 || true
	git -C "$AM_TREE" checkout -q -f --detach baseline
	local p
	for p in "${patches[@]}"; do
		if ! GIT_COMMITTER_DATE="1700000000 +0000" \
		     git "${GIT_ID[@]}" -C "$AM_TREE" am -q --keep-cr "$p" >&2; then
			git -C "$AM_TREE" am --abort >/dev/null 2>&1 || true
			die "FAIL: ${p##*/} does not apply to $(git -C "$KSRC" log -1 --format=%s baseline)"
		fi
	done
	mkdir -p "$STAMPS"
	git -C "$AM_TREE" rev-parse HEAD > "$STAMPS/applied-$id"
	git -C "$KSRC" tag -f vmtrack-series "$(cat "$STAMPS/applied-$id")" >/dev/null
	cat "$STAMPS/applied-$id"
}

# Move the build tree to a commit, touching only the files that differ so
# that make rebuilds only what changed.
checkout_series_tree() {
	ensure_worktree "$SERIES_TREE"
	git -C "$SERIES_TREE" checkout -q -f --detach "$1"
}

# Start the per-patch builds from the unpatched kernel's objects when the
# build tree is empty (a cold cache): both have the same config until a
# patch declares the feature, so the first patch compiles only the files
# it changes instead of the whole kernel. The copy's command lines and
# dependencies name $KSRC, the tree the unpatched kernel was built from:
# they are made to name $SERIES_TREE, which is put at the baseline with
# every file dated before the copied objects, so that kbuild finds them
# up to date and rebuilds what a checkout changes, as for any other tree.
seed_build_from_base() { # OUT
	local out=$1 base=$VMTRACK_CACHE/build-base when
	[ ! -f "$out/.config" ] && [ -f "$base/arch/x86/boot/bzImage" ] || return 0
	when=$(git -C "$KSRC" log -1 --format=%ct baseline)
	checkout_series_tree baseline
	git -C "$SERIES_TREE" ls-files -z |
		(cd "$SERIES_TREE" && xargs -0 touch -h -d "@$when")
	# The index must know the new dates, or checkout rewrites every file.
	git -C "$SERIES_TREE" update-index -q --refresh || true
	rm -rf "$out"
	cp -a "$base" "$out"
	grep -rlIZ -F "$KSRC" "$out" |
		xargs -0r sed -i -E "s#$KSRC([^-_A-Za-z0-9.]|\$)#$SERIES_TREE\1#g"
	ln -sfn "$SERIES_TREE" "$out/source"
	echo "# build tree seeded from the unpatched kernel's ($base)"
}

cmd_tree() {
	local tip
	tip=$(cmd_apply)
	checkout_series_tree "$tip"
	echo "$SERIES_TREE"
}

# Does commit $1 leave every kernel build input as its parent had it?
# (documentation, tools/ and MAINTAINERS only)
no_kernel_input_changed() {
	! git -C "$KSRC" diff --name-only "$1^" "$1" |
		grep -qvE '^(Documentation/|tools/|MAINTAINERS$)'
}

# Does the tree declare the options of Kconfig.snippet? Not before the
# patch that adds them: such a patch is built without them.
feature_declared() { # TREE
	local sym
	for sym in $(sed -n 's/^config //p' "$VMTRACK_ROOT/Kconfig.snippet"); do
		grep -rqx --include='Kconfig*' "config $sym" "$1" || return 1
	done
}

cmd_check() {
	local tip out=$VMTRACK_CACHE/build cfg fails=0 c n=0 subject tree prev_built=0
	tip=$(cmd_apply)
	cfg=$(cat "$VMTRACK_ROOT"/vm/kernel.config "$VMTRACK_ROOT/Kconfig.snippet" | sha1sum | cut -c1-12)
	seed_build_from_base "$out"
	# The baseline is a source release: no history for checkpatch to find
	# the commits that Fixes: tags name (UNKNOWN_COMMIT_ID).
	for c in $(git -C "$KSRC" rev-list --reverse baseline.."$tip"); do
		n=$((n + 1))
		subject=$(git -C "$KSRC" log -1 --format=%s "$c")
		tree=$(git -C "$KSRC" rev-parse "$c^{tree}")
		if git -C "$KSRC" format-patch -q --stdout -1 "$c" |
		   "$KSRC/scripts/checkpatch.pl" --strict --quiet --no-tree --no-signoff \
			--ignore FILE_PATH_CHANGES,UNKNOWN_COMMIT_ID - > "$STAMPS/checkpatch.log" 2>&1 &&
		   git -C "$KSRC" log -1 --format=%B "$c" | grep -q '^Signed-off-by: '; then
			echo "ok - checkpatch --strict: [$n] $subject"
		else
			echo "not ok - checkpatch --strict: [$n] $subject"
			sed 's/^/#   /' "$STAMPS/checkpatch.log"
			fails=$((fails + 1))
		fi
		if [ -f "$STAMPS/built-$tree-$cfg" ]; then
			echo "ok - builds: [$n] $subject (cached)"
			prev_built=1
			continue
		fi
		if [ $prev_built = 1 ] && no_kernel_input_changed "$c"; then
			# The kernel it builds is the one of patch n-1, which built.
			touch "$STAMPS/built-$tree-$cfg"
			echo "ok - builds: [$n] $subject (no kernel build input changed)"
			continue
		fi
		prev_built=0
		checkout_series_tree "$c"
		# vmlinux: a boot image adds up to 10 s a patch and nothing a
		# patch changes; the test kernel's is made from the tip.
		if "$VMTRACK_ROOT/scripts/kernel-build.sh" "$SERIES_TREE" "$out" --vmlinux \
			$(feature_declared "$SERIES_TREE" && echo --feature) \
			> "$STAMPS/build.log" 2>&1; then
			touch "$STAMPS/built-$tree-$cfg"
			prev_built=1
			echo "ok - builds: [$n] $subject"
		else
			echo "not ok - builds: [$n] $subject"
			tail -20 "$STAMPS/build.log" | sed 's/^/#   /'
			fails=$((fails + 1))
		fi
	done
	checkout_series_tree "$tip"
	return $((fails > 0))
}

# The configs a randconfig build would reach first, beyond the test
# kernel's (vm/kernel.config): the feature off, soft-dirty off, and a
# minimal kernel without most of what the series' code depends on.
# NAME|BUILD|WHAT|kernel-build.sh options. BUILD "vmlinux" links a kernel;
# "objects" compiles only the series' C files the test kernel builds (the
# files it adds only where the feature is on): a from-scratch build of the
# test config costs a cold run 5 minutes or more; the three take 2 in all.
CONFIGS=(
	"minimal|vmlinux|the smallest kernel with MEM_WATCH (no THP, swap, soft-dirty, userfaultfd, KSM, NUMA)|--minimal --config $VMTRACK_ROOT/vm/minimal.config --feature"
	"no-soft-dirty|objects|the test config without CONFIG_MEM_SOFT_DIRTY|--feature --config $VMTRACK_ROOT/vm/no-soft-dirty.config"
	"off|objects|the test config without MEM_WATCH|"
)

# The series' objects that the test kernel (built) has; without the files
# the series adds, which only its option builds, if FEATURE is 0.
series_objects() { # TIP BUILT FEATURE
	local f filter=AM
	[ "$3" = 1 ] || filter=M
	for f in $(git -C "$KSRC" diff --name-only --diff-filter="$filter" baseline "$1" -- '*.c'); do
		[ -f "$2/${f%.c}.o" ] && echo "${f%.c}.o"
	done
}

# Symbols that only the files the series adds define: an object of a
# kernel without the feature that needs one would not link.
feature_only_symbols() { # TIP BUILT
	local f
	for f in $(git -C "$KSRC" diff --name-only --diff-filter=A baseline "$1" -- '*.c'); do
		[ -f "$2/${f%.c}.o" ] && nm --defined-only "$2/${f%.c}.o" | awk '$2 ~ /[TDRB]/ { print $3 }'
	done
}

# build_config NAME BUILD OPTS TIP BUILT: 0 if it built, the log in $STAMPS
build_config() {
	local name=$1 kind=$2 opts=$3 tip=$4 built=$5 out=$VMTRACK_CACHE/build-config-$1 feature=0
	local log=$STAMPS/config-$1.log objs
	[[ " $opts " == *" --feature "* ]] && feature=1
	if [ "$kind" = vmlinux ]; then
		# shellcheck disable=SC2086 # opts: options, split on purpose
		"$VMTRACK_ROOT/scripts/kernel-build.sh" "$SERIES_TREE" "$out" --vmlinux $opts \
			> "$log" 2>&1
		return
	fi
	objs=$(series_objects "$tip" "$built" $feature | tr '\n' ' ')
	[ -n "$objs" ] || { echo "no object of the series in $built" > "$log"; return 1; }
	# shellcheck disable=SC2086
	"$VMTRACK_ROOT/scripts/kernel-build.sh" "$SERIES_TREE" "$out" --objects "$objs" $opts \
		> "$log" 2>&1 || return 1
	[ $feature = 1 ] && return 0
	# shellcheck disable=SC2046 # objs: one path each
	if nm -u $(for o in $objs; do echo "$out/$o"; done) |
	   grep -wF -f <(feature_only_symbols "$tip" "$built") > "$log.undef"; then
		{ echo "undefined without the feature (would not link):"; sort -u "$log.undef"; } >> "$log"
		return 1
	fi
}

# Each of CONFIGS from the series' tip, once per tree and fragments (a
# build dir each, so that ccache and make keep them warm). BUILT: a built
# tree of the tip with the feature (default: the test kernel's).
cmd_configs() {
	local tip tree spec name kind what opts key built=${1:-} fails=0
	tip=$(cmd_apply)
	if [ -z "$built" ]; then
		built=$("$VMTRACK_ROOT/scripts/kernel-image.sh" series)
		built=${built%/arch/x86/boot/bzImage}
	fi
	checkout_series_tree "$tip"
	tree=$(git -C "$KSRC" rev-parse "$tip^{tree}")
	for spec in "${CONFIGS[@]}"; do
		IFS='|' read -r name kind what opts <<< "$spec"
		key=$(cat "$VMTRACK_ROOT/vm/kernel.config" "$VMTRACK_ROOT/vm/minimal.config" \
			"$VMTRACK_ROOT/vm/no-soft-dirty.config" "$VMTRACK_ROOT/Kconfig.snippet" |
			{ cat; echo "$kind $opts"; } | sha1sum | cut -c1-12)
		what="$what ($kind)"
		if [ -f "$STAMPS/config-$name-$tree-$key" ]; then
			echo "ok - builds in config $name: $what (cached)"
			continue
		fi
		if ! build_config "$name" "$kind" "$opts" "$tip" "$built"; then
			echo "not ok - builds in config $name: $what"
			grep -E 'error|undefined|^[a-z_0-9]+$' "$STAMPS/config-$name.log" | head -20 |
				sed 's/^/#   /'
			tail -5 "$STAMPS/config-$name.log" | sed 's/^/#   /'
			fails=$((fails + 1))
		elif grep -F -f <(git -C "$KSRC" diff --name-only baseline "$tip" | sed 's|^|/|; s|$|:|') \
			"$STAMPS/config-$name.log" | grep -E ': warning:' > "$STAMPS/config-$name.warn"; then
			echo "not ok - builds in config $name without a warning in the series' files: $what"
			sed 's/^/#   /' "$STAMPS/config-$name.warn"
			# make would not compile those objects again: ccache replays
			# the warnings into the next run's log instead
			rm -rf "$VMTRACK_CACHE/build-config-$name"
			fails=$((fails + 1))
		else
			touch "$STAMPS/config-$name-$tree-$key"
			echo "ok - builds in config $name: $what"
		fi
	done
	return $((fails > 0))
}

# W=1 and sparse (C=1) warnings of the C files the series touches, as the
# kernel test robot reports them. Each side compiles them in a copy of its
# built tree: nothing else is rebuilt, and the trees the tests boot keep
# their objects.
w1_warnings() { # SRC BUILT OUT OBJS...
	local src=$1 built=$2 out=$3 o
	shift 3
	[ -f "$built/.config" ] || die "$built is not built"
	rm -rf "$out"
	cp -a "$built" "$out"
	# Compile the objects every time (ccache replays the compiler's
	# warnings; sparse checks each object it rebuilds).
	for o; do rm -f "$out/$o"; done
	# A build error is a failure; warnings are the result (none is fine).
	make -s -C "$src" O="$out" -j"$(nproc)" CC="ccache gcc" W=1 C=1 "$@" \
		> "$out/.vmtrack-w1.log" 2>&1 || { cat "$out/.vmtrack-w1.log" >&2; return 1; }
	{ grep -E 'warning:' "$out/.vmtrack-w1.log" || true; } |
		sed -E 's/:[0-9]+:[0-9]+:/:/; s#^.*/linux[^/]*/##' | sort -u
}

# w1 [SERIES-BUILD BASE-BUILD]: the built trees to compare (default: the
# test kernel's and the unpatched kernel's).
cmd_w1() {
	local built=${1:-$VMTRACK_CACHE/build} base_built=${2:-$VMTRACK_CACHE/build-base}
	local tip objs=() f
	tip=$(cmd_apply)
	checkout_series_tree "$tip"
	for f in $(git -C "$KSRC" diff --name-only baseline "$tip" -- '*.c'); do
		# Only objects the test config builds.
		[ -f "$built/${f%.c}.o" ] && objs+=("${f%.c}.o")
	done
	[ ${#objs[@]} -gt 0 ] || { echo "ok - W=1 and sparse: no C file to check # SKIP"; return 0; }
	w1_warnings "$KSRC" "$base_built" "$VMTRACK_CACHE/build-w1-base" \
		$(for o in "${objs[@]}"; do [ -f "$KSRC/${o%.o}.c" ] && echo "$o"; done) \
		> "$STAMPS/w1-base.txt"
	w1_warnings "$SERIES_TREE" "$built" "$VMTRACK_CACHE/build-w1" "${objs[@]}" \
		> "$STAMPS/w1-series.txt"
	if comm -13 "$STAMPS/w1-base.txt" "$STAMPS/w1-series.txt" | grep -q .; then
		echo "not ok - W=1 and sparse: new warnings in ${#objs[@]} files the series touches"
		comm -13 "$STAMPS/w1-base.txt" "$STAMPS/w1-series.txt" | sed 's/^/#   /'
		return 1
	fi
	echo "ok - W=1 and sparse: no new warnings in the ${#objs[@]} C files the series touches"
}

cmd_sync() {
	local tip f k fails=0
	tip=$(cmd_apply)
	declare -A added=()
	while IFS= read -r k; do
		f=$(kernel_to_mirror "$k") || {
			continue
		}
		added[$f]=1
		if [ ! -f "$VMTRACK_ROOT/$f" ]; then
			echo "not ok - sync: $f is added by the series but missing at top level"
			fails=$((fails + 1))
		elif ! git -C "$KSRC" show "$tip:$k" | cmp -s - "$VMTRACK_ROOT/$f"; then
			echo "not ok - sync: $f differs from the series ($k)"
			git -C "$KSRC" show "$tip:$k" | diff -u --label "series:$k" --label "$f" - \
				"$VMTRACK_ROOT/$f" | head -20 | sed 's/^/#   /'
			fails=$((fails + 1))
		fi
	done < <(git -C "$KSRC" diff --name-only --diff-filter=A baseline "$tip")
	while IFS= read -r f; do
		[ -n "${added[$f]:-}" ] && continue
		echo "not ok - sync: $f exists at top level but the series does not add it"
		fails=$((fails + 1))
	done < <(cd "$VMTRACK_ROOT" && git ls-files --cached --others --exclude-standard \
		mm include Documentation selftests 2>/dev/null | grep -Ev "$NOT_MIRRORED" | sort -u)
	# The Kconfig entry the series adds must be Kconfig.snippet, verbatim.
	if git -C "$KSRC" show "$tip:mm/Kconfig" | grep -qF -f <(head -1 "$VMTRACK_ROOT/Kconfig.snippet") &&
	   python3 - "$VMTRACK_ROOT/Kconfig.snippet" <(git -C "$KSRC" show "$tip:mm/Kconfig") <<'PY'
import sys
snippet = open(sys.argv[1]).read()
sys.exit(0 if snippet in open(sys.argv[2]).read() else 1)
PY
	then
		echo "ok - sync: Kconfig.snippet is in mm/Kconfig"
	else
		echo "not ok - sync: mm/Kconfig does not contain Kconfig.snippet verbatim"
		fails=$((fails + 1))
	fi
	[ $fails = 0 ] && echo "ok - sync: top-level files match kernel-patches/"
	return $((fails > 0))
}

cmd_dev() {
	"$VMTRACK_ROOT/scripts/kernel-baseline.sh"
	if [ -e "$DEV_TREE/.git" ]; then
		msg "$DEV_TREE exists (branch $(git -C "$DEV_TREE" branch --show-current)); not touched"
		return 0
	fi
	local tip
	tip=$(cmd_apply)
	git -C "$KSRC" worktree prune
	git -C "$KSRC" worktree add -q -B vmtrack "$DEV_TREE" "$tip"
	msg "development tree: $DEV_TREE (branch vmtrack = kernel-patches/ applied)"
}

cmd_export() {
	[ -e "$DEV_TREE/.git" ] || die "no development tree; run 'make kernel-dev' first"
	local tmp k f
	tmp=$(mktemp -d)
	git -C "$DEV_TREE" format-patch -q --cover-letter --base=baseline \
		--subject-prefix="PATCH" -o "$tmp" baseline..vmtrack
	# Keep the hand-written cover letter text; refresh its shortlog/diffstat.
	if [ -f "$PATCHES/cover-letter.txt" ]; then
		python3 "$VMTRACK_ROOT/scripts/cover-letter.py" "$PATCHES/cover-letter.txt" \
			"$tmp/0000-cover-letter.patch" "$VMTRACK_ROOT/bench/results/cover-performance.txt"
	fi
	rm -f "$PATCHES"/[0-9][0-9][0-9][0-9]-*.patch
	mkdir -p "$PATCHES"
	cp "$tmp"/*.patch "$PATCHES/"
	rm -rf "$tmp"
	# Refresh the mirror: exactly the files the series adds.
	(cd "$VMTRACK_ROOT" && git ls-files mm include Documentation selftests |
		grep -Ev "$NOT_MIRRORED" | xargs -r rm -f)
	while IFS= read -r k; do
		f=$(kernel_to_mirror "$k") || continue
		mkdir -p "$VMTRACK_ROOT/$(dirname "$f")"
		git -C "$DEV_TREE" show "vmtrack:$k" > "$VMTRACK_ROOT/$f"
	done < <(git -C "$DEV_TREE" diff --name-only --diff-filter=A baseline vmtrack)
	msg "exported $(series_patches | wc -l) patches to kernel-patches/ and refreshed the mirror"
}

case ${1:-} in
apply) cmd_apply ;;
tree) cmd_tree ;;
check) cmd_check ;;
w1) shift; cmd_w1 "$@" ;;
configs) shift; cmd_configs "$@" ;;
sync) cmd_sync ;;
dev) cmd_dev ;;
export) cmd_export ;;
*) echo "usage: ${0##*/} apply|tree|check|w1|configs|sync|dev|export" >&2; exit 2 ;;
esac
