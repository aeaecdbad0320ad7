// Two nodes (issue 12): rpf-server routes each tunnel to the agent on its
// pod's node, and the session API gathers what every agent holds. On one node
// a server that always dialled the first agent, or a listing that asked only
// one, would pass every other test; here each tunnel's session must be listed
// with its pod's node (the node of the agent that holds it), and trouble on
// one node must leave the other's sessions alone.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { createNamespace, deleteNamespace, kubectl, kubectlOk, nodeNames, startTestbox, waitFor } from './helpers/cluster.ts';
import { componentPod, nodeOf, pidOfPod } from './helpers/kube-rpf-pods.ts';
import type { RpfProcess } from './helpers/rpf.ts';
import { runRpfExpectingFailure, startRpf } from './helpers/rpf.ts';
import { byPod, listSessions } from './helpers/sessions-list.ts';

let namespace: string;
/** The two nodes: pod a runs on the first, pod b on the second. */
let nodeA: string;
let nodeB: string;
/** Whether this kubectl-rpf reconnects a lost session (issue 11) rather than exiting. */
let reconnects: boolean;

test.before(async () => {
  const nodes = await nodeNames();
  if (nodes.length < 2) throw new Error(`these tests need two nodes, the cluster has ${nodes.join(', ')} (start it with KUBE_RPF_NODES=2, the default)`);
  [nodeA, nodeB] = nodes as [string, string];
  namespace = await createNamespace('rpf-nodes');
  // Each pod serves its node's name, for the pod-to-pod check.
  const serveName = (node: string) => `echo "${node}" > /www/index.html; exec httpd -f -p 8080 -h /www`;
  await Promise.all([startTestbox(namespace, 'a', serveName(nodeA), nodeA), startTestbox(namespace, 'b', serveName(nodeB), nodeB)]);
  const help = await runRpfExpectingFailure(['--help']);
  reconnects = `${help.stdout}${help.stderr}`.includes('--reconnect');
});

test.after.always(async () => {
  if (namespace) await deleteNamespace(namespace);
});

