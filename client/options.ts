// The options of a forward, kubectl's way: ReversePortForwardOptions (what a
// caller asks for) -> completeOptions (every input validated by validate.ts,
// the kubeconfig loaded, defaults filled, the API reader built; no network)
// -> CompletedOptions, everything run() in library.ts needs and nothing else.

import type { KubeConfig } from '@kubernetes/client-node';
import type { Backoff } from './backoff.ts';
import { systemClock } from './clock.ts';
import type { Clock } from './clock.ts';
import type { Dialer } from './forwarder.ts';
import { KubeApiClient, loadKubeContext } from './kube.ts';
import type { KubeContext, KubeReader } from './kube.ts';
import type { PortMapping } from './port-spec.ts';
import type { ForwardStateChange } from './reconnecting-forward.ts';
import type { TargetRef } from './target.ts';
import { validateInputs } from './validate.ts';

/** Where a line goes when the CLI prints it: the fixed progress lines to stdout, the rest to stderr. */
export type LogStream = 'stdout' | 'stderr';

/** Options of {@link reversePortForward}. */
export interface ReversePortForwardOptions {
  /**
   * The path of a kubeconfig file (default $KUBECONFIG, then ~/.kube/config),
   * or a KubeConfig of @kubernetes/client-node: its contexts are read as a
   * kubeconfig, and it authenticates the exec and auth-provider users of its
   * current context itself. Only the type is imported: a path or nothing
   * never loads client-node.
   */
  kubeconfig?: KubeConfig | string;
  /** Kubeconfig context; default the current one. */
  context?: string;
  /** Namespace of the target; default the context's, else `default`. */
  namespace?: string;
  /** `POD` or `TYPE/NAME` (deployment/web, svc/api, ...). */
  target: string;
  /** Port specs (`8080:3000`, `8080`, `0:3000`) or mappings; at least one. */
  ports: Array<string | PortMapping>;
  /** Addresses to listen on in the pod; default 127.0.0.1 and ::1. Others need the `expose` permission. */
  address?: string[];
  /** Host dialed on this machine for every connection (default `localhost`). */
  localHost?: string;
  /** How long to wait for a Running pod (default 60 s). */
  podRunningTimeoutMs?: number;
  /** Receives every line the CLI would print, with the stream it would use; default: silent. */
  log?: (line: string, stream: LogStream) => void;
  /** Also log detail (resolution, protocol, each connection's end) to `log` as stderr lines. */
  verbose?: boolean;
  /** Aborts the start; once started, aborting closes the session like close(). */
  signal?: AbortSignal;
  /** Keepalive of the tunnel: PING after this much silence (default 5 s)... */
  keepaliveIntervalMs?: number;
  /** ...and the peer counts as dead after this much (default 15 s). */
  keepaliveTimeoutMs?: number;
  /** User-Agent sent to the API server. */
  userAgent?: string;
  /**
   * Reconnect when the session drops for a reason that may pass (an agent or
   * rpf-server restart, network loss), with backoff and no limit, reopening
   * the same listeners; a workload target follows its pods (default true).
   * false: the first lost session ends the forward with its error.
   */
  reconnect?: boolean;
  /** Told of every state change: 'connected' (the first time too), 'reconnecting' (reason, attempt), 'ended'. */
  onStateChange?: (change: ForwardStateChange) => void;
}

/** What a run can be given besides the options; tests inject fakes. */
export interface RunDependencies {
  /** API reads (default: over the kubeconfig's cluster). */
  reader?: KubeReader;
  /** Local dialer (default net.connect). */
  dial?: Dialer;
  /** Time allowed for the agent to report its listeners (default 30 s). */
  listeningTimeoutMs?: number;
  /** Time source of the waits (default the real one). */
  clock?: Clock;
  /** Delays between reconnect attempts (default 0.5 s doubling to 10 s, with jitter). */
  backoff?: Backoff;
}

/** Every input checked, the kubeconfig loaded, defaults filled: everything run() needs. */
export interface CompletedOptions {
  readonly context: KubeContext;
  readonly target: TargetRef;
  readonly mappings: readonly PortMapping[];
  readonly addresses: readonly string[];
  readonly localHost: string;
  readonly podRunningTimeoutMs: number;
  /** Time allowed for the agent to report its listeners. */
  readonly listeningTimeoutMs: number;
  /** Keepalive of the tunnel's session; unset fields keep the protocol's defaults. */
  readonly keepalive: { readonly intervalMs?: number; readonly timeoutMs?: number };
  readonly userAgent: string;
  /** Every line the CLI would print, with its stream. */
  readonly log: (line: string, stream: LogStream) => void;
  /** Detail for -v (stderr lines), or nothing. */
  readonly debug: (line: string) => void;
  readonly signal: AbortSignal | undefined;
  readonly reader: KubeReader;
  /** Local dialer; undefined is net.connect. */
  readonly dial: Dialer | undefined;
  readonly clock: Clock;
  /** Whether a lost session is reconnected. */
  readonly reconnect: boolean;
  /** Told of every state change, or nothing. */
  readonly onStateChange: ((change: ForwardStateChange) => void) | undefined;
  /** Delays between reconnect attempts; undefined is the default backoff. */
  readonly backoff: Backoff | undefined;
}

const DEFAULT_LISTENING_TIMEOUT_MS = 30_000;

/**
 * Validates every input (validate.ts: ports, addresses, target, timeout, local
 * host), then loads the kubeconfig and fills the defaults; no network. Throws
 * RPF_ERR_CLIENT_INVALID_* or RPF_ERR_CLIENT_KUBECONFIG.
 */
export function completeOptions(options: ReversePortForwardOptions, deps: RunDependencies = {}): CompletedOptions {
  const inputs = validateInputs(options);
  const context = loadKubeContext({
    ...(options.kubeconfig === undefined ? {} : { kubeconfig: options.kubeconfig }),
    ...(options.context === undefined ? {} : { context: options.context }),
    ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
  });
  const userAgent = options.userAgent ?? 'kubectl-rpf';
  const log = options.log ?? (() => {});
  return {
    ...inputs,
    context,
    listeningTimeoutMs: deps.listeningTimeoutMs ?? DEFAULT_LISTENING_TIMEOUT_MS,
    keepalive: {
      ...(options.keepaliveIntervalMs === undefined ? {} : { intervalMs: options.keepaliveIntervalMs }),
      ...(options.keepaliveTimeoutMs === undefined ? {} : { timeoutMs: options.keepaliveTimeoutMs }),
    },
    userAgent,
    log,
    debug: options.verbose ? (line) => log(line, 'stderr') : () => {},
    signal: options.signal,
    reader: deps.reader ?? new KubeApiClient(context, { userAgent }),
    dial: deps.dial,
    clock: deps.clock ?? systemClock,
    reconnect: options.reconnect ?? true,
    onStateChange: options.onStateChange,
    backoff: deps.backoff,
  };
}
