#!/usr/bin/env bash
# Cluster benchmark: what running HiFi as a 3-node cluster on etcd costs and
# buys, on loopback, side by side with a single node on this machine.
#
# Starts 3 etcd members and 3 hifi-server nodes (--replicas 3, a cluster
# secret, fixed free loopback ports so that a node can be restarted at the
# same address), plus one single node (no etcd, --replicas 1), all in a temp
# dir, and measures:
#
#   1. upload: a 30 s stereo 16-bit 44.1 kHz WAV (5,292,044 bytes), N distinct
#      files (a different sine frequency each), uploaded one at a time with
#      curl; time from the request to the 201 (curl's time_total). To the
#      cluster (node 1; the 201 means 3 copies are fsynced on 3 nodes) and to
#      the single node, interleaved file by file, next to the floor: the same
#      file written with `dd conv=fsync` as 1 copy, as 3 copies in parallel
#      and as 3 copies one after another (dd's own start-up included, ≈ 1 ms).
#      Two warm-up uploads per server are not counted.
#   2. fanout: bench/room_fanout with N WebSocket listeners of one room spread
#      round-robin over the 3 nodes and one seek command every 100 ms sent
#      through node 1; latency = command sent -> the last listener has the
#      resulting state message (p50/p99/max over the commands), per node too;
#      the same with all listeners on the single node.
#   3. failover: `hifi listen ROOM --no-spread --sink null --sync-log FILE`
#      joined to node X (node 3; the room plays a 600 s song, repeat all),
#      kill -9 node X and at once a seek through node 1; time from the kill
#      until the sync log plays the seek's position, i.e. the listener follows
#      the room again through another node. The player keeps playing what it
#      knows while it reconnects, so the log has no gap to time: the seek
#      marks the moment the new node's state arrives. A control seek with
#      node X alive, in each trial, shows the part that is not failover. Node
#      X is restarted (same address and data) between trials.
#
# Usage: bench/cluster_bench.sh
# Environment:
#   CLUSTER_BENCH_PARTS         which parts (default "upload fanout failover")
#   CLUSTER_BENCH_UPLOADS       distinct files per server (default 40)
#   CLUSTER_BENCH_LISTENERS     listener counts for the fan-out (default "300 1000")
#   CLUSTER_BENCH_SECONDS       seconds of commands per fan-out run (default 10)
#   CLUSTER_BENCH_INTERVAL_MS   time between commands (default 100)
#   CLUSTER_BENCH_TRIALS        failover trials (default 5)
#   CLUSTER_BENCH_HIFI_ARGS     extra hifi-server arguments (every node)
#   CLUSTER_BENCH_DATA_PARENT   where the data dirs (nodes, etcd, dd peer) are created
#                               (default: the temp dir); /dev/shm takes the disk out
#   CLUSTER_BENCH_BUILD_DIR     build dir (default build/bench)
#   CLUSTER_BENCH_SKIP_BUILD=1  use the build dir as it is
#   CLUSTER_BENCH_KEEP=1        keep the temp dir (logs, data, raw results)
#   BENCH_SERVER_CPUS, BENCH_CLIENT_CPUS  taskset CPU lists: the nodes, etcd and the dd
#                               floor on the first; curl, room_fanout and the failover
#                               listener on the second (default: nothing pinned)
#   BENCH_RESULTS               a file: append the headline rows for bench/all to it
# The binaries are copied into the temp dir first, so a rebuild during the run
# changes nothing. Everything it starts is stopped on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${CLUSTER_BENCH_BUILD_DIR:-$ROOT/build/bench}

PARTS=${CLUSTER_BENCH_PARTS:-"upload fanout failover"}
UPLOADS=${CLUSTER_BENCH_UPLOADS:-40}
SIZES=${CLUSTER_BENCH_LISTENERS:-"300 1000"}
SECONDS_PER_RUN=${CLUSTER_BENCH_SECONDS:-10}
INTERVAL_MS=${CLUSTER_BENCH_INTERVAL_MS:-100}
TRIALS=${CLUSTER_BENCH_TRIALS:-5}
JOIN_TIMEOUT=120
WARMUP_UPLOADS=2
FO_NODE=3           # the node killed in the failover trials
UPLOAD_GOAL_MS=30   # the issue's goal for one file onto 3 servers, on loopback

log() { printf '[cluster-bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=SCRIPTDIR/lib.sh
source "$ROOT/bench/lib.sh"
bench_pins
# shellcheck source=SCRIPTDIR/../tests/e2e/etcd.sh
source "$ROOT/tests/e2e/etcd.sh"  # free_port, start_etcd_cluster
ETCD_BIN=etcd
etcd_started() { bench_pin_pid "${BENCH_SERVER_CPUS:-}" "$1"; }  # called by start_etcd_member

for part in $PARTS; do
  case "$part" in upload | fanout | failover) ;; *) die "CLUSTER_BENCH_PARTS: unknown part '$part'" ;; esac
done
for n in $UPLOADS $TRIALS $SIZES $SECONDS_PER_RUN $INTERVAL_MS; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "'$n' is not a positive number"
done
[[ -n "${EPOCHREALTIME:-}" ]] || die "bash 5 or later is needed (\$EPOCHREALTIME)"
for tool in etcd sox curl jq timeout dd awk; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
max_n=0
for n in $SIZES; do ((n > max_n)) && max_n=$n; done
raise_open_files $((max_n + 256)) || die "open-file limit $(ulimit -n) is too low for $max_n listeners"

# --- build ------------------------------------------------------------------
if [[ "${CLUSTER_BENCH_SKIP_BUILD:-0}" != 1 ]]; then
  log "building hifi-server, hifi and room_fanout (Release, $BUILD_DIR)"
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHIFI_BENCH=ON -DHIFI_TESTS=OFF >/dev/null
  cmake --build "$BUILD_DIR" --target hifi-server hifi room_fanout >/dev/null
