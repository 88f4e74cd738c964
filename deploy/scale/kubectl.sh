#!/bin/sh
# --scale-command for Kubernetes: the StatefulSet of deploy/kubernetes
# follows the wanted count. On scaling down Kubernetes removes the pod with
# the highest ordinal (not necessarily HIFI_SCALE_NODE); its preStop hook
# drains it before it goes. (Or let the HorizontalPodAutoscaler of
# deploy/kubernetes/hpa.yaml decide, with --scale-provisioner none.)
set -eu
kubectl --namespace "${HIFI_SCALE_NAMESPACE:-hifi}" scale statefulset/hifi --replicas="$HIFI_SCALE_WANTED"
echo "statefulset/hifi scaled to $HIFI_SCALE_WANTED replicas ($HIFI_SCALE_ACTION)"
