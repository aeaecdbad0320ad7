// Events about sessions on their pods (server/pod-events.ts,
// server/events-client.ts): what they say, and that a reconnect loop or a
// slow API server cannot make rpf-server write or hold without bound.
import test from 'ava';
import { Registry } from 'prom-client';
import { toEventsV1 } from '../../server/events-client.ts';
import { GovernanceMetrics } from '../../server/governance-metrics.ts';
import type { SessionEnd } from '../../server/logging.ts';
import { PodEventRecorder, REPORTING_CONTROLLER, closedNote, openedNote } from '../../server/pod-events.ts';
import type { PodEvent, PodEventLimits, SessionFacts } from '../../server/pod-events.ts';
import { fakeClock, memoryLogger } from './helpers/fakes.ts';
import { settle } from './helpers/manual-timers.ts';

const facts: SessionFacts = { user: 'alice', namespace: 'dev', pod: 'web', podUID: 'uid-web', ports: [8080, 0], addresses: ['127.0.0.1', '::1'], sessionId: 'web-1a2b3c4d' };
const clientEnd: SessionEnd = { durationMs: 62_000, endedBy: 'client', bytesToPod: 1234, bytesFromPod: 5678 };

/** A client that records what it is asked to create; `fail` makes it reject, `hold` makes it wait. */
function fakeClient() {
  const created: PodEvent[] = [];
  const held: (() => void)[] = [];
  const client = {
    created,
    held,
    fail: false,
    hold: false,
    async createEvent(event: PodEvent) {
      if (client.hold) await new Promise<void>((resolve) => held.push(resolve));
      if (client.fail) throw new Error('events.events.k8s.io is forbidden');
      created.push(event);
    },
  };
  return client;
}

