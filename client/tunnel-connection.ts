// Opens the tunnel: the WebSocket upgrade of
// GET /apis/rpf.kube-rpf.dev/v1alpha1/namespaces/NS/pods/POD/reverseportforward
// through kube-apiserver, with the kubeconfig's credentials, offering every
// protocol version this build speaks. A refusal (kube-apiserver's RBAC,
// rpf-server's checks, the agent's listeners) arrives as an HTTP answer with a
// Status body and becomes an RpfClientError carrying its message; a success
// becomes a client-side protocol Session fed by the WebSocket, built by the
// caller's session factory together with what serves it.

import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type WebSocket from 'ws';
import { MAX_MESSAGE_SIZE, SUPPORTED_SUBPROTOCOLS, Session, checkAcceptedSubprotocol, releaseConsumedReads } from '../protocol/index.ts';
import type { SessionOptions } from '../protocol/index.ts';
import { RpfClientError } from './errors.ts';
import { http, https } from './node-http.ts';
import { apiUrl, connectError, requestOptions } from './kube.ts';
import type { KubeContext } from './kube.ts';
import { statusError } from './status-error.ts';
import type { ResolvedPod } from './pod-resolver.ts';

// ws is CommonJS. Required rather than imported: importing CommonJS from an
// ES module makes Node parse its files for export names first, ~20 ms of
// every start (node --cpu-prof: cjs-module-lexer). In the single executable's
// CommonJS bundle `require` exists, and esbuild sees this plain require('ws')
// and bundles ws; as an ES module there is no `require`, and createRequire loads it.
const WebSocketClient = (typeof require === 'function' ? require('ws') : createRequire(import.meta.url)('ws')) as typeof WebSocket;

/** Channels the client accepts at once; the agent's policy limit is the one that matters. */
const CLIENT_MAX_CHANNELS = 100_000;

/** Largest refusal body read; Status objects are far smaller. */
const MAX_ERROR_BODY = 64 * 1024;

/** The path of the subresource for a pod. */
export function tunnelPath(pod: ResolvedPod): string {
  return `/apis/rpf.kube-rpf.dev/v1alpha1/namespaces/${encodeURIComponent(pod.namespace)}/pods/${encodeURIComponent(pod.name)}/reverseportforward`;
}

/** The WebSocket URL of the tunnel: `ports` repeated, `address` repeated when given. */
export function tunnelUrl(server: string, pod: ResolvedPod, ports: readonly number[], addresses: readonly string[] = []): URL {
  const query = new URLSearchParams();
  for (const port of ports) query.append('ports', String(port));
  for (const address of addresses) query.append('address', address);
  const url = apiUrl(server, tunnelPath(pod), query);
  url.protocol = url.protocol === 'http:' ? 'ws:' : 'wss:';
  return url;
}

/** What a {@link SessionFactory} builds: the session, and whatever serves it. */
export interface SessionEndpoint {
  readonly session: Session;
}

/**
 * Builds the client end of a new tunnel from the session's options (role,
 * send and limits set by openTunnel): the Session and what serves it (the
 * Forwarder), before any message can reach it, so that no LISTENING or OPEN
 * frame arrives before someone listens.
 */
export type SessionFactory<E extends SessionEndpoint> = (options: SessionOptions) => E;

/** What {@link openTunnel} needs: where to, and the session factory. */
export interface TunnelRequest<E extends SessionEndpoint> extends TunnelTarget {
  /** Builds the session and what serves it, once the upgrade succeeded. */
  createSession: SessionFactory<E>;
}

/**
 * @deprecated Use {@link TunnelRequest} and its createSession. Kept because
 * the data-plane benchmark (test/bench/lib/dataplane-client.ts) loads this
 * module from older trees too, which know only this form. TODO(issue 9):
 * drop it once the benchmark passes createSession to the trees that have it.
 */
export interface SetupTunnelRequest extends TunnelTarget {
  /** Called with the new session before any message reaches it. */
  setup: (session: Session) => void;
}

/** Where the tunnel goes and how it is opened. */
export interface TunnelTarget {
  context: KubeContext;
  pod: ResolvedPod;
  /** Remote ports, in order (0 = any free port). */
  ports: readonly number[];
  /** Addresses in the pod; empty lets the server default to 127.0.0.1 and ::1. */
  addresses?: readonly string[];
  userAgent?: string;
  /** Time allowed for the upgrade, listeners included (default 30 s). */
  handshakeTimeoutMs?: number;
  /** Protocol session options (keepalive, windows); role and send are set here. */
  session?: Omit<SessionOptions, 'role' | 'send'>;
  signal?: AbortSignal;
}

/** An open tunnel. */
export interface Tunnel<E extends SessionEndpoint> {
  readonly ws: WebSocket;
  readonly session: Session;
  /** What the session factory built. */
  readonly endpoint: E;
  /** The negotiated subprotocol, e.g. `v1.rpf.kube-rpf.dev`. */
  readonly protocol: string;
  readonly url: URL;
}

function readBody(response: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    response.on('data', (chunk: Buffer) => {
      if (size >= MAX_ERROR_BODY) return;
      chunks.push(chunk);
      size += chunk.length;
    });
    const done = () => resolve(Buffer.concat(chunks).toString('utf8').slice(0, MAX_ERROR_BODY));
    response.on('end', done);
    response.on('error', done);
    response.on('aborted', done);
  });
}

/**
 * Opens the WebSocket and the client session on it. Rejects with an
 * RpfClientError: the relayed Status (FORBIDDEN, UPSTREAM, POD_NOT_FOUND,
 * VERSION_MISMATCH...), CONNECT_FAILED, CREDENTIALS, or ABORTED.
 */
