/**
 * Every error rpf-server answers with, in one table: a stable code
 * (`RPF_ERR_SERVER_<WHAT>`), the HTTP status and Kubernetes `reason` it maps
 * to, a one-line meaning and how to fix it. docs/errors.md is generated from
 * this table (npm run errors:doc); tests assert on the code, never on message
 * text.
 */

/** The Kubernetes `Status.reason` values rpf-server answers with. */
export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'MethodNotAllowed'
  | 'TooManyRequests'
  | 'Timeout'
  | 'ServiceUnavailable'
  | 'InternalError';

/** One row of {@link SERVER_ERROR_CODES}. */
export interface ServerErrorInfo {
  /** HTTP status of the response (0: never sent over HTTP). */
  readonly status: number;
  /** Kubernetes `Status.reason`. */
  readonly reason: StatusReason;
  /** What happened, in one line. */
  readonly meaning: string;
  /** What the user or the administrator can do about it. */
  readonly fix: string;
}

/** All error codes of rpf-server, with their HTTP status, reason, meaning and fix. */
export const SERVER_ERROR_CODES = {
  RPF_ERR_SERVER_INVALID_OPTIONS: {
    status: 0,
    reason: 'InternalError',
    meaning: 'rpf-server was started with invalid flags or environment variables; it exits at once.',
    fix: 'Correct the flags named in the message (every invalid one is listed) in the Deployment or chart values.',
  },
  RPF_ERR_SERVER_UNAUTHENTICATED: {
    status: 401,
    reason: 'Unauthorized',
    meaning: 'The request did not carry a front-proxy client certificate signed by the requestheader CA with an allowed name, or no user header.',
    fix: 'Call the API through kube-apiserver (kubectl), not rpf-server directly; check that kube-system/extension-apiserver-authentication lists the front-proxy CA and that kube-apiserver runs with --proxy-client-cert-file.',
  },
  RPF_ERR_SERVER_FORBIDDEN: {
    status: 403,
    reason: 'Forbidden',
    meaning: 'A SubjectAccessReview denied the user `create` (or `expose`, for a non-loopback address) on pods/reverseportforward.',
    fix: 'Grant the user get and create (and expose to bind non-loopback addresses) on pods/reverseportforward in group rpf.kube-rpf.dev in that namespace.',
  },
  RPF_ERR_SERVER_AUTHORIZATION_FAILED: {
    status: 500,
    reason: 'InternalError',
    meaning: 'rpf-server could not create a SubjectAccessReview.',
    fix: 'Bind the ClusterRole system:auth-delegator to rpf-server\'s ServiceAccount and check that kube-apiserver is reachable from its pod.',
  },
  RPF_ERR_SERVER_INVALID_QUERY: {
    status: 400,
    reason: 'BadRequest',
    meaning: 'The ports or address query parameters are missing or malformed; every bad value is listed in details.causes.',
    fix: 'Pass one or more ports=N (0-65535, 0 lets the agent pick) and optional address=IP (IPv4, IPv6 or localhost), no port twice.',
  },
  RPF_ERR_SERVER_PORT_NOT_ALLOWED: {
    status: 403,
    reason: 'Forbidden',
    meaning: 'A requested port lies outside the ranges the administrator allows (--allowed-ports).',
    fix: 'Ask for a port inside the allowed ranges. Port 0 (the agent picks any free port) is allowed only when every port is (--allowed-ports 1-65535): name a port in the allowed ranges instead.',
  },
  RPF_ERR_SERVER_UNSUPPORTED_UPGRADE: {
    status: 400,
    reason: 'BadRequest',
    meaning: 'The request asked to upgrade to something other than a WebSocket with GET.',
    fix: 'Use kubectl-rpf (or a WebSocket client); SPDY is not supported.',
  },
  RPF_ERR_SERVER_POD_NOT_FOUND: {
    status: 404,
    reason: 'NotFound',
    meaning: 'The target pod does not exist in that namespace.',
    fix: 'Check the pod name and namespace (kubectl get pods -n NS).',
  },
  RPF_ERR_SERVER_POD_NOT_RUNNING: {
    status: 400,
    reason: 'BadRequest',
    meaning: 'The target pod is not in phase Running (the message names its phase).',
    fix: 'Wait for the pod to run, or pick another pod.',
  },
  RPF_ERR_SERVER_POD_TERMINATING: {
    status: 400,
    reason: 'BadRequest',
    meaning: 'The target pod is being deleted (it has a deletionTimestamp): its listeners would die with it.',
    fix: 'Target the pod that replaces it; kubectl rpf with a workload (deploy/NAME) picks a running pod that is not being deleted.',
  },
  RPF_ERR_SERVER_HOST_NETWORK_FORBIDDEN: {
    status: 403,
    reason: 'Forbidden',
    meaning: 'The target pod uses the node\'s network namespace (hostNetwork) and the policy forbids opening ports on nodes.',
    fix: 'Target a pod without hostNetwork, or have the administrator start rpf-server with --allow-host-network-pods.',
  },
  RPF_ERR_SERVER_SANDBOXED_POD: {
    status: 400,
    reason: 'BadRequest',
    meaning: 'The target pod runs in a VM sandbox (its RuntimeClass handler matches --sandboxed-runtime-handlers: Kata, gVisor, Firecracker...), whose network stack rpf-agent cannot enter, so a listener would be unreachable from the pod; or its RuntimeClass no longer exists.',
    fix: 'Target a pod that runs with the node\'s default runtime (no runtimeClassName, or one whose handler is not sandboxed). If the handler does share the pod\'s network namespace, have the administrator remove it from policy.sandboxedRuntimeHandlers.',
  },
  RPF_ERR_SERVER_ADMISSION_DENIED: {
    status: 403,
    reason: 'Forbidden',
    meaning: 'A validating admission webhook registered for CONNECT on pods/reverseportforward denied the tunnel; the message quotes the webhook.',
    fix: 'Read the webhook\'s message: it names the cluster policy that refused the tunnel. Ask the platform team that owns the webhook (kubectl get validatingwebhookconfigurations) for an exception.',
  },
  RPF_ERR_SERVER_ADMISSION_FAILED: {
    status: 500,
    reason: 'InternalError',
    meaning: 'A validating webhook with failurePolicy Fail that applies to the tunnel could not be called, timed out or answered something invalid; or what matching needs (the namespace\'s labels, a valid selector) could not be read.',
    fix: 'Check the webhook named in the message (its Service or URL, caBundle, timeoutSeconds) and that rpf-server\'s pods can reach it (network policies); rpf-server needs get on namespaces and services. A webhook that should not block tunnels when down can use failurePolicy Ignore.',
  },
  RPF_ERR_SERVER_ADMISSION_NOT_READY: {
    status: 503,
    reason: 'ServiceUnavailable',
    meaning: 'rpf-server has not yet read the cluster\'s ValidatingWebhookConfigurations (it started moments ago, or cannot list them), so it cannot tell which webhooks apply.',
    fix: 'Retry; if it persists, check rpf-server\'s log and that its ServiceAccount may list and watch validatingwebhookconfigurations (chart ClusterRole kube-rpf-server-admission).',
  },
  RPF_ERR_SERVER_USER_SESSION_LIMIT: {
    status: 429,
    reason: 'TooManyRequests',
    meaning: 'The user already holds --max-sessions-per-user sessions (open or being opened) through this rpf-server replica.',
    fix: 'End sessions you no longer need (kubectl get reverseportforwards -A), or have the administrator raise --max-sessions-per-user (chart value policy.maxSessionsPerUser).',
  },
  RPF_ERR_SERVER_NO_AGENT: {
    status: 503,
    reason: 'ServiceUnavailable',
    meaning: 'No Running and Ready rpf-agent pod with an IP exists on the target pod\'s node.',
    fix: 'Check the rpf-agent DaemonSet (kubectl -n kube-rpf get pods -o wide): its pod on that node must be Ready; check --agent-namespace and --agent-selector.',
  },
  RPF_ERR_SERVER_AGENT_UNREACHABLE: {
    status: 503,
    reason: 'ServiceUnavailable',
    meaning: 'rpf-server could not connect to the rpf-agent, or the mutual TLS handshake failed.',
    fix: 'Check network policies between rpf-server and the agents, --agent-port, and that both sides use certificates of the same agent CA (--agent-ca-file) and the agent\'s certificate names --agent-server-name.',
  },
  RPF_ERR_SERVER_AGENT_TIMEOUT: {
    status: 504,
    reason: 'Timeout',
    meaning: 'The rpf-agent accepted the connection but did not answer in time.',
    fix: 'Check the rpf-agent logs on that node; retry.',
  },
  RPF_ERR_SERVER_AGENT_BAD_RESPONSE: {
    status: 502,
    reason: 'InternalError',
    meaning: 'The rpf-agent answered something rpf-server does not understand (not an upgrade, not an error Status, not JSON).',
    fix: 'Run rpf-server and rpf-agent of the same release.',
  },
  RPF_ERR_SERVER_KUBE_API: {
    status: 500,
    reason: 'InternalError',
    meaning: 'rpf-server could not read pods (or a target pod\'s RuntimeClass) from kube-apiserver.',
    fix: 'Grant rpf-server\'s ServiceAccount get on pods in all namespaces, list on pods in the agent namespace and get on runtimeclasses; check kube-apiserver is reachable.',
  },
  RPF_ERR_SERVER_SESSION_NOT_FOUND: {
    status: 404,
    reason: 'NotFound',
    meaning: 'No active reverse port-forward session has that name in that namespace.',
    fix: 'List the sessions with kubectl get reverseportforwards -A; a session that ended is gone.',
  },
  RPF_ERR_SERVER_BAD_REQUEST: {
    status: 400,
    reason: 'BadRequest',
    meaning: 'The HTTP request itself is malformed (for example a body too large to accept).',
    fix: 'Use kubectl or kubectl-rpf; requests to rpf-server need no body.',
  },
  RPF_ERR_SERVER_REQUEST_TIMEOUT: {
    status: 408,
    reason: 'Timeout',
    meaning: 'The connection did not deliver its request headers within --request-header-timeout, or the whole request within --request-read-timeout; it was closed.',
    fix: 'Nothing, when the peer was a scanner or a dead client; if kube-apiserver\'s requests end this way, check the network between kube-apiserver and rpf-server or raise the timeouts.',
  },
  RPF_ERR_SERVER_TLS_HANDSHAKE_TIMEOUT: {
    status: 0,
    reason: 'InternalError',
    meaning: 'A connection did not complete its TLS handshake within --tls-handshake-timeout; it was closed without an answer (counted in rpf_server_errors_total).',
    fix: 'Nothing, when the peer was a scanner or a dead client; if kube-apiserver or kubelet probes are affected, check the network path or raise --tls-handshake-timeout.',
  },
  RPF_ERR_SERVER_TOO_MANY_CONNECTIONS: {
    status: 0,
    reason: 'InternalError',
    meaning: 'rpf-server already held --max-connections connections (open tunnels included) and closed a new one at once, before TLS (counted in rpf_server_errors_total).',
    fix: 'Find who holds the connections (rpf_server_sessions_active, the peers\' addresses); raise --max-connections if the load is legitimate, or run more replicas.',
  },
  RPF_ERR_SERVER_NOT_FOUND: {
    status: 404,
    reason: 'NotFound',
    meaning: 'rpf-server serves nothing at that path.',
    fix: 'Check the URL; the API lives under /apis/rpf.kube-rpf.dev/v1alpha1.',
  },
  RPF_ERR_SERVER_METHOD_NOT_ALLOWED: {
    status: 405,
    reason: 'MethodNotAllowed',
    meaning: 'The resource does not support that HTTP method.',
    fix: 'reverseportforwards support get, list and delete; pods/reverseportforward supports a GET WebSocket upgrade and a plain GET.',
  },
  RPF_ERR_SERVER_INTERNAL: {
    status: 500,
    reason: 'InternalError',
    meaning: 'An unexpected error inside rpf-server.',
    fix: 'Look for the request in rpf-server\'s logs and report it.',
  },
} as const satisfies Record<string, ServerErrorInfo>;

