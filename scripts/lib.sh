# SPDX-License-Identifier: GPL-2.0
# Shared settings for the vmtrack scripts; sourced, not run.

VMTRACK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Kept outside the checkout so that a fresh clone (CI) reuses a warm build.
VMTRACK_CACHE=${VMTRACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vmtrack}
KSRC=$VMTRACK_CACHE/linux
KSRC_TARBALL=${KSRC_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
export CCACHE_DIR=${CCACHE_DIR:-$VMTRACK_CACHE/ccache}
# Depend mode takes the headers from the compiler's -MMD output instead of
# running the preprocessor a second time on every miss, the cost of a
# cold kernel build through ccache.
export CCACHE_DEPEND=${CCACHE_DEPEND:-1}

msg() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { msg "$*"; exit 1; }
