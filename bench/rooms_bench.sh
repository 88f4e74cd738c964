#!/usr/bin/env bash
# Rooms benchmark: how fast a room command reaches every listener of a room,
# and what an idle listener costs, for HiFi and for a minimal broadcast server
# on the npm `ws` package (bench/ws_peer), side by side on this machine.
#
# For each size N: a fresh hifi-server (same data dir: the room, its song and
# the account survive restarts) and a fresh peer; bench/room_fanout opens N
# WebSocket listeners, waits until all have their first message and the
# server is quiet, then sends one command every 100 ms for D seconds (HiFi:
# seeks to alternating positions; peer: POST /command) and reports the time
# until the last listener has the resulting message (p50/p99/max over the
# commands), plus the server's RSS growth per connection.
#
# Then many rooms at once (ROOM_BENCH_ROOMS, default 100 rooms of 100
# listeners): the commands go to the rooms in turn, one every
# ROOM_BENCH_ROOMS_INTERVAL_MS (default 10 ms, so each room gets one a second
# and the server delivers 10,000 messages a second, as for one room of 1,000
# at one command every 100 ms); a command's latency is until the last listener
# of its room has the message.
#
# Usage: bench/rooms_bench.sh
# Environment:
#   ROOM_BENCH_SIZES          listener counts (default "1 100 1000 10000")
#   ROOM_BENCH_SECONDS        seconds of commands per run (default 10)
#   ROOM_BENCH_INTERVAL_MS    time between commands (default 100)
#   ROOM_BENCH_ROOMS          many rooms at once, as ROOMSxLISTENERS (default 100x100; "" skips it)
#   ROOM_BENCH_ROOMS_INTERVAL_MS  time between commands in that run (default 10)
#   ROOM_BENCH_SERVERS        which servers to run (default "hifi peer")
#   ROOM_BENCH_CLIENT_THREADS room_fanout I/O threads (default 1)
#   ROOM_BENCH_JOIN_TIMEOUT   seconds allowed for all joins to finish (default 150); a run
#                             whose joins take longer reports that and sends no commands
#   ROOM_BENCH_HIFI_ARGS      extra hifi-server arguments
#   ROOM_BENCH_DATA_PARENT    where hifi-server's data dir is created (default: the temp
#                             dir); /dev/shm takes the disk's fsync out of the latency
#   ROOM_BENCH_KEEP=1         keep the temp dir (logs, data, JSON results)
#   ROOM_BENCH_SKIP_BUILD=1   use build/bench and bench/ws_peer/node_modules as they are
#   BENCH_SERVER_CPUS, BENCH_CLIENT_CPUS  taskset CPU lists: hifi-server and the peer on
#                             the first, room_fanout on the second (default: not pinned)
#   BENCH_RESULTS             a file: append the headline rows for bench/all to it
# Everything it starts is stopped on exit; the temp dir is removed.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR="$ROOT/build/bench"
PEER_DIR="$ROOT/bench/ws_peer"

SIZES=${ROOM_BENCH_SIZES:-"1 100 1000 10000"}
SECONDS_PER_RUN=${ROOM_BENCH_SECONDS:-10}
INTERVAL_MS=${ROOM_BENCH_INTERVAL_MS:-100}
SERVERS=${ROOM_BENCH_SERVERS:-"hifi peer"}
MANY_ROOMS=${ROOM_BENCH_ROOMS-100x100}
ROOMS_INTERVAL_MS=${ROOM_BENCH_ROOMS_INTERVAL_MS:-10}
CLIENT_THREADS=${ROOM_BENCH_CLIENT_THREADS:-1}
JOIN_TIMEOUT=${ROOM_BENCH_JOIN_TIMEOUT:-150}
SONG_SECONDS=600

