// `npm run bench`: every scenario of test/bench/*.bench.ts on the local
// cluster, every path in the same run. Never part of `npm test`.
//
//   node test/bench/run.ts [--quick] [--rounds N] [--only bulk,latency,...] [--no-deploy]
//
// Brings the cluster up and deploys the current code (both idempotent),
// installs kubectl-rpf as a kubectl plugin, starts the five paths, runs the
// scenarios, prints a table and writes .bench/results.json; `npm run
// bench:doc` turns that file into docs/benchmarks.md.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { clusterDir, kubectl, repoRoot } from '../e2e/helpers/cluster.ts';
import { aggregate } from './aggregate.bench.ts';
import { bulk } from './bulk.bench.ts';
import { connections } from './connections.bench.ts';
import { connect } from './connect.bench.ts';
import { latency } from './latency.bench.ts';
import { prepareCluster, startBenchCluster, type BenchCluster } from './lib/bench-cluster.ts';
import { startPaths, type PathSet } from './lib/paths.ts';
import type { Results, RunMeta, ScenarioResult } from './lib/results.ts';
import type { BenchContext, Scenario } from './lib/scenario.ts';
import { ensureOpenSsh } from './lib/sshd.ts';
import { textTable } from './lib/table.ts';
import { checkTargets } from './lib/targets.ts';
import { sessionStart } from './session-start.bench.ts';
import { stalledReader } from './stalled-reader.bench.ts';

const execFileAsync = promisify(execFile);

/** In the order they run: latency-sensitive ones first, memory before bulk traffic has grown any heap, the tunnel-wrecking one last. */
const SCENARIOS: Scenario[] = [sessionStart, connect, latency, connections, bulk, aggregate, stalledReader];

/** Where results go. */
export const RESULTS_FILE = path.join(repoRoot, '.bench/results.json');
/** Where a run goes whose cluster was taken away under it (results.json keeps the last good run). */
const INTERRUPTED_FILE = path.join(repoRoot, '.bench/results.interrupted.json');

/** The cluster's identity: which checkout owns it (test/cluster's marker) and its kube-apiserver's pid. */
async function clusterIdentity(): Promise<string> {
  const owner = await readFile('/run/kube-rpf/owner', 'utf8').catch(() => 'none');
  const pid = (await readFile(path.join(clusterDir, 'pids/kube-apiserver.pid'), 'utf8').catch(() => '')).trim();
  const alive = pid !== '' && (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).includes('kube-apiserver');
  return `owner ${owner.trim()}, kube-apiserver ${alive ? pid : 'not running'}`;
}

