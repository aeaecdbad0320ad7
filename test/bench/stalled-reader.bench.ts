// One stalled reader next to 15 busy streams: 15 connections move data from
// the pod side to this machine while a 16th pushes towards a reader that
// never reads. With per-stream flow control the stalled stream fills its own
// window and nothing else; without it, it can hold up the whole tunnel.
import type { BenchPath } from './lib/paths.ts';
import { buildMetric } from './lib/results.ts';
import { eachRound, type BenchContext, type Outcome, type Scenario } from './lib/scenario.ts';

const BUSY = 15;

/** How long each path's 15 streams took without the stalled reader, to bound the runs with it. */
type Durations = Map<string, number>;

async function oneRun(path: BenchPath, bytes: number, round: number, durations: Durations): Promise<Outcome> {
  const direction = path.direction('pod-to-machine');
  const values: Record<string, number> = {};
  const errors: string[] = [];
  // Which goes first alternates by round, so neither gains from running second.
  for (const stall of round % 2 === 0 ? [false, true] : [true, false]) {
    // With the stalled reader: ten times as long as without (at least 20 s) is a frozen tunnel, not a slower one.
    const known = durations.get(path.id);
    const timeoutMs = stall && known !== undefined ? Math.round(Math.min(90_000, Math.max(20_000, 10 * known))) : 90_000;
    const result = await path.run('bulk', { bytes, connections: BUSY, direction, stall }, timeoutMs);
    if (result.error) {
      errors.push(`${stall ? 'with' : 'without'} the stalled reader: ${result.error}`);
    } else {
      values[stall ? 'with' : 'without'] = result.mbps as number;
      if (!stall) durations.set(path.id, result.ms as number);
    }
    // A restart after every run: none inherits a wedged or stalled stream.
    await path.recover();
  }
  if (values.with !== undefined && values.without !== undefined) values.cost = (1 - values.with / values.without) * 100;
  return errors.length > 0 ? { values, error: errors.join('; ') } : values;
}

/** The stalled-reader scenario. */
export const stalledReader: Scenario = {
  id: 'stalled-reader',
  title: 'One stalled reader next to 15 busy streams',
  async run(ctx: BenchContext) {
    const bytes = (ctx.options.quick ? 4 : 32) * 1024 ** 2;
    // Two runs a round, each a few seconds, on a busy 2-core machine: a 10% effect needs more rounds than the others to stand out of the noise.
    const rounds = ctx.options.quick ? ctx.options.rounds : Math.max(ctx.options.rounds, 5);
    const durations: Durations = new Map();
    const collected = await eachRound(ctx, rounds, (path, round) => oneRun(path, bytes, round, durations));
    const metric = (id: string, title: string, unit: string, better: 'higher' | 'lower') =>
      buildMetric(title, unit, better, collected.runs[id] ?? {}, collected.failures);
    return {
      title: this.title,
      method: `${BUSY} connections move ${bytes / 1024 ** 2} MiB each from the pod side to this machine, alone and then next to a 16th connection whose receiver never reads (it starts 1 s earlier so that it has filled every buffer it can); throughput of the ${BUSY} and the cost of the stalled one, 1 - with/without. Which of the two goes first alternates by round. A run with the stalled reader that takes ten times as long as the path's run without it (at least 20 s) counts as frozen and fails; the tunnel is restarted after every run. ${rounds} rounds; direct TCP and the Node relay, where a stalled connection cannot cost the others anything, show how large the noise is.`,
      metrics: {
        without: metric('without', `${BUSY} busy streams alone`, 'MB/s', 'higher'),
        with: metric('with', `${BUSY} busy streams + 1 stalled`, 'MB/s', 'higher'),
        cost: metric('cost', 'throughput lost to the stalled reader', '%', 'lower'),
      },
      detail: { busy: BUSY, bytesEach: bytes },
    };
  },
};
