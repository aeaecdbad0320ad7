import test from 'ava';
import { startAgentStandIn } from './helpers/agent-stand-in.ts';
import type { AgentStandIn } from './helpers/agent-stand-in.ts';
import { agentPod, pod } from './helpers/fakes.ts';
import { rawRequest, startHarness, userHeaders } from './helpers/harness.ts';
import type { Harness } from './helpers/harness.ts';
import { makeTestPki } from './helpers/pki.ts';

const pki = makeTestPki();
test.after.always(() => pki.cleanup());

const BASE = '/apis/rpf.kube-rpf.dev/v1alpha1';
const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';

function session(id: string, namespace: string, podName: string, user = 'alice'): Record<string, unknown> {
  return {
    id,
    namespace,
    pod: podName,
    podUID: `uid-${podName}`,
    user,
    ports: [{ address: '127.0.0.1', port: 8080, requestedPort: 8080 }],
    connections: { open: 1, total: 4 },
    bytesToPod: 10,
    bytesFromPod: 20,
    startTime: new Date(Date.now() - 90_000).toISOString(),
  };
}

/** Two nodes: node-a (the harness's agent) and node-b (a second stand-in). */
async function twoNodes(t: { teardown(fn: () => Promise<void>): void }): Promise<{ h: Harness; b: AgentStandIn }> {
  const h = await startHarness(pki);
  const b = await startAgentStandIn(pki, '127.0.0.2');
  t.teardown(async () => {
    await h.close();
    await b.close();
  });
  h.agentPorts.set(b.host, b.port);
  h.kube.pods = [pod({ name: 'web' }), pod({ name: 'api', namespace: 'prod', nodeName: 'node-b' }), agentPod('node-a', h.agent.host), agentPod('node-b', b.host)];
  h.agent.sessions = [session('rpf-1', 'dev', 'web'), session('rpf-2', 'dev', 'other')];
  b.sessions = [session('rpf-3', 'prod', 'api', 'bob')];
  return { h, b };
}

function get(h: Harness, path: string, accept = 'application/json') {
  return rawRequest(h, pki, { path, upgrade: false, headers: { ...userHeaders(), Accept: accept } });
}

test('listing in all namespaces asks every ready agent and returns a ReversePortForwardList', async (t) => {
  const { h } = await twoNodes(t);
  const res = await get(h, `${BASE}/reverseportforwards`);
  t.is(res.status, 200);
  const list = JSON.parse(res.body) as { kind: string; items: { metadata: { name: string; namespace: string }; spec: { node: string; user: string } }[] };
  t.is(list.kind, 'ReversePortForwardList');
  t.deepEqual(list.items.map((i) => `${i.metadata.namespace}/${i.metadata.name}@${i.spec.node}`), ['dev/rpf-1@node-a', 'dev/rpf-2@node-a', 'prod/rpf-3@node-b']);
});

test('listing in a namespace returns only its sessions', async (t) => {
  const { h } = await twoNodes(t);
  const res = await get(h, `${BASE}/namespaces/prod/reverseportforwards`);
  const list = JSON.parse(res.body) as { items: { metadata: { name: string } }[] };
  t.deepEqual(list.items.map((i) => i.metadata.name), ['rpf-3']);
});

test('kubectl\'s Table Accept header gets a server-side table with the exact media type', async (t) => {
  const { h } = await twoNodes(t);
  const res = await get(h, `${BASE}/reverseportforwards`, TABLE);
  t.is(res.status, 200);
  t.is(res.headers['content-type'], 'application/json;as=Table;v=v1;g=meta.k8s.io');
  const table = JSON.parse(res.body) as { kind: string; columnDefinitions: { name: string }[]; rows: { cells: unknown[]; object: { metadata: { namespace: string } } }[] };
  t.is(table.kind, 'Table');
  t.deepEqual(table.columnDefinitions.slice(0, 6).map((c) => c.name), ['Name', 'Pod', 'User', 'Ports', 'Connections', 'Age']);
  t.deepEqual(table.rows[2]?.cells.slice(0, 5), ['rpf-3', 'api', 'bob', '8080', 1]);
  t.is(table.rows[2]?.object.metadata.namespace, 'prod');
});

