#!/usr/bin/env bash
# Transcoding benchmark: HiFi's in-process transcoder (through its stream
# URL, ?format=...&bitrate=..., with the transcode cache off so that every
# request encodes) against the ffmpeg command line doing the same job (same
# input, codec, bitrate, sample rate, one thread), side by side.
#
# Both run pinned to the same core (taskset) when the machine has two or
# more; the HTTP client (curl) runs on another. Each job runs BENCH_RUNS
# times per side, alternating, and the median wall time counts. Prints, per
# job: HiFi's time, ffmpeg's, the ratio HiFi/ffmpeg (goal <= 1.0), and HiFi's
# real-time factor per core (seconds of audio encoded per second of one core),
# and the time to the first byte of a transcode being made.
#
# Usage: bench/transcode_bench.sh
# Environment:
#   BENCH_SONG_SECONDS   length of the generated songs (default 180)
#   BENCH_RUNS           runs per job and side (default 5)
#   BENCH_KEEP=1         keep the temp dir (logs, data) for inspection
#   BENCH_SKIP_SETUP=1   skip scripts/setup and the build (use build/bench as is)
#   BENCH_HIFI_BIN       the hifi-server to measure (default build/bench/src/hifi-server)
#   BENCH_SERVER_CPUS, BENCH_CLIENT_CPUS  taskset CPU lists for the encoders (hifi-server,
#                        ffmpeg) and for curl, instead of the default (last core, core 0)
#   BENCH_RESULTS        a file: append the headline rows for bench/all to it
# Prints a final machine-readable line: TRANSCODE_JSON {...}
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR="$ROOT/build/bench"
SONG_SECONDS=${BENCH_SONG_SECONDS:-180}
RUNS=${BENCH_RUNS:-5}

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=SCRIPTDIR/lib.sh
source "$ROOT/bench/lib.sh"

if [[ -n "${BENCH_HIFI_BIN:-}" ]]; then
  HIFI_BIN=$BENCH_HIFI_BIN
else
  build_for_bench hifi-server
  HIFI_BIN=$BUILD_DIR/src/hifi-server
fi
for tool in ffmpeg curl jq taskset; do
  command -v "$tool" >/dev/null || die "$tool is not installed (run scripts/setup bench)"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hifi-transcode-bench.XXXXXX")
HIFI_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$HIFI_PID" TERM
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
exit_traps cleanup

# Pin the encoders to the last core and the client to the first, or where
# BENCH_SERVER_CPUS and BENCH_CLIENT_CPUS say.
if [[ -n "${BENCH_SERVER_CPUS:-}${BENCH_CLIENT_CPUS:-}" ]]; then
  bench_pins
  PIN_ENC=("${PIN_SERVER[@]}")
  log "encoders (hifi-server, ffmpeg) pinned to CPU ${BENCH_SERVER_CPUS:-any}, curl to CPU ${BENCH_CLIENT_CPUS:-any}"
elif (($(nproc) >= 2)); then
  ENC_CPU=$(($(nproc) - 1))
  PIN_ENC=(taskset -c "$ENC_CPU")
  PIN_CLIENT=(taskset -c 0)
  log "encoders (hifi-server, ffmpeg) pinned to core $ENC_CPU, curl to core 0"
else
  PIN_ENC=()
  PIN_CLIENT=()
  log "one core: nothing pinned"
fi

# --- inputs: a chord with noise, like music keeps encoders busy --------------
log "generating ${SONG_SECONDS} s songs (MP3 256 kbit/s, FLAC)"
SRC="aevalsrc=0.3*sin(2*PI*440*t)+0.2*sin(2*PI*554*t)+0.2*sin(2*PI*659*t)+0.1*(random(0)-0.5):s=44100:d=$SONG_SECONDS"
ffmpeg -nostdin -loglevel error -f lavfi -i "$SRC" -ac 2 -c:a libmp3lame -b:a 256k "$TMP/song.mp3"
ffmpeg -nostdin -loglevel error -f lavfi -i "$SRC" -ac 2 -c:a flac "$TMP/song.flac"

# --- HiFi ---------------------------------------------------------------------
mkdir -p "$TMP/hifi-data"
"${PIN_ENC[@]}" "$HIFI_BIN" --listen 127.0.0.1:0 --data-dir "$TMP/hifi-data" --shutdown-grace 2s \
  --transcode-cache-size 0 >"$TMP/hifi.log" 2>&1 &
HIFI_PID=$!
HIFI="http://127.0.0.1:$(wait_port "$TMP/hifi.log" "$HIFI_PID" hifi-server)"
api() {
  local method=$1 path=$2
  shift 2
  curl -sS --fail-with-body --max-time 120 -X "$method" "$HIFI$path" "$@"
}
api POST /api/v1/auth/register -H 'Content-Type: application/json' \
  -d '{"username":"bench","password":"bench-password-1"}' >/dev/null
TOKEN=$(api POST /api/v1/auth/login -H 'Content-Type: application/json' \
  -d '{"username":"bench","password":"bench-password-1"}' | jq -er .token)
