# shellcheck shell=bash
# Loopback ports and a local etcd cluster, for the cluster end-to-end tests
# (through lib.sh) and the benchmarks (sourced, not run). Needs curl.
#
# Set before start_etcd_cluster when the defaults do not fit:
#   ETCD_BIN      the etcd binary (default: etcd on PATH)
#   ETCD_LOG_DIR  where member I writes etcdI.log (default: the data dir)
#   ETCD_TLS_CA, ETCD_TLS_CERT, ETCD_TLS_KEY  PEM files: when all are set,
#                 members serve clients over https with that certificate
#                 and accept only clients with a certificate from that CA
#                 (--client-cert-auth); etcd_curl presents the same one
# When the caller defines a function etcd_started, it is called as
# `etcd_started PID` right after each member starts (and restarts), e.g. to
# put the process on the caller's cleanup list.

# free_port: sets FREE_PORT to a free loopback port below the kernel's
# ephemeral range (32768 and up), where port-0 listeners and outgoing
# connections of other tests land, and not one this shell picked before.
# It sets a variable rather than printing, so that the picks are remembered
# (a $(free_port) subshell would forget them).
FREE_PORTS_PICKED=" "
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    [[ "$FREE_PORTS_PICKED" == *" $p "* ]] && continue
    (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
    FREE_PORTS_PICKED+="$p "
    FREE_PORT=$p
    return
  done
}

# start_etcd_cluster N DATA_DIR TOKEN: starts members m1..mN on free loopback
# ports (member I's data in DATA_DIR/etcdI, --initial-cluster-token TOKEN,
# --heartbeat-interval 50 --election-timeout 500) and waits up to 30 s for
# each to report itself healthy. Sets ETCD_CLIENT[I] and ETCD_PEER[I] (the
# ports), ETCD_PIDS[I], and ETCD_ENDPOINTS (the client URLs, comma-separated,
# for hifi-server --etcd). Fails, with the member's log on stderr, when one
# is not healthy in time; the members started stay in ETCD_PIDS.
ETCD_CLIENT=()
ETCD_PEER=()
ETCD_PIDS=()
ETCD_ENDPOINTS=""
start_etcd_cluster() {
  local n=$1 i
  ETCD_DATA_DIR=$2
  ETCD_TOKEN=$3
  ETCD_INITIAL_CLUSTER=""
  ETCD_ENDPOINTS=""
  for ((i = 1; i <= n; i++)); do
    free_port; ETCD_CLIENT[i]=$FREE_PORT
    free_port; ETCD_PEER[i]=$FREE_PORT
    ETCD_INITIAL_CLUSTER+="${ETCD_INITIAL_CLUSTER:+,}m$i=http://127.0.0.1:${ETCD_PEER[i]}"
    ETCD_ENDPOINTS+="${ETCD_ENDPOINTS:+,}$(etcd_scheme)://127.0.0.1:${ETCD_CLIENT[i]}"
  done
  for ((i = 1; i <= n; i++)); do start_etcd_member "$i"; done
  for ((i = 1; i <= n; i++)); do
    etcd_wait_healthy 30 "$i" || {
      cat "${ETCD_LOG_DIR:-$ETCD_DATA_DIR}/etcd$i.log" >&2
      printf 'etcd member %d is not healthy after 30 s\n' "$i" >&2
      return 1
    }
  done
}

# start_etcd_member I: starts member I of the cluster start_etcd_cluster set
# up; after a kill, its data dir makes it rejoin as itself. Its log is
# appended to, so a restart keeps what the member said before.
start_etcd_member() {
  local i=$1 log_dir=${ETCD_LOG_DIR:-$ETCD_DATA_DIR} client tls=()
  client="$(etcd_scheme)://127.0.0.1:${ETCD_CLIENT[i]}"
  if [[ $(etcd_scheme) == https ]]; then
    tls=(--cert-file "$ETCD_TLS_CERT" --key-file "$ETCD_TLS_KEY" --trusted-ca-file "$ETCD_TLS_CA" --client-cert-auth)
  fi
  "${ETCD_BIN:-etcd}" --name "m$i" --data-dir "$ETCD_DATA_DIR/etcd$i" "${tls[@]}" \
    --listen-client-urls "$client" --advertise-client-urls "$client" \
    --listen-peer-urls "http://127.0.0.1:${ETCD_PEER[i]}" --initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PEER[i]}" \
    --initial-cluster "$ETCD_INITIAL_CLUSTER" --initial-cluster-state new --initial-cluster-token "$ETCD_TOKEN" \
    --heartbeat-interval 50 --election-timeout 500 >>"$log_dir/etcd$i.log" 2>&1 &
  ETCD_PIDS[i]=$!
  if declare -F etcd_started >/dev/null; then etcd_started "${ETCD_PIDS[i]}"; fi
}

# etcd_scheme: https when the ETCD_TLS_* files are set, else http.
etcd_scheme() { [[ -n "${ETCD_TLS_CA:-}" && -n "${ETCD_TLS_CERT:-}" && -n "${ETCD_TLS_KEY:-}" ]] && echo https || echo http; }
# etcd_curl I PATH [curl args...]: a request to member I's client port.
etcd_curl() {
  local i=$1 path=$2 tls=()
  shift 2
  [[ $(etcd_scheme) == https ]] && tls=(--cacert "$ETCD_TLS_CA" --cert "$ETCD_TLS_CERT" --key "$ETCD_TLS_KEY")
  curl "${tls[@]}" "$@" "$(etcd_scheme)://127.0.0.1:${ETCD_CLIENT[$i]}$path"
}
# etcd_healthy I: member I answers its /health with "health":"true".
etcd_healthy() { etcd_curl "$1" /health -sf -m 2 | grep -q '"health":"true"'; }

# etcd_wait_healthy SECONDS I: polls etcd_healthy I every 50 ms until it
# holds or SECONDS have passed.
etcd_wait_healthy() {
  local deadline=$((SECONDS + $1))
  until etcd_healthy "$2"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}
