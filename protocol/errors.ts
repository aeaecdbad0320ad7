// Every error the tunnel protocol raises, in one table: code, default message,
// the WebSocket close code it maps to, its scope, a one-line meaning and how to
// fix it. docs/errors.md is generated from this table (npm run errors:doc).

/**
 * Where an error strikes:
 * - `session`: the tunnel ends; close the WebSocket with `closeCode`.
 * - `channel`: one channel (one TCP connection) ends; the session goes on.
 * - `call`: a local call was refused; nothing was sent.
 */
export type ProtocolErrorScope = 'session' | 'channel' | 'call';

/** One row of {@link PROTOCOL_ERROR_CODES}. */
export interface ProtocolErrorInfo {
  /** Default message, a one-line summary. */
  readonly message: string;
  /** WebSocket close code for this error (1002 protocol error, 1008 policy or a bound exceeded, 1009 too big, 4xxx ours). */
  readonly closeCode: number;
  /** What the error ends; channel and call errors never close the WebSocket themselves. */
  readonly scope: ProtocolErrorScope;
  /** What happened, in one line (docs/errors.md). */
  readonly meaning: string;
  /** What the user or the administrator can do about it (docs/errors.md). */
  readonly fix: string;
}

/** The fix of every session error that means the peer broke the protocol. */
const PEER_BROKE_PROTOCOL_FIX =
  "The tunnel ended. If it repeats, kubectl-rpf and the cluster's kube-rpf disagree on the protocol (upgrade the older one) or something between them alters WebSocket frames; report it with the client's -v output.";

/** The fix of every channel error: one connection ended, the session did not. */
const ONE_CONNECTION_FIX = 'Only this connection ended; the session goes on. Retry the connection.';

