#!/usr/bin/env bash
# hifi-speaker-skew on recordings made here with sox, whose skew is known:
#  - the right channel is the left one delayed by 72 samples (1.5 ms at
#    48 kHz): the tool reports +1.5 ms in every window, within 0.03 ms;
#  - channels swapped: -1.5 ms (the sign says which listener is late);
#  - delayed by 10.5 samples (21 samples at 96 kHz, then resampled to
#    48 kHz): 0.21875 ms, within 0.03 ms (sub-sample interpolation);
#  - one channel silent: no window is compared (exit 3);
#  - a steady tone, the same in both channels: every window is unmatched,
#    because it correlates equally at every period (exit 3);
#  - a file that is not a WAV, and a mono WAV: exit 2 with a message.
# Usage: speaker_skew_tool_test.sh BUILD_DIR/src   (holding hifi-speaker-skew)
set -euo pipefail
BIN_DIR=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
source "$HERE/pulse.sh"
need_tools sox jq
SKEW="$BIN_DIR/hifi-speaker-skew"
T=$E2E_TMP

# The click train of the e2e test (mono), at 48 and 96 kHz.
click_train "$T/m48.wav" 20 48000 1 7
click_train "$T/m96.wav" 20 96000 1 7

# run_tool NAME FILE [ARGS...]: the tool's JSON in $T/NAME.json, its exit
# status in RC, its stderr in $T/NAME.err.
run_tool() {
  local name=$1
  shift
  RC=0
  "$SKEW" --json "$@" >"$T/$name.json" 2>"$T/$name.err" || RC=$?
}
summary() { jq -c '{compared, silent, unmatched, p50_ms, max_ms, mean_ms}' "$T/$1.json"; }
# within NAME WANT_MS TOL_MS: every compared window's skew is WANT_MS +- TOL_MS.
within() {
  jqe --argjson want "$2" --argjson tol "$3" '
    [.windows[] | select(.status == "compared") | .skew_ms - $want | fabs] | max <= $tol' "$T/$1.json" >/dev/null
}

sox "$T/m48.wav" -b 16 "$T/late72.wav" remix 1 1 delay 0 72s
run_tool late72 "$T/late72.wav"
log "  right 72 samples late: $(summary late72)"
check "72 samples late: exit 0" eq "$RC" 0
check "72 samples late: every window with signal is compared" jqe '.compared >= 35 and .unmatched == 0' "$T/late72.json"
check "72 samples late: +1.5 ms within 0.03 ms" within late72 1.5 0.03

sox "$T/late72.wav" -b 16 "$T/early72.wav" remix 2 1
run_tool early72 "$T/early72.wav"
log "  left 72 samples late: $(summary early72)"
check "channels swapped: -1.5 ms within 0.03 ms" within early72 -1.5 0.03
check "channels swapped: the mean is negative" jqe '.mean_ms < -1.4' "$T/early72.json"

sox "$T/m96.wav" -b 16 "$T/late10_5.wav" remix 1 1 delay 0 21s rate -v 48000
run_tool late10_5 "$T/late10_5.wav"
log "  right 10.5 samples late: $(summary late10_5)"
check "10.5 samples late: exit 0" eq "$RC" 0
check "10.5 samples late: every window with signal is compared" jqe '.compared >= 35 and .unmatched == 0' "$T/late10_5.json"
check "10.5 samples late: 0.21875 ms within 0.03 ms" within late10_5 0.21875 0.03
check "p50 and max agree" jqe '(.p50_ms - 0.21875 | fabs) < 0.03 and (.max_ms - 0.21875 | fabs) < 0.03' "$T/late10_5.json"

sox "$T/m48.wav" -b 16 "$T/one_silent.wav" remix 1 0
run_tool one_silent "$T/one_silent.wav"
log "  one channel silent: $(summary one_silent)"
check "one channel silent: exit 3" eq "$RC" 3
check "one channel silent: no window compared, all silent" jqe '.compared == 0 and .silent == .windows_total and .p50_ms == null' "$T/one_silent.json"

sox -n -r 48000 -c 2 -b 16 "$T/tone.wav" synth 10 sine 330 vol 0.5
run_tool tone "$T/tone.wav"
log "  steady tone: $(summary tone)"
check "steady tone: exit 3" eq "$RC" 3
check "steady tone: every window unmatched" jqe '.compared == 0 and .unmatched == .windows_total and .windows_total > 0' "$T/tone.json"

# Text output: the summary line.
"$SKEW" "$T/late72.wav" >"$T/late72.txt"
check "text output has the summary" grep -q "p50 1.5000 ms" "$T/late72.txt"

echo "not audio" >"$T/text.wav"
run_tool text "$T/text.wav"
check "not a WAV: exit 2" eq "$RC" 2
check "not a WAV: says so" grep -q "not a WAV file" "$T/text.err"
run_tool mono "$T/m48.wav"
check "a mono WAV: exit 2" eq "$RC" 2
check "a mono WAV: says it needs 2 channels" grep -q "2 needed" "$T/mono.err"
run_tool bad_option --window-ms x "$T/late72.wav"
check "a bad option: exit 2" eq "$RC" 2

finish
