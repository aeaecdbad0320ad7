// The client end of a session: reports the listeners the agent opened, and
// joins every channel the agent opens (one connection a pod process made) to
// a fresh TCP connection to localhost:LOCAL with protocol/join-socket.ts, as
// the agent joins its end. A refused local dial refuses that one channel
// (OPEN_FAIL) and nothing else; a FIN travels as a FIN and an RST as an RST.

import net from 'node:net';
import { getSystemErrorMessage } from 'node:util';
import { CHANNEL_REASON, SharedReadBuffer, channelReasonFor, joinSocket, readIntoChannel } from '../protocol/index.ts';
import type { Channel, ListenerInfo, Session } from '../protocol/index.ts';
import type { PortMapping } from './port-spec.ts';
import type { ResolvedPod } from './pod-resolver.ts';

/** One listener in the pod and where its connections go. */
export interface ListenerBinding {
  /** Address of the listener in the pod, e.g. `127.0.0.1` or `::1`. */
  readonly address: string;
  /** Port it listens on in the pod (the picked one for a `0:LOCAL` spec). */
  readonly remotePort: number;
  /** Local port its connections are dialed to. */
  readonly localPort: number;
}

/** Opens the local connection for a channel; tests may inject their own. */
export type Dialer = (options: net.NetConnectOpts) => net.Socket;

/** Options of {@link Forwarder}. */
export interface ForwarderOptions {
  session: Session;
  pod: ResolvedPod;
  /** The specs of the command, in order. */
  mappings: readonly PortMapping[];
  /** Host dialed for every connection (default `localhost`). */
  localHost?: string;
  /** The fixed progress lines (`Forwarding from ...`, `Handling connection for ...`); the CLI writes them to stdout. */
  output?: (line: string) => void;
  /** Diagnostics, such as a refused local dial; the CLI writes them to stderr. */
  log?: (line: string) => void;
  /** Detail for -v: each connection's end. */
  debug?: (line: string) => void;
  dial?: Dialer;
}

/** `127.0.0.1:8080`, `[::1]:8080`. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Pairs reported listeners with the specs. A non-zero spec matches by port.
 * `0:LOCAL` specs all report requestedPort 0, so they are told apart by
 * order: the agent opens listeners in the order of the request and gives one
 * spec the same picked port on every address, so the k-th distinct picked
 * port belongs to the k-th `0:LOCAL` spec. `specPorts[i]` is the pod port
 * spec i got (what a reconnect asks for again).
 */
export function bindListeners(
  listeners: readonly ListenerInfo[],
  mappings: readonly PortMapping[],
): { bound: ListenerBinding[]; unmatched: ListenerInfo[]; specPorts: Array<number | undefined> } {
  const zeroSpecs = mappings.flatMap((m, index) => (m.remote === 0 ? [index] : []));
  const pickedOrder: number[] = [];
  const bound: ListenerBinding[] = [];
  const unmatched: ListenerInfo[] = [];
  const specPorts: Array<number | undefined> = mappings.map(() => undefined);
  for (const listener of listeners) {
    let index: number | undefined;
    if (listener.requestedPort === 0) {
      if (!pickedOrder.includes(listener.port)) pickedOrder.push(listener.port);
      index = zeroSpecs[pickedOrder.indexOf(listener.port)];
    } else {
      const found = mappings.findIndex((m) => m.remote === listener.requestedPort);
      index = found === -1 ? undefined : found;
    }
    const mapping = index === undefined ? undefined : mappings[index];
    if (index === undefined || mapping === undefined) unmatched.push(listener);
    else {
      bound.push({ address: listener.address, remotePort: listener.port, localPort: mapping.local });
      specPorts[index] = listener.port;
    }
  }
  return { bound, unmatched, specPorts };
}

/** The first concrete error of a failed dial (Node reports happy-eyeballs failures as an AggregateError). */
function dialCause(error: Error): NodeJS.ErrnoException {
  const errors = (error as { errors?: unknown }).errors;
  if (Array.isArray(errors) && errors[0] instanceof Error) return errors[0] as NodeJS.ErrnoException;
  return error as NodeJS.ErrnoException;
}

/** A failed dial as Go (and so kubectl) words it: `dial tcp 127.0.0.1:3000: connect: connection refused`. */
export function describeDialError(error: Error, host: string, port: number): string {
  const cause = dialCause(error) as NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string };
  if (cause.syscall === 'getaddrinfo' || cause.code === 'ENOTFOUND') return `dial tcp: lookup ${cause.hostname ?? host}: no such host`;
  const target = formatHostPort(cause.address ?? host, cause.port ?? port);
  const reason = typeof cause.errno === 'number' ? getSystemErrorMessage(cause.errno) : cause.message;
  return `dial tcp ${target}: ${cause.syscall ?? 'connect'}: ${reason}`;
}

