// Property tests of the multiplexer: whatever the number of channels, chunk
// sizes, windows and interleaving of writes, every byte arrives in order and
// intact; and a reader that stops reading holds up only its own channel, with
// at most one window of its bytes buffered.

import test from 'ava';
import fc from 'fast-check';
import type { Channel } from '../../protocol/index.ts';
import { collect, pattern, sessionPair, ticks } from './session-pair.ts';

const REQUEST = { listenerPort: 8080, address: '127.0.0.1', peer: '127.0.0.1:40000' };

/** Fails instead of hanging when the tunnel stalls. */
function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`stalled: ${what} did not complete within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

// Enough writes per stream to interleave and to exercise tiny writes, few
// enough that a run of 1-byte chunks does not turn into a GC benchmark.
const MAX_CHUNKS = 2000;

/** Splits `data` at the given chunk sizes (cycled); the last of MAX_CHUNKS chunks takes the rest. */
function split(data: Buffer, sizes: number[]): Buffer[] {
  const chunks: Buffer[] = [];
  for (let offset = 0, i = 0; offset < data.length; i++) {
    const size = i === MAX_CHUNKS - 1 ? data.length - offset : (sizes[i % sizes.length] ?? data.length);
    chunks.push(data.subarray(offset, offset + size));
    offset += size;
  }
  return chunks;
}

/** Sessions whose channels are all checked, after every delivered message, against their window. */
function watchedPair(agentWindow: number, clientWindow: number) {
  let violation: string | undefined;
  const clientChannels: Channel[] = [];
  const agentChannels: Channel[] = [];
  const pair = sessionPair({
    agent: { initialWindow: agentWindow },
    client: { initialWindow: clientWindow },
    afterDeliver: (to) => {
      const [channels, window] = to === 'agent' ? [agentChannels, agentWindow] : [clientChannels, clientWindow];
      for (const c of channels) {
        if (c.readableLength > window) violation ??= `${to} channel ${c.id} buffers ${c.readableLength} bytes, window ${window}`;
      }
    },
  });
  pair.client.on('open', (channel) => clientChannels.push(channel));
  return { pair, agentChannels, clientChannels, violation: () => violation };
}

const streamArb = fc.record({
  toClient: fc.integer({ min: 0, max: 200_000 }),
  toAgent: fc.integer({ min: 0, max: 200_000 }),
  chunkSizes: fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 5 }),
  acceptLate: fc.boolean(),
});

test.serial('every byte of every channel arrives in order and intact, whatever the interleaving', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(streamArb, { minLength: 1, maxLength: 6 }),
      fc.integer({ min: 1024, max: 256 * 1024 }),
      fc.integer({ min: 1024, max: 256 * 1024 }),
      fc.array(fc.nat(), { maxLength: 60 }),
      fc.array(fc.boolean(), { maxLength: 60 }),
      async (streams, agentWindow, clientWindow, order, yields) => {
        const { pair, agentChannels, clientChannels, violation } = watchedPair(agentWindow, clientWindow);
        const clientReady = streams.map(() => deferred<Channel>());
        pair.client.on('open', (channel) => {
          const index = Math.floor(channel.id / 2);
          const accept = (): void => {
            channel.accept();
            clientReady[index]?.resolve(channel);
          };
          if (streams[index]?.acceptLate) setImmediate(accept);
          else accept();
        });
        for (let i = 0; i < streams.length; i++) agentChannels.push(pair.agent.open(REQUEST));

        const expected = streams.map((s, i) => ({ toClient: pattern(s.toClient, 2 * i + 1), toAgent: pattern(s.toAgent, 2 * i + 2) }));
        const receivedByAgent = agentChannels.map((c) => collect(c));
        const receivedByClient = clientReady.map((r) => r.promise.then((c) => collect(c)));

        // One writer per channel and direction, each with its chunks; `order` picks who writes next.
        const writers = await Promise.all(
          streams.flatMap((s, i) => [
            Promise.resolve({ channel: agentChannels[i] as Channel, chunks: split(expected[i]!.toClient, s.chunkSizes) }),
            clientReady[i]!.promise.then((channel) => ({ channel, chunks: split(expected[i]!.toAgent, s.chunkSizes) })),
          ]),
        );
        const live = writers.map((w) => ({ ...w, next: 0 }));
        for (let step = 0; live.length > 0; step++) {
          const at = (order[step] ?? step) % live.length;
          const writer = live[at]!;
          const chunk = writer.chunks[writer.next++];
          if (chunk !== undefined) writer.channel.write(chunk);
          if (writer.next >= writer.chunks.length) {
            writer.channel.end();
            live.splice(at, 1);
          }
          if (yields[step]) await ticks(1);
        }

        const toAgent = await within(30_000, Promise.all(receivedByAgent), 'agent side');
        const toClient = await within(30_000, Promise.all(receivedByClient), 'client side');
        for (const [i, e] of expected.entries()) {
          if (!toClient[i]!.equals(e.toClient)) throw new Error(`channel ${i}: bytes to the client differ`);
          if (!toAgent[i]!.equals(e.toAgent)) throw new Error(`channel ${i}: bytes to the agent differ`);
        }
        if (violation() !== undefined) throw new Error(violation());
        await ticks(2);
        if (pair.agent.stats.channelsOpen !== 0 || pair.client.stats.channelsOpen !== 0) throw new Error('channels left open');
        if (clientChannels.some((c) => c.state !== 'closed')) throw new Error('client channel not closed');
        pair.agent.close();
      },
    ),
    { numRuns: 100 },
  );
  t.pass();
});

test.serial('a paused reader never stops the other channels, and buffers at most its window', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 2, max: 5 }),
      fc.nat(),
      fc.integer({ min: 1024, max: 128 * 1024 }),
      fc.integer({ min: 2, max: 5 }),
      fc.array(fc.integer({ min: 0, max: 300_000 }), { minLength: 5, maxLength: 5 }),
      fc.boolean(),
      async (count, victimSeed, window, overfill, sizes, victimOnClient) => {
        const { pair, agentChannels, clientChannels, violation } = watchedPair(window, window);
        pair.client.on('open', (channel) => channel.accept());
        for (let i = 0; i < count; i++) agentChannels.push(pair.agent.open(REQUEST));
        await within(5_000, (async () => {
          while (clientChannels.length < count) await ticks(1);
        })(), 'opening');
        const victim = victimSeed % count;
        // The side that writes to the paused reader, and the side that reads.
        const [writers, readers] = victimOnClient ? [agentChannels, clientChannels] : [clientChannels, agentChannels];
        const pausedReader = readers[victim]!;
        pausedReader.pause();
        for (const r of readers) r.end(); // the reading side has nothing to send
        const victimData = pattern(window * overfill, 99);
        let victimWriteDone = false;
        writers[victim]!.write(victimData, () => {
          victimWriteDone = true;
        });
        writers[victim]!.end();

        const others = readers.flatMap((r, i) => (i === victim ? [] : [{ r, data: pattern(sizes[i] ?? 0, i) }]));
        const received = others.map(({ r }) => collect(r));
        for (const [i, w] of writers.entries()) if (i !== victim) w.end(pattern(sizes[i] ?? 0, i));
        const got = await within(30_000, Promise.all(received), 'the channels next to a paused one');
        for (const [i, { data }] of others.entries()) if (!got[i]!.equals(data)) throw new Error('bytes differ');

        await ticks(5);
        if (pausedReader.readableLength > window) throw new Error(`paused reader buffers ${pausedReader.readableLength} > ${window}`);
        if (victimWriteDone) throw new Error('a write larger than the window completed although nobody read');
        if (violation() !== undefined) throw new Error(violation());

        // Once it reads again, the paused channel completes too.
        const rest = collect(pausedReader);
        pausedReader.resume();
        if (!(await within(30_000, rest, 'the resumed channel')).equals(victimData)) throw new Error('victim bytes differ');
        pair.agent.close();
      },
    ),
    { numRuns: 100 },
  );
  t.pass();
});
