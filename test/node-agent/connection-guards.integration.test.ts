// The bounds from accept (issue 8, finding 2) on real sockets: a peer that
// connects and sends nothing, stops in the TLS handshake or in its headers, or
// idles after a request is closed in time; more than maxConnections are
// closed at accept; and an upgraded tunnel outlives every one of these.
import net from 'node:net';
import tls from 'node:tls';
import test from 'ava';
import WebSocket from 'ws';
import type { AgentServer } from '../../node-agent/http-server.ts';
import type { ConnectionLimits } from '../../node-agent/connection-guards.ts';
import type { AgentMetrics } from '../../node-agent/metrics.ts';
import type { ListenerOpener } from '../../node-agent/netns-listeners.ts';
import { SUPPORTED_SUBPROTOCOLS, Session } from '../../protocol/index.ts';
import { makeTestPki, type TestPki } from '../server/helpers/pki.ts';
import { localOpener, startTestAgent, UID } from './helpers/test-agent.ts';

let pki: TestPki;

test.before(() => {
  pki = makeTestPki();
});

test.after.always(() => pki?.cleanup());

const SHORT: ConnectionLimits = { tlsHandshakeTimeoutMs: 200, requestHeaderTimeoutMs: 200, requestTimeoutMs: 300, keepAliveTimeoutMs: 200, maxConnections: 100 };

function startAgent(connections: Partial<ConnectionLimits> = {}, opener: ListenerOpener = localOpener): Promise<{ agent: AgentServer; port: number; metrics: AgentMetrics }> {
  return startTestAgent(pki, { opener, connections: { ...SHORT, ...connections } });
}

const clientTls = () => ({ ca: pki.agentCa.cert, cert: pki.agentClient.cert, key: pki.agentClient.key, servername: 'rpf-agent' });

/** Milliseconds until the socket closes (or `limitMs`, then undefined). */
function closesWithin(socket: net.Socket, limitMs: number): Promise<number | undefined> {
  const started = Date.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), limitMs);
    socket.on('error', () => {});
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

async function dropped(metrics: AgentMetrics, reason: string): Promise<number> {
  const value = (await metrics.connectionsDropped.get()).values.find((v) => v.labels.reason === reason);
  return value?.value ?? 0;
}

test('a TCP connection that never starts TLS is closed after the handshake timeout, and counted', async (t) => {
  const { agent, port, metrics } = await startAgent();
  try {
    const socket = net.connect({ host: '127.0.0.1', port });
    const ms = await closesWithin(socket, 3000);
    t.true(ms !== undefined && ms < 2000, `closed after ${ms} ms`);
    t.is(await dropped(metrics, 'tls_handshake_timeout'), 1);
  } finally {
    await agent.close();
  }
});

test('a TLS connection that sends no request is closed after the header timeout', async (t) => {
  const { agent, port, metrics } = await startAgent();
  try {
    const socket = tls.connect({ port, host: '127.0.0.1', ...clientTls() });
    // Listening from the start: on a loaded machine the close may come before this test hears of the handshake.
    const closed = closesWithin(socket, 3000);
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    const ms = await closed;
    t.true(ms !== undefined && ms < 2000, `closed after ${ms} ms`);
    t.is(await dropped(metrics, 'idle_timeout'), 1);
  } finally {
    await agent.close();
  }
});

test('a request whose headers never end is closed after the header timeout', async (t) => {
  const { agent, port } = await startAgent();
  try {
    const socket = tls.connect({ port, host: '127.0.0.1', ...clientTls() });
    const closed = closesWithin(socket, 3000);
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    socket.write('GET /v1/sessions HTTP/1.1\r\nHost: rpf-agent\r\n');
    const timer = setInterval(() => socket.writable && socket.write('X-Slow: 1\r\n'), 50); // slowloris: bytes, never the end
    const ms = await closed;
    clearInterval(timer);
    t.true(ms !== undefined && ms < 2000, `closed after ${ms} ms`);
  } finally {
    await agent.close();
  }
});

