#!/usr/bin/env bash
# Synchronized playback measured at the speaker: how far apart two listeners
# are in what comes out of the audio stack (PulseAudio), for the pairs
# CLI-CLI, browser-browser and CLI-browser.
#
# One hifi-server (fresh temp data dir, free loopback port); three generated
# 60 s songs (48 kHz stereo FLAC click trains over a quiet tone, each with
# its own clicks: tests/e2e/pulse.sh's click_train) queued in a room with
# repeat "all". A private PulseAudio daemon (tests/e2e/pulse.sh) has a null
# sink whose monitor is recorded, and two remap sinks in front of it:
# listener A plays into the left channel, listener B into the right one.
# For each pair:
#   - starts A and B, each with its own PULSE_SINK: a CLI listener is
#     `hifi listen ROOM --sink pulse`; a browser listener is Debian's
#     Chromium, HEADED under Xvfb (headless Chromium plays no audio), driven
#     by bench/speaker_browser.mjs: it signs in, opens the room and presses
#     Listen. It waits until both are ready;
#   - records the null sink's monitor while a scripted session runs for
#     SPEAKER_BENCH_SECONDS: `hifi play`, then one command every
#     SPEAKER_BENCH_INTERVAL seconds, drawn with a fixed seed: a paused room
#     gets `play`; a playing one `seek` (to a random second in 2..50, 40%),
#     `skip` (30%) or `pause` (30%); songs also change at their end;
#   - runs hifi-speaker-skew on the recording (500 ms windows, lags up to
#     +-200 ms, so that a gross error is measured rather than left
#     unmatched; a correlation peak of 0.3 suffices, since a skew that moves
#     within a window lowers it) and reports windows compared, p50/p99/max
#     of |skew|, the mean of B - A, and how long only one listener was
#     heard. It also runs hifi-sync-report on the two players' own logs
#     (a CLI's --sync-log; a browser's view, polled every
#     SPEAKER_BENCH_POLL_MS, as the same lines): what the players believe,
#     next to what was heard. Where the two differ, the audio stack's
#     reported latency is off by the difference (docs/benchmarks.md).
#
# Usage: bench/speaker_bench.sh
# Environment:
#   SPEAKER_BENCH_SECONDS   seconds of scripted session per pair (default 180)
#   SPEAKER_BENCH_INTERVAL  seconds between commands (default 12)
#   SPEAKER_BENCH_SEED      seed of the command draw (default 42)
#   SPEAKER_BENCH_PAIRS     pairs to run (default "cli-cli browser-browser cli-browser")
#   SPEAKER_BENCH_PROXY     "DELAY:JITTER[:STALL_EVERY_S:STALL_MS]" (ms): each
#                           listener reaches the server through its own
#                           hifi-delay-proxy with these settings; skipped,
#                           with a message, when hifi-delay-proxy is not built
#   SPEAKER_BENCH_DRIFT_PPM P: the listeners play on sound cards whose clocks
#                           drift: A on one P ppm slow, B on one P ppm fast
#                           (PulseAudio pipe sinks played by hifi-drift-card
#                           at those rates, which records them on the system
#                           clock's timeline in place of the null sink's
#                           monitor; tests/e2e/pulse.sh's pulse_drift_record)
#   SPEAKER_BENCH_BUILD_DIR build directory (default build/bench)
#   SPEAKER_BENCH_SKIP_BUILD=1  use the build directory as it is
#   SPEAKER_BENCH_KEEP=1    keep the temp dir (recordings, reports, logs)
#   SPEAKER_BENCH_POLL_MS   how often a browser listener logs its player's view (default 100)
#   BENCH_RESULTS           a file: append the headline rows for bench/all to it
# Nothing is pinned: the listeners are not a load generator.
# Needs sox, jq, curl, pulseaudio, pactl, parec (scripts/setup test); for
# the browser pairs Chromium, Node.js with tests/browser's npm packages
# (npm ci is run there when they are missing) and Xvfb (the xvfb package is
# installed when missing).
# Everything it starts is stopped on exit; the temp dir is removed.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=$(realpath -m "${SPEAKER_BENCH_BUILD_DIR:-$ROOT/build/bench}")

