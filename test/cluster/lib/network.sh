# The node's network: a network namespace of its own, joined to this machine by
# one veth pair. containerd, kubelet, kube-proxy and every pod live behind it,
# so kube-proxy's and CNI's iptables rules, the cni0 bridge and ip_forward stay
# inside the namespace, and the namespace has no default route: pods can reach
# the node, each other and kube-apiserver, and nothing else.

make_node_network() {
  if ! ip netns list | grep -qw "$NODE_NETNS"; then
    ip netns add "$NODE_NETNS"
  fi
  local nsx="ip netns exec $NODE_NETNS"
  if ! ip link show "$HOST_VETH" >/dev/null 2>&1; then
    ip link add "$HOST_VETH" type veth peer name "$NODE_VETH" netns "$NODE_NETNS"
  fi
  ip addr replace "$HOST_LINK_IP/$LINK_PREFIX" dev "$HOST_VETH"
  ip link set "$HOST_VETH" up
  $nsx ip addr replace "$NODE_IP/$LINK_PREFIX" dev "$NODE_VETH"
  $nsx ip link set "$NODE_VETH" up
  $nsx ip link set lo up
  # kube-apiserver on this machine dials pods (aggregated API servers, with
  # --enable-aggregator-routing) through the node.
  ip route replace "$POD_CIDR" via "$NODE_IP" dev "$HOST_VETH"
  # Inside the node only: forward between the veth and the pods' bridge, and
  # let iptables see bridged traffic (kube-proxy's hairpin).
  $nsx sysctl -qw net.ipv4.ip_forward=1
  $nsx sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  $nsx sysctl -qw net.ipv4.conf.all.route_localnet=1
}

remove_node_network() {
  # Deleting the namespace deletes both veth ends, the bridge, the pods'
  # veths and every iptables rule inside it; the host route goes with the veth.
  if ip netns list | grep -qw "$NODE_NETNS"; then
    ip netns delete "$NODE_NETNS"
  fi
  ip link show "$HOST_VETH" >/dev/null 2>&1 && ip link delete "$HOST_VETH"
  return 0
}
