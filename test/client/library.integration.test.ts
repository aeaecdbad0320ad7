// library.ts (reversePortForward) against real sockets: a local HTTP server plays kube-apiserver
// and, for the tunnel, the agent (the real protocol Session, role 'agent');
// a local TCP echo server plays the user's service.
import { once } from 'node:events';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { CHANNEL_REASON, GOAWAY_REASON, RpfProtocolError } from '../../protocol/index.ts';
import type { Channel } from '../../protocol/index.ts';
import { RpfClientError, reversePortForward } from '../../client/index.ts';
import type { LogStream, ReversePortForwardOptions } from '../../client/index.ts';
import { fakeCluster } from './helpers/fake-cluster.ts';
import { pod } from './helpers/fake-reader.ts';
import type { FakeClusterOptions } from './helpers/fake-cluster.ts';
import { closedPort, echoService } from './helpers/local-service.ts';
import type { LocalService } from './helpers/local-service.ts';

/** What a test may change: the fake cluster, and the forward's options (default: pod web-1, 8080 -> the echo service). */
interface FixtureOptions {
  cluster?: FakeClusterOptions;
  forward?: (service: LocalService) => Partial<ReversePortForwardOptions>;
}

/**
 * Starts the fake cluster, the user's echo service and a forward against
 * them, all torn down with the test. The forward and the agent end are
 * promises: a test that expects a refusal awaits the forward's rejection.
 */
async function fixture(t: ExecutionContext, options: FixtureOptions = {}) {
  const cluster = await fakeCluster(options.cluster);
  t.teardown(() => cluster.close());
  const service = await echoService();
  t.teardown(() => service.close());
  const lines: Record<LogStream, string[]> = { stdout: [], stderr: [] };
  const agent = cluster.nextAgent();
  const forward = reversePortForward({
    kubeconfig: cluster.kubeconfig,
    target: 'web-1',
    ports: [`8080:${service.port}`],
    localHost: '127.0.0.1',
    log: (line, stream) => lines[stream].push(line),
    ...options.forward?.(service),
  });
  return { cluster, service, lines, agent, forward };
}

/** {@link fixture}, once the forward runs: the running forward and the agent end of its tunnel; closed with the test. */
async function running(t: ExecutionContext, options: FixtureOptions = {}) {
  const { forward, agent, ...rest } = await fixture(t, options);
  const forwarding = await forward;
  t.teardown(() => forwarding.close());
  return { ...rest, forwarding, end: await agent };
}

/** Reads a channel until its EOF without destroying it. */
function readAll(channel: Channel): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    channel.on('data', (chunk: Buffer) => (text += chunk.toString()));
    channel.once('end', () => resolve(text));
    channel.once('error', reject);
  });
}

/** Reads from a channel until `expected` bytes arrived. */
async function readBytes(channel: Channel, expected: number): Promise<string> {
  let text = '';
  while (text.length < expected) {
    const [chunk] = (await once(channel, 'data')) as [Buffer];
    text += chunk.toString();
  }
  return text;
}

test('a forward prints its Forwarding lines and bytes flow both ways through a pod connection', async (t) => {
  const { service, lines, forwarding, end } = await running(t);

  // The Forwarding and Handling lines are the CLI's stdout, a user contract: their text is asserted.
  t.deepEqual(lines.stdout, [
    `Forwarding from 127.0.0.1:8080 in pod default/web-1 -> 127.0.0.1:${service.port}`,
    `Forwarding from [::1]:8080 in pod default/web-1 -> 127.0.0.1:${service.port}`,
  ]);
  t.deepEqual(lines.stderr, []);
  t.deepEqual(forwarding.listeners, [
    { address: '127.0.0.1', remotePort: 8080, localPort: service.port },
    { address: '::1', remotePort: 8080, localPort: service.port },
  ]);
  t.deepEqual(forwarding.pod, { namespace: 'default', name: 'web-1' });
  t.is(forwarding.protocol, 'v1.rpf.kube-rpf.dev');
  t.is(end.path, '/apis/rpf.kube-rpf.dev/v1alpha1/namespaces/default/pods/web-1/reverseportforward');
  t.deepEqual(end.query.getAll('ports'), ['8080']);
  t.deepEqual(end.query.getAll('address'), []);
  t.is(end.headers.authorization, 'Bearer test-token');
  t.is(end.headers['sec-websocket-protocol'], 'v1.rpf.kube-rpf.dev');

  const channel = end.connect(8080);
  await once(channel, 'accepted');
  channel.write('hello');
  t.is(await readBytes(channel, 5), 'hello');
  t.deepEqual(lines.stdout.slice(2), ['Handling connection for 8080']);
});

