#!/usr/bin/env bash
# End to end: draining nodes out of a cluster of three real hifi-server
# processes on three etcd members, with one copy of every song (--replicas 1,
# so a drained node holds the only copy of its songs until it hands them
# over). While a listener plays from the node being drained and uploads
# continue:
#  1. `hifi cluster drain NODE` (an admin, through another node): the
#     listener is told to move and keeps playing on another node, the node's
#     songs are copied away, it exits 0 and says its data directory can go;
#     deleted, nothing is lost: every song downloads whole through the others.
#  2. SIGTERM (--drain-on-stop, the default in a cluster) drains the next
#     node the same way before it exits.
#  3. The last node in service refuses to drain.
# Usage: drain_e2e_test.sh BUILD_DIR/src   (holding hifi-server and hifi)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$HERE/lib.sh"
# shellcheck source=SCRIPTDIR/cluster_lib.sh
source "$HERE/cluster_lib.sh"

need_etcd
need_tools curl jq sox
use_binaries "$(realpath "$1")"

NODE_ARGS=(--replicas 1 --member-ttl 2s --repair-interval 1s --drain-grace 20s)
init_nodes

call() {
  local i=$1 method=$2 path=$3
  shift 3
  curl -sS -m 15 -X "$method" -H "Authorization: Bearer ${TOKEN:-}" "$@" "${NODE_URL[i]}$path"
}
# holders ID: the nodes (ids) that hold a live copy of song ID, as node 1 says.
holders() { call 1 GET "/api/v1/songs/$1" | jq -r '[.replicas[]? | select(.live) | .id] | sort | join(",")'; }
# download I ID FILE: song ID through node I (following a redirect) into FILE.
download() { curl -sS -f -m 30 -L -o "$3" -H "Authorization: Bearer $TOKEN" "${NODE_URL[$1]}/api/v1/songs/$2/stream"; }
# whole I ID SHA: song ID downloads through node I with digest SHA; when it
# does not, says what node I answered and which nodes it says hold a copy.
whole() {
  local err
  if err=$(download "$1" "$2" "$E2E_TMP/got" 2>&1) && [[ "$(sha256sum <"$E2E_TMP/got" | cut -d' ' -f1)" == "$3" ]]; then
    return 0
  fi
  log "    song $2 through node $1: ${err:-other bytes}; first answer: $(curl -sS -m 10 -o /dev/null -w '%{http_code} %{redirect_url}' \
    -H "Authorization: Bearer $TOKEN" "${NODE_URL[$1]}/api/v1/songs/$2/stream" 2>&1); holders: $(holders "$2")"
  grep -F -e "$2" -e "$3" "${NODE_LOG[$1]}" | tail -5 | sed 's/^/      /' >&2 || true
  return 1
}

step "3 etcd members, 3 nodes (--replicas 1)"
check "3 etcd members start" start_etcd_cluster 3 "$E2E_TMP" "hifi-drain-$$"
for i in 1 2 3; do
  check "node $i starts and joins" start_node "$i"
  NODE_ID[i]=$(tr -d '\n' <"$E2E_TMP/node$i/node-id")
done
export XDG_CONFIG_HOME="$E2E_TMP/config" HOME="$E2E_TMP/home"
mkdir -p "$HOME"
echo "correct horse" | "$BIN_DIR/hifi" --server "${NODE_URL[1]}" register --username alice --password-stdin >/dev/null
TOKEN=$(curl -sf -m 10 -X POST -d '{"username":"alice","password":"correct horse"}' "${NODE_URL[1]}/api/v1/auth/login" |
  jq -r .token)
check "alice is the admin" test -n "$TOKEN"
all_see_all_three() { all_see_all 1 2 3; }
check "every node sees the other two" wait_until 20 all_see_all_three

step "songs whose only copy is on node 3, and one playing from node 3"
declare -A SHA
for k in 1 2 3 4 5; do
  sox -n -r 44100 -c 2 -b 16 "$E2E_TMP/s$k.wav" synth $((k == 1 ? 90 : 3)) sine $((200 + 100 * k)) 2>/dev/null
  id=$(upload_via 3 "$E2E_TMP/s$k.wav")
  SHA[$id]=$(sha256sum "$E2E_TMP/s$k.wav" | cut -d' ' -f1)
  ((k == 1)) && LONG=$id
done
check "5 songs uploaded through node 3" eq "${#SHA[@]}" 5
only_on_3=0
for id in "${!SHA[@]}"; do [[ "$(holders "$id")" == "${NODE_ID[3]}" ]] && only_on_3=$((only_on_3 + 1)); done
check "node 3 holds the only copy of each" eq "$only_on_3" 5

ROOM=$("$BIN_DIR/hifi" --server "${NODE_URL[1]}" rooms create drain --json | jq -r .id)
"$BIN_DIR/hifi" --server "${NODE_URL[1]}" queue "$ROOM" add "$LONG" >/dev/null
"$BIN_DIR/hifi" --server "${NODE_URL[3]}" listen "$ROOM" --no-spread --sink null --sync-log "$E2E_TMP/sync.log" \
  >"$E2E_TMP/listen.out" 2>&1 &
