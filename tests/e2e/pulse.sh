# shellcheck shell=bash
# A private PulseAudio daemon that records what two listeners play, one in
# each channel, for measuring their skew at the speaker (sourced, not run;
# by tests/e2e/speaker_e2e_test.sh, tests/e2e/speaker_skew_tool_test.sh and
# bench/speaker_bench.sh). Needs pulseaudio, pactl and parec
# (scripts/setup test installs them), sox and awk for click_train.
#
#   start_pulse DIR    starts the daemon; everything it keeps is in DIR
#   pulse_record FILE  records the mix to FILE (WAV, 48 kHz, stereo, s16)
#   pulse_stop_record  stops that recording and closes its file
#   pulse_drift_record BIN_DIR FILE LEFT_PPM RIGHT_PPM
#                      records instead two sound cards whose clocks drift
#   plays_into SINK    a stream plays into SINK (a drift card's silent
#                      keep-alive stream, which pulse_stop_record stops, aside)
#   click_train OUT SECONDS RATE CHANNELS SEED   a test song with sharp features
#
# The sinks: hifi_out, a null sink (48 kHz stereo) whose monitor is what
# pulse_record records; hifi_left and hifi_right, remap sinks that send
# everything played into them (both channels) to the left, respectively the
# right, channel of hifi_out. A player started with PULSE_SINK=hifi_left is
# heard on the left only. The mix of both is taken in one render of the
# null sink, so the offset between the channels is the skew between the two
# players as the audio stack plays them.
#
# start_pulse exports PULSE_SERVER (the daemon's socket), PULSE_COOKIE and
# PULSE_CLIENTCONFIG (no autospawn) so that every client started afterwards
# talks to this daemon and nothing touches a user's or the system's one.
# (pulse_drift_record adds two sinks whose sound cards run on clocks of
# their own: see there.) start_pulse sets PULSE_PID, and adds it to E2E_PIDS when that array exists (the
# e2e tests' cleanup); the caller of the benchmarks stops it itself.

# need_pulse: the daemon and client tools are on PATH. When one is missing,
# missing_prerequisite (tests/e2e/lib.sh) is called when defined (skip or
# fail the test), else it fails with a message.
need_pulse() {
  local tool
  for tool in pulseaudio pactl parec; do
    command -v "$tool" >/dev/null && continue
    if declare -F missing_prerequisite >/dev/null; then
      missing_prerequisite "$tool"
    fi
    echo "$tool is not installed (scripts/setup test installs it)" >&2
    return 1
  done
}

# start_pulse DIR: starts the daemon (its socket, state and log in DIR) and
# waits up to 20 s for it to answer `pactl info` with all three sinks loaded.
# Fails, with the daemon's log on stderr, when it does not.
start_pulse() {
  local dir=$1
  need_pulse || return 1
  mkdir -p "$dir/home" "$dir/run" "$dir/state"
  chmod 700 "$dir/run"
  cat >"$dir/hifi.pa" <<EOF
load-module module-native-protocol-unix socket=$dir/native auth-anonymous=1
load-module module-null-sink sink_name=hifi_out format=s16le rate=48000 channels=2 channel_map=front-left,front-right
load-module module-remap-sink sink_name=hifi_left master=hifi_out channels=2 channel_map=front-left,front-right master_channel_map=front-left,front-left remix=no
load-module module-remap-sink sink_name=hifi_right master=hifi_out channels=2 channel_map=front-left,front-right master_channel_map=front-right,front-right remix=no
set-default-sink hifi_out
EOF
  printf 'autospawn = no\n' >"$dir/client.conf"
  HOME="$dir/home" XDG_RUNTIME_DIR="$dir/run" PULSE_RUNTIME_PATH="$dir/run" PULSE_STATE_PATH="$dir/state" \
    pulseaudio -n -F "$dir/hifi.pa" --daemonize=no --system=false --exit-idle-time=-1 --disallow-exit \
    --use-pid-file=no --disallow-module-loading=no --log-target=stderr >"$dir/pulse.log" 2>&1 &
  PULSE_PID=$!
  PULSE_DIR=$dir
  if declare -p E2E_PIDS >/dev/null 2>&1; then E2E_PIDS+=("$PULSE_PID"); fi
  export PULSE_SERVER="unix:$dir/native"
  export PULSE_COOKIE="$dir/cookie"
  export PULSE_CLIENTCONFIG="$dir/client.conf"
  local deadline=$((SECONDS + 20))
  until pulse_ready; do
    if ! kill -0 "$PULSE_PID" 2>/dev/null || ((SECONDS >= deadline)); then
      cat "$dir/pulse.log" >&2
      echo "PulseAudio did not start (log above)" >&2
      return 1
    fi
    sleep 0.05
  done
}

