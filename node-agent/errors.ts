// Every error rpf-agent answers with, in one table: code, HTTP status and the
// Kubernetes Status reason. rpf-server relays these unchanged to the user, so
// messages are written for the person running `kubectl rpf`.

/** One row of {@link AGENT_ERROR_CODES}. */
export interface AgentErrorInfo {
  readonly status: number;
  readonly reason: string;
  /** What it means, one line (docs/errors.md says how to fix it). */
  readonly summary: string;
}

/** Every agent error code with its HTTP status and Status reason. */
export const AGENT_ERROR_CODES = Object.freeze({
  RPF_ERR_AGENT_UNAUTHORIZED: { status: 401, reason: 'Unauthorized', summary: 'the caller presented no client certificate of rpf-server' },
  RPF_ERR_AGENT_BAD_REQUEST: { status: 400, reason: 'BadRequest', summary: 'the session request is malformed' },
  RPF_ERR_AGENT_NOT_UPGRADE: { status: 400, reason: 'BadRequest', summary: 'a session must be opened with a WebSocket upgrade' },
  RPF_ERR_AGENT_VERSION_MISMATCH: { status: 400, reason: 'BadRequest', summary: 'the client speaks no tunnel protocol version the agent speaks' },
  RPF_ERR_AGENT_POD_NOT_FOUND: { status: 404, reason: 'NotFound', summary: 'no process of the pod runs on this node, so its network namespace cannot be found' },
  RPF_ERR_AGENT_HOST_NETWORK: { status: 403, reason: 'Forbidden', summary: "the pod shares the node's network namespace" },
  RPF_ERR_AGENT_PORT_IN_USE: { status: 409, reason: 'Conflict', summary: 'a requested port is already in use in the pod' },
  RPF_ERR_AGENT_ADDRESS_UNAVAILABLE: { status: 400, reason: 'BadRequest', summary: 'a requested address does not exist in the pod' },
  RPF_ERR_AGENT_NETNS: { status: 500, reason: 'InternalError', summary: "entering the pod's network namespace failed" },
  RPF_ERR_AGENT_SESSION_LIMIT: { status: 429, reason: 'TooManyRequests', summary: 'the node has reached its maximum number of sessions' },
  RPF_ERR_AGENT_SESSION_NOT_FOUND: { status: 404, reason: 'NotFound', summary: 'no such session on this node' },
  RPF_ERR_AGENT_NOT_FOUND: { status: 404, reason: 'NotFound', summary: 'no such path on rpf-agent' },
  RPF_ERR_AGENT_INTERNAL: { status: 500, reason: 'InternalError', summary: 'an unexpected error in rpf-agent' },
} satisfies Record<string, AgentErrorInfo>);

/** A code of {@link AGENT_ERROR_CODES}. */
export type AgentErrorCode = keyof typeof AGENT_ERROR_CODES;

/** An error rpf-agent reports to its caller as a Kubernetes Status. */
export class RpfAgentError extends Error {
  readonly code: AgentErrorCode;
  readonly status: number;
  readonly reason: string;

  constructor(code: AgentErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RpfAgentError';
    this.code = code;
    this.status = AGENT_ERROR_CODES[code].status;
    this.reason = AGENT_ERROR_CODES[code].reason;
  }
}

/** The Kubernetes `Status` object for an error (unknown errors become InternalError). */
export function statusFor(error: unknown, details?: { name?: string; kind?: string }): Record<string, unknown> {
  const agentError =
    error instanceof RpfAgentError ? error : new RpfAgentError('RPF_ERR_AGENT_INTERNAL', `rpf-agent: ${String((error as Error)?.message ?? error)}`);
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: agentError.message,
    reason: agentError.reason,
    details: { ...details, causes: [{ reason: agentError.code, message: agentError.message }] },
    code: agentError.status,
  };
}
