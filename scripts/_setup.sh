# shellcheck shell=bash
# Shared set-up for scripts/demo.sh and scripts/test.sh (sourced, not run).
#
# Creates (or reuses) the virtual environment .venv in the repository and installs the
# project into it, editable, with its test extras. The install is skipped when a stamp
# file in .venv says it was done for this exact pyproject.toml, this set-up script and
# this Python; delete .venv/.text2ml-install-stamp (or .venv) to force it.
#
# After sourcing: the working directory is the repository root, $VENV_PY is the venv's
# python, and .venv/bin is first on PATH.
#
# Environment: PYTHON (interpreter that creates the venv, default python3),
#              TEXT2ML_VENV (venv location, default .venv in the repository).

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

VENV_DIR="${TEXT2ML_VENV:-$REPO_ROOT/.venv}"
VENV_PY="$VENV_DIR/bin/python"
STAMP="$VENV_DIR/.text2ml-install-stamp"
EXTRAS="test"

_say() { printf '[setup] %s\n' "$*" >&2; }
_die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

_base_python() {
    local py="${PYTHON:-python3}"
    command -v "$py" >/dev/null 2>&1 || _die "no '$py' on PATH: install Python 3.10 or newer (or set PYTHON=/path/to/python3)."
    "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
        || _die "$("$py" -V 2>&1) is too old: text2ml-jupyter needs Python 3.10 or newer (set PYTHON=/path/to/python3.1x)."
    printf '%s' "$py"
}

# A venv is usable when its python runs and has pip (a copied or half-made .venv may not).
if [[ ! -x "$VENV_PY" ]] || ! "$VENV_PY" -c 'import pip' >/dev/null 2>&1; then
    BASE_PY="$(_base_python)"
    [[ -e "$VENV_DIR" ]] && { _say "recreating the broken virtual environment $VENV_DIR"; rm -rf "$VENV_DIR"; }
    _say "creating the virtual environment $VENV_DIR ($("$BASE_PY" -V 2>&1))"
    "$BASE_PY" -m venv "$VENV_DIR"
fi

# The stamp: what the install depends on. Hashed by the venv's own python (always there).
WANT_STAMP="$("$VENV_PY" - "$EXTRAS" pyproject.toml scripts/_setup.sh <<'PY'
import hashlib, sys
h = hashlib.sha256(sys.version.encode())
h.update(sys.argv[1].encode())
for path in sys.argv[2:]:
    with open(path, "rb") as f:
        h.update(f.read())
print(h.hexdigest())
PY
)"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT_STAMP" && -x "$VENV_DIR/bin/text2ml" ]]; then
    _say "environment up to date ($VENV_DIR)"
else
    _say "installing text2ml-jupyter[$EXTRAS] into $VENV_DIR (first run: a few minutes)"
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
    INSTALL_LOG="$VENV_DIR/.text2ml-install.log"
    rm -f "$STAMP"
    if ! { "$VENV_PY" -m pip install --upgrade pip \
           && "$VENV_PY" -m pip install -e ".[$EXTRAS]"; } > "$INSTALL_LOG" 2>&1; then
        tail -n 40 "$INSTALL_LOG" >&2
        _die "pip install failed (full log: $INSTALL_LOG)"
    fi
    printf '%s\n' "$WANT_STAMP" > "$STAMP"
    _say "installed (log: $INSTALL_LOG)"
fi

export PATH="$VENV_DIR/bin:$PATH"
export VIRTUAL_ENV="$VENV_DIR"
