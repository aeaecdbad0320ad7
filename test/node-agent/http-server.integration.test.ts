// rpf-agent's API over real mutual TLS and a real WebSocket, with the pod's
// network namespace stood in by this process's own (a stub resolver and a
// listener opener that listens on loopback here): what the agent accepts,
// refuses, and how a session behaves.
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { ConnectionOptions } from 'node:tls';
import test from 'ava';
import WebSocket from 'ws';
import type { AgentServer } from '../../node-agent/http-server.ts';
import { RpfAgentError } from '../../node-agent/errors.ts';
import { AgentMetrics } from '../../node-agent/metrics.ts';
import type { ListenerOpener } from '../../node-agent/netns-listeners.ts';
import type { PodProcess } from '../../node-agent/netns-resolver.ts';
import { AGENT_SESSIONS_PATH, GOAWAY_REASON, SUPPORTED_SUBPROTOCOLS, Session, agentSessionPath, type Channel, type RpfProtocolError } from '../../protocol/index.ts';
import { parseAgentSessions } from '../../server/session-objects.ts';
import { connectResettable } from '../helpers/resettable-tls.ts';
import { makeTestPki, type TestPki } from '../server/helpers/pki.ts';
import { localOpener, startTestAgent, testResolver, UID } from './helpers/test-agent.ts';


/** ws passes TLS options through to tls.connect; its types just do not list them all. */
function tlsOptions(options: ConnectionOptions & { headers?: Record<string, string> }): WebSocket.ClientOptions {
  return options as WebSocket.ClientOptions;
}
let pki: TestPki;

test.before(() => {
  pki = makeTestPki();
});

test.after.always(() => pki?.cleanup());

/** Listens on 127.0.0.1 in this process, as the pod's listeners would in the pod. */
/** What a test may change of the agent it starts. */
interface AgentTweaks {
  /** The pod probe: undefined means the pod is gone (default: it always runs). */
  recheck?: () => Promise<PodProcess | undefined>;
  podCheckIntervalMs?: number;
  metrics?: AgentMetrics;
}

async function startAgent(
  limits: { maxSessions?: number; maxSessionsPerUser?: number } = {},
  opener: ListenerOpener = localOpener,
  tweaks: AgentTweaks = {},
): Promise<{ agent: AgentServer; port: number }> {
  return startTestAgent(pki, {
    opener,
    ...(tweaks.metrics === undefined ? {} : { metrics: tweaks.metrics }),
    ...(tweaks.recheck === undefined ? {} : { resolver: { ...testResolver, recheck: tweaks.recheck } }),
    limits: { ...limits, podCheckIntervalMs: tweaks.podCheckIntervalMs ?? 50 },
  });
}

