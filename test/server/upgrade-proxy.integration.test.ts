import test from 'ava';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { agentPod, DENY, pod } from './helpers/fakes.ts';
import { eventually, once, openTunnel, rawRequest, startHarness, tunnelPath, userHeaders } from './helpers/harness.ts';
import type { Harness } from './helpers/harness.ts';
import { makeTestPki } from './helpers/pki.ts';

const pki = makeTestPki();
test.after.always(() => pki.cleanup());

async function harness(t: { teardown(fn: () => Promise<void>): void }, options: Parameters<typeof startHarness>[1] = {}): Promise<Harness> {
  const h = await startHarness(pki, options);
  t.teardown(() => h.close());
  return h;
}

function nextMessage(ws: WebSocket): Promise<string> {
  return once<[Buffer]>(ws, 'message').then(([data]) => data.toString('utf8'));
}

test('an authorised upgrade reaches the agent with the right path, query and headers, and bytes flow both ways', async (t) => {
  const h = await harness(t);
  const ws = openTunnel(h, tunnelPath('dev', 'web', 'ports=8080&ports=0'), {}, pki);
  const greeting = nextMessage(ws);
  await once(ws, 'open');
  t.is(ws.protocol, 'v1.rpf.kube-rpf.dev');
  t.is(await greeting, 'hello from the agent');
  const reply = nextMessage(ws);
  ws.send('ping from the client');
  t.is(await reply, 'echo: ping from the client');
  const big = Buffer.alloc(256 * 1024, 7);
  const bigReply = once<[Buffer]>(ws, 'message');
  ws.send(big, { binary: true });
  t.true((await bigReply)[0].equals(big));

  const [req] = h.agent.requests;
  t.is(req?.method, 'GET');
  const url = new URL(req?.url ?? '', 'https://agent');
  t.is(url.pathname, '/v1/sessions');
  t.is(url.searchParams.get('namespace'), 'dev');
  t.is(url.searchParams.get('pod'), 'web');
  t.is(url.searchParams.get('podUID'), 'uid-web');
  t.deepEqual(url.searchParams.getAll('ports'), ['8080', '0']);
  // No address named: the agent applies its default (::1 best effort).
  t.deepEqual(url.searchParams.getAll('address'), []);
  t.is(req?.headers['x-rpf-user'], 'alice');
  // The agent reads only the user: uid and groups are not sent.
  t.is(req?.headers['x-rpf-uid'], undefined);
  t.is(req?.headers['x-rpf-groups'], undefined);
  t.is(req?.headers['audit-id'], 'audit-123');
  t.is(req?.headers['sec-websocket-protocol'], 'v1.rpf.kube-rpf.dev');
  t.is(req?.headers['sec-websocket-version'], '13');
  t.truthy(req?.headers['sec-websocket-key']);
  t.is(req?.clientCN, 'rpf-server');
  t.is(req?.headers['x-remote-user'], undefined);

  t.is(h.server.proxy.activeCount, 1);
  t.is((await h.metrics.sessionsActive.get()).values[0]?.value, 1);
  ws.close();
  await eventually(() => h.server.proxy.activeCount === 0, 'the tunnel to close');
  t.is((await h.metrics.sessionsActive.get()).values[0]?.value, 0);
  await eventually(() => h.logLines.some((l) => l['event'] === 'session-end'), 'the session-end log line');
  const start = h.logLines.find((l) => l['event'] === 'session-start');
  t.like(start, { user: 'alice', namespace: 'dev', pod: 'web', node: 'node-a', ports: [8080, 0], auditId: 'audit-123' });
  const end = h.logLines.find((l) => l['event'] === 'session-end');
  t.true(Number(end?.['bytesToPod']) > big.length);
  t.true(Number(end?.['bytesFromPod']) > big.length);
  t.true(['client', 'agent'].includes(String(end?.['endedBy'])));
});

test('addresses the client names are passed to the agent, normalised', async (t) => {
  const h = await harness(t);
  const ws = openTunnel(h, tunnelPath('dev', 'web', 'ports=8080&address=10.0.0.10&address=[0:0:0:0:0:0:0:1]'), {}, pki);
  await once(ws, 'open');
  const url = new URL(h.agent.requests[0]?.url ?? '', 'https://agent');
  t.deepEqual(url.searchParams.getAll('address'), ['10.0.0.10', '::1']);
  t.deepEqual(h.kube.reviews.map((r) => r.resourceAttributes.verb), ['create', 'expose']);
  ws.close();
});

