import test from 'ava';
import { X509Certificate } from 'node:crypto';
import { RpfServerError } from '../../server/errors.ts';
import {
  commonName,
  distinctHeaders,
  FrontProxyAuthenticator,
  parseFrontProxyConfig,
  parsePemBundle,
  unescapeExtraKey,
  userFromHeaders,
  utf8HeaderValue,
  verifyClientChain,
} from '../../server/front-proxy-auth.ts';
import { fakeClock, fakeKube, memoryLogger } from './helpers/fakes.ts';
import { makeTestPki } from './helpers/pki.ts';

const pki = makeTestPki();
test.after.always(() => pki.cleanup());

const NOW = Date.now();
const x509 = (pem: string): X509Certificate => new X509Certificate(pem);

function configMap(extra: Record<string, string> = {}): Record<string, string> {
  return {
    'requestheader-client-ca-file': pki.frontProxyCa.cert,
    'requestheader-allowed-names': '["front-proxy-client"]',
    'requestheader-username-headers': '["X-Remote-User"]',
    'requestheader-group-headers': '["X-Remote-Group"]',
    'requestheader-extra-headers-prefix': '["X-Remote-Extra-"]',
    'requestheader-uid-headers': '["X-Remote-Uid"]',
    ...extra,
  };
}

const chains: { name: string; chain: () => X509Certificate[]; ok: boolean; now?: number; cm?: Record<string, string> }[] = [
  { name: 'the front-proxy client signed by the requestheader CA', chain: () => [x509(pki.frontProxyClient.cert)], ok: true },
  { name: 'a client under an intermediate CA it presents', chain: () => [x509(pki.intermediateClient.cert), x509(pki.intermediateCa.cert)], ok: true },
  { name: 'a client under an intermediate CA it does not present', chain: () => [x509(pki.intermediateClient.cert)], ok: false },
  { name: 'a client signed by another CA', chain: () => [x509(pki.otherCaClient.cert)], ok: false },
  { name: 'a client of another CA presenting that CA', chain: () => [x509(pki.otherCaClient.cert), x509(pki.otherCa.cert)], ok: false },
  { name: 'a client whose CN is not allowed', chain: () => [x509(pki.wrongCnClient.cert)], ok: false },
  { name: 'any CN when the allowed list is empty', chain: () => [x509(pki.wrongCnClient.cert)], ok: true, cm: configMap({ 'requestheader-allowed-names': '[]' }) },
  { name: 'a certificate for server authentication only', chain: () => [x509(pki.serverAuthOnlyClient.cert)], ok: false },
  { name: 'an expired client certificate', chain: () => [x509(pki.frontProxyClient.cert)], ok: false, now: NOW + 20 * 365 * 86400_000 },
  { name: 'a client certificate not yet valid', chain: () => [x509(pki.frontProxyClient.cert)], ok: false, now: NOW - 86400_000 },
  { name: 'no certificate at all', chain: () => [], ok: false },
  { name: 'a good client when no requestheader CA is published', chain: () => [x509(pki.frontProxyClient.cert)], ok: false, cm: configMap({ 'requestheader-client-ca-file': '' }) },
  { name: 'the requestheader CA certificate presented as the client', chain: () => [x509(pki.frontProxyCa.cert)], ok: false },
];

for (const c of chains) {
  test(`client chain verification ${c.ok ? 'accepts' : 'refuses'} ${c.name}`, (t) => {
    const err = verifyClientChain(c.chain(), parseFrontProxyConfig(c.cm ?? configMap()), c.now ?? NOW);
    if (c.ok) t.is(err, undefined);
    else t.not(err, undefined);
  });
}

test('the CA bundle may hold several CAs (rotation) and any of them anchors', (t) => {
  const config = parseFrontProxyConfig(configMap({ 'requestheader-client-ca-file': `${pki.otherCa.cert}\n${pki.frontProxyCa.cert}` }));
  t.is(config.cas.length, 2);
  t.is(verifyClientChain([x509(pki.frontProxyClient.cert)], config, NOW), undefined);
  t.is(verifyClientChain([x509(pki.otherCaClient.cert)], config, NOW), undefined);
});

test('a PEM bundle with garbage keeps its good certificates', (t) => {
  t.is(parsePemBundle(`junk\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n${pki.frontProxyCa.cert}`).length, 1);
});

test('the common name is read from the subject', (t) => {
  t.is(commonName(x509(pki.frontProxyClient.cert)), 'front-proxy-client');
});

