// Open tunnels stay governed (issue 11), on real sockets: rpf-server over real
// TLS, an agent stand-in over real mutual TLS that names its sessions in the
// 101 and ends one on DELETE. A revoked user's tunnel, and one past its
// maximum lifetime, are ended through the agent with the reason the client
// will print; an agent that cannot be asked still loses the tunnel; an API
// server that does not answer ends nothing; each session leaves its Events.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { WebSocket } from 'ws';
import { GOAWAY_REASON } from '../../protocol/index.ts';
import type { PodEvent } from '../../server/pod-events.ts';
import { DENY } from './helpers/fakes.ts';
import { eventually, once, openTunnel, startHarness, tunnelPath } from './helpers/harness.ts';
import type { Harness } from './helpers/harness.ts';
import { makeTestPki } from './helpers/pki.ts';

const pki = makeTestPki();
test.after.always(() => pki.cleanup());

/** Generous for a loaded machine; each check is every 100 ms here. */
const WAIT_MS = 10_000;

async function harness(t: ExecutionContext, args: string[] = []): Promise<{ h: Harness; events: PodEvent[] }> {
  const events: PodEvent[] = [];
  const h = await startHarness(pki, {
    args,
    deps: { reauthorizeIntervalMs: 100, authorizerTtlMs: 20, events: { createEvent: async (e) => void events.push(e) } },
  });
  t.teardown(() => h.close());
  return { h, events };
}

/** Opens a tunnel and waits until bytes flow through it. */
async function openedTunnel(h: Harness, query = 'ports=8080'): Promise<WebSocket> {
  const ws = openTunnel(h, tunnelPath('dev', 'web', query), {}, pki);
  const greeting = once<[Buffer]>(ws, 'message');
  await once(ws, 'open');
  await greeting;
  return ws;
}

function closeOf(ws: WebSocket): Promise<number> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve(-1);
  return new Promise((resolve) => ws.once('close', (code: number) => resolve(code)));
}

function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  return Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms).unref())]);
}

function deleteRequests(h: Harness): URL[] {
  return h.agent.requests.filter((r) => r.method === 'DELETE').map((r) => new URL(r.url, 'https://agent'));
}

async function metric(h: Harness, name: string, label: string): Promise<number> {
  const text = await h.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return Number(line?.split(' ').pop() ?? 0);
}

test('a revoked user\'s open tunnel is ended through its agent with GOAWAY FORBIDDEN and the Forbidden text; the end is logged and recorded', async (t) => {
  const { h, events } = await harness(t);
  const ws = await openedTunnel(h);
  const closed = closeOf(ws);
  h.kube.review = () => DENY;
  await within(WAIT_MS, closed, 'close of the revoked tunnel');
  const [del] = deleteRequests(h);
  t.is(del?.pathname, '/v1/sessions/standin-1');
  t.is(del?.searchParams.get('reason'), String(GOAWAY_REASON.FORBIDDEN));
  t.is(
    del?.searchParams.get('message'),
    'pods "web" is forbidden: User "alice" cannot create resource "pods/reverseportforward" in API group "rpf.kube-rpf.dev" in the namespace "dev": no RBAC policy matched',
  );
  await eventually(() => h.logLines.some((l) => l['event'] === 'session-end'), 'the session-end line');
  t.like(h.logLines.find((l) => l['event'] === 'session-end'), { endedBy: 'revoked', user: 'alice', pod: 'web' });
  await eventually(() => events.length === 2, 'both Events');
  t.deepEqual(events.map((e) => [e.reason, e.type]), [['ReversePortForwardOpened', 'Normal'], ['ReversePortForwardClosed', 'Warning']]);
  t.regex(events[1]?.note ?? '', /authorization was revoked: pods "web" is forbidden: User "alice" cannot create/);
  t.is(await metric(h, 'rpf_server_sessions_ended_total', 'reason="revoked"'), 1);
  t.true((await metric(h, 'rpf_server_reauthorizations_total', 'result="denied"')) >= 1);
  t.is(h.server.proxy.activeCount, 0);
});

