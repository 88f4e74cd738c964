#!/usr/bin/env bash
# Store benchmark: durable writes a second from N concurrent writers on
# HiFi's SQLite store (group commit), against the disk's floor measured in
# the same run and directory (one thread: 2 KiB write + fdatasync in a loop).
# See docs/benchmarks.md, "Store: durable commands with group commit".
#
# Usage: bench/store_bench.sh
# Environment:
#   STORE_BENCH_WRITERS   writer counts (default "1 4 16 64")
#   STORE_BENCH_SECONDS   seconds per count and for the floor (default 5)
#   STORE_BENCH_DIR       where the stores are made (default: a temp dir under
#                         /var/tmp, on the disk rather than tmpfs)
#   BENCH_SKIP_SETUP=1    use build/bench as it is
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR="$ROOT/build/bench"
source bench/lib.sh
log() { echo "store_bench: $*" >&2; }
die() { log "$*"; exit 1; }

WRITERS=${STORE_BENCH_WRITERS:-"1 4 16 64"}
SECS=${STORE_BENCH_SECONDS:-5}
if [[ "${BENCH_SKIP_SETUP:-0}" != 1 ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHIFI_BENCH=ON -DHIFI_TESTS=OFF >/dev/null
  cmake --build "$BUILD_DIR" --target store_commit_bench >/dev/null
fi
BIN="$BUILD_DIR/bench/store_commit_bench"
[[ -x "$BIN" ]] || die "$BIN not built"
DIR=${STORE_BENCH_DIR:-$(mktemp -d /var/tmp/hifi-store-bench.XXXXXX)}
cleanup() { trap - EXIT INT TERM; local rc=$?; [[ -n "${STORE_BENCH_DIR:-}" ]] || rm -rf "$DIR"; exit "$rc"; }
exit_traps cleanup
log "$(findmnt -no FSTYPE --target "$DIR" 2>/dev/null || echo '?') under $DIR; writers: $WRITERS; $SECS s each"
# shellcheck disable=SC2086  # the writer counts are meant to split
"$BIN" "$DIR" "$SECS" $WRITERS | tee "$DIR/out.txt" | grep -v '^ROW'
while read -r _ n rate floor p99; do
  ((n > 1)) || continue
  bench_result "durable writes/s, $n writers (floor: one-at-a-time fdatasync/s)" "$rate" "$floor" "/s" \
    "> floor (commands share fsyncs)" "$(bench_met "$rate" ">" "$floor")"
done < <(grep '^ROW' "$DIR/out.txt")
