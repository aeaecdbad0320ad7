// One channel: one TCP connection carried by the tunnel, as a Node Duplex.
//
// Writes become DATA frames bounded by the peer's credit (the `_write` callback
// is held while there is none: that is the backpressure), end() sends EOF,
// destroy(err) sends RESET. Incoming DATA is pushed to the readable side and
// credit is granted back as the consumer reads, so a reader that stops reading
// stops only its own channel, and never buffers more than its window.

import { Duplex } from 'node:stream';
import { CHANNEL_REASON, MAX_DATA_PAYLOAD, MAX_WINDOW } from './constants.ts';
import type { ChannelReason } from './constants.ts';
import { channelReasonFor } from './channel-reason.ts';
import { RpfProtocolError } from './errors.ts';
import type { ChannelControl, ChannelHost, ChannelInit, ChannelState } from './channel-types.ts';
import { coalesce } from './coalesce-writes.ts';

export type { ChannelControl, ChannelHost, ChannelInit, ChannelState } from './channel-types.ts';

interface PendingWrite {
  chunks: Buffer[];
  index: number;
  offset: number;
  callback: (error?: Error | null) => void;
}

function unexpected(id: number, what: string): never {
  throw new RpfProtocolError('RPF_ERR_PROTOCOL_UNEXPECTED_FRAME', `channel ${id}: ${what}`);
}

/**
 * One TCP connection in the tunnel, as a Duplex with `allowHalfOpen`: `end()`
 * is a FIN (EOF), `destroy(err)` an RST (RESET); the readable side ends on the
 * peer's EOF and errors with RPF_ERR_PROTOCOL_RESET on the peer's RESET.
 * Emits `'accepted'` on the agent side when the client took the connection.
 * Do not call `setEncoding`: credit is counted in buffered bytes.
 */
export class Channel extends Duplex {
  /** Channel id (odd, chosen by the agent). */
  readonly id: number;
  /** Port of the pod listener this connection arrived on. */
  readonly listenerPort: number;
  /** Address of that listener in the pod. */
  readonly address: string;
  /** The pod-side client, `ip:port`. */
  readonly peer: string;

  readonly #host: ChannelHost;
  readonly #initialWindow: number;
  readonly #grantThreshold: number;
  #state: ChannelState;
  #remoteWindow: number;
  #localWindow = 0;
  #received = 0;
  #acked = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #localEof = false;
  #remoteEof = false;
  #pending: PendingWrite | null = null;
  #heldFinal: ((error?: Error | null) => void) | null = null;
  /** Tells whether the consumer holds none of the chunks it was given (see releasesChunksWhen). */
  #consumerIdle: (() => boolean) | undefined;
  /** A reader stopped by {@link writeBorrowed} until the transport takes DATA again. */
  #ready: (() => void) | null = null;
  readonly #control: ChannelControl;

  /** Created by the session only; `register` receives the session's handle on the channel. */
  constructor(host: ChannelHost, init: ChannelInit, register: (control: ChannelControl) => void) {
    super({
      allowHalfOpen: true,
      // The window bounds what is buffered, so push()'s answer is not needed;
      // a high-water mark equal to the window keeps _read calls coming.
      readableHighWaterMark: Math.min(Math.max(1, init.initialWindow), 1 << 30),
      writableHighWaterMark: MAX_DATA_PAYLOAD,
    });
    this.#host = host;
    this.id = init.id;
    this.listenerPort = init.listenerPort;
    this.address = init.address;
    this.peer = init.peer;
    this.#state = init.state;
    this.#initialWindow = init.initialWindow;
    this.#grantThreshold = Math.max(1, Math.floor(init.initialWindow / 2));
    this.#remoteWindow = init.remoteWindow;
    // The agent grants its window in OPEN; the client grants its own in OPEN_OK.
    if (init.state === 'opening') this.#localWindow = init.initialWindow;
    this.#control = {
      openOk: (window) => this.#onOpenOk(window),
      openFail: (reason, message) => this.#onOpenFail(reason, message),
      data: (bytes) => this.#onData(bytes),
      viewsReleased: () => this.readableLength === 0 && this.#consumerIdle?.() === true,
      windowAdjust: (increment) => this.#onWindowAdjust(increment),
      eof: () => this.#onEof(),
      reset: (reason, message) => this.#onReset(reason, message),
      sessionClosed: (cause) => this.#onSessionClosed(cause),
      pump: () => this.#pump(),
    };
    register(this.#control);
  }