log() { printf '[rooms-bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=SCRIPTDIR/lib.sh
source "$ROOT/bench/lib.sh"
bench_pins

# --- limits -----------------------------------------------------------------
max_n=0
for n in $SIZES; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "ROOM_BENCH_SIZES: '$n' is not a positive number"
  ((n > max_n)) && max_n=$n
done
ROOM_COUNT=0
ROOM_SIZE=0
if [[ -n "$MANY_ROOMS" ]]; then
  [[ "$MANY_ROOMS" =~ ^([1-9][0-9]*)x([1-9][0-9]*)$ ]] || die "ROOM_BENCH_ROOMS: '$MANY_ROOMS' is not ROOMSxLISTENERS (e.g. 100x100)"
  ROOM_COUNT=${BASH_REMATCH[1]}
  ROOM_SIZE=${BASH_REMATCH[2]}
  ((ROOM_COUNT >= 2 && ROOM_COUNT <= 1000)) || die "ROOM_BENCH_ROOMS: 2 to 1000 rooms (one room is what ROOM_BENCH_SIZES measures)"
  ((ROOM_COUNT * ROOM_SIZE > max_n)) && max_n=$((ROOM_COUNT * ROOM_SIZE))
fi
[[ "$ROOMS_INTERVAL_MS" =~ ^[1-9][0-9]*$ ]] || die "ROOM_BENCH_ROOMS_INTERVAL_MS: '$ROOMS_INTERVAL_MS' is not a positive number"
# Each process (server, client) holds N sockets plus a few files.
raise_open_files $((max_n + 256)) || die "open-file limit $(ulimit -n) is too low for $max_n listeners"

# --- build ------------------------------------------------------------------
if [[ "${ROOM_BENCH_SKIP_BUILD:-0}" != 1 ]]; then
  log "building hifi-server and room_fanout (Release, $BUILD_DIR)"
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHIFI_BENCH=ON -DHIFI_TESTS=OFF >/dev/null
  cmake --build "$BUILD_DIR" --target hifi-server room_fanout >/dev/null
  if [[ ! -d "$PEER_DIR/node_modules/ws" ]]; then
    log "installing the ws peer's dependencies"
    (cd "$PEER_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
fi
HIFI_BIN="$BUILD_DIR/src/hifi-server"
LOADGEN="$BUILD_DIR/bench/room_fanout"
[[ -x "$HIFI_BIN" ]] || die "$HIFI_BIN not built"
[[ -x "$LOADGEN" ]] || die "$LOADGEN not built"
[[ -d "$PEER_DIR/node_modules/ws" ]] || die "run npm ci in $PEER_DIR"
for tool in node sox curl jq; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done

# --- temp dir and cleanup ---------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/hifi-rooms-bench.XXXXXX")
HIFI_DATA=$(mktemp -d "${ROOM_BENCH_DATA_PARENT:-$TMP}/hifi-data.XXXXXX")
HIFI_PID=""
PEER_PID=""
LOADGEN_PID=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$LOADGEN_PID"
  stop_pid "$PEER_PID"
  stop_pid "$HIFI_PID"
  if [[ "${ROOM_BENCH_KEEP:-0}" == 1 ]]; then
    log "kept $TMP (HiFi data in $HIFI_DATA)"
  else
    rm -rf "$HIFI_DATA" "$TMP"
  fi
  exit "$rc"
}
exit_traps cleanup

start_hifi() {  # sets HIFI_PID and HIFI_PORT
  # shellcheck disable=SC2086
  "${PIN_SERVER[@]}" "$HIFI_BIN" --listen 127.0.0.1:0 --data-dir "$HIFI_DATA" --max-connections 20000 --max-connections-per-address 20000 --max-websockets-per-user 20000 --max-rooms-per-user 2000 \
    --shutdown-grace 1s ${ROOM_BENCH_HIFI_ARGS:-} >>"$TMP/hifi.log" 2>&1 &
  HIFI_PID=$!
  HIFI_PORT=$(wait_port "$TMP/hifi.log" "$HIFI_PID" hifi-server)
  : >"$TMP/hifi.log"  # the next start must not find this port
}

start_peer() {  # sets PEER_PID and PEER_PORT
  "${PIN_SERVER[@]}" node "$PEER_DIR/server.js" 0 >"$TMP/peer.log" 2>&1 &
  PEER_PID=$!
  PEER_PORT=$(wait_port "$TMP/peer.log" "$PEER_PID" "ws peer")
}

# --- HiFi: account, song, room ------------------------------------------------
log "generating a ${SONG_SECONDS}s WAV (8 kHz mono)"
sox -n -r 8000 -c 1 -b 16 "$TMP/song.wav" synth "$SONG_SECONDS" sine 440 vol 0.5
start_hifi
HIFI="http://127.0.0.1:$HIFI_PORT"
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
SONG_ID=$(api POST /api/v1/songs "${AUTH[@]}" -H 'Content-Type: audio/wav' -H 'X-Filename: song.wav' \
  --data-binary "@$TMP/song.wav" | jq -er .id)
ROOM_ID=$(api POST /api/v1/rooms "${AUTH[@]}" -H 'Content-Type: application/json' -d '{"name":"bench"}' | jq -er .id)
api POST "/api/v1/rooms/$ROOM_ID/commands" "${AUTH[@]}" -H 'Content-Type: application/json' \
  -d "{\"type\":\"add\",\"song_ids\":[\"$SONG_ID\"]}" | jq -e '.state.current != null and .state.playing == false' >/dev/null ||
  die "the room has no current song"
DURATION_MS=$(api GET "/api/v1/songs/$SONG_ID" "${AUTH[@]}" | jq -er .duration_ms)
# The rooms of the many-rooms run, each with the song.
ROOM_ARGS=()
for ((r = 0; r < ROOM_COUNT; r++)); do
  id=$(api POST /api/v1/rooms "${AUTH[@]}" -H 'Content-Type: application/json' -d "{\"name\":\"bench $r\"}" | jq -er .id)
  api POST "/api/v1/rooms/$id/commands" "${AUTH[@]}" -H 'Content-Type: application/json' \
    -d "{\"type\":\"add\",\"song_ids\":[\"$SONG_ID\"]}" >/dev/null
  ROOM_ARGS+=(--room "$id")
done
((ROOM_COUNT == 0)) || log "$ROOM_COUNT more rooms for the many-rooms run"
stop_pid "$HIFI_PID"
HIFI_PID=""
log "room $ROOM_ID with a ${DURATION_MS} ms song"
# Every HiFi command is a durable SQLite commit: show what a synchronous
# write costs where the data lives.
DSYNC_MS=$(dd if=/dev/zero of="$HIFI_DATA/dsync-probe" bs=4k count=100 oflag=dsync 2>&1 |
  sed -n 's/.* copied, \([0-9.]*\) s.*/\1/p' | awk '{ printf "%.2f", $1 * 1000 / 100 }')
rm -f "$HIFI_DATA/dsync-probe"
log "synchronous 4 KiB write in $HIFI_DATA: ${DSYNC_MS} ms on average"

# --- runs ---------------------------------------------------------------------
RESULTS="$TMP/results.jsonl"
: >"$RESULTS"

run_loadgen() {  # run_loadgen LABEL N PID WS_URL COMMAND_URL KEY [args]: appends the JSON line
  local label=$1 n=$2 pid=$3 ws=$4 cmd=$5 key=$6
  shift 6
  run_room_fanout "$TMP/$label-$n.out" "$RESULTS" "$label" "$n" --threads "$CLIENT_THREADS" --pid "$pid" \
    --url "$ws" --command-url "$cmd" --key "$key" "$@"
}

log "sizes: $SIZES${MANY_ROOMS:+, then ${ROOM_COUNT} rooms of ${ROOM_SIZE}}; ${SECONDS_PER_RUN}s of commands every ${INTERVAL_MS} ms per run${MANY_ROOMS:+ (${ROOMS_INTERVAL_MS} ms with many rooms)}; $PINNING; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $SIZES; do
  for server in $SERVERS; do
    case "$server" in
      hifi)
        start_hifi
        log "hifi-server on port $HIFI_PORT (pid $HIFI_PID), N=$n"
        run_loadgen hifi "$n" "$HIFI_PID" \
          "ws://127.0.0.1:$HIFI_PORT/api/v1/rooms/$ROOM_ID/ws?access_token=$TOKEN" \
          "http://127.0.0.1:$HIFI_PORT/api/v1/rooms/$ROOM_ID/commands" revision \
          --token "$TOKEN" --max-position-ms "$DURATION_MS" --floor-url "http://127.0.0.1:$HIFI_PORT/api/v1/rooms/$ROOM_ID"
        stop_pid "$HIFI_PID"
        HIFI_PID=""
        ;;
      peer)
        start_peer
        log "ws peer on port $PEER_PORT (pid $PEER_PID), N=$n"
        run_loadgen peer "$n" "$PEER_PID" "ws://127.0.0.1:$PEER_PORT/ws" "http://127.0.0.1:$PEER_PORT/command" seq \
          --max-position-ms "$DURATION_MS"
        stop_pid "$PEER_PID"
        PEER_PID=""
        ;;
      *) die "ROOM_BENCH_SERVERS: unknown server '$server' (use hifi, peer)" ;;
    esac
  done
