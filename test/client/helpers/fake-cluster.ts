// A stand-in for kube-apiserver + rpf-server + rpf-agent on one local HTTP
// server: it answers the client's few API reads, and answers the tunnel
// upgrade either with a refusal (a Status, as the real chain relays it) or by
// becoming the agent end of the tunnel with the real protocol Session.
import http from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import type WebSocket from 'ws';
import { MAX_MESSAGE_SIZE, Session, selectSubprotocol } from '../../../protocol/index.ts';
import type { Channel, ListenerInfo, SessionOptions } from '../../../protocol/index.ts';
import type { PodObject } from '../../../client/index.ts';
import { pod } from './fake-reader.ts';
import { writeKubeconfig } from './kubeconfig.ts';

/** How the upgrade is refused, when it is. */
export interface Refusal {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

/** Options of {@link FakeCluster}. */
export interface FakeClusterOptions {
  /** The APIService: present (default), missing (404) or unreadable (403). */
  apiService?: 'present' | 'missing' | 'forbidden';
  /** Pods by `namespace/name`; default one Running pod `default/web-1`. */
  pods?: Record<string, PodObject>;
  /** Refuse the upgrade with this answer. */
  refuse?: Refusal;
  /** Answer the upgrade with this subprotocol instead of negotiating. */
  subprotocol?: string;
  /** Options of the agent-side session (keepalive...). */
  agentSession?: Partial<Omit<SessionOptions, 'role' | 'send'>>;
  /** Token the kubeconfig carries and the server expects. */
  token?: string;
}

/** The agent end of one tunnel. */
export interface AgentEnd {
  readonly ws: WebSocket;
  readonly session: Session;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly listeners: ListenerInfo[];
  /** A pod process connects to a listener: opens a channel. */
  connect(port: number, address?: string): Channel;
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function status(code: number, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, code };
}

export class FakeCluster {
  readonly server: http.Server;
  readonly agents: AgentEnd[] = [];
  /** Every request: method, URL and Authorization header. */
  readonly requests: Array<{ method: string; url: string; authorization: string | undefined }> = [];
  readonly options: FakeClusterOptions;
  #kubeconfig: string | undefined;
  #waiters: Array<(agent: AgentEnd) => void> = [];
  #nextPicked = 41_000;
  readonly #sockets = new Set<Socket>();
  readonly #wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: MAX_MESSAGE_SIZE,
    handleProtocols: (offered) => {
      if (this.options.subprotocol !== undefined) return this.options.subprotocol;
      const chosen = selectSubprotocol([...offered]);
      return chosen.ok ? chosen.protocol : false;
    },
  });

  constructor(options: FakeClusterOptions = {}) {
    this.options = options;
    this.server = http.createServer((req, res) => this.#request(req, res));
    this.server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    this.server.on('upgrade', (req, socket: Socket, head) => this.#upgrade(req, socket, head));
  }

  /** Starts listening on 127.0.0.1 and writes a kubeconfig for it. */
  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.#kubeconfig = writeKubeconfig({ server: `http://127.0.0.1:${port}`, token: this.options.token ?? 'test-token' });
    return this;
  }

  /** Path of a kubeconfig that points at this server (context "test", namespace default). */
  get kubeconfig(): string {
    if (this.#kubeconfig === undefined) throw new Error('start() first');
    return this.#kubeconfig;
  }

  /** Resolves with the next agent end (or the latest one if it is already there and unclaimed). */
  nextAgent(): Promise<AgentEnd> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  async close(): Promise<void> {
    for (const agent of this.agents) agent.ws.terminate();
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #authorized(req: http.IncomingMessage): boolean {
    return req.headers.authorization === `Bearer ${this.options.token ?? 'test-token'}`;
  }

  #request(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
    if (!this.#authorized(req)) return json(res, 401, status(401, 'Unauthorized'));
    const url = new URL(req.url ?? '/', 'http://fake');
    if (url.pathname === '/apis/apiregistration.k8s.io/v1/apiservices/v1alpha1.rpf.kube-rpf.dev') {
      const mode = this.options.apiService ?? 'present';
      if (mode === 'missing') return json(res, 404, status(404, 'apiservices.apiregistration.k8s.io "v1alpha1.rpf.kube-rpf.dev" not found'));
      if (mode === 'forbidden') return json(res, 403, status(403, 'apiservices.apiregistration.k8s.io is forbidden'));
      return json(res, 200, { kind: 'APIService', status: { conditions: [{ type: 'Available', status: 'True' }] } });
    }
    const podMatch = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(url.pathname);
    if (podMatch) {
      const pods = this.options.pods ?? { 'default/web-1': pod('web-1') };
      const found = pods[`${podMatch[1]}/${podMatch[2]}`];
      if (found === undefined) return json(res, 404, status(404, `pods "${podMatch[2]}" not found`));
      return json(res, 200, found);
    }
    json(res, 404, status(404, 'the server could not find the requested resource'));
  }

  /**
   * What the real chain answers before any agent: kube-apiserver's 404 when
   * kube-rpf is not installed, rpf-server's 404 or 400 for a pod that is
   * missing or not running (the pods the fake knows, when it was given some).
   */
  #chainRefusal(req: http.IncomingMessage): Refusal | undefined {
    if ((this.options.apiService ?? 'present') === 'missing') return { status: 404, body: JSON.stringify(status(404, 'the server could not find the requested resource')) };
    const target = /^\/apis\/rpf\.kube-rpf\.dev\/v1alpha1\/namespaces\/([^/]+)\/pods\/([^/]+)\/reverseportforward$/.exec(new URL(req.url ?? '/', 'http://fake').pathname);
    if (target === null) return undefined;
    const [, namespace = '', name = ''] = target;
    const found = (this.options.pods ?? { 'default/web-1': pod('web-1') })[`${namespace}/${name}`];
    const refuse = (code: number, rpfCode: string, message: string): Refusal => ({ status: code, headers: { 'X-Rpf-Error-Code': rpfCode }, body: JSON.stringify(status(code, message)) });
    if (found === undefined) return refuse(404, 'RPF_ERR_SERVER_POD_NOT_FOUND', `pods "${name}" not found`);
    if (found.metadata?.deletionTimestamp) return refuse(400, 'RPF_ERR_SERVER_POD_TERMINATING', `pod ${namespace}/${name} is terminating`);
    if (found.status?.phase !== 'Running') return refuse(400, 'RPF_ERR_SERVER_POD_NOT_RUNNING', `pod ${namespace}/${name} is not running (phase ${found.status?.phase ?? 'Unknown'})`);
    return undefined;
  }

  #upgrade(req: http.IncomingMessage, socket: Socket, head: Buffer): void {
    this.requests.push({ method: `${req.method} (upgrade)`, url: req.url ?? '', authorization: req.headers.authorization });
    const refusal: Refusal | undefined = !this.#authorized(req)
      ? { status: 401, body: JSON.stringify(status(401, 'Unauthorized')) }
      : (this.options.refuse ?? this.#chainRefusal(req));
    if (refusal !== undefined) {
      const headers = { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(refusal.body)), Connection: 'close', ...refusal.headers };
      socket.end(
        `HTTP/1.1 ${refusal.status} ${http.STATUS_CODES[refusal.status] ?? ''}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n${refusal.body}`,
      );
      return;
    }
    const url = new URL(req.url ?? '/', 'http://fake');
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const session = new Session({ keepaliveIntervalMs: 0, ...this.options.agentSession, role: 'agent', send: (m, done) => ws.send(m, { binary: true }, done) });
      ws.on('message', (data: Buffer, isBinary: boolean) => session.receive(data, isBinary));
      ws.on('close', () => session.destroy(new Error('websocket closed')));
      ws.on('error', () => {});
      const ports = url.searchParams.getAll('ports').map(Number);
      const addresses = url.searchParams.getAll('address');
      const listeners: ListenerInfo[] = [];
      for (const requestedPort of ports) {
        // Like the agent: one picked port per 0 spec, shared by its addresses.
        const port = requestedPort === 0 ? this.#nextPicked++ : requestedPort;
        for (const address of addresses.length > 0 ? addresses : ['127.0.0.1', '::1']) listeners.push({ address, port, requestedPort });
      }
      const agent: AgentEnd = {
        ws,
        session,
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        listeners,
        connect: (port, address = '127.0.0.1') => {
          const channel = session.open({ listenerPort: port, address, peer: '10.244.0.7:51000' });
          // Tests await the errors they expect with once(); the session's end errors the rest.
          channel.on('error', () => {});
          return channel;
        },
      };
      this.agents.push(agent);
      session.sendListening(listeners);
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) w(agent);
    });
  }
}

/** A started fake cluster. */
export async function fakeCluster(options: FakeClusterOptions = {}): Promise<FakeCluster> {
  return new FakeCluster(options).start();
}
