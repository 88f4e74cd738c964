#!/usr/bin/env bash
# End to end: two hifi-server nodes sharing a real 3-member etcd cluster.
# Accounts, the catalog and rooms are cluster-wide: register on one node, log
# in on the other; a room command taken by one node reaches a listener on the
# other; killing an etcd member changes nothing for users.
# Usage: cluster_e2e_test.sh BUILD_DIR/src   (holding hifi-server and hifi)
set -euo pipefail
BIN_DIR=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$HERE/lib.sh"

need_etcd

check "3 etcd members start and are healthy" start_etcd_cluster 3 "$E2E_TMP" "hifi-e2e-$$"

export HIFI_CLUSTER_SECRET="e2e-cluster-secret-$$-$RANDOM"
start_server "$BIN_DIR/hifi-server" "$E2E_TMP/a" --etcd "$ETCD_ENDPOINTS"
A=$BASE
start_server "$BIN_DIR/hifi-server" "$E2E_TMP/b" --etcd "$ETCD_ENDPOINTS"
B=$BASE
check "node A says it uses etcd" grep -q "store etcd:" "$E2E_TMP"/server.*.log

BASE=$A
api POST /api/v1/auth/register -d '{"username":"alice","password":"correct horse"}' >/dev/null
check "register on node A" eq "$(status)" 201
BASE=$B
TOKEN=$(api POST /api/v1/auth/login -d '{"username":"alice","password":"correct horse"}' | json_field token)
check "log in on node B" test -n "$TOKEN"
BASE=$A
check "B's token works on A" eq "$(api GET /api/v1/me | json_field username)" alice

sox -n -r 44100 -c 2 -b 16 "$E2E_TMP/song.wav" synth 30 sine 440 2>/dev/null
song=$(api POST /api/v1/songs -H "Content-Type: audio/wav" --data-binary "@$E2E_TMP/song.wav" | json_field id)
check "upload on node A" eq "$(status)" 201
BASE=$B
listed() { [[ "$(api GET /api/v1/songs | jq '.items | length')" == 1 ]]; }
check "node B lists the song" wait_until 10 listed
# Both nodes hold the bytes already (every live node, as R=3 > 2 nodes).
api POST /api/v1/songs -H "Content-Type: audio/wav" --data-binary "@$E2E_TMP/song.wav" >/dev/null
check "the same bytes on node B are the same song" eq "$(status)" 200

BASE=$A
room=$(api POST /api/v1/rooms -d '{"name":"cluster"}' | json_field id)
check "room created on node A" test -n "$room"
BASE=$B
check "node B sees the room" eq "$(api GET "/api/v1/rooms/$room" | json_field name)" cluster

# A listener on node B, commands through node A.
export XDG_CONFIG_HOME="$E2E_TMP/config"
echo "correct horse" | "$BIN_DIR/hifi" --server "$B" login --username alice --password-stdin >/dev/null
"$BIN_DIR/hifi" listen "$room" --no-spread --sink null --sync-log "$E2E_TMP/b.log" >"$E2E_TMP/listen.out" 2>&1 &
E2E_PIDS+=("$!")
check "the listener joins on node B" wait_until 20 grep -q "connected to $B" "$E2E_TMP/listen.out"
BASE=$A
api POST "/api/v1/rooms/$room/commands" -d "{\"type\":\"add\",\"song_ids\":[\"$song\"]}" >/dev/null
api POST "/api/v1/rooms/$room/commands" -d '{"type":"play"}' >/dev/null
check "play through node A" eq "$(status)" 200
lines() { [[ -f "$1" ]] && wc -l <"$1" || echo 0; }
plays() { (($(lines "$E2E_TMP/b.log") > $1 + 50)); }
check "the listener on node B plays" wait_until 20 plays 0

# Kill one etcd member: commands and events keep flowing.
kill -9 "${ETCD_PIDS[1]}"
api POST "/api/v1/rooms/$room/commands" -d '{"type":"seek","position_ms":20000}' >/dev/null
retry_seek() {
  [[ "$(status)" == 200 ]] || api POST "/api/v1/rooms/$room/commands" -d '{"type":"seek","position_ms":20000}' >/dev/null
  [[ "$(status)" == 200 ]]
}
check "a command after an etcd member died" wait_until 30 retry_seek
seeked() { tail -1 "$E2E_TMP/b.log" | awk '{exit !($3 >= 20*48000)}'; }
check "reaches the listener on the other node" wait_until 20 seeked

finish
