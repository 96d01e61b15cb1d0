#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the programs the guest runs, against the patched tree's UAPI
# headers, into $VMTRACK_CACHE/guest:
#   mm_watch/  the series' selftests (tools/testing/selftests/mm_watch)
#   mm/        the kernel's own mm selftests used for the regression check
#   vmtrack    tools/vmtrack (built in place)
#   bench/     vmbench and the micro-benchmarks (make bench runs them; built
#              here so that a change that breaks them fails the tests)
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

out=$VMTRACK_CACHE/guest
tree=$("$VMTRACK_ROOT/scripts/kernel-series.sh" tree)
build=$VMTRACK_CACHE/build
mkdir -p "$out"
make -s -C "$tree" O="$build" headers >/dev/null
hdr="-isystem $build/usr/include"

rm -rf "$out/mm_watch"
mkdir -p "$out/mm_watch"
make -s -C "$tree/tools/testing/selftests/mm_watch" OUTPUT="$out/mm_watch" \
	KHDR_INCLUDES="$hdr" >/dev/null
cat > "$out/mm_watch/run.sh" <<EOS
#!/bin/bash
exec "$VMTRACK_ROOT/tests/guest/run-tap.sh" "$out/mm_watch" "\$@"
EOS
chmod +x "$out/mm_watch/run.sh"

MM_TESTS=(soft-dirty pagemap_ioctl uffd-unit-tests cow mkdirty mremap_test
	mremap_dontunmap ksm_functional_tests madv_populate gup_longterm
	map_fixed_noreplace mdwe_test mlock2-tests hmm-tests)
mkdir -p "$out/mm"
make -s -C "$tree/tools/testing/selftests/mm" OUTPUT="$out/mm" KHDR_INCLUDES="$hdr" \
	"${MM_TESTS[@]/#/$out/mm/}" >/dev/null
printf '%s\n' "${MM_TESTS[@]}" > "$out/mm/list"

make -s -C "$VMTRACK_ROOT/tools/vmtrack" >/dev/null

rm -rf "$out/bench"
make -s -C "$VMTRACK_ROOT/bench/src" O="$out/bench" UAPI="$build/usr/include" \
	VMTRACK_LIB="$VMTRACK_ROOT/tools/vmtrack/libvmtrack.a" \
	"$out/bench/vmbench" precopy >/dev/null
for p in first-write rearm stall; do
	${CC:-cc} -O2 -Wall -Werror -o "$out/bench/$p" "$VMTRACK_ROOT/bench/micro/$p.c" -lpthread
done
