// Hostile peers against the real cluster (docs/security.md, "How this is
// tested"): each case is what a tunnel user, a pod on the network or a client
// that never reads can do to rpf-server and rpf-agent, sent through the real
// kube-apiserver or at the pods' real ports. None may restart a kube-rpf
// process, grow one past its bound, or disturb another user's session.
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import test from 'ava';
import { WebSocket } from 'ws';
import { encodeFrame } from '../../protocol/index.ts';
import { reversePortForward } from '../../client/index.ts';
import { createNamespace, deleteNamespace, kubectl, kubectlOk, startTestbox, waitFor } from './helpers/cluster.ts';
import { componentPid, componentPod, nodeOf, residentMiB, restartCounts } from './helpers/kube-rpf-pods.ts';
import { startHttpServer } from './helpers/local-server.ts';
import { apiserverAccess } from './helpers/raw-tunnel.ts';
import { runRpfExpectingFailure, startRpf } from './helpers/rpf.ts';
import { createUser } from './helpers/users.ts';

let namespace: string;
let restartsBefore: Record<string, number>;

test.before(async () => {
  namespace = await createNamespace('rpf-hostile');
  await startTestbox(namespace, 'app');
  restartsBefore = await restartCounts();
});

test.after.always(async () => {
  if (namespace) await deleteNamespace(namespace);
});

/** Opens a tunnel through kube-apiserver as the admin, speaking the protocol by hand. */
async function rawTunnel(pod: string, port: number, headers: Record<string, string> = {}): Promise<WebSocket> {
  const api = await apiserverAccess();
  const ws = new WebSocket(
    `wss://${api.host}:${api.port}/apis/rpf.kube-rpf.dev/v1alpha1/namespaces/${namespace}/pods/${pod}/reverseportforward?ports=${port}`,
    ['v1.rpf.kube-rpf.dev'],
    { ca: api.ca, cert: api.cert, key: api.key, headers },
  );
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`tunnel refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });
  return ws;
}

/** A legitimate user's session, opened before a hostile case and checked after it: it must not notice. */
async function bystander(port: number): Promise<{ check(): Promise<string>; close(): Promise<void> }> {
  const web = await startHttpServer('bystander ok\n');
  const rpf = await startRpf(['-n', namespace, 'app', `${port}:${web.port}`], 1);
  return {
    async check() {
      const got = await kubectl(['exec', '-n', namespace, 'app', '--', 'wget', '-qO-', `http://127.0.0.1:${port}/`], { timeoutMs: 20_000 });
      return `${got.stdout}${got.code === 0 ? '' : got.stderr}`;
    },
    async close() {
      await rpf.stop();
      await web.close();
    },
  };
}

test.serial('a client that never reads and floods PINGs costs the agent a bounded amount of memory, and nobody else notices', async (t) => {
  const other = await bystander(8401);
  // The agent that holds the tunnel to app: the one on app's node.
  const agent = await componentPid('agent', await nodeOf(namespace, 'app'));
  const before = await residentMiB(agent);
  const ws = await rawTunnel('app', 8402);
  // Never read: every PONG the agent answers stays with the agent (or is refused).
  (ws as unknown as { _socket: net.Socket })._socket.pause();
  const ping = encodeFrame({ type: 'PING', payload: Buffer.alloc(8, 1) });
  const message = Buffer.concat(Array.from({ length: Math.floor((512 * 1024) / ping.length) }, () => ping));
  const total = 200 * 1024 * 1024;
  let sent = 0;
  let peak = before;
  const deadline = Date.now() + 60_000;
  while (sent < total && ws.readyState === WebSocket.OPEN && Date.now() < deadline) {
    await new Promise<void>((resolve) => ws.send(message, () => resolve()));
    sent += message.length;
    if (sent % (16 * 1024 * 1024) < message.length) peak = Math.max(peak, await residentMiB(agent));
  }
  peak = Math.max(peak, await residentMiB(agent));
  t.log(`sent ${Math.round(sent / 1048576)} MiB of PINGs; agent resident ${before.toFixed(0)} -> peak ${peak.toFixed(0)} MiB; tunnel ${ws.readyState === WebSocket.OPEN ? 'still open' : 'closed by the agent'}`);
  ws.terminate();
  t.true(peak - before < 96, `the agent grew by ${(peak - before).toFixed(0)} MiB`);
  t.is(await other.check(), 'bystander ok\n');
  await other.close();
  t.deepEqual(await restartCounts(), restartsBefore, 'no kube-rpf container restarted');
});

