/**
 * The hot path: a WebSocket upgrade for pods/POD/reverseportforward. In order:
 * authenticate (front-proxy certificate), authorize (SubjectAccessReview
 * `create`, and `expose` for non-loopback addresses), validate the query,
 * read the pod, find the agent on its node, forward the upgrade to the agent
 * over mutual TLS. Only when the agent answers 101 does the client get 101;
 * then bytes are piped both ways, unparsed. Every failure before that is a
 * complete HTTP/1.1 response with a Status body: never a hang, never text.
 * From authentication until the tunnel ends, the request holds one of its
 * user's session slots (--max-sessions-per-user).
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { agentFailure, agentTimeout, readBody } from './agent-client.ts';
import type { AgentDialer } from './agent-client.ts';
import type { Authorizer } from './authorizer.ts';
import type { Clock } from './clock.ts';
import { AGENT_HEADERS, AGENT_SESSIONS_PATH, API_PREFIX, SUBRESOURCE } from './constants.ts';
import { RpfServerError, toServerError } from './errors.ts';
import { distinctHeaders } from './front-proxy-auth.ts';
import type { RequestAuthenticator, UserInfo } from './front-proxy-auth.ts';
import type { KubeClient, PodInfo } from './kube-client.ts';
import { logSessionEnd, logSessionStart } from './logging.ts';
import type { SessionEnd, SessionFields } from './logging.ts';
import type { ServerMetrics } from './metrics.ts';
import { findAgentOnNode, resolveTargetPod } from './pods.ts';
import type { AgentLocation, AgentTarget } from './pods.ts';
import type { PortRange } from './port-ranges.ts';
import { isLoopback, parseTunnelQuery } from './query.ts';
import type { TunnelQuery } from './query.ts';
import { refuseSocket } from './refusal.ts';
import type { SessionLimiter, SessionSlot } from './session-limit.ts';

const TUNNEL_PATH = new RegExp(`^${API_PREFIX.replaceAll('.', '\\.')}/namespaces/([^/]+)/pods/([^/]+)/${SUBRESOURCE}$`);

/** The namespace and pod of a tunnel path, or undefined for any other path. */
export function parseTunnelPath(pathname: string): { namespace: string; pod: string } | undefined {
  const m = TUNNEL_PATH.exec(pathname);
  if (m === null || m[1] === undefined || m[2] === undefined) return undefined;
  try {
    return { namespace: decodeURIComponent(m[1]), pod: decodeURIComponent(m[2]) };
  } catch {
    return undefined;
  }
}

/** The agent request path for a session (docs/agent-api.md). */
export function agentSessionPath(pod: PodInfo, query: TunnelQuery): string {
  const params = new URLSearchParams();
  params.append('namespace', pod.namespace);
  params.append('pod', pod.name);
  params.append('podUID', pod.uid);
  for (const p of query.ports) params.append('ports', String(p));
  // Named addresses only: without any, the agent's default makes ::1 best effort (pods without IPv6).
  if (query.explicitAddresses) for (const a of query.addresses) params.append('address', a);
  return `${AGENT_SESSIONS_PATH}?${params.toString()}`;
}

/**
 * Text as a header value of UTF-8 bytes, as kube-apiserver sends X-Remote-User
 * (Node writes each character of a header string as one Latin-1 byte, and
 * refuses characters above U+00FF).
 */
