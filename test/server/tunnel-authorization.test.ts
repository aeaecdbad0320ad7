// The authorization step of a tunnel request, with no socket: the order of its
// checks (who asks, for what, a slot, may they, what exactly, where), what each
// refusal is, and that a refused request gives its session slot back.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { IncomingMessage } from 'node:http';
import { Authorizer } from '../../server/authorizer.ts';
import { RpfServerError } from '../../server/errors.ts';
import type { ServerErrorCode } from '../../server/errors.ts';
import type { AccessReviewResult, AccessReviewSpec } from '../../server/kube-client.ts';
import { SessionLimiter } from '../../server/session-limit.ts';
import { authorizeTunnel, parseTunnelPath } from '../../server/tunnel-authorization.ts';
import type { PendingTunnel, TunnelAuthorizationDeps } from '../../server/tunnel-authorization.ts';
import { agentPod, ALLOW, DENY, fakeClock, fakeKube, headerAuthenticator, pod } from './helpers/fakes.ts';
import type { FakeKube } from './helpers/fakes.ts';

const PREFIX = '/apis/rpf.kube-rpf.dev/v1alpha1';

/** The step over fakes: pod dev/web on node-a with its agent; `reads` lists the pods read, in order. */
function setup(options: { max?: number; allowedPorts?: { from: number; to: number }[] } = {}): {
  deps: TunnelAuthorizationDeps;
  kube: FakeKube;
  sessions: SessionLimiter;
  reads: string[];
} {
  const kube = fakeKube({ pods: [pod({ name: 'web' }), pod({ name: 'dying', terminating: true }), agentPod('node-a', '10.0.0.2')] });
  const reads: string[] = [];
  const getPod = kube.getPod.bind(kube);
  kube.getPod = (namespace, name) => {
    reads.push(`${namespace}/${name}`);
    return getPod(namespace, name);
  };
  const sessions = new SessionLimiter(options.max ?? 1);
  const deps: TunnelAuthorizationDeps = {
    auth: headerAuthenticator(),
    authorizer: new Authorizer({ kube, clock: fakeClock() }),
    kube,
    agents: { namespace: 'kube-rpf', selector: 'app.kubernetes.io/name=rpf-agent', port: 10250 },
    allowedPorts: options.allowedPorts ?? [{ from: 1, to: 65535 }],
    allowHostNetworkPods: false,
    sessions,
  };
  return { deps, kube, sessions, reads };
}

/** An upgrade request as Node hands it to the 'upgrade' listener (only what the step reads). */
function request(options: { pod?: string; query?: string; path?: string; user?: string; method?: string; upgrade?: string; auditId?: string } = {}): IncomingMessage {
  const path = options.path ?? `${PREFIX}/namespaces/dev/pods/${options.pod ?? 'web'}/reverseportforward?${options.query ?? 'ports=8080'}`;
  const raw = [...(options.user === '' ? [] : ['X-Remote-User', options.user ?? 'alice']), 'X-Remote-Group', 'dev'];
  const headers: Record<string, string> = { upgrade: options.upgrade ?? 'websocket' };
  if (options.auditId !== undefined) headers['audit-id'] = options.auditId;
  for (let i = 0; i + 1 < raw.length; i += 2) headers[(raw[i] ?? '').toLowerCase()] = raw[i + 1] ?? '';
  return { url: path, method: options.method ?? 'GET', headers, rawHeaders: raw } as unknown as IncomingMessage;
}

/** The code of the error `fn` throws synchronously. */
function thrownCode(t: ExecutionContext, fn: () => unknown): string | undefined {
  const err = t.throws(fn, { instanceOf: RpfServerError });
  return (err as RpfServerError | undefined)?.code;
}

/** The code `pending` is refused with, and the user's slots held at that moment. */
async function refusal(t: ExecutionContext, pending: PendingTunnel, sessions: SessionLimiter): Promise<{ code: string | undefined; held: number }> {
  const err = await t.throwsAsync(pending.prepared, { instanceOf: RpfServerError });
  return { code: (err as RpfServerError | undefined)?.code, held: sessions.count('alice') };
}

function verbs(kube: FakeKube): string[] {
  return kube.reviews.map((r) => r.resourceAttributes.verb);
}

test('a tunnel that passes every check is prepared with its user, query, pod, agent and audit id, and holds one slot', async (t) => {
  const { deps, kube, sessions } = setup({ max: 2 });
  const pending = authorizeTunnel(deps, request({ query: 'ports=8080&ports=0', auditId: 'audit-1' }));
  t.is(sessions.count('alice'), 1, 'the slot is held from the synchronous part on');
  const tunnel = await pending.prepared;
  t.is(tunnel.user.user, 'alice');
  t.deepEqual(tunnel.query.ports, [8080, 0]);
  t.like(tunnel.pod, { namespace: 'dev', name: 'web', nodeName: 'node-a' });
  t.like(tunnel.agent, { host: '10.0.0.2', port: 10250, nodeName: 'node-a', podName: 'rpf-agent-node-a' });
  t.is(tunnel.auditId, 'audit-1');
  t.is(tunnel.slot, pending.slot);
  // Loopback addresses only: no expose check.
  t.deepEqual(verbs(kube), ['create']);
  t.is(sessions.count('alice'), 1);
  tunnel.slot.release();
  t.is(sessions.count('alice'), 0);
});