LISTENER=$!
E2E_PIDS+=("$LISTENER")
check "a listener connects to node 3" wait_until 20 grep -q "connected to ${NODE_URL[3]}" "$E2E_TMP/listen.out"
check "play" "$BIN_DIR/hifi" --server "${NODE_URL[1]}" play "$ROOM"
check "the listener plays (200 output buffers)" wait_until 30 more_lines "$E2E_TMP/sync.log" 200

step "1. hifi cluster drain node 3, while uploads continue"
# Uploads through node 1 all along; each acknowledged one is checked at the end.
(
  for k in $(seq 1 40); do
    sox -n -r 8000 -c 1 -b 16 "$E2E_TMP/u$k.wav" synth 1 sine $((1000 + 10 * k)) 2>/dev/null
    id=$(upload_via 1 "$E2E_TMP/u$k.wav" 2>/dev/null) && [[ -n "$id" && "$id" != null ]] &&
      echo "$id $(sha256sum "$E2E_TMP/u$k.wav" | cut -d' ' -f1)" >>"$E2E_TMP/acked"
  done
) &
UPLOADER=$!
before=$(lines "$E2E_TMP/sync.log")
set +e
"$BIN_DIR/hifi" --server "${NODE_URL[1]}" cluster drain "${NODE_ID[3]}" --timeout 120 >"$E2E_TMP/drain.out" 2>&1
drain_rc=$?
set -e
cat "$E2E_TMP/drain.out" >&2
check "hifi cluster drain follows the node until it has left (exit 0)" eq "$drain_rc" 0
set +e
wait "${NODE_PID[3]}"
node3_rc=$?
set -e
forget_pid "${NODE_PID[3]}"
check "node 3 exits with code 0" eq "$node3_rc" 0
check "node 3 says its data directory can be deleted" grep -q "data directory .* can be deleted safely" "${NODE_LOG[3]}"
TOLD=$(sed -n 's/.*room listeners told to move to \([^;]*\);.*/\1/p' "${NODE_LOG[3]}")
check "node 3 told its listeners to move to another node" test -n "$TOLD" -a "$TOLD" != "${NODE_URL[3]}"
check "the listener connected there" wait_until 20 grep -q "connected to $TOLD" "$E2E_TMP/listen.out"
check "the listener still runs" kill -0 "$LISTENER"
check "and keeps playing (200 more output buffers)" wait_until 30 more_lines "$E2E_TMP/sync.log" $((before + 200))
gaps=$(sync_log_gaps "$E2E_TMP/sync.log" "$LONG")
check "no output buffer of the playing song was skipped, repeated or late across the move" eq "$gaps" 0
wait "$UPLOADER" || true
rm -rf "$E2E_TMP/node3"
intact=0 total=0
for id in "${!SHA[@]}"; do
  total=$((total + 1))
  whole 1 "$id" "${SHA[$id]}" && intact=$((intact + 1))
done
check "with node 3's data directory deleted, all $total of its songs download whole" eq "$intact" "$total"
acked=0 ok=0
while read -r id sha; do
  acked=$((acked + 1))
  whole 1 "$id" "$sha" && ok=$((ok + 1))
done <"$E2E_TMP/acked"
check "every upload acknowledged during the drain downloads whole ($acked)" eq "$ok" "$acked"
check "at least 20 uploads were acknowledged during the drain" test "$acked" -ge 20

step "2. SIGTERM drains node 2 before it stops (--drain-on-stop)"
on_2=0
for id in "${!SHA[@]}"; do [[ "$(holders "$id")" == "${NODE_ID[2]}" ]] && on_2=$((on_2 + 1)); done
log "    node 2 holds the only copy of $on_2 of the first 5 songs"
kill -TERM "${NODE_PID[2]}"
set +e
wait "${NODE_PID[2]}"
node2_rc=$?
set -e
forget_pid "${NODE_PID[2]}"
check "node 2 exits 0 after draining" eq "$node2_rc" 0
check "node 2 drained (its log says so)" grep -q "drained in" "${NODE_LOG[2]}"
rm -rf "$E2E_TMP/node2"
intact=0
for id in "${!SHA[@]}"; do
  whole 1 "$id" "${SHA[$id]}" && intact=$((intact + 1))
done
check "node 1 alone serves every song whole" eq "$intact" "$total"

step "3. the last node in service cannot drain"
set +e
"$BIN_DIR/hifi" --server "${NODE_URL[1]}" cluster drain "${NODE_ID[1]}" --no-wait >"$E2E_TMP/last.out" 2>&1
last_rc=$?
set -e
check "hifi cluster drain of the last node fails" test "$last_rc" -ne 0
check "and says why" grep -q "only member in service" "$E2E_TMP/last.out"
check "node 1 still serves" curl -sf -m 5 "${NODE_URL[1]}/healthz" -o /dev/null

log ""
log "took $((SECONDS - T0)) s"
finish
