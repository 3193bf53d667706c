# shellcheck shell=bash
# Debian's chromium for the browser tests (tests/browser), installed once through apt.
# Playwright drives it through executable_path: Playwright's own browser download is not
# used. Sourced by scripts/test.sh. TEXT2ML_SKIP_BROWSER=1 skips the install (the
# browser tests then skip themselves, saying why).

source "$(dirname "${BASH_SOURCE[0]}")/_apt.sh"

_ensure_chromium() {
    if [[ "${TEXT2ML_SKIP_BROWSER:-0}" == "1" ]] || command -v chromium >/dev/null 2>&1; then
        return 0
    fi
    _apt_install chromium "browser tests" TEXT2ML_SKIP_BROWSER
}

_ensure_chromium
