import { EventEmitter } from 'node:events';
import type { ClientHttp2Session } from 'node:http2';
import test from 'ava';
import { AgentSessionPool } from '../../server/agent-sessions.ts';
import type { AgentTarget } from '../../server/pods.ts';

/** A stand-in session: only what the pool touches. */
class FakeSession extends EventEmitter {
  closed = false;
  destroyed = false;
  idleMs = 0;
  onIdle: (() => void) | undefined;
  readonly target: AgentTarget;
  constructor(target: AgentTarget) {
    super();
    this.target = target;
  }
  setTimeout(ms: number, onIdle: () => void): void {
    this.idleMs = ms;
    this.onIdle = onIdle;
  }
  unref(): void {}
  close(): void {
    this.closed = true;
    this.emit('close');
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

const tls = () => ({ ca: 'ca', cert: 'cert', key: 'key', serverName: 'rpf-agent' });
const agent = (host: string): AgentTarget => ({ host, port: 8443, nodeName: `node-${host}`, podName: `rpf-agent-${host}` });

function pool(options: { maxSessions?: number } = {}) {
  const made: FakeSession[] = [];
  const p = new AgentSessionPool(tls, {
    ...options,
    idleMs: 1234,
    connect: (target) => {
      const s = new FakeSession(target);
      made.push(s);
      return s as unknown as ClientHttp2Session;
    },
  });
  return { p, made };
}

test('one session per agent is kept and reused; each agent gets its own', (t) => {
  const { p, made } = pool();
  const a1 = p.session(agent('10.0.0.1'));
  t.is(p.session(agent('10.0.0.1')), a1);
  const b = p.session(agent('10.0.0.2'));
  t.not(b, a1);
  t.is(made.length, 2);
  t.is(made[0]!.idleMs, 1234);
});

test('a session that closed, or was told to go away, is replaced on next use', (t) => {
  const { p, made } = pool();
  p.session(agent('10.0.0.1')).close();
  const second = p.session(agent('10.0.0.1'));
  t.is(made.length, 2);
  (second as unknown as FakeSession).emit('goaway');
  p.session(agent('10.0.0.1'));
  t.is(made.length, 3);
  t.is(p.size, 1);
});

test('discard destroys the kept session (a timed-out agent) and the next use dials again', (t) => {
  const { p, made } = pool();
  p.session(agent('10.0.0.1'));
  p.discard(agent('10.0.0.1'));
  t.true(made[0]!.destroyed);
  p.session(agent('10.0.0.1'));
  t.is(made.length, 2);
});

test('past the bound the least recently used session is closed', (t) => {
  const { p, made } = pool({ maxSessions: 2 });
  p.session(agent('10.0.0.1'));
  p.session(agent('10.0.0.2'));
  p.session(agent('10.0.0.1'));
  p.session(agent('10.0.0.3'));
  t.deepEqual(made.map((s) => `${s.target.host}:${s.closed}`), ['10.0.0.1:false', '10.0.0.2:true', '10.0.0.3:false']);
  t.is(p.size, 2);
});

test('the idle timeout closes a session; close() closes them all', (t) => {
  const { p, made } = pool();
  p.session(agent('10.0.0.1'));
  p.session(agent('10.0.0.2'));
  made[0]!.onIdle!();
  t.true(made[0]!.closed);
  t.is(p.size, 1);
  p.close();
  t.true(made[1]!.closed);
  t.is(p.size, 0);
});
