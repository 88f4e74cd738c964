#!/usr/bin/env bash
# End to end for streaming playback, with the real server and players: a
# two-hour FLAC (generated here: a tone, about 90 MB, 1.4 GB as the
# player's PCM) played by `hifi listen --sink null`.
#  - listener 1 plays it from the start; listener 2 joins mid-song (its
#    decoder seeks); the room then seeks to 100:00 and both follow;
#  - each player's peak resident memory (VmHWM) stays under 60 MB;
#  - the seek fetches a small fraction of the song (the server's
#    hifi_http_sent_bytes_total), and is heard soon (reported, not asserted:
#    tests do not judge wall-clock times);
#  - the listeners stay in sync within 0.2 ms once settled (hifi-sync-report,
#    p99), and within 1 ms in the second after a jump;
#  - `--quality low` and `high` play the server's Opus transcode, joining
#    mid-song with an offset.
# Usage: stream_e2e_test.sh BUILD_DIR/src   (holding hifi-server, hifi, hifi-sync-report)
set -euo pipefail
BIN_DIR=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
need_tools ffmpeg jq curl

export XDG_CONFIG_HOME="$E2E_TMP/config"
AUDIO="$E2E_TMP/audio"
mkdir -p "$AUDIO"
ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i "sine=frequency=440:sample_rate=44100:duration=7200" \
  -ac 2 -c:a flac "$AUDIO/two_hours.flac"
ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i "sine=frequency=660:sample_rate=44100:duration=600" \
  -ac 2 -c:a flac "$AUDIO/ten_minutes.flac"
SONG_BYTES=$(stat -c %s "$AUDIO/two_hours.flac")
log "two_hours.flac: $SONG_BYTES bytes"

start_server "$BIN_DIR/hifi-server" "$E2E_TMP/data"
hifi() { "$BIN_DIR/hifi" "$@"; }
echo "correct horse" | hifi --server "$BASE" register --username alice --password-stdin >/dev/null
TOKEN=$(jq -r .token "$XDG_CONFIG_HOME/hifi/config.json")
hifi --json upload "$AUDIO" >"$E2E_TMP/up.json" 2>/dev/null
check "the songs are uploaded" eq "$(jq '[.[] | select(.result=="uploaded")] | length' "$E2E_TMP/up.json")" 2
long=$(hifi --json songs two_hours | jq -r '.[0].id')
short=$(hifi --json songs ten_minutes | jq -r '.[0].id')
room=$(hifi --json rooms create "Streaming" | jq -r .id)
hifi queue "$room" add "$long" "$short" >/dev/null

sent_bytes() {
  curl -s -H "Authorization: Bearer $TOKEN" "$BASE/metrics" | awk '$1 == "hifi_http_sent_bytes_total" { print $2 }'
}
lines() { [[ -f "$1" ]] && wc -l <"$1" || echo 0; }
grown_by() { (($(lines "$1") > $2 + $3)); }
peak_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
now_ms() { echo "${EPOCHREALTIME/./}" | awk '{ printf "%.3f", $1 / 1000 }'; }
# The first line of a sync log at or after frame $2, on the host's clock,
# minus server time $3: how long after a command its effect was heard.
heard_after() { awk -v from="$2" -v at="$3" '$3 >= from { printf "%.0f", $1 - at; exit }' "$1"; }

listen() {  # listen NAME [ARGS...]: a null-sink listener with a sync log
  local name=$1
  shift
  "$BIN_DIR/hifi" listen "$room" --sink null --sync-log "$E2E_TMP/$name.log" "$@" >"$E2E_TMP/$name.out" 2>&1 &
  E2E_PIDS+=("$!")
  eval "${name}_PID=$!"
}