export function openTunnel<E extends SessionEndpoint>(request: TunnelRequest<E>): Promise<Tunnel<E>>;
/** @deprecated Pass createSession (see {@link SetupTunnelRequest}). */
export function openTunnel(request: SetupTunnelRequest): Promise<Tunnel<SessionEndpoint>>;
export function openTunnel(request: TunnelRequest<SessionEndpoint> | SetupTunnelRequest): Promise<Tunnel<SessionEndpoint>> {
  if ('createSession' in request) return open(request);
  const { setup, ...target } = request;
  return open({
    ...target,
    createSession: (options) => {
      const session = new Session(options);
      setup(session);
      return { session };
    },
  });
}

async function open<E extends SessionEndpoint>(request: TunnelRequest<E>): Promise<Tunnel<E>> {
  const { context, pod, signal } = request;
  const url = tunnelUrl(context.server, pod, request.ports, request.addresses);
  const options = await requestOptions(context.credentials, {
    headers: { 'User-Agent': request.userAgent ?? 'kubectl-rpf' },
    perMessageDeflate: false,
    maxPayload: MAX_MESSAGE_SIZE,
    handshakeTimeout: request.handshakeTimeoutMs ?? 30_000,
    followRedirects: false,
    // Masking exists to keep a browser's script from steering what a cleartext
    // proxy reads in the stream; under TLS no intermediary can read it, and
    // kube-apiserver and rpf-server only splice. A zero mask makes ws skip
    // the masked copy of every message (issue 9: a GiB copied per GiB sent).
    ...(url.protocol === 'wss:' ? { generateMask: (mask: Buffer) => void mask.fill(0) } : {}),
  } satisfies WebSocket.ClientOptions);
  if (signal?.aborted) throw new RpfClientError('RPF_ERR_CLIENT_ABORTED', 'cancelled', { cause: signal.reason });
  // The upgrade goes out on the connection the reads before it left open in
  // Node's keep-alive pool (same TLS options, same pool key): one TLS
  // handshake with kube-apiserver less before the tunnel. A proxy's agent,
  // set by the credentials, is kept.
  const pooled = options as typeof options & { agent?: unknown };
  pooled.agent ??= url.protocol === 'ws:' || url.protocol === 'http:' ? http.globalAgent : https.globalAgent;

  return new Promise<Tunnel<E>>((resolve, reject) => {
    const ws = new WebSocketClient(url, [...SUPPORTED_SUBPROTOCOLS], options);
    ws.binaryType = 'nodebuffer';
    let settled = false;
    let mismatch: RpfClientError | undefined;
    const fail = (error: RpfClientError) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (ws.readyState === ws.CONNECTING || ws.readyState === ws.OPEN) ws.terminate();
      reject(error);
    };
    const onAbort = () => fail(new RpfClientError('RPF_ERR_CLIENT_ABORTED', 'cancelled', { cause: signal?.reason }));
    signal?.addEventListener('abort', onAbort, { once: true });

    ws.on('unexpected-response', (_req, response) => {
      void readBody(response).then((body) => {
        fail(statusError(response.statusCode ?? 0, response.headers, body, 'error upgrading connection'));
      });
    });
    ws.on('upgrade', (response) => {
      // A pooled socket keeps the agent's TCP keepalive (1 s probes), which
      // would end a tunnel after a few seconds of network outage; the tunnel's
      // liveness is the protocol's keepalive.
      response.socket.setKeepAlive(false);
      // ws itself refuses a subprotocol it did not offer, with a terse message;
      // keep ours, which names both versions and the side to upgrade.
      const header = response.headers['sec-websocket-protocol'];
      const checked = checkAcceptedSubprotocol(Array.isArray(header) ? header[0] : header);
      if (!checked.ok) mismatch = new RpfClientError('RPF_ERR_CLIENT_VERSION_MISMATCH', checked.error.message, { cause: checked.error });
    });
    ws.on('error', (error) => {
      fail(mismatch ?? connectError(context.server, error));
    });
    ws.on('close', (code) => {
      fail(mismatch ?? new RpfClientError('RPF_ERR_CLIENT_CONNECT_FAILED', `the tunnel closed during the upgrade (${code})`));
    });
    ws.once('open', () => {
      if (settled) return;
      const checked = checkAcceptedSubprotocol(ws.protocol);
      if (!checked.ok) {
        fail(new RpfClientError('RPF_ERR_CLIENT_VERSION_MISMATCH', checked.error.message, { cause: checked.error }));
        return;
      }
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      ws.removeAllListeners('close');
      ws.removeAllListeners('error');
      const endpoint = request.createSession({
        // The agent enforces the cluster's per-session connection limit (1,000
        // by default); the client's own cap only guards against a runaway peer.
        maxChannels: CLIENT_MAX_CHANNELS,
        ...request.session,
        role: 'client',
        send: (message, done) => ws.send(message, { binary: true }, done),
        // ws keeps no reference to a message after its 'message' event.
        releaseReceived: true,
      });
      const { session } = endpoint;
      // The session frees each message once handled (releaseReceived), this the reads ws copied into it (issue 9).
      releaseConsumedReads(ws);
      ws.on('message', (data: Buffer, isBinary: boolean) => session.receive(data, isBinary));
      ws.on('close', (code, reason) => {
        const text = reason.toString('utf8');
        session.destroy(new Error(`websocket closed (${code}${text ? ` ${text}` : ''})`));
      });
      ws.on('error', (error) => session.destroy(error));
      resolve({ ws, session, endpoint, protocol: checked.protocol, url });
    });
  });
}
