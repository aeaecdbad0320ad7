// The benchmarks' load program: the same file runs inside the bench pod (with
// the Node.js of the kube-rpf image, from a ConfigMap) and on this machine.
// Plain JavaScript with no imports beyond Node, so `node load.mjs` works
// anywhere.
//
//   node load.mjs serve PORT [HOST]              the service: answers by a header line
//   node load.mjs relay PORT HOST TARGET_PORT    a plain Node TCP relay (the "context" path)
//   node load.mjs client TEST HOST PORT JSON     one measurement; prints one JSON line
//
// A caller opens a connection and sends one header line, `{"op":...}\n`; the
// service then:
//   sink    reads `bytes` bytes, then answers `{"bytes":N}\n` and ends
//   source  sends `bytes` bytes and ends (what the caller sends is discarded)
//   echo    sends back everything it reads
// Callers never half-close: not every tunnel carries a FIN as a FIN
// (kubectl port-forward does not), and the figures must not depend on it.
//   hello   sends one byte and ends
//   stall   never reads again (a stopped reader)
//
// Client TESTs (options in JSON; every test has a `deadlineMs` after which
// the process exits with an error line, so nothing outlives a run):
//   bulk      {bytes, direction: up|down, connections, stall?}
//             `connections` concurrent transfers of `bytes` each; `up` sends
//             (sink), `down` receives (source). With `stall`, one more
//             connection moves data in the same direction to a reader that
//             never reads; it is not waited for.
//   rr        {count, size, warmup}  request/response on one connection (echo)
//   connect   {count}  new connection -> first byte back, one at a time
//   many      {connections, bytes}  concurrent echo connections, every byte
//             sha256-checked; prints `{"event":"idle"}` once all have their
//             echo back, then waits for a line on stdin before closing them
//
// Results carry the process's own CPU time (`cpuMs`).
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';

const CHUNK = 128 * 1024;
// One random MiB, sent again and again: generating data must not be the bottleneck.
const BLOCK = randomBytes(1024 * 1024);

const [mode, ...args] = process.argv.slice(process.argv[1]?.endsWith('load.mjs') ? 2 : 1);

/** Writes `bytes` bytes of BLOCK to `socket` with backpressure; resolves when all are handed over. */
async function pump(socket, bytes, onChunk) {
  let left = bytes;
  let offset = 0;
  while (left > 0 && !socket.destroyed) {
    const n = Math.min(left, CHUNK, BLOCK.length - offset);
    const chunk = BLOCK.subarray(offset, offset + n);
    onChunk?.(chunk);
    offset = (offset + n) % BLOCK.length;
    left -= n;
    if (!socket.write(chunk)) await drained(socket);
  }
}

/** Resolves on 'drain' or 'close', whichever comes first, leaving no listener behind. */
function drained(socket) {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

// ---------------------------------------------------------------- service

function serve(port, host) {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    socket.on('error', () => {});
    let header = Buffer.alloc(0);
    const onData = (chunk) => {
      header = Buffer.concat([header, chunk]);
      const nl = header.indexOf(10);
      if (nl < 0) {
        if (header.length > 4096) socket.destroy();
        return;
      }
      socket.off('data', onData);
      const request = JSON.parse(header.subarray(0, nl).toString());
      const rest = header.subarray(nl + 1);
      handle(socket, request, rest);
    };
    socket.on('data', onData);
  });
  server.listen(port, host, () => {
    process.stdout.write(`${JSON.stringify({ event: 'listening', port: server.address().port })}\n`);
  });
}

function handle(socket, request, rest) {
  switch (request.op) {
    case 'sink': {
      let bytes = rest.length;
      const check = () => {
        if (bytes >= request.bytes) socket.end(`${JSON.stringify({ bytes })}\n`);
      };
      socket.on('data', (chunk) => {
        bytes += chunk.length;
        check();
      });
      check();
      return;
    }
    case 'source':
      socket.resume();
      void pump(socket, request.bytes).then(() => socket.end());
      return;
    case 'echo':
      if (rest.length > 0) socket.write(rest);
      socket.pipe(socket);
      return;
    case 'hello':
      socket.resume();
      socket.end('k');
      return;
    case 'stall':
      socket.pause();
      return;
    default:
      socket.destroy();
  }
}

