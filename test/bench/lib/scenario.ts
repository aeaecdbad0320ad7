// What a scenario file (`test/bench/<name>.bench.ts`) exports, what it is
// given, and the loop most of them share: rounds, every path in each round,
// the starting path rotated from round to round.
import type { BenchCluster } from './bench-cluster.ts';
import type { BenchPath, PathSet } from './paths.ts';
import type { PathId, ScenarioResult } from './results.ts';
import { rotate } from './stats.ts';

/** Options of one bench run. */
export interface BenchOptions {
  /** Small sizes and few rounds, for developing the benchmarks themselves. */
  quick: boolean;
  /** Rounds of each scenario (each round measures every path once). */
  rounds: number;
}

/** What a scenario gets. */
export interface BenchContext {
  readonly options: BenchOptions;
  readonly cluster: BenchCluster;
  readonly pathSet: PathSet;
  readonly paths: BenchPath[];
  log(line: string): void;
}

/** One benchmark scenario. */
export interface Scenario {
  readonly id: string;
  readonly title: string;
  run(ctx: BenchContext): Promise<ScenarioResult>;
}

/** Runs per metric and path, and failures per path, as collected by {@link eachRound}. */
export interface Collected {
  runs: Record<string, Partial<Record<PathId, number[]>>>;
  failures: Partial<Record<PathId, string[]>>;
}

/** What one measurement gives: figures by metric, a failure, or some figures and then a failure. */
export type Outcome = Record<string, number> | string | { values: Record<string, number>; error: string };

function normalize(outcome: Outcome): { values: Record<string, number>; error?: string } {
  if (typeof outcome === 'string') return { values: {}, error: outcome };
  if (typeof outcome.error === 'string' && typeof outcome.values === 'object') return outcome as { values: Record<string, number>; error: string };
  return { values: outcome as Record<string, number> };
}

/**
 * Runs `measure` for every path in every round (the order rotated each
 * round) and collects the numbers it returns by metric; an error is a
 * failure of that run, after which the path's tunnel is restarted.
 */
export async function eachRound(
  ctx: BenchContext,
  rounds: number,
  measure: (path: BenchPath, round: number) => Promise<Outcome>,
  paths: BenchPath[] = ctx.paths,
): Promise<Collected> {
  const collected: Collected = { runs: {}, failures: {} };
  for (let round = 0; round < rounds; round++) {
    for (const path of rotate(paths, round)) {
      const mark = path.mark();
      const { values, error } = normalize(await measure(path, round));
      for (const [metric, value] of Object.entries(values)) {
        const byPath = (collected.runs[metric] ??= {});
        (byPath[path.id] ??= []).push(value);
      }
      const shown = Object.entries(values).map(([k, v]) => `${k}=${formatNumber(v)}`).join(' ');
      if (error === undefined) {
        ctx.log(`  ${path.label}: ${shown}`);
        continue;
      }
      const said = path.lastWords(mark);
      const failure = `round ${round + 1}: ${error}${said ? `; ${path.label} said: ${said}` : ''}`;
      (collected.failures[path.id] ??= []).push(failure);
      ctx.log(`  ${path.label}: ${shown} FAILED ${failure}`);
      await path.recover();
    }
  }
  return collected;
}

/** A number with about three significant digits, for logs and tables. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return '-';
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toFixed(3);
}
