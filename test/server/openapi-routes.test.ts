import test from 'ava';
import { createRpfServer } from '../../server/app.ts';
import type { RpfServer } from '../../server/app.ts';
import { ifNoneMatchHits } from '../../server/openapi-routes.ts';
import { fakeClock, fakeKube, headerAuthenticator, memoryLogger } from './helpers/fakes.ts';
import { makeTestPki } from './helpers/pki.ts';
import { testConfig } from './helpers/server.ts';

const pki = makeTestPki();
test.after.always(() => pki.cleanup());

// kube-aggregator downloads OpenAPI as this user (kube-aggregator's openapi controllers).
const AGGREGATOR = { 'x-remote-user': 'system:aggregator' };
const GV_PATH = '/openapi/v3/apis/rpf.kube-rpf.dev/v1alpha1';

function server(): RpfServer {
  return createRpfServer(testConfig(pki), {
    kube: fakeKube(),
    clock: fakeClock(),
    logger: memoryLogger('silent').logger,
    authenticator: headerAuthenticator(),
  });
}

test('/openapi/v2 answers JSON with an ETag to the Accept kube-aggregator sends, and 304 when the ETag comes back', async (t) => {
  const s = server();
  const res = await s.app.inject({ method: 'GET', url: '/openapi/v2', headers: { ...AGGREGATOR, accept: 'application/json' } });
  t.is(res.statusCode, 200);
  t.is(res.headers['content-type'], 'application/json');
  t.is(res.json<{ swagger: string }>().swagger, '2.0');
  const etag = res.headers['etag'] as string;
  t.regex(etag, /^"[0-9A-F]{128}"$/);
  const again = await s.app.inject({ method: 'GET', url: '/openapi/v2', headers: { ...AGGREGATOR, accept: 'application/json', 'if-none-match': etag } });
  t.is(again.statusCode, 304);
  t.is(again.body, '');
  t.is(again.headers['etag'], etag);
});

test('the v3 index points at the group version document by its hash, which serves it for good', async (t) => {
  const s = server();
  const index = await s.app.inject({ method: 'GET', url: '/openapi/v3', headers: AGGREGATOR });
  t.is(index.statusCode, 200);
  const url = index.json<{ paths: Record<string, { serverRelativeURL: string }> }>().paths['apis/rpf.kube-rpf.dev/v1alpha1']?.serverRelativeURL ?? '';
  t.regex(url, /^\/openapi\/v3\/apis\/rpf\.kube-rpf\.dev\/v1alpha1\?hash=[0-9A-F]{128}$/);
  const doc = await s.app.inject({ method: 'GET', url, headers: { ...AGGREGATOR, accept: 'application/json' } });
  t.is(doc.statusCode, 200);
  t.is(doc.json<{ openapi: string }>().openapi, '3.0.0');
  t.is(doc.headers['cache-control'], 'public, immutable');
  t.truthy(doc.headers['expires']);
  // The hash is the document's ETag, as kube-openapi's handler3 makes it.
  t.is(doc.headers['etag'], `"${url.split('hash=')[1]}"`);
});

test('the group version document without a hash, or with a stale one, is served for revalidation, not for good', async (t) => {
  const s = server();
  const plain = await s.app.inject({ method: 'GET', url: GV_PATH, headers: AGGREGATOR });
  t.is(plain.statusCode, 200);
  t.is(plain.headers['cache-control'], 'no-cache, private');
  const hash = (plain.headers['etag'] as string).slice(1, -1);
  // Not a redirect, as kube-openapi's handler3 answers: kube-aggregator turns proxied redirects into 502s.
  const stale = await s.app.inject({ method: 'GET', url: `${GV_PATH}?hash=0123`, headers: AGGREGATOR });
  t.is(stale.statusCode, 200);
  t.is(stale.headers['cache-control'], 'no-cache, private');
  t.is(stale.headers['expires'], undefined);
  t.is(stale.body, plain.body);
  const cached = await s.app.inject({ method: 'GET', url: GV_PATH, headers: { ...AGGREGATOR, 'if-none-match': `W/"${hash}"` } });
  t.is(cached.statusCode, 304);
});

test('OpenAPI paths of other group versions are a 404 Status, and every OpenAPI path needs authentication', async (t) => {
  const s = server();
  const other = await s.app.inject({ method: 'GET', url: '/openapi/v3/apis/rpf.kube-rpf.dev', headers: AGGREGATOR });
  t.is(other.statusCode, 404);
  t.is(other.json<{ reason: string }>().reason, 'NotFound');
  for (const url of ['/openapi/v2', '/openapi/v3', GV_PATH]) {
    t.is((await s.app.inject({ method: 'GET', url })).statusCode, 401, url);
  }
});

const matches: [name: string, header: string | undefined, hit: boolean][] = [
  ['absent', undefined, false],
  ['the same tag', '"A1"', true],
  ['a weak tag', 'W/"A1"', true],
  ['one of a list', '"B2", "A1"', true],
  ['any', '*', true],
  ['another tag', '"B2"', false],
  ['the tag unquoted', 'A1', false],
];
for (const [name, header, hit] of matches) {
  test(`If-None-Match ${name} ${hit ? 'hits' : 'misses'}`, (t) => {
    t.is(ifNoneMatchHits(header, '"A1"'), hit);
  });
}
