// The bound on control frames a peer can make us hold: bytes of every frame but
// DATA queued in the batcher or handed to the transport and not yet written.
// The session owns one and asks it after every frame it handles and at the top
// of every tick it flushes; the bound is `maxControlBacklog`.

import { RpfProtocolError } from './errors.ts';

/** Where a {@link ControlBacklog} reads the bytes it sums, and its bound. */
export interface ControlBacklogSources {
  /** Control bytes handed to the transport and not yet confirmed written. */
  outstandingControlBytes(): number;
  /** Control bytes queued for the next message. */
  pendingControlBytes(): number;
  /** The most control bytes the session holds before it ends. */
  max: number;
}

/** Sums a session's control backlog and says when it passed its bound. */
export class ControlBacklog {
  readonly #sources: ControlBacklogSources;

  constructor(sources: ControlBacklogSources) {
    this.#sources = sources;
  }

  /** Control bytes held now. */
  get bytes(): number {
    return this.#sources.outstandingControlBytes() + this.#sources.pendingControlBytes();
  }

  /** Whether the backlog is past its bound (the session then ends). */
  get exceeded(): boolean {
    return this.bytes > this.#sources.max;
  }

  /** The RPF_ERR_PROTOCOL_CONTROL_BACKLOG error that ends the session, with the bytes held now. */
  error(): RpfProtocolError {
    return new RpfProtocolError(
      'RPF_ERR_PROTOCOL_CONTROL_BACKLOG',
      `the tunnel peer does not read: ${this.bytes} bytes of control frames await the transport (at most ${this.#sources.max})`,
    );
  }
}
