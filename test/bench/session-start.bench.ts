// Session start: from launching the command to the line that says the
// forward is ready. kube-rpf: `kubectl rpf` (kubectl's plugin dispatch, Node
// start-up, kubeconfig, pod lookup, the WebSocket upgrade through
// kube-apiserver and rpf-server, the agent opening listeners in the pod's
// netns) to "Forwarding from". kubectl port-forward to its "Forwarding from",
// ssh -R to sshd's "Allocated port", and the Node relay from `node` to
// listening, for scale. Direct TCP has no session.
import { execFile } from 'node:child_process';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { hostTarget } from '../../release/single-executable.ts';
import { adminKubeconfig, repoRoot } from '../e2e/helpers/cluster.ts';
import { PLUGIN_PREFIX } from './lib/bench-cluster.ts';
import { startKubectlPortForward, startKubectlRpf, startLocal } from './lib/paths.ts';
import { startProcess } from './lib/processes.ts';
import { buildMetric, type PathId } from './lib/results.ts';
import type { BenchContext, Scenario } from './lib/scenario.ts';
import { startSshForward } from './lib/sshd.ts';
import { median, percentile, rotate } from './lib/stats.ts';

const execFileAsync = promisify(execFile);

type Starter = () => Promise<{ stop(): Promise<void> }>;

/** Wall time of `node ARGS` run to its end, in ms. */
async function timeNode(args: string[]): Promise<number> {
  const t0 = performance.now();
  await execFileAsync(process.execPath, args, { cwd: repoRoot });
  return performance.now() - t0;
}

/** Wall time of a command run to its end, in ms. */
async function timeCommand(file: string, args: string[], env?: NodeJS.ProcessEnv): Promise<number> {
  const t0 = performance.now();
  await execFileAsync(file, args, env === undefined ? {} : { env });
  return performance.now() - t0;
}