# --- listener 1 from the start, listener 2 joining mid-song -----------------
listen l1
check "listener 1 connects" wait_until 20 grep -q "connected to" "$E2E_TMP/l1.out"
hifi play "$room" >/dev/null
check "listener 1 plays the two-hour song" wait_until 30 grown_by "$E2E_TMP/l1.log" 0 100
check "from its start" awk 'NR == 1 { exit !($3 < 48000) }' "$E2E_TMP/l1.log"
join_at=$(now_ms)
listen l2
check "listener 2, joining mid-song, plays" wait_until 30 grown_by "$E2E_TMP/l2.log" 0 100
first2=$(head -1 "$E2E_TMP/l2.log" | awk '{ print $3 }')
check "listener 2 started mid-song (frame $first2)" test "$first2" -gt 48000
log "  listener 2 heard the song $(awk -v at="$join_at" 'NR == 1 { printf "%.0f", $1 - at }' "$E2E_TMP/l2.log") ms after starting (process start, login, room, clock sync, fetch, decode)"

# --- a seek to 100:00 -----------------------------------------------------------
before=$(sent_bytes)
n1=$(lines "$E2E_TMP/l1.log"); n2=$(lines "$E2E_TMP/l2.log")
seek_at=$(hifi --json seek "$room" 100:00 | jq -r .state.position_at)
target=$((100 * 60 * 48000))
at_target() { tail -1 "$1" | awk -v t="$target" '{ exit !($3 >= t) }'; }
check "listener 1 follows the seek to 100:00" wait_until 30 at_target "$E2E_TMP/l1.log"
check "listener 2 follows it too" wait_until 30 at_target "$E2E_TMP/l2.log"
log "  the seek was heard $(heard_after "$E2E_TMP/l1.log" "$target" "$seek_at") ms (listener 1) and $(heard_after "$E2E_TMP/l2.log" "$target" "$seek_at") ms (listener 2) after the room moved"
# Ten seconds on, so that each player's window ahead has been filled.
n1=$(lines "$E2E_TMP/l1.log"); n2=$(lines "$E2E_TMP/l2.log")
check "both play on from there" wait_until 60 grown_by "$E2E_TMP/l1.log" "$n1" 1000
wait_until 60 grown_by "$E2E_TMP/l2.log" "$n2" 1000 || true
after=$(sent_bytes)
fetched=$((after - before))
log "  the server sent $fetched bytes to both listeners for the seek and 10 s of playing ($((fetched * 1000 / SONG_BYTES / 10)).$((fetched * 1000 / SONG_BYTES % 10))% of the song)"
check "the seek fetched under 5% of the song" test $((fetched * 20)) -lt "$SONG_BYTES"

p1=$(peak_kb "$l1_PID"); p2=$(peak_kb "$l2_PID")
log "  peak resident memory: listener 1 $((p1 / 1024)) MB, listener 2 $((p2 / 1024)) MB"
check "listener 1 stays under 60 MB (VmHWM $p1 kB)" test "$p1" -lt $((60 * 1024))
check "listener 2 stays under 60 MB (VmHWM $p2 kB)" test "$p2" -lt $((60 * 1024))

"$BIN_DIR/hifi-sync-report" --json "$E2E_TMP/l1.log" "$E2E_TMP/l2.log" >"$E2E_TMP/report.json" || true
cat "$E2E_TMP/report.json" >&2
check "the listeners played the same song" eq "$(jq -r .same_songs "$E2E_TMP/report.json")" true
# Settled (a second or more after a jump): within 0.2 ms at p99. In the
# second after one, within 1 ms: a player that lands a jump a fraction of a
# millisecond late on a busy machine takes it up at about 2 ms a second,
# by design (no click), and the report's 200 ms after a jump do not always
# cover that.
check "and stay within 0.2 ms of each other once settled (p99)" \
  jq -e '.settled.samples > 100 and .settled.p99_ms < 0.2' "$E2E_TMP/report.json"
check "and within 1 ms in the second after a jump" jq -e '.settling.max_ms < 1' "$E2E_TMP/report.json"

