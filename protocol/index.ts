// The tunnel protocol shared by the client and the node agent: frames, the
// session multiplexer, version negotiation. No I/O; docs/protocol.md is the spec.

/** Wire constants: frame types, sizes, windows, keepalive defaults, reason codes, subprotocols. */
export {
  CHANNEL_REASON,
  DEFAULT_INITIAL_WINDOW,
  DEFAULT_KEEPALIVE_INTERVAL_MS,
  DEFAULT_KEEPALIVE_TIMEOUT_MS,
  DEFAULT_MAX_CHANNELS,
  DEFAULT_MAX_CONTROL_BACKLOG,
  DEFAULT_SEND_HIGH_WATER_MARK,
  FRAME_HEADER_SIZE,
  FRAME_TYPE,
  GOAWAY_REASON,
  MAX_CHANNEL_ID,
  MAX_CONTROL_PAYLOAD,
  MAX_DATA_PAYLOAD,
  MAX_MESSAGE_SIZE,
  MAX_OPEN_STRING_BYTES,
  MAX_REASON_MESSAGE_BYTES,
  MAX_WINDOW,
  PING_PAYLOAD_SIZE,
  SESSION_CHANNEL_ID,
  SUBPROTOCOL_V1,
  SUPPORTED_SUBPROTOCOLS,
} from './constants.ts';
/** Types of the wire constants. */
export type { ChannelReason, FrameTypeCode, FrameTypeName, GoawayReason } from './constants.ts';

/** Protocol errors: the error class, its code table, and a type guard. */
export { PROTOCOL_ERROR_CODES, RpfProtocolError, isRpfProtocolError } from './errors.ts';
/** Types of the protocol errors. */
export type { ProtocolErrorCode, ProtocolErrorInfo, ProtocolErrorScope, RpfProtocolErrorOptions } from './errors.ts';

/** Pure frame encode and decode. */
export { decodeMessage, encodeFrame, encodeFrames, prepareFrame, truncateUtf8 } from './codec.ts';
/** Codec option and prepared-frame types. */
export type { DecodeOptions, EncodedFrame } from './codec.ts';
/** Frame shapes. */
export type {
  ChannelFrame,
  DataFrame,
  EofFrame,
  Frame,
  GoawayFrame,
  ListenerInfo,
  ListeningFrame,
  OpenFailFrame,
  OpenFrame,
  OpenOkFrame,
  PingFrame,
  PongFrame,
  ResetFrame,
  SessionFrame,
  WindowAdjustFrame,
} from './frames.ts';

/** The session multiplexer and its channels. */
export { Session } from './session.ts';
/** Session events, counters and the agent's open request. */
export type { OpenRequest, SessionEvents, SessionStats } from './session.ts';
/** Session options and their completion (defaults filled in, values checked). */
export { completeSessionOptions } from './session-options.ts';
/** Session option types. */
export type { CompleteSessionOptions, SendFunction, SessionOptions, SessionRole } from './session-options.ts';
/** A channel: one TCP connection in the tunnel. */
export { Channel } from './channel.ts';
/** The RESET or OPEN_FAIL reason for a local socket error. */
export { channelReasonFor } from './channel-reason.ts';
/** Channel lifecycle states. */
export type { ChannelState } from './channel.ts';
/** Joins a channel to its TCP socket, FIN as EOF and RST as RESET. */
export { joinSocket } from './join-socket.ts';
/** A ws WebSocket's socket reads freed once copied into a message (issue 9). */
export { releaseConsumedReads } from './release-ws-reads.ts';
export type { ReleasedReads } from './release-ws-reads.ts';
/** A socket read into one reused buffer, straight into its channel (issue 9). */
export { READ_BUFFER_SIZE, SharedReadBuffer, readIntoChannel } from './read-into-channel.ts';
/** A socket joinSocket can reset. */
export type { ResettableSocket } from './join-socket.ts';
/** The real clock and the clock interface sessions take. */
export { systemTimers } from './keepalive.ts';
/** Injected clock and timers. */
export type { Timers } from './keepalive.ts';

/** Version negotiation through Sec-WebSocket-Protocol. */
export {
  checkAcceptedSubprotocol,
  parseSubprotocols,
  selectSubprotocol,
  subprotocolHeader,
  subprotocolVersion,
} from './subprotocol.ts';
/** Result of a negotiation. */
export type { SubprotocolResult } from './subprotocol.ts';

/** The rpf-server <-> rpf-agent API (docs/agent-api.md): paths, query and header names, default addresses, the session list, Status bodies and raw responses. */
export {
  AGENT_END_QUERY,
  AGENT_END_REASONS,
  AGENT_HEADERS,
  AGENT_HEALTHZ_PATH,
  AGENT_QUERY,
  AGENT_SESSIONS_PATH,
  AGENT_SESSION_ID_HEADER,
  BEST_EFFORT_DEFAULT_ADDRESS,
  DEFAULT_AGENT_END_MESSAGE,
  DEFAULT_LISTEN_ADDRESSES,
  MAX_AGENT_END_MESSAGE_BYTES,
  MAX_AGENT_SESSION_ID_LENGTH,
  agentSessionPath,
  failureStatus,
  formatAgentCaller,
  formatAgentSessionEnd,
  formatAgentSessionRequest,
  formatResponseHead,
  formatStatusResponse,
  parseAgentCaller,
  parseAgentSessionEnd,
  parseAgentSessionPath,
  parseAgentSessionRequest,
  reasonPhrase,
  successStatus,
} from './agent-api.ts';
/** Types of the rpf-server <-> rpf-agent API. */
export type {
  AgentCaller,
  AgentSessionList,
  AgentSessionEnd,
  AgentSessionListener,
  AgentSessionQuery,
  AgentSessionQueryOf,
  AgentSessionSummary,
  HeaderLine,
  RawAgentSessionQuery,
  Status,
  StatusCause,
  StatusDetails,
  StatusFailure,
} from './agent-api.ts';
/** The /metrics endpoint both components serve, as a pure handler. */
export { metricsEndpointResponse } from './metrics-endpoint.ts';
/** Types of the /metrics endpoint. */
export type { MetricsSource, PlainResponse } from './metrics-endpoint.ts';
