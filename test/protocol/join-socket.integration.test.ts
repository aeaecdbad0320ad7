// The whole relay on real loopback sockets, without the WebSocket: a "pod"
// client connects to an agent-side listener, the agent opens a channel, the
// client session dials the "local service", and joinSocket ties each end.

import test from 'ava';
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { channelReasonFor, joinSocket } from '../../protocol/index.ts';
import { pattern, sessionPair } from './session-pair.ts';

interface Relay {
  podPort: number;
  close(): void;
}

/** A pod-side listener tunnelled to `servicePort` on the client side. */
async function relay(servicePort: number): Promise<Relay> {
  const pair = sessionPair();
  pair.client.on('open', (channel) => {
    const socket = net.connect({ port: servicePort, host: '127.0.0.1', allowHalfOpen: true });
    // The pod side may give up while we dial: the channel then errors before joinSocket.
    const abandon = (): void => {
      socket.destroy();
    };
    channel.once('error', abandon);
    socket.once('error', (error) => channel.reject(channelReasonFor(error), error.message));
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      channel.off('error', abandon);
      if (channel.accept()) joinSocket(channel, socket);
      else socket.destroy();
    });
  });
  const listener = net.createServer({ allowHalfOpen: true }, (socket) => {
    const channel = pair.agent.open({
      listenerPort: (listener.address() as AddressInfo).port,
      address: '127.0.0.1',
      peer: `${socket.remoteAddress}:${socket.remotePort}`,
    });
    joinSocket(channel, socket);
  });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  return {
    podPort: (listener.address() as AddressInfo).port,
    close: () => {
      listener.close();
      pair.agent.close();
    },
  };
}

/** A local service; `onConnection` gets each accepted socket. */
async function service(onConnection: (socket: net.Socket) => void): Promise<{ port: number; close(): void }> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {}); // a test may leave resets behind at teardown
    onConnection(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

/** Connects like a process in the pod, sends `request`, half-closes, and reads the reply to its end. */
function podRequest(port: number, request: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
    socket.end(request);
  });
}

test('a request half-closed in the pod gets its reply, which the service sends after the FIN', async (t) => {
  const svc = await service((socket) => {
    let bytes = 0;
    socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
    socket.on('end', () => socket.end(`got ${bytes} bytes`));
  });
  const r = await relay(svc.port);
  t.teardown(() => (r.close(), svc.close()));
  t.is((await podRequest(r.podPort, Buffer.alloc(5000))).toString(), 'got 5000 bytes');
});

test('megabytes travel both ways intact through the relay', async (t) => {
  const svc = await service((socket) => socket.pipe(socket));
  const r = await relay(svc.port);
  t.teardown(() => (r.close(), svc.close()));
  const data = pattern(8 * 1024 * 1024, 11);
  const [a, b] = await Promise.all([podRequest(r.podPort, data), podRequest(r.podPort, data.subarray(0, 1000))]);
  t.true(a.equals(data));
  t.true(b.equals(data.subarray(0, 1000)));
});

test('a refused local dial resets the pod connection', async (t) => {
  const closed = await service(() => {});
  closed.close();
  const r = await relay(closed.port);
  t.teardown(() => r.close());
  const error = await t.throwsAsync(podRequest(r.podPort, Buffer.from('hello')));
  t.is((error as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET');
});

test('a service that resets its connection resets the pod connection', async (t) => {
  const svc = await service((socket) => socket.once('data', () => socket.resetAndDestroy()));
  const r = await relay(svc.port);
  t.teardown(() => (r.close(), svc.close()));
  const error = await t.throwsAsync(podRequest(r.podPort, Buffer.from('hello')));
  t.is((error as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET');
});

test('a pod process that resets its connection resets the service connection', async (t) => {
  let serviceError: (error: NodeJS.ErrnoException) => void = () => {};
  const reset = new Promise<NodeJS.ErrnoException>((resolve) => (serviceError = resolve));
  const svc = await service((socket) => {
    socket.on('error', serviceError);
    socket.on('data', () => {});
    socket.write('hello from the service');
  });
  const r = await relay(svc.port);
  t.teardown(() => (r.close(), svc.close()));
  const pod = net.connect({ port: r.podPort, host: '127.0.0.1', allowHalfOpen: true });
  pod.write('hi');
  await once(pod, 'data');
  pod.resetAndDestroy();
  t.is((await reset).code, 'ECONNRESET');
});
