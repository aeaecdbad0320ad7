// The Helm chart (charts/kube-rpf): it lints, each template renders one object
// of the kind it is named for, its schema refuses bad values, kube-apiserver
// accepts everything it renders (server-side dry run against the local
// cluster: nothing changes), and apiservice.yaml at the repository root is the
// APIService it renders. The installed release is never touched.
import test from 'ava';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import { clusterDir, kubectl, repoRoot, type CommandResult } from '../e2e/helpers/cluster.ts';

const chartDir = path.join(repoRoot, 'charts', 'kube-rpf');
const helmPath = path.join(clusterDir, 'bin', 'helm');
const namespace = 'kube-rpf';
/** helm template's default Kubernetes version is old; render for the local cluster's. */
const kubeVersion = '1.34.4';

/** Every file in charts/kube-rpf/ci/, each a set of non-default values. */
const ciFiles = readdirSync(path.join(chartDir, 'ci')).filter((f) => f.endsWith('.yaml')).sort();
/** Default values first, then each ci/ file (relative to the chart). */
const valueSets: { name: string; args: string[] }[] = [
  { name: 'default values', args: [] },
  ...ciFiles.map((f) => ({ name: `ci/${f}`, args: ['--values', path.join(chartDir, 'ci', f)] })),
];
/** Every optional part turned on at once. */
const everythingOn = ['--set', 'certManager.enabled=true', '--set', 'serviceMonitor.enabled=true', '--set', 'rbac.aggregateToEdit=true'];

/** Kinds from CRDs the local cluster does not have; the server cannot check them. */
const crdKinds = new Set(['cert-manager.io/v1/Issuer', 'cert-manager.io/v1/Certificate', 'monitoring.coreos.com/v1/ServiceMonitor']);

/** A Kubernetes object as rendered, only as typed as these tests need. */
interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  [field: string]: unknown;
}

/** One document of helm's output: the template it came from, its text and its object. */
interface RenderedDocument {
  source: string;
  text: string;
  object: KubeObject;
}

/** Runs helm; never throws on a non-zero exit. */
function helm(args: string[]): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(helmPath, args, { maxBuffer: 16 * 1024 * 1024, timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ stdout, stderr, code });
    });
  });
}

/** `helm template` of the chart as release kube-rpf in namespace kube-rpf. */
function template(args: string[] = []): Promise<CommandResult> {
  return helm(['template', 'kube-rpf', chartDir, '--namespace', namespace, '--kube-version', kubeVersion, ...args]);
}

/** Renders and splits the output into documents; fails with helm's stderr if it cannot render. */
async function render(args: string[] = []): Promise<RenderedDocument[]> {
  const result = await template(args);
  if (result.code !== 0) throw new Error(`helm template ${args.join(' ')} failed: ${result.stderr.trim()}`);
  const documents: RenderedDocument[] = [];
  for (const text of result.stdout.split(/^---$/m)) {
    const source = /^# Source: kube-rpf\/(.+)$/m.exec(text)?.[1];
    const [object] = loadAllYaml(text) as (KubeObject | null | undefined)[];
    if (source === undefined || object === null || object === undefined) continue;
    documents.push({ source, text, object });
  }
  return documents;
}

function find(documents: RenderedDocument[], kind: string, name: string): KubeObject {
  const found = documents.find((d) => d.object.kind === kind && d.object.metadata.name === name);
  if (found === undefined) throw new Error(`no ${kind} ${name} rendered`);
  return found.object;
}

