// The shapes a channel and its session meet at: the channel's states, what the
// session provides it (ChannelHost), how the session drives it (ChannelControl)
// and its creation parameters. Apart from channel.ts so the contract reads on its
// own page and channel.ts keeps to the stream's behaviour.

import type { ChannelFrame } from './frames.ts';
import type { RpfProtocolError } from './errors.ts';

/**
 * Where a channel stands:
 * - `opening`: agent side, OPEN sent, waiting for OPEN_OK or OPEN_FAIL;
 * - `pending`: client side, OPEN received, waiting for accept() or reject();
 * - `open`: data flows;
 * - `closed`: gone from the session (EOF both ways, RESET, OPEN_FAIL, session end).
 */
export type ChannelState = 'opening' | 'pending' | 'open' | 'closed';

/** What a channel needs from its session. */
export interface ChannelHost {
  /** Queues a frame for the next message. */
  sendFrame(frame: ChannelFrame): void;
  /** Queues a DATA frame of a copy of `bytes`, taken before it returns (the caller reuses their memory). */
  sendDataCopy(channel: number, bytes: Uint8Array): void;
  /** Runs `callback` once every frame queued so far was handed to the transport. */
  afterFlush(callback: () => void): void;
  /** Whether the transport takes more DATA now (control frames always go). */
  canSendData(): boolean;
  /** Asks to have `pump` called when the transport takes DATA again. */
  waitForTransport(control: ChannelControl): void;
  /** The channel left the session; its id is never used again. */
  channelClosed(id: number): void;
}

/** How the session drives a channel; not part of the public surface. */
export interface ChannelControl {
  openOk(window: number): void;
  openFail(reason: number, message: string): void;
  /** Takes DATA; true when it kept a view of `bytes` (pushed without a copy). */
  data(bytes: Uint8Array): boolean;
  /** Whether nothing holds a view pushed so far: none buffered, and the consumer declared it holds none. */
  viewsReleased(): boolean;
  windowAdjust(increment: number): void;
  eof(): void;
  reset(reason: number, message: string): void;
  sessionClosed(cause: RpfProtocolError | undefined): void;
  pump(): void;
}

/** Creation parameters of a {@link Channel}; the session fills them. */
export interface ChannelInit {
  id: number;
  state: 'opening' | 'pending';
  listenerPort: number;
  address: string;
  peer: string;
  /** Our receive window (granted to the peer when the channel opens). */
  initialWindow: number;
  /** The peer's window for our writes, known on the client side from OPEN. */
  remoteWindow: number;
}
