// releaseConsumedReads on real ws over loopback: every message, fragmented
// or not, and every PONG arrive intact, and stay intact while later reads are
// freed; reads that went wholly into a message copy are freed.

import test from 'ava';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { releaseConsumedReads } from '../../protocol/index.ts';
import { pattern } from './session-pair.ts';

test('messages and PONGs stay intact while the reads ws copied are freed', async (t) => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 8 * 1024 * 1024, perMessageDeflate: false });
  t.teardown(() => wss.close());
  await once(wss, 'listening');
  const received: Buffer[] = [];
  let counters: ReturnType<typeof releaseConsumedReads>;
  let resolveServer: (ws: WebSocket) => void = () => {};
  const serverSide = new Promise<WebSocket>((resolve) => (resolveServer = resolve));
  wss.on('connection', (ws) => {
    counters = releaseConsumedReads(ws);
    // Kept as ws handed them over, checked only at the end: a view into a read
    // freed later would show there.
    ws.on('message', (data: Buffer) => received.push(data));
    resolveServer(ws);
  });
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { perMessageDeflate: false });
  await once(client, 'open');
  const server = await serverSide;
  t.truthy(counters, 'ws has the shape the release relies on');
  const pongs: Buffer[] = [];
  client.on('pong', (data: Buffer) => pongs.push(Buffer.from(data)));
  const sizes = [1024 * 1024, 3, 70_000, 200_000, 1, 3 * 1024 * 1024 + 7, 16 * 1024, 64 * 1024, 65_537, 5];
  const expected: Buffer[] = [];
  const pings: Buffer[] = [];
  sizes.forEach((size, i) => {
    const message = pattern(size, i + 1);
    expected.push(message);
    if (i % 3 === 2) {
      // Fragmented: ws on the other side gathers the fragments.
      client.send(message.subarray(0, size >> 1), { fin: false });
      client.send(message.subarray(size >> 1), { fin: true });
    } else client.send(message);
    const ping = pattern(20, 100 + i);
    pings.push(ping);
    client.ping(ping);
  });
  while (received.length < sizes.length || pongs.length < pings.length) await new Promise((resolve) => setTimeout(resolve, 5));
  received.forEach((message, i) => t.true(message.equals(expected[i] as Buffer), `message ${i} of ${sizes[i]} bytes`));
  t.deepEqual(pongs, pings);
  t.true((counters?.freed ?? 0) > 10, `${counters?.freed} reads freed`);
  client.close();
  server.close();
});

test('a WebSocket without the receiver it relies on is left alone', (t) => {
  t.is(releaseConsumedReads({}), undefined);
  t.is(releaseConsumedReads({ _receiver: { _buffers: 'no' } }), undefined);
});
