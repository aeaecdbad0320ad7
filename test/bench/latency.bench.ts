// Request/response latency of a chatty protocol: 1 KiB out, the same 1 KiB
// echoed back, one at a time on one connection, with Nagle off at every
// endpoint the bench controls.
import { buildMetric } from './lib/results.ts';
import { eachRound, type BenchContext, type Scenario } from './lib/scenario.ts';

/** The latency scenario. */
export const latency: Scenario = {
  id: 'latency',
  title: '1 KiB request/response latency',
  async run(ctx: BenchContext) {
    const count = ctx.options.quick ? 2000 : 10_000;
    const detail: Record<string, unknown[]> = {};
    const collected = await eachRound(ctx, ctx.options.rounds, async (path) => {
      const result = await path.run('rr', { count, size: 1024, warmup: 500 }, 180_000);
      if (result.error) return result.error;
      (detail[path.id] ??= []).push(result);
      return { p50: result.p50 as number, p99: result.p99 as number };
    });
    return {
      title: this.title,
      method: `${count.toLocaleString('en-US')} round trips of 1 KiB each way on one connection after 500 unmeasured ones, the caller timing each; p50 and p99 per run, ${ctx.options.rounds} runs.`,
      metrics: {
        p50: buildMetric('1 KiB round trip p50', 'µs', 'lower', collected.runs.p50 ?? {}, collected.failures),
        p99: buildMetric('1 KiB round trip p99', 'µs', 'lower', collected.runs.p99 ?? {}, collected.failures),
      },
      detail,
    };
  },
};