fi
for b in src/hifi-server src/hifi bench/room_fanout; do
  [[ -x "$BUILD_DIR/$b" ]] || die "$BUILD_DIR/$b not built"
done

# --- temp dir and cleanup ---------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/hifi-cluster-bench.XXXXXX")
DATA=$(mktemp -d "${CLUSTER_BENCH_DATA_PARENT:-$TMP}/hifi-cluster-data.XXXXXX")
mkdir -p "$TMP/bin"
cp "$BUILD_DIR/src/hifi-server" "$BUILD_DIR/src/hifi" "$BUILD_DIR/bench/room_fanout" "$TMP/bin/"
SERVER_BIN="$TMP/bin/hifi-server"
HIFI_BIN="$TMP/bin/hifi"
LOADGEN="$TMP/bin/room_fanout"
export XDG_CONFIG_HOME="$TMP/config"
RESULTS="$TMP/results"
mkdir -p "$RESULTS"

declare -a NODE_PIDS=() NODE_PORT=()
SINGLE_PID=""
LOADGEN_PID=""
LISTENER_PID=""

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  stop_pid "$LOADGEN_PID"
  stop_pid "$LISTENER_PID"
  stop_pid "$SINGLE_PID"
  for i in 1 2 3; do stop_pid "${NODE_PIDS[i]:-}"; done
  for i in 1 2 3; do stop_pid "${ETCD_PIDS[i]:-}"; done
  if [[ "${CLUSTER_BENCH_KEEP:-0}" == 1 ]]; then
    log "kept $TMP (data in $DATA)"
  else
    rm -rf "$DATA" "$TMP"
  fi
  exit "$rc"
}
exit_traps cleanup

elapsed_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'; }

# --- etcd -------------------------------------------------------------------
ETCD_LOG_DIR=$TMP  # the members' data go to $DATA
start_etcd() {
  start_etcd_cluster 3 "$DATA" "hifi-bench-$$" || die "etcd did not start"
  log "etcd: 3 members, $ETCD_ENDPOINTS ($(etcd --version | head -n1))"
}

# --- hifi-server nodes --------------------------------------------------------
CLUSTER_SECRET="cluster-bench-secret-$$-$RANDOM$RANDOM"
node_url() { echo "http://127.0.0.1:${NODE_PORT[$1]}"; }
# members_of BASE: how many members BASE lists (a signed-in question: $TOKEN).
members_of() {
  curl -sf --max-time 2 -H "Authorization: Bearer $TOKEN" "$1/api/v1/cluster" | jq -r '.members | length' 2>/dev/null ||
    echo 0
}
has_members() { [[ "$(members_of "$1")" == "$2" ]]; }

start_node() {  # start_node I: starts (or restarts) node I at its port and data dir
  local i=$1
  # shellcheck disable=SC2086
  HIFI_CLUSTER_SECRET=$CLUSTER_SECRET "${PIN_SERVER[@]}" "$SERVER_BIN" --listen "127.0.0.1:${NODE_PORT[i]}" --data-dir "$DATA/node$i" \
    --etcd "$ETCD_ENDPOINTS" --replicas 3 --max-connections 20000 --max-connections-per-address 20000 --max-websockets-per-user 20000 --shutdown-grace 1s ${CLUSTER_BENCH_HIFI_ARGS:-} \
    >>"$TMP/node$i.log" 2>&1 &
  NODE_PIDS[i]=$!
  answers() { curl -sf --max-time 2 "$(node_url "$i")/healthz" >/dev/null; }
  wait_until 30 answers || { tail -n 20 "$TMP/node$i.log" >&2; die "node $i did not start"; }
}

start_cluster() {
  local i
  for i in 1 2 3; do free_port; NODE_PORT[i]=$FREE_PORT; done
  for i in 1 2 3; do start_node "$i"; done
  TOKEN=$(account "$(node_url 1)")
  for i in 1 2 3; do
    wait_until 30 has_members "$(node_url "$i")" 3 || die "node $i does not see 3 members"
  done
  log "cluster: $(node_url 1) (pid ${NODE_PIDS[1]}), $(node_url 2) (pid ${NODE_PIDS[2]}), $(node_url 3) (pid ${NODE_PIDS[3]})"
}

start_single() {
  # shellcheck disable=SC2086
  "${PIN_SERVER[@]}" "$SERVER_BIN" --listen 127.0.0.1:0 --data-dir "$DATA/single" --replicas 1 --max-connections 20000 --max-connections-per-address 20000 --max-websockets-per-user 20000 \
    --shutdown-grace 1s ${CLUSTER_BENCH_HIFI_ARGS:-} >"$TMP/single.log" 2>&1 &
  SINGLE_PID=$!
  has_port() { [[ -n "$(listening_port "$TMP/single.log")" ]]; }
  wait_until 30 has_port || { cat "$TMP/single.log" >&2; die "the single node did not start"; }
  SINGLE="http://127.0.0.1:$(listening_port "$TMP/single.log")"
  log "single node: $SINGLE (pid $SINGLE_PID, no etcd, --replicas 1)"
}

