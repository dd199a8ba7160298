#!/bin/bash
# Install what a diskimage-builder build needs on a fresh Debian 12 machine,
# as root: the README's DIB section and tests/functional/test_dib_build.py
# call it.  The host tools diskimage-builder uses for a debian-minimal build
# (sudo, which DIB calls even as root; debootstrap and the keyrings it
# verifies with; losetup, kpartx for the vm element's partitions, mkfs.ext4,
# fstrim), qemu-img, qemu-system-x86 to boot the result through SeaBIOS,
# extlinux to make its file system bootable, pygrub (xen-utils-4.17); then this
# package, and diskimage-builder with it (requirements.txt), into the
# virtualenv, so that its vhd-util is the one disk-image-create finds.
#
# Usage: tools/dib-functional-setup.sh [VENV]   (default: ./.venv)
set -eu -o pipefail
cd "$(dirname "$0")/.."

venv=${1:-.venv}

if [ "$(id -u)" != 0 ]; then
    echo "$0: run as root (apt-get install)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends keeps it small; debian-archive-keyring and gpgv
# let debootstrap verify bookworm's Release file.
apt-get install -y -qq --no-install-recommends \
    sudo debootstrap debian-archive-keyring gpgv wget ca-certificates \
    e2fsprogs util-linux mount kpartx \
    qemu-utils qemu-system-x86 extlinux xen-utils-4.17 >/dev/null

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q -e .

echo "dib-functional-setup: $("$venv/bin/disk-image-create" --version 2>&1 |
    tail -n 1 | sed 's/^/diskimage-builder /'), $(debootstrap --version),"\
" $(qemu-system-x86_64 --version | head -n 1)"
