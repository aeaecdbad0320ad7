/**
 * rpf-server's Prometheus metrics, on a registry of its own (injected, no
 * global state), served as plain HTTP on --metrics-port.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { metricsEndpointResponse } from '../protocol/index.ts';

/** How a tunnel request ended before or at the upgrade (bounded label values). */
export type SessionOutcome = 'upgraded' | 'rejected' | 'agent_rejected' | 'error' | 'client_gone';

/** The metrics of rpf-server. */
export class ServerMetrics {
  readonly registry: Registry;
  /** Tunnels currently piped. */
  readonly sessionsActive: Gauge;
  /** Tunnel requests by outcome. */
  readonly sessionRequests: Counter<'outcome'>;
  /** Errors answered, by RPF_ERR_SERVER_* code (or agent_<status> for relayed agent errors). */
  readonly errors: Counter<'type'>;
  /** Time to answer a request (for tunnels: until the upgrade or the error). */
  readonly requestDuration: Histogram<'kind' | 'code'>;
  /** Bytes piped through tunnels, by direction. */
  readonly bytes: Counter<'direction'>;
  /** How long tunnels lasted. */
  readonly sessionDuration: Histogram;

  constructor(registry: Registry = new Registry(), options: { defaultMetrics?: boolean } = {}) {
    this.registry = registry;
    if (options.defaultMetrics === true) collectDefaultMetrics({ register: registry, prefix: 'rpf_server_' });
    this.sessionsActive = new Gauge({ name: 'rpf_server_sessions_active', help: 'Reverse port-forward tunnels currently open through this server.', registers: [registry] });
    this.sessionRequests = new Counter({
      name: 'rpf_server_session_requests_total',
      help: 'Tunnel requests by outcome: upgraded, rejected (by this server), agent_rejected (error relayed from the agent), error (agent unreachable or internal), client_gone (the client left before the upgrade).',
      labelNames: ['outcome'],
      registers: [registry],
    });
    this.errors = new Counter({ name: 'rpf_server_errors_total', help: 'Error responses by type (RPF_ERR_SERVER_* code, or agent_<status>).', labelNames: ['type'], registers: [registry] });
    this.requestDuration = new Histogram({
      name: 'rpf_server_request_duration_seconds',
      help: 'Time to answer a request; for tunnels, until the upgrade or the error.',
      labelNames: ['kind', 'code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    this.bytes = new Counter({ name: 'rpf_server_tunnel_bytes_total', help: 'Bytes piped through tunnels: to_pod (client to agent) and from_pod (agent to client).', labelNames: ['direction'], registers: [registry] });
    this.sessionDuration = new Histogram({
      name: 'rpf_server_session_duration_seconds',
      help: 'How long tunnels stayed open.',
      buckets: [1, 10, 60, 300, 900, 3600, 4 * 3600, 24 * 3600],
      registers: [registry],
    });
  }
}

/** Serves protocol/metrics-endpoint.ts (`GET /metrics`, `/healthz`) as plain HTTP. */
export function createMetricsServer(metrics: ServerMetrics): Server {
  return createServer((req, res) => {
    void metricsEndpointResponse(metrics.registry, req.method, req.url).then(({ status, headers, body }) => res.writeHead(status, headers).end(body));
  });
}
