/**
 * rpf-server on real sockets for integration tests: the server with a fake
 * kube client, agent stand-ins reached over real mutual TLS, and clients that
 * play kube-apiserver (front-proxy certificate, X-Remote-* headers).
 */
import { randomBytes } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { WebSocket } from 'ws';
import type { AdmissionKube } from '../../../server/admission-kube.ts';
import { createAgentDialer } from '../../../server/agent-client.ts';
import type { AgentDialer } from '../../../server/agent-client.ts';
import type { AgentTarget } from '../../../server/pods.ts';
import { createRpfServer } from '../../../server/app.ts';
import type { RpfServer, ServerDeps } from '../../../server/app.ts';
import { systemClock } from '../../../server/clock.ts';
import { ServerMetrics } from '../../../server/metrics.ts';
import { startAgentStandIn } from './agent-stand-in.ts';
import type { AgentStandIn } from './agent-stand-in.ts';
import { agentPod, fakeKube, memoryLogger, pod } from './fakes.ts';
import type { FakeKube } from './fakes.ts';
import type { CertFiles, TestPki } from './pki.ts';
import { testConfig } from './server.ts';

/** A running server with its surroundings. */
export interface Harness {
  readonly server: RpfServer;
  readonly port: number;
  readonly kube: FakeKube;
  readonly agent: AgentStandIn;
  readonly metrics: ServerMetrics;
  readonly logLines: Record<string, unknown>[];
  /** Maps agent pod IPs to stand-in ports (all stand-ins share --agent-port in production). */
  readonly agentPorts: Map<string, number>;
  close(): Promise<void>;
}

/** The ConfigMap kube-apiserver would publish for the test PKI. */
export function authConfigMap(pki: TestPki): Record<string, string> {
  return {
    'requestheader-client-ca-file': pki.frontProxyCa.cert,
    'requestheader-allowed-names': '["front-proxy-client"]',
    'requestheader-username-headers': '["X-Remote-User"]',
    'requestheader-group-headers': '["X-Remote-Group"]',
    'requestheader-extra-headers-prefix': '["X-Remote-Extra-"]',
  };
}

/** The real mutual-TLS dialer, with the port looked up per agent host. */
export function mappedDialer(pki: TestPki, ports: Map<string, number>, serverName = 'rpf-agent'): AgentDialer {
  const real = createAgentDialer(() => ({ ca: pki.agentCa.cert, cert: pki.agentClient.cert, key: pki.agentClient.key, serverName }));
  const mapped = (target: AgentTarget): AgentTarget => ({ ...target, port: ports.get(target.host) ?? target.port });
  return {
    request: (target, options) => real.request(mapped(target), options),
    call: (target, options) => real.call!(mapped(target), options),
    discard: (target) => real.discard!(mapped(target)),
    close: () => real.close!(),
  };
}

/** Starts the server with one agent stand-in on node-a and pod dev/web running there. */
export async function startHarness(pki: TestPki, options: { args?: string[]; agentTimeoutMs?: number; admissionKube?: AdmissionKube; deps?: Partial<ServerDeps> } = {}): Promise<Harness> {
  const agent = await startAgentStandIn(pki);
  const agentPorts = new Map([[agent.host, agent.port]]);
  const kube = fakeKube({ configMap: authConfigMap(pki), pods: [pod({ name: 'web' }), agentPod('node-a', agent.host)] });
  const { logger, lines } = memoryLogger('info');
  const metrics = new ServerMetrics();
  const server = createRpfServer(testConfig(pki, options.args ?? []), {
    kube,
    clock: systemClock,
    logger,
    metrics,
    dialer: mappedDialer(pki, agentPorts),
    refreshMs: 1000,
    agentTimeoutMs: options.agentTimeoutMs ?? 5000,
    ...(options.admissionKube === undefined ? {} : { admissionKube: options.admissionKube }),
    ...options.deps,
  });
  const { port } = await server.listen();
  for (let i = 0; i < 200 && !server.auth.ready; i++) await new Promise((r) => setTimeout(r, 5));
  return {
    server,
    port,
    kube,
    agent,
    metrics,
    logLines: lines,
    agentPorts,
    close: async () => {
      await server.close();
      await agent.close();
    },
  };
}

