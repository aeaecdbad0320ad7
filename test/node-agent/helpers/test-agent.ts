/**
 * A real AgentServer on loopback for the agent's integration tests: real mutual
 * TLS and WebSockets, with the pod's network namespace stood in by this
 * process's own (a resolver that always finds this process, and an opener that
 * listens on 127.0.0.1 here). Tests override only what they are about.
 */
import net from 'node:net';
import { pino } from 'pino';
import { AgentServer } from '../../../node-agent/http-server.ts';
import type { AgentServerDeps } from '../../../node-agent/http-server.ts';
import { AgentMetrics } from '../../../node-agent/metrics.ts';
import type { ListenerOpener, OpenedListener } from '../../../node-agent/netns-listeners.ts';
import type { TestPki } from '../../server/helpers/pki.ts';

/** The pod UID every test session names. */
export const UID = '6d60c094-843f-47c1-bab0-3ee0d32f064e';

/** Listens on 127.0.0.1 in this process, as the pod's listeners would in the pod (other addresses are skipped). */
export const localOpener: ListenerOpener = {
  async open(_netns, specs) {
    const opened: OpenedListener[] = [];
    for (const spec of specs.filter((s) => s.address === '127.0.0.1')) {
      const server = net.createServer({ allowHalfOpen: true });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      opened.push({ address: spec.address, port: (server.address() as net.AddressInfo).port, requestedPort: spec.port, server });
    }
    return opened;
  },
};

/** Finds this process for every pod: the pod always runs, its namespace is this process's. */
export const testResolver: AgentServerDeps['resolver'] = {
  resolve: async () => ({ path: '/proc/self/ns/net', pid: process.pid, startTime: '1', id: 'net:[1]', fd: -1, close: async () => {} }),
  hostNetnsId: async () => 'net:[2]',
  recheck: async () => ({ pid: process.pid, startTime: '1' }),
};

/** What a test may change: any dependency, or some of the limits and connection bounds. */
export type TestAgentOverrides = Partial<Omit<AgentServerDeps, 'limits' | 'connections'>> & {
  limits?: Partial<AgentServerDeps['limits']>;
  connections?: Partial<AgentServerDeps['connections']>;
};

/** Starts an agent with the production-like defaults below, then `overrides`, on an ephemeral port. */
export async function startTestAgent(pki: TestPki, overrides: TestAgentOverrides = {}): Promise<{ agent: AgentServer; port: number; metrics: AgentMetrics }> {
  const { limits, connections, ...deps } = overrides;
  const metrics = deps.metrics ?? new AgentMetrics();
  const agent = new AgentServer({
    tls: { cert: pki.agentServing.cert, key: pki.agentServing.key, ca: pki.agentCa.cert },
    allowedClientNames: ['rpf-server'],
    resolver: testResolver,
    opener: localOpener,
    log: pino({ level: 'silent' }),
    ...deps,
    metrics,
    limits: {
      maxSessions: 10,
      maxSessionsPerUser: 10,
      maxConnections: 10,
      idleTimeoutMs: 0,
      keepaliveIntervalMs: 5000,
      keepaliveTimeoutMs: 15000,
      allowHostNetwork: false,
      podCheckIntervalMs: 0,
      ...limits,
    },
    connections: { tlsHandshakeTimeoutMs: 10_000, requestHeaderTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5000, maxConnections: 1000, ...connections },
  });
  await new Promise<void>((resolve) => agent.server.listen(0, '127.0.0.1', resolve));
  return { agent, port: (agent.server.address() as net.AddressInfo).port, metrics };
}
