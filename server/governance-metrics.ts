/**
 * The metrics of governing open tunnels (issue 11): re-authorizations,
 * tunnels rpf-server ended itself, and the Events it recorded on pods. They
 * live on rpf-server's registry (server/metrics.ts) but are owned here, by
 * the modules that count them.
 */
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';

/** Outcome of one re-authorization of an open tunnel. */
export type ReauthorizationResult = 'allowed' | 'denied' | 'error';

/** Why rpf-server ended an open tunnel itself. */
export type GovernedEnd = 'revoked' | 'max_lifetime';

/** What became of one Event about a session. */
export type PodEventResult = 'created' | 'failed' | 'rate_limited' | 'queue_full';

/** Counters of re-authorization, governed ends and pod Events. */
export class GovernanceMetrics {
  /** Re-authorizations by result. */
  readonly reauthorizations: Counter<'result'>;
  /** Tunnels rpf-server ended, by reason. */
  readonly sessionsEnded: Counter<'reason'>;
  /** Session Events by result. */
  readonly podEvents: Counter<'result'>;

  constructor(registry: Registry) {
    this.reauthorizations = new Counter({
      name: 'rpf_server_reauthorizations_total',
      help: 'SubjectAccessReviews of open tunnels by result: allowed, denied (the tunnel is closed), error (kube-apiserver did not answer; the tunnel stays open).',
      labelNames: ['result'],
      registers: [registry],
    });
    this.sessionsEnded = new Counter({
      name: 'rpf_server_sessions_ended_total',
      help: 'Open tunnels rpf-server ended itself, by reason: revoked (a re-authorization was denied), max_lifetime (--max-session-lifetime).',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.podEvents = new Counter({
      name: 'rpf_server_pod_events_total',
      help: 'Events about sessions on their pods, by result: created, failed (kube-apiserver refused or did not answer), rate_limited (not recorded: too many sessions of that user to that pod, or in all), queue_full.',
      labelNames: ['result'],
      registers: [registry],
    });
  }
}
