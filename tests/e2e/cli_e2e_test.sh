#!/usr/bin/env bash
# End to end for the `hifi` CLI and its player, against the real server:
# accounts, uploads (and re-uploads), listing, verified download, a rejected
# file, app passwords and API keys (used by curl as a Subsonic app), playlists,
# stars, play history and a public share (its page's player fetched by curl
# without an account), a room driven through play/pause/seek/skip with two null-sink
# listeners whose sync logs are compared on the host's clock (the second
# listener's clock is set L2_SKEW_MS ahead with libfaketime: the clock sync
# must take that out), and the server killed mid-listen, after which a seek
# must still be heard.
# Usage: cli_e2e_test.sh BUILD_DIR/src   (holding hifi-server, hifi, hifi-sync-report)
set -euo pipefail
BIN_DIR=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"

export XDG_CONFIG_HOME="$E2E_TMP/config"
AUDIO="$E2E_TMP/audio"
bash "$HERE/gen_audio.sh" "$AUDIO" >/dev/null
mkdir -p "$AUDIO/library/sub"
cp "$AUDIO"/tone.* "$AUDIO/library/"
cp "$AUDIO"/cover.* "$AUDIO/library/sub/"
cp "$AUDIO/bad/notes.txt" "$AUDIO/library/"        # not audio by name: ignored
sox -n -r 44100 -c 2 -b 16 "$AUDIO/library/long_a.wav" synth 8 sine 300 2>/dev/null
# long_b outlasts the test: anything that changes while it plays was caused
# by a command, not by the song ending.
sox -n -r 44100 -c 2 -b 16 "$AUDIO/library/long_b.wav" synth 120 sine 500 2>/dev/null

