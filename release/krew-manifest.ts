// The krew plugin manifest (krew-index's format, apiVersion
// krew.googlecontainertools.github.com/v1alpha2): one platform per archive,
// each with the archive's URL and SHA-256. Pure: the build hashes the files.

/** One archive of the release, for one os/arch. */
export interface ManifestPlatform {
  readonly os: string;
  readonly arch: string;
  /** Where the archive is published. */
  readonly uri: string;
  /** Lowercase hex SHA-256 of the archive. */
  readonly sha256: string;
  /** The executable's name inside the archive. */
  readonly bin: string;
}

/** What the manifest says about the plugin. */
export interface ManifestInput {
  /** Like v0.1.0. */
  readonly version: string;
  readonly homepage: string;
  readonly platforms: readonly ManifestPlatform[];
}

/** krew-index asks for a one-line summary under 50 characters. */
export const SHORT_DESCRIPTION = 'Reverse port-forward: pods reach your localhost';

/** What `kubectl krew info rpf` shows; krew-index asks what it does and what it needs. */
export const DESCRIPTION = `Reverse port-forwarding for Kubernetes, like ssh -R: a process in a pod
connects to 127.0.0.1:REMOTE inside the pod and reaches a service on your
machine at localhost:LOCAL. The pod is not modified, restarted or given a
sidecar; every session is a request to kube-apiserver, authorized by RBAC
and audited. It takes kubectl port-forward's flags (-n, --context,
--kubeconfig, TYPE/NAME, REMOTE:LOCAL...).

The cluster needs kube-rpf's server side (an aggregated API server and a
node agent), installed once by an administrator with its Helm chart.
`;

/** Printed by krew after installing. */
export const CAVEATS = `This plugin needs kube-rpf installed in the cluster (its Helm chart) and the
RBAC verbs get and create on pods/reverseportforward in group
rpf.kube-rpf.dev (the chart's ClusterRole kube-rpf-user has them).

  kubectl rpf -n NAMESPACE POD REMOTE:LOCAL
`;

// Every string goes out as a JSON string, which is valid YAML: no quoting rules to get wrong.
function block(text: string, indent: string): string {
  return `|\n${text.trimEnd().split('\n').map((line) => (line === '' ? '' : indent + line)).join('\n')}`;
}

/** The manifest as YAML. */
export function krewManifest(input: ManifestInput): string {
  if (!/^v\d+\.\d+\.\d+/.test(input.version)) throw new Error(`krew wants a version like v1.2.3, got ${JSON.stringify(input.version)}`);
  const q = JSON.stringify;
  const platforms = input.platforms.map((p) => [
    '  - selector:',
    '      matchLabels:',
    `        os: ${q(p.os)}`,
    `        arch: ${q(p.arch)}`,
    `    uri: ${q(p.uri)}`,
    `    sha256: ${q(p.sha256)}`,
    `    bin: ${q(p.bin)}`,
    '    files:',
    `      - from: ${q(p.bin)}`,
    '        to: "."',
    '      - from: "LICENSE"',
    '        to: "."',
  ].join('\n'));
  return [
    'apiVersion: krew.googlecontainertools.github.com/v1alpha2',
    'kind: Plugin',
    'metadata:',
    '  name: rpf',
    'spec:',
    `  version: ${q(input.version)}`,
    `  homepage: ${q(input.homepage)}`,
    `  shortDescription: ${q(SHORT_DESCRIPTION)}`,
    `  description: ${block(DESCRIPTION, '    ')}`,
    `  caveats: ${block(CAVEATS, '    ')}`,
    '  platforms:',
    ...platforms,
    '',
  ].join('\n');
}
