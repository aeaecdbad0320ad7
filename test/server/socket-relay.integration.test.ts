/**
 * server/socket-relay.ts on real TLS sockets: bytes arrive intact and in
 * order through pooled read buffers (a buffer is never refilled while its
 * write is pending, even behind a slow reader), no buffer is allocated per
 * read, a reader that never reads stops the relay after its bound, and
 * sockets Node did not set up as expected are left to pipe().
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { RELAY_BUFFER_SIZE, SHARED_POOL_MAX, pooledBuffers, canRelayWithoutCopy, relayWithoutCopy } from '../../server/socket-relay.ts';
import type { RelayStats } from '../../server/socket-relay.ts';
import { makeTestPki } from './helpers/pki.ts';

const pki = makeTestPki();
test.after.always(() => pki.cleanup());

/** A TLS server on loopback whose accepted socket and a connected client come back as a pair. */
async function tlsPair(clientOptions: Partial<tls.ConnectionOptions> = {}): Promise<{ accepted: tls.TLSSocket; client: tls.TLSSocket; close(): void }> {
  const server = tls.createServer({ cert: pki.serving.cert, key: pki.serving.key });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const acceptedP = once(server, 'secureConnection') as Promise<[tls.TLSSocket]>;
  const client = tls.connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, ca: pki.servingCa.cert, servername: 'localhost', ...clientOptions });
  await once(client, 'secureConnect');
  const [accepted] = await acceptedP;
  return {
    accepted,
    client,
    close() {
      client.destroy();
      accepted.destroy();
      server.close();
    },
  };
}

/** A plain TCP pair on loopback: the side we relay into and the side that reads it. */
async function tcpPair(): Promise<{ writer: net.Socket; reader: net.Socket; close(): void }> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const acceptedP = once(server, 'connection') as Promise<[net.Socket]>;
  const writer = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  await once(writer, 'connect');
  const [reader] = await acceptedP;
  return {
    writer,
    reader,
    close() {
      writer.destroy();
      reader.destroy();
      server.close();
    },
  };
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** A TLS pair to relay from and a TCP pair to relay into, closed when the test ends. */
async function relayEnds(t: ExecutionContext): Promise<{ tlsSide: Awaited<ReturnType<typeof tlsPair>>; tcpSide: Awaited<ReturnType<typeof tcpPair>> }> {
  const tlsSide = await tlsPair();
  const tcpSide = await tcpPair();
  t.teardown(() => {
    tlsSide.close();
    tcpSide.close();
  });
  return { tlsSide, tcpSide };
}

test('an accepted TLS socket relays 32 MiB intact into another socket, behind a reader that keeps stopping, with no buffer per read', async (t) => {
  const { tlsSide, tcpSide } = await relayEnds(t);
  t.true(canRelayWithoutCopy(tlsSide.accepted));
  const counted: number[] = [];
  const stats: RelayStats = relayWithoutCopy(tlsSide.accepted, tcpSide.writer, (n) => counted.push(n));
  tlsSide.accepted.on('end', () => tcpSide.writer.end());

  const payload = randomBytes(32 * 1024 * 1024);
  const received: Buffer[] = [];
  // The reader stops for 5 ms every 1 MiB: writes queue up, and the relay must not refill a pending buffer.
  let sinceStop = 0;
  tcpSide.reader.on('data', (chunk: Buffer) => {
    received.push(chunk);
    sinceStop += chunk.length;
    if (sinceStop >= 1024 * 1024) {
      sinceStop = 0;
      tcpSide.reader.pause();
      setTimeout(() => tcpSide.reader.resume(), 5);
    }
  });
  const ended = once(tcpSide.reader, 'end');
  tlsSide.client.end(payload);
  await ended;

  const all = Buffer.concat(received);
  t.is(all.length, payload.length);
  t.is(sha256(all), sha256(payload));
  t.is(stats.bytes, payload.length);
  t.is(counted.reduce((a, b) => a + b, 0), payload.length);
  t.true(counted.every((n) => n <= RELAY_BUFFER_SIZE));
  // 2,048 TLS records were read; a per-read allocation would show as thousands. Beyond the
  // pool, records TLS had decrypted before reading stopped get a buffer each (here ~40 in all).
  t.true(stats.buffersAllocated <= 128, `allocated ${stats.buffersAllocated} buffers for ${counted.length} reads`);
  t.true(counted.length >= 2048);
});