test('the agent closing the tunnel closes the client side too', async (t) => {
  const h = await harness(t);
  const ws = openTunnel(h, tunnelPath('dev', 'web', 'ports=8080'), {}, pki);
  await once(ws, 'open');
  await eventually(() => h.agent.sockets.length === 1, 'the agent socket');
  const closed = once<[number]>(ws, 'close');
  h.agent.sockets[0]?.terminate();
  await closed;
  await eventually(() => h.server.proxy.activeCount === 0, 'the tunnel to be forgotten');
  t.pass();
});

test('an agent 409 Status is relayed with code 409 and the same body', async (t) => {
  const h = await harness(t);
  const body = JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    // KEP-5695's message, which the user sees verbatim: relayed byte for byte (asserted below).
    message: 'error creating reverse port-forward listener: port 8080 already in use',
    reason: 'Conflict',
    code: 409,
  });
  h.agent.behaviour = { kind: 'status', code: 409, body };
  const ws = openTunnel(h, tunnelPath('dev', 'web', 'ports=8080'), {}, pki);
  const [, res] = await once<[unknown, IncomingMessage]>(ws, 'unexpected-response');
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  t.is(res.statusCode, 409);
  t.is(Buffer.concat(chunks).toString('utf8'), body);
  t.is(res.headers['x-agent'], 'stand-in');
  t.regex(String(res.headers['content-type']), /application\/json/);
  t.is(h.server.proxy.activeCount, 0);
});

const unauthenticated: { name: string; client: 'none' | 'other-ca' | 'wrong-cn' }[] = [
  { name: 'without a client certificate', client: 'none' },
  { name: 'with a certificate of another CA', client: 'other-ca' },
  { name: 'with a certificate whose CN is not allowed', client: 'wrong-cn' },
];

for (const c of unauthenticated) {
  test(`an upgrade ${c.name} is a 401 Status, not a hang, and never reaches the agent`, async (t) => {
    const h = await harness(t);
    const client = c.client === 'none' ? undefined : c.client === 'other-ca' ? pki.otherCaClient : pki.wrongCnClient;
    const res = await rawRequest(h, pki, { path: tunnelPath('dev', 'web', 'ports=8080'), client, headers: userHeaders('system:admin', ['system:masters']) });
    t.false(res.upgraded);
    t.is(res.status, 401);
    t.is(res.headers['x-rpf-error-code'], 'RPF_ERR_SERVER_UNAUTHENTICATED');
    t.is(res.headers['connection'], 'close');
    const status = JSON.parse(res.body) as { kind: string; reason: string; code: number };
    t.is(status.kind, 'Status');
    t.is(status.reason, 'Unauthorized');
    t.is(status.code, 401);
    t.is(h.agent.requests.length, 0);
  });
}

test('an agent that cannot be reached is a 503 Status', async (t) => {
  const h = await harness(t);
  h.agentPorts.set(h.agent.host, 1);
  const res = await rawRequest(h, pki, { path: tunnelPath('dev', 'web', 'ports=8080'), headers: userHeaders() });
  t.is(res.status, 503);
  t.is(res.headers['x-rpf-error-code'], 'RPF_ERR_SERVER_AGENT_UNREACHABLE');
  t.is((JSON.parse(res.body) as { reason: string }).reason, 'ServiceUnavailable');
});

test('an agent whose certificate does not carry the agent server name is refused as unreachable', async (t) => {
  const h = await harness(t);
  const { startAgentStandIn } = await import('./helpers/agent-stand-in.ts');
  const impostor = await startAgentStandIn(pki, '127.0.0.3', pki.agentWrongName);
  t.teardown(() => impostor.close());
  h.agentPorts.set('127.0.0.3', impostor.port);
  h.kube.pods = [pod({ name: 'web' }), agentPod('node-a', '127.0.0.3')];
  const res = await rawRequest(h, pki, { path: tunnelPath('dev', 'web', 'ports=8080'), headers: userHeaders() });
  t.is(res.status, 503);
  t.is(res.headers['x-rpf-error-code'], 'RPF_ERR_SERVER_AGENT_UNREACHABLE');
  t.is(impostor.requests.length, 0);
});

test('an agent that never answers is a 504 Timeout Status, and its request is abandoned', async (t) => {
  const h = await harness(t, { agentTimeoutMs: 200 });
  h.agent.behaviour = { kind: 'hang' };
  const res = await rawRequest(h, pki, { path: tunnelPath('dev', 'web', 'ports=8080'), headers: userHeaders() });
  t.is(res.status, 504);
  t.is(res.headers['x-rpf-error-code'], 'RPF_ERR_SERVER_AGENT_TIMEOUT');
  t.is((JSON.parse(res.body) as { reason: string }).reason, 'Timeout');
  await h.agent.hangingClosed();
});

