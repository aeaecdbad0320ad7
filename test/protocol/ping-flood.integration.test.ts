// Issue 8, finding 1, on a real WebSocket over loopback: a tunnel peer that
// stops reading and sends messages packed with PINGs. Before the fix the agent
// queued a PONG for each (300 MiB of PINGs took rpf-agent from 81 MB to 440 MB
// resident); now it holds one PONG in flight and the latest PING's bytes
// (a PONG counts as written once the kernel took it).

import test from 'ava';
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import {
  DEFAULT_MAX_CONTROL_BACKLOG,
  FRAME_HEADER_SIZE,
  MAX_MESSAGE_SIZE,
  PING_PAYLOAD_SIZE,
  SUBPROTOCOL_V1,
  Session,
  decodeMessage,
  encodeFrames,
} from '../../protocol/index.ts';
import type { Frame } from '../../protocol/index.ts';

const PING_BYTES = FRAME_HEADER_SIZE + PING_PAYLOAD_SIZE;

/** An agent session behind a WebSocket server on loopback, wired as docs/protocol.md says. */
async function agentServer(): Promise<{ url: string; session: Promise<{ session: Session; ws: WebSocket }>; close(): void }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: MAX_MESSAGE_SIZE, perMessageDeflate: false });
  await once(wss, 'listening');
  const session = new Promise<{ session: Session; ws: WebSocket }>((resolve) => {
    wss.on('connection', (ws) => {
      ws.binaryType = 'nodebuffer';
      ws.on('error', () => {});
      const s = new Session({ role: 'agent', send: (message, done) => ws.send(message, done) });
      ws.on('message', (data: Buffer, isBinary) => s.receive(data, isBinary));
      ws.on('close', () => s.destroy(new Error('websocket closed')));
      s.on('close', () => ws.terminate());
      resolve({ session: s, ws });
    });
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`,
    session,
    close: () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
    },
  };
}

/** A message filled with PINGs numbered from `first`, as large as a message may be. */
function pingMessage(first: number): Buffer {
  const count = Math.floor(MAX_MESSAGE_SIZE / PING_BYTES);
  const frames: Frame[] = Array.from({ length: count }, (_, i) => {
    const payload = Buffer.alloc(PING_PAYLOAD_SIZE);
    payload.writeUInt32BE(first + i, 4);
    return { type: 'PING', payload };
  });
  return encodeFrames(frames);
}

test('a peer that stops reading and floods PINGs leaves the agent holding one PONG, and gets its latest PING answered once it reads again', async (t) => {
  const server = await agentServer();
  t.teardown(() => server.close());
  let socket: net.Socket | undefined;
  const hostile = new WebSocket(server.url, SUBPROTOCOL_V1, {
    perMessageDeflate: false,
    // Public hook to the TCP socket, so the test can stop reading it.
    // (net.createConnection is overloaded; ws calls it with an options object only.)
    createConnection: ((options: net.NetConnectOpts) => {
      socket = net.connect(options);
      return socket;
    }) as typeof net.createConnection,
  });
  hostile.on('error', () => {});
  await once(hostile, 'open');
  const { session, ws } = await server.session;
  socket?.pause();

  const messages = 32; // 32 MiB of PINGs, 2 million of them
  const perMessage = Math.floor(MAX_MESSAGE_SIZE / PING_BYTES);
  for (let m = 0; m < messages; m++) {
    const sent = new Promise<void>((resolve, reject) => hostile.send(pingMessage(m * perMessage), (error) => (error ? reject(error) : resolve())));
    await sent;
  }
  const deadline = Date.now() + 20_000;
  while (session.stats.messagesIn < messages && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  t.is(session.stats.messagesIn, messages, 'the agent read every message');
  await new Promise((resolve) => setTimeout(resolve, 50));

  t.false(session.closed, 'PINGs alone do not end the session');
  t.true(ws.bufferedAmount <= DEFAULT_MAX_CONTROL_BACKLOG, `the agent's WebSocket holds ${ws.bufferedAmount} bytes`);
  t.true(session.stats.controlBytesQueued <= 2 * PING_BYTES, `${session.stats.controlBytesQueued} control bytes queued`);
  t.true(session.stats.wireBytesOut <= 1024, `${session.stats.wireBytesOut} bytes sent in all`);

  // Reading again: the PONGs that the kernel's socket buffers took while a
  // PONG in flight was confirmed arrive (a few, not millions), the last one
  // for the latest PING.
  const latest = messages * perMessage - 1;
  const pongs: number[] = [];
  hostile.on('message', (data: Buffer) => {
    for (const frame of decodeMessage(data)) if (frame.type === 'PONG') pongs.push(Buffer.from(frame.payload).readUInt32BE(4));
  });
  socket?.resume();
  const until = Date.now() + 5_000;
  while (pongs.at(-1) !== latest && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
  t.is(pongs[0], 0);
  t.is(pongs.at(-1), latest, 'the latest PING is answered');
  t.true(pongs.length <= 2 * messages, `${pongs.length} PONGs for ${messages * perMessage} PINGs`);
  t.true(pongs.every((n, i) => i === 0 || n > (pongs[i - 1] as number)), 'each PONG answers a later PING');
  hostile.terminate();
});
