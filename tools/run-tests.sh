#!/bin/bash
# Run the whole test suite in ./.venv and end with "N passed, M failed,
# K skipped".
#
# Usage: tools/run-tests.sh [--quick] [REGEX...]
#   --quick  leave out the slow diskimage-builder build and boot
#            (tests/functional/test_dib_build.py: network, several
#            minutes); DISKIMAGE_VHD_QUICK=1 does the same.
#   REGEX    run only the tests matching (as "stestr run REGEX").
#
# The tests judge this package with real tools (qemu-img, sfdisk, mkfs.*,
# strace, tmux, git, GRUB, extlinux, qemu with SeaBIOS, pygrub and a kernel).  Run as root, it installs those that are missing with
# apt, and, unless --quick, what the DIB build needs
# (tools/dib-functional-setup.sh); otherwise it names, in one line, the
# packages to install.  Then it installs the package and its test and
# documentation requirements into ./.venv (created if missing).
set -eu -o pipefail
cd "$(dirname "$0")/.."

quick=${DISKIMAGE_VHD_QUICK:-0}
if [ "${1:-}" = --quick ]; then
    quick=1
    shift
fi

# The host tools of the tests, each with the Debian package that has it.
declare -A packages=(
    [qemu-img]=qemu-utils [sfdisk]=fdisk [mke2fs]=e2fsprogs
    [mkfs.xfs]=xfsprogs [mkfs.vfat]=dosfstools [mkfs.btrfs]=btrfs-progs
    [strace]=strace [tmux]=tmux [git]=git
    [grub-mkimage]=grub-pc-bin [extlinux]=extlinux [mcopy]=mtools
    [qemu-system-x86_64]=qemu-system-x86
    [/usr/lib/xen-4.17/bin/pygrub]=xen-utils-4.17
    [fincore]=util-linux-extra
)
missing=()
for command in "${!packages[@]}"; do
    if ! PATH="$PATH:/usr/sbin:/sbin" command -v "$command" >/dev/null; then
        missing+=("${packages[$command]}")
    fi
done
# The firmware boot test boots a Debian kernel from the converted VHD.
if ! compgen -G '/boot/vmlinuz-*' >/dev/null; then
    missing+=(linux-image-cloud-amd64)
fi
if [ "$(id -u)" = 0 ]; then
    if [ ${#missing[@]} -gt 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" \
            >/dev/null
    fi
    if [ "$quick" != 1 ]; then
        echo "$0: the run includes a real diskimage-builder build and" \
            "boot (network, several minutes); --quick leaves it out"
        tools/dib-functional-setup.sh .venv
    fi
elif [ ${#missing[@]} -gt 0 ]; then
    echo "$0: missing host tools; as root: apt-get install" \
        "${missing[*]}" >&2
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e . -r test-requirements.txt \
    -r doc/requirements.txt

exclude=()
if [ "$quick" = 1 ]; then
    exclude=(--exclude-regex '^tests\.functional\.test_dib_build\.')
fi

set +e
PATH="$PWD/.venv/bin:$PATH" .venv/bin/stestr run "${exclude[@]}" "$@"
status=$?
set -e
count() {  # the number stestr reports for one label, e.g. "Passed"
    # "stestr last" exits 1 when the run had failures; under pipefail and
    # set -e that would end this script before its closing line.
    { .venv/bin/stestr last 2>/dev/null || true; } |
        sed -n "s/^ - $1: \([0-9]*\)$/\1/p" | tail -n 1
}
passed=$(count Passed) failed=$(count Failed) skipped=$(count Skipped)
if [ -z "$passed$failed" ] && [ "$status" != 0 ]; then
    failed=1  # stestr itself failed before running anything
fi
echo "${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
exit $status
