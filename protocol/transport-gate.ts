// Transport backpressure: how many bytes were handed to the WebSocket and not
// yet confirmed written, and which channels wait for that to drop. Per-channel
// windows bound what the peer must buffer; this bounds what our own WebSocket
// buffers when the network is slower than the channels are willing to send.
// It also counts the control bytes among them (the session's control backlog)
// and tells the session when a given message was written (one PONG in flight).

import type { ChannelControl } from './channel.ts';

/** Options of {@link TransportGate}. */
export interface TransportGateOptions {
  /** The caller's send function. */
  send: (message: Buffer, done: (error?: Error | null) => void) => void;
  /** Whether `send` calls `done`; if not, every message counts as written at once. */
  sendUsesDone: boolean;
  /** Unconfirmed bytes (plus `pendingBytes()`) at or above which DATA waits. */
  highWaterMark: number;
  /** Bytes queued in the batcher, not yet handed to `send`. */
  pendingBytes: () => number;
  /** A send failed. */
  onError: (error: Error) => void;
}

/** Tracks unconfirmed bytes and wakes waiting channels, round robin, when they drop. */
export class TransportGate {
  readonly #options: TransportGateOptions;
  readonly #waiting = new Set<ChannelControl>();
  // Callbacks waiting for the message numbered `seq` to be confirmed, in seq order.
  readonly #writeWaiters: Array<{ seq: number; callback: () => void }> = [];
  #outstanding = 0;
  #outstandingControl = 0;
  #transmitted = 0;
  #written = 0;
  #closed = false;

  constructor(options: TransportGateOptions) {
    this.#options = options;
  }

  /** Whether DATA may be queued now. */
  get open(): boolean {
    return this.#outstanding + this.#options.pendingBytes() < this.#options.highWaterMark;
  }

  /** Control bytes (all but DATA) handed to the transport and not yet confirmed written. */
  get outstandingControlBytes(): number {
    return this.#outstandingControl;
  }

  /**
   * Hands a message to the transport and counts it, and the `controlBytes`
   * among it, until `done`; then runs `release` (the memory may be reused).
   */
  transmit(message: Buffer, controlBytes = 0, release?: () => void): void {
    const { send, sendUsesDone } = this.#options;
    this.#transmitted++;
    if (!sendUsesDone) {
      send(message, noop);
      this.#confirmed();
      return;
    }
    this.#outstanding += message.length;
    this.#outstandingControl += controlBytes;
    let called = false;
    send(message, (error) => {
      if (called) return;
      called = true;
      this.#outstanding -= message.length;
      this.#outstandingControl -= controlBytes;
      if (error) {
        this.#options.onError(error);
        return;
      }
      // Written: the message's memory may be reused (never after a failed send).
      release?.();
      this.#confirmed();
      this.wake();
    });
  }

  /**
   * Runs `callback` once every message transmitted so far was confirmed
   * written (at once if none is outstanding); never after close().
   */
  afterWritten(callback: () => void): void {
    if (this.#closed) return;
    if (this.#written >= this.#transmitted) callback();
    else this.#writeWaiters.push({ seq: this.#transmitted, callback });
  }

  /** Registers a channel to pump when the gate opens. */
  wait(control: ChannelControl): void {
    if (!this.#closed) this.#waiting.add(control);
  }

  /** Drops a channel that left the session. */
  forget(control: ChannelControl): void {
    this.#waiting.delete(control);
  }

  /** Gives each waiting channel one turn while the gate is open; the rest wait on. */
  wake(): void {
    if (this.#waiting.size === 0 || this.#closed) return;
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    for (const control of waiting) {
      // Those still blocked queue up again at the back: round robin.
      if (this.open) control.pump();
      else this.#waiting.add(control);
    }
  }

  /** Forgets every waiting channel and write waiter, and wakes none again. */
  close(): void {
    this.#closed = true;
    this.#waiting.clear();
    this.#writeWaiters.length = 0;
  }

  // Transports confirm in order (ws does); a count of confirmations then tells
  // which messages are written without remembering each one.
  // A waiter list of more than one entry is rare (the session keeps one PONG
  // in flight), so shift() is cheap here.
  #confirmed(): void {
    this.#written++;
    for (let next = this.#writeWaiters[0]; next !== undefined && next.seq <= this.#written && !this.#closed; next = this.#writeWaiters[0]) {
      this.#writeWaiters.shift();
      next.callback();
    }
  }
}

function noop(): void {}
