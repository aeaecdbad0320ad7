import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import test from 'ava';
import { createKubeJson, KubeApiError } from '../../server/kube-json.ts';
import { makeTestPki } from './helpers/pki.ts';

/** A TLS API server stand-in that answers from a table and counts connections; the token must match. */
async function apiStandIn(t: import('ava').ExecutionContext, routes: Record<string, [number, unknown]>, token: () => string) {
  const pki = makeTestPki();
  t.teardown(() => pki.cleanup());
  const seen = { connections: 0, requests: [] as Array<{ method: string; url: string; body: string }> };
  const server = https.createServer({ cert: pki.serving.cert, key: pki.serving.key }, (req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.requests.push({ method: req.method ?? '', url: req.url ?? '', body });
      if (req.headers.authorization !== `Bearer ${token()}`) {
        res.writeHead(401, { 'Content-Type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: 401, message: 'Unauthorized' }));
        return;
      }
      const [code, answer] = routes[`${req.method} ${req.url}`] ?? [404, { kind: 'Status', code: 404, message: 'the server could not find the requested resource' }];
      res.writeHead(code, { 'Content-Type': 'application/json' }).end(typeof answer === 'string' ? answer : JSON.stringify(answer));
    });
  });
  server.on('connection', () => seen.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  server.keepAliveTimeout = 5_000;
  const kc = new KubeConfig();
  const port = (server.address() as AddressInfo).port;
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, caData: Buffer.from(pki.servingCa.cert).toString('base64'), tlsServerName: 'localhost', skipTLSVerify: false }],
    users: [{ name: 'u', token: token() }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return { kc, seen, server };
}

test('GET and POST answer the decoded JSON, over one kept-alive connection', async (t) => {
  const pod = { kind: 'Pod', metadata: { name: 'web', namespace: 'ns', uid: 'u-1' } };
  const { kc, seen } = await apiStandIn(t, {
    'GET /api/v1/namespaces/ns/pods/web': [200, pod],
    'POST /apis/authorization.k8s.io/v1/subjectaccessreviews': [201, { kind: 'SubjectAccessReview', status: { allowed: true } }],
  }, () => 'secret');
  const json = createKubeJson(kc);
  t.deepEqual(await json.call('GET', '/api/v1/namespaces/ns/pods/web'), pod);
  t.deepEqual(await json.call('GET', '/api/v1/namespaces/ns/pods/web'), pod);
  const review = await json.call<{ status: { allowed: boolean } }>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', { kind: 'SubjectAccessReview', spec: { user: 'alice' } });
  t.true(review.status.allowed);
  t.is(JSON.parse(seen.requests[2]?.body ?? '{}').spec.user, 'alice');
  t.is(seen.connections, 1, 'three calls, one TLS connection');
});

test("a refusal is a KubeApiError with the HTTP code and kube-apiserver's Status message", async (t) => {
  const { kc } = await apiStandIn(t, {
    'GET /api/v1/namespaces/ns/pods/gone': [404, { kind: 'Status', code: 404, message: 'pods "gone" not found' }],
    'GET /api/v1/namespaces/ns/pods/broken': [500, 'not json at all'],
  }, () => 'secret');
  const json = createKubeJson(kc);
  const notFound = await t.throwsAsync(json.call('GET', '/api/v1/namespaces/ns/pods/gone'), { instanceOf: KubeApiError });
  t.is(notFound?.code, 404);
  t.regex(notFound?.message ?? '', /pods "gone" not found/);
  const broken = await t.throwsAsync(json.call('GET', '/api/v1/namespaces/ns/pods/broken'), { instanceOf: KubeApiError });
  t.is(broken?.code, 500);
  t.regex(broken?.message ?? '', /not json at all/);
});

test('a server whose certificate the kubeconfig does not trust is refused', async (t) => {
  const { kc } = await apiStandIn(t, {}, () => 'secret');
  const other = makeTestPki();
  t.teardown(() => other.cleanup());
  const cluster = kc.getCurrentCluster();
  kc.loadFromOptions({
    clusters: [{ ...cluster!, caData: Buffer.from(other.otherCa.cert).toString('base64') }],
    users: [{ name: 'u', token: 'secret' }],
    contexts: [{ name: 'x', cluster: cluster!.name, user: 'u' }],
    currentContext: 'x',
  });
  await t.throwsAsync(createKubeJson(kc).call('GET', '/version'), { message: /certificate|self.signed|unable to verify/i });
});
