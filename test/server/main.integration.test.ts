import test from 'ava';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { makeTestPki } from './helpers/pki.ts';

const pki = makeTestPki();
test.after.always(() => pki.cleanup());

const MAIN = join(import.meta.dirname, '../../server/main.ts');

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

function get(url: string, ca?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith('https') ? httpsRequest : httpRequest)(url, { ...(ca === undefined ? {} : { ca, servername: 'localhost' }) }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('bad flags exit with status 2 and one line on stderr naming every problem', async (t) => {
  const child = spawn(process.execPath, [MAIN, '--secure-port=x', '--nope'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise((r) => child.on('exit', r));
  t.is(code, 2);
  t.is(stderr.trim().split('\n').length, 1);
  // The one stderr line is the operator's contract: it names every bad flag (only the names are asserted, not the wording).
  t.regex(stderr, /secure-port/);
  t.regex(stderr, /--nope/);
});

test('the server starts from flags, serves health and metrics, stays unready without the auth ConfigMap, and exits 0 on SIGTERM', async (t) => {
  const kubeconfig = join(pki.dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]',
      'users: [{name: u, user: {token: t}}]',
      'contexts: [{name: c, context: {cluster: c, user: u}}]',
      'current-context: c',
    ].join('\n'),
  );
  const [port, metricsPort] = [await freePort(), await freePort()];
  const child = spawn(
    process.execPath,
    [
      MAIN,
      `--secure-port=${port}`,
      '--bind-address=127.0.0.1',
      `--metrics-port=${metricsPort}`,
      `--kubeconfig=${kubeconfig}`,
      `--tls-cert-file=${pki.serving.certFile}`,
      `--tls-private-key-file=${pki.serving.keyFile}`,
      `--agent-ca-file=${pki.agentCa.certFile}`,
      `--agent-client-cert-file=${pki.agentClient.certFile}`,
      `--agent-client-key-file=${pki.agentClient.keyFile}`,
      '--log-level=error',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.teardown(() => child.kill('SIGKILL'));
  let health = { status: 0, body: '' };
  for (let i = 0; i < 200 && health.status !== 200; i++) {
    health = await get(`https://127.0.0.1:${port}/healthz`, pki.servingCa.cert).catch(() => ({ status: 0, body: '' }));
    if (health.status !== 200) await new Promise((r) => setTimeout(r, 25));
  }
  t.is(health.status, 200);
  t.is((await get(`https://127.0.0.1:${port}/readyz`, pki.servingCa.cert)).status, 503);
  const metrics = await get(`http://127.0.0.1:${metricsPort}/metrics`);
  t.is(metrics.status, 200);
  for (const name of ['rpf_server_sessions_active', 'rpf_server_session_requests_total', 'rpf_server_errors_total', 'rpf_server_request_duration_seconds']) {
    t.true(metrics.body.includes(name), name);
  }
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGTERM');
  t.is(await exited, 0);
});
