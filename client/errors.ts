// Every error kubectl-rpf reports, in one table: a stable code
// (`RPF_ERR_CLIENT_<WHAT>`), the exit code, a one-line meaning and how to fix
// it. docs/errors.md is generated from this table (npm run errors:doc); tests
// assert on the code, never on message text. The message itself is the one
// line the CLI prints after `error: `.

/** One row of {@link CLIENT_ERROR_CODES}. */
export interface ClientErrorInfo {
  /** Process exit code of the CLI when this error ends it. */
  readonly exitCode: number;
  /** What happened, in one line. */
  readonly meaning: string;
  /** What the user can do about it. */
  readonly fix: string;
}

/** Every error code of kubectl-rpf, with its exit code, meaning and fix. */
export const CLIENT_ERROR_CODES = Object.freeze({
  RPF_ERR_CLIENT_INVALID_ARGS: {
    exitCode: 1,
    meaning: 'The command line is malformed: an unknown flag, a missing argument, a bad duration or address.',
    fix: 'Run `kubectl rpf --help` and correct the command line.',
  },
  RPF_ERR_CLIENT_INVALID_PORT_SPEC: {
    exitCode: 1,
    meaning: 'A port spec is not REMOTE[:LOCAL] with REMOTE 0-65535 and LOCAL 1-65535, or a remote port is named twice.',
    fix: 'Write each spec as REMOTE:LOCAL (e.g. 8080:3000), PORT for the same port on both sides, or 0:LOCAL for any free port in the pod.',
  },
  RPF_ERR_CLIENT_INVALID_TARGET: {
    exitCode: 1,
    meaning: 'The target is not POD or TYPE/NAME with a supported TYPE.',
    fix: 'Name a pod, or one of pod, deployment, replicaset, statefulset, daemonset, replicationcontroller, job, service as TYPE/NAME.',
  },
  RPF_ERR_CLIENT_KUBECONFIG: {
    exitCode: 1,
    meaning: 'The kubeconfig cannot be read, or names no usable context or cluster.',
    fix: 'Check --kubeconfig, $KUBECONFIG or ~/.kube/config, and --context (`kubectl config get-contexts`).',
  },
  RPF_ERR_CLIENT_CREDENTIALS: {
    exitCode: 1,
    meaning: 'The credentials of the kubeconfig user could not be obtained (an exec plugin or auth provider failed).',
    fix: 'Run the credential plugin named in the kubeconfig by hand, or log in again.',
  },
  RPF_ERR_CLIENT_CONNECT_FAILED: {
    exitCode: 1,
    meaning: 'The Kubernetes API server could not be reached (network, DNS, TLS or a timeout).',
    fix: 'Check that the cluster is up and that `kubectl get --raw /version` works with the same kubeconfig and context.',
  },
  RPF_ERR_CLIENT_UNAUTHORIZED: {
    exitCode: 1,
    meaning: 'The API server rejected the credentials (HTTP 401).',
    fix: 'Refresh the credentials of the kubeconfig user (log in again, renew the token or certificate).',
  },
  RPF_ERR_CLIENT_FORBIDDEN: {
    exitCode: 1,
    meaning: 'RBAC or a kube-rpf policy refused the request (HTTP 403), or revoked an open tunnel (GOAWAY FORBIDDEN); the message names the missing permission or the policy. Final: no reconnect.',
    fix: 'Ask for `get` and `create` on pods/reverseportforward in group rpf.kube-rpf.dev (and `expose` for non-loopback addresses), and `get`/`list` on the target.',
  },
  RPF_ERR_CLIENT_NOT_INSTALLED: {
    exitCode: 1,
    meaning: 'The cluster has no APIService v1alpha1.rpf.kube-rpf.dev: kube-rpf is not installed.',
    fix: 'Install kube-rpf in the cluster (the Helm chart in charts/), or switch to the cluster where it is installed.',
  },
  RPF_ERR_CLIENT_NOT_AVAILABLE: {
    exitCode: 1,
    meaning: 'The APIService v1alpha1.rpf.kube-rpf.dev exists but kube-apiserver reports it unavailable.',
    fix: 'Check rpf-server: `kubectl get apiservice v1alpha1.rpf.kube-rpf.dev` and the pods and logs in the kube-rpf namespace.',
  },
  RPF_ERR_CLIENT_POD_NOT_FOUND: {
    exitCode: 1,
    meaning: 'The target pod does not exist in that namespace.',
    fix: 'Check the name and the namespace (-n); `kubectl get pods -n NAMESPACE`.',
  },
  RPF_ERR_CLIENT_TARGET_NOT_FOUND: {
    exitCode: 1,
    meaning: 'The target workload or service (TYPE/NAME) does not exist in that namespace.',
    fix: 'Check the type, the name and the namespace (-n).',
  },
  RPF_ERR_CLIENT_POD_NOT_RUNNING: {
    exitCode: 1,
    meaning: 'The target pod, or every pod selected by the target, did not reach phase Running within --pod-running-timeout.',
    fix: 'Wait for the pod to start (`kubectl get pods`, `kubectl describe pod`) or raise --pod-running-timeout.',
  },
  RPF_ERR_CLIENT_VERSION_MISMATCH: {
    exitCode: 1,
    meaning: 'kubectl-rpf and the kube-rpf agent in the cluster speak no common tunnel protocol version.',
    fix: 'Upgrade whichever side the message names (kubectl-rpf or kube-rpf in the cluster).',
  },
  RPF_ERR_CLIENT_UPSTREAM: {
    exitCode: 1,
    meaning: 'The API server, rpf-server or rpf-agent refused the request with a Status (for example 409: the port is already in use in the pod).',
    fix: 'Act on the message; `upstreamCode` names the server or agent error, listed in docs/errors.md.',
  },
  RPF_ERR_CLIENT_LISTENING_TIMEOUT: {
    exitCode: 1,
    meaning: 'The tunnel opened but the agent never reported its listeners.',
    fix: 'Retry; if it persists, check the rpf-agent logs on the pod\'s node.',
  },
  RPF_ERR_CLIENT_CONNECTION_LOST: {
    exitCode: 1,
    meaning: 'The tunnel\'s WebSocket closed or failed under an open session. kubectl-rpf reconnects after it; it ends the command only with --reconnect=false (library: reconnect: false).',
    fix: 'Run the command again; check the network path to the API server and the rpf-agent on the pod\'s node.',
  },
  RPF_ERR_CLIENT_KEEPALIVE_TIMEOUT: {
    exitCode: 1,
    meaning: 'Nothing arrived through the tunnel within the keepalive timeout (15 s): the peer is gone or the network is dead. Reconnected after, unless --reconnect=false.',
    fix: 'Run the command again once the network or the pod\'s node is back.',
  },
  RPF_ERR_CLIENT_POD_GONE: {
    exitCode: 1,
    meaning: 'The target pod, named as a pod, went away (deleted, evicted or stopped) and the agent ended its session; final, the pod will not come back. A TYPE/NAME target follows its workload to another pod instead.',
    fix: 'Run the command again against the pod that replaced it; a workload target (deploy/NAME) picks a running pod.',
  },
  RPF_ERR_CLIENT_SESSION_ENDED: {
    exitCode: 1,
    meaning: 'The agent ended the session: an administrator deleted it, it was idle too long, or a policy ended it (final); or the agent shut down (reconnected after, unless --reconnect=false).',
    fix: 'The message says which; run the command again if the pod still exists.',
  },
  RPF_ERR_CLIENT_PROTOCOL: {
    exitCode: 1,
    meaning: 'The agent broke the tunnel protocol.',
    fix: 'Report it with the message; make sure kubectl-rpf and kube-rpf come from matching releases.',
  },
  RPF_ERR_CLIENT_ABORTED: {
    exitCode: 130,
    meaning: 'The caller cancelled the start (Ctrl-C or an AbortSignal) before the tunnel was up.',
    fix: 'Nothing to fix.',
  },
  RPF_ERR_CLIENT_INTERNAL: {
    exitCode: 1,
    meaning: 'An unexpected error inside kubectl-rpf.',
    fix: 'Run again with -v and report the output.',
  },
} as const satisfies Record<string, ClientErrorInfo>);