test('an agent that does not answer leaves the others\' sessions listed and a Warning kubectl prints', async (t) => {
  const { h, b } = await twoNodes(t);
  h.agentPorts.set(b.host, 1);
  const res = await get(h, `${BASE}/reverseportforwards`);
  t.is(res.status, 200);
  // kubectl prints the Warning verbatim, a user contract: it must name the node that did not answer.
  t.regex(String(res.headers['warning']), /^299 - ".*node-b/);
  const list = JSON.parse(res.body) as { items: { metadata: { name: string } }[] };
  t.deepEqual(list.items.map((i) => i.metadata.name), ['rpf-1', 'rpf-2']);
});

test('one session is read by namespace and name, and a name in another namespace is 404', async (t) => {
  const { h } = await twoNodes(t);
  const res = await get(h, `${BASE}/namespaces/prod/reverseportforwards/rpf-3`);
  t.is(res.status, 200);
  t.like(JSON.parse(res.body), { kind: 'ReversePortForward', metadata: { name: 'rpf-3', namespace: 'prod' }, spec: { user: 'bob', node: 'node-b' } });
  const missing = await get(h, `${BASE}/namespaces/dev/reverseportforwards/rpf-3`);
  t.is(missing.status, 404);
  t.is(missing.headers['x-rpf-error-code'], 'RPF_ERR_SERVER_SESSION_NOT_FOUND');
  t.is((JSON.parse(missing.body) as { reason: string }).reason, 'NotFound');
});

test('deleting a session asks the agent that holds it and answers a Success Status', async (t) => {
  const { h, b } = await twoNodes(t);
  const res = await rawRequest(h, pki, {
    path: `${BASE}/namespaces/prod/reverseportforwards/rpf-3`,
    method: 'DELETE',
    upgrade: false,
    // kubectl delete sends DeleteOptions; the server ignores it.
    headers: { ...userHeaders(), 'Content-Type': 'application/json' },
    body: '{"kind":"DeleteOptions","apiVersion":"meta.k8s.io/v1","propagationPolicy":"Background"}',
  });
  t.is(res.status, 200, res.body);
  t.like(JSON.parse(res.body), { kind: 'Status', status: 'Success', details: { name: 'rpf-3', kind: 'reverseportforwards' } });
  t.deepEqual(b.deleted, ['rpf-3']);
  t.deepEqual(h.agent.deleted, []);
  t.true(b.requests.some((r) => r.method === 'DELETE' && r.url === '/v1/sessions/rpf-3'));
});

test('deleting an unknown session is 404 and asks no agent to delete', async (t) => {
  const { h, b } = await twoNodes(t);
  const res = await rawRequest(h, pki, { path: `${BASE}/namespaces/prod/reverseportforwards/nope`, method: 'DELETE', upgrade: false, headers: userHeaders() });
  t.is(res.status, 404);
  t.is(res.headers['x-rpf-error-code'], 'RPF_ERR_SERVER_SESSION_NOT_FOUND');
  t.false(b.requests.some((r) => r.method === 'DELETE'));
});

test('a plain GET on a pod\'s reverseportforward lists that pod\'s sessions from its node\'s agent', async (t) => {
  const { h, b } = await twoNodes(t);
  const res = await get(h, `${BASE}/namespaces/dev/pods/web/reverseportforward`);
  t.is(res.status, 200);
  const list = JSON.parse(res.body) as { kind: string; items: { metadata: { name: string } }[] };
  t.is(list.kind, 'ReversePortForwardList');
  t.deepEqual(list.items.map((i) => i.metadata.name), ['rpf-1']);
  t.is(b.requests.length, 0);
});

test('a plain GET on a missing pod\'s reverseportforward is 404', async (t) => {
  const { h } = await twoNodes(t);
  const res = await get(h, `${BASE}/namespaces/dev/pods/gone/reverseportforward`);
  t.is(res.status, 404);
  t.is(res.headers['x-rpf-error-code'], 'RPF_ERR_SERVER_POD_NOT_FOUND');
});

test('watching sessions is refused with 405', async (t) => {
  const { h } = await twoNodes(t);
  const res = await get(h, `${BASE}/reverseportforwards?watch=true`);
  t.is(res.status, 405);
});

test('session and discovery requests without a valid front-proxy certificate are 401 whatever the headers say', async (t) => {
  const { h } = await twoNodes(t);
  for (const client of [undefined, pki.otherCaClient]) {
    for (const path of [`${BASE}/reverseportforwards`, BASE, '/apis']) {
      const res = await rawRequest(h, pki, { path, client, upgrade: false, headers: userHeaders('system:admin', ['system:masters']) });
      t.is(res.status, 401, path);
      t.is((JSON.parse(res.body) as { reason: string }).reason, 'Unauthorized');
    }
  }
  t.is(h.agent.requests.length, 0);
});

test('health endpoints answer over TLS without a client certificate', async (t) => {
  const { h } = await twoNodes(t);
  for (const path of ['/healthz', '/livez', '/readyz']) {
    const res = await rawRequest(h, pki, { path, client: undefined, upgrade: false });
    t.is(res.status, 200, path);
    t.is(res.body, 'ok');
  }
});

for (const name of ['Constructor', '__proto__', 'X-Remote-Extra-__proto__']) {
  test(`a request carrying a header named ${name} is answered normally on the routes`, async (t) => {
    const { h } = await twoNodes(t);
    // A computed key: in a literal, __proto__ would set the prototype instead of a header.
    const headers = { ...userHeaders(), [name]: 'x' };
    const list = await rawRequest(h, pki, { path: `${BASE}/reverseportforwards`, upgrade: false, headers });
    t.is(list.status, 200);
    t.is((JSON.parse(list.body) as { kind: string }).kind, 'ReversePortForwardList');
    const discovery = await rawRequest(h, pki, { path: '/apis/rpf.kube-rpf.dev/v1alpha1', upgrade: false, headers });
    t.is(discovery.status, 200);
    const health = await rawRequest(h, pki, { path: '/healthz', upgrade: false, headers });
    t.is(health.status, 200);
  });
}

test('an Accept header with parameters named after Object.prototype members is read as any other', async (t) => {
  const { h } = await twoNodes(t);
  const res = await get(h, `${BASE}/reverseportforwards`, 'application/json;__proto__=x;constructor=y;as=Table;v=v1;g=meta.k8s.io');
  t.is(res.status, 200);
  t.is((JSON.parse(res.body) as { kind: string }).kind, 'Table');
});

test('an agent pod that is not Ready (crashed, restarting) leaves a Warning naming its node, and the other nodes are still listed', async (t) => {
  const { h, b } = await twoNodes(t);
  h.kube.pods = [pod({ name: 'web' }), agentPod('node-a', h.agent.host), agentPod('node-b', b.host, { ready: false })];
  const res = await get(h, `${BASE}/reverseportforwards`);
  t.is(res.status, 200);
  const list = JSON.parse(res.body) as { items: { metadata: { name: string } }[] };
  t.deepEqual(list.items.map((i) => i.metadata.name), ['rpf-1', 'rpf-2']);
  t.regex(String(res.headers['warning']), /^299 - "sessions on node node-b are missing: its rpf-agent rpf-agent-node-b is not ready"$/);
  t.is(b.requests.length, 0, 'an unready agent is not asked');
});

test('listings ask each agent over HTTP/2, on one kept connection per agent', async (t) => {
  const { h, b } = await twoNodes(t);
  for (let i = 0; i < 3; i++) t.is((await get(h, `${BASE}/reverseportforwards`)).status, 200);
  t.is(h.agent.h2Connections, 1);
  t.is(b.h2Connections, 1);
  t.deepEqual([...h.agent.requests, ...b.requests].map((r) => `${r.method} ${r.url} ${r.httpVersion} ${r.clientCN}`), [
    ...Array(3).fill('GET /v1/sessions 2.0 rpf-server'),
    ...Array(3).fill('GET /v1/sessions 2.0 rpf-server'),
  ]);
});

test('an agent that restarts (its connection gone) is asked again on a new connection by the next listing', async (t) => {
  const { h } = await twoNodes(t);
  t.is((await get(h, `${BASE}/reverseportforwards`)).status, 200);
  h.agent.dropConnections();
  // The close reaches rpf-server's side of the connection asynchronously; the next listing must not fail either way.
  const res = await get(h, `${BASE}/reverseportforwards`);
  t.is(res.status, 200, res.body);
  t.is(res.headers['warning'], undefined);
  t.is(h.agent.h2Connections, 2);
});

test('a kept connection that dies under a listing is replaced and the agent asked once more; a second death is a Warning', async (t) => {
  const { h } = await twoNodes(t);
  t.is((await get(h, `${BASE}/reverseportforwards`)).status, 200);
  h.agent.dropOnRequest = 1;
  const retried = await get(h, `${BASE}/reverseportforwards`);
  t.is(retried.headers['warning'], undefined);
  t.is((JSON.parse(retried.body) as { items: unknown[] }).items.length, 3);
  t.is(h.agent.h2Connections, 2);
  h.agent.dropOnRequest = 2;
  const failed = await get(h, `${BASE}/reverseportforwards`);
  t.is(failed.status, 200);
  t.regex(String(failed.headers['warning']), /sessions on node node-a are missing: the rpf-agent rpf-agent-node-a did not list them/);
  t.is((JSON.parse(failed.body) as { items: unknown[] }).items.length, 1, 'node-b is still listed');
});