done
if ((ROOM_COUNT > 0)); then
  n=$((ROOM_COUNT * ROOM_SIZE))
  PEER_ROOM_ARGS=()
  for ((r = 0; r < ROOM_COUNT; r++)); do PEER_ROOM_ARGS+=(--room "r$r"); done
  for server in $SERVERS; do
    case "$server" in
      hifi)
        start_hifi
        log "hifi-server on port $HIFI_PORT (pid $HIFI_PID), $ROOM_COUNT rooms of $ROOM_SIZE"
        FANOUT_ROOMS=$ROOM_COUNT run_loadgen hifi "$n" "$HIFI_PID" \
          "ws://127.0.0.1:$HIFI_PORT/api/v1/rooms/{room}/ws?access_token=$TOKEN" \
          "http://127.0.0.1:$HIFI_PORT/api/v1/rooms/{room}/commands" revision \
          --token "$TOKEN" --max-position-ms "$DURATION_MS" --interval-ms "$ROOMS_INTERVAL_MS" "${ROOM_ARGS[@]}"
        stop_pid "$HIFI_PID"
        HIFI_PID=""
        ;;
      peer)
        start_peer
        log "ws peer on port $PEER_PORT (pid $PEER_PID), $ROOM_COUNT rooms of $ROOM_SIZE"
        FANOUT_ROOMS=$ROOM_COUNT run_loadgen peer "$n" "$PEER_PID" "ws://127.0.0.1:$PEER_PORT/ws?room={room}" \
          "http://127.0.0.1:$PEER_PORT/command?room={room}" seq \
          --max-position-ms "$DURATION_MS" --interval-ms "$ROOMS_INTERVAL_MS" "${PEER_ROOM_ARGS[@]}"
        stop_pid "$PEER_PID"
        PEER_PID=""
        ;;
    esac
  done
