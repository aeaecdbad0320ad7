#!/usr/bin/env bash
# cluster.sh up|down|status: a real Kubernetes cluster of two nodes (or
# KUBE_RPF_NODES, 1 to 4) on this machine, for kube-rpf's end-to-end tests and
# demo. See test/cluster/README.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for lib in common packages build pki network control-plane node images teardown; do
  # shellcheck source=/dev/null
  . "$here/lib/$lib.sh"
done

[ "$(id -u)" = 0 ] || die "must run as root (network namespaces, cgroups, containerd)"

all_running() {
  local c
  for c in "${COMPONENTS[@]}"; do component_running "$c" || return 1; done
}

cluster_healthy() { all_running && control_plane_healthy && all_nodes_ready; }

# Another checkout's cluster (or this one's, left by a session that was cut
# off) holds the machine's fixed names and ports: stop it first.
reclaim_machine() {
  local owner=""
  [ -f "$OWNER_FILE" ] && owner=$(cat "$OWNER_FILE")
  if [ -n "$owner" ] && [ "$owner" != "$CLUSTER_DIR" ] && [ -d "$owner" ]; then
    # A healthy cluster of another checkout is someone's test run: leave it,
    # unless told to take over. A dead or broken one is cleaned up.
    # CI owns its machine: there it always takes over.
    if KUBE_RPF_CLUSTER_DIR=$owner bash "$here/cluster.sh" status >/dev/null 2>&1 &&
      [ "${KUBE_RPF_TAKE_OVER:-}" != 1 ] && [ "${CI:-}" != true ]; then
      die "the cluster of $owner is running; stop it first (KUBE_RPF_CLUSTER_DIR=$owner npm run cluster:down) or set KUBE_RPF_TAKE_OVER=1"
    fi
    log "stopping the cluster of $owner first"
    KUBE_RPF_CLUSTER_DIR=$owner bash "$here/cluster.sh" down
  fi
  if [ -d "$PID_DIR" ] || any_node_netns || [ -d "$CGROUP_PIDS" ]; then
    log "cleaning up a cluster that was not shut down"
    teardown
  fi
  mkdir -p "$HOST_RUN_DIR" "$CLUSTER_DIR"
  echo "$CLUSTER_DIR" >"$OWNER_FILE"
  echo "$NODE_COUNT" >"$NODES_FILE"
}

wait_for_nodes() {
  local i
  for i in $(node_indexes); do
    select_node "$i"
    wait_until 120 "kubelet$NODE_SUFFIX" "node $NODE_NAME to be Ready" node_ready
  done
  select_node 0
}

wait_for_system() {
  wait_until 60 kube-controller-manager "the default ServiceAccount" kc get serviceaccount default -n default
  local i
  for i in $(node_indexes); do
    select_node "$i"
    wait_until 60 "kube-proxy$NODE_SUFFIX" "kube-proxy health on $NODE_NAME" in_node curl -fsS http://127.0.0.1:10256/healthz
  done
  select_node 0
}

up() {
  local t0=$SECONDS
  # `up` starts the number asked for (default 2), not the number recorded.
  NODE_COUNT=${KUBE_RPF_NODES:-2}
  set_components
  if [ "$(recorded_nodes)" = "$NODE_COUNT" ] && cluster_healthy; then
    log "cluster is already up and ready (kubeconfig: $ADMIN_KUBECONFIG)"
    return 0
  fi
  phase "packages" ensure_packages
  phase "build binaries" build_all
  phase "reclaim machine" reclaim_machine
  phase "certificates" make_pki
  phase "node network" make_network
  phase "cgroups" make_cgroups
  phase "control plane" start_control_plane
  for_each_node write_node_config
  phase "containerd" for_each_node start_containerd
  phase "images" import_images
  phase "kubelet and kube-proxy" for_each_node start_node_agents
  phase "nodes ready" wait_for_nodes
  phase "system ready" wait_for_system
  log "cluster of $NODE_COUNT node(s) is ready in $((SECONDS - t0))s; kubeconfig: $ADMIN_KUBECONFIG"
  log "try: kubectl --kubeconfig $ADMIN_KUBECONFIG get nodes"
}

start_node_agents() {
  start_kubelet
  start_kube_proxy
}

down() {
  teardown
  log "cluster is down"
}

status() {
  local c pid
  for c in "${COMPONENTS[@]}"; do
    if pid=$(component_pid "$c"); then
      printf '%-24s running (pid %s)\n' "$c" "$pid"
    else
      printf '%-24s stopped\n' "$c"
    fi
  done
  if cluster_healthy; then echo "cluster: ready"; else echo "cluster: not ready"; return 1; fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  processes) list_cluster_processes ;;
  *) echo "usage: $0 up|down|status|processes" >&2; exit 2 ;;
esac
