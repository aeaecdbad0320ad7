import test from 'ava';
import { humanDuration, parseAgentSessions, toReversePortForward, toReversePortForwardList, toTable } from '../../server/session-objects.ts';
import type { LocatedSession } from '../../server/session-objects.ts';

const agentSession = {
  id: 'rpf-abc',
  namespace: 'dev',
  pod: 'web',
  podUID: 'uid-web',
  user: 'alice',
  ports: [
    { address: '127.0.0.1', port: 8080, requestedPort: 8080 },
    { address: '::1', port: 8080, requestedPort: 8080 },
    { address: '127.0.0.1', port: 41234, requestedPort: 0 },
  ],
  connections: { open: 2, total: 9 },
  bytesToPod: 100,
  bytesFromPod: 200,
  startTime: '2030-01-01T00:00:00Z',
};

test('agent sessions are read leniently: unknown fields ignored, missing ones defaulted, ids required', (t) => {
  const got = parseAgentSessions({ items: [{ ...agentSession, extra: true }, { id: 'x', connections: 3 }, { pod: 'no-id' }] });
  t.is(got?.length, 2);
  t.deepEqual(got?.[0], agentSession);
  t.deepEqual(got?.[1]?.connections, { open: 3, total: 3 });
  t.deepEqual(got?.[1]?.ports, []);
});

test('a body that is not a session list is recognised as such', (t) => {
  t.is(parseAgentSessions({ kind: 'Status' }), undefined);
  t.is(parseAgentSessions(null), undefined);
});

const located: LocatedSession = { session: agentSession, node: 'node-a' };

test('a session becomes a ReversePortForward named by its id, created at its start time', (t) => {
  t.deepEqual(toReversePortForward(located), {
    apiVersion: 'rpf.kube-rpf.dev/v1alpha1',
    kind: 'ReversePortForward',
    metadata: { name: 'rpf-abc', namespace: 'dev', creationTimestamp: '2030-01-01T00:00:00Z' },
    spec: { pod: 'web', podUID: 'uid-web', node: 'node-a', user: 'alice', ports: [8080, 0], addresses: ['127.0.0.1', '::1'] },
    status: { listeners: agentSession.ports, connections: { open: 2, total: 9 }, bytesToPod: 100, bytesFromPod: 200 },
  });
});

test('a session object carries only the defined fields, whatever else its parts hold', (t) => {
  // What the agent sends may grow; the served object is its documentation (server/api-types.ts), field by field.
  const ports = agentSession.ports.map((p) => ({ ...p, fd: 7 }));
  const connections = { ...agentSession.connections, internal: 1 };
  const object = toReversePortForward({ session: { ...agentSession, ports, connections }, node: 'node-a' });
  t.deepEqual(object.status?.listeners, agentSession.ports);
  t.deepEqual(object.status?.connections, { open: 2, total: 9 });
});

test('a list is a ReversePortForwardList sorted by namespace and name', (t) => {
  const other = { session: { ...agentSession, id: 'rpf-a', namespace: 'zz' }, node: 'n' };
  const first = { session: { ...agentSession, id: 'rpf-b', namespace: 'aa' }, node: 'n' };
  const list = toReversePortForwardList([other, located, first]);
  t.is(list.kind, 'ReversePortForwardList');
  t.deepEqual(list.items.map((i) => i.metadata?.name), ['rpf-b', 'rpf-abc', 'rpf-a']);
});

const durations: [number, string][] = [
  [5_000, '5s'],
  [119_000, '119s'],
  [200_000, '3m20s'],
  [300_000, '5m'],
  [25 * 60_000, '25m'],
  [(5 * 60 + 10) * 60_000, '5h10m'],
  [30 * 3_600_000, '30h'],
  [(3 * 24 + 4) * 3_600_000, '3d4h'],
  [40 * 86_400_000, '40d'],
  [(3 * 365 + 30) * 86_400_000, '3y30d'],
  [-5_000, '<invalid>'],
];
for (const [ms, text] of durations) {
  test(`ages print as kubectl prints them: ${text}`, (t) => {
    t.is(humanDuration(ms), text);
  });
}

test('the table has the Name, Pod, User, Ports, Connections and Age columns and one row per session', (t) => {
  const table = toTable([located], Date.parse('2030-01-01T00:05:00Z'), 'v1', 'Metadata') as {
    kind: string;
    apiVersion: string;
    columnDefinitions: { name: string; priority: number }[];
    rows: { cells: unknown[]; object: { kind: string; metadata: { name: string; namespace: string } } }[];
  };
  t.is(table.kind, 'Table');
  t.is(table.apiVersion, 'meta.k8s.io/v1');
  t.deepEqual(table.columnDefinitions.filter((c) => c.priority === 0).map((c) => c.name), ['Name', 'Pod', 'User', 'Ports', 'Connections', 'Age']);
  t.deepEqual(table.rows[0]?.cells.slice(0, 6), ['rpf-abc', 'web', 'alice', '8080,41234', 2, '5m']);
  t.is(table.rows[0]?.object.kind, 'PartialObjectMetadata');
  t.is(table.rows[0]?.object.metadata.namespace, 'dev');
});

test('the table carries the whole object or none when asked', (t) => {
  const whole = toTable([located], 0, 'v1', 'Object') as { rows: { object: { kind: string } }[] };
  t.is(whole.rows[0]?.object.kind, 'ReversePortForward');
  const none = toTable([located], 0, 'v1', 'None') as { rows: Record<string, unknown>[] };
  t.false('object' in (none.rows[0] ?? {}));
});
