#!/bin/bash
# Run the whole test suite in ./.venv and end with "N passed, M failed".
#
# Installs the package and its test requirements into ./.venv (created if
# missing), and qemu-utils with apt when run as root without qemu-img:
# qemu-img is the independent referee of many tests.
set -eu -o pipefail
cd "$(dirname "$0")/.."

if ! command -v qemu-img >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq qemu-utils >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e . -r test-requirements.txt

set +e
PATH="$PWD/.venv/bin:$PATH" .venv/bin/stestr run "$@"
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