/** Every protocol error code: its default message, close code, scope, meaning and fix. */
export const PROTOCOL_ERROR_CODES = Object.freeze({
  RPF_ERR_PROTOCOL_MALFORMED_FRAME: {
    message: 'malformed tunnel frame',
    meaning: 'malformed tunnel frame',
    fix: PEER_BROKE_PROTOCOL_FIX,
    closeCode: 1002,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_UNKNOWN_FRAME_TYPE: {
    message: 'unknown tunnel frame type',
    meaning: 'unknown tunnel frame type',
    fix: PEER_BROKE_PROTOCOL_FIX,
    closeCode: 1002,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_FRAME_TOO_LARGE: {
    message: 'tunnel frame payload exceeds the maximum for its type',
    meaning: 'tunnel frame payload exceeds the maximum for its type',
    fix: PEER_BROKE_PROTOCOL_FIX,
    closeCode: 1009,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_MESSAGE_TOO_LARGE: {
    message: 'tunnel message exceeds the maximum message size',
    meaning: 'tunnel message exceeds the maximum message size',
    fix: PEER_BROKE_PROTOCOL_FIX,
    closeCode: 1009,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_UNKNOWN_CHANNEL: {
    message: 'frame for a channel that was never opened',
    meaning: 'frame for a channel that was never opened',
    fix: PEER_BROKE_PROTOCOL_FIX,
    closeCode: 1002,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_INVALID_CHANNEL_ID: {
    message: 'OPEN with a channel id that is not odd and increasing',
    meaning: 'OPEN with a channel id that is not odd and increasing',
    fix: PEER_BROKE_PROTOCOL_FIX,
    closeCode: 1002,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_UNEXPECTED_FRAME: {
    message: 'frame not allowed in the current state or for this side',
    meaning: 'frame not allowed in the current state or for this side',
    fix: PEER_BROKE_PROTOCOL_FIX,
    closeCode: 1002,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_WINDOW_EXCEEDED: {
    message: 'peer sent more data than its window allowed',
    meaning: 'peer sent more data than its window allowed',
    fix: PEER_BROKE_PROTOCOL_FIX,
    closeCode: 1002,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_WINDOW_OVERFLOW: {
    message: 'WINDOW_ADJUST grows a window beyond 2^31-1 bytes',
    meaning: 'WINDOW_ADJUST grows a window beyond 2^31-1 bytes',
    fix: PEER_BROKE_PROTOCOL_FIX,
    closeCode: 1002,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_CONTROL_BACKLOG: {
    message: 'tunnel peer does not read: too many control frames await the transport',
    meaning: 'tunnel peer does not read: too many control frames await the transport',
    fix: 'The peer kept sending frames that need an answer (PING, OPEN, DATA) but did not read the answers, until more than 1 MiB of them (`maxControlBacklog`) waited to be written: a broken or hostile peer, or a network stalled under heavy connection churn. Only that session ended. Reconnect; if it repeats, check the network path and report it with the client\'s -v output and the agent\'s log.',
    closeCode: 1008,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_KEEPALIVE_TIMEOUT: {
    message: 'tunnel peer did not answer within the keepalive timeout',
    meaning: 'tunnel peer did not answer within the keepalive timeout',
    fix: 'The peer did not answer for 15 s: a network drop, a frozen client, or an overloaded node. Reconnect; listeners in the pod were closed.',
    closeCode: 4001,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_VERSION_MISMATCH: {
    message: 'kube-rpf protocol mismatch between client and agent',
    meaning: 'kube-rpf protocol mismatch between client and agent',
    fix: 'Upgrade kubectl-rpf or the cluster\'s kube-rpf so both speak a common protocol version; the message names the versions of each side.',
    closeCode: 4002,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_GOAWAY: {
    message: 'peer ended the tunnel session',
    meaning: 'peer ended the tunnel session',
    fix: 'The other side ended the session and said why (pod gone, deleted by an administrator, agent shutting down, idle timeout). Start a new session if needed.',
    closeCode: 1000,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_TRANSPORT_CLOSED: {
    message: 'tunnel transport closed or failed before the session ended',
    meaning: 'tunnel transport closed or failed before the session ended',
    fix: PEER_BROKE_PROTOCOL_FIX,
    closeCode: 1011,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_SESSION_CLOSED: {
    message: 'tunnel session is closed',
    meaning: 'tunnel session is closed',
    fix: ONE_CONNECTION_FIX,
    closeCode: 1000,
    scope: 'channel',
  },
  RPF_ERR_PROTOCOL_RESET: {
    message: 'peer reset the connection',
    meaning: 'peer reset the connection',
    fix: ONE_CONNECTION_FIX,
    closeCode: 4003,
    scope: 'channel',
  },
  RPF_ERR_PROTOCOL_OPEN_FAILED: {
    message: 'peer refused to open the connection',
    meaning: 'peer refused to open the connection',
    fix: ONE_CONNECTION_FIX,
    closeCode: 4004,
    scope: 'channel',
  },
  RPF_ERR_PROTOCOL_CONNECTION_LIMIT: {
    message: 'reverse port-forward connection limit reached',
    meaning: 'reverse port-forward connection limit reached',
    fix: 'The session already has its maximum of open connections (policy.maxConnectionsPerSession); the pod\'s extra connection was reset and logged as `reverse port-forward connection limit reached`. Close idle connections or raise the limit.',
    closeCode: 1008,
    scope: 'call',
  },
  RPF_ERR_PROTOCOL_INVALID_ARGUMENT: {
    message: 'invalid argument to a tunnel protocol call',
    meaning: 'invalid argument to a tunnel protocol call',
    fix: 'A local call was refused; nothing was sent. The message says why.',
    closeCode: 1011,
    scope: 'call',
  },
} as const satisfies Record<string, ProtocolErrorInfo>);

/** A protocol error code, e.g. `'RPF_ERR_PROTOCOL_WINDOW_EXCEEDED'`. */
export type ProtocolErrorCode = keyof typeof PROTOCOL_ERROR_CODES;

/** Options of {@link RpfProtocolError}. */
export interface RpfProtocolErrorOptions {
  /** The underlying error, if any. */
  cause?: unknown;
  /** Wire reason code carried by RESET, OPEN_FAIL or GOAWAY, when the error comes from one. */
  reason?: number;
}

/**
 * Error of the tunnel protocol. Assert on and branch by `code`; the message is
 * for humans and may change.
 */
export class RpfProtocolError extends Error {
  /** Stable error code, `RPF_ERR_PROTOCOL_<WHAT>`. */
  readonly code: ProtocolErrorCode;
  /** WebSocket close code this error maps to. */
  readonly closeCode: number;
  /** Whether the error ends the session, one channel, or only refused a call. */
  readonly scope: ProtocolErrorScope;
  /** Wire reason (RESET, OPEN_FAIL, GOAWAY) when the error reports one from the peer or to it. */
  readonly reason: number | undefined;

  constructor(code: ProtocolErrorCode, message?: string, options: RpfProtocolErrorOptions = {}) {
    const info: ProtocolErrorInfo = PROTOCOL_ERROR_CODES[code];
    super(message ?? info.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RpfProtocolError';
    this.code = code;
    this.closeCode = info.closeCode;
    this.scope = info.scope;
    this.reason = options.reason;
  }
}

/** Whether `value` is an {@link RpfProtocolError}, optionally with the given code. */
export function isRpfProtocolError(value: unknown, code?: ProtocolErrorCode): value is RpfProtocolError {
  return value instanceof RpfProtocolError && (code === undefined || value.code === code);
}
