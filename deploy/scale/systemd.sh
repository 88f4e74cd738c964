#!/bin/sh
# --scale-command for one machine with systemd: nodes are instances of
# hifi-server@.service, one per port in HIFI_SCALE_PORTS (default 8081-8089).
#   hifi-server ... --scale-provisioner command \
#     --scale-command /usr/local/share/hifi/scale/systemd.sh
# add:    starts HIFI_SCALE_COUNT instances on ports that have none running.
# remove: stops the instance on the port of HIFI_SCALE_NODE_URL; stopping
#         (SIGTERM) drains it, and it exits 0 once its songs are elsewhere.
set -eu
ports=${HIFI_SCALE_PORTS:-8081-8089}
first=${ports%-*}
last=${ports#*-}
case "$HIFI_SCALE_ACTION" in
  add)
    left=$HIFI_SCALE_COUNT
    port=$first
    while [ "$left" -gt 0 ] && [ "$port" -le "$last" ]; do
      if ! systemctl is-active --quiet "hifi-server@$port"; then
        systemctl start "hifi-server@$port"
        echo "started hifi-server@$port"
        left=$((left - 1))
      fi
      port=$((port + 1))
    done
    [ "$left" -eq 0 ] || { echo "no free port left in $ports" >&2; exit 1; }
    ;;
  remove)
    port=${HIFI_SCALE_NODE_URL##*:}
    port=${port%%/*}
    # --no-block: the drain may take minutes; the autoscaler follows it in
    # the member list.
    systemctl stop --no-block "hifi-server@$port"
    echo "stopping (draining) hifi-server@$port, node $HIFI_SCALE_NODE"
    ;;
  *) echo "unknown HIFI_SCALE_ACTION '$HIFI_SCALE_ACTION'" >&2; exit 2 ;;
esac
