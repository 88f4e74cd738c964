#!/usr/bin/env bash
# Streaming playback: time to first sound after joining a room in the middle
# of a two-hour song and after a seek to minute 100 of it, and memory while
# playing it, for `hifi listen` (the CLI) and the web app (Chromium), on
# loopback. The figures come from the scenarios that also guard them in the
# test command (tests/e2e/stream_e2e_test.sh and the browser test "a
# two-hour song..."), run here on a Release build and collected into one
# table. The tests only assert bounds on memory and what is fetched; the
# times are measured, not asserted.
#
# Usage: bench/stream_bench.sh
# Environment:
#   BENCH_SKIP_SETUP=1   skip scripts/setup and the build (use the build dir as is)
#   BENCH_BUILD_DIR      the build dir (default build/bench)
#   BENCH_RESULTS        a file: append the headline rows for bench/all to it
# Nothing is pinned: server, players and browser share the cores, as they would
# on one machine (the figures are times to first sound, not throughput).
# Prints a final machine-readable line: STREAM_JSON {...}
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${BENCH_BUILD_DIR:-$ROOT/build/bench}

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=SCRIPTDIR/lib.sh
source "$ROOT/bench/lib.sh"

[[ "${BENCH_SKIP_SETUP:-0}" == 1 ]] || scripts/setup browser
build_for_bench hifi-server hifi hifi-sync-report
TMP=$(mktemp -d "${TMPDIR:-/tmp}/hifi-stream-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

log "CLI: two listeners of a two-hour FLAC (tests/e2e/stream_e2e_test.sh)"
bash tests/e2e/stream_e2e_test.sh "$BUILD_DIR/src" >"$TMP/cli.log" 2>&1 || { cat "$TMP/cli.log" >&2; die "the CLI scenario failed"; }
log "browser: the web app's tests, with the two-hour song among them"
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error >/dev/null &&
  HIFI_SERVER_BIN="$BUILD_DIR/src/hifi-server" node --test --test-reporter=spec hifi.test.mjs) >"$TMP/web.log" 2>&1 ||
  { cat "$TMP/web.log" >&2; die "the browser scenario failed"; }

# The figures, from the lines the scenarios print.
cli_join=$(sed -n 's/.*listener 2 heard the song \([0-9]*\) ms after starting.*/\1/p' "$TMP/cli.log" | head -n1)
cli_seek=$(sed -n 's/.*the seek was heard \(-\{0,1\}[0-9]*\) ms (listener 1) and \(-\{0,1\}[0-9]*\) ms.*/\1 \2/p' "$TMP/cli.log" | head -n1)
cli_rss=$(sed -n 's/.*peak resident memory: listener 1 \([0-9]*\) MB, listener 2 \([0-9]*\) MB.*/\1 \2/p' "$TMP/cli.log" | head -n1)
cli_fetched=$(sed -n 's/.*(\([0-9.]*\)% of the song).*/\1/p' "$TMP/cli.log" | head -n1)
web=$(grep -o 'two-hour song: sound [0-9]* ms after a seek to minute 100, [0-9]* ms after joining; [0-9.]* s decoded, JS heap [0-9.]* MB' "$TMP/web.log" | head -n1)
web_seek=$(sed -n 's/.*sound \([0-9]*\) ms after a seek.*/\1/p' <<<"$web")
web_join=$(sed -n 's/.*, \([0-9]*\) ms after joining.*/\1/p' <<<"$web")
web_decoded=$(sed -n 's/.*joining; \([0-9.]*\) s decoded.*/\1/p' <<<"$web")
web_heap=$(sed -n 's/.*JS heap \([0-9.]*\) MB.*/\1/p' <<<"$web")
[[ -n "$cli_join" && -n "$cli_seek" && -n "$cli_rss" && -n "$web_seek" ]] || die "a figure is missing (see the logs above)"
read -r cli_seek1 cli_seek2 <<<"$cli_seek"
read -r cli_rss1 cli_rss2 <<<"$cli_rss"

printf '%-44s %12s %12s %10s\n' measure CLI browser goal
printf '%-44s %12s %12s %10s\n' "first sound after a seek to 100:00 (ms)" "$cli_seek1/$cli_seek2" "$web_seek" "<= 300"
printf '%-44s %12s %12s %10s\n' "first sound after joining mid-song (ms)" "$cli_join" "$web_join" "<= 300"
printf '%-44s %12s %12s %10s\n' "peak memory playing it (MB)" "$cli_rss1/$cli_rss2 RSS" "$web_heap heap" "60 / 150"
printf '%-44s %12s %12s %10s\n' "decoded audio held (s)" "11 per song" "$web_decoded" ""
printf '%-44s %12s %12s %10s\n' "song fetched for the seek + 10 s (%)" "$cli_fetched" "" ""
echo "(CLI join time counts from the process start: login, room, clock sync, fetch and decode.)"
cli_seek_worst=$((cli_seek1 > cli_seek2 ? cli_seek1 : cli_seek2))
cli_rss_worst=$((cli_rss1 > cli_rss2 ? cli_rss1 : cli_rss2))
bench_result "CLI: first sound after a seek to 100:00 of a 2-hour FLAC (worse of 2 listeners)" "$cli_seek_worst" - ms "<= 300 ms" "$(bench_met "$cli_seek_worst" "<=" 300)"
bench_result "CLI: first sound after joining mid-song (from process start)" "$cli_join" - ms "<= 300 ms" "$(bench_met "$cli_join" "<=" 300)"
bench_result "CLI: peak resident memory playing the 2-hour song" "$cli_rss_worst" - MB "<= 60 MB" "$(bench_met "$cli_rss_worst" "<=" 60)"
bench_result "browser: first sound after a seek to 100:00" "$web_seek" - ms "<= 300 ms" "$(bench_met "$web_seek" "<=" 300)"
bench_result "browser: first sound after joining mid-song" "${web_join:--}" - ms "<= 300 ms" "$(bench_met "${web_join:--}" "<=" 300)"
bench_result "browser: JS heap playing the 2-hour song" "${web_heap:--}" - MB "<= 150 MB" "$(bench_met "${web_heap:--}" "<=" 150)"
echo "STREAM_JSON {\"cli_seek_ms\":[$cli_seek1,$cli_seek2],\"cli_join_ms\":$cli_join,\"cli_rss_mb\":[$cli_rss1,$cli_rss2]," \
  "\"web_seek_ms\":$web_seek,\"web_join_ms\":$web_join,\"web_heap_mb\":$web_heap,\"web_decoded_s\":$web_decoded}"
