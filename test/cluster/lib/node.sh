# A node: containerd, kubelet and kube-proxy in the node's network namespace
# and a private mount namespace. Every function here works on the node that
# select_node chose (common.sh); cluster.sh loops over the nodes. Every mount they make (overlay root
# filesystems, pod volumes, pod network namespaces) lives only in that mount
# namespace and disappears with its last process, even if this machine's
# session is cut off before `down` runs.

# cgroup v1 hierarchies kubelet creates pod cgroups in (cgroupRoot /kube-rpf).
cgroup_hierarchies() {
  local d
  for d in /sys/fs/cgroup/*/; do
    d=${d%/}
    [ -f "$d/cgroup.procs" ] && echo "$d"
  done
}

# make_cgroup_path H PATH: creates H/PATH (cpuset cgroups need cpus and mems
# before anything can join them: copied from the parent).
make_cgroup_path() {
  local h=$1 path=$2 parent
  mkdir -p "$h$path"
  parent=$(dirname "$h$path")
  if [ -f "$h/cpuset.cpus" ] && [ -z "$(cat "$h$path/cpuset.cpus")" ]; then
    cat "$parent/cpuset.cpus" >"$h$path/cpuset.cpus"
    cat "$parent/cpuset.mems" >"$h$path/cpuset.mems"
  fi
}

make_cgroups() {
  local h i
  for h in $(cgroup_hierarchies); do
    make_cgroup_path "$h" "/$CGROUP_NAME"
    # kubelet wants its cgroupRoot to exist.
    for i in $(node_indexes); do
      select_node "$i"
      make_cgroup_path "$h" "$NODE_CGROUP_ROOT"
    done
  done
  select_node 0
  mkdir -p "$CGROUP_PIDS/system"
}

write_node_config() {
  mkdir -p "$NODE_DIR/cni" "$NODE_DIR/cni-ipam" "$NODE_DIR/kubelet" "$NODE_DIR/containerd" "$NODE_POD_LOGS"
  cat >"$NODE_DIR/containerd.toml" <<TOML
version = 2
root = "$NODE_DIR/containerd"
state = "$NODE_RUN_DIR/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "$NODE_RUN_DIR/containerd.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "$NODE_DIR/containerd-opt"

[plugins."io.containerd.grpc.v1.cri"]
  # Built by images.sh and imported; nothing is ever pulled.
  sandbox_image = "localhost/kube-rpf/pause:v1"
  stream_server_address = "127.0.0.1"
  # This machine withholds CAP_SYS_RESOURCE even from root, so no process may
  # lower its oom_score_adj (kubelet asks -998 for pause); clamp instead of failing.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # PID 1 is not systemd here: kubelet and runc use the cgroupfs driver.
        SystemdCgroup = false
        Root = "$NODE_RUN_DIR/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE_DIR/cni"
TOML
  cat >"$NODE_DIR/cni/10-kube-rpf.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "kube-rpf",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$NODE_DIR/cni-ipam",
        "ranges": [[{ "subnet": "$NODE_POD_CIDR" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
JSON
  # Pods get no nameserver: no DNS server runs here, and none outside may be asked.
  : >"$NODE_DIR/resolv.conf"
  cat >"$NODE_DIR/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $PKI_DIR/ca.crt
authorization:
  mode: Webhook
tlsCertFile: $PKI_DIR/kubelet-serving$NODE_PKI_SUFFIX.crt
tlsPrivateKeyFile: $PKI_DIR/kubelet-serving$NODE_PKI_SUFFIX.key
containerRuntimeEndpoint: unix://$NODE_RUN_DIR/containerd.sock
cgroupDriver: cgroupfs
cgroupRoot: $NODE_CGROUP_ROOT
failCgroupV1: false
failSwapOn: false
clusterDomain: cluster.local
resolvConf: $NODE_DIR/resolv.conf
podCIDR: $NODE_POD_CIDR
maxPods: 250
serializeImagePulls: false
# Images are imported, never pulled: never garbage-collect them, and never
# evict pods for disk space on a shared development machine.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "1%"
  imagefs.available: "1%"
  nodefs.inodesFree: "1%"
YAML
  cat >"$NODE_DIR/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $CLUSTER_DIR/kube-proxy.kubeconfig
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
conntrack:
  # nf_conntrack_max is not writable from a network namespace; keep the host's.
  maxPerCore: 0
YAML
}

start_containerd() {
  component_running "containerd$NODE_SUFFIX" && return 0
  mkdir -p "$NODE_RUN_DIR"
  # unshare gives containerd (and, through nsenter, kubelet) a mount namespace
  # of its own; the tmpfs mounts keep sockets, runc state and pod network
  # namespace handles private to it.
  start_component "containerd$NODE_SUFFIX" \
    unshare --mount --propagation slave -- \
    nsenter --net="/run/netns/$NODE_NETNS" -- \
    sh -c '
      mount -t tmpfs -o mode=0755 kube-rpf-node "$1" &&
      mount -t tmpfs -o mode=0755 kube-rpf-netns /run/netns &&
      mkdir -p /var/log/pods && mount --bind "$2" /var/log/pods &&
      exec containerd --config "$3"' \
    sh "$NODE_RUN_DIR" "$NODE_POD_LOGS" "$NODE_DIR/containerd.toml"
  wait_until 30 "containerd$NODE_SUFFIX" "containerd of $NODE_NAME" in_node ctr --address "$NODE_RUN_DIR/containerd.sock" version
}

start_kubelet() {
  component_running "kubelet$NODE_SUFFIX" && return 0
  local cpid
  cpid=$(component_pid "containerd$NODE_SUFFIX")
  start_component "kubelet$NODE_SUFFIX" \
    nsenter --mount="/proc/$cpid/ns/mnt" --net="/proc/$cpid/ns/net" -- \
    "$BIN_DIR/kubelet" \
    --config "$NODE_DIR/kubelet.yaml" \
    --kubeconfig "$CLUSTER_DIR/kubelet$NODE_PKI_SUFFIX.kubeconfig" \
    --root-dir "$NODE_DIR/kubelet" \
    --hostname-override "$NODE_NAME" \
    --node-ip "$NODE_IP" \
    --v 1
}

start_kube_proxy() {
  component_running "kube-proxy$NODE_SUFFIX" && return 0
  local cpid
  cpid=$(component_pid "containerd$NODE_SUFFIX")
  start_component "kube-proxy$NODE_SUFFIX" \
    nsenter --net="/proc/$cpid/ns/net" -- \
    "$BIN_DIR/kube-proxy" --config "$NODE_DIR/kube-proxy.yaml" --v 1
}

node_ready() {
  [ "$(kc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

# Every node of the cluster is Ready.
all_nodes_ready() {
  local i
  for i in $(node_indexes); do
    select_node "$i"
    node_ready || { select_node 0; return 1; }
  done
  select_node 0
}

# for_each_node CMD...: runs CMD with each node selected in turn.
for_each_node() {
  local i
  for i in $(node_indexes); do
    select_node "$i"
    "$@"
  done
  select_node 0
}
