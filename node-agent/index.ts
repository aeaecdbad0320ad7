// rpf-agent: wires a completed configuration into a running agent.
import type { Server } from 'node:http';
import { pino, type Logger } from 'pino';
import { AgentServer } from './http-server.ts';
import { AgentMetrics, createMetricsServer } from './metrics.ts';
import { NetnsListenerOpener } from './netns-listeners.ts';
import { NetnsResolver } from './netns-resolver.ts';
import type { CompletedAgentConfig } from './options.ts';

export { AGENT_ERROR_CODES, RpfAgentError } from './errors.ts';
export { AgentServer } from './http-server.ts';
export { AgentMetrics } from './metrics.ts';
export { NetnsListenerOpener } from './netns-listeners.ts';
export { NetnsResolver } from './netns-resolver.ts';
export { completeAgentConfig, parseAgentFlags, validateAgentFlags } from './options.ts';

/** A running agent: its API server, metrics server and logger. */
export interface RunningAgent {
  agent: AgentServer;
  metricsServer: Server;
  log: Logger;
  close(): Promise<void>;
}

/** Starts rpf-agent from a completed configuration. */
export async function runAgent(config: CompletedAgentConfig, log: Logger = pino({ level: config.logLevel, base: { component: 'rpf-agent' } })): Promise<RunningAgent> {
  const metrics = new AgentMetrics(undefined, { defaultMetrics: true });
  const opener = new NetnsListenerOpener({ nsenterPath: config.nsenter, ...(config.netnsHelper === undefined ? {} : { netnsHelperPath: config.netnsHelper }) });
  if (config.netnsHelper === undefined) log.warn('rpf-netns-listen is not installed: listeners are opened with nsenter and a Node helper (~40 ms more per session)');
  const agent = new AgentServer({
    tls: config.tls,
    allowedClientNames: config.allowedClientNames,
    resolver: new NetnsResolver({ procRoot: config.procRoot }),
    opener,
    metrics,
    log,
    limits: {
      maxSessions: config.maxSessions,
      maxSessionsPerUser: config.maxSessionsPerUser,
      maxConnections: config.maxConnectionsPerSession,
      idleTimeoutMs: config.idleTimeoutMs,
      keepaliveIntervalMs: config.keepaliveIntervalMs,
      keepaliveTimeoutMs: config.keepaliveTimeoutMs,
      allowHostNetwork: config.allowHostNetwork,
      podCheckIntervalMs: config.podCheckIntervalMs,
      maxPeerBacklogBytes: config.maxPeerBacklogBytes,
    },
    connections: {
      tlsHandshakeTimeoutMs: config.tlsHandshakeTimeoutMs,
      requestHeaderTimeoutMs: config.requestHeaderTimeoutMs,
      requestTimeoutMs: config.requestTimeoutMs,
      keepAliveTimeoutMs: config.keepAliveTimeoutMs,
      maxConnections: config.maxConnections,
    },
  });
  const metricsServer = createMetricsServer(metrics);
  await new Promise<void>((resolve) => agent.server.listen(config.securePort, config.bindAddress, resolve));
  await new Promise<void>((resolve) => metricsServer.listen(config.metricsPort, resolve));
  log.info({ port: config.securePort, metricsPort: config.metricsPort }, 'rpf-agent listening');
  return {
    agent,
    metricsServer,
    log,
    async close() {
      metricsServer.close();
      await agent.close();
    },
  };
}
