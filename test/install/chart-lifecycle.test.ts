// The chart's life on the real cluster: `helm upgrade` under an open session,
// then `helm uninstall`, which must take everything with it. It removes
// kube-rpf, so test/run.sh runs this file after every other end-to-end test,
// and it installs kube-rpf again when done.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { adminKubeconfig, clusterDir, createNamespace, deleteNamespace, kubectl, kubectlOk, repoRoot, startTestbox, waitFor } from '../e2e/helpers/cluster.ts';
import { startHttpServer } from '../e2e/helpers/local-server.ts';
import { runRpfExpectingFailure, startRpf } from '../e2e/helpers/rpf.ts';

const run = promisify(execFile);
const helm = path.join(clusterDir, 'bin', 'helm');
const chart = path.join(repoRoot, 'charts', 'kube-rpf');
let namespace: string;

async function helmRun(args: string[]): Promise<string> {
  const { stdout } = await run(helm, ['--kubeconfig', adminKubeconfig, ...args], { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

async function apiServiceAvailable(): Promise<string> {
  const result = await kubectl(['get', 'apiservice', 'v1alpha1.rpf.kube-rpf.dev', '-o', 'jsonpath={.status.conditions[?(@.type=="Available")].status}']);
  return result.code === 0 ? result.stdout.trim() : 'Missing';
}

async function listening(port: number): Promise<boolean> {
  const result = await kubectl(['exec', '-n', namespace, 'app', '--', 'netstat', '-ltn']);
  return new RegExp(`(127\\.0\\.0\\.1|::1):${port}\\s`).test(result.stdout);
}

test.before(async () => {
  namespace = await createNamespace('rpf-chart');
  await startTestbox(namespace, 'app');
});

test.after.always(async () => {
  if (namespace) await deleteNamespace(namespace);
  // Leave the cluster as the other tests found it: kube-rpf installed.
  await run('bash', [path.join(repoRoot, 'test/cluster/deploy.sh')], { maxBuffer: 16 * 1024 * 1024 });
});

test.serial('helm upgrade during an open session keeps the APIService Available and the session alive', async (t) => {
  const web = await startHttpServer('survived the upgrade\n');
  const rpf = await startRpf(['-n', namespace, 'app', `8999:${web.port}`], 2);
  const seen = new Set<string>();
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      seen.add(await apiServiceAvailable());
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  try {
    // Same image and certificates, changed values: the chart must keep its CA
    // (lookup) and leave the server and agent pods alone.
    await helmRun(['upgrade', 'kube-rpf', chart, '-n', 'kube-rpf', '--reuse-values', '--set', 'flowControl.nominalConcurrencyShares=21', '--wait']);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    watching = false;
    await watcher;
    t.deepEqual([...seen], ['True'], 'the APIService never left Available');
    const result = await kubectl(['exec', '-n', namespace, 'app', '--', 'wget', '-qO-', 'http://127.0.0.1:8999/']);
    t.is(result.stdout, 'survived the upgrade\n', result.stderr);
    t.is(rpf.child.exitCode, null);
    const shares = await kubectlOk(['get', 'prioritylevelconfiguration', 'kube-rpf-tunnels', '-o', 'jsonpath={.spec.limited.nominalConcurrencyShares}']);
    t.is(shares, '21');
  } finally {
    watching = false;
    await rpf.stop();
    await web.close();
  }
});

test.serial('helm uninstall removes everything, APIService included, and leaves no listener in any pod', async (t) => {
  const rpf = await startRpf(['-n', namespace, 'app', '8998:3000'], 2);
  t.true(await listening(8998));
  await helmRun(['uninstall', 'kube-rpf', '-n', 'kube-rpf', '--wait']);
  await waitFor('the listener to close', async () => ((await listening(8998)) ? undefined : true), 30_000);
  // The client reconnects after a lost session, and stops once a reconnect
  // finds the API group gone: one error line, exit 1.
  const exit = await Promise.race([rpf.exited, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 90_000))]);
  t.truthy(exit, `kubectl rpf still running 90 s after helm uninstall: ${rpf.stderr()}`);
  if (exit === undefined) await rpf.stop();
  t.is(exit?.code, 1);
  t.deepEqual(rpf.stderr().trim().split('\n').filter((l) => l.startsWith('error: ')), ['error: kube-rpf is not installed in this cluster (APIService v1alpha1.rpf.kube-rpf.dev not found)'], rpf.stderr());

  t.is(await apiServiceAvailable(), 'Missing');
  for (const kind of ['clusterrole/kube-rpf-user', 'clusterrole/kube-rpf-server', 'flowschema/kube-rpf-tunnels', 'prioritylevelconfiguration/kube-rpf-tunnels']) {
    t.not((await kubectl(['get', kind])).code, 0, `${kind} is gone`);
  }
  // Pods take their termination grace period to go; everything else is gone at once.
  await waitFor('the kube-rpf pods to be gone', async () => {
    const pods = await kubectl(['get', 'pods', '-n', 'kube-rpf', '-o', 'name']);
    return pods.stdout.trim() === '' ? true : undefined;
  }, 60_000);
  const left = await kubectl(['get', 'all,secrets,serviceaccounts,poddisruptionbudgets', '-n', 'kube-rpf', '-l', 'app.kubernetes.io/part-of=kube-rpf', '-o', 'name']);
  t.is(left.stdout.trim(), '');

  const after = await runRpfExpectingFailure(['-n', namespace, 'app', '8998:3000']);
  t.not(after.code, 0);
  t.regex(after.stderr, /kube-rpf is not installed in this cluster \(APIService v1alpha1\.rpf\.kube-rpf\.dev not found\)/);
});
