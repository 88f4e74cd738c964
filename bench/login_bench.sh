#!/usr/bin/env bash
# Login benchmark: the time of POST /api/v1/auth/login on an existing account
# (the goal: p50 <= 50 ms, Argon2id included), next to its floor: one
# Argon2id verification with HiFi's parameters (libsodium's
# crypto_pwhash_str_verify on a crypto_pwhash_str hash made with the
# INTERACTIVE limits, as src/library/accounts.cc does), timed in process.
#
# Starts hifi-server (fresh data dir, free loopback port), registers one
# account, logs in twice to warm up, then LOGIN_BENCH_RUNS times in a row;
# each login is a new curl (a new connection), and its time is curl's
# time_total (request to the whole answer; curl's own start is not in it).
# Every answer must be 200 with a token. The server allows 60 login attempts
# per client address per 15 minutes, so at most 55 runs. The floor runs
# LOGIN_BENCH_RUNS verifications in one Python process (ctypes, libsodium).
#
# Usage: bench/login_bench.sh      # about 15 s, plus the build
# Environment:
#   LOGIN_BENCH_RUNS     logins measured (default 30, at most 55)
#   BENCH_HIFI_BIN       the hifi-server to measure (no setup, no build)
#   BENCH_SERVER_CPUS, BENCH_CLIENT_CPUS  taskset CPU lists: hifi-server and the
#                        floor's verifications on the first, curl on the second
#                        (default: nothing pinned)
#   BENCH_KEEP=1         keep the temp dir (logs, data)
#   BENCH_SKIP_SETUP=1   skip scripts/setup and the build (use build/bench as is)
#   BENCH_RESULTS        a file: append the headline rows for bench/all to it
# Everything it starts is stopped on exit; the temp dir is removed.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR="$ROOT/build/bench"
RUNS=${LOGIN_BENCH_RUNS:-30}
GOAL_MS=50
PASSWORD="bench-password-1"

log() { printf '[login-bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=SCRIPTDIR/lib.sh
source "$ROOT/bench/lib.sh"

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] && ((RUNS <= 55)) || die "LOGIN_BENCH_RUNS must be a number in 1..55"
bench_hifi_server curl jq python3
PYTHON=$(command -v python3)
bench_pins
log "$PINNING"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hifi-login-bench.XXXXXX")
HIFI_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$HIFI_PID" TERM
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
exit_traps cleanup

mkdir -p "$TMP/hifi-data"
"${PIN_SERVER[@]}" "$HIFI_BIN" --listen 127.0.0.1:0 --data-dir "$TMP/hifi-data" --shutdown-grace 2s \
  >"$TMP/hifi.log" 2>&1 &
HIFI_PID=$!
HIFI="http://127.0.0.1:$(wait_port "$TMP/hifi.log" "$HIFI_PID" hifi-server)"
log "hifi-server on $HIFI"
curl -sS --fail-with-body --max-time 60 -X POST "$HIFI/api/v1/auth/register" -H 'Content-Type: application/json' \
  -d "{\"username\":\"bench\",\"password\":\"$PASSWORD\"}" >/dev/null || die "registration failed"

login_ms() {  # one login; prints its time in ms, dies unless 200 with a token
  local code t
  read -r code t < <("${PIN_CLIENT[@]}" curl -sS -o "$TMP/login.json" -w '%{http_code} %{time_total}\n' --max-time 30 \
    -X POST "$HIFI/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"username\":\"bench\",\"password\":\"$PASSWORD\"}" || echo "000 0")
  [[ "$code" == 200 ]] && jq -e '.token | length > 0' "$TMP/login.json" >/dev/null ||
    die "login answered HTTP $code: $(head -c 300 "$TMP/login.json" 2>/dev/null)"
  awk -v t="$t" 'BEGIN { printf "%.3f\n", t * 1000 }'
}
login_ms >/dev/null
login_ms >/dev/null
log "$RUNS logins (load average $(cut -d' ' -f1-3 /proc/loadavg))"
: >"$TMP/login.ms"
for ((i = 0; i < RUNS; i++)); do login_ms >>"$TMP/login.ms"; done

# The floor: libsodium's verification alone, in process, on the server's CPUs,
# with the parameters the server hashes new passwords with.
cat >"$TMP/floor.py" <<'EOF'
import ctypes, ctypes.util, sys, time
name = ctypes.util.find_library("sodium") or "libsodium.so.23"
s = ctypes.CDLL(name)
if s.sodium_init() < 0:
    sys.exit("sodium_init failed")
s.crypto_pwhash_strbytes.restype = ctypes.c_size_t
# The parameters of src/library/accounts.cc (kPasswordOpsLimit, kPasswordMemLimit).
ops, mem = 2, 19 * 1024 * 1024
pw = b"bench-password-1"
out = ctypes.create_string_buffer(s.crypto_pwhash_strbytes())
if s.crypto_pwhash_str(out, pw, ctypes.c_ulonglong(len(pw)), ctypes.c_ulonglong(ops), ctypes.c_size_t(mem)) != 0:
    sys.exit("crypto_pwhash_str failed")
s.crypto_pwhash_str_verify(out, pw, ctypes.c_ulonglong(len(pw)))  # warm-up
for _ in range(int(sys.argv[1])):
    t = time.perf_counter()
    if s.crypto_pwhash_str_verify(out, pw, ctypes.c_ulonglong(len(pw))) != 0:
        sys.exit("crypto_pwhash_str_verify failed")
    print("%.3f" % ((time.perf_counter() - t) * 1000))
print("argon2id opslimit=%d memlimit=%d MiB" % (ops, mem >> 20), file=sys.stderr)
EOF
FLOOR=1
"${PIN_SERVER[@]}" "$PYTHON" "$TMP/floor.py" "$RUNS" >"$TMP/floor.ms" 2>"$TMP/floor.err" || {
  log "no floor: $(cat "$TMP/floor.err")"
  FLOOR=0
}

# stats FILE: "p50 p99 max" (nearest rank)
stats() {
  sort -g "$1" | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "- - -"; exit }
    r = int(0.5 * NR); if (r < 0.5 * NR) r++; if (r < 1) r = 1
    q = int(0.99 * NR); if (q < 0.99 * NR) q++; if (q < 1) q = 1
    printf "%.1f %.1f %.1f\n", v[r], v[q], v[NR] }'
}
read -r l50 l99 lmax < <(stats "$TMP/login.ms")
f50=- f99=- fmax=-
((FLOOR)) && read -r f50 f99 fmax < <(stats "$TMP/floor.ms")

echo
echo "Login: POST /api/v1/auth/login on an existing account, $RUNS in a row, one connection each (ms; $PINNING)"
printf '%-62s %8s %8s %8s\n' "" p50 p99 max
printf '%-62s %8s %8s %8s\n' "hifi-server: request -> 200 with a token (curl time_total)" "$l50" "$l99" "$lmax"
printf '%-62s %8s %8s %8s\n' "floor: one Argon2id verification ($(cat "$TMP/floor.err" 2>/dev/null | tail -n1))" "$f50" "$f99" "$fmax"
echo "goal: login p50 <= ${GOAL_MS} ms including Argon2id: $(bench_met "$l50" "<=" "$GOAL_MS")"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), Linux $(uname -r); load average at end $(cut -d' ' -f1-3 /proc/loadavg)"

bench_result "login p50, POST /api/v1/auth/login incl. Argon2id (floor: one Argon2id verify)" "$l50" "$f50" ms \
  "<= $GOAL_MS ms" "$(bench_met "$l50" "<=" "$GOAL_MS")"
