# shellcheck shell=bash
# Debian's PostgreSQL server for the shared-study tests (tests/test_distributed.py),
# installed once through apt. The tests run their own throw-away server (initdb into a
# temporary folder, 127.0.0.1 on a free port) from /usr/lib/postgresql/*/bin; nothing
# here starts a service. Sourced by scripts/test.sh. TEXT2ML_SKIP_POSTGRES=1 skips the
# install (the PostgreSQL tests then skip themselves, saying why).

source "$(dirname "${BASH_SOURCE[0]}")/_apt.sh"

_have_postgres() {
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

_ensure_postgres() {
    if [[ "${TEXT2ML_SKIP_POSTGRES:-0}" == "1" ]] || _have_postgres; then
        return 0
    fi
    _apt_install postgresql "shared-study tests" TEXT2ML_SKIP_POSTGRES
}

_ensure_postgres
