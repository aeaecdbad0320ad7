// kube-credentials.ts on its own: which context a command uses and what its
// user's credentials put on a request, from in-memory kubeconfigs.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import test from 'ava';
import { RpfClientError } from '../../client/errors.ts';
import { resolveContext } from '../../client/kube-credentials.ts';
import type { CredentialOptions } from '../../client/kube-credentials.ts';
import { parseKubeconfig } from '../../client/kubeconfig.ts';
import type { Kubeconfig } from '../../client/kubeconfig.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

/** A kubeconfig with contexts "main" (current, user "main") and "anonymous" (no user) on one cluster. */
function kubeconfig(user: object, cluster: object = {}, dir = '/nonexistent'): Kubeconfig {
  return parseKubeconfig(JSON.stringify({
    'current-context': 'main',
    clusters: [{ name: 'c', cluster: { server: 'https://10.0.0.1:6443/', ...cluster } }],
    users: [{ name: 'main', user }],
    contexts: [
      { name: 'main', context: { cluster: 'c', user: 'main', namespace: 'team-a' } },
      { name: 'anonymous', context: { cluster: 'c' } },
    ],
  }), dir);
}

/** What the credentials of `context` set on a request that already carries a User-Agent. */
async function applied(config: Kubeconfig, context?: string): Promise<CredentialOptions & { headers: Record<string, string | string[]> }> {
  const options = { headers: { 'User-Agent': 'test' } as Record<string, string | string[]> };
  await resolveContext(config, context).credentials.applyTo(options);
  return options;
}

test('the current context is used unless one is named; the server loses one trailing slash', (t) => {
  const config = kubeconfig({ token: 't' });
  const current = resolveContext(config);
  t.deepEqual([current.contextName, current.server, current.namespace, current.credentials.userName], ['main', 'https://10.0.0.1:6443', 'team-a', 'main']);
  const named = resolveContext(config, 'anonymous');
  t.deepEqual([named.contextName, named.namespace, named.credentials.userName], ['anonymous', undefined, '']);
});

test('a context without a user is anonymous: nothing but the caller\'s headers', async (t) => {
  t.deepEqual(await applied(kubeconfig({ token: 't' }), 'anonymous'), { headers: { 'User-Agent': 'test' } });
});

test('an unknown context, a missing cluster or user, and an unusable user are KUBECONFIG errors', (t) => {
  const unusable = [
    () => resolveContext(kubeconfig({ token: 't' }), 'nope'),
    () => resolveContext({ ...kubeconfig({}), clusters: new Map() }),
    () => resolveContext({ ...kubeconfig({}), users: new Map() }),
    () => resolveContext(kubeconfig({ token: 't', username: 'u' })),
    () => resolveContext(kubeconfig({ exec: { command: 'a' }, 'auth-provider': { name: 'b' } })),
  ];
  for (const [i, run] of unusable.entries()) t.is(t.throws(run, { instanceOf: RpfClientError })?.code, 'RPF_ERR_CLIENT_KUBECONFIG', String(i));
});

test('only exec and auth-provider users and proxied clusters are delegated to client-node', (t) => {
  t.false(resolveContext(kubeconfig({ token: 't' })).credentials.delegated);
  t.true(resolveContext(kubeconfig({ exec: { command: 'get-token' } })).credentials.delegated);
  t.true(resolveContext(kubeconfig({ 'auth-provider': { name: 'oidc' } })).credentials.delegated);
  t.true(resolveContext(kubeconfig({ token: 't' }, { 'proxy-url': 'http://127.0.0.1:3128' })).credentials.delegated);
});

test('extra keys are escaped in header names the way client-go escapes them', async (t) => {
  const { headers } = await applied(kubeconfig({ token: 't', as: 'jane', 'as-user-extra': { 'acme.com/team': ['x'], 'ü%': ['y'] } }));
  t.deepEqual(headers['Impersonate-Extra-acme.com%2Fteam'], ['x']);
  t.deepEqual(headers['Impersonate-Extra-%C3%BC%25'], ['y']);
});

test('impersonation beyond `as` is added for a delegated user too, which client-node does not know', async (t) => {
  const { headers } = await applied(kubeconfig({ token: 'proxied', as: 'jane', 'as-groups': ['dev', 'ops'] }, { 'proxy-url': 'http://127.0.0.1:3128' }));
  t.is(headers.Authorization, 'Bearer proxied');
  t.deepEqual(headers['Impersonate-Group'], ['dev', 'ops']);
  t.is(headers['User-Agent'], 'test');
});

test('a tokenFile wins over token, and an empty one falls back to it', async (t) => {
  const dir = scratchDir('kube-rpf-credentials-');
  writeFileSync(path.join(dir, 'token'), 'from-file\n');
  writeFileSync(path.join(dir, 'empty'), '');
  t.is((await applied(kubeconfig({ token: 'static', tokenFile: 'token' }, {}, dir))).headers.Authorization, 'Bearer from-file');
  t.is((await applied(kubeconfig({ token: 'static', tokenFile: 'empty' }, {}, dir))).headers.Authorization, 'Bearer static');
  // Without a token to fall back on, applyTo throws a plain error; kube.ts's requestOptions makes it a CREDENTIALS error.
  await t.throwsAsync(applied(kubeconfig({ tokenFile: 'empty' }, {}, dir)));
});

test('a client certificate file is read again at each request: a rotated certificate is picked up', async (t) => {
  const dir = scratchDir('kube-rpf-credentials-');
  writeFileSync(path.join(dir, 'client.crt'), 'CERT 1');
  writeFileSync(path.join(dir, 'client.key'), 'KEY');
  const config = kubeconfig({ 'client-certificate': 'client.crt', 'client-key': 'client.key' }, {}, dir);
  const credentials = resolveContext(config).credentials;
  const first: CredentialOptions = {};
  await credentials.applyTo(first);
  writeFileSync(path.join(dir, 'client.crt'), 'CERT 2');
  const second: CredentialOptions = {};
  await credentials.applyTo(second);
  t.deepEqual([String(first.cert), String(second.cert), String(second.key)], ['CERT 1', 'CERT 2', 'KEY']);
});

test('a caller\'s KubeConfig authenticates its own current context itself', async (t) => {
  const calls: string[] = [];
  // Duck-typed as kubeconfig.ts accepts it: only what kube-credentials.ts calls.
  const kubeConfig = {
    getCurrentContext: () => 'main',
    applyToHTTPSOptions: async (options: CredentialOptions) => {
      calls.push('applyToHTTPSOptions');
      options.headers = { ...options.headers, Authorization: 'Bearer from-object' };
    },
  } as unknown as KubeConfig;
  const config: Kubeconfig = { ...kubeconfig({ exec: { command: 'get-token' } }), kubeConfig };
  t.is((await applied(config)).headers.Authorization, 'Bearer from-object');
  t.deepEqual(calls, ['applyToHTTPSOptions']);
});
