// Admission and the sandbox policy wired into rpf-server on real sockets: a
// webhook (real HTTPS, on loopback) that denies is a 403 Status with its
// message before any agent is asked; a sandboxed pod is a 400; the watch of
// webhook configurations starts with listen() and stops with close();
// --admission-webhooks=false calls nothing.
import test from 'ava';
import type { AdmissionKube } from '../../server/admission-kube.ts';
import type { ConfigurationFeed } from '../../server/webhook-configurations.ts';
import { startWebhookServer } from '../e2e/helpers/webhook-server.ts';
import type { WebhookServer } from '../e2e/helpers/webhook-server.ts';
import { pod } from './helpers/fakes.ts';
import { rawRequest, startHarness, tunnelPath, userHeaders } from './helpers/harness.ts';
import type { Harness } from './helpers/harness.ts';
import { makeTestPki } from './helpers/pki.ts';

const pki = makeTestPki();
test.after.always(() => pki.cleanup());

/** An AdmissionKube whose one configuration points at `hook`; `watches` counts open watches. */
function admissionKube(hook: WebhookServer): AdmissionKube & { state: { watches: number; lists: number } } {
  const state = { watches: 0, lists: 0 };
  const configuration = {
    metadata: { name: 'policy' },
    webhooks: [
      {
        name: 'tunnels.test',
        clientConfig: { url: hook.url, caBundle: Buffer.from(hook.caPem).toString('base64') },
        rules: [{ operations: ['CONNECT'], apiGroups: ['rpf.kube-rpf.dev'], apiVersions: ['v1alpha1'], resources: ['pods/reverseportforward'] }],
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
      },
    ],
  };
  const configurations: ConfigurationFeed = {
    async list() {
      state.lists++;
      return { items: [configuration], resourceVersion: '1' };
    },
    async watch() {
      state.watches++;
      let end: () => void = () => {};
      const done = new Promise<void>((r) => (end = r));
      return {
        done,
        abort: () => {
          state.watches--;
          end();
        },
      };
    },
  };
  return {
    state,
    configurations,
    namespaceLabels: async () => ({}),
    serviceHost: async () => undefined,
    runtimeClassHandler: async (name) => (name === 'gvisor' ? 'runsc' : undefined),
  };
}

async function setup(t: { teardown(fn: () => Promise<void>): void }, args: string[] = []): Promise<{ h: Harness; hook: WebhookServer; kube: ReturnType<typeof admissionKube> }> {
  const hook = await startWebhookServer('127.0.0.1', (r) => (r.name === 'web' ? { allowed: false, status: { message: 'not this pod' } } : { allowed: true }));
  const kube = admissionKube(hook);
  const h = await startHarness(pki, { admissionKube: kube, args });
  h.kube.pods.push(pod({ name: 'other' }), pod({ name: 'vm', runtimeClassName: 'gvisor' }));
  t.teardown(async () => {
    await h.close();
    await hook.close();
  });
  return { h, hook, kube };
}

test('a denying webhook is a 403 Status with its message, and the agent is never asked', async (t) => {
  const { h, hook } = await setup(t);
  const answer = await rawRequest(h, pki, { path: tunnelPath('dev', 'web', 'ports=8080'), headers: userHeaders() });
  t.is(answer.status, 403);
  t.is(answer.headers['x-rpf-error-code'], 'RPF_ERR_SERVER_ADMISSION_DENIED');
  t.like(JSON.parse(answer.body), { kind: 'Status', reason: 'Forbidden', code: 403, message: 'pods.rpf.kube-rpf.dev "web" is forbidden: admission webhook "tunnels.test" denied the request: not this pod' });
  t.is(h.agent.requests.length, 0);
  t.like(hook.reviews[0], { name: 'web', namespace: 'dev', operation: 'CONNECT', userInfo: { username: 'alice' } });
});

test('a pod the webhook allows is tunnelled to its agent', async (t) => {
  const { h, hook } = await setup(t);
  const answer = await rawRequest(h, pki, { path: tunnelPath('dev', 'other', 'ports=8080'), headers: userHeaders() });
  t.is(hook.reviews.length, 1);
  t.is(h.agent.requests.length, 1, `answer ${answer.status} ${answer.body}`);
});

test('a sandboxed pod is a 400 Status naming its RuntimeClass and handler', async (t) => {
  const { h } = await setup(t);
  const answer = await rawRequest(h, pki, { path: tunnelPath('dev', 'vm', 'ports=8080'), headers: userHeaders() });
  t.is(answer.status, 400);
  t.is(answer.headers['x-rpf-error-code'], 'RPF_ERR_SERVER_SANDBOXED_POD');
  t.regex(JSON.parse(answer.body).message as string, /RuntimeClass "gvisor", handler "runsc"/);
  t.is(h.agent.requests.length, 0);
});

test('listen() starts watching the configurations and close() stops it', async (t) => {
  const hook = await startWebhookServer('127.0.0.1', () => ({ allowed: true }));
  t.teardown(() => hook.close());
  const kube = admissionKube(hook);
  const h = await startHarness(pki, { admissionKube: kube });
  for (let i = 0; i < 200 && kube.state.watches === 0; i++) await new Promise((r) => setTimeout(r, 5));
  t.is(kube.state.lists, 1);
  t.is(kube.state.watches, 1);
  await h.close();
  t.is(kube.state.watches, 0);
});

test('with --admission-webhooks=false no webhook is called and the configurations are not read', async (t) => {
  const { h, hook, kube } = await setup(t, ['--admission-webhooks=false']);
  await rawRequest(h, pki, { path: tunnelPath('dev', 'web', 'ports=8080'), headers: userHeaders() });
  t.is(hook.reviews.length, 0);
  t.is(kube.state.lists, 0);
  t.is(h.agent.requests.length, 1);
});
