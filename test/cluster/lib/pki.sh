# The cluster's certificates and kubeconfigs, made with openssl for this
# cluster alone. ECDSA P-256 keys: fast to make, accepted by every component.

# new_ca NAME CN
new_ca() {
  local name=$1 cn=$2
  [ -f "$PKI_DIR/$name.crt" ] && return 0
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI_DIR/$name.key" 2>/dev/null
  openssl req -x509 -new -key "$PKI_DIR/$name.key" -subj "/CN=$cn" -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$PKI_DIR/$name.crt" 2>/dev/null
}

# new_cert NAME CA SUBJECT USAGE [SAN...]
# USAGE is serverAuth, clientAuth or "serverAuth,clientAuth"; SANs are DNS:x or IP:y.
new_cert() {
  local name=$1 ca=$2 subject=$3 usage=$4
  shift 4
  [ -f "$PKI_DIR/$name.crt" ] && return 0
  local ext="$PKI_DIR/$name.ext"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    if [ $# -gt 0 ]; then
      local IFS=,
      echo "subjectAltName=$*"
    fi
  } >"$ext"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI_DIR/$name.key" 2>/dev/null
  openssl req -new -key "$PKI_DIR/$name.key" -subj "$subject" -out "$PKI_DIR/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI_DIR/$name.csr" -CA "$PKI_DIR/$ca.crt" -CAkey "$PKI_DIR/$ca.key" \
    -CAcreateserial -days 3650 -sha256 -extfile "$ext" -out "$PKI_DIR/$name.crt" 2>/dev/null
  rm -f "$PKI_DIR/$name.csr" "$ext"
}

# write_kubeconfig FILE CERT_NAME: a kubeconfig that authenticates with
# pki/CERT_NAME.{crt,key}, everything embedded so it can be copied anywhere.
write_kubeconfig() {
  local file=$1 cert=$2 user=${3:-$2}
  cat >"$file" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: kube-rpf
  cluster:
    server: $APISERVER_URL
    certificate-authority-data: $(base64 -w0 "$PKI_DIR/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 "$PKI_DIR/$cert.crt")
    client-key-data: $(base64 -w0 "$PKI_DIR/$cert.key")
contexts:
- name: kube-rpf
  context:
    cluster: kube-rpf
    user: $user
    namespace: default
current-context: kube-rpf
KUBECONFIG
  chmod 600 "$file"
}

make_pki() {
  mkdir -p "$PKI_DIR"
  chmod 700 "$PKI_DIR"
  new_ca ca kube-rpf-cluster-ca
  # The front-proxy CA signs only kube-apiserver's client certificate for
  # aggregated API servers, exactly as kubeadm separates them.
  new_ca front-proxy-ca kube-rpf-front-proxy-ca
  new_cert apiserver ca "/CN=kube-apiserver" serverAuth \
    "DNS:kubernetes" "DNS:kubernetes.default" "DNS:kubernetes.default.svc" \
    "DNS:kubernetes.default.svc.cluster.local" "DNS:localhost" \
    "IP:$KUBERNETES_SERVICE_IP" "IP:$APISERVER_IP" "IP:127.0.0.1"
  new_cert apiserver-kubelet-client ca "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
  new_cert front-proxy-client front-proxy-ca "/CN=front-proxy-client" clientAuth
  new_cert admin ca "/O=system:masters/CN=kube-rpf-admin" clientAuth
  new_cert controller-manager ca "/CN=system:kube-controller-manager" clientAuth
  new_cert scheduler ca "/CN=system:kube-scheduler" clientAuth
  new_cert kube-proxy ca "/CN=system:kube-proxy" clientAuth
  local i
  for i in $(node_indexes); do
    select_node "$i"
    # Each kubelet is its own node to the Node authorizer and NodeRestriction.
    new_cert "kubelet-client$NODE_PKI_SUFFIX" ca "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth
    new_cert "kubelet-serving$NODE_PKI_SUFFIX" ca "/O=system:nodes/CN=system:node:$NODE_NAME" serverAuth \
      "DNS:$NODE_NAME" "IP:$NODE_IP"
    write_kubeconfig "$CLUSTER_DIR/kubelet$NODE_PKI_SUFFIX.kubeconfig" "kubelet-client$NODE_PKI_SUFFIX"
  done
  select_node 0
  if [ ! -f "$PKI_DIR/sa.key" ]; then
    openssl ecparam -name prime256v1 -genkey -noout -out "$PKI_DIR/sa.key" 2>/dev/null
    openssl ec -in "$PKI_DIR/sa.key" -pubout -out "$PKI_DIR/sa.pub" 2>/dev/null
  fi
  write_kubeconfig "$ADMIN_KUBECONFIG" admin
  write_kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" controller-manager
  write_kubeconfig "$CLUSTER_DIR/scheduler.kubeconfig" scheduler
  write_kubeconfig "$CLUSTER_DIR/kube-proxy.kubeconfig" kube-proxy
}