/** A local HTTP service for one tunnel: answers `TAG SHA256-OF-BODY`. */
async function hashService(tag: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const hash = createHash('sha256');
    req.on('data', (chunk: Buffer) => hash.update(chunk));
    req.on('end', () => res.end(`${tag} ${hash.digest('hex')}\n`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * In `pod`: POSTs 256 KiB of fresh random bytes to 127.0.0.1:PORT (the
 * tunnel's listener) and returns what it sent's hash and what came back.
 */
async function sendThrough(pod: string, port: number): Promise<{ sent: string; answer: string }> {
  const file = `/tmp/up-${port}`;
  // busybox wget's --post-file sends the file's name, not its bytes: a request by hand through nc instead.
  const request = `{ printf 'POST / HTTP/1.0\\r\\nContent-Length: 262144\\r\\n\\r\\n'; cat ${file}; } | nc 127.0.0.1 ${port} | tail -n 1`;
  const script = `head -c 262144 /dev/urandom > ${file} && sha256sum ${file} | cut -c1-64 && ${request}`;
  const result = await kubectl(['exec', '-n', namespace, pod, '--', 'sh', '-c', script], { timeoutMs: 30_000 });
  if (result.code !== 0) throw new Error(`sending through ${pod}:${port} failed (${result.code}): ${result.stderr.trim()}`);
  const [sent = '', answer = ''] = result.stdout.trim().split('\n');
  return { sent, answer };
}

/** Asserts that a tunnel to `pod` delivers its own bytes to its own local service (`tag`). */
async function assertCarries(t: ExecutionContext, pod: string, port: number, tag: string): Promise<void> {
  const { sent, answer } = await sendThrough(pod, port);
  t.is(answer, `${tag} ${sent}`, `the tunnel to ${pod} on port ${port}`);
}

/** A tunnel with its own local service. */
interface Tunnel {
  pod: string;
  port: number;
  tag: string;
  rpf: RpfProcess;
  close(): Promise<void>;
}

async function openTunnel(t: ExecutionContext, pod: string, port: number): Promise<Tunnel> {
  const tag = `${pod}-${port}`;
  const service = await hashService(tag);
  const rpf = await startRpf(['-n', namespace, pod, `${port}:${service.port}`], 1, undefined, 60_000);
  const tunnel = {
    pod,
    port,
    tag,
    rpf,
    close: async () => {
      await rpf.stop().catch(() => rpf.child.kill('SIGKILL'));
      await service.close();
    },
  };
  t.teardown(() => tunnel.close());
  return tunnel;
}

/** The listed session of `pod` that listens on `port`, if any. */
async function sessionOf(pod: string, port: number): Promise<{ name: string; node: string } | undefined> {
  const rows = (await listSessions()).rows.filter((r) => r.namespace === namespace && r.pod === pod && r.ports.split(',').includes(String(port)));
  return rows[0];
}

const AGENTS = ['get', 'pods', '-n', 'kube-rpf', '-l', 'app.kubernetes.io/name=rpf-agent'];

/** Waits until the agent on `node` is a new, Ready pod (after a test killed or deleted the old one). */
async function agentReadyOn(node: string, notPod?: string): Promise<void> {
  await waitFor(`a ready rpf-agent on ${node}`, async () => {
    const out = await kubectlOk([...AGENTS, `--field-selector=spec.nodeName=${node}`, '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.containerStatuses[0].ready}{" "}{end}']);
    return out.trim().split(' ').some((p) => p.endsWith('=true') && p.split('=')[0] !== notPod) ? true : undefined;
  }, 120_000);
}

/** How a session that lost its path shows in its client: an exit (no reconnection) or the reconnecting line. */
async function lostConnection(rpf: RpfProcess): Promise<void> {
  await waitFor('the client to report the lost connection', async () =>
    (reconnects ? /lost connection.*reconnecting$/im.test(rpf.stderr()) : rpf.child.exitCode !== null) ? true : undefined, 60_000);
}

test.serial('pods on different nodes reach each other; the agents cover both nodes and the rpf-server replicas are spread over them', async (t) => {
  const ip = async (pod: string) => (await kubectlOk(['get', 'pod', pod, '-n', namespace, '-o', 'jsonpath={.status.podIP}'])).trim();
  const [ipA, ipB] = await Promise.all([ip('a'), ip('b')]);
  t.not(ipA.split('.').slice(0, 3).join('.'), ipB.split('.').slice(0, 3).join('.'), 'each node has its own pod range');
  t.is((await kubectlOk(['exec', '-n', namespace, 'a', '--', 'wget', '-qO-', `http://${ipB}:8080/`])).trim(), nodeB);
  t.is((await kubectlOk(['exec', '-n', namespace, 'b', '--', 'wget', '-qO-', `http://${ipA}:8080/`])).trim(), nodeA);

  const placed = async (label: string) =>
    (await kubectlOk(['get', 'pods', '-n', 'kube-rpf', '-l', `app.kubernetes.io/name=${label}`, '--field-selector=status.phase=Running', '-o', 'jsonpath={.items[*].spec.nodeName}']))
      .trim().split(' ').sort();
  t.deepEqual(await placed('rpf-agent'), [nodeA, nodeB].sort(), 'one agent per node');
  t.deepEqual(await placed('rpf-server'), [nodeA, nodeB].sort(), 'one rpf-server replica per node');
});

test.serial('tunnels to a pod on each node at the same time carry each its own bytes, and the listing shows each with its pod\'s node', async (t) => {
  const [ta, tb] = await Promise.all([openTunnel(t, 'a', 9101), openTunnel(t, 'b', 9102)]);
  // At the same time: both tunnels busy at once, each answer must match its own bytes.
  await Promise.all([assertCarries(t, 'a', 9101, ta.tag), assertCarries(t, 'b', 9102, tb.tag)]);
  await Promise.all([assertCarries(t, 'a', 9101, ta.tag), assertCarries(t, 'b', 9102, tb.tag)]);

  const listing = await listSessions();
  t.deepEqual(listing.warnings, []);
  const rows = byPod(listing, namespace);
  // The node column is the node of the agent that answered for the session:
  // a tunnel routed to the wrong agent would show the wrong node here.
  t.is(rows.get('a')?.node, nodeA, JSON.stringify(listing.rows));
  t.is(rows.get('b')?.node, nodeB, JSON.stringify(listing.rows));
  t.is(rows.get('a')?.ports, '9101');
  t.is(rows.get('b')?.ports, '9102');
  t.log(`kubectl get reverseportforwards -A -o wide: ${listing.ms} ms`);

  // Deleting one ends that one only; the listing shows the rest.
  await kubectlOk(['delete', 'reverseportforward', '-n', namespace, rows.get('a')!.name]);
  const exit = await ta.rpf.exited;
  t.not(exit.code, 0);
  t.regex(ta.rpf.stderr(), /deleted/i);
  const after = byPod(await listSessions(), namespace);
  t.deepEqual([...after.keys()], ['b']);
  t.is(after.get('b')?.name, rows.get('b')?.name);
  t.is(after.get('b')?.node, nodeB);
  await assertCarries(t, 'b', 9102, tb.tag);
  t.is(tb.rpf.child.exitCode, null);
});

test.serial('one node\'s agent killed: only that node\'s sessions are affected, and the listing warns about that node while still showing the other\'s', async (t) => {
  const [ta, tb] = await Promise.all([openTunnel(t, 'a', 9201), openTunnel(t, 'b', 9202)]);
  await Promise.all([assertCarries(t, 'a', 9201, ta.tag), assertCarries(t, 'b', 9202, tb.tag)]);
  const sessionA = await sessionOf('a', 9201);
  const sessionB = await sessionOf('b', 9202);
  t.is(sessionA?.node, nodeA);
  t.is(sessionB?.node, nodeB);

  const agent = await componentPod('agent', nodeB);
  // Later tests need the agent back, whatever happens here: a fresh pod, so
  // that kubelet's restart back-off does not grow run after run.
  t.teardown(async () => {
    await kubectl(['delete', 'pod', '-n', 'kube-rpf', agent.name, '--wait=false']);
    await agentReadyOn(nodeB, agent.name);
  });
  process.kill(await pidOfPod('agent', agent.uid), 'SIGKILL');

  // While node b's agent is down (dead, then restarting and not yet Ready),
  // a listing warns about node b and still lists node a's session.
  const listing = await waitFor('a listing that warns about the node of the killed agent', async () => {
    const l = await listSessions();
    return l.warnings.some((w) => w.includes(nodeB)) ? l : undefined;
  }, 30_000);
  t.log(listing.warnings.join('\n'));
  t.true(listing.warnings.every((w) => w.includes(`node ${nodeB}`)), listing.warnings.join('\n'));
  t.false(listing.warnings.some((w) => w.includes(`node ${nodeA} `)));
  const rows = byPod(listing, namespace);
  t.is(rows.get('a')?.name, sessionA?.name);
  t.false(rows.has('b'), 'node b\'s agent cannot list its session');

  // Node b's session ended (its client lost it); node a's did not notice.
  await lostConnection(tb.rpf);
  await agentReadyOn(nodeB);
  t.not((await sessionOf('b', 9202))?.name, sessionB?.name, 'the session on node b is not the one that was there before');
  t.is((await sessionOf('a', 9201))?.name, sessionA?.name, 'the session on node a is the same');
  await assertCarries(t, 'a', 9201, ta.tag);
  t.is(ta.rpf.child.exitCode, null);
  t.is(ta.rpf.stderr(), '', 'the client of node a\'s session saw nothing');
});

/** The rpf-server replica (pod name) that carries the tunnel to `pod` on remote port `port`, from the replicas' session-start log lines. */
async function replicaOf(pod: string, port: number): Promise<string | undefined> {
  const replicas = (await kubectlOk(['get', 'pods', '-n', 'kube-rpf', '-l', 'app.kubernetes.io/name=rpf-server', '-o', 'jsonpath={.items[*].metadata.name}'])).trim().split(' ');
  for (const replica of replicas) {
    const logs = await kubectl(['logs', '-n', 'kube-rpf', replica, '--since=10m']);
    for (const line of logs.stdout.split('\n')) {
      if (!line.includes('"session-start"')) continue;
      const entry = JSON.parse(line) as { event: string; namespace: string; pod: string; ports: number[] };
      if (entry.namespace === namespace && entry.pod === pod && entry.ports.includes(port)) return replica;
    }
  }
  return undefined;
}

test.serial('an rpf-server replica killed: the tunnels through it end (or reconnect), the other replica\'s are untouched', async (t) => {
  // kube-apiserver picks a replica per tunnel: open tunnels until each replica carries one (at most 10).
  const tunnels: (Tunnel & { replica: string })[] = [];
  for (let i = 0; i < 10; i++) {
    const pod = i % 2 === 0 ? 'a' : 'b';
    const tunnel = await openTunnel(t, pod, 9301 + i);
    const replica = await waitFor(`the replica of tunnel ${i}`, () => replicaOf(pod, 9301 + i), 20_000);
    tunnels.push({ ...tunnel, replica });
    if (new Set(tunnels.map((x) => x.replica)).size === 2) break;
  }
  const replicas = [...new Set(tunnels.map((x) => x.replica))];
  t.is(replicas.length, 2, `kube-apiserver sent all ${tunnels.length} tunnels to one replica`);
  const victim = replicas[0]!;
  const doomed = tunnels.filter((x) => x.replica === victim);
  const spared = tunnels.filter((x) => x.replica !== victim);
  const sessionsBefore = new Map(await Promise.all(tunnels.map(async (x) => [x.port, (await sessionOf(x.pod, x.port))?.name] as const)));

  const victimPod = JSON.parse(await kubectlOk(['get', 'pod', victim, '-n', 'kube-rpf', '-o', 'json'])) as { metadata: { uid: string } };
  t.teardown(async () => {
    // A fresh pod rather than a restarted container (no growing back-off); the API must be back for later tests.
    await kubectl(['delete', 'pod', '-n', 'kube-rpf', victim, '--wait=false']);
    await kubectlOk(['rollout', 'status', 'deployment/rpf-server', '-n', 'kube-rpf', '--timeout=120s']);
    await kubectlOk(['wait', '--for=condition=Available', 'apiservice/v1alpha1.rpf.kube-rpf.dev', '--timeout=120s']);
  });
  process.kill(await pidOfPod('server', victimPod.metadata.uid), 'SIGKILL');

  for (const x of doomed) await lostConnection(x.rpf);
  // The agents end the sessions whose WebSocket went with the replica.
  await waitFor('the sessions through the killed replica to be gone', async () => {
    const names = new Set((await listSessions()).rows.map((r) => r.name));
    return doomed.every((x) => !names.has(sessionsBefore.get(x.port) ?? '')) ? true : undefined;
  }, 30_000);
  for (const x of spared) {
    // Until the killed replica's endpoint is dropped, kube-apiserver may send a listing to it and answer 503: ask again.
    const listed = await waitFor(`a listing with tunnel ${x.pod}:${x.port}`, async () => ({ session: await sessionOf(x.pod, x.port) }), 30_000);
    t.is(listed.session?.name, sessionsBefore.get(x.port), `tunnel ${x.pod}:${x.port} kept its session`);
    await assertCarries(t, x.pod, x.port, x.tag);
    t.is(x.rpf.child.exitCode, null);
    t.is(x.rpf.stderr(), '', `the client of ${x.pod}:${x.port} saw nothing`);
  }
  if (reconnects) {
    // With reconnection, the tunnels through the killed replica come back through a live one.
    for (const x of doomed) await waitFor(`tunnel ${x.pod}:${x.port} to carry again`, async () => (await sendThrough(x.pod, x.port).catch(() => undefined))?.answer.startsWith(x.tag) ? true : undefined, 90_000);
  } else {
    for (const x of doomed) {
      t.not(x.rpf.child.exitCode, 0);
      t.regex(x.rpf.stderr(), /lost connection/i);
    }
  }
});

test.serial('a node cordoned and its pods evicted: their sessions end with a clear message, the other node\'s carry on', async (t) => {
  await startTestbox(namespace, 'c', 'sleep 3600', nodeB);
  t.is(await nodeOf(namespace, 'c'), nodeB);
  const [ta, tc] = await Promise.all([openTunnel(t, 'a', 9401), openTunnel(t, 'c', 9402)]);
  await Promise.all([assertCarries(t, 'a', 9401, ta.tag), assertCarries(t, 'c', 9402, tc.tag)]);
  const sessionA = await sessionOf('a', 9401);

  // Never leave a node cordoned, whatever happens below.
  t.teardown(async () => {
    await kubectlOk(['uncordon', nodeB]);
  });
  await kubectlOk(['cordon', nodeB]);
  // A drain of this test's pod only (the rest of the node is other tests' business);
  // --force: a bare pod has no controller to recreate it, which is the point here.
  await kubectlOk(['drain', nodeB, '--pod-selector=app=c', '--force', '--ignore-daemonsets', '--grace-period=1', '--timeout=90s']);

  const exit = await waitFor('the client of the evicted pod to exit', async () => (tc.rpf.child.exitCode !== null ? tc.rpf.child.exitCode : undefined), 90_000);
  t.not(exit, 0);
  const lines = tc.rpf.stderr().trim().split('\n');
  // One clear last line: the pod is gone (the agent's GOAWAY), or not found (a reconnect's final answer).
  t.regex(lines[lines.length - 1]!, /^error: .*(pod .*c.* is gone|pods? "c" not found)/i, tc.rpf.stderr());
  t.is((await sessionOf('a', 9401))?.name, sessionA?.name);
  await assertCarries(t, 'a', 9401, ta.tag);
  t.is(ta.rpf.stderr(), '');
  const unschedulable = (await kubectlOk(['get', 'node', nodeB, '-o', 'jsonpath={.spec.unschedulable}'])).trim();
  t.is(unschedulable, 'true', 'the node is cordoned during the test');
});
