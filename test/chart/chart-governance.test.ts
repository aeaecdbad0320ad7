// What issue 11 added to the chart: policy.maxSessionLifetime reaches
// rpf-server as --max-session-lifetime (the schema takes only durations the
// flag takes), and rpf-server may create Events, nothing more on them.
// (Kept apart from chart.test.ts; same helm and render as there.)
import test from 'ava';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadAll } from 'js-yaml';
import { clusterDir, repoRoot, type CommandResult } from '../e2e/helpers/cluster.ts';

const chartDir = path.join(repoRoot, 'charts', 'kube-rpf');
const helmPath = path.join(clusterDir, 'bin', 'helm');
const kubeVersion = /^K8S_VERSION=v?(\d+\.\d+\.\d+)\s*$/m.exec(readFileSync(path.join(repoRoot, 'test', 'cluster', 'versions.env'), 'utf8'))?.[1] ?? '';

interface KubeObject {
  kind: string;
  metadata: { name: string };
  rules?: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
  spec?: { template?: { spec?: { containers?: { name: string; args?: string[] }[] } } };
}

function template(args: string[] = []): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(helmPath, ['template', 'kube-rpf', chartDir, '--namespace', 'kube-rpf', '--kube-version', kubeVersion, ...args], { maxBuffer: 16 * 1024 * 1024, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ stdout, stderr, code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1 });
    });
  });
}

async function render(args: string[] = []): Promise<KubeObject[]> {
  const result = await template(args);
  if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return (loadAll(result.stdout) as (KubeObject | null)[]).filter((o): o is KubeObject => o !== null && o !== undefined);
}

async function serverArgs(args: string[] = []): Promise<string[]> {
  const deployment = (await render(args)).find((o) => o.kind === 'Deployment' && o.metadata.name === 'rpf-server');
  return deployment?.spec?.template?.spec?.containers?.find((c) => c.name === 'rpf-server')?.args ?? [];
}

test('policy.maxSessionLifetime reaches rpf-server as --max-session-lifetime, 0 (no limit) by default', async (t) => {
  t.true((await serverArgs()).includes('--max-session-lifetime=0'));
  t.true((await serverArgs(['--set', 'policy.maxSessionLifetime=8h'])).includes('--max-session-lifetime=8h'));
  t.true((await serverArgs(['--set', 'policy.maxSessionLifetime=1h30m'])).includes('--max-session-lifetime=1h30m'));
  // --set turns a lone 0 into a number; the schema takes it.
  t.true((await serverArgs(['--set', 'policy.maxSessionLifetime=0'])).includes('--max-session-lifetime=0'));
});

for (const bad of ['forever', '8 hours', '3600', '5']) {
  test(`the schema refuses policy.maxSessionLifetime=${bad}`, async (t) => {
    const result = await template(['--set-string', `policy.maxSessionLifetime=${bad}`]);
    t.not(result.code, 0);
    t.regex(result.stderr, /values don't meet the specifications of the schema/);
    t.true(result.stderr.includes("at '/policy/maxSessionLifetime'"), result.stderr);
  });
}

test('rpf-server may create events.k8s.io Events and do nothing else with them', async (t) => {
  const role = (await render()).find((o) => o.kind === 'ClusterRole' && o.metadata.name === 'kube-rpf-server');
  const eventRules = (role?.rules ?? []).filter((r) => r.apiGroups.includes('events.k8s.io') || r.resources.includes('events'));
  t.deepEqual(eventRules, [{ apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create'] }]);
});
