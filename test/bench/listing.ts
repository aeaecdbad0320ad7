// How long `kubectl get reverseportforwards -A` takes on the local cluster
// with every node holding sessions (issue 12): rpf-server asks every agent for
// its sessions on each listing. Not part of `npm run bench`; run it by hand on
// a deployed cluster of two nodes, once per build to compare:
//
//   node test/bench/listing.ts [--sessions-per-node 3] [--kubectl-runs 30] [--api-runs 200]
//
// Two figures: the whole kubectl command as a user sees it (process start,
// discovery from kubectl's cache, one request), and the request alone, sent
// by this process to kube-apiserver over one kept-alive connection (what the
// server side costs: kube-apiserver's proxying, rpf-server listing the agent
// pods and asking each agent). Prints one JSON object.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { adminKubeconfig, clusterDir, createNamespace, deleteNamespace, nodeNames, startTestbox } from '../e2e/helpers/cluster.ts';
import { startHttpServer } from '../e2e/helpers/local-server.ts';
import { startRpf } from '../e2e/helpers/rpf.ts';
import type { RpfProcess } from '../e2e/helpers/rpf.ts';
import { listSessions } from '../e2e/helpers/sessions-list.ts';

const log = (line: string) => process.stderr.write(`[listing] ${line}\n`);
const { values } = parseArgs({
  options: {
    'sessions-per-node': { type: 'string', default: '3' },
    'kubectl-runs': { type: 'string', default: '30' },
    'api-runs': { type: 'string', default: '200' },
  },
});
const perNode = Number(values['sessions-per-node']);

function summary(ms: number[]): { p50: number; p90: number; min: number; max: number; runs: number } {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => Number(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1));
  return { p50: at(0.5), p90: at(0.9), min: at(0), max: at(1), runs: ms.length };
}

async function kubectlOnce(): Promise<number> {
  const started = process.hrtime.bigint();
  const child = spawn('kubectl', ['--kubeconfig', adminKubeconfig, 'get', 'reverseportforwards', '-A'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number];
  if (code !== 0 || stderr.includes('Warning')) throw new Error(`kubectl get reverseportforwards -A: ${code} ${stderr}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

const pki = path.join(clusterDir, 'pki');
const kubeconfig = await readFile(adminKubeconfig, 'utf8');
const server = new URL(/server: (\S+)/.exec(kubeconfig)?.[1] ?? '');
const agent = new Agent({
  keepAlive: true,
  maxSockets: 1,
  ca: await readFile(path.join(pki, 'ca.crt')),
  cert: await readFile(path.join(pki, 'admin.crt')),
  key: await readFile(path.join(pki, 'admin.key')),
});

function apiOnce(): Promise<number> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: server.hostname,
        port: Number(server.port || 443),
        path: '/apis/rpf.kube-rpf.dev/v1alpha1/reverseportforwards',
        headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' },
        agent,
      },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 && res.headers.warning === undefined ? resolve(Number(process.hrtime.bigint() - started) / 1e6) : reject(new Error(`answered ${res.statusCode} ${res.headers.warning ?? ''}`))));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const nodes = await nodeNames();
const namespace = await createNamespace('bench-listing');
const tunnels: RpfProcess[] = [];
const web = await startHttpServer('listing\n');
try {
  await Promise.all(nodes.map((node, i) => startTestbox(namespace, `pod-${i}`, 'sleep 3600', node)));
  for (let i = 0; i < nodes.length; i++) {
    for (let s = 0; s < perNode; s++) tunnels.push(await startRpf(['-n', namespace, `pod-${i}`, `${9000 + s}:${web.port}`], 1, adminKubeconfig, 60_000));
  }
  const listed = await listSessions();
  log(`${listed.rows.length} sessions on ${nodes.length} nodes: ${[...new Set(listed.rows.map((r) => r.node))].join(', ')}`);
  // Warm-up: kubectl's discovery cache, the kept connections.
  for (let i = 0; i < 3; i++) await kubectlOnce();
  for (let i = 0; i < 10; i++) await apiOnce();
  const kubectlMs: number[] = [];
  for (let i = 0; i < Number(values['kubectl-runs']); i++) kubectlMs.push(await kubectlOnce());
  const apiMs: number[] = [];
  for (let i = 0; i < Number(values['api-runs']); i++) apiMs.push(await apiOnce());
  process.stdout.write(`${JSON.stringify({ nodes: nodes.length, sessions: listed.rows.length, kubectl: summary(kubectlMs), request: summary(apiMs) })}\n`);
} finally {
  await Promise.all(tunnels.map((t) => t.stop().catch(() => t.child.kill('SIGKILL'))));
  await web.close();
  await deleteNamespace(namespace);
  agent.destroy();
}
