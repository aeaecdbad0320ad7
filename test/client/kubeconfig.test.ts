import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { RpfClientError } from '../../client/errors.ts';
import { loadKubeContext, requestOptions } from '../../client/kube.ts';
import type { KubeContext } from '../../client/kube.ts';
import { resolveContext } from '../../client/kube-credentials.ts';
import { loadKubeconfig } from '../../client/kubeconfig.ts';
import type { KubeconfigEnvironment } from '../../client/kubeconfig.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

/** Writes `files` (relative path -> text or object; objects as JSON, which is YAML) under a new folder; returns it. */
function folder(files: Record<string, string | object>): string {
  const dir = scratchDir('kube-rpf-kubeconfig-');
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  }
  return dir;
}

/** A kubeconfig with one context "main" on cluster "main" and user "main". */
function config(cluster: object, user?: object, extra: object = {}): object {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'main',
    clusters: [{ name: 'main', cluster: { server: 'https://10.0.0.1:6443', ...cluster } }],
    users: user === undefined ? [] : [{ name: 'main', user }],
    contexts: [{ name: 'main', context: { cluster: 'main', ...(user === undefined ? {} : { user: 'main' }) } }],
    ...extra,
  };
}

/** An environment with nothing in it but `env`: no ~/.kube/config, no service account. */
function environment(env: Record<string, string> = {}): KubeconfigEnvironment {
  return { env, homeDir: scratchDir('kube-rpf-home-'), serviceAccountDir: '/nonexistent/serviceaccount' };
}

/** What requestOptions sets, read loosely. */
type Options = Record<string, unknown> & { headers: Record<string, unknown> };

/** The request options for the current context of the kubeconfig at `file`. */
async function optionsFor(file: string): Promise<Options> {
  return (await requestOptions(loadKubeContext({ kubeconfig: file }).credentials, { headers: { 'User-Agent': 'test' } })) as Options;
}

/** Runs `run`, expecting a KUBECONFIG error. */
function kubeconfigCode(t: ExecutionContext, run: () => unknown): RpfClientError | undefined {
  const error = t.throws(run, { instanceOf: RpfClientError });
  t.is(error?.code, 'RPF_ERR_CLIENT_KUBECONFIG');
  return error;
}

test('$KUBECONFIG files merge the way kubectl merges them: the first to name an entry wins', (t) => {
  const first = folder({
    kubeconfig: {
      clusters: [{ name: 'shared', cluster: { server: 'https://first:6443' } }],
      contexts: [{ name: 'a', context: { cluster: 'shared', namespace: 'from-first' } }],
    },
  });
  const second = folder({
    kubeconfig: {
      'current-context': 'b',
      clusters: [{ name: 'shared', cluster: { server: 'https://second:6443' } }, { name: 'only-second', cluster: { server: 'https://only:6443' } }],
      contexts: [{ name: 'a', context: { cluster: 'only-second' } }, { name: 'b', context: { cluster: 'only-second' } }],
    },
  });
  const third = folder({ kubeconfig: { 'current-context': 'a' } });
  const list = ['', path.join(first, 'kubeconfig'), '/nonexistent/kubeconfig', path.join(second, 'kubeconfig'), path.join(third, 'kubeconfig')].join(path.delimiter);
  const merged = loadKubeconfig(undefined, environment({ KUBECONFIG: list }));
  // current-context: the first file that sets one (the second), not the last.
  t.is(merged.currentContext, 'b');
  t.is(merged.clusters.get('shared')?.server, 'https://first:6443');
  t.is(merged.clusters.get('only-second')?.server, 'https://only:6443');
  t.is(merged.contexts.get('a')?.namespace, 'from-first');
  const context = resolveContext(merged, 'a');
  t.is(context.server, 'https://first:6443');
  t.is(context.namespace, 'from-first');
});

test('$KUBECONFIG naming only missing files is a KUBECONFIG error', (t) => {
  kubeconfigCode(t, () => loadKubeconfig(undefined, environment({ KUBECONFIG: '/nonexistent/a' })));
});

test('an empty $KUBECONFIG falls back to ~/.kube/config', (t) => {
  const env = environment({ KUBECONFIG: path.delimiter });
  mkdirSync(path.join(env.homeDir, '.kube'));
  writeFileSync(path.join(env.homeDir, '.kube', 'config'), JSON.stringify(config({ server: 'https://home:6443' })));
  t.is(resolveContext(loadKubeconfig(undefined, env)).server, 'https://home:6443');
});

test('with no kubeconfig anywhere the error says where one is looked for', (t) => {
  kubeconfigCode(t, () => loadKubeconfig(undefined, environment()));
});

