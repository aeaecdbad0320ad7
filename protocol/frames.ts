// The shapes of tunnel frames (docs/protocol.md, "Frames"), shared by the
// codec that puts them on the wire and the session that acts on them.

/** One listener the agent opened in the pod, as LISTENING reports it. */
export interface ListenerInfo {
  /** Address the listener is bound to in the pod, e.g. `127.0.0.1` or `::1`. */
  address: string;
  /** Port it listens on (the picked one when 0 was requested). */
  port: number;
  /** Port the user asked for; 0 means "any free port". */
  requestedPort: number;
}

/** OPEN: the agent accepted a pod connection and opens a channel for it. */
export interface OpenFrame {
  type: 'OPEN';
  channel: number;
  /** Sender's initial receive window for this channel. */
  window: number;
  /** Port of the pod listener the connection arrived on. */
  listenerPort: number;
  /** Address of that listener, e.g. `127.0.0.1`. */
  address: string;
  /** The pod-side client, `ip:port` (`[ip6]:port` for IPv6). */
  peer: string;
}

/** OPEN_OK: the receiver of OPEN accepts the channel. */
export interface OpenOkFrame {
  type: 'OPEN_OK';
  channel: number;
  /** Accepter's initial receive window for this channel. */
  window: number;
}

/** OPEN_FAIL: the receiver of OPEN refuses the channel. */
export interface OpenFailFrame {
  type: 'OPEN_FAIL';
  channel: number;
  /** A {@link CHANNEL_REASON} code. */
  reason: number;
  message: string;
}

/** DATA: bytes of a channel's stream. */
export interface DataFrame {
  type: 'DATA';
  channel: number;
  /** Payload; when decoded, a view into the received message (no copy). */
  data: Uint8Array;
}

/** WINDOW_ADJUST: the receiver grants the sender more credit. */
export interface WindowAdjustFrame {
  type: 'WINDOW_ADJUST';
  channel: number;
  /** Bytes added to the sender's window, 1 to 2^31-1. */
  increment: number;
}

/** EOF: the sender will send no more DATA on the channel (a TCP FIN). */
export interface EofFrame {
  type: 'EOF';
  channel: number;
}

/** RESET: the channel ends abruptly in both directions (a TCP RST). */
export interface ResetFrame {
  type: 'RESET';
  channel: number;
  /** A {@link CHANNEL_REASON} code. */
  reason: number;
  message: string;
}

/** PING: a keepalive probe; the receiver answers PONG with the same bytes. */
export interface PingFrame {
  type: 'PING';
  /** Exactly 8 opaque bytes. */
  payload: Uint8Array;
}

/** PONG: the answer to a PING, echoing its bytes. */
export interface PongFrame {
  type: 'PONG';
  /** The 8 bytes of the PING it answers. */
  payload: Uint8Array;
}

/** LISTENING: the agent reports the listeners it opened. */
export interface ListeningFrame {
  type: 'LISTENING';
  listeners: ListenerInfo[];
}

/** GOAWAY: the sender ends the session, and says why. */
export interface GoawayFrame {
  type: 'GOAWAY';
  /** A {@link GOAWAY_REASON} code. */
  reason: number;
  message: string;
}

/** Any frame. Channel frames carry `channel` (non-zero); session frames travel on channel 0. */
export type Frame =
  | OpenFrame
  | OpenOkFrame
  | OpenFailFrame
  | DataFrame
  | WindowAdjustFrame
  | EofFrame
  | ResetFrame
  | PingFrame
  | PongFrame
  | ListeningFrame
  | GoawayFrame;

/** A frame that belongs to one channel. */
export type ChannelFrame = Extract<Frame, { channel: number }>;

/** A frame that belongs to the session (channel 0). */
export type SessionFrame = Exclude<Frame, ChannelFrame>;

/** Whether `value` is a TCP port, 1 to 65535. */
export function isPort(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= 65535;
}

/** Whether `value` is a well-formed LISTENING entry. */
export function isListenerInfo(value: unknown): value is ListenerInfo {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.address === 'string' &&
    v.address.length > 0 &&
    typeof v.port === 'number' &&
    isPort(v.port) &&
    typeof v.requestedPort === 'number' &&
    Number.isInteger(v.requestedPort) &&
    v.requestedPort >= 0 &&
    v.requestedPort <= 65535
  );
}