test('concurrent connections each carry a few megabytes both ways, intact', async (t) => {
  const { end } = await running(t);
  const size = 3 * 1024 * 1024;
  const transfers = Array.from({ length: 8 }, async (_, i) => {
    const payload = Buffer.alloc(size, i + 1);
    const channel = end.connect(8080);
    const chunks: Buffer[] = [];
    channel.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = once(channel, 'end');
    channel.end(payload);
    await ended;
    const echoed = Buffer.concat(chunks);
    // The echo server appends "bye" after our FIN.
    return echoed.length === size + 3 && echoed.subarray(0, size).equals(payload) && echoed.subarray(size).toString() === 'bye';
  });
  t.deepEqual(await Promise.all(transfers), Array(8).fill(true));
});

test('half-close travels as a FIN: the local service still answers after the pod side finished writing', async (t) => {
  const { end } = await running(t);
  const channel = end.connect(8080);
  const received = readAll(channel);
  channel.end('ping');
  // The echo server sees the FIN, sends "bye" and its own FIN, which ends our readable side.
  t.is(await received, 'pingbye');
});

test('a refused local dial rejects only that connection; the session stays up', async (t) => {
  const refused = await closedPort();
  const { lines, end } = await running(t, { forward: (service) => ({ ports: [`8080:${refused}`, `9090:${service.port}`] }) });

  const failed = end.connect(8080);
  const [error] = (await once(failed, 'error')) as [RpfProtocolError];
  t.is(error.code, 'RPF_ERR_PROTOCOL_OPEN_FAILED');
  t.is(error.reason, CHANNEL_REASON.CONNECT_REFUSED);
  // kubectl port-forward's line for a refused local dial, on the CLI's stderr: a user contract.
  t.deepEqual(lines.stderr, [`an error occurred forwarding 8080 -> ${refused}: dial tcp 127.0.0.1:${refused}: connect: connection refused`]);

  const ok = end.connect(9090);
  await once(ok, 'accepted');
  ok.write('still up');
  t.is(await readBytes(ok, 8), 'still up');
  t.false(end.session.closed);
});

test('close() ends the session cleanly: GOAWAY to the agent, closed resolves without an error', async (t) => {
  const { forwarding, end } = await running(t);
  const channel = end.connect(8080);
  await once(channel, 'accepted');
  const agentClosed = once(end.session, 'close');
  await forwarding.close();
  const [agentError] = (await agentClosed) as [RpfProtocolError | undefined];
  t.is(agentError, undefined);
  t.deepEqual(await forwarding.closed, {});
  t.true(channel.destroyed);
});

test('a 0:LOCAL spec prints the port the agent picked and routes its connections', async (t) => {
  const { service, lines, forwarding, end } = await running(t, { forward: (service) => ({ ports: [`0:${service.port}`], address: ['127.0.0.1'] }) });
  const picked = end.listeners[0]?.port ?? 0;
  t.not(picked, 0);
  t.deepEqual(end.query.getAll('ports'), ['0']);
  t.deepEqual(end.query.getAll('address'), ['127.0.0.1']);
  // The Forwarding line names the picked port (KEP-5695): a user contract.
  t.deepEqual(lines.stdout, [`Forwarding from 127.0.0.1:${picked} in pod default/web-1 -> 127.0.0.1:${service.port}`]);
  t.deepEqual(forwarding.listeners, [{ address: '127.0.0.1', remotePort: picked, localPort: service.port }]);
  const channel = end.connect(picked);
  await once(channel, 'accepted');
  channel.write('zero');
  t.is(await readBytes(channel, 4), 'zero');
});

test('a reset from the pod side resets the local connection', async (t) => {
  const { service, end } = await running(t);
  const channel = end.connect(8080);
  await once(channel, 'accepted');
  channel.write('x');
  await readBytes(channel, 1);
  const local = service.accepted[0];
  t.truthy(local);
  const localError = new Promise<NodeJS.ErrnoException>((resolve) => local!.once('error', resolve));
  channel.reset(CHANNEL_REASON.CONNECTION_RESET);
  // An RST, not a FIN: the local service sees ECONNRESET.
  t.is((await localError).code, 'ECONNRESET');
});

