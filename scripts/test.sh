#!/usr/bin/env bash
# Run Ygor's whole test suite: formatting, clippy and every test target of the
# workspace, with the integration tests against a real PostgreSQL server.
#
#     ./scripts/test.sh                 # everything
#     ./scripts/test.sh -- --nocapture  # extra arguments go to `cargo test`
#
# Chromium and chromedriver, for the browser tests, come from scripts/ensure-browser.sh (Debian's
# packages, installed with apt-get when missing).
#
# The PostgreSQL server comes from scripts/ensure-postgres.sh: the one named by
# YGOR_TEST_POSTGRES_URL if it answers, else 127.0.0.1:5432, else the
# machine's cluster, else a throwaway cluster that is stopped and deleted when
# this script exits.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export RUST_BACKTRACE=1

step() { printf '\n==> %s\n' "$*" >&2; }

pg_state_file=$(mktemp "${TMPDIR:-/tmp}/ygor-test-pg-state.XXXXXX")
cleanup() {
	local status=$? dir=""
	if [ -s "$pg_state_file" ]; then
		dir=$(cat "$pg_state_file")
	fi
	rm -f "$pg_state_file"
	if [ -n "$dir" ]; then
		step "stopping the throwaway PostgreSQL cluster"
		scripts/ensure-postgres.sh --stop "$dir" || status=1
	fi
	exit "$status"
}
trap cleanup EXIT
# Make Ctrl-C / kill run the EXIT trap too.
trap 'exit 130' INT
trap 'exit 143' TERM

step "PostgreSQL"
YGOR_TEST_POSTGRES_URL=$(YGOR_PG_STATE_FILE="$pg_state_file" scripts/ensure-postgres.sh)
export YGOR_TEST_POSTGRES_URL
printf 'Tests use PostgreSQL at %s\n' \
	"$(printf '%s' "$YGOR_TEST_POSTGRES_URL" | sed -E 's#^([a-zA-Z]+://[^:/@]*):[^@/]*@#\1:***@#')" >&2

# The browser tests (tests/http/browser.rs, tests/http/pages_*.rs) drive Debian's headless
# Chromium through chromedriver; scripts/ensure-browser.sh installs both with apt-get when they are
# missing, and the tests fail without them.
step "Chromium and chromedriver"
scripts/ensure-browser.sh
export YGOR_CHROMIUM=/usr/bin/chromium
export YGOR_CHROMEDRIVER=/usr/bin/chromedriver

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test --workspace --all-targets $*"
cargo test --workspace --all-targets "$@"

# The short schemathesis run (a few hundred generated requests against /openapi.json; see
# scripts/schemathesis.sh). It needs python3 and PyPI to install schemathesis: without python3,
# or when PyPI cannot be reached (exit 77), it is skipped with a message; any failure fails.
step "schemathesis (short run)"
if command -v python3 >/dev/null 2>&1; then
	schemathesis_status=0
	scripts/schemathesis.sh --short || schemathesis_status=$?
	if [ "$schemathesis_status" -eq 77 ]; then
		printf 'SKIPPED: schemathesis, because PyPI cannot be reached to install it\n' >&2
	elif [ "$schemathesis_status" -ne 0 ]; then
		printf 'schemathesis found failures (exit %d); report in target/schemathesis-report\n' "$schemathesis_status" >&2
		exit "$schemathesis_status"
	fi
else
	printf 'SKIPPED: schemathesis, because python3 is not installed\n' >&2
fi

step "all checks passed"
