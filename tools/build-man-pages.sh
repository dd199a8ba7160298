#!/bin/bash
# Build the man pages diskimage-vhd(1) and vhd-util(1) from the Sphinx
# sources into doc/man (or DIR), as committed: pip installs them from there
# into share/man/man1 (setup.cfg's data_files), so no build step needs
# Sphinx.  The pages carry no version and no date, so that they change only
# when the docs do; tests/unit/test_man_pages.py holds the committed pages
# to a fresh build.
#
# Usage: tools/build-man-pages.sh [DIR]   (needs doc/requirements.txt)
set -eu -o pipefail
cd "$(dirname "$0")/.."

out=${1:-doc/man}
doctrees=$(mktemp -d)
trap 'rm -rf "$doctrees"' EXIT
sphinx-build -W -q -b man -d "$doctrees" -D version= -D release= \
    -D today=' ' doc/source "$out"
