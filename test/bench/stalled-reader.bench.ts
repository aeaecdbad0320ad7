// One stalled reader next to 15 busy streams: 15 connections move data from
// the pod side to this machine while a 16th pushes towards a reader that
// never reads. With per-stream flow control the stalled stream fills its own
// window and nothing else; without it, it can hold up the whole tunnel.
import type { BenchPath } from './lib/paths.ts';
import { buildMetric } from './lib/results.ts';
import { eachRound, type BenchContext, type Outcome, type Scenario } from './lib/scenario.ts';

const BUSY = 15;

async function oneRun(path: BenchPath, bytes: number): Promise<Outcome> {
  const direction = path.direction('pod-to-machine');
  const values: Record<string, number> = {};
  // Without the stalled reader first: its duration bounds how long the run with it may take.
  let timeoutMs = 90_000;
  for (const stall of [false, true]) {
    const result = await path.run('bulk', { bytes, connections: BUSY, direction, stall }, timeoutMs);
    if (result.error) {
      // eachRound restarts the tunnel after a failure: one that froze is not trusted for the next run.
      return { values, error: `${stall ? 'with' : 'without'} the stalled reader: ${result.error}` };
    }
    values[stall ? 'with' : 'without'] = result.mbps as number;
    // Ten times as long as without it (at least 20 s) is a frozen tunnel, not a slower one.
    timeoutMs = Math.round(Math.min(90_000, Math.max(20_000, 10 * (result.ms as number))));
  }
  // After a stall the tunnel is restarted anyway, so no later run inherits a wedged stream.
  await path.recover();
  values.cost = (1 - values.with! / values.without!) * 100;
  return values;
}

/** The stalled-reader scenario. */
export const stalledReader: Scenario = {
  id: 'stalled-reader',
  title: 'One stalled reader next to 15 busy streams',
  async run(ctx: BenchContext) {
    const bytes = (ctx.options.quick ? 4 : 32) * 1024 ** 2;
    const collected = await eachRound(ctx, ctx.options.rounds, (path) => oneRun(path, bytes));
    const metric = (id: string, title: string, unit: string, better: 'higher' | 'lower') =>
      buildMetric(title, unit, better, collected.runs[id] ?? {}, collected.failures);
    return {
      title: this.title,
      method: `${BUSY} connections move ${bytes / 1024 ** 2} MiB each from the pod side to this machine, alone and then next to a 16th connection whose receiver never reads (it starts 1 s earlier so that it has filled every buffer it can); throughput of the ${BUSY} and the cost of the stalled one, 1 - with/without. A run with the stalled reader that takes ten times as long as without it (at least 20 s) counts as frozen and fails; the tunnel is restarted after every run. ${ctx.options.rounds} rounds.`,
      metrics: {
        without: metric('without', `${BUSY} busy streams alone`, 'MB/s', 'higher'),
        with: metric('with', `${BUSY} busy streams + 1 stalled`, 'MB/s', 'higher'),
        cost: metric('cost', 'throughput lost to the stalled reader', '%', 'lower'),
      },
      detail: { busy: BUSY, bytesEach: bytes },
    };
  },
};
