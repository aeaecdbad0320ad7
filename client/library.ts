// reversePortForward(): the whole client as one call, for test suites that
// need pods to call back into them, and for the CLI, which is a thin layer on
// it. complete (options.ts: validate every input, load the kubeconfig; no
// network) -> run (check the install, resolve the pod, open the tunnel, wait
// for the listeners) -> a handle whose `closed` says when and why the session ended.

import { GOAWAY_REASON, Session } from '../protocol/index.ts';
import type { RpfProtocolError } from '../protocol/index.ts';
import type { Clock } from './clock.ts';
import { RpfClientError } from './errors.ts';
import { Forwarder } from './forwarder.ts';
import type { ListenerBinding } from './forwarder.ts';
import { checkInstalled } from './kube.ts';
import { completeOptions } from './options.ts';
import type { CompletedOptions, ReversePortForwardOptions, RunDependencies } from './options.ts';
import { resolveTargetPod } from './pod-resolver.ts';
import type { ResolvedPod } from './pod-resolver.ts';
import { formatTarget } from './target.ts';
import { openTunnel } from './tunnel-connection.ts';

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

function waitForListeners(session: Session, forwarder: Forwarder, timeoutMs: number, clock: Clock, pod: ResolvedPod): Promise<ListenerBinding[]> {
  const done = new AbortController();
  const timeout = clock.sleep(timeoutMs, done.signal).then(
    () => Promise.reject(new RpfClientError('RPF_ERR_CLIENT_LISTENING_TIMEOUT', `the agent did not report its listeners within ${timeoutMs / 1000}s`)),
    () => new Promise<never>(() => {}), // cancelled: the race is decided
  );
  const ended = sessionClosed(session).then((error) => Promise.reject(lostError(error, pod)));
  return Promise.race([forwarder.listening, timeout, ended]).finally(() => done.abort());
}

/** Runs a completed configuration: install check, pod, tunnel, listeners. */
export async function runReversePortForward(completed: CompletedOptions): Promise<ReverseForward> {
  const { context, target, reader, signal, log, debug, userAgent } = completed;
  debug(`Using context "${context.contextName}", server ${context.server}, namespace ${context.namespace}`);

  // A plain pod name goes straight to the upgrade: rpf-server reads the pod
  // anyway and refuses one that is missing or not running, so a read here
  // would only cost a round trip. Other targets name pods through a selector
  // and are resolved first. The install check waits for a failure: a missing
  // install explains any refusal, so it is asked only then, and reported first.
  const resolve = (): Promise<ResolvedPod> =>
    resolveTargetPod({
      reader,
      namespace: context.namespace,
      target,
      timeoutMs: completed.podRunningTimeoutMs,
      clock: completed.clock,
      ...(signal === undefined ? {} : { signal }),
      onWait: (message) => log(message, 'stderr'),
    });
  const explained = async (error: unknown): Promise<never> => {
    if (!(error instanceof RpfClientError) || error.code === 'RPF_ERR_CLIENT_ABORTED') throw error;
    await checkInstalled(reader);
    throw error;
  };
  let pod: ResolvedPod = target.kind === 'pod' ? { namespace: context.namespace, name: target.name } : await resolve().catch(explained);
  if (target.kind !== 'pod') debug(`Resolved ${formatTarget(target)} to pod ${pod.namespace}/${pod.name}`);

  const open = (to: ResolvedPod) =>
    openTunnel({
      context,
      pod: to,
      ports: completed.mappings.map((m) => m.remote),
      addresses: completed.addresses,
      userAgent,
      session: {
        ...(completed.keepalive.intervalMs === undefined ? {} : { keepaliveIntervalMs: completed.keepalive.intervalMs }),
        ...(completed.keepalive.timeoutMs === undefined ? {} : { keepaliveTimeoutMs: completed.keepalive.timeoutMs }),
      },
      ...(signal === undefined ? {} : { signal }),
      createSession: (sessionOptions) =>
        new Forwarder({
          session: new Session(sessionOptions),
          pod: to,
          mappings: completed.mappings,
          localHost: completed.localHost,
          output: (line) => log(line, 'stdout'),
          log: (line) => log(line, 'stderr'),
          debug,
          ...(completed.dial === undefined ? {} : { dial: completed.dial }),
        }),
    });
  let tunnel: Awaited<ReturnType<typeof open>>;
  try {
    tunnel = await open(pod);
  } catch (error) {
    // A named pod that is not running yet: wait for it as kubectl does
    // (--pod-running-timeout), then ask once more.
    if (!(error instanceof RpfClientError) || error.code !== 'RPF_ERR_CLIENT_POD_NOT_RUNNING' || target.kind !== 'pod') return explained(error);
    pod = await resolve();
    tunnel = await open(pod).catch(explained);
  }
  const { ws, session, endpoint: forwarder } = tunnel;
  debug(`Tunnel open to pod ${pod.namespace}/${pod.name} (protocol ${tunnel.protocol})`);

  let closing = false;
  const wsClosed = new Promise<void>((resolve) => {
    if (ws.readyState === ws.CLOSED) resolve();
    else ws.once('close', () => resolve());
  });
  const closed: Promise<ForwardEnd> = sessionClosed(session).then((error) => {
    forwarder.destroyConnections();
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
    listeners = await waitForListeners(session, forwarder, completed.listeningTimeoutMs, completed.clock, pod);
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
  return runReversePortForward(completeOptions(options, deps));
}
