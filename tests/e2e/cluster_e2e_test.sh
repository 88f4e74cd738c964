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
need_tools sox jq curl

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

BASE=$A
room=$(api POST /api/v1/rooms -d '{"name":"cluster"}' | json_field id)
check "room created on node A" test -n "$room"
BASE=$B
check "node B sees the room" eq "$(api GET "/api/v1/rooms/$room" | json_field name)" cluster

# Upload through A, then use the song through B at once, without waiting for
# B's library view: add it to the room, open its page, stream it (what a user
# does with a link shared the moment the upload finished). 5 minutes long, so
# that playing cannot reach the seek target below.
sox -n -r 8000 -c 1 -b 16 "$E2E_TMP/song.wav" synth 300 sine 440 2>/dev/null
BASE=$A
song=$(api POST /api/v1/songs -H "Content-Type: audio/wav" --data-binary "@$E2E_TMP/song.wav" | json_field id)
check "upload on node A" eq "$(status)" 201
BASE=$B
api POST "/api/v1/rooms/$room/commands" -d "{\"type\":\"add\",\"song_ids\":[\"$song\"]}" >/dev/null
check "at once, add it to the room through node B" eq "$(status)" 200
check "at once, node B serves the song's page" eq "$(api GET "/api/v1/songs/$song" | json_field id)" "$song"
OUT="$E2E_TMP/fresh.out" api GET "/api/v1/songs/$song/stream" -L
check "at once, node B streams it" eq "$(status)" 200
check "with the uploaded bytes" cmp -s "$E2E_TMP/fresh.out" "$E2E_TMP/song.wav"
listed() { [[ "$(api GET /api/v1/songs | jq '.items | length')" == 1 ]]; }
check "node B lists the song" wait_until 10 listed
# Both nodes hold the bytes already (every live node, as R=3 > 2 nodes).
api POST /api/v1/songs -H "Content-Type: audio/wav" --data-binary "@$E2E_TMP/song.wav" >/dev/null
check "the same bytes on node B are the same song" eq "$(status)" 200

# A listener on node B, commands through node A.
export XDG_CONFIG_HOME="$E2E_TMP/config"
echo "correct horse" | "$BIN_DIR/hifi" --server "$B" login --username alice --password-stdin >/dev/null
"$BIN_DIR/hifi" listen "$room" --no-spread --sink null --sync-log "$E2E_TMP/b.log" >"$E2E_TMP/listen.out" 2>&1 &
E2E_PIDS+=("$!")
check "the listener joins on node B" wait_until 20 grep -q "connected to $B" "$E2E_TMP/listen.out"
BASE=$A
api POST "/api/v1/rooms/$room/commands" -d '{"type":"play"}' >/dev/null
check "play through node A" eq "$(status)" 200
lines() { [[ -f "$1" ]] && wc -l <"$1" || echo 0; }
plays() { (($(lines "$E2E_TMP/b.log") > $1 + 50)); }
check "the listener on node B plays" wait_until 20 plays 0

# Kill one etcd member: commands and events keep flowing. The very first
# command after the kill must succeed. It seeks to 280 s of the 300 s song,
# which playing (from a few seconds in) cannot reach within the wait.
kill -9 "${ETCD_PIDS[1]}"
seen=$(lines "$E2E_TMP/b.log")
api POST "/api/v1/rooms/$room/commands" -d '{"type":"seek","position_ms":280000}' >/dev/null
check "the first command after an etcd member died succeeds" eq "$(status)" 200
seeked() {  # a buffer written after the seek plays second 280 to 288
  awk -v n="$seen" 'NR > n && $3 / $4 >= 280 && $3 / $4 < 288 {found = 1} END {exit !found}' "$E2E_TMP/b.log"
}
check "reaches the listener on the other node" wait_until 20 seeked

finish