test('a client that goes away while the agent is still opening listeners abandons the agent request', async (t) => {
  const h = await harness(t);
  h.agent.behaviour = { kind: 'hang' };
  // The client leaves only once the agent has the request (not after a fixed time, which a loaded machine may not meet).
  const client = new AbortController();
  const answer = rawRequest(h, pki, { path: tunnelPath('dev', 'web', 'ports=8080'), headers: userHeaders(), signal: client.signal }).catch((e: unknown) => e);
  await eventually(() => h.agent.requests.length === 1, 'the agent request');
  client.abort();
  t.true((await answer) instanceof Error);
  await h.agent.hangingClosed();
  const counts = (await h.metrics.sessionRequests.get()).values;
  t.is(counts.find((v) => v.labels['outcome'] === 'client_gone')?.value, 1);
});

const refusals: { name: string; setup: (h: Harness) => void; path?: string; headers?: Record<string, string>; method?: string; status: number; code: string; reason: string }[] = [
  { name: 'a user the SubjectAccessReview denies gets 403', setup: (h) => void (h.kube.review = () => DENY), status: 403, code: 'RPF_ERR_SERVER_FORBIDDEN', reason: 'Forbidden' },
  {
    name: 'a non-loopback address needs the expose verb',
    setup: (h) => void (h.kube.review = (spec) => (spec.resourceAttributes.verb === 'expose' ? DENY : { allowed: true, denied: false, reason: '', evaluationError: '' })),
    path: tunnelPath('dev', 'web', 'ports=8080&address=0.0.0.0'),
    status: 403,
    code: 'RPF_ERR_SERVER_FORBIDDEN',
    reason: 'Forbidden',
  },
  { name: 'a bad query gets 400 with causes', setup: () => {}, path: tunnelPath('dev', 'web', 'ports=x'), status: 400, code: 'RPF_ERR_SERVER_INVALID_QUERY', reason: 'BadRequest' },
  {
    // The pod is looked up while the user is authorized; a refused user must not learn it is missing.
    name: 'a denied user asking for a missing pod gets 403, not 404',
    setup: (h) => void (h.kube.review = () => DENY),
    path: tunnelPath('dev', 'gone', 'ports=8080'),
    status: 403,
    code: 'RPF_ERR_SERVER_FORBIDDEN',
    reason: 'Forbidden',
  },
  { name: 'a missing pod gets 404', setup: () => {}, path: tunnelPath('dev', 'gone', 'ports=8080'), status: 404, code: 'RPF_ERR_SERVER_POD_NOT_FOUND', reason: 'NotFound' },
  {
    name: 'a pod without an agent on its node gets 503',
    setup: (h) => void (h.kube.pods = [pod({ name: 'web', nodeName: 'node-z' }), agentPod('node-a', h.agent.host)]),
    status: 503,
    code: 'RPF_ERR_SERVER_NO_AGENT',
    reason: 'ServiceUnavailable',
  },
  { name: 'an upgrade to another protocol gets 400', setup: () => {}, headers: { Upgrade: 'SPDY/3.1' }, status: 400, code: 'RPF_ERR_SERVER_UNSUPPORTED_UPGRADE', reason: 'BadRequest' },
  { name: 'an upgrade on another path gets 404', setup: () => {}, path: '/apis/rpf.kube-rpf.dev/v1alpha1/namespaces/dev/pods/web/exec', status: 404, code: 'RPF_ERR_SERVER_NOT_FOUND', reason: 'NotFound' },
];

for (const c of refusals) {
  test(`a tunnel request is refused before the upgrade with a Status: ${c.name}`, async (t) => {
    const h = await harness(t);
    c.setup(h);
    const res = await rawRequest(h, pki, { path: c.path ?? tunnelPath('dev', 'web', 'ports=8080'), headers: { ...userHeaders(), ...(c.headers ?? {}) } });
    t.is(res.status, c.status);
    t.is(res.headers['x-rpf-error-code'], c.code);
    const status = JSON.parse(res.body) as { kind: string; reason: string; code: number };
    t.is(status.kind, 'Status');
    t.is(status.reason, c.reason);
    t.is(status.code, c.status);
    t.is(h.agent.requests.length, 0);
  });
}

test('the query causes reach the client with their field paths', async (t) => {
  const h = await harness(t);
  const res = await rawRequest(h, pki, { path: tunnelPath('dev', 'web', 'ports=8080&ports=x&ports=8080'), headers: userHeaders() });
  const status = JSON.parse(res.body) as { details: { causes: { field: string }[] } };
  t.deepEqual(status.details.causes.map((c) => c.field), ['ports[1]', 'ports[2]']);
});

test('closing the server ends open tunnels', async (t) => {
  const h = await startHarness(pki);
  t.teardown(() => h.agent.close());
  const ws = openTunnel(h, tunnelPath('dev', 'web', 'ports=8080'), {}, pki);
  await once(ws, 'open');
  const closed = once(ws, 'close');
  await h.server.close();
  await closed;
  await eventually(() => h.logLines.some((l) => l['event'] === 'session-end' && l['endedBy'] === 'server-shutdown'), 'the shutdown log line');
  t.pass();
});

