// The Helm chart (charts/kube-rpf): it lints, each template renders one object
// of the kind it is named for, its schema refuses bad values, kube-apiserver
// accepts everything it renders (server-side dry run against the local
// cluster: nothing changes), and apiservice.yaml at the repository root is the
// APIService it renders. Then what the security review (issue 8) asked of it:
// least privilege for rpf-server and rpf-agent, NetworkPolicies, seccomp, one
// Secret per identity, and a priority level one user cannot fill. The
// installed release is only read (its certificates, its priority level's
// seats), never touched.
import test from 'ava';
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadAll } from 'js-yaml';
import { adminKubeconfig, clusterDir, kubectl, repoRoot, type CommandResult } from '../e2e/helpers/cluster.ts';

const chartDir = path.join(repoRoot, 'charts', 'kube-rpf');
const helmPath = path.join(clusterDir, 'bin', 'helm');
const namespace = 'kube-rpf';
/**
 * helm template's default Kubernetes version is old; render for the local
 * cluster's, as test/cluster/versions.env pins it (K8S_VERSION=v1.34.4).
 */
const kubeVersion = (() => {
  const env = readFileSync(path.join(repoRoot, 'test', 'cluster', 'versions.env'), 'utf8');
  const version = /^K8S_VERSION=v?(\d+\.\d+\.\d+)\s*$/m.exec(env)?.[1];
  if (version === undefined) throw new Error('test/cluster/versions.env pins no K8S_VERSION');
  return version;
})();

/** Every file in charts/kube-rpf/ci/, each a set of non-default values. */
const ciFiles = readdirSync(path.join(chartDir, 'ci')).filter((f) => f.endsWith('.yaml')).sort();
/** Default values first, then each ci/ file (relative to the chart). */
const valueSets: { name: string; args: string[] }[] = [
  { name: 'default values', args: [] },
  ...ciFiles.map((f) => ({ name: `ci/${f}`, args: ['--values', path.join(chartDir, 'ci', f)] })),
];
/** Who may scrape metrics in the tests that let someone: Prometheus's namespace. */
const monitoringPeers = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }];
/** Every optional part turned on at once. */
const everythingOn = [
  '--set', 'certManager.enabled=true',
  '--set', 'serviceMonitor.enabled=true',
  '--set', 'rbac.aggregateToEdit=true',
  '--set-json', `networkPolicy.metricsFrom=${JSON.stringify(monitoringPeers)}`,
];

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
    const [object] = loadAll(text) as (KubeObject | null | undefined)[];
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
  { name: 'no sessions per user', set: 'policy.maxSessionsPerUser=0', path: '/policy/maxSessionsPerUser' },
  { name: 'a hand of more than 8 queues', set: 'flowControl.queuing.handSize=9', path: '/flowControl/queuing/handSize' },
  { name: 'an empty queue', set: 'flowControl.queuing.queueLengthLimit=0', path: '/flowControl/queuing/queueLengthLimit' },
  { name: 'a metrics peer that is not a NetworkPolicy peer', set: 'networkPolicy.metricsFrom[0].namespace=monitoring', path: '/networkPolicy/metricsFrom/0' },
];

