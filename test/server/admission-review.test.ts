// The AdmissionReview a tunnel is sent as, how answers are read, and how a
// denial and a failed call are worded (kube-apiserver's words: the text is the
// user's contract, so these tests compare it).
import test from 'ava';
import { admissionReview, denialMessage, failedCallMessage, MAX_DENIAL_MESSAGE, pickReviewVersion, readAdmissionResponse } from '../../server/admission-review.ts';
import type { TunnelAdmissionAttributes } from '../../server/admission-review.ts';

const attrs: TunnelAdmissionAttributes = {
  namespace: 'dev',
  pod: 'web',
  user: { user: 'alice', groups: ['dev', 'system:authenticated'], uid: 'u-1', extra: { 'scopes.example.com': ['a', 'b'] } },
  ports: [8080, 0],
  addresses: ['127.0.0.1', '::1'],
};

test('the review is a CONNECT on pods/reverseportforward with the user, the pod and the options as the object', (t) => {
  t.deepEqual(admissionReview('uid-1', 'v1', attrs), {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'uid-1',
      kind: { group: 'rpf.kube-rpf.dev', version: 'v1alpha1', kind: 'ReversePortForwardOptions' },
      resource: { group: 'rpf.kube-rpf.dev', version: 'v1alpha1', resource: 'pods' },
      subResource: 'reverseportforward',
      requestKind: { group: 'rpf.kube-rpf.dev', version: 'v1alpha1', kind: 'ReversePortForwardOptions' },
      requestResource: { group: 'rpf.kube-rpf.dev', version: 'v1alpha1', resource: 'pods' },
      requestSubResource: 'reverseportforward',
      name: 'web',
      namespace: 'dev',
      operation: 'CONNECT',
      userInfo: { username: 'alice', uid: 'u-1', groups: ['dev', 'system:authenticated'], extra: { 'scopes.example.com': ['a', 'b'] } },
      object: { apiVersion: 'rpf.kube-rpf.dev/v1alpha1', kind: 'ReversePortForwardOptions', ports: [8080, 0], addresses: ['127.0.0.1', '::1'] },
      oldObject: null,
      dryRun: false,
      options: null,
    },
  });
});

test('a user without uid or extra is sent without them; v1beta1 reviews carry their own apiVersion', (t) => {
  const review = admissionReview('u', 'v1beta1', { ...attrs, user: { user: 'bob', groups: [], uid: '', extra: {} } }) as { apiVersion: string; request: { userInfo: unknown } };
  t.is(review.apiVersion, 'admission.k8s.io/v1beta1');
  t.deepEqual(review.request.userInfo, { username: 'bob', groups: [] });
});

test('the first AdmissionReview version rpf-server speaks is picked from the webhook\'s list', (t) => {
  t.is(pickReviewVersion(['v1', 'v1beta1']), 'v1');
  t.is(pickReviewVersion(['v2', 'v1beta1', 'v1']), 'v1beta1');
  t.is(pickReviewVersion(['v2']), undefined);
});

const answer = (response: unknown, apiVersion = 'admission.k8s.io/v1') => JSON.stringify({ apiVersion, kind: 'AdmissionReview', response });

test('an answer is read as allowed or denied with the webhook\'s status and warnings', (t) => {
  t.like(readAdmissionResponse(answer({ uid: 'x', allowed: true }), 'x', 'v1'), { allowed: true });
  t.deepEqual(readAdmissionResponse(answer({ uid: 'x', allowed: false, status: { code: 403, message: 'no', reason: 'Nope' }, warnings: ['w'] }), 'x', 'v1'), {
    allowed: false,
    result: { code: 403, message: 'no', reason: 'Nope' },
    warnings: ['w'],
  });
});

const badAnswers: { name: string; body: string; message: RegExp }[] = [
  { name: 'not JSON', body: '<html>', message: /not JSON/ },
  { name: 'an array', body: '[]', message: /not an object/ },
  { name: 'another kind', body: JSON.stringify({ apiVersion: 'v1', kind: 'Status' }), message: /expected webhook response of admission\.k8s\.io\/v1, Kind=AdmissionReview, got v1, Kind=Status/ },
  { name: 'the v1beta1 version for a v1 request', body: answer({ uid: 'x', allowed: true }, 'admission.k8s.io/v1beta1'), message: /expected webhook response of admission\.k8s\.io\/v1/ },
  { name: 'no response', body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), message: /webhook response was absent/ },
  { name: 'another uid', body: answer({ uid: 'y', allowed: true }), message: /expected response\.uid="x", got "y"/ },
  { name: 'allowed missing', body: answer({ uid: 'x' }), message: /no boolean "allowed"/ },
  { name: 'a patch', body: answer({ uid: 'x', allowed: true, patch: 'W10=', patchType: 'JSONPatch' }), message: /may not return a patch/ },
];
for (const c of badAnswers) {
  test(`an answer that is ${c.name} is a failed call`, (t) => {
    t.throws(() => readAdmissionResponse(c.body, 'x', 'v1'), { message: c.message });
  });
}

test('v1beta1 answers need not echo the uid, as kube-apiserver never checked it', (t) => {
  t.like(readAdmissionResponse(answer({ allowed: true }, 'admission.k8s.io/v1beta1'), 'x', 'v1beta1'), { allowed: true });
});

test('a denial reads as kube-apiserver words it, with the webhook\'s message, else its reason, else without explanation', (t) => {
  t.is(denialMessage('policy.example.com', 'web', { code: 403, reason: '', message: 'tunnels need a ticket' }), 'pods.rpf.kube-rpf.dev "web" is forbidden: admission webhook "policy.example.com" denied the request: tunnels need a ticket');
  t.is(denialMessage('p', 'web', { code: 0, reason: 'NoTicket', message: '' }), 'pods.rpf.kube-rpf.dev "web" is forbidden: admission webhook "p" denied the request: NoTicket');
  t.is(denialMessage('p', 'web', { code: 0, reason: '', message: '' }), 'pods.rpf.kube-rpf.dev "web" is forbidden: admission webhook "p" denied the request without explanation');
});

test('a webhook\'s long message is cut to a bound', (t) => {
  const message = denialMessage('p', 'web', { code: 403, reason: '', message: 'x'.repeat(MAX_DENIAL_MESSAGE * 4) });
  t.true(message.length < MAX_DENIAL_MESSAGE + 200);
  t.true(message.endsWith('x...'));
});

test('a failed call reads as kube-apiserver words it', (t) => {
  t.is(failedCallMessage('p.example.com', 'failed to call webhook: Post "https://h/": EOF'), 'Internal error occurred: failed calling webhook "p.example.com": failed to call webhook: Post "https://h/": EOF');
});
