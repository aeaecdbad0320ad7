import test from 'ava';
import { Authorizer, accessReviewSpec } from '../../server/authorizer.ts';
import { RpfServerError } from '../../server/errors.ts';
import type { UserInfo } from '../../server/front-proxy-auth.ts';
import { ALLOW, DENY, fakeClock, fakeKube } from './helpers/fakes.ts';

const alice: UserInfo = { user: 'alice', groups: ['dev', 'system:authenticated'], uid: 'u-1', extra: { scopes: ['a'] } };
const target = { namespace: 'dev', pod: 'web-0' };

test('the SubjectAccessReview names the user, groups, uid, extra and the pods/reverseportforward create attributes', async (t) => {
  const kube = fakeKube();
  await new Authorizer({ kube, clock: fakeClock() }).authorize(alice, target, 'create');
  t.deepEqual(kube.reviews, [
    {
      user: 'alice',
      groups: ['dev', 'system:authenticated'],
      uid: 'u-1',
      extra: { scopes: ['a'] },
      resourceAttributes: {
        namespace: 'dev',
        name: 'web-0',
        group: 'rpf.kube-rpf.dev',
        version: 'v1alpha1',
        resource: 'pods',
        subresource: 'reverseportforward',
        verb: 'create',
      },
    },
  ]);
});

test('the expose check uses the custom verb expose', (t) => {
  t.is(accessReviewSpec(alice, target, 'expose').resourceAttributes.verb, 'expose');
});

test('a denied review is a 403 Forbidden with the forbidden code and the pod in details', async (t) => {
  const kube = fakeKube();
  kube.review = () => DENY;
  const err = await t.throwsAsync(new Authorizer({ kube, clock: fakeClock() }).authorize(alice, target, 'create'), { instanceOf: RpfServerError });
  t.is(err?.code, 'RPF_ERR_SERVER_FORBIDDEN');
  t.is(err?.status, 403);
  t.is(err?.reason, 'Forbidden');
  t.deepEqual(err?.details, { name: 'web-0', group: 'rpf.kube-rpf.dev', kind: 'pods' });
});

test('an explicit deny wins over allowed', async (t) => {
  const kube = fakeKube();
  kube.review = () => ({ ...ALLOW, denied: true });
  await t.throwsAsync(new Authorizer({ kube, clock: fakeClock() }).authorize(alice, target, 'create'));
});

test('decisions, allowed or denied, are reused within the TTL and asked again after it', async (t) => {
  const kube = fakeKube();
  const clock = fakeClock();
  const authz = new Authorizer({ kube, clock, ttlMs: 10_000 });
  await authz.authorize(alice, target, 'create');
  await authz.authorize(alice, target, 'create');
  t.is(kube.reviews.length, 1);
  kube.review = () => DENY;
  clock.advance(9_999);
  await authz.authorize(alice, target, 'create');
  t.is(kube.reviews.length, 1);
  clock.advance(2);
  await t.throwsAsync(authz.authorize(alice, target, 'create'));
  await t.throwsAsync(authz.authorize(alice, target, 'create'));
  t.is(kube.reviews.length, 2);
});

test('the cache key holds every attribute: another pod, verb, group set or extra is a new review', async (t) => {
  const kube = fakeKube();
  const authz = new Authorizer({ kube, clock: fakeClock() });
  await authz.authorize(alice, target, 'create');
  await authz.authorize(alice, { namespace: 'dev', pod: 'web-1' }, 'create');
  await authz.authorize(alice, target, 'expose');
  await authz.authorize({ ...alice, groups: ['dev'] }, target, 'create');
  await authz.authorize({ ...alice, extra: {} }, target, 'create');
  await authz.authorize({ ...alice, groups: ['system:authenticated', 'dev'] }, target, 'create');
  t.is(kube.reviews.length, 5);
});

test('a failing SubjectAccessReview call is an internal error and is not cached', async (t) => {
  const kube = fakeKube();
  kube.failWith = new Error('connection refused');
  const authz = new Authorizer({ kube, clock: fakeClock() });
  const err = await t.throwsAsync(authz.authorize(alice, target, 'create'), { instanceOf: RpfServerError });
  t.is(err?.code, 'RPF_ERR_SERVER_AUTHORIZATION_FAILED');
  t.is(err?.status, 500);
  kube.failWith = undefined;
  await authz.authorize(alice, target, 'create');
  t.is(kube.reviews.length, 1);
});

test('the cache is bounded', async (t) => {
  const kube = fakeKube();
  const authz = new Authorizer({ kube, clock: fakeClock(), maxEntries: 2 });
  for (const pod of ['a', 'b', 'c']) await authz.authorize(alice, { namespace: 'dev', pod }, 'create');
  await authz.authorize(alice, { namespace: 'dev', pod: 'a' }, 'create');
  t.is(kube.reviews.length, 4);
});
