#!/usr/bin/env bash
# HTTP benchmark: HiFi's signed-URL streaming against nginx serving the same
# bytes as static files, side by side on this machine, then HiFi's upload
# throughput with 1 and 8 parallel clients.
#
# Usage: bench/http_bench.sh
# Environment:
#   BENCH_SECONDS        measured seconds per wrk run (default 10)
#   BENCH_WARMUP         warm-up seconds before each measured run (default 2)
#   BENCH_THREADS        wrk threads (default 2)
#   BENCH_CONNECTIONS    wrk connections (default 64)
#   BENCH_UPLOAD_FILES   distinct files each upload client sends (default 8)
#   BENCH_HIFI_ARGS      extra hifi-server arguments, e.g. "--log-level warn"
#   BENCH_KEEP=1         keep the temp dir (logs, data) for inspection
#   BENCH_SKIP_SETUP=1   skip scripts/setup and the build (use build/bench as is)
#   BENCH_SERVER_CPUS, BENCH_CLIENT_CPUS  taskset CPU lists: hifi-server and nginx
#                        on the first, wrk and the upload clients on the second
#                        (default: nothing pinned)
#   BENCH_RESULTS        a file: append the headline rows for bench/all to it
# Everything it starts is stopped on exit; the temp dir is removed.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR="$ROOT/build/bench"

SECONDS_PER_RUN=${BENCH_SECONDS:-10}
WARMUP=${BENCH_WARMUP:-2}
WRK_THREADS=${BENCH_THREADS:-2}
WRK_CONNS=${BENCH_CONNECTIONS:-64}
UPLOAD_FILES=${BENCH_UPLOAD_FILES:-8}
RANGE_LEN=65536
RANGE_SEED=20240601

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=SCRIPTDIR/lib.sh
source "$ROOT/bench/lib.sh"
bench_pins

# --- setup and build --------------------------------------------------------
if [[ "${BENCH_SKIP_SETUP:-0}" != 1 ]]; then
  scripts/setup bench
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHIFI_TESTS=OFF >/dev/null
  cmake --build "$BUILD_DIR" --target hifi-server >/dev/null
fi
HIFI_BIN="$BUILD_DIR/src/hifi-server"
[[ -x "$HIFI_BIN" ]] || die "$HIFI_BIN not built"
for tool in wrk nginx ffmpeg sox curl jq ss; do
  command -v "$tool" >/dev/null || die "$tool is not installed (run scripts/setup bench)"
done
NGINX_BIN=$(command -v nginx)