test('header lists missing from the ConfigMap fall back to X-Remote-*, present empty lists stay empty', (t) => {
  const missing = parseFrontProxyConfig({ 'requestheader-client-ca-file': pki.frontProxyCa.cert });
  t.deepEqual(missing.usernameHeaders, ['X-Remote-User']);
  t.deepEqual(missing.groupHeaders, ['X-Remote-Group']);
  t.deepEqual(missing.extraHeaderPrefixes, ['X-Remote-Extra-']);
  t.deepEqual(missing.uidHeaders, ['X-Remote-Uid']);
  t.deepEqual(missing.allowedNames, []);
  const empty = parseFrontProxyConfig(configMap({ 'requestheader-uid-headers': '[]' }));
  t.deepEqual(empty.uidHeaders, []);
});

test('the user, every group value, uid and extra (key unescaped and lowercased) are read from headers', (t) => {
  const user = userFromHeaders(
    {
      'x-remote-user': ['alice'],
      'x-remote-group': ['dev', 'system:authenticated'],
      'x-remote-uid': ['1234'],
      'x-remote-extra-scopes': ['a', 'b'],
      'x-remote-extra-acme.com%2fproject': ['p1'],
      'x-remote-extra-Bad%zz': ['q'],
    },
    parseFrontProxyConfig(configMap()),
  );
  t.deepEqual(user, {
    user: 'alice',
    groups: ['dev', 'system:authenticated'],
    uid: '1234',
    extra: { scopes: ['a', 'b'], 'acme.com/project': ['p1'], 'bad%zz': ['q'] },
  });
});

