// Transport backpressure: how many bytes were handed to the WebSocket and not
// yet confirmed written, and which channels wait for that to drop. Per-channel
// windows bound what the peer must buffer; this bounds what our own WebSocket
// buffers when the network is slower than the channels are willing to send.

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
  #outstanding = 0;
  #closed = false;

  constructor(options: TransportGateOptions) {
    this.#options = options;
  }

  /** Whether DATA may be queued now. */
  get open(): boolean {
    return this.#outstanding + this.#options.pendingBytes() < this.#options.highWaterMark;
  }

  /** Hands a message to the transport and counts it until `done`. */
  transmit(message: Buffer): void {
    const { send, sendUsesDone } = this.#options;
    if (!sendUsesDone) {
      send(message, noop);
      return;
    }
    this.#outstanding += message.length;
    let called = false;
    send(message, (error) => {
      if (called) return;
      called = true;
      this.#outstanding -= message.length;
      if (error) this.#options.onError(error);
      else this.wake();
    });
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

  /** Forgets every waiting channel and wakes none again. */
  close(): void {
    this.#closed = true;
    this.#waiting.clear();
  }
}

function noop(): void {}
