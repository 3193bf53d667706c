# shellcheck shell=bash
# Debian's chromium for the browser tests (tests/browser), installed once through apt.
# Playwright drives it through executable_path: Playwright's own browser download is not
# used. Sourced by scripts/test.sh. TEXT2ML_SKIP_BROWSER=1 skips the install (the
# browser tests then skip themselves, saying why).

_ensure_chromium() {
    if [[ "${TEXT2ML_SKIP_BROWSER:-0}" == "1" ]] || command -v chromium >/dev/null 2>&1; then
        return 0
    fi
    local sudo=""
    if [[ "$(id -u)" != "0" ]]; then
        command -v sudo >/dev/null 2>&1 || {
            echo "[setup] error: the browser tests need Debian's chromium; install it" \
                 "(apt-get install chromium) or set TEXT2ML_SKIP_BROWSER=1." >&2
            return 1
        }
        sudo="sudo"
    fi
    echo "[setup] installing Debian's chromium for the browser tests (apt-get)" >&2
    local log=/tmp/text2ml-apt.log
    if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
           $sudo apt-get install -y -qq chromium; } \
           >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        echo "[setup] error: apt-get could not install chromium (log: $log)." >&2
        return 1
    fi
}

_ensure_chromium