/** A header value as kube-apiserver sends it (UTF-8 bytes) and Node's parser hands it over (one Latin-1 character per byte). */
function onTheWire(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

test('header names that are members of Object.prototype are only names', (t) => {
  const names = ['__proto__', 'Constructor', 'toString', 'hasOwnProperty', 'valueOf'];
  const headers = distinctHeaders({ rawHeaders: names.flatMap((n) => [n, `${n}-value`]) });
  t.is(Object.getPrototypeOf(headers), null);
  for (const n of names) t.deepEqual(headers[n.toLowerCase()], [`${n}-value`]);
});

test('extra headers named after Object.prototype members become extra keys, and inherited members are never read as headers', (t) => {
  const headers = distinctHeaders({
    rawHeaders: ['X-Remote-User', 'alice', 'X-Remote-Extra-__proto__', 'p', 'X-Remote-Extra-Constructor', 'c', 'X-Remote-Extra-toString', 's'],
  });
  const user = userFromHeaders(headers, parseFrontProxyConfig(configMap({ 'requestheader-uid-headers': '["constructor"]' })));
  t.is(user?.uid, '');
  t.deepEqual(Object.entries(user?.extra ?? {}).sort(), [
    ['__proto__', ['p']],
    ['constructor', ['c']],
    ['tostring', ['s']],
  ]);
});

test('user, groups, uid and extra values sent as UTF-8 bytes are read as UTF-8, not Latin-1', (t) => {
  const user = userFromHeaders(
    {
      'x-remote-user': [onTheWire('józef')],
      'x-remote-group': [onTheWire('développeurs'), onTheWire('開発')],
      'x-remote-uid': [onTheWire('ü-1')],
      'x-remote-extra-team': [onTheWire('Zürich')],
    },
    parseFrontProxyConfig(configMap()),
  );
  t.is(user?.user, 'józef');
  t.deepEqual(user?.groups, ['développeurs', '開発']);
  t.is(user?.uid, 'ü-1');
  t.deepEqual(user?.extra['team'], ['Zürich']);
});

test('bytes that are not UTF-8 become U+FFFD, as in the JSON kube-apiserver would write', (t) => {
  t.is(utf8HeaderValue('\xff\xfeok'), '\ufffd\ufffdok');
});

const extraKeys: [string, string][] = [
  ['scopes', 'scopes'],
  ['Acme.com%2FProject', 'acme.com/project'],
  // kube-apiserver lowercases before it unescapes: an escaped capital stays a capital.
  ['%C3%93rg', 'Órg'],
  ['sc%C3%B3pe', 'scópe'],
  ['bad%zz', 'bad%zz'],
  ['cut%4', 'cut%4'],
  ['plus+sign', 'plus+sign'],
];
for (const [key, expected] of extraKeys) {
  test(`the extra key ${key} is read as ${expected}`, (t) => {
    t.is(unescapeExtraKey(key), expected);
  });
}

test('custom header names from the ConfigMap are honoured, in order', (t) => {
  const config = parseFrontProxyConfig(configMap({ 'requestheader-username-headers': '["X-User-A","X-User-B"]', 'requestheader-group-headers': '["X-G1","X-G2"]' }));
  const user = userFromHeaders({ 'x-user-b': ['bob'], 'x-g1': ['a'], 'x-g2': ['b'], 'x-remote-user': ['mallory'] }, config);
  t.is(user?.user, 'bob');
  t.deepEqual(user?.groups, ['a', 'b']);
});

test('a request without a user header is not a user', (t) => {
  t.is(userFromHeaders({ 'x-remote-group': ['dev'] }, parseFrontProxyConfig(configMap())), undefined);
});

function authenticator(cm: Record<string, string> | null = configMap()) {
  const kube = fakeKube(cm === null ? {} : { configMap: cm });
  const cas: string[] = [];
  const auth = new FrontProxyAuthenticator({ kube, clock: fakeClock(NOW), logger: memoryLogger().logger, onCaChange: (pem) => cas.push(pem) });
  return { auth, kube, cas };
}

test('X-Remote-* headers are ignored without a valid certificate: the request is refused with 401', async (t) => {
  const { auth } = authenticator();
  await auth.load();
  for (const chain of [[], [x509(pki.otherCaClient.cert)], [x509(pki.wrongCnClient.cert)]]) {
    const err = t.throws(() => auth.authenticateChain(chain, { 'x-remote-user': ['system:admin'], 'x-remote-group': ['system:masters'] }), { instanceOf: RpfServerError });
    t.is(err?.code, 'RPF_ERR_SERVER_UNAUTHENTICATED');
    t.is(err?.status, 401);
    t.is(err?.reason, 'Unauthorized');
  }
});

test('a valid certificate with a user header authenticates that user', async (t) => {
  const { auth } = authenticator();
  await auth.load();
  const user = auth.authenticateChain([x509(pki.frontProxyClient.cert)], { 'x-remote-user': ['alice'], 'x-remote-group': ['dev'] });
  t.is(user.user, 'alice');
  t.deepEqual(user.groups, ['dev']);
});

test('a valid certificate without a user header is refused with 401', async (t) => {
  const { auth } = authenticator();
  await auth.load();
  const err = t.throws(() => auth.authenticateChain([x509(pki.frontProxyClient.cert)], {}), { instanceOf: RpfServerError });
  t.is(err?.code, 'RPF_ERR_SERVER_UNAUTHENTICATED');
});

test('nothing authenticates and readiness stays false until the ConfigMap was loaded', async (t) => {
  const { auth } = authenticator(null);
  t.false(auth.ready);
  await t.throwsAsync(auth.load());
  t.false(auth.ready);
  const err = t.throws(() => auth.authenticateChain([x509(pki.frontProxyClient.cert)], { 'x-remote-user': ['alice'] }), { instanceOf: RpfServerError });
  t.is(err?.code, 'RPF_ERR_SERVER_UNAUTHENTICATED');
});

test('a rotated CA bundle is picked up on reload and reported once per change', async (t) => {
  const { auth, kube, cas } = authenticator(configMap({ 'requestheader-client-ca-file': pki.otherCa.cert }));
  await auth.load();
  t.throws(() => auth.authenticateChain([x509(pki.frontProxyClient.cert)], { 'x-remote-user': ['alice'] }));
  kube.configMap = configMap();
  await auth.load();
  await auth.load();
  t.is(auth.authenticateChain([x509(pki.frontProxyClient.cert)], { 'x-remote-user': ['alice'] }).user, 'alice');
  t.deepEqual(cas, [pki.otherCa.cert, pki.frontProxyCa.cert]);
});

/** Waits for `promise`, failing after `ms`; the timer also keeps the process alive while the authenticator's own (unref'd) timers run. */
async function within<T>(promise: Promise<T>, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

test('start() keeps retrying until the ConfigMap can be read', async (t) => {
  const kube = fakeKube({ configMap: undefined });
  // Synchronised on what happens, not on time: every read of the ConfigMap, and the load that succeeds.
  let reads = 0;
  let thirdRead: () => void = () => {};
  const readThreeTimes = new Promise<void>((resolve) => (thirdRead = resolve));
  const read = kube.getConfigMapData.bind(kube);
  kube.getConfigMapData = async (namespace, name) => {
    if (++reads === 3) thirdRead();
    return read(namespace, name);
  };
  let loaded: (caPem: string) => void = () => {};
  const caLoaded = new Promise<string>((resolve) => (loaded = resolve));
  const auth = new FrontProxyAuthenticator({ kube, clock: fakeClock(NOW), logger: memoryLogger('silent').logger, retryMs: 5, refreshMs: 60_000, onCaChange: (caPem) => loaded(caPem) });
  auth.start();
  t.teardown(() => auth.stop());
  await within(readThreeTimes);
  t.false(auth.ready, 'three failed reads leave it not ready');
  kube.configMap = configMap();
  t.is(await within(caLoaded), pki.frontProxyCa.cert);
  t.true(auth.ready);
  t.true(reads >= 4, 'it read again after the failures');
});
