// One POST to a real HTTPS webhook (the e2e test's webhook server, on
// loopback): verified against the caBundle under the right name, bounded in
// time and in answer size, and every failure worded as kube-apiserver words it.
import https from 'node:https';
import type { RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { callUrl, createWebhookCaller } from '../../server/webhook-client.ts';
import { makeServingCert, startWebhookServer } from '../e2e/helpers/webhook-server.ts';

const review = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u-1', name: 'web' } });

test('a review reaches the webhook with the timeout in the URL, and its answer comes back', async (t) => {
  const hook = await startWebhookServer('127.0.0.1', () => ({ allowed: true }));
  t.teardown(() => hook.close());
  const body = await createWebhookCaller().post({ url: new URL(hook.url), caBundle: hook.caPem }, review, 7000);
  t.like(JSON.parse(body), { response: { uid: 'u-1', allowed: true } });
  t.deepEqual(hook.paths, ['/validate?timeout=7s']);
});

test('a serving certificate that the caBundle did not sign is a failed call', async (t) => {
  const hook = await startWebhookServer('127.0.0.1', () => ({ allowed: true }));
  t.teardown(() => hook.close());
  const other = makeServingCert('127.0.0.1');
  const err = await t.throwsAsync(createWebhookCaller().post({ url: new URL(hook.url), caBundle: other.caPem }, review, 5000));
  t.regex(err?.message ?? '', new RegExp(`^failed to call webhook: Post "${hook.url.replaceAll('.', '\\.')}\\?timeout=5s": .*(certificate|self.signed|issuer)`, 'i'));
  t.is(hook.reviews.length, 0);
});

/** An HTTPS server on loopback whose certificate names `name` and which answers with `handler`. */
async function server(name: string, handler: RequestListener): Promise<{ port: number; caPem: string; close(): Promise<void> }> {
  const pki = makeServingCert(name);
  const s = https.createServer({ cert: pki.certPem, key: pki.keyPem }, handler);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return {
    port: (s.address() as AddressInfo).port,
    caPem: pki.caPem,
    close: () =>
      new Promise<void>((resolve) => {
        s.closeAllConnections();
        s.close(() => resolve());
      }),
  };
}

test('a Service webhook is verified under NAME.NAMESPACE.svc while dialled at its address, and told that name as Host', async (t) => {
  let host = '';
  const s = await server('hook.sec.svc', (req, res) => {
    host = req.headers.host ?? '';
    res.end('{}');
  });
  t.teardown(() => s.close());
  const caller = createWebhookCaller();
  t.is(await caller.post({ url: new URL(`https://127.0.0.1:${s.port}/`), serverName: 'hook.sec.svc', caBundle: s.caPem }, review, 5000), '{}');
  t.is(host, `hook.sec.svc:${s.port}`);
  // The same certificate does not pass for another Service.
  await t.throwsAsync(caller.post({ url: new URL(`https://127.0.0.1:${s.port}/`), serverName: 'other.sec.svc', caBundle: s.caPem }, review, 5000), { message: /other\.sec\.svc|altnames|Hostname/i });
});

test('a webhook that does not answer in time is a failed call after its timeout', async (t) => {
  const s = await server('127.0.0.1', () => {}); // never answers
  t.teardown(() => s.close());
  const started = Date.now();
  const err = await t.throwsAsync(createWebhookCaller().post({ url: new URL(`https://127.0.0.1:${s.port}/v`), caBundle: s.caPem }, review, 1000));
  t.regex(err?.message ?? '', /context deadline exceeded \(no answer within 1s\)/);
  t.true(Date.now() - started < 5000);
});

test('an answer larger than the bound is cut off and is a failed call', async (t) => {
  const s = await server('127.0.0.1', (_req, res) => {
    res.on('error', () => {});
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const push = (): void => {
      while (res.write(chunk)) {
        /* keep writing until the socket pushes back */
      }
      res.once('drain', push);
    };
    push();
  });
  t.teardown(() => s.close());
  const err = await t.throwsAsync(createWebhookCaller(256 * 1024).post({ url: new URL(`https://127.0.0.1:${s.port}/`), caBundle: s.caPem }, review, 10_000));
  t.regex(err?.message ?? '', /the answer is larger than 262144 bytes/);
});

test('an HTTP error status is a failed call naming it', async (t) => {
  const s = await server('127.0.0.1', (_req, res) => res.writeHead(503, 'Service Unavailable').end('busy'));
  t.teardown(() => s.close());
  await t.throwsAsync(createWebhookCaller().post({ url: new URL(`https://127.0.0.1:${s.port}/`), caBundle: s.caPem }, review, 5000), { message: /the server answered HTTP 503 Service Unavailable/ });
});

test('a plain http URL is refused without a connection', async (t) => {
  await t.throwsAsync(createWebhookCaller().post({ url: new URL('http://127.0.0.1:1/'), caBundle: '' }, review, 5000), { message: /must use https/ });
});

test('the timeout parameter rounds up to whole seconds and replaces one already in the URL', (t) => {
  t.is(callUrl({ url: new URL('https://h/p?timeout=99s&x=1'), caBundle: '' }, 2500).href, 'https://h/p?timeout=3s&x=1');
});
