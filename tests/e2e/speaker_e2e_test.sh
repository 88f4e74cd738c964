#!/usr/bin/env bash
# End to end for synchronized playback, measured at the speaker: what two
# `hifi listen --sink pulse` players send through a real PulseAudio daemon,
# not what their logs say.
#  - a private PulseAudio daemon (tests/e2e/pulse.sh): listener A plays into
#    the left channel of a null sink, listener B into the right one, and the
#    null sink's monitor is recorded (WAV, 48 kHz stereo);
#  - the song is a click train over a quiet tone (30 s, 48 kHz stereo FLAC,
#    made here), whose irregular clicks line up at one lag only;
#  - the room plays 5 s, seeks to 0:15, plays 4 s, pauses 3 s, plays 4 s;
#  - hifi-speaker-skew compares the channels in 500 ms windows: at least 12
#    windows compared, and the median |skew| is at most 5 ms (a generous
#    bound, which a listener 100 ms late fails);
#  - the paused stretch is silent in both channels, and both play after it.
# The figures (p50, p99, max, mean of the skew at the speaker, and the
# players' own view from their sync logs) are printed.
#
# Checks that the test can fail: SPEAKER_E2E_FAULT=late-sink routes
# listener B through a PulseAudio loopback that adds 100 ms the player
# cannot see; SPEAKER_E2E_FAULT=fast-clock runs listener B under faketime
# with its clocks 1% fast. The test must then fail.
# Usage: speaker_e2e_test.sh BUILD_DIR/src   (holding hifi-server, hifi,
#        hifi-speaker-skew; hifi-sync-report when built)
set -euo pipefail
BIN_DIR=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
source "$HERE/pulse.sh"
need_tools sox jq curl awk
need_pulse

export XDG_CONFIG_HOME="$E2E_TMP/config"
T=$E2E_TMP
REC="$T/speaker.wav"

start_pulse "$T/pulse"
SINK_B=hifi_right
WRAP_B=()
case "${SPEAKER_E2E_FAULT:-}" in
  "") ;;
  late-sink)
    log "fault injected: listener B plays 100 ms late, behind a loopback"
    pactl load-module module-null-sink sink_name=hifi_right_in format=s16le rate=48000 channels=2 >/dev/null
    pactl load-module module-loopback source=hifi_right_in.monitor sink=hifi_right latency_msec=100 >/dev/null
    SINK_B=hifi_right_in
    ;;
  fast-clock)
    need_tools faketime
    log "fault injected: listener B's clocks run 1% fast (faketime)"
    WRAP_B=(faketime -f "+0 x1.01")
    ;;
  *) log "SPEAKER_E2E_FAULT: unknown fault '$SPEAKER_E2E_FAULT'"; exit 2 ;;
esac

mkdir -p "$T/audio"
click_train "$T/audio/clicks.flac" 30 48000 2 11
start_server "$BIN_DIR/hifi-server" "$T/data"
hifi() { timeout -k 5 30 "$BIN_DIR/hifi" "$@"; }
echo "correct horse" | hifi --server "$BASE" register --username alice --password-stdin >/dev/null
hifi --json upload "$T/audio" >"$T/up.json" 2>"$T/up.err" || { cat "$T/up.err" >&2; exit 1; }
song=$(hifi --json songs clicks | jq -r '.[0].id')
check "the click train is uploaded" test -n "$song" -a "$song" != null
room=$(hifi --json rooms create "Speakers" | jq -r .id)
hifi queue "$room" add "$song" >/dev/null

pulse_listen "$BIN_DIR" "$room" "$T" a hifi_left
pulse_listen "$BIN_DIR" "$room" "$T" b "$SINK_B" "${WRAP_B[@]}"
check "listener A connects" wait_until 30 grep -q "connected to" "$T/a.out"
check "listener B connects" wait_until 30 grep -q "connected to" "$T/b.out"

pulse_record "$REC"
# Each step waits until the recording has grown by so much audio.
hifi play "$room" >/dev/null
check "both listeners open a PulseAudio stream" wait_until 30 eval 'plays_into hifi_left && plays_into "$SINK_B"'
recording_mark
wait_until 30 played_since_mark 5000
hifi seek "$room" 0:15 >/dev/null
recording_mark
wait_until 30 played_since_mark 4000
hifi pause "$room" >/dev/null
recording_mark
PAUSE_MS=$MARK
wait_until 30 played_since_mark 3000
recording_mark
PLAY_MS=$MARK
hifi play "$room" >/dev/null
wait_until 30 played_since_mark 4000
pulse_stop_record
kill -TERM "$a_PID" "$b_PID" 2>/dev/null || true
stopped() { ! kill -0 "$a_PID" 2>/dev/null && ! kill -0 "$b_PID" 2>/dev/null; }
check "the listeners stop" wait_until 10 stopped
log "  recorded $(soxi -D "$REC" 2>/dev/null || echo '?') s; paused at ${PAUSE_MS} ms, played again at ${PLAY_MS} ms of the recording"

RC=0
"$BIN_DIR/hifi-speaker-skew" --json --max-lag-ms 200 "$REC" >"$T/skew.json" 2>"$T/skew.err" || RC=$?
cat "$T/skew.err" >&2
check "hifi-speaker-skew compared windows (exit $RC)" eq "$RC" 0
jq -r '"  at the speaker: \(.compared) windows compared, \(.silent) silent, \(.unmatched) unmatched; |skew| p50 \(.p50_ms) ms, p99 \(.p99_ms) ms, max \(.max_ms) ms; mean (B - A) \(.mean_ms) ms"' "$T/skew.json" >&2
if [[ -x "$BIN_DIR/hifi-sync-report" ]]; then
  log "  the players' own logs: $("$BIN_DIR/hifi-sync-report" "$T/a.log" "$T/b.log" 2>&1 || true)"
fi
check "at least 12 windows are compared" jqe '.compared >= 12' "$T/skew.json"
check "the median |skew| at the speaker is at most 5 ms" jqe '.p50_ms != null and .p50_ms <= 5' "$T/skew.json"
# The pause is heard after the command and the sink's latency (100 ms
# asked for): windows from 800 ms after it until the play command.
check "the paused stretch is silent in both channels" jqe --argjson from $((PAUSE_MS + 800)) --argjson to "$PLAY_MS" '
  .window_ms as $len | [.windows[] | select(.start_ms >= $from and .start_ms + $len <= $to)] as $w
  | ($w | length) >= 2 and all($w[]; .left_dbfs < -60 and .right_dbfs < -60)' "$T/skew.json"
check "both listeners play before the pause" jqe --argjson to "$PAUSE_MS" \
  '[.windows[] | select(.start_ms < $to and .status == "compared")] | length >= 5' "$T/skew.json"
check "and after it" jqe --argjson from "$PLAY_MS" \
  '[.windows[] | select(.start_ms > $from and .status == "compared")] | length >= 3' "$T/skew.json"
if ((E2E_FAILURES > 0)); then
  show_skew_windows "$T/skew.json"
  tail -n 5 "$T/a.out" "$T/b.out" >&2
fi

finish
