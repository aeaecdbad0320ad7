// The validating dispatcher for tunnels, over a fake webhook list and a fake
// HTTPS caller: which webhooks are called, in parallel; allow, deny, and the
// failurePolicy of a failed call; the namespace read once and only when a
// selector needs it; the in-flight bound; a Service's address and name.
import test from 'ava';
import { AdmissionWebhooks } from '../../server/admission-webhooks.ts';
import type { AdmissionWebhooksDeps } from '../../server/admission-webhooks.ts';
import type { TunnelAdmissionAttributes } from '../../server/admission-review.ts';
import { RpfServerError } from '../../server/errors.ts';
import type { WebhookEndpoint } from '../../server/webhook-client.ts';
import type { ValidatingWebhook } from '../../server/webhook-rules.ts';
import { memoryLogger } from './helpers/fakes.ts';

const attrs: TunnelAdmissionAttributes = { namespace: 'dev', pod: 'web', user: { user: 'alice', groups: ['dev'], uid: '', extra: {} }, ports: [8080], addresses: ['127.0.0.1', '::1'] };

function hook(name: string, overrides: Partial<ValidatingWebhook> = {}): ValidatingWebhook {
  return {
    configuration: name,
    name,
    clientConfig: { url: `https://${name}:8443/validate`, caBundle: 'CA' },
    rules: [{ operations: ['CONNECT'], apiGroups: ['rpf.kube-rpf.dev'], apiVersions: ['*'], resources: ['pods/reverseportforward'], scope: '*' }],
    failurePolicy: 'Fail',
    timeoutSeconds: 10,
    namespaceSelector: undefined,
    objectSelector: undefined,
    matchConditions: 0,
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    ...overrides,
  };
}

type Answer = { allowed: boolean; message?: string } | Error | (() => Promise<{ allowed: boolean; message?: string }>);

/** The dispatcher over fakes; `answers` by webhook host; `calls` records each POST. */
function setup(hooks: ValidatingWebhook[], answers: Record<string, Answer>, overrides: Partial<AdmissionWebhooksDeps> = {}) {
  const calls: { endpoint: WebhookEndpoint; review: { request: Record<string, unknown> }; timeoutMs: number }[] = [];
  const nsReads: string[] = [];
  const { logger, lines } = memoryLogger();
  const admission = new AdmissionWebhooks({
    source: { webhooks: () => hooks, waitReady: async () => true },
    namespaceLabels: async (ns) => {
      nsReads.push(ns);
      return ns === 'dev' ? { team: 'a', 'kubernetes.io/metadata.name': 'dev' } : undefined;
    },
    serviceHost: async (ns, name) => (ns === 'sec' && name === 'hook' ? '10.96.0.7' : undefined),
    caller: {
      async post(endpoint, body, timeoutMs) {
        const review = JSON.parse(body) as { request: Record<string, unknown> & { uid: string } };
        calls.push({ endpoint, review, timeoutMs });
        const host = endpoint.serverName ?? endpoint.url.hostname;
        let a = answers[host];
        if (a === undefined) throw new Error(`no answer for ${host}`);
        if (a instanceof Error) throw a;
        if (typeof a === 'function') a = await a();
        return JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, allowed: a.allowed, status: { message: a.message ?? '' } } });
      },
    },
    logger,
    ...overrides,
  });
  return { admission, calls, nsReads, lines };
}

async function refusal(p: Promise<void>): Promise<RpfServerError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RpfServerError) return err;
    throw err;
  }
  throw new Error('admitted');
}

test('with no webhook that applies, the tunnel is admitted without a call', async (t) => {
  const { admission, calls } = setup([hook('a', { rules: [{ operations: ['CREATE'], apiGroups: ['*'], apiVersions: ['*'], resources: ['*/*'], scope: '*' }] })], {});
  await admission.admit(attrs);
  t.is(calls.length, 0);
});

test('every webhook that applies is asked; all allowing admits the tunnel', async (t) => {
  const { admission, calls } = setup([hook('a'), hook('b', { timeoutSeconds: 3 })], { a: { allowed: true }, b: { allowed: true } });
  await admission.admit(attrs);
  t.deepEqual(calls.map((c) => c.endpoint.url.hostname).sort(), ['a', 'b']);
  t.is(calls.find((c) => c.endpoint.url.hostname === 'b')?.timeoutMs, 3000);
  t.is(calls[0]?.endpoint.caBundle, 'CA');
  t.like(calls[0]?.review.request, { operation: 'CONNECT', name: 'web', namespace: 'dev' });
  // A fresh uid per call.
  t.not(calls[0]?.review.request['uid'], calls[1]?.review.request['uid']);
});

test('a denial is 403 with the webhook\'s message; the first denying webhook in configuration order is reported', async (t) => {
  const { admission, lines } = setup([hook('a'), hook('b'), hook('c')], { a: { allowed: true }, b: { allowed: false, message: 'b says no' }, c: { allowed: false, message: 'c says no' } });
  const err = await refusal(admission.admit(attrs));
  t.is(err.code, 'RPF_ERR_SERVER_ADMISSION_DENIED');
  t.is(err.status, 403);
  // kube-apiserver's wording, the user's contract.
  t.is(err.message, 'pods.rpf.kube-rpf.dev "web" is forbidden: admission webhook "b" denied the request: b says no');
  t.true(lines.some((l) => l['msg'] === 'tunnel denied by admission webhook' && l['webhook'] === 'b'));
});

test('webhooks are called in parallel, not one after another', async (t) => {
  let started = 0;
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const slow = async () => {
    started++;
    if (started === 2) release();
    await gate;
    return { allowed: true };
  };
  const { admission } = setup([hook('a'), hook('b')], { a: slow, b: slow });
  await admission.admit(attrs);
  t.is(started, 2);
});