# --- temp dir and cleanup ---------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/hifi-bench.XXXXXX")
HIFI_PID=""
NGINX_PID=""
CHILD_PIDS=()

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${CHILD_PIDS[@]}"; do  # upload clients: their curl, then the loop
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${CHILD_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  stop_pid "$NGINX_PID" QUIT   # graceful: the master stops its workers
  stop_pid "$HIFI_PID" TERM
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
    log "kept $TMP"
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
exit_traps cleanup

# --- test files -------------------------------------------------------------
# Deterministic tones. 30 s of 44.1 kHz 16-bit stereo PCM = 5.3 MB;
# 256 kbit/s for 130 s = 4.2 MB of MP3; a 2 s 64 kbit/s MP3 = 16 KB.
MEDIA="$TMP/media"
mkdir -p "$MEDIA"
log "generating audio files"
sox -n -r 44100 -b 16 -c 2 "$MEDIA/song.wav" synth 30 sine 440 sine 660 vol 0.5
ffmpeg -nostdin -loglevel error -f lavfi -i "sine=frequency=330:sample_rate=44100:duration=130" \
  -ac 2 -c:a libmp3lame -b:a 256k -map_metadata -1 -fflags +bitexact -flags:a +bitexact "$MEDIA/song.mp3"
ffmpeg -nostdin -loglevel error -f lavfi -i "sine=frequency=550:sample_rate=44100:duration=2" \
  -ac 1 -c:a libmp3lame -b:a 64k -map_metadata -1 -fflags +bitexact -flags:a +bitexact "$MEDIA/small.mp3"

file_size() { stat -c %s "$1"; }

# --- HiFi -------------------------------------------------------------------
log "starting hifi-server"
mkdir -p "$TMP/hifi-data"
# shellcheck disable=SC2086
"${PIN_SERVER[@]}" "$HIFI_BIN" --listen 127.0.0.1:0 --data-dir "$TMP/hifi-data" --shutdown-grace 2s \
  ${BENCH_HIFI_ARGS:-} >"$TMP/hifi.log" 2>&1 &
HIFI_PID=$!
HIFI_PORT=$(wait_port "$TMP/hifi.log" "$HIFI_PID" hifi-server)
HIFI="http://127.0.0.1:$HIFI_PORT"
log "hifi-server on $HIFI"

api() {  # api METHOD PATH [curl args...]: prints the body, fails on HTTP >= 400
  local method=$1 path=$2
  shift 2
  curl -sS --fail-with-body --max-time 60 -X "$method" "$HIFI$path" "$@"
}

api POST /api/v1/auth/register -H 'Content-Type: application/json' \
  -d '{"username":"bench","password":"bench-password-1"}' >/dev/null
TOKEN=$(api POST /api/v1/auth/login -H 'Content-Type: application/json' \
  -d '{"username":"bench","password":"bench-password-1"}' | jq -er .token)
AUTH=(-H "Authorization: Bearer $TOKEN")

upload() {  # upload FILE CONTENT-TYPE: prints the song's id
  api POST /api/v1/songs "${AUTH[@]}" -H "Content-Type: $2" -H "X-Filename: $(basename "$1")" \
    --data-binary "@$1" | jq -er .id
}
signed_path() { api GET "/api/v1/songs/$1/stream-url" "${AUTH[@]}" | jq -er .url; }

log "uploading test files"
WAV_ID=$(upload "$MEDIA/song.wav" audio/wav)
MP3_ID=$(upload "$MEDIA/song.mp3" audio/mpeg)
SMALL_ID=$(upload "$MEDIA/small.mp3" audio/mpeg)
declare -A HIFI_PATH NGINX_PATH SIZE FILE=([wav]=song.wav [mp3]=song.mp3 [small]=small.mp3)
HIFI_PATH[wav]=$(signed_path "$WAV_ID")
HIFI_PATH[mp3]=$(signed_path "$MP3_ID")
HIFI_PATH[small]=$(signed_path "$SMALL_ID")
NGINX_PATH[wav]=/song.wav
NGINX_PATH[mp3]=/song.mp3
NGINX_PATH[small]=/small.mp3
SIZE[wav]=$(file_size "$MEDIA/song.wav")
SIZE[mp3]=$(file_size "$MEDIA/song.mp3")
SIZE[small]=$(file_size "$MEDIA/small.mp3")

# --- nginx ------------------------------------------------------------------
# A loopback TCP port below the ephemeral range that no socket uses (in any
# state), so that client connections cannot take it meanwhile.
EPHEMERAL_LOW=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
  local p lo=10000 hi=$((EPHEMERAL_LOW - 1))
  ((hi > lo)) || { lo=1024; hi=$((EPHEMERAL_LOW - 1)); }
  for _ in $(seq 200); do
    p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
    [[ "$p" == "$HIFI_PORT" || "$p" == "${NGINX_PORT:-}" ]] && continue
    if [[ -z "$(ss -Hant "( sport = :$p or dport = :$p )" 2>/dev/null)" ]]; then echo "$p"; return 0; fi
  done
  return 1
}