/** The parts of the client's start-up that are not the network: kubectl's plugin dispatch, Node itself, loading kube-rpf's CLI, and loading @kubernetes/client-node (for comparison). */
async function startupParts(runs: number): Promise<{
  nodeMs: number;
  clientNodeImportMs: number;
  clientNodeImportRssBytes: number;
  kubectlPluginVersionMs: number;
  kubectlDispatchMs: number;
  clientVersionMs: number;
}> {
  const node: number[] = [];
  const imports: number[] = [];
  const version: number[] = [];
  const dispatch: number[] = [];
  const bareVersion: number[] = [];
  // A plugin that exits at once: what kubectl costs before any plugin's first line.
  const noopDir = await mkdtemp(path.join(os.tmpdir(), 'rpf-bench-noop-'));
  await writeFile(path.join(noopDir, 'kubectl-rpfbenchnoop'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  const pluginEnv = { ...process.env, PATH: `${path.join(PLUGIN_PREFIX, 'bin')}:${noopDir}:${process.env.PATH}` };
  try {
    for (let i = 0; i < runs; i++) {
      node.push(await timeNode(['-e', '0']));
      imports.push(await timeNode(['--input-type=module', '-e', "await import('@kubernetes/client-node')"]));
      version.push(await timeCommand('kubectl', ['rpf', '--version'], pluginEnv));
      dispatch.push(await timeCommand('kubectl', ['rpfbenchnoop'], pluginEnv));
      bareVersion.push(await timeCommand(process.execPath, [path.join(PLUGIN_PREFIX, 'lib/node_modules/kube-rpf/dist/client/main.js'), '--version']));
    }
  } finally {
    await rm(noopDir, { recursive: true, force: true });
  }
  const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', "await import('@kubernetes/client-node'); console.log(process.memoryUsage().rss)"], { cwd: repoRoot });
  return {
    nodeMs: median(node),
    clientNodeImportMs: median(imports),
    clientNodeImportRssBytes: Number(stdout.trim()),
    kubectlPluginVersionMs: median(version),
    kubectlDispatchMs: median(dispatch),
    clientVersionMs: median(bareVersion),
  };
}

/** The directory holding this machine's kubectl-rpf single executable, built if stale and unpacked from dist/release, or undefined when there is none. */
async function unpackExecutable(): Promise<string | undefined> {
  const target = hostTarget();
  if (target === undefined) return undefined;
  const archive = path.join(repoRoot, 'dist/release', `kubectl-rpf-${target.os}-${target.arch}.tar.gz`);
  // Built from this tree unless dist/release is newer than its inputs.
  await execFileAsync(process.execPath, [path.join(repoRoot, 'release/build.ts'), '--if-stale'], { cwd: repoRoot }).catch(() => {});
  try {
    await access(archive);
  } catch {
    return undefined;
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rpf-bench-executable-'));
  await execFileAsync('tar', ['-xzf', archive, '-C', dir]);
  return dir;
}

/** Starts a kubectl-rpf command and resolves once it prints its first Forwarding line; stopped with SIGINT, as Ctrl-C. */
async function startUntilForwarding(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ stop(): Promise<void> }> {
  const s = startProcess(file, args, { env });
  try {
    await s.waitForLine(/^Forwarding from 127\.0\.0\.1:\d+ in pod /, 30_000);
  } catch (error) {
    await s.stop('SIGKILL');
    throw error;
  }
  return { stop: () => s.stop('SIGINT') };
}

/** The session-start scenario. */
export const sessionStart: Scenario = {
  id: 'session-start',
  title: 'Session start',
  async run(ctx: BenchContext) {
    const runs = ctx.options.quick ? 5 : 20;
    const { cluster, pathSet } = ctx;
    const localPort = pathSet.localServicePort;
    // The client without kubectl in front, to tell plugin dispatch from our own start-up.
    const bareClient = path.join(PLUGIN_PREFIX, 'lib/node_modules/kube-rpf/dist/client/main.js');
    // The single executable (npm run dist), as krew installs it: kubectl rpf finds it first on PATH.
    const executableDir = await unpackExecutable();
    if (executableDir === undefined) ctx.log('  no dist/release archive for this machine: the single executable is not timed (npm run dist)');
    const rpfArgs = ['-n', cluster.namespace, cluster.pod, `0:${localPort}`];
    const starters: Array<[PathId | 'kubectl-rpf-bare' | 'kubectl-rpf-executable', Starter]> = [
      ['kube-rpf', async () => {
        const s = await startKubectlRpf(cluster, localPort);
        return { stop: () => s.process.stop('SIGINT') };
      }],
      ['kubectl-port-forward', async () => {
        const s = await startKubectlPortForward(cluster);
        return { stop: () => s.process.stop() };
      }],
      ['ssh-r', async () => {
        const s = await startSshForward(pathSet.sshd, localPort);
        return { stop: () => s.process.stop() };
      }],
      ['node-relay', async () => {
        const s = await startLocal(['relay', '0', '127.0.0.1', String(localPort)]);
        return { stop: () => s.process.stop() };
      }],
      ['kubectl-rpf-bare', () => startUntilForwarding(process.execPath, [bareClient, ...rpfArgs], { ...process.env, KUBECONFIG: adminKubeconfig })],
      ...(executableDir === undefined
        ? []
        : [['kubectl-rpf-executable', () =>
            startUntilForwarding('kubectl', ['rpf', ...rpfArgs], { ...process.env, PATH: `${executableDir}:${process.env.PATH}`, KUBECONFIG: adminKubeconfig }),
          ] as [PathId | 'kubectl-rpf-bare' | 'kubectl-rpf-executable', Starter]]),
    ];
    const samples: Record<string, number[]> = {};
    const failures: Partial<Record<PathId, string[]>> = {};
    for (let i = 0; i < runs; i++) {
      for (const [id, start] of rotate(starters, i)) {
        const t0 = performance.now();
        try {
          const session = await start();
          (samples[id] ??= []).push(performance.now() - t0);
          await session.stop();
        } catch (error) {
          if (id !== 'kubectl-rpf-bare' && id !== 'kubectl-rpf-executable') (failures[id] ??= []).push(`start ${i + 1}: ${(error as Error).message.split('\n')[0]}`);
        }
      }
    }
    const parts = await startupParts(ctx.options.quick ? 3 : 5);
    ctx.log(
      `  start-up parts: kubectl plugin dispatch ${parts.kubectlDispatchMs.toFixed(0)} ms, node -e 0 ${parts.nodeMs.toFixed(0)} ms, node main.js --version ${parts.clientVersionMs.toFixed(0)} ms, import @kubernetes/client-node ${parts.clientNodeImportMs.toFixed(0)} ms, kubectl rpf --version ${parts.kubectlPluginVersionMs.toFixed(0)} ms`,
    );
    for (const [id, values] of Object.entries(samples)) {
      ctx.log(`  ${id}: p50=${percentile(values, 50).toFixed(0)} p99=${percentile(values, 99).toFixed(0)} ms`);
    }
    const p = (q: number) =>
      Object.fromEntries(Object.entries(samples).filter(([id]) => id !== 'kubectl-rpf-bare' && id !== 'kubectl-rpf-executable').map(([id, v]) => [id, [percentile(v, q)]]));
    const p50 = buildMetric('launch to ready p50', 'ms', 'lower', p(50), failures);
    const p99 = buildMetric('launch to ready p99', 'ms', 'lower', p(99), failures);
    // min and max over all starts, not over the single percentile.
    for (const metric of [p50, p99]) {
      for (const [id, figure] of Object.entries(metric.paths)) {
        const values = samples[id] ?? [];
        if (values.length > 0) {
          figure.min = Math.min(...values);
          figure.max = Math.max(...values);
        }
      }
    }
    return {
      title: this.title,
      method: `${runs} starts per path, alternating, each timed from spawning the command to its ready line, then stopped (SIGINT for kubectl rpf) before the next; p50 and p99 over the starts, min and max of all starts. kubectl rpf goes through kubectl's plugin dispatch, as users run it. Also timed, for the analysis: the client started without kubectl (node dist/client/main.js), the single executable of npm run dist behind kubectl (as krew installs it), kubectl running a plugin that exits at once (its dispatch alone), node -e 0, node dist/client/main.js --version (Node plus loading the CLI), a process that only imports @kubernetes/client-node, and kubectl rpf --version.`,
      metrics: { p50, p99 },
      detail: {
        samplesMs: samples,
        startupParts: parts,
        bareClient: samples['kubectl-rpf-bare'] ? { p50: percentile(samples['kubectl-rpf-bare'], 50), p99: percentile(samples['kubectl-rpf-bare'], 99) } : undefined,
        executable: samples['kubectl-rpf-executable'] ? { p50: percentile(samples['kubectl-rpf-executable'], 50), p99: percentile(samples['kubectl-rpf-executable'], 99) } : undefined,
      },
    };
  },
};
