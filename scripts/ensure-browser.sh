#!/usr/bin/env bash
# Make sure Debian's Chromium and its WebDriver are installed for Ygor's
# browser tests (tests/http/browser.rs and the pages_* tests):
#
#     scripts/ensure-browser.sh
#
# Checks /usr/bin/chromium and /usr/bin/chromedriver; if either is missing,
# installs the Debian packages `chromium` and `chromium-driver` with apt-get
# (as root, or through sudo when it is there). It never downloads a browser
# from anywhere else. Exits 0 when both are present, 1 with a message saying
# why otherwise. Progress goes to stderr.
#
# The tests find them through YGOR_CHROMIUM and YGOR_CHROMEDRIVER (the paths
# above by default); scripts/test.sh exports both after running this script.
set -euo pipefail

readonly CHROMIUM=/usr/bin/chromium
readonly CHROMEDRIVER=/usr/bin/chromedriver

log() { printf 'ensure-browser: %s\n' "$*" >&2; }
die() {
	printf 'ensure-browser: ERROR: %s\n' "$*" >&2
	exit 1
}

present() { [ -x "$CHROMIUM" ] && [ -x "$CHROMEDRIVER" ]; }

if present; then
	log "found $CHROMIUM and $CHROMEDRIVER"
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	as_root=(sudo -n)
else
	die "$CHROMIUM or $CHROMEDRIVER is missing and this user cannot install packages: run, as root, apt-get update && apt-get install -y chromium chromium-driver"
fi
command -v apt-get >/dev/null 2>&1 ||
	die "$CHROMIUM or $CHROMEDRIVER is missing and there is no apt-get to install Debian's chromium and chromium-driver"

log "installing Debian's chromium and chromium-driver with apt-get"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q >&2 ||
	die "apt-get update failed: cannot install chromium and chromium-driver"
"${as_root[@]}" apt-get install -y -q chromium chromium-driver >&2 ||
	die "apt-get install chromium chromium-driver failed"

present || die "chromium and chromium-driver are installed but $CHROMIUM or $CHROMEDRIVER is still missing"
log "installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM"), $("$CHROMEDRIVER" --version 2>/dev/null || echo "$CHROMEDRIVER")"
