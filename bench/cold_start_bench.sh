#!/usr/bin/env bash
# Cold start benchmark: how long hifi-server takes, on an empty data dir,
# from exec until GET /healthz answers 200 (the goal: 200 ms), next to nginx
# (configured as in bench/http_bench.sh) from exec until it answers 200 for a
# small static file, measured the same way.
#
# Each start: bench/start_probe.py (Python, standard library) execs the
# server, its log going to a file, and then every COLD_START_INTERVAL_MS
# reads the log for hifi-server's "listening on http://127.0.0.1:PORT" (it
# listens on port 0) and, once there is a port, sends a GET on a new
# connection, until one answers 200; the figure is exec -> that 200. nginx
# gets a free port in its config, so only the GETs apply. hifi-server starts
# on a new empty data dir each time (it creates its SQLite store, keys and
# node id). The runs alternate between the two servers. The binaries come
# from the page cache (no cache is dropped): this is a warm-binary cold start.
#
# Usage: bench/cold_start_bench.sh      # about 20 s, plus the build
# Environment:
#   COLD_START_RUNS          starts of each server (default 10)
#   COLD_START_INTERVAL_MS   time between the probe's attempts (default 1)
#   BENCH_HIFI_BIN           the hifi-server to measure (no setup, no build)
#   BENCH_SERVER_CPUS, BENCH_CLIENT_CPUS  taskset CPU lists: the servers on the
#                            first (set in the child before exec), the probe on
#                            the second (default: nothing pinned)
#   BENCH_KEEP=1             keep the temp dir (logs, data dirs)
#   BENCH_SKIP_SETUP=1       skip scripts/setup and the build (use build/bench as is)
#   BENCH_RESULTS            a file: append the headline rows for bench/all to it
# Everything it starts is stopped on exit; the temp dir is removed.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR="$ROOT/build/bench"
RUNS=${COLD_START_RUNS:-10}
INTERVAL_MS=${COLD_START_INTERVAL_MS:-1}
GOAL_MS=200

log() { printf '[cold-start-bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=SCRIPTDIR/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=SCRIPTDIR/../tests/e2e/etcd.sh
source "$ROOT/tests/e2e/etcd.sh"  # free_port

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "COLD_START_RUNS must be a positive integer"
bench_hifi_server nginx python3 curl
NGINX_BIN=$(command -v nginx)
PYTHON=$(command -v python3)
bench_pins
log "$PINNING"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hifi-cold-start-bench.XXXXXX")
PROBE_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$PROBE_PID" TERM  # the probe stops the server it started
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
exit_traps cleanup

# --- nginx's config: as in bench/http_bench.sh, one small file to serve ----------
NGX="$TMP/nginx"
mkdir -p "$NGX/tmp" "$NGX/www"
head -c 16384 /dev/urandom >"$NGX/www/small.bin"
free_port
NGINX_PORT=$FREE_PORT
USER_LINE=""
if [[ $(id -u) -eq 0 ]]; then USER_LINE="user $(id -un) $(id -gn);"; fi
cat >"$NGX/nginx.conf" <<EOF
$USER_LINE
worker_processes $(nproc);
daemon off;
master_process on;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nodelay on;
  client_body_temp_path $NGX/tmp/body;
  proxy_temp_path $NGX/tmp/proxy;
  fastcgi_temp_path $NGX/tmp/fastcgi;
  uwsgi_temp_path $NGX/tmp/uwsgi;
  scgi_temp_path $NGX/tmp/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $NGX/www;
    location / { }
  }
}
EOF

