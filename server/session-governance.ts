/**
 * What governs a tunnel while it is open (issue 11), wired per tunnel:
 *
 * - re-authorization (server/reauthorize.ts): a denial ends the tunnel with
 *   GOAWAY FORBIDDEN and the Forbidden text;
 * - the maximum lifetime (server/session-lifetime.ts): ends it with GOAWAY
 *   POLICY;
 * - Events on the pod (server/pod-events.ts): opened and closed.
 *
 * rpf-server does not parse the tunnel, so it ends one by asking the agent
 * (server/agent-session-end.ts), which sends the GOAWAY and closes; the
 * splice then ends with the agent's socket. If the agent cannot be asked (it
 * is unreachable, or did not name the session in its 101), or has not closed
 * within a grace period, rpf-server cuts the splice itself: the client then
 * sees a lost connection instead of the reason, but the tunnel is gone.
 */
import type { Logger } from 'pino';
import { GOAWAY_REASON } from '../protocol/index.ts';
import type { Timers } from '../protocol/index.ts';
import { endAgentSession } from './agent-session-end.ts';
import type { AgentSessionEndDeps } from './agent-session-end.ts';
import type { TunnelVerb } from './authorizer.ts';
import type { GovernanceMetrics, GovernedEnd } from './governance-metrics.ts';
import type { SessionEnd } from './logging.ts';
import type { PodEventRecorder } from './pod-events.ts';
import { isLoopback } from './query.ts';
import type { Reauthorizer } from './reauthorize.ts';
import { limitLifetime } from './session-lifetime.ts';
import type { PreparedTunnel } from './tunnel-authorization.ts';
import type { Splice } from './tunnel-splice.ts';

/** How long the agent has to close a session it was asked to end before the splice is cut (ms). */
export const AGENT_END_GRACE_MS = 5000;

/**
 * How long the agent has to answer the request to end a session (ms): short,
 * since a revocation must take effect within 45 s and a hung agent would
 * otherwise hold the tunnel for the whole agent timeout.
 */
export const AGENT_END_TIMEOUT_MS = 5000;

/** What {@link SessionGovernance} needs. */
export interface SessionGovernanceDeps extends AgentSessionEndDeps {
  readonly reauthorizer: Reauthorizer;
  readonly timers: Timers;
  readonly logger: Logger;
  readonly metrics: GovernanceMetrics;
  /** 0: no maximum lifetime. */
  readonly maxSessionLifetimeMs: number;
  /** Undefined: no Events are recorded. */
  readonly events: PodEventRecorder | undefined;
}

/** A governed tunnel; told once when it has closed. */
export interface GovernedTunnel {
  closed(end: SessionEnd): void;
}

/** The verbs a tunnel was authorized for at open, checked again while it lives. */
export function tunnelVerbs(tunnel: PreparedTunnel): TunnelVerb[] {
  return tunnel.query.addresses.some((a) => !isLoopback(a)) ? ['create', 'expose'] : ['create'];
}

/** Governs every open tunnel. */
export class SessionGovernance {
  readonly #deps: SessionGovernanceDeps;

  constructor(deps: SessionGovernanceDeps) {
    this.#deps = deps;
  }

  /** Starts governing a tunnel just spliced; `sessionId` is the agent's name for it, when it gave one. */
  open(tunnel: PreparedTunnel, sessionId: string | undefined, splice: Splice): GovernedTunnel {
    const d = this.#deps;
    const fields = { user: tunnel.user.user, namespace: tunnel.pod.namespace, pod: tunnel.pod.name, node: tunnel.pod.nodeName, session: sessionId ?? '' };
    const recordEnd = d.events?.opened({
      user: tunnel.user.user,
      namespace: tunnel.pod.namespace,
      pod: tunnel.pod.name,
      podUID: tunnel.pod.uid,
      ports: tunnel.query.ports,
      addresses: tunnel.query.addresses,
      sessionId: sessionId ?? '',
    });
    let ending = false;
    let closed = false;
    let graceTimer: unknown;
    const endWith = (by: 'revoked' | 'max-lifetime', reason: number, message: string): void => {
      if (ending || closed) return;
      ending = true;
      const metric: GovernedEnd = by === 'revoked' ? 'revoked' : 'max_lifetime';
      d.metrics.sessionsEnded.inc({ reason: metric });
      splice.expectEnd(by, message);
      if (sessionId === undefined) {
        d.logger.warn(fields, 'the rpf-agent did not name the session: cutting the tunnel without telling the client why');
        splice.end(by);
        return;
      }
      const ask = { dialer: d.dialer, agentTimeoutMs: Math.min(d.agentTimeoutMs, AGENT_END_TIMEOUT_MS) };
      void endAgentSession(ask, tunnel.agent, sessionId, { reason, message }).then((result) => {
        if (closed) return;
        if (!result.ok) {
          d.logger.warn({ ...fields, err: result.error }, 'cannot ask the rpf-agent to end the session: cutting the tunnel without telling the client why');
          splice.end(by);
          return;
        }
        graceTimer = d.timers.setTimeout(() => splice.end(by), AGENT_END_GRACE_MS);
      });
    };
    const untrack = d.reauthorizer.track({
      user: tunnel.user,
      target: { namespace: tunnel.pod.namespace, pod: tunnel.pod.name },
      verbs: tunnelVerbs(tunnel),
      logFields: fields,
      onDenied: (message) => endWith('revoked', GOAWAY_REASON.FORBIDDEN, message),
    });
    const stopLifetime = limitLifetime(d.timers, d.maxSessionLifetimeMs, (message) => {
      d.logger.info({ event: 'session-expired', ...fields, maxSessionLifetimeMs: d.maxSessionLifetimeMs }, 'a tunnel reached its maximum lifetime; ending it');
      endWith('max-lifetime', GOAWAY_REASON.POLICY, message);
    });
    return {
      closed(end) {
        if (closed) return;
        closed = true;
        untrack();
        stopLifetime();
        d.timers.clearTimeout(graceTimer);
        recordEnd?.(end);
      },
    };
  }
}
