// The public shapes of a tunnel session: where an agent-side channel came from,
// the session's counters and its events. Apart from session.ts so the
// multiplexer's file holds its behaviour, not its vocabulary.

import type { Channel } from './channel.ts';
import type { ListenerInfo } from './frames.ts';
import type { RpfProtocolError } from './errors.ts';

/** Where an agent-side channel's connection came from. */
export interface OpenRequest {
  /** Port of the pod listener that accepted the connection. */
  listenerPort: number;
  /** Address of that listener, e.g. `127.0.0.1`. */
  address: string;
  /** The pod-side client, `ip:port`. */
  peer: string;
}

/** Counters of one session, for metrics. */
export interface SessionStats {
  /** Channels open now (opening, pending or open). */
  channelsOpen: number;
  /** Channels ever opened in this session, refused ones not included. */
  channelsOpenedTotal: number;
  /** Channels refused by the connection limit (agent: open() threw; client: auto OPEN_FAIL). */
  channelsRefusedTotal: number;
  /** DATA payload bytes received. */
  bytesIn: number;
  /** DATA payload bytes sent. */
  bytesOut: number;
  /** WebSocket messages received. */
  messagesIn: number;
  /** WebSocket messages sent. */
  messagesOut: number;
  /** WebSocket payload bytes received, frame headers included. */
  wireBytesIn: number;
  /** WebSocket payload bytes sent, frame headers included. */
  wireBytesOut: number;
  /** Round trip of the last answered PING, if any. */
  lastRttMs: number | undefined;
  /**
   * Bytes of control frames (all but DATA) queued or handed to the transport
   * and not yet confirmed written; the session ends past `maxControlBacklog`.
   */
  controlBytesQueued: number;
}

/** Events of a Session (protocol/session.ts). */
export interface SessionEvents {
  /** Client side: the agent opened a channel; call `accept()` or `reject()` on it. */
  open: [channel: Channel];
  /** Client side: the agent reports its listeners. */
  listening: [listeners: ListenerInfo[]];
  /** The peer broke the protocol; 'close' follows. Emitted only if someone listens. */
  error: [error: RpfProtocolError];
  /** The session ended; `error` is undefined for a local close() or the peer's normal GOAWAY. */
  close: [error: RpfProtocolError | undefined];
}
