# shellcheck shell=bash
# Helpers for the end-to-end tests that run three hifi-server nodes on a real
# etcd cluster and inject faults (sourced after lib.sh, not run).
#
# The sourcing script calls use_binaries BUILD_DIR/src, sets NODE_ARGS (extra
# hifi-server arguments for every node, an array; NODE_SCHEME=https for nodes
# given a certificate there) and calls init_nodes, which picks each node's
# fixed port (a restarted node comes back where it was).

T0=$SECONDS
step() { log ""; log "== [$((SECONDS - T0)) s] $*"; }

# use_binaries DIR: the hifi-server and hifi of DIR, copied into BIN_DIR so
# that a rebuild during the run does not swap them under a restart.
use_binaries() {
  BIN_DIR="$E2E_TMP/bin"
  mkdir -p "$BIN_DIR"
  cp "$1/hifi-server" "$1/hifi" "$BIN_DIR/"
}

# Removes a pid from the cleanup list once the process is gone, so that the
# cleanup never signals a recycled pid.
forget_pid() {
  local p keep=()
  for p in "${E2E_PIDS[@]:-}"; do
    [[ -n "$p" && "$p" != "$1" ]] && keep+=("$p")
  done
  E2E_PIDS=("${keep[@]:-}")
}
# kill9 PID: SIGKILL a process this test started, and reap it.
kill9() {
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget_pid "$1"
}

# --- etcd --------------------------------------------------------------------

etcd_status() { etcd_curl "$1" /v3/maintenance/status -sf -m 2 -X POST -d '{}'; }
# The index of the member that is the raft leader (empty when none says so).
etcd_leader() {
  local i s
  for i in 1 2 3; do
    s=$(etcd_status "$i" 2>/dev/null) || continue
    if [[ -n "$s" && "$(jq -r '.leader' <<<"$s")" == "$(jq -r '.header.member_id' <<<"$s")" ]]; then
      echo "$i"
      return
    fi
  done
}
# etcd_compact: compacts the etcd history up to its current revision; prints
# that revision.
etcd_compact() {
  local i rev
  for i in 1 2 3; do
    rev=$(etcd_status "$i" 2>/dev/null | jq -r '.header.revision // empty') || continue
    [[ -n "$rev" ]] || continue
    etcd_curl "$i" /v3/kv/compaction -sf -m 5 -X POST -d "{\"revision\":\"$rev\",\"physical\":true}" >/dev/null ||
      continue
    echo "$rev"
    return 0
  done
  return 1
}

# --- hifi nodes --------------------------------------------------------------

declare -a NODE_PORT NODE_URL NODE_PID NODE_LOG NODE_ID NODE_GEN
NODE_ARGS=()
init_nodes() {
  local i
  export HIFI_CLUSTER_SECRET="e2e-secret-$$-$RANDOM"
  for i in 1 2 3; do
    free_port; NODE_PORT[i]=$FREE_PORT
    NODE_URL[i]="${NODE_SCHEME:-http}://127.0.0.1:${NODE_PORT[i]}"
    NODE_GEN[i]=0
  done
}
node_joined_or_dead() {
  grep -qs "joined the cluster as node" "${NODE_LOG[$1]}" || ! kill -0 "${NODE_PID[$1]}" 2>/dev/null
}
# start_node I [ARGS...]: hifi-server I on its fixed port and data dir, with
# NODE_ARGS and ARGS, one log per start.
start_node() {
  local i=$1
  shift
  NODE_GEN[i]=$((NODE_GEN[i] + 1))
  NODE_LOG[i]="$E2E_TMP/node$i.${NODE_GEN[i]}.log"
  "$BIN_DIR/hifi-server" --listen "127.0.0.1:${NODE_PORT[i]}" --data-dir "$E2E_TMP/node$i" \
    --etcd "$ETCD_ENDPOINTS" "${NODE_ARGS[@]}" "$@" >"${NODE_LOG[i]}" 2>&1 &
  NODE_PID[i]=$!
  E2E_PIDS+=("$!")
  wait_until 60 node_joined_or_dead "$i" || true
  grep -q "joined the cluster as node" "${NODE_LOG[i]}"
}
kill_node() {
  log "    kill -9 node $1 (pid ${NODE_PID[$1]}, ${NODE_URL[$1]})"
  kill9 "${NODE_PID[$1]}"
}
node_alive() { kill -0 "${NODE_PID[$1]}" 2>/dev/null; }

