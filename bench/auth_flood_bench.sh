#!/usr/bin/env bash
# Auth flood benchmark (issue 15): "while 200 registrations per second
# arrive, authenticated requests keep their normal latency".
#
# Each registration costs an Argon2id run (64 MiB). hifi-server hashes on a
# bounded pool of its own with a bounded queue (beyond it: 503 +
# Retry-After), so a flood of registrations must not hold up token checks.
# This script measures authenticated GET /api/v1/me with wrk, first on an
# idle server, then while a generator sends BENCH_FLOOD_RATE registrations a
# second (open loop: on a fixed schedule, one new connection each, unique
# usernames, never waiting for an answer before the next) for the whole
# measured window, and compares the latencies.
#
# hifi-server runs with --registrations-per-hour 0 (no per-address limit, so
# the flood reaches the hashing pool) and --max-connections-per-address
# 100000. With taskset and two or more cores, hifi-server is pinned to core
# 0 and every client (curl, wrk, the flood generator) to core 1.
#
# Usage: bench/auth_flood_bench.sh    # about 1 min with the defaults, plus the build
# Environment:
#   HIFI_SERVER_BIN      the hifi-server to measure; when set, no setup and no
#                        build (default: build/bench/src/hifi-server, built)
#   BENCH_SECONDS        measured seconds per wrk run (default 10)
#   BENCH_WARMUP         warm-up seconds before each measured run (default 2);
#                        the flood starts before the warm-up
#   BENCH_CONNECTIONS    wrk connections, a list: one idle and one flood run
#                        each (default "1 8")
#   BENCH_THREADS        wrk threads (default 1, at most the connections)
#   BENCH_FLOOD_RATE     registrations sent per second (default 200)
#   BENCH_PIN=0          do not pin (default: pin when taskset and 2 cores are there)
#   BENCH_SERVER_CPUS, BENCH_CLIENT_CPUS  taskset CPU lists for hifi-server and for the
#                        clients, instead of the default (core 0, core 1)
#   BENCH_RESULTS        a file: append the headline rows for bench/all to it
#   BENCH_HIFI_ARGS      extra hifi-server arguments, e.g. "--log-level warn"
#   BENCH_KEEP=1         keep the temp dir (logs, data) for inspection
#   BENCH_SKIP_SETUP=1   skip scripts/setup and the build (use build/bench as is)
# Everything it starts is stopped on exit; the temp dir is removed. Timings
# are reported, never asserted: it exits 0 unless something broke.
set -euo pipefail

