// New-connection latency: connect in the caller to the first byte back from
// the service, one connection at a time. Through kube-rpf that is the agent's
// accept, OPEN through the tunnel, the client's local dial, OPEN_OK, and the
// first DATA back.
import { buildMetric } from './lib/results.ts';
import { eachRound, type BenchContext, type Scenario } from './lib/scenario.ts';

/** The new-connection scenario. */
export const connect: Scenario = {
  id: 'connect',
  title: 'New-connection latency',
  async run(ctx: BenchContext) {
    const count = ctx.options.quick ? 100 : 500;
    const detail: Record<string, unknown[]> = {};
    const collected = await eachRound(ctx, ctx.options.rounds, async (path) => {
      const result = await path.run('connect', { count }, 120_000);
      if (result.error) return result.error;
      (detail[path.id] ??= []).push(result);
      return { p50: result.p50 as number, p99: result.p99 as number };
    });
    return {
      title: this.title,
      method: `${count} connections one after another, each timed from connect() in the caller to the first byte the service sends back; p50 and p99 per run, ${ctx.options.rounds} runs.`,
      metrics: {
        p50: buildMetric('connect to first byte p50', 'ms', 'lower', collected.runs.p50 ?? {}, collected.failures),
        p99: buildMetric('connect to first byte p99', 'ms', 'lower', collected.runs.p99 ?? {}, collected.failures),
      },
      detail,
    };
  },
};