cluster_json() { curl -sf -m 5 -H "Authorization: Bearer ${TOKEN:-}" "${NODE_URL[$1]}/api/v1/cluster"; }
member_count() { cluster_json "$1" | jq '.members | length'; }
# sees I ID: node I's /api/v1/cluster lists node ID; lacks I ID: it does not.
sees() { cluster_json "$1" | jq -e --arg id "$2" 'any(.members[]; .id == $id)' >/dev/null; }
lacks() { cluster_json "$1" | jq -e --arg id "$2" 'all(.members[]; .id != $id)' >/dev/null; }
# all_see_all I...: each listed node lists all three nodes.
all_see_all() {
  local i
  for i in "$@"; do [[ "$(member_count "$i")" == 3 ]] || return 1; done
}

# call I METHOD PATH [curl args...]: node I's answer on stdout, its HTTP
# status (000 when none) in $E2E_TMP/status.
call() {
  local i=$1 method=$2 path=$3
  shift 3
  rm -f "$E2E_TMP/body"
  curl -sS -m 15 -X "$method" -o "$E2E_TMP/body" -w '%{http_code}' -H "Authorization: Bearer ${TOKEN:-}" \
    "$@" "${NODE_URL[i]}$path" >"$E2E_TMP/status" 2>/dev/null || true
  [[ -f "$E2E_TMP/body" ]] && cat "$E2E_TMP/body"
  return 0
}

# upload I FILE BODY: uploads FILE through node I, the answer into BODY;
# prints the HTTP status (000 when there was none).
upload() {
  rm -f "$3"
  curl -sS -m 20 -o "$3" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H "Content-Type: audio/wav" \
    --data-binary "@$2" "${NODE_URL[$1]}/api/v1/songs" 2>/dev/null || true
}

blob_path() { echo "$E2E_TMP/node$1/blobs/${2:0:2}/${2:2:2}/$2"; }

lines() { [[ -f "$1" ]] && wc -l <"$1" || echo 0; }
more_lines() { (($(lines "$1") >= $2)); }

# A process's resident memory (KiB) and open file descriptors.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
open_fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
# describe_fds PID: what PID's descriptors are (counted by kind, files by
# directory) and its TCP sockets.
describe_fds() {
  log "    its descriptors, by kind:"
  find "/proc/$1/fd" -mindepth 1 -maxdepth 1 -printf '%l\n' 2>/dev/null |
    sed -E 's/^(socket|pipe):.*/\1/; s|/[^/]*$|/…|' | sort | uniq -c | sort -rn >&2 || true
  if command -v ss >/dev/null; then
    log "    its TCP sockets (state, local port, peer; the first 60):"
    ss -Htanp 2>/dev/null | awk -v pid="pid=$1," '$0 ~ pid { n = split($4, l, ":"); print $1, l[n], $5 }' |
      sort | head -n 60 >&2 || true
  fi
}

# upload_via I FILE: uploads FILE (WAV) through node I as $TOKEN's user;
# prints the song id (nothing when it was not acknowledged).
upload_via() {
  curl -sf -m 30 -H "Authorization: Bearer $TOKEN" -H "Content-Type: audio/wav" --data-binary "@$2" \
    "${NODE_URL[$1]}/api/v1/songs" | jq -r .id
}

# sync_log_gaps LOG SONG: how many output buffers of SONG in a player's
# --sync-log LOG (lines "WALL_MS SONG SAMPLE RATE") did not come one buffer
# after the one before, in time and in the song: skipped, repeated or late.
# The player may nudge the position by a few samples to follow the clock,
# which no one hears (up to 8 samples, 0.5 ms, are not counted). Each gap is
# described on stderr.
sync_log_gaps() {
  awk -v song="$2" '$2 == song {
      if (prev != "") {
        if (step == "") { step = $3 - prev; tick = $1 - when }
        d = $3 - prev - step; t = $1 - when - tick
        if (d < -8 || d > 8 || t < -0.5 || t > 0.5) { bad++; print "gap at line " NR ": " d " samples, " t " ms" > "/dev/stderr" }
      }
      prev = $3; when = $1
    } END { print bad + 0 }' "$1"
}