# A relative HIFI_SERVER_BIN is relative to where the script was started.
if [[ -n "${HIFI_SERVER_BIN:-}" && "$HIFI_SERVER_BIN" != /* ]]; then HIFI_SERVER_BIN="$PWD/$HIFI_SERVER_BIN"; fi
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR="$ROOT/build/bench"

SECONDS_PER_RUN=${BENCH_SECONDS:-10}
WARMUP=${BENCH_WARMUP:-2}
read -r -a CONNS <<<"${BENCH_CONNECTIONS:-1 8}"
WRK_THREADS=${BENCH_THREADS:-1}
FLOOD_RATE=${BENCH_FLOOD_RATE:-200}

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=SCRIPTDIR/lib.sh
source "$ROOT/bench/lib.sh"

((SECONDS_PER_RUN >= 1)) || die "BENCH_SECONDS must be at least 1"
((${#CONNS[@]} >= 1)) || die "BENCH_CONNECTIONS is empty"
for c in "${CONNS[@]}"; do
  if ! [[ "$c" =~ ^[1-9][0-9]*$ ]]; then die "BENCH_CONNECTIONS: '$c' is not a positive integer"; fi
done
if ! [[ "$FLOOD_RATE" =~ ^[1-9][0-9]*$ ]]; then die "BENCH_FLOOD_RATE must be a positive integer"; fi

# --- setup and build --------------------------------------------------------
if [[ -n "${HIFI_SERVER_BIN:-}" ]]; then
  HIFI_BIN=$HIFI_SERVER_BIN
  [[ -x "$HIFI_BIN" ]] || die "$HIFI_BIN is not an executable"
else
  build_for_bench hifi-server
  HIFI_BIN="$BUILD_DIR/src/hifi-server"
fi
for tool in wrk curl jq python3; do
  command -v "$tool" >/dev/null || die "$tool is not installed (run scripts/setup bench)"
done
PYTHON=$(command -v python3)
raise_open_files 4096 || die "cannot raise the open-file limit to 4096 (the flood keeps many connections open)"

# --- temp dir and cleanup ---------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/hifi-auth-flood-bench.XXXXXX")
HIFI_PID=""
FLOOD_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$FLOOD_PID" TERM
  stop_pid "$HIFI_PID" TERM
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
exit_traps cleanup

# --- pinning ------------------------------------------------------------------
PIN_SERVER=()
PIN_CLIENT=()
if [[ "${BENCH_PIN:-1}" != 1 ]]; then
  PINNING="BENCH_PIN=0: nothing pinned (server and clients share every core)"
elif [[ -n "${BENCH_SERVER_CPUS:-}${BENCH_CLIENT_CPUS:-}" ]]; then
  bench_pins
  PINNING="hifi-server pinned to CPU ${BENCH_SERVER_CPUS:-any}; clients (curl, wrk, flood generator) to CPU ${BENCH_CLIENT_CPUS:-any}"
elif ! command -v taskset >/dev/null; then
  PINNING="taskset not installed: nothing pinned (server and clients share every core)"
elif (($(nproc) < 2)) || ! taskset -c 0,1 true 2>/dev/null; then
  PINNING="fewer than two usable cores: nothing pinned"
else
  PIN_SERVER=(taskset -c 0)
  PIN_CLIENT=(taskset -c 1)
  PINNING="hifi-server pinned to core 0; clients (curl, wrk, flood generator) to core 1"
fi
log "$PINNING"

# --- hifi-server --------------------------------------------------------------
log "starting hifi-server ($HIFI_BIN)"
mkdir -p "$TMP/hifi-data"
# shellcheck disable=SC2086
"${PIN_SERVER[@]}" "$HIFI_BIN" --listen 127.0.0.1:0 --data-dir "$TMP/hifi-data" --shutdown-grace 2s \
  --registrations-per-hour 0 --max-connections-per-address 100000 \
  ${BENCH_HIFI_ARGS:-} >"$TMP/hifi.log" 2>&1 &
HIFI_PID=$!
HIFI_PORT=$(wait_port "$TMP/hifi.log" "$HIFI_PID" hifi-server)
HIFI="http://127.0.0.1:$HIFI_PORT"
log "hifi-server on $HIFI"

api() {  # api METHOD PATH [curl args...]: prints the body, fails on HTTP >= 400
  local method=$1 path=$2
  shift 2
  "${PIN_CLIENT[@]}" curl -sS --fail-with-body --max-time 60 -X "$method" "$HIFI$path" "$@"
}
api POST /api/v1/auth/register -H 'Content-Type: application/json' \
  -d '{"username":"bench","password":"bench-password-1"}' >/dev/null
TOKEN=$(api POST /api/v1/auth/login -H 'Content-Type: application/json' \
  -d '{"username":"bench","password":"bench-password-1"}' | jq -er .token)
api GET /api/v1/me -H "Authorization: Bearer $TOKEN" | jq -e '.username == "bench"' >/dev/null ||
  die "GET /api/v1/me does not answer the bench user"

# --- wrk ----------------------------------------------------------------------
# One machine-readable line from done(): completed requests, socket errors,
# non-2xx responses, the run's duration and the latency percentiles.
cat >"$TMP/me.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%d duration_us=%d errors=%d non2xx=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    math.floor(latency:percentile(50)), math.floor(latency:percentile(90)),
    math.floor(latency:percentile(99)), math.floor(latency.max)))
end
EOF

run_wrk() {  # run_wrk NAME CONNECTIONS SECONDS: prints the BENCH line
  local name=$1 conns=$2 secs=$3 threads=$WRK_THREADS
  ((threads > conns)) && threads=$conns
  local out="$TMP/wrk-$name.out"
  "${PIN_CLIENT[@]}" timeout $((secs + 30)) wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 10s \
    -H "Authorization: Bearer $TOKEN" -s "$TMP/me.lua" "$HIFI/api/v1/me" >"$out" 2>&1 ||
    { cat "$out" >&2; die "wrk failed ($name)"; }
  grep '^BENCH ' "$out" || { cat "$out" >&2; die "no result from wrk ($name)"; }
}

field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<" $2"; }

# CPU time (user + system, clock ticks) hifi-server has used so far.
CLK_TCK=$(getconf CLK_TCK)
server_ticks() {
  local stat f
  stat=$(cat "/proc/$HIFI_PID/stat") || die "hifi-server is gone"
  stat=${stat##*) }  # fields after "pid (comm) "; utime and stime are the 12th and 13th
  read -r -a f <<<"$stat"
  echo $((f[11] + f[12]))
}

# --- the flood generator --------------------------------------------------------
cat >"$TMP/flood.py" <<'EOF'
# flood.py HOST PORT RATE SECONDS PREFIX: sends RATE registrations a second
# for SECONDS, open loop: registration i leaves at start + i/RATE on a new
# connection whether or not earlier ones were answered. Each answer is
# counted by status (503s also by problem type); a connection that fails or
# is not answered within 30 s counts as an error. Prints a human summary on
# stderr and one line "FLOOD key=value ..." on stdout.
import asyncio, json, sys, time

host, port, rate, seconds, prefix = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
TIMEOUT = 30.0
counts = {"201": 0, "429": 0, "503": 0, "other": 0, "errors": 0}
types_503 = {}
other_codes = {}
retry_after = {}
answer_ms = {"201": [], "429": [], "503": [], "other": []}
lags_ms = []
outstanding = 0
max_outstanding = 0


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


async def exchange(i):
    body = json.dumps({"username": f"{prefix}{i}", "password": "flood-password-1"}).encode()
    request = (f"POST /api/v1/auth/register HTTP/1.1\r\nHost: {host}:{port}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
               "Connection: close\r\n\r\n").encode() + body
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        raw = await reader.read()  # Connection: close: the whole answer, then EOF
    finally:
        writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, payload


async def one(i):
    global outstanding, max_outstanding
    outstanding += 1
    max_outstanding = max(max_outstanding, outstanding)
    t = time.monotonic()
    try:
        status, headers, payload = await asyncio.wait_for(exchange(i), TIMEOUT)
    except Exception:
        counts["errors"] += 1
        return
    finally:
        outstanding -= 1
    ms = (time.monotonic() - t) * 1000.0
    key = str(status) if str(status) in ("201", "429", "503") else "other"
    counts[key] += 1
    answer_ms[key].append(ms)
    if key == "other":
        other_codes[status] = other_codes.get(status, 0) + 1
    if status in (429, 503):
        ra = headers.get("retry-after", "none")
        retry_after[ra] = retry_after.get(ra, 0) + 1
    if status == 503:
        try:
            kind = json.loads(payload.decode()).get("type", "?")
        except Exception:
            kind = "?"
        types_503[kind] = types_503.get(kind, 0) + 1


async def main():
    total = int(round(rate * seconds))
    tasks = set()
    start = time.monotonic() + 0.05
    for i in range(total):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        lags_ms.append(max(0.0, (time.monotonic() - due) * 1000.0))
        task = asyncio.ensure_future(one(i))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    sent_s = time.monotonic() - start
    if tasks:
        await asyncio.wait(tasks)
    answered = sum(counts[k] for k in ("201", "429", "503", "other"))
    fmt = lambda k: "%.1f/%.1f" % (pct(answer_ms[k], 50), pct(answer_ms[k], 99))
    print(f"flood: {total} sent in {sent_s:.2f} s ({total / sent_s:.1f}/s), {answered} answered: "
          f"201 {counts['201']}, 429 {counts['429']}, 503 {counts['503']} {types_503 or ''}, "
          f"other {counts['other']} {other_codes or ''}, errors {counts['errors']}; "
          f"Retry-After {retry_after or 'none'}; answer ms p50/p99: 201 {fmt('201')}, 503 {fmt('503')}; "
          f"send lag behind schedule ms p50/p99/max {pct(lags_ms, 50):.1f}/{pct(lags_ms, 99):.1f}/{max(lags_ms):.1f}; "
          f"at most {max_outstanding} open at once", file=sys.stderr)
    print("FLOOD sent=%d sent_s=%.3f s201=%d s429=%d s503=%d s503busy=%d other=%d errors=%d "
          "a201_p50_ms=%.1f a201_p99_ms=%.1f a503_p50_ms=%.1f a503_p99_ms=%.1f lag_p99_ms=%.1f lag_max_ms=%.1f "
          "max_open=%d" % (
              total, sent_s, counts["201"], counts["429"], counts["503"], sum(v for k, v in types_503.items() if k.endswith("password-checks-busy")),
              counts["other"], counts["errors"], pct(answer_ms["201"], 50), pct(answer_ms["201"], 99),
              pct(answer_ms["503"], 50), pct(answer_ms["503"], 99), pct(lags_ms, 99), max(lags_ms), max_outstanding))


asyncio.run(main())
EOF

# --- runs -----------------------------------------------------------------------
RESULTS="$TMP/results.tsv"
FLOODS="$TMP/floods.txt"
: >"$RESULTS"
: >"$FLOODS"
FLOOD_RUN=0

measure() {  # measure MODE CONNECTIONS: MODE idle or flood; appends to RESULTS
  local mode=$1 conns=$2 line t0 t1 flood_line=""
  local name="$mode-c$conns"
  if [[ $mode == flood ]]; then
    FLOOD_RUN=$((FLOOD_RUN + 1))
    # The flood starts 0.5 s before the warm-up and ends about 0.5 s after
    # the measured run.
    "${PIN_CLIENT[@]}" "$PYTHON" "$TMP/flood.py" 127.0.0.1 "$HIFI_PORT" "$FLOOD_RATE" \
      $((WARMUP + SECONDS_PER_RUN + 1)) "f${FLOOD_RUN}u" >"$TMP/flood-$name.out" 2>"$TMP/flood-$name.err" &
    FLOOD_PID=$!
    sleep 0.5  # the first registrations are on their way
  fi
  if ((WARMUP > 0)); then run_wrk "$name-warmup" "$conns" "$WARMUP" >/dev/null; fi
  t0=$(server_ticks)
  line=$(run_wrk "$name" "$conns" "$SECONDS_PER_RUN")
  t1=$(server_ticks)
  if [[ $mode == flood ]]; then
    wait "$FLOOD_PID" || { cat "$TMP/flood-$name.err" >&2; FLOOD_PID=""; die "the flood generator failed"; }
    FLOOD_PID=""
    flood_line=$(grep '^FLOOD ' "$TMP/flood-$name.out") || { cat "$TMP/flood-$name.err" >&2; die "no result from the flood generator"; }
    log "$(cat "$TMP/flood-$name.err")"
    printf '%s\t%s\n' "$conns" "$flood_line" >>"$FLOODS"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$conns" "$(field requests "$line")" \
    "$(field duration_us "$line")" "$(field errors "$line")" "$(field non2xx "$line")" \
    "$(field p50_us "$line")" "$(field p99_us "$line")" "$(field max_us "$line")" \
    "$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", t * 1e6 / hz }')" >>"$RESULTS"
  log "$(awk -v m="$mode" -v c="$conns" -v r="$(field requests "$line")" -v d="$(field duration_us "$line")" \
    -v p50="$(field p50_us "$line")" -v p99="$(field p99_us "$line")" \
    'BEGIN { printf "%-5s c=%-3s %9.1f req/s  p50 %.2f ms  p99 %.2f ms", m, c, r * 1e6 / d, p50 / 1000, p99 / 1000 }')"
  if [[ $mode == flood ]]; then
    # Let the hashing queue drain (it holds a few seconds of work at most).
    sleep 2
    api GET /api/v1/me -H "Authorization: Bearer $TOKEN" >/dev/null || die "GET /api/v1/me fails after the flood"
  fi
}

log "GET /api/v1/me with wrk -t$WRK_THREADS, connections ${CONNS[*]}, ${WARMUP}s warm-up + ${SECONDS_PER_RUN}s per run; flood $FLOOD_RATE registrations/s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for c in "${CONNS[@]}"; do
  measure idle "$c"
  measure flood "$c"
done

# --- summary --------------------------------------------------------------------
echo
echo "Authenticated GET /api/v1/me, idle and while $FLOOD_RATE registrations/s arrive"
echo "(wrk -t$WRK_THREADS, ${WARMUP}s warm-up + ${SECONDS_PER_RUN}s measured per run; $PINNING)"
awk -F'\t' '
  { R[$1, $2] = $3 * 1e6 / $4; E[$1, $2] = $5 + $6; P50[$1, $2] = $7 / 1000; P99[$1, $2] = $8 / 1000
    MAX[$1, $2] = $9 / 1000; CPU[$1, $2] = $10 / $4 * 100
    if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 } }
  END {
    printf "%-6s %17s %17s %10s %10s %11s %11s %14s %11s\n", "conns", "idle p50/p99 ms", "flood p50/p99 ms",
      "p99 ratio", "p50 ratio", "idle req/s", "flood req/s", "server CPU %", "errors i/f"
    for (k = 1; k <= n; k++) { c = order[k]
      printf "%-6s %8.2f/%-8.2f %8.2f/%-8.2f %10.2f %10.2f %11.1f %11.1f %6.0f/%-7.0f %5d/%-5d\n", c,
        P50["idle", c], P99["idle", c], P50["flood", c], P99["flood", c],
        (P99["idle", c] > 0 ? P99["flood", c] / P99["idle", c] : 0),
        (P50["idle", c] > 0 ? P50["flood", c] / P50["idle", c] : 0),
        R["idle", c], R["flood", c], CPU["idle", c], CPU["flood", c], E["idle", c], E["flood", c] }
    printf "max latency ms (idle/flood):"
    for (k = 1; k <= n; k++) { c = order[k]; printf " c=%s %.1f/%.1f", c, MAX["idle", c], MAX["flood", c] }
    printf "\n"
  }' "$RESULTS"
echo "(server CPU %: hifi-server's user + system time over the measured run, 100 = one core; errors: socket errors + non-2xx)"
echo
echo "Registrations during each flood run (sent over warm-up + measured run + 1 s, one connection each):"
printf '%-6s %7s %8s %7s %9s %7s %7s %7s %9s %17s %17s %14s\n' conns sent "sent/s" "201" "503 busy" "503 oth" "429" other errors \
  "201 ms p50/p99" "503 ms p50/p99" "lag p99 ms"
while IFS=$'\t' read -r c fl; do
  awk -v c="$c" -v sent="$(field sent "$fl")" -v ss="$(field sent_s "$fl")" -v a="$(field s201 "$fl")" \
    -v b="$(field s503busy "$fl")" -v s503="$(field s503 "$fl")" -v r="$(field s429 "$fl")" \
    -v o="$(field other "$fl")" -v e="$(field errors "$fl")" \
    -v a50="$(field a201_p50_ms "$fl")" -v a99="$(field a201_p99_ms "$fl")" \
    -v b50="$(field a503_p50_ms "$fl")" -v b99="$(field a503_p99_ms "$fl")" -v lag="$(field lag_p99_ms "$fl")" \
    'BEGIN { printf "%-6s %7d %8.1f %7d %9d %7d %7d %7d %9d %8.1f/%-8.1f %8.1f/%-8.1f %14.1f\n",
      c, sent, sent / ss, a, b, s503 - b, r, o, e, a50, a99, b50, b99, lag }'
done <"$FLOODS"
echo
echo "goal: token checks unaffected by the hashing flood, i.e. p99 ratio (flood/idle) close to 1;"
echo "      the flood is refused fast (503 busy + Retry-After) beyond the bounded hashing queue."
# Headline rows for bench/all (BENCH_RESULTS): /me's p99 under the flood
# against the same on the idle server, per connection count.
awk -F'\t' '{ P99[$1, $2] = $8 / 1000; if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 } }
  END { for (k = 1; k <= n; k++) printf "%s %.3f %.3f\n", order[k], P99["flood", order[k]], P99["idle", order[k]] }' "$RESULTS" |
  while read -r c f i; do
    bench_result "GET /api/v1/me p99 during $FLOOD_RATE registrations/s, c=$c (peer: same, idle server)" "$f" "$i" ms \
      "flood/idle near 1 (no number set)" "-"
  done
echo
echo "versions: $("$HIFI_BIN" --version 2>&1 | head -n1), $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2), $("$PYTHON" --version 2>&1)"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), Linux $(uname -r); load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
