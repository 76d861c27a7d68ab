#!/usr/bin/env bash
# Run schemathesis (property-based API testing, from PyPI) against a fresh `ygor serve`:
#
#     scripts/schemathesis.sh            # short run: a few hundred cases, under 3 minutes
#     scripts/schemathesis.sh --long     # 100 examples per operation (about ten times more cases)
#     scripts/schemathesis.sh --max-examples 50 [-- other schemathesis run options]
#
# It creates a virtualenv in target/schemathesis-venv (pinned versions below), starts the
# `ygor` binary (YGOR_BIN, else target/debug/ygor, built if missing) on 127.0.0.1, a free port
# and a fresh SQLite data directory, sets a territory up (scripts/schemathesis_hooks.py setup)
# and runs schemathesis on /openapi.json with these checks: not_a_server_error,
# response_schema_conformance, status_code_conformance. The hook file gives each request the
# token of its role and signs certification and redemption bodies with the partner's key.
# Reports go to target/schemathesis-report (junit.xml, ndjson); the server's log stays there too.
#
# Exit status: schemathesis's (0 when every check passed); 77 when PyPI cannot be reached to
# install schemathesis (nothing was tested); 1 on any other set-up failure. The server and its
# data directory are removed on exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

readonly SCHEMATHESIS_VERSION=4.32.5
readonly CRYPTOGRAPHY_VERSION=51.0.1
readonly RFC8785_VERSION=0.1.4
readonly VENV=target/schemathesis-venv
readonly REPORT_DIR=target/schemathesis-report
readonly SKIPPED=77

log() { printf 'schemathesis.sh: %s\n' "$*" >&2; }
die() {
	printf 'schemathesis.sh: ERROR: %s\n' "$*" >&2
	exit 1
}

max_examples=5
extra=()
while [ $# -gt 0 ]; do
	case "$1" in
	--short) max_examples=5 ;;
	--long) max_examples=100 ;;
	--max-examples)
		[ $# -ge 2 ] || die "--max-examples needs a number"
		max_examples=$2
		shift
		;;
	--)
		shift
		extra=("$@")
		break
		;;
	*) die "unknown option $1 (use --short, --long, --max-examples N, -- SCHEMATHESIS OPTIONS)" ;;
	esac
	shift
done

command -v python3 >/dev/null 2>&1 || die "python3 is not installed"

pypi_reachable() {
	python3 - <<'EOF'
import sys, urllib.request
try:
    urllib.request.urlopen("https://pypi.org/simple/schemathesis/", timeout=10).close()
except Exception:
    sys.exit(1)
EOF
}

installed() {
	[ -x "$VENV/bin/schemathesis" ] &&
		"$VENV/bin/python" -c "
import importlib.metadata as m, sys
wanted = {'schemathesis': '$SCHEMATHESIS_VERSION', 'cryptography': '$CRYPTOGRAPHY_VERSION', 'rfc8785': '$RFC8785_VERSION'}
sys.exit(any(m.version(name) != version for name, version in wanted.items()))
" 2>/dev/null
}

if ! installed; then
	log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
	mkdir -p target
	python3 -m venv "$VENV" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
	if ! "$VENV/bin/pip" install --quiet --disable-pip-version-check \
		"schemathesis==$SCHEMATHESIS_VERSION" "cryptography==$CRYPTOGRAPHY_VERSION" "rfc8785==$RFC8785_VERSION"; then
		if ! pypi_reachable; then
			log "SKIPPED: PyPI (https://pypi.org) cannot be reached, so schemathesis cannot be installed; nothing was tested"
			exit "$SKIPPED"
		fi
		die "pip install failed although PyPI answers (see above)"
	fi
fi

ygor=${YGOR_BIN:-target/debug/ygor}
if [ -z "${YGOR_BIN:-}" ]; then
	cargo build --quiet --bin ygor || die "cargo build --bin ygor failed"
fi
[ -x "$ygor" ] || die "no ygor binary at $ygor"

data_dir=$(mktemp -d "${TMPDIR:-/tmp}/ygor-schemathesis-XXXXXX")
server_pid=""
cleanup() {
	local status=$?
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	if [ -f "$data_dir/serve.log" ]; then
		mkdir -p "$REPORT_DIR"
		cp "$data_dir/serve.log" "$REPORT_DIR/serve.log" || true
	fi
	rm -rf "$data_dir"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base_url="http://127.0.0.1:$port"
admin_token="admin-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
YGOR_ADMIN_TOKEN=$admin_token RUST_LOG=warn \
	env -u DATABASE_URL -u YGOR_DATA_DIR \
	"$ygor" serve --listen "127.0.0.1:$port" --data-dir "$data_dir" >/dev/null 2>"$data_dir/serve.log" &
server_pid=$!
for _ in $(seq 1 600); do
	if python3 -c "import urllib.request, sys; urllib.request.urlopen('$base_url/readyz', timeout=1)" 2>/dev/null; then
		break
	fi
	kill -0 "$server_pid" 2>/dev/null || {
		cat "$data_dir/serve.log" >&2
		die "ygor serve stopped at start"
	}
	sleep 0.1
done

fixture="$data_dir/fixture.json"
"$VENV/bin/python" scripts/schemathesis_hooks.py setup "$base_url" "$admin_token" "$fixture" ||
	die "setting the territory up failed"

log "running schemathesis on $base_url/openapi.json (at most $max_examples examples per operation)"
mkdir -p "$REPORT_DIR"
status=0
SCHEMATHESIS_HOOKS=scripts/schemathesis_hooks.py YGOR_SCHEMATHESIS_FIXTURE=$fixture \
	"$VENV/bin/schemathesis" run "$base_url/openapi.json" \
	--checks not_a_server_error,response_schema_conformance,status_code_conformance \
	--max-examples "$max_examples" \
	--continue-on-failure \
	--seed 22 \
	--workers 1 \
	--request-timeout 15 \
	--generation-database none \
	--suppress-health-check all \
	--no-color \
	--report junit,ndjson --report-dir "$REPORT_DIR" \
	"${extra[@]}" || status=$?
if grep -qiE 'panicked|ERROR' "$data_dir/serve.log"; then
	log "the server logged errors (kept in $REPORT_DIR/serve.log)"
fi
exit "$status"
