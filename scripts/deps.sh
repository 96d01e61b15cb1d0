#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Install the Debian packages the build, the VM and the tests need, when
# any is missing. Safe to run on every invocation: it only checks when all
# are present.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

packages=(
	build-essential bc bison flex libelf-dev libssl-dev cpio xz-utils kmod
	ccache pkg-config git perl python3 sparse
	linux-source-6.12
	qemu-system-x86
	libtracefs-dev libtraceevent-dev trace-cmd
	python3-docutils man-db
	bpftrace criu nodejs stress-ng
	util-linux procps iproute2
)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

msg "installing: ${missing[*]}"
sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
