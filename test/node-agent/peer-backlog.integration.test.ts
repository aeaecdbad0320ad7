// What one tunnel peer can make the agent hold (issue 8, finding 1b), on a
// real agent and real WebSockets: a peer that floods WebSocket PINGs and never
// reads gets no more PONGs than a bounded buffer holds; a peer that leaves more
// than the bound unread loses its own session (logged, counted), and another
// peer's session carries on.
import net from 'node:net';
import { pino } from 'pino';
import test from 'ava';
import WebSocket from 'ws';
import type { AgentServer } from '../../node-agent/http-server.ts';
import type { AgentMetrics } from '../../node-agent/metrics.ts';
import { PONG_BACKLOG_LIMIT } from '../../node-agent/peer-backlog.ts';
import { SUPPORTED_SUBPROTOCOLS, Session } from '../../protocol/index.ts';
import { makeTestPki, type TestPki } from '../server/helpers/pki.ts';
import { startTestAgent, UID } from './helpers/test-agent.ts';

let pki: TestPki;

test.before(() => {
  pki = makeTestPki();
});

test.after.always(() => pki?.cleanup());

async function startAgent(maxPeerBacklogBytes: number): Promise<{ agent: AgentServer; port: number; metrics: AgentMetrics; warnings: string[] }> {
  const warnings: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  const started = await startTestAgent(pki, {
    log,
    limits: { maxConnections: 100, keepaliveIntervalMs: 0, keepaliveTimeoutMs: 60_000, maxPeerBacklogBytes },
  });
  return { ...started, warnings };
}

interface Peer {
  ws: WebSocket;
  session: Session;
  listeners: { port: number }[];
  /** Stops reading the agent's bytes (the TCP socket is paused). */
  stopReading(): void;
  resumeReading(): void;
}

async function openPeer(port: number, user: string): Promise<Peer> {
  const ws = new WebSocket(`wss://127.0.0.1:${port}/v1/sessions?namespace=dev&pod=api&podUID=${UID}&ports=8080`, [...SUPPORTED_SUBPROTOCOLS], {
    ca: pki.agentCa.cert,
    cert: pki.agentClient.cert,
    key: pki.agentClient.key,
    servername: 'rpf-agent',
    headers: { 'X-Rpf-User': user },
  } as WebSocket.ClientOptions);
  ws.on('error', () => {});
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', () => reject(new Error('refused')));
  });
  const session = new Session({ role: 'client', keepaliveIntervalMs: 0, send: (m, done) => ws.send(m, done) });
  session.on('error', () => {});
  ws.on('message', (d: Buffer, isBinary: boolean) => session.receive(d, isBinary));
  const listeners = await new Promise<{ port: number }[]>((resolve) => session.once('listening', resolve));
  const socket = (ws as unknown as { _socket: net.Socket })._socket;
  return { ws, session, listeners, stopReading: () => socket.pause(), resumeReading: () => socket.resume() };
}

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a peer that floods WebSocket PINGs and never reads makes the agent buffer no more than the PONG bound; once it reads, PINGs are answered again', async (t) => {
  const { agent, port } = await startAgent(64 * 1024 * 1024);
  const peer = await openPeer(port, 'mallory');
  try {
    peer.stopReading();
    const payload = Buffer.alloc(125, 7);
    // 100,000 PINGs: ~12.7 MB of PONGs if every one were answered, far more than the kernel's buffers take.
    for (let i = 0; i < 100_000; i++) {
      peer.ws.ping(payload);
      if (i % 5000 === 0) await new Promise((r) => setImmediate(r));
    }
    // Sent (or, where the agent stalls answering, as much as it took).
    await waitFor(() => peer.ws.bufferedAmount === 0, 5_000).catch(() => {});
    await new Promise((r) => setTimeout(r, 300));
    const [session] = agent.sessions.values();
    t.truthy(session, 'the session is still up: PINGs alone do not end it');
    t.true(session!.peerBacklogBytes <= PONG_BACKLOG_LIMIT + 256, `the agent holds ${session!.peerBacklogBytes} bytes`);
    peer.resumeReading();
    const pong = new Promise<void>((resolve) => peer.ws.on('pong', () => resolve()));
    await waitFor(() => session!.peerBacklogBytes === 0);
    peer.ws.ping(Buffer.from('latest'));
    await pong;
    t.pass('a PONG arrives once the peer reads');
  } finally {
    peer.ws.terminate();
    await agent.close();
  }
});

test('a peer that leaves more than the bound unread loses its own session, with a reason in the log and a metric; another peer carries on', async (t) => {
  const bound = 256 * 1024;
  const { agent, port, metrics, warnings } = await startAgent(bound);
  const slow = await openPeer(port, 'mallory');
  const other = await openPeer(port, 'alice');
  const pods: net.Socket[] = [];
  try {
    const slowClosed = new Promise<void>((resolve) => slow.ws.once('close', () => resolve()));
    // Pod connections that each send 2 MiB toward the peer that does not read:
    // with its 1 MiB window per connection, far more than the kernel's buffers take.
    let accepted = 0;
    slow.session.on('open', (channel) => {
      channel.accept();
      channel.on('data', () => {});
      accepted++;
    });
    // The OPENs are answered before the peer stops reading.
    for (let i = 0; i < 20; i++) {
      const pod = net.connect({ host: '127.0.0.1', port: slow.listeners[0]!.port });
      pod.on('error', () => {});
      pods.push(pod);
    }
    await waitFor(() => accepted === 20);
    slow.stopReading();
    for (const pod of pods) pod.write(Buffer.alloc(2 * 1024 * 1024, 1));
    await waitFor(() => [...agent.sessions.values()].every((s) => s.target.user !== 'mallory'), 20_000);
    slow.resumeReading();
    await slowClosed;
    const ended = (await metrics.sessionsEnded.get()).values.find((v) => v.labels.reason === 'peer_backlog');
    t.is(ended?.value, 1);
    t.true(warnings.some((line) => JSON.parse(line).maxPeerBacklogBytes === bound), 'the log says why');
    // The other peer never noticed: its session is up and opens channels.
    t.is(other.ws.readyState, WebSocket.OPEN);
    const opened = new Promise<void>((resolve) => other.session.once('open', () => resolve()));
    const pod = net.connect({ host: '127.0.0.1', port: other.listeners[0]!.port });
    pod.on('error', () => {});
    pods.push(pod);
    await opened;
    t.is(agent.sessions.size, 1);
  } finally {
    for (const pod of pods) pod.destroy();
    slow.ws.terminate();
    other.ws.terminate();
    await agent.close();
  }
});
