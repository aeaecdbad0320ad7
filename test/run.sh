#!/usr/bin/env bash
# The test command (`npm test`): from nothing, installs the project's Node 24
# and dependencies, brings up the local Kubernetes cluster (building it on a
# new machine), runs every test against it, then, if it started the cluster,
# stops it and proves nothing was left behind.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error || exit 1
fi
export PATH="$repo/node_modules/.bin:$PATH"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 24 ] || { echo "test: Node 24 expected from node_modules, got $(node --version)" >&2; exit 1; }

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

# run_ava NAME ARGS...: one ava run, its summary kept for the closing line.
run_ava() {
  local name=$1
  shift
  ava "$@" 2>&1 | tee "$results/$name.out"
  echo "${PIPESTATUS[0]}" >"$results/$name.rc"
}

started_cluster=0
if ! bash test/cluster/cluster.sh status >/dev/null 2>&1; then
  bash test/cluster/cluster.sh up || { echo "test: the local cluster did not come up" >&2; exit 1; }
  started_cluster=1
fi

# kube-rpf itself: built, assembled into an image, installed with the chart;
# and kubectl-rpf installed from this package as a kubectl plugin, the way a
# user installs it (npm's `bin` mapping), into a private prefix on PATH.
bash test/cluster/deploy.sh || { echo "test: deploying kube-rpf failed" >&2; exit 1; }
plugin_prefix="$repo/.cluster/kubectl-plugins"
npm install --global --prefix "$plugin_prefix" --no-audit --no-fund --loglevel=error "$repo" >/dev/null || exit 1
export PATH="$plugin_prefix/bin:$PATH"
# kubectl plugin list exits 1 when it only warns (another kubectl-rpf further
# down PATH, from a user's own install, is shadowed by ours): read its list,
# not its exit code, and demand that ours is the one kubectl runs.
plugins=$(kubectl plugin list 2>/dev/null || true)
[ "$(grep -m1 'kubectl-rpf$' <<<"$plugins")" = "$plugin_prefix/bin/kubectl-rpf" ] || {
  echo "test: kubectl does not run the kubectl-rpf plugin from $plugin_prefix/bin (kubectl plugin list: $plugins)" >&2
  exit 1
}

# Type errors fail the run like any test (node runs .ts by stripping types, unchecked).
npm run --silent typecheck || { echo "test: typecheck failed" >&2; echo "0 passed, 1 failed"; exit 1; }
run_ava unit 'test/**/*.test.ts' '!test/e2e/**' '!test/install/**' '!test/teardown/**' '!test/release/**'
# The release (npm run dist: single executables and the krew manifest),
# installed with krew and run without Node.js; e2e runs a session with it.
run_ava release 'test/release/**/*.test.ts'
# End-to-end files share one cluster (two nodes, an agent on each), and some of them stop
# an agent or an rpf-server on purpose: they run one file at a time.
run_ava e2e --concurrency=1 'test/e2e/**/*.test.ts'
# Upgrading and uninstalling the chart disturbs everything else: last.
run_ava install 'test/install/**/*.test.ts'

if [ $started_cluster = 1 ]; then
  bash test/cluster/cluster.sh processes >"$results/processes-before-down"
  bash test/cluster/cluster.sh down
  KUBE_RPF_PROCESSES_BEFORE_DOWN="$results/processes-before-down" run_ava teardown 'test/teardown/**/*.test.ts'
fi

# One closing line over every run: "N passed, N failed". ava marks each test
# with ✔ or ✘; a run that failed without marking a test still counts one failure.
passed=0 failed=0 status=0
for out in "$results"/*.out; do
  name=$(basename "$out" .out)
  p=$(grep -c '^ *✔' "$out")
  f=$(grep -c '^ *✘' "$out")
  rc=$(cat "$results/$name.rc")
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$rc" != 0 ]; then
    status=1
    [ "$f" = 0 ] && failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
exit $status