RUN_SECONDS=${SPEAKER_BENCH_SECONDS:-180}
INTERVAL=${SPEAKER_BENCH_INTERVAL:-12}
SEED=${SPEAKER_BENCH_SEED:-42}
PAIRS=${SPEAKER_BENCH_PAIRS:-"cli-cli browser-browser cli-browser"}
export SPEAKER_BENCH_POLL_MS=${SPEAKER_BENCH_POLL_MS:-100}
PROXY=${SPEAKER_BENCH_PROXY:-}
DRIFT_PPM=${SPEAKER_BENCH_DRIFT_PPM:-}
SONG_SECONDS=60
PASSWORD="bench-password-1"

log() { printf '[speaker-bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=SCRIPTDIR/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=SCRIPTDIR/../tests/e2e/pulse.sh
source "$ROOT/tests/e2e/pulse.sh"

[[ "$RUN_SECONDS" =~ ^[1-9][0-9]*$ ]] || die "SPEAKER_BENCH_SECONDS must be a positive integer"
[[ "$INTERVAL" =~ ^[1-9][0-9]*$ ]] || die "SPEAKER_BENCH_INTERVAL must be a positive integer"
((RUN_SECONDS > INTERVAL)) || die "SPEAKER_BENCH_SECONDS must be larger than SPEAKER_BENCH_INTERVAL"
[[ -z "$DRIFT_PPM" || ("$DRIFT_PPM" =~ ^[0-9]{1,5}$ && DRIFT_PPM -le 100000) ]] ||
  die "SPEAKER_BENCH_DRIFT_PPM must be a whole number of ppm, at most 100000"
[[ -n "${EPOCHREALTIME:-}" ]] || die "bash 5 or later is needed (\$EPOCHREALTIME)"
NEED_BROWSER=0
for pair in $PAIRS; do
  case "$pair" in
    cli-cli) ;;
    browser-browser | cli-browser) NEED_BROWSER=1 ;;
    *) die "SPEAKER_BENCH_PAIRS: unknown pair '$pair' (cli-cli, browser-browser, cli-browser)" ;;
  esac
done
PROXY_ARGS=()
if [[ -n "$PROXY" ]]; then
  IFS=: read -r p_delay p_jitter p_every p_stall <<<"$PROXY"
  for v in "$p_delay" "$p_jitter" ${p_every:+"$p_every"} ${p_stall:+"$p_stall"}; do
    [[ "$v" =~ ^[0-9]+$ ]] || die "SPEAKER_BENCH_PROXY must look like DELAY:JITTER[:STALL_EVERY_S:STALL_MS] (got '$PROXY')"
  done
  PROXY_ARGS=(--delay-ms "$p_delay" --jitter-ms "$p_jitter")
  if [[ -n "${p_every:-}" ]]; then
    [[ -n "${p_stall:-}" ]] || die "SPEAKER_BENCH_PROXY: STALL_EVERY_S needs STALL_MS"
    PROXY_ARGS+=(--stall-every-s "$p_every" --stall-ms "$p_stall")
  fi
fi
for tool in sox jq curl awk timeout; do
  command -v "$tool" >/dev/null || die "$tool is not installed (scripts/setup test)"
done
need_pulse || die "PulseAudio's daemon and tools are needed (scripts/setup test)"

# --- browser prerequisites -------------------------------------------------------
if ((NEED_BROWSER)); then
  if ! command -v chromium >/dev/null || ! command -v node >/dev/null; then
    log "installing Chromium and Node.js (scripts/setup browser)"
    scripts/setup browser
  fi
  if ! command -v Xvfb >/dev/null; then
    log "installing xvfb (headed Chromium needs a display)"
    SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO=sudo
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends xvfb >/dev/null
  fi
  if [[ ! -d tests/browser/node_modules/playwright-core ]]; then
    log "installing tests/browser's npm packages (npm ci)"
    (cd tests/browser && npm ci --no-audit --no-fund >/dev/null)
  fi
fi

# --- build -----------------------------------------------------------------------
TARGETS=(hifi-server hifi hifi-speaker-skew hifi-sync-report)
if [[ -n "$DRIFT_PPM" ]]; then TARGETS+=(hifi-drift-card); fi
if [[ "${SPEAKER_BENCH_SKIP_BUILD:-0}" != 1 ]]; then
  log "building ${TARGETS[*]} (Release, $BUILD_DIR)"
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHIFI_TESTS=OFF >/dev/null
  cmake --build "$BUILD_DIR" -j2 --target "${TARGETS[@]}" >/dev/null
  if [[ -n "$PROXY" ]]; then
    cmake --build "$BUILD_DIR" -j2 --target hifi-delay-proxy >/dev/null 2>&1 ||
      log "hifi-delay-proxy does not build (yet)"
  fi
