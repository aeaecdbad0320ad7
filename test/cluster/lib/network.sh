# The nodes' network: each node is a network namespace of its own, joined to
# this machine by one veth pair and to every other node by one more.
# containerd, kubelet, kube-proxy and every pod of a node live behind it, so
# kube-proxy's and CNI's iptables rules, the cni0 bridge and ip_forward stay
# inside the namespace, and no namespace has a default route: pods can reach
# the nodes, each other and kube-apiserver, and nothing else. This machine
# forwards nothing (its ip_forward is left alone): node-to-node traffic goes
# over the nodes' own links.
#
#   this machine                 node 0 (kube-rpf-node)          node 1 (kube-rpf-node2)
#   rpf-host0 10.211.0.1/30 <--> rpf-node0 10.211.0.2/30
#   rpf-host1 10.211.0.5/30 <------------------------------------> rpf-node1 10.211.0.6/30
#                                rpf-n0-1  <------------------->  rpf-n1-0   (no addresses)
#   routes: 10.212.I.0/24 via node I          10.212.1.0/24 via 10.211.0.6 dev rpf-n0-1, and back

# make_node_network: the selected node's namespace, its link to this machine
# and the routes to it.
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
  # kube-apiserver listens on node 0's link; this machine delivers what
  # arrives for its own address on any link, so other nodes need only a route.
  if [ "$HOST_LINK_IP" != "$APISERVER_IP" ]; then
    $nsx ip route replace "$APISERVER_IP/32" via "$HOST_LINK_IP" dev "$NODE_VETH"
  fi
  # kube-apiserver on this machine dials pods (aggregated API servers, with
  # --enable-aggregator-routing) through their node.
  ip route replace "$NODE_POD_CIDR" via "$NODE_IP" dev "$HOST_VETH"
  # Inside the node only: forward between its links and the pods' bridge, and
  # let iptables see bridged traffic (kube-proxy's hairpin).
  $nsx sysctl -qw net.ipv4.ip_forward=1
  $nsx sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  $nsx sysctl -qw net.ipv4.conf.all.route_localnet=1
}

# link_nodes I J: a veth pair between nodes I and J (both namespaces exist),
# with routes to each other's node address and pods. The links carry no
# address of their own: a node answers ARP for its node address on any link.
link_nodes() {
  local i=$1 j=$2 ns_i ns_j ip_i ip_j cidr_i cidr_j
  select_node "$i"; ns_i=$NODE_NETNS; ip_i=$NODE_IP; cidr_i=$NODE_POD_CIDR
  select_node "$j"; ns_j=$NODE_NETNS; ip_j=$NODE_IP; cidr_j=$NODE_POD_CIDR
  local dev_i="rpf-n$i-$j" dev_j="rpf-n$j-$i"
  if ! ip netns exec "$ns_i" ip link show "$dev_i" >/dev/null 2>&1; then
    ip netns exec "$ns_i" ip link add "$dev_i" type veth peer name "$dev_j" netns "$ns_j"
  fi
  ip netns exec "$ns_i" ip link set "$dev_i" up
  ip netns exec "$ns_j" ip link set "$dev_j" up
  ip netns exec "$ns_i" ip route replace "$ip_j/32" dev "$dev_i"
  ip netns exec "$ns_i" ip route replace "$cidr_j" via "$ip_j" dev "$dev_i"
  ip netns exec "$ns_j" ip route replace "$ip_i/32" dev "$dev_j"
  ip netns exec "$ns_j" ip route replace "$cidr_i" via "$ip_i" dev "$dev_j"
}

# make_network: every node's namespace and links.
make_network() {
  local i j
  for i in $(node_indexes); do
    select_node "$i"
    make_node_network
  done
  for i in $(node_indexes); do
    for j in $(node_indexes); do
      [ "$j" -lt "$i" ] && link_nodes "$j" "$i"
    done
  done
  select_node 0
}

remove_network() {
  # Deleting a namespace deletes both ends of its veths (to this machine and to
  # other nodes), the bridge, the pods' veths and every iptables rule inside
  # it; the host routes go with the host veths.
  local i
  for i in $(all_node_indexes); do
    select_node "$i"
    if ip netns list | grep -qw "$NODE_NETNS"; then
      ip netns delete "$NODE_NETNS"
    fi
    if ip link show "$HOST_VETH" >/dev/null 2>&1; then ip link delete "$HOST_VETH"; fi
  done
  select_node 0
  return 0
}

# Whether any node namespace of this cluster exists.
any_node_netns() {
  local i names
  names=$(ip netns list)
  for i in $(all_node_indexes); do
    select_node "$i"
    grep -qw "$NODE_NETNS" <<<"$names" && { select_node 0; return 0; }
  done
  select_node 0
  return 1
}
