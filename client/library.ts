// reversePortForward(): the whole client as one call, for test suites that
// need pods to call back into them, and for the CLI, which is a thin layer on
// it. complete (parse and check every input, load the kubeconfig; no network)
// -> run (check the install, resolve the pod, open the tunnel, wait for the
// listeners) -> a handle whose `closed` says when and why the session ended.

import { isIP } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import { GOAWAY_REASON } from '../protocol/index.ts';
import type { RpfProtocolError, Session } from '../protocol/index.ts';
import { RpfClientError } from './errors.ts';
import { Forwarder } from './forwarder.ts';
import type { Dialer, ListenerBinding } from './forwarder.ts';
import { KubeApiClient, checkInstalled, loadKubeContext } from './kube.ts';
import type { KubeContext, KubeReader } from './kube.ts';
import { checkPortMapping, formatPortMapping, parsePortSpecs } from './port-spec.ts';
import type { PortMapping } from './port-spec.ts';
import { resolveTargetPod } from './pod-resolver.ts';
import type { ResolvedPod } from './pod-resolver.ts';
import { formatTarget, parseTarget } from './target.ts';
import type { TargetRef } from './target.ts';
import { openTunnel } from './tunnel-connection.ts';
import type { Tunnel } from './tunnel-connection.ts';

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
}

/** How a session ended. */
export interface ForwardEnd {
  /** Undefined when close() ended it; else why it was lost (POD_GONE, CONNECTION_LOST, KEEPALIVE_TIMEOUT, SESSION_ENDED, PROTOCOL). */
  error?: RpfClientError;
}

/** A running reverse port-forward. */
export interface ReverseForward {
  /** One entry per listener in the pod (per address and port). */
  readonly listeners: readonly ListenerBinding[];
  /** The pod the target resolved to. */
  readonly pod: ResolvedPod;
  /** The negotiated tunnel protocol, e.g. `v1.rpf.kube-rpf.dev`. */
  readonly protocol: string;
  /** Ends the session (GOAWAY, listeners in the pod close) and waits for the WebSocket to close. */
  close(): Promise<void>;
  /** Resolves once the session ended, however it ended; never rejects. */
  readonly closed: Promise<ForwardEnd>;
}

/** Inputs checked and the kubeconfig loaded: everything run() needs. */
export interface CompletedOptions {
  readonly context: KubeContext;
  readonly target: TargetRef;
  readonly mappings: readonly PortMapping[];
  readonly addresses: readonly string[];
  readonly localHost: string;
  readonly podRunningTimeoutMs: number;
}

/** What a run can be given besides the options; tests inject fakes. */
export interface RunDependencies {
  /** API reads (default: over the kubeconfig's cluster). */
  reader?: KubeReader;
  /** Local dialer (default net.connect). */
  dial?: Dialer;
  /** Time allowed for the agent to report its listeners (default 30 s). */
  listeningTimeoutMs?: number;
}

const DEFAULT_POD_RUNNING_TIMEOUT_MS = 60_000;

function invalidArgs(message: string): RpfClientError {
  return new RpfClientError('RPF_ERR_CLIENT_INVALID_ARGS', message);
}

/** Checks an address for the pod: an IP literal (brackets allowed for IPv6) or `localhost`. */
export function checkAddress(text: string): string {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (bare.toLowerCase() === 'localhost' || isIP(bare) !== 0) return bare;
  throw invalidArgs(`invalid address "${text}": must be an IPv4 or IPv6 address or localhost`);
}