WWW="$TMP/www"
NGX="$TMP/nginx"
mkdir -p "$WWW" "$NGX/tmp"
cp "$MEDIA/song.wav" "$MEDIA/song.mp3" "$MEDIA/small.mp3" "$WWW/"
# As root, nginx workers would switch to 'nobody', who cannot read the temp
# dir: keep them as the current user.
USER_LINE=""
if [[ $(id -u) -eq 0 ]]; then USER_LINE="user $(id -un) $(id -gn);"; fi
write_nginx_conf() {
  cat >"$NGX/nginx.conf" <<EOF
$USER_LINE
worker_processes $(nproc);
daemon off;
master_process on;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  client_body_temp_path $NGX/tmp/body;
  proxy_temp_path $NGX/tmp/proxy;
  fastcgi_temp_path $NGX/tmp/fastcgi;
  uwsgi_temp_path $NGX/tmp/uwsgi;
  scgi_temp_path $NGX/tmp/scgi;
  types { audio/wav wav; audio/mpeg mp3; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $WWW;
    location / { }
  }
  # The same with tcp_nopush off: here (Linux 6.18) sendfile + TCP_CORK makes
  # nginx stall ~40 ms on responses of 64 KiB and more (delayed ACK), which
  # the range scenario hits; this server shows nginx without that stall.
  server {
    listen 127.0.0.1:$NGINX_PORT2;
    root $WWW;
    tcp_nopush off;
    location / { }
  }
}
EOF
}
log "starting nginx"
nginx_up=0
for attempt in 1 2 3; do  # a port may get taken between the check and the bind
  NGINX_PORT=$(free_port) || die "no free port for nginx"
  NGINX_PORT2=$(free_port) || die "no free port for nginx"
  write_nginx_conf
  "${PIN_SERVER[@]}" "$NGINX_BIN" -p "$NGX" -e "$NGX/error.log" -c "$NGX/nginx.conf" >"$NGX/stdout.log" 2>&1 &
  NGINX_PID=$!
  NGINX="http://127.0.0.1:$NGINX_PORT"
  NGINX2="http://127.0.0.1:$NGINX_PORT2"
  for _ in $(seq 100); do
    if curl -sf -o /dev/null "$NGINX/small.mp3" && curl -sf -o /dev/null "$NGINX2/small.mp3"; then
      nginx_up=1
      break
    fi
    kill -0 "$NGINX_PID" 2>/dev/null || break
    sleep 0.1
  done
  ((nginx_up)) && break
  stop_pid "$NGINX_PID" QUIT
  NGINX_PID=""
  log "nginx did not start (attempt $attempt): $(tail -n1 "$NGX/error.log" 2>/dev/null)"
done
((nginx_up)) || { cat "$NGX/error.log" "$NGX/stdout.log" >&2; die "nginx did not start"; }
log "nginx on $NGINX ($(nproc) workers)"

# --- same bytes from both ---------------------------------------------------
for f in wav mp3 small; do
  want=$(sha256sum <"$MEDIA/${FILE[$f]}")
  got_h=$(curl -sSf --max-time 30 "$HIFI${HIFI_PATH[$f]}" | sha256sum)
  got_n=$(curl -sSf --max-time 30 "$NGINX${NGINX_PATH[$f]}" | sha256sum)
  [[ "$got_h" == "$want" && "$got_n" == "$want" ]] || die "$f: the servers do not send the same bytes"
done
for base in "$HIFI${HIFI_PATH[wav]}" "$NGINX${NGINX_PATH[wav]}" "$NGINX2${NGINX_PATH[wav]}"; do
  code=$(curl -sS -o "$TMP/range.out" -w '%{http_code}' -H "Range: bytes=1000-$((1000 + RANGE_LEN - 1))" "$base")
  [[ "$code" == 206 && $(file_size "$TMP/range.out") -eq $RANGE_LEN ]] || die "Range not honoured by $base ($code)"
  cmp -s "$TMP/range.out" <(tail -c +1001 "$MEDIA/song.wav" | head -c "$RANGE_LEN") || die "wrong Range bytes from $base"
done

# --- wrk ----------------------------------------------------------------------
# Both scripts print one machine-readable line from done(): completed
# requests, socket errors, non-2xx responses and the run's duration.
cat >"$TMP/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%d duration_us=%d errors=%d non2xx=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    math.floor(latency:percentile(50)), math.floor(latency:percentile(99))))
end
EOF
cat >"$TMP/whole.lua" <<EOF
dofile("$TMP/report.lua")
EOF
# Range: bytes=<start>-<start+65535>, start uniform over the file; each wrk
# thread gets a fixed seed so runs are repeatable.
cat >"$TMP/range.lua" <<EOF
dofile("$TMP/report.lua")
local counter = 0
local size, len = 0, $RANGE_LEN
setup = function(thread)
  counter = counter + 1
  thread:set("seed", $RANGE_SEED + counter)
end
init = function(args)
  size = tonumber(args[1])
  math.randomseed(seed or $RANGE_SEED)
end
request = function()
  local start = math.random(0, size - len)
  return wrk.format("GET", nil, { ["Range"] = "bytes=" .. start .. "-" .. (start + len - 1) })
end
EOF

RESULTS="$TMP/results.tsv"
: >"$RESULTS"

run_wrk() {  # run_wrk NAME URL SCRIPT SECONDS [args]: prints the BENCH line
  local name=$1 url=$2 script=$3 secs=$4
  shift 4
  local out="$TMP/wrk-$name.out"
  timeout $((secs + 30)) "${PIN_CLIENT[@]}" wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${secs}s" --timeout 10s \
    -s "$script" "$url" -- "$@" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed ($name)"; }
  grep '^BENCH ' "$out" || { cat "$out" >&2; die "no result from wrk ($name)"; }
}

