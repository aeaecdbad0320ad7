// One tunnel to one pod: open the WebSocket (tunnel-connection.ts), serve its
// session with a Forwarder, wait for the agent's listeners, and report how the
// session ended. A reconnecting forward (reconnecting-forward.ts) is a row of
// these, one at a time.

import { GOAWAY_REASON, Session } from '../protocol/index.ts';
import type { RpfProtocolError } from '../protocol/index.ts';
import type { Clock } from './clock.ts';
import { RpfClientError } from './errors.ts';
import { Forwarder } from './forwarder.ts';
import type { ListenerBinding } from './forwarder.ts';
import { lostError } from './lost-error.ts';
import type { CompletedOptions } from './options.ts';
import type { PortMapping } from './port-spec.ts';
import type { ResolvedPod } from './pod-resolver.ts';
import { openTunnel } from './tunnel-connection.ts';

/** A tunnel whose listeners are open in the pod. */
export interface ForwardTunnel {
  /** The pod it goes to. */
  readonly pod: ResolvedPod;
  /** The negotiated tunnel protocol, e.g. `v1.rpf.kube-rpf.dev`. */
  readonly protocol: string;
  /** One entry per listener in the pod (per address and port). */
  readonly listeners: readonly ListenerBinding[];
  /** The pod port each spec got, in the order of the specs. */
  readonly specPorts: ReadonlyArray<number | undefined>;
  /** Resolves once the session ended: undefined after close(), else why it was lost. Never rejects. */
  readonly ended: Promise<RpfClientError | undefined>;
  /** Ends the session (GOAWAY NORMAL, the listeners in the pod close) and waits for the WebSocket to close. */
  close(): Promise<void>;
}

/** Opens one tunnel; rejects with an RpfClientError. Tests of the reconnect state machine inject their own. */
export type TunnelOpener = (pod: ResolvedPod, mappings: readonly PortMapping[], signal: AbortSignal) => Promise<ForwardTunnel>;

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

/**
 * Opens a tunnel to `pod` for `mappings` (the specs, or on a reconnect the
 * ports the pod had before) and resolves once the agent reported its
 * listeners. Aborting `signal` cancels the start (RPF_ERR_CLIENT_ABORTED);
 * once started, only close() ends it.
 */
export async function openForwardTunnel(completed: CompletedOptions, pod: ResolvedPod, mappings: readonly PortMapping[], signal?: AbortSignal): Promise<ForwardTunnel> {
  const { log, debug } = completed;
  const tunnel = await openTunnel({
    context: completed.context,
    pod,
    ports: mappings.map((m) => m.remote),
    addresses: completed.addresses,
    userAgent: completed.userAgent,
    session: {
      ...(completed.keepalive.intervalMs === undefined ? {} : { keepaliveIntervalMs: completed.keepalive.intervalMs }),
      ...(completed.keepalive.timeoutMs === undefined ? {} : { keepaliveTimeoutMs: completed.keepalive.timeoutMs }),
    },
    ...(signal === undefined ? {} : { signal }),
    createSession: (sessionOptions) =>
      new Forwarder({
        session: new Session(sessionOptions),
        pod,
        mappings,
        localHost: completed.localHost,
        output: (line) => log(line, 'stdout'),
        log: (line) => log(line, 'stderr'),
        debug,
        ...(completed.dial === undefined ? {} : { dial: completed.dial }),
      }),
  });
  const { ws, session, endpoint: forwarder } = tunnel;
  debug(`Tunnel open to pod ${pod.namespace}/${pod.name} (protocol ${tunnel.protocol})`);

  let closing = false;
  const wsClosed = new Promise<void>((resolve) => {
    if (ws.readyState === ws.CLOSED) resolve();
    else ws.once('close', () => resolve());
  });
  const ended: Promise<RpfClientError | undefined> = sessionClosed(session).then((error) => {
    // Connections that were open when the tunnel dropped are reset, never
    // left half-alive: their bytes in flight are lost either way.
    forwarder.destroyConnections();
    // A dead peer will not answer a close handshake; a live one gets a clean close.
    if (error?.code === 'RPF_ERR_PROTOCOL_KEEPALIVE_TIMEOUT') ws.terminate();
    else if (ws.readyState === ws.OPEN) ws.close(error === undefined ? 1000 : error.closeCode, closing ? 'client closed' : undefined);
    if (closing) return undefined;
    const lost = lostError(error, pod);
    debug(`Session ended: ${lost.message}`);
    return lost;
  });

  const close = async (): Promise<void> => {
    if (!session.closed) {
      closing = true;
      session.close(GOAWAY_REASON.NORMAL, 'client closed');
    }
    await ended;
    const timer = setTimeout(() => ws.terminate(), 2000);
    await wsClosed;
    clearTimeout(timer);
  };

  let listeners: ListenerBinding[];
  // Cancelled while the agent opens its listeners: end the session at once.
  const onAbort = () => void close();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (signal?.aborted) void close();
    listeners = await waitForListeners(session, forwarder, completed.listeningTimeoutMs, completed.clock, pod);
  } catch (error) {
    await close();
    if (signal?.aborted) throw new RpfClientError('RPF_ERR_CLIENT_ABORTED', 'cancelled', { cause: signal.reason });
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  return { pod, protocol: tunnel.protocol, listeners, specPorts: forwarder.specPorts, ended, close };
}
