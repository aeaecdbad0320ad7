import test from 'ava';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { ALLOW, DENY } from './helpers/fakes.ts';
import { eventually, once, openTunnel, rawRequest, startHarness, tunnelPath, userHeaders } from './helpers/harness.ts';
import type { Harness } from './helpers/harness.ts';
import { makeTestPki } from './helpers/pki.ts';

const pki = makeTestPki();
test.after.always(() => pki.cleanup());

async function harness(t: { teardown(fn: () => Promise<void>): void }, max: number, agentTimeoutMs = 5000): Promise<Harness> {
  const h = await startHarness(pki, { args: [`--max-sessions-per-user=${max}`], agentTimeoutMs });
  t.teardown(() => h.close());
  return h;
}

/** How one tunnel request ended: upgraded (with its socket) or refused (with its status and code). */
type Outcome = { upgraded: true; ws: WebSocket } | { upgraded: false; status: number; code: string; body: string };

function attempt(h: Harness, user: string): Promise<Outcome> {
  const ws = openTunnel(h, tunnelPath('dev', 'web', 'ports=8080'), { headers: userHeaders(user) }, pki);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ upgraded: true, ws }));
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ upgraded: false, status: res.statusCode ?? 0, code: String(res.headers['x-rpf-error-code']), body: Buffer.concat(chunks).toString('utf8') }));
    });
    ws.once('error', reject);
  });
}

/** Authorization that takes a while, so concurrent requests are all in flight at once. */
function slowAllow(h: Harness, ms = 200): void {
  h.kube.review = async () => {
    await new Promise((r) => setTimeout(r, ms));
    return ALLOW;
  };
}

test('ten concurrent upgrades of one user open exactly --max-sessions-per-user tunnels; the rest get a 429 Status', async (t) => {
  const h = await harness(t, 3);
  slowAllow(h);
  const outcomes = await Promise.all(Array.from({ length: 10 }, () => attempt(h, 'alice')));
  const opened = outcomes.filter((o) => o.upgraded);
  const refused = outcomes.filter((o): o is Extract<Outcome, { upgraded: false }> => !o.upgraded);
  t.is(opened.length, 3);
  t.is(refused.length, 7);
  for (const r of refused) {
    t.is(r.status, 429);
    t.is(r.code, 'RPF_ERR_SERVER_USER_SESSION_LIMIT');
    const status = JSON.parse(r.body) as { kind: string; reason: string; code: number; message: string };
    t.like(status, { kind: 'Status', reason: 'TooManyRequests', code: 429 });
    // The brief asks the message to name the user and the maximum: that is its contract, not its wording.
    t.true(status.message.includes('"alice"') && status.message.includes('3'));
  }
  // The refused never cost an authorization or an agent request (the admitted may share a cached decision).
  t.true(h.kube.reviews.length >= 1 && h.kube.reviews.length <= 3, `${h.kube.reviews.length} reviews`);
  t.is(h.agent.requests.length, 3);
  t.is(h.server.proxy.activeCount, 3);
  const counted = (await h.metrics.errors.get()).values.find((v) => v.labels['type'] === 'RPF_ERR_SERVER_USER_SESSION_LIMIT')?.value;
  t.is(counted, 7);
  for (const o of opened) if (o.upgraded) o.ws.close();
});

test('another user is not held back by one at the cap, and a closed tunnel gives its slot back', async (t) => {
  const h = await harness(t, 2);
  const a1 = await attempt(h, 'alice');
  const a2 = await attempt(h, 'alice');
  t.true(a1.upgraded && a2.upgraded);
  t.like(await attempt(h, 'alice'), { upgraded: false, status: 429 });
  const bob = await attempt(h, 'bob');
  t.true(bob.upgraded);
  if (!a1.upgraded) return;
  const closed = once(a1.ws, 'close');
  a1.ws.close();
  await closed;
  await eventually(() => h.server.proxy.activeCount === 2, 'the tunnel to end');
  t.true((await attempt(h, 'alice')).upgraded);
});

test('requests still being answered count against the cap, and give their slots back when they fail', async (t) => {
  // Long enough that both requests reach the hanging agent before the first times out, on a loaded machine too.
  const h = await harness(t, 2, 1500);
  h.agent.behaviour = { kind: 'hang' };
  const pending = [attempt(h, 'alice'), attempt(h, 'alice')];
  await eventually(() => h.agent.requests.length === 2, 'both requests at the agent');
  const third = await attempt(h, 'alice');
  t.like(third, { upgraded: false, status: 429, code: 'RPF_ERR_SERVER_USER_SESSION_LIMIT' });
  // The agent never answers: both fail with 504 and free their slots.
  for (const o of await Promise.all(pending)) t.like(o, { upgraded: false, status: 504 });
  h.agent.behaviour = { kind: 'accept' };
  const after = await Promise.all([attempt(h, 'alice'), attempt(h, 'alice')]);
  t.true(after.every((o) => o.upgraded));
  for (const o of after) if (o.upgraded) o.ws.close();
});

test('refusals of every kind give their slots back: denied, bad query, missing pod, agent errors', async (t) => {
  const h = await harness(t, 1);
  // Decisions are cached per target: the denied one is a pod of its own.
  h.kube.review = (spec) => (spec.resourceAttributes.name === 'secret' ? DENY : ALLOW);
  for (let i = 0; i < 3; i++) t.is((await rawRequest(h, pki, { path: tunnelPath('dev', 'secret', 'ports=8080'), headers: userHeaders() })).status, 403);
  for (let i = 0; i < 3; i++) t.is((await rawRequest(h, pki, { path: tunnelPath('dev', 'web', 'ports=x'), headers: userHeaders() })).status, 400);
  for (let i = 0; i < 3; i++) t.is((await rawRequest(h, pki, { path: tunnelPath('dev', 'gone', 'ports=8080'), headers: userHeaders() })).status, 404);
  h.agent.behaviour = { kind: 'status', code: 409, body: '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","code":409}' };
  for (let i = 0; i < 3; i++) t.is((await rawRequest(h, pki, { path: tunnelPath('dev', 'web', 'ports=8080'), headers: userHeaders() })).status, 409);
  h.agent.behaviour = { kind: 'accept' };
  const ok = await attempt(h, 'alice');
  t.true(ok.upgraded);
  if (ok.upgraded) ok.ws.close();
});