test('with reconnect off, the agent going away without GOAWAY resolves closed with CONNECTION_LOST', async (t) => {
  const { forwarding, end } = await running(t, { forward: () => ({ reconnect: false }) });
  end.ws.terminate();
  const { error } = await forwarding.closed;
  t.is(error?.code, 'RPF_ERR_CLIENT_CONNECTION_LOST');
});

test('a GOAWAY POD_GONE from the agent resolves closed with POD_GONE, a final error', async (t) => {
  const { forwarding, end } = await running(t);
  end.session.close(GOAWAY_REASON.POD_GONE, 'pod default/web-1 is gone (deleted or stopped)');
  const { error } = await forwarding.closed;
  t.is(error?.code, 'RPF_ERR_CLIENT_POD_GONE');
  t.is(error?.exitCode, 1);
});

test('any other GOAWAY from the agent resolves closed with SESSION_ENDED', async (t) => {
  const { forwarding, end } = await running(t);
  end.session.close(GOAWAY_REASON.DELETED, 'the session was deleted by an administrator');
  const { error } = await forwarding.closed;
  t.is(error?.code, 'RPF_ERR_CLIENT_SESSION_ENDED');
  t.is((error?.cause as RpfProtocolError | undefined)?.reason, GOAWAY_REASON.DELETED);
});

test('with reconnect off, a silent agent is noticed by keepalive and resolves closed with KEEPALIVE_TIMEOUT', async (t) => {
  const { forwarding, end } = await running(t, { forward: () => ({ keepaliveIntervalMs: 50, keepaliveTimeoutMs: 300, reconnect: false }) });
  // The agent stops reading and answering: a dead peer behind a live TCP connection.
  (end.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  const { error } = await forwarding.closed;
  t.is(error?.code, 'RPF_ERR_CLIENT_KEEPALIVE_TIMEOUT');
});

test('an upgrade refused with a 409 Status fails with the Status message', async (t) => {
  const message = 'error creating reverse port-forward listener: port 8080 already in use';
  const body = JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason: 'Conflict',
    details: { causes: [{ reason: 'RPF_ERR_AGENT_PORT_IN_USE', message }] },
    code: 409,
  });
  const { forward } = await fixture(t, { cluster: { refuse: { status: 409, body } } });
  const error = await t.throwsAsync(forward, { instanceOf: RpfClientError });
  t.is(error?.code, 'RPF_ERR_CLIENT_UPSTREAM');
  // KEP-5695's message, relayed verbatim as the CLI's one `error:` line: a user contract.
  t.is(error?.message, message);
  t.is(error?.status, 409);
  t.is(error?.upstreamCode, 'RPF_ERR_AGENT_PORT_IN_USE');
});

test('an upgrade forbidden by RBAC fails with FORBIDDEN and the Status message', async (t) => {
  const message = 'pods "web-1" is forbidden: User "bob" cannot get resource "pods/reverseportforward" in API group "rpf.kube-rpf.dev" in the namespace "default"';
  const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'Forbidden', code: 403 });
  const { forward } = await fixture(t, { cluster: { refuse: { status: 403, body } } });
  const error = await t.throwsAsync(forward, { instanceOf: RpfClientError });
  t.is(error?.code, 'RPF_ERR_CLIENT_FORBIDDEN');
  // kube-apiserver's words, relayed verbatim as the CLI's one `error:` line: a user contract.
  t.is(error?.message, message);
});

test('a plain-text refusal is reported with its status and first line', async (t) => {
  const { forward } = await fixture(t, { cluster: { refuse: { status: 502, body: 'upstream connect error\n', headers: { 'Content-Type': 'text/plain' } } } });
  const error = await t.throwsAsync(forward, { instanceOf: RpfClientError });
  t.is(error?.code, 'RPF_ERR_CLIENT_UPSTREAM');
  t.is(error?.status, 502);
  // The CLI's one `error:` line, in kubectl's words: a user contract.
  t.is(error?.message, 'error upgrading connection: the server answered 502 Bad Gateway: upstream connect error');
});

