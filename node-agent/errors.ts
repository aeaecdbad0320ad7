// Every error rpf-agent answers with, in one table: code, HTTP status, the
// Kubernetes Status reason, a one-line meaning and how to fix it (docs/errors.md
// is generated from it: npm run errors:doc). rpf-server relays these unchanged
// to the user, so messages are written for the person running `kubectl rpf`.

import { failureStatus, type Status } from '../protocol/index.ts';

/** One row of {@link AGENT_ERROR_CODES}. */
export interface AgentErrorInfo {
  /** HTTP status of the response (0: never sent over HTTP). */
  readonly status: number;
  readonly reason: string;
  /** What happened, in one line. */
  readonly meaning: string;
  /** What the user or administrator can do about it. */
  readonly fix: string;
}

/** Every agent error code with its HTTP status, Status reason, meaning and fix. */
export const AGENT_ERROR_CODES = Object.freeze({
  RPF_ERR_AGENT_INVALID_OPTIONS: { status: 0, reason: 'InternalError', meaning: 'rpf-agent was started with invalid flags; it exits at once', fix: 'Correct the flags named in the message (every invalid one is listed, with its field) in the DaemonSet or chart values.' },
  RPF_ERR_AGENT_UNAUTHORIZED: { status: 401, reason: 'Unauthorized', meaning: 'the caller presented no client certificate of rpf-server', fix: 'Only rpf-server may call the agent; use `kubectl rpf`. If rpf-server itself gets this, its agent client certificate (Secret rpf-agent-client-certs, or rpf-agent-client-tls with cert-manager) and the agent\'s serving certificate (rpf-agent-certs, or rpf-agent-tls) are not signed by the same agent CA: delete both Secrets and run `helm upgrade` (with cert-manager, it re-issues them itself).' },
  RPF_ERR_AGENT_BAD_REQUEST: { status: 400, reason: 'BadRequest', meaning: 'the session request is malformed', fix: 'A client or server bug or a version skew between rpf-server and rpf-agent; upgrade both from the same chart.' },
  RPF_ERR_AGENT_NOT_UPGRADE: { status: 400, reason: 'BadRequest', meaning: 'a session must be opened with a WebSocket upgrade', fix: 'Open sessions with a WebSocket upgrade (kubectl rpf does).' },
  RPF_ERR_AGENT_VERSION_MISMATCH: { status: 400, reason: 'BadRequest', meaning: 'the client speaks no tunnel protocol version the agent speaks', fix: 'Upgrade kubectl-rpf or the cluster\'s kube-rpf so both speak a common protocol version (the message names both).' },
  RPF_ERR_AGENT_POD_NOT_FOUND: { status: 404, reason: 'NotFound', meaning: 'no process of the pod runs on this node, so its network namespace cannot be found', fix: 'Check the pod is Running on its node (`kubectl get pod -o wide`); pods of VM-sandboxed runtime classes (Kata, gVisor) have no network namespace on the node and cannot be targeted.' },
  RPF_ERR_AGENT_HOST_NETWORK: { status: 403, reason: 'Forbidden', meaning: "the pod shares the node's network namespace", fix: 'Target a pod without hostNetwork, or have the administrator set policy.allowHostNetworkPods (it opens ports on the node itself).' },
  RPF_ERR_AGENT_PORT_IN_USE: { status: 409, reason: 'Conflict', meaning: 'a requested port is already in use in the pod', fix: 'Pick another remote port, or 0 for any free one; `kubectl exec POD -- netstat -ltn` shows what listens in the pod.' },
  RPF_ERR_AGENT_ADDRESS_UNAVAILABLE: { status: 400, reason: 'BadRequest', meaning: 'a requested address does not exist in the pod', fix: 'Use an address the pod has (default: 127.0.0.1 and ::1); IPv6 may be disabled in the pod.' },
  RPF_ERR_AGENT_NETNS: { status: 500, reason: 'InternalError', meaning: "entering the pod's network namespace failed", fix: 'The agent could not enter the pod\'s network namespace: check the agent\'s capabilities (SYS_ADMIN, SYS_PTRACE), hostPID, and its log.' },
  RPF_ERR_AGENT_SESSION_LIMIT: { status: 429, reason: 'TooManyRequests', meaning: 'the node has reached its maximum number of sessions', fix: 'Close unused sessions (`kubectl get reverseportforwards -A`) or raise policy.maxSessionsPerNode.' },
  RPF_ERR_AGENT_USER_SESSION_LIMIT: { status: 429, reason: 'TooManyRequests', meaning: 'the user has reached the maximum number of sessions on this node', fix: 'End sessions you no longer need (`kubectl get reverseportforwards -A`), or have the administrator raise policy.maxSessionsPerUser.' },
  RPF_ERR_AGENT_SESSION_NOT_FOUND: { status: 404, reason: 'NotFound', meaning: 'no such session on this node', fix: 'The session already ended; list the live ones with `kubectl get reverseportforwards -A`.' },
  RPF_ERR_AGENT_NOT_FOUND: { status: 404, reason: 'NotFound', meaning: 'no such path on rpf-agent', fix: 'A version skew between rpf-server and rpf-agent; upgrade both from the same chart.' },
  RPF_ERR_AGENT_INTERNAL: { status: 500, reason: 'InternalError', meaning: 'an unexpected error in rpf-agent', fix: 'A bug: the agent\'s log (kubectl logs -n kube-rpf ds/rpf-agent) has the details; please report it.' },
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

/** The Kubernetes `Status` object for an error (unknown errors become InternalError), built by protocol/agent-api.ts as rpf-server's are. */
export function statusFor(error: unknown, details?: { name?: string; kind?: string }): Status {
  const agentError =
    error instanceof RpfAgentError ? error : new RpfAgentError('RPF_ERR_AGENT_INTERNAL', `rpf-agent: ${String((error as Error)?.message ?? error)}`);
  return failureStatus({ status: agentError.status, reason: agentError.reason, message: agentError.message, details: { ...details, causes: [{ reason: agentError.code, message: agentError.message }] } });
}
