#!/usr/bin/env bash
# hifi-drift-card (the drifting sound cards of speaker_drift_e2e_test.sh)
# without PulseAudio: the same click train is written into both FIFOs as
# fast as they take it, and the cards play them at -200 and +200 ppm for
# 12 s:
#  - each card played rate * (1 + ppm / 1e6) frames a second of the system
#    clock, within 2 frames, with less than 200 ms of underrun (before its
#    writer started);
#  - the recording (system clock timeline) holds 12 s;
#  - in it the fast card (right) pulls ahead of the slow one by 0.4 ms a
#    second: hifi-speaker-skew's skew falls by 0.4 ms/s (within 25 %)
#    between the first and the last seconds;
#  - bad arguments and a path that is not a FIFO: exit 2 and 1, with a
#    message.
# Usage: drift_card_tool_test.sh BUILD_DIR/src   (holding hifi-drift-card
#        and hifi-speaker-skew)
set -euo pipefail
BIN_DIR=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
source "$HERE/pulse.sh"
need_tools sox jq awk
CARD="$BIN_DIR/hifi-drift-card"
T=$E2E_TMP

click_train "$T/clicks.wav" 20 48000 2 5
sox "$T/clicks.wav" -t raw -e signed -b 16 -L "$T/clicks.raw"
mkfifo "$T/left.fifo" "$T/right.fifo"
timeout 30 "$CARD" --left "$T/left.fifo" --left-ppm -200 --right "$T/right.fifo" --right-ppm 200 \
  --out "$T/rec.wav" --seconds 12 2>"$T/card.err" &
CARD_PID=$!
E2E_PIDS+=("$CARD_PID")
# The writers start once the card has opened both FIFOs (and emptied them,
# as it does a pipe sink's stale audio): it writes the recording's header
# after that. They start a few ms apart, which only shifts the skew.
check "the cards start" wait_until 10 test -s "$T/rec.wav"
cat "$T/clicks.raw" >"$T/left.fifo" 2>/dev/null &
E2E_PIDS+=("$!")
cat "$T/clicks.raw" >"$T/right.fifo" 2>/dev/null &
E2E_PIDS+=("$!")
RC=0
wait "$CARD_PID" || RC=$?
cat "$T/card.err" >&2
check "hifi-drift-card ran 12 s (exit $RC)" eq "$RC" 0
# played_ok SIDE PPM: the card's frame count is its rate times its seconds.
played_ok() {
  awk -v side="$1" -v ppm="$2" '$2 == side && $3 == "card" {
      frames = $7; secs = $10; under = $12
      want = secs * 48000 * (1 + ppm / 1e6); d = frames - want
      if (d < 0) d = -d
      printf "    %s: %d frames in %s s, want %.1f; %d frames of underrun\n", side, frames, secs, want, under > "/dev/stderr"
      ok = d <= 2 && under < 9600
    } END { exit !ok }' "$T/card.err"
}
check "the left card played 47990.4 frames a second" played_ok left -200
check "the right card played 48009.6 frames a second" played_ok right 200
secs=$(soxi -D "$T/rec.wav")
check "the recording holds 12 s ($secs)" awk -v s="$secs" 'BEGIN { exit !(s > 11.9 && s < 12.1) }'
"$BIN_DIR/hifi-speaker-skew" --json --min-corr 0.3 "$T/rec.wav" >"$T/skew.json" 2>/dev/null || true
slope() {  # the change of skew per second between the first and the last 2 s
  jq -r '[.windows[] | select(.status == "compared")] as $w
    | ([$w[] | select(.start_ms < 2500)]) as $a | ([$w[] | select(.start_ms >= 9500)]) as $b
    | if ($a | length) == 0 or ($b | length) == 0 then "none" else
      ((($b | map(.skew_ms) | add / length) - ($a | map(.skew_ms) | add / length))
        / ((($b | map(.start_ms) | add / length) - ($a | map(.start_ms) | add / length)) / 1000)) end' "$T/skew.json"
}
S=$(slope)
log "  skew (right - left) moves by $S ms a second"
check "the fast card pulls ahead by 0.4 ms a second" awk -v s="$S" 'BEGIN { exit !(s != "none" && s < -0.3 && s > -0.5) }'

RC=0
"$CARD" --left "$T/left.fifo" --right "$T/right.fifo" --out "$T/x.wav" --left-ppm lots 2>"$T/bad.err" || RC=$?
check "a bad number: exit 2" eq "$RC" 2
check "  with a message" grep -q -- "--left-ppm needs a number" "$T/bad.err"
RC=0
"$CARD" --left "$T/clicks.raw" --right "$T/right.fifo" --out "$T/x.wav" 2>"$T/nofifo.err" || RC=$?
check "a file that is not a FIFO: exit 1" eq "$RC" 1
check "  with a message" grep -q "is not a FIFO" "$T/nofifo.err"

finish