  /** Where the channel stands. */
  get state(): ChannelState {
    return this.#state;
  }

  /** DATA payload bytes received on this channel. */
  get bytesIn(): number {
    return this.#bytesIn;
  }

  /** DATA payload bytes sent on this channel. */
  get bytesOut(): number {
    return this.#bytesOut;
  }

  /** Credit left for our writes (bytes the peer will still accept). */
  get sendWindow(): number {
    return this.#remoteWindow;
  }

  /**
   * Client side: takes the connection (sends OPEN_OK with our window). Call it
   * once the local dial succeeded. Returns false if the channel is already gone
   * (the pod side gave up meanwhile).
   */
  accept(): boolean {
    if (this.#state === 'closed' || this.destroyed) return false;
    if (this.#state !== 'pending') {
      throw new RpfProtocolError('RPF_ERR_PROTOCOL_INVALID_ARGUMENT', `channel ${this.id}: accept() needs a pending client-side channel, it is ${this.#state}`);
    }
    this.#state = 'open';
    this.#localWindow = this.#initialWindow;
    this.#host.sendFrame({ type: 'OPEN_OK', channel: this.id, window: this.#initialWindow });
    this.#opened();
    return true;
  }

  /**
   * Client side: refuses the connection (sends OPEN_FAIL) and destroys the
   * channel quietly. `reason` is a CHANNEL_REASON code, e.g. CONNECT_REFUSED.
   */
  reject(reason: ChannelReason = CHANNEL_REASON.CONNECT_FAILED, message = ''): void {
    if (this.#state === 'closed' || this.destroyed) return;
    if (this.#state !== 'pending') {
      throw new RpfProtocolError('RPF_ERR_PROTOCOL_INVALID_ARGUMENT', `channel ${this.id}: reject() needs a pending client-side channel, it is ${this.#state}`);
    }
    this.#host.sendFrame({ type: 'OPEN_FAIL', channel: this.id, reason, message });
    this.#close();
    this.destroy();
  }

  /**
   * Sends RESET with an explicit reason (OPEN_FAIL on a client channel not yet
   * accepted) and destroys the channel without an error.
   */
  reset(reason: ChannelReason = CHANNEL_REASON.CANCELLED, message = ''): void {
    if (this.#state === 'pending') {
      this.reject(reason, message);
      return;
    }
    if (this.#state !== 'closed' && !this.destroyed) this.#sendReset(reason, message);
    this.destroy();
  }

  /**
   * Writes `bytes` at once, copying them before it returns, for a caller that
   * reuses its memory right after: a socket read into one buffer (`onread`,
   * see readIntoChannel; issue 9). Returns true when the caller may read on,
   * false when it must stop reading until `ready` runs: either what the
   * peer's window did not take (or all of it, before the channel is open or
   * behind an earlier write) was copied into a write of its own, which calls
   * `ready` once framed, or the transport holds its high-water mark, and
   * `ready` runs when it takes DATA again. Keeps order with write().
   */
  writeBorrowed(bytes: Uint8Array, ready: () => void): boolean {
    if (this.destroyed || this.writableEnded) return false;
    let offset = 0;
    if (this.#state === 'open' && this.#pending === null && this.writableLength === 0 && this.#host.canSendData()) {
      // The transport's mark is checked before every frame but the first, as #pump does:
      // over it by at most one DATA frame, whatever the size of the caller's reads.
      while (offset < bytes.length && this.#remoteWindow > 0 && (offset === 0 || this.#host.canSendData())) {
        const n = Math.min(bytes.length - offset, this.#remoteWindow, MAX_DATA_PAYLOAD);
        this.#host.sendDataCopy(this.id, n === bytes.length ? bytes : bytes.subarray(offset, offset + n));
        this.#remoteWindow -= n;
        this.#bytesOut += n;
        offset += n;
      }
      if (offset === bytes.length) {
        if (this.#host.canSendData()) return true;
        // At the high-water mark: stop the reader until the transport drains.
        this.#ready = ready;
        this.#host.waitForTransport(this.#control);
        return false;
      }
    }
    this.write(Buffer.from(bytes.subarray(offset)), () => ready());
    return false;
  }

  /**
   * Declares when the channel's consumer holds none of the chunks it was
   * given: joinSocket's socket, once it has written everything (a write that
   * completed at once keeps no reference). Lets a session with
   * `releaseReceived` free a received message as soon as it was handled
   * (issue 9). Without it, views are left to the garbage collector.
   */
  releasesChunksWhen(idle: () => boolean): void {
    this.#consumerIdle = idle;
  }

  override _read(): void {
    this.#maybeGrant();
  }

  // Every consumption path (flowing mode, pipe, async iteration, read()) goes
  // through read(); granting here means credit follows the consumer exactly.
  override read(size?: number): any {
    const chunk: unknown = super.read(size);
    this.#maybeGrant();
    return chunk;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#pending = { chunks: [chunk], index: 0, offset: 0, callback };
    this.#pump();
  }

  override _writev(chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>, callback: (error?: Error | null) => void): void {
    this.#pending = { chunks: coalesce(chunks.map((c) => c.chunk)), index: 0, offset: 0, callback };
    this.#pump();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.#state === 'open') this.#sendEof(callback);
    else if (this.#state === 'closed') callback();
    // Before OPEN_OK/accept the opener sends nothing but RESET: hold the EOF.
    else this.#heldFinal = callback;
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#state !== 'closed') {
      const reason = channelReasonFor(error);
      const message = error?.message ?? '';
      if (this.#state === 'pending') {
        this.#host.sendFrame({ type: 'OPEN_FAIL', channel: this.id, reason, message });
        this.#close();
      } else {
        this.#sendReset(reason, message);
      }
    }
    // A write waiting for credit fails like a socket write cut off by destroy().
    const pending = this.#pending;
    this.#pending = null;
    this.#heldFinal = null;
    this.#ready = null;
    pending?.callback(error ?? Object.assign(new Error('Cannot call write after a stream was destroyed'), { code: 'ERR_STREAM_DESTROYED' }));
    callback(error);
  }

  #sendReset(reason: ChannelReason, message: string): void {
    this.#host.sendFrame({ type: 'RESET', channel: this.id, reason, message });
    this.#close();
  }

  #close(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#host.channelClosed(this.id);
  }

  #opened(): void {
    this.#pump();
    // Node calls _final only after the last write completed, so no write is pending here.
    const final = this.#heldFinal;
    this.#heldFinal = null;
    if (final !== null) this.#sendEof(final);
  }

  #sendEof(callback: (error?: Error | null) => void): void {
    this.#host.sendFrame({ type: 'EOF', channel: this.id });
    this.#localEof = true;
    if (this.#remoteEof) this.#close();
    this.#host.afterFlush(() => callback());
  }

  #pump(): void {
    const p = this.#pending;
    if (this.#state !== 'open') return;
    if (p === null) {
      this.#wakeReader();
      return;
    }
    while (p.index < p.chunks.length) {
      const chunk = p.chunks[p.index] as Buffer;
      const remaining = chunk.length - p.offset;
      if (remaining === 0) {
        p.index++;
        p.offset = 0;
        continue;
      }
      if (this.#remoteWindow === 0) return; // WINDOW_ADJUST will pump again
      if (!this.#host.canSendData()) {
        this.#host.waitForTransport(this.#control);
        return;
      }
      const n = Math.min(remaining, this.#remoteWindow, MAX_DATA_PAYLOAD);
      this.#host.sendFrame({ type: 'DATA', channel: this.id, data: chunk.subarray(p.offset, p.offset + n) });
      this.#remoteWindow -= n;
      this.#bytesOut += n;
      p.offset += n;
    }
    this.#pending = null;
    // The frames reference the caller's buffers until the flush copies them.
    this.#host.afterFlush(() => p.callback());
  }

  // Lets a reader stopped at the transport's high-water mark read on, once it is below it.
  #wakeReader(): void {
    const ready = this.#ready;
    if (ready === null) return;
    if (!this.#host.canSendData()) {
      this.#host.waitForTransport(this.#control);
      return;
    }
    this.#ready = null;
    ready();
  }

  #maybeGrant(): void {
    if (this.#state !== 'open' || this.#remoteEof) return;
    const consumed = this.#received - this.readableLength;
    const unacked = consumed - this.#acked;
    if (unacked < this.#grantThreshold) return;
    this.#acked = consumed;
    this.#localWindow += unacked;
    this.#host.sendFrame({ type: 'WINDOW_ADJUST', channel: this.id, increment: unacked });
  }

  #onOpenOk(window: number): void {
    if (this.#state !== 'opening') unexpected(this.id, 'OPEN_OK on a channel that is not opening');
    this.#state = 'open';
    this.#remoteWindow = window;
    this.emit('accepted');
    this.#opened();
  }

  #onOpenFail(reason: number, message: string): void {
    if (this.#state !== 'opening') unexpected(this.id, 'OPEN_FAIL on a channel that is not opening');
    this.#close();
    this.destroy(
      new RpfProtocolError('RPF_ERR_PROTOCOL_OPEN_FAILED', `connection refused by the other side of the tunnel${message ? `: ${message}` : ''}`, { reason }),
    );
  }

  #onData(bytes: Uint8Array): boolean {
    if (this.#state !== 'open') unexpected(this.id, `DATA on a ${this.#state} channel`);
    if (this.#remoteEof) unexpected(this.id, 'DATA after EOF');
    if (bytes.length > this.#localWindow) {
      throw new RpfProtocolError(
        'RPF_ERR_PROTOCOL_WINDOW_EXCEEDED',
        `channel ${this.id}: DATA of ${bytes.length} bytes with only ${this.#localWindow} bytes of window`,
      );
    }
    this.#localWindow -= bytes.length;
    this.#received += bytes.length;
    this.#bytesIn += bytes.length;
    if (bytes.length === 0) return false;
    // Zero-copy when the slice is most of its backing memory, or when the
    // consumer keeps up (flowing, nothing buffered: the view leaves at once,
    // into the socket's write queue, which pipe() keeps short). A small view
    // must not wait in a paused reader's buffer, pinning a whole message: at
    // most the one pushed before the reader stopped ever does. (Issue 9: the
    // copy was a second GiB allocated per GiB received, 256 KiB DATA frames
    // being a quarter of a 1 MiB message.)
    const keepsUp = this.readableFlowing === true && this.readableLength === 0;
    const view = keepsUp || bytes.byteLength * 2 >= bytes.buffer.byteLength;
    this.push(view ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) : Buffer.from(bytes));
    this.#maybeGrant();
    return view;
  }

  #onWindowAdjust(increment: number): void {
    if (this.#state !== 'open') unexpected(this.id, `WINDOW_ADJUST on a ${this.#state} channel`);
    if (this.#remoteWindow + increment > MAX_WINDOW) {
      throw new RpfProtocolError('RPF_ERR_PROTOCOL_WINDOW_OVERFLOW', `channel ${this.id}: window grows beyond 2^31-1`);
    }
    this.#remoteWindow += increment;
    this.#pump();
  }

  #onEof(): void {
    if (this.#state === 'opening') unexpected(this.id, 'EOF before OPEN_OK');
    if (this.#remoteEof) unexpected(this.id, 'second EOF');
    this.#remoteEof = true;
    this.push(null);
    if (this.#localEof) this.#close();
  }

  #onReset(reason: number, message: string): void {
    this.#close();
    this.destroy(
      new RpfProtocolError('RPF_ERR_PROTOCOL_RESET', `connection reset by the other side of the tunnel${message ? `: ${message}` : ''}`, { reason }),
    );
  }

  #onSessionClosed(cause: RpfProtocolError | undefined): void {
    // The session forgets the channel itself; nothing is sent (GOAWAY covers it).
    this.#state = 'closed';
    if (this.destroyed) return;
    this.destroy(new RpfProtocolError('RPF_ERR_PROTOCOL_SESSION_CLOSED', 'tunnel session closed', { cause }));
  }
}
