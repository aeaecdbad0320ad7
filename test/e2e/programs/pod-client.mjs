// A load program that runs inside a pod (with the Node.js of the kube-rpf
// image) as the process that calls home through the reverse forward:
//   node -e "$(cat pod-client.mjs)" HOST PORT CONNECTIONS BYTES [stall]
// Opens CONNECTIONS concurrent connections to HOST:PORT; each sends BYTES of
// its own random data, half-closes (FIN), reads the reply to its end, and
// prints one JSON line: index, sha256 of what it sent and of what it got, and
// how long it took. With "stall", connection 0 first sends the line "stall\n"
// (the local server then stops reading it) and is not waited for.
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';

const [host, portText, countText, bytesText, mode] = process.argv.slice(process.argv[1]?.endsWith('.mjs') ? 2 : 1);
const port = Number(portText);
const count = Number(countText);
const bytes = Number(bytesText);

function one(index, stall) {
  return new Promise((resolve) => {
    const started = performance.now();
    const sent = createHash('sha256');
    const received = createHash('sha256');
    let receivedBytes = 0;
    const socket = net.connect({ host, port, allowHalfOpen: true });
    socket.on('connect', () => {
      if (stall) socket.write('stall\n');
      let left = bytes;
      const pump = () => {
        while (left > 0) {
          const chunk = randomBytes(Math.min(left, 64 * 1024));
          left -= chunk.length;
          sent.update(chunk);
          if (!socket.write(chunk)) return void socket.once('drain', pump);
        }
        socket.end();
      };
      pump();
    });
    socket.on('data', (chunk) => {
      received.update(chunk);
      receivedBytes += chunk.length;
    });
    socket.on('end', () => socket.end());
    socket.on('close', () =>
      resolve({ index, sent: sent.digest('hex'), received: received.digest('hex'), receivedBytes, ms: Math.round(performance.now() - started) }),
    );
    socket.on('error', (error) => resolve({ index, error: error.code ?? error.message }));
  });
}

const stalled = mode === 'stall' ? one(0, true) : undefined;
const results = await Promise.all(Array.from({ length: count }, (_, i) => one(stalled ? i + 1 : i, false)));
for (const result of results) process.stdout.write(`${JSON.stringify(result)}\n`);
if (stalled) process.exit(0);