test('an agent that answers with another protocol version fails with VERSION_MISMATCH', async (t) => {
  const { forward } = await fixture(t, { cluster: { subprotocol: 'v9.rpf.kube-rpf.dev' } });
  const error = await t.throwsAsync(forward, { instanceOf: RpfClientError });
  t.is(error?.code, 'RPF_ERR_CLIENT_VERSION_MISMATCH');
  // The CLI's one `error:` line names the version the agent speaks, so the user knows which side to upgrade: a user contract.
  t.regex(error?.message ?? '', /v9\.rpf\.kube-rpf\.dev/);
});

test('a cluster without kube-rpf fails with NOT_INSTALLED, checked once the upgrade is refused', async (t) => {
  const { cluster, forward } = await fixture(t, { cluster: { apiService: 'missing' } });
  const error = await t.throwsAsync(forward, { instanceOf: RpfClientError });
  t.is(error?.code, 'RPF_ERR_CLIENT_NOT_INSTALLED');
  // The APIService is read only after the refusal it explains: a working start costs no read.
  t.deepEqual(
    cluster.requests.map((r) => (r.method.includes('upgrade') ? 'upgrade' : r.url)),
    ['upgrade', '/apis/apiregistration.k8s.io/v1/apiservices/v1alpha1.rpf.kube-rpf.dev'],
  );
});

test('a plain pod name goes straight to the upgrade: nothing is read before it', async (t) => {
  const { cluster } = await running(t);
  t.deepEqual(
    cluster.requests.map((r) => r.method),
    ['GET (upgrade)'],
  );
});

test('a user who may not read APIServices still gets a tunnel', async (t) => {
  const { forwarding } = await running(t, { cluster: { apiService: 'forbidden' } });
  t.is(forwarding.listeners.length, 2);
});

test("a missing pod fails with POD_NOT_FOUND from rpf-server's answer, in kubectl's words", async (t) => {
  const { cluster, forward } = await fixture(t, { forward: () => ({ target: 'pod/nope' }) });
  const error = await t.throwsAsync(forward, { instanceOf: RpfClientError });
  t.is(error?.code, 'RPF_ERR_CLIENT_POD_NOT_FOUND');
  t.is(error?.message, 'pods "nope" not found');
  t.false(cluster.requests.some((r) => r.url.startsWith('/api/v1/namespaces/default/pods/')));
});

test('rejected credentials fail with UNAUTHORIZED', async (t) => {
  const { cluster, forward } = await fixture(t, { cluster: { token: 'other-token' } });
  // The kubeconfig carries the cluster's token; replace the expectation after the fact.
  cluster.options.token = 'rotated';
  const error = await t.throwsAsync(forward, { instanceOf: RpfClientError });
  t.is(error?.code, 'RPF_ERR_CLIENT_UNAUTHORIZED');
});

test('an API server that is not there fails with CONNECT_FAILED', async (t) => {
  const { cluster, forward } = await fixture(t);
  await cluster.close();
  const error = await t.throwsAsync(forward, { instanceOf: RpfClientError });
  t.is(error?.code, 'RPF_ERR_CLIENT_CONNECT_FAILED');
});

test('a text message from the agent is a protocol error that ends the session', async (t) => {
  const { forwarding, end } = await running(t);
  end.ws.send('not a frame');
  const { error } = await forwarding.closed;
  t.is(error?.code, 'RPF_ERR_CLIENT_PROTOCOL');
});

test('a signal aborted before the start fails at once with ABORTED, even while the pod is Pending', async (t) => {
  const started = Date.now();
  const { forward } = await fixture(t, { cluster: { pods: { 'default/web-1': pod('web-1', { phase: 'Pending' }) } }, forward: () => ({ signal: AbortSignal.abort() }) });
  const error = await t.throwsAsync(forward, { instanceOf: RpfClientError });
  t.is(error?.code, 'RPF_ERR_CLIENT_ABORTED');
  t.true(Date.now() - started < 5_000, 'no wait for the pod to run');
});