function recorder(limits?: Partial<PodEventLimits>) {
  const client = fakeClient();
  const clock = fakeClock();
  const metrics = new GovernanceMetrics(new Registry());
  const { logger, lines } = memoryLogger('info');
  const defaults: PodEventLimits = { perKey: { burst: 10, refillMs: 60_000 }, global: { burst: 100, refillMs: 500 }, maxQueued: 1000, concurrency: 4, maxKeys: 10_000 };
  const rec = new PodEventRecorder({ client, clock, logger, metrics, instance: 'rpf-server-abc', limits: { ...defaults, ...limits } });
  const count = async (result: string) => (await metrics.podEvents.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
  return { client, clock, rec, count, lines };
}

test('an opened session is one Normal Event on its pod naming the user, the ports and the addresses', async (t) => {
  const { client, rec, clock } = recorder();
  rec.opened(facts);
  await settle();
  t.is(client.created.length, 1);
  t.like(client.created[0], {
    namespace: 'dev',
    regarding: { name: 'web', uid: 'uid-web' },
    reason: 'ReversePortForwardOpened',
    action: 'Open',
    type: 'Normal',
    reportingController: REPORTING_CONTROLLER,
    reportingInstance: 'rpf-server-abc',
    eventTime: clock.now(),
    note: 'User "alice" opened a reverse port-forward to ports 8080, any free port on 127.0.0.1, ::1 (session web-1a2b3c4d)',
  });
  t.regex(client.created[0]?.name ?? '', /^web\.[0-9a-f]{16}$/);
});

test('a closed session says how long it lasted, the bytes each way and how it ended', async (t) => {
  const { client, rec } = recorder();
  const closed = rec.opened(facts);
  closed(clientEnd);
  await settle();
  t.like(client.created[1], { reason: 'ReversePortForwardClosed', action: 'Close', type: 'Normal' });
  t.is(
    client.created[1]?.note,
    'Reverse port-forward of user "alice" to ports 8080, any free port on 127.0.0.1, ::1 (session web-1a2b3c4d) closed after 1m2s, 1234 bytes to the pod and 5678 from it: the client closed the tunnel',
  );
});

test('a revoked session is a Warning quoting the Forbidden text; a lifetime end says the limit', (t) => {
  const revoked: SessionEnd = { ...clientEnd, endedBy: 'revoked', detail: 'pods "web" is forbidden: User "alice" cannot create resource "pods/reverseportforward"' };
  t.regex(closedNote(facts, revoked), /: authorization was revoked: pods "web" is forbidden: User "alice" cannot create/);
  const expired: SessionEnd = { ...clientEnd, endedBy: 'max-lifetime', detail: 'the session reached its maximum lifetime of 8h0m0s' };
  t.regex(closedNote(facts, expired), /: the session reached its maximum lifetime of 8h0m0s$/);
});

test('a revoked session\'s closing Event has type Warning', async (t) => {
  const { client, rec } = recorder();
  rec.opened(facts)({ ...clientEnd, endedBy: 'revoked', detail: 'forbidden' });
  await settle();
  t.is(client.created[1]?.type, 'Warning');
});

test('a note never exceeds the 1 kB events.k8s.io accepts, even for a long user name', (t) => {
  const long = { ...facts, user: 'é'.repeat(2000) };
  t.true(Buffer.byteLength(openedNote(long, 0)) <= 1024);
  t.true(Buffer.byteLength(closedNote(long, clientEnd)) <= 1024);
  t.false(openedNote(long, 0).includes('\uFFFD'));
});

test('a reconnect loop is cut to the burst per pod and user, then one session a minute, and the next Event says how many were left out', async (t) => {
  const { client, rec, clock, count } = recorder();
  for (let i = 0; i < 500; i++) rec.opened(facts)(clientEnd);
  await settle();
  t.is(client.created.length, 20, '10 sessions, two Events each');
  t.is(await count('rate_limited'), 980);
  clock.advance(60_000);
  rec.opened(facts)(clientEnd);
  await settle();
  t.is(client.created.length, 22);
  t.regex(client.created[20]?.note ?? '', /; 490 earlier sessions of this user to this pod were not recorded \(rate limit\)$/);
});

test('every recorded opening has its closing: a session is recorded whole or not at all', async (t) => {
  const { client, rec, clock } = recorder({ perKey: { burst: 2, refillMs: 1000 } });
  const ends = [];
  for (let i = 0; i < 10; i++) {
    ends.push(rec.opened(facts));
    clock.advance(300);
  }
  for (const end of ends) end(clientEnd);
  await settle();
  const opened = client.created.filter((e) => e.action === 'Open').length;
  const closed = client.created.filter((e) => e.action === 'Close').length;
  t.true(opened > 0 && opened < 10);
  t.is(opened, closed);
});

test('another user or another pod has its own budget; the server-wide bucket bounds them all', async (t) => {
  const { client, rec } = recorder({ perKey: { burst: 1, refillMs: 60_000 }, global: { burst: 5, refillMs: 60_000 } });
  for (let i = 0; i < 20; i++) rec.opened({ ...facts, user: `user-${i}` });
  await settle();
  t.is(client.created.length, 5);
});

test('events wait in a bounded queue with a bounded number in flight; the rest are dropped and counted, and the tunnel never waits', async (t) => {
  const { client, rec, count } = recorder({ maxQueued: 10, concurrency: 2, perKey: { burst: 1000, refillMs: 1 }, global: { burst: 1000, refillMs: 1 } });
  client.hold = true;
  for (let i = 0; i < 50; i++) rec.opened({ ...facts, user: `u${i}` });
  await settle();
  t.is(client.held.length, 2, 'two creations in flight');
  t.is(rec.pending, 12);
  t.is(await count('queue_full'), 38);
  client.hold = false;
  for (const r of client.held.splice(0)) r();
  await rec.flush(5000);
  t.is(client.created.length, 12);
  t.is(rec.pending, 0);
});

test('an Event kube-apiserver refuses is logged and counted; recording goes on', async (t) => {
  const { client, rec, count, lines } = recorder();
  client.fail = true;
  rec.opened(facts);
  await settle();
  t.is(await count('failed'), 1);
  t.true(lines.some((l) => l['msg'] === 'cannot record an Event on the pod' && l['pod'] === 'web'));
  client.fail = false;
  rec.opened({ ...facts, user: 'bob' });
  await settle();
  t.is(client.created.length, 1);
});

test('the events.k8s.io/v1 object: regarding the Pod, eventTime with the six fractional digits kube-apiserver parses', (t) => {
  const body = toEventsV1({
    namespace: 'dev',
    name: 'web.0011223344556677',
    regarding: { name: 'web', uid: 'uid-web' },
    reason: 'ReversePortForwardOpened',
    action: 'Open',
    type: 'Normal',
    note: 'n',
    eventTime: Date.parse('2030-01-01T00:00:01.234Z'),
    reportingController: REPORTING_CONTROLLER,
    reportingInstance: 'rpf-server-abc',
  });
  const json = JSON.parse(JSON.stringify(body)) as Record<string, unknown>;
  t.is(json['eventTime'], '2030-01-01T00:00:01.234000Z');
  t.deepEqual(json['regarding'], { apiVersion: 'v1', kind: 'Pod', namespace: 'dev', name: 'web', uid: 'uid-web' });
  t.like(json, { apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: 'web.0011223344556677', namespace: 'dev' }, reportingController: 'rpf.kube-rpf.dev/rpf-server' });
});

test('an Event name is a DNS subdomain even for a long pod name ending in a dot or dash after the cut', async (t) => {
  const { client, rec } = recorder();
  const pod = `${'a'.repeat(199)}-${'b'.repeat(50)}`;
  rec.opened({ ...facts, pod });
  await settle();
  const name = client.created[0]?.name ?? '';
  t.true(name.length <= 253);
  t.regex(name, /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
  t.notRegex(name, /[-.]\./);
});