/** Connects to host:port and resolves with how long the server kept a connection that sends nothing. */
function heldFor(host: string, port: number, withTls: boolean, limitMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = withTls ? tls.connect({ host, port, rejectUnauthorized: false }) : net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`still open after ${limitMs} ms`));
    }, limitMs);
    socket.on('error', () => {});
    socket.resume(); // read what the server says (a 408 Status), so its FIN is seen
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

// The bounds as the chart deploys them (docs/security.md): rpf-agent closes a silent
// connection after its 10 s handshake / header timeout; rpf-server after its 10 s
// handshake timeout, or, once TLS is up, its 32 s header timeout (with a 408 Status).
const silentBounds = { agent: { tcp: 10_000, tls: 10_000 }, server: { tcp: 10_000, tls: 32_000 } } as const;
for (const component of ['agent', 'server'] as const) {
  test(`a connection to the ${component}'s port that never completes TLS, or never sends a request, is closed`, async (t) => {
    const { ip } = await componentPod(component);
    const bound = silentBounds[component];
    const slack = 5_000;
    const [silentTcp, silentTls] = await Promise.all([heldFor(ip, 8443, false, bound.tcp + slack), heldFor(ip, 8443, true, bound.tls + slack)]);
    t.log(`closed after ${silentTcp} ms (no TLS) and ${silentTls} ms (TLS, no request)`);
    t.true(silentTcp >= bound.tcp - 1_000, `closed by the bound, not by something else (${silentTcp} ms)`);
  });
}

test('headers named like Object.prototype members are plain headers through kube-apiserver', async (t) => {
  const api = await apiserverAccess();
  for (const name of ['Constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.request(
        {
          host: api.host,
          port: api.port,
          path: `/apis/rpf.kube-rpf.dev/v1alpha1/namespaces/${namespace}/reverseportforwards`,
          ca: api.ca,
          cert: api.cert,
          key: api.key,
          headers: { [name]: 'x', 'X-Remote-Extra-Constructor': 'y' },
        },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    t.is(answer.status, 200, `${name}: ${answer.body}`);
    const ws = await rawTunnel('app', 8410, { [name]: 'x' });
    t.is(ws.protocol, 'v1.rpf.kube-rpf.dev', `${name} on the upgrade`);
    ws.close();
  }
});

test('a user whose name is not ASCII is authorized as that name', async (t) => {
  const user = await createUser(`józef-${Math.random().toString(36).slice(2, 6)}`);
  await kubectlOk(['create', 'rolebinding', 'jozef-view', '-n', namespace, '--clusterrole=view', `--user=${user.name}`]);
  await kubectlOk(['create', 'rolebinding', 'jozef-rpf', '-n', namespace, '--clusterrole=kube-rpf-user', `--user=${user.name}`]);
  const web = await startHttpServer('hello józef\n');
  const rpf = await startRpf(['-n', namespace, 'app', `8420:${web.port}`], 1, user.kubeconfig);
  try {
    const got = await kubectl(['exec', '-n', namespace, 'app', '--', 'wget', '-qO-', 'http://127.0.0.1:8420/'], { timeoutMs: 20_000 });
    t.is(got.stdout, 'hello józef\n');
    const listed = await kubectlOk(['get', 'reverseportforwards', '-n', namespace, '-o', 'json']);
    t.true((JSON.parse(listed) as { items: { spec?: { user?: string } }[] }).items.some((i) => JSON.stringify(i).includes(user.name)), listed);
  } finally {
    await rpf.stop();
    await web.close();
  }
});

test.serial('deleting the pod ends its session: the client names the pod and exits non-zero, the listing drops it', async (t) => {
  await startTestbox(namespace, 'victim');
  const web = await startHttpServer('');
  const rpf = await startRpf(['-n', namespace, 'victim', `8430:${web.port}`], 1);
  try {
    await kubectlOk(['delete', 'pod', 'victim', '-n', namespace, '--wait=false']);
    const started = Date.now();
    const ended = await Promise.race([rpf.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 30_000))]);
    t.truthy(ended, `kubectl rpf still running 30 s after the pod was deleted: ${rpf.stderr()}`);
    t.log(`client exited ${Date.now() - started} ms after the delete: ${rpf.stderr().trim()}`);
    t.not(ended?.code, 0);
    const errors = rpf.stderr().trim().split('\n').filter((l) => l.startsWith('error: '));
    t.is(errors.length, 1, rpf.stderr());
    t.regex(errors[0] ?? '', new RegExp(`${namespace}/victim`));
    const listed = await kubectlOk(['get', 'reverseportforwards', '-n', namespace, '-o', 'json']);
    t.false(listed.includes('"victim"'), listed);
  } finally {
    if (rpf.child.exitCode === null) await rpf.stop();
    await web.close();
  }
});