function objectKey(o: Pick<KubeObject, 'kind' | 'metadata'>): string {
  return `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

function typeOf(o: KubeObject): string {
  return `${o.apiVersion}/${o.kind}`;
}

/** The API versions the local cluster serves, asked once. */
let served: Promise<Set<string>> | undefined;
function servedApiVersions(): Promise<Set<string>> {
  served ??= kubectl(['api-versions']).then((r) => {
    if (r.code !== 0) throw new Error(`kubectl api-versions failed; is the local cluster up (npm run cluster:up)? ${r.stderr.trim()}`);
    return new Set(r.stdout.split('\n').filter(Boolean));
  });
  return served;
}

/** Joins documents back into one YAML stream for kubectl. */
function stream(documents: RenderedDocument[]): string {
  return documents.map((d) => d.text).join('\n---\n');
}

for (const { name, args } of valueSets) {
  test(`helm lint --strict passes with ${name}`, async (t) => {
    const result = await helm(['lint', '--strict', chartDir, '--namespace', namespace, '--kube-version', kubeVersion, ...args]);
    t.is(result.code, 0, result.stdout + result.stderr);
  });

  // Objects that exist already (the installed release) are checked with
  // `replace`, the others with `create`, both --dry-run=server: kube-apiserver
  // validates and admits each as the whole desired object. Client-side
  // `apply` would merge into objects helm created without a
  // last-applied-configuration and could report conflicts that helm's own
  // three-way merge never meets (e.g. a changed metrics port doubled).
  test(`kube-apiserver accepts every object rendered with ${name} (server-side dry run)`, async (t) => {
    const [documents, versions] = await Promise.all([render(args), servedApiVersions()]);
    const checkable = documents.filter((d) => versions.has(d.object.apiVersion));
    const unchecked = documents.filter((d) => !versions.has(d.object.apiVersion)).map((d) => typeOf(d.object));
    t.deepEqual(unchecked.filter((k) => !crdKinds.has(k)), [], 'only CRD kinds the local cluster lacks may go unchecked');
    if (unchecked.length > 0) t.log(`not served by the local cluster, not checked: ${[...new Set(unchecked)].join(', ')}`);

    const existing = await kubectl(['get', '-f', '-', '--ignore-not-found', '-o', 'json'], { input: stream(checkable) });
    t.is(existing.code, 0, existing.stderr);
    const items = existing.stdout.trim() === '' ? [] : (JSON.parse(existing.stdout) as { items: KubeObject[] }).items;
    const live = new Set(items.map(objectKey));
    const toReplace = checkable.filter((d) => live.has(objectKey(d.object)));
    const toCreate = checkable.filter((d) => !live.has(objectKey(d.object)));
    for (const [verb, batch] of [['replace', toReplace], ['create', toCreate]] as const) {
      if (batch.length === 0) continue;
      const result = await kubectl([verb, '--dry-run=server', '-f', '-'], { input: stream(batch) });
      t.is(result.code, 0, `kubectl ${verb} --dry-run=server: ${result.stderr}`);
      t.is(result.stdout.trim().split('\n').length, batch.length, result.stdout);
    }
  });
}

test('each template renders at most one object, of the kind its file is named for', async (t) => {
  const [defaults, allOn] = await Promise.all([render(), render(everythingOn)]);
  const templates = readdirSync(path.join(chartDir, 'templates')).filter((f) => f.endsWith('.yaml'));
  for (const documents of [defaults, allOn]) {
    for (const file of templates) {
      const rendered = documents.filter((d) => d.source === `templates/${file}`);
      t.true(rendered.length <= 1, `${file} renders ${rendered.length} objects`);
      for (const { object } of rendered) {
        t.is(file.replace(/\.yaml$/, '').split('-')[0], object.kind.toLowerCase(), `${file} renders a ${object.kind}`);
      }
    }
  }
  // Between the defaults and everything on, every template renders: none is dead.
  const sources = [...new Set([...defaults, ...allOn].map((d) => d.source))].sort();
  t.deepEqual(sources, templates.map((f) => `templates/${f}`).sort());
});

const badValues: { name: string; set: string; path: string }[] = [
  { name: 'no server replicas', set: 'server.replicas=0', path: '/server/replicas' },
  { name: 'an unknown pull policy', set: 'image.pullPolicy=Sometimes', path: '/image/pullPolicy' },
  { name: 'a port above 65535', set: 'agent.port=70000', path: '/agent/port' },
  { name: 'metrics on port 0', set: 'server.metricsPort=0', path: '/server/metricsPort' },
  { name: 'a port range beyond 65535', set: 'policy.allowedPorts=1024-70000', path: '/policy/allowedPorts' },
  { name: 'a port list with a word in it', set: 'policy.allowedPorts=80\\,http', path: '/policy/allowedPorts' },
  { name: 'an unknown log level', set: 'server.logLevel=verbose', path: '/server/logLevel' },
  { name: 'silent for the agent, which has no such level', set: 'agent.logLevel=silent', path: '/agent/logLevel' },
  { name: 'no sessions per node', set: 'policy.maxSessionsPerNode=0', path: '/policy/maxSessionsPerNode' },
  { name: 'a negative idle timeout', set: 'policy.idleTimeoutSeconds=-1', path: '/policy/idleTimeoutSeconds' },
  { name: 'a string for a boolean', set: 'policy.allowHostNetworkPods=maybe', path: '/policy/allowHostNetworkPods' },
  { name: 'a misspelt value', set: 'server.replica=3', path: '/server' },
  { name: 'a misspelt section', set: 'flowcontrol.enabled=false', path: '' },
  { name: 'a duration without a unit', set: 'serviceMonitor.interval=30', path: '/serviceMonitor/interval' },
];

for (const bad of badValues) {
  test(`the schema refuses ${bad.name} (--set ${bad.set})`, async (t) => {
    const result = await template(['--set', bad.set]);
    t.not(result.code, 0);
    t.regex(result.stderr, /values don't meet the specifications of the schema/);
    t.true(result.stderr.includes(`at '${bad.path}'`), result.stderr);
  });
}

test('the schema takes what --set turns into numbers: a lone allowed port and an all-digit image tag', async (t) => {
  const documents = await render(['--set', 'policy.allowedPorts=80', '--set', 'image.tag=123456789012']);
  const deployment = find(documents, 'Deployment', 'rpf-server') as unknown as { spec: { template: { spec: { containers: { image: string; args: string[] }[] } } } };
  const [container] = deployment.spec.template.spec.containers;
  t.is(container?.image, 'localhost/kube-rpf/kube-rpf:123456789012');
  t.true(container?.args.includes('--allowed-ports=80'));
});

test('the generated certificates are one set per render: the caBundle is the Secret\'s CA, which signed the serving certificate', async (t) => {
  const documents = await render();
  const secret = find(documents, 'Secret', 'kube-rpf-certs');
  const apiService = find(documents, 'APIService', 'v1alpha1.rpf.kube-rpf.dev');
  const data = secret.data ?? {};
  const pem = (key: string) => Buffer.from(data[key] ?? '', 'base64').toString();
  t.is(apiService.spec?.caBundle, data['api-ca.crt']);
  const apiCA = new X509Certificate(pem('api-ca.crt'));
  const server = new X509Certificate(pem('server.crt'));
  t.true(server.verify(apiCA.publicKey));
  t.is(server.checkHost(`rpf-server.${namespace}.svc`), `rpf-server.${namespace}.svc`);
  const agentCA = new X509Certificate(pem('agent-ca.crt'));
  const agent = new X509Certificate(pem('agent.crt'));
  const client = new X509Certificate(pem('agent-client.crt'));
  t.true(agent.verify(agentCA.publicKey));
  t.true(client.verify(agentCA.publicKey));
  t.is(agent.checkHost('rpf-agent'), 'rpf-agent');
  t.regex(client.subject, /^CN=rpf-server$/m);
  t.false(server.verify(agentCA.publicKey), 'the API CA and the agent CA are different CAs');
});

test('with cert-manager the chart renders no Secret, the APIService asks for CA injection, and the pods mount the Certificates\' secrets', async (t) => {
  const documents = await render(['--set', 'certManager.enabled=true']);
  t.false(documents.some((d) => d.object.kind === 'Secret'));
  const apiService = find(documents, 'APIService', 'v1alpha1.rpf.kube-rpf.dev');
  t.is(apiService.spec?.caBundle, undefined);
  t.is(apiService.metadata.annotations?.['cert-manager.io/inject-ca-from'], `${namespace}/rpf-server`);
  const certificates = documents.filter((d) => d.object.kind === 'Certificate').map((d) => d.object as KubeObject & { spec: { secretName: string; issuerRef: { name: string } } });
  const issuers = new Set(documents.filter((d) => d.object.kind === 'Issuer').map((d) => d.object.metadata.name));
  for (const c of certificates) t.true(issuers.has(c.spec.issuerRef.name), `${c.metadata.name} is issued by a rendered Issuer`);
  const secretNames = new Set(certificates.map((c) => c.spec.secretName));
  t.true(certificates.some((c) => c.metadata.name === 'rpf-server'));
  const mounted = (object: KubeObject): string[] => {
    const volume = (object.spec as { template: { spec: { volumes: { name: string; secret?: { secretName: string }; projected?: { sources: { secret: { name: string } }[] } }[] } } }).template.spec.volumes.find((v) => v.name === 'certs');
    return volume?.secret ? [volume.secret.secretName] : (volume?.projected?.sources ?? []).map((s) => s.secret.name);
  };
  for (const object of [find(documents, 'Deployment', 'rpf-server'), find(documents, 'DaemonSet', 'rpf-agent')]) {
    const names = mounted(object);
    t.true(names.length > 0);
    for (const n of names) t.true(secretNames.has(n), `${object.kind} mounts ${n}, a Certificate's secret`);
  }
});