/** A code of {@link CLIENT_ERROR_CODES}. */
export type ClientErrorCode = keyof typeof CLIENT_ERROR_CODES;

/** Options of {@link RpfClientError}. */
export interface RpfClientErrorOptions {
  cause?: unknown;
  /** HTTP status of the refusal, when a server answered one. */
  status?: number;
  /** The server's or agent's own error code (x-rpf-error-code, or a Status cause such as RPF_ERR_AGENT_PORT_IN_USE). */
  upstreamCode?: string;
}

/**
 * The one error type of kubectl-rpf. Branch on `code`; `message` is the line
 * the CLI prints after `error: `.
 */
export class RpfClientError extends Error {
  /** Stable code, `RPF_ERR_CLIENT_<WHAT>`. */
  readonly code: ClientErrorCode;
  /** Exit code of the CLI for this error. */
  readonly exitCode: number;
  /** HTTP status of the refusal, when there was one. */
  readonly status: number | undefined;
  /** The server's or agent's error code, when it sent one. */
  readonly upstreamCode: string | undefined;

  constructor(code: ClientErrorCode, message: string, options: RpfClientErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RpfClientError';
    this.code = code;
    this.exitCode = CLIENT_ERROR_CODES[code].exitCode;
    this.status = options.status;
    this.upstreamCode = options.upstreamCode;
  }
}

/** Whether `value` is an {@link RpfClientError}, optionally with the given code. */
export function isRpfClientError(value: unknown, code?: ClientErrorCode): value is RpfClientError {
  return value instanceof RpfClientError && (code === undefined || value.code === code);
}

/** Turns anything thrown into an RpfClientError (unknown errors become RPF_ERR_CLIENT_INTERNAL). */
export function toClientError(error: unknown): RpfClientError {
  if (error instanceof RpfClientError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new RpfClientError('RPF_ERR_CLIENT_INTERNAL', `internal error: ${message}`, { cause: error });
}