// ---------------------------------------------------------------- relay

function relay(port, host, targetPort) {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (inbound) => {
    const outbound = net.connect({ host, port: targetPort, allowHalfOpen: true, noDelay: true });
    inbound.pipe(outbound);
    outbound.pipe(inbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
  });
  server.listen(port, host, () => {
    process.stdout.write(`${JSON.stringify({ event: 'listening', port: server.address().port })}\n`);
  });
}

// ---------------------------------------------------------------- client

function connect(host, port) {
  const socket = net.connect({ host, port, allowHalfOpen: true, noDelay: true });
  socket.on('error', () => {});
  return socket;
}

function failure(socket, what) {
  return new Promise((_, reject) => {
    socket.once('error', (error) => reject(new Error(`${what}: ${error.code ?? error.message}`)));
    socket.once('close', () => reject(new Error(`${what}: closed early`)));
  });
}

/** One `up` transfer: sends `bytes` to sink, resolves when the sink confirmed the count. */
async function upload(host, port, bytes) {
  const socket = connect(host, port);
  const failed = failure(socket, 'upload');
  failed.catch(() => {});
  let reply = '';
  const done = new Promise((resolve, reject) => {
    socket.on('data', (chunk) => {
      reply += chunk;
      if (!reply.endsWith('\n')) return;
      const got = JSON.parse(reply).bytes;
      if (got !== bytes) reject(new Error(`sink counted ${got} of ${bytes} bytes`));
      else resolve();
      socket.destroy();
    });
  });
  socket.write(`${JSON.stringify({ op: 'sink', bytes })}\n`);
  await pump(socket, bytes);
  await Promise.race([done, failed]);
}

/** One `down` transfer: asks source for `bytes`, resolves when all arrived with the FIN. */
async function download(host, port, bytes) {
  const socket = connect(host, port);
  const failed = failure(socket, 'download');
  failed.catch(() => {});
  let got = 0;
  const done = new Promise((resolve, reject) => {
    socket.on('data', (chunk) => {
      got += chunk.length;
      if (got < bytes) return;
      if (got > bytes) reject(new Error(`received ${got} of ${bytes} bytes`));
      else resolve();
      socket.destroy();
    });
  });
  socket.write(`${JSON.stringify({ op: 'source', bytes })}\n`);
  await Promise.race([done, failed]);
}

/** The stalled connection of `bulk {stall}`: keeps its direction busy towards a reader that never reads. */
function stalled(host, port, direction) {
  const socket = connect(host, port);
  if (direction === 'up') {
    socket.write(`${JSON.stringify({ op: 'stall' })}\n`);
    void pump(socket, 1024 * 1024 * 1024);
  } else {
    socket.write(`${JSON.stringify({ op: 'source', bytes: 1024 * 1024 * 1024 })}\n`);
    socket.pause();
  }
  return socket;
}

async function bulk(host, port, { bytes, direction, connections = 1, stall = false }) {
  const stallSocket = stall ? stalled(host, port, direction) : undefined;
  // Give the stalled connection time to fill every buffer on its way first.
  if (stallSocket) await new Promise((resolve) => setTimeout(resolve, 1000));
  const started = performance.now();
  const one = direction === 'up' ? upload : download;
  await Promise.all(Array.from({ length: connections }, () => one(host, port, bytes)));
  const ms = performance.now() - started;
  stallSocket?.destroy();
  const total = bytes * connections;
  return { bytes: total, ms, mbps: total / 1e6 / (ms / 1000) };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function stats(samples) {
  const sorted = Float64Array.from(samples).sort();
  const sum = samples.reduce((a, b) => a + b, 0);
  return { count: samples.length, p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted[sorted.length - 1], mean: sum / samples.length };
}

async function rr(host, port, { count, size = 1024, warmup = 200 }) {
  const socket = connect(host, port);
  const failed = failure(socket, 'rr');
  failed.catch(() => {});
  socket.write(`${JSON.stringify({ op: 'echo' })}\n`);
  const request = BLOCK.subarray(0, size);
  let pending = 0;
  let wake;
  socket.on('data', (chunk) => {
    pending -= chunk.length;
    if (pending <= 0 && wake) {
      const w = wake;
      wake = undefined;
      w();
    }
  });
  const samples = [];
  for (let i = 0; i < warmup + count; i++) {
    const t0 = performance.now();
    pending = size;
    const back = new Promise((resolve) => (wake = resolve));
    socket.write(request);
    await Promise.race([back, failed]);
    if (i >= warmup) samples.push((performance.now() - t0) * 1000);
  }
  socket.destroy();
  return { unit: 'us', ...stats(samples) };
}

async function connectLatency(host, port, { count }) {
  const samples = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const socket = connect(host, port);
    const failed = failure(socket, `connection ${i}`);
    failed.catch(() => {});
    socket.write(`${JSON.stringify({ op: 'hello' })}\n`);
    await Promise.race([new Promise((resolve) => socket.once('data', resolve)), failed]);
    samples.push(performance.now() - t0);
    socket.destroy();
  }
  return { unit: 'ms', ...stats(samples) };
}

