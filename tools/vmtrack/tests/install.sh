#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Install test (part of "make check"; no root, no tracefs): make install
# into a staging directory, then use what was installed as a user would.
#
#   tests/install.sh SRCTREE WORKDIR
#
# The shared library has its soname and exports the functions of
# include/vmtrack.h and nothing else; a program built with
# "cc prog.c $(pkg-config --cflags --libs libvmtrack)" against the installed
# files links to it and runs; the installed vmtrack runs; "man" finds and
# renders every page. Prints TAP and "N passed, N failed".

set -u
src=$(cd "${1:?SRCTREE}" && pwd)
work=${2:?WORKDIR}
prefix=/usr/local

passed=0
failed=0
n=0
ok()  { n=$((n + 1)); passed=$((passed + 1)); echo "ok $n - install: $*"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - install: $*"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }
finish() { echo "$passed passed, $failed failed"; [ $failed = 0 ]; exit; }

rm -rf "$work"
mkdir -p "$work/build"
root=$work/root
lib=$root$prefix/lib

# a build of its own (O=): the install must not depend on an earlier build
if ! make -s -C "$src" O="$work/build" prefix=$prefix DESTDIR="$root" install \
	> "$work/install.log" 2>&1; then
	nok "make install DESTDIR=... prefix=$prefix"
	sed 's/^/# /' "$work/install.log" | tail -20
	finish
fi
ok "make install DESTDIR=... prefix=$prefix"

for f in bin/vmtrack include/vmtrack.h lib/libvmtrack.a lib/libvmtrack.so \
	 lib/pkgconfig/libvmtrack.pc share/man/man1/vmtrack.1; do
	check "installs $prefix/$f" [ -e "$root$prefix/$f" ]
done

# libvmtrack.so -> libvmtrack.so.0 -> the versioned file, whose soname is
# libvmtrack.so.0
so0=$(readlink "$lib/libvmtrack.so")
real=$(readlink "$lib/$so0")
check "libvmtrack.so -> libvmtrack.so.0 -> libvmtrack.so.0.* ($so0 -> $real)" \
	eval '[ "$so0" = libvmtrack.so.0 ] && [[ "$real" == libvmtrack.so.0.* ]] && [ -f "$lib/$real" ]'
soname=$(readelf -d "$lib/libvmtrack.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
check "soname is libvmtrack.so.0 (got '$soname')" [ "$soname" = libvmtrack.so.0 ]

# exported: exactly the functions the public headers (include/) declare
(cd "$src/include" && ls) | sort > "$work/headers"
(cd "$root$prefix/include" && ls) | sort > "$work/installed"
check "installs every public header ($(echo $(cat "$work/headers")))" \
	cmp -s "$work/headers" "$work/installed"
sed -nE '/^(typedef|#|[[:space:]])/d; s/^.*[^a-z0-9_](vmtrack_[a-z0-9_]+)\(.*/\1/p' \
	"$root$prefix"/include/*.h | sort -u > "$work/api"
nm -D --defined-only "$lib/libvmtrack.so" | awk '$2 ~ /^[TDBRVW]$/ { sub(/@.*/, "", $3); print $3 }' |
	grep -v '^LIBVMTRACK_' | sort -u > "$work/exported"
check "the header declares the API ($(wc -l < "$work/api") functions)" \
	[ "$(wc -l < "$work/api")" -ge 20 ]
if cmp -s "$work/api" "$work/exported"; then
	ok "exports exactly the functions the headers declare"
else
	nok "exports exactly the functions the headers declare"
	diff "$work/api" "$work/exported" | sed 's/^/# (< header only, > exported only) /'
fi

# a user's program, built only from what pkg-config says about the install
cat > "$work/prog.c" <<'EOC'
#include <stdio.h>
#include <string.h>
#include <vmtrack.h>