# probe NAME ARGS... -- COMMAND...: runs start_probe.py in the background
# (so that the cleanup can stop it) and sets PROBE_MS to its START line's ms,
# PROBE_PORT_MS to its port_ms (exec -> the port in the log; "-" for nginx).
probe() {
  local name=$1 line
  shift
  "${PIN_CLIENT[@]}" "$PYTHON" "$ROOT/bench/start_probe.py" --log "$TMP/$name.log" \
    --server-cpus "${BENCH_SERVER_CPUS:-}" --interval-ms "$INTERVAL_MS" "$@" >"$TMP/$name.probe" 2>&1 &
  PROBE_PID=$!
  wait "$PROBE_PID" || { PROBE_PID=""; cat "$TMP/$name.probe" "$TMP/$name.log" >&2; die "$name: no answer"; }
  PROBE_PID=""
  line=$(grep '^START ' "$TMP/$name.probe") || die "$name: no result from the probe"
  PROBE_MS=$(sed -n 's/.* ms=\([0-9.]*\) .*/\1/p' <<<"$line")
  PROBE_PORT_MS=$(sed -n 's/.* port_ms=\([-0-9.]*\) .*/\1/p' <<<"$line")
}

: >"$TMP/hifi.ms"
: >"$TMP/nginx.ms"
: >"$TMP/hifi-port.ms"
log "$RUNS starts of each, alternating; a probe every ${INTERVAL_MS} ms; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for ((i = 1; i <= RUNS; i++)); do
  order=(hifi nginx)
  ((i % 2 == 0)) && order=(nginx hifi)
  for server in "${order[@]}"; do
    if [[ $server == hifi ]]; then
      mkdir "$TMP/data-$i"
      probe "hifi-$i" --port-from-log --path /healthz -- \
        "$HIFI_BIN" --listen 127.0.0.1:0 --data-dir "$TMP/data-$i" --shutdown-grace 1s
    else
      probe "nginx-$i" --port "$NGINX_PORT" --path /small.bin -- \
        "$NGINX_BIN" -p "$NGX" -e "$NGX/error.log" -c "$NGX/nginx.conf"
    fi
    echo "$PROBE_MS" >>"$TMP/$server.ms"
    if [[ $server == hifi ]]; then
      echo "$PROBE_PORT_MS" >>"$TMP/hifi-port.ms"
      log "start $i: hifi answered 200 after $PROBE_MS ms (its 'listening on' line after $PROBE_PORT_MS ms)"
    else
      log "start $i: nginx answered 200 after $PROBE_MS ms"
    fi
  done
done

# stats FILE: "p50 max min" (nearest rank)
stats() {
  sort -g "$1" | awk '{ v[NR] = $1 } END { r = int(0.5 * NR); if (r < 0.5 * NR) r++; if (r < 1) r = 1
    printf "%.1f %.1f %.1f\n", v[r], v[NR], v[1] }'
}
read -r h50 hmax hmin < <(stats "$TMP/hifi.ms")
read -r n50 nmax nmin < <(stats "$TMP/nginx.ms")
read -r p50 pmax pmin < <(stats "$TMP/hifi-port.ms")

echo
echo "Cold start: exec -> first 200 answer, $RUNS starts each (ms; a GET every ${INTERVAL_MS} ms; $PINNING)"
printf '%-58s %8s %8s %8s\n' "" p50 max min
printf '%-58s %8s %8s %8s\n' "hifi-server, empty data dir, GET /healthz" "$h50" "$hmax" "$hmin"
printf '%-58s %8s %8s %8s\n' "  of which exec -> its 'listening on' log line" "$p50" "$pmax" "$pmin"
printf '%-58s %8s %8s %8s\n' "nginx $("$NGINX_BIN" -v 2>&1 | sed 's|.*nginx/||'), GET of a 16 KB file" "$n50" "$nmax" "$nmin"
echo "goal: hifi-server on an empty data dir answers /healthz within ${GOAL_MS} ms: p50 $(bench_met "$h50" "<=" "$GOAL_MS"), max $(bench_met "$hmax" "<=" "$GOAL_MS")"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), Linux $(uname -r); load average at end $(cut -d' ' -f1-3 /proc/loadavg)"

bench_result "cold start: exec -> /healthz 200 on an empty data dir, p50 of $RUNS (peer: nginx, first 200)" \
  "$h50" "$n50" ms "<= $GOAL_MS ms" "$(bench_met "$h50" "<=" "$GOAL_MS")"
bench_result "cold start: the same, slowest of $RUNS" "$hmax" "$nmax" ms "<= $GOAL_MS ms" "$(bench_met "$hmax" "<=" "$GOAL_MS")"