# pulse_ready: the daemon answers and has the three sinks.
pulse_ready() {
  pactl info >/dev/null 2>&1 || return 1
  local sinks
  sinks=$(pactl list short sinks 2>/dev/null | cut -f2)
  grep -qx hifi_out <<<"$sinks" && grep -qx hifi_left <<<"$sinks" && grep -qx hifi_right <<<"$sinks"
}

# pulse_record FILE: records hifi_out's monitor to FILE in the background
# (parec, s16le 48 kHz stereo; 20 ms fragments, so that stopping it loses
# almost nothing) and waits up to 10 s for audio to arrive in the file.
# Sets PULSE_RECORD_PID (also added to E2E_PIDS when that exists). Call it
# in the current shell, not in $(...), so that pulse_stop_record can wait
# for it.
pulse_record() {
  PULSE_RECORD_FILE=$1
  parec -d hifi_out.monitor --file-format=wav --format=s16le --rate=48000 --channels=2 \
    --latency-msec=20 "$PULSE_RECORD_FILE" >"$PULSE_RECORD_FILE.log" 2>&1 &
  PULSE_RECORD_PID=$!
  await_recording parec
}

# await_recording WHAT: waits up to 10 s for PULSE_RECORD_PID (WHAT names
# it in the message) to have put a header and at least 100 ms of audio in
# PULSE_RECORD_FILE; adds it to E2E_PIDS when that exists. Fails, with its
# log ($PULSE_RECORD_FILE.log) on stderr, when it does not.
await_recording() {
  if declare -p E2E_PIDS >/dev/null 2>&1; then E2E_PIDS+=("$PULSE_RECORD_PID"); fi
  local deadline=$((SECONDS + 10))
  until (($(recorded_bytes) > 44 + 19200)); do
    if ! kill -0 "$PULSE_RECORD_PID" 2>/dev/null || ((SECONDS >= deadline)); then
      cat "$PULSE_RECORD_FILE.log" >&2
      echo "$1 did not record (log above)" >&2
      return 1
    fi
    sleep 0.05
  done
}