upload() {
  api POST /api/v1/songs -H "Authorization: Bearer $TOKEN" -H "Content-Type: $2" \
    -H "X-Filename: $(basename "$1")" --data-binary "@$1" | jq -er .id
}
declare -A ID=([mp3]=$(upload "$TMP/song.mp3" audio/mpeg) [flac]=$(upload "$TMP/song.flac" audio/flac))

# --- the jobs -------------------------------------------------------------------
# name input hifi-format kbps ffmpeg-encoder muxer rate
JOBS=(
  "mp3->opus96 mp3 opus 96 libopus ogg 48000"
  "flac->mp3-192 flac mp3 192 libmp3lame mp3 44100"
  "flac->aac160 flac aac 160 aac adts 44100"
)

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
seconds_of() {  # seconds_of COMMAND...: wall seconds the command took
  local t0 t1
  t0=$EPOCHREALTIME
  "$@" >/dev/null
  t1=$EPOCHREALTIME
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}
hifi_run() {  # input format kbps
  local url
  url=$(api GET "/api/v1/songs/${ID[$1]}/stream-url" -H "Authorization: Bearer $TOKEN" | jq -er .url)
  "${PIN_CLIENT[@]}" curl -sS --fail --max-time 300 -o "$TMP/hifi.out" "$HIFI$url&format=$2&bitrate=$3"
  [[ -s "$TMP/hifi.out" ]] || die "HiFi returned nothing for $1 -> $2"
}
ffmpeg_run() {  # input encoder muxer kbps rate
  "${PIN_ENC[@]}" ffmpeg -nostdin -loglevel error -threads 1 -i "$TMP/song.$1" -map 0:a -vn \
    -c:a "$2" -b:a "${4}k" -ar "$5" -ac 2 -threads 1 -f "$3" -y "$TMP/ffmpeg.out"
}

printf '%-16s %10s %10s %8s %14s %6s\n' job "HiFi s" "ffmpeg s" ratio "HiFi RTF/core" goal
JSON="["
for job in "${JOBS[@]}"; do
  read -r name input format kbps encoder muxer rate <<<"$job"
  hifi_times=() ffmpeg_times=()
  hifi_run "$input" "$format" "$kbps"   # warm-up: page cache, code
  ffmpeg_run "$input" "$encoder" "$muxer" "$kbps" "$rate"
  for _ in $(seq "$RUNS"); do
    hifi_times+=("$(seconds_of hifi_run "$input" "$format" "$kbps")")
    ffmpeg_times+=("$(seconds_of ffmpeg_run "$input" "$encoder" "$muxer" "$kbps" "$rate")")
  done
  h=$(printf '%s\n' "${hifi_times[@]}" | median)
  f=$(printf '%s\n' "${ffmpeg_times[@]}" | median)
  read -r ratio rtf met < <(awk -v h="$h" -v f="$f" -v s="$SONG_SECONDS" \
    'BEGIN { r = h / f; printf "%.3f %.0f %s\n", r, s / h, (r <= 1.0 ? "met" : "not-met") }')
  printf '%-16s %10.3f %10.3f %8.3f %13sx %6s\n' "$name" "$h" "$f" "$ratio" "$rtf" "$met"
  JSON+=$(printf '{"job":"%s","hifi_s":%s,"ffmpeg_s":%s,"ratio":%s,"hifi_rtf_per_core":%s}' \
    "$name" "$h" "$f" "$ratio" "$rtf"),
  bench_result "transcode $name, ${SONG_SECONDS} s song, median wall time (lower is better)" "$h" "$f" s \
    "HiFi/ffmpeg <= 1.0" "$(bench_met "$ratio" "<=" 1.0)"
done
# Time to the first byte of a transcode being made (goal: 50 ms on loopback).
first_byte_ms() {
  local url
  url=$(api GET "/api/v1/songs/${ID[mp3]}/stream-url" -H "Authorization: Bearer $TOKEN" | jq -er .url)
  "${PIN_CLIENT[@]}" curl -sS --fail --max-time 60 -o /dev/null -w '%{time_starttransfer}\n' \
    "$HIFI$url&format=opus&bitrate=96" | awk '{ printf "%.1f\n", $1 * 1000 }'
}
ttfb=()
for _ in $(seq "$RUNS"); do ttfb+=("$(first_byte_ms)"); done
TTFB=$(printf '%s\n' "${ttfb[@]}" | median)
printf '%-16s %10s ms to the first byte of a live MP3 -> Opus 96 transcode (median of %d; goal <= 50)\n' \
  "first byte" "$TTFB" "$RUNS"
bench_result "first byte of a live MP3 -> Opus 96 transcode, median" "$TTFB" - ms "<= 50 ms" "$(bench_met "$TTFB" "<=" 50)"
echo "TRANSCODE_JSON {\"song_seconds\":$SONG_SECONDS,\"runs\":$RUNS,\"first_byte_ms\":$TTFB,\"jobs\":${JSON%,}]}"
