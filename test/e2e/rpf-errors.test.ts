// Bad input and refusals: each one a clear, one-line error and a non-zero
// exit, nothing leaked, and the other streams undisturbed.
import https from 'node:https';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { clusterDir, createNamespace, deleteNamespace, kubectl, kubectlOk, startTestbox, waitFor } from './helpers/cluster.ts';
import { startHttpServer } from './helpers/local-server.ts';
import { runRpfExpectingFailure, startRpf } from './helpers/rpf.ts';
import { createUser } from './helpers/users.ts';

let namespace: string;

test.before(async () => {
  namespace = await createNamespace('rpf-err');
  await startTestbox(namespace, 'app');
  await startTestbox(namespace, 'busy', 'exec httpd -f -p 8080 -h /www');
});

test.after.always(async () => {
  if (namespace) await deleteNamespace(namespace);
});

/** The one `error:` line a failure prints (progress notes such as "waiting up to 2s" may precede it), and it is last. */
function oneLine(t: { is(a: unknown, b: unknown, m?: string): void }, stderr: string): string {
  const lines = stderr.trim().split('\n');
  const errors = lines.filter((line) => line.startsWith('error: '));
  t.is(errors.length, 1, `expected one error line on stderr, got: ${stderr}`);
  t.is(errors[0], lines[lines.length - 1], 'the error line is the last one');
  return errors[0] ?? '';
}

test('a port already in use in the pod fails with 409 and the port named', async (t) => {
  const result = await runRpfExpectingFailure(['-n', namespace, 'busy', '8080:3000']);
  t.not(result.code, 0);
  t.regex(oneLine(t, result.stderr), /error creating reverse port-forward listener: port 8080 already in use/);
  // All or nothing: no listener was left behind on a port that did succeed.
  const listening = await kubectl(['exec', '-n', namespace, 'busy', '--', 'netstat', '-ltn']);
  t.notRegex(listening.stdout, /127\.0\.0\.1:3000|::1:3000/);
});

test('nothing listening locally resets only that pod connection, and the session lives on', async (t) => {
  const probe = await startHttpServer('');
  const port = probe.port;
  await probe.close(); // the port is now closed on this machine
  const rpf = await startRpf(['-n', namespace, 'app', `8181:${port}`], 2);
  try {
    const refused = await kubectl(['exec', '-n', namespace, 'app', '--', 'wget', '-qO-', 'http://127.0.0.1:8181/'], { timeoutMs: 20_000 });
    t.not(refused.code, 0);
    t.regex(refused.stderr, /reset|refused|closed|error/i, `wget should see its connection reset; kubectl rpf printed: ${rpf.stderr()}`);
    const refusedLine = new RegExp(`dial tcp 127\\.0\\.0\\.1:${port}: connect: connection refused`);
    await waitFor('kubectl rpf to report the refused dial', async () => (refusedLine.test(rpf.stderr()) ? true : undefined), 10_000);
    t.is(rpf.child.exitCode, null, 'kubectl rpf is still running');
    const web = await startHttpServer('back again\n', port);
    try {
      const ok = await kubectl(['exec', '-n', namespace, 'app', '--', 'wget', '-qO-', 'http://127.0.0.1:8181/'], { timeoutMs: 20_000 });
      t.is(ok.stdout, 'back again\n', `${ok.stderr}; kubectl rpf printed: ${rpf.stderr()}`);
    } finally {
      await web.close();
    }
  } finally {
    await rpf.stop();
  }
});

test('an unknown pod is reported as not found', async (t) => {
  const result = await runRpfExpectingFailure(['-n', namespace, 'no-such-pod', '8080:3000']);
  t.not(result.code, 0);
  t.regex(oneLine(t, result.stderr), /pods "no-such-pod" not found/);
});

test('a pod that is not running is refused', async (t) => {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'unscheduled', namespace },
    spec: { nodeSelector: { 'kube-rpf.dev/no-such-node': 'true' }, containers: [{ name: 'main', image: 'localhost/kube-rpf/testbox:v1' }] },
  };
  await kubectlOk(['apply', '-f', '-'], JSON.stringify(pod));
  const result = await runRpfExpectingFailure(['-n', namespace, '--pod-running-timeout=2s', 'unscheduled', '8080:3000']);
  t.not(result.code, 0);
  t.regex(oneLine(t, result.stderr), /Pending|not running/);
});