# pulse_drift_record BIN_DIR FILE LEFT_PPM RIGHT_PPM: two more sinks,
# hifi_card_left and hifi_card_right (PulseAudio pipe sinks, 48 kHz stereo
# s16le, loaded on the first call), each the whole of a sound card whose
# sample clock runs LEFT_PPM, respectively RIGHT_PPM, parts per million
# fast (negative: slow) against the system clock: hifi-drift-card (in
# BIN_DIR) plays their pipes at those rates, as the cards' DMA would, and
# PulseAudio's timing reports (read index, the pipe's fill as the sink's
# latency) show the drift as they would a real card's. What the cards play
# is recorded to FILE on the system clock's timeline, left card left, right
# card right, as pulse_record records the null sink: recorded_ms and
# pulse_stop_record work on it. PULSE_DRIFT_RIGHT_ARGS, when set, is added to
# the right pipe sink's module arguments (a test's fault:
# use_system_clock_for_timing=yes hides that card's clock from PulseAudio).
pulse_drift_record() {
  local bin_dir=$1 file=$2 left_ppm=$3 right_ppm=$4 side
  for side in left right; do
    pactl list short sinks | cut -f2 | grep -qx "hifi_card_$side" && continue
    local extra=""
    [[ "$side" == right ]] && extra=${PULSE_DRIFT_RIGHT_ARGS:-}
    # shellcheck disable=SC2086 # extra holds module arguments
    pactl load-module module-pipe-sink sink_name="hifi_card_$side" file="$PULSE_DIR/card_$side.fifo" \
      format=s16le rate=48000 channels=2 channel_map=front-left,front-right $extra >/dev/null || return 1
  done
  # A card's sink in PulseAudio runs on a real-time thread and keeps playing
  # (silence) while nothing plays into it; a pipe sink does neither by
  # itself. Its thread gets SCHED_RR at priority 5 (what the daemon gives
  # the null sink's here; without the right to, it stays as it is), and once
  # the cards run, a silent stream (named keep-alive, which plays_into
  # ignores) plays into each card until pulse_stop_record.
  local tid
  for tid in $(ps -L -o tid=,comm= -p "$PULSE_PID" | awk '$2 == "pipe-sink" { print $1 }'); do
    chrt -r -p 5 "$tid" >/dev/null 2>&1 || true
  done
  PULSE_RECORD_FILE=$file
  "$bin_dir/hifi-drift-card" --left "$PULSE_DIR/card_left.fifo" --left-ppm "$left_ppm" \
    --right "$PULSE_DIR/card_right.fifo" --right-ppm "$right_ppm" --out "$file" >"$file.log" 2>&1 &
  PULSE_RECORD_PID=$!
  await_recording hifi-drift-card || return 1
  PULSE_KEEPALIVE_PIDS=()
  for side in left right; do
    pacat --playback --device="hifi_card_$side" --raw --format=s16le --rate=48000 --channels=2 \
      --stream-name=keep-alive </dev/zero >/dev/null 2>&1 &
    PULSE_KEEPALIVE_PIDS+=($!)
    if declare -p E2E_PIDS >/dev/null 2>&1; then E2E_PIDS+=("$!"); fi
  done
  wait_for_keepalives
}

# sink_inputs_on SINK: the names (media.name) of the streams playing into
# PulseAudio sink SINK, one a line.
sink_inputs_on() {
  local index
  index=$(pactl list short sinks | awk -v s="$1" '$2 == s { print $1 }')
  [[ -n "$index" ]] || return 0
  LC_ALL=C pactl list sink-inputs | awk -v i="$index" '
    /^Sink Input #/ { sink = ""; next }
    /^[ \t]*Sink: / { sink = $2; next }
    /^[ \t]*media.name = / && sink == i { sub(/^[ \t]*media.name = "/, ""); sub(/"$/, ""); print }'
}

# wait_for_keepalives: both cards' keep-alive streams play (up to 10 s).
wait_for_keepalives() {
  local deadline=$((SECONDS + 10)) side
  for side in left right; do
    until sink_inputs_on "hifi_card_$side" | grep -qx keep-alive; do
      if ((SECONDS >= deadline)); then
        echo "the keep-alive stream of hifi_card_$side did not start" >&2
        return 1
      fi
      sleep 0.05
    done
  done
}

# pulse_listen BIN_DIR ROOM DIR NAME SINK [WRAPPER...]: starts `hifi listen
# ROOM --sink pulse` (BIN_DIR/hifi, under WRAPPER when given) playing into
# PulseAudio sink SINK, its output in DIR/NAME.out and its sync log in
# DIR/NAME.log; sets NAME_PID and adds it to E2E_PIDS.
pulse_listen() {
  local bin_dir=$1 room=$2 dir=$3 name=$4 sink=$5
  shift 5
  PULSE_SINK=$sink "$@" "$bin_dir/hifi" listen "$room" --sink pulse --sync-log "$dir/$name.log" >"$dir/$name.out" 2>&1 </dev/null &
  E2E_PIDS+=("$!")
  eval "${name}_PID=$!"
}

