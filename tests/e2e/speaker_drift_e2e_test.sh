#!/usr/bin/env bash
# End to end for synchronized playback on sound cards whose clocks drift,
# measured at the speaker: two `hifi listen --sink pulse` players, each on a
# PulseAudio sink whose sample clock runs off the system clock, one 200 ppm
# slow and one 200 ppm fast (400 ppm apart: 22 ms in the 55 s of the test
# if a player followed the system clock instead of its card's).
#  - a private PulseAudio daemon (tests/e2e/pulse.sh); the two sinks are
#    pipe sinks played by hifi-drift-card at those rates, which records
#    what each card plays on the system clock's timeline (A left, B right);
#  - two songs (30 s click trains over a quiet tone, 48 kHz stereo FLAC, made
#    here) queued; the room plays 12 s, seeks to 0:20 and plays 25 s (the
#    song changes on the way), pauses 2 s, and plays 15 s;
#  - hifi-speaker-skew compares the channels in 500 ms windows: at least 40
#    windows compared, the median |skew| at most 1 ms over the whole run
#    and over its last 10 s (where the drift would have piled up), and the
#    mean of B - A within 0.25 ms of zero (a player that times its card by
#    reports 1.5 s apart, as libpulse sends them, runs behind its card's
#    drift: about -0.45 ms here; with reports 100 ms apart about -0.1 ms);
#  - the listeners stop on SIGTERM although their cards stopped first (a
#    device that takes nothing more must not hold a player);
#  - both play after the seek, the song change and the pause.
# The figures (p50, p99, max of the skew at the speaker, the cards'
# underruns and the players' own view) are printed.
#
# Checks that the test can fail: SPEAKER_DRIFT_FAULT=hidden-clock loads B's
# pipe sink with use_system_clock_for_timing=yes, so PulseAudio times that
# sink by the system clock and its reports no longer show the card's: the
# test must then fail (B drifts off its card: its mean B - A 0.5-0.9 ms, its
# p99 up to 12 ms, against about 0.05 and 0.4 ms here).
# Usage: speaker_drift_e2e_test.sh BUILD_DIR/src   (holding hifi-server,
#        hifi, hifi-speaker-skew, hifi-drift-card; hifi-sync-report when built)
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
PPM=${SPEAKER_DRIFT_PPM:-200}

start_pulse "$T/pulse"
case "${SPEAKER_DRIFT_FAULT:-}" in
  "") ;;
  hidden-clock)
    log "fault injected: PulseAudio times listener B's sink by the system clock, not by its card"
    export PULSE_DRIFT_RIGHT_ARGS=use_system_clock_for_timing=yes
    ;;
  *) log "SPEAKER_DRIFT_FAULT: unknown fault '$SPEAKER_DRIFT_FAULT'"; exit 2 ;;
esac

mkdir -p "$T/audio"
click_train "$T/audio/clicks1.flac" 30 48000 2 11
click_train "$T/audio/clicks2.flac" 30 48000 2 12
start_server "$BIN_DIR/hifi-server" "$T/data"
hifi() { timeout -k 5 30 "$BIN_DIR/hifi" "$@"; }
echo "correct horse" | hifi --server "$BASE" register --username alice --password-stdin >/dev/null
hifi --json upload "$T/audio" >"$T/up.json" 2>"$T/up.err" || { cat "$T/up.err" >&2; exit 1; }
song1=$(hifi --json songs clicks1 | jq -r '.[0].id')
song2=$(hifi --json songs clicks2 | jq -r '.[0].id')
check "the click trains are uploaded" test -n "$song1" -a "$song1" != null -a -n "$song2" -a "$song2" != null
room=$(hifi --json rooms create "Drifting cards" | jq -r .id)
hifi queue "$room" add "$song1" "$song2" >/dev/null

# The cards run (and record) from here on; they play silence until a
# stream plays into them.
pulse_drift_record "$BIN_DIR" "$REC" "-$PPM" "$PPM"
pulse_listen "$BIN_DIR" "$room" "$T" a hifi_card_left
pulse_listen "$BIN_DIR" "$room" "$T" b hifi_card_right
check "listener A connects" wait_until 30 grep -q "connected to" "$T/a.out"
check "listener B connects" wait_until 30 grep -q "connected to" "$T/b.out"