test('a failed call denies under failurePolicy Fail (500, naming the webhook) and is skipped and logged under Ignore', async (t) => {
  const down = new Error('failed to call webhook: Post "https://a:8443/validate?timeout=10s": connect ECONNREFUSED');
  const fail = setup([hook('a')], { a: down });
  const err = await refusal(fail.admission.admit(attrs));
  t.is(err.code, 'RPF_ERR_SERVER_ADMISSION_FAILED');
  t.is(err.status, 500);
  t.is(err.message, `Internal error occurred: failed calling webhook "a": ${down.message}`);
  const ignore = setup([hook('a', { failurePolicy: 'Ignore' })], { a: down });
  await ignore.admission.admit(attrs);
  t.true(ignore.lines.some((l) => l['msg'] === 'failed calling webhook, failing open (failurePolicy Ignore)' && l['webhook'] === 'a'));
});

test('a denial by one webhook wins over an ignored failure of another', async (t) => {
  const { admission } = setup([hook('a', { failurePolicy: 'Ignore' }), hook('b')], { a: new Error('down'), b: { allowed: false, message: 'no' } });
  t.is((await refusal(admission.admit(attrs))).code, 'RPF_ERR_SERVER_ADMISSION_DENIED');
});

test('an invalid answer and a webhook that speaks no known AdmissionReview version are failed calls', async (t) => {
  const { admission } = setup([hook('a', { admissionReviewVersions: ['v2'] })], { a: { allowed: true } });
  const err = await refusal(admission.admit(attrs));
  t.regex(err.message, /webhook does not accept known AdmissionReview versions/);
  const bad = setup([hook('a')], {}, {
    caller: { post: async () => JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'wrong', allowed: true } }) },
  });
  t.regex((await refusal(bad.admission.admit(attrs))).message, /expected response\.uid=/);
});

test('the namespace is read once per request, and only when a namespaceSelector needs it', async (t) => {
  const none = setup([hook('a'), hook('b')], { a: { allowed: true }, b: { allowed: true } });
  await none.admission.admit(attrs);
  t.deepEqual(none.nsReads, []);
  const selected = setup(
    [hook('a', { namespaceSelector: { matchLabels: { team: 'a' } } }), hook('b', { namespaceSelector: { matchLabels: { team: 'b' } } })],
    { a: { allowed: true }, b: { allowed: false } },
  );
  await selected.admission.admit(attrs);
  t.deepEqual(selected.nsReads, ['dev']);
});

test('a namespace that does not exist is 404, one that cannot be read 500', async (t) => {
  const { admission } = setup([hook('a', { namespaceSelector: { matchLabels: { team: 'a' } } })], { a: { allowed: true } });
  const missing = await refusal(admission.admit({ ...attrs, namespace: 'gone' }));
  t.is(missing.status, 404);
  t.is(missing.message, 'namespaces "gone" not found');
  const broken = setup([hook('a', { namespaceSelector: { matchLabels: { team: 'a' } } })], { a: { allowed: true } }, {
    namespaceLabels: async () => {
      throw new Error('connection refused');
    },
  });
  t.is((await refusal(broken.admission.admit(attrs))).code, 'RPF_ERR_SERVER_ADMISSION_FAILED');
});

test('an invalid selector on a webhook that applies is 500', async (t) => {
  const { admission } = setup([hook('a', { namespaceSelector: { matchExpressions: [{ key: 'x', operator: 'Like' }] } })], {});
  const err = await refusal(admission.admit(attrs));
  t.is(err.code, 'RPF_ERR_SERVER_ADMISSION_FAILED');
});

test('a webhook given as a Service is called at its cluster IP under the name NAME.NAMESPACE.svc, on its port and path', async (t) => {
  const svc = hook('svc', { clientConfig: { service: { namespace: 'sec', name: 'hook', path: '/check', port: 9443 }, caBundle: 'CA' } });
  const { admission, calls } = setup([svc], { 'hook.sec.svc': { allowed: true } });
  await admission.admit(attrs);
  t.is(calls[0]?.endpoint.url.href, 'https://10.96.0.7:9443/check');
  t.is(calls[0]?.endpoint.serverName, 'hook.sec.svc');
  const missing = setup([hook('m', { clientConfig: { service: { namespace: 'sec', name: 'nope', path: '/', port: 443 }, caBundle: '' } })], {});
  t.regex((await refusal(missing.admission.admit(attrs))).message, /service "sec\/nope" not found/);
});

test('calls past the in-flight bound count as failed calls, subject to their failurePolicy', async (t) => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const held = async () => {
    await gate;
    return { allowed: true };
  };
  const { admission } = setup([hook('a')], { a: held }, { maxInFlight: 1 });
  const first = admission.admit(attrs);
  await new Promise((r) => setImmediate(r));
  t.is(admission.inFlight, 1);
  const second = await refusal(admission.admit(attrs));
  t.regex(second.message, /too many webhook calls in flight in rpf-server \(1\)/);
  release();
  await first;
  t.is(admission.inFlight, 0);
});

test('before the webhook configurations are loaded, a request is refused with 503 rather than admitted unchecked', async (t) => {
  const { admission } = setup([hook('a')], { a: { allowed: true } }, { source: { webhooks: () => [], waitReady: async () => false } });
  const err = await refusal(admission.admit(attrs));
  t.is(err.code, 'RPF_ERR_SERVER_ADMISSION_NOT_READY');
  t.is(err.status, 503);
});
