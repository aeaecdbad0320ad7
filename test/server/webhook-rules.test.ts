// Which validating webhooks a tunnel is sent to, as kube-apiserver decides it
// for pods/portforward: rules, namespaceSelector, objectSelector, the API's
// defaults, and errors only for webhooks whose rules match.
import test from 'ava';
import { isEmptySelector, matchSelector, ruleMatches, shouldCallHook, webhooksOf } from '../../server/webhook-rules.ts';
import type { ValidatingWebhook, WebhookRule } from '../../server/webhook-rules.ts';

const RULE: WebhookRule = { operations: ['CONNECT'], apiGroups: ['rpf.kube-rpf.dev'], apiVersions: ['v1alpha1'], resources: ['pods/reverseportforward'], scope: '*' };

const rules: { name: string; rule: Partial<WebhookRule>; matches: boolean }[] = [
  { name: 'the exact rule', rule: {}, matches: true },
  { name: 'operation *', rule: { operations: ['*'] }, matches: true },
  { name: 'CREATE only (kube-apiserver sends CONNECT)', rule: { operations: ['CREATE', 'UPDATE'] }, matches: false },
  { name: 'group *', rule: { apiGroups: ['*'] }, matches: true },
  { name: 'the core group', rule: { apiGroups: [''] }, matches: false },
  { name: 'version *', rule: { apiVersions: ['*'] }, matches: true },
  { name: 'another version', rule: { apiVersions: ['v1'] }, matches: false },
  { name: 'pods/*', rule: { resources: ['pods/*'] }, matches: true },
  { name: '*/reverseportforward', rule: { resources: ['*/reverseportforward'] }, matches: true },
  { name: '*/*', rule: { resources: ['*/*'] }, matches: true },
  { name: 'a bare * (no subresources)', rule: { resources: ['*'] }, matches: false },
  { name: 'bare pods (no subresources)', rule: { resources: ['pods'] }, matches: false },
  { name: 'pods/portforward', rule: { resources: ['pods/portforward', 'pods/exec'] }, matches: false },
  { name: 'one of several resources', rule: { resources: ['pods/exec', 'pods/reverseportforward'] }, matches: true },
  { name: 'scope Namespaced', rule: { scope: 'Namespaced' }, matches: true },
  { name: 'scope Cluster', rule: { scope: 'Cluster' }, matches: false },
];
for (const c of rules) {
  test(`rule: ${c.name} ${c.matches ? 'matches' : 'does not match'} a tunnel`, (t) => {
    t.is(ruleMatches({ ...RULE, ...c.rule }), c.matches);
  });
}

const selectors: { name: string; selector: Parameters<typeof matchSelector>[0]; labels: Record<string, string>; result: boolean | 'error' }[] = [
  { name: 'matchLabels equal', selector: { matchLabels: { team: 'a' } }, labels: { team: 'a', x: 'y' }, result: true },
  { name: 'matchLabels differ', selector: { matchLabels: { team: 'a' } }, labels: { team: 'b' }, result: false },
  { name: 'In', selector: { matchExpressions: [{ key: 'env', operator: 'In', values: ['dev', 'ci'] }] }, labels: { env: 'ci' }, result: true },
  { name: 'In, label absent', selector: { matchExpressions: [{ key: 'env', operator: 'In', values: ['dev'] }] }, labels: {}, result: false },
  { name: 'NotIn, label absent', selector: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] }, labels: {}, result: true },
  { name: 'NotIn, value listed', selector: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] }, labels: { env: 'prod' }, result: false },
  { name: 'Exists', selector: { matchExpressions: [{ key: 'env', operator: 'Exists' }] }, labels: { env: '' }, result: true },
  { name: 'DoesNotExist', selector: { matchExpressions: [{ key: 'env', operator: 'DoesNotExist' }] }, labels: { env: 'x' }, result: false },
  { name: 'labels and expressions together', selector: { matchLabels: { a: '1' }, matchExpressions: [{ key: 'b', operator: 'Exists' }] }, labels: { a: '1' }, result: false },
  { name: 'In with no values', selector: { matchExpressions: [{ key: 'env', operator: 'In', values: [] }] }, labels: {}, result: 'error' },
  { name: 'Exists with values', selector: { matchExpressions: [{ key: 'env', operator: 'Exists', values: ['x'] }] }, labels: {}, result: 'error' },
  { name: 'an unknown operator', selector: { matchExpressions: [{ key: 'env', operator: 'Like' }] }, labels: {}, result: 'error' },
];
for (const c of selectors) {
  test(`label selector: ${c.name}`, (t) => {
    const got = matchSelector(c.selector, c.labels);
    if (c.result === 'error') t.true('error' in got);
    else t.deepEqual(got, { matches: c.result });
  });
}

