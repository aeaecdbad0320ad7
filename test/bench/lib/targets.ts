// Issue 5's targets, checked against a run's figures. `met: null` when the
// figures needed are missing (a scenario skipped or failed).
import type { Metric, PathId, Results, TargetCheck } from './results.ts';
import { formatNumber } from './scenario.ts';

function fig(results: Results, scenario: string, metric: string): Metric | undefined {
  return results.scenarios[scenario]?.metrics[metric];
}

function med(metric: Metric | undefined, path: PathId): number | undefined {
  const value = metric?.paths[path]?.median;
  return value !== undefined && Number.isFinite(value) ? value : undefined;
}

function failedRuns(metric: Metric | undefined, path: PathId): number {
  return metric?.paths[path]?.failures?.length ?? 0;
}

/** Checks every target of issue 5. */
export function checkTargets(results: Results): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const flow of ['pod-to-machine', 'machine-to-pod']) {
    const metric = fig(results, 'bulk', flow);
    const rpf = med(metric, 'kube-rpf');
    const pf = med(metric, 'kubectl-port-forward');
    const ssh = med(metric, 'ssh-r');
    const label = flow.replace(/-/g, ' ');
    checks.push({
      target: `bulk ${label}: kube-rpf >= 2x kubectl port-forward`,
      met: rpf === undefined || pf === undefined ? null : rpf >= 2 * pf,
      figure: rpf === undefined || pf === undefined ? 'missing' : `${formatNumber(rpf)} vs ${formatNumber(pf)} MB/s (${(rpf / pf).toFixed(2)}x)`,
    });
    checks.push({
      target: `bulk ${label}: kube-rpf >= ssh -R`,
      met: rpf === undefined || ssh === undefined ? null : rpf >= ssh,
      figure: rpf === undefined || ssh === undefined ? 'missing' : `${formatNumber(rpf)} vs ${formatNumber(ssh)} MB/s (${(rpf / ssh).toFixed(2)}x)`,
    });
  }
  {
    const metric = fig(results, 'latency', 'p99');
    const rpf = med(metric, 'kube-rpf');
    const pf = med(metric, 'kubectl-port-forward');
    checks.push({
      target: '1 KiB p99 latency: kube-rpf no worse than kubectl port-forward',
      met: rpf === undefined || pf === undefined ? null : rpf <= pf,
      figure: rpf === undefined || pf === undefined ? 'missing' : `${formatNumber(rpf)} vs ${formatNumber(pf)} µs`,
    });
  }
  {
    const rpf = med(fig(results, 'session-start', 'p99'), 'kube-rpf');
    checks.push({
      target: 'session start p99 <= 200 ms',
      met: rpf === undefined ? null : rpf <= 200,
      figure: rpf === undefined ? 'missing' : `${formatNumber(rpf)} ms`,
    });
  }
  {
    const failed = fig(results, 'connections', 'failed');
    const runs = failed?.paths['kube-rpf']?.runs ?? [];
    const broken = failedRuns(failed, 'kube-rpf');
    checks.push({
      target: '1,000 concurrent connections in one session, all clean',
      met: runs.length === 0 && broken === 0 ? null : broken === 0 && runs.every((v) => v === 0),
      figure: runs.length === 0 ? (broken ? `${broken} runs failed` : 'missing') : `${runs.join(', ')} of 1,000 failed per run`,
    });
    const client = med(fig(results, 'connections', 'rss-client'), 'kube-rpf');
    const agent = med(fig(results, 'connections', 'rss-far'), 'kube-rpf');
    checks.push({
      target: '<= 64 KiB resident memory per idle connection, agent and client',
      met: client === undefined || agent === undefined ? null : client <= 64 && agent <= 64,
      figure: client === undefined || agent === undefined ? 'missing' : `agent ${formatNumber(agent)} KiB, client ${formatNumber(client)} KiB per held connection`,
    });
  }
  {
    const cost = fig(results, 'stalled-reader', 'cost');
    const rpf = med(cost, 'kube-rpf');
    const broken = failedRuns(cost, 'kube-rpf');
    checks.push({
      target: 'a stalled reader costs the other 15 streams < 10% throughput',
      met: broken > 0 ? false : rpf === undefined ? null : rpf < 10,
      figure: broken > 0 ? `${broken} runs failed` : rpf === undefined ? 'missing' : `${formatNumber(rpf)}% lost`,
    });
  }
  return checks;
}