test('each ServiceMonitor selects exactly one rendered metrics Service, whose port reaches the pods\' metrics port', async (t) => {
  const documents = await render(['--set', 'serviceMonitor.enabled=true', '--set', 'serviceMonitor.labels.release=prometheus']);
  type Monitor = KubeObject & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string }[] } };
  type Service = KubeObject & { spec: { selector: Record<string, string>; ports: { name: string; targetPort: string }[] } };
  const monitors = documents.filter((d) => d.object.kind === 'ServiceMonitor').map((d) => d.object as Monitor);
  const services = documents.filter((d) => d.object.kind === 'Service').map((d) => d.object as Service);
  t.is(monitors.length, 2);
  for (const monitor of monitors) {
    t.is(monitor.metadata.labels?.release, 'prometheus');
    const matches = services.filter((s) => Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => s.metadata.labels?.[k] === v));
    t.is(matches.length, 1, `${monitor.metadata.name} selects ${matches.map((s) => s.metadata.name).join(', ')}`);
    const port = matches[0]?.spec.ports.find((p) => p.name === monitor.spec.endpoints[0]?.port);
    t.is(port?.targetPort, 'metrics');
  }
});

test('apiservice.yaml at the repository root is the APIService the chart renders, but for caBundle and labels', async (t) => {
  const [documents, text] = await Promise.all([render(), readFile(path.join(repoRoot, 'apiservice.yaml'), 'utf8')]);
  const rendered = find(documents, 'APIService', 'v1alpha1.rpf.kube-rpf.dev');
  const [root] = loadAllYaml(text) as KubeObject[];
  const strip = (o: KubeObject | undefined) => {
    const { caBundle: _caBundle, ...spec } = o?.spec ?? {};
    return { apiVersion: o?.apiVersion, kind: o?.kind, name: o?.metadata.name, annotations: o?.metadata.annotations, spec };
  };
  t.deepEqual(strip(root), strip(rendered));
  t.is(root?.spec?.caBundle, '', 'the root file carries no certificate: users fill in their own CA');
});
