// runAgent (node-agent/index.ts) on real ports: the metrics server binds where
// the API does, --metrics-port=0 turns it off, and a metrics port in use is a
// clear start-up error, never an uncaught exception.
import net from 'node:net';
import { pino } from 'pino';
import test from 'ava';
import { runAgent } from '../../node-agent/index.ts';
import { buildAgentConfig, type CompletedAgentConfig } from '../../node-agent/options.ts';
import { makeTestPki, type TestPki } from '../server/helpers/pki.ts';

let pki: TestPki;
test.before(() => {
  pki = makeTestPki();
});
test.after.always(() => pki?.cleanup());

/** A completed config over the test PKI (only buildAgentConfig makes one): ephemeral API port on 127.0.0.1. */
function config(metricsPort: number): Promise<CompletedAgentConfig> {
  return buildAgentConfig([
    '--secure-port=0',
    '--bind-address=127.0.0.1',
    `--metrics-port=${metricsPort}`,
    `--tls-cert-file=${pki.agentServing.certFile}`,
    `--tls-private-key-file=${pki.agentServing.keyFile}`,
    `--client-ca-file=${pki.agentCa.certFile}`,
    '--max-sessions=10',
    '--max-sessions-per-user=10',
    '--max-connections-per-session=10',
    '--pod-check-interval-seconds=0',
  ]);
}

/** A port in use on 127.0.0.1, held until the test ends. */
async function busyPort(t: { teardown(fn: () => void): void }): Promise<number> {
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.teardown(() => holder.close());
  return (holder.address() as net.AddressInfo).port;
}

const log = pino({ level: 'silent' });

test('--metrics-port=0 starts no metrics server', async (t) => {
  const running = await runAgent(await config(0), log);
  t.teardown(() => running.close());
  t.is(running.metricsServer, undefined);
  t.true(running.agent.server.listening);
});

test('the metrics server listens on --bind-address and answers /metrics', async (t) => {
  // A free port: bound and released.
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const running = await runAgent(await config(port), log);
  t.teardown(() => running.close());
  t.like(running.metricsServer?.address(), { address: '127.0.0.1', port });
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  t.is(res.status, 200);
  t.regex(await res.text(), /rpf_agent_sessions_active/);
});

test('a metrics port in use fails the start with an error naming the flag, not an uncaught exception', async (t) => {
  const port = await busyPort(t);
  const error = await t.throwsAsync(runAgent(await config(port), log));
  // Start-up errors name their flag first (`--flag: what is wrong`), as the option checks do; main.ts prints it.
  t.true(error?.message.startsWith('--metrics-port: '));
  t.is((error?.cause as NodeJS.ErrnoException | undefined)?.code, 'EADDRINUSE');
});
