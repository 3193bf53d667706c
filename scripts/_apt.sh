# shellcheck shell=bash
# _apt_install PACKAGE WHAT SKIP_VAR: install a Debian package through apt (with sudo when
# not root) for the tests named by WHAT; a failure says how to skip them with SKIP_VAR=1.
# Sourced by scripts/_browser.sh and scripts/_postgres.sh, which decide whether it is needed.

_apt_install() {
    local package="$1" what="$2" skip_var="$3" sudo=""
    if [[ "$(id -u)" != "0" ]]; then
        command -v sudo >/dev/null 2>&1 || {
            echo "[setup] error: the $what need Debian's $package; install it" \
                 "(apt-get install $package) or set $skip_var=1." >&2
            return 1
        }
        sudo="sudo"
    fi
    echo "[setup] installing Debian's $package for the $what (apt-get)" >&2
    local log="/tmp/text2ml-apt-$package.log"
    if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
           $sudo apt-get install -y -qq "$package"; } \
           >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        echo "[setup] error: apt-get could not install $package (log: $log)." >&2
        return 1
    fi
}