test('a selector with no labels and no expressions selects everything', (t) => {
  t.true(isEmptySelector(undefined));
  t.true(isEmptySelector({}));
  t.true(isEmptySelector({ matchLabels: {}, matchExpressions: [] }));
  t.false(isEmptySelector({ matchLabels: { a: 'b' } }));
});

test('webhooksOf applies the API defaults and decodes the caBundle', (t) => {
  const [hook] = webhooksOf({
    metadata: { name: 'policy' },
    webhooks: [{ name: 'a.example.com', clientConfig: { service: { namespace: 'sec', name: 'hook' }, caBundle: Buffer.from('PEM').toString('base64') }, rules: [{ operations: ['CONNECT'], apiGroups: ['*'], apiVersions: ['*'], resources: ['*/*'] }], matchConditions: [{ name: 'x', expression: 'true' }], admissionReviewVersions: ['v1'] }],
  });
  t.like(hook, {
    configuration: 'policy',
    name: 'a.example.com',
    failurePolicy: 'Fail',
    timeoutSeconds: 10,
    matchConditions: 1,
    clientConfig: { service: { namespace: 'sec', name: 'hook', path: '/', port: 443 }, caBundle: 'PEM' },
  });
  t.is(hook?.rules[0]?.scope, '*');
  t.is(hook?.namespaceSelector, undefined);
});

test('webhooksOf keeps failurePolicy Ignore and clamps timeoutSeconds to 1-30', (t) => {
  const hooks = webhooksOf({ metadata: { name: 'p' }, webhooks: [{ name: 'a', failurePolicy: 'Ignore', timeoutSeconds: 90 }, { name: 'b', timeoutSeconds: 0 }] });
  t.like(hooks[0], { failurePolicy: 'Ignore', timeoutSeconds: 30 });
  t.like(hooks[1], { failurePolicy: 'Fail', timeoutSeconds: 1 });
  t.deepEqual(webhooksOf(null), []);
});

function hook(overrides: Partial<ValidatingWebhook> = {}): ValidatingWebhook {
  return {
    configuration: 'c',
    name: 'h.example.com',
    clientConfig: { url: 'https://hook.example:8443/', caBundle: '' },
    rules: [RULE],
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

test('a webhook without a namespaceSelector is called without reading the namespace', async (t) => {
  let reads = 0;
  const labels = async () => {
    reads++;
    return {};
  };
  t.deepEqual(await shouldCallHook(hook(), labels), { call: true });
  t.deepEqual(await shouldCallHook(hook({ namespaceSelector: { matchLabels: {} } }), labels), { call: true });
  t.is(reads, 0);
});

test('the namespaceSelector decides by the namespace\'s labels', async (t) => {
  const labels = async () => ({ 'kubernetes.io/metadata.name': 'dev' });
  t.deepEqual(await shouldCallHook(hook({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'dev' } } }), labels), { call: true });
  t.deepEqual(await shouldCallHook(hook({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'prod' } } }), labels), { call: false });
});

test('a non-empty objectSelector never matches a CONNECT, whose object (the options) has no labels', async (t) => {
  t.deepEqual(await shouldCallHook(hook({ objectSelector: { matchExpressions: [{ key: 'x', operator: 'DoesNotExist' }] } }), async () => ({})), { call: false });
});

test('a namespace that does not match skips the webhook even when its objectSelector is invalid, as in kube-apiserver', async (t) => {
  const decision = await shouldCallHook(hook({ namespaceSelector: { matchLabels: { a: 'b' } }, objectSelector: { matchExpressions: [{ key: 'x', operator: 'Like' }] } }), async () => ({}));
  t.deepEqual(decision, { call: false });
});

test('a webhook with matchConditions is called: they are not evaluated', async (t) => {
  t.deepEqual(await shouldCallHook(hook({ matchConditions: 2 }), async () => ({})), { call: true });
});

test('an invalid selector is an error only when the rules match, as in kube-apiserver', async (t) => {
  const bad = { matchExpressions: [{ key: 'x', operator: 'Like' }] };
  const matching = await shouldCallHook(hook({ namespaceSelector: bad }), async () => ({}));
  t.true('error' in matching);
  t.deepEqual(await shouldCallHook(hook({ namespaceSelector: bad, rules: [{ ...RULE, operations: ['CREATE'] }] }), async () => ({})), { call: false });
  t.true('error' in (await shouldCallHook(hook({ objectSelector: bad }), async () => ({}))));
});

test('rules that do not match skip the webhook even before the namespace is read', async (t) => {
  let reads = 0;
  const decision = await shouldCallHook(hook({ rules: [{ ...RULE, resources: ['pods/exec'] }], namespaceSelector: { matchLabels: { a: 'b' } } }), async () => {
    reads++;
    return {};
  });
  t.deepEqual(decision, { call: false });
  t.is(reads, 0);
});
