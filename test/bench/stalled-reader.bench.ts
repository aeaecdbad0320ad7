// One stalled reader next to 15 busy streams: 15 connections move data from
// the pod side to this machine while a 16th pushes towards a reader that
// never reads. With per-stream flow control the stalled stream fills its own
// window and nothing else; without it, it can hold up the whole tunnel.
import type { BenchPath } from './lib/paths.ts';
import { buildMetric } from './lib/results.ts';
import { eachRound, type BenchContext, type Outcome, type Scenario } from './lib/scenario.ts';

const BUSY = 15;

async function oneRun(path: BenchPath, bytes: number, round: number): Promise<Outcome> {
  const direction = path.direction('pod-to-machine');
  const values: Record<string, number> = {};
  // Which goes first alternates by round.
  const order = round % 2 === 0 ? [false, true] : [true, false];
  for (const stall of order) {
    const result = await path.run('bulk', { bytes, connections: BUSY, direction, stall }, 90_000);
    if (result.error) {
      // eachRound restarts the tunnel after a failure: one that froze is not trusted for the next run.
      return { values, error: `${stall ? 'with' : 'without'} the stalled reader: ${result.error}` };
    }
    values[stall ? 'with' : 'without'] = result.mbps as number;
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
    const collected = await eachRound(ctx, ctx.options.rounds, (path, round) => oneRun(path, bytes, round));
    const metric = (id: string, title: string, unit: string, better: 'higher' | 'lower') =>
      buildMetric(title, unit, better, collected.runs[id] ?? {}, collected.failures);
    return {
      title: this.title,
      method: `${BUSY} connections move ${bytes / 1024 ** 2} MiB each from the pod side to this machine, alone and then next to a 16th connection whose receiver never reads (it starts 1 s earlier so that it has filled every buffer it can); throughput of the ${BUSY} and the cost of the stalled one, 1 - with/without. A run that does not finish within 90 s fails, and the tunnel is restarted after every run. ${ctx.options.rounds} rounds.`,
      metrics: {
        without: metric('without', `${BUSY} busy streams alone`, 'MB/s', 'higher'),
        with: metric('with', `${BUSY} busy streams + 1 stalled`, 'MB/s', 'higher'),
        cost: metric('cost', 'throughput lost to the stalled reader', '%', 'lower'),
      },
      detail: { busy: BUSY, bytesEach: bytes },
    };
  },
};
