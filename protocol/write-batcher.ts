// Collects the frames of one tick into as few WebSocket messages as possible.
// DESIGN.md: write batching decides throughput; one message per frame costs a
// WebSocket header, a syscall and a wake-up of the peer each.

import { prepareFrame } from './codec.ts';
import type { EncodedFrame } from './codec.ts';
import type { Frame } from './frames.ts';

/** Options of {@link WriteBatcher}. */
export interface WriteBatcherOptions {
  /**
   * Hands one finished message to the transport, with how many of its bytes
   * are control frames (everything but DATA), for the session's control backlog.
   */
  send: (message: Buffer, controlBytes: number) => void;
  /** Runs `fn` once the current tick's work is done (default: setImmediate). */
  schedule: (fn: () => void) => void;
  /** Largest message; a frame that would overflow the current batch flushes it first. */
  maxMessageSize: number;
  /** Called after every flush, once the message was handed to `send` and callbacks ran. */
  onFlushed?: () => void;
}

/**
 * Batches frames into messages. `push` encodes lazily: the frame's buffers are
 * referenced until the flush copies them into the message, so a writer must
 * not reuse them before its `afterFlush` callback runs.
 */
export class WriteBatcher {
  readonly #options: WriteBatcherOptions;
  #frames: EncodedFrame[] = [];
  #size = 0;
  #controlSize = 0;
  #callbacks: Array<() => void> = [];
  #scheduled = false;
  #closed = false;

  constructor(options: WriteBatcherOptions) {
    this.#options = options;
  }

  /** Bytes queued and not yet flushed. */
  get pendingBytes(): number {
    return this.#size;
  }

  /** Bytes of control frames (all but DATA) among {@link pendingBytes}. */
  get pendingControlBytes(): number {
    return this.#controlSize;
  }

  /** Queues a frame; validates it at once (throws RPF_ERR_PROTOCOL_INVALID_ARGUMENT). */
  push(frame: Frame): void {
    if (this.#closed) return;
    const prepared = prepareFrame(frame);
    // A loop, not an if: a flush runs callbacks that may queue frames of their
    // own, and the batch they leave must be checked again before this frame joins.
    while (this.#size + prepared.size > this.#options.maxMessageSize && this.#frames.length > 0) this.flush();
    this.#frames.push(prepared);
    this.#size += prepared.size;
    if (frame.type !== 'DATA') this.#controlSize += prepared.size;
    this.#schedule();
  }

  /** Runs `callback` after the next flush, i.e. once every frame queued so far has been sent. */
  afterFlush(callback: () => void): void {
    if (this.#closed) return;
    this.#callbacks.push(callback);
    this.#schedule();
  }

  /** Sends everything queued now, as one message, then runs the waiting callbacks. */
  flush(): void {
    const frames = this.#frames;
    const size = this.#size;
    const controlSize = this.#controlSize;
    const callbacks = this.#callbacks;
    // Reset first: send and callbacks may push again (re-entrancy).
    this.#frames = [];
    this.#size = 0;
    this.#controlSize = 0;
    this.#callbacks = [];
    if (frames.length > 0) {
      const message = Buffer.allocUnsafe(size);
      let offset = 0;
      for (const f of frames) offset = f.writeInto(message, offset);
      this.#options.send(message, controlSize);
    }
    for (const cb of callbacks) cb();
    this.#options.onFlushed?.();
  }

  /**
   * Drops the queued frames and accepts nothing more. Returns the callbacks
   * that were waiting for a flush, for the caller to run once it has torn down
   * what they belong to.
   */
  close(): Array<() => void> {
    const callbacks = this.#callbacks;
    this.#closed = true;
    this.#frames = [];
    this.#size = 0;
    this.#controlSize = 0;
    this.#callbacks = [];
    return callbacks;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#options.schedule(() => {
      this.#scheduled = false;
      if (!this.#closed) this.flush();
    });
  }
}
