#!/usr/bin/env bash
# The whole test suite: set-up (venv + install, skipped when up to date), then pytest.
#
#   bash scripts/test.sh                 # everything
#   bash scripts/test.sh -m "not slow"   # extra arguments go to pytest
#
# Exits non-zero when any test fails, and also when no test ran (pytest's exit code 5).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_setup.sh"
source "$(dirname "${BASH_SOURCE[0]}")/_browser.sh"
source "$(dirname "${BASH_SOURCE[0]}")/_postgres.sh"

set +e
"$VENV_PY" -m pytest "$@"
status=$?
set -e

if [[ $status -eq 5 ]]; then
    echo "error: no tests ran (pytest exit code 5): the suite must run at least one test." >&2
    exit 1
fi
exit "$status"
