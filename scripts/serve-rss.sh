#!/usr/bin/env bash
# The memory of `ygor serve` starting on an existing SQLite log with no read-model snapshot (the
# long start: a replay of the whole log, a snapshot written, the read models taken back from it).
#
#   YGOR_BENCH_EVENTS=1000000 YGOR_BENCH_BACKENDS=sqlite YGOR_BENCH_KEEP=1 cargo bench --bench rebuild
#   scripts/serve-rss.sh /tmp/ygor-test-XXXX [seconds]        # the directory the bench printed
#
# Works on a copy of the directory (its snapshots deleted), so the log itself is left as it was.
# Prints the server's RSS at rest and its peak (VmHWM) after `seconds` (default 20), and the
# start's timings from its log. YGOR_BIN picks another binary (default target/release/ygor), to
# compare two builds on the same log.
set -euo pipefail

source_dir=${1:?usage: scripts/serve-rss.sh DATA_DIR [seconds]}
seconds=${2:-20}
binary=${YGOR_BIN:-$(dirname "${BASH_SOURCE[0]}")/../target/release/ygor}
work=$(mktemp -d)
trap 'kill "${server:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

cp -r "$source_dir"/. "$work"/
python3 - "$work/ygor.db" <<'PY'
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1])
connection.execute("DELETE FROM projection_snapshot_parts")
connection.execute("DELETE FROM projection_snapshots")
connection.commit()
PY
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
RUST_LOG=info "$binary" serve --data-dir "$work" --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
server=$!
sleep "$seconds"
kb() { awk -v field="$1:" '$1 == field { print int($2 / 1024) }' "/proc/$server/status"; }
echo "RSS $(kb VmRSS) MB, peak $(kb VmHWM) MB after ${seconds} s"
sed 's/\x1b\[[0-9;]*m//g' "$work/serve.log" | grep -E "caught up|snapshot|serving" | cut -c1-200