fi

# --- report -------------------------------------------------------------------
echo
echo "Room command fan-out: one command every ${INTERVAL_MS} ms for ${SECONDS_PER_RUN} s; latency = command sent -> last listener has the message (ms)"
# hifi-server runs a network thread per core it may use (its affinity).
SERVER_THREADS=$(${BENCH_SERVER_CPUS:+taskset -c "$BENCH_SERVER_CPUS"} nproc)
echo "HiFi: hifi-server $("$HIFI_BIN" --version 2>/dev/null | head -n1 | awk '{print $NF}'), $SERVER_THREADS network thread(s) unless ROOM_BENCH_HIFI_ARGS says otherwise ('${ROOM_BENCH_HIFI_ARGS:-}'); peer: node $(node --version) + ws $(jq -r .version "$PEER_DIR/node_modules/ws/package.json")"
jq -r -s '
  def num(x; d): if x == null then "-" else (x * pow(10; d) | round / pow(10; d) | tostring) end;
  def lat(r): if r == null or r.error != null then "-"
              elif r.settled == false then "joins>\(r.join_timeout_s)s"
              elif r.commands == 0 then "all \(r.closed_before_commands) dropped"
              elif r.last_p99_ms == null then "-"
              else "\(num(r.last_p50_ms; 1))/\(num(r.last_p99_ms; 1))/\(num(r.last_max_ms; 1))" end;
  def key: "\(.listeners)/\(.rooms // 1)";
  def name: if .r > 1 then "\(.n) (\(.r) rooms)" else "\(.n)" end;
  (map(select(.label == "hifi")) | INDEX(key)) as $h |
  (map(select(.label == "peer")) | INDEX(key)) as $p |
  (map({n: .listeners, r: (.rooms // 1)}) | unique) as $ns |
  ["N", "HiFi p50/p99/max", "peer p50/p99/max", "p99 HiFi/peer", "HiFi KiB/conn", "peer KiB/conn"],
  ($ns[] | "\(.n)/\(.r)" as $k | (.n | tostring) as $n | name as $name | $h[$k] as $a | $p[$k] as $b |
    [$name, lat($a), lat($b),
     (if ($a.last_p99_ms // null) != null and ($b.last_p99_ms // 0) > 0 then num($a.last_p99_ms / $b.last_p99_ms; 2) else "-" end),
     # RSS noise (GC, allocator) swamps one connection: per-connection
     # memory only from 100 listeners up.
     (if ($n | tonumber) >= 100 then num($a.kib_per_conn; 1) else "-" end),
     (if ($n | tonumber) >= 100 then num($b.kib_per_conn; 1) else "-" end)])
  | @tsv' "$RESULTS" | column -t -s $'\t'
echo
echo "details (messages received/expected, joins, server CPU per delivered message):"
jq -r '
  (if (.rooms // 1) > 1 then " in \(.rooms) rooms" else "" end) as $rooms |
  if .error != null then "  \(.label) N=\(.listeners)\($rooms): \(.error)" else
  "  \(.label) N=\(.listeners)\($rooms): \(.messages_received)/\(.messages_expected) messages, \(.failed_commands) failed commands, " +
  "listeners: \(.failed_listeners) failed to connect, \(.closed_before_commands) dropped during the joins, " +
  "\(.closed_during_run) during the commands" +
  (if (.close_causes | length) > 0 then " (\(.close_causes | to_entries | map("\(.value)x \(.key)") | join(", ")))" else "" end) +
  "; joins \(.join_s)+\(.settle_s) s" +
  (if .settled then "" else " (JOIN TIMEOUT: \(.connected) connected, \(.ready) with a first message)" end) + " with \(.join_messages) other messages; " +
  "server CPU \(.server_cpu_us_per_message) us/message; \(.commands_per_s // "-") commands a second; command answer p50 \(.answer_p50_ms) ms, p99 \(.answer_p99_ms) ms" +
  (if .floor_p50_ms != null then " (floor: a GET of the room at the same cadence, p50 \(.floor_p50_ms) ms, p99 \(.floor_p99_ms) ms)" else "" end) + "; " +
  "state message \(.state_message_bytes) B" end' "$RESULTS"
echo
echo "goals for HiFi: p99 <= 5 ms at 1,000 listeners, <= 50 ms at 10,000 (one room, or many rooms: 10,000 in all); <= 8 KiB per idle connection"
jq -r -s '
  map(select(.label == "hifi" and .error == null)) | .[] |
  (if (.rooms // 1) > 1 then [["p99 with \(.rooms) rooms, \(.listeners) listeners in all", .last_p99_ms, (if .listeners <= 1000 then 5 else 50 end)]]
   elif .listeners == 1000 then [["p99 at 1,000", .last_p99_ms, 5]]
   elif .listeners == 10000 then [["p99 at 10,000", .last_p99_ms, 50]] else [] end) +
  (if .listeners >= 10000 and (.rooms // 1) == 1 then [["KiB/conn at \(.listeners)", .kib_per_conn, 8]] else [] end) |
  .[] | "  \(.[0]): \(if .[1] == null then "no result" else (.[1] * 100 | round / 100 | tostring) end) " +
        "(goal <= \(.[2])) \(if .[1] != null and .[1] <= .[2] then "met" else "MISSED" end)"' "$RESULTS"
echo
echo "pinning: $PINNING"
echo "HiFi data dir on $(df --output=fstype "$HIFI_DATA" | tail -n1 | tr -d ' '): a synchronous 4 KiB write takes ${DSYNC_MS} ms on average (every command commits to SQLite)"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), Linux $(uname -r); load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ "${ROOM_BENCH_KEEP:-0}" == 1 ]]; then echo "raw results: $RESULTS"; fi

# --- headline rows for bench/all (BENCH_RESULTS) --------------------------------------
if [[ -n "${BENCH_RESULTS:-}" ]]; then
  FS=$(df --output=fstype "$HIFI_DATA" | tail -n1 | tr -d ' ')
  # fig LABEL N FIELD: that figure of that run, "-" when there is none
  fig() { jq -r -s --arg l "$1" --argjson n "$2" --arg f "$3" --argjson r "${4:-1}" '
    [.[] | select(.label == $l and .listeners == $n and (.rooms // 1) == $r and .error == null and .settled != false)][0][$f] // "-"
    | if type == "number" then (. * 100 | round / 100 | tostring) else . end' "$RESULTS"; }
  thousands() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$1"; }
  for n in $SIZES; do
    case "$n" in 1000) goal=5 ;; 10000) goal=50 ;; *) continue ;; esac
    h=$(fig hifi "$n" last_p99_ms)
    bench_result "room fan-out p99, $(thousands "$n") listeners (command -> last listener)" "$h" \
      "$(fig peer "$n" last_p99_ms)" ms "<= $goal ms" "$(bench_met "$h" "<=" "$goal")"
  done
  for n in $SIZES; do
    ((n >= 1000)) || continue
    h=$(fig hifi "$n" server_cpu_us_per_message)
    p=$(fig peer "$n" server_cpu_us_per_message)
    bench_result "server CPU per delivered message, $(thousands "$n") listeners" "$h" "$p" us \
      "<= 1/3 of the ws peer's" "$(bench_met "$(awk -v h="$h" -v p="$p" 'BEGIN { if (p > 0 && h != "-") printf "%.4f", h / p; else print "-" }')" "<=" 0.3334)"
  done
  biggest=""
  for n in $SIZES; do ((n >= 100)) && biggest=$n; done
  if [[ -n "$biggest" ]]; then
    h=$(fig hifi "$biggest" kib_per_conn)
    bench_result "memory per idle listener, $(thousands "$biggest") listeners (RSS growth)" "$h" \
      "$(fig peer "$biggest" kib_per_conn)" KiB "<= 8 KiB" "$(bench_met "$h" "<=" 8)"
  fi
  if [[ " $SIZES " == *" 1000 "* ]]; then
    h=$(fig hifi 1000 answer_p99_ms)
    bench_result "room command HTTP answer p99, 1,000 listeners, data on $FS" "$h" "$(fig peer 1000 answer_p99_ms)" ms \
      "<= 5 ms on ext4" "$( [[ "$FS" == ext4 ]] && bench_met "$h" "<=" 5 || echo "-")"
    # Against what any answer takes at that cadence here (floor: a GET of the room, listeners idle).
    bench_result "room command HTTP answer p99, 1,000 listeners (floor: GET of the room at the same cadence)" \
      "$h" "$(fig hifi 1000 floor_p99_ms)" ms "-" "-"
  fi
  if ((ROOM_COUNT > 0)); then
    n=$((ROOM_COUNT * ROOM_SIZE))
    goal=$((n <= 1000 ? 5 : 50))
    h=$(fig hifi "$n" last_p99_ms "$ROOM_COUNT")
    bench_result "room fan-out p99, $ROOM_COUNT rooms of $(thousands "$ROOM_SIZE") listeners, a command every $ROOMS_INTERVAL_MS ms in turn (command -> last listener of its room)" \
      "$h" "$(fig peer "$n" last_p99_ms "$ROOM_COUNT")" ms "<= $goal ms" "$(bench_met "$h" "<=" "$goal")"
    h=$(fig hifi "$n" server_cpu_us_per_message "$ROOM_COUNT")
    p=$(fig peer "$n" server_cpu_us_per_message "$ROOM_COUNT")
    bench_result "server CPU per delivered message, $ROOM_COUNT rooms of $(thousands "$ROOM_SIZE") listeners" "$h" "$p" us \
      "<= 1/3 of the ws peer's" "$(bench_met "$(awk -v h="$h" -v p="$p" 'BEGIN { if (p > 0 && h != "-") printf "%.4f", h / p; else print "-" }')" "<=" 0.3334)"
  fi
fi