test('in a pod with no kubeconfig the service account is used, its token read at each request', async (t) => {
  const serviceAccountDir = folder({ token: 'sa-token\n', 'ca.crt': 'SA CA', namespace: 'team-a' });
  const env = { ...environment({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }), serviceAccountDir };
  const context = resolveContext(loadKubeconfig(undefined, env));
  t.is(context.server, 'https://[fd00::1]:443');
  t.is(context.namespace, 'team-a');
  const options = await requestOptions(context.credentials, {});
  t.is(options.headers.Authorization, 'Bearer sa-token');
  t.is(String((options as { ca?: Buffer }).ca), 'SA CA');
});

test('relative paths count from the folder of the file that holds them', async (t) => {
  const dir = folder({
    'conf/kubeconfig': config(
      { 'certificate-authority': 'pki/ca.crt' },
      { 'client-certificate': '../certs/client.crt', 'client-key': '/abs/client.key', tokenFile: 'token', exec: { command: './bin/plugin', apiVersion: 'v1' } },
    ),
    'conf/pki/ca.crt': 'CA',
    'certs/client.crt': 'CERT',
    'conf/token': 'file-token',
  });
  const other = folder({ kubeconfig: config({}, { exec: { command: 'on-path-plugin' } }) });
  // Read through $KUBECONFIG from another folder, so nothing can count from the working folder by luck.
  const merged = loadKubeconfig(undefined, environment({ KUBECONFIG: [path.join(dir, 'conf/kubeconfig'), path.join(other, 'kubeconfig')].join(path.delimiter) }));
  t.is(merged.clusters.get('main')?.['certificate-authority'], path.join(dir, 'conf/pki/ca.crt'));
  const user = merged.users.get('main') ?? {};
  t.is(user['client-certificate'], path.join(dir, 'certs/client.crt'));
  t.is(user['client-key'], '/abs/client.key');
  t.is(user.tokenFile, path.join(dir, 'conf/token'));
  t.is((user.exec as { command: string }).command, path.join(dir, 'conf/bin/plugin'));

  const onPath = loadKubeconfig(path.join(other, 'kubeconfig')).users.get('main')?.exec as { command: string };
  t.is(onPath.command, 'on-path-plugin', 'a command without a slash is looked up on $PATH');
});

const kinds: Array<{ name: string; cluster?: object; user?: object; files?: Record<string, string>; expect: Record<string, unknown> }> = [
  { name: 'a token is a bearer header', user: { token: 'abc' }, expect: { Authorization: 'Bearer abc' } },
  { name: 'username and password are basic auth', user: { username: 'ann', password: 's3cret' }, expect: { Authorization: `Basic ${Buffer.from('ann:s3cret').toString('base64')}` } },
  {
    name: 'certificate data is decoded',
    cluster: { 'certificate-authority-data': Buffer.from('CA').toString('base64') },
    user: { 'client-certificate-data': Buffer.from('CERT').toString('base64'), 'client-key-data': Buffer.from('KEY').toString('base64') },
    expect: { ca: 'CA', cert: 'CERT', key: 'KEY', Authorization: undefined },
  },
  {
    name: 'certificate files are read',
    cluster: { 'certificate-authority': 'ca.crt' },
    user: { 'client-certificate': 'client.crt', 'client-key': 'client.key' },
    files: { 'ca.crt': 'CA FILE', 'client.crt': 'CERT FILE', 'client.key': 'KEY FILE' },
    expect: { ca: 'CA FILE', cert: 'CERT FILE', key: 'KEY FILE' },
  },
  { name: 'insecure-skip-tls-verify turns verification off', cluster: { 'insecure-skip-tls-verify': true }, user: {}, expect: { rejectUnauthorized: false } },
  { name: 'verification stays the default otherwise', user: {}, expect: { rejectUnauthorized: undefined, ca: undefined } },
  { name: 'tls-server-name is the TLS servername', cluster: { 'tls-server-name': 'kubernetes.default' }, expect: { servername: 'kubernetes.default' } },
  { name: 'a context without a user is anonymous', expect: { Authorization: undefined, cert: undefined } },
  {
    name: 'impersonation fields become Impersonate headers',
    user: { token: 't', as: 'jane', 'as-uid': '42', 'as-groups': ['dev', 'ops'], 'as-user-extra': { 'acme.com/team': ['x'] } },
    expect: { Authorization: 'Bearer t', 'Impersonate-User': 'jane', 'Impersonate-Uid': '42', 'Impersonate-Group': ['dev', 'ops'], 'Impersonate-Extra-acme.com%2Fteam': ['x'] },
  },
];