function utf8Bytes(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** JSON with every non-ASCII character escaped: any reader gets the exact strings back. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The headers sent to the agent: the client's WebSocket handshake plus who asks. */
export function agentUpgradeHeaders(req: IncomingMessage, user: UserInfo): Record<string, string> {
  const headers: Record<string, string> = { Connection: 'Upgrade', Upgrade: 'websocket' };
  const copy: [string, string][] = [
    ['sec-websocket-key', 'Sec-WebSocket-Key'],
    ['sec-websocket-version', 'Sec-WebSocket-Version'],
    ['sec-websocket-protocol', 'Sec-WebSocket-Protocol'],
    ['sec-websocket-extensions', 'Sec-WebSocket-Extensions'],
  ];
  const given = distinctHeaders(req);
  for (const [from, to] of copy) {
    const value = given[from];
    if (value !== undefined && value.length > 0) headers[to] = value.join(', ');
  }
  headers[AGENT_HEADERS.user] = utf8Bytes(user.user);
  headers[AGENT_HEADERS.uid] = utf8Bytes(user.uid);
  headers[AGENT_HEADERS.groups] = asciiJson(user.groups);
  const auditId = req.headers['audit-id'];
  if (typeof auditId === 'string' && auditId !== '') headers[AGENT_HEADERS.auditId] = auditId;
  return headers;
}

/** What {@link UpgradeProxy} needs. */
export interface UpgradeProxyDeps {
  readonly auth: RequestAuthenticator;
  readonly authorizer: Authorizer;
  readonly kube: KubeClient;
  readonly dialer: AgentDialer;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: ServerMetrics;
  readonly agents: AgentLocation;
  readonly allowedPorts: readonly PortRange[];
  readonly allowHostNetworkPods: boolean;
  /** The per-user session cap. */
  readonly sessions: SessionLimiter;
  /** How long the agent may take to answer the upgrade (ms). */
  readonly agentTimeoutMs: number;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade', 'proxy-connection']);

/** Handles upgrade requests and keeps the open tunnels (to end them at shutdown). */
export class UpgradeProxy {
  readonly #deps: UpgradeProxyDeps;
  readonly #tunnels = new Set<(endedBy: SessionEnd['endedBy']) => void>();

  constructor(deps: UpgradeProxyDeps) {
    this.#deps = deps;
  }

  /** Tunnels currently piped. */
  get activeCount(): number {
    return this.#tunnels.size;
  }

  /** Ends every open tunnel (server shutdown). */
  closeAll(): void {
    for (const end of [...this.#tunnels]) end('server-shutdown');
  }

  /** The `upgrade` listener of the HTTPS server. */
  handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const started = this.#deps.clock.now();
    // Errors on a socket nobody listens to would crash the process.
    socket.on('error', () => socket.destroy());
    let admitted: Admitted;
    try {
      admitted = this.#admit(req);
    } catch (err) {
      this.#fail(req, socket, started, err);
      return;
    }
    const { slot } = admitted;
    // Whatever ends the client's connection (a refusal, a tunnel's end, a reset) frees its slot.
    socket.once('close', () => slot.release());
    this.#prepare(req, admitted).then(
      (tunnel) => {
        if (socket.destroyed) {
          slot.release();
          this.#deps.metrics.sessionRequests.inc({ outcome: 'client_gone' });
          return;
        }
        this.#forward(req, socket, head, tunnel, started);
      },
      (err: unknown) => {
        slot.release();
        this.#fail(req, socket, started, err);
      },
    );
  }

  #fail(req: IncomingMessage, socket: Socket, started: number, err: unknown): void {
    const error = toServerError(err);
    if (error.code === 'RPF_ERR_SERVER_INTERNAL' || error.code === 'RPF_ERR_SERVER_KUBE_API' || error.code === 'RPF_ERR_SERVER_AUTHORIZATION_FAILED') {
      this.#deps.logger.error({ err, url: req.url }, 'tunnel request failed');
    }
    this.#reject(socket, started, error, error.status >= 500 ? 'error' : 'rejected');
  }

  /**
   * The synchronous first step: who asks, for what, and a session slot for
   * them. Nothing is awaited between the cap's check and the reservation, so
   * concurrent upgrades cannot pass it together.
   */
  #admit(req: IncomingMessage): Admitted {
    const d = this.#deps;
    const user = d.auth.authenticate(req);
    const url = new URL(req.url ?? '/', 'https://rpf-server');
    const target = parseTunnelPath(url.pathname);
    if (target === undefined) throw new RpfServerError('RPF_ERR_SERVER_NOT_FOUND', `the server could not find the requested resource (${url.pathname})`);
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    if (req.method !== 'GET' || upgrade !== 'websocket') {
      throw new RpfServerError('RPF_ERR_SERVER_UNSUPPORTED_UPGRADE', `only a GET WebSocket upgrade is supported, got ${req.method ?? ''} with Upgrade: ${upgrade}`);
    }
    const slot = d.sessions.tryReserve(user.user);
    if (slot === undefined) {
      throw new RpfServerError(
        'RPF_ERR_SERVER_USER_SESSION_LIMIT',
        `too many reverse port-forward sessions: user "${user.user}" already holds ${d.sessions.max}, the most one user may hold through this rpf-server (--max-sessions-per-user)`,
      );
    }
    return { user, url, target, slot };
  }

  async #prepare(req: IncomingMessage, admitted: Admitted): Promise<PreparedTunnel> {
    const d = this.#deps;
    const { user, url, target, slot } = admitted;
    // The pod and its node's agent are looked up (with our own credentials)
    // while the user is authorized, to save two round trips before the
    // tunnel; their answer is only used, and their errors only reported, once
    // the user may create the tunnel, so a refused user learns nothing of the pod.
    const located = resolveTargetPod(d.kube, target.namespace, target.pod, d.allowHostNetworkPods).then(async (pod) => ({
      pod,
      agent: await findAgentOnNode(d.kube, d.agents, pod.nodeName),
    }));
    located.catch(() => {}); // awaited below unless authorization fails first
    await d.authorizer.authorize(user, target, 'create');
    const query = parseTunnelQuery(url.searchParams, d.allowedPorts);
    if (query.addresses.some((a) => !isLoopback(a))) await d.authorizer.authorize(user, target, 'expose');
    const { pod, agent } = await located;
    const auditId = req.headers['audit-id'];
    return { user, query, pod, agent, slot, auditId: typeof auditId === 'string' ? auditId : '' };
  }

  #reject(socket: Socket, started: number, err: RpfServerError, outcome: 'rejected' | 'error'): void {
    const m = this.#deps.metrics;
    m.sessionRequests.inc({ outcome });
    m.requestDuration.observe({ kind: 'tunnel', code: String(err.status) }, (this.#deps.clock.now() - started) / 1000);
    refuseSocket(socket, err, m);
  }

  #forward(req: IncomingMessage, socket: Socket, head: Buffer, tunnel: PreparedTunnel, started: number): void {
    const d = this.#deps;
    const { agent } = tunnel;
    let settled = false;
    let agentReq: ClientRequest | undefined;
    const fail = (err: RpfServerError): void => {
      if (settled) return;
      settled = true;
      agentReq?.destroy();
      tunnel.slot.release();
      this.#reject(socket, started, err, 'error');
    };
    try {
      agentReq = d.dialer.request(agent, {
        method: 'GET',
        path: agentSessionPath(tunnel.pod, tunnel.query),
        headers: agentUpgradeHeaders(req, tunnel.user),
        timeoutMs: d.agentTimeoutMs,
      });
    } catch (err) {
      fail(agentFailure(agent, err));
      return;
    }
    const request = agentReq;
    request.on('timeout', () => fail(agentTimeout(agent)));
    request.on('error', (err) => fail(agentFailure(agent, err)));
    socket.once('close', () => {
      // The client gave up while the agent was opening listeners: the agent's session must not start.
      if (!settled) {
        settled = true;
        request.destroy();
        d.metrics.sessionRequests.inc({ outcome: 'client_gone' });
      }
    });
    request.on('response', (res) => {
      if (settled) {
        res.destroy();
        return;
      }
      settled = true;
      tunnel.slot.release();
      this.#relayAgentAnswer(socket, res, agent, started);
    });
    request.on('upgrade', (res, agentSocket, agentHead) => {
      if (settled) {
        agentSocket.destroy();
        return;
      }
      settled = true;
      this.#splice(socket, head, res, agentSocket, agentHead, tunnel, started);
    });
    request.end();
  }

  /** An agent error before the upgrade: relayed as it came (it is already a Status). */
  #relayAgentAnswer(socket: Socket, res: IncomingMessage, agent: AgentTarget, started: number): void {
    const status = res.statusCode ?? 0;
    readBody(res).then(
      (body) => {
        if (status < 400) {
          const err = new RpfServerError('RPF_ERR_SERVER_AGENT_BAD_RESPONSE', `the rpf-agent on node ${agent.nodeName} answered ${status} instead of upgrading`);
          this.#reject(socket, started, err, 'error');
          return;
        }
        const m = this.#deps.metrics;
        m.sessionRequests.inc({ outcome: 'agent_rejected' });
        m.errors.inc({ type: `agent_${status}` });
        m.requestDuration.observe({ kind: 'tunnel', code: String(status) }, (this.#deps.clock.now() - started) / 1000);
        const lines = [`HTTP/1.1 ${status} ${res.statusMessage ?? ''}`];
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
          const name = res.rawHeaders[i] ?? '';
          if (!HOP_BY_HOP.has(name.toLowerCase())) lines.push(`${name}: ${res.rawHeaders[i + 1] ?? ''}`);
        }
        if (res.headers['content-type'] === undefined) lines.push('Content-Type: application/json');
        lines.push(`Content-Length: ${body.length}`, 'Connection: close');
        if (socket.writable) {
          socket.write(`${lines.join('\r\n')}\r\n\r\n`);
          socket.end(body);
        } else socket.destroy();
      },
      (err: unknown) => this.#reject(socket, started, agentFailure(agent, err), 'error'),
    );
  }

  #splice(socket: Socket, head: Buffer, res: IncomingMessage, agentSocket: Socket, agentHead: Buffer, tunnel: PreparedTunnel, started: number): void {
    const d = this.#deps;
    const lines = ['HTTP/1.1 101 Switching Protocols'];
    for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) lines.push(`${res.rawHeaders[i] ?? ''}: ${res.rawHeaders[i + 1] ?? ''}`);
    agentSocket.setTimeout(0);
    socket.setTimeout(0);
    agentSocket.setNoDelay(true);
    socket.setNoDelay(true);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (agentHead.length > 0) socket.write(agentHead);
    if (head.length > 0) agentSocket.write(head);

    const fields = sessionFields(tunnel);
    const toPod = d.metrics.bytes.labels('to_pod');
    const fromPod = d.metrics.bytes.labels('from_pod');
    let bytesToPod = head.length;
    let bytesFromPod = agentHead.length;
    socket.on('data', (chunk: Buffer) => {
      bytesToPod += chunk.length;
      toPod.inc(chunk.length);
    });
    agentSocket.on('data', (chunk: Buffer) => {
      bytesFromPod += chunk.length;
      fromPod.inc(chunk.length);
    });
    socket.pipe(agentSocket);
    agentSocket.pipe(socket);

    let endedBy: SessionEnd['endedBy'] | undefined;
    let error: string | undefined;
    let graceTimer: NodeJS.Timeout | undefined;
    const record = (by: SessionEnd['endedBy'], err?: Error): void => {
      if (endedBy !== undefined) return;
      endedBy = by;
      if (err !== undefined) error = err.message;
    };
    const destroyBoth = (): void => {
      socket.destroy();
      agentSocket.destroy();
    };
    const end = (by: SessionEnd['endedBy']): void => {
      record(by);
      destroyBoth();
    };
    // The proxy keeps no half-open tunnels (as kube-apiserver's): when one side ends, pass the
    // FIN on, give the other side a moment to flush, then close both.
    const onEnd = (by: 'client' | 'agent', other: Socket) => () => {
      record(by);
      other.end();
      graceTimer ??= setTimeout(destroyBoth, 1000);
      graceTimer.unref();
    };
    socket.on('end', onEnd('client', agentSocket));
    agentSocket.on('end', onEnd('agent', socket));
    socket.on('error', (err) => {
      record('client-error', err);
      destroyBoth();
    });
    agentSocket.on('error', (err) => {
      record('agent-error', err);
      destroyBoth();
    });
    let closed = 0;
    const onClose = (by: 'client' | 'agent') => () => {
      record(by);
      destroyBoth();
      if (++closed < 2) return;
      if (graceTimer !== undefined) clearTimeout(graceTimer);
      this.#tunnels.delete(end);
      const durationMs = d.clock.now() - started;
      d.metrics.sessionsActive.dec();
      d.metrics.sessionDuration.observe(durationMs / 1000);
      logSessionEnd(d.logger, fields, { durationMs, endedBy: endedBy ?? by, bytesToPod, bytesFromPod, ...(error === undefined ? {} : { error }) });
    };
    socket.once('close', onClose('client'));
    agentSocket.once('close', onClose('agent'));

    this.#tunnels.add(end);
    d.metrics.sessionsActive.inc();
    d.metrics.sessionRequests.inc({ outcome: 'upgraded' });
    d.metrics.requestDuration.observe({ kind: 'tunnel', code: '101' }, (d.clock.now() - started) / 1000);
    logSessionStart(d.logger, fields);
  }
}

/** A request past its synchronous checks, holding a session slot. */
interface Admitted {
  readonly user: UserInfo;
  readonly url: URL;
  readonly target: { readonly namespace: string; readonly pod: string };
  readonly slot: SessionSlot;
}

interface PreparedTunnel {
  readonly user: UserInfo;
  readonly query: TunnelQuery;
  readonly pod: PodInfo;
  readonly agent: AgentTarget;
  /** Released when the tunnel ends (the client socket closes) or the request fails. */
  readonly slot: SessionSlot;
  readonly auditId: string;
}

function sessionFields(t: PreparedTunnel): SessionFields {
  return {
    user: t.user.user,
    namespace: t.pod.namespace,
    pod: t.pod.name,
    podUID: t.pod.uid,
    node: t.pod.nodeName,
    agent: t.agent.podName,
    ports: t.query.ports,
    addresses: t.query.addresses,
    auditId: t.auditId,
  };
}
