// Where kube-rpf's time goes: runs kubectl-rpf (node dist/client/main.js)
// under `--cpu-prof` and `--trace-gc` while the pod pushes bulk data through
// it, profiles rpf-server's replicas and the bench pod's rpf-agent in their
// pods through the inspector (SIGUSR1, then programs/inspect-profile.mjs in
// the pod's network namespace), and prints each process's self time by
// function and by file, its garbage collections, and the CPU every process on
// the path spent (with the share of their V8 worker threads). Not part of
// `npm run bench`; run it by hand:
//
//   node test/bench/profile.ts [--mib 512] [--flow pod-to-machine|machine-to-pod] [--no-deploy] [--no-inspect]
//
// Profiles land in .bench/profiles/ (open them in Chrome DevTools).
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { adminKubeconfig, repoRoot } from '../e2e/helpers/cluster.ts';
import { podExecArgs, prepareCluster, startBenchCluster } from './lib/bench-cluster.ts';
import { summarizeProfile } from './lib/cpu-profile.ts';
import { cpuDelta, snapshotCpu } from './lib/cpu.ts';
import { startLocal } from './lib/paths.ts';
import { startProcess } from './lib/processes.ts';

/**
 * Starts profiling a Node.js process in a pod: SIGUSR1 opens its inspector
 * on 127.0.0.1:9229 in the pod's network namespace, where
 * programs/inspect-profile.mjs connects; `stop` writes the profile to `out`
 * and returns the process's garbage collections meanwhile.
 */
async function startInspectorProfile(pid: number, out: string): Promise<{ stop(): Promise<unknown> }> {
  process.kill(pid, 'SIGUSR1');
  const child = startProcess('nsenter', ['-t', String(pid), '-n', '--', process.execPath, path.join(repoRoot, 'test/bench/programs/inspect-profile.mjs'), out], { stdin: true });
  await child.waitForLine(/^started$/, 15_000);
  return {
    async stop() {
      child.write('stop\n');
      const line = await child.waitForLine(/^\{.*\}$/, 30_000);
      await child.exited;
      return JSON.parse(line[0]);
    },
  };
}

const log = (line: string) => process.stderr.write(`[profile] ${line}\n`);

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '512' },
    flow: { type: 'string', default: 'pod-to-machine' },
    'no-deploy': { type: 'boolean', default: false },
    // Leave rpf-server and rpf-agent unprofiled (e.g. while perf samples them).
    'no-inspect': { type: 'boolean', default: false },
  },
});
const bytes = Number(values.mib) * 1024 ** 2;
const direction = values.flow === 'machine-to-pod' ? 'down' : 'up';

await prepareCluster({ deploy: !values['no-deploy'] }, log);
const cluster = await startBenchCluster(log);
const service = await startLocal(['serve', '0', '127.0.0.1']);
const dir = path.join(repoRoot, '.bench/profiles', `client-${new Date().toISOString().replace(/[:.]/g, '-')}`);
await mkdir(dir, { recursive: true });
const client = startProcess(
  process.execPath,
  ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--trace-gc', path.join(repoRoot, 'dist/client/main.js'), '-n', cluster.namespace, cluster.pod, `0:${service.port}`],
  { env: { ...process.env, KUBECONFIG: adminKubeconfig } },
);
let markCompacts = 0;
let scavenges = 0;
client.child.stdout!.on('data', (data: Buffer) => {
  const text = data.toString();
  markCompacts += text.split('Mark-Compact').length - 1;
  scavenges += text.split('Scavenge').length - 1;
});
try {
  const m = await client.waitForLine(/^Forwarding from 127\.0\.0\.1:(\d+) in pod /, 30_000);
  const port = m[1]!;
  const run = async () => {
    const exec = startProcess('kubectl', podExecArgs(cluster, ['client', 'bulk', '127.0.0.1', port, JSON.stringify({ bytes, direction, deadlineMs: 300_000 })]));
    await exec.exited;
    return exec.lines.at(-1) ?? exec.stderr();
  };
  log(`warm-up: ${await run()}`);
  const components = await cluster.componentPids();
  const inPod = values['no-inspect'] ? [] : [
    ...(components['rpf-server'] ?? []).map((pid) => ({ name: `rpf-server-${pid}`, pid })),
    ...(components['rpf-agent'] ?? []).map((pid) => ({ name: `rpf-agent-${pid}`, pid })),
  ];
  const podProfiles = await Promise.all(inPod.map(({ name, pid }) => startInspectorProfile(pid, path.join(dir, `${name}.cpuprofile`))));
  const groups = { 'kubectl-rpf (profiled)': [client.pid], ...components };
  const before = await snapshotCpu(groups);
  const gcBefore = { markCompacts, scavenges };
  log(`measured: ${await run()}`);
  const after = await snapshotCpu(groups);
  const podGcs = await Promise.all(podProfiles.map((p) => p.stop()));
  for (const [i, gc] of podGcs.entries()) process.stdout.write(`${inPod[i]!.name} garbage collections during the measured run (profiled): ${JSON.stringify(gc)}\n`);
  process.stdout.write(`client garbage collections during the measured run: ${markCompacts - gcBefore.markCompacts} mark-compact, ${scavenges - gcBefore.scavenges} scavenge\n`);
  process.stdout.write(`CPU ms per GiB (${values.flow}, the client under --cpu-prof):\n`);
  for (const [name, ms] of Object.entries(cpuDelta(before, after, 1024 ** 3 / bytes))) process.stdout.write(`  ${name.padEnd(24)} ${ms}\n`);
} finally {
  await client.stop('SIGINT', 10_000);
  await service.process.stop();
  await cluster.close();
}
const profiles = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
for (const file of profiles) {
  const summary = await summarizeProfile(path.join(dir, file));
  process.stdout.write(`\n${path.relative(repoRoot, path.join(dir, file))}: ${summary.totalMs} ms profiled\nself time by file:\n`);
  for (const row of summary.byFile) process.stdout.write(`  ${(row.share * 100).toFixed(1).padStart(5)}%  ${String(row.selfMs).padStart(6)} ms  ${row.name}\n`);
  process.stdout.write('self time by function:\n');
  for (const row of summary.byFunction) process.stdout.write(`  ${(row.share * 100).toFixed(1).padStart(5)}%  ${String(row.selfMs).padStart(6)} ms  ${row.name}\n`);
}
