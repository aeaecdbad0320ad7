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
NODE_DIR="$CLUSTER_DIR/node"
ADMIN_KUBECONFIG="$CLUSTER_DIR/admin.kubeconfig"
AUDIT_LOG="$CLUSTER_DIR/audit.log"

# One cluster per machine: its ports and network names are fixed. The marker
# names the .cluster folder that owns them, so a fresh clone (CI) can find and
# clean up what an earlier checkout left behind.
HOST_RUN_DIR=/run/kube-rpf
OWNER_FILE="$HOST_RUN_DIR/owner"
# Inside the node's private mount namespace a tmpfs is mounted here: sockets and
# runtime state of containerd and runc vanish with the namespace.
NODE_RUN_DIR="$HOST_RUN_DIR/node"

NODE_NAME=kube-rpf-node
NODE_NETNS=kube-rpf-node
HOST_VETH=rpf-host0
NODE_VETH=rpf-node0
HOST_LINK_IP=10.211.0.1
NODE_IP=10.211.0.2
LINK_PREFIX=30
POD_CIDR=10.212.0.0/16
NODE_POD_CIDR=10.212.0.0/24
SERVICE_CIDR=10.213.0.0/16
KUBERNETES_SERVICE_IP=10.213.0.1
APISERVER_PORT=6443
APISERVER_URL="https://$HOST_LINK_IP:$APISERVER_PORT"

# The cgroup (pids hierarchy, cgroup v1) that holds every process the cluster
# starts, containers included (kubelet's cgroupRoot is the same name), so that
# `down` finds all of them, however they were forked.
CGROUP_NAME=kube-rpf
CGROUP_PIDS=/sys/fs/cgroup/pids/$CGROUP_NAME

# Components in start order; `down` stops them in reverse.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy)

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
  case "$exe" in */"$1") echo "$pid" ;; *) return 1 ;; esac
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
  setsid sh -c 'echo $$ > "$1"; echo $$ > "$2/cgroup.procs"; shift 2; exec "$@"' \
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

# Runs a command inside the node: its network and mount namespaces, where
# containerd, kubelet and the pods live.
in_node() {
  local pid
  pid=$(component_pid containerd) || die "containerd is not running"
  nsenter --mount="/proc/$pid/ns/mnt" --net="/proc/$pid/ns/net" -- "$@"
}

ctr_node() { in_node ctr --address "$NODE_RUN_DIR/containerd.sock" --namespace k8s.io "$@"; }