test('a user without RBAC for reverseportforward is Forbidden by kube-apiserver', async (t) => {
  const user = await createUser(`no-rpf-${Math.random().toString(36).slice(2, 7)}`);
  await kubectlOk(['create', 'rolebinding', `${user.name}-view`, '-n', namespace, '--clusterrole=view', `--user=${user.name}`]);
  const result = await runRpfExpectingFailure(['-n', namespace, 'app', '8080:3000'], user.kubeconfig);
  t.not(result.code, 0);
  const line = oneLine(t, result.stderr);
  t.regex(line, /forbidden/i);
  t.regex(line, /cannot get resource "pods\/reverseportforward" in API group "rpf\.kube-rpf\.dev"/);
});

test('a user with get but not create is Forbidden by rpf-server', async (t) => {
  const user = await createUser(`get-only-${Math.random().toString(36).slice(2, 7)}`);
  await kubectlOk(['create', 'rolebinding', `${user.name}-view`, '-n', namespace, '--clusterrole=view', `--user=${user.name}`]);
  // kubectl create role checks resources against discovery, which lists no
  // plain "pods" in the group, so the Role is written out.
  const role = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: `${user.name}-get`, namespace },
    rules: [{ apiGroups: ['rpf.kube-rpf.dev'], resources: ['pods/reverseportforward'], verbs: ['get'] }],
  };
  await kubectlOk(['apply', '-f', '-'], JSON.stringify(role));
  await kubectlOk(['create', 'rolebinding', `${user.name}-get`, '-n', namespace, `--role=${user.name}-get`, `--user=${user.name}`]);
  const result = await runRpfExpectingFailure(['-n', namespace, 'app', '8080:3000'], user.kubeconfig);
  t.not(result.code, 0);
  const line = oneLine(t, result.stderr);
  t.regex(line, /forbidden/i);
  t.regex(line, /cannot create resource "pods\/reverseportforward"/);
});

test('a user without the expose verb may not bind a non-loopback address', async (t) => {
  const user = await createUser(`no-expose-${Math.random().toString(36).slice(2, 7)}`);
  await kubectlOk(['create', 'rolebinding', `${user.name}-view`, '-n', namespace, '--clusterrole=view', `--user=${user.name}`]);
  await kubectlOk(['create', 'rolebinding', `${user.name}-rpf`, '-n', namespace, '--clusterrole=kube-rpf-user', `--user=${user.name}`]);
  const result = await runRpfExpectingFailure(['-n', namespace, '--address', '0.0.0.0', 'app', '8080:3000'], user.kubeconfig);
  t.not(result.code, 0);
  const line = oneLine(t, result.stderr);
  t.regex(line, /forbidden/i);
  t.regex(line, /expose/);
});

async function podIP(ns: string, selector: string): Promise<string> {
  return (await kubectlOk(['get', 'pods', '-n', ns, '-l', selector, '-o', 'jsonpath={.items[0].status.podIP}'])).trim();
}

function httpsGet(host: string, port: number, pathname: string, options: https.RequestOptions = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host, port, path: pathname, method: 'GET', rejectUnauthorized: false, ...options }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('rpf-server refuses a request without kube-apiserver front-proxy certificate, even with X-Remote-User', async (t) => {
  const ip = await podIP('kube-rpf', 'app.kubernetes.io/name=rpf-server');
  const apiPath = `/apis/rpf.kube-rpf.dev/v1alpha1/namespaces/${namespace}/pods/app/reverseportforward?ports=8080`;
  const bare = await httpsGet(ip, 8443, apiPath, { headers: { 'X-Remote-User': 'system:admin', 'X-Remote-Group': 'system:masters' } });
  t.is(bare.status, 401);
  t.is(JSON.parse(bare.body).reason, 'Unauthorized');
  // A certificate from the cluster CA is not the front-proxy's.
  const admin = await readFile(path.join(clusterDir, 'pki/admin.crt'));
  const adminKey = await readFile(path.join(clusterDir, 'pki/admin.key'));
  const wrongCA = await httpsGet(ip, 8443, apiPath, { cert: admin, key: adminKey, headers: { 'X-Remote-User': 'system:admin' } });
  t.is(wrongCA.status, 401);
});

test('rpf-agent refuses anyone but rpf-server', async (t) => {
  const ip = await podIP('kube-rpf', 'app.kubernetes.io/name=rpf-agent');
  const bare = await httpsGet(ip, 8443, '/v1/sessions');
  t.is(bare.status, 401);
  const admin = await readFile(path.join(clusterDir, 'pki/admin.crt'));
  const adminKey = await readFile(path.join(clusterDir, 'pki/admin.key'));
  const wrongCA = await httpsGet(ip, 8443, '/v1/sessions', { cert: admin, key: adminKey });
  t.is(wrongCA.status, 401);
});
