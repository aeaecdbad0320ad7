// CPU time by process over one run: where a path spends its cycles. On a
// 2-core machine the busiest hop decides throughput, so this is the first
// thing to read when a path is slow.
import { cpuMs, sumOver } from './processes.ts';

/** CPU ms per named group of processes. */
export type CpuSnapshot = Record<string, number>;

/** Reads the CPU time of every group now. */
export async function snapshotCpu(groups: Record<string, number[]>): Promise<CpuSnapshot> {
  const out: CpuSnapshot = {};
  for (const [name, pids] of Object.entries(groups)) out[name] = await sumOver(pids, cpuMs);
  return out;
}

/** CPU ms spent per group between two snapshots, scaled to `perBytes` of traffic (e.g. per GiB). */
export function cpuDelta(before: CpuSnapshot, after: CpuSnapshot, scale = 1): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(after)) {
    const delta = value - (before[name] ?? value);
    out[name] = Math.round(delta * scale);
  }
  return out;
}
