/**
 * The hot path: a WebSocket upgrade for pods/POD/reverseportforward, as three
 * steps this file only chains, so that each can be read and tested alone:
 *
 * 1. authorize (server/tunnel-authorization.ts): authenticate, check the
 *    path and the upgrade, reserve a session slot, authorize, validate the
 *    query, find the pod and its node's agent; no socket is touched;
 * 2. ask the agent (server/agent-upgrade.ts): forward the upgrade over mutual
 *    TLS; only when the agent answers 101 does the client get 101;
 * 3. splice (server/tunnel-splice.ts): pipe bytes both ways, unparsed, until
 *    either side ends.
 *
 * Every failure before the upgrade is a complete HTTP/1.1 response with a
 * Status body (server/refusal.ts): never a hang, never text. From
 * authentication until the tunnel ends, the request holds one of its user's
 * session slots (--max-sessions-per-user); the client socket's close gives it
 * back whatever ends the request. This file keeps the open tunnels, to end
 * them at shutdown.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { requestAgentUpgrade } from './agent-upgrade.ts';
import type { AgentUpgrade, AgentUpgradeDeps, ClientUpgrade } from './agent-upgrade.ts';
import { toServerError } from './errors.ts';
import type { SessionEnd } from './logging.ts';
import { AGENT_SESSION_ID_HEADER, MAX_AGENT_SESSION_ID_LENGTH } from '../protocol/index.ts';
import type { GovernedTunnel, SessionGovernance } from './session-governance.ts';
import { countClientGone, refuseTunnel } from './refusal.ts';
import { authorizeTunnel } from './tunnel-authorization.ts';
import type { PendingTunnel, PreparedTunnel, TunnelAuthorizationDeps } from './tunnel-authorization.ts';
import { spliceTunnel } from './tunnel-splice.ts';
import type { Splice } from './tunnel-splice.ts';

/** What {@link UpgradeProxy} needs: what its three steps need. */
export interface UpgradeProxyDeps extends TunnelAuthorizationDeps, AgentUpgradeDeps {
  readonly logger: Logger;
  /** Re-authorization, maximum lifetime and Events of open tunnels (issue 11); none when undefined. */
  readonly governance?: SessionGovernance | undefined;
}

/** Errors that are ours or the cluster's to fix, not the client's: logged. */
const LOGGED_CODES = new Set(['RPF_ERR_SERVER_INTERNAL', 'RPF_ERR_SERVER_KUBE_API', 'RPF_ERR_SERVER_AUTHORIZATION_FAILED']);

/** The agent's name for the session it opened (its 101's X-Rpf-Session), when it gave a plausible one. */
function agentSessionId(agent: AgentUpgrade): string | undefined {
  const id = agent.res.headers[AGENT_SESSION_ID_HEADER.toLowerCase()];
  return typeof id === 'string' && id !== '' && id.length <= MAX_AGENT_SESSION_ID_LENGTH ? id : undefined;
}

/** Handles upgrade requests and keeps the open tunnels (to end them at shutdown). */
export class UpgradeProxy {
  readonly #deps: UpgradeProxyDeps;
  readonly #tunnels = new Set<Splice>();

  constructor(deps: UpgradeProxyDeps) {
    this.#deps = deps;
  }

  /** Tunnels currently piped. */
  get activeCount(): number {
    return this.#tunnels.size;
  }

  /** Ends every open tunnel (server shutdown). */
  closeAll(): void {
    for (const tunnel of [...this.#tunnels]) tunnel.end('server-shutdown');
  }

  /** The `upgrade` listener of the HTTPS server. */
  handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const client: ClientUpgrade = { req, socket, head, started: this.#deps.clock.now() };
    // Errors on a socket nobody listens to would crash the process.
    socket.on('error', () => socket.destroy());
    let pending: PendingTunnel;
    try {
      pending = authorizeTunnel(this.#deps, req);
    } catch (err) {
      this.#fail(client, err);
      return;
    }
    const { slot } = pending;
    // Whatever ends the client's connection (a refusal, a tunnel's end, a reset) frees its slot.
    socket.once('close', () => slot.release());
    pending.prepared.then(
      (tunnel) => {
        if (socket.destroyed) {
          slot.release();
          countClientGone(this.#deps.metrics);
          return;
        }
        requestAgentUpgrade(this.#deps, client, tunnel, (agent) => this.#splice(client, agent, tunnel));
      },
      (err: unknown) => this.#fail(client, err),
    );
  }

  #fail(client: ClientUpgrade, err: unknown): void {
    const d = this.#deps;
    const error = toServerError(err);
    if (LOGGED_CODES.has(error.code)) d.logger.error({ err, url: client.req.url }, 'tunnel request failed');
    refuseTunnel(client.socket, error, d.metrics, (d.clock.now() - client.started) / 1000);
  }

  #splice(client: ClientUpgrade, agent: AgentUpgrade, tunnel: PreparedTunnel): void {
    let governed: GovernedTunnel | undefined;
    const splice = spliceTunnel(this.#deps, client, agent, tunnel, (end) => {
      this.#tunnels.delete(splice);
      governed?.closed(end);
    });
    this.#tunnels.add(splice);
    governed = this.#deps.governance?.open(tunnel, agentSessionId(agent), splice);
  }
}