/** Parses and checks every input and loads the kubeconfig; no network. */
export function completeOptions(options: ReversePortForwardOptions): CompletedOptions {
  const specs = (options.ports ?? []).map((p) => (typeof p === 'string' ? p : formatPortMapping(checkPortMapping(p))));
  const mappings = parsePortSpecs(specs);
  const addresses = (options.address ?? []).map(checkAddress);
  if (typeof options.target !== 'string' || options.target === '') throw invalidArgs('a target is required: POD or TYPE/NAME');
  const target = parseTarget(options.target);
  const podRunningTimeoutMs = options.podRunningTimeoutMs ?? DEFAULT_POD_RUNNING_TIMEOUT_MS;
  if (!(podRunningTimeoutMs > 0) || !Number.isFinite(podRunningTimeoutMs)) {
    throw invalidArgs(`the pod running timeout must be greater than zero, got ${podRunningTimeoutMs} ms`);
  }
  const localHost = options.localHost ?? 'localhost';
  if (localHost === '') throw invalidArgs('the local host must not be empty');
  const context = loadKubeContext({
    ...(options.kubeconfig === undefined ? {} : { kubeconfig: options.kubeconfig }),
    ...(options.context === undefined ? {} : { context: options.context }),
    ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
  });
  return { context, target, mappings, addresses, localHost, podRunningTimeoutMs };
}

/** The one line for a session that ended without close(). */
function lostError(error: RpfProtocolError | undefined, pod: ResolvedPod): RpfClientError {
  const prefix = "lost connection to the pod's reverse port-forward";
  if (error === undefined) return new RpfClientError('RPF_ERR_CLIENT_SESSION_ENDED', `${prefix}: the agent ended the session`);
  switch (error.code) {
    case 'RPF_ERR_PROTOCOL_GOAWAY':
      // Final: the pod will not come back. Worded from what we know of the
      // pod, not from the agent's text.
      if (error.reason === GOAWAY_REASON.POD_GONE) {
        return new RpfClientError('RPF_ERR_CLIENT_POD_GONE', `${prefix}: pod ${pod.namespace}/${pod.name} is gone (deleted or stopped)`, { cause: error });
      }
      return new RpfClientError('RPF_ERR_CLIENT_SESSION_ENDED', `${prefix}: ${error.message}`, { cause: error });
    case 'RPF_ERR_PROTOCOL_KEEPALIVE_TIMEOUT':
      return new RpfClientError('RPF_ERR_CLIENT_KEEPALIVE_TIMEOUT', `${prefix}: ${error.message}`, { cause: error });
    case 'RPF_ERR_PROTOCOL_TRANSPORT_CLOSED': {
      const cause = error.cause instanceof Error ? error.cause.message : error.message;
      return new RpfClientError('RPF_ERR_CLIENT_CONNECTION_LOST', `${prefix}: ${cause}`, { cause: error });
    }
    default:
      return new RpfClientError('RPF_ERR_CLIENT_PROTOCOL', `${prefix}: protocol error: ${error.message}`, { cause: error });
  }
}

/** Resolves when the session closes; the value is its error, if any. */
function sessionClosed(session: Session): Promise<RpfProtocolError | undefined> {
  if (session.closed) return Promise.resolve(session.closeError);
  return new Promise((resolve) => session.once('close', resolve));
}

function waitForListeners(tunnel: Tunnel, forwarder: Forwarder, timeoutMs: number, pod: ResolvedPod): Promise<ListenerBinding[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new RpfClientError('RPF_ERR_CLIENT_LISTENING_TIMEOUT', `the agent did not report its listeners within ${timeoutMs / 1000}s`)),
      timeoutMs,
    );
  });
  const ended = sessionClosed(tunnel.session).then((error) => Promise.reject(lostError(error, pod)));
  return Promise.race([forwarder.listening, timeout, ended]).finally(() => clearTimeout(timer));
}

