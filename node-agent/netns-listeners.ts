// Opens listening sockets inside a pod's network namespace without running
// anything in the pod: a short-lived helper enters the namespace, listens, and
// hands each socket back over Node's IPC channel. The helper is rpf-netns-listen
// (node-agent/netns-listen, a small static Go program: setns() and listen(),
// ~2 ms) when installed, else `nsenter --net` and listener-helper.ts (~45 ms,
// most of it Node's start-up). Both speak the same messages. The agent then
// accepts connections itself; only file descriptors cross over. All or
// nothing: if one listener fails, the ones already open are closed again.
import { spawn } from 'node:child_process';
import type net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RpfAgentError } from './errors.ts';
import type { ListenReply, ListenRequest } from './listener-helper.ts';

/** One listener to open. `optional` ones (the default ::1) may be missing in the pod. */
export interface ListenerSpec {
  address: string;
  /** 0 asks for any free port; every address of one group gets the same picked port. */
  port: number;
  /** Which requested port this is (its index in the request): one `0` picks one port for all its addresses. */
  group?: number;
  optional?: boolean;
}

/** A listener open in the pod's namespace and accepted by the agent. */
export interface OpenedListener {
  address: string;
  port: number;
  requestedPort: number;
  server: net.Server;
}

/** A network namespace to enter, by an open descriptor of it (NetnsResolver opens it once). */
export interface NetnsRef {
  fd: number;
  /** Where it was opened from, for messages only: never opened again. */
  path: string;
}

/** Opens listeners in a network namespace; injected so the session logic can be tested without one. */
export interface ListenerOpener {
  open(netns: NetnsRef, specs: readonly ListenerSpec[]): Promise<OpenedListener[]>;
}

// The helper sits next to this file, as .ts when run from source, .js when built.
const helperPath = fileURLToPath(new URL(`./listener-helper${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));

/** The child's descriptor that holds the namespace to enter (stdio index 3; the IPC channel is 4). */
const NETNS_FD = 3;

/** Errors of the kernel that mean "this address does not exist here", for optional addresses. */
const ADDRESS_MISSING = new Set(['EADDRNOTAVAIL', 'EAFNOSUPPORT']);

/** {@link ListenerOpener} that enters the namespace with rpf-netns-listen, or nsenter and a Node helper. */
export class NetnsListenerOpener implements ListenerOpener {
  readonly #netnsHelper: string | undefined;
  readonly #nsenter: string;
  readonly #node: string;
  readonly #timeoutMs: number;

  constructor(options: { netnsHelperPath?: string; nsenterPath?: string; nodePath?: string; timeoutMs?: number } = {}) {
    this.#netnsHelper = options.netnsHelperPath;
    this.#nsenter = options.nsenterPath ?? 'nsenter';
    this.#node = options.nodePath ?? process.execPath;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** Which helper enters the namespaces: `rpf-netns-listen` or `nsenter`. */
  get helperName(): string {
    return this.#netnsHelper === undefined ? 'nsenter' : path.basename(this.#netnsHelper);
  }

  async open(netns: NetnsRef, specs: readonly ListenerSpec[]): Promise<OpenedListener[]> {
    // The namespace travels as the child's descriptor 3, the very one the
    // agent identified (finding 7): rpf-netns-listen setns()es on it; nsenter
    // opens /proc/self/fd/3, which is that same namespace, not a new lookup.
    const [command, args] =
      this.#netnsHelper === undefined
        ? [this.#nsenter, [`--net=/proc/self/fd/${NETNS_FD}`, '--', this.#node, helperPath]]
        : [this.#netnsHelper, [`--netns-fd=${NETNS_FD}`]];
    const helper = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe', netns.fd, 'ipc'] });
    const name = this.helperName;
    let stderr = '';
    helper.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    const exited = new Promise<never>((_, reject) => {
      helper.once('error', (error) => reject(new RpfAgentError('RPF_ERR_AGENT_NETNS', `cannot start ${name}: ${error.message}`)));
      helper.once('exit', (code, signal) =>
        reject(
          new RpfAgentError(
            'RPF_ERR_AGENT_NETNS',
            `entering the pod's network namespace failed (${name} exited with ${signal ?? code}): ${stderr.trim() || 'no output'}`,
          ),
        ),
      );
    });
    exited.catch(() => {}); // only raced below
    const opened: OpenedListener[] = [];
    let nextId = 1;
    const listenOnce = (address: string, port: number) =>
      new Promise<{ reply: ListenReply; server: net.Server | undefined }>((resolve) => {
        const id = nextId++;
        const onMessage = (reply: ListenReply, handle: unknown) => {
          if (reply.id !== id) return;
          helper.off('message', onMessage);
          resolve({ reply, server: handle as net.Server | undefined });
        };
        helper.on('message', onMessage);
        const request: ListenRequest = { type: 'listen', id, address, port };
        helper.send(request);
      });
    const timeout = (ms: number) =>
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new RpfAgentError('RPF_ERR_AGENT_NETNS', `the listener helper did not answer within ${ms} ms`)), ms).unref(),
      );
    try {
      const pickedPorts = new Map<number, number>();
      for (const spec of specs) {
        const port = spec.port === 0 ? (pickedPorts.get(spec.group ?? 0) ?? 0) : spec.port;
        const { reply, server } = await Promise.race([listenOnce(spec.address, port), exited, timeout(this.#timeoutMs)]);
        if (reply.type === 'failed' || !server) {
          const code = reply.type === 'failed' ? reply.code : 'NO_HANDLE';
          if (spec.optional && ADDRESS_MISSING.has(code)) continue;
          throw listenError(spec, port, code, reply.type === 'failed' ? reply.message : 'no socket received');
        }
        // Sockets handed over arrive on a plain net.Server; a FIN from the pod
        // must not close our side before the reply arrives.
        // (net.Server reads this property for every connection it accepts.)
        (server as net.Server & { allowHalfOpen: boolean }).allowHalfOpen = true;
        if (spec.port === 0) pickedPorts.set(spec.group ?? 0, reply.port);
        opened.push({ address: spec.address, port: reply.port, requestedPort: spec.port, server });
      }
      if (opened.length === 0) {
        throw new RpfAgentError('RPF_ERR_AGENT_ADDRESS_UNAVAILABLE', 'none of the requested addresses exists in the pod');
      }
      return opened;
    } catch (error) {
      for (const listener of opened) listener.server.close();
      throw error;
    } finally {
      if (helper.connected) helper.disconnect();
      if (helper.exitCode === null) setTimeout(() => helper.kill('SIGKILL'), 2000).unref();
    }
  }
}

function listenError(spec: ListenerSpec, port: number, code: string, message: string): RpfAgentError {
  switch (code) {
    case 'EADDRINUSE':
      return new RpfAgentError('RPF_ERR_AGENT_PORT_IN_USE', `error creating reverse port-forward listener: port ${port} already in use`);
    case 'EADDRNOTAVAIL':
    case 'EAFNOSUPPORT':
      return new RpfAgentError('RPF_ERR_AGENT_ADDRESS_UNAVAILABLE', `error creating reverse port-forward listener: address ${spec.address} does not exist in the pod`);
    default:
      return new RpfAgentError('RPF_ERR_AGENT_INTERNAL', `error creating reverse port-forward listener on ${spec.address}:${port}: ${message}`);
  }
}