/** A code of {@link SERVER_ERROR_CODES}. */
export type ServerErrorCode = keyof typeof SERVER_ERROR_CODES;

/** One entry of `Status.details.causes`. */
export interface StatusCause {
  readonly reason: string;
  readonly message: string;
  readonly field?: string;
}

/** What `Status.details` says about the object the error concerns. */
export interface ErrorDetails {
  readonly name?: string;
  readonly kind?: string;
  readonly group?: string;
  readonly causes?: readonly StatusCause[];
}

/**
 * The one error type of rpf-server: its `code` decides the HTTP status and
 * reason; `details` become `Status.details`.
 */
export class RpfServerError extends Error {
  readonly code: ServerErrorCode;
  readonly status: number;
  readonly reason: StatusReason;
  readonly details: ErrorDetails | undefined;

  constructor(code: ServerErrorCode, message: string, details?: ErrorDetails, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RpfServerError';
    this.code = code;
    this.status = SERVER_ERROR_CODES[code].status;
    this.reason = SERVER_ERROR_CODES[code].reason;
    this.details = details;
  }
}

/**
 * Turns anything thrown into an RpfServerError. Unknown errors become
 * RPF_ERR_SERVER_INTERNAL with a fixed message: their own text (a TypeError
 * quotes our source) is for the log, not for the peer; the original stays the
 * `cause`.
 */
export function toServerError(err: unknown): RpfServerError {
  if (err instanceof RpfServerError) return err;
  return new RpfServerError('RPF_ERR_SERVER_INTERNAL', 'internal error: rpf-server failed unexpectedly; its log has the details', undefined, { cause: err });
}
