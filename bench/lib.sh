# shellcheck shell=bash
# Shared helpers for the benchmark scripts in bench/ (sourced, not run).
# The script sourcing it defines log (a line on stderr) and die (log and
# exit 1) before calling run_room_fanout, wait_port or bench_pins.

# raise_open_files MIN: raises this shell's open-file limit to 65536 (the
# hard limit when that is lower); fails when it still ends below MIN.
raise_open_files() {
  local hard want=65536
  hard=$(ulimit -Hn)
  if [[ "$hard" != unlimited ]] && ((hard < want)); then want=$hard; fi
  ulimit -n "$want" 2>/dev/null || true
  (($(ulimit -n) >= $1))
}

# exit_traps FUNC: runs FUNC when the script exits; SIGINT and SIGTERM make
# it exit (130, 143), so FUNC runs then too. FUNC should start with
# `trap - EXIT INT TERM` and end with `exit "$rc"`.
exit_traps() {
  # shellcheck disable=SC2064  # FUNC's name, expanded now on purpose
  trap "$1" EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# wait_until SECONDS COMMAND...: runs COMMAND every $POLL_S seconds (default
# 0.05) until it succeeds; fails when SECONDS have passed first.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep "${POLL_S:-0.05}"
  done
}

# stop_pid PID [SIGNAL]: sends SIGNAL (default TERM), waits up to 5 s for the
# process to end, then SIGKILL; reaps it. An empty PID or a process that is
# gone already is fine.
stop_pid() {
  local pid=$1 sig=${2:-TERM}
  [[ -n "$pid" ]] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill "-$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# run_room_fanout OUT JSONL LABEL N [room_fanout args...]: runs $LOADGEN
# (bench/room_fanout) with N listeners, labelled LABEL: $SECONDS_PER_RUN s of
# commands every $INTERVAL_MS ms, $JOIN_TIMEOUT s allowed for the joins, under
# a time limit, under $PIN_CLIENT (bench_pins) when that is set; LOADGEN_PID
# holds its pid meanwhile, for the cleanup. FANOUT_ROOMS (default 1) goes into
# the error line written when there is no result. Its
# output goes to OUT and, but for the JSON result line, to stderr; the JSON
# line is appended to JSONL (an error line in its place when there is none).
run_room_fanout() {
  local out=$1 jsonl=$2 label=$3 n=$4 rc=0
  shift 4
  timeout -k 5 $((JOIN_TIMEOUT + SECONDS_PER_RUN + 60)) "${PIN_CLIENT[@]}" "$LOADGEN" --label "$label" --listeners "$n" \
    --seconds "$SECONDS_PER_RUN" --interval-ms "$INTERVAL_MS" --max-settle-s "$JOIN_TIMEOUT" \
    --handshake-timeout-s "$JOIN_TIMEOUT" --json "$@" >"$out" 2>&1 &
  LOADGEN_PID=$!
  wait "$LOADGEN_PID" || rc=$?
  LOADGEN_PID=""
  grep -v '^{' "$out" | sed 's/^/  /' >&2 || true
  if ! grep '^{' "$out" >>"$jsonl"; then
    log "$label N=$n: no result (exit $rc)"
    printf '{"label":"%s","listeners":%d,"rooms":%d,"error":"no result (exit %d)"}\n' "$label" "$n" "${FANOUT_ROOMS:-1}" "$rc" >>"$jsonl"
  fi
}

# now_ms: this machine's wall clock in ms, with 3 decimals, without a fork
# (needs bash 5: $EPOCHREALTIME).
now_ms() {
  local t=$EPOCHREALTIME
  local s=${t%[.,]*} u=${t#*[.,]}
  printf '%s%s.%s' "$s" "${u:0:3}" "${u:3:3}"
}

# sleep_until MS: sleeps until the local wall clock reaches MS.
sleep_until() {
  local s
  s=$(awk -v t="$1" -v n="$(now_ms)" 'BEGIN { d = (t - n) / 1000; if (d > 0) printf "%.3f", d; else print 0 }')
  sleep "$s"
}

# set_repeat_all BASE TOKEN ROOM: the room loops its queue (dies when refused).
set_repeat_all() {
  curl -sS --fail-with-body --max-time 30 -X POST "$1/api/v1/rooms/$3/commands" \
    -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
    -d '{"type":"repeat","mode":"all"}' | jq -e '.state.repeat == "all"' >/dev/null || die "could not set repeat all"
}

# listening_port LOG: the port of the first "listening on
# http://127.0.0.1:PORT" line in LOG; empty while there is none.
listening_port() { sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$1" | head -n1; }

# wait_port LOG PID NAME: prints listening_port LOG once there is one
# (polling for up to 10 s); dies, showing LOG, when process PID exits first
# or the time runs out.
wait_port() {
  local port=""
  for _ in $(seq 100); do
    port=$(listening_port "$1")
    [[ -n "$port" ]] && { echo "$port"; return 0; }
    kill -0 "$2" 2>/dev/null || { cat "$1" >&2; die "$3 exited"; }
    sleep 0.1
  done
  cat "$1" >&2
  die "$3 did not report its port"
}

# build_for_bench TARGET...: unless BENCH_SKIP_SETUP=1, installs what the
# benchmarks need (scripts/setup bench) and builds TARGETs in $BUILD_DIR
# (Release, no tests); then fails unless each is there.
build_for_bench() {
  if [[ "${BENCH_SKIP_SETUP:-0}" != 1 ]]; then
    scripts/setup bench
    cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHIFI_TESTS=OFF >/dev/null
    cmake --build "$BUILD_DIR" --target "$@" >/dev/null
  fi
  local target
  for target in "$@"; do
    [[ -x "$BUILD_DIR/src/$target" ]] || die "$BUILD_DIR/src/$target not built"
  done
}

# --- pinning and the summary rows of bench/all ----------------------------------

# bench_pins: from BENCH_SERVER_CPUS and BENCH_CLIENT_CPUS (taskset CPU
# lists, e.g. 0 and 1), sets PIN_SERVER and PIN_CLIENT to `taskset -c LIST`
# command prefixes, each empty when its variable is unset, and PINNING to a
# sentence saying what was pinned where. Dies when a list is not usable here.
# Nothing is pinned unless asked for: bench/all asks (server 0, clients 1).
bench_pins() {
  PIN_SERVER=()
  PIN_CLIENT=()
  local s=${BENCH_SERVER_CPUS:-} c=${BENCH_CLIENT_CPUS:-}
  if [[ -z "$s" && -z "$c" ]]; then
    PINNING="not pinned (BENCH_SERVER_CPUS, BENCH_CLIENT_CPUS unset): servers and clients share every core"
    return 0
  fi
  command -v taskset >/dev/null || die "BENCH_SERVER_CPUS/BENCH_CLIENT_CPUS need taskset (util-linux)"
  if [[ -n "$s" ]]; then
    taskset -c "$s" true 2>/dev/null || die "BENCH_SERVER_CPUS=$s: not a usable CPU list here"
    PIN_SERVER=(taskset -c "$s")
  fi
  if [[ -n "$c" ]]; then
    taskset -c "$c" true 2>/dev/null || die "BENCH_CLIENT_CPUS=$c: not a usable CPU list here"
    PIN_CLIENT=(taskset -c "$c")
  fi
  PINNING="servers on CPU ${s:-any}, clients and load generators on CPU ${c:-any} (taskset)"
}

# bench_pin_pid CPUS PID: moves every thread of running process PID onto
# CPUS (threads it starts later inherit that); no-op when CPUS is empty.
bench_pin_pid() {
  [[ -n "$1" && -n "$2" ]] || return 0
  taskset -a -p -c "$1" "$2" >/dev/null 2>&1 || true
}

# bench_met VALUE OP LIMIT: prints "met" when VALUE OP LIMIT holds (OP one
# of <= < >= >), "missed" when not, "-" when VALUE is not a number.
bench_met() {
  awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
    if (v !~ /^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/) { print "-"; exit }
    v += 0; l += 0
    ok = (op == "<=") ? v <= l : (op == "<") ? v < l : (op == ">=") ? v >= l : (op == ">") ? v > l : 0
    print ok ? "met" : "missed" }'
}

# bench_result MEASURE HIFI PEER UNIT GOAL MET: one row of bench/all's
# summary, appended to $BENCH_RESULTS when it is set (a no-op otherwise).
# MEASURE names the figure (which way is better belongs in it or in GOAL);
# HIFI is HiFi's value and PEER the peer's or the floor's in the same UNIT
# ("-" when there is none); the ratio HIFI/PEER is computed here; GOAL is the
# goal as text ("-": none set); MET is met, missed or "-". Tabs and newlines
# in the fields become spaces. The row starts with $BENCH_NAME (default: the
# script's name without _bench.sh).
bench_result() {
  [[ -n "${BENCH_RESULTS:-}" ]] || return 0
  local name=${BENCH_NAME:-$(basename "$0" .sh)} ratio f out=()
  name=${name%_bench}
  ratio=$(awk -v h="$2" -v p="$3" 'BEGIN {
    num = "^-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?$"
    if (h ~ num && p ~ num && p + 0 != 0) printf "%.2f", h / p; else print "-" }')
  for f in "$name" "$1" "${2:--}" "${3:--}" "${4:--}" "$ratio" "${5:--}" "${6:--}"; do
    f=${f//$'\t'/ }
    out+=("${f//$'\n'/ }")
  done
  (IFS=$'\t'; printf '%s\n' "${out[*]}") >>"$BENCH_RESULTS"
}

# bench_hifi_server TOOL...: sets HIFI_BIN to $BENCH_HIFI_BIN when that is
# set (no setup, no build), else builds hifi-server (build_for_bench); then
# dies unless each TOOL is installed.
bench_hifi_server() {
  if [[ -n "${BENCH_HIFI_BIN:-}" ]]; then
    HIFI_BIN=$(realpath "$BENCH_HIFI_BIN")
    [[ -x "$HIFI_BIN" ]] || die "$HIFI_BIN is not an executable"
  else
    build_for_bench hifi-server
    HIFI_BIN=$BUILD_DIR/src/hifi-server
  fi
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool is not installed (run scripts/setup bench)"
  done
}
