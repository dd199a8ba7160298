#!/bin/bash
# The OpenStack community's gates on this repository: flake8 with hacking,
# bashate on every shell script, dib-lint on the element, reno lint, and the
# docs built with warnings as errors (HTML and man pages).  Every gate runs;
# each failure is named, and the exit status is non-zero if any failed.
#
# Usage: tools/run-gates.sh [GATE...]
#   GATE: flake8 bashate dib-lint reno docs (default: all of them)
# The tools come from PATH: test-requirements.txt, doc/requirements.txt and
# this package (for diskimage-builder's dib-lint) installed, e.g. .venv/bin.
set -eu -o pipefail
cd "$(dirname "$0")/.."

# Every shell script: the tools, CI, and the element's hooks.
shell_scripts() {
    ls tools/*.sh .ci/run
    find diskimage_vhd/elements -path '*/*.d/*' -type f | sort
}

gate_flake8() {
    flake8 diskimage_vhd tests tools doc/source
}

gate_bashate() {
    # E006 (line longer than 79) is off as in diskimage-builder's own gate;
    # every other rule is an error.
    shell_scripts | xargs bashate --ignore E006 --error 'E*'
}

gate_dib_lint() {
    # dib-lint checks ELEMENTS_DIR and LIB_DIR; this package has no lib.
    ELEMENTS_DIR=diskimage_vhd/elements LIB_DIR=diskimage_vhd/elements \
        dib-lint
}

gate_reno() {
    reno -q lint
}

gate_docs() {
    # Chained: errexit does not apply inside a function called from "if".
    rm -rf doc/build &&
        sphinx-build -W -q -b html doc/source doc/build/html &&
        sphinx-build -W -q -b man doc/source doc/build/man
}

gates=("$@")
[ ${#gates[@]} -gt 0 ] || gates=(flake8 bashate dib-lint reno docs)
failed=()
for gate in "${gates[@]}"; do
    echo "gate: $gate"
    if ! "gate_${gate//-/_}"; then
        failed+=("$gate")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "gates failed: ${failed[*]}" >&2
    exit 1
fi
echo "gates passed: ${gates[*]}"
