#!/usr/bin/env bash
# End to end: the cluster grows and shrinks by itself. One hifi-server node
# on three etcd members, with the local provisioner (--scale-min 1
# --scale-max 3, 2 listeners per node as the target, short windows):
#  1. Listeners join: the leader starts a second and a third node; new
#     listeners land on the new nodes.
#  2. A spawned node is killed (-9) while the load still needs it: the
#     autoscaler starts a replacement.
#  3. The load goes: the cluster drains back to one node, one drain at a
#     time; the listener left on a spawned node moves and keeps playing
#     without a gap.
# Throughout, uploads continue: every acknowledged one downloads whole at
# the end.
# Usage: autoscale_e2e_test.sh BUILD_DIR/src   (holding hifi-server and hifi)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$HERE/lib.sh"
# shellcheck source=SCRIPTDIR/cluster_lib.sh
source "$HERE/cluster_lib.sh"

need_etcd
need_tools curl jq sox
use_binaries "$(realpath "$1")"

SPAWNED="$E2E_TMP/spawned"
# Spawned nodes are detached from this script: stop them by their pid files.
kill_spawned() {
  local f
  for f in "$SPAWNED"/*/hifi-server.pid; do
    [[ -f "$f" ]] && kill -9 "$(cat "$f")" 2>/dev/null || true
  done
}
trap 'kill_spawned; e2e_cleanup' EXIT

# Eight free ports in a row for spawned nodes.
while :; do
  free_port
  FIRST=$FREE_PORT
  ok=1
  for ((p = FIRST; p < FIRST + 8; p++)); do (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null && ok=0; done
  ((ok)) && break
done
LAST=$((FIRST + 7))

NODE_ARGS=(--replicas 2 --member-ttl 2s --repair-interval 1s --drain-grace 10s
  --scale-provisioner local --scale-min 1 --scale-max 3 --scale-target-listeners 2
  --scale-up-window 1s --scale-down-window 4s --scale-local-ports "$FIRST-$LAST" --scale-local-dir "$SPAWNED")
init_nodes

members() { cluster_json 1 | jq '.members | length'; }
in_service() { cluster_json 1 | jq '[.members[] | select(.health != "draining")] | length'; }
members_are() { [[ "$(members)" == "$1" ]]; }
wanted_is() { [[ "$(cluster_json 1 | jq '.scale.wanted')" == "$1" ]]; }

step "3 etcd members, one node that may scale to 3 (local provisioner, ports $FIRST-$LAST)"
check "3 etcd members start" start_etcd_cluster 3 "$E2E_TMP" "hifi-scale-$$"
check "node 1 starts" start_node 1
export XDG_CONFIG_HOME="$E2E_TMP/config" HOME="$E2E_TMP/home"
mkdir -p "$HOME"
echo "correct horse" | "$BIN_DIR/hifi" --server "${NODE_URL[1]}" register --username alice --password-stdin >/dev/null
TOKEN=$(curl -sf -m 10 -X POST -d '{"username":"alice","password":"correct horse"}' "${NODE_URL[1]}/api/v1/auth/login" |
  jq -r .token)
check "alice is the admin" test -n "$TOKEN"
check "the autoscaler wants 1 node while nothing happens" wait_until 20 wanted_is 1
sox -n -r 44100 -c 2 -b 16 "$E2E_TMP/long.wav" synth 240 sine 440 2>/dev/null
LONG=$(upload_via 1 "$E2E_TMP/long.wav")
ROOM=$("$BIN_DIR/hifi" --server "${NODE_URL[1]}" rooms create scale --json | jq -r .id)
"$BIN_DIR/hifi" --server "${NODE_URL[1]}" queue "$ROOM" add "$LONG" >/dev/null
"$BIN_DIR/hifi" --server "${NODE_URL[1]}" play "$ROOM" >/dev/null

# Uploads all along; each acknowledged one is checked at the end.
(
  for k in $(seq 1 400); do
    sox -n -r 8000 -c 1 -b 16 "$E2E_TMP/u$k.wav" synth 1 sine $((500 + k)) 2>/dev/null
    id=$(upload_via 1 "$E2E_TMP/u$k.wav" 2>/dev/null) && [[ -n "$id" && "$id" != null ]] &&
      echo "$id $(sha256sum "$E2E_TMP/u$k.wav" | cut -d' ' -f1)" >>"$E2E_TMP/acked"
    [[ -f "$E2E_TMP/stop-uploads" ]] && break
    sleep 0.2
  done
) &
UPLOADER=$!
E2E_PIDS+=("$UPLOADER")

step "1. listeners join: the cluster grows to 3"
LISTENERS=()
listen() {  # listen NAME [args]: a hifi listen process, its output in NAME.out
  local name=$1
  shift
  "$BIN_DIR/hifi" --server "${NODE_URL[1]}" listen "$ROOM" --sink null --sync-log "$E2E_TMP/$name.log" "$@" \
    >"$E2E_TMP/$name.out" 2>&1 &
  LISTENERS+=("$!")
  E2E_PIDS+=("$!")
}
for k in 1 2 3 4 5; do listen "first$k" --no-spread; done
connected() { grep -q "connected to" "$E2E_TMP/$1.out"; }
for k in 1 2 3 4 5; do check "listener $k connects to node 1" wait_until 20 connected "first$k"; done
check "the autoscaler wants 3 nodes (5 listeners, 2 per node)" wait_until 20 wanted_is 3
check "two nodes are started and join: 3 members" wait_until 60 members_are 3
check "node 1 logged the decision with its reason" grep -q "scale: want 3 node(s): listeners" "${NODE_LOG[1]}"
check "and the start of two nodes" test "$(grep -c "scale: started a node on port" "${NODE_LOG[1]}")" -ge 2
NEW_URLS=$(cluster_json 1 | jq -r --arg self "${NODE_URL[1]}" '.members[] | select(.advertise != $self) | .advertise')
log "    new nodes: $(echo "$NEW_URLS" | tr '\n' ' ')"
listen late1
listen late2
landed_new() {
  local f
  for f in late1 late2; do
    grep -q "connected to" "$E2E_TMP/$f.out" || return 1
    grep -q "connected to ${NODE_URL[1]}" "$E2E_TMP/$f.out" && return 1
  done
  return 0
}
check "new listeners land on the new nodes (the least loaded)" wait_until 30 landed_new

step "2. a spawned node is killed while the load needs it: it is replaced"
# The victim: a new node other than the one listener late1 is on (late1
# stays to the end, to show that moves through drains leave no gap; a
# crash is not a drain).
KEEP_URL=$(sed -n 's/.*connected to \(http[^ ]*\).*/\1/p' "$E2E_TMP/late1.out" | tail -1)
VICTIM_URL=$(echo "$NEW_URLS" | grep -vx "$KEEP_URL" | head -1)
VICTIM_PORT=${VICTIM_URL##*:}
VICTIM_PID=$(cat "$SPAWNED/node-$VICTIM_PORT/hifi-server.pid")
started_before=$(grep -c "scale: started a node on port" "${NODE_LOG[1]}")
kill -9 "$VICTIM_PID"
log "    killed the node on port $VICTIM_PORT (pid $VICTIM_PID)"
# (A replacement on the freed port reuses that node's data directory, so it
# comes back as that node, with its copies.)
replaced() {
  (($(grep -c "scale: started a node on port" "${NODE_LOG[1]}") > started_before)) && [[ "$(members)" == 3 ]] &&
    [[ "$(cluster_json 1 | jq '[.members[] | select(.health == "ok")] | length')" == 3 ]]
}
check "a replacement is started and joins: 3 members again" wait_until 60 replaced
check "every listener process still runs" bash -c "kill -0 ${LISTENERS[*]}"

step "3. the load goes: the cluster drains back to 1 node, one at a time"
# Keep the listener that landed on a new node; stop the others.
KEEP=late1
for k in 1 2 3 4 5; do kill -TERM "${LISTENERS[k - 1]}" 2>/dev/null || true; done
kill -TERM "${LISTENERS[6]}" 2>/dev/null || true
check "the autoscaler wants 1 node" wait_until 30 wanted_is 1
at_most_one_draining=1
back_to_one() {
  local draining
  draining=$(cluster_json 1 | jq '[.members[] | select(.health == "draining")] | length')
  ((draining <= 1)) || at_most_one_draining=0
  [[ "$(members)" == 1 ]]
}
check "drained back to 1 member" wait_until 90 back_to_one
check "never more than one node draining at a time" eq "$at_most_one_draining" 1
check "the spawned nodes that left say they drained" test "$(cat "$SPAWNED"/*/hifi-server.log | grep -c "drained in")" -ge 2
check "the kept listener still runs" kill -0 "${LISTENERS[5]}"
check "and moved to node 1" wait_until 20 grep -q "connected to ${NODE_URL[1]}" "$E2E_TMP/$KEEP.out"
played=$(lines "$E2E_TMP/$KEEP.log")
check "and keeps playing" wait_until 20 more_lines "$E2E_TMP/$KEEP.log" $((played + 100))
gaps=$(sync_log_gaps "$E2E_TMP/$KEEP.log" "$LONG")
check "no output buffer was skipped, repeated or late through the moves" eq "$gaps" 0

touch "$E2E_TMP/stop-uploads"
wait "$UPLOADER" 2>/dev/null || true
acked=0 ok=0
while read -r id sha; do
  acked=$((acked + 1))
  curl -sf -m 30 -L -o "$E2E_TMP/got" -H "Authorization: Bearer $TOKEN" "${NODE_URL[1]}/api/v1/songs/$id/stream" &&
    [[ "$(sha256sum <"$E2E_TMP/got" | cut -d' ' -f1)" == "$sha" ]] && ok=$((ok + 1))
done <"$E2E_TMP/acked"
check "every upload acknowledged while the cluster grew and shrank downloads whole ($acked)" eq "$ok" "$acked"
check "uploads were acknowledged throughout (at least 20)" test "$acked" -ge 20
check "node 1 is up and leads" bash -c "curl -sf -m 5 -H 'Authorization: Bearer $TOKEN' '${NODE_URL[1]}/api/v1/cluster' | jq -e '.leader != null' >/dev/null"

step "4. the leader is killed right after it started nodes: the new leader starts no extra one"
started_before=$(grep -c "scale: started a node on port" "${NODE_LOG[1]}")
for k in 1 2 3 4 5; do listen "again$k" --no-spread; done
started_two() { (($(grep -c "scale: started a node on port" "${NODE_LOG[1]}") >= started_before + 2)); }
check "node 1 starts two nodes again" wait_until 30 started_two
kill -9 "${NODE_PID[1]}"
forget_pid "${NODE_PID[1]}"
log "    killed node 1, the leader (pid ${NODE_PID[1]}), with its action pending"
new_leader_log() { grep -l "this node decides the cluster's size now" "$SPAWNED"/*/hifi-server.log 2>/dev/null | head -1; }
leads() { [[ -n "$(new_leader_log)" ]]; }
check "a started node takes over the decision" wait_until 30 leads
LEADER_LOG=$(new_leader_log)
LEADER_PORT=$(basename "$(dirname "$LEADER_LOG")")
NODE_URL[1]="http://127.0.0.1:${LEADER_PORT#node-}"
pending_seen() { [[ "$(cluster_json 1 | jq -r '.scale.pending.action // empty')" == add ]]; }
check "it sees the dead leader's action as pending" wait_until 10 pending_seen
# For the next 5 s (the pending action's deadline is 60 s): no node started
# by anyone, and never more than the two started nodes.
extra=0
end=$((SECONDS + 5))
while ((SECONDS < end)); do
  n=$(cat "$SPAWNED"/*/hifi-server.log | grep -c "scale: started a node on port" || true)
  ((n == 0)) || extra=1
  (($(members) <= 2)) || extra=1
  sleep 0.2
done
check "no extra node was started while the action was pending" eq "$extra" 0

log ""
log "took $((SECONDS - T0)) s"
finish