/** Runs a completed configuration: install check, pod, tunnel, listeners. */
export async function runReversePortForward(
  completed: CompletedOptions,
  options: Pick<ReversePortForwardOptions, 'log' | 'verbose' | 'signal' | 'keepaliveIntervalMs' | 'keepaliveTimeoutMs' | 'userAgent'> = {},
  deps: RunDependencies = {},
): Promise<ReverseForward> {
  const log = options.log ?? (() => {});
  const debug = options.verbose ? (line: string) => log(line, 'stderr') : () => {};
  const { context, target } = completed;
  const { signal } = options;
  const userAgent = options.userAgent ?? 'kubectl-rpf';
  const reader = deps.reader ?? new KubeApiClient(context, { userAgent });
  debug(`Using context "${context.contextName}", server ${context.server}, namespace ${context.namespace}`);

  // The install check and the pod read go out together (one round trip less
  // before the tunnel), but a missing install is reported first: it explains
  // any failure of the other. A failed check stops the pod's wait.
  const installCheckFailed = new AbortController();
  const podResolved = resolveTargetPod({
    reader,
    namespace: context.namespace,
    target,
    timeoutMs: completed.podRunningTimeoutMs,
    signal: signal === undefined ? installCheckFailed.signal : AbortSignal.any([signal, installCheckFailed.signal]),
    onWait: (message) => log(message, 'stderr'),
  });
  podResolved.catch(() => {}); // awaited below, unless the install check fails first
  try {
    await checkInstalled(reader);
  } catch (error) {
    installCheckFailed.abort(error);
    throw error;
  }
  const pod = await podResolved;
  if (target.kind !== 'pod') debug(`Resolved ${formatTarget(target)} to pod ${pod.namespace}/${pod.name}`);

  let forwarder: Forwarder | undefined;
  const tunnel = await openTunnel({
    context,
    pod,
    ports: completed.mappings.map((m) => m.remote),
    addresses: completed.addresses,
    userAgent,
    session: {
      ...(options.keepaliveIntervalMs === undefined ? {} : { keepaliveIntervalMs: options.keepaliveIntervalMs }),
      ...(options.keepaliveTimeoutMs === undefined ? {} : { keepaliveTimeoutMs: options.keepaliveTimeoutMs }),
    },
    ...(signal === undefined ? {} : { signal }),
    setup: (session) => {
      forwarder = new Forwarder({
        session,
        pod,
        mappings: completed.mappings,
        localHost: completed.localHost,
        output: (line) => log(line, 'stdout'),
        log: (line) => log(line, 'stderr'),
        debug,
        ...(deps.dial === undefined ? {} : { dial: deps.dial }),
      });
    },
  });
  const { ws, session } = tunnel;
  const fwd = forwarder as Forwarder;
  debug(`Tunnel open to pod ${pod.namespace}/${pod.name} (protocol ${tunnel.protocol})`);

  let closing = false;
  const wsClosed = new Promise<void>((resolve) => {
    if (ws.readyState === ws.CLOSED) resolve();
    else ws.once('close', () => resolve());
  });
  const closed: Promise<ForwardEnd> = sessionClosed(session).then((error) => {
    fwd.destroyConnections();
    // A dead peer will not answer a close handshake; a live one gets a clean close.
    if (error?.code === 'RPF_ERR_PROTOCOL_KEEPALIVE_TIMEOUT') ws.terminate();
    else if (ws.readyState === ws.OPEN) ws.close(error === undefined ? 1000 : error.closeCode, closing ? 'client closed' : undefined);
    if (closing) return {};
    const lost = lostError(error, pod);
    debug(`Session ended: ${lost.message}`);
    return { error: lost };
  });

  const close = async (): Promise<void> => {
    if (!session.closed) {
      closing = true;
      session.close(GOAWAY_REASON.NORMAL, 'client closed');
    }
    await closed;
    const timer = setTimeout(() => ws.terminate(), 2000);
    await wsClosed;
    clearTimeout(timer);
  };

  let listeners: ListenerBinding[];
  try {
    listeners = await waitForListeners(tunnel, fwd, deps.listeningTimeoutMs ?? 30_000, pod);
  } catch (error) {
    await close();
    throw error;
  }
  signal?.addEventListener('abort', () => void close(), { once: true });
  if (signal?.aborted) await close();

  return { listeners, pod, protocol: tunnel.protocol, close, closed };
}

/**
 * Starts a reverse port-forward: connections a process in the pod makes to
 * 127.0.0.1:REMOTE (and [::1]:REMOTE) reach localhost:LOCAL here. Resolves
 * once the agent's listeners are open; rejects with an RpfClientError.
 *
 * @example
 * const forward = await reversePortForward({ target: 'deploy/web', namespace: 'dev', ports: ['8080:3000'] });
 * // ... the pod calls back to 127.0.0.1:8080 ...
 * await forward.close();
 */
export async function reversePortForward(options: ReversePortForwardOptions, deps: RunDependencies = {}): Promise<ReverseForward> {
  const completed = completeOptions(options);
  return runReversePortForward(completed, options, deps);
}
