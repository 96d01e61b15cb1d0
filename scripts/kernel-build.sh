#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build a test kernel: tinyconfig + vm/kernel.config [+ vm/debug.config]
# [+ Kconfig.snippet options] [+ FRAGMENT], out of tree, through ccache.
#
#   kernel-build.sh SRC OUT [--debug] [--feature] [--w1] [--vmlinux]
#                   [--minimal] [--config FRAGMENT] [--objects "A.o B.o"]
#
# --minimal leaves vm/kernel.config out; --config adds a fragment after the
# others, whose lines win; --objects compiles only those objects, which the
# config must enable (the kernel-series.sh configs check).
#
# Prints nothing but errors and the path of bzImage (with --vmlinux, of
# vmlinux: no boot image, for a build that only has to show it links; with
# --objects, of OUT) on success.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

src=$1 out=$2
shift 2
fragments=("$VMTRACK_ROOT/vm/kernel.config")
extra=()
make_args=()
feature=0
target=bzImage
while [ $# -gt 0 ]; do
	case $1 in
	--debug)   fragments+=("$VMTRACK_ROOT/vm/debug.config") ;;
	--feature) feature=1 ;;
	--w1)      make_args+=(W=1) ;;
	--vmlinux) target=vmlinux ;;
	--minimal) fragments=("${fragments[@]:1}") ;;
	--config)  [ $# -gt 1 ] || die "--config needs a file"
		   extra+=("$2"); shift ;;
	--objects) [ $# -gt 1 ] || die "--objects needs a list"
		   target=$2; shift ;;
	*) die "unknown option $1" ;;
	esac
	shift
done

mkdir -p "$out" "$CCACHE_DIR"
# Two builds in one directory corrupt each other: wait for the other one.
exec 9> "$out/.vmtrack-lock"
flock 9
if [ $feature = 1 ]; then
	# Every option Kconfig.snippet declares, enabled.
	sed -n 's/^config \(.*\)/CONFIG_\1=y/p' "$VMTRACK_ROOT/Kconfig.snippet" \
		> "$out/.vmtrack-feature.config"
	fragments+=("$out/.vmtrack-feature.config")
fi
fragments+=("${extra[@]}")
cfg_id=$(cat "${fragments[@]}" | sha1sum | cut -c1-16)

# Does $out/.config hold every line of the fragments, the last of each
# option? (verbose: say which not)
config_applied() { # [-v]
	local line sym ret=0

	while IFS= read -r line; do
		case $line in
		CONFIG_*=n) sym=${line%%=*}
			grep -q "^$sym=" "$out/.config" || continue
			[ "${1-}" = -v ] && msg "$sym is set"
			ret=1 ;;
		CONFIG_*) grep -qx "$line" "$out/.config" && continue
			[ "${1-}" = -v ] && msg "$line not set"
			ret=1 ;;
		esac
	done < <(cat "${fragments[@]}" | grep '^CONFIG_' | tac | sort -s -u -t= -k1,1)
	return $ret
}

# Checked before every build, not only when the fragments change: a tree
# that does not declare an option (a patch before the one adding it) drops
# it from .config when built, and the next tree would silently go without.
if [ "$(cat "$out/.vmtrack-config" 2>/dev/null)" != "$cfg_id" ] || [ ! -f "$out/.config" ] ||
   ! config_applied; then
	make -s -C "$src" O="$out" tinyconfig >/dev/null
	(cd "$out" && "$src/scripts/kconfig/merge_config.sh" -m -O "$out" \
		"$out/.config" "${fragments[@]}" >/dev/null)
	make -s -C "$src" O="$out" olddefconfig >/dev/null
	# merge_config only warns when a symbol cannot be set; a silently
	# missing option would turn a test into a skip, so fail instead.
	config_applied -v || die "config fragment could not be applied in $out"
	echo "$cfg_id" > "$out/.vmtrack-config"
fi

# Objects that .incbin a file the build made: ccache hashes the assembler
# source, not the file it includes, so it can hand back an object holding an
# older file (piggy.S differs only in the sizes, which may repeat). The
# compressed kernel's suffix follows CONFIG_KERNEL_GZIP in vm/kernel.config.
INCBINS=(
	"arch/x86/realmode/rmpiggy.o .init.data arch/x86/realmode/rm/realmode.bin"
	"arch/x86/boot/compressed/piggy.o .rodata..compressed arch/x86/boot/compressed/vmlinux.bin.gz"
)
# vmlinux holds only the first; the boot image is not rebuilt.
case $target in
vmlinux) INCBINS=("${INCBINS[0]}") ;;
bzImage) ;;
*) INCBINS=() ;;
esac

# Does OBJ's SECTION not start with the bytes of FILE?
incbin_stale() { # OBJ SECTION FILE
	local obj=$out/$1 file=$out/$3 held=$out/.vmtrack-incbin
	[ -f "$obj" ] && [ -f "$file" ] || return 1
	objcopy -O binary -j "$2" "$obj" "$held" || return 0
	! cmp -s -n "$(stat -c %s "$file")" "$held" "$file"
}

# shellcheck disable=SC2086 # $target: one or more make targets
build() { # [ENV=VALUE...]
	env "$@" make -s -C "$src" O="$out" -j"$(nproc)" CC="$ccache_cc" "${make_args[@]}" \
		KBUILD_BUILD_TIMESTAMP="vmtrack" KBUILD_BUILD_USER=vmtrack \
		KBUILD_BUILD_HOST=vmtrack $target
}

ccache_cc="ccache gcc"
command -v ccache >/dev/null || ccache_cc=gcc
build
stale=0
for entry in "${INCBINS[@]}"; do
	read -r obj section file <<< "$entry"
	if incbin_stale "$obj" "$section" "$file"; then
		rm -f "$out/$obj"
		stale=1
	fi
done
if [ $stale = 1 ]; then
	# Same command line (kbuild sees nothing new), compiled for real.
	build CCACHE_DISABLE=1
	for entry in "${INCBINS[@]}"; do
		read -r obj section file <<< "$entry"
		! incbin_stale "$obj" "$section" "$file" || die "$out/$obj does not hold $file"
	done
fi
case $target in
vmlinux) echo "$out/vmlinux" ;;
bzImage) echo "$out/arch/x86/boot/bzImage" ;;
*) echo "$out" ;;
esac
