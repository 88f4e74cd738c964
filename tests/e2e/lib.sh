# shellcheck shell=bash
# Shared helpers for HiFi's end-to-end tests (sourced, not run).
# Every wait polls a condition against a deadline; nothing sleeps blindly.

E2E_TMP=$(mktemp -d /tmp/hifi-e2e.XXXXXX)
E2E_PIDS=()
E2E_FAILURES=0
E2E_PASSES=0

# E2E_KEEP=1 keeps the temp dir (logs, data) for a look after the run.
e2e_cleanup() {
  local pid
  for pid in "${E2E_PIDS[@]:-}"; do
    [[ -n "$pid" ]] && kill -9 "$pid" 2>/dev/null || true
  done
  if [[ -n "${E2E_KEEP:-}" ]]; then
    echo "kept $E2E_TMP" >&2
  else
    rm -rf "$E2E_TMP"
  fi
}
trap e2e_cleanup EXIT

# free_port and start_etcd_cluster; the etcd members it starts are killed
# on exit with everything else.
# shellcheck source=SCRIPTDIR/etcd.sh
source "$(dirname "${BASH_SOURCE[0]}")/etcd.sh"
etcd_started() { E2E_PIDS+=("$1"); }
# A missing prerequisite of the etcd and cluster tests skips the test (exit
# 77), unless HIFI_REQUIRE_CLUSTER_DEPS=1 (scripts/test sets it): then it
# fails, so that a test run without etcd cannot pass by skipping them.
missing_prerequisite() {
  if [[ "${HIFI_REQUIRE_CLUSTER_DEPS:-}" == 1 ]]; then
    echo "$1 is not installed, and HIFI_REQUIRE_CLUSTER_DEPS=1: failing (scripts/setup test installs it)"
    exit 1
  fi
  echo "$1 is not installed (scripts/setup test installs it); skipping"
  exit 77
}
# need_etcd: ETCD_BIN is $HIFI_ETCD or etcd on PATH; without one the test is
# skipped (or fails, see missing_prerequisite).
need_etcd() {
  ETCD_BIN=${HIFI_ETCD:-$(command -v etcd || true)}
  [[ -n "$ETCD_BIN" && -x "$ETCD_BIN" ]] || missing_prerequisite "etcd${HIFI_ETCD:+ ($HIFI_ETCD)}"
}
# need_tools TOOL...: each TOOL is on PATH, else the test is skipped (or fails).
need_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || missing_prerequisite "$tool"
  done
}

log() { printf '%s\n' "$*" >&2; }

# wait_until SECONDS COMMAND...: polls COMMAND every 50 ms until it succeeds.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    if ((SECONDS >= deadline)); then
      log "timed out waiting for: $*"
      return 1
    fi
    sleep 0.05
  done
}

check() {  # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then
    E2E_PASSES=$((E2E_PASSES + 1))
    log "ok   - $what"
  else
    E2E_FAILURES=$((E2E_FAILURES + 1))
    log "FAIL - $what"
  fi
}

eq() { [[ "$1" == "$2" ]] || { log "    expected '$2', got '$1'"; return 1; }; }
jqe() { jq -e "$@" >/dev/null; }  # jqe [jq args...] FILTER FILE: the filter holds

finish() {
  echo "$E2E_PASSES passed, $E2E_FAILURES failed"
  ((E2E_FAILURES == 0))
}

# start_server BIN DATA_DIR [ARGS...]: starts hifi-server on a free port and
# sets SERVER_PID and BASE (http://127.0.0.1:PORT).
start_server() {
  local bin=$1 data=$2
  shift 2
  local logfile="$E2E_TMP/server.$RANDOM.log"
  "$bin" --listen 127.0.0.1:0 --data-dir "$data" "$@" >"$logfile" 2>&1 &
  SERVER_PID=$!
  SERVER_LOG=$logfile
  E2E_PIDS+=("$SERVER_PID")
  wait_until 20 grep -q "listening on http://" "$logfile" || { cat "$logfile" >&2; return 1; }
  BASE=$(grep -o "http://127.0.0.1:[0-9]*" "$logfile" | head -1)
}

json_field() {  # json_field FIELD < JSON: a top-level field, empty when absent or null
  jq -r --arg f "$1" '.[$f] // empty'
}

# api METHOD PATH [curl args...]: prints the response body (or saves it to
# $OUT when set); the HTTP status goes to $E2E_TMP/status.
api() {
  local method=$1 path=$2 out=${OUT:-$E2E_TMP/body}
  shift 2
  curl -sS -X "$method" -o "$out" -w '%{http_code}' -H "Authorization: Bearer ${TOKEN:-}" \
    "$@" "$BASE$path" >"$E2E_TMP/status" || true
  [[ -n "${OUT:-}" ]] || cat "$out"
}
status() { cat "$E2E_TMP/status"; }