fi
BIN="$BUILD_DIR/src"
for b in "${TARGETS[@]}"; do
  [[ "$b" == hifi-sync-report ]] && continue
  [[ -x "$BIN/$b" ]] || die "$BIN/$b not built"
done
if [[ -n "$PROXY" && ! -x "$BIN/hifi-delay-proxy" ]]; then
  log "SPEAKER_BENCH_PROXY=$PROXY: $BIN/hifi-delay-proxy is not built; running without the proxy"
  PROXY=""
fi

# --- temp dir and cleanup ----------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/hifi-speaker-bench.XXXXXX")
export XDG_CONFIG_HOME="$TMP/config"
SERVER_PID=""
XVFB_PID=""
PULSE_PID=""
PULSE_RECORD_PID=""
LISTENER_PIDS=()
PROXY_PIDS=()

stop_all() {
  local pid
  for pid in "$@"; do stop_pid "$pid"; done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_all "${LISTENER_PIDS[@]:-}" "${PROXY_PIDS[@]:-}"
  stop_pid "$PULSE_RECORD_PID" INT
  stop_all "$PULSE_PID" "$XVFB_PID" "$SERVER_PID"
  if [[ "${SPEAKER_BENCH_KEEP:-0}" == 1 ]]; then
    log "kept $TMP"
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
exit_traps cleanup

hifi() { timeout -k 5 30 "$BIN/hifi" "$@"; }

# --- audio and display ---------------------------------------------------------------
start_pulse "$TMP/pulse" || die "PulseAudio did not start"
log "PulseAudio on $PULSE_SERVER (pid $PULSE_PID)"
if ((NEED_BROWSER)); then
  display=90
  while [[ -e "/tmp/.X11-unix/X$display" || -e "/tmp/.X$display-lock" ]]; do display=$((display + 1)); done
  Xvfb ":$display" -screen 0 1280x1024x24 -nolisten tcp >"$TMP/xvfb.log" 2>&1 &
  XVFB_PID=$!
  has_display() { [[ -S "/tmp/.X11-unix/X$display" ]]; }
  wait_until 20 has_display || { cat "$TMP/xvfb.log" >&2; die "Xvfb :$display did not start"; }
  export DISPLAY=":$display"
  log "Xvfb on $DISPLAY (pid $XVFB_PID)"
fi

# --- server, songs, room ---------------------------------------------------------------
"$BIN/hifi-server" --listen 127.0.0.1:0 --data-dir "$TMP/data" --web-root "$ROOT/web" --shutdown-grace 1s \
  >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
has_port() { [[ -n "$(listening_port "$TMP/server.log")" ]]; }
wait_until 30 has_port || { cat "$TMP/server.log" >&2; die "hifi-server did not start"; }
PORT=$(listening_port "$TMP/server.log")
BASE="http://127.0.0.1:$PORT"
log "hifi-server on $BASE (pid $SERVER_PID)"

mkdir -p "$TMP/songs"
for i in 1 2 3; do
  click_train "$TMP/songs/clicks$i.flac" "$SONG_SECONDS" 48000 2 "$((SEED + i))"
done
echo "$PASSWORD" | hifi --server "$BASE" register --username bench --password-stdin >/dev/null
hifi --json upload "$TMP/songs" >"$TMP/upload.json" 2>"$TMP/upload.err" || { cat "$TMP/upload.err" >&2; die "upload failed"; }
SONG_IDS=()
for i in 1 2 3; do
  id=$(hifi --json songs "clicks$i" | jq -r '.[0].id // empty')
  [[ -n "$id" ]] || die "clicks$i.flac is not in the library"
  SONG_IDS+=("$id")
done
ROOM=$(hifi --json rooms create "speaker bench" | jq -er .id)
hifi queue "$ROOM" add "${SONG_IDS[@]}" >/dev/null
TOKEN=$(jq -er .token "$XDG_CONFIG_HOME/hifi/config.json")
set_repeat_all "$BASE" "$TOKEN" "$ROOM"
log "room $ROOM: 3 songs of ${SONG_SECONDS} s, repeat all"

# --- listeners ---------------------------------------------------------------------------
# server_for NAME: the URL listener NAME should use: the server, or a
# hifi-delay-proxy of its own in front of it (SPEAKER_BENCH_PROXY).
server_for() {
  local name=$1
  if [[ -z "$PROXY" ]]; then
    URL=$BASE
    return
  fi
  "$BIN/hifi-delay-proxy" --listen 127.0.0.1:0 --to "127.0.0.1:$PORT" "${PROXY_ARGS[@]}" \
    --port-file "$RUN/$name.proxy-port" >"$RUN/$name.proxy.log" 2>&1 &
  PROXY_PIDS+=("$!")
  has_port_file() { [[ -s "$RUN/$name.proxy-port" ]]; }
  wait_until 10 has_port_file || { cat "$RUN/$name.proxy.log" >&2; die "hifi-delay-proxy for $name did not start"; }
  URL="http://127.0.0.1:$(tr -dc 0-9 <"$RUN/$name.proxy-port")"
}

# start_listener NAME KIND SINK: KIND cli or browser, playing into SINK.
# Behind a proxy, a listener must not move to the server's own advertised
# address (the only cluster member): --no-spread.
start_listener() {
  local name=$1 kind=$2 sink=$3 spread=()
  server_for "$name"
  [[ -n "$PROXY" ]] && spread=(--no-spread)
  if [[ "$kind" == cli ]]; then
    PULSE_SINK=$sink "$BIN/hifi" --server "$URL" listen "$ROOM" --sink pulse --sync-log "$RUN/$name.log" \
      "${spread[@]}" >"$RUN/$name.out" 2>&1 </dev/null &
  else
    PULSE_SINK=$sink HIFI_BENCH_PASSWORD=$PASSWORD node "$ROOT/bench/speaker_browser.mjs" \
      --server "$URL" --user bench --room "$ROOM" "${spread[@]}" >"$RUN/$name.out" 2>"$RUN/$name.err" </dev/null &
  fi
  LISTENER_PIDS+=("$!")
}
listener_ready() {  # listener_ready NAME KIND
  if [[ "$2" == cli ]]; then grep -q "connected to" "$RUN/$1.out"; else grep -qx listening "$RUN/$1.out"; fi
}
# plays_into SINK (tests/e2e/pulse.sh): a stream plays into PulseAudio sink SINK.


send() {  # send TYPE [ARG]: a room command; appends "TYPE ARG" to $RUN/cmds.txt
  local type=$1 arg=${2:-} out
  case "$type" in
    seek) out=$(hifi --json seek "$ROOM" "$arg") ;;
    *) out=$(hifi --json "$type" "$ROOM") ;;
  esac
  echo "$type ${arg:--}" >>"$RUN/cmds.txt"
  PLAYING=$(jq -r .state.playing <<<"$out")
}

