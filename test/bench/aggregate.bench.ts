// Aggregate throughput of 16 concurrent connections from the pod to this
// machine: many streams sharing one tunnel (kube-rpf, kubectl port-forward,
// ssh -R) against 16 independent TCP connections (relay, direct).
import { buildMetric } from './lib/results.ts';
import { eachRound, type BenchContext, type Scenario } from './lib/scenario.ts';

const CONNECTIONS = 16;

/** The aggregate scenario. */
export const aggregate: Scenario = {
  id: 'aggregate',
  title: 'Aggregate throughput, 16 connections',
  async run(ctx: BenchContext) {
    const bytes = (ctx.options.quick ? 8 : 64) * 1024 ** 2;
    const collected = await eachRound(ctx, ctx.options.rounds, async (path) => {
      const result = await path.run('bulk', { bytes, connections: CONNECTIONS, direction: path.direction('pod-to-machine') }, 240_000);
      return result.error ?? { 'pod-to-machine': result.mbps as number };
    });
    return {
      title: this.title,
      method: `${CONNECTIONS} concurrent connections, ${bytes / 1024 ** 2} MiB each from the pod side to this machine (${(CONNECTIONS * bytes) / 1024 ** 3} GiB in all), from the first connect to the last confirmation; ${ctx.options.rounds} rounds.`,
      metrics: {
        'pod-to-machine': buildMetric('16 connections, pod -> machine', 'MB/s', 'higher', collected.runs['pod-to-machine'] ?? {}, collected.failures),
      },
      detail: { connections: CONNECTIONS, bytesEach: bytes },
    };
  },
};