/** Text as kube-apiserver puts it in a header: UTF-8 bytes (Node writes a string's characters as Latin-1 bytes). */
function utf8OnTheWire(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

test('a UTF-8 user, groups and extra reach the SubjectAccessReview exactly, and the agent gets the user as UTF-8 bytes', async (t) => {
  const h = await harness(t);
  const user = 'józef-山田';
  const groups = ['développeurs', '開発', 'system:authenticated'];
  const ws = openTunnel(
    h,
    tunnelPath('dev', 'web', 'ports=8080'),
    {
      headers: {
        'X-Remote-User': utf8OnTheWire(user),
        'X-Remote-Group': groups.map(utf8OnTheWire),
        // kube-apiserver %-escapes extra keys and sends values as UTF-8.
        'X-Remote-Extra-Sc%C3%B3pe': utf8OnTheWire('Zürich'),
      },
    },
    pki,
  );
  await once(ws, 'open');
  const review = h.kube.reviews[0];
  t.is(review?.user, user);
  t.deepEqual(review?.groups, groups);
  t.deepEqual(review?.extra['scópe'], ['Zürich']);
  const req = h.agent.requests[0];
  t.is(Buffer.from(String(req?.headers['x-rpf-user']), 'latin1').toString('utf8'), user);
  await eventually(() => h.logLines.some((l) => l['event'] === 'session-start'), 'the session-start log line');
  t.is(h.logLines.find((l) => l['event'] === 'session-start')?.['user'], user);
  ws.close();
});

test('a UTF-8 user refused by the SubjectAccessReview is named correctly in the 403', async (t) => {
  const h = await harness(t);
  h.kube.review = () => DENY;
  const res = await rawRequest(h, pki, { path: tunnelPath('dev', 'web', 'ports=8080'), headers: { 'X-Remote-User': utf8OnTheWire('józef') } });
  t.is(res.status, 403);
  t.is(h.kube.reviews[0]?.user, 'józef');
  // The Status is the user's contract: it must name them as they are named.
  t.true((JSON.parse(res.body) as { message: string }).message.includes('"józef"'));
});

for (const name of ['Constructor', '__proto__', 'X-Remote-Extra-__proto__', 'X-Remote-Extra-Constructor']) {
  test(`a tunnel request carrying a header named ${name} is answered normally`, async (t) => {
    const h = await harness(t);
    // A computed key: in a literal, __proto__ would set the prototype instead of a header.
    const res = await rawRequest(h, pki, { path: tunnelPath('dev', 'web', 'ports=8080'), headers: { ...userHeaders(), [name]: 'x' } });
    t.true(res.upgraded);
    t.is(res.status, 101);
    t.is(h.kube.reviews[0]?.user, 'alice');
  });
}

test('extra headers named after Object.prototype members reach the SubjectAccessReview as extra keys', async (t) => {
  const h = await harness(t);
  const res = await rawRequest(h, pki, {
    path: tunnelPath('dev', 'web', 'ports=8080'),
    headers: { ...userHeaders(), ['X-Remote-Extra-__proto__']: 'p', 'X-Remote-Extra-Constructor': 'c' },
  });
  t.true(res.upgraded);
  t.deepEqual(Object.entries(h.kube.reviews[0]?.extra ?? {}).sort(), [
    ['__proto__', ['p']],
    ['constructor', ['c']],
  ]);
});

test('a terminating pod is refused with 400 before the agent is asked', async (t) => {
  const h = await harness(t);
  h.kube.pods = [pod({ name: 'web', terminating: true }), agentPod('node-a', h.agent.host)];
  const res = await rawRequest(h, pki, { path: tunnelPath('dev', 'web', 'ports=8080'), headers: userHeaders() });
  t.is(res.status, 400);
  t.is(res.headers['x-rpf-error-code'], 'RPF_ERR_SERVER_POD_TERMINATING');
  t.is(h.agent.requests.length, 0);
});

test('port 0 is refused with 403 when --allowed-ports leaves ports out', async (t) => {
  const h = await harness(t, { args: ['--allowed-ports=8000-8999'] });
  const res = await rawRequest(h, pki, { path: tunnelPath('dev', 'web', 'ports=8080&ports=0'), headers: userHeaders() });
  t.is(res.status, 403);
  t.is(res.headers['x-rpf-error-code'], 'RPF_ERR_SERVER_PORT_NOT_ALLOWED');
  t.deepEqual((JSON.parse(res.body) as { details: { causes: { field: string }[] } }).details.causes.map((c) => c.field), ['ports[1]']);
  t.is(h.agent.requests.length, 0);
});
