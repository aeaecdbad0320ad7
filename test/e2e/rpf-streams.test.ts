// Many connections in one tunnel, each with its own flow control, and TCP's
// half-close carried end to end.
import test from 'ava';
import { createNamespace, deleteNamespace } from './helpers/cluster.ts';
import { startLocalServer } from './helpers/local-server.ts';
import { runPodClient, startNodePod, startRpf } from './helpers/rpf.ts';

let namespace: string;

test.before(async () => {
  namespace = await createNamespace('rpf-streams');
  await startNodePod(namespace, 'caller');
});

test.after.always(async () => {
  if (namespace) await deleteNamespace(namespace);
});

test.serial('300 concurrent pod connections (more than the protocol\'s default channel cap) carry distinct random data both ways intact', async (t) => {
  const local = await startLocalServer(48 * 1024);
  const rpf = await startRpf(['-n', namespace, 'caller', `7000:${local.port}`], 2);
  try {
    const results = await runPodClient(namespace, 'caller', { port: 7000, connections: 300, bytes: 64 * 1024 });
    t.is(results.length, 300);
    t.deepEqual(results.filter((r) => r.error), []);
    // What each pod connection sent is what the local server received, and
    // what the server answered is what the pod connection got.
    t.deepEqual(results.map((r) => r.sent).sort(), local.connections.map((c) => c.received).sort());
    t.deepEqual(results.map((r) => r.received).sort(), local.connections.map((c) => c.sent).sort());
    t.true(local.connections.every((c) => c.receivedBytes === 64 * 1024));
    t.is(new Set(results.map((r) => r.sent)).size, 300, 'every connection carried its own data');
  } finally {
    await rpf.stop();
    await local.close();
  }
});

test.serial('a connection whose local reader stopped does not hold up the others', async (t) => {
  const local = await startLocalServer(1024);
  const rpf = await startRpf(['-n', namespace, 'caller', `7001:${local.port}`], 2);
  try {
    // Connection 0 pushes far more than its window to a reader that never
    // reads; 10 others move 4 MiB each through the same tunnel meanwhile.
    const results = await runPodClient(namespace, 'caller', { port: 7001, connections: 10, bytes: 4 * 1024 * 1024, stall: true, timeoutMs: 90_000 });
    t.is(local.stalledConnections, 1);
    t.is(results.length, 10);
    t.deepEqual(results.filter((r) => r.error), []);
    t.deepEqual(results.map((r) => r.sent).sort(), local.connections.map((c) => c.received).sort());
  } finally {
    await rpf.stop();
    await local.close();
  }
});

test.serial('a pod client that half-closes still receives the whole reply', async (t) => {
  // The local server answers only after the pod's FIN arrived: the reply can
  // exist only if the FIN travelled as a FIN and the other direction stayed open.
  const local = await startLocalServer(3 * 1024 * 1024);
  const rpf = await startRpf(['-n', namespace, 'caller', `7002:${local.port}`], 2);
  try {
    const [result] = await runPodClient(namespace, 'caller', { port: 7002, connections: 1, bytes: 1000 });
    t.is(result?.error, undefined);
    t.is(result?.receivedBytes, 3 * 1024 * 1024);
    t.is(result?.received, local.connections[0]?.sent);
    t.is(local.connections[0]?.receivedBytes, 1000);
  } finally {
    await rpf.stop();
    await local.close();
  }
});