test.serial('a pod that is being deleted is refused with a clear message', async (t) => {
  // SIGTERM is ignored, so the pod stays Running, but terminating, for its grace period.
  await startTestbox(namespace, 'stubborn', "trap '' TERM; while true; do sleep 1; done");
  await kubectlOk(['patch', 'pod', 'stubborn', '-n', namespace, '--type=merge', '-p', '{"metadata":{"finalizers":["kube-rpf.dev/test-hold"]}}']);
  await kubectlOk(['delete', 'pod', 'stubborn', '-n', namespace, '--wait=false']);
  try {
    await waitFor('the deletion to be recorded', async () =>
      (await kubectlOk(['get', 'pod', 'stubborn', '-n', namespace, '-o', 'jsonpath={.metadata.deletionTimestamp}'])).trim() !== '' ? true : undefined,
    );
    const result = await runRpfExpectingFailure(['-n', namespace, 'stubborn', '8440:3000']);
    t.not(result.code, 0);
    const errors = result.stderr.trim().split('\n').filter((l) => l.startsWith('error: '));
    t.is(errors.length, 1, result.stderr);
    t.regex(errors[0] ?? '', /terminating/);
  } finally {
    await kubectl(['patch', 'pod', 'stubborn', '-n', namespace, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
    await kubectl(['delete', 'pod', 'stubborn', '-n', namespace, '--grace-period=0', '--force']);
  }
});

/** rpf-server's --max-sessions-per-user as deployed. */
async function serverSessionCap(): Promise<number> {
  const args = await kubectlOk(['get', 'deployment', 'rpf-server', '-n', 'kube-rpf', '-o', 'jsonpath={.spec.template.spec.containers[0].args}']);
  const cap = /--max-sessions-per-user=(\d+)/.exec(args)?.[1];
  if (cap === undefined) throw new Error(`rpf-server has no --max-sessions-per-user: ${args}`);
  return Number(cap);
}

test.serial('one user cannot take every tunnel seat: past the per-user cap they get 429, and another user still gets a tunnel', async (t) => {
  const cap = await serverSessionCap();
  const greedy = await createUser(`greedy-${Math.random().toString(36).slice(2, 6)}`);
  const other = await createUser(`other-${Math.random().toString(36).slice(2, 6)}`);
  for (const user of [greedy, other]) {
    await kubectlOk(['create', 'rolebinding', `${user.name}-view`, '-n', namespace, '--clusterrole=view', `--user=${user.name}`]);
    await kubectlOk(['create', 'rolebinding', `${user.name}-rpf`, '-n', namespace, '--clusterrole=kube-rpf-user', `--user=${user.name}`]);
  }
  const open = async (kubeconfig: string, port: number) => reversePortForward({ kubeconfig, namespace, target: 'app', ports: [`${port}:1`] });
  const held = [];
  try {
    // All at once, as a greedy client would: the cap must hold against concurrent upgrades too.
    const attempts = await Promise.allSettled(Array.from({ length: cap + 3 }, (_, i) => open(greedy.kubeconfig, 9000 + i)));
    for (const a of attempts) if (a.status === 'fulfilled') held.push(a.value);
    const refused = attempts.filter((a): a is PromiseRejectedResult => a.status === 'rejected');
    t.is(held.length, cap, refused.map((r) => String(r.reason)).join('\n'));
    t.is(refused.length, 3);
    for (const r of refused) t.regex(String((r.reason as Error).message), /too many|maximum/i);
    const theirs = await open(other.kubeconfig, 8450);
    held.push(theirs);
    t.pass();
  } finally {
    await Promise.all(held.map((f) => f.close()));
  }
});
