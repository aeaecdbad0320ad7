// rpf-agent: wires a completed configuration into a running agent.
import type { Server } from 'node:http';
import type { Server as NetServer } from 'node:net';
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
export { AgentOptionsError, buildAgentConfig, completeAgentOptions, parseAgentFlags, validateAgentFlags } from './options.ts';

/** A running agent: its API server, metrics server (none with --metrics-port=0) and logger. */
export interface RunningAgent {
  agent: AgentServer;
  metricsServer: Server | undefined;
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
  await listen(agent.server, config.securePort, config.bindAddress);
  // --metrics-port=0 turns metrics off, as rpf-server's does.
  const metricsServer = config.metricsPort > 0 ? createMetricsServer(metrics) : undefined;
  if (metricsServer !== undefined) {
    try {
      await listen(metricsServer, config.metricsPort, config.bindAddress);
    } catch (error) {
      await agent.close();
      throw new Error(`--metrics-port: cannot listen on ${config.bindAddress}:${config.metricsPort}: ${(error as Error).message}`, { cause: error });
    }
    // After listening, an error on the metrics server is logged, never a crash.
    metricsServer.on('error', (error) => log.warn({ err: error.message }, 'metrics server error'));
  }
  log.info({ port: config.securePort, metricsPort: metricsServer === undefined ? undefined : config.metricsPort }, 'rpf-agent listening');
  return {
    agent,
    metricsServer,
    log,
    async close() {
      metricsServer?.close();
      await agent.close();
    },
  };
}

/** Listens, rejecting on an error (a port in use) instead of throwing it as an uncaught 'error' event. */
function listen(server: NetServer, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
