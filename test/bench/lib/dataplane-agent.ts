// The agent end of the data-plane microbenchmark: rpf-agent's real
// TunnelSession (node-agent/tunnel-session.ts) behind a WebSocket server set up
// as AgentServer sets up its own (node-agent/http-server.ts), on TLS. The
// "pod listener" is a plain TCP server on loopback, opened before the upgrade
// as the agent opens its listeners; every connection to it becomes a channel.
// No mutual TLS and no request checks: those cost nothing per byte.
//
//   node dataplane-agent.ts --root DIR --cert FILE --key FILE
//
// Prints `{"event":"listening","port":N}` (the TLS port), then for each
// upgrade `{"event":"session","podPort":N}`.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer as WebSocketServerClass } from 'ws';
import type * as Protocol from '../../../protocol/index.ts';
import type * as Metrics from '../../../node-agent/metrics.ts';
import type * as Tunnel from '../../../node-agent/tunnel-session.ts';
import { argument, countGc, loadFrom, report, requireFrom, serveStats } from './dataplane-child.ts';

const gc = countGc();
const root = argument('root');
const protocol = await loadFrom<typeof Protocol>(root, 'protocol/index.ts');
const { AgentMetrics } = await loadFrom<typeof Metrics>(root, 'node-agent/metrics.ts');
const { TunnelSession } = await loadFrom<typeof Tunnel>(root, 'node-agent/tunnel-session.ts');
const { WebSocketServer } = requireFrom(root)('ws') as { WebSocketServer: typeof WebSocketServerClass };
const pino = requireFrom(root)('pino') as typeof import('pino').default;

const log = pino({ level: 'silent' });
const metrics = new AgentMetrics();
// The options of AgentServer's own WebSocketServer.
const wss = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  maxPayload: protocol.MAX_MESSAGE_SIZE,
  clientTracking: false,
  handleProtocols: (offered: Set<string>) => {
    const chosen = protocol.selectSubprotocol([...offered]);
    return chosen.ok ? chosen.protocol : false;
  },
});

const server = https.createServer({ cert: readFileSync(argument('cert')), key: readFileSync(argument('key')), minVersion: 'TLSv1.2' }, (_req, res) => {
  res.statusCode = 404;
  res.end();
});
server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
  socket.on('error', () => socket.destroy());
  const listener = net.createServer({ allowHalfOpen: true });
  listener.on('error', () => {});
  listener.listen(0, '127.0.0.1', () => {
    const port = (listener.address() as net.AddressInfo).port;
    wss.handleUpgrade(req, socket, head, (ws) => {
      new TunnelSession({
        ws,
        target: { namespace: 'bench', pod: 'bench', podUID: 'bench-uid', user: 'bench' },
        listeners: [{ address: '127.0.0.1', port, requestedPort: 0, server: listener }],
        limits: { maxConnections: 1000, keepaliveIntervalMs: 5000, keepaliveTimeoutMs: 15000, idleTimeoutMs: 0 },
        metrics,
        log,
        onEnd: () => listener.close(),
      });
      report({ event: 'session', podPort: port });
    });
  });
});
server.listen(0, '127.0.0.1', () => report({ event: 'listening', port: (server.address() as net.AddressInfo).port }));
serveStats(gc);