/** Opens a session as rpf-server would; resolves with the open socket or the refusal's status and body. */
function openSession(port: number, user: string): Promise<{ ws?: WebSocket; session?: Session; status?: number; body?: unknown }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/v1/sessions?namespace=dev&pod=api&podUID=${UID}&ports=8080`, [...SUPPORTED_SUBPROTOCOLS], tlsOptions({
      ca: pki.agentCa.cert,
      cert: pki.agentClient.cert,
      key: pki.agentClient.key,
      servername: 'rpf-agent',
      headers: { 'X-Rpf-User': user },
    }));
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(text) }));
    });
    ws.on('open', () => {
      const session = new Session({ role: 'client', send: (m, done) => ws.send(m, done) });
      ws.on('message', (d: Buffer, isBinary: boolean) => session.receive(d, isBinary));
      resolve({ ws, session });
    });
  });
}

/** The agent's error code in a refusal's Status body. */
function causeOf(body: unknown): string {
  return (body as { details?: { causes?: { reason?: string }[] } } | undefined)?.details?.causes?.[0]?.reason ?? '';
}

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a user at the per-user session limit is refused with 429; another user is not', async (t) => {
  const { agent, port } = await startAgent({ maxSessionsPerUser: 2 });
  const open: WebSocket[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const session = await openSession(port, 'alice');
      t.truthy(session.ws);
      open.push(session.ws!);
    }
    const third = await openSession(port, 'alice');
    t.is(third.status, 429);
    t.like(third.body, { kind: 'Status', reason: 'TooManyRequests', details: { causes: [{ reason: 'RPF_ERR_AGENT_USER_SESSION_LIMIT' }] } });
    const bob = await openSession(port, 'bob');
    t.truthy(bob.ws, 'the limit is per user');
    open.push(bob.ws!);
  } finally {
    for (const ws of open) ws.terminate();
    await agent.close();
  }
});

test('the node-wide session limit refuses with 429', async (t) => {
  const { agent, port } = await startAgent({ maxSessions: 1 });
  const first = await openSession(port, 'alice');
  try {
    const second = await openSession(port, 'bob');
    t.is(second.status, 429);
    t.like(second.body, { details: { causes: [{ reason: 'RPF_ERR_AGENT_SESSION_LIMIT' }] } });
  } finally {
    first.ws?.terminate();
    await agent.close();
  }
});

test('a session reports its listeners, lists itself, and a pod connection becomes a channel', async (t) => {
  const { agent, port } = await startAgent();
  const opened = await openSession(port, 'alice');
  try {
    const listeners = await new Promise<{ port: number }[]>((resolve) => opened.session!.once('listening', resolve));
    t.is(listeners.length, 1);
    t.is(agent.sessions.size, 1);
    const [summary] = [...agent.sessions.values()].map((s) => s.summary());
    t.like(summary, { namespace: 'dev', pod: 'api', podUID: UID, user: 'alice' });
    const channelOpened = new Promise<Channel>((resolve) => opened.session!.once('open', resolve));
    const pod = net.connect({ host: '127.0.0.1', port: listeners[0]!.port });
    await new Promise((resolve) => pod.once('connect', resolve));
    const channel = await channelOpened;
    // The channel is this pod connection: its listener, and its peer as the pod side sees itself.
    t.is(channel.listenerPort, listeners[0]!.port);
    t.is(channel.address, '127.0.0.1');
    t.is(channel.peer, `127.0.0.1:${pod.localPort}`);
    t.like([...agent.sessions.values()][0]!.summary(), { connections: { open: 1, total: 1 } });
    pod.destroy();
  } finally {
    opened.ws?.terminate();
    await agent.close();
  }
});

test('a client without rpf-server\'s certificate gets 401 and no session', async (t) => {
  const { agent, port } = await startAgent();
  try {
    const result = await new Promise<number | undefined>((resolve) => {
      const ws = new WebSocket(`wss://127.0.0.1:${port}/v1/sessions?namespace=dev&pod=api&podUID=${UID}&ports=8080`, [...SUPPORTED_SUBPROTOCOLS], tlsOptions({
        ca: pki.agentCa.cert,
        servername: 'rpf-agent',
      }));
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode));
      ws.on('open', () => resolve(101));
    });
    t.is(result, 401);
    t.is(agent.sessions.size, 0);
  } finally {
    await agent.close();
  }
});

test('a client offering only an unknown protocol version is refused with 400 before any listener opens', async (t) => {
  let opens = 0;
  const countingOpener: ListenerOpener = {
    async open(netns, specs) {
      opens++;
      return localOpener.open(netns, specs);
    },
  };
  const { agent, port } = await startAgent({}, countingOpener);
  try {
    const result = await new Promise<{ status?: number; body?: string }>((resolve) => {
      const ws = new WebSocket(`wss://127.0.0.1:${port}/v1/sessions?namespace=dev&pod=api&podUID=${UID}&ports=8080`, ['v9.rpf.kube-rpf.dev'], tlsOptions({
        ca: pki.agentCa.cert,
        cert: pki.agentClient.cert,
        key: pki.agentClient.key,
        servername: 'rpf-agent',
      }));
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      });
    });
    t.is(result.status, 400);
    t.like(JSON.parse(result.body ?? '{}'), { details: { causes: [{ reason: 'RPF_ERR_AGENT_VERSION_MISMATCH' }] } });
    t.is(opens, 0, 'no listener was opened for the refused request');
    t.is(agent.sessions.size, 0);
  } finally {
    await agent.close();
  }
});

