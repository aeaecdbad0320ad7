/**
 * One POST of an AdmissionReview to a webhook over HTTPS, bounded in time and
 * in the size of the answer, verified against the webhook's caBundle (or the
 * system's CAs when it has none) under the name kube-apiserver would verify:
 * the URL's host, or `NAME.NAMESPACE.svc` for a Service. rpf-server presents
 * no client certificate (kube-apiserver does so only when its admission
 * configuration file names one). Every failure is an Error whose message reads
 * like kube-apiserver's `failed to call webhook: Post "URL": ...`.
 */
import https from 'node:https';
import { isIP } from 'node:net';

/** Where to send one review. */
export interface WebhookEndpoint {
  /** https URL, with the path; the `timeout` query parameter is added per call. */
  readonly url: URL;
  /** The name the serving certificate must carry (and SNI), when it is not the URL's host. */
  readonly serverName?: string;
  /** CA bundle, PEM; empty: the system's trusted CAs. */
  readonly caBundle: string;
}

/** Sends one review and resolves with the body of a 2xx answer. */
export interface WebhookCaller {
  post(endpoint: WebhookEndpoint, body: string, timeoutMs: number): Promise<string>;
}

/** The largest answer read from a webhook (kube-apiserver's own bound on a request body is 3 MiB). */
export const MAX_WEBHOOK_RESPONSE_BYTES = 3 * 1024 * 1024;

/** The URL as sent: with `timeout=Ns`, as kube-apiserver tells a webhook its deadline. */
export function callUrl(endpoint: WebhookEndpoint, timeoutMs: number): URL {
  const url = new URL(endpoint.url.href);
  url.searchParams.set('timeout', `${Math.ceil(timeoutMs / 1000)}s`);
  return url;
}

/** The production caller over node:https; `maxBytes` bounds the answer. */
export function createWebhookCaller(maxBytes = MAX_WEBHOOK_RESPONSE_BYTES): WebhookCaller {
  return {
    post(endpoint, body, timeoutMs) {
      const url = callUrl(endpoint, timeoutMs);
      const post = `Post "${url.href}"`;
      return new Promise<string>((resolve, reject) => {
        if (url.protocol !== 'https:') {
          reject(new Error(`failed to call webhook: ${post}: the webhook URL must use https`));
          return;
        }
        const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
        const serverName = endpoint.serverName ?? (isIP(host) === 0 ? host : undefined);
        let settled = false;
        const fail = (reason: string): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          req.destroy();
          reject(new Error(`failed to call webhook: ${post}: ${reason}`));
        };
        const req = https.request({
          method: 'POST',
          host,
          port: url.port === '' ? 443 : Number(url.port),
          path: `${url.pathname}${url.search}`,
          headers: {
            'Content-Type': 'application/json',
            Accept: 'application/json',
            'Content-Length': Buffer.byteLength(body),
            ...(endpoint.serverName === undefined ? {} : { Host: url.port === '' ? endpoint.serverName : `${endpoint.serverName}:${url.port}` }),
          },
          ...(endpoint.caBundle === '' ? {} : { ca: endpoint.caBundle }),
          ...(serverName === undefined ? {} : { servername: serverName }),
          agent: false,
        });
        const timer = setTimeout(() => fail(`context deadline exceeded (no answer within ${Math.ceil(timeoutMs / 1000)}s)`), timeoutMs);
        req.on('error', (err) => fail(err.message));
        req.on('response', (res) => {
          res.on('error', (err) => fail(err.message));
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > maxBytes) fail(`the answer is larger than ${maxBytes} bytes`);
            else chunks.push(chunk);
          });
          res.on('end', () => {
            if (settled) return;
            const status = res.statusCode ?? 0;
            if (status < 200 || status > 299) {
              fail(`the server answered HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`);
              return;
            }
            settled = true;
            clearTimeout(timer);
            resolve(Buffer.concat(chunks).toString('utf8'));
          });
        });
        req.end(body);
      });
    },
  };
}
