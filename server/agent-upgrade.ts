/**
 * The agent step of a tunnel request: forward the client's WebSocket upgrade
 * to the rpf-agent on the pod's node (over mutual TLS, with who asks), and
 * wait for its answer. The agent opens every listener before it answers, so
 * this step ends one of four ways:
 *
 * - 101: the agent's socket goes to the splice (the slot stays held);
 * - an HTTP error: the agent's Status is relayed to the client as it came;
 * - no answer in time, or no connection: a 504 or 503 Status of our own;
 * - the client leaves first: the agent request is abandoned, so the agent's
 *   session never starts, and the request is counted as client_gone.
 *
 * Every answer goes through server/refusal.ts; the slot is given back on
 * every way but the first.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { formatAgentCaller, formatAgentSessionRequest } from '../protocol/index.ts';
import { agentFailure, agentTimeout, readBody } from './agent-client.ts';
import type { AgentDialer } from './agent-client.ts';
import type { Clock } from './clock.ts';
import { RpfServerError } from './errors.ts';
import { distinctHeaders } from './front-proxy-auth.ts';
import type { UserInfo } from './front-proxy-auth.ts';
import type { PodInfo } from './kube-client.ts';
import type { ServerMetrics } from './metrics.ts';
import type { TunnelQuery } from './query.ts';
import { countClientGone, refuseTunnel, relayAgentRefusal } from './refusal.ts';
import type { PreparedTunnel } from './tunnel-authorization.ts';

/** The agent request path of a session (docs/agent-api.md). */
export function agentSessionRequest(pod: PodInfo, query: TunnelQuery): string {
  return formatAgentSessionRequest({
    namespace: pod.namespace,
    pod: pod.name,
    podUID: pod.uid,
    ports: query.ports,
    // Named addresses only: without any, the agent's default makes ::1 best effort (pods without IPv6).
    addresses: query.explicitAddresses ? query.addresses : [],
  });
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
  const auditId = req.headers['audit-id'];
  return { ...headers, ...formatAgentCaller({ user: user.user, auditId: typeof auditId === 'string' ? auditId : '' }) };
}

/** What {@link requestAgentUpgrade} needs. */
export interface AgentUpgradeDeps {
  readonly dialer: AgentDialer;
  readonly clock: Clock;
  readonly metrics: ServerMetrics;
  /** How long the agent may take to answer the upgrade (ms). */
  readonly agentTimeoutMs: number;
}

/** The agent's side of an upgraded tunnel, as Node's 'upgrade' event hands it over. */
export interface AgentUpgrade {
  readonly res: IncomingMessage;
  readonly socket: Socket;
  readonly head: Buffer;
}

/** The client's side of a tunnel request, as Node's 'upgrade' event hands it over, and when it arrived. */
export interface ClientUpgrade {
  readonly req: IncomingMessage;
  readonly socket: Socket;
  /** Bytes read past the request head (sent on to the agent once spliced). */
  readonly head: Buffer;
  /** clock.now() when the request arrived. */
  readonly started: number;
}

/**
 * Asks the tunnel's agent to open it; calls `onUpgraded` with the agent's
 * socket when it answers 101, and otherwise answers the client itself.
 */
export function requestAgentUpgrade(deps: AgentUpgradeDeps, client: ClientUpgrade, tunnel: PreparedTunnel, onUpgraded: (agent: AgentUpgrade) => void): void {
  const { agent } = tunnel;
  const { socket } = client;
  const seconds = (): number => (deps.clock.now() - client.started) / 1000;
  let settled = false;
  let agentReq: ClientRequest | undefined;
  const fail = (err: RpfServerError): void => {
    if (settled) return;
    settled = true;
    agentReq?.destroy();
    tunnel.slot.release();
    refuseTunnel(socket, err, deps.metrics, seconds());
  };
  try {
    agentReq = deps.dialer.request(agent, {
      method: 'GET',
      path: agentSessionRequest(tunnel.pod, tunnel.query),
      headers: agentUpgradeHeaders(client.req, tunnel.user),
      timeoutMs: deps.agentTimeoutMs,
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
    if (settled) return;
    settled = true;
    request.destroy();
    countClientGone(deps.metrics);
  });
  request.on('response', (res) => {
    if (settled) {
      res.destroy();
      return;
    }
    settled = true;
    tunnel.slot.release();
    readBody(res).then(
      (body) => {
        if ((res.statusCode ?? 0) >= 400) {
          relayAgentRefusal(socket, res, body, deps.metrics, seconds());
          return;
        }
        const err = new RpfServerError('RPF_ERR_SERVER_AGENT_BAD_RESPONSE', `the rpf-agent on node ${agent.nodeName} answered ${res.statusCode ?? 0} instead of upgrading`);
        refuseTunnel(socket, err, deps.metrics, seconds());
      },
      (err: unknown) => refuseTunnel(socket, agentFailure(agent, err), deps.metrics, seconds()),
    );
  });
  request.on('upgrade', (res, agentSocket, agentHead) => {
    if (settled) {
      agentSocket.destroy();
      return;
    }
    settled = true;
    onUpgraded({ res, socket: agentSocket, head: agentHead });
  });
  request.end();
}