for (const kind of kinds) {
  test(`credentials: ${kind.name}`, async (t) => {
    const dir = folder({ kubeconfig: config(kind.cluster ?? {}, kind.user), ...kind.files });
    const options = await optionsFor(path.join(dir, 'kubeconfig'));
    t.is(options.headers['User-Agent'], 'test', 'the caller\'s headers stay');
    for (const [key, value] of Object.entries(kind.expect)) {
      // Capitalised keys are headers; the others are TLS options.
      const actual = /^[A-Z]/.test(key) ? options.headers[key] : options[key];
      t.deepEqual(Buffer.isBuffer(actual) ? actual.toString() : actual, value, key);
    }
  });
}

test('tokenFile is read again at each request', async (t) => {
  const dir = folder({ kubeconfig: config({}, { tokenFile: 'token' }), token: 'first\n' });
  const context = loadKubeContext({ kubeconfig: path.join(dir, 'kubeconfig') });
  t.is((await requestOptions(context.credentials, {})).headers.Authorization, 'Bearer first');
  writeFileSync(path.join(dir, 'token'), 'second');
  t.is((await requestOptions(context.credentials, {})).headers.Authorization, 'Bearer second');
});

test('a token is the fallback when tokenFile cannot be read, as in client-go', async (t) => {
  const dir = folder({ kubeconfig: config({}, { token: 'static', tokenFile: 'missing' }) });
  t.is((await optionsFor(path.join(dir, 'kubeconfig'))).headers.Authorization, 'Bearer static');
});

test('an unreadable tokenFile or certificate is a CREDENTIALS error', async (t) => {
  for (const user of [{ tokenFile: 'missing' }, { 'client-certificate': 'missing.crt', 'client-key': 'missing.key' }]) {
    const dir = folder({ kubeconfig: config({}, user) });
    const error = await t.throwsAsync(optionsFor(path.join(dir, 'kubeconfig')), { instanceOf: RpfClientError });
    t.is(error?.code, 'RPF_ERR_CLIENT_CREDENTIALS');
  }
});

const broken: Array<{ name: string; kubeconfig: object | string; context?: string }> = [
  { name: 'an unknown --context', kubeconfig: config({}), context: 'nope' },
  { name: 'no current context', kubeconfig: { ...config({}), 'current-context': '' } },
  { name: 'a current context that does not exist', kubeconfig: { ...config({}), 'current-context': 'gone' } },
  { name: 'a context naming a missing cluster', kubeconfig: { ...config({}), clusters: [] } },
  { name: 'a cluster without a server', kubeconfig: { ...config({}), clusters: [{ name: 'main', cluster: { 'insecure-skip-tls-verify': true } }] } },
  { name: 'a context naming a missing user', kubeconfig: { ...config({}, {}), users: [] } },
  { name: 'a token and basic auth together', kubeconfig: config({}, { token: 't', username: 'u', password: 'p' }) },
  { name: 'a client certificate without a key', kubeconfig: config({}, { 'client-certificate-data': 'Q0VSVA==' }) },
  { name: 'certificate data and file together', kubeconfig: config({ 'certificate-authority': 'ca.crt', 'certificate-authority-data': 'Q0E=' }) },
  { name: 'impersonated groups without a user', kubeconfig: config({}, { token: 't', 'as-groups': ['dev'] }) },
  { name: 'a field of the wrong type', kubeconfig: config({ 'insecure-skip-tls-verify': 'yes please' }) },
  { name: 'a YAML syntax error', kubeconfig: 'clusters: [unclosed\n' },
  { name: 'a list that is not a list', kubeconfig: { clusters: { name: 'a' } } },
];

for (const { name, kubeconfig, context } of broken) {
  test(`a KUBECONFIG error names the problem: ${name}`, (t) => {
    const dir = folder({ kubeconfig });
    const error = kubeconfigCode(t, () => loadKubeContext({ kubeconfig: path.join(dir, 'kubeconfig'), ...(context === undefined ? {} : { context }) }));
    // The CLI prints one `error:` line, a user contract: js-yaml's snippets must not leak into it.
    t.false(error?.message.includes('\n'), 'one line');
  });
}

test('a YAML kubeconfig as kubectl writes it loads', async (t) => {
  const dir = folder({
    kubeconfig: [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- cluster:',
      '    server: https://127.0.0.1:6443/',
      '    insecure-skip-tls-verify: true',
      '  name: kind',
      'contexts:',
      '- context:',
      '    cluster: kind',
      '    user: admin',
      '    namespace: dev',
      '  name: kind',
      'current-context: kind',
      'preferences: {}',
      'users:',
      '- name: admin',
      '  user:',
      '    token: yaml-token',
      '',
    ].join('\n'),
  });
  const context = loadKubeContext({ kubeconfig: path.join(dir, 'kubeconfig') });
  t.is(context.contextName, 'kind');
  t.is(context.server, 'https://127.0.0.1:6443');
  t.is(context.namespace, 'dev');
  t.is((await requestOptions(context.credentials, {})).headers.Authorization, 'Bearer yaml-token');
});