DATA="$E2E_TMP/data"
start_server "$BIN_DIR/hifi-server" "$DATA"
PORT=${BASE##*:}
hifi() { "$BIN_DIR/hifi" "$@"; }

echo "correct horse" | hifi --server "$BASE" register --username alice --password-stdin >/dev/null
check "register and log in" eq "$(hifi whoami --json | jq -r .username)" alice
whoami_storage() { hifi whoami | grep -qx '  0 songs uploaded, 0 B; no storage limit'; }
check "whoami tells the storage the uploads take" whoami_storage
check "token file is private" eq "$(stat -c %a "$XDG_CONFIG_HOME/hifi/config.json")" 600
hifi logout >/dev/null
set +e; hifi whoami >/dev/null 2>&1; rc=$?; set -e
check "whoami after logout exits with the auth code" eq "$rc" 3
echo "correct horse" | hifi login --username alice --password-stdin >/dev/null
echo "wrong password" | hifi login --username alice --password-stdin >/dev/null 2>&1 && rc=0 || rc=$?
check "a wrong password exits with the auth code" eq "$rc" 3
echo "correct horse" | hifi login --username alice --password-stdin >/dev/null

hifi --json upload "$AUDIO/library" >"$E2E_TMP/up1.json" 2>"$E2E_TMP/up1.err"
check "upload a folder: every audio file uploaded" eq "$(jq '[.[] | select(.result=="uploaded")] | length' "$E2E_TMP/up1.json")" 11
check "upload ignores what is not audio" grep -q "2 non-audio files ignored" "$E2E_TMP/up1.err"
hifi --json upload "$AUDIO/library" >"$E2E_TMP/up2.json" 2>"$E2E_TMP/up2.err"
check "upload again: all skipped" eq "$(jq '[.[] | select(.result=="skipped")] | length' "$E2E_TMP/up2.json")" 11
check "upload again says so" grep -q "11 already on the server" "$E2E_TMP/up2.err"
set +e; hifi upload "$AUDIO/bad/random.bin" >/dev/null 2>"$E2E_TMP/bad.err"; rc=$?; set -e
check "a rejected file gives a non-zero exit" eq "$rc" 1
check "with the server's reason" grep -qi "not an audio file" "$E2E_TMP/bad.err"

check "songs --json lists the library" eq "$(hifi --json songs | jq length)" 11
check "songs QUERY searches" eq "$(hifi --json songs vorbis | jq length)" 1
id=$(hifi --json songs | jq -r --arg sha "$(sha256sum "$AUDIO/library/tone.flac" | cut -d' ' -f1)" '.[] | select(.sha256==$sha) | .id')
hifi download "$id" -o "$E2E_TMP/dl.flac" 2>/dev/null
check "download verifies and writes the file" cmp -s "$E2E_TMP/dl.flac" "$AUDIO/library/tone.flac"
check "no .part file is left" test ! -e "$E2E_TMP/dl.flac.part"
# A partial download resumes.
head -c 10000 "$AUDIO/library/tone.flac" >"$E2E_TMP/resume.flac.part"
hifi download "$id" -o "$E2E_TMP/resume.flac" 2>/dev/null
check "an interrupted download resumes to the right bytes" cmp -s "$E2E_TMP/resume.flac" "$AUDIO/library/tone.flac"
# A corrupt partial download is never renamed to the final name.
printf 'garbage' | dd of="$E2E_TMP/corrupt.flac.part" bs=1 count=7 2>/dev/null
set +e; hifi download "$id" -o "$E2E_TMP/corrupt.flac" >/dev/null 2>&1; rc=$?; set -e
check "a corrupted download fails" test "$rc" -ne 0
check "and leaves nothing under the final name" test ! -e "$E2E_TMP/corrupt.flac"
set +e; hifi download 00000000000000000000000000000000 -o "$E2E_TMP/x" >/dev/null 2>&1; rc=$?; set -e
check "download of an unknown song exits with the not-found code" eq "$rc" 4

# --- app passwords and API keys for Subsonic apps -------------------------------
app=$(hifi --json app-passwords create "E2E phone")
app_id=$(jq -r .id <<<"$app")
app_pw=$(jq -r .password <<<"$app")
salt=e2esalt
token=$(printf '%s' "$app_pw$salt" | md5sum | cut -d' ' -f1)
check "an app password signs a Subsonic app in" eq \
  "$(curl -s "$BASE/rest/ping.view?u=alice&t=$token&s=$salt&v=1.16.1&c=e2e&f=json" | jq -r '.["subsonic-response"].status')" ok
check "app-passwords lists it, with its last use" eq \
  "$(hifi --json app-passwords list | jq -r --arg id "$app_id" '.[] | select(.id==$id) | .last_used_at != null')" true
check "the table names it" grep -q "E2E phone" <(hifi app-passwords)
hifi app-passwords revoke "$app_id" >/dev/null
check "a revoked app password signs the app out" eq \
  "$(curl -s "$BASE/rest/ping.view?u=alice&t=$token&s=$salt&v=1.16.1&c=e2e&f=json" | jq -r '.["subsonic-response"].error.code')" 41
key=$(hifi --json api-keys create "E2E desktop")
check "an API key signs a Subsonic app in" eq \
  "$(curl -s "$BASE/rest/tokenInfo?apiKey=$(jq -r .key <<<"$key")&f=json" | jq -r '.["subsonic-response"].tokenInfo.username')" alice
hifi api-keys revoke "$(jq -r .id <<<"$key")" >/dev/null
check "api-keys list is empty after revoking" eq "$(hifi --json api-keys list | jq length)" 0
set +e; hifi api-keys revoke 0000000000000000 >/dev/null 2>&1; rc=$?; set -e
check "revoking an unknown key exits with the not-found code" eq "$rc" 4

# --- playlists, stars, history and a public share --------------------------------
mapfile -t ids < <(hifi --json songs | jq -r '.[].id' | head -3)
pl=$(hifi --json playlists create "E2E mix" --comment "for the test" "${ids[0]}" "${ids[1]}" | jq -r .id)
check "playlists create" test -n "$pl"
playlist_songs() { hifi --json playlists show "$pl" | jq -r '[.songs[].id] | join(",")'; }
hifi playlists add "$pl" "${ids[2]}" >/dev/null
check "playlists add appends" eq "$(playlist_songs)" "${ids[0]},${ids[1]},${ids[2]}"
hifi playlists remove "$pl" 1 >/dev/null
check "playlists remove takes positions as show numbers them" eq "$(playlist_songs)" "${ids[1]},${ids[2]}"
hifi playlists rename "$pl" "E2E renamed" >/dev/null
check "the playlists table lists it renamed" grep -q "E2E renamed" <(hifi playlists)
set +e; hifi playlists add "$pl" 00000000000000000000000000000000 >/dev/null 2>"$E2E_TMP/pl.err"; rc=$?; set -e
check "adding an unknown song exits 1" eq "$rc" 1
check "naming the song" grep -q 00000000000000000000000000000000 "$E2E_TMP/pl.err"
hifi playlists delete "$pl" >/dev/null
set +e; hifi playlists show "$pl" >/dev/null 2>&1; rc=$?; set -e
check "a deleted playlist is not found" eq "$rc" 4

hifi star "${ids[0]}" >/dev/null
check "star: the song is a favourite" eq "$(hifi --json starred | jq -r '[.songs[].id] | join(",")')" "${ids[0]}"
check "and the song's JSON says so" eq \
  "$(hifi --json songs | jq -r --arg id "${ids[0]}" '.[] | select(.id==$id) | .starred != null')" true
hifi unstar "${ids[0]}" >/dev/null
check "unstar" eq "$(hifi --json starred | jq '.songs | length')" 0
set +e; hifi star --album 0000000000000000 >/dev/null 2>&1; rc=$?; set -e
check "starring an unknown album exits with the not-found code" eq "$rc" 4

TOKEN=$(jq -r .token "$XDG_CONFIG_HOME/hifi/config.json")
for i in 0 1 2; do
  api POST /api/v1/me/history -H 'Content-Type: application/json' \
    -d "{\"song_id\":\"${ids[$i]}\",\"played_at\":$((1700000000000 + i * 1000)),\"client\":\"e2e\"}" >/dev/null
  check "a play is recorded ($i)" eq "$(status)" 201
done
check "history is newest first" eq "$(hifi --json history --limit 2 | jq -r '[.[].song.id] | join(",")')" "${ids[2]},${ids[1]}"
check "history pages through everything" eq "$(hifi --json history --limit 500 | jq length)" 3
check "the history table names the client" grep -q "e2e" <(hifi history)

url=$(hifi share "${ids[0]}" --expires 1d --description "E2E share" 2>"$E2E_TMP/share.err")
check "share prints the public link" grep -Eq "^$BASE/share/[0-9a-f]{32}$" <<<"$url"
check "and says how to revoke it" grep -q "hifi shares revoke" "$E2E_TMP/share.err"
curl -s "$url" >"$E2E_TMP/share.html"
check "the share page shows the description" grep -q "E2E share" "$E2E_TMP/share.html"
src=$(grep -o 'src="[^"]*"' "$E2E_TMP/share.html" | head -1 | sed -e 's/^src="//' -e 's/"$//' -e 's/&amp;/\&/g')
curl -s -o "$E2E_TMP/shared.bin" "$BASE$src"
check "its player streams the song without an account" eq "$(sha256sum "$E2E_TMP/shared.bin" | cut -c1-32)" "${ids[0]}"
check "shares lists the visit" eq "$(hifi --json shares | jq '.[0].visit_count')" 1
hifi shares revoke "$(hifi --json shares | jq -r '.[0].id')" >/dev/null
check "a revoked share's page is gone" eq "$(curl -s -o /dev/null -w '%{http_code}' "$url")" 404
set +e; hifi share >/dev/null 2>&1; rc=$?; set -e
check "share without songs is a usage error" eq "$rc" 2
set +e; hifi share "${ids[0]}" --expires soon >/dev/null 2>&1; rc=$?; set -e
check "a malformed --expires is a usage error" eq "$rc" 2

# --- a room, two listeners -----------------------------------------------------
room=$(hifi --json rooms create "E2E room" | jq -r .id)
check "rooms create" test -n "$room"
a=$(hifi --json songs long_a | jq -r '.[0].id')
b=$(hifi --json songs long_b | jq -r '.[0].id')
hifi queue "$room" add "$a" "$b" >/dev/null
check "queue shows two items" eq "$(hifi --json queue "$room" | jq length)" 2

# The Subsonic jukebox as a remote control for that room.
check "no jukebox room is chosen at first" eq "$(hifi --json jukebox | jq -r .room_id)" null
check "hifi jukebox explains the default" grep -q "alice's jukebox" <(hifi jukebox)
check "hifi jukebox use takes a room name" eq "$(hifi --json jukebox use "E2E room" | jq -r .room_id)" "$room"
check "hifi jukebox shows the choice" grep -q "E2E room" <(hifi jukebox)
api_key=$(hifi --json api-keys create "E2E jukebox" | jq -r .key)
check "a Subsonic app's jukebox sees the room's queue" eq \
  "$(curl -s "$BASE/rest/jukeboxControl?apiKey=$api_key&action=get&f=json" | jq '.["subsonic-response"].jukeboxPlaylist.entry | length')" 2
set +e; hifi jukebox use "no such room" >/dev/null 2>&1; rc=$?; set -e
check "choosing an unknown room exits with the not-found code" eq "$rc" 4

"$BIN_DIR/hifi" listen "$room" --sink null --sync-log "$E2E_TMP/l1.log" >"$E2E_TMP/l1.out" 2>&1 &
L1=$!
E2E_PIDS+=("$L1")
# The second listener's wall clock runs L2_SKEW_MS ahead of the host's (its
# monotonic clock is left alone); its sync log is in its own clock's time.
command -v faketime >/dev/null || { log "faketime is not installed (scripts/setup test installs it)"; exit 1; }
L2_SKEW_MS=2500
FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -m -f "+$((L2_SKEW_MS / 1000)).$((L2_SKEW_MS % 1000))s" \
  "$BIN_DIR/hifi" listen "$room" --sink null --sync-log "$E2E_TMP/l2.log" >"$E2E_TMP/l2.out" 2>&1 &
L2=$!
E2E_PIDS+=("$L2")
# faketime runs the player as a child and passes no signal on: they go to
# the player itself.
l2_player() { L2_HIFI=$(pgrep -P "$L2" | head -1); [[ -n "$L2_HIFI" ]]; }
check "listener 2's player runs under faketime" wait_until 10 l2_player
E2E_PIDS+=("$L2_HIFI")
both_listening() { [[ "$(hifi --json status "$room" | jq '.state.listeners | length')" == 1 ]] && grep -q "connected to" "$E2E_TMP/l1.out" && grep -q "connected to" "$E2E_TMP/l2.out"; }
check "both listeners joined" wait_until 20 both_listening

lines() { [[ -f "$1" ]] && wc -l <"$1" || echo 0; }
logs_grow() { local n1=$1 n2=$2; (($(lines "$E2E_TMP/l1.log") > n1 + 50 && $(lines "$E2E_TMP/l2.log") > n2 + 50)); }
hifi play "$room" >/dev/null
check "play: both play" wait_until 20 logs_grow 0 0
# The skew is real: listener 2 logs times L2_SKEW_MS ahead of the host's.
now_ms() { echo "${EPOCHREALTIME/./}" | awk '{ printf "%.3f", $1 / 1000 }'; }
ahead_of_host() { tail -1 "$1" | awk -v now="$(now_ms)" '{ print $1 - now }'; }
check "listener 2's clock is skewed" awk -v d="$(ahead_of_host "$E2E_TMP/l2.log")" -v s="$L2_SKEW_MS" 'BEGIN { exit !(d > s - 500 && d < s + 500) }'
hifi pause "$room" >/dev/null
# Paused: nothing more is logged once the pause is heard.
stable() { local a1 a2; a1=$(lines "$E2E_TMP/l1.log"); a2=$(lines "$E2E_TMP/l2.log"); sleep 0.3; [[ "$(lines "$E2E_TMP/l1.log")" == "$a1" && "$(lines "$E2E_TMP/l2.log")" == "$a2" ]]; }
check "pause: both stop" wait_until 10 stable
hifi seek "$room" 0:03 >/dev/null
n1=$(lines "$E2E_TMP/l1.log"); n2=$(lines "$E2E_TMP/l2.log")
hifi play "$room" >/dev/null
check "seek + play: both resume" wait_until 20 logs_grow "$n1" "$n2"
resumed_at_3s() { tail -1 "$E2E_TMP/l1.log" | awk '{exit !($3 >= 3*48000)}'; }
check "resumed from the seek position" resumed_at_3s
skip_at=$(hifi --json skip "$room" | jq -r .state.position_at)
second_song() { tail -1 "$E2E_TMP/l1.log" | grep -q "$b" && tail -1 "$E2E_TMP/l2.log" | grep -q "$b"; }
check "skip: both move to the second song" wait_until 20 second_song
# ... at once: the first buffer of it is heard (on the host's clock) within
# about a second of the skip taking effect on the server. (long_a had more
# than 4 s left: its end does not count.)
first_heard() { awk -v song="$1" -v skew="$2" '$2 == song { printf "%.0f", $1 - skew; exit }' "$3"; }
heard_within() {
  local t=$1 limit=$2 h
  h=$(first_heard "$b" "$3" "$4")
  [[ -n "$h" ]] || return 1
  log "  $4: the second song heard $((h - t)) ms after the skip"
  ((h - t < limit))
}
check "skip: listener 1 hears the second song within a second" heard_within "$skip_at" 1000 0 "$E2E_TMP/l1.log"
check "skip: listener 2 hears the second song within a second" heard_within "$skip_at" 1000 "$L2_SKEW_MS" "$E2E_TMP/l2.log"

# --- kill the server while listening ------------------------------------------
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
check "the listener says the connection was lost" wait_until 20 grep -q "lost" "$E2E_TMP/l1.out"
"$BIN_DIR/hifi-server" --listen "127.0.0.1:$PORT" --data-dir "$DATA" >"$E2E_TMP/server2.log" 2>&1 &
SERVER_PID=$!
E2E_PIDS+=("$SERVER_PID")
reconnected() { [[ $(grep -c "connected to" "$E2E_TMP/l1.out") -ge 2 ]]; }
check "the listener reconnects when the server returns" wait_until 30 reconnected
n1=$(lines "$E2E_TMP/l1.log"); n2=$(lines "$E2E_TMP/l2.log")
check "and plays on" wait_until 20 logs_grow "$n1" "$n2"
# The reconnected sessions work: a seek sent now is heard by both. Each
# log's last line (mapped to the host's clock) must be at the room's
# position for its time, counted from the seek: 1:30 + (heard - seek time).
# Before the seek both were well short of 1:30 (long_b began at the skip).
seek_out=$(hifi --json seek "$room" 1:30)
seek_at=$(jq -r .state.position_at <<<"$seek_out")
check "the seek after the restart is accepted" eq "$(jq -r .state.position_ms <<<"$seek_out")" 90000
at_seek_position() {
  tail -1 "$1" | awk -v song="$b" -v skew="$2" -v at="$seek_at" '
    { heard = $1 - skew; want = (90000 + heard - at) * $4 / 1000
      exit !($2 == song && heard > at && ($3 - want) * 1000 / $4 < 20 && (want - $3) * 1000 / $4 < 20) }'
}
heard_seek() { at_seek_position "$E2E_TMP/l1.log" 0 && at_seek_position "$E2E_TMP/l2.log" "$L2_SKEW_MS"; }
check "a seek after the restart is heard by both listeners" wait_until 10 heard_seek
# Two more seconds of both playing, for the skew report below.
grown_by() { (($(lines "$E2E_TMP/l1.log") > $2 + $1 && $(lines "$E2E_TMP/l2.log") > $3 + $1)); }
n1=$(lines "$E2E_TMP/l1.log"); n2=$(lines "$E2E_TMP/l2.log")
check "and plays on after it" wait_until 20 grown_by 200 "$n1" "$n2"

kill -TERM "$L1" "$L2_HIFI"
stopped() { ! kill -0 "$L1" 2>/dev/null && ! kill -0 "$L2_HIFI" 2>/dev/null && ! kill -0 "$L2" 2>/dev/null; }
check "SIGTERM stops the listeners" wait_until 10 stopped
check "cleanly" grep -q "Stopped listening" "$E2E_TMP/l1.out"

# Listener 2's log on the host's clock: its times less the known skew.
awk -v skew="$L2_SKEW_MS" '{ printf "%.3f %s %s %s\n", $1 - skew, $2, $3, $4 }' "$E2E_TMP/l2.log" >"$E2E_TMP/l2.host.log"
"$BIN_DIR/hifi-sync-report" --json "$E2E_TMP/l1.log" "$E2E_TMP/l2.host.log" >"$E2E_TMP/report.json" || true
cat "$E2E_TMP/report.json" >&2
check "both logs played the same songs in the same order" eq "$(jq -r .same_songs "$E2E_TMP/report.json")" true
check "the skew between the listeners stays within 3 ms (p99)" jq -e '.samples > 100 and .p99_ms < 3' "$E2E_TMP/report.json"

# No sound server: and none is started for us (libpulse would autospawn one
# where pulseaudio is installed and we are not root).
printf 'autospawn = no\n' >"$E2E_TMP/pulse-client.conf"
set +e; PULSE_CLIENTCONFIG="$E2E_TMP/pulse-client.conf" timeout 20 "$BIN_DIR/hifi" listen "$room" --sink pulse >/dev/null 2>"$E2E_TMP/nodev.err"; rc=$?; set -e
if pactl info >/dev/null 2>&1; then
  log "skip - a sound server is running here; the no-device case is not testable"
else
  check "listen with no audio device fails clearly" test "$rc" -ne 0
  check "and says what to do" grep -q -- "--sink null" "$E2E_TMP/nodev.err"
fi

finish