async function many(host, port, { connections, bytes }) {
  const started = performance.now();
  const errors = {};
  let mismatches = 0;
  let open = 0;
  const sockets = [];
  const idle = [];
  for (let i = 0; i < connections; i++) {
    const socket = connect(host, port);
    sockets.push(socket);
    // Distinct data per connection: the hashes prove no stream got another's bytes.
    const data = randomBytes(bytes);
    const expected = createHash('sha256').update(data).digest('hex');
    const received = createHash('sha256');
    let got = 0;
    idle.push(
      new Promise((resolve) => {
        socket.on('data', (chunk) => {
          received.update(chunk);
          got += chunk.length;
          if (got < bytes) return;
          if (got > bytes || received.digest('hex') !== expected) mismatches++;
          else open++;
          socket.removeAllListeners('data');
          resolve();
        });
        socket.on('error', (error) => {
          const code = error.code ?? error.message;
          errors[code] = (errors[code] ?? 0) + 1;
        });
        socket.on('close', () => resolve());
      }),
    );
    socket.write(`${JSON.stringify({ op: 'echo' })}\n`);
    socket.write(data);
  }
  await Promise.all(idle);
  const idleMs = performance.now() - started;
  // Still open, and idle: what the runner measures memory against.
  const stillOpen = sockets.filter((s) => !s.destroyed).length;
  process.stdout.write(`${JSON.stringify({ event: 'idle', open, stillOpen, ms: idleMs })}\n`);
  const lines = createInterface({ input: process.stdin });
  await new Promise((resolve) => {
    lines.once('line', resolve);
    lines.once('close', resolve);
  });
  lines.close();
  const survived = sockets.filter((s) => !s.destroyed).length;
  for (const s of sockets) s.destroy();
  const failed = Object.values(errors).reduce((a, b) => a + b, 0);
  return { connections, bytes, open, survived, idleMs, mismatches, errors, failed, clean: open === connections && survived === connections && mismatches === 0 && failed === 0 };
}

const tests = { bulk, rr, connect: connectLatency, many };

async function client(test, host, port, options) {
  const deadline = setTimeout(() => {
    process.stdout.write(`${JSON.stringify({ error: `deadline of ${options.deadlineMs} ms passed` })}\n`);
    process.exit(2);
  }, options.deadlineMs ?? 300_000);
  deadline.unref();
  const fn = tests[test];
  if (!fn) throw new Error(`unknown test ${test}`);
  try {
    const result = await fn(host, port, options);
    const cpu = process.cpuUsage();
    process.stdout.write(`${JSON.stringify({ ...result, cpuMs: (cpu.user + cpu.system) / 1000 })}\n`);
    process.exit(0);
  } catch (error) {
    process.stdout.write(`${JSON.stringify({ error: error.message })}\n`);
    process.exit(1);
  }
}

switch (mode) {
  case 'serve':
    serve(Number(args[0]), args[1] ?? '127.0.0.1');
    break;
  case 'relay':
    relay(Number(args[0]), args[1], Number(args[2]));
    break;
  case 'client':
    await client(args[0], args[1], Number(args[2]), JSON.parse(args[3] ?? '{}'));
    break;
  default:
    process.stderr.write('usage: load.mjs serve PORT [HOST] | relay PORT HOST TARGET_PORT | client TEST HOST PORT JSON\n');
    process.exit(64);
}
