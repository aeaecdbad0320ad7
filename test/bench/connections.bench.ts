// 1,000 concurrent connections in one session: every connection echoes 4 KiB
// of its own random data, checked by sha256, then all stay open and idle
// while the bench reads the resident memory (VmRSS) of the processes that
// carry them; memory before (session idle, no connections) and during gives
// the cost per idle connection.
import { readFile } from 'node:fs/promises';
import { rssKiB, sumOver } from './lib/processes.ts';
import type { BenchPath } from './lib/paths.ts';
import { buildMetric, type PathId } from './lib/results.ts';
import { eachRound, type BenchContext, type Scenario } from './lib/scenario.ts';

const CONNECTIONS = 1000;
// Small, so the test itself allocates little: garbage collected during it would blur the memory figures.
const BYTES = 4 * 1024;

/** Which process groups hold a path's connections: the one on this machine and the one at the far end. */
const SIDES: Record<PathId, { client?: string[]; far?: string[] }> = {
  'kube-rpf': { client: ['kubectl rpf'], far: ['rpf-agent'] },
  // The CRI streaming server that dials into the pod is containerd's; kubelet proxies to it.
  'kubectl-port-forward': { client: ['kubectl port-forward'], far: ['kubelet', 'containerd'] },
  'ssh-r': { client: ['ssh'], far: ['sshd'] },
  'node-relay': { client: ['Node relay'] },
  direct: {},
};

async function rssOf(groups: Record<string, number[]>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [name, pids] of Object.entries(groups)) out[name] = await sumOver(pids, rssKiB);
  return out;
}

/** TcpExtListenOverflows of this machine's network namespace: connections a full accept queue dropped. */
async function listenOverflows(): Promise<number> {
  const text = await readFile('/proc/net/netstat', 'utf8');
  const lines = text.split('\n').filter((l) => l.startsWith('TcpExt:'));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  const i = names.indexOf('ListenOverflows');
  return i > 0 ? Number(values[i]) : Number.NaN;
}

async function oneRun(path: BenchPath, detail: Record<string, unknown[]>): Promise<Record<string, number> | string> {
  // A fresh tunnel process, so its memory before is not what earlier scenarios left in its heap.
  await path.recover();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const groups = await path.processes();
  const before = await rssOf(groups);
  const overflowsBefore = await listenOverflows();
  const caller = path.start('many', { connections: CONNECTIONS, bytes: BYTES, deadlineMs: 150_000 });
  let idle: { open: number; stillOpen: number; ms: number };
  try {
    const m = await caller.waitForLine(/^\{"event":"idle".*\}$/, 150_000);
    idle = JSON.parse(m[0]) as typeof idle;
  } catch (error) {
    await caller.stop('SIGKILL');
    return (error as Error).message.split('\n')[0]!;
  }
  // Let buffers drain and the heap settle a moment before reading memory.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const during = await rssOf(groups);
  const overflows = (await listenOverflows()) - overflowsBefore;
  caller.write('\n');
  caller.child.stdin?.end();
  const timer = setTimeout(() => void caller.stop('SIGKILL'), 60_000);
  await caller.exited;
  clearTimeout(timer);
  const last = caller.lines.filter((l) => l.startsWith('{') && !l.includes('"event"')).pop();
  const result = last ? (JSON.parse(last) as { clean: boolean; open: number; survived: number; mismatches: number; errors: Record<string, number>; idleMs: number }) : undefined;
  if (result === undefined) return `no result: ${caller.stderr().trim().split('\n').slice(-2).join(' | ')}`;
  const held = Math.min(idle.stillOpen, result.survived);
  const perConnection = (names: string[] | undefined) => {
    if (names === undefined || held === 0) return Number.NaN;
    const delta = names.reduce((sum, n) => sum + ((during[n] ?? 0) - (before[n] ?? 0)), 0);
    return delta / held;
  };
  (detail[path.id] ??= []).push({ rssBeforeKiB: before, rssDuringKiB: during, idle, result, listenOverflows: overflows });
  return {
    failed: CONNECTIONS - Math.min(result.open, result.survived) + result.mismatches,
    'idle-after': result.idleMs / 1000,
    ...(SIDES[path.id].client ? { 'rss-client': perConnection(SIDES[path.id].client) } : {}),
    ...(SIDES[path.id].far ? { 'rss-far': perConnection(SIDES[path.id].far) } : {}),
  };
}

/** The 1,000-connection scenario. */
export const connections: Scenario = {
  id: 'connections',
  title: '1,000 concurrent connections',
  async run(ctx: BenchContext) {
    const rounds = Math.min(ctx.options.rounds, 2);
    const detail: Record<string, unknown[]> = {};
    const collected = await eachRound(ctx, rounds, (path) => oneRun(path, detail));
    const metric = (id: string, title: string, unit: string) => buildMetric(title, unit, 'lower', collected.runs[id] ?? {}, collected.failures);
    return {
      title: this.title,
      method: `${CONNECTIONS.toLocaleString('en-US')} connections opened at once by one caller, each echoing ${BYTES / 1024} KiB of its own random data (sha256-checked), then held open and idle; VmRSS of the processes carrying them read from /proc before (a freshly started session, idle) and during (all idle, 2 s after the last echo). ${rounds} rounds. Per-connection memory is the difference divided by the connections actually held. "client side": kubectl rpf / kubectl port-forward / ssh / the relay; "far side": rpf-agent / kubelet + containerd / sshd.`,
      metrics: {
        failed: metric('failed', 'connections failed or corrupted', 'count'),
        'idle-after': metric('idle-after', 'time until all echoed', 's'),
        'rss-client': metric('rss-client', 'memory per idle connection, client side', 'KiB'),
        'rss-far': metric('rss-far', 'memory per idle connection, far side', 'KiB'),
      },
      detail: { connections: CONNECTIONS, bytesEach: BYTES, runs: detail },
    };
  },
};
