#!/usr/bin/env bash
# End to end, with real faults: three hifi-server nodes (--replicas 3) on a
# real 3-member etcd cluster, and real processes killed under them.
#  1. An upload is acknowledged with 3 live copies, one in every data dir.
#  2. A node is killed with SIGKILL in the middle of a stream of uploads and
#     restarted on the same port and data dir: every acknowledged song ends up
#     with 3 live copies and downloads intact from every node; no half-written
#     blob or forgotten temporary is left anywhere.
#  3. The node a `hifi listen` client plays through is killed: the client
#     moves to another node by itself and keeps playing.
#  4. Room commands through all nodes while the etcd raft leader is killed and
#     restarted: none acknowledged is lost or reordered, all nodes agree.
#  5. A node frozen with SIGSTOP leaves the cluster within its member TTL (plus
#     a margin); an upload sent right after the SIGSTOP is acknowledged within
#     a bound, with 2 copies; thawed, the node comes back and gets its copy.
#  6. Uploads that were not acknowledged are missing or whole, never half
#     there: the library and the blob stores hold exactly the songs and blobs
#     of uploads this test sent, each whole.
# Usage: cluster_fault_test.sh BUILD_DIR/src   (holding hifi-server and hifi)
# HIFI_E2E_KEEP_LOGS=DIR keeps the logs (servers, etcd, listener) in DIR.
set -euo pipefail
SRC_BIN=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$HERE/lib.sh"
# shellcheck source=SCRIPTDIR/cluster_lib.sh
source "$HERE/cluster_lib.sh"

need_etcd
need_tools sox jq curl sha256sum

use_binaries "$SRC_BIN"