# Each step waits until the recording has grown by so much audio (the
# recorder's clock is the system's).
hifi play "$room" >/dev/null
check "both listeners open a PulseAudio stream" wait_until 30 eval 'plays_into hifi_card_left && plays_into hifi_card_right'
recording_mark
PLAY0_MS=$MARK
wait_until 30 played_since_mark 12000
hifi seek "$room" 0:20 >/dev/null
recording_mark
SEEK_MS=$MARK
wait_until 60 played_since_mark 25000
hifi pause "$room" >/dev/null
recording_mark
PAUSE_MS=$MARK
wait_until 30 played_since_mark 2000
recording_mark
PLAY_MS=$MARK
hifi play "$room" >/dev/null
wait_until 30 played_since_mark 15000
recording_mark
END_MS=$MARK
pulse_stop_record
kill -TERM "$a_PID" "$b_PID" 2>/dev/null || true
stopped() { ! kill -0 "$a_PID" 2>/dev/null && ! kill -0 "$b_PID" 2>/dev/null; }
check "the listeners stop" wait_until 10 stopped
log "  recorded $(soxi -D "$REC" 2>/dev/null || echo '?') s: played at ${PLAY0_MS} ms, sought at ${SEEK_MS}, paused at ${PAUSE_MS}, played again at ${PLAY_MS}, ended at ${END_MS}"
sed 's/^/  /' "$REC.log" >&2

RC=0
# Lags up to 200 ms, so that a drift that was not followed is measured
# rather than left unmatched; a skew that moves within a window lowers its
# correlation peak, so 0.3 suffices.
"$BIN_DIR/hifi-speaker-skew" --json --max-lag-ms 200 --min-corr 0.3 "$REC" >"$T/skew.json" 2>"$T/skew.err" || RC=$?
cat "$T/skew.err" >&2
check "hifi-speaker-skew compared windows (exit $RC)" eq "$RC" 0
jq -r '"  at the speaker, cards \(-'"$PPM"') and +'"$PPM"' ppm: \(.compared) windows compared, \(.silent) silent, \(.unmatched) unmatched; |skew| p50 \(.p50_ms) ms, p99 \(.p99_ms) ms, max \(.max_ms) ms; mean (B - A) \(.mean_ms) ms"' "$T/skew.json" >&2
jq -r --argjson from $((END_MS - 10000)) '[.windows[] | select(.status == "compared" and .start_ms >= $from) | .skew_ms] | sort
  | "  the last 10 s: \(length) windows, skew (B - A) from \(.[0]) to \(.[-1]) ms"' "$T/skew.json" >&2
if [[ -x "$BIN_DIR/hifi-sync-report" ]]; then
  log "  the players' own logs: $("$BIN_DIR/hifi-sync-report" "$T/a.log" "$T/b.log" 2>&1 || true)"
fi
check "at least 40 windows are compared" jqe '.compared >= 40' "$T/skew.json"
check "the median |skew| at the speaker is at most 1 ms" jqe '.p50_ms != null and .p50_ms <= 1' "$T/skew.json"
check "and in the last 10 s, after 50 s of drift" jqe --argjson from $((END_MS - 10000)) '
  [.windows[] | select(.status == "compared" and .start_ms >= $from) | (if .skew_ms < 0 then -.skew_ms else .skew_ms end)] | sort
  | length >= 8 and .[(length / 2 | floor)] <= 1' "$T/skew.json"
check "the mean skew (B - A) is within 0.25 ms of zero" jqe '.mean_ms != null and (.mean_ms | fabs) <= 0.25' "$T/skew.json"
compared_between() {  # compared_between FROM TO MIN: at least MIN windows compared in [FROM, TO) ms
  jqe --argjson from "$1" --argjson to "$2" --argjson min "$3" \
    '[.windows[] | select(.start_ms >= $from and .start_ms < $to and .status == "compared")] | length >= $min' "$T/skew.json"
}
check "both play before the seek" compared_between "$PLAY0_MS" "$SEEK_MS" 10
check "both play after the seek, across the song change" compared_between "$SEEK_MS" "$PAUSE_MS" 30
check "both play after the pause" compared_between "$PLAY_MS" "$END_MS" 15
if ((E2E_FAILURES > 0)); then
  show_skew_windows "$T/skew.json"
  tail -n 5 "$T/a.out" "$T/b.out" >&2
fi

finish
