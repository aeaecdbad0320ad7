// The listener helpers for real: a network namespace made by this test,
// listeners opened inside it, accepted here. Every test runs with both
// helpers: rpf-netns-listen (built from node-agent/netns-listen) and nsenter +
// the Node helper, which must behave alike.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import net from 'node:net';
import { promisify } from 'node:util';
import path from 'node:path';
import test from 'ava';
import { repoRoot } from '../e2e/helpers/cluster.ts';
import { NetnsListenerOpener, type NetnsRef, type OpenedListener } from '../../node-agent/netns-listeners.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const run = promisify(execFile);
const netns = `rpf-test-${process.pid}`;
const nsPath = `/run/netns/${netns}`;

const netnsListen = path.join(scratchDir('rpf-netns-listen-'), 'rpf-netns-listen');

test.before(async () => {
  await run('go', ['build', '-o', netnsListen, '.'], { cwd: path.join(repoRoot, 'node-agent/netns-listen'), env: { ...process.env, CGO_ENABLED: '0' } });
  await run('ip', ['netns', 'add', netns]);
  await run('ip', ['netns', 'exec', netns, 'ip', 'link', 'set', 'lo', 'up']);
});

test.after.always(async () => {
  await run('ip', ['netns', 'delete', netns]).catch(() => {});
});

/** Opens a namespace file once, as NetnsResolver does; closed when the test ends. */
function openNetns(t: { teardown(fn: () => void): void }, file = nsPath): NetnsRef {
  const fd = openSync(file, 'r');
  t.teardown(() => closeSync(fd));
  return { fd, path: file };
}

/** Connects to address:port from inside the test's namespace and returns what the peer sent. */
async function readFromInside(address: string, port: number): Promise<string> {
  const { stdout } = await run('ip', ['netns', 'exec', netns, 'busybox', 'nc', address, String(port)], { timeout: 10_000 });
  return stdout;
}

function serve(listener: OpenedListener, reply: string): void {
  listener.server.on('connection', (socket) => socket.end(reply));
}

const helpers: Array<[string, () => NetnsListenerOpener]> = [
  ['rpf-netns-listen', () => new NetnsListenerOpener({ netnsHelperPath: netnsListen })],
  ['nsenter', () => new NetnsListenerOpener()],
];

for (const [helper, opener] of helpers) {
  test.serial(`${helper}: listeners opened in a namespace accept that namespace's connections in this process`, async (t) => {
    const listeners = await opener().open(openNetns(t), [
      { address: '127.0.0.1', port: 0 },
      { address: '::1', port: 0, optional: true },
    ]);
    try {
      t.true(listeners.length >= 1);
      const port = listeners[0]!.port;
      t.true(listeners.every((l) => l.port === port), 'one picked port for every address');
      t.true(listeners.every((l) => l.requestedPort === 0));
      for (const listener of listeners) serve(listener, `hello over ${listener.address}\n`);
      t.is(await readFromInside('127.0.0.1', port), 'hello over 127.0.0.1\n');
      // Not in this (host) namespace: nothing listens on that port here.
      const here = net.connect({ host: '127.0.0.1', port });
      const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
        here.once('error', resolve);
        here.once('connect', () => resolve(undefined));
      });
      here.destroy();
      t.is(error?.code, 'ECONNREFUSED');
    } finally {
      for (const listener of listeners) listener.server.close();
    }
  });

  test.serial(`${helper}: two 0 ports in one request pick two different ports`, async (t) => {
    const listeners = await opener().open(openNetns(t), [
      { address: '127.0.0.1', port: 0, group: 0 },
      { address: '127.0.0.1', port: 0, group: 1 },
    ]);
    try {
      t.is(listeners.length, 2);
      t.not(listeners[0]!.port, listeners[1]!.port);
    } finally {
      for (const listener of listeners) listener.server.close();
    }
  });

  test.serial(`${helper}: a port in use fails all or nothing with a 409 naming the port`, async (t) => {
    const ports = opener();
    const [first] = await ports.open(openNetns(t), [{ address: '127.0.0.1', port: 0 }]);
    try {
      const error = await t.throwsAsync(
        ports.open(openNetns(t), [
          { address: '127.0.0.1', port: 0 },
          { address: '127.0.0.1', port: first!.port },
        ]),
      );
      t.is((error as { code?: string }).code, 'RPF_ERR_AGENT_PORT_IN_USE');
      t.is((error as { status?: number }).status, 409);
      // KEP-5695's message, which the user sees verbatim: a contract, asserted as text.
      t.is(error?.message, `error creating reverse port-forward listener: port ${first!.port} already in use`);
    } finally {
      first!.server.close();
    }
  });

  test.serial(`${helper}: a descriptor that is not a network namespace is a netns error, not a hang`, async (t) => {
    const error = await t.throwsAsync(opener().open(openNetns(t, '/dev/null'), [{ address: '127.0.0.1', port: 0 }]));
    t.is((error as { code?: string }).code, 'RPF_ERR_AGENT_NETNS');
  });

  test.serial(`${helper}: the namespace entered is the descriptor handed over, not whatever its path names later`, async (t) => {
    // A second namespace, opened once; then its name is given to a new one.
    const name = `${netns}-swap`;
    await run('ip', ['netns', 'add', name]);
    t.teardown(() => run('ip', ['netns', 'delete', name]).catch(() => {}));
    await run('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
    const held = openNetns(t, `/run/netns/${name}`);
    await run('ip', ['netns', 'delete', name]);
    await run('ip', ['netns', 'add', name]);
    await run('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
    const listeners = await opener().open(held, [{ address: '127.0.0.1', port: 0 }]);
    try {
      const port = listeners[0]!.port;
      // Nothing listens in the namespace that now has the name.
      const { stdout } = await run('ip', ['netns', 'exec', name, 'busybox', 'nc', '-w', '1', '127.0.0.1', String(port)], { timeout: 10_000 }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
      t.is(stdout, '');
      // Into the held one, through a process we start inside it by descriptor.
      serve(listeners[0]!, 'hello from the held namespace\n');
      const inside = spawn('nsenter', ['--net=/proc/self/fd/3', 'busybox', 'nc', '127.0.0.1', String(port)], { stdio: ['ignore', 'pipe', 'inherit', held.fd] });
      let text = '';
      inside.stdout!.on('data', (d: Buffer) => (text += d.toString()));
      await once(inside, 'exit');
      t.is(text, 'hello from the held namespace\n');
    } finally {
      for (const listener of listeners) listener.server.close();
    }
  });
}
