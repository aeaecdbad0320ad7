// Issue 5's and issue 9's targets, checked against a run's figures. `met: null` when the
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

/** Median CPU ms per GiB of one process on one path and flow, from the bulk scenario's detail. */
function cpuMs(results: Results, path: PathId, flow: string, process: string): number | undefined {
  const runs = (results.scenarios.bulk?.detail as { cpuMsPerGiB?: Record<string, Record<string, Array<Record<string, number>>>> } | undefined)?.cpuMsPerGiB?.[path]?.[flow];
  const values = (runs ?? []).map((r) => r[process]).filter((v): v is number => v !== undefined).sort((a, b) => a - b);
  if (values.length === 0) return undefined;
  const mid = Math.floor(values.length / 2);
  return values.length % 2 === 1 ? values[mid] : (values[mid - 1]! + values[mid]!) / 2;
}

const cpuSeconds = (ms: number): string => (ms / 1000).toFixed(2);

/** Issue 9's targets: kube-rpf at least as fast as kubectl port-forward, each Node.js hop within its CPU budget. */
function dataPlaneTargets(results: Results): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const flow of ['pod-to-machine', 'machine-to-pod']) {
    const label = flow.replace(/-/g, ' ');
    const metric = fig(results, 'bulk', flow);
    const rpf = med(metric, 'kube-rpf');
    const pf = med(metric, 'kubectl-port-forward');
    checks.push({
      target: `bulk ${label}: kube-rpf >= 1.0x kubectl port-forward (issue 9)`,
      met: rpf === undefined || pf === undefined ? null : rpf >= pf,
      figure: rpf === undefined || pf === undefined ? 'missing' : `${formatNumber(rpf)} vs ${formatNumber(pf)} MB/s (${(rpf / pf).toFixed(2)}x)`,
    });
    const budgets: Array<[string, number]> = [
      ['rpf-server', 2000],
      ['rpf-agent', 2500],
      ['kubectl rpf', 2500],
    ];
    const spent = budgets.map(([name, budget]) => [name, budget, cpuMs(results, 'kube-rpf', flow, name)] as const);
    const missing = spent.some(([, , ms]) => ms === undefined);
    checks.push({
      target: `bulk ${label}: CPU-s/GiB rpf-server <= 2.0, rpf-agent <= 2.5, kubectl rpf <= 2.5 (issue 9)`,
      met: missing ? null : spent.every(([, budget, ms]) => ms! <= budget),
      figure: missing ? 'missing' : spent.map(([name, , ms]) => `${name} ${cpuSeconds(ms!)}`).join(', '),
    });
    const apiRpf = cpuMs(results, 'kube-rpf', flow, 'kube-apiserver');
    const apiPf = cpuMs(results, 'kubectl-port-forward', flow, 'kube-apiserver');
    checks.push({
      target: `bulk ${label}: kube-apiserver's CPU-s/GiB on kube-rpf's path <= on kubectl port-forward's (issue 9)`,
      met: apiRpf === undefined || apiPf === undefined ? null : apiRpf <= apiPf,
      figure: apiRpf === undefined || apiPf === undefined ? 'missing' : `${cpuSeconds(apiRpf)} vs ${cpuSeconds(apiPf)}`,
    });
  }
  {
    const metric = fig(results, 'latency', 'p50');
    const rpf = med(metric, 'kube-rpf');
    const pf = med(metric, 'kubectl-port-forward');
    checks.push({
      target: '1 KiB p50 latency: kube-rpf no worse than kubectl port-forward (issue 9)',
      met: rpf === undefined || pf === undefined ? null : rpf <= pf,
      figure: rpf === undefined || pf === undefined ? 'missing' : `${formatNumber(rpf)} vs ${formatNumber(pf)} µs`,
    });
  }
  {
    const metric = fig(results, 'aggregate', 'pod-to-machine');
    const rpf = med(metric, 'kube-rpf');
    const pf = med(metric, 'kubectl-port-forward');
    checks.push({
      target: '16-connection aggregate: kube-rpf >= 1.0x kubectl port-forward (issue 9)',
      met: rpf === undefined || pf === undefined ? null : rpf >= pf,
      figure: rpf === undefined || pf === undefined ? 'missing' : `${formatNumber(rpf)} vs ${formatNumber(pf)} MB/s (${(rpf / pf).toFixed(2)}x)`,
    });
  }
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
  return [...checks, ...dataPlaneTargets(results)];
}
