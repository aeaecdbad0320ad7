# etcd and the control plane, run as processes on this machine. kube-apiserver
# is set up as a production control plane is for aggregated API servers.

start_etcd() {
  component_running etcd && return 0
  mkdir -p "$CLUSTER_DIR/etcd"
  chmod 700 "$CLUSTER_DIR/etcd"
  # Loopback only; kube-apiserver is its sole client.
  start_component etcd "$BIN_DIR/etcd" \
    --name kube-rpf-node \
    --data-dir "$CLUSTER_DIR/etcd" \
    --listen-client-urls http://127.0.0.1:2379 \
    --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 \
    --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster "kube-rpf-node=http://127.0.0.1:2380" \
    --listen-metrics-urls http://127.0.0.1:2381 \
    --quota-backend-bytes 2147483648 \
    --log-level warn
  wait_until 60 etcd "etcd health" curl -fsS http://127.0.0.1:2381/health
}

start_apiserver() {
  component_running kube-apiserver && return 0
  start_component kube-apiserver "$BIN_DIR/kube-apiserver" \
    --advertise-address "$APISERVER_IP" \
    --bind-address "$APISERVER_IP" \
    --secure-port "$APISERVER_PORT" \
    --etcd-servers http://127.0.0.1:2379 \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --tls-cert-file "$PKI_DIR/apiserver.crt" \
    --tls-private-key-file "$PKI_DIR/apiserver.key" \
    --client-ca-file "$PKI_DIR/ca.crt" \
    --kubelet-client-certificate "$PKI_DIR/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$PKI_DIR/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI_DIR/ca.crt" \
    --kubelet-preferred-address-types InternalIP \
    --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction \
    --allow-privileged=true \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI_DIR/sa.pub" \
    --service-account-signing-key-file "$PKI_DIR/sa.key" \
    --requestheader-client-ca-file "$PKI_DIR/front-proxy-ca.crt" \
    --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User \
    --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$PKI_DIR/front-proxy-client.crt" \
    --proxy-client-key-file "$PKI_DIR/front-proxy-client.key" \
    --enable-aggregator-routing=true \
    --enable-priority-and-fairness=true \
    --audit-policy-file "$CLUSTER_SRC/config/audit-policy.yaml" \
    --audit-log-path "$AUDIT_LOG" \
    --audit-log-maxsize 200 \
    --audit-log-maxbackup 1 \
    --profiling=false \
    --v 1
  wait_until 120 kube-apiserver "kube-apiserver readiness" kc get --raw /readyz
}

start_controller_manager() {
  component_running kube-controller-manager && return 0
  local kcfg="$CLUSTER_DIR/controller-manager.kubeconfig"
  start_component kube-controller-manager "$BIN_DIR/kube-controller-manager" \
    --kubeconfig "$kcfg" \
    --authentication-kubeconfig "$kcfg" \
    --authorization-kubeconfig "$kcfg" \
    --bind-address 127.0.0.1 \
    --leader-elect=false \
    --use-service-account-credentials=true \
    --root-ca-file "$PKI_DIR/ca.crt" \
    --service-account-private-key-file "$PKI_DIR/sa.key" \
    --cluster-signing-cert-file "$PKI_DIR/ca.crt" \
    --cluster-signing-key-file "$PKI_DIR/ca.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --cluster-cidr "$POD_CIDR" \
    --allocate-node-cidrs=true \
    --node-cidr-mask-size 24 \
    --v 1
}

start_scheduler() {
  component_running kube-scheduler && return 0
  local kcfg="$CLUSTER_DIR/scheduler.kubeconfig"
  start_component kube-scheduler "$BIN_DIR/kube-scheduler" \
    --kubeconfig "$kcfg" \
    --authentication-kubeconfig "$kcfg" \
    --authorization-kubeconfig "$kcfg" \
    --bind-address 127.0.0.1 \
    --leader-elect=false \
    --v 1
}

control_plane_healthy() {
  kc get --raw /readyz >/dev/null 2>&1 &&
    curl -fsSk https://127.0.0.1:10257/healthz >/dev/null 2>&1 &&
    curl -fsSk https://127.0.0.1:10259/healthz >/dev/null 2>&1
}

start_control_plane() {
  start_etcd
  start_apiserver
  start_controller_manager
  start_scheduler
  wait_until 60 kube-controller-manager "kube-controller-manager health" curl -fsSk https://127.0.0.1:10257/healthz
  wait_until 60 kube-scheduler "kube-scheduler health" curl -fsSk https://127.0.0.1:10259/healthz
}
