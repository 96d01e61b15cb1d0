#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Turn Debian's linux-source-6.12 tarball into a git tree with one pristine
# baseline commit (tag "baseline"). Idempotent: an existing tree whose
# baseline matches the installed tarball is kept.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -r "$KSRC_TARBALL" ] || die "$KSRC_TARBALL missing (apt-get install linux-source-6.12)"
stamp=$(stat -c '%s-%Y' "$KSRC_TARBALL")
if [ -f "$KSRC/.git/vmtrack-baseline" ] &&
   [ "$(cat "$KSRC/.git/vmtrack-baseline")" = "$stamp" ]; then
	exit 0
fi

msg "creating the pristine kernel tree in $KSRC"
rm -rf "$KSRC" "$KSRC.tmp"
mkdir -p "$KSRC.tmp"
tar -C "$KSRC.tmp" --strip-components=1 -xf "$KSRC_TARBALL"
cd "$KSRC.tmp"
# Debian's .gitignore ends with a block ignoring every top-level path
# ("/*" then "!/debian/"); with it, "git add" would commit nothing.
sed -i '/^# Debian packaging: ignore everything/,$d' .gitignore
sed -i -e :a -e '/^\n*$/{$d;N;ba' -e '}' .gitignore
git init -q -b master
git config user.name "vmtrack baseline"
git config user.email "vmtrack@localhost"
git config gc.auto 0
git add -A
version=$(make -s kernelversion)
GIT_AUTHOR_DATE="1700000000 +0000" GIT_COMMITTER_DATE="1700000000 +0000" \
	git commit -q -m "Linux $version (Debian linux-source-6.12)"
git tag -f baseline >/dev/null
git tag -f "v$version" >/dev/null
cd ..
mv "$KSRC.tmp" "$KSRC"
echo "$stamp" > "$KSRC/.git/vmtrack-baseline"
msg "baseline: Linux $version at $(git -C "$KSRC" rev-parse --short baseline)"