for (const bad of badValues) {
  test(`the schema refuses ${bad.name} (--set ${bad.set})`, async (t) => {
    const result = await template(['--set', bad.set]);
    t.not(result.code, 0);
    t.regex(result.stderr, /values don't meet the specifications of the schema/);
    t.true(result.stderr.includes(`at '${bad.path}'`), result.stderr);
  });
}

test('rpf-server replicas spread over nodes: preferred by default (topology spread and anti-affinity on the hostname, for the pods of one ReplicaSet), required as a hard maxSkew of 1 that ignores cordoned nodes, none not at all', async (t) => {
  const podSpec = async (args: string[]): Promise<Record<string, any>> =>
    ((find(await render(args), 'Deployment', 'rpf-server').spec as any).template.spec as Record<string, any>);
  const deployment = find(await render(), 'Deployment', 'rpf-server');
  const podLabels = (deployment.spec as any).template.metadata.labels as Record<string, string>;
  const preferred = await podSpec([]);
  t.is(preferred.topologySpreadConstraints.length, 1);
  const spread = preferred.topologySpreadConstraints[0];
  t.like(spread, { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', matchLabelKeys: ['pod-template-hash'] });
  // The selector must select the replicas themselves, or the spread counts nothing.
  for (const [key, value] of Object.entries(spread.labelSelector.matchLabels as Record<string, string>)) t.is(podLabels[key], value, key);
  const term = preferred.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm;
  t.is(term.topologyKey, 'kubernetes.io/hostname');
  t.deepEqual(term.labelSelector.matchLabels, spread.labelSelector.matchLabels);

  const required = await podSpec(['--set', 'server.spreadAcrossNodes=required']);
  t.like(required.topologySpreadConstraints[0], { maxSkew: 1, whenUnsatisfiable: 'DoNotSchedule', nodeTaintsPolicy: 'Honor' });
  t.is(required.affinity, undefined);

  const none = await podSpec(['--set', 'server.spreadAcrossNodes=none']);
  t.is(none.topologySpreadConstraints, undefined);
  t.is(none.affinity, undefined);
  const bad = await template(['--set', 'server.spreadAcrossNodes=sometimes']);
  t.not(bad.code, 0);
  t.regex(bad.stderr, /spreadAcrossNodes/);
});

test('the schema takes what --set turns into numbers: a lone allowed port and an all-digit image tag', async (t) => {
  const documents = await render(['--set', 'policy.allowedPorts=80', '--set', 'image.tag=123456789012']);
  const deployment = find(documents, 'Deployment', 'rpf-server') as unknown as { spec: { template: { spec: { containers: { image: string; args: string[] }[] } } } };
  const [container] = deployment.spec.template.spec.containers;
  t.is(container?.image, 'localhost/kube-rpf/kube-rpf:123456789012');
  t.true(container?.args.includes('--allowed-ports=80'));
});

test('the generated certificates are one set per render: the caBundle is the API CA, which signed the serving certificate; each key matches its certificate', async (t) => {
  const documents = await render();
  const apiService = find(documents, 'APIService', 'v1alpha1.rpf.kube-rpf.dev');
  const pem = (secret: string, key: string) => Buffer.from(find(documents, 'Secret', secret).data?.[key] ?? '', 'base64').toString();
  for (const secret of ['rpf-server-certs', 'rpf-agent-client-certs', 'rpf-agent-certs']) {
    t.is(find(documents, 'Secret', secret).type, 'kubernetes.io/tls');
    const certificate = new X509Certificate(pem(secret, 'tls.crt'));
    const publicKey = createPublicKey(createPrivateKey(pem(secret, 'tls.key'))).export({ type: 'spki', format: 'der' });
    t.true(publicKey.equals(certificate.publicKey.export({ type: 'spki', format: 'der' })), `${secret}: tls.key is the key of tls.crt`);
    t.true(certificate.verify(new X509Certificate(pem(secret, 'ca.crt')).publicKey), `${secret}: ca.crt signed tls.crt`);
  }
  t.is(apiService.spec?.caBundle, find(documents, 'Secret', 'rpf-server-certs').data?.['ca.crt']);
  const server = new X509Certificate(pem('rpf-server-certs', 'tls.crt'));
  t.is(server.checkHost(`rpf-server.${namespace}.svc`), `rpf-server.${namespace}.svc`);
  const agent = new X509Certificate(pem('rpf-agent-certs', 'tls.crt'));
  const client = new X509Certificate(pem('rpf-agent-client-certs', 'tls.crt'));
  t.is(agent.checkHost('rpf-agent'), 'rpf-agent');
  t.regex(client.subject, /^CN=rpf-server$/m);
  t.is(pem('rpf-agent-certs', 'ca.crt'), pem('rpf-agent-client-certs', 'ca.crt'), 'agent and client certificates share the agent CA');
  t.false(server.verify(new X509Certificate(pem('rpf-agent-certs', 'ca.crt')).publicKey), 'the API CA and the agent CA are different CAs');
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
  const documents = await render(['--set', 'serviceMonitor.enabled=true', '--set', 'serviceMonitor.labels.release=prometheus', '--set-json', `networkPolicy.metricsFrom=${JSON.stringify(monitoringPeers)}`]);
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
  const [root] = loadAll(text) as KubeObject[];
  const strip = (o: KubeObject | undefined) => {
    const { caBundle: _caBundle, ...spec } = o?.spec ?? {};
    return { apiVersion: o?.apiVersion, kind: o?.kind, name: o?.metadata.name, annotations: o?.metadata.annotations, spec };
  };
  t.deepEqual(strip(root), strip(rendered));
  t.is(root?.spec?.caBundle, '', 'the root file carries no certificate: users fill in their own CA');
});

// --- Security review (issue 8): least privilege, NetworkPolicies, seccomp,
// one Secret per identity, and Priority-and-Fairness sizing.

/** A container as rendered, as typed as these tests need. */
interface Container {
  name: string;
  args?: string[];
  securityContext?: { seccompProfile?: { type: string }; capabilities?: { add?: string[]; drop?: string[] } };
  volumeMounts?: { name: string; mountPath: string }[];
}

/** One secret's keys as a volume takes them. */
interface SecretProjection {
  name: string;
  items: { key: string; path: string }[];
}

/** A pod template as rendered, as typed as these tests need. */
interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: {
    securityContext?: { seccompProfile?: { type: string } };
    containers: Container[];
    initContainers?: Container[];
    volumes?: { name: string; secret?: { secretName: string; items?: SecretProjection['items'] }; projected?: { sources: { secret?: SecretProjection }[] } }[];
  };
}

const workloadKinds = new Set(['Deployment', 'DaemonSet', 'StatefulSet', 'ReplicaSet', 'Job', 'Pod']);

function podTemplate(o: KubeObject): PodTemplate {
  return o.kind === 'Pod' ? (o as unknown as PodTemplate) : (o.spec as { template: PodTemplate }).template;
}

function workloads(documents: RenderedDocument[]): KubeObject[] {
  return documents.map((d) => d.object).filter((o) => workloadKinds.has(o.kind));
}

function args(documents: RenderedDocument[], kind: string, name: string): string[] {
  return podTemplate(find(documents, kind, name)).spec.containers[0]?.args ?? [];
}

/** The secrets a workload mounts, each with the keys it takes. */
function mountedSecrets(o: KubeObject): SecretProjection[] {
  return (podTemplate(o).spec.volumes ?? []).flatMap((v) =>
    v.secret ? [{ name: v.secret.secretName, items: v.secret.items ?? [] }] : (v.projected?.sources ?? []).flatMap((s) => (s.secret ? [s.secret] : [])),
  );
}

/** True when every label a selector asks for is on the labels. */
function selects(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

const everyRendering = [...valueSets, { name: 'everything on', args: everythingOn }];

test('every pod and every container runs under the runtime\'s default seccomp profile', async (t) => {
  for (const { name, args: values } of everyRendering) {
    const found = workloads(await render(values));
    t.deepEqual(found.map((o) => o.kind).sort(), ['DaemonSet', 'Deployment'], name);
    for (const o of found) {
      const { spec } = podTemplate(o);
      t.is(spec.securityContext?.seccompProfile?.type, 'RuntimeDefault', `${name}: ${o.kind} ${o.metadata.name}`);
      for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
        t.is(c.securityContext?.seccompProfile?.type, 'RuntimeDefault', `${name}: container ${c.name}`);
      }
    }
  }
});

test('rpf-agent drops every capability and adds back only SYS_ADMIN, SYS_PTRACE and NET_BIND_SERVICE (no DAC_READ_SEARCH)', async (t) => {
  const documents = await render();
  const [agent] = podTemplate(find(documents, 'DaemonSet', 'rpf-agent')).spec.containers;
  t.deepEqual(agent?.securityContext?.capabilities?.drop, ['ALL']);
  t.deepEqual([...(agent?.securityContext?.capabilities?.add ?? [])].sort(), ['NET_BIND_SERVICE', 'SYS_ADMIN', 'SYS_PTRACE']);
  for (const o of workloads(await render(everythingOn))) {
    for (const c of podTemplate(o).spec.containers) {
      const added = c.securityContext?.capabilities?.add ?? [];
      t.false(added.some((cap) => /^(CAP_)?DAC_/.test(cap)), `${c.name} adds ${added.join(', ')}`);
    }
  }
});

test('each identity\'s key is in a Secret of its own, mounted only by the pod that uses it', async (t) => {
  const roles = {
    generated: { server: 'rpf-server-certs', agentClient: 'rpf-agent-client-certs', agent: 'rpf-agent-certs' },
    certManager: { server: 'rpf-server-tls', agentClient: 'rpf-agent-client-tls', agent: 'rpf-agent-tls' },
  };
  for (const [mode, names] of Object.entries(roles)) {
    const documents = await render(mode === 'certManager' ? ['--set', 'certManager.enabled=true'] : []);
    const keyOf = (mounts: SecretProjection[]) => Object.fromEntries(mounts.map((m) => [m.name, m.items.map((i) => i.key).sort()]));
    // rpf-server: its serving pair (not the API CA, which only kube-apiserver
    // needs) and its client pair with the agent CA; never the agent's key.
    t.deepEqual(keyOf(mountedSecrets(find(documents, 'Deployment', 'rpf-server'))), {
      [names.server]: ['tls.crt', 'tls.key'],
      [names.agentClient]: ['ca.crt', 'tls.crt', 'tls.key'],
    }, mode);
    // rpf-agent: its own serving pair and the agent CA; never rpf-server's
    // client key, with which it could call other agents.
    t.deepEqual(keyOf(mountedSecrets(find(documents, 'DaemonSet', 'rpf-agent'))), { [names.agent]: ['ca.crt', 'tls.crt', 'tls.key'] }, mode);
    if (mode === 'generated') {
      const secrets = documents.filter((d) => d.object.kind === 'Secret').map((d) => d.object);
      t.deepEqual(secrets.map((s) => s.metadata.name).sort(), Object.values(names).sort());
      for (const s of secrets) t.deepEqual(Object.keys(s.data ?? {}).sort(), ['ca.crt', 'tls.crt', 'tls.key'], `${s.metadata.name} holds one key pair`);
    } else {
      const issued = documents.filter((d) => d.object.kind === 'Certificate').map((d) => (d.object.spec as { secretName: string }).secretName);
      for (const name of Object.values(names)) t.true(issued.includes(name), `a Certificate issues ${name}`);
    }
  }
});

test('on upgrade the installed certificates are kept: rendered against the cluster, the caBundle is the installed APIService\'s', async (t) => {
  // helm template --dry-run=server runs the chart's `lookup`s (reads only):
  // the installed Secrets, or the one kube-rpf-certs of releases before the
  // split, must be reused, or every upgrade would cut the open sessions.
  const installed = await kubectl(['get', 'apiservice', 'v1alpha1.rpf.kube-rpf.dev', '--ignore-not-found', '-o', 'jsonpath={.spec.caBundle}']);
  t.is(installed.code, 0, installed.stderr);
  if (installed.stdout.trim() === '') {
    t.log('kube-rpf is not installed on the local cluster: nothing to keep');
    t.pass();
    return;
  }
  const result = await helm(['template', 'kube-rpf', chartDir, '--namespace', namespace, '--kube-version', kubeVersion, '--dry-run=server', '--kubeconfig', adminKubeconfig]);
  t.is(result.code, 0, result.stderr);
  const [apiService] = (loadAll(result.stdout) as (KubeObject | null)[]).filter((o): o is KubeObject => o?.kind === 'APIService');
  t.is(apiService?.spec?.caBundle, installed.stdout.trim());
});

test('rpf-server may get pods in every namespace but list them only in the release namespace, where the agents are', async (t) => {
  const documents = await render();
  const objects = documents.map((d) => d.object);
  type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };
  type Binding = KubeObject & { roleRef: { kind: string; name: string }; subjects: { kind: string; name: string; namespace?: string }[] };
  const isServer = (b: Binding) => b.subjects.some((s) => s.kind === 'ServiceAccount' && s.name === 'rpf-server' && s.namespace === namespace);
  const bindings = objects.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding').map((o) => o as Binding).filter(isServer);
  const podRules = (role: KubeObject) => ((role.rules ?? []) as Rule[]).filter((r) => r.apiGroups.some((g) => g === '' || g === '*') && r.resources.some((res) => res === 'pods' || res === '*'));

  const clusterRoles = bindings.filter((b) => b.kind === 'ClusterRoleBinding').map((b) => b.roleRef.name);
  t.deepEqual(clusterRoles.sort(), ['kube-rpf-server', 'kube-rpf-server-admission', 'system:auth-delegator']);
  const clusterRole = find(documents, 'ClusterRole', 'kube-rpf-server');
  t.deepEqual(podRules(clusterRole).flatMap((r) => r.verbs), ['get'], 'cluster-wide: get, never list or watch');

  const roleBindings = bindings.filter((b) => b.kind === 'RoleBinding' && b.metadata.namespace === namespace);
  t.deepEqual(roleBindings.map((b) => `${b.roleRef.kind}/${b.roleRef.name}`), ['Role/kube-rpf-server']);
  const role = find(documents, 'Role', 'kube-rpf-server');
  t.is(role.metadata.namespace, namespace);
  t.deepEqual(podRules(role).flatMap((r) => r.verbs), ['list', 'watch'], 'the agents only, in the release namespace');
  // That namespace is where rpf-server looks for the agents.
  t.true(args(documents, 'Deployment', 'rpf-server').includes(`--agent-namespace=${namespace}`));
});

test('the NetworkPolicies admit only rpf-server to the agents\' TLS port, anyone to rpf-server\'s secure port, and metricsFrom to the metrics ports', async (t) => {
  type Peer = { podSelector?: { matchLabels: Record<string, string> }; namespaceSelector?: unknown };
  type Policy = KubeObject & { spec: { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress: { from?: Peer[]; ports: { protocol: string; port: number }[] }[] } };
  const ports = { server: 8443, serverMetrics: 9464, agent: 8443, agentMetrics: 9465 };
  for (const metricsFrom of [[], monitoringPeers]) {
    const documents = await render(['--set-json', `networkPolicy.metricsFrom=${JSON.stringify(metricsFrom)}`]);
    const policies = documents.filter((d) => d.object.kind === 'NetworkPolicy').map((d) => d.object as Policy);
    t.deepEqual(policies.map((p) => p.metadata.name).sort(), ['rpf-agent', 'rpf-server']);
    const serverPods = podTemplate(find(documents, 'Deployment', 'rpf-server')).metadata.labels;
    const agentPods = podTemplate(find(documents, 'DaemonSet', 'rpf-agent')).metadata.labels;
    const agentPolicy = policies.find((p) => p.metadata.name === 'rpf-agent');
    const serverPolicy = policies.find((p) => p.metadata.name === 'rpf-server');
    if (agentPolicy === undefined || serverPolicy === undefined) return;
    for (const p of policies) t.deepEqual(p.spec.policyTypes, ['Ingress']);

    // Each policy selects its own pods and not the other's.
    t.true(selects(agentPolicy.spec.podSelector.matchLabels, agentPods));
    t.false(selects(agentPolicy.spec.podSelector.matchLabels, serverPods));
    t.true(selects(serverPolicy.spec.podSelector.matchLabels, serverPods));
    t.false(selects(serverPolicy.spec.podSelector.matchLabels, agentPods));

    // The agent's TLS port: from rpf-server's pods only (same namespace: no namespaceSelector).
    const toAgent = agentPolicy.spec.ingress.filter((r) => r.ports.some((p) => p.port === ports.agent));
    t.is(toAgent.length, 1);
    t.deepEqual(toAgent[0]?.ports, [{ protocol: 'TCP', port: ports.agent }]);
    t.is(toAgent[0]?.from?.length, 1);
    const peer = toAgent[0]?.from?.[0];
    t.is(peer?.namespaceSelector, undefined);
    t.true(selects(peer?.podSelector?.matchLabels ?? { none: 'none' }, serverPods), 'the peer is rpf-server');
    t.false(selects(peer?.podSelector?.matchLabels ?? {}, agentPods), 'not the agents themselves');

    // rpf-server's secure port: from anywhere (kube-apiserver is not a pod).
    const toServer = serverPolicy.spec.ingress.filter((r) => r.ports.some((p) => p.port === ports.server));
    t.deepEqual(toServer, [{ ports: [{ protocol: 'TCP', port: ports.server }] }]);

    // Metrics: exactly metricsFrom, or no rule at all (nobody).
    const metricsRules = [
      ...agentPolicy.spec.ingress.filter((r) => r.ports.some((p) => p.port === ports.agentMetrics)),
      ...serverPolicy.spec.ingress.filter((r) => r.ports.some((p) => p.port === ports.serverMetrics)),
    ];
    t.deepEqual(metricsRules.map((r) => r.from), metricsFrom.length === 0 ? [] : [metricsFrom, metricsFrom]);
    t.is(agentPolicy.spec.ingress.length + serverPolicy.spec.ingress.length, 2 + metricsRules.length, 'no other rules');
  }
  const off = await render(['--set', 'networkPolicy.enabled=false']);
  t.false(off.some((d) => d.object.kind === 'NetworkPolicy'));
});

test('ServiceMonitors with NetworkPolicies but nobody allowed to scrape are refused, with the value to set', async (t) => {
  const result = await template(['--set', 'serviceMonitor.enabled=true']);
  t.not(result.code, 0);
  t.regex(result.stderr, /networkPolicy\.metricsFrom/);
});

/** The seats kube-apiserver gives a level: ceil(600 * shares / (245 + shares)) with its defaults (600 seats, built-in shares 245). */
function estimatedSeats(shares: number, builtInShares = 245, serverSeats = 600): number {
  return Math.ceil((serverSeats * shares) / (builtInShares + shares));
}

test('tunnels are distinguished by user and queue fairly in a priority level whose seats exceed the per-user session cap', async (t) => {
  for (const { name, args: values } of valueSets) {
    const documents = await render(values);
    const flowSchema = documents.find((d) => d.object.kind === 'FlowSchema')?.object as (KubeObject & { spec: { distinguisherMethod: { type: string }; priorityLevelConfiguration: { name: string } } }) | undefined;
    if (flowSchema === undefined) {
      t.false(documents.some((d) => d.object.kind === 'PriorityLevelConfiguration'), name);
      continue;
    }
    t.is(flowSchema.spec.distinguisherMethod.type, 'ByUser', name);
    type Limited = { nominalConcurrencyShares: number; lendablePercent: number; borrowingLimitPercent: number; limitResponse: { type: string; queuing: { queues: number; handSize: number; queueLengthLimit: number } } };
    const level = find(documents, 'PriorityLevelConfiguration', flowSchema.spec.priorityLevelConfiguration.name) as KubeObject & { spec: { type: string; limited: Limited } };
    const { limited } = level.spec;
    t.is(level.spec.type, 'Limited', name);
    t.is(limited.lendablePercent, 0, `${name}: lends no seats`);
    t.is(limited.borrowingLimitPercent, 0, `${name}: borrows no seats (a borrowed seat would stay taken for a tunnel's life)`);
    t.is(limited.limitResponse.type, 'Queue', name);
    const { queues, handSize, queueLengthLimit } = limited.limitResponse.queuing;
    t.true(handSize >= 1 && handSize <= queues && queueLengthLimit >= 1, name);
    t.true(handSize * Math.log2(queues) <= 60, `${name}: within kube-apiserver's shuffle-sharding entropy`);
    const cap = Number(/^--max-sessions-per-user=(\d+)$/.exec(args(documents, 'Deployment', 'rpf-server').find((a) => a.startsWith('--max-sessions-per-user=')) ?? '')?.[1]);
    t.true(estimatedSeats(limited.nominalConcurrencyShares) > cap, `${name}: ${estimatedSeats(limited.nominalConcurrencyShares)} seats for a cap of ${cap}`);
  }
});

test('the seat estimate holds on the local cluster: built-in shares sum to 245 and kube-apiserver gives the installed level the seats estimated', async (t) => {
  const levels = await kubectl(['get', 'prioritylevelconfigurations', '-o', 'json']);
  t.is(levels.code, 0, levels.stderr);
  const items = (JSON.parse(levels.stdout) as { items: { metadata: { name: string; labels?: Record<string, string> }; spec: { limited?: { nominalConcurrencyShares?: number } } }[] }).items;
  const builtIn = items.filter((i) => i.metadata.labels?.['app.kubernetes.io/part-of'] !== 'kube-rpf');
  t.is(builtIn.reduce((sum, i) => sum + (i.spec.limited?.nominalConcurrencyShares ?? 0), 0), 245);
  const ours = items.find((i) => i.metadata.name === 'kube-rpf-tunnels');
  if (ours === undefined || items.length !== builtIn.length + 1) {
    t.log('the tunnels\' priority level is not installed alone: no seats to compare');
    return;
  }
  const metrics = await kubectl(['get', '--raw', '/metrics']);
  t.is(metrics.code, 0, metrics.stderr);
  const seats = /^apiserver_flowcontrol_nominal_limit_seats\{priority_level="kube-rpf-tunnels"\} (\d+)$/m.exec(metrics.stdout)?.[1];
  t.is(Number(seats), estimatedSeats(ours.spec.limited?.nominalConcurrencyShares ?? 0));
});

test('policy.maxSessionsPerUser reaches rpf-server as --max-sessions-per-user (default 20), and each agent as its per-node cap', async (t) => {
  const defaults = await render();
  t.true(args(defaults, 'Deployment', 'rpf-server').includes('--max-sessions-per-user=20'));
  const set = await render(['--set', 'policy.maxSessionsPerUser=7']);
  t.true(args(set, 'Deployment', 'rpf-server').includes('--max-sessions-per-user=7'));
  t.true(args(set, 'DaemonSet', 'rpf-agent').includes('--max-sessions-per-user=7'));
});

const refusedCombinations: { name: string; set: string[]; message: RegExp }[] = [
  { name: 'shares that give no more seats than one user may hold', set: ['flowControl.nominalConcurrencyShares=5'], message: /about 12 seats per kube-apiserver, not more than policy\.maxSessionsPerUser=20/ },
  { name: 'a per-user cap as large as the seats', set: ['policy.maxSessionsPerUser=46'], message: /about 46 seats/ },
  { name: 'a hand larger than the queues', set: ['flowControl.queuing.queues=4', 'flowControl.queuing.handSize=6'], message: /handSize=6 must not exceed flowControl\.queuing\.queues=4/ },
];

for (const bad of refusedCombinations) {
  test(`the chart refuses ${bad.name}`, async (t) => {
    const result = await template(bad.set.flatMap((s) => ['--set', s]));
    t.not(result.code, 0);
    t.regex(result.stderr, bad.message);
  });
}

test('a per-user cap just below the seats renders', async (t) => {
  const documents = await render(['--set', 'policy.maxSessionsPerUser=45']);
  t.true(args(documents, 'Deployment', 'rpf-server').includes('--max-sessions-per-user=45'));
});

// Issue 11 (admission, sandboxed pods): what rpf-server reads for them is read-only and
// named, and the policy values reach its flags.
test('rpf-server\'s admission ClusterRole only reads: list/watch webhook configurations, get namespaces, services and runtimeclasses; without admission.webhooks only runtimeclasses', async (t) => {
  type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };
  const flat = (role: KubeObject) => ((role.rules ?? []) as Rule[]).flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((res) => `${g}/${res}:${[...r.verbs].sort().join(',')}`))).sort();
  const on = find(await render(), 'ClusterRole', 'kube-rpf-server-admission');
  t.deepEqual(flat(on), ['/namespaces:get', '/services:get', 'admissionregistration.k8s.io/validatingwebhookconfigurations:list,watch', 'node.k8s.io/runtimeclasses:get']);
  const off = await render(['--set', 'admission.webhooks=false']);
  t.deepEqual(flat(find(off, 'ClusterRole', 'kube-rpf-server-admission')), ['node.k8s.io/runtimeclasses:get']);
  t.true(args(off, 'Deployment', 'rpf-server').includes('--admission-webhooks=false'));
});

test('policy.sandboxedRuntimeHandlers reaches rpf-server as --sandboxed-runtime-handlers, and the schema refuses a bad pattern', async (t) => {
  t.true(args(await render(), 'Deployment', 'rpf-server').includes('--sandboxed-runtime-handlers=kata,kata-*,runsc,runsc-*,gvisor,gvisor-*,firecracker,firecracker-*,fc'));
  t.true(args(await render(['--set', 'policy.sandboxedRuntimeHandlers=']), 'Deployment', 'rpf-server').includes('--sandboxed-runtime-handlers='));
  const bad = await template(['--set', 'policy.sandboxedRuntimeHandlers=kata qemu']);
  t.not(bad.code, 0);
  t.regex(bad.stderr, /sandboxedRuntimeHandlers/);
});