# recording_mark: MARK = how much audio the recording holds now (ms);
# played_since_mark MS: it has grown by more than MS since. The recorder's
# clock paces a session that waits on them.
recording_mark() { MARK=$(recorded_ms); }
played_since_mark() { recorded_past $((MARK + $1)); }

# show_skew_windows FILE: every window of a hifi-speaker-skew --json report,
# one a line on stderr (what a failed check looks at).
show_skew_windows() {
  jq -r '.windows[] | "    \(.start_ms)  \(.status)  skew \(.skew_ms)  corr \(.corr)  L \(.left_dbfs)  R \(.right_dbfs)"' "$1" >&2
}

# plays_into SINK: a stream plays into PulseAudio sink SINK (other than a
# card's keep-alive stream).
plays_into() {
  sink_inputs_on "$1" | grep -qvx keep-alive
}

# recorded_bytes: the size of the recording so far (0 before it exists).
recorded_bytes() { stat -c %s "$PULSE_RECORD_FILE" 2>/dev/null || echo 0; }
# recorded_ms: roughly how much audio the recording holds (192000 bytes/s).
recorded_ms() { echo $((($(recorded_bytes) - 44) / 192)); }
# recorded_past MS: the recording holds more than MS of audio.
recorded_past() { (($(recorded_ms) > $1)); }

# pulse_stop_record: stops the recording (SIGINT: parec, or
# hifi-drift-card, writes the WAV header's sizes and exits) and waits up to 10 s for it to end.
pulse_stop_record() {
  local pid=$PULSE_RECORD_PID deadline=$((SECONDS + 10))
  [[ -n "$pid" ]] || return 0
  kill -INT "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.05
  done
  wait "$pid" 2>/dev/null || true
  PULSE_RECORD_PID=""
  if [[ -n "${PULSE_KEEPALIVE_PIDS[*]:-}" ]]; then
    kill "${PULSE_KEEPALIVE_PIDS[@]}" 2>/dev/null || true
    wait "${PULSE_KEEPALIVE_PIDS[@]}" 2>/dev/null || true
  fi
  PULSE_KEEPALIVE_PIDS=()
}

# click_train OUT SECONDS RATE CHANNELS SEED: writes a test song to OUT (its
# format from the extension, 16-bit): a quiet 330 Hz tone (-33 dBFS) under
# clicks, 4 ms bursts of Hann-windowed white noise (peak 0.6), spaced
# 70..230 ms apart at random. Every burst differs and the spacing is
# irregular, so two copies of it line up at one lag only, sharply, and every
# 500 ms holds at least two clicks. CHANNELS 1 or 2 (the same in both). The
# same SEED gives the same song.
click_train() {
  local out=$1 secs=$2 rate=$3 ch=$4 seed=$5
  awk -v secs="$secs" -v rate="$rate" -v ch="$ch" -v seed="$seed" 'BEGIN {
    srand(seed); n = secs * rate; burst = int(0.004 * rate); pi = atan2(0, -1)
    printf "; Sample Rate %d\n; Channels %d\n", rate, ch
    next_at = int(0.05 * rate); left = 0
    for (i = 0; i < n; i++) {
      v = 0.03 * sin(2 * pi * 330 * i / rate)
      if (i == next_at) { left = burst; next_at += int((0.07 + 0.16 * rand()) * rate) }
      if (left > 0) { w = 0.5 - 0.5 * cos(2 * pi * (burst - left) / burst); v += 0.6 * w * (2 * rand() - 1); left-- }
      if (ch == 2) printf "0 %.6f %.6f\n", v, v; else printf "0 %.6f\n", v
    }
  }' >"$out.dat"
  sox "$out.dat" -b 16 "$out"
  rm -f "$out.dat"
}