const started = Date.now();
function log(line: string): void {
  process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}\n`);
}

async function output(file: string, args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await execFileAsync(file, args, { cwd: repoRoot });
    return (stdout || stderr).trim();
  } catch (error) {
    return `unknown (${(error as Error).message.split('\n')[0]})`;
  }
}

/** Whether the project's own dependencies include `name` (as ws would find it). */
function resolvable(name: string): boolean {
  try {
    createRequire(path.join(repoRoot, 'node_modules/ws/package.json')).resolve(name);
    return true;
  } catch {
    return false;
  }
}

async function machine(quick: boolean, rounds: number): Promise<Omit<RunMeta, 'finishedAt'>> {
  const versions = await kubectl(['version', '-o', 'json']);
  let kubernetesServer = 'unknown';
  let kubectlClient = 'unknown';
  try {
    const v = JSON.parse(versions.stdout) as { serverVersion?: { gitVersion?: string }; clientVersion?: { gitVersion?: string } };
    kubernetesServer = v.serverVersion?.gitVersion ?? kubernetesServer;
    kubectlClient = v.clientVersion?.gitVersion ?? kubectlClient;
  } catch {
    // keep unknown
  }
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const npmScript = process.env.npm_lifecycle_event;
  const args = process.argv.slice(2).join(' ');
  return {
    startedAt: new Date(started).toISOString(),
    command: npmScript === 'bench' ? `npm run bench${args ? ` -- ${args}` : ''}` : `node test/bench/run.ts${args ? ` ${args}` : ''}`,
    quick,
    rounds,
    nproc: os.availableParallelism(),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? 'unknown',
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    kubernetesServer,
    kubectlClient,
    ssh: await output('ssh', ['-V']),
    gitCommit: await output('git', ['rev-parse', '--short', 'HEAD']),
    wsBufferutil: resolvable('bufferutil'),
  };
}

async function warmUp(ctx: BenchContext): Promise<void> {
  for (const p of ctx.paths) {
    for (const direction of ['up', 'down']) {
      const r = await p.run('bulk', { bytes: 16 * 1024 ** 2, direction }, 60_000);
      if (r.error) throw new Error(`warm-up of ${p.label} failed: ${r.error}`);
    }
    const r = await p.run('rr', { count: 500, warmup: 0 }, 60_000);
    if (r.error) throw new Error(`warm-up of ${p.label} failed: ${r.error}`);
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      only: { type: 'string' },
      'no-deploy': { type: 'boolean', default: false },
    },
  });
  const quick = values.quick ?? false;
  const rounds = values.rounds ? Number(values.rounds) : quick ? 1 : 3;
  if (!(rounds >= 1)) throw new Error(`--rounds must be at least 1, got ${values.rounds}`);
  const only = values.only?.split(',').map((s) => s.trim());
  const unknown = only?.filter((id) => !SCENARIOS.some((s) => s.id === id)) ?? [];
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.id).join(', ')}`);
  const scenarios = SCENARIOS.filter((s) => only === undefined || only.includes(s.id));

  await prepareCluster({ deploy: !values['no-deploy'] }, log);
  await ensureOpenSsh(log);
  const meta = await machine(quick, rounds);

  let cluster: BenchCluster | undefined;
  let pathSet: PathSet | undefined;
  const cleanup = async () => {
    await pathSet?.close();
    await cluster?.close();
  };
  const onSignal = () => {
    log('interrupted: cleaning up');
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const results: Results = { meta: { ...meta, finishedAt: '' }, scenarios: {}, targets: [] };
  let interrupted: string | undefined;
  try {
    cluster = await startBenchCluster(log);
    pathSet = await startPaths(cluster, log);
    const ctx: BenchContext = { options: { quick, rounds }, cluster, pathSet, paths: pathSet.paths, log };
    log('warm-up');
    await warmUp(ctx);
    const identity = await clusterIdentity();
    for (const scenario of scenarios) {
      // Another checkout's test run may take the machine's one cluster over (test/cluster); figures after that mean nothing.
      const now = await clusterIdentity();
      if (now !== identity) {
        interrupted = `the cluster changed under the run before ${scenario.id} (${identity} -> ${now})`;
        log(interrupted);
        break;
      }
      log(`${scenario.id}: ${scenario.title}`);
      const t0 = Date.now();
      let result: ScenarioResult;
      try {
        result = await scenario.run(ctx);
      } catch (error) {
        log(`${scenario.id} failed: ${(error as Error).stack}`);
        result = { title: scenario.title, method: `failed: ${(error as Error).message}`, metrics: {} };
      }
      result.seconds = Math.round((Date.now() - t0) / 1000);
      results.scenarios[scenario.id] = result;
      log(`${scenario.id}: ${result.seconds} s`);
    }
    const after = await clusterIdentity();
    if (interrupted === undefined && after !== identity) {
      interrupted = `the cluster changed under the run (${identity} -> ${after})`;
      log(interrupted);
    }
  } finally {
    await cleanup();
  }
  results.meta.finishedAt = new Date().toISOString();
  results.targets = checkTargets(results);
  const file = interrupted === undefined ? RESULTS_FILE : INTERRUPTED_FILE;
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);

  process.stdout.write(`\n${textTable(results)}\n\nTargets (issue 5):\n`);
  for (const t of results.targets) process.stdout.write(`  [${t.met === null ? '?' : t.met ? 'met' : 'MISSED'}] ${t.target}: ${t.figure}\n`);
  process.stdout.write(`\nwrote ${path.relative(process.cwd(), file)} in ${((Date.now() - started) / 1000).toFixed(0)} s; npm run bench:doc writes docs/benchmarks.md from ${path.relative(process.cwd(), RESULTS_FILE)}\n`);
  if (interrupted !== undefined) {
    process.stdout.write(`INTERRUPTED: ${interrupted}; ${path.relative(process.cwd(), RESULTS_FILE)} still holds the last complete run\n`);
    return 1;
  }
  return 0;
}

process.exitCode = await main().catch((error: unknown) => {
  log(`failed: ${(error as Error).stack ?? String(error)}`);
  return 1;
});
