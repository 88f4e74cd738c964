#!/usr/bin/env bash
# Faults and abuse under a steady load, end to end: three hifi-server nodes
# (--replicas 3) on a real 3-member etcd cluster. While uploads, downloads,
# room commands and a `hifi listen` player run without pause, a schedule
# injects, one after the other:
#   1. a registration flood (200 attempts, 16 at a time) while a signed-in
#      user's requests go on;
#   2. a client that holds connections open from one address (127.0.0.2)
#      beyond the per-address cap, while others (127.0.0.1) are served;
#   3. a room WebSocket client that never reads, while its room changes fast;
#   4. kill -9 of a node, and its restart;
#   5. SIGSTOP of a node past its member TTL, an etcd compaction past its
#      view, and SIGCONT;
#   6. kill -9 of the etcd raft leader, and its restart;
#   7. a full disk on one node (its data directory a tmpfs the test mounts;
#      skipped where mounting is not permitted).
# At the end: no acknowledged upload lost or corrupt (every one with 3 live
# copies, intact through every node); the room's revision and state the same
# on every node, holding every acknowledged add exactly once; every node's
# view converged; no node crashed; the nodes that were never killed hold no
# more memory or file descriptors than the load explains; and every request
# that failed got a clear error (a problem with a detail, or no answer only
# while a node was down or frozen). A table of operations and faults is
# printed.
# Usage: fault_abuse_test.sh BUILD_DIR/src   (holding hifi-server and hifi)
# HIFI_E2E_KEEP_LOGS=DIR keeps the logs in DIR.
set -euo pipefail
SRC_BIN=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$HERE/lib.sh"
# shellcheck source=SCRIPTDIR/cluster_lib.sh
source "$HERE/cluster_lib.sh"

need_etcd
need_tools sox jq curl sha256sum xargs

use_binaries "$SRC_BIN"
mkdir -p "$E2E_TMP/down" "$E2E_TMP/wav"

PER_ADDRESS=48
NODE_ARGS=(--replicas 3 --member-ttl 2s --repair-interval 1s --max-connections-per-address "$PER_ADDRESS"
  --min-free-space 16MiB)
# Node 3's data directory is a small file system of its own, to be filled.
mkdir -p "$E2E_TMP/node3"
SMALL_DISK=""
if mount -t tmpfs -o size=96m,mode=0700 tmpfs "$E2E_TMP/node3" 2>"$E2E_TMP/mount.err"; then
  SMALL_DISK="$E2E_TMP/node3"
else
  log "cannot mount a tmpfs ($(cat "$E2E_TMP/mount.err")): the full-disk fault will be skipped"
fi

