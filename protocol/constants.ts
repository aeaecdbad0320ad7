// Wire constants of the kube-rpf tunnel protocol. docs/protocol.md is the
// specification; every number here appears there, and a change to one is a
// change to the other (and, for anything on the wire, a new subprotocol version).

/** Frame type octets (first byte of every frame). 0x00 is reserved and never valid. */
export const FRAME_TYPE = {
  OPEN: 0x01,
  OPEN_OK: 0x02,
  OPEN_FAIL: 0x03,
  DATA: 0x04,
  WINDOW_ADJUST: 0x05,
  EOF: 0x06,
  RESET: 0x07,
  PING: 0x08,
  PONG: 0x09,
  LISTENING: 0x0a,
  GOAWAY: 0x0b,
} as const;

/** Name of a frame type, e.g. `'DATA'`. */
export type FrameTypeName = keyof typeof FRAME_TYPE;

/** Octet value of a frame type. */
export type FrameTypeCode = (typeof FRAME_TYPE)[FrameTypeName];

/** Frame header: u8 type, u32 BE channel id, u32 BE payload length. */
export const FRAME_HEADER_SIZE = 9;

/** Channel id of session-level frames (PING, PONG, LISTENING, GOAWAY). */
export const SESSION_CHANNEL_ID = 0;

/** Largest channel id (u32). */
export const MAX_CHANNEL_ID = 0xffff_ffff;

/** Subprotocol of version 1 of this protocol. */
export const SUBPROTOCOL_V1 = 'v1.rpf.kube-rpf.dev';

/**
 * Subprotocols this build speaks, most preferred first. The client offers them in
 * this order as `Sec-WebSocket-Protocol`; the agent picks the first offer it speaks.
 */
export const SUPPORTED_SUBPROTOCOLS: readonly string[] = Object.freeze([SUBPROTOCOL_V1]);

/** Default receive window per channel and direction: 1 MiB (DESIGN.md: windows decide throughput). */
export const DEFAULT_INITIAL_WINDOW = 1024 * 1024;

/** Largest window a receiver may grant (2^31 - 1, as in SSH and HTTP/2); more is a protocol error. */
export const MAX_WINDOW = 0x7fff_ffff;

/** Largest DATA payload: 256 KiB. A writer splits larger writes. */
export const MAX_DATA_PAYLOAD = 256 * 1024;

/** Largest payload of any frame other than DATA (LISTENING's JSON is the biggest in practice). */
export const MAX_CONTROL_PAYLOAD = 64 * 1024;

/** Largest human-readable message in OPEN_FAIL, RESET and GOAWAY; longer ones are truncated when encoded. */
export const MAX_REASON_MESSAGE_BYTES = 1024;

/** Largest address or peer string in OPEN (a u8 length). */
export const MAX_OPEN_STRING_BYTES = 255;

/**
 * Largest WebSocket message: 1 MiB. Frames of one tick are batched into messages
 * of at most this size (any single frame fits, as MAX_DATA_PAYLOAD is smaller);
 * a bigger incoming message is a protocol error. Set the WebSocket's
 * `maxPayload` to at least this.
 */
export const MAX_MESSAGE_SIZE = 1024 * 1024;

/** Default maximum of concurrently open channels per session (memory bound: channels x window). */
export const DEFAULT_MAX_CHANNELS = 256;

/**
 * Default bytes handed to `send` and not yet confirmed done, above which the
 * session holds further DATA (control frames always go out).
 */
export const DEFAULT_SEND_HIGH_WATER_MARK = 4 * 1024 * 1024;

/**
 * Default bytes of control frames (everything but DATA) queued or handed to `send`
 * and not yet confirmed written, beyond which the peer is cut off: it is not reading
 * what it makes us answer (RPF_ERR_PROTOCOL_CONTROL_BACKLOG). An honest peer stays
 * far below it (docs/protocol.md, "Control backlog").
 */
export const DEFAULT_MAX_CONTROL_BACKLOG = 1024 * 1024;

/** Default idle time after which a PING is sent: 5 s. */
export const DEFAULT_KEEPALIVE_INTERVAL_MS = 5_000;

/** Default time without any incoming message after which the peer is declared dead: 15 s. */
export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 15_000;

/** PING and PONG carry exactly this many opaque bytes. */
export const PING_PAYLOAD_SIZE = 8;

/**
 * Reason codes (u32) of OPEN_FAIL and RESET. Receivers must accept codes they do
 * not know and treat them as UNSPECIFIED.
 */
export const CHANNEL_REASON = {
  UNSPECIFIED: 0,
  /** Closed locally with no more specific cause (e.g. `destroy()` without an error). */
  CANCELLED: 1,
  /** The TCP connection on the sender's side was reset (ECONNRESET, EPIPE). */
  CONNECTION_RESET: 2,
  /** OPEN_FAIL: the client's dial to localhost:LOCAL was refused (ECONNREFUSED). */
  CONNECT_REFUSED: 3,
  /** OPEN_FAIL: the client's dial failed otherwise (unreachable, DNS, ...). */
  CONNECT_FAILED: 4,
  /** The receiver already has its maximum of open channels. */
  CONNECTION_LIMIT: 5,
  /** The sender's session is closing and takes no new channels. */
  SESSION_CLOSING: 6,
  /** A local error on the sender's side. */
  INTERNAL_ERROR: 7,
  /** The TCP connection on the sender's side timed out (ETIMEDOUT) or hit an idle timeout. */
  TIMEOUT: 8,
} as const;

/** A channel reason code from {@link CHANNEL_REASON}, or any u32 a newer peer sends. */
export type ChannelReason = number;

/** Reason codes (u32) of GOAWAY. Receivers must accept codes they do not know. */
export const GOAWAY_REASON = {
  /** The session ends on purpose (user pressed Ctrl-C, client closed). */
  NORMAL: 0,
  /** The peer broke the protocol; the message says how. */
  PROTOCOL_ERROR: 1,
  /** The sending process is shutting down (agent rollout, client exit). */
  SHUTTING_DOWN: 2,
  /** The target pod went away (deleted, evicted, its netns is gone). */
  POD_GONE: 3,
  /** An administrator deleted the session (`kubectl delete reverseportforward`). */
  DELETED: 4,
  /** The session was idle longer than the policy allows. */
  IDLE_TIMEOUT: 5,
  /** A policy ended the session (e.g. limits changed). */
  POLICY: 6,
  /** An unexpected local error. */
  INTERNAL_ERROR: 7,
  /** The user is no longer authorized for this tunnel (RBAC changed, an admission webhook now denies it); the message carries the Forbidden text. Final: a client does not reconnect. */
  FORBIDDEN: 8,
} as const;

/** A GOAWAY reason code from {@link GOAWAY_REASON}, or any u32 a newer peer sends. */
export type GoawayReason = number;
