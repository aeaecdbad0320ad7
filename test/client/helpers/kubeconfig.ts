// Kubeconfig files for tests, written to a temporary folder.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { scratchDir } from '../../helpers/scratch-dir.ts';

/** Options of {@link writeKubeconfig}. */
export interface KubeconfigOptions {
  server: string;
  token?: string;
  namespace?: string;
  /** Extra contexts, all on the same cluster and user. */
  contexts?: Array<{ name: string; namespace?: string }>;
}

/** Writes a kubeconfig with context "test" (current) and returns its path. */
export function writeKubeconfig(options: KubeconfigOptions): string {
  const dir = scratchDir('kube-rpf-client-');
  const file = path.join(dir, 'kubeconfig');
  const contexts = [{ name: 'test', namespace: options.namespace }, ...(options.contexts ?? [])];
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'test',
    clusters: [{ name: 'test', cluster: { server: options.server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'tester', user: { token: options.token ?? 'test-token' } }],
    contexts: contexts.map((c) => ({ name: c.name, context: { cluster: 'test', user: 'tester', ...(c.namespace ? { namespace: c.namespace } : {}) } })),
  };
  // JSON is YAML.
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}