/** The tunnel path of a pod. */
export function tunnelPath(namespace: string, podName: string, query: string): string {
  return `/apis/rpf.kube-rpf.dev/v1alpha1/namespaces/${namespace}/pods/${podName}/reverseportforward?${query}`;
}

/** Headers kube-apiserver adds for a user (several groups become repeated X-Remote-Group headers). */
export function userHeaders(user = 'alice', groups: string[] = ['dev', 'system:authenticated']): Record<string, string | string[]> {
  return { 'X-Remote-User': user, 'X-Remote-Group': groups, 'Audit-Id': 'audit-123' };
}

/** Opens a WebSocket through rpf-server as kube-apiserver would (front-proxy certificate). */
export function openTunnel(h: Harness, path: string, options: { client?: CertFiles | undefined; headers?: Record<string, string | string[]>; protocols?: string[] }, pki: TestPki): WebSocket {
  const client = 'client' in options ? options.client : pki.frontProxyClient;
  const ws = new WebSocket(`wss://127.0.0.1:${h.port}${path}`, options.protocols ?? ['v1.rpf.kube-rpf.dev'], {
    ca: pki.servingCa.cert,
    ...(client === undefined ? {} : { cert: client.cert, key: client.key }),
    // ws types headers as strings, but Node sends an array as repeated headers.
    headers: (options.headers ?? userHeaders()) as Record<string, string>,
  });
  // Errors after the awaited events (a reset while closing) must not crash the worker; tests await the events they expect.
  ws.on('error', () => {});
  return ws;
}

/** A finished non-101 answer. */
export interface RawAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** True when the server answered 101 instead. */
  readonly upgraded: boolean;
}

/** Sends one request (an upgrade unless `upgrade` is false) and reads the whole answer; fails the test on a hang via its timeout. */
export function rawRequest(
  h: Harness,
  pki: TestPki,
  options: {
    path: string;
    method?: string;
    client?: CertFiles | undefined;
    headers?: Record<string, string | string[]>;
    upgrade?: boolean;
    timeoutMs?: number;
    body?: string;
    /** Aborting it makes the client go away (the request is destroyed). */
    signal?: AbortSignal;
  },
): Promise<RawAnswer> {
  const client = 'client' in options ? options.client : pki.frontProxyClient;
  const upgradeHeaders =
    options.upgrade === false
      ? {}
      : { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Key': randomBytes(16).toString('base64'), 'Sec-WebSocket-Version': '13' };
  return new Promise((resolve, reject) => {
    const req = httpsRequest({
      host: '127.0.0.1',
      port: h.port,
      method: options.method ?? 'GET',
      path: options.path,
      ca: pki.servingCa.cert,
      servername: 'localhost',
      ...(client === undefined ? {} : { cert: client.cert, key: client.key }),
      // Node sends a DELETE body without a length unless told: set it.
      headers: { ...upgradeHeaders, ...(options.body === undefined ? {} : { 'Content-Length': String(Buffer.byteLength(options.body)) }), ...(options.headers ?? {}) },
      agent: false,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error('no answer: the server hung'));
    }, options.timeoutMs ?? 5000);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('upgrade', (res, socket) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '', upgraded: true });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), upgraded: false });
      });
    });
    req.end(options.body);
  });
}

/** Waits for a WebSocket event and returns its arguments. */
export function once<T extends unknown[]>(ws: WebSocket, event: string): Promise<T> {
  return new Promise((resolve, reject) => {
    ws.once(event, (...args: unknown[]) => resolve(args as T));
    if (event !== 'error') ws.once('error', reject);
  });
}

/** Polls until `check` is true (or fails after ~2 s). */
export async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}