# api BASE TOKEN METHOD PATH [curl args...]: prints the body, fails on HTTP >= 400
api() {
  local base=$1 token=$2 method=$3 path=$4
  shift 4
  curl -sS --fail-with-body --max-time 60 -X "$method" "$base$path" ${token:+-H "Authorization: Bearer $token"} "$@"
}
account() {  # account BASE: registers "bench" (once) and prints a token
  api "$1" "" POST /api/v1/auth/register -H 'Content-Type: application/json' \
    -d '{"username":"bench","password":"bench-password-1"}' >/dev/null 2>&1 || true
  api "$1" "" POST /api/v1/auth/login -H 'Content-Type: application/json' \
    -d '{"username":"bench","password":"bench-password-1"}' | jq -er .token
}
upload_id() {  # upload_id BASE TOKEN FILE: prints the song's id
  api "$1" "$2" POST /api/v1/songs -H 'Content-Type: audio/wav' -H "X-Filename: $(basename "$3")" -H 'Expect:' \
    --data-binary "@$3" | jq -er .id
}
room_cmd() {  # room_cmd BASE TOKEN ROOM JSON
  api "$1" "$2" POST "/api/v1/rooms/$3/commands" -H 'Content-Type: application/json' -d "$4"
}
make_room() {  # make_room BASE TOKEN NAME SONG_ID: prints the room's id (song queued, paused)
  local room
  room=$(api "$1" "$2" POST /api/v1/rooms -H 'Content-Type: application/json' -d "{\"name\":\"$3\"}" | jq -er .id)
  room_cmd "$1" "$2" "$room" "{\"type\":\"add\",\"song_ids\":[\"$4\"]}" |
    jq -e '.state.current != null' >/dev/null || die "room $3 has no current song"
  echo "$room"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average at start: $LOAD_START; parts: $PARTS; $PINNING"
start_etcd
start_cluster
start_single
STOKEN=$(account "$SINGLE")

# Every upload and every room command commits durably: show what a
# synchronous write costs where the data lives.
DSYNC_MS=$(dd if=/dev/zero of="$DATA/dsync-probe" bs=4k count=100 oflag=dsync 2>&1 |
  sed -n 's/.* copied, \([0-9.]*\) s.*/\1/p' | awk '{ printf "%.2f", $1 * 1000 / 100 }')
rm -f "$DATA/dsync-probe"
DATA_FS=$(df --output=fstype "$DATA" | tail -n1 | tr -d ' ')
log "data on $DATA_FS: a synchronous 4 KiB write takes ${DSYNC_MS} ms on average"

# stats FILE: "p50 p99 mean min max count" of the numbers in FILE (nearest rank)
stats() {
  sort -g "$1" | awk '{ v[NR] = $1; s += $1 }
    END {
      if (NR == 0) { print "- - - - - 0"; exit }
      r50 = int(0.5 * NR); if (r50 < 0.5 * NR) r50++; if (r50 < 1) r50 = 1
      r99 = int(0.99 * NR); if (r99 < 0.99 * NR) r99++; if (r99 < 1) r99 = 1
      printf "%.1f %.1f %.1f %.1f %.1f %d\n", v[r50], v[r99], s / NR, v[1], v[NR], NR
    }'
}

# cpu_ms PID...: user + system CPU time of the processes, in ms (10 ms ticks)
cpu_ms() {
  local pid total=0 f fields
  for pid in "$@"; do
    f=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    f=${f##*) }  # past "pid (comm) "
    read -r -a fields <<<"$f"
    total=$((total + fields[11] + fields[12]))  # utime, stime (fields 14 and 15)
  done
  echo $((total * 1000 / $(getconf CLK_TCK)))
}

# --- 1. upload -----------------------------------------------------------------
# upload_phases: "stream commit post" (ms) for the last $UPLOADS uploads to
# node 1: stream = POST start -> the last copy staged on nodes 2 and 3 (the
# bytes sent on while they arrive, each node's copy fsynced); commit = first
# start -> last end of the copies' commits (or of whole-blob pushes, when a
# copy could not be streamed); post = last commit end -> POST end (publish).
upload_phases() {
  { sed -n 's/^[0-9-]*T\([0-9:.]*\) .* POST \/api\/v1\/songs -> 201 .* \([0-9.]*\)ms$/\1 POST \2/p' "$TMP/node1.log"
    sed -n 's/^[0-9-]*T\([0-9:.]*\) .* PUT \/internal\/v1\/uploads\/.* -> 200 .* \([0-9.]*\)ms$/\1 STAGE \2/p' \
      "$TMP/node2.log" "$TMP/node3.log"
    sed -n -e 's/^[0-9-]*T\([0-9:.]*\) .* POST \/internal\/v1\/uploads\/.*\/commit -> 201 .* \([0-9.]*\)ms$/\1 COPY \2/p' \
      -e 's/^[0-9-]*T\([0-9:.]*\) .* PUT \/internal\/v1\/blobs\/.* -> 20[01] .* \([0-9.]*\)ms$/\1 COPY \2/p' \
      "$TMP/node2.log" "$TMP/node3.log"; } | sort |
    awk '{ split($1, t, ":"); end = (t[1] * 3600 + t[2] * 60 + t[3]) * 1000; start = end - $3
           if ($2 == "STAGE") { if (staged == 0 || end > stage_end) stage_end = end; staged++; next }
           if ($2 == "COPY") { if (n == 0 || start < first) first = start; if (n == 0 || end > last) last = end; n++; next }
           if (n == 2) printf "%.1f %.1f %.1f\n", (staged > 0 ? stage_end - start : 0), last - first, end - last
           n = 0; staged = 0 }' | tail -n "$UPLOADS"
}

# etcd_puts N: time of N single-key writes to the etcd cluster (curl to the
# v3 JSON gateway, time_total in ms), one per line: the cost of one durable
# metadata write (a Raft commit, fsynced by a quorum of members on this disk).
etcd_puts() {
  local i
  for ((i = 0; i < $1; i++)); do
    curl -sS -o /dev/null -w '%{time_total}\n' --max-time 10 -X POST "http://127.0.0.1:${ETCD_CLIENT[1]}/v3/kv/put" \
      -d "{\"key\":\"$(printf 'bench/probe/%d' "$i" | base64 -w0)\",\"value\":\"$(printf x | base64 -w0)\"}" |
      awk '{ printf "%.3f\n", $1 * 1000 }'
  done
}

UPLOAD_REPORT=""
run_upload() {
  local up="$TMP/upload" peer="$DATA/ddpeer" i f code t id t0 t1 size p1 p2 p3
  mkdir -p "$up" "$peer"
  log "generating $((UPLOADS + 2 * WARMUP_UPLOADS)) distinct WAVs (30 s, 44.1 kHz stereo 16-bit, sine 300 Hz + i)"
  for ((i = 0; i < UPLOADS + 2 * WARMUP_UPLOADS; i++)); do
    sox -n -r 44100 -c 2 -b 16 "$up/f$i.wav" synth 30 sine $((300 + i)) vol 0.5
  done
  size=$(stat -c %s "$up/f0.wav")
  sync
  : >"$RESULTS/up-cluster"; : >"$RESULTS/up-single"; : >"$RESULTS/dd-1"; : >"$RESULTS/dd-3par"; : >"$RESULTS/dd-3seq"
  : >"$RESULTS/cluster-ids"; : >"$RESULTS/warmup"
  curl_upload() {  # curl_upload BASE TOKEN FILE: prints "code seconds id"
    local out="$up/answer"
    rm -f "$out"
    read -r code t < <("${PIN_CLIENT[@]}" curl -sS -o "$out" -w '%{http_code} %{time_total}\n' --max-time 120 -X POST "$1/api/v1/songs" \
      -H "Authorization: Bearer $2" -H 'Content-Type: audio/wav' -H "X-Filename: $(basename "$3")" -H 'Expect:' \
      --data-binary "@$3" || echo "000 0")
    echo "$code $t $(jq -r '.id // "-"' "$out" 2>/dev/null || echo -)"
  }
  # Warm-up: the first uploads open the node-to-node connections.
  for ((i = 0; i < WARMUP_UPLOADS; i++)); do
    read -r code t id < <(curl_upload "$(node_url 1)" "$TOKEN" "$up/f$((UPLOADS + i)).wav")
    echo "cluster $code $(awk -v t="$t" 'BEGIN { printf "%.1f", t * 1000 }')" >>"$RESULTS/warmup"
    read -r code t id < <(curl_upload "$SINGLE" "$STOKEN" "$up/f$((UPLOADS + WARMUP_UPLOADS + i)).wav")
    echo "single $code $(awk -v t="$t" 'BEGIN { printf "%.1f", t * 1000 }')" >>"$RESULTS/warmup"
  done
  log "uploading $UPLOADS files to the cluster and to the single node, with the dd peer in between (load $(cut -d' ' -f1-3 /proc/loadavg))"
  local failures=0 cpu_nodes cpu_etcd cpu_single cpu_n1 idle_nodes idle_etcd idle_t0 idle_t1 loop_t0 loop_t1
  # Idle CPU (etcd heartbeats, lease renewals) over 5 s, subtracted below.
  idle_t0=$(now_ms)
  idle_nodes=$(cpu_ms "${NODE_PIDS[1]}" "${NODE_PIDS[2]}" "${NODE_PIDS[3]}")
  idle_etcd=$(cpu_ms "${ETCD_PIDS[1]}" "${ETCD_PIDS[2]}" "${ETCD_PIDS[3]}")
  sleep 5
  idle_t1=$(now_ms)
  idle_nodes=$(( $(cpu_ms "${NODE_PIDS[1]}" "${NODE_PIDS[2]}" "${NODE_PIDS[3]}") - idle_nodes ))
  idle_etcd=$(( $(cpu_ms "${ETCD_PIDS[1]}" "${ETCD_PIDS[2]}" "${ETCD_PIDS[3]}") - idle_etcd ))
  loop_t0=$(now_ms)
  cpu_n1=$(cpu_ms "${NODE_PIDS[1]}")
  cpu_nodes=$(cpu_ms "${NODE_PIDS[1]}" "${NODE_PIDS[2]}" "${NODE_PIDS[3]}")
  cpu_etcd=$(cpu_ms "${ETCD_PIDS[1]}" "${ETCD_PIDS[2]}" "${ETCD_PIDS[3]}")
  cpu_single=$(cpu_ms "$SINGLE_PID")
  for ((i = 0; i < UPLOADS; i++)); do
    f="$up/f$i.wav"
    read -r code t id < <(curl_upload "$(node_url 1)" "$TOKEN" "$f")
    if [[ "$code" == 201 ]]; then
      awk -v t="$t" 'BEGIN { printf "%.3f\n", t * 1000 }' >>"$RESULTS/up-cluster"
      echo "$id" >>"$RESULTS/cluster-ids"
    else
      failures=$((failures + 1))
      log "cluster upload $i: HTTP $code"
    fi
    read -r code t id < <(curl_upload "$SINGLE" "$STOKEN" "$f")
    if [[ "$code" == 201 ]]; then
      awk -v t="$t" 'BEGIN { printf "%.3f\n", t * 1000 }' >>"$RESULTS/up-single"
    else
      failures=$((failures + 1))
      log "single-node upload $i: HTTP $code"
    fi
    # The floor: the same bytes made durable by dd, no network, no hashing.
    t0=$(now_ms)
    "${PIN_SERVER[@]}" dd if="$f" of="$peer/a$i" bs=1M conv=fsync status=none
    t1=$(now_ms)
    elapsed_ms "$t0" "$t1" >>"$RESULTS/dd-1"
    t0=$(now_ms)
    "${PIN_SERVER[@]}" dd if="$f" of="$peer/b$i" bs=1M conv=fsync status=none &
    p1=$!
    "${PIN_SERVER[@]}" dd if="$f" of="$peer/c$i" bs=1M conv=fsync status=none &
    p2=$!
    "${PIN_SERVER[@]}" dd if="$f" of="$peer/d$i" bs=1M conv=fsync status=none &
    p3=$!
    wait "$p1" "$p2" "$p3"
    t1=$(now_ms)
    elapsed_ms "$t0" "$t1" >>"$RESULTS/dd-3par"
    t0=$(now_ms)
    "${PIN_SERVER[@]}" dd if="$f" of="$peer/e$i" bs=1M conv=fsync status=none
    "${PIN_SERVER[@]}" dd if="$f" of="$peer/g$i" bs=1M conv=fsync status=none
    "${PIN_SERVER[@]}" dd if="$f" of="$peer/h$i" bs=1M conv=fsync status=none
    t1=$(now_ms)
    elapsed_ms "$t0" "$t1" >>"$RESULTS/dd-3seq"
    rm -f "$peer"/?"$i"
  done
  loop_t1=$(now_ms)
  # CPU per upload (the dd peer runs in other processes), less the idle rate
  # measured above over the loop's duration.
  cpu_n1=$(( $(cpu_ms "${NODE_PIDS[1]}") - cpu_n1 ))
  cpu_nodes=$(( $(cpu_ms "${NODE_PIDS[1]}" "${NODE_PIDS[2]}" "${NODE_PIDS[3]}") - cpu_nodes ))
  cpu_etcd=$(( $(cpu_ms "${ETCD_PIDS[1]}" "${ETCD_PIDS[2]}" "${ETCD_PIDS[3]}") - cpu_etcd ))
  cpu_single=$(( $(cpu_ms "$SINGLE_PID") - cpu_single ))
  etcd_puts "$UPLOADS" >"$RESULTS/etcd-put"
  # Every cluster upload must have 3 copies on 3 live nodes.
  local replicated=0 n_ids
  n_ids=$(wc -l <"$RESULTS/cluster-ids")
  while read -r id; do
    [[ "$(api "$(node_url 2)" "$TOKEN" GET "/api/v1/songs/$id" | jq '[.replicas[]? | select(.live)] | length')" == 3 ]] &&
      replicated=$((replicated + 1))
  done <"$RESULTS/cluster-ids"
  # What the nodes report for the pieces: node 1's whole request, and the
  # node-to-node PUTs as the two peers logged them.
  grep -h 'POST /api/v1/songs -> 201' "$TMP/node1.log" | sed -n 's/.* \([0-9.]*\)ms$/\1/p' | tail -n "$UPLOADS" >"$RESULTS/srv-post"
  : >"$RESULTS/srv-put"
  for i in 2 3; do
    grep -hE 'PUT /internal/v1/(blobs|uploads)/' "$TMP/node$i.log" | sed -n 's/.* \([0-9.]*\)ms$/\1/p' | tail -n "$UPLOADS" >>"$RESULTS/srv-put"
  done
  # Phases of each counted cluster upload, from the log lines' times (ms
  # resolution; a line is written when its request ends): node 1's POST,
  # the copies streamed to nodes 2 and 3 while it arrived, and their
  # commits (in parallel).
  upload_phases >"$RESULTS/phases"
  cut -d' ' -f1 "$RESULTS/phases" >"$RESULTS/phase-pre"
  cut -d' ' -f2 "$RESULTS/phases" >"$RESULTS/phase-push"
  cut -d' ' -f3 "$RESULTS/phases" >"$RESULTS/phase-post"
  grep -h 'POST /api/v1/songs -> 201' "$TMP/single.log" | sed -n 's/.* \([0-9.]*\)ms$/\1/p' | tail -n "$UPLOADS" >"$RESULTS/srv-single"

  row() { printf '  %-52s %8s %8s %8s %8s %8s %5s\n' "$@"; }
  {
    echo "1. Durable upload of a ${size}-byte WAV, one at a time, $UPLOADS distinct files (ms)"
    echo "   client: curl time_total (request -> 201); dd: process start -> exit"
    row "" p50 p99 mean min max n
    # shellcheck disable=SC2046
    row "cluster, R=3: POST to node 1 -> 201 (3 fsynced)" $(stats "$RESULTS/up-cluster")
    # shellcheck disable=SC2046
    row "single node, R=1, no etcd: POST -> 201" $(stats "$RESULTS/up-single")
    # shellcheck disable=SC2046
    row "floor: dd conv=fsync, 1 copy" $(stats "$RESULTS/dd-1")
    # shellcheck disable=SC2046
    row "floor: dd conv=fsync, 3 copies in parallel" $(stats "$RESULTS/dd-3par")
    # shellcheck disable=SC2046
    row "floor: dd conv=fsync, 3 copies one after another" $(stats "$RESULTS/dd-3seq")
    # shellcheck disable=SC2046
    row "one etcd write (PUT of one key, 3 members)" $(stats "$RESULTS/etcd-put")
    echo "   as the servers logged them:"
    # shellcheck disable=SC2046
    row "cluster node 1: POST /api/v1/songs" $(stats "$RESULTS/srv-post")
    # shellcheck disable=SC2046
    row "cluster nodes 2, 3: PUT /internal/v1/uploads (each)" $(stats "$RESULTS/srv-put")
    # shellcheck disable=SC2046
    row "single node: POST /api/v1/songs" $(stats "$RESULTS/srv-single")
    echo "   cluster POST phases, from the node logs' times (1 ms resolution):"
    # shellcheck disable=SC2046
    row "receive and stream on, until nodes 2, 3 fsynced" $(stats "$RESULTS/phase-pre")
    # shellcheck disable=SC2046
    row "commits on nodes 2, 3 in parallel (first start-last end)" $(stats "$RESULTS/phase-push")
    # shellcheck disable=SC2046
    row "after the commits (publish the song)" $(stats "$RESULTS/phase-post")
    read -r c50 c99 cmean _ < <(stats "$RESULTS/up-cluster")
    read -r s50 s99 smean _ < <(stats "$RESULTS/up-single")
    read -r d50 _ < <(stats "$RESULTS/dd-3par")
    awk -v c50="$c50" -v c99="$c99" -v cm="$cmean" -v s50="$s50" -v s99="$s99" -v sm="$smean" -v d50="$d50" 'BEGIN {
      if (s50 > 0) printf "   cluster / single node: p50 %.2fx, p99 %.2fx, mean %.2fx; cluster p50 / dd 3-copy floor p50: %.2fx\n",
        c50 / s50, c99 / s99, cm / sm, (d50 > 0 ? c50 / d50 : 0) }'
    awk -v n="$UPLOADS" -v all="$cpu_nodes" -v n1="$cpu_n1" -v e="$cpu_etcd" -v s="$cpu_single" \
      -v in_="$idle_nodes" -v ie="$idle_etcd" -v idle="$(elapsed_ms "$idle_t0" "$idle_t1")" -v loop="$(elapsed_ms "$loop_t0" "$loop_t1")" 'BEGIN {
      f = loop / idle
      printf "   server CPU per upload (user + system, idle rate subtracted): hifi nodes %.1f ms (node 1: %.1f), etcd members %.1f ms; single node %.1f ms\n",
        (all - in_ * f) / n, (n1 - in_ / 3 * f) / n, (e - ie * f) / n, s / n
      printf "   idle: cluster nodes %.1f%%, etcd members %.1f%% of one core over %.0f s\n", in_ / idle * 100, ie / idle * 100, idle / 1000 }'
    echo "   warm-up uploads (not counted): $(awk '{ printf "%s%s %s ms (HTTP %s)", (NR > 1 ? ", " : ""), $1, $3, $2 }' "$RESULTS/warmup")"
    echo "   replicas: $replicated of $n_ids cluster uploads list 3 live copies; $failures uploads failed"
    awk -v c99="$c99" -v g="$UPLOAD_GOAL_MS" 'BEGIN {
      printf "   goal: p99 <= %d ms for one file onto 3 servers on loopback (old Python system: 276-593 ms): %s (p99 %.1f ms)\n",
        g, (c99 <= g ? "met" : "MISSED"), c99 }'
  } >"$RESULTS/upload.txt"
  UPLOAD_REPORT="$RESULTS/upload.txt"
  cat "$UPLOAD_REPORT" >&2
  # The goal: p50 <= 30 ms on tmpfs; on a disk, <= 1.2x the floor (3 parallel dd conv=fsync).
  if [[ "$DATA_FS" == tmpfs ]]; then
    bench_result "replicated upload 5.3 MB, R=3, p50 (POST -> 201), data on tmpfs (floor: 3 parallel dd)" \
      "$c50" "$d50" ms "<= 30 ms on tmpfs" "$(bench_met "$c50" "<=" 30)"
  else
    bench_result "replicated upload 5.3 MB, R=3, p50 (POST -> 201), data on $DATA_FS (floor: 3 parallel dd conv=fsync)" \
      "$c50" "$d50" ms "<= 1.2x the floor on ext4" \
      "$(bench_met "$(awk -v c="$c50" -v d="$d50" 'BEGIN { if (d > 0) printf "%.4f", c / d; else print "-" }')" "<=" 1.2)"
  fi
  rm -f "$up"/f*.wav
}

