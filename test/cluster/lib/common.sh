# Shared paths, logging and process bookkeeping for test/cluster.
# Sourced by cluster.sh; every function here is side-effect free until called.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
CLUSTER_SRC="$REPO_ROOT/test/cluster"
CLUSTER_DIR="${KUBE_RPF_CLUSTER_DIR:-$REPO_ROOT/.cluster}"
# shellcheck source=../versions.env
. "$CLUSTER_SRC/versions.env"

CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/kube-rpf"
BIN_DIR="$CLUSTER_DIR/bin"
PKI_DIR="$CLUSTER_DIR/pki"
LOG_DIR="$CLUSTER_DIR/logs"
PID_DIR="$CLUSTER_DIR/pids"
ADMIN_KUBECONFIG="$CLUSTER_DIR/admin.kubeconfig"
AUDIT_LOG="$CLUSTER_DIR/audit.log"

# One cluster per machine: its ports and network names are fixed. The marker
# names the .cluster folder that owns them, so a fresh clone (CI) can find and
# clean up what an earlier checkout left behind.
HOST_RUN_DIR=/run/kube-rpf
OWNER_FILE="$HOST_RUN_DIR/owner"

# How many nodes `up` starts (KUBE_RPF_NODES, 1 to MAX_NODES, default 2); the
# other commands work on the number the running cluster was started with,
# recorded in NODES_FILE.
MAX_NODES=4
NODES_FILE="$CLUSTER_DIR/nodes"
recorded_nodes() { cat "$NODES_FILE" 2>/dev/null || true; }
NODE_COUNT=${KUBE_RPF_NODES:-$(recorded_nodes)}
# A cluster started before clusters had several nodes records no number: one.
[ -z "$NODE_COUNT" ] && [ -d "$PID_DIR" ] && NODE_COUNT=1
NODE_COUNT=${NODE_COUNT:-2}
case "$NODE_COUNT" in
  [1-9]) [ "$NODE_COUNT" -le $MAX_NODES ] || { echo "KUBE_RPF_NODES must be 1 to $MAX_NODES" >&2; exit 2; } ;;
  *) echo "KUBE_RPF_NODES must be 1 to $MAX_NODES, not '$NODE_COUNT'" >&2; exit 2 ;;
esac

POD_CIDR=10.212.0.0/16
SERVICE_CIDR=10.213.0.0/16
KUBERNETES_SERVICE_IP=10.213.0.1
LINK_PREFIX=30
# kube-apiserver's address: the host end of node 0's link. Other nodes reach
# it through the host end of their own link (a route, no forwarding).
APISERVER_IP=10.211.0.1
APISERVER_PORT=6443
APISERVER_URL="https://$APISERVER_IP:$APISERVER_PORT"

# select_node I: points the NODE_* variables at node I (0-based). Node 0 keeps
# the names of the one-node cluster (kube-rpf-node, rpf-host0, 10.211.0.2,
# pods 10.212.0.0/24); node I is kube-rpf-node<I+1>, joined to this machine
# by its own /30 (10.211.0.4I+1 <-> 10.211.0.4I+2), pods 10.212.I.0/24.
select_node() {
  local i=$1 suffix=""
  [ "$i" -gt 0 ] && suffix=$((i + 1))
  NODE_INDEX=$i
  NODE_NAME=kube-rpf-node$suffix
  NODE_NETNS=$NODE_NAME
  HOST_VETH=rpf-host$i
  NODE_VETH=rpf-node$i
  HOST_LINK_IP=10.211.0.$((4 * i + 1))
  NODE_IP=10.211.0.$((4 * i + 2))
  NODE_POD_CIDR=10.212.$i.0/24
  NODE_DIR="$CLUSTER_DIR/node$suffix"
  # Inside the node's private mount namespace a tmpfs is mounted here: sockets and
  # runtime state of containerd and runc vanish with the namespace.
  NODE_RUN_DIR="$HOST_RUN_DIR/node$suffix"
  # Container logs; each kubelet removes the folders of pods it does not know,
  # so every node has its own.
  NODE_POD_LOGS="$LOG_DIR/pods$suffix"
  # kubelet's cgroupRoot, one per node, side by side: each kubelet kills what
  # runs in pod cgroups it does not know under its root, and its cAdvisor
  # watches every cgroup under it (nested roots would be watched twice).
  NODE_CGROUP_ROOT=/$CGROUP_NAME/node-$i
  # Component names (pid and log files): containerd, kubelet, kube-proxy on
  # node 0; containerd.node2, ... on the others.
  NODE_SUFFIX=${suffix:+.node$suffix}
  # The node's certificates and kubeconfig: kubelet-client, kubelet-serving, ...
  NODE_PKI_SUFFIX=${suffix:+-node$suffix}
}

# The indexes of the nodes to start (0 .. NODE_COUNT-1).
node_indexes() { seq 0 $((NODE_COUNT - 1)); }

