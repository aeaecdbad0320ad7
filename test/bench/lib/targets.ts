// Issue 5's and issue 9's targets, checked against a run's figures. `met: null` when the
// figures needed are missing (a scenario skipped or failed).
import { bulkCpuProfile } from './results.ts';
import type { Metric, PathId, Results, TargetCheck } from './results.ts';
import { formatNumber } from './scenario.ts';

function fig(results: Results, scenario: string, metric: string): Metric | undefined {
  return results.scenarios[scenario]?.metrics[metric];
}

function med(metric: Metric | undefined, path: PathId): number | undefined {
  const value = metric?.paths[path]?.median;
  return value !== undefined && Number.isFinite(value) ? value : undefined;
}

/** kube-rpf's throughput against another path's, at least `factor` times it. */
function throughputAtLeast(target: string, rpf: number | undefined, other: number | undefined, factor = 1): TargetCheck {
  return {
    target,
    met: rpf === undefined || other === undefined ? null : rpf >= factor * other,
    figure: rpf === undefined || other === undefined ? 'missing' : `${formatNumber(rpf)} vs ${formatNumber(other)} MB/s (${(rpf / other).toFixed(2)}x)`,
  };
}

/** kube-rpf's latency no worse than kubectl port-forward's. */
function latencyNoWorse(target: string, metric: Metric | undefined): TargetCheck {
  const rpf = med(metric, 'kube-rpf');
  const pf = med(metric, 'kubectl-port-forward');
  return {
    target,
    met: rpf === undefined || pf === undefined ? null : rpf <= pf,
    figure: rpf === undefined || pf === undefined ? 'missing' : `${formatNumber(rpf)} vs ${formatNumber(pf)} µs`,
  };
}

function failedRuns(metric: Metric | undefined, path: PathId): number {
  return metric?.paths[path]?.failures?.length ?? 0;
}

const cpuSeconds = (ms: number): string => (ms / 1000).toFixed(2);

/** Issue 9's targets: kube-rpf at least as fast as kubectl port-forward, each Node.js hop within its CPU budget. */
function dataPlaneTargets(results: Results): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const flow of ['pod-to-machine', 'machine-to-pod']) {
    const label = flow.replace(/-/g, ' ');
    const metric = fig(results, 'bulk', flow);
    checks.push(throughputAtLeast(`bulk ${label}: kube-rpf >= 1.0x kubectl port-forward (issue 9)`, med(metric, 'kube-rpf'), med(metric, 'kubectl-port-forward')));
    const budgets: Array<[string, number]> = [
      ['rpf-server', 2000],
      ['rpf-agent', 2500],
      ['kubectl rpf', 2500],
    ];
    const spent = budgets.map(([name, budget]) => [name, budget, bulkCpuProfile(results, 'kube-rpf', flow)?.[name]] as const);
    const missing = spent.some(([, , ms]) => ms === undefined);
    checks.push({
      target: `bulk ${label}: CPU-s/GiB rpf-server <= 2.0, rpf-agent <= 2.5, kubectl rpf <= 2.5 (issue 9)`,
      met: missing ? null : spent.every(([, budget, ms]) => ms! <= budget),
      figure: missing ? 'missing' : spent.map(([name, , ms]) => `${name} ${cpuSeconds(ms!)}`).join(', '),
    });
    const apiRpf = bulkCpuProfile(results, 'kube-rpf', flow)?.['kube-apiserver'];
    const apiPf = bulkCpuProfile(results, 'kubectl-port-forward', flow)?.['kube-apiserver'];
    checks.push({
      target: `bulk ${label}: kube-apiserver's CPU-s/GiB on kube-rpf's path <= on kubectl port-forward's (issue 9)`,
      met: apiRpf === undefined || apiPf === undefined ? null : apiRpf <= apiPf,
      figure: apiRpf === undefined || apiPf === undefined ? 'missing' : `${cpuSeconds(apiRpf)} vs ${cpuSeconds(apiPf)}`,
    });
  }
  checks.push(latencyNoWorse('1 KiB p50 latency: kube-rpf no worse than kubectl port-forward (issue 9)', fig(results, 'latency', 'p50')));
  const aggregate = fig(results, 'aggregate', 'pod-to-machine');
  checks.push(throughputAtLeast('16-connection aggregate: kube-rpf >= 1.0x kubectl port-forward (issue 9)', med(aggregate, 'kube-rpf'), med(aggregate, 'kubectl-port-forward')));
  return checks;
}

/** Checks every target of issues 5 and 9. */
export function checkTargets(results: Results): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const flow of ['pod-to-machine', 'machine-to-pod']) {
    const metric = fig(results, 'bulk', flow);
    const rpf = med(metric, 'kube-rpf');
    const pf = med(metric, 'kubectl-port-forward');
    const ssh = med(metric, 'ssh-r');
    const label = flow.replace(/-/g, ' ');
    checks.push(throughputAtLeast(`bulk ${label}: kube-rpf >= 2x kubectl port-forward`, rpf, pf, 2));
    checks.push(throughputAtLeast(`bulk ${label}: kube-rpf >= ssh -R`, rpf, ssh));
  }
  checks.push(latencyNoWorse('1 KiB p99 latency: kube-rpf no worse than kubectl port-forward', fig(results, 'latency', 'p99')));
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
  return [...checks, ...dataPlaneTargets(results)];
}
