import test from 'ava';
import { Session, decodeMessage, encodeFrame } from '../../protocol/index.ts';
import type { Frame, RpfProtocolError } from '../../protocol/index.ts';
import { FakeTimers } from './fake-timers.ts';

/** A session on a fake clock whose frames are delivered to `frames` synchronously. */
function clockedSession(options: { keepaliveIntervalMs?: number; keepaliveTimeoutMs?: number } = {}) {
  const timers = new FakeTimers();
  const frames: Frame[] = [];
  const session = new Session({
    role: 'client',
    keepaliveIntervalMs: 5_000,
    keepaliveTimeoutMs: 15_000,
    ...options,
    timers,
    // Flush at once, so the fake clock alone decides when frames leave.
    schedule: (fn) => queueMicrotask(fn),
    send: (message) => frames.push(...decodeMessage(message)),
  });
  let closeError: RpfProtocolError | undefined | null = null;
  session.on('close', (error) => {
    closeError = error;
  });
  const pings = (): Frame[] => frames.filter((f) => f.type === 'PING');
  return { session, timers, frames, pings, closeError: () => closeError };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('a session that hears nothing sends a PING after each idle interval', async (t) => {
  const { timers, pings } = clockedSession();
  timers.advance(4_999);
  await flush();
  t.is(pings().length, 0);
  timers.advance(1);
  await flush();
  t.is(pings().length, 1);
  timers.advance(5_000);
  await flush();
  t.is(pings().length, 2);
});

test('a silent peer is declared dead exactly at the keepalive timeout', async (t) => {
  const { session, timers, closeError } = clockedSession();
  session.on('open', (channel) => channel.accept());
  session.receive(encodeFrame({ type: 'OPEN', channel: 1, window: 1024, listenerPort: 80, address: '::1', peer: '[::1]:5' }));
  const channel = session.channels()[0];
  const channelErrors: RpfProtocolError[] = [];
  channel?.on('error', (error: RpfProtocolError) => channelErrors.push(error));
  timers.advance(14_999);
  t.false(session.closed);
  timers.advance(1);
  t.true(session.closed);
  t.is(closeError()?.code, 'RPF_ERR_PROTOCOL_KEEPALIVE_TIMEOUT');
  t.is(session.closeError?.closeCode, 4001);
  await flush();
  t.is(channelErrors[0]?.code, 'RPF_ERR_PROTOCOL_SESSION_CLOSED');
  t.is(timers.armed, 0);
});

test('any incoming message counts as a sign of life and postpones both PING and timeout', async (t) => {
  const { session, timers, pings } = clockedSession();
  for (let i = 0; i < 10; i++) {
    timers.advance(4_000);
    session.receive(encodeFrame({ type: 'PONG', payload: Buffer.alloc(8) }));
  }
  await flush();
  t.is(pings().length, 0);
  t.false(session.closed);
  timers.advance(14_999);
  t.false(session.closed);
  timers.advance(1);
  t.true(session.closed);
});

test('a PONG records the round trip time', async (t) => {
  const { session, timers, pings } = clockedSession();
  timers.advance(5_000);
  await flush();
  const ping = pings()[0];
  t.true(ping?.type === 'PING');
  if (ping?.type !== 'PING') return;
  timers.advance(42);
  session.receive(encodeFrame({ type: 'PONG', payload: ping.payload }));
  t.is(session.stats.lastRttMs, 42);
});

test('a PING is answered with a PONG carrying the same bytes', async (t) => {
  const { session, frames } = clockedSession();
  const payload = Buffer.from('01234567');
  session.receive(encodeFrame({ type: 'PING', payload }));
  await flush();
  const pong = frames.find((f) => f.type === 'PONG');
  t.true(pong?.type === 'PONG' && Buffer.from(pong.payload).equals(payload));
});

test('an interval of 0 disables keepalive', (t) => {
  const { session, timers } = clockedSession({ keepaliveIntervalMs: 0 });
  t.is(timers.armed, 0);
  timers.advance(60_000);
  t.false(session.closed);
});

test('closing the session stops the keepalive timer', (t) => {
  const { session, timers } = clockedSession();
  t.is(timers.armed, 1);
  session.close();
  t.is(timers.armed, 0);
});