test('a tunnel whose agent did not name its session is cut by rpf-server itself when revoked', async (t) => {
  const { h } = await harness(t);
  h.agent.nameSessions = false;
  const ws = await openedTunnel(h);
  const closed = closeOf(ws);
  h.kube.review = () => DENY;
  const code = await within(WAIT_MS, closed, 'close of the revoked tunnel');
  t.is(code, 1006, 'the client sees a lost connection, not a clean close');
  t.deepEqual(deleteRequests(h), []);
  await eventually(() => h.logLines.some((l) => l['event'] === 'session-end'), 'the session-end line');
  t.like(h.logLines.find((l) => l['event'] === 'session-end'), { endedBy: 'revoked' });
});

test('a tunnel whose agent refuses to end it is cut by rpf-server itself', async (t) => {
  const { h } = await harness(t);
  const ws = await openedTunnel(h);
  // The stand-in answers 404 for a session it does not hold.
  h.agent.tunnels.clear();
  const closed = closeOf(ws);
  h.kube.review = () => DENY;
  t.is(await within(WAIT_MS, closed, 'close of the revoked tunnel'), 1006);
  t.is(deleteRequests(h).length, 1, 'the agent was asked first');
});

test('a tunnel bound to a non-loopback address is re-checked for expose too', async (t) => {
  const { h } = await harness(t);
  const ws = await openedTunnel(h, 'ports=8080&address=0.0.0.0');
  const closed = closeOf(ws);
  h.kube.review = (spec) => (spec.resourceAttributes.verb === 'expose' ? DENY : { allowed: true, denied: false, reason: '', evaluationError: '' });
  await within(WAIT_MS, closed, 'close of the tunnel');
  t.regex(deleteRequests(h)[0]?.searchParams.get('message') ?? '', /cannot expose resource "pods\/reverseportforward"/);
});

test('an API server that cannot answer ends no tunnel: it stays open and carries bytes, and the failures are counted', async (t) => {
  const { h } = await harness(t);
  const ws = await openedTunnel(h);
  h.kube.failWith = new Error('connect ECONNREFUSED');
  await new Promise((r) => setTimeout(r, 1000));
  t.true((await metric(h, 'rpf_server_reauthorizations_total', 'result="error"')) >= 3);
  t.is(ws.readyState, WebSocket.OPEN);
  const reply = once<[Buffer]>(ws, 'message');
  ws.send('still there?');
  t.is((await reply)[0].toString(), 'echo: still there?');
  t.deepEqual(deleteRequests(h), []);
  ws.close();
});

test('--max-session-lifetime ends a tunnel with GOAWAY POLICY naming the limit', async (t) => {
  const { h, events } = await harness(t, ['--max-session-lifetime=1s']);
  const opened = Date.now();
  const ws = await openedTunnel(h);
  await within(WAIT_MS, closeOf(ws), 'close at the end of the lifetime');
  t.true(Date.now() - opened >= 1000, 'not before the lifetime');
  const [del] = deleteRequests(h);
  t.is(del?.searchParams.get('reason'), String(GOAWAY_REASON.POLICY));
  t.is(del?.searchParams.get('message'), 'the session reached its maximum lifetime of 1s');
  await eventually(() => events.length === 2, 'both Events');
  t.regex(events[1]?.note ?? '', /: the session reached its maximum lifetime of 1s$/);
  t.is(await metric(h, 'rpf_server_sessions_ended_total', 'reason="max_lifetime"'), 1);
});

test('a session the client ends leaves an opened and a closed Event naming the user and the ports', async (t) => {
  const { h, events } = await harness(t);
  const ws = await openedTunnel(h, 'ports=8080&ports=9090');
  ws.close();
  await eventually(() => events.length === 2, 'both Events');
  t.regex(events[0]?.note ?? '', /^User "alice" opened a reverse port-forward to ports 8080, 9090 on 127\.0\.0\.1, ::1 \(session standin-1\)$/);
  t.like(events[1], { reason: 'ReversePortForwardClosed', action: 'Close', type: 'Normal', regarding: { name: 'web', uid: 'uid-web' } });
  t.regex(events[1]?.note ?? '', /closed after .*: the tunnel closed \(the client left, or the rpf-agent ended it: pod gone, idle timeout, deleted\)$/);
});
