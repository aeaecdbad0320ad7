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
// upgrade `{"event":"session","podPort":N,"protocol":...}`. A tree with
// node-agent/tunnel-upgrade.ts (docs/dataplane-patches/04) negotiates its
// version itself. DATAPLANE_AGENT_BARE=1 (a diagnosis) wires a bare protocol
// Session with joinSocket instead of TunnelSession.
import { existsSync, readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
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
// A tree that negotiates its version itself (an experiment's node-agent/tunnel-upgrade.ts) does the upgrade; else ws.
type Upgrade = (server: typeof wss, req: IncomingMessage, socket: Duplex, head: Buffer, done: (ws: any) => void) => void;
const upgradeTunnel: Upgrade = existsSync(path.join(root, 'node-agent/tunnel-upgrade.ts'))
  ? (await loadFrom<{ upgradeTunnel: Upgrade }>(root, 'node-agent/tunnel-upgrade.ts')).upgradeTunnel
  : (server, req, socket, head, done) => server.handleUpgrade(req, socket, head, done);

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
    upgradeTunnel(wss, req, socket, head, (ws) => {
      if (process.env.DATAPLANE_AGENT_BARE) {
        // Diagnosis: the protocol Session and joinSocket alone, wired as docs/protocol.md shows, without TunnelSession.
        const session = new protocol.Session({ role: 'agent', send: (message, done) => ws.send(message, { binary: true }, done) });
        ws.on('message', (data: Buffer, isBinary: boolean) => session.receive(data, isBinary));
        ws.on('close', () => session.destroy(new Error('websocket closed')));
        ws.on('error', () => session.destroy(new Error('websocket error')));
        listener.on('connection', (socket: net.Socket) => {
          socket.setNoDelay(true);
          protocol.joinSocket(session.open({ listenerPort: port, address: '127.0.0.1', peer: `${socket.remoteAddress}:${socket.remotePort}` }), socket);
        });
        session.sendListening([{ address: '127.0.0.1', port, requestedPort: 0 }]);
        report({ event: 'session', podPort: port, protocol: ws.protocol, bare: true });
        return;
      }
      new TunnelSession({
        ws,
        target: { namespace: 'bench', pod: 'bench', podUID: 'bench-uid', user: 'bench' },
        listeners: [{ address: '127.0.0.1', port, requestedPort: 0, server: listener }],
        limits: { maxConnections: 1000, keepaliveIntervalMs: 5000, keepaliveTimeoutMs: 15000, idleTimeoutMs: 0 },
        metrics,
        log,
        onEnd: () => listener.close(),
      });
      report({ event: 'session', podPort: port, protocol: ws.protocol });
    });
  });
});
server.listen(0, '127.0.0.1', () => report({ event: 'listening', port: (server.address() as net.AddressInfo).port }));
serveStats(gc);