test('rpf-server resetting its connection while the listeners are being opened costs the agent nothing: they are closed, and it serves on', async (t) => {
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const opened: net.Server[] = [];
  let asked = 0;
  const slowOpener: ListenerOpener = {
    async open(netns, specs) {
      asked++;
      await gate;
      const listeners = await localOpener.open(netns, specs);
      opened.push(...listeners.map((l) => l.server));
      return listeners;
    },
  };
  const { agent, port } = await startAgent({}, slowOpener);
  try {
    const conn = await connectResettable(port, { ca: pki.agentCa.cert, cert: pki.agentClient.cert, key: pki.agentClient.key, servername: 'rpf-agent' });
    conn.tls.write(
      `GET /v1/sessions?namespace=dev&pod=api&podUID=${UID}&ports=8080 HTTP/1.1\r\nHost: rpf-agent\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Key: ${Buffer.alloc(16, 1).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${SUPPORTED_SUBPROTOCOLS[0]}\r\nX-Rpf-User: alice\r\n\r\n`,
    );
    while (asked === 0) await new Promise((r) => setTimeout(r, 5));
    conn.reset();
    await new Promise((r) => setTimeout(r, 50));
    release();
    while (opened.length === 0) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 20));
    t.deepEqual(opened.map((s) => s.listening), [false], 'the listener opened for the gone request is closed');
    t.is(agent.sessions.size, 0);
    const next = await openSession(port, 'alice');
    t.truthy(next.ws, 'the agent still opens sessions');
    next.ws?.terminate();
  } finally {
    await agent.close();
  }
});

test('concurrent upgrades through a slow opener: exactly the limits succeed, the rest get 429 (seats are reserved before the first await)', async (t) => {
  const slowOpener: ListenerOpener = {
    async open(netns, specs) {
      await new Promise((r) => setTimeout(r, 200));
      return localOpener.open(netns, specs);
    },
  };
  const { agent, port } = await startAgent({ maxSessions: 3, maxSessionsPerUser: 2 }, slowOpener);
  try {
    const users = Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? 'alice' : 'bob'));
    const results = await Promise.all(users.map((user) => openSession(port, user).then((r) => ({ user, ...r }))));
    const opened = results.filter((r) => r.ws !== undefined);
    t.is(opened.length, 3, 'the node-wide limit holds');
    t.true(['alice', 'bob'].every((user) => opened.filter((r) => r.user === user).length <= 2), 'the per-user limit holds');
    const refused = results.filter((r) => r.ws === undefined);
    t.deepEqual(refused.map((r) => r.status), Array(7).fill(429));
    for (const r of refused) t.true(['RPF_ERR_AGENT_SESSION_LIMIT', 'RPF_ERR_AGENT_USER_SESSION_LIMIT'].includes(causeOf(r.body)));
    t.is(agent.sessions.size, 3);
    for (const r of opened) r.ws!.terminate();
    await waitFor(() => agent.sessions.size === 0);
    const again = await openSession(port, 'alice');
    t.truthy(again.ws, 'seats come back when sessions end');
    again.ws?.terminate();
  } finally {
    await agent.close();
  }
});

test('one user\'s concurrent upgrades: exactly the per-user limit succeeds', async (t) => {
  const slowOpener: ListenerOpener = {
    async open(netns, specs) {
      await new Promise((r) => setTimeout(r, 200));
      return localOpener.open(netns, specs);
    },
  };
  const { agent, port } = await startAgent({ maxSessions: 10, maxSessionsPerUser: 2 }, slowOpener);
  try {
    const results = await Promise.all(Array.from({ length: 8 }, () => openSession(port, 'alice')));
    t.is(results.filter((r) => r.ws).length, 2);
    t.deepEqual(results.filter((r) => !r.ws).map((r) => causeOf(r.body)), Array(6).fill('RPF_ERR_AGENT_USER_SESSION_LIMIT'));
    for (const r of results) r.ws?.terminate();
  } finally {
    await agent.close();
  }
});

