// Every error the tunnel protocol raises, in one table: code, summary, the
// WebSocket close code it maps to, and its scope. docs/errors.md lists the same
// codes (meaning, how to fix); a test keeps the two in step.

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
}

/** Every protocol error code, its summary, close code and scope. */
export const PROTOCOL_ERROR_CODES = Object.freeze({
  RPF_ERR_PROTOCOL_MALFORMED_FRAME: {
    message: 'malformed tunnel frame',
    closeCode: 1002,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_UNKNOWN_FRAME_TYPE: {
    message: 'unknown tunnel frame type',
    closeCode: 1002,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_FRAME_TOO_LARGE: {
    message: 'tunnel frame payload exceeds the maximum for its type',
    closeCode: 1009,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_MESSAGE_TOO_LARGE: {
    message: 'tunnel message exceeds the maximum message size',
    closeCode: 1009,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_UNKNOWN_CHANNEL: {
    message: 'frame for a channel that was never opened',
    closeCode: 1002,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_INVALID_CHANNEL_ID: {
    message: 'OPEN with a channel id that is not odd and increasing',
    closeCode: 1002,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_UNEXPECTED_FRAME: {
    message: 'frame not allowed in the current state or for this side',
    closeCode: 1002,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_WINDOW_EXCEEDED: {
    message: 'peer sent more data than its window allowed',
    closeCode: 1002,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_WINDOW_OVERFLOW: {
    message: 'WINDOW_ADJUST grows a window beyond 2^31-1 bytes',
    closeCode: 1002,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_CONTROL_BACKLOG: {
    message: 'tunnel peer does not read: too many control frames await the transport',
    closeCode: 1008,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_KEEPALIVE_TIMEOUT: {
    message: 'tunnel peer did not answer within the keepalive timeout',
    closeCode: 4001,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_VERSION_MISMATCH: {
    message: 'kube-rpf protocol mismatch between client and agent',
    closeCode: 4002,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_GOAWAY: {
    message: 'peer ended the tunnel session',
    closeCode: 1000,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_TRANSPORT_CLOSED: {
    message: 'tunnel transport closed or failed before the session ended',
    closeCode: 1011,
    scope: 'session',
  },
  RPF_ERR_PROTOCOL_SESSION_CLOSED: {
    message: 'tunnel session is closed',
    closeCode: 1000,
    scope: 'channel',
  },
  RPF_ERR_PROTOCOL_RESET: {
    message: 'peer reset the connection',
    closeCode: 4003,
    scope: 'channel',
  },
  RPF_ERR_PROTOCOL_OPEN_FAILED: {
    message: 'peer refused to open the connection',
    closeCode: 4004,
    scope: 'channel',
  },
  RPF_ERR_PROTOCOL_CONNECTION_LIMIT: {
    message: 'reverse port-forward connection limit reached',
    closeCode: 1008,
    scope: 'call',
  },
  RPF_ERR_PROTOCOL_INVALID_ARGUMENT: {
    message: 'invalid argument to a tunnel protocol call',
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
