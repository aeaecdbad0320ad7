// rpf-agent's Prometheus metrics, the SLIs KEP-5695 names, on a registry of
// its own (injected, no global state), served as plain HTTP on --metrics-port.
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { metricsEndpointResponse } from '../protocol/index.ts';

/** How a pod connection ended. */
export type ConnectionOutcome = 'completed' | 'reset' | 'local_unreachable' | 'refused';
/** Why a pod connection was refused before a stream opened. */
export type RejectReason = 'connection_limit' | 'session_closing';
/** Errors by type, bounded label values. */
export type AgentErrorType = 'port_conflict' | 'address_unavailable' | 'local_unreachable' | 'netns' | 'pod_not_found' | 'host_network' | 'session_limit' | 'other';

/** Why the agent ended a session itself. */
export type SessionEndReason = 'pod_gone' | 'peer_backlog';

/** The metrics of rpf-agent. */
export class AgentMetrics {
  readonly registry: Registry;
  readonly sessionsActive: Gauge;
  readonly sessionsTotal: Counter<'outcome'>;
  readonly listenersActive: Gauge;
  readonly connectionsTotal: Counter<'outcome'>;
  readonly connectionsRejected: Counter<'reason'>;
  readonly errors: Counter<'type'>;
  readonly connectionDuration: Histogram;
  readonly bytes: Counter<'direction'>;
  readonly sessionsEnded: Counter<'reason'>;
  readonly connectionsDropped: Counter<'reason'>;

  constructor(registry: Registry = new Registry(), options: { defaultMetrics?: boolean } = {}) {
    this.registry = registry;
    if (options.defaultMetrics === true) collectDefaultMetrics({ register: registry, prefix: 'rpf_agent_' });
    this.sessionsActive = new Gauge({ name: 'rpf_agent_sessions_active', help: 'Reverse port-forward sessions open on this node.', registers: [registry] });
    this.sessionsTotal = new Counter({
      name: 'rpf_agent_sessions_total',
      help: 'Session requests by outcome: opened, or the error that refused them.',
      labelNames: ['outcome'],
      registers: [registry],
    });
    this.listenersActive = new Gauge({ name: 'rpf_agent_listeners_active', help: 'Listeners open in pod network namespaces.', registers: [registry] });
    this.connectionsTotal = new Counter({
      name: 'rpf_agent_connections_total',
      help: 'Pod connections by outcome: completed, reset, local_unreachable (the client could not dial its local port), refused.',
      labelNames: ['outcome'],
      registers: [registry],
    });
    this.connectionsRejected = new Counter({
      name: 'rpf_agent_connections_rejected_total',
      help: 'Pod connections refused before a stream opened, by reason.',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.errors = new Counter({ name: 'rpf_agent_errors_total', help: 'Errors by type: port_conflict, local_unreachable, netns, ...', labelNames: ['type'], registers: [registry] });
    this.connectionDuration = new Histogram({
      name: 'rpf_agent_connection_duration_seconds',
      help: 'How long pod connections lasted.',
      buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 30, 120, 600, 3600],
      registers: [registry],
    });
    this.bytes = new Counter({
      name: 'rpf_agent_bytes_total',
      help: 'Bytes carried for pod connections: to_pod (from the client to the pod) and from_pod.',
      labelNames: ['direction'],
      registers: [registry],
    });
    this.sessionsEnded = new Counter({
      name: 'rpf_agent_sessions_ended_total',
      help: 'Sessions the agent ended itself, by reason: pod_gone (its pod stopped), peer_backlog (the tunnel peer left too much unread).',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.connectionsDropped = new Counter({
      name: 'rpf_agent_api_connections_dropped_total',
      help: "Connections to the agent's API port it closed before a session, by reason: max_connections, tls_handshake_timeout, request_timeout (headers or request too slow), idle_timeout (silent, or idle between requests).",
      labelNames: ['reason'],
      registers: [registry],
    });
  }
}

/** Serves protocol/metrics-endpoint.ts (`GET /metrics`, `/healthz`) as plain HTTP. */
export function createMetricsServer(metrics: AgentMetrics): Server {
  return createServer((req, res) => {
    void metricsEndpointResponse(metrics.registry, req.method, req.url).then(({ status, headers, body }) => res.writeHead(status, headers).end(body));
  });
}
