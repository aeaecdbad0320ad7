// Collects the frames of one tick into as few WebSocket messages as possible.
// DESIGN.md: write batching decides throughput; one message per frame costs a
// WebSocket header, a syscall and a wake-up of the peer each.

import { prepareFrame } from './codec.ts';
import type { EncodedFrame } from './codec.ts';
import { MAX_DATA_PAYLOAD } from './constants.ts';
import type { Frame } from './frames.ts';

/** Messages of at least this many bytes are built in reusable buffers (when `reuse` is on). */
export const REUSED_MESSAGE_MIN = 64 * 1024;
/** Reusable message buffers per batcher, lent, free or being filled; each is `maxMessageSize` bytes. */
export const REUSED_MESSAGE_BUFFERS = 4;
/**
 * A batch that reaches this many bytes with a copied DATA frame ({@link WriteBatcher.pushCopy})
 * is written straight into a reusable buffer; a smaller one copies the bytes
 * into memory of their own, so that light traffic holds no `maxMessageSize` buffer.
 */
export const COPIED_BATCH_MIN = 16 * 1024;

/** Options of {@link WriteBatcher}. */
export interface WriteBatcherOptions {
  /**
   * Hands one finished message to the transport, with how many of its bytes
   * are control frames (everything but DATA), for the session's control backlog.
   * When `release` is given, the message's memory is reused once it is called:
   * the transport calls it only when it no longer reads the message.
   */
  send: (message: Buffer, controlBytes: number, release?: () => void) => void;
  /**
   * Build large messages in buffers the transport hands back (issue 9: a fresh
   * 1 MiB buffer per message lives until it is written, outlives the young
   * generation, and costs the sender major garbage collections).
   */
  reuse?: boolean;
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
  /** Free buffers of maxMessageSize bytes; emptied when the batcher goes quiet. */
  #free: Buffer[] = [];
  /** Reusable buffers handed to the transport and not yet released. */
  #lent = 0;
  /**
   * The reusable buffer the current batch is written into as frames arrive,
   * once a copied DATA frame made it large ({@link pushCopy}); then #frames is empty.
   */
  #open: Buffer | undefined;
  /** The batch's last frame when it is copied DATA in #open: a copy for its channel extends it. */
  #tail: { channel: number; at: number; length: number } | undefined;

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
    while (this.#size + prepared.size > this.#options.maxMessageSize && this.#busy()) this.flush();
    if (this.#open === undefined) this.#frames.push(prepared);
    else {
      prepared.writeInto(this.#open, this.#size);
      this.#tail = undefined;
    }
    this.#size += prepared.size;
    if (frame.type !== 'DATA') this.#controlSize += prepared.size;
    this.#schedule();
  }

  /**
   * Queues a DATA frame of `bytes` for `channel`, copying them before it
   * returns: for a caller whose memory is reused at once (a socket read into
   * one buffer, issue 9). A large batch is written straight into a reusable
   * buffer, so the bytes are copied once and nothing is allocated for them;
   * consecutive copies for one channel extend one DATA frame (up to 256 KiB).
   */
  pushCopy(channel: number, bytes: Uint8Array): void {
    if (this.#closed) return;
    const n = bytes.length;
    const max = this.#options.maxMessageSize;
    const tail = this.#tail;
    const open = this.#open;
    if (open !== undefined && tail !== undefined && tail.channel === channel && tail.length + n <= MAX_DATA_PAYLOAD && this.#size + n <= max) {
      open.set(bytes, this.#size);
      tail.length += n;
      // The frame's length field: after the type byte and the channel id.
      open.writeUInt32BE(tail.length, tail.at + 5);
      this.#size += n;
      return;
    }
    // Validated (channel id, payload size) as push() does; `bytes` is read only by writeInto, below.
    const prepared = prepareFrame({ type: 'DATA', channel, data: bytes });
    while (this.#size + prepared.size > max && this.#busy()) this.flush();
    if (this.#open === undefined && !this.#openBatch(prepared.size)) {
      this.push({ type: 'DATA', channel, data: Buffer.from(bytes) });
      return;
    }
    const at = this.#size;
    this.#size = prepared.writeInto(this.#open as Buffer, at);
    this.#tail = { channel, at, length: n };
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
    const open = this.#open;
    this.#open = undefined;
    this.#tail = undefined;
    if (open !== undefined) this.#lend(open.subarray(0, size), controlSize, open);
    else if (frames.length > 0) {
      const backing = this.#reusable(size);
      const message = backing === undefined ? Buffer.allocUnsafe(size) : backing.subarray(0, size);
      let offset = 0;
      for (const f of frames) offset = f.writeInto(message, offset);
      if (backing === undefined) this.#options.send(message, controlSize);
      else this.#lend(message, controlSize, backing);
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
    this.#free = [];
    this.#open = undefined;
    this.#tail = undefined;
    this.#frames = [];
    this.#size = 0;
    this.#controlSize = 0;
    this.#callbacks = [];
    return callbacks;
  }

  /** Whether a batch is queued (lazily or in #open). */
  #busy(): boolean {
    return this.#frames.length > 0 || this.#open !== undefined;
  }

  // Switches the current batch to a reusable buffer, written as frames arrive,
  // when it will be large with `more` bytes; false if it stays lazy.
  #openBatch(more: number): boolean {
    if (this.#size + more < COPIED_BATCH_MIN) return false;
    const backing = this.#takeReusable();
    if (backing === undefined) return false;
    let offset = 0;
    for (const f of this.#frames) offset = f.writeInto(backing, offset);
    this.#frames = [];
    this.#open = backing;
    return true;
  }

  // A buffer of maxMessageSize bytes for a message of `size`, or undefined for a
  // fresh allocation of its own size.
  #reusable(size: number): Buffer | undefined {
    const big = size >= REUSED_MESSAGE_MIN && size <= this.#options.maxMessageSize;
    if (!big) {
      // A small message after the lent ones came back: the batcher went quiet
      // (at the latest a keepalive PING), and keeps no big buffers.
      if (this.#lent === 0) this.#free.length = 0;
      return undefined;
    }
    return this.#takeReusable();
  }

  // At most REUSED_MESSAGE_BUFFERS exist at once, lent, free or being filled: a
  // new one is made only while fewer are in use and none is free. So a peer that
  // does not read (messages stay lent) makes us hold at most that many, never
  // one per message in flight, whatever the messages' sizes.
  #takeReusable(): Buffer | undefined {
    if (this.#options.reuse !== true) return undefined;
    if (this.#free.length > 0) return this.#free.pop();
    const inUse = this.#lent + (this.#open === undefined ? 0 : 1);
    return inUse < REUSED_MESSAGE_BUFFERS ? Buffer.allocUnsafeSlow(this.#options.maxMessageSize) : undefined;
  }

  #lend(message: Buffer, controlSize: number, backing: Buffer): void {
    this.#lent++;
    let released = false;
    this.#options.send(message, controlSize, () => {
      if (released) return;
      released = true;
      this.#lent--;
      if (!this.#closed && this.#free.length < REUSED_MESSAGE_BUFFERS) this.#free.push(backing);
    });
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
