// TunnelSession on its own: a fake WebSocket and fake listeners around it, an
// injected clock for the idle timeout and the durations. What it says to the
// client (LISTENING, GOAWAY), what it releases, and the session-start and
// session-end lines with rpf-server's event and field names.
import { EventEmitter } from 'node:events';
import net from 'node:net';
import test from 'ava';
import { pino } from 'pino';
import type WebSocket from 'ws';
import { AgentMetrics } from '../../node-agent/metrics.ts';
import type { OpenedListener } from '../../node-agent/netns-listeners.ts';
import { SESSION_END, TunnelSession, type SessionLimits } from '../../node-agent/tunnel-session.ts';
import type { Clock } from '../../node-agent/clock.ts';
import { GOAWAY_REASON, decodeMessage } from '../../protocol/index.ts';

/** A clock whose time moves only when the test says so. */
class FakeClock implements Clock {
  #now = 1_700_000_000_000;
  #next = 1;
  readonly #timers = new Map<number, { at: number; callback: () => void }>();

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + ms, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Timers armed and not yet fired or cleared. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Moves time on, firing every timer that falls due, earliest first. */
  advance(ms: number): void {
    this.#now += ms;
    for (const [id, timer] of [...this.#timers].sort((a, b) => a[1].at - b[1].at)) {
      if (timer.at > this.#now || !this.#timers.has(id)) continue;
      this.#timers.delete(id);
      timer.callback();
    }
  }
}

/** The parts of a ws WebSocket TunnelSession uses, recording what it is asked to do. */
class FakeWebSocket extends EventEmitter {
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  readonly sent: Buffer[] = [];
  closedWith: { code: number; reason: string } | undefined;
  terminated = false;

  send(message: Buffer, _options: unknown, done?: (error?: Error) => void): void {
    this.sent.push(message);
    done?.();
  }

  close(code: number, reason: string): void {
    this.closedWith = { code, reason };
    this.readyState = 2;
  }

  terminate(): void {
    this.terminated = true;
    this.readyState = 3;
  }

  pong(): void {}

  /** Every frame sent so far. */
  frames(): ReturnType<typeof decodeMessage> {
    return this.sent.flatMap((message) => decodeMessage(message));
  }
}

/** A listener's server as the session sees it: connections in, close out. */
class FakeServer extends EventEmitter {
  closed = 0;

  close(): this {
    this.closed++;
    return this;
  }
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

function start(t: { teardown(fn: () => void): void }, limits: Partial<SessionLimits> = {}) {
  const clock = new FakeClock();
  const ws = new FakeWebSocket();
  const servers = [new FakeServer(), new FakeServer()];
  const listeners: OpenedListener[] = [
    { address: '127.0.0.1', port: 8080, requestedPort: 8080, server: servers[0] as unknown as net.Server },
    { address: '::1', port: 8080, requestedPort: 8080, server: servers[1] as unknown as net.Server },
  ];
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  const metrics = new AgentMetrics();
  const ended: TunnelSession[] = [];
  const session = new TunnelSession({
    ws: ws as unknown as WebSocket,
    target: { namespace: 'dev', pod: 'api', podUID: 'uid-1', user: 'alice' },
    listeners,
    // Keepalive off: only the injected clock moves time here.
    limits: { maxConnections: 10, keepaliveIntervalMs: 0, keepaliveTimeoutMs: 12_000, idleTimeoutMs: 0, ...limits },
    metrics,
    log,
    auditId: 'audit-1',
    onEnd: (s) => ended.push(s),
    clock,
  });
  t.teardown(() => session.end(SESSION_END.AGENT));
  const line = (event: string) => lines.find((l) => l['event'] === event);
  return { clock, ws, servers, session, ended, metrics, line };
}

test('a session announces its listeners and logs session-start with rpf-server\'s field names', async (t) => {
  const { ws, session, line, clock } = start(t);
  await tick();
  t.deepEqual(
    ws.frames().filter((f) => f.type === 'LISTENING'),
    [{ type: 'LISTENING', listeners: [{ address: '127.0.0.1', port: 8080, requestedPort: 8080 }, { address: '::1', port: 8080, requestedPort: 8080 }] }],
  );
  t.like(line('session-start'), {
    user: 'alice',
    namespace: 'dev',
    pod: 'api',
    podUID: 'uid-1',
    auditId: 'audit-1',
    session: session.id,
    ports: [8080],
    addresses: ['127.0.0.1', '::1'],
  });
  t.is(session.startTime.getTime(), clock.now());
});

test('without an idle timeout no timer is armed', (t) => {
  const { clock } = start(t, { idleTimeoutMs: 0 });
  t.is(clock.pending, 0);
});

test('a session without pod connections ends after the idle timeout of the injected clock, with a GOAWAY IDLE_TIMEOUT', async (t) => {
  const { clock, ws, servers, ended, line } = start(t, { idleTimeoutMs: 30_000 });
  clock.advance(29_999);
  t.is(ended.length, 0);
  clock.advance(1);
  t.is(ended.length, 1);
  await tick();
  t.like(
    ws.frames().find((f) => f.type === 'GOAWAY'),
    { reason: GOAWAY_REASON.IDLE_TIMEOUT },
  );
  t.is(ws.closedWith?.code, 1000);
  t.deepEqual(servers.map((s) => s.closed), [1, 1]);
  const end = line('session-end');
  t.like(end, { endedBy: SESSION_END.IDLE_TIMEOUT, durationMs: 30_000, connections: 0, bytesToPod: 0, bytesFromPod: 0, ports: [8080] });
  t.false(end !== undefined && 'error' in end);
});

test('a pod connection holds off the idle timeout and its close re-arms it', async (t) => {
  const { clock, servers, ended } = start(t, { idleTimeoutMs: 1000 });
  const outside = net.createServer();
  await new Promise<void>((resolve) => outside.listen(0, '127.0.0.1', resolve));
  t.teardown(() => outside.close());
  const accepted = new Promise<net.Socket>((resolve) => outside.once('connection', resolve));
  const caller = net.connect((outside.address() as net.AddressInfo).port, '127.0.0.1');
  caller.on('error', () => {});
  const socket = await accepted;
  socket.on('error', () => {});
  servers[0]!.emit('connection', socket);
  t.is(clock.pending, 0, 'no idle timer while a pod connection is open');
  clock.advance(5000);
  t.is(ended.length, 0);
  // The session reads the connection through a socket of its own (pod-socket.ts), not
  // `socket`: the pod process resets it, and the session's socket closes.
  caller.resetAndDestroy();
  for (let i = 0; i < 200 && clock.pending === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  t.is(clock.pending, 1, 'the idle timer runs again once the last connection closed');
  clock.advance(1000);
  t.is(ended.length, 1);
});

const closes = [
  { name: 'the pod is gone', reason: GOAWAY_REASON.POD_GONE, endedBy: SESSION_END.POD_GONE },
  { name: 'an administrator deleted it', reason: GOAWAY_REASON.DELETED, endedBy: SESSION_END.DELETED },
  { name: 'the agent shuts down', reason: GOAWAY_REASON.SHUTTING_DOWN, endedBy: SESSION_END.AGENT_SHUTDOWN },
  { name: 'rpf-server revoked it', reason: GOAWAY_REASON.FORBIDDEN, endedBy: SESSION_END.FORBIDDEN },
  { name: 'a policy of rpf-server ended it', reason: GOAWAY_REASON.POLICY, endedBy: SESSION_END.POLICY },
  { name: 'a reason without a name of its own', reason: GOAWAY_REASON.INTERNAL_ERROR, endedBy: SESSION_END.AGENT },
];
for (const c of closes) {
  test(`close() because ${c.name} sends that GOAWAY and logs endedBy ${c.endedBy}, whatever follows`, async (t) => {
    const { ws, session, ended, line } = start(t);
    session.close(c.reason, 'because');
    // The WebSocket's close that follows is not the cause.
    ws.emit('close', 1006, Buffer.alloc(0));
    await tick();
    t.like(
      ws.frames().find((f) => f.type === 'GOAWAY'),
      { reason: c.reason },
    );
    t.is(ended.length, 1);
    t.is(line('session-end')?.['endedBy'], c.endedBy);
  });
}

const clientEnds = [
  { name: 'a clean WebSocket close', act: (ws: FakeWebSocket) => ws.emit('close', 1000, Buffer.alloc(0)), endedBy: SESSION_END.CLIENT, error: undefined },
  { name: 'an abnormal WebSocket close', act: (ws: FakeWebSocket) => ws.emit('close', 1006, Buffer.alloc(0)), endedBy: SESSION_END.CLIENT_ERROR, error: 'websocket closed (1006)' },
  { name: 'a WebSocket error', act: (ws: FakeWebSocket) => ws.emit('error', new Error('boom')), endedBy: SESSION_END.CLIENT_ERROR, error: 'websocket error: boom' },
];
for (const c of clientEnds) {
  test(`${c.name} ends the session as ${c.endedBy}`, (t) => {
    const { ws, ended, line, servers } = start(t);
    c.act(ws);
    t.is(ended.length, 1);
    t.deepEqual(servers.map((s) => s.closed), [1, 1]);
    t.is(line('session-end')?.['endedBy'], c.endedBy);
    t.is(line('session-end')?.['error'], c.error);
  });
}

test('end() releases everything once: listeners, the WebSocket, the gauges and onEnd', async (t) => {
  const { ws, servers, session, ended, metrics } = start(t);
  t.is((await metrics.sessionsActive.get()).values[0]?.value, 1);
  t.is((await metrics.listenersActive.get()).values[0]?.value, 2);
  session.end(SESSION_END.CLIENT);
  session.end(SESSION_END.CLIENT_ERROR, 'again');
  ws.emit('close', 1006, Buffer.alloc(0));
  t.is(ended.length, 1);
  t.deepEqual(servers.map((s) => s.closed), [1, 1]);
  t.true(ws.terminated);
  t.is((await metrics.sessionsActive.get()).values[0]?.value, 0);
  t.is((await metrics.listenersActive.get()).values[0]?.value, 0);
});
