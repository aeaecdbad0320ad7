import test from 'ava';
import { RpfClientError, apiUrl, checkInstalled, loadKubeContext } from '../../client/index.ts';
import { fakeReader } from './helpers/fake-reader.ts';
import { writeKubeconfig } from './helpers/kubeconfig.ts';

test('the namespace comes from the flag, else the context, else "default"', (t) => {
  const file = writeKubeconfig({ server: 'https://10.0.0.1:6443', namespace: 'team-a', contexts: [{ name: 'bare' }] });
  t.is(loadKubeContext({ kubeconfig: file }).namespace, 'team-a');
  t.is(loadKubeContext({ kubeconfig: file, namespace: 'other' }).namespace, 'other');
  t.is(loadKubeContext({ kubeconfig: file, context: 'bare' }).namespace, 'default');
});

test('--context picks the context and its server', (t) => {
  const file = writeKubeconfig({ server: 'https://10.0.0.1:6443', contexts: [{ name: 'second', namespace: 'b' }] });
  const context = loadKubeContext({ kubeconfig: file, context: 'second' });
  t.is(context.contextName, 'second');
  t.is(context.server, 'https://10.0.0.1:6443');
  t.is(context.namespace, 'b');
});

test('an unknown context is a KUBECONFIG error in kubectl\'s words', (t) => {
  const file = writeKubeconfig({ server: 'https://10.0.0.1:6443' });
  const error = t.throws(() => loadKubeContext({ kubeconfig: file, context: 'nope' }), { instanceOf: RpfClientError });
  t.is(error?.code, 'RPF_ERR_CLIENT_KUBECONFIG');
  // kubectl's words, carried by the CLI's one `error:` line: a user contract.
  t.is(error?.message, 'context "nope" does not exist');
});

test('a missing kubeconfig file is a KUBECONFIG error', (t) => {
  t.is(t.throws(() => loadKubeContext({ kubeconfig: '/nonexistent/kubeconfig' }), { instanceOf: RpfClientError })?.code, 'RPF_ERR_CLIENT_KUBECONFIG');
});

test('$KUBECONFIG is used when no file is given', (t) => {
  const file = writeKubeconfig({ server: 'https://10.9.9.9:6443', namespace: 'from-env' });
  const saved = process.env.KUBECONFIG;
  process.env.KUBECONFIG = file;
  try {
    t.is(loadKubeContext().namespace, 'from-env');
  } finally {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
  }
});

test('apiUrl keeps a path prefix of the server URL', (t) => {
  t.is(apiUrl('https://host:6443', '/api/v1/pods').href, 'https://host:6443/api/v1/pods');
  t.is(apiUrl('https://proxy.example/k8s/clusters/c-1/', '/api/v1/pods', new URLSearchParams({ a: 'b' })).href, 'https://proxy.example/k8s/clusters/c-1/api/v1/pods?a=b');
});

const apiServicePath = '/apis/apiregistration.k8s.io/v1/apiservices/v1alpha1.rpf.kube-rpf.dev';

test('a missing APIService fails with the fixed "not installed" message', async (t) => {
  const error = await t.throwsAsync(checkInstalled(fakeReader({})), { instanceOf: RpfClientError });
  t.is(error?.code, 'RPF_ERR_CLIENT_NOT_INSTALLED');
  // The CLI's one `error:` line for a cluster without kube-rpf, as the README quotes it: a user contract.
  t.is(error?.message, 'kube-rpf is not installed in this cluster (APIService v1alpha1.rpf.kube-rpf.dev not found)');
});

test('a user who may not read APIServices skips the check', async (t) => {
  const reader = fakeReader({ [apiServicePath]: new RpfClientError('RPF_ERR_CLIENT_FORBIDDEN', 'forbidden', { status: 403 }) });
  await t.notThrowsAsync(checkInstalled(reader));
});

test('an available APIService passes', async (t) => {
  const reader = fakeReader({ [apiServicePath]: { status: { conditions: [{ type: 'Available', status: 'True' }] } } });
  await t.notThrowsAsync(checkInstalled(reader));
});

test('an unavailable APIService fails with NOT_AVAILABLE and the reason', async (t) => {
  const reader = fakeReader({
    [apiServicePath]: { status: { conditions: [{ type: 'Available', status: 'False', reason: 'MissingEndpoints', message: 'endpoints for service/rpf-server in "kube-rpf" have no addresses' }] } },
  });
  const error = await t.throwsAsync(checkInstalled(reader), { instanceOf: RpfClientError });
  t.is(error?.code, 'RPF_ERR_CLIENT_NOT_AVAILABLE');
  // The CLI's one `error:` line carries kube-apiserver's reason, the user's only clue: a user contract.
  t.regex(error?.message ?? '', /MissingEndpoints/);
});
