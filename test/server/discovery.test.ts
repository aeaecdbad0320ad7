import test from 'ava';
import { createRpfServer } from '../../server/app.ts';
import type { RpfServer } from '../../server/app.ts';
import { fakeClock, fakeKube, headerAuthenticator, memoryLogger } from './helpers/fakes.ts';
import { makeTestPki } from './helpers/pki.ts';
import { testConfig } from './helpers/server.ts';

const pki = makeTestPki();
test.after.always(() => pki.cleanup());

const V2 = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
const USER = { 'x-remote-user': 'system:kube-aggregator', 'x-remote-group': 'system:masters' };

function server(ready = true): RpfServer {
  const auth = headerAuthenticator();
  return createRpfServer(testConfig(pki), {
    kube: fakeKube(),
    clock: fakeClock(),
    logger: memoryLogger('silent').logger,
    authenticator: { ...auth, ready, authenticate: auth.authenticate },
  });
}

test('the group version lists pods/reverseportforward and reverseportforwards as namespaced resources', async (t) => {
  const res = await server().app.inject({ method: 'GET', url: '/apis/rpf.kube-rpf.dev/v1alpha1', headers: USER });
  t.is(res.statusCode, 200);
  t.regex(res.headers['content-type'] as string, /^application\/json/);
  const body = res.json<{ kind: string; groupVersion: string; resources: { name: string; namespaced: boolean; kind: string; verbs: string[] }[] }>();
  t.is(body.kind, 'APIResourceList');
  t.is(body.groupVersion, 'rpf.kube-rpf.dev/v1alpha1');
  const sub = body.resources.find((r) => r.name === 'pods/reverseportforward');
  t.true(sub?.namespaced);
  t.deepEqual(sub?.verbs.slice().sort(), ['create', 'get']);
  const sessions = body.resources.find((r) => r.name === 'reverseportforwards');
  t.is(sessions?.kind, 'ReversePortForward');
  t.true(sessions?.namespaced);
  t.deepEqual(sessions?.verbs.slice().sort(), ['delete', 'get', 'list']);
});

test('aggregated discovery v2 is served with the media type echoed, the subresource under a verb-less pods parent', async (t) => {
  const res = await server().app.inject({ method: 'GET', url: '/apis', headers: { ...USER, accept: V2 } });
  t.is(res.statusCode, 200);
  t.is(res.headers['content-type'], V2);
  const body = res.json<{ kind: string; apiVersion: string; items: { metadata: { name: string }; versions: { version: string; freshness: string; resources: Record<string, unknown>[] }[] }[] }>();
  t.is(body.kind, 'APIGroupDiscoveryList');
  t.is(body.apiVersion, 'apidiscovery.k8s.io/v2');
  t.is(body.items[0]?.metadata.name, 'rpf.kube-rpf.dev');
  const version = body.items[0]?.versions[0];
  t.is(version?.version, 'v1alpha1');
  t.is(version?.freshness, 'Current');
  const pods = version?.resources.find((r) => r['resource'] === 'pods');
  t.deepEqual(pods?.['verbs'], []);
  t.deepEqual(pods?.['responseKind'], { group: '', version: '', kind: '' });
  t.deepEqual(pods?.['subresources'], [
    { subresource: 'reverseportforward', responseKind: { group: 'rpf.kube-rpf.dev', version: 'v1alpha1', kind: 'ReversePortForwardOptions' }, verbs: ['create', 'get'] },
  ]);
  const sessions = version?.resources.find((r) => r['resource'] === 'reverseportforwards');
  t.is(sessions?.['scope'], 'Namespaced');
  t.is(sessions?.['singularResource'], 'reverseportforward');
});

test('an Accept list preferring v2 (as kubectl and kube-aggregator send it) gets v2', async (t) => {
  const accept = `${V2},application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json`;
  const res = await server().app.inject({ method: 'GET', url: '/apis', headers: { ...USER, accept } });
  t.is(res.headers['content-type'], V2);
});

test('v2beta1 alone gets v2beta1', async (t) => {
  const accept = 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList';
  const res = await server().app.inject({ method: 'GET', url: '/apis', headers: { ...USER, accept } });
  t.is(res.headers['content-type'], accept);
  t.is(res.json<{ apiVersion: string }>().apiVersion, 'apidiscovery.k8s.io/v2beta1');
});

test('a plain Accept gets the legacy APIGroupList', async (t) => {
  const res = await server().app.inject({ method: 'GET', url: '/apis', headers: { ...USER, accept: 'application/json' } });
  t.is(res.statusCode, 200);
  const body = res.json<{ kind: string; groups: { name: string; preferredVersion: { groupVersion: string } }[] }>();
  t.is(body.kind, 'APIGroupList');
  t.is(body.groups[0]?.name, 'rpf.kube-rpf.dev');
  t.is(body.groups[0]?.preferredVersion.groupVersion, 'rpf.kube-rpf.dev/v1alpha1');
});

test('the group path answers an APIGroup', async (t) => {
  const res = await server().app.inject({ method: 'GET', url: '/apis/rpf.kube-rpf.dev', headers: USER });
  t.is(res.json<{ kind: string }>().kind, 'APIGroup');
});

test('a discovery document the client already has is answered 304 by ETag', async (t) => {
  const s = server();
  const first = await s.app.inject({ method: 'GET', url: '/apis', headers: { ...USER, accept: V2 } });
  const etag = first.headers['etag'] as string;
  t.truthy(etag);
  const second = await s.app.inject({ method: 'GET', url: '/apis', headers: { ...USER, accept: V2, 'if-none-match': etag } });
  t.is(second.statusCode, 304);
});

for (const url of ['/healthz', '/livez', '/readyz']) {
  test(`${url} answers ok without any authentication`, async (t) => {
    const res = await server().app.inject({ method: 'GET', url });
    t.is(res.statusCode, 200);
    t.is(res.body, 'ok');
  });
}

test('readyz fails until the authentication ConfigMap was loaded, while livez passes', async (t) => {
  const s = server(false);
  t.is((await s.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503);
  t.is((await s.app.inject({ method: 'GET', url: '/livez' })).statusCode, 200);
});

test('an unauthenticated discovery request is a 401 Status', async (t) => {
  const res = await server().app.inject({ method: 'GET', url: '/apis/rpf.kube-rpf.dev/v1alpha1' });
  t.is(res.statusCode, 401);
  t.is(res.headers['x-rpf-error-code'], 'RPF_ERR_SERVER_UNAUTHENTICATED');
  const body = res.json<{ kind: string; status: string; reason: string; code: number }>();
  t.is(body.kind, 'Status');
  t.is(body.status, 'Failure');
  t.is(body.reason, 'Unauthorized');
  t.is(body.code, 401);
});

test('an unknown path is a 404 Status after authentication, and a 401 before it', async (t) => {
  const s = server();
  const res = await s.app.inject({ method: 'GET', url: '/apis/other.group/v1', headers: USER });
  t.is(res.statusCode, 404);
  t.is(res.headers['x-rpf-error-code'], 'RPF_ERR_SERVER_NOT_FOUND');
  t.is((await s.app.inject({ method: 'GET', url: '/apis/other.group/v1' })).statusCode, 401);
});

test('a method the resource does not support is a 405 Status', async (t) => {
  const res = await server().app.inject({ method: 'POST', url: '/apis/rpf.kube-rpf.dev/v1alpha1/namespaces/dev/reverseportforwards', headers: { ...USER, 'content-type': 'application/json' }, payload: '{}' });
  t.is(res.statusCode, 405);
  t.is(res.json<{ reason: string }>().reason, 'MethodNotAllowed');
});
