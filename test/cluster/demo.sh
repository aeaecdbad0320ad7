#!/usr/bin/env bash
# npm run demo: from a fresh machine to a pod calling home. Brings up the local
# cluster, installs kube-rpf, starts a small web server on this machine, starts
# a pod, opens `kubectl rpf` and shows the pod fetching the page.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "Installing Node.js 24 and dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
export PATH="$repo/node_modules/.bin:$PATH"

say "Starting the local Kubernetes cluster (first run builds it: ~10 minutes)"
bash test/cluster/cluster.sh up
export KUBECONFIG="$repo/.cluster/admin.kubeconfig"

say "Installing kube-rpf into it (helm chart, images built locally)"
bash test/cluster/deploy.sh

# kubectl-rpf as users get it: the single executable of the release (no
# Node.js needed, so the commands printed at the end work whatever node this
# machine has), unpacked into a folder of its own. Not into
# .cluster/kubectl-plugins, where the test command installs the npm package.
say "Building kubectl-rpf as a single executable (npm run dist; reused when up to date)"
node release/build.ts --if-stale
case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "demo: no kubectl-rpf executable is built for $(uname -m)" >&2; exit 1 ;;
esac
plugin_bin="$repo/.cluster/kubectl-rpf/bin"
mkdir -p "$plugin_bin"
tar -xzf "dist/release/kubectl-rpf-linux-$arch.tar.gz" -C "$plugin_bin" kubectl-rpf
export PATH="$plugin_bin:$PATH"

say "Starting a web server on this machine (localhost:3000)"
node -e '
  const http = require("node:http");
  http.createServer((req, res) => res.end(`Hello from ${require("node:os").hostname()}, ${req.method} ${req.url} at ${new Date().toISOString()}\n`))
    .listen(3000, "127.0.0.1");' &
web=$!

rpf=""
cleanup() {
  [ -n "$rpf" ] && kill -INT "$rpf" 2>/dev/null && wait "$rpf" 2>/dev/null
  kill "$web" 2>/dev/null || true
}
trap cleanup EXIT

say "Starting a pod (namespace kube-rpf-demo)"
kubectl create namespace kube-rpf-demo --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl run demo -n kube-rpf-demo --image=localhost/kube-rpf/testbox:v1 --image-pull-policy=Never \
  --restart=Never --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl wait -n kube-rpf-demo --for=condition=Ready pod/demo --timeout=90s >/dev/null

say "kubectl rpf -n kube-rpf-demo demo 8080:3000"
out=$(mktemp)
kubectl rpf -n kube-rpf-demo demo 8080:3000 >"$out" 2>&1 &
rpf=$!
for _ in $(seq 1 100); do grep -q 'Forwarding from' "$out" && break; sleep 0.1; done
cat "$out"

say "Inside the pod: wget -qO- http://127.0.0.1:8080/"
kubectl exec -n kube-rpf-demo demo -- wget -qO- http://127.0.0.1:8080/

say "The session, as the cluster sees it: kubectl get reverseportforwards -A"
kubectl get reverseportforwards -A

cleanup
rpf=""
trap - EXIT

cat <<NEXT

$(printf '\033[1m')What to try next$(printf '\033[0m') (the cluster keeps running):
  export KUBECONFIG=$repo/.cluster/admin.kubeconfig PATH=$plugin_bin:\$PATH
  python3 -m http.server 3000 &                       # any local service
  kubectl rpf -n kube-rpf-demo demo 8080:3000          # then, in another terminal:
  kubectl exec -n kube-rpf-demo demo -- wget -qO- http://127.0.0.1:8080/
  kubectl rpf -n kube-rpf-demo demo 0:3000             # any free port in the pod
  kubectl get reverseportforwards -A                   # live sessions; kubectl delete one to end it
  tail -f .cluster/audit.log | grep reverseportforward # every session is audited
  bash test/cluster/cluster.sh down                    # stop and remove the cluster (npm run cluster:down)
NEXT
