/**
 * A small rpf-agent stand-in for rpf-server's integration tests: TLS with
 * the agent's certificate, client certificates of the agent CA required,
 * the agent API's session paths (docs/agent-api.md). It records what it was
 * asked and behaves as each test sets it: upgrade and echo, answer a Status,
 * or never answer.
 */
import { createSecureServer } from 'node:http2';
import type { Http2SecureServer, Http2ServerRequest, Http2ServerResponse, ServerHttp2Session } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import type { CertFiles, TestPki } from './pki.ts';

/** What one request to the stand-in looked like. */
export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly clientCN: string;
  /** '1.1' or '2.0'. */
  readonly httpVersion: string;
}

/** How the stand-in answers a session upgrade. */
export type UpgradeBehaviour =
  | { readonly kind: 'accept' }
  | { readonly kind: 'status'; readonly code: number; readonly body: string }
  | { readonly kind: 'hang' };

/** A running stand-in. */
export interface AgentStandIn {
  readonly host: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  /** WebSockets accepted (the agent side of tunnels). */
  readonly sockets: WebSocket[];
  behaviour: UpgradeBehaviour;
  /** What `GET /v1/sessions` returns (its `items`). */
  sessions: unknown[];
  /** Ids `DELETE /v1/sessions/<id>` knows; others are 404. */
  readonly deleted: string[];
  /**
   * Tunnels by the id their 101 named (X-Rpf-Session: standin-N); a DELETE of
   * one closes it, as the agent ends a session after its GOAWAY.
   */
  readonly tunnels: Map<string, WebSocket>;
  /** When false, the 101 names no session (an agent of an older release). */
  nameSessions: boolean;
  /** HTTP/2 connections accepted so far. */
  h2Connections: number;
  /** How many of the next HTTP/2 requests see their connection destroyed instead of an answer. */
  dropOnRequest: number;
  /** Closes every HTTP/2 connection (as a restarting agent would), keeps listening. */
  dropConnections(): void;
  /** Resolves when the hanging requests' sockets closed (rpf-server gave up). */
  hangingClosed(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a stand-in on `host` (an address of 127/8) with `serving` as its certificate. */
export async function startAgentStandIn(pki: TestPki, host = '127.0.0.1', serving: CertFiles = pki.agentServing): Promise<AgentStandIn> {
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (protocols) => [...protocols][0] ?? false });
  const requests: RecordedRequest[] = [];
  const sockets: WebSocket[] = [];
  const deleted: string[] = [];
  const tunnels = new Map<string, WebSocket>();
  let tunnelCount = 0;
  const pendingIds = new WeakMap<IncomingMessage, string>();
  wss.on('headers', (headers: string[], req: IncomingMessage) => {
    const id = pendingIds.get(req);
    if (id !== undefined) headers.push(`X-Rpf-Session: ${id}`);
  });
  const hanging: Socket[] = [];
  const record = (req: IncomingMessage | Http2ServerRequest): void => {
    const peer = (req.socket as TLSSocket).getPeerCertificate();
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, clientCN: String(peer.subject?.CN ?? ''), httpVersion: req.httpVersion });
  };
  // As the agent: HTTP/2 for rpf-server's calls, HTTP/1.1 for upgrades (ALPN).
  const server: Http2SecureServer = createSecureServer({
    key: serving.key,
    cert: serving.cert,
    ca: pki.agentCa.cert,
    requestCert: true,
    rejectUnauthorized: true,
    allowHTTP1: true,
  });
  const h2Sessions = new Set<ServerHttp2Session>();
  server.on('session', (session: ServerHttp2Session) => {
    h2Sessions.add(session);
    standIn.h2Connections++;
    session.on('error', () => {});
    session.once('close', () => h2Sessions.delete(session));
  });
  const standIn: AgentStandIn = {
    host,
    port: 0,
    requests,
    sockets,
    behaviour: { kind: 'accept' },
    sessions: [],
    deleted,
    tunnels,
    nameSessions: true,
    h2Connections: 0,
    dropOnRequest: 0,
    dropConnections: () => {
      for (const session of h2Sessions) session.destroy();
    },
    hangingClosed: () => Promise.all(hanging.map((s) => (s.destroyed ? Promise.resolve() : new Promise<void>((r) => s.once('close', () => r()))))).then(() => undefined),
    close: async () => {
      for (const ws of sockets) ws.terminate();
      for (const s of hanging) s.destroy();
      for (const session of h2Sessions) session.destroy();
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const socket of plainSockets) socket.destroy();
      await closed;
    },
  };
  const plainSockets = new Set<Socket>();
  server.on('secureConnection', (socket: Socket) => {
    plainSockets.add(socket);
    socket.once('close', () => plainSockets.delete(socket));
  });
  // Both responses offer the same writeHead and end; the cast picks one signature.
  server.on('request', (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => {
    const reply = res as ServerResponse;
    record(req);
    if (standIn.dropOnRequest > 0 && 'stream' in req) {
      // The connection dies under the request, before any answer (an agent killed mid-call).
      standIn.dropOnRequest--;
      req.stream.session?.destroy();
      return;
    }
    const path = (req.url ?? '').split('?')[0] ?? '';
    if (req.method === 'GET' && path === '/v1/sessions') {
      reply.writeHead(200, { 'content-type': 'application/json' });
      reply.end(JSON.stringify({ items: standIn.sessions }));
      return;
    }
    const del = /^\/v1\/sessions\/([^/]+)$/.exec(path);
    if (req.method === 'DELETE' && del !== null) {
      const id = decodeURIComponent(del[1] ?? '');
      const tunnel = tunnels.get(id);
      const known = tunnel !== undefined || standIn.sessions.some((s) => (s as { id?: string }).id === id);
      if (known) deleted.push(id);
      if (tunnel !== undefined) {
        tunnels.delete(id);
        tunnel.close(1000, 'session ended');
      }
      reply.writeHead(known ? 200 : 404, { 'content-type': 'application/json' });
      reply.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: known ? 'Success' : 'Failure', code: known ? 200 : 404 }));
      return;
    }
    reply.writeHead(404);
    reply.end();
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    // Node's HTTP server leaves an upgrade socket without an 'error' listener: rpf-server resetting
    // a hanging or refused request (it may, with unread TLS tickets) would crash the test worker.
    socket.on('error', () => socket.destroy());
    record(req);
    const b = standIn.behaviour;
    if (b.kind === 'hang') {
      hanging.push(socket);
      return;
    }
    if (b.kind === 'status') {
      socket.end(
        `HTTP/1.1 ${b.code} Conflict\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b.body)}\r\nX-Agent: stand-in\r\nConnection: close\r\n\r\n${b.body}`,
      );
      return;
    }
    const id = `standin-${++tunnelCount}`;
    if (standIn.nameSessions) pendingIds.set(req, id);
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.push(ws);
      tunnels.set(id, ws);
      ws.on('close', () => tunnels.delete(id));
      // A tunnel torn down mid-frame is expected in some tests; it must not crash the worker.
      ws.on('error', () => ws.terminate());
      ws.send('hello from the agent');
      ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo: ${data.toString()}`, { binary: isBinary }));
    });
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return Object.assign(standIn, { port: (server.address() as AddressInfo).port });
}
