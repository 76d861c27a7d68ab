#!/usr/bin/env bash
# A/B comparison of two builds of `ygor` under the load benchmark, in one session: the runs
# alternate A, B, A, B… so that the machine's drift falls on both alike. The benchmark client is
# the one of this checkout; only the server differs (YGOR_BENCH_SERVER_BIN).
#
#     scripts/ab-load.sh A_BIN B_BIN [ROUNDS] [-- BENCH ARGS]
#     scripts/ab-load.sh /tmp/old/ygor target/release/ygor 3 -- --backend both --concurrency 32 --seconds 10 --scenario all
#
# Each run's output goes to $YGOR_AB_DIR (default ./ab-load-<date>/) as a-1.txt, b-1.txt, …; the
# result tables are printed at the end, A and B side by side per round.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ $# -lt 2 ]; then
	echo "usage: $0 A_BIN B_BIN [ROUNDS] [-- BENCH ARGS]" >&2
	exit 2
fi
a_bin=$(realpath "$1")
b_bin=$(realpath "$2")
shift 2
rounds=3
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
	rounds=$1
	shift
fi
if [ $# -gt 0 ] && [ "$1" = "--" ]; then
	shift
fi
bench_args=("$@")
if [ ${#bench_args[@]} -eq 0 ]; then
	bench_args=(--backend both --concurrency 32 --seconds 10 --scenario all)
fi
for binary in "$a_bin" "$b_bin"; do
	[ -x "$binary" ] || { echo "$binary is not an executable" >&2; exit 2; }
done

out=${YGOR_AB_DIR:-./ab-load-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
echo "A = $a_bin" | tee "$out/README"
echo "B = $b_bin" | tee -a "$out/README"
echo "bench: ${bench_args[*]}" | tee -a "$out/README"

# Build the benchmark once, before the first timed run.
cargo bench --bench load --no-run >&2

for round in $(seq 1 "$rounds"); do
	for side in a b; do
		if [ "$side" = a ]; then binary=$a_bin; else binary=$b_bin; fi
		echo "round $round, $side ($binary)" >&2
		YGOR_BENCH_SERVER_BIN=$binary cargo bench --bench load -- "${bench_args[@]}" >"$out/$side-$round.txt" 2>&1
	done
done

for round in $(seq 1 "$rounds"); do
	for side in a b; do
		echo
		echo "== round $round, $(echo "$side" | tr ab AB)"
		# The benchmark's result table (Markdown).
		grep -E '^\| (backend|sqlite|postgres) |^\|---' "$out/$side-$round.txt" || tail -n 20 "$out/$side-$round.txt"
	done
done
