/**
 * kube-apiserver calls on rpf-server's hot path (the target pod's read, the
 * SubjectAccessReview), as plain JSON over one kept-alive HTTPS agent.
 * @kubernetes/client-node remains the kubeconfig and credentials source, but
 * its generated API costs ~5 ms more per call on the bench machine (a new
 * agent per request, and model (de)serialization): 7.2 against 2.1 ms for a
 * pod GET, medians of 30. Every tunnel pays for a pod read before its agent
 * is dialled, so this is start-up latency (issue 13, docs/benchmarks.md).
 */
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/** Largest answer read (a pod with huge annotations stays far below it). */
const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

/** How long one call may take. */
const REQUEST_TIMEOUT_MS = 30_000;

/** A non-2xx answer, with kube-apiserver's Status message when it sent one. */
export class KubeApiError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = 'KubeApiError';
    this.code = code;
  }
}

/** JSON calls to the cluster of a kubeconfig. */
export interface KubeJson {
  /** The decoded body of a 2xx answer; throws {@link KubeApiError} for any other. */
  call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T>;
}

/** Reads the TLS material and credentials from `kc` at each call (tokens rotate), over one keep-alive agent. */
export function createKubeJson(kc: KubeConfig): KubeJson {
  let agent: https.Agent | undefined;
  return {
    async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
      const cluster = kc.getCurrentCluster();
      if (cluster === null) throw new Error('the kubeconfig names no current cluster');
      const options: https.RequestOptions = {};
      await kc.applyToHTTPSOptions(options);
      agent ??= new https.Agent({
        keepAlive: true,
        ...pick(options, ['ca', 'cert', 'key', 'pfx', 'passphrase', 'servername', 'rejectUnauthorized']),
      });
      const url = new URL(path, cluster.server);
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const headers: Record<string, string | number> = { Accept: 'application/json', ...(options.headers as Record<string, string> | undefined) };
      if (payload !== undefined) {
        headers['Content-Type'] = 'application/json';
        headers['Content-Length'] = Buffer.byteLength(payload);
      }
      return new Promise<T>((resolve, reject) => {
        const req = https.request(url, { method, agent, headers, timeout: REQUEST_TIMEOUT_MS, ...(options.auth === undefined ? {} : { auth: options.auth }) }, (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) req.destroy(new Error(`the answer to ${method} ${url.pathname} exceeds ${MAX_RESPONSE_BYTES} bytes`));
            else chunks.push(chunk);
          });
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let value: unknown;
            try {
              value = JSON.parse(text);
            } catch {
              value = undefined;
            }
            const code = res.statusCode ?? 0;
            if (code >= 200 && code < 300 && value !== undefined) return resolve(value as T);
            const message = typeof (value as { message?: unknown } | undefined)?.message === 'string' ? (value as { message: string }).message : text.slice(0, 200);
            reject(new KubeApiError(code, `${method} ${url.pathname}: ${code} ${message}`));
          });
          res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname}: no answer within ${REQUEST_TIMEOUT_MS / 1000}s`)));
        req.on('error', reject);
        req.end(payload);
      });
    },
  };
}

function pick(options: https.RequestOptions, keys: readonly (keyof https.RequestOptions)[]): https.AgentOptions {
  const picked: Record<string, unknown> = {};
  for (const key of keys) if (options[key] !== undefined) picked[key] = options[key];
  return picked as https.AgentOptions;
}
