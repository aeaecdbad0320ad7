#!/usr/bin/env bash
# deploy.sh: builds kube-rpf, assembles its image, imports it into the local
# cluster's containerd and installs the Helm chart (`npm run cluster:deploy`).
# Idempotent: unchanged sources give the same image tag and an unchanged release.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for lib in common images; do
  # shellcheck source=/dev/null
  . "$here/lib/$lib.sh"
done
export PATH="$REPO_ROOT/node_modules/.bin:$PATH"
RELEASE_NAMESPACE=${KUBE_RPF_NAMESPACE:-kube-rpf}

build_project() {
  # tsc's output is rebuilt from nothing (a removed source leaves no stale
  # module); dist/release, the single executables, is npm run dist's to keep.
  (cd "$REPO_ROOT" && rm -rf dist/client dist/server dist/node-agent dist/protocol && npm run --silent build)
}

# The tag names the content, so a changed build rolls the pods and an
# unchanged one changes nothing.
image_tag() {
  (cd "$REPO_ROOT" && tar --sort=name --mtime=@0 --owner=0 --group=0 -cf - dist/client dist/server dist/node-agent dist/protocol package-lock.json node-agent/netns-listen test/cluster/images/kube-rpf | sha256sum | cut -c1-12)
}

install_chart() {
  local tag=$1
  "$BIN_DIR/helm" upgrade --install kube-rpf "$REPO_ROOT/charts/kube-rpf" \
    --kubeconfig "$ADMIN_KUBECONFIG" \
    --namespace "$RELEASE_NAMESPACE" --create-namespace \
    --set image.tag="$tag" --set image.pullPolicy=Never \
    --wait --timeout 3m >/dev/null
}

wait_available() {
  # helm --wait counts a one-node DaemonSet as ready while its only pod is
  # still being replaced (maxUnavailable 1), so wait for the rollouts here.
  kc rollout status daemonset/rpf-agent -n "$RELEASE_NAMESPACE" --timeout=120s >/dev/null
  kc rollout status deployment/rpf-server -n "$RELEASE_NAMESPACE" --timeout=120s >/dev/null
  kc wait --for=condition=Available apiservice/v1alpha1.rpf.kube-rpf.dev --timeout=120s >/dev/null
}

bash "$here/cluster.sh" status >/dev/null 2>&1 || die "the local cluster is not up: run npm run cluster:up first"
phase "build" build_project
tag=$(image_tag)
phase "image $tag" build_and_import_image kube-rpf "$tag"
phase "helm upgrade --install" install_chart "$tag"
phase "rollout and APIService" wait_available
prune_image_tags localhost/kube-rpf/kube-rpf "$tag"
log "kube-rpf is installed (image localhost/kube-rpf/kube-rpf:$tag, namespace $RELEASE_NAMESPACE)"