test('a seat is given back when opening fails, so failures do not use up the limit', async (t) => {
  let failures = 3;
  const flakyOpener: ListenerOpener = {
    async open(netns, specs) {
      if (failures-- > 0) throw new RpfAgentError('RPF_ERR_AGENT_PORT_IN_USE', 'error creating reverse port-forward listener: port 8080 already in use');
      return localOpener.open(netns, specs);
    },
  };
  const { agent, port } = await startAgent({ maxSessions: 1, maxSessionsPerUser: 1 }, flakyOpener);
  try {
    for (let i = 0; i < 3; i++) t.is(causeOf((await openSession(port, 'alice')).body), 'RPF_ERR_AGENT_PORT_IN_USE');
    const opened = await openSession(port, 'alice');
    t.truthy(opened.ws);
    opened.ws?.terminate();
  } finally {
    await agent.close();
  }
});

test('when the probe says the pod is gone, its session ends with GOAWAY POD_GONE naming the pod, and its listeners close', async (t) => {
  let podRuns = true;
  const metrics = new AgentMetrics();
  const { agent, port } = await startAgent({}, localOpener, { recheck: async () => (podRuns ? { pid: process.pid, startTime: '1' } : undefined), podCheckIntervalMs: 20, metrics });
  const opened = await openSession(port, 'alice');
  try {
    const listeners = await new Promise<{ port: number }[]>((resolve) => opened.session!.once('listening', resolve));
    const closed = new Promise<RpfProtocolError | undefined>((resolve) => opened.session!.once('close', resolve));
    await new Promise((r) => setTimeout(r, 100));
    t.is(agent.sessions.size, 1, 'a running pod keeps its session');
    podRuns = false;
    const error = await closed;
    t.is(error?.code, 'RPF_ERR_PROTOCOL_GOAWAY');
    t.is(error?.reason, GOAWAY_REASON.POD_GONE);
    // The GOAWAY message ends the CLI's one `error:` line, a user contract: it must name the pod.
    t.regex(error?.message ?? '', /pod dev\/api is gone/);
    await waitFor(() => agent.sessions.size === 0);
    const refused = await new Promise<string | undefined>((resolve) => {
      const pod = net.connect({ host: '127.0.0.1', port: listeners[0]!.port });
      pod.once('error', (e: NodeJS.ErrnoException) => resolve(e.code));
      pod.once('connect', () => {
        pod.destroy();
        resolve('connected');
      });
    });
    t.is(refused, 'ECONNREFUSED', 'the listener is closed');
    const text = await metrics.registry.getSingleMetricAsString('rpf_agent_sessions_ended_total');
    t.regex(text, /reason="pod_gone"} 1/);
  } finally {
    opened.ws?.terminate();
    await agent.close();
  }
});

/** A plain request to the agent's API with rpf-server's client certificate. */
function callAgent(port: number, method: string, path: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, method, path, ca: pki.agentCa.cert, cert: pki.agentClient.cert, key: pki.agentClient.key, servername: 'rpf-agent' },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test("the session list is what rpf-server reads, and DELETE ends a session with a Success Status naming it, then 404", async (t) => {
  const { agent, port } = await startAgent();
  const opened = await openSession(port, 'alice');
  try {
    const listeners = await new Promise<{ port: number }[]>((resolve) => opened.session!.once('listening', resolve));
    const list = await callAgent(port, 'GET', AGENT_SESSIONS_PATH);
    t.is(list.status, 200);
    // Read by rpf-server's own reader of the contract: every field arrives.
    const [session] = parseAgentSessions(list.body) ?? [];
    t.like(session, { namespace: 'dev', pod: 'api', podUID: UID, user: 'alice', ports: [{ address: '127.0.0.1', port: listeners[0]!.port, requestedPort: 8080 }], connections: { open: 0, total: 0 } });
    t.false(Number.isNaN(Date.parse(session?.startTime ?? '')));
    const id = session!.id;
    const closed = new Promise<RpfProtocolError | undefined>((resolve) => opened.session!.once('close', resolve));
    const deleted = await callAgent(port, 'DELETE', agentSessionPath(id));
    t.deepEqual(deleted, { status: 200, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 200, details: { name: id } } });
    t.is((await closed)?.reason, GOAWAY_REASON.DELETED);
    const again = await callAgent(port, 'DELETE', agentSessionPath(id));
    t.is(again.status, 404);
    t.like(again.body, { kind: 'Status', status: 'Failure', details: { causes: [{ reason: 'RPF_ERR_AGENT_SESSION_NOT_FOUND' }] } });
  } finally {
    opened.ws?.terminate();
    await agent.close();
  }
});