test('a TLS client socket (as rpf-server dials the agent) relays both ways at once, each direction intact', async (t) => {
  const a = await tlsPair();
  const b = await tlsPair();
  t.teardown(() => {
    a.close();
    b.close();
  });
  // a.accepted <-> b.client is the splice; a.client and b.accepted are the far ends.
  t.true(canRelayWithoutCopy(b.client));
  relayWithoutCopy(a.accepted, b.client, () => {});
  relayWithoutCopy(b.client, a.accepted, () => {});
  const up = randomBytes(8 * 1024 * 1024);
  const down = randomBytes(8 * 1024 * 1024);
  const collect = (socket: tls.TLSSocket, size: number) =>
    new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      let length = 0;
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        length += chunk.length;
        if (length >= size) resolve(Buffer.concat(chunks));
      });
    });
  const atB = collect(b.accepted, up.length);
  const atA = collect(a.client, down.length);
  a.client.write(up);
  b.accepted.write(down);
  t.is(sha256(await atB), sha256(up));
  t.is(sha256(await atA), sha256(down));
});

test('a destination that never reads stops the relay: the source stops reading after its bound and the sender is held back', async (t) => {
  const { tlsSide, tcpSide } = await relayEnds(t);
  tcpSide.reader.pause();
  const stats = relayWithoutCopy(tlsSide.accepted, tcpSide.writer, () => {});
  // Offer 64 MiB; loopback and TLS buffers take a few MiB, the relay its 256 KiB, then the sender waits.
  const offered = 64 * 1024 * 1024;
  let written = 0;
  const chunk = randomBytes(1024 * 1024);
  const pump = () => {
    while (written < offered) {
      written += chunk.length;
      if (!tlsSide.client.write(chunk)) return;
    }
  };
  tlsSide.client.on('drain', pump);
  pump();
  await new Promise((r) => setTimeout(r, 1500));
  t.true(stats.pauses >= 1, 'the source stopped reading');
  t.true(stats.bytes < 32 * 1024 * 1024, `relayed ${stats.bytes} bytes into a destination that reads nothing`);
  t.true(stats.buffersAllocated <= 128, `allocated ${stats.buffersAllocated} buffers`);
  t.true(tlsSide.client.writableLength > 0, 'the sender is held back');
  // Once the reader reads, everything offered arrives.
  let received = 0;
  const done = new Promise<void>((resolve) =>
    tcpSide.reader.on('data', (c: Buffer) => {
      received += c.length;
      if (received >= offered) resolve();
    }),
  );
  tcpSide.reader.resume();
  await done;
  t.is(received, offered);
});

test('sockets Node already reads into user buffers, or with bytes already read, are left to pipe()', async (t) => {
  const withOnread = await tlsPair({ onread: { buffer: Buffer.alloc(1024), callback: () => true } } as Partial<tls.ConnectionOptions>);
  t.teardown(() => withOnread.close());
  t.false(canRelayWithoutCopy(withOnread.client));

  const buffered = await tlsPair();
  t.teardown(() => buffered.close());
  buffered.accepted.pause();
  buffered.client.write('already here');
  await new Promise((r) => setTimeout(r, 100));
  t.true(buffered.accepted.readableLength > 0);
  t.false(canRelayWithoutCopy(buffered.accepted));

  const destroyed = await tlsPair();
  destroyed.accepted.destroy();
  t.teardown(() => destroyed.close());
  t.false(canRelayWithoutCopy(destroyed.accepted));
});

test('done buffers go back to one pool for the process, which stays within its bound', async (t) => {
  const { tlsSide, tcpSide } = await relayEnds(t);
  relayWithoutCopy(tlsSide.accepted, tcpSide.writer, () => {});
  let received = 0;
  const size = 4 * 1024 * 1024;
  const done = new Promise<void>((resolve) =>
    tcpSide.reader.on('data', (c: Buffer) => {
      received += c.length;
      if (received >= size) resolve();
    }),
  );
  tlsSide.client.write(randomBytes(size));
  await done;
  await new Promise((r) => setImmediate(r));
  t.true(pooledBuffers() >= 1, 'buffers came back to the pool');
  t.true(pooledBuffers() <= SHARED_POOL_MAX);
});
