// A validating admission webhook served by the test itself over HTTPS, with a
// CA of its own (openssl, like test/server/helpers/pki.ts): it records every
// AdmissionReview it receives and answers with what `decide` says.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The `request` of an AdmissionReview, as far as the tests read it. */
export interface ReviewRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  resource: { group: string; version: string; resource: string };
  subResource: string;
  requestKind: { group: string; version: string; kind: string };
  name: string;
  namespace: string;
  operation: string;
  userInfo: { username: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  object: { apiVersion: string; kind: string; ports: number[]; addresses: string[] };
  oldObject: unknown;
  dryRun: boolean;
  options: unknown;
}

/** What the webhook answers for one request. */
export interface Decision {
  allowed: boolean;
  status?: { code?: number; message?: string; reason?: string };
}

/** A running webhook. */
export interface WebhookServer {
  /** https://HOST:PORT/validate */
  url: string;
  /** The CA that signed the serving certificate, PEM (for caBundle). */
  caPem: string;
  reviews: ReviewRequest[];
  /** Raw request URLs as received (with the timeout query parameter). */
  paths: string[];
  close(): Promise<void>;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA and a serving certificate for `host` (an IP or a DNS name), PEM. */
export function makeServingCert(host: string): { caPem: string; certPem: string; keyPem: string } {
  const dir = mkdtempSync(join(tmpdir(), 'rpf-webhook-pki-'));
  try {
    const f = (n: string) => join(dir, n);
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f('ca.key')]);
    openssl([
      'req', '-x509', '-new', '-key', f('ca.key'), '-subj', '/CN=rpf-test-webhook-ca', '-days', '2', '-sha256',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature', '-out', f('ca.crt'),
    ]);
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f('tls.key')]);
    openssl(['req', '-new', '-key', f('tls.key'), '-subj', '/CN=rpf-test-webhook', '-out', f('tls.csr')]);
    const san = isIP(host) === 0 ? `DNS:${host}` : `IP:${host}`;
    writeFileSync(f('tls.ext'), `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`);
    openssl(['x509', '-req', '-in', f('tls.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-sha256', '-extfile', f('tls.ext'), '-out', f('tls.crt')]);
    return { caPem: readFileSync(f('ca.crt'), 'utf8'), certPem: readFileSync(f('tls.crt'), 'utf8'), keyPem: readFileSync(f('tls.key'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Serves a validating webhook on `host` (port 0: any free port). `decide`
 * sees each review's request; the answer echoes its uid, as admission/v1 demands.
 */
export async function startWebhookServer(host: string, decide: (request: ReviewRequest) => Decision): Promise<WebhookServer> {
  const { caPem, certPem, keyPem } = makeServingCert(host);
  const reviews: ReviewRequest[] = [];
  const paths: string[] = [];
  const server = https.createServer({ cert: certPem, key: keyPem }, (req, res) => {
    req.on('error', () => {});
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      paths.push(req.url ?? '');
      let review: { apiVersion?: string; request?: ReviewRequest };
      try {
        review = JSON.parse(body) as typeof review;
      } catch {
        res.writeHead(400).end();
        return;
      }
      const request = review.request;
      if (request === undefined) {
        res.writeHead(400).end();
        return;
      }
      reviews.push(request);
      const decision = decide(request);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ apiVersion: review.apiVersion, kind: 'AdmissionReview', response: { uid: request.uid, ...decision } }));
    });
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const literal = isIP(host) === 6 ? `[${host}]` : host;
  return {
    url: `https://${literal}:${port}/validate`,
    caPem,
    reviews,
    paths,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