# --- 2. fan-out over the nodes ---------------------------------------------------
FANOUT_REPORT=""
run_loadgen() {  # run_loadgen LABEL N [room_fanout args]: appends the JSON line to $RESULTS/fanout.jsonl
  local label=$1 n=$2
  shift 2
  run_room_fanout "$RESULTS/fanout-$label-$n.out" "$RESULTS/fanout.jsonl" "$label" "$n" \
    --key revision --max-position-ms "$LONG_MS" "$@"
}

LONG_ID=""
LONG_SID=""
LONG_MS=600000
long_song() {  # a 600 s song (8 kHz mono) in the cluster and on the single node
  [[ -n "$LONG_ID" ]] && return 0
  sox -n -r 8000 -c 1 -b 16 "$TMP/long.wav" synth 600 sine 440 vol 0.5
  LONG_ID=$(upload_id "$(node_url 1)" "$TOKEN" "$TMP/long.wav")
  LONG_SID=$(upload_id "$SINGLE" "$STOKEN" "$TMP/long.wav")
  LONG_MS=$(api "$(node_url 1)" "$TOKEN" GET "/api/v1/songs/$LONG_ID" | jq -er .duration_ms)
}

run_fanout() {
  local n room sroom
  long_song
  room=$(make_room "$(node_url 1)" "$TOKEN" fanout "$LONG_ID")
  sroom=$(make_room "$SINGLE" "$STOKEN" fanout "$LONG_SID")
  : >"$RESULTS/fanout.jsonl"
  for n in $SIZES; do
    log "fan-out N=$n: single node (load $(cut -d' ' -f1-3 /proc/loadavg))"
    run_loadgen single "$n" --pid "$SINGLE_PID" --token "$STOKEN" \
      --url "ws://${SINGLE#http://}/api/v1/rooms/$sroom/ws?access_token=$STOKEN" \
      --command-url "$SINGLE/api/v1/rooms/$sroom/commands"
    sleep 2
    log "fan-out N=$n: cluster, listeners round-robin over 3 nodes, commands through node 1 (load $(cut -d' ' -f1-3 /proc/loadavg))"
    run_loadgen cluster "$n" --pid "${NODE_PIDS[1]}" --pid "${NODE_PIDS[2]}" --pid "${NODE_PIDS[3]}" --token "$TOKEN" \
      --url "ws://127.0.0.1:${NODE_PORT[1]}/api/v1/rooms/$room/ws?access_token=$TOKEN" \
      --url "ws://127.0.0.1:${NODE_PORT[2]}/api/v1/rooms/$room/ws?access_token=$TOKEN" \
      --url "ws://127.0.0.1:${NODE_PORT[3]}/api/v1/rooms/$room/ws?access_token=$TOKEN" \
      --command-url "$(node_url 1)/api/v1/rooms/$room/commands"
    sleep 2
  done
  {
    echo "2. Room command -> every listener: one seek every ${INTERVAL_MS} ms for ${SECONDS_PER_RUN} s;"
    echo "   latency = command sent -> the last listener has the resulting state message (ms, p50/p99/max over the commands)"
    echo "   cluster: listeners round-robin over nodes 1-3, commands through node 1; single: one node, no etcd"
    jq -r -s '
      def num(x): if x == null then "-" else (x * 10 | round / 10 | tostring) end;
      def lat(r): if r == null or r.error != null then "-"
                  elif r.settled == false then "joins>\(r.join_timeout_s)s"
                  elif r.last_p99_ms == null then "-"
                  else "\(num(r.last_p50_ms))/\(num(r.last_p99_ms))/\(num(r.last_max_ms))" end;
      def node(r; i): if r == null or r.per_url == null then "-"
                      else r.per_url[i] as $u | "\(num($u.last_p50_ms))/\(num($u.last_p99_ms))" end;
      (map(select(.label == "single")) | INDEX(.listeners | tostring)) as $s |
      (map(select(.label == "cluster")) | INDEX(.listeners | tostring)) as $c |
      (map(.listeners) | unique) as $ns |
      ["N", "single p50/p99/max", "cluster p50/p99/max", "p99 cluster/single", "node1 p50/p99", "node2 p50/p99", "node3 p50/p99",
       "answer p50 single/cluster"],
      ($ns[] | tostring as $n | $s[$n] as $a | $c[$n] as $b |
        [$n, lat($a), lat($b),
         (if ($a.last_p99_ms // 0) > 0 and ($b.last_p99_ms // null) != null then (($b.last_p99_ms / $a.last_p99_ms) * 100 | round / 100 | tostring) else "-" end),
         node($b; 0), node($b; 1), node($b; 2),
         "\(num($a.answer_p50_ms))/\(num($b.answer_p50_ms))"])
      | @tsv' "$RESULTS/fanout.jsonl" | column -t -s $'\t' | sed 's/^/   /'
    jq -r '
      if .error != null then "   \(.label) N=\(.listeners): \(.error)" else
      "   \(.label) N=\(.listeners): \(.messages_received)/\(.messages_expected) messages, \(.failed_commands) failed commands, " +
      "\(.failed_listeners) listeners failed to connect, \(.closed_before_commands + .closed_during_run) dropped; " +
      "joins \(.join_s)+\(.settle_s) s; server CPU (all its processes) \(.server_cpu_us_per_message) us per delivered message" end' \
      "$RESULTS/fanout.jsonl"
  } >"$RESULTS/fanout.txt"
  FANOUT_REPORT="$RESULTS/fanout.txt"
  cat "$FANOUT_REPORT" >&2
  local c s
  for n in $SIZES; do
    c=$(jq -r -s --argjson n "$n" '[.[] | select(.label == "cluster" and .listeners == $n)][0].last_p99_ms
      | if . == null then "-" else (. * 10 | round / 10 | tostring) end' "$RESULTS/fanout.jsonl")
    s=$(jq -r -s --argjson n "$n" '[.[] | select(.label == "single" and .listeners == $n)][0].last_p99_ms
      | if . == null then "-" else (. * 10 | round / 10 | tostring) end' "$RESULTS/fanout.jsonl")
    if ((n == 1000)); then
      bench_result "cluster fan-out p99, 1,000 listeners over 3 nodes (peer: one node)" "$c" "$s" ms "<= 5 ms (rooms goal)" \
        "$(bench_met "$c" "<=" 5)"
    else
      bench_result "cluster fan-out p99, $n listeners over 3 nodes (peer: one node)" "$c" "$s" ms "-" "-"
    fi
  done
}

# --- 3. failover -----------------------------------------------------------------
FAILOVER_REPORT=""
# heard_after LOG FROM_MS SEEK_FRAME RATE: ms from FROM_MS until the first
# logged buffer at the seek's position ("-" when none). WALL_MS in the log is
# when that buffer plays (the null sink keeps real time).
heard_after() {
  awk -v from="$2" -v seek="$3" -v rate="$4" '
    $1 >= from && $3 >= seek && $3 < seek + 5 * rate { printf "%.1f\n", $1 - from; found = 1; exit }
    END { if (!found) print "-" }' "$1"
}
# longest_step LOG FROM_MS SEEK_FRAME RATE: the longest step between
# consecutive buffers from FROM_MS until the seek's position plays; 10 ms =
# no gap.
longest_step() {
  awk -v from="$2" -v seek="$3" -v rate="$4" '
    $1 >= from && $3 >= seek && $3 < seek + 5 * rate { exit }
    { if (NR > 1 && $1 >= from && $1 - prev > max) max = $1 - prev; prev = $1 }
    END { printf "%.1f\n", max + 0 }' "$1"
}
# seek_target LOG RATE: a position 250 s away from where the log plays now
seek_target() {
  tail -n1 "$1" | awk -v r="$2" -v len="$LONG_MS" '{ printf "%d\n", ($3 / r * 1000 + 250000) % (len - 30000) }'
}

run_failover() {
  local room t x log out rate=48000 other lines
  local c_ms c_frame c_t0 c_heard k_ms k_frame k_t0 k_heard step
  long_song
  x=$(node_url "$FO_NODE")
  room=$(make_room "$(node_url 1)" "$TOKEN" failover "$LONG_ID")
  room_cmd "$(node_url 1)" "$TOKEN" "$room" '{"type":"repeat","mode":"all"}' >/dev/null
  room_cmd "$(node_url 1)" "$TOKEN" "$room" '{"type":"play"}' | jq -e '.state.playing' >/dev/null || die "the room does not play"
  # The listener logs in through node X and learns the other members there;
  # `hifi listen --no-spread` then joins node X and falls back on the others.
  echo "bench-password-1" | timeout 30 "$HIFI_BIN" --server "$x" login --username bench --password-stdin >/dev/null
  mkdir -p "$RESULTS/failover"
  : >"$RESULTS/failover.tsv"
  for ((t = 1; t <= TRIALS; t++)); do
    log="$RESULTS/failover/t$t.sync"
    out="$RESULTS/failover/t$t.out"
    "${PIN_CLIENT[@]}" "$HIFI_BIN" listen "$room" --no-spread --sink null --sync-log "$log" >"$out" 2>&1 &
    LISTENER_PID=$!
    joined() { grep -qs "connected to $x" "$out" && [[ -f "$log" ]] && (($(wc -l <"$log") >= 300)); }
    wait_until 60 joined || { cat "$out" >&2; die "trial $t: the listener did not play through $x"; }
    sleep 1
    # Control: the same seek through node 1 with node X alive.
    c_ms=$(seek_target "$log" "$rate")
    c_frame=$((c_ms * rate / 1000))
    c_t0=$(now_ms)
    room_cmd "$(node_url 1)" "$TOKEN" "$room" "{\"type\":\"seek\",\"position_ms\":$c_ms}" >/dev/null
    heard_c() { [[ "$(heard_after "$log" "$c_t0" "$c_frame" "$rate")" != - ]]; }
    wait_until 10 heard_c || log "trial $t: the control seek was not heard within 10 s"
    sleep "1.$((RANDOM % 1000))"  # a random phase against the listener's timers
    # Failover: kill -9 node X, and at once a seek through node 1.
    k_ms=$(seek_target "$log" "$rate")
    k_frame=$((k_ms * rate / 1000))
    disown "${NODE_PIDS[FO_NODE]}"  # no "Killed" notice from bash
    k_t0=$(now_ms)
    kill -KILL "${NODE_PIDS[FO_NODE]}"
    room_cmd "$(node_url 1)" "$TOKEN" "$room" "{\"type\":\"seek\",\"position_ms\":$k_ms}" >/dev/null
    stop_pid "${NODE_PIDS[FO_NODE]}"  # gone already; waits until it is reaped
    NODE_PIDS[FO_NODE]=""
    heard_k() { [[ "$(heard_after "$log" "$k_t0" "$k_frame" "$rate")" != - ]]; }
    wait_until 30 heard_k || log "trial $t: the seek after the kill was not heard within 30 s"
    sleep 0.5
    stop_pid "$LISTENER_PID"
    LISTENER_PID=""
    c_heard=$(heard_after "$log" "$c_t0" "$c_frame" "$rate")
    k_heard=$(heard_after "$log" "$k_t0" "$k_frame" "$rate")
    step=$(longest_step "$log" "$k_t0" "$k_frame" "$rate")
    other=$(grep -o 'connected to http://[0-9.:]*' "$out" | grep -v "connected to $x\$" | head -n1 | sed 's/connected to //')
    lines=$(wc -l <"$log")
    printf '%d\t%s\t%s\t%s\t%s\t%s\n' "$t" "$c_heard" "$k_heard" "$step" "${other:--}" "$(cut -d' ' -f1 /proc/loadavg)" \
      >>"$RESULTS/failover.tsv"
    log "trial $t: seek heard ${c_heard} ms after it was sent (node X alive), ${k_heard} ms after the kill; longest step between buffers ${step} ms; now on ${other:-?} ($lines buffers logged)"
    # Node X comes back at the same address with the same data.
    start_node "$FO_NODE"
    for i in 1 2 3; do wait_until 30 has_members "$(node_url "$i")" 3 || die "node $i does not see 3 members after the restart"; done
  done
  {
    echo "3. Failover: a 'hifi listen --no-spread --sink null' listener joined to node $FO_NODE ($x), its room playing;"
    echo "   control: a seek sent through node 1 -> its position plays in the listener's sync log (ms);"
    echo "   failover: kill -9 node $FO_NODE, a seek through node 1 at once -> its position plays (ms after the kill);"
    echo "   the listener keeps playing what it knows meanwhile: longest step between logged 10 ms buffers until then"
    printf '   %-6s %10s %12s %16s  %-24s %s\n' trial control "after kill" "longest step" "moved to" "load(1m)"
    awk -F'\t' '{ printf "   %-6s %10s %12s %16s  %-24s %s\n", $1, $2, $3, $4, $5, $6 }' "$RESULTS/failover.tsv"
    for col in 2 3; do
      cut -f"$col" "$RESULTS/failover.tsv" | grep -v '^-$' >"$RESULTS/fo-col$col" || true
    done
    read -r c50 _ _ cmin cmax cn < <(stats "$RESULTS/fo-col2")
    read -r k50 _ kmean kmin kmax kn < <(stats "$RESULTS/fo-col3")
    echo "   median: control ${c50} ms (min ${cmin}, max ${cmax}, $cn trials); after the kill ${k50} ms (mean ${kmean}, min ${kmin}, max ${kmax}, $kn trials)"
  } >"$RESULTS/failover.txt"
  FAILOVER_REPORT="$RESULTS/failover.txt"
  cat "$FAILOVER_REPORT" >&2
  bench_result "failover: kill -9 of the listener's node -> it follows the room, median of $TRIALS (peer: same seek, node alive)" \
    "$k50" "$c50" ms "- (none set)" "-"
}

for part in $PARTS; do
  case "$part" in
    upload) run_upload ;;
    fanout) run_fanout ;;
    failover) run_failover ;;
  esac
done

# --- report -----------------------------------------------------------------------
echo
echo "HiFi cluster benchmark: 3 etcd members + 3 hifi-server nodes (--replicas 3) and one single node, all on loopback"
echo "hifi-server $("$SERVER_BIN" --version 2>/dev/null | head -n1 | awk '{print $NF}'); $(etcd --version | head -n1)"
echo "data on $DATA_FS ($DATA): a synchronous 4 KiB write takes ${DSYNC_MS} ms on average"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), Linux $(uname -r)"
echo "load average at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg); $PINNING"
for report in "$UPLOAD_REPORT" "$FANOUT_REPORT" "$FAILOVER_REPORT"; do
  [[ -n "$report" ]] || continue
  echo
  cat "$report"
done
if [[ "${CLUSTER_BENCH_KEEP:-0}" == 1 ]]; then echo; echo "raw results: $RESULTS"; fi
