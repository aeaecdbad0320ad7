# Builds the cluster's binaries from upstream Go modules into a cache keyed by
# version, and links them into .cluster/bin. A warm cache builds nothing.

K8S_CACHE="$CACHE_DIR/kubernetes-$K8S_VERSION"
# A released helm carries the Kubernetes version its modules were built for (it
# renders .Capabilities.KubeVersion and checks a chart's kubeVersion with it);
# `go install` leaves helm's default, v1.20, so set it as helm's Makefile does.
HELM_K8S_MINOR=$(echo "$K8S_VERSION" | cut -d. -f2)
HELM_CACHE="$CACHE_DIR/helm-$HELM_VERSION-k8s1.$HELM_K8S_MINOR"
K8S_COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)

build_kubernetes() {
  local missing=0 b
  for b in "${K8S_COMMANDS[@]}" etcd pause; do [ -x "$K8S_CACHE/$b" ] || missing=1; done
  [ $missing -eq 0 ] && return 0
  log "building Kubernetes $K8S_VERSION, etcd $ETCD_VERSION and pause (cold: ~20 min on 2 cores)"
  local v=$K8S_VERSION minor ldflags="-s -w" p tmp
  minor=$(echo "$v" | cut -d. -f2)
  # Version stamping, as upstream's build does: without it components report
  # v0.0.0-master and version-skew checks misfire.
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags="$ldflags -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  tmp="$K8S_CACHE.partial"
  mkdir -p "$tmp"
  (
    cd "$CLUSTER_SRC/build"
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/" \
      $(printf 'k8s.io/kubernetes/cmd/%s ' "${K8S_COMMANDS[@]}") ./etcd ./pause
  ) >"$CACHE_DIR/build-kubernetes.log" 2>&1 || {
    tail -n 40 "$CACHE_DIR/build-kubernetes.log" >&2
    die "go build failed (full log: $CACHE_DIR/build-kubernetes.log)"
  }
  rm -rf "$K8S_CACHE" && mv "$tmp" "$K8S_CACHE"
}

helm_k8s_ldflags() {
  local pkg
  for pkg in pkg/lint/rules pkg/chartutil; do
    printf -- '-X helm.sh/helm/v3/%s.k8sVersionMajor=1 -X helm.sh/helm/v3/%s.k8sVersionMinor=%s ' "$pkg" "$pkg" "$HELM_K8S_MINOR"
  done
}

build_helm() {
  [ -x "$HELM_CACHE/helm" ] && return 0
  log "building helm $HELM_VERSION"
  mkdir -p "$HELM_CACHE"
  GOBIN="$HELM_CACHE" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION $(helm_k8s_ldflags)" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >"$CACHE_DIR/build-helm.log" 2>&1 || {
    tail -n 40 "$CACHE_DIR/build-helm.log" >&2
    die "building helm failed (full log: $CACHE_DIR/build-helm.log)"
  }
}

build_all() {
  mkdir -p "$CACHE_DIR" "$BIN_DIR"
  build_kubernetes
  build_helm
  local b
  for b in "${K8S_COMMANDS[@]}" etcd pause; do ln -sfn "$K8S_CACHE/$b" "$BIN_DIR/$b"; done
  ln -sfn "$HELM_CACHE/helm" "$BIN_DIR/helm"
}