test('a named pod that is still Pending is waited for (--pod-running-timeout), then the upgrade is asked again', async (t) => {
  const pods = { 'default/web-1': pod('web-1', { phase: 'Pending' }) };
  const { cluster, forward } = await fixture(t, { cluster: { pods } });
  const upgrades = () => cluster.requests.filter((r) => r.method.includes('upgrade')).length;
  // rpf-server refused the first upgrade (not running); the pod then starts.
  while (upgrades() === 0) await new Promise((resolve) => setTimeout(resolve, 20));
  pods['default/web-1'] = pod('web-1');
  const forwarding = await forward;
  t.teardown(() => forwarding.close());
  t.is(forwarding.listeners.length, 2);
  t.is(upgrades(), 2);
});

test('a lost tunnel is reconnected: the 0:LOCAL spec asks for the port it had, onStateChange tells each state, connections flow again', async (t) => {
  const states: string[] = [];
  const { cluster, service, lines, forwarding, end } = await running(t, {
    forward: (service) => ({ ports: [`0:${service.port}`], address: ['127.0.0.1'], onStateChange: (change) => states.push(change.state) }),
  });
  const picked = end.listeners[0]?.port ?? 0;
  const next = cluster.nextAgent();
  end.ws.terminate();
  const again = await next;
  t.deepEqual(again.query.getAll('ports'), [String(picked)]);
  while (forwarding.state !== 'connected' || states.length < 3) await new Promise((resolve) => setTimeout(resolve, 10));
  t.deepEqual(states, ['connected', 'reconnecting', 'connected']);
  t.regex(lines.stderr[0] ?? '', /^lost connection to the pod's reverse port-forward: .*; reconnecting$/);
  // The same Forwarding line again, for the same pod port: a user contract.
  t.deepEqual(lines.stdout, Array(2).fill(`Forwarding from 127.0.0.1:${picked} in pod default/web-1 -> 127.0.0.1:${service.port}`));
  const channel = again.connect(picked);
  await once(channel, 'accepted');
  channel.write('again');
  t.is(await readBytes(channel, 5), 'again');
  await forwarding.close();
  t.deepEqual(await forwarding.closed, {});
  t.deepEqual(states, ['connected', 'reconnecting', 'connected', 'ended']);
});

test('a reconnect that finds kube-rpf uninstalled ends the forward with NOT_INSTALLED, not a bare 404', async (t) => {
  const { cluster, forwarding, end } = await running(t);
  cluster.options.refuse = { status: 404, body: JSON.stringify({ kind: 'Status', message: 'the server could not find the requested resource', code: 404 }) };
  cluster.options.apiService = 'missing';
  end.ws.terminate();
  const { error } = await forwarding.closed;
  t.is(error?.code, 'RPF_ERR_CLIENT_NOT_INSTALLED');
});

test('a reconnect refused with 403 (the RBAC was removed meanwhile) ends the forward with FORBIDDEN and its message', async (t) => {
  const message = 'pods "web-1" is forbidden: User "bob" cannot get resource "pods/reverseportforward" in API group "rpf.kube-rpf.dev" in the namespace "default"';
  const { cluster, forwarding, end } = await running(t);
  cluster.options.refuse = { status: 403, body: JSON.stringify({ kind: 'Status', message, reason: 'Forbidden', code: 403 }) };
  end.ws.terminate();
  const { error } = await forwarding.closed;
  t.is(error?.code, 'RPF_ERR_CLIENT_FORBIDDEN');
  // kube-apiserver's words, the CLI's one `error:` line: a user contract.
  t.is(error?.message, message);
});

test('a connection open when the tunnel drops is reset on this machine; the reconnected session carries new ones', async (t) => {
  const { cluster, service, forwarding, end } = await running(t);
  const channel = end.connect(8080);
  await once(channel, 'accepted');
  channel.write('x');
  await readBytes(channel, 1);
  const local = service.accepted[0];
  t.truthy(local);
  const localError = new Promise<NodeJS.ErrnoException>((resolve) => local!.once('error', resolve));
  const next = cluster.nextAgent();
  end.ws.terminate();
  // An RST, not a FIN: its bytes in flight are lost, and the local service must know.
  t.is((await localError).code, 'ECONNRESET');
  const again = await next;
  while (forwarding.state !== 'connected') await new Promise((resolve) => setTimeout(resolve, 10));
  const fresh = again.connect(8080);
  await once(fresh, 'accepted');
  fresh.write('new');
  t.is(await readBytes(fresh, 3), 'new');
});
