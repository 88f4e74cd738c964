#!/usr/bin/env bash
# Library at scale: the catalog's reads, start-up and memory at 100,000
# songs, measured in process by bench/library_scale.cc (see there and
# docs/benchmarks.md, "Library at scale"). Builds the program (Release, in
# build/bench) and runs it; its RESULT lines are the figures for scripts.
#
# Usage: bench/library_scale_bench.sh [library_scale arguments...]
#   e.g. --songs 100000 --mem-songs 30000 --calls 300 --starts 3 --changes 20
# Environment:
#   LIBRARY_BENCH_SKIP_BUILD=1  use build/bench/bench/library_scale as it is
#   LIBRARY_BENCH_JOBS          build parallelism (default 2)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR="$ROOT/build/bench"

log() { printf '[library-bench %s] %s\n' "$(date +%T)" "$*" >&2; }

if [[ "${LIBRARY_BENCH_SKIP_BUILD:-0}" != 1 ]]; then
  log "building library_scale (Release, $BUILD_DIR)"
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHIFI_BENCH=ON -DHIFI_TESTS=OFF >/dev/null
  cmake --build "$BUILD_DIR" -j "${LIBRARY_BENCH_JOBS:-2}" --target library_scale >/dev/null
fi
log "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$BUILD_DIR/bench/library_scale" "$@"
