// Frees the socket reads a ws WebSocket has copied into a message, at once
// (issue 9). ws keeps each read of its socket (16 KiB for TLS) until a whole
// message has arrived, then copies them into one buffer and drops them; each
// is a fresh ArrayBuffer, external memory that only a garbage collection
// frees, and a GiB of them per GiB received kept the receiving ends in
// ~40 V8 mark-compacts per GiB. With the session's releaseReceived (which
// frees the message itself once it was handled), detaching them leaves the
// receiving ends nothing per byte for the collector.
//
// It wraps ws's Receiver#consume, which is internal to ws (8.x): the
// Receiver keeps the reads in `_buffers` and consume(n) returns either one of
// them, a view into one, or a fresh copy of several. Only memory that went
// wholly into a fresh copy is freed; memory ws handed out a view of (a frame
// header, a control frame's payload, a small message) is never freed, nor is
// memory it still holds. If ws does not have that shape, nothing is changed.
// test/protocol/release-ws-reads.integration.test.ts runs real ws both ways.

import { detachReceived } from './message-bytes.ts';

/** What ws's Receiver looks like from here. */
interface ReceiverShape {
  _buffers: Buffer[];
  consume(n: number): Buffer;
}

function isReceiver(value: unknown): value is ReceiverShape {
  const r = value as Partial<ReceiverShape> | null;
  return typeof r === 'object' && r !== null && Array.isArray(r._buffers) && typeof r.consume === 'function';
}

/** Counters of {@link releaseConsumedReads}. */
export interface ReleasedReads {
  /** Socket reads whose memory was freed. */
  freed: number;
}

/**
 * Frees each socket read of `ws` (a ws WebSocket, once its socket is set)
 * as soon as ws has copied all of it into a message. Returns the counters,
 * or undefined when ws does not have the internals this relies on (then
 * nothing changed and the garbage collector frees the reads as before).
 */
export function releaseConsumedReads(ws: object): ReleasedReads | undefined {
  const receiver = (ws as { _receiver?: unknown })._receiver;
  if (!isReceiver(receiver)) return undefined;
  const counters: ReleasedReads = { freed: 0 };
  const consume = receiver.consume;
  // Memory ws handed out views of: the view may live on (a PONG queued with
  // a PING's payload), so it is never freed.
  const handedOut = new WeakSet<ArrayBufferLike>();
  receiver.consume = function consumeAndRelease(this: ReceiverShape, n: number): Buffer {
    const before = this._buffers.slice();
    const out = consume.call(this, n);
    if (before.some((b) => b.buffer === out.buffer)) {
      handedOut.add(out.buffer);
      return out;
    }
    // `out` is a fresh copy: the reads it emptied are free, if they were whole.
    for (const read of before) {
      const memory = read.buffer;
      if (!(memory instanceof ArrayBuffer) || read.byteOffset !== 0 || read.byteLength !== memory.byteLength) continue;
      if (handedOut.has(memory) || this._buffers.some((b) => b.buffer === memory)) continue;
      if (detachReceived(memory)) counters.freed++;
    }
    return out;
  };
  return counters;
}