/** Joins one session's channels to local connections. */
export class Forwarder {
  readonly #session: Session;
  readonly #pod: ResolvedPod;
  readonly #mappings: readonly PortMapping[];
  readonly #localHost: string;
  readonly #output: (line: string) => void;
  readonly #log: (line: string) => void;
  readonly #debug: (line: string) => void;
  readonly #dial: Dialer;
  readonly #localPortOf = new Map<number, number>();
  readonly #sockets = new Set<net.Socket>();
  #listeners: ListenerBinding[] = [];
  #specPorts: Array<number | undefined> = [];
  #resolveListening: ((listeners: ListenerBinding[]) => void) | undefined;
  /** What every local connection reads into (issue 9); made at the first one. */
  readonly #readBuffer = new SharedReadBuffer();

  /** Resolves with the listeners once the agent reported them (LISTENING); never rejects. */
  readonly listening: Promise<ListenerBinding[]>;

  constructor(options: ForwarderOptions) {
    this.#session = options.session;
    this.#pod = options.pod;
    this.#mappings = options.mappings;
    this.#localHost = options.localHost ?? 'localhost';
    this.#output = options.output ?? noop;
    this.#log = options.log ?? noop;
    this.#debug = options.debug ?? noop;
    this.#dial = options.dial ?? net.connect;
    this.listening = new Promise((resolve) => {
      this.#resolveListening = resolve;
    });
    this.#session.on('listening', (listeners) => this.#onListening(listeners));
    this.#session.on('open', (channel) => this.#onOpen(channel));
  }

  /** The session whose channels this joins. */
  get session(): Session {
    return this.#session;
  }

  /** The listeners reported so far. */
  get listeners(): ListenerBinding[] {
    return [...this.#listeners];
  }

  /** The pod port each spec got, in the order of the specs (undefined before LISTENING). */
  get specPorts(): Array<number | undefined> {
    return [...this.#specPorts];
  }

  /** Local connections open now. */
  get connections(): number {
    return this.#sockets.size;
  }

  /** Resets every local connection (the session is gone). */
  destroyConnections(): void {
    for (const socket of this.#sockets) socket.resetAndDestroy();
    this.#sockets.clear();
  }

  #onListening(listeners: ListenerInfo[]): void {
    const { bound, unmatched, specPorts } = bindListeners(listeners, this.#mappings);
    this.#specPorts = specPorts;
    for (const l of unmatched) this.#log(`ignoring listener ${formatHostPort(l.address, l.port)} in the pod: no port spec asked for port ${l.requestedPort}`);
    for (const b of bound) {
      this.#localPortOf.set(b.remotePort, b.localPort);
      this.#output(
        `Forwarding from ${formatHostPort(b.address, b.remotePort)} in pod ${this.#pod.namespace}/${this.#pod.name} -> ${formatHostPort(this.#localHost, b.localPort)}`,
      );
    }
    this.#listeners = [...this.#listeners, ...bound];
    this.#resolveListening?.(this.listeners);
    this.#resolveListening = undefined;
  }

  #onOpen(channel: Channel): void {
    const remotePort = channel.listenerPort;
    const localPort = this.#localPortOf.get(remotePort);
    if (localPort === undefined) {
      this.#log(`refusing a connection to port ${remotePort} in the pod: no port spec forwards it`);
      channel.reject(CHANNEL_REASON.CONNECT_FAILED, `kubectl-rpf forwards no local port for pod port ${remotePort}`);
      return;
    }
    this.#output(`Handling connection for ${remotePort}`);
    // Reads go straight into the channel through one buffer shared by all
    // connections (readIntoChannel); joinSocket still carries FIN and errors.
    const onread = readIntoChannel(channel, this.#readBuffer.memory, () => socket.resume());
    const socket = this.#dial({ host: this.#localHost, port: localPort, allowHalfOpen: true, onread });
    this.#sockets.add(socket);
    let accepted = false;
    // Until the channel is joined, the pod side may give up while we dial:
    // an RST for the local peer. (Kept after the join, so that no channel
    // error goes unheard; joinSocket decides then.)
    channel.on('error', () => {
      if (!accepted && !socket.destroyed) socket.resetAndDestroy();
    });
    // From the line that creates the socket; once joined, joinSocket's pipeline handles its errors.
    socket.on('error', (error) => {
      if (accepted || channel.destroyed) return; // joined, or the pod side gave up first: nothing to refuse
      const message = describeDialError(error, this.#localHost, localPort);
      this.#log(`an error occurred forwarding ${remotePort} -> ${localPort}: ${message}`);
      channel.reject(channelReasonFor(dialCause(error)), message);
    });
    socket.once('connect', () => {
      socket.setNoDelay(true);
      // false: the pod side gave up while we dialed.
      if (!channel.accept()) {
        socket.resetAndDestroy();
        return;
      }
      accepted = true;
      // As the agent joins its side: a FIN each way as EOF, backpressure both
      // ways, a RESET or the session's end as an RST to the local peer.
      joinSocket(channel, socket);
    });
    socket.on('close', () => {
      this.#sockets.delete(socket);
      if (accepted) this.#debug(`connection ${channel.peer} -> pod port ${remotePort} -> local port ${localPort} closed (${channel.bytesIn} bytes in, ${channel.bytesOut} bytes out)`);
    });
  }
}

function noop(): void {}
