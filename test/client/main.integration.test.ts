// The real entry point as a process, the way kubectl runs the plugin and the
// end-to-end tests will: stdout carries only the fixed lines, stderr one
// `error: ...` line per failure, SIGINT ends a session with exit code 0.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { GOAWAY_REASON } from '../../protocol/index.ts';
import { fakeCluster } from './helpers/fake-cluster.ts';
import type { FakeCluster } from './helpers/fake-cluster.ts';
import { echoService } from './helpers/local-service.ts';

const main = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../client/main.ts');

/** Starts kubectl-rpf against the fake cluster; resolves helpers to read its output. */
function kubectlRpf(cluster: FakeCluster, args: string[]) {
  const child = spawn(process.execPath, [main, '--kubeconfig', cluster.kubeconfig, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return {
    child,
    exited,
    out: () => stdout,
    err: () => stderr,
    /** Resolves once stdout holds `lines` lines. */
    async stdoutLines(lines: number): Promise<string[]> {
      while (stdout.split('\n').length - 1 < lines) await once(child.stdout, 'data');
      return stdout.split('\n').slice(0, lines);
    },
  };
}

/** The fake cluster, the user's echo service, and kubectl-rpf forwarding 8080 of web-1 to it; torn down with the test. */
async function forwarding(t: ExecutionContext, flags: string[] = []) {
  const service = await echoService();
  const cluster = await fakeCluster();
  t.teardown(() => cluster.close());
  t.teardown(() => service.close());
  const agent = cluster.nextAgent();
  const run = kubectlRpf(cluster, [...flags, 'web-1', `8080:${service.port}`]);
  t.teardown(() => {
    if (run.child.exitCode === null) run.child.kill('SIGKILL');
  });
  return { service, agent, run };
}

test('SIGINT ends a running forward cleanly with exit code 0 and nothing on stderr', async (t) => {
  const { service, agent, run } = await forwarding(t);
  // The Forwarding and Handling lines are the CLI's stdout, a user contract: their text is asserted.
  t.deepEqual(await run.stdoutLines(2), [
    `Forwarding from 127.0.0.1:8080 in pod default/web-1 -> localhost:${service.port}`,
    `Forwarding from [::1]:8080 in pod default/web-1 -> localhost:${service.port}`,
  ]);
  const end = await agent;
  const channel = end.connect(8080);
  await once(channel, 'accepted');
  t.deepEqual((await run.stdoutLines(3))[2], 'Handling connection for 8080');
  const agentClosed = once(end.session, 'close');
  run.child.kill('SIGINT');
  t.is(await run.exited, 0);
  t.deepEqual(await agentClosed, [undefined]);
  t.is(run.err(), '');
});

test('with --reconnect=false a lost tunnel is one error line on stderr and exit code 1', async (t) => {
  const { agent, run } = await forwarding(t, ['--reconnect=false']);
  await run.stdoutLines(2);
  (await agent).ws.terminate();
  t.is(await run.exited, 1);
  const lines = run.err().split('\n').filter(Boolean);
  t.is(lines.length, 1);
  // The one `error:` line is the CLI's contract with its user: its text is asserted.
  t.true(lines[0]?.startsWith("error: lost connection to the pod's reverse port-forward: "));
});

test('a lost tunnel is reported once on stderr and reconnected: the Forwarding lines come again, and Ctrl-C still exits 0', async (t) => {
  const { service, agent, run } = await forwarding(t);
  await run.stdoutLines(2);
  const first = await agent;
  const next = new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (run.out().split('\n').filter((l) => l.startsWith('Forwarding from')).length === 4) {
        clearInterval(timer);
        resolve();
      }
    }, 20);
  });
  first.ws.terminate();
  await next;
  // The lines are the CLI's contract with its user: their text is asserted.
  t.deepEqual(run.out().split('\n').filter(Boolean).slice(2), [
    `Forwarding from 127.0.0.1:8080 in pod default/web-1 -> localhost:${service.port}`,
    `Forwarding from [::1]:8080 in pod default/web-1 -> localhost:${service.port}`,
  ]);
  t.regex(run.err(), /^lost connection to the pod's reverse port-forward: .*; reconnecting\n$/);
  t.is(run.child.exitCode, null);
  run.child.kill('SIGINT');
  t.is(await run.exited, 0);
});

test('a pod that goes away (GOAWAY POD_GONE) is one error line naming the pod and exit code 1', async (t) => {
  const { service, agent, run } = await forwarding(t);
  await run.stdoutLines(2);
  (await agent).session.close(GOAWAY_REASON.POD_GONE, 'pod default/web-1 is gone (deleted or stopped)');
  t.is(await run.exited, 1);
  // The one `error:` line is the CLI's contract with its user: its text is asserted.
  t.deepEqual(run.err().split('\n').filter(Boolean), ["error: lost connection to the pod's reverse port-forward: pod default/web-1 is gone (deleted or stopped)"]);
});

test('a refused upgrade is one error line with the Status message and exit code 1', async (t) => {
  const message = 'error creating reverse port-forward listener: port 8080 already in use';
  const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'Conflict', code: 409 });
  const cluster = await fakeCluster({ refuse: { status: 409, body } });
  t.teardown(() => cluster.close());
  const run = kubectlRpf(cluster, ['web-1', '8080:3000']);
  t.is(await run.exited, 1);
  t.is(run.out(), '');
  // The one `error:` line, KEP-5695's message verbatim: a user contract.
  t.is(run.err(), `error: ${message}\n`);
});

test('an older Node.js on PATH is one error line naming the version needed, exit code 1', async (t) => {
  // process.version made to read v20.11.1 before main runs, as under Node 20.
  const olderNode = `data:text/javascript,Object.defineProperty(process, 'version', { value: 'v20.11.1' })`;
  const child = spawn(process.execPath, ['--import', olderNode, main, '--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = await once(child, 'exit');
  t.is(code, 1);
  t.is(stdout, '');
  // The one `error:` line, naming the version needed: a user contract.
  t.regex(stderr, /^error: kubectl-rpf needs Node\.js 22\.12 or newer; \S+ is v20\.11\.1\n$/);
});
