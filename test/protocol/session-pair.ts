// Two sessions wired back to back in memory, the way a WebSocket would join
// them: every message is delivered on a later turn of the event loop, in order,
// and `done` fires once the peer took it.

import { once } from 'node:events';
import { Session, decodeMessage } from '../../protocol/index.ts';
import type { Channel, Frame, RpfProtocolError, SessionOptions } from '../../protocol/index.ts';

/** Options of {@link sessionPair}. */
export interface PairOptions {
  agent?: Partial<Omit<SessionOptions, 'role' | 'send'>>;
  client?: Partial<Omit<SessionOptions, 'role' | 'send'>>;
  /** Called after each message was fed to its receiver. */
  afterDeliver?: (to: 'agent' | 'client', message: Buffer) => void;
}

/** A connected agent and client session. */
export interface SessionPair {
  agent: Session;
  client: Session;
  /** Messages in flight are dropped from now on, both ways (a dead network). */
  cut(): void;
  /** Every message sent so far, by sender. */
  sent: { agent: Buffer[]; client: Buffer[] };
}

export function sessionPair(options: PairOptions = {}): SessionPair {
  let cut = false;
  const sent = { agent: [] as Buffer[], client: [] as Buffer[] };
  const link = (from: 'agent' | 'client') => (sentMessage: Buffer, done: (error?: Error | null) => void) => {
    // A transport takes the bytes (ws writes them to the socket): after done the session reuses the memory.
    const message = Buffer.from(sentMessage);
    sent[from].push(message);
    setImmediate(() => {
      done();
      if (cut) return;
      const to = from === 'agent' ? client : agent;
      to.receive(message);
      options.afterDeliver?.(from === 'agent' ? 'client' : 'agent', message);
    });
  };
  const agent: Session = new Session({ keepaliveIntervalMs: 0, ...options.agent, role: 'agent', send: link('agent') });
  const client: Session = new Session({ keepaliveIntervalMs: 0, ...options.client, role: 'client', send: link('client') });
  return {
    agent,
    client,
    sent,
    cut() {
      cut = true;
    },
  };
}

/**
 * Reads a stream to its end without destroying it (for-await would: it
 * destroys a half-open Duplex whose writable side is still in use).
 */
export function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

/** Resolves after `turns` turns of the event loop. */
export async function ticks(turns = 1): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Deterministic test bytes: `length` bytes of a pattern seeded by `seed`. */
export function pattern(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** A typical pod connection. */
export const REQUEST = { listenerPort: 8080, address: '127.0.0.1', peer: '127.0.0.1:40000' };

/** Opens one channel through the pair and waits until both ends hold it, accepted. */
export async function openChannel(pair: SessionPair): Promise<{ agentChannel: Channel; clientChannel: Channel }> {
  const opened = once(pair.client, 'open') as Promise<[Channel]>;
  const agentChannel = pair.agent.open(REQUEST);
  const [clientChannel] = await opened;
  clientChannel.accept();
  await once(agentChannel, 'accepted');
  return { agentChannel, clientChannel };
}

/** The error a stream is destroyed with. */
export function errorOf(stream: NodeJS.EventEmitter): Promise<RpfProtocolError> {
  return once(stream, 'error').then(([error]) => error as RpfProtocolError);
}

/** The error a session closes with (events.once would reject on its 'error' event instead). */
export function closeOf(session: Session): Promise<RpfProtocolError | undefined> {
  return new Promise((resolve) => session.once('close', resolve));
}

/** A lone session whose sent frames are decoded into `frames`. */
export function loneSession(options: Omit<SessionOptions, 'send'>): {
  session: Session;
  frames: Frame[];
  flush(): Promise<void>;
} {
  const frames: Frame[] = [];
  const session = new Session({ keepaliveIntervalMs: 0, ...options, send: (m) => frames.push(...decodeMessage(m)) });
  return { session, frames, flush: () => ticks(2) };
}
