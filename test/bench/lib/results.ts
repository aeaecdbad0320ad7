// The shape of .bench/results.json, shared by the runner (which writes it)
// and the docs generator (which reads it), and how a metric is summarized.
import { median, summarize } from './stats.ts';

/** The five paths every scenario measures. */
export const PATH_IDS = ['kube-rpf', 'kubectl-port-forward', 'ssh-r', 'node-relay', 'direct'] as const;

/** One of {@link PATH_IDS}. */
export type PathId = (typeof PATH_IDS)[number];

/** How each path is named in tables. */
export const PATH_LABELS: Record<PathId, string> = {
  'kube-rpf': 'kube-rpf',
  'kubectl-port-forward': 'kubectl port-forward',
  'ssh-r': 'ssh -R',
  'node-relay': 'Node relay',
  direct: 'direct TCP',
};

/** One path's figures for one metric. */
export interface PathFigure {
  /** One value per run (a run that failed contributes nothing here, and a line to `failures`). */
  runs: number[];
  median: number;
  min: number;
  max: number;
  /** median / kubectl port-forward's median. */
  vsKubectlPortForward?: number;
  /** median / direct TCP's median. */
  vsDirect?: number;
  /** Why runs failed, one line each. */
  failures?: string[];
}

/** One figure measured on every path. */
export interface Metric {
  title: string;
  unit: string;
  /** Whether a higher figure is the better one. */
  better: 'higher' | 'lower';
  paths: Partial<Record<PathId, PathFigure>>;
}

/** What a scenario returns. */
export interface ScenarioResult {
  title: string;
  /** What exactly was measured, for the docs. */
  method: string;
  metrics: Record<string, Metric>;
  /** Anything else worth keeping (CPU by process, memory before and during...). */
  detail?: unknown;
  /** Wall time of the scenario in seconds. */
  seconds?: number;
}

/** One of issue 5's targets and whether this run met it. */
export interface TargetCheck {
  target: string;
  met: boolean | null;
  figure: string;
}

/** The machine and software the run was on. */
export interface RunMeta {
  startedAt: string;
  finishedAt: string;
  command: string;
  quick: boolean;
  rounds: number;
  nproc: number;
  cpuModel: string;
  kernel: string;
  node: string;
  kubernetesServer: string;
  kubectlClient: string;
  ssh: string;
  gitCommit: string;
  /** Whether ws finds its native masking helper, bufferutil (else it masks in JavaScript). */
  wsBufferutil?: boolean;
}

/** The whole of .bench/results.json. */
export interface Results {
  meta: RunMeta;
  scenarios: Record<string, ScenarioResult>;
  targets: TargetCheck[];
}

/** Per-path runs -> figures with median, min, max and the two ratios. */
export function buildMetric(
  title: string,
  unit: string,
  better: 'higher' | 'lower',
  runs: Partial<Record<PathId, number[]>>,
  failures: Partial<Record<PathId, string[]>> = {},
): Metric {
  const paths: Partial<Record<PathId, PathFigure>> = {};
  for (const id of PATH_IDS) {
    const values = runs[id];
    const failed = failures[id] ?? [];
    if (values === undefined && failed.length === 0) continue;
    const figure: PathFigure = { runs: values ?? [], ...summarize(values ?? []) };
    if (failed.length > 0) figure.failures = failed;
    paths[id] = figure;
  }
  const base = (id: PathId) => paths[id]?.median;
  for (const figure of Object.values(paths)) {
    const pf = base('kubectl-port-forward');
    const direct = base('direct');
    if (pf !== undefined && Number.isFinite(pf) && pf !== 0) figure.vsKubectlPortForward = figure.median / pf;
    if (direct !== undefined && Number.isFinite(direct) && direct !== 0) figure.vsDirect = figure.median / direct;
  }
  return { title, unit, better, paths };
}

type CpuRuns = Partial<Record<PathId, Record<string, Array<Record<string, number>>>>>;

/** Median CPU ms per GiB by process for one path and flow of the bulk scenario; `undefined` when not measured. */
export function bulkCpuProfile(results: Results, path: PathId, flow: string): Record<string, number> | undefined {
  const runs = (results.scenarios.bulk?.detail as { cpuMsPerGiB?: CpuRuns } | undefined)?.cpuMsPerGiB?.[path]?.[flow];
  if (!runs || runs.length === 0) return undefined;
  const names = new Set(runs.flatMap((r) => Object.keys(r)));
  const out: Record<string, number> = {};
  for (const name of names) out[name] = median(runs.map((r) => r[name] ?? 0));
  return out;
}
