# shellcheck shell=bash
# Debian's PostgreSQL server for the shared-study tests (tests/test_distributed.py),
# installed once through apt. The tests run their own throw-away server (initdb into a
# temporary folder, 127.0.0.1 on a free port) from /usr/lib/postgresql/*/bin; nothing
# here starts a service. Sourced by scripts/test.sh. TEXT2ML_SKIP_POSTGRES=1 skips the
# install (the PostgreSQL tests then skip themselves, saying why).

_have_postgres() {
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

_ensure_postgres() {
    if [[ "${TEXT2ML_SKIP_POSTGRES:-0}" == "1" ]] || _have_postgres; then
        return 0
    fi
    local sudo=""
    if [[ "$(id -u)" != "0" ]]; then
        command -v sudo >/dev/null 2>&1 || {
            echo "[setup] error: the shared-study tests need Debian's postgresql; install" \
                 "it (apt-get install postgresql) or set TEXT2ML_SKIP_POSTGRES=1." >&2
            return 1
        }
        sudo="sudo"
    fi
    echo "[setup] installing Debian's postgresql for the shared-study tests (apt-get)" >&2
    local log=/tmp/text2ml-apt-postgres.log
    if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
           $sudo apt-get install -y -qq postgresql; } \
           >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        echo "[setup] error: apt-get could not install postgresql (log: $log)." >&2
        return 1
    fi
}

_ensure_postgres