# run_pair PAIR: A on the left, B on the right; results in $RUN.
run_pair() {
  local pair=$1 kind_a kind_b
  kind_a=${pair%-*}
  kind_b=${pair#*-}
  RUN="$TMP/$pair"
  mkdir -p "$RUN"
  : >"$RUN/cmds.txt"
  hifi pause "$ROOM" >/dev/null
  hifi seek "$ROOM" 0 >/dev/null
  LISTENER_PIDS=()
  PROXY_PIDS=()
  local sink_a=hifi_left sink_b=hifi_right
  if [[ -n "$DRIFT_PPM" ]]; then
    sink_a=hifi_card_left
    sink_b=hifi_card_right
    # The cards' sinks must be there before a listener opens its stream;
    # they record from here on (silence until the listeners play).
    pulse_drift_record "$BIN" "$RUN/speaker.wav" "-$DRIFT_PPM" "$DRIFT_PPM" || die "$pair: the recording did not start"
  fi
  start_listener a "$kind_a" "$sink_a"
  start_listener b "$kind_b" "$sink_b"
  both_ready() { listener_ready a "$kind_a" && listener_ready b "$kind_b"; }
  if ! wait_until 90 both_ready; then
    tail -n 5 "$RUN"/a.* "$RUN"/b.* >&2 || true
    log "$pair: the listeners did not get ready within 90 s; skipping the pair"
    pulse_stop_record
    stop_all "${LISTENER_PIDS[@]}" "${PROXY_PIDS[@]:-}"
    echo "{\"pair\":\"$pair\",\"error\":\"listeners not ready\"}" >>"$TMP/results.jsonl"
    return
  fi
  if [[ -z "$DRIFT_PPM" ]]; then
    pulse_record "$RUN/speaker.wav" || die "$pair: the recording did not start"
  fi
  log "$pair: both listeners ready${DRIFT_PPM:+, on cards -$DRIFT_PPM and +$DRIFT_PPM ppm}; ${RUN_SECONDS} s session, a command every ${INTERVAL} s (load average $(cut -d' ' -f1-3 /proc/loadavg))"

  RANDOM=$SEED
  local t0 k=0 last
  t0=$(now_ms)
  last=$((RUN_SECONDS - INTERVAL))
  PLAYING=false
  while ((k * INTERVAL <= last)); do
    sleep_until "$(awk -v t0="$t0" -v s=$((k * INTERVAL)) 'BEGIN { printf "%.3f", t0 + s * 1000 }')"
    if [[ "$PLAYING" != true ]]; then
      send play
    else
      local r=$((RANDOM % 10))
      if ((r < 4)); then
        send seek $((2 + RANDOM % 49))
      elif ((r < 7)); then
        send skip
      else
        send pause
      fi
    fi
    if ((k == 0)) && ! wait_until 30 eval 'plays_into "$sink_a" && plays_into "$sink_b"'; then
      log "$pair: not both listeners play into PulseAudio"
    fi
    k=$((k + 1))
  done
  sleep_until "$(awk -v t0="$t0" -v s="$RUN_SECONDS" 'BEGIN { printf "%.3f", t0 + s * 1000 }')"
  if [[ -n "$DRIFT_PPM" ]]; then
    # The listeners first: a card that stops leaves its player's writes
    # waiting (3 s before they give up).
    stop_all "${LISTENER_PIDS[@]}" "${PROXY_PIDS[@]:-}"
    pulse_stop_record
    sed 's/^/  /' "$RUN/speaker.wav.log" >&2
  else
    pulse_stop_record
    stop_all "${LISTENER_PIDS[@]}" "${PROXY_PIDS[@]:-}"
  fi
  LISTENER_PIDS=()
  PROXY_PIDS=()
  hifi pause "$ROOM" >/dev/null

  local rc=0
  "$BIN/hifi-speaker-skew" --json --max-lag-ms 200 --min-corr 0.3 "$RUN/speaker.wav" >"$RUN/skew.json" 2>"$RUN/skew.err" || rc=$?
  if ((rc != 0 && rc != 3)); then
    cat "$RUN/skew.err" >&2
    echo "{\"pair\":\"$pair\",\"error\":\"hifi-speaker-skew exited with $rc\"}" >>"$TMP/results.jsonl"
    return
  fi
  # The players' own view: a browser's polled view as sync-log lines (at
  # local time localMs it heard positionMs of songId). Those come every
  # poll, and performance.now() is coarse (0.1 ms in Chromium): continuous
  # playback is taken more loosely then.
  local logs="null" continuity=()
  if [[ "$kind_a" == browser || "$kind_b" == browser ]]; then
    continuity=(--max-gap-ms "$((SPEAKER_BENCH_POLL_MS * 5 / 2))" --max-step-frames 12)
  fi
  local side kind
  for side in a b; do
    kind=$kind_a
    [[ "$side" == b ]] && kind=$kind_b
    [[ "$kind" == browser ]] || continue
    grep '^{' "$RUN/$side.out" | jq -r 'select(.positionMs != null and .songId != null and .localMs != null)
      | "\(.localMs) \(.songId) \((.positionMs * 48) | round) 48000 1"' >"$RUN/$side.log" || true
  done
  if [[ -x "$BIN/hifi-sync-report" ]]; then
    logs=$("$BIN/hifi-sync-report" --json "${continuity[@]}" "$RUN/a.log" "$RUN/b.log" 2>/dev/null || echo null)
  fi
  jq -c --arg pair "$pair" --arg cmds "$(awk '{ printf "%s%s", (NR > 1 ? " " : ""), $1 }' "$RUN/cmds.txt")" \
    --argjson logs "$logs" '
      .min_level_dbfs as $min | (.window_ms / 1000) as $len |
      {pair: $pair, commands: $cmds, seconds, compared, silent, unmatched, p50_ms, p99_ms, max_ms, mean_ms,
       only_a_s: ([.windows[] | select(.left_dbfs >= $min and .right_dbfs < -60)] | length * $len),
       only_b_s: ([.windows[] | select(.right_dbfs >= $min and .left_dbfs < -60)] | length * $len),
       logs: $logs}' "$RUN/skew.json" >>"$TMP/results.jsonl"
  log "$pair: $(jq -r '"\(.compared) windows compared; |skew| p50 \(.p50_ms) ms, p99 \(.p99_ms) ms, max \(.max_ms) ms"' "$RUN/skew.json")"
  if [[ "$kind_a" == browser || "$kind_b" == browser ]]; then
    local side
    for side in a b; do
      [[ -f "$RUN/$side.out" ]] && grep '^{' "$RUN/$side.out" | tail -n 1 |
        jq -r --arg s "$side" '"\($s): browser player view at the end: clock offset \(.clockOffsetMs // "?") ms, output latency \(.outputLatencyMs // "?") ms"' >&2 || true
    done
  fi
}

: >"$TMP/results.jsonl"
for pair in $PAIRS; do run_pair "$pair"; done

# --- report ----------------------------------------------------------------------------------
echo
echo "Synchronized playback at the speaker: listener A on the left channel, B on the right, through PulseAudio"
echo "${RUN_SECONDS} s session per pair, a command every ${INTERVAL} s (seed ${SEED})${PROXY:+; each listener behind hifi-delay-proxy $PROXY}${DRIFT_PPM:+; A on a card -$DRIFT_PPM ppm, B on one +$DRIFT_PPM ppm (hifi-drift-card)}"
echo
jq -r -s '
  def r(x): if x == null then "-" else (x * 1000 | round / 1000 | tostring) end;
  ["pair (A-B)", "windows compared/silent/unmatched", "|skew| p50", "p99", "max", "mean B-A", "only A/B heard (s)", "players'"'"' logs p50/p99/max", "logs mean B-A"],
  (.[] | if .error then [.pair, .error, "-", "-", "-", "-", "-", "-", "-"] else
    [.pair, "\(.compared)/\(.silent)/\(.unmatched)", r(.p50_ms), r(.p99_ms), r(.max_ms), r(.mean_ms),
     "\(.only_a_s)/\(.only_b_s)",
     (if .logs == null then "-" else "\(r(.logs.p50_ms))/\(r(.logs.p99_ms))/\(r(.logs.max_ms))" end),
     (if .logs == null or .logs.mean_ahead_ms == null then "-" else r(0 - .logs.mean_ahead_ms) end)] end)
  | @tsv' "$TMP/results.jsonl" | column -t -s $'\t'
echo "(ms; 500 ms windows of the recording, compared when both channels carry signal and their waveforms"
echo " correlate (peak >= 0.3); skew = B - A; 'only A/B heard': seconds of windows where one channel plays"
echo " and the other is silent, e.g. a listener that has not started or stopped; the players' logs: what"
echo " they believe they play, by hifi-sync-report; a browser's view polled every ${SPEAKER_BENCH_POLL_MS} ms)"
echo "commands: $(jq -r -s '.[0].commands // "-"' "$TMP/results.jsonl")"
echo
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), Linux $(uname -r); load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ "${SPEAKER_BENCH_KEEP:-0}" == 1 ]]; then echo "recordings and logs: $TMP"; fi

# Headline rows for bench/all (BENCH_RESULTS): |skew| p99 at the speaker per pair.
while read -r pair p99; do
  limit=""
  if [[ -z "$PROXY" ]]; then
    case "$pair" in cli-cli) limit=0.5 ;; *) limit=5 ;; esac
  elif [[ "$PROXY" == 20:10:10:200 && "$pair" == cli-cli ]]; then
    limit=1
  fi
  bench_result "sync at the speaker, |skew| p99, $pair (PulseAudio${PROXY:+, proxy $PROXY}${DRIFT_PPM:+, cards -/+$DRIFT_PPM ppm}, ${RUN_SECONDS} s)" "$p99" - ms \
    "${limit:+<= $limit ms}" "$([[ -n "$limit" ]] && bench_met "$p99" "<=" "$limit" || echo -)"
done < <(jq -r '"\(.pair) \(.p99_ms // "-")"' "$TMP/results.jsonl")