field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<" $2"; }

# CPU time (user + system, clock ticks) used so far by a server: hifi-server's
# process, or nginx's master and workers.
CLK_TCK=$(getconf CLK_TCK)
server_ticks() {
  local pids pid t=0 stat f
  if [[ $1 == hifi ]]; then pids=$HIFI_PID; else pids="$NGINX_PID $(pgrep -P "$NGINX_PID" || true)"; fi
  for pid in $pids; do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    stat=${stat##*) }  # fields after "pid (comm) "; utime and stime are the 12th and 13th
    read -r -a f <<<"$stat"
    t=$((t + f[11] + f[12]))
  done
  echo "$t"
}

measure() {  # measure SCENARIO SERVER URL SCRIPT BODY_BYTES [args]
  local scen=$1 server=$2 url=$3 script=$4 body=$5
  shift 5
  if ((WARMUP > 0)); then run_wrk "$scen-$server-warmup" "$url" "$script" "$WARMUP" "$@" >/dev/null; fi
  local line reqs dur t0 t1
  t0=$(server_ticks "$server")
  line=$(run_wrk "$scen-$server" "$url" "$script" "$SECONDS_PER_RUN" "$@")
  t1=$(server_ticks "$server")
  reqs=$(field requests "$line")
  dur=$(field duration_us "$line")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scen" "$server" "$reqs" "$dur" "$body" \
    "$(field errors "$line")" "$(field non2xx "$line")" "$(field p50_us "$line")" "$(field p99_us "$line")" \
    "$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", t * 1e6 / hz }')" >>"$RESULTS"
  log "$(awk -v s="$scen" -v h="$server" -v r="$reqs" -v d="$dur" 'BEGIN { printf "%-20s %-6s %10.1f req/s", s, h, r * 1e6 / d }')"
}

# scenario name | file | script | body bytes per response | nginx server
SCENARIOS=(
  "whole-wav|wav|whole|${SIZE[wav]}|$NGINX"
  "range-64k|wav|range|$RANGE_LEN|$NGINX"
  "range-64k-nopush-off|wav|range|$RANGE_LEN|$NGINX2"
  "whole-mp3|mp3|whole|${SIZE[mp3]}|$NGINX"
  "small-16k|small|whole|${SIZE[small]}|$NGINX"
)
log "wrk -t$WRK_THREADS -c$WRK_CONNS, ${WARMUP}s warm-up + ${SECONDS_PER_RUN}s per run; $PINNING; load average $(cut -d' ' -f1-3 /proc/loadavg)"
i=0
for s in "${SCENARIOS[@]}"; do
  IFS='|' read -r scen f kind body peer <<<"$s"
  order=(hifi nginx)
  ((i % 2 == 1)) && order=(nginx hifi)
  for server in "${order[@]}"; do
    if [[ $server == hifi ]]; then url="$HIFI${HIFI_PATH[$f]}"; else url="$peer${NGINX_PATH[$f]}"; fi
    measure "$scen" "$server" "$url" "$TMP/$kind.lua" "$body" "${SIZE[$f]}"
  done
  i=$((i + 1))
done

echo
echo "HTTP serving, wrk -t$WRK_THREADS -c$WRK_CONNS, ${SECONDS_PER_RUN}s per run (MB = 10^6 bytes of response body); $PINNING"
awk -F'\t' '
  { rps = $3 * 1e6 / $4; mbs = rps * $5 / 1e6
    R[$1, $2] = rps; M[$1, $2] = mbs; E[$1, $2] = $6 + $7
    if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
  END {
    printf "%-20s %12s %10s %12s %10s %8s %s\n", "scenario", "HiFi req/s", "HiFi MB/s", "nginx req/s", "nginx MB/s", "ratio", "errors(h/n)"
    for (k = 1; k <= n; k++) { s = order[k]
      printf "%-20s %12.1f %10.1f %12.1f %10.1f %8.2f %d/%d\n", s, R[s, "hifi"], M[s, "hifi"],
        R[s, "nginx"], M[s, "nginx"], R[s, "hifi"] / R[s, "nginx"], E[s, "hifi"], E[s, "nginx"] }
  }' "$RESULTS"
# Headline rows for bench/all (BENCH_RESULTS): req/s of HiFi and nginx per
# scenario the goal names (HiFi/nginx >= 1.0); 64 KiB ranges against the
# nginx without the tcp_nopush stall.
headline() {  # headline SCENARIO MEASURE
  local h n
  read -r h n < <(awk -F'\t' -v s="$1" '$1 == s { R[$2] = $3 * 1e6 / $4 }
    END { printf "%.1f %.1f\n", R["hifi"], R["nginx"] }' "$RESULTS")
  bench_result "$2, c=$WRK_CONNS (HiFi/nginx, higher is better)" "$h" "$n" "req/s" "HiFi/nginx >= 1.0" \
    "$(bench_met "$(awk -v h="$h" -v n="$n" 'BEGIN { if (n > 0) printf "%.4f", h / n; else print "-" }')" ">=" 1.0)"
}
headline whole-wav "whole file 5.3 MB WAV"
headline whole-mp3 "whole file 4.2 MB MP3"
headline range-64k-nopush-off "64 KiB ranges (nginx tcp_nopush off)"
headline small-16k "16 KB files"
echo
echo "latency p50/p99 (ms) and server CPU time per request (us, user + system, all threads/workers):"
awk -F'\t' '{ printf "  %-20s %-6s %8.2f %8.2f %10.1f\n", $1, $2, $8 / 1000, $9 / 1000, $3 ? $10 / $3 : 0 }' "$RESULTS"

# --- uploads ------------------------------------------------------------------
# Distinct files: copies of one WAV whose last 16 bytes of samples carry a
# counter, so every upload is new content (no deduplication).
UP="$TMP/uploads"
mkdir -p "$UP"
sox -n -r 44100 -b 16 -c 2 "$UP/base.wav" synth 30 sine 523 vol 0.5
UP_SIZE=$(file_size "$UP/base.wav")
make_files() {  # make_files PREFIX COUNT
  local n
  for ((n = 0; n < $2; n++)); do
    cp "$UP/base.wav" "$UP/$1-$n.wav"
    printf '%-16.16s' "$1-$n" |
      dd of="$UP/$1-$n.wav" bs=1 seek=$((UP_SIZE - 16)) conv=notrunc status=none
  done
}

UP_RESULT=""
upload_round() {  # upload_round CLIENTS: sets UP_RESULT="clients ok seconds total"
  local clients=$1 c pids=() t0 t1 ok
  log "generating $((clients * UPLOAD_FILES)) distinct WAVs for $clients upload client(s)"
  for ((c = 0; c < clients; c++)); do make_files "r${clients}c$c" "$UPLOAD_FILES"; done
  sync
  : >"$UP/codes-$clients"
  t0=$(date +%s.%N)
  for ((c = 0; c < clients; c++)); do
    (
      for ((n = 0; n < UPLOAD_FILES; n++)); do
        f="$UP/r${clients}c$c-$n.wav"
        "${PIN_CLIENT[@]}" curl -s -o /dev/null -w '%{http_code}\n' --max-time 60 -X POST "$HIFI/api/v1/songs" \
          "${AUTH[@]}" -H 'Content-Type: audio/wav' -H "X-Filename: $(basename "$f")" \
          --data-binary "@$f" >>"$UP/codes-$clients" || echo "curl-failed" >>"$UP/codes-$clients"
      done
    ) &
    pids+=($!)
    CHILD_PIDS+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  t1=$(date +%s.%N)
  CHILD_PIDS=()
  ok=$(grep -c '^201$' "$UP/codes-$clients" || true)
  rm -f "$UP"/r"${clients}"c*.wav
  UP_RESULT="$clients $ok $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') $((clients * UPLOAD_FILES))"
}

upload_round 1
r1=$UP_RESULT
upload_round 8
r8=$UP_RESULT
echo
echo "Uploads (raw body, $UP_SIZE-byte distinct WAVs, $UPLOAD_FILES per client, only 201s counted)"
printf '%-8s %8s %10s %10s %10s\n' clients "201s" seconds "MB/s" "uploads/s"
for r in "$r1" "$r8"; do
  read -r c ok secs total <<<"$r"
  awk -v c="$c" -v ok="$ok" -v t="$total" -v s="$secs" -v z="$UP_SIZE" \
    'BEGIN { printf "%-8s %8s %10.2f %10.1f %10.2f\n", c, ok "/" t, s, ok * z / 1e6 / s, ok / s }'
done
echo
echo "versions: $("$HIFI_BIN" --version 2>&1 | head -n1), $("$NGINX_BIN" -v 2>&1 | head -n1), $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2)"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), Linux $(uname -r); load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