/** An HTTP/2 connection to the agent, with `client` as its certificate (none: undefined). */
function connectH2(port: number, client: { cert: string; key: string } | undefined): http2.ClientHttp2Session {
  const session = http2.connect(`https://127.0.0.1:${port}`, {
    createConnection: () =>
      tls.connect({ host: '127.0.0.1', port, ca: pki.agentCa.cert, servername: 'rpf-agent', ALPNProtocols: ['h2'], ...(client ?? {}) }),
  });
  session.on('error', () => {});
  return session;
}

/** One GET on an HTTP/2 session: the status, or the error that ended the stream. */
function getH2(session: http2.ClientHttp2Session, path: string): Promise<{ status?: number; body?: string; error?: string }> {
  return new Promise((resolve) => {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request({ ':path': path });
    } catch (error) {
      resolve({ error: (error as Error).message });
      return;
    }
    let status: number | undefined;
    let body = '';
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.on('data', (d: Buffer) => (body += d.toString()));
    stream.on('end', () => resolve({ ...(status === undefined ? {} : { status }), body }));
    stream.on('error', (error) => resolve({ error: error.message }));
    stream.on('close', () => resolve({ ...(status === undefined ? { error: `closed (${stream.rstCode})` } : { status }), body }));
    stream.end();
  });
}

test('rpf-server lists sessions over HTTP/2, several requests on one connection, which stays open between them', async (t) => {
  const { agent, port } = await startAgent();
  t.teardown(() => agent.close());
  const session = connectH2(port, pki.agentClient);
  t.teardown(() => session.destroy());
  for (let i = 0; i < 3; i++) {
    const res = await getH2(session, AGENT_SESSIONS_PATH);
    t.is(res.status, 200, res.error);
    t.deepEqual(JSON.parse(res.body ?? ''), { items: [] });
  }
  t.false(session.closed || session.destroyed);
  t.is(session.alpnProtocol, 'h2');
});

test('an HTTP/2 connection without rpf-server\'s certificate (kubelet\'s probe) reaches /healthz only, and is closed when idle like any other', async (t) => {
  const metrics = new AgentMetrics();
  const { agent, port } = await startTestAgent(pki, { metrics, connections: { requestHeaderTimeoutMs: 300, keepAliveTimeoutMs: 300 } });
  t.teardown(() => agent.close());
  for (const client of [undefined, pki.frontProxyClient]) {
    const session = connectH2(port, client);
    t.teardown(() => session.destroy());
    const healthz = await getH2(session, '/healthz');
    t.is(healthz.status, 200, healthz.error);
    t.is(healthz.body, 'ok');
    t.is((await getH2(session, AGENT_SESSIONS_PATH)).status, 401);
    const started = Date.now();
    await new Promise<void>((resolve) => (session.closed ? resolve() : session.once('close', () => resolve())));
    t.true(Date.now() - started < 5_000, 'closed by the idle bound');
  }
  const dropped = (await metrics.registry.getSingleMetric('rpf_agent_api_connections_dropped_total')!.get()).values;
  t.is(dropped.find((v) => v.labels['reason'] === 'idle_timeout')?.value, 2);
});

test('closing the agent closes rpf-server\'s kept HTTP/2 connection instead of waiting for it', async (t) => {
  const { agent, port } = await startAgent();
  const session = connectH2(port, pki.agentClient);
  t.is((await getH2(session, AGENT_SESSIONS_PATH)).status, 200);
  const closed = new Promise<void>((resolve) => session.once('close', () => resolve()));
  await agent.close();
  await closed;
  t.true(session.closed);
});
