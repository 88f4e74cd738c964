#!/bin/sh
# --scale-command for several machines, each running hifi-server.service
# (deploy/systemd) when it is a node: HIFI_SCALE_HOSTS lists them, e.g.
#   HIFI_SCALE_HOSTS="10.0.0.4 10.0.0.5 10.0.0.6"
# and the node running the autoscaler reaches them with `ssh HOST` (a key
# for a user allowed to run systemctl there).
# add:    starts hifi-server on HIFI_SCALE_COUNT hosts where it is not running.
# remove: stops it on the host of HIFI_SCALE_NODE_URL (SIGTERM: it drains,
#         then exits 0).
set -eu
: "${HIFI_SCALE_HOSTS:?set HIFI_SCALE_HOSTS to the machines that may run a node}"
ssh_to() { ssh -o BatchMode=yes -o ConnectTimeout=10 "$@"; }
case "$HIFI_SCALE_ACTION" in
  add)
    left=$HIFI_SCALE_COUNT
    for host in $HIFI_SCALE_HOSTS; do
      [ "$left" -gt 0 ] || break
      if ! ssh_to "$host" systemctl is-active --quiet hifi-server; then
        ssh_to "$host" systemctl start hifi-server
        echo "started hifi-server on $host"
        left=$((left - 1))
      fi
    done
    [ "$left" -eq 0 ] || { echo "no machine left in HIFI_SCALE_HOSTS to start a node on" >&2; exit 1; }
    ;;
  remove)
    host=${HIFI_SCALE_NODE_URL#*://}
    host=${host%%[:/]*}
    ssh_to "$host" systemctl stop --no-block hifi-server
    echo "stopping (draining) hifi-server on $host, node $HIFI_SCALE_NODE"
    ;;
  *) echo "unknown HIFI_SCALE_ACTION '$HIFI_SCALE_ACTION'" >&2; exit 2 ;;
esac
