#!/usr/bin/env bash
# Scaling benchmark: what growing and draining the cluster costs, on
# loopback, on three etcd members.
#
#   1. scale-up: one node with the local provisioner (--scale-target-listeners
#      SCALE_BENCH_TARGET, --scale-up-window 0s); at t0 enough `hifi listen`
#      processes join to ask for a second node. Reported: time from t0 (the
#      load crossing the target) to the autoscaler's decision, to the new node
#      listed as a member, and to a new listener (spread: the least loaded)
#      connected to it, i.e. serving listeners. Repeated SCALE_BENCH_TRIALS
#      times (the cluster drains back to one node in between).
#   2. drain: two nodes (--replicas 1), SCALE_BENCH_MB MB of songs whose only
#      copy is on node 2 and SCALE_BENCH_LISTENERS listeners playing from it;
#      `hifi cluster drain` of node 2. Reported: the drain's time (request to
#      the node gone from the member list), the hand-over rate (MB/s) next to
#      the disk floor (`dd conv=fsync` of the same bytes), CPU seconds spent
#      by the two nodes during the drain, and per listener the gap heard
#      during its move: output buffers skipped, repeated or late in its sync
#      log (the goal is 0) and the largest position nudge in samples.
#
# Usage: bench/scale_bench.sh
# Environment:
#   SCALE_BENCH_PARTS       which parts (default "scaleup drain")
#   SCALE_BENCH_TRIALS      scale-up trials (default 3)
#   SCALE_BENCH_TARGET      listeners per node (default 4)
#   SCALE_BENCH_MB          MB of songs on the drained node (default 200)
#   SCALE_BENCH_LISTENERS   listeners on the drained node (default 8)
#   SCALE_BENCH_BUILD_DIR   build dir (default build/bench)
#   BENCH_SKIP_SETUP=1      use the build dir as it is
#   SCALE_BENCH_KEEP=1      keep the temp dir (logs, data)
#   BENCH_RESULTS           a file: append the headline rows for bench/all to it
# Nothing is pinned: the autoscaler starts nodes itself, and the listeners are
# players, not a load generator.
# Everything it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${SCALE_BENCH_BUILD_DIR:-$ROOT/build/bench}
PARTS=${SCALE_BENCH_PARTS:-"scaleup drain"}
TRIALS=${SCALE_BENCH_TRIALS:-3}
TARGET=${SCALE_BENCH_TARGET:-4}
MB=${SCALE_BENCH_MB:-200}
DRAIN_LISTENERS=${SCALE_BENCH_LISTENERS:-8}
log() { printf '[scale-bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=SCRIPTDIR/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=SCRIPTDIR/../tests/e2e/etcd.sh
source "$ROOT/tests/e2e/etcd.sh"
ETCD_BIN=etcd

build_for_bench hifi-server hifi
TMP=$(mktemp -d /tmp/hifi-scale-bench.XXXXXX)
cp "$BUILD_DIR/src/hifi-server" "$BUILD_DIR/src/hifi" "$TMP/"
SERVER=$TMP/hifi-server
HIFI=$TMP/hifi
PIDS=()
cleanup() {
  local rc=$? p f
  trap - EXIT INT TERM
  # A process gone already (the drained node exits by itself) is fine.
  for f in "$TMP"/*/spawned/*/hifi-server.pid; do [[ -f "$f" ]] && { kill -9 "$(cat "$f")" 2>/dev/null || true; }; done
  for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && { kill -9 "$p" 2>/dev/null || true; }; done
  wait 2>/dev/null || true
  if [[ "${SCALE_BENCH_KEEP:-0}" == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
exit_traps cleanup
export HIFI_CLUSTER_SECRET="scale-bench-secret-$$-$RANDOM" HOME="$TMP/home" XDG_CONFIG_HOME="$TMP/home"
mkdir -p "$HOME"
ETCD_LOG_DIR=$TMP start_etcd_cluster 3 "$TMP" "scale-bench-$$" || die "etcd did not start"
PIDS+=("${ETCD_PIDS[@]}")

start_node() {  # start_node NAME PORT ARGS...: a node; its log in NAME.log
  local name=$1 port=$2
  shift 2
  "$SERVER" --listen "127.0.0.1:$port" --data-dir "$TMP/$name" --etcd "$ETCD_ENDPOINTS" --member-ttl 2s \
    "$@" >"$TMP/$name.log" 2>&1 &
  PIDS+=("$!")
  NODE_PID=$!
  wait_until 30 curl -sf -m 1 "http://127.0.0.1:$port/healthz" -o /dev/null || die "$name did not start"
}
cluster_json() { curl -sf -m 5 -H "Authorization: Bearer $TOKEN" "$1/api/v1/cluster"; }
members() { cluster_json "$1" | jq '.members | length'; }
sign_in() {  # sign_in URL: registers alice (once) and sets TOKEN
  echo "correct horse" | "$HIFI" --server "$1" register --username alice --password-stdin >/dev/null 2>&1 ||
    echo "correct horse" | "$HIFI" --server "$1" login --username alice --password-stdin >/dev/null
  TOKEN=$(curl -sf -m 10 -X POST -d '{"username":"alice","password":"correct horse"}' "$1/api/v1/auth/login" | jq -r .token)
}
cpu_seconds() {  # cpu_seconds PID: user + system time so far
  awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}
seconds_since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.2f", (b - a) / 1000 }'; }

RESULTS=()

# --- 1. scale-up -------------------------------------------------------------
if [[ " $PARTS " == *" scaleup "* ]]; then
  free_port; P1=$FREE_PORT
  free_port; FIRST=$FREE_PORT
  N1="http://127.0.0.1:$P1"
  start_node up1 "$P1" --replicas 2 --scale-provisioner local --scale-min 1 --scale-max 2 \
    --scale-target-listeners "$TARGET" --scale-up-window 0s --scale-down-window 2s \
    --scale-local-ports "$FIRST-$((FIRST + 3))" --scale-local-dir "$TMP/up1/spawned"
  sign_in "$N1"
  sox -n -r 44100 -c 2 -b 16 "$TMP/long.wav" synth 600 sine 440 2>/dev/null
  SONG=$(curl -sf -H "Authorization: Bearer $TOKEN" -H "Content-Type: audio/wav" --data-binary "@$TMP/long.wav" \
    "$N1/api/v1/songs" | jq -r .id)
  "$HIFI" --server "$N1" rooms create bench >/dev/null
  "$HIFI" --server "$N1" queue bench add "$SONG" >/dev/null
  "$HIFI" --server "$N1" play bench >/dev/null
  for trial in $(seq 1 "$TRIALS"); do
    LP=()
    t0=$(now_ms)
    for k in $(seq 1 $((TARGET * 2))); do
      "$HIFI" --server "$N1" listen bench --no-spread --sink null >/dev/null 2>&1 &
      LP+=("$!")
    done
    wait_until 60 bash -c "[[ \$(curl -sf -m 5 -H 'Authorization: Bearer $TOKEN' '$N1/api/v1/cluster' | jq '.scale.wanted') == 2 ]]" ||
      die "the autoscaler did not want a second node in 60 s"
    decided=$(seconds_since "$t0")
    wait_until 60 bash -c "[[ \$(curl -sf -m 5 -H 'Authorization: Bearer $TOKEN' '$N1/api/v1/cluster' | jq '.members | length') == 2 ]]" ||
      die "no second node in 60 s"
    joined=$(seconds_since "$t0")
    NEW=$(cluster_json "$N1" | jq -r --arg s "$N1" '.members[] | select(.advertise != $s) | .advertise')
    "$HIFI" --server "$N1" listen bench --sink null >"$TMP/spread.out" 2>&1 &
    SP=$!
    wait_until 60 grep -q "connected to $NEW" "$TMP/spread.out" || log "the spread listener did not land on $NEW"
    serving=$(seconds_since "$t0")
    log "scale-up trial $trial: decision ${decided} s, member ${joined} s, serving a listener ${serving} s ($NEW)"
    RESULTS+=("scaleup $trial $decided $joined $serving")
    for p in "${LP[@]}" "$SP"; do kill -TERM "$p" 2>/dev/null || true; done
    wait "${LP[@]}" "$SP" 2>/dev/null || true
    wait_until 120 bash -c "[[ \$(curl -sf -m 5 -H 'Authorization: Bearer $TOKEN' '$N1/api/v1/cluster' | jq '.members | length') == 1 ]]" ||
      die "did not drain back to one node"
  done
fi

# --- 2. drain ----------------------------------------------------------------
if [[ " $PARTS " == *" drain "* ]]; then
  free_port; P1=$FREE_PORT
  free_port; P2=$FREE_PORT
  N1="http://127.0.0.1:$P1"
  N2="http://127.0.0.1:$P2"
  start_node d1 "$P1" --replicas 1 --etcd-namespace drain/
  D1=$NODE_PID
  start_node d2 "$P2" --replicas 1 --etcd-namespace drain/
  D2=$NODE_PID
  sign_in "$N2"
  ID2=$(tr -d '\n' <"$TMP/d2/node-id")
  # SCALE_BENCH_MB of 10 MB WAVs, uploaded through node 2 (R=1: its copy only).
  files=$(((MB + 9) / 10))
  for k in $(seq 1 "$files"); do
    sox -n -r 44100 -c 2 -b 16 "$TMP/s.wav" synth 59.4 sine $((100 + k)) 2>/dev/null
    curl -sf -H "Authorization: Bearer $TOKEN" -H "Content-Type: audio/wav" --data-binary "@$TMP/s.wav" \
      "$N2/api/v1/songs" -o /dev/null || die "upload $k failed"
    [[ $k == 1 ]] && FIRST_SONG=$(curl -sf -H "Authorization: Bearer $TOKEN" "$N2/api/v1/songs" | jq -r '.items[0].id')
  done
  bytes=$(du -sb "$TMP/d2/blobs" | cut -f1)
  # The disk floor: the same bytes written and fsynced once.
  dd_start=$(now_ms)
  dd if=/dev/zero of="$TMP/dd.out" bs=1M count=$((bytes / 1048576)) conv=fsync status=none
  dd_s=$(seconds_since "$dd_start")
  rm -f "$TMP/dd.out"
  "$HIFI" --server "$N2" rooms create drain >/dev/null
  "$HIFI" --server "$N2" queue drain add "$FIRST_SONG" >/dev/null
  "$HIFI" --server "$N2" play drain >/dev/null
  LP=()
  for k in $(seq 1 "$DRAIN_LISTENERS"); do
    "$HIFI" --server "$N2" listen drain --no-spread --sink null --sync-log "$TMP/sync$k.log" >"$TMP/l$k.out" 2>&1 &
    LP+=("$!")
  done
  for k in $(seq 1 "$DRAIN_LISTENERS"); do
    wait_until 30 bash -c "[[ -f '$TMP/sync$k.log' && \$(wc -l <'$TMP/sync$k.log') -gt 100 ]]" || die "listener $k does not play"
  done
  cpu1=$(cpu_seconds "$D1")
  cpu2=$(cpu_seconds "$D2")
  # Node 2 exits once drained: sample its CPU time until then.
  (while kill -0 "$D2" 2>/dev/null; do cpu_seconds "$D2" >"$TMP/cpu2.tmp" && mv "$TMP/cpu2.tmp" "$TMP/cpu2"; sleep 0.05; done) &
  SAMPLER=$!
  t0=$(now_ms)
  "$HIFI" --server "$N1" cluster drain "$ID2" --timeout 600 >"$TMP/drain.out" 2>&1 || die "drain failed: $(cat "$TMP/drain.out")"
  drain_s=$(seconds_since "$t0")
  cpu1_used=$(awk -v a="$cpu1" -v b="$(cpu_seconds "$D1")" 'BEGIN { printf "%.2f", b - a }')
  wait_until 30 bash -c "! kill -0 $D2 2>/dev/null" || true
  wait "$SAMPLER" 2>/dev/null || true
  cpu2_used=$(awk -v a="$cpu2" -v b="$(cat "$TMP/cpu2" 2>/dev/null || echo "$cpu2")" 'BEGIN { printf "%.2f", b - a }')
  for k in $(seq 1 "$DRAIN_LISTENERS"); do
    wait_until 30 grep -q "connected to $N1" "$TMP/l$k.out" || log "listener $k did not reach node 1"
  done
  # Each plays on for 100 more buffers after its move, then its log is read.
  for k in $(seq 1 "$DRAIN_LISTENERS"); do
    n=$(wc -l <"$TMP/sync$k.log")
    wait_until 30 bash -c "(( \$(wc -l <'$TMP/sync$k.log') > $n + 100 ))" || log "listener $k stopped playing"
  done
  gaps=0 worst=0
  for k in $(seq 1 "$DRAIN_LISTENERS"); do
    read -r g w < <(awk -v song="$FIRST_SONG" '$2 == song {
        if (prev != "") {
          if (step == "") { step = $3 - prev; tick = $1 - when }
          d = $3 - prev - step; t = $1 - when - tick
          if (d < -8 || d > 8 || t < -0.5 || t > 0.5) bad++
          a = d < 0 ? -d : d; if (a > worst) worst = a
        }
        prev = $3; when = $1
      } END { print bad + 0, worst + 0 }' "$TMP/sync$k.log")
    gaps=$((gaps + g))
    ((w > worst)) && worst=$w
  done
  for p in "${LP[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  mbps=$(awk -v b="$bytes" -v s="$drain_s" 'BEGIN { printf "%.1f", b / 1048576 / s }')
  floor=$(awk -v b="$bytes" -v s="$dd_s" 'BEGIN { printf "%.1f", b / 1048576 / s }')
  log "drain: $((bytes / 1048576)) MB and $DRAIN_LISTENERS listeners in ${drain_s} s ($mbps MB/s; dd floor $floor MB/s)"
  RESULTS+=("drain $((bytes / 1048576)) $DRAIN_LISTENERS $drain_s $mbps $floor $cpu1_used $cpu2_used $gaps $worst")
fi

echo
echo "Scaling on loopback, 3 etcd members ($(nproc) cores)"
for r in "${RESULTS[@]}"; do
  set -- $r
  case $1 in
    scaleup) printf 'scale-up trial %s: load over target -> decision %6s s, new member %6s s, serving listeners %6s s\n' \
      "$2" "$3" "$4" "$5" ;;
    drain) printf 'drain: %s MB, %s listeners: %s s (%s MB/s handed over; disk floor dd conv=fsync %s MB/s, ratio %s)\n' \
      "$2" "$3" "$4" "$5" "$6" "$(awk -v a="$5" -v b="$6" 'BEGIN { printf "%.2f", a / b }')"
      printf '       CPU during the drain: node kept %s s, node drained %s s; listeners: %s buffers skipped/repeated/late (goal 0), largest nudge %s samples\n' \
        "$7" "$8" "$9" "${10}" ;;
  esac
done

# Headline rows for bench/all (BENCH_RESULTS).
serving=()
for r in "${RESULTS[@]}"; do
  set -- $r
  case $1 in
    scaleup) serving+=("$5") ;;
    drain)
      bench_result "drain: MB/s handed over, $2 MB with $3 listeners (floor: dd conv=fsync of the same bytes)" "$5" "$6" MB/s "-" "-"
      bench_result "drain: listener buffers skipped, repeated or late during the move" "$9" - buffers "0" \
        "$(bench_met "$9" "<=" 0)" ;;
  esac
done
if ((${#serving[@]} > 0)); then
  med=$(printf '%s\n' "${serving[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  bench_result "scale-up: load over target -> a new node serves a listener, median of ${#serving[@]}" "$med" - s "-" "-"
fi
