// Resolving a parsed target to one running pod, against a fake API and a fake clock.
import test from 'ava';
import { RpfClientError, compareActivePods, parseTarget, resolveTargetPod, selectorString } from '../../client/index.ts';
import type { Clock } from '../../client/index.ts';
import { fakeReader, pod } from './helpers/fake-reader.ts';

test('selectorString writes matchLabels and every matchExpressions operator', (t) => {
  t.is(
    selectorString({
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['b', 'a'] },
        { key: 'env', operator: 'NotIn', values: ['prod'] },
        { key: 'canary', operator: 'Exists' },
        { key: 'legacy', operator: 'DoesNotExist' },
      ],
    }),
    'app=web,tier in (a,b),env notin (prod),canary,!legacy',
  );
  t.is(selectorString({}), undefined);
});

test('compareActivePods puts ready before not ready, ready longer first, fewer restarts, then older', (t) => {
  const pods = [
    pod('not-ready', { ready: false }),
    pod('ready-recently', { readySince: '2025-01-01T05:00:00Z' }),
    pod('ready-long', { readySince: '2025-01-01T01:00:00Z', restarts: 3 }),
    pod('ready-long-no-restarts', { readySince: '2025-01-01T01:00:00Z' }),
    pod('ready-long-no-restarts-older', { readySince: '2025-01-01T01:00:00Z', created: '2024-12-01T00:00:00Z' }),
  ];
  t.deepEqual(
    pods.sort(compareActivePods).map((p) => p.metadata?.name),
    ['ready-long-no-restarts-older', 'ready-long-no-restarts', 'ready-long', 'ready-recently', 'not-ready'],
  );
});

/** A clock that moves only when slept on. */
function fakeClock(): Clock & { slept: number[] } {
  let now = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
  };
}

const podPath = '/api/v1/namespaces/ns/pods/web-1';

test('a running pod resolves to itself without waiting', async (t) => {
  const reader = fakeReader({ [podPath]: pod('web-1') });
  const clock = fakeClock();
  t.deepEqual(await resolveTargetPod({ reader, namespace: 'ns', target: parseTarget('web-1'), timeoutMs: 60_000, clock }), { namespace: 'ns', name: 'web-1' });
  t.deepEqual(clock.slept, []);
});

test('a missing pod fails at once with kubectl\'s message', async (t) => {
  const reader = fakeReader({});
  const error = await t.throwsAsync(resolveTargetPod({ reader, namespace: 'ns', target: parseTarget('pod/web-1'), timeoutMs: 60_000, clock: fakeClock() }), {
    instanceOf: RpfClientError,
  });
  t.is(error?.code, 'RPF_ERR_CLIENT_POD_NOT_FOUND');
  // kubectl's own wording, carried by the CLI's one `error:` line: a user contract.
  t.is(error?.message, 'pods "web-1" not found');
});

test('a pending pod is waited for until it runs', async (t) => {
  let reads = 0;
  const reader = fakeReader({ [podPath]: () => (++reads < 3 ? pod('web-1', { phase: 'Pending', ready: false }) : pod('web-1')) });
  const clock = fakeClock();
  const waits: string[] = [];
  const resolved = await resolveTargetPod({
    reader,
    namespace: 'ns',
    target: parseTarget('web-1'),
    timeoutMs: 60_000,
    pollIntervalMs: 1000,
    clock,
    onWait: (m) => waits.push(m),
  });
  t.is(resolved.name, 'web-1');
  t.deepEqual(clock.slept, [1000, 1000]);
  t.is(waits.length, 1);
});

test('a pod that never runs fails with POD_NOT_RUNNING after the timeout', async (t) => {
  const reader = fakeReader({ [podPath]: pod('web-1', { phase: 'Pending', ready: false }) });
  const clock = fakeClock();
  const error = await t.throwsAsync(resolveTargetPod({ reader, namespace: 'ns', target: parseTarget('web-1'), timeoutMs: 2500, pollIntervalMs: 1000, clock }), {
    instanceOf: RpfClientError,
  });
  t.is(error?.code, 'RPF_ERR_CLIENT_POD_NOT_RUNNING');
  t.deepEqual(clock.slept, [1000, 1000, 500]);
});

test('a finished pod fails at once: it will never run again', async (t) => {
  const reader = fakeReader({ [podPath]: pod('web-1', { phase: 'Succeeded', ready: false }) });
  const clock = fakeClock();
  const error = await t.throwsAsync(resolveTargetPod({ reader, namespace: 'ns', target: parseTarget('web-1'), timeoutMs: 60_000, clock }), { instanceOf: RpfClientError });
  t.is(error?.code, 'RPF_ERR_CLIENT_POD_NOT_RUNNING');
  t.deepEqual(clock.slept, []);
});

