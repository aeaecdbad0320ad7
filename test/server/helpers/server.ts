/** Builds rpf-server configs and servers for tests. */
import { buildConfig } from '../../../server/options.ts';
import type { ServerConfig } from '../../../server/options.ts';
import type { TestPki } from './pki.ts';

/** A completed config over the test PKI: ephemeral port on 127.0.0.1, no metrics port. */
export function testConfig(pki: TestPki, extra: string[] = []): ServerConfig {
  return buildConfig([
    '--secure-port=0',
    '--bind-address=127.0.0.1',
    '--metrics-port=0',
    `--tls-cert-file=${pki.serving.certFile}`,
    `--tls-private-key-file=${pki.serving.keyFile}`,
    `--agent-ca-file=${pki.agentCa.certFile}`,
    `--agent-client-cert-file=${pki.agentClient.certFile}`,
    `--agent-client-key-file=${pki.agentClient.keyFile}`,
    '--log-level=silent',
    ...extra,
  ]);
}