test('an idle keep-alive connection is closed after the keep-alive timeout', async (t) => {
  const { agent, port } = await startAgent();
  try {
    const socket = tls.connect({ port, host: '127.0.0.1', ...clientTls() });
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    socket.write('GET /healthz HTTP/1.1\r\nHost: rpf-agent\r\n\r\n');
    while (!answer.includes('ok')) await new Promise((r) => setTimeout(r, 5));
    t.regex(answer, /^HTTP\/1.1 200/);
    const ms = await closesWithin(socket, 3000);
    t.true(ms !== undefined && ms < 2000, `closed after ${ms} ms`);
  } finally {
    await agent.close();
  }
});

test('connections beyond maxConnections are closed at accept, and counted', async (t) => {
  const { agent, port, metrics } = await startAgent({ maxConnections: 2, tlsHandshakeTimeoutMs: 10_000, requestHeaderTimeoutMs: 10_000, requestTimeoutMs: 10_000 });
  const held: net.Socket[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const socket = tls.connect({ port, host: '127.0.0.1', ...clientTls() });
      socket.on('error', () => {});
      await new Promise((resolve) => socket.once('secureConnect', resolve));
      held.push(socket);
    }
    const third = net.connect({ host: '127.0.0.1', port });
    const ms = await closesWithin(third, 3000);
    t.true(ms !== undefined && ms < 1000, `closed after ${ms} ms`);
    t.is(await dropped(metrics, 'max_connections'), 1);
  } finally {
    for (const socket of held) socket.destroy();
    await agent.close();
  }
});

test('an upgrade whose listeners take longer than every timeout to open still becomes a session', async (t) => {
  const slowOpener: ListenerOpener = {
    async open(netns, specs) {
      await new Promise((r) => setTimeout(r, 800));
      return localOpener.open(netns, specs);
    },
  };
  const { agent, port } = await startAgent({}, slowOpener);
  const ws = new WebSocket(`wss://127.0.0.1:${port}/v1/sessions?namespace=dev&pod=api&podUID=${UID}&ports=8080`, [...SUPPORTED_SUBPROTOCOLS], {
    ...clientTls(),
    headers: { 'X-Rpf-User': 'alice' },
  } as WebSocket.ClientOptions);
  ws.on('error', () => {});
  try {
    const outcome = await new Promise<string>((resolve) => {
      ws.once('open', () => resolve('open'));
      ws.once('close', () => resolve('closed'));
      ws.once('unexpected-response', (_req, res) => resolve(`status ${res.statusCode}`));
    });
    t.is(outcome, 'open');
    t.is(agent.sessions.size, 1);
  } finally {
    ws.terminate();
    await agent.close();
  }
});

test('an open tunnel outlives every connection timeout and still carries pod connections', async (t) => {
  const { agent, port } = await startAgent();
  const ws = new WebSocket(`wss://127.0.0.1:${port}/v1/sessions?namespace=dev&pod=api&podUID=${UID}&ports=8080`, [...SUPPORTED_SUBPROTOCOLS], {
    ...clientTls(),
    headers: { 'X-Rpf-User': 'alice' },
  } as WebSocket.ClientOptions);
  try {
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const session = new Session({ role: 'client', keepaliveIntervalMs: 0, send: (m, done) => ws.send(m, done) });
    ws.on('message', (d: Buffer, isBinary: boolean) => session.receive(d, isBinary));
    const listeners = await new Promise<{ port: number }[]>((resolve) => session.once('listening', resolve));
    // Longer than the handshake, header, request and keep-alive timeouts together, with the tunnel silent.
    await new Promise((r) => setTimeout(r, 1200));
    t.is(ws.readyState, WebSocket.OPEN);
    t.is(agent.sessions.size, 1);
    const channelOpened = new Promise<void>((resolve) => session.once('open', () => resolve()));
    const pod = net.connect({ host: '127.0.0.1', port: listeners[0]!.port });
    await channelOpened;
    pod.destroy();
    t.is(ws.readyState, WebSocket.OPEN);
  } finally {
    ws.terminate();
    await agent.close();
  }
});
