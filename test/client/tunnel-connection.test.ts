// tunnel-connection.ts on its own: the tunnel's URL, and openTunnel against a
// local server that plays the API server's upgrade (the fake cluster for a
// real agent session, a raw socket for upgrades that go wrong).
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { SUPPORTED_SUBPROTOCOLS, Session } from '../../protocol/index.ts';
import type { ListenerInfo } from '../../protocol/index.ts';
import { RpfClientError, loadKubeContext, openTunnel, tunnelPath, tunnelUrl } from '../../client/index.ts';
import type { ClientErrorCode, KubeContext } from '../../client/index.ts';
import { fakeCluster } from './helpers/fake-cluster.ts';
import { writeKubeconfig } from './helpers/kubeconfig.ts';

const pod = { namespace: 'dev', name: 'web-1' };

test('the path is the pods/reverseportforward subresource, names escaped', (t) => {
  t.is(tunnelPath(pod), '/apis/rpf.kube-rpf.dev/v1alpha1/namespaces/dev/pods/web-1/reverseportforward');
  t.is(tunnelPath({ namespace: 'a b', name: 'c/d' }), '/apis/rpf.kube-rpf.dev/v1alpha1/namespaces/a%20b/pods/c%2Fd/reverseportforward');
});

test('the URL repeats ports and addresses in order, as WebSocket schemes, under the server\'s path prefix', (t) => {
  t.is(
    tunnelUrl('https://proxy.example/k8s/c-1/', pod, [8080, 0], ['127.0.0.1', '::1']).href,
    'wss://proxy.example/k8s/c-1/apis/rpf.kube-rpf.dev/v1alpha1/namespaces/dev/pods/web-1/reverseportforward?ports=8080&ports=0&address=127.0.0.1&address=%3A%3A1',
  );
  t.is(tunnelUrl('http://127.0.0.1:8001', pod, [80]).protocol, 'ws:');
});

/** A session factory that records the frames its session receives before anyone else could listen. */
function recordingFactory() {
  const reported: ListenerInfo[][] = [];
  let built = 0;
  return {
    reported,
    built: () => built,
    createSession: (options: ConstructorParameters<typeof Session>[0]) => {
      built++;
      const session = new Session(options);
      session.on('listening', (listeners) => reported.push(listeners));
      return { session };
    },
  };
}

test('openTunnel offers every protocol version and hands the factory\'s endpoint back with its session', async (t) => {
  const cluster = await fakeCluster();
  t.teardown(() => cluster.close());
  const agent = cluster.nextAgent();
  const factory = recordingFactory();
  const tunnel = await openTunnel({ context: loadKubeContext({ kubeconfig: cluster.kubeconfig }), pod: { namespace: 'default', name: 'web-1' }, ports: [8080], userAgent: 'probe/1', createSession: factory.createSession });
  t.teardown(() => tunnel.ws.terminate());
  const end = await agent;
  t.is(end.headers['sec-websocket-protocol'], SUPPORTED_SUBPROTOCOLS.join(', '));
  t.is(end.headers['user-agent'], 'probe/1');
  t.is(tunnel.protocol, 'v1.rpf.kube-rpf.dev');
  t.is(tunnel.session, tunnel.endpoint.session);
  t.is(factory.built(), 1);
  // The agent sends LISTENING as soon as the upgrade is done: the factory's session heard it.
  while (factory.reported.length === 0) await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(factory.reported, [end.listeners]);
});

/** An "API server" whose upgrades `answer` handles on the raw socket; returns a context for it. */
async function rawServer(t: ExecutionContext, answer: (socket: Socket, request: http.IncomingMessage) => void): Promise<KubeContext> {
  const server = http.createServer();
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  server.on('upgrade', (request, socket: Socket) => answer(socket, request));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return loadKubeContext({ kubeconfig: writeKubeconfig({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }) });
}

/** The Sec-WebSocket-Accept for a request's key (RFC 6455). */
function accept(request: http.IncomingMessage): string {
  return createHash('sha1').update(`${request.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

const failures: Array<{ name: string; answer: (socket: Socket, request: http.IncomingMessage) => void; code: ClientErrorCode; status?: number }> = [
  {
    name: 'a refusal with a Status body is the relayed error, its HTTP status kept',
    answer: (socket) => {
      const body = JSON.stringify({ kind: 'Status', status: 'Failure', message: 'no', reason: 'Forbidden', code: 403 });
      socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    },
    code: 'RPF_ERR_CLIENT_FORBIDDEN',
    status: 403,
  },
  {
    name: 'a 101 with a protocol version this build does not speak is VERSION_MISMATCH',
    answer: (socket, request) =>
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept(request)}\r\nSec-WebSocket-Protocol: v9.rpf.kube-rpf.dev\r\n\r\n`),
    code: 'RPF_ERR_CLIENT_VERSION_MISMATCH',
  },
  {
    name: 'a connection closed during the upgrade is CONNECT_FAILED',
    answer: (socket) => socket.destroy(),
    code: 'RPF_ERR_CLIENT_CONNECT_FAILED',
  },
];

for (const c of failures) {
  test(`openTunnel: ${c.name}, and no session is built`, async (t) => {
    const context = await rawServer(t, c.answer);
    const factory = recordingFactory();
    const error = await t.throwsAsync(openTunnel({ context, pod, ports: [8080], createSession: factory.createSession }), { instanceOf: RpfClientError });
    t.is(error?.code, c.code);
    if (c.status !== undefined) t.is(error?.status, c.status);
    t.is(factory.built(), 0);
  });
}

test('openTunnel gives up with ABORTED when the signal aborts during an upgrade that never answers', async (t) => {
  const context = await rawServer(t, () => {});
  const controller = new AbortController();
  const factory = recordingFactory();
  const opening = openTunnel({ context, pod, ports: [8080], signal: controller.signal, createSession: factory.createSession });
  setTimeout(() => controller.abort(), 50);
  t.is((await t.throwsAsync(opening, { instanceOf: RpfClientError }))?.code, 'RPF_ERR_CLIENT_ABORTED');
  t.is(factory.built(), 0);
});

test('openTunnel with a signal already aborted fails with ABORTED before any request', async (t) => {
  let upgrades = 0;
  const context = await rawServer(t, () => upgrades++);
  const error = await t.throwsAsync(openTunnel({ context, pod, ports: [8080], signal: AbortSignal.abort(), createSession: recordingFactory().createSession }), { instanceOf: RpfClientError });
  t.is(error?.code, 'RPF_ERR_CLIENT_ABORTED');
  t.is(upgrades, 0);
});