test('a non-loopback address is checked for expose after create, and the SubjectAccessReview names the tunnel target', async (t) => {
  const { deps, kube } = setup();
  await authorizeTunnel(deps, request({ query: 'ports=8080&address=0.0.0.0' })).prepared;
  t.deepEqual(verbs(kube), ['create', 'expose']);
  t.like(kube.reviews[0]?.resourceAttributes, { namespace: 'dev', name: 'web', resource: 'pods', subresource: 'reverseportforward', group: 'rpf.kube-rpf.dev' });
});

const synchronous: { name: string; req: () => IncomingMessage; code: ServerErrorCode }[] = [
  { name: 'no user is 401, whatever else is wrong', req: () => request({ user: '', path: `${PREFIX}/namespaces/dev/pods/web/exec`, upgrade: 'SPDY/3.1' }), code: 'RPF_ERR_SERVER_UNAUTHENTICATED' },
  { name: 'another path is 404, before the upgrade is looked at', req: () => request({ path: `${PREFIX}/namespaces/dev/pods/web/exec`, upgrade: 'SPDY/3.1' }), code: 'RPF_ERR_SERVER_NOT_FOUND' },
  { name: 'a badly escaped path is 404', req: () => request({ path: `${PREFIX}/namespaces/dev/pods/%E0%A4%A/reverseportforward?ports=8080` }), code: 'RPF_ERR_SERVER_NOT_FOUND' },
  { name: 'an upgrade to SPDY is 400', req: () => request({ upgrade: 'SPDY/3.1' }), code: 'RPF_ERR_SERVER_UNSUPPORTED_UPGRADE' },
  { name: 'a POST upgrade is 400', req: () => request({ method: 'POST' }), code: 'RPF_ERR_SERVER_UNSUPPORTED_UPGRADE' },
];

for (const c of synchronous) {
  test(`refused at once, holding no slot and asking the cluster nothing: ${c.name}`, (t) => {
    const { deps, kube, sessions, reads } = setup();
    t.is(thrownCode(t, () => authorizeTunnel(deps, c.req())), c.code);
    t.is(sessions.count('alice'), 0);
    t.deepEqual(kube.reviews, []);
    t.deepEqual(reads, []);
  });
}

test('a user at the cap is refused 429 at once, before any authorization, and other users are not', (t) => {
  const { deps, kube, sessions, reads } = setup({ max: 1 });
  sessions.tryReserve('alice');
  t.is(thrownCode(t, () => authorizeTunnel(deps, request({ query: 'ports=x' }))), 'RPF_ERR_SERVER_USER_SESSION_LIMIT');
  t.is(sessions.count('alice'), 1, 'the refused request took no slot');
  t.deepEqual(kube.reviews, []);
  t.deepEqual(reads, []);
  t.notThrows(() => authorizeTunnel(deps, request({ user: 'bob' })).prepared.catch(() => {}));
});

const denyVerb = (verb: string) => (spec: AccessReviewSpec): AccessReviewResult => (spec.resourceAttributes.verb === verb ? DENY : ALLOW);

const asynchronous: { name: string; review?: (spec: AccessReviewSpec) => AccessReviewResult; pod?: string; query?: string; allowedPorts?: { from: number; to: number }[]; code: ServerErrorCode; verbs: string[] }[] = [
  { name: 'a denied user gets 403', review: () => DENY, code: 'RPF_ERR_SERVER_FORBIDDEN', verbs: ['create'] },
  // The pod is read while the user is authorized; a refused user must learn nothing of it.
  { name: 'a denied user asking for a missing pod gets 403, not 404', review: () => DENY, pod: 'gone', code: 'RPF_ERR_SERVER_FORBIDDEN', verbs: ['create'] },
  { name: 'a denied user asking for a terminating pod gets 403, not 400', review: () => DENY, pod: 'dying', code: 'RPF_ERR_SERVER_FORBIDDEN', verbs: ['create'] },
  // The query is validated after authorization: a refused user is not told what is wrong with it.
  { name: 'a denied user with a bad query gets 403, not 400', review: () => DENY, query: 'ports=x', code: 'RPF_ERR_SERVER_FORBIDDEN', verbs: ['create'] },
  { name: 'an allowed user with a bad query gets 400 before any pod error', pod: 'gone', query: 'ports=x', code: 'RPF_ERR_SERVER_INVALID_QUERY', verbs: ['create'] },
  { name: 'a port outside --allowed-ports is 403 after create', query: 'ports=80', allowedPorts: [{ from: 8000, to: 8999 }], code: 'RPF_ERR_SERVER_PORT_NOT_ALLOWED', verbs: ['create'] },
  { name: 'a user denied expose gets 403 for a non-loopback address, even for a missing pod', review: denyVerb('expose'), pod: 'gone', query: 'ports=8080&address=0.0.0.0', code: 'RPF_ERR_SERVER_FORBIDDEN', verbs: ['create', 'expose'] },
  { name: 'an allowed user asking for a missing pod gets 404', pod: 'gone', code: 'RPF_ERR_SERVER_POD_NOT_FOUND', verbs: ['create'] },
  { name: 'an allowed user asking for a terminating pod gets 400', pod: 'dying', code: 'RPF_ERR_SERVER_POD_TERMINATING', verbs: ['create'] },
];

