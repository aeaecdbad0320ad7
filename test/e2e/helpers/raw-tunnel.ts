// A tunnel request sent through kube-apiserver by hand, as the admin, for the
// cases the CLI cannot reach: it waits for a Running pod before it asks, and
// some refusals concern pods that never run.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { WebSocket } from 'ws';
import { adminKubeconfig, clusterDir } from './cluster.ts';

/** kube-apiserver's address and the admin's TLS material. */
export async function apiserverAccess(): Promise<{ host: string; port: number; ca: Buffer; cert: Buffer; key: Buffer }> {
  const kubeconfig = await readFile(adminKubeconfig, 'utf8');
  const url = new URL(/server: (\S+)/.exec(kubeconfig)?.[1] ?? '');
  const pki = path.join(clusterDir, 'pki');
  return {
    host: url.hostname,
    port: Number(url.port || 443),
    ca: await readFile(path.join(pki, 'ca.crt')),
    cert: await readFile(path.join(pki, 'admin.crt')),
    key: await readFile(path.join(pki, 'admin.key')),
  };
}

/**
 * Opens pods/POD/reverseportforward?QUERY as the admin and resolves with the
 * refusal (status and body); an upgrade that succeeds is closed at once and
 * reported as status 101.
 */
export async function tunnelRefusal(namespace: string, pod: string, query: string, timeoutMs = 30_000): Promise<{ status: number; body: string }> {
  const api = await apiserverAccess();
  const ws = new WebSocket(
    `wss://${api.host}:${api.port}/apis/rpf.kube-rpf.dev/v1alpha1/namespaces/${namespace}/pods/${pod}/reverseportforward?${query}`,
    ['v1.rpf.kube-rpf.dev'],
    { ca: api.ca, cert: api.cert, key: api.key, handshakeTimeout: timeoutMs },
  );
  ws.on('error', () => {});
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.terminate();
      resolve({ status: 101, body: '' });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    ws.once('error', reject);
  });
}
