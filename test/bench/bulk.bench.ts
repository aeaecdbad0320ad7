// Bulk throughput of one connection, in each direction: the pod sends to this
// machine (a pod uploading a build artefact, a database dump...), and this
// machine sends to the pod. The CPU every process spent is kept per GiB, to
// show which hop is the bottleneck.
import { cpuDelta, snapshotCpu } from './lib/cpu.ts';
import type { Flow } from './lib/paths.ts';
import { buildMetric, type PathId } from './lib/results.ts';
import { eachRound, type BenchContext, type Scenario } from './lib/scenario.ts';

const GiB = 1024 ** 3;
const FLOWS: Flow[] = ['pod-to-machine', 'machine-to-pod'];

/** The bulk scenario. */
export const bulk: Scenario = {
  id: 'bulk',
  title: 'Bulk throughput, one connection',
  async run(ctx: BenchContext) {
    const bytes = ctx.options.quick ? 128 * 1024 ** 2 : GiB;
    const cpu: Partial<Record<PathId, Record<Flow, Array<Record<string, number>>>>> = {};
    const collected = await eachRound(ctx, ctx.options.rounds, async (path, round) => {
      const out: Record<string, number> = {};
      // Alternate the direction too, so neither always runs on a warmer path.
      for (const flow of round % 2 === 0 ? FLOWS : [...FLOWS].reverse()) {
        const groups = await path.processes();
        const before = await snapshotCpu(groups);
        const result = await path.run('bulk', { bytes, direction: path.direction(flow) }, 240_000);
        const after = await snapshotCpu(groups);
        if (result.error) return `${flow}: ${result.error}`;
        out[flow] = result.mbps as number;
        const perGiB = cpuDelta(before, after, GiB / bytes);
        perGiB[path.callerInPod ? 'caller (pod)' : 'caller (machine)'] = Math.round((result.cpuMs ?? 0) * (GiB / bytes));
        const byFlow = (cpu[path.id] ??= { 'pod-to-machine': [], 'machine-to-pod': [] });
        byFlow[flow].push(perGiB);
      }
      return out;
    });
    return {
      title: this.title,
      method: `${bytes / 1024 ** 2} MiB through one TCP connection per run, from the caller's connect to the receiver's confirmation of the last byte; ${ctx.options.rounds} rounds, both directions in each, paths in rotating order.`,
      metrics: {
        'pod-to-machine': buildMetric('pod -> machine', 'MB/s', 'higher', collected.runs['pod-to-machine'] ?? {}, collected.failures),
        'machine-to-pod': buildMetric('machine -> pod', 'MB/s', 'higher', collected.runs['machine-to-pod'] ?? {}, collected.failures),
      },
      detail: { bytes, cpuMsPerGiB: cpu },
    };
  },
};