const deploymentPath = '/apis/apps/v1/namespaces/ns/deployments/web';
const webPods = '/api/v1/namespaces/ns/pods?labelSelector=app=web';

test('a deployment resolves to its most active running pod through its selector', async (t) => {
  const reader = fakeReader({
    [deploymentPath]: { spec: { selector: { matchLabels: { app: 'web' } } } },
    [webPods]: {
      items: [
        pod('web-pending', { phase: 'Pending', ready: false }),
        pod('web-terminating', { terminating: true, readySince: '2024-01-01T00:00:00Z' }),
        pod('web-new', { readySince: '2025-01-01T05:00:00Z' }),
        pod('web-old', { readySince: '2025-01-01T01:00:00Z' }),
      ],
    },
  });
  const resolved = await resolveTargetPod({ reader, namespace: 'ns', target: parseTarget('deploy/web'), timeoutMs: 60_000, clock: fakeClock() });
  t.deepEqual(resolved, { namespace: 'ns', name: 'web-old' });
  t.deepEqual(reader.calls, [deploymentPath, webPods]);
});

test('a service resolves through its label map', async (t) => {
  const reader = fakeReader({
    '/api/v1/namespaces/ns/services/api': { spec: { selector: { app: 'web' } } },
    [webPods]: { items: [pod('web-1')] },
  });
  t.is((await resolveTargetPod({ reader, namespace: 'ns', target: parseTarget('svc/api'), timeoutMs: 60_000, clock: fakeClock() })).name, 'web-1');
});

test('a service without a selector is an invalid target', async (t) => {
  const reader = fakeReader({ '/api/v1/namespaces/ns/services/api': { spec: {} } });
  const error = await t.throwsAsync(resolveTargetPod({ reader, namespace: 'ns', target: parseTarget('svc/api'), timeoutMs: 60_000, clock: fakeClock() }), {
    instanceOf: RpfClientError,
  });
  t.is(error?.code, 'RPF_ERR_CLIENT_INVALID_TARGET');
});

test('a missing deployment fails at once with kubectl\'s message', async (t) => {
  const error = await t.throwsAsync(resolveTargetPod({ reader: fakeReader({}), namespace: 'ns', target: parseTarget('deploy/web'), timeoutMs: 60_000, clock: fakeClock() }), {
    instanceOf: RpfClientError,
  });
  t.is(error?.code, 'RPF_ERR_CLIENT_TARGET_NOT_FOUND');
  // kubectl's own wording, carried by the CLI's one `error:` line: a user contract.
  t.is(error?.message, 'deployments.apps "web" not found');
});

test('a deployment with no running pod fails after the timeout naming the target', async (t) => {
  const reader = fakeReader({
    [deploymentPath]: { spec: { selector: { matchLabels: { app: 'web' } } } },
    [webPods]: { items: [pod('web-1', { phase: 'Pending', ready: false })] },
  });
  const error = await t.throwsAsync(resolveTargetPod({ reader, namespace: 'ns', target: parseTarget('deploy/web'), timeoutMs: 3000, clock: fakeClock() }), {
    instanceOf: RpfClientError,
  });
  t.is(error?.code, 'RPF_ERR_CLIENT_POD_NOT_RUNNING');
  // The CLI's one `error:` line names the target as the user wrote its kind: a user contract.
  t.true(error?.message.startsWith('no running pod for deployment/web'));
  // The selector is read once; the pods are listed on every poll.
  t.is(reader.calls.filter((c) => c === deploymentPath).length, 1);
  t.is(reader.calls.filter((c) => c === webPods).length, 4);
});

test('an API refusal while resolving is passed on with its code', async (t) => {
  const forbidden = new RpfClientError('RPF_ERR_CLIENT_FORBIDDEN', 'pods "web-1" is forbidden', { status: 403 });
  const error = await t.throwsAsync(resolveTargetPod({ reader: fakeReader({ [podPath]: forbidden }), namespace: 'ns', target: parseTarget('web-1'), timeoutMs: 1000, clock: fakeClock() }));
  t.is(error, forbidden);
});

test('an aborted wait fails with ABORTED', async (t) => {
  const controller = new AbortController();
  const reader = fakeReader({ [podPath]: pod('web-1', { phase: 'Pending', ready: false }) });
  const clock: Clock = {
    now: () => 0,
    sleep: async () => {
      controller.abort();
      throw new Error('aborted');
    },
  };
  const error = await t.throwsAsync(resolveTargetPod({ reader, namespace: 'ns', target: parseTarget('web-1'), timeoutMs: 60_000, clock, signal: controller.signal }), {
    instanceOf: RpfClientError,
  });
  t.is(error?.code, 'RPF_ERR_CLIENT_ABORTED');
});