# --- transcoded quality --------------------------------------------------------------
kill -TERM "$l1_PID" "$l2_PID"
stopped() { ! kill -0 "$l1_PID" 2>/dev/null && ! kill -0 "$l2_PID" 2>/dev/null; }
check "the listeners stop" wait_until 10 stopped
# Transcodes the server has served: being sent now, or sent to the end (a
# fast machine transcodes a whole song into the socket buffers and the
# player's window within seconds), or cut off by a player that went away.
transcodes_served() {
  curl -s -H "Authorization: Bearer $TOKEN" "$BASE/metrics" | awk '
    $1 == "hifi_active_transcodes" || $1 ~ /^hifi_transcodes_total\{result="(completed|aborted)"\}$/ { n += $2 }
    END { print n + 0 }'
}
served_before=$(transcodes_served)
hifi skip "$room" >/dev/null
hifi seek "$room" 2:00 >/dev/null
listen low --quality low
listen high --quality high
on_short() { [[ -f "$1" ]] && tail -1 "$1" | grep -q "$short"; }
check "--quality low plays the transcoded song" wait_until 30 on_short "$E2E_TMP/low.log"
check "--quality high too" wait_until 30 on_short "$E2E_TMP/high.log"
check "from the room's position (2:00)" awk 'NR == 1 { exit !($3 >= 120 * 48000) }' "$E2E_TMP/low.log"
check "through the server's transcoder" test "$(transcodes_served)" -ge $((served_before + 2))
n1=$(lines "$E2E_TMP/low.log")
check "and plays on" wait_until 30 grown_by "$E2E_TMP/low.log" "$n1" 200
pl=$(peak_kb "$low_PID")
log "  peak resident memory with --quality low: $((pl / 1024)) MB"
check "under 60 MB too" test "$pl" -lt $((60 * 1024))

# --- gapless, at the speaker's input: the WAV sink -----------------------------------
# Two one-second songs of constant level (A at +16384, B at -8192, 48 kHz,
# so no resampling touches them): in what `hifi listen --sink wav:` wrote,
# B's first frame must follow A's last one, with no silence between.
kill -TERM "$low_PID" "$high_PID" 2>/dev/null || true
ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i "aevalsrc=0.5|0.5:s=48000:d=1" -c:a pcm_s16le "$E2E_TMP/gap_a.wav"
ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i "aevalsrc=-0.25|-0.25:s=48000:d=1" -c:a pcm_s16le "$E2E_TMP/gap_b.wav"
hifi --json upload "$E2E_TMP/gap_a.wav" "$E2E_TMP/gap_b.wav" >"$E2E_TMP/up_gap.json" 2>/dev/null
gap_a=$(hifi --json songs gap_a | jq -r '.[0].id')
gap_b=$(hifi --json songs gap_b | jq -r '.[0].id')
gap_room=$(hifi --json rooms create "Gapless" | jq -r .id)
hifi queue "$gap_room" add "$gap_a" "$gap_b" >/dev/null
"$BIN_DIR/hifi" listen "$gap_room" --sink "wav:$E2E_TMP/gapless.wav" --sync-log "$E2E_TMP/gap.log" >"$E2E_TMP/gap.out" 2>&1 &
gap_PID=$!
E2E_PIDS+=("$gap_PID")
check "a WAV-sink listener connects" wait_until 20 grep -q "connected to" "$E2E_TMP/gap.out"
hifi play "$gap_room" >/dev/null
b_heard() { [[ -f "$E2E_TMP/gap.log" ]] && awk -v b="$gap_b" '$2 == b && $3 >= 24000 { found = 1 } END { exit !found }' "$E2E_TMP/gap.log"; }
check "it plays both songs" wait_until 20 b_heard
kill -TERM "$gap_PID"
gap_stopped() { ! kill -0 "$gap_PID" 2>/dev/null; }
check "the listener stops (and closes its WAV file)" wait_until 10 gap_stopped
# One line per frame: left right.
od -An -v -t d2 -w4 -j 44 "$E2E_TMP/gapless.wav" | awk '
  $1 == 16384 { a++; last_a = NR; next }
  $1 == -8192 && !b { b = NR; next }
  END { printf "%d %d %d\n", a, last_a, b }' >"$E2E_TMP/gap.txt"
read -r a_frames last_a first_b <"$E2E_TMP/gap.txt"
log "  song A: $a_frames frames heard; its last at frame $last_a of the output, song B's first at $first_b"
# (A starts when the room's "play" reaches the listener, a little into it.)
check "song A was heard (at most its 48000 frames, +2 for the player's nudges)" test "$a_frames" -ge 24000 -a "$a_frames" -le 48002
check "song B's first frame follows song A's last, with no silence between" test "$first_b" -eq $((last_a + 1))

finish