test('an empty kubeconfig file has no current context', (t) => {
  const dir = folder({ kubeconfig: '' });
  kubeconfigCode(t, () => loadKubeContext({ kubeconfig: path.join(dir, 'kubeconfig') }));
});

/** A credential plugin printing an ExecCredential with `token`, or failing when token is undefined. */
function plugin(dir: string, token: string | undefined): void {
  const credential = JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token } });
  const body = token === undefined ? 'echo "plugin failed" >&2; exit 1' : `echo '${credential}'`;
  writeFileSync(path.join(dir, 'bin', 'get-token'), `#!/bin/sh\n${body}\n`);
  chmodSync(path.join(dir, 'bin', 'get-token'), 0o755);
}

test('an exec user gets its credentials from client-node, running the plugin', async (t) => {
  const dir = folder({ kubeconfig: config({}, { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: './bin/get-token', interactiveMode: 'Never' } }) });
  mkdirSync(path.join(dir, 'bin'));
  plugin(dir, 'from-plugin');
  const context = loadKubeContext({ kubeconfig: path.join(dir, 'kubeconfig') });
  t.true(context.credentials.delegated);
  t.is((await requestOptions(context.credentials, {})).headers.Authorization, 'Bearer from-plugin');
});

test('a failing exec plugin is a CREDENTIALS error', async (t) => {
  const dir = folder({ kubeconfig: config({}, { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: './bin/get-token' } }) });
  mkdirSync(path.join(dir, 'bin'));
  plugin(dir, undefined);
  const context = loadKubeContext({ kubeconfig: path.join(dir, 'kubeconfig') });
  const error = await t.throwsAsync(requestOptions(context.credentials, {}), { instanceOf: RpfClientError });
  t.is(error?.code, 'RPF_ERR_CLIENT_CREDENTIALS');
});

test('a cluster behind proxy-url goes through client-node, which sets the proxy agent', async (t) => {
  const dir = folder({ kubeconfig: config({ 'proxy-url': 'http://127.0.0.1:3128' }, { token: 'proxied' }) });
  const context = loadKubeContext({ kubeconfig: path.join(dir, 'kubeconfig') });
  t.true(context.credentials.delegated);
  const options = (await requestOptions(context.credentials, {})) as Options;
  t.is(options.headers.Authorization, 'Bearer proxied');
  t.truthy(options.agent);
});

test('users without a plugin or proxy are not handed to client-node', (t) => {
  const dir = folder({ kubeconfig: config({}, { token: 't' }) });
  t.false(loadKubeContext({ kubeconfig: path.join(dir, 'kubeconfig') }).credentials.delegated);
});

function clientNodeConfig(users: object[]): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(JSON.stringify({
    'current-context': 'first',
    clusters: [{ name: 'c', cluster: { server: 'https://10.1.1.1:6443', 'insecure-skip-tls-verify': true } }],
    users,
    contexts: [
      { name: 'first', context: { cluster: 'c', user: 'u', namespace: 'one' } },
      { name: 'second', context: { cluster: 'c', user: 'u' } },
    ],
  }));
  return kubeConfig;
}

test('a client-node KubeConfig object is accepted', async (t) => {
  const kubeConfig = clientNodeConfig([{ name: 'u', user: { token: 'object-token' } }]);
  const context: KubeContext = loadKubeContext({ kubeconfig: kubeConfig });
  t.is(context.contextName, 'first');
  t.is(context.server, 'https://10.1.1.1:6443');
  t.is(context.namespace, 'one');
  const options = await requestOptions(context.credentials, {});
  t.is(options.headers.Authorization, 'Bearer object-token');
  t.false((options as { rejectUnauthorized?: boolean }).rejectUnauthorized);
});

test('an exec user of a KubeConfig object is authenticated by that object, which is never switched to another context', async (t) => {
  const dir = folder({});
  mkdirSync(path.join(dir, 'bin'));
  plugin(dir, 'object-plugin');
  const kubeConfig = clientNodeConfig([{ name: 'u', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: path.join(dir, 'bin/get-token') } } }]);
  for (const name of ['first', 'second']) {
    const context = loadKubeContext({ kubeconfig: kubeConfig, context: name });
    t.is((await requestOptions(context.credentials, {})).headers.Authorization, 'Bearer object-plugin', name);
  }
  t.is(kubeConfig.getCurrentContext(), 'first');
});