LOOP_PIDS=()
on_exit() {
  local rc=$? p f
  touch "$E2E_TMP/stop"
  disown -a 2>/dev/null || true  # the processes killed below are not reported one by one
  if ((rc != 0 && rc != 77)); then
    for f in "$E2E_TMP"/node*.log "$E2E_TMP"/listen.out; do
      [[ -f "$f" ]] || continue
      log "---- last lines of $(basename "$f")"
      tail -n 30 "$f" >&2
    done
  fi
  for p in "${LOOP_PIDS[@]:-}" "${E2E_PIDS[@]:-}"; do [[ -n "$p" ]] && kill -9 "$p" 2>/dev/null; done
  if [[ -n "${HIFI_E2E_KEEP_LOGS:-}" ]]; then
    mkdir -p "$HIFI_E2E_KEEP_LOGS"
    cp "$E2E_TMP"/*.log "$E2E_TMP"/*.out "$E2E_TMP"/ops "$HIFI_E2E_KEEP_LOGS/" 2>/dev/null || true
  fi
  if [[ -n "$SMALL_DISK" ]]; then umount "$SMALL_DISK" 2>/dev/null || umount -l "$SMALL_DISK" || true; fi
  e2e_cleanup
}
trap on_exit EXIT

# A fault window: while $E2E_TMP/down/NAME exists, a request may go
# unanswered (a node is killed or frozen, or an etcd member is down). NAME
# node<I> also keeps the load off node I, as a client that saw it fail would.
fault_begins() { touch "$E2E_TMP/down/$1"; echo "$2" >>"$E2E_TMP/faults"; }
fault_ends() { rm -f "$E2E_TMP/down/$1"; }
in_fault() { [[ -n "$(ls -A "$E2E_TMP/down")" ]] && echo D || echo -; }
# pick N: node N mod 3 + 1, or the next one that is not down.
pick() {
  local i j
  for j in 0 1 2; do
    i=$((($1 + j) % 3 + 1))
    [[ -e "$E2E_TMP/down/node$i" ]] || { echo "$i"; return; }
  done
  echo $(($1 % 3 + 1))
}

# record KIND NODE STATUS BODY_FILE FLAG_AT_START: one line in ops:
#   KIND NODE STATUS REASON CLEAR
# REASON: "-" on success, the problem's type, or "no-answer"; CLEAR: yes when
# a failure says what happened (a problem with a detail), or came without an
# answer while a fault was under way.
record() {
  local kind=$1 node=$2 code=$3 body=$4 flag=$5 reason="-" clear=yes
  if [[ "$code" == 000 ]]; then
    reason=no-answer
    [[ "$flag" == D || "$(in_fault)" == D ]] || clear=no
  elif ((code >= 400)); then
    reason=$(jq -r '.type // "not-a-problem"' "$body" 2>/dev/null | sed 's/^urn:hifi:problem://') || reason=not-json
    [[ -n "$reason" ]] || reason=not-json
    jq -e '(.detail // "") | length > 0' "$body" >/dev/null 2>&1 || clear=no
  fi
  echo "$kind $node $code $reason $clear" >>"$E2E_TMP/ops"
}

# =============================================================================
step "3 etcd members, 3 hifi nodes (${NODE_ARGS[*]})"
check "3 etcd members start and are healthy" start_etcd_cluster 3 "$E2E_TMP" "hifi-abuse-$$"
init_nodes
for i in 1 2 3; do
  check "node $i starts and joins the cluster" start_node "$i"
done

PASSWORD="correct horse battery"
call 1 POST /api/v1/auth/register -d "{\"username\":\"alice\",\"password\":\"$PASSWORD\"}" >/dev/null
check "register alice" eq "$(status)" 201
TOKEN=$(call 2 POST /api/v1/auth/login -d "{\"username\":\"alice\",\"password\":\"$PASSWORD\"}" | json_field token)
check "alice logs in" test -n "$TOKEN"
call 1 POST /api/v1/auth/register -d "{\"username\":\"slowpoke\",\"password\":\"$PASSWORD\"}" >/dev/null
SLOW_TOKEN=$(call 3 POST /api/v1/auth/login -d "{\"username\":\"slowpoke\",\"password\":\"$PASSWORD\"}" | json_field token)
check "a second user logs in" test -n "$SLOW_TOKEN"
check "every node lists 3 members" wait_until 20 all_see_all 1 2 3
for i in 1 2 3; do NODE_ID[i]=$(tr -d '\n' <"$E2E_TMP/node$i/node-id"); done
ROOM=$(call 1 POST /api/v1/rooms -d '{"name":"steady"}' | json_field id)
check "create the room" test -n "$ROOM"
sox -n -r 22050 -c 1 -b 16 "$E2E_TMP/long.wav" synth 120 sine 440 2>/dev/null
LONG=$(call 1 POST /api/v1/songs -H "Content-Type: audio/wav" --data-binary "@$E2E_TMP/long.wav" | json_field id)
check "upload a 120 s song" test -n "$LONG"
call 1 POST "/api/v1/rooms/$ROOM/commands" -d "{\"type\":\"add\",\"song_ids\":[\"$LONG\"]}" >/dev/null
call 1 POST "/api/v1/rooms/$ROOM/commands" -d '{"type":"play"}' >/dev/null
check "play it in the room" eq "$(status)" 200

export XDG_CONFIG_HOME="$E2E_TMP/config"
echo "$PASSWORD" | "$BIN_DIR/hifi" --server "${NODE_URL[1]}" login --username alice --password-stdin >/dev/null
spread=()
"$BIN_DIR/hifi" listen --help 2>&1 | grep -q -- --no-spread && spread=(--no-spread)
"$BIN_DIR/hifi" --server "${NODE_URL[1]}" listen "$ROOM" "${spread[@]}" --sink null \
  --sync-log "$E2E_TMP/sync.log" >"$E2E_TMP/listen.out" 2>&1 &
LISTENER_PID=$!
E2E_PIDS+=("$LISTENER_PID")
check "a hifi listen player plays through node 1" wait_until 30 more_lines "$E2E_TMP/sync.log" 50

# =============================================================================
step "steady load: uploads, downloads, room adds"
: >"$E2E_TMP/ops"; : >"$E2E_TMP/acked"; : >"$E2E_TMP/adds"; : >"$E2E_TMP/unacked-adds"; : >"$E2E_TMP/corrupt"
uploader() {
  local k=0 node code sha file flag
  while [[ ! -e "$E2E_TMP/stop" ]]; do
    k=$((k + 1))
    file="$E2E_TMP/wav/s$k.wav"
    sox -n -r 22050 -c 1 -b 16 "$file" synth 0.3 sine $((200 + 7 * k)) 2>/dev/null || continue
    sha=$(sha256sum <"$file" | cut -d' ' -f1)
    node=$(pick "$k")
    flag=$(in_fault)
    code=$(upload "$node" "$file" "$E2E_TMP/wav/s$k.json")
    record upload "$node" "$code" "$E2E_TMP/wav/s$k.json" "$flag"
    if [[ "$code" == 201 ]]; then
      echo "$k $node $(jq -r .id "$E2E_TMP/wav/s$k.json") $sha" >>"$E2E_TMP/acked"
    fi
  done
}
# Adds each acknowledged upload to the room once, through the nodes in turn.
commander() {
  local n=0 id node code flag
  while [[ ! -e "$E2E_TMP/stop" ]]; do
    if (($(lines "$E2E_TMP/acked") <= n)); then sleep 0.05; continue; fi
    n=$((n + 1))
    id=$(sed -n "${n}p" "$E2E_TMP/acked" | awk '{print $3}')
    node=$(pick "$n")
    flag=$(in_fault)
    code=$(curl -sS -m 15 -o "$E2E_TMP/cmd.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
      -d "{\"type\":\"add\",\"song_ids\":[\"$id\"]}" "${NODE_URL[node]}/api/v1/rooms/$ROOM/commands" 2>/dev/null || true)
    record add "$node" "$code" "$E2E_TMP/cmd.json" "$flag"
    if [[ "$code" == 200 ]]; then echo "$id" >>"$E2E_TMP/adds"; else echo "$id $code" >>"$E2E_TMP/unacked-adds"; fi
  done
}
# Downloads acknowledged songs through the nodes in turn (following a
# redirect to a holder); a whole answer with other bytes is corruption.
downloader() {
  local n=0 line id sha node code got flag
  while [[ ! -e "$E2E_TMP/stop" ]]; do
    local have
    have=$(lines "$E2E_TMP/acked")
    if ((have == 0)); then sleep 0.05; continue; fi
    n=$((n + 1))
    line=$(sed -n "$(((n * 7) % have + 1))p" "$E2E_TMP/acked")
    id=$(awk '{print $3}' <<<"$line") sha=$(awk '{print $4}' <<<"$line")
    node=$(pick "$n")
    flag=$(in_fault)
    code=$(curl -sS -m 15 -L -o "$E2E_TMP/dl.bin" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
      "${NODE_URL[node]}/api/v1/songs/$id/stream" 2>/dev/null || true)
    record download "$node" "$code" "$E2E_TMP/dl.bin" "$flag"
    if [[ "$code" == 200 ]]; then
      got=$(sha256sum <"$E2E_TMP/dl.bin" | cut -d' ' -f1)
      [[ "$got" == "$sha" ]] || echo "$id node$node got $got want $sha" >>"$E2E_TMP/corrupt"
    fi
  done
}
uploader & LOOP_PIDS+=("$!")
commander & LOOP_PIDS+=("$!")
downloader & LOOP_PIDS+=("$!")
check "uploads, adds and downloads are acknowledged" wait_until 60 more_lines "$E2E_TMP/adds" 5

# The nodes that are never killed: their memory and descriptors now, with
# the load running, against the end. The descriptors a node keeps open for
# the next read of a song (hifi_blob_kept_descriptors, at most 16) are not
# counted: they come and go with the songs read, and are not leaks.
unkept_fds() {  # unkept_fds I: node I's open descriptors but the kept ones
  local fds kept
  fds=$(open_fds "${NODE_PID[$1]}")
  kept=$(curl -sf -m 5 -H "Authorization: Bearer $TOKEN" "${NODE_URL[$1]}/metrics" |
    awk '$1 == "hifi_blob_kept_descriptors" { print $2 }')
  echo $((fds - ${kept:-0}))
}
declare -A RSS0 FDS0
for i in 1 3; do RSS0[$i]=$(rss_kib "${NODE_PID[i]}"); FDS0[$i]=$(unkept_fds "$i"); done
log "    node 1: ${RSS0[1]} KiB resident, ${FDS0[1]} descriptors; node 3: ${RSS0[3]} KiB, ${FDS0[3]}"

# =============================================================================
step "1. a registration flood while a signed-in user's requests go on"
echo "registration flood (200 attempts, 16 at a time)" >>"$E2E_TMP/faults"
me_loop() {
  local k
  for k in $(seq 1 20); do
    curl -sS -m 30 -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $TOKEN" "${NODE_URL[1]}/api/v1/me" 2>/dev/null ||
      echo 000
  done >"$E2E_TMP/me.status"
}
me_loop & ME_PID=$!
seq 1 200 | xargs -P 16 -I{} curl -sS -m 60 -o /dev/null -w '%{http_code}\n' -X POST \
  -d '{"username":"flood{}","password":"a flood of passwords {}"}' "${NODE_URL[1]}/api/v1/auth/register" \
  >"$E2E_TMP/flood.status" 2>/dev/null || true
wait "$ME_PID" || true
flood_table=$(sort "$E2E_TMP/flood.status" | uniq -c | awk '{printf "%s×%s ", $2, $1}')
log "    registrations: $flood_table"
check "every registration was answered 201, 429 or 503" test -z "$(grep -vxE '201|429|503' "$E2E_TMP/flood.status")"
check "the per-address limit refused some (429)" grep -qx 429 "$E2E_TMP/flood.status"
check "meanwhile all 20 of the signed-in user's requests were answered 200" \
  eq "$(grep -cx 200 "$E2E_TMP/me.status")" 20

# =============================================================================
step "2. one address holds connections open beyond the per-address cap ($PER_ADDRESS)"
if curl -sS -m 5 -o /dev/null --interface 127.0.0.2 "${NODE_URL[1]}/healthz" 2>/dev/null; then
  echo "connection holder (64 streams from 127.0.0.2 read at 1 KB/s)" >>"$E2E_TMP/faults"
  : >"$E2E_TMP/holders.status"
  HOLDERS=()
  for k in $(seq 1 64); do
    curl -sS -m 120 -o /dev/null -w '%{http_code}\n' --interface 127.0.0.2 --limit-rate 1k \
      -H "Authorization: Bearer $TOKEN" "${NODE_URL[1]}/api/v1/songs/$LONG/stream" \
      >>"$E2E_TMP/holders.status" 2>/dev/null &
    HOLDERS+=("$!")
  done
  refused() { (($(grep -cx 503 "$E2E_TMP/holders.status") >= 64 - PER_ADDRESS)); }
  check "the connections beyond the cap are refused with 503" wait_until 30 refused
  ok=0
  for k in $(seq 1 10); do
    [[ "$(curl -sS -m 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
      "${NODE_URL[1]}/api/v1/me" 2>/dev/null)" == 200 ]] && ok=$((ok + 1))
  done
  check "meanwhile node 1 serves another address (10 of 10 answered)" eq "$ok" 10
  for p in "${HOLDERS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  log "    holders: $(sort "$E2E_TMP/holders.status" | uniq -c | awk '{printf "%s×%s ", $2, $1}')"
else
  log "    127.0.0.2 cannot be used as a source address here: skipping the connection holder"
fi

# =============================================================================
step "3. a room WebSocket client that never reads, while the room changes fast"
echo "a WebSocket client that never reads (node 2)" >>"$E2E_TMP/faults"
exec {SLOW_FD}<>"/dev/tcp/127.0.0.1/${NODE_PORT[2]}"
printf 'GET /api/v1/rooms/%s/ws?access_token=%s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n' \
  "$ROOM" "$SLOW_TOKEN" "${NODE_PORT[2]}" >&"$SLOW_FD"
slow_joined() { grep -q "'slowpoke' joined room $ROOM" "${NODE_LOG[2]}"; }
check "it joins the room on node 2" wait_until 20 slow_joined
slow_dropped() { grep -q "'slowpoke' left room $ROOM" "${NODE_LOG[2]}"; }
played=$(lines "$E2E_TMP/sync.log")
# Seeks, 100 to a request batch on one keep-alive connection each, until node 2
# gives up on the client that does not read (or 3,000 seeks).
seeks=0
while ! slow_dropped && ((seeks < 3000)); do
  : >"$E2E_TMP/seeks.cfg"
  for k in $(seq 1 100); do
    printf 'url = "%s/api/v1/rooms/%s/commands"\nheader = "Authorization: Bearer %s"\ndata = "{\\"type\\":\\"seek\\",\\"position_ms\\":%d}"\nmax-time = 15\noutput = "/dev/null"\nnext\n' \
      "${NODE_URL[2]}" "$ROOM" "$TOKEN" $(((seeks + k) % 50 * 1000)) >>"$E2E_TMP/seeks.cfg"
  done
  curl -sS -K "$E2E_TMP/seeks.cfg" >/dev/null 2>&1 || true
  seeks=$((seeks + 100))
done
log "    $seeks seeks sent"
check "node 2 drops the client that does not read" wait_until 10 slow_dropped
exec {SLOW_FD}>&-
check "the player on node 1 keeps playing (100 more buffers)" wait_until 30 more_lines "$E2E_TMP/sync.log" $((played + 100))

# =============================================================================
step "4. kill -9 of node 2 under load, and its restart"
fault_begins node2 "node 2 killed (kill -9) under load, and restarted"
kill_node 2
acked=$(lines "$E2E_TMP/acked")
check "uploads are acknowledged without node 2" wait_until 60 more_lines "$E2E_TMP/acked" $((acked + 3))
check "node 2 restarts" start_node 2
check "every node lists 3 members again" wait_until 30 all_see_all 1 2 3
fault_ends node2

# =============================================================================
step "5. node 3 frozen past its TTL; etcd compacted past its view; thawed"
fault_begins node3 "node 3 frozen (SIGSTOP) past its member TTL, then thawed"
kill -STOP "${NODE_PID[3]}"
check "node 3 leaves node 1's member list (its TTL ran out)" wait_until 20 lacks 1 "${NODE_ID[3]}"
adds=$(lines "$E2E_TMP/adds") acked=$(lines "$E2E_TMP/acked")
check "adds go on without node 3" wait_until 60 more_lines "$E2E_TMP/adds" $((adds + 3))
check "uploads go on without node 3" wait_until 60 more_lines "$E2E_TMP/acked" $((acked + 3))
echo "etcd compacted to its latest revision while node 3 was frozen" >>"$E2E_TMP/faults"
REV=$(etcd_compact || true)
check "etcd is compacted to its current revision" test -n "$REV"
log "    compacted at revision $REV"
kill -CONT "${NODE_PID[3]}"
check "node 3 lists 3 members again" wait_until 30 all_see_all 1 2 3
fault_ends node3
code=$(curl -sS -m 15 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
  -d '{"type":"seek","position_ms":1000}' "${NODE_URL[3]}/api/v1/rooms/$ROOM/commands" 2>/dev/null || true)
check "a command through node 3 after the thaw is acknowledged" eq "$code" 200
last_song=$(tail -n 1 "$E2E_TMP/acked" | awk '{print $3}')
knows_last() { [[ "$(curl -sS -m 5 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
  "${NODE_URL[3]}/api/v1/songs/$last_song" 2>/dev/null)" == 200 ]]; }
check "node 3 knows the last song uploaded while it was frozen" wait_until 20 knows_last

# =============================================================================
step "6. kill -9 of the etcd raft leader, and its restart"
LEADER=$(etcd_leader)
check "find the etcd raft leader" test -n "$LEADER"
LEADER=${LEADER:-1}
fault_begins etcd "etcd member $LEADER (the raft leader) killed (kill -9) and restarted"
kill9 "${ETCD_PIDS[LEADER]}"
adds=$(lines "$E2E_TMP/adds")
check "adds are acknowledged while an etcd member is down" wait_until 60 more_lines "$E2E_TMP/adds" $((adds + 3))
start_etcd_member "$LEADER"
check "etcd member $LEADER restarts and is healthy" wait_until 30 etcd_healthy "$LEADER"
fault_ends etcd
adds=$(lines "$E2E_TMP/adds")
check "adds go on afterwards" wait_until 60 more_lines "$E2E_TMP/adds" $((adds + 3))

# =============================================================================
step "7. node 3's disk fills up"
if [[ -n "$SMALL_DISK" ]]; then
  echo "node 3's disk filled to the last byte, then freed" >>"$E2E_TMP/faults"
  dd if=/dev/zero of="$SMALL_DISK/filler" bs=64k status=none 2>/dev/null || true
  log "    node 3's disk: $(df -h --output=avail "$SMALL_DISK" | tail -1 | tr -d ' ') free"
  sox -n -r 22050 -c 1 -b 16 "$E2E_TMP/full.wav" synth 0.3 sine 9000 2>/dev/null
  code=$(upload 3 "$E2E_TMP/full.wav" "$E2E_TMP/full.json")
  check "an upload through node 3 is refused with 507" eq "$code" 507
  says_why() { jq -e '.type == "urn:hifi:problem:insufficient-storage" and (.detail | length > 0)' "$1" >/dev/null; }
  check "with a problem that says why" says_why "$E2E_TMP/full.json"
  acked=$(lines "$E2E_TMP/acked")
  check "uploads through the other nodes are acknowledged" wait_until 60 more_lines "$E2E_TMP/acked" $((acked + 3))
  code=$(curl -sS -m 15 -o /dev/null -w '%{http_code}' -d "{\"username\":\"alice\",\"password\":\"$PASSWORD\"}" \
    "${NODE_URL[3]}/api/v1/auth/login" 2>/dev/null || true)
  check "a login through node 3 works" eq "$code" 200
  code=$(curl -sS -m 15 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
    -d '{"type":"seek","position_ms":2000}' "${NODE_URL[3]}/api/v1/rooms/$ROOM/commands" 2>/dev/null || true)
  check "a room command through node 3 works" eq "$code" 200
  rm -f "$SMALL_DISK/filler"
  acked=$(lines "$E2E_TMP/acked")
  check "uploads go on once node 3 has room again" wait_until 60 more_lines "$E2E_TMP/acked" $((acked + 3))
else
  log "    skipped (no tmpfs)"
fi

# =============================================================================
step "the end: nothing lost, everything converged, nothing leaked"
touch "$E2E_TMP/stop"
for p in "${LOOP_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
LOOP_PIDS=()

check "no download returned other bytes than the song's" test ! -s "$E2E_TMP/corrupt"
declare -A FULL=()
UNDER=""
all_replicated() {
  local k id n
  while read -r k _ id _; do
    [[ -n "${FULL[$id]:-}" ]] && continue
    n=$(call $((k % 3 + 1)) GET "/api/v1/songs/$id" | jq '[.replicas[]? | select(.live)] | length' 2>/dev/null)
    [[ "$n" == 3 ]] || { UNDER="$id ($n live)"; return 1; }
    FULL[$id]=1
  done <"$E2E_TMP/acked"
}
check "every acknowledged upload ($(lines "$E2E_TMP/acked")) has 3 live copies" wait_until 120 all_replicated ||
  log "    still under-replicated: $UNDER"
bad=0
while read -r k _ id sha; do
  for i in 1 2 3; do
    [[ -f "$(blob_path "$i" "$sha")" ]] || { log "    upload #$k: no copy on node $i"; bad=1; continue; }
    [[ "$(sha256sum <"$(blob_path "$i" "$sha")" | cut -d' ' -f1)" == "$sha" ]] || { log "    upload #$k: node $i's copy is corrupt"; bad=1; }
  done
done <"$E2E_TMP/acked"
check "every acknowledged upload is intact on every node" eq "$bad" 0
bad=0
while read -r k _ id sha; do
  i=$((k % 3 + 1))
  got=$(curl -sS -m 15 -L -H "Authorization: Bearer $TOKEN" "${NODE_URL[i]}/api/v1/songs/$id/stream" 2>/dev/null |
    sha256sum | cut -d' ' -f1)
  [[ "$got" == "$sha" ]] || { log "    upload #$k through node $i: $got"; bad=1; }
done <"$E2E_TMP/acked"
check "every acknowledged upload downloads intact" eq "$bad" 0

room_view() { call "$1" GET "/api/v1/rooms/$ROOM" | jq -c '{revision, state: (.state | del(.listeners))}' 2>/dev/null; }
same_everywhere() {
  local a b c
  a=$(room_view 1) b=$(room_view 2) c=$(room_view 3)
  [[ -n "$a" && "$a" == "$b" && "$b" == "$c" ]]
}
check "every node has the same revision and state of the room" wait_until 20 same_everywhere ||
  for i in 1 2 3; do log "    node $i: $(room_view "$i" | cut -c1-200)"; done
call 1 GET "/api/v1/rooms/$ROOM" | jq -r '.state.queue[].song_id' >"$E2E_TMP/queue"
missing=0 doubled=0
while read -r id; do
  n=$(grep -cx "$id" "$E2E_TMP/queue" || true)
  ((n == 0)) && missing=$((missing + 1))
  ((n > 1)) && doubled=$((doubled + 1))
done <"$E2E_TMP/adds"
log "    $(lines "$E2E_TMP/adds") adds acknowledged, $(lines "$E2E_TMP/unacked-adds") not; the queue holds $(lines "$E2E_TMP/queue") items"
check "the queue holds every acknowledged add exactly once" test "$missing" = 0 -a "$doubled" = 0 ||
  log "    missing $missing, more than once $doubled"
bad=0
while read -r id _; do
  (($(grep -cx "$id" "$E2E_TMP/queue" || true) <= 1)) || bad=1
done <"$E2E_TMP/unacked-adds"
check "an add that was not acknowledged is in the queue at most once" eq "$bad" 0

song_count() { call "$1" GET "/api/v1/songs?limit=500" | jq '.items | length' 2>/dev/null; }
same_library() {
  local a b c
  a=$(song_count 1) b=$(song_count 2) c=$(song_count 3)
  [[ -n "$a" && "$a" == "$b" && "$b" == "$c" ]]
}
check "every node lists the same library" wait_until 20 same_library
check "every node lists the 3 members" all_see_all 1 2 3
for i in 1 2 3; do check "node $i is running" node_alive "$i"; done
check "no sanitizer or crash report in any node's log" test -z "$(grep -l "AddressSanitizer\|runtime error:\|Segmentation" "$E2E_TMP"/node*.log 2>/dev/null || true)"
check "the player is still running" kill -0 "$LISTENER_PID"

# Memory and descriptors of the nodes never killed, once the load is gone:
# at most 32 descriptors and 64 MiB above what they held under load before
# the faults (the catalog and room views grow with the library). A node
# built with AddressSanitizer keeps freed memory in quarantine, so there
# LeakSanitizer, at the graceful stop below, judges the memory instead.
# (ldd's whole output is read first: `grep -q` would stop reading at the
# match, and ldd, killed by SIGPIPE, fail the pipeline.)
SANITIZED=""
deps=$(ldd "$BIN_DIR/hifi-server" 2>/dev/null || true)
[[ "$deps" == *libasan* ]] && SANITIZED=1
for i in 1 3; do
  settled() { (($(unkept_fds "$1") <= FDS0[$1] + 32)); }
  if wait_until 30 settled "$i"; then
    check "node $i: open descriptors (but the kept ones) back near ${FDS0[$i]}" true
  else
    check "node $i: open descriptors (but the kept ones) back near ${FDS0[$i]}" false
    log "    node $i: $(open_fds "${NODE_PID[i]}") descriptors open, $(unkept_fds "$i") not kept for reads"
    describe_fds "${NODE_PID[i]}"
  fi
  rss=$(rss_kib "${NODE_PID[i]}")
  log "    node $i: ${RSS0[$i]} -> $rss KiB resident"
  if [[ -z "$SANITIZED" ]]; then
    check "node $i: resident memory at most 64 MiB above the start" test "$rss" -le $((RSS0[$i] + 65536))
  fi
done

# A graceful stop (SIGTERM): each node leaves, exits 0 and, when built with
# the sanitizers, reports no leak.
kill9 "$LISTENER_PID"
for i in 1 2 3; do kill -TERM "${NODE_PID[i]}" 2>/dev/null || true; done
exited() { [[ ! -e "/proc/$1" ]] || awk '{exit $3 != "Z"}' "/proc/$1/stat" 2>/dev/null; }
for i in 1 2 3; do
  if wait_until 60 exited "${NODE_PID[i]}"; then
    rc=0
    wait "${NODE_PID[i]}" || rc=$?
    forget_pid "${NODE_PID[i]}"
    check "node $i stops on SIGTERM with exit code 0" eq "$rc" 0
  else
    check "node $i stops on SIGTERM within 60 s" false
  fi
done
check "no sanitizer, leak or crash report in any node's log" \
  test -z "$(grep -l "AddressSanitizer\|LeakSanitizer\|runtime error:\|Segmentation" "$E2E_TMP"/node*.log 2>/dev/null || true)"

unclear=$(awk '$5 == "no"' "$E2E_TMP/ops")
check "every failed request got a clear error" test -z "$unclear" ||
  log "$(head -n 10 <<<"$unclear" | sed 's/^/    /')"

log ""
log "operations                 attempted  acknowledged  failed (by reason)"
for kind in upload download add; do
  awk -v k="$kind" '$1 == k {
      n++; if ($3 ~ /^2/) ok++; else { f++; why[$4 " " $3]++ } }
    END {
      s = ""; for (r in why) s = s r "×" why[r] "  "
      printf "%-26s %9d  %12d  %d %s\n", k "s", n, ok, f, (f ? "(" s ")" : "") }' "$E2E_TMP/ops" >&2
done
log "registrations (flood)      $(lines "$E2E_TMP/flood.status")  $flood_table"
log ""
log "faults injected:"
sed 's/^/  - /' "$E2E_TMP/faults" >&2
log ""
log "took $((SECONDS - T0)) s"
finish
