// Answers PINGs with PONGs while holding at most two PONG frames, whatever the
// peer sends. The session owns one and feeds it every PING payload; the frames
// go out through the session's batcher and gate, handed in as functions.

import type { Frame } from './frames.ts';

/** What a {@link PingResponder} needs from its session. */
export interface PingResponderHost {
  /** Queues a frame for the next message. */
  push(frame: Frame): void;
  /** Runs `callback` once every frame queued so far was handed to the transport. */
  afterFlush(callback: () => void): void;
  /** Runs `callback` once every message handed to the transport so far was written. */
  afterWritten(callback: () => void): void;
  /** Whether the session has ended (then nothing more is sent). */
  closed(): boolean;
}

/**
 * A peer that floods PINGs and never reads would otherwise make us queue a
 * PONG for each (issue 8, finding 1). As HTTP/2 implementations limit ping
 * floods, we keep one PONG in flight and answer the latest PING that arrived
 * meanwhile once the transport has written it: PONG bytes held stay at two
 * frames whatever the peer sends, and a peer that reads gets every answer.
 */
export class PingResponder {
  readonly #host: PingResponderHost;
  // One PONG in flight (queued or not yet confirmed written) at a time; the
  // bytes of the latest PING that arrived meanwhile wait here for their turn.
  #pongInFlight = false;
  #pongDue: Buffer | undefined = undefined;

  constructor(host: PingResponderHost) {
    this.#host = host;
  }

  /** Answers a PING carrying `payload` now, or once the PONG in flight was written. */
  answer(payload: Uint8Array): void {
    this.#pongDue ??= Buffer.allocUnsafe(payload.length);
    this.#pongDue.set(payload);
    if (!this.#pongInFlight) this.#sendPong();
  }

  #sendPong(): void {
    const payload = this.#pongDue;
    if (payload === undefined || this.#host.closed()) return;
    this.#pongDue = undefined;
    this.#pongInFlight = true;
    this.#host.push({ type: 'PONG', payload });
    // afterFlush: the PONG's message has been handed to the gate; afterWritten: it left.
    this.#host.afterFlush(() =>
      this.#host.afterWritten(() => {
        this.#pongInFlight = false;
        this.#sendPong();
      }),
    );
  }
}

/** A PING payload: the sending time `now` (ms), 8 bytes big-endian double, echoed back in the PONG. */
export function pingPayload(now: number): Buffer {
  const payload = Buffer.allocUnsafe(8);
  payload.writeDoubleBE(now, 0);
  return payload;
}

/** The round trip a PONG reports, or undefined when its payload is not one of our times. */
export function pongRtt(payload: Uint8Array, now: number): number | undefined {
  const sentAt = Buffer.from(payload.buffer, payload.byteOffset, 8).readDoubleBE(0);
  const rtt = now - sentAt;
  return Number.isFinite(rtt) && rtt >= 0 ? rtt : undefined;
}