int main(void)
{
	struct vmtrack_mapping map;
	struct vmtrack_dset *ds;
	int ok;

	if (vmtrack_maps_parse_line("7f0000000000-7f0000004000 rw-p 00000000 00:00 0 [heap]\n",
				    &map))
		return 1;
	ds = vmtrack_dset_new(4096);
	if (!ds || vmtrack_dset_add(ds, map.start, map.end, false, map.name))
		return 1;
	vmtrack_dset_set_dirty(ds, map.start + 4096, map.start + 8192, NULL);
	ok = vmtrack_dset_watched_pages(ds) == 4 && vmtrack_dset_dirty_pages(ds) == 1 &&
	     !strcmp(vmtrack_event_name(VMTRACK_EV_WRITE_FAULT), "mm_watch_write_fault");
	printf("%s %s: %llu of %llu pages dirty\n", ok ? "libvmtrack" : "wrong", map.name,
	       (unsigned long long)vmtrack_dset_dirty_pages(ds),
	       (unsigned long long)vmtrack_dset_watched_pages(ds));
	vmtrack_dset_free(ds);
	return !ok;
}
EOC
# the file names its paths from ${prefix}: moved to the staging directory
export PKG_CONFIG_PATH=$lib/pkgconfig
pc() { pkg-config --define-variable=prefix="$root$prefix" "$@" libvmtrack; }
flags=$(pc --cflags --libs 2>&1)
check "pkg-config --cflags --libs libvmtrack: $flags" \
	eval '[[ "$flags" == *"-I$root$prefix/include"* && "$flags" == *"-L$lib -lvmtrack"* ]]'
check "pkg-config --modversion matches the Makefile" \
	[ "$(pc --modversion)" = "$(sed -n 's/^VERSION[[:space:]]*=[[:space:]]*//p' "$src/Makefile")" ]
# shellcheck disable=SC2086 # word splitting of the flags is what is meant
if cc -o "$work/prog" "$work/prog.c" $flags 2> "$work/cc.log"; then
	ok "cc prog.c \$(pkg-config --cflags --libs libvmtrack)"
else
	nok "cc prog.c \$(pkg-config --cflags --libs libvmtrack)"
	sed 's/^/# /' "$work/cc.log"
fi
needed=$(readelf -d "$work/prog" 2>/dev/null | grep -o 'libvmtrack[^]]*')
check "the program needs libvmtrack.so.0 (got '$needed')" [ "$needed" = libvmtrack.so.0 ]
resolved=$(LD_LIBRARY_PATH=$lib ldd "$work/prog" 2>/dev/null | awk '$1 == "libvmtrack.so.0" { print $3 }')
check "it resolves to the installed library ($resolved)" [ "$resolved" = "$lib/libvmtrack.so.0" ]
out=$(LD_LIBRARY_PATH=$lib "$work/prog" 2>&1)
check "it runs: $out" [ "$out" = "libvmtrack [heap]: 1 of 4 pages dirty" ]
# static linking: libvmtrack.a and the libraries pkg-config --static adds
# shellcheck disable=SC2086
if cc -o "$work/prog-static" "$work/prog.c" $(pc --cflags) "$lib/libvmtrack.a" \
	$(pc --static --libs | sed 's/-lvmtrack//') && "$work/prog-static" > /dev/null; then
	ok "static: libvmtrack.a + pkg-config --static --libs"
else
	nok "static: libvmtrack.a + pkg-config --static --libs"
fi
unset PKG_CONFIG_PATH

check "the installed vmtrack runs (--version)" \
	eval '"$root$prefix/bin/vmtrack" --version | grep -q "^vmtrack [0-9]"'

# every page that the rst sources name, found by "man NAME" and rendered
docdir=$src/../../Documentation/tools/vmtrack
for rst in "$docdir"/vmtrack*.rst; do
	name=$(basename "$rst" .rst)
	page=$root$prefix/share/man/man1/$name.1
	if [ ! -f "$page" ]; then
		nok "man page $name.1 installed"
		continue
	fi
	text=$(MANWIDTH=100 man -l "$page" 2> "$work/man.err" | col -b)
	# a heading of the page itself and one of the included appendix
	if grep -q "^NAME" <<< "$text" && grep -q "^EXIT STATUS" <<< "$text" &&
	   grep -q "^ *$name - " <<< "$text" && ! grep -q '\.\. include' <<< "$text" &&
	   [ ! -s "$work/man.err" ]; then
		ok "man -l $name.1 renders (NAME, EXIT STATUS, no warnings)"
	else
		nok "man -l $name.1 renders (NAME, EXIT STATUS, no warnings)"
		sed 's/^/# /' "$work/man.err" | head
	fi
	found=$(MANPATH=$root$prefix/share/man man -w "$name" 2>/dev/null)
	check "man $name finds the installed page ($found)" [ "$found" = "$page" ]
done
finish