UPLOADER_PID=""
on_exit() {
  local rc=$? p
  # A failed check or an unexpected error: show what the processes said.
  ((rc == 0 || rc == 77)) || print_log_tails
  [[ -n "$UPLOADER_PID" ]] && touch "$E2E_TMP/stop-uploads"
  for p in "${E2E_PIDS[@]:-}"; do [[ -n "$p" ]] && kill9 "$p"; done
  if [[ -n "${HIFI_E2E_KEEP_LOGS:-}" ]]; then
    mkdir -p "$HIFI_E2E_KEEP_LOGS"
    cp "$E2E_TMP"/*.log "$E2E_TMP"/*.out "$E2E_TMP"/acked "$E2E_TMP"/failed "$E2E_TMP"/attempts "$HIFI_E2E_KEEP_LOGS/" 2>/dev/null || true
  fi
  e2e_cleanup
}
trap on_exit EXIT

# The last lines of every server's, etcd member's and the listener's log.
print_log_tails() {
  local f
  for f in "$E2E_TMP"/node*.log "$E2E_TMP"/listen.out; do
    [[ -f "$f" ]] || continue
    log "---- last lines of $(basename "$f")"
    tail -n 40 "$f" >&2
  done
  for f in "$E2E_TMP"/etcd*.log; do
    [[ -f "$f" ]] || continue
    log "---- last lines of $(basename "$f")"
    tail -n 8 "$f" >&2
  done
}

# --- hifi nodes (cluster_lib.sh) ---------------------------------------------

NODE_ARGS=(--replicas 3 --member-ttl 2s --repair-interval 1s)
init_nodes

# The cluster as node I sees it is a signed-in question ($TOKEN, the admin's).

# fetch I ID: fetches song ID's stream through node I, following a redirect
# to a node holding it; sets GOT to the SHA-256 of what came ("failed" when the
# download failed) and counts the redirects in REDIRECTS.
REDIRECTS=0
HOPS=0
GOT=""
fetch() {
  local hops
  HOPS=0
  if hops=$(curl -sS -f -m 30 -L -o "$E2E_TMP/stream" -w '%{num_redirects}' -H "Authorization: Bearer $TOKEN" \
    "${NODE_URL[$1]}/api/v1/songs/$2/stream" 2>"$E2E_TMP/stream.err"); then
    REDIRECTS=$((REDIRECTS + hops))
    HOPS=$hops
    GOT=$(sha256sum <"$E2E_TMP/stream" | cut -d' ' -f1)
  else
    GOT="failed ($(tr '\n' ' ' <"$E2E_TMP/stream.err"))"
  fi
}


# blobs_intact I MIN: every file under node I's blobs/ holds the bytes its
# name (their SHA-256) promises: nothing half-written was published; and
# there are at least MIN of them (an empty or missing blobs/ proves nothing).
blobs_intact() {
  local f bad=0 n=0
  [[ -d "$E2E_TMP/node$1/blobs" ]] || { log "    node $1 has no blobs/"; return 1; }
  while IFS= read -r f; do
    n=$((n + 1))
    if [[ "$(sha256sum <"$f" | cut -d' ' -f1)" != "$(basename "$f")" ]]; then
      log "    node $1: $f does not hold the bytes its name says"
      bad=1
    fi
  done < <(find "$E2E_TMP/node$1/blobs" -type f)
  log "    node $1: $n blob file(s) checked"
  if ((n < $2)); then
    log "    node $1: only $n blob file(s), expected at least $2"
    bad=1
  fi
  return $bad
}

# no_stale_temporaries MARKER: no node keeps a file in its tmp/ from before
# MARKER was touched (while nothing was being written).
no_stale_temporaries() {
  local i left bad=0
  for i in 1 2 3; do
    [[ -d "$E2E_TMP/node$i/tmp" ]] || { log "    node $i has no tmp/"; bad=1; continue; }
    left=$(find "$E2E_TMP/node$i/tmp" -type f ! -newer "$1")
    if [[ -n "$left" ]]; then
      log "    node $i still has in tmp/: $left"
      bad=1
    fi
  done
  return $bad
}

# live_replicas I ID: how many live nodes hold song ID, as node I says.
live_replicas() { call "$1" GET "/api/v1/songs/$2" | jq '[.replicas[]? | select(.live)] | length' 2>/dev/null; }


# =============================================================================
step "3 etcd members, 3 hifi nodes (--replicas 3 --member-ttl 2s --repair-interval 1s)"
check "3 etcd members start and are healthy" start_etcd_cluster 3 "$E2E_TMP" "hifi-faults-$$"
for i in 1 2 3; do
  check "node $i starts and joins the cluster (${NODE_URL[i]})" start_node "$i"
  NODE_ID[i]=$(tr -d '\n' <"$E2E_TMP/node$i/node-id" || true)
  log "    node $i is ${NODE_ID[i]}"
done
PASSWORD="correct horse battery"
call 1 POST /api/v1/auth/register -d "{\"username\":\"alice\",\"password\":\"$PASSWORD\"}" >/dev/null
check "register through node 1" eq "$(status)" 201
TOKEN=$(call 2 POST /api/v1/auth/login -d "{\"username\":\"alice\",\"password\":\"$PASSWORD\"}" | json_field token)
check "log in through node 2" test -n "$TOKEN"
check "every node lists 3 members" wait_until 20 all_see_all 1 2 3
check "node 1 names itself as its node-id file does" eq "$(cluster_json 1 | jq -r '.self')" "${NODE_ID[1]}"

# =============================================================================
step "1. an upload is acknowledged with 3 live copies"
ROOM=$(call 3 POST /api/v1/rooms -d '{"name":"faults"}' | json_field id)
check "create a room through node 3" test -n "$ROOM"

sox -n -r 22050 -c 1 -b 16 "$E2E_TMP/long.wav" synth 60 sine 440 2>/dev/null
LONG_SHA=$(sha256sum <"$E2E_TMP/long.wav" | cut -d' ' -f1)
LONG=$(call 1 POST /api/v1/songs -H "Content-Type: audio/wav" --data-binary "@$E2E_TMP/long.wav" | json_field id)
check "upload a 60 s song through node 1: 201" eq "$(status)" 201
check "GET /api/v1/songs/{id} lists 3 replicas" eq "$(call 2 GET "/api/v1/songs/$LONG" | jq '.replicas | length')" 3
check "all 3 are live and are the 3 nodes" eq "$(call 2 GET "/api/v1/songs/$LONG" | jq -c '[.replicas[] | select(.live) | .id] | sort')" \
  "$(printf '%s\n' "${NODE_ID[@]:1}" | jq -R . | jq -sc 'sort')"
for i in 1 2 3; do
  check "node $i's data dir has the blob" test -f "$(blob_path "$i" "$LONG_SHA")"
done
# Nodes 2 and 3 got their copies while the song arrived at node 1, and
# committed them: none was sent again after node 1's commit.
METRICS=$(call 1 GET /metrics)
check "node 1 streamed both copies while the upload arrived" \
  grep -q '^hifi_replica_streamed_copies_total{result="ok"} 2$' <<<"$METRICS"
check "and sent none again after its commit" grep -q '^hifi_replica_pushes_total 0$' <<<"$METRICS"

# =============================================================================
step "2. a stream of uploads; node 2 is killed with SIGKILL mid-stream and restarted"
mkdir -p "$E2E_TMP/wav"
: >"$E2E_TMP/acked"    # K NODE STATUS SONG_ID SHA256
: >"$E2E_TMP/failed"   # K NODE STATUS - SHA256
: >"$E2E_TMP/attempts" # K NODE STATUS
# Distinct small WAVs (another frequency each), one at a time, through the
# nodes in turn; every answer is recorded, failures are allowed.
uploader() {
  local k=0 node code sha file body id
  while [[ ! -e "$E2E_TMP/stop-uploads" ]]; do
    k=$((k + 1))
    file="$E2E_TMP/wav/s$k.wav"
    sox -n -r 22050 -c 1 -b 16 "$file" synth 0.4 sine $((200 + 7 * k)) 2>/dev/null || continue
    sha=$(sha256sum <"$file" | cut -d' ' -f1)
    node=$((k % 3 + 1))
    body="$E2E_TMP/wav/s$k.json"
    code=$(upload "$node" "$file" "$body")
    if [[ "$code" == 201 || "$code" == 200 ]]; then
      id=$(jq -r '.id // empty' <"$body" 2>/dev/null || true)
      echo "$k $node $code ${id:-?} $sha" >>"$E2E_TMP/acked"
    else
      echo "$k $node $code - $sha" >>"$E2E_TMP/failed"
    fi
    echo "$k $node $code" >>"$E2E_TMP/attempts"
  done
}
uploader &
UPLOADER_PID=$!
E2E_PIDS+=("$UPLOADER_PID")

VICTIM=2
check "uploads are acknowledged while all nodes are up" wait_until 60 more_lines "$E2E_TMP/acked" 6
# Besides the stream, a large upload into node 2 at 1 MB/s: node 2 dies with
# it half-written.
sox -n -r 44100 -c 2 -b 16 "$E2E_TMP/big.wav" synth 20 sine 523 2>/dev/null
BIG_SHA=$(sha256sum <"$E2E_TMP/big.wav" | cut -d' ' -f1)
curl -sS -m 60 --limit-rate 1M -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
  -H "Content-Type: audio/wav" --data-binary "@$E2E_TMP/big.wav" "${NODE_URL[VICTIM]}/api/v1/songs" \
  >"$E2E_TMP/big.status" 2>/dev/null &
BIG_PID=$!
E2E_PIDS+=("$BIG_PID")
half_written() { [[ -n "$(find "$E2E_TMP/node$VICTIM/tmp" -name '*.part' -size +512k 2>/dev/null)" ]]; }
check "a large upload into node $VICTIM is under way (over 512 KiB in its tmp/)" wait_until 20 half_written
acked_before_kill=$(lines "$E2E_TMP/acked")
kill_node "$VICTIM"
KILLED_AT=$(lines "$E2E_TMP/attempts")
wait "$BIG_PID" 2>/dev/null || true
forget_pid "$BIG_PID"
big_status=$(cat "$E2E_TMP/big.status" 2>/dev/null || true)
check "the large upload was not acknowledged" test "${big_status:-000}" != 201
echo "0 $VICTIM ${big_status:-000} - $BIG_SHA" >>"$E2E_TMP/failed"
check "node $VICTIM leaves node 1's member list" wait_until 15 lacks 1 "${NODE_ID[VICTIM]}"
check "uploads are acknowledged again without node $VICTIM" \
  wait_until 60 more_lines "$E2E_TMP/acked" $((acked_before_kill + 4))
acked_before_restart=$(lines "$E2E_TMP/acked")
# While node 2 is down, each song acknowledged after the kill has 2 live
# copies, on the other nodes. Asked of node 1, whose member list is known to
# lack node 2: each node learns of a death on its own next member refresh, so
# another node may still call node 2 live for a moment. The upload that was in
# flight at the kill (#KILLED_AT+1) may name node 2 among its holders (node 2
# stored its copy before it died), but not as live.
TWO_COPIES=$(printf '%s\n' "${NODE_ID[@]:1}" | grep -vx "${NODE_ID[VICTIM]}" | jq -R . | jq -sc 'sort')
log "    uploads after #$KILLED_AT began after the kill"
bad=0 n=0
while read -r k _ _ id _; do
  ((k > KILLED_AT)) || continue
  n=$((n + 1))
  got=$(call 1 GET "/api/v1/songs/$id" | jq -c '[.replicas[] | select(.live) | .id] | sort')
  [[ "$got" == "$TWO_COPIES" ]] || { log "    song $id (upload #$k): live replicas $got, want $TWO_COPIES"; bad=1; }
done < <(head -n "$acked_before_restart" "$E2E_TMP/acked")
check "each of the $n songs acknowledged while node $VICTIM was down has 2 live copies, on the other 2 nodes" \
  test "$bad" = 0 -a "$n" -ge 3
check "node $VICTIM restarts on the same port and data dir" start_node "$VICTIM"
check "node $VICTIM keeps its node id" eq "$(cluster_json "$VICTIM" | jq -r '.self')" "${NODE_ID[VICTIM]}"
log "    node $VICTIM at start-up: $(grep -o "removed [0-9]* unfinished upload.*" "${NODE_LOG[VICTIM]}" || echo "no unfinished upload to remove")"
# Songs acknowledged while node 2 was away, read through node 2 before repair
# has necessarily copied them there (a 307 to a holder when not yet).
# A song node 2 lacks must come through a redirect; one it holds (repair may
# have copied it already) from node 2 itself.
REDIRECTS=0
bad=0 lacked=0
while read -r k _ _ id sha; do
  ((k > KILLED_AT)) || continue
  had=0
  [[ -f "$(blob_path "$VICTIM" "$sha")" ]] && had=1
  fetch "$VICTIM" "$id"
  [[ "$GOT" == "$sha" ]] || { log "    song $id (upload #$k) through node $VICTIM: $GOT, want $sha"; bad=1; }
  if ((had == 0)); then
    lacked=$((lacked + 1))
    # Not redirected although node 2 lacked it: only right if repair copied it meanwhile.
    if ((HOPS == 0)) && [[ ! -f "$(blob_path "$VICTIM" "$sha")" ]]; then
      log "    song $id: node $VICTIM lacks it, yet served it without a redirect"
      bad=1
    fi
  elif ((HOPS != 0)); then
    log "    song $id: node $VICTIM holds it, yet redirected ($HOPS)"
    bad=1
  fi
done < <(head -n "$acked_before_restart" "$E2E_TMP/acked")
check "songs uploaded while node $VICTIM was down download through it intact" eq "$bad" 0
log "    $lacked of them not yet on node $VICTIM, $REDIRECTS redirected"
check "those node $VICTIM lacked came through a redirect (at least one)" test "$REDIRECTS" -ge 1
check "every node lists 3 members again" wait_until 20 all_see_all 1 2 3
check "uploads go on after the restart" wait_until 60 more_lines "$E2E_TMP/acked" $((acked_before_restart + 3))
touch "$E2E_TMP/stop-uploads"
wait "$UPLOADER_PID" 2>/dev/null || true
forget_pid "$UPLOADER_PID"
UPLOADER_PID=""
log "    $(lines "$E2E_TMP/attempts") uploads: $(lines "$E2E_TMP/acked") acknowledged, $(lines "$E2E_TMP/failed") failed" \
  "(by status: $(awk '{print $3}' "$E2E_TMP/attempts" | sort | uniq -c | awk '{printf "%s×%s ", $2, $1}'))"

declare -A FULL=()
UNDER=""
# Every acknowledged song has 3 live replicas (asked of the nodes in turn).
all_replicated() {
  local k id n
  while read -r k _ _ id _; do
    [[ -n "${FULL[$id]:-}" ]] && continue
    n=$(live_replicas $((k % 3 + 1)) "$id")
    if [[ "$n" != 3 ]]; then
      UNDER="$id ($n live)"
      return 1
    fi
    FULL[$id]=1
  done <"$E2E_TMP/acked"
}
check "after repair every acknowledged song has 3 live replicas" wait_until 90 all_replicated ||
  log "    still under-replicated: $UNDER"
bad=0
while read -r k _ _ id sha; do
  for i in 1 2 3; do
    [[ -f "$(blob_path "$i" "$sha")" ]] || { log "    song $id (upload #$k): no copy in node $i's data dir"; bad=1; }
  done
done <"$E2E_TMP/acked"
check "every acknowledged song's blob is in all 3 data dirs" eq "$bad" 0
bad=0
while read -r k _ _ id sha; do
  for i in "$VICTIM" $((k % 3 + 1)); do
    fetch "$i" "$id"
    [[ "$GOT" == "$sha" ]] || { log "    song $id (upload #$k) through node $i: $GOT, want $sha"; bad=1; }
  done
done <"$E2E_TMP/acked"
check "every acknowledged song downloads intact, through node $VICTIM and another node" eq "$bad" 0
touch "$E2E_TMP/quiet-marker"
MIN_BLOBS=$(($(lines "$E2E_TMP/acked") + 1))
for i in 1 2 3; do check "node $i: every blob file's SHA-256 is its name (at least $MIN_BLOBS)" blobs_intact "$i" "$MIN_BLOBS"; done
check "no node keeps a temporary from the upload stream in tmp/" no_stale_temporaries "$E2E_TMP/quiet-marker"

# =============================================================================
step "3. a listener's node is killed under it; the listener moves on by itself"
export XDG_CONFIG_HOME="$E2E_TMP/config"
cli_login() { echo "$PASSWORD" | "$BIN_DIR/hifi" --server "${NODE_URL[3]}" login --username alice --password-stdin >/dev/null; }
check "hifi logs in through node 3" cli_login
call 1 POST "/api/v1/rooms/$ROOM/commands" -d "{\"type\":\"add\",\"song_ids\":[\"$LONG\"]}" >/dev/null
call 2 POST "/api/v1/rooms/$ROOM/commands" -d '{"type":"play"}' >/dev/null
check "play the 60 s song" eq "$(status)" 200
# Through node 3; a client that spreads listeners may pick another node: X is
# whichever node it connects to.
spread=()
"$BIN_DIR/hifi" listen --help 2>&1 | grep -q -- --no-spread && spread=(--no-spread)
"$BIN_DIR/hifi" --server "${NODE_URL[3]}" listen "$ROOM" "${spread[@]}" --sink null \
  --sync-log "$E2E_TMP/sync.log" >"$E2E_TMP/listen.out" 2>&1 &
LISTENER_PID=$!
E2E_PIDS+=("$LISTENER_PID")
connected() { grep -qx "connected to http://.*" "$E2E_TMP/listen.out"; }
check "the listener connects" wait_until 30 connected
X=""
for i in 1 2 3; do
  if grep -qx "connected to ${NODE_URL[i]}" "$E2E_TMP/listen.out"; then X=$i; fi
done
check "to a node of the cluster" test -n "$X"
X=${X:-3}
log "    the listener is connected to node $X (${NODE_URL[X]})"
check "the listener plays (its sync log grows)" wait_until 30 more_lines "$E2E_TMP/sync.log" 50
connected_elsewhere() {
  grep -o "connected to http://[^ ]*" "$E2E_TMP/listen.out" | grep -qvx "connected to ${NODE_URL[X]}"
}
kill_node "$X"
killed_at=$(date +%s%3N)
check "the listener reconnects to another node by itself" wait_until 30 connected_elsewhere
log "    within $(($(date +%s%3N) - killed_at)) ms"
log "    $(grep -o "connected to http://[^ ]*" "$E2E_TMP/listen.out" | tail -1)"
played=$(lines "$E2E_TMP/sync.log")
check "and keeps playing (its sync log grows by 100 more buffers)" wait_until 30 more_lines "$E2E_TMP/sync.log" $((played + 100))
# A seek through a live node reaches the listener through its new connection:
# the player jumps 25 s (forwards early in the song, else back), which playing
# on alone would not do within the wait.
now_s=$(tail -1 "$E2E_TMP/sync.log" | awk '{printf "%d", $3 / $4}')
target=$((now_s < 30 ? now_s + 25 : now_s - 25))
seen=$(lines "$E2E_TMP/sync.log")
call $((X % 3 + 1)) POST "/api/v1/rooms/$ROOM/commands" -d "{\"type\":\"seek\",\"position_ms\":$((target * 1000))}" >/dev/null
check "seek from ${now_s} s to $target s through node $((X % 3 + 1))" eq "$(status)" 200
played_at() {  # a buffer written after line $seen plays second $1 (to $1 + 8)
  awk -v n="$seen" -v t="$1" 'NR > n && $3 / $4 >= t && $3 / $4 < t + 8 {found = 1} END {exit !found}' "$E2E_TMP/sync.log"
}
check "the listener follows the seek" wait_until 15 played_at "$target"
kill9 "$LISTENER_PID"
check "node $X restarts" start_node "$X"
check "node $X keeps its node id" eq "$(cluster_json "$X" | jq -r '.self')" "${NODE_ID[X]}"
check "every node lists 3 members again" wait_until 20 all_see_all 1 2 3

# =============================================================================
step "4. room commands through every node while the etcd leader is killed and restarted"
ROOM2=$(call 1 POST /api/v1/rooms -d '{"name":"order"}' | json_field id)
check "create a second room" test -n "$ROOM2"
mapfile -t SONGS < <(awk '{print $4}' "$E2E_TMP/acked")
NCMD=15
# Enough distinct songs for one add each (upload more if the stream was short).
for ((n = 0; ${#SONGS[@]} < NCMD && n < 3 * NCMD; n++)); do
  sox -n -r 22050 -c 1 -b 16 "$E2E_TMP/extra$n.wav" synth 0.4 sine $((5000 + 13 * n)) 2>/dev/null
  code=$(upload $((n % 3 + 1)) "$E2E_TMP/extra$n.wav" "$E2E_TMP/extra.json")
  sha256sum <"$E2E_TMP/extra$n.wav" | cut -d' ' -f1 >>"$E2E_TMP/extra-shas"
  [[ "$code" == 201 ]] && SONGS+=("$(jq -r .id "$E2E_TMP/extra.json")")
done
check "$NCMD songs to add" test "${#SONGS[@]}" -ge "$NCMD"
ACKED_ADDS=()
UNACKED_ADDS=()
# send_add K: "add" of song K through node K mod 3 + 1, acknowledged or not.
send_add() {
  local k=$1 node=$(($1 % 3 + 1)) id=${SONGS[$1]}
  call "$node" POST "/api/v1/rooms/$ROOM2/commands" -d "{\"type\":\"add\",\"song_ids\":[\"$id\"]}" >/dev/null
  if [[ "$(status)" == 200 ]]; then
    ACKED_ADDS+=("$id")
  else
    UNACKED_ADDS+=("$id")
    log "    add #$k through node $node: not acknowledged ($(status))"
  fi
}
for k in 0 1 2 3 4; do send_add "$k"; done
LEADER=$(etcd_leader)
check "find the etcd raft leader" test -n "$LEADER"
LEADER=${LEADER:-1}
log "    kill -9 etcd member $LEADER (the raft leader)"
kill9 "${ETCD_PIDS[LEADER]}"
during_before=${#ACKED_ADDS[@]}
for k in 5 6 7 8 9; do send_add "$k"; done
log "    $((${#ACKED_ADDS[@]} - during_before)) of 5 adds acknowledged while etcd member $LEADER was down"
check "adds are acknowledged while an etcd member is down" test $((${#ACKED_ADDS[@]} - during_before)) -gt 0
start_etcd_member "$LEADER"
check "etcd member $LEADER restarts with its data dir and is healthy" wait_until 30 etcd_healthy "$LEADER"
for k in 10 11 12 13 14; do send_add "$k"; done
log "    ${#ACKED_ADDS[@]} of $NCMD adds acknowledged"
check "most adds are acknowledged" test "${#ACKED_ADDS[@]}" -ge 10

room_view() {  # room_view I: revision and state (without presence) as node I serves them
  call "$1" GET "/api/v1/rooms/$ROOM2" | jq -c '{revision, state: (.state | del(.listeners))}' 2>/dev/null
}
same_everywhere() {
  local a b c
  a=$(room_view 1) b=$(room_view 2) c=$(room_view 3)
  [[ -n "$a" && "$a" == "$b" && "$b" == "$c" ]]
}
check "every node returns the same revision and state of the room" wait_until 20 same_everywhere ||
  for i in 1 2 3; do log "    node $i: $(room_view "$i" | cut -c1-300)"; done
queue_acked_only() {  # the room's queue, without the adds that were not acknowledged
  local q id u keep
  q=$(call "$1" GET "/api/v1/rooms/$ROOM2" | jq -r '.state.queue[].song_id')
  for id in $q; do
    keep=1
    for u in "${UNACKED_ADDS[@]:-}"; do [[ "$id" == "$u" ]] && keep=0; done
    ((keep)) && echo "$id"
  done
  return 0
}
for i in 1 2 3; do
  check "node $i: the queue holds exactly the acknowledged adds, in acknowledgement order" \
    eq "$(queue_acked_only "$i" | tr '\n' ' ')" "$(printf '%s ' "${ACKED_ADDS[@]:-}")"
done
all_etcd_healthy() { etcd_healthy 1 && etcd_healthy 2 && etcd_healthy 3; }
check "all 3 etcd members are healthy" wait_until 20 all_etcd_healthy

# =============================================================================
S=1
step "5. node $S is frozen with SIGSTOP past its member TTL, then thawed"
ms_now() { date +%s%3N; }
TTL_MS=2000
sox -n -r 22050 -c 1 -b 16 "$E2E_TMP/frozen.wav" synth 1 sine 3333 2>/dev/null
FROZEN_SHA=$(sha256sum <"$E2E_TMP/frozen.wav" | cut -d' ' -f1)
kill -STOP "${NODE_PID[S]}"
stopped_at=$(ms_now)
# When node 2 stops listing node S, timed from the SIGSTOP by a poller
# running alongside the upload below.
(
  until lacks 2 "${NODE_ID[S]}"; do
    (($(ms_now) - stopped_at < 30000)) || exit 1
    sleep 0.05
  done
  ms_now >"$E2E_TMP/left-at"
) &
LEAVE_POLLER=$!
E2E_PIDS+=("$LEAVE_POLLER")
# Right away, while node S still counts as a member: the upload must not wait
# for the frozen node, nor fail because of it.
code=$(upload 2 "$E2E_TMP/frozen.wav" "$E2E_TMP/frozen.json")
upload_ms=$(($(ms_now) - stopped_at))
FROZEN=$(jq -r '.id // empty' "$E2E_TMP/frozen.json" 2>/dev/null || true)
check "an upload through node 2 right after node $S froze is acknowledged" eq "$code" 201
log "    answered $upload_ms ms after the SIGSTOP"
check "within 10 s of the SIGSTOP (took $upload_ms ms)" test "$upload_ms" -le 10000
wait "$LEAVE_POLLER" 2>/dev/null || true
forget_pid "$LEAVE_POLLER"
left_ms=$(($(cat "$E2E_TMP/left-at" 2>/dev/null || echo 99999999999999) - stopped_at))
log "    node $S gone from node 2's /api/v1/cluster $left_ms ms after SIGSTOP (member TTL $TTL_MS ms)"
check "node $S disappears from node 2's /api/v1/cluster within its TTL + 3 s" test "$left_ms" -le $((TTL_MS + 3000))
check "node 3 agrees" wait_until 5 lacks 3 "${NODE_ID[S]}"
check "with 2 copies, on the 2 live nodes" eq "$(call 3 GET "/api/v1/songs/$FROZEN" | jq -c '[.replicas[] | {id, live}] | sort_by(.id)')" \
  "$(printf '%s\n' "${NODE_ID[2]}" "${NODE_ID[3]}" | jq -R '{id: ., live: true}' | jq -sc 'sort_by(.id)')"
kill -CONT "${NODE_PID[S]}"
check "thawed, node $S shows up again in node 2's /api/v1/cluster" wait_until 20 sees 2 "${NODE_ID[S]}"
check "every node lists 3 members again" wait_until 20 all_see_all 1 2 3
held_by_s() {
  call 2 GET "/api/v1/songs/$FROZEN" |
    jq -e --arg s "${NODE_ID[S]}" '([.replicas[] | select(.live)] | length) == 3 and any(.replicas[]; .id == $s and .live)' >/dev/null
}
check "after repair the song has 3 live replicas, node $S's among them" wait_until 60 held_by_s
check "node $S has the blob on disk" test -f "$(blob_path "$S" "$FROZEN_SHA")"
fetch "$S" "$FROZEN"
check "node $S serves it intact" eq "$GOT" "$FROZEN_SHA"

# =============================================================================
step "6. uploads that were not acknowledged are missing or whole, never half there"
bad=0 missing=0 whole=0 n=0
while read -r k node code _ sha; do
  n=$((n + 1))
  body=$(call $((k % 3 + 1)) GET "/api/v1/songs/by-sha256/$sha")
  case "$(status)" in
    404) missing=$((missing + 1)) ;;
    200)
      id=$(jq -r '.id' <<<"$body")
      fetch $((k % 3 + 1)) "$id"
      if [[ "$GOT" == "$sha" ]]; then
        whole=$((whole + 1))
      else
        log "    upload #$k (node $node, status $code) is published as $id but its stream is $GOT"
        bad=1
      fi
      if [[ "$code" == 503 ]]; then
        log "    upload #$k was answered 503, yet it is published as song $id"
        bad=1
      fi
      ;;
    *)
      log "    upload #$k: GET by-sha256 answered $(status)"
      bad=1
      ;;
  esac
done <"$E2E_TMP/failed"
log "    $n unacknowledged upload(s): $missing missing, $whole published whole"
check "every unacknowledged upload is missing or whole (and none answered 503 is published)" eq "$bad" 0

# Looking an unacknowledged upload up by its whole file's SHA-256 cannot find
# a half-written one (its bytes hash to something else). So: the library and
# every node's blobs/ hold exactly what uploads this test sent, whole.
{
  awk '{print $5}' "$E2E_TMP/acked" "$E2E_TMP/failed"
  cat "$E2E_TMP/extra-shas" 2>/dev/null || true
  echo "$LONG_SHA"
  echo "$FROZEN_SHA"
} | sort -u >"$E2E_TMP/sent-shas"
call 1 GET "/api/v1/songs?limit=500" >"$E2E_TMP/library.json"
check "the library lists in one page" eq "$(jq -r '.next // "none"' "$E2E_TMP/library.json")" none
jq -r '.items[].sha256' "$E2E_TMP/library.json" | sort -u >"$E2E_TMP/library-shas"
check "every song in the library is one this test uploaded whole" \
  eq "$(comm -23 "$E2E_TMP/library-shas" "$E2E_TMP/sent-shas" | tr '\n' ' ')" ""
check "every acknowledged upload is in the library" \
  eq "$(awk '{print $5}' "$E2E_TMP/acked" | sort -u | comm -23 - "$E2E_TMP/library-shas" | tr '\n' ' ')" ""
check "the upload killed half-way is not in the library" test -z "$(grep -x "$BIG_SHA" "$E2E_TMP/library-shas")"
for i in 1 2 3; do
  check "node $i's blobs/ holds only blobs of songs this test uploaded whole" \
    eq "$(find "$E2E_TMP/node$i/blobs" -type f -printf '%f\n' | sort -u | comm -23 - "$E2E_TMP/sent-shas" | tr '\n' ' ')" ""
done

step "the end: all copies intact, nothing half-written, no stale temporaries"
touch "$E2E_TMP/end-marker"
for i in 1 2 3; do check "node $i: every blob file's SHA-256 is its name (at least $MIN_BLOBS)" blobs_intact "$i" "$MIN_BLOBS"; done
check "no node keeps a stale temporary in tmp/" no_stale_temporaries "$E2E_TMP/end-marker"
check "every node lists 3 members" wait_until 20 all_see_all 1 2 3

log ""
log "took $((SECONDS - T0)) s"
finish
