// CPU time by process over one run: where a path spends its cycles. On a
// 2-core machine the busiest hop decides throughput, so this is the first
// thing to read when a path is slow.
import { cpuMs, sumOver, threadCpuMs } from './processes.ts';

/** Suffix of the pseudo-group that holds the V8 worker threads' share of a group (garbage collection, mostly). */
export const GC_SUFFIX = ' (V8 worker threads)';

/** CPU ms per named group of processes. */
export type CpuSnapshot = Record<string, number>;

/** Reads the CPU time of every group now. */
export async function snapshotCpu(groups: Record<string, number[]>): Promise<CpuSnapshot> {
  const out: CpuSnapshot = {};
  for (const [name, pids] of Object.entries(groups)) {
    out[name] = await sumOver(pids, cpuMs);
    const gc = await sumOver(pids, (pid) => threadCpuMs(pid, 'V8Worker'));
    if (gc > 0) out[`${name}${GC_SUFFIX}`] = gc;
  }
  return out;
}

/** CPU ms spent per group between two snapshots, multiplied by `scale` (e.g. to per GiB of traffic). */
export function cpuDelta(before: CpuSnapshot, after: CpuSnapshot, scale = 1): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(after)) {
    const delta = value - (before[name] ?? value);
    out[name] = Math.round(delta * scale);
  }
  return out;
}