for (const c of asynchronous) {
  test(`refused after the slot was taken, and the slot is given back: ${c.name}`, async (t) => {
    const { deps, kube, sessions } = setup({ ...(c.allowedPorts === undefined ? {} : { allowedPorts: c.allowedPorts }) });
    if (c.review !== undefined) kube.review = c.review;
    const pending = authorizeTunnel(deps, request({ ...(c.pod === undefined ? {} : { pod: c.pod }), ...(c.query === undefined ? {} : { query: c.query }) }));
    t.is(sessions.count('alice'), 1);
    t.deepEqual(await refusal(t, pending, sessions), { code: c.code, held: 0 });
    t.deepEqual(verbs(kube), c.verbs);
  });
}

test('a pod without an agent on its node is 503 after authorization, and the slot is given back', async (t) => {
  const { deps, kube, sessions } = setup();
  kube.pods = [pod({ name: 'web', nodeName: 'node-z' }), agentPod('node-a', '10.0.0.2')];
  t.deepEqual(await refusal(t, authorizeTunnel(deps, request()), sessions), { code: 'RPF_ERR_SERVER_NO_AGENT', held: 0 });
});

test('a SubjectAccessReview that cannot be made is 500, and a failing pod read is not reported before it', async (t) => {
  const { deps, kube, sessions } = setup();
  kube.getPod = async () => {
    throw new Error('pods is down');
  };
  kube.review = () => {
    throw new Error('authorization is down');
  };
  t.deepEqual(await refusal(t, authorizeTunnel(deps, request()), sessions), { code: 'RPF_ERR_SERVER_AUTHORIZATION_FAILED', held: 0 });
});

test('a failing pod read is a kube API error once the user is authorized, and the slot is given back', async (t) => {
  const { deps, kube, sessions } = setup();
  kube.getPod = async () => {
    throw new Error('pods is down');
  };
  t.deepEqual(await refusal(t, authorizeTunnel(deps, request()), sessions), { code: 'RPF_ERR_SERVER_KUBE_API', held: 0 });
});

test('the pod is read while the SubjectAccessReview is pending, but its answer waits for the decision', async (t) => {
  const { deps, kube, sessions, reads } = setup();
  let decide: (r: AccessReviewResult) => void = () => {};
  kube.review = () => new Promise((resolve) => (decide = resolve));
  const pending = authorizeTunnel(deps, request({ pod: 'gone' }));
  let settled = false;
  pending.prepared.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((r) => setTimeout(r, 20));
  t.deepEqual(reads, ['dev/gone'], 'the pod was read without waiting for the decision');
  t.false(settled, 'its 404 is held back until the user is authorized');
  t.is(sessions.count('alice'), 1);
  decide(DENY);
  t.deepEqual(await refusal(t, pending, sessions), { code: 'RPF_ERR_SERVER_FORBIDDEN', held: 0 });
});

const paths: { name: string; path: string; want: { namespace: string; pod: string } | undefined }[] = [
  { name: 'a tunnel path', path: `${PREFIX}/namespaces/dev/pods/web/reverseportforward`, want: { namespace: 'dev', pod: 'web' } },
  { name: 'escaped names are decoded', path: `${PREFIX}/namespaces/d%65v/pods/w%65b/reverseportforward`, want: { namespace: 'dev', pod: 'web' } },
  { name: 'another subresource', path: `${PREFIX}/namespaces/dev/pods/web/exec`, want: undefined },
  { name: 'another group', path: '/api/v1/namespaces/dev/pods/web/reverseportforward', want: undefined },
  { name: 'a trailing slash', path: `${PREFIX}/namespaces/dev/pods/web/reverseportforward/`, want: undefined },
  { name: 'a bad escape', path: `${PREFIX}/namespaces/dev/pods/%E0%A4%A/reverseportforward`, want: undefined },
];

for (const c of paths) {
  test(`parseTunnelPath: ${c.name}`, (t) => {
    t.deepEqual(parseTunnelPath(c.path), c.want);
  });
}
