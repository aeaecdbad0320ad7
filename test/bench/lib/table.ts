// The figures of a run as one table: a row per metric, a column per path
// (median, and min-max of the runs), then kube-rpf's ratios to kubectl
// port-forward and to direct TCP. Plain text for stdout, Markdown for the docs.
import { PATH_IDS, PATH_LABELS, type Metric, type Results } from './results.ts';
import { formatNumber } from './scenario.ts';

/** One cell: `median (min to max)`, or `failed` / `-`. */
export function cell(metric: Metric, id: (typeof PATH_IDS)[number], withRange = true): string {
  const figure = metric.paths[id];
  if (figure === undefined) return '-';
  if (figure.runs.length === 0) return figure.failures?.length ? 'failed' : '-';
  const failed = figure.failures?.length ? ` (${figure.failures.length} failed)` : '';
  if (!withRange || figure.runs.length < 2) return `${formatNumber(figure.median)}${failed}`;
  return `${formatNumber(figure.median)} (${formatNumber(figure.min)} to ${formatNumber(figure.max)})${failed}`;
}

function ratio(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '-' : `${value.toFixed(2)}x`;
}

/** Rows of the table: header first. */
export function tableRows(results: Results, withRange = true): string[][] {
  const header = ['scenario', 'metric', 'unit', ...PATH_IDS.map((id) => PATH_LABELS[id]), 'kube-rpf / port-forward', 'kube-rpf / direct'];
  const rows = [header];
  for (const [id, scenario] of Object.entries(results.scenarios)) {
    for (const metric of Object.values(scenario.metrics)) {
      const rpf = metric.paths['kube-rpf'];
      rows.push([
        id,
        metric.title,
        `${metric.unit} (${metric.better === 'higher' ? 'higher' : 'lower'} is better)`,
        ...PATH_IDS.map((p) => cell(metric, p, withRange)),
        ratio(rpf?.vsKubectlPortForward),
        ratio(rpf?.vsDirect),
      ]);
    }
  }
  return rows;
}

/** The table as aligned plain text. */
export function textTable(results: Results): string {
  const rows = tableRows(results);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

/** The table as Markdown. */
export function markdownTable(results: Results): string {
  const rows = tableRows(results);
  const escape = (c: string) => c.replace(/\|/g, '\\|');
  const lines = [`| ${rows[0]!.map(escape).join(' | ')} |`, `|${rows[0]!.map(() => '---').join('|')}|`];
  for (const r of rows.slice(1)) lines.push(`| ${r.map(escape).join(' | ')} |`);
  return lines.join('\n');
}