# The indexes of every node that may exist on this machine, for cleaning up.
all_node_indexes() { seq 0 $((MAX_NODES - 1)); }

# The cgroup (pids hierarchy, cgroup v1) that holds every process the cluster
# starts, containers included (kubelets' cgroupRoots are under the same name),
# so that `down` finds all of them, however they were forked.
CGROUP_NAME=kube-rpf
CGROUP_PIDS=/sys/fs/cgroup/pids/$CGROUP_NAME

CONTROL_PLANE=(etcd kube-apiserver kube-controller-manager kube-scheduler)
NODE_COMPONENTS=(containerd kubelet kube-proxy)

# Components in start order; `down` stops them in reverse. Nodes beyond
# NODE_COUNT are included while their pid files exist (a cluster started with
# more nodes than asked now is still stopped whole).
set_components() {
  local i c
  COMPONENTS=("${CONTROL_PLANE[@]}")
  for i in $(all_node_indexes); do
    select_node "$i"
    if [ "$i" -lt "$NODE_COUNT" ] || [ -f "$PID_DIR/containerd$NODE_SUFFIX.pid" ]; then
      for c in "${NODE_COMPONENTS[@]}"; do COMPONENTS+=("$c$NODE_SUFFIX"); done
    fi
  done
  select_node 0
}
set_components

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] error: %s\n' "$*" >&2; exit 1; }

# phase NAME CMD...: runs one phase of `up` and prints how long it took.
phase() {
  local name=$1 start end
  shift
  start=$(date +%s.%N)
  log "$name ..."
  "$@"
  end=$(date +%s.%N)
  printf '[cluster] %-28s %6.1fs\n' "$name" "$(awk "BEGIN{print $end - $start}")" >&2
}

# Prints the tail of a component's log, for failures.
log_tail() {
  local component=$1 file="$LOG_DIR/$1.log"
  [ -f "$file" ] || return 0
  printf '[cluster] --- last lines of %s ---\n' "$file" >&2
  tail -n "${2:-40}" "$file" >&2
  printf '[cluster] ---\n' >&2
}

# wait_until TIMEOUT_S COMPONENT DESCRIPTION CMD...: polls CMD until it succeeds;
# on timeout, shows COMPONENT's log and fails.
wait_until() {
  local timeout=$1 component=$2 what=$3 deadline
  shift 3
  deadline=$(( $(date +%s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "timed out after ${timeout}s waiting for $what"
      log_tail "$component"
      exit 1
    fi
    if [ -n "$component" ] && ! component_running "$component"; then
      log "$component exited while waiting for $what"
      log_tail "$component"
      exit 1
    fi
    sleep 0.5
  done
}

pid_file() { echo "$PID_DIR/$1.pid"; }

# The recorded PID of a component, if that process is still alive and still
# runs the component's binary (guards against PID reuse).
component_pid() {
  local file pid exe
  file=$(pid_file "$1")
  [ -f "$file" ] || return 1
  pid=$(cat "$file")
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  # containerd.node2 runs the containerd binary.
  case "$exe" in */"${1%%.*}") echo "$pid" ;; *) return 1 ;; esac
}
component_running() { component_pid "$1" >/dev/null; }

# start_component NAME [PREFIX...] -- BINARY ARGS...
# Starts a component in the background, in its own session, inside the tracking
# cgroup, logging to logs/NAME.log. PREFIX is a command that execs the rest
# (nsenter, unshare), so the recorded PID is the component's own.
start_component() {
  local name=$1
  shift
  mkdir -p "$LOG_DIR" "$PID_DIR"
  # Descriptors 3-9 are closed first: a component must not inherit the
  # caller's, e.g. the lock of `flock LOCKFILE cluster.sh up`, which it would
  # then hold for as long as it runs.
  setsid sh -c 'echo $$ > "$1"; echo $$ > "$2/cgroup.procs"; shift 2; for n in 3 4 5 6 7 8 9; do eval "exec $n>&-"; done; exec "$@"' \
    sh "$(pid_file "$name")" "$CGROUP_PIDS/system" "$@" \
    >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
  local i
  for i in $(seq 1 50); do
    component_running "$name" && return 0
    sleep 0.1
  done
  log "$name did not start"
  log_tail "$name"
  exit 1
}

# kubectl as the cluster admin.
kc() { kubectl --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }

# Runs a command inside the selected node (select_node): its network and mount
# namespaces, where containerd, kubelet and the pods live.
in_node() {
  local pid
  pid=$(component_pid "containerd$NODE_SUFFIX") || die "containerd of $NODE_NAME is not running"
  nsenter --mount="/proc/$pid/ns/mnt" --net="/proc/$pid/ns/net" -- "$@"
}

ctr_node() { in_node ctr --address "$NODE_RUN_DIR/containerd.sock" --namespace k8s.io "$@"; }
