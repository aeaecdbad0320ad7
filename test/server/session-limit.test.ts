import test from 'ava';
import { SessionLimiter } from '../../server/session-limit.ts';

test('a user gets slots up to the cap and none beyond, other users are not affected', (t) => {
  const limiter = new SessionLimiter(2);
  const a = limiter.tryReserve('alice');
  const b = limiter.tryReserve('alice');
  t.truthy(a);
  t.truthy(b);
  t.is(limiter.tryReserve('alice'), undefined);
  t.truthy(limiter.tryReserve('bob'));
  t.is(limiter.count('alice'), 2);
});

test('a released slot can be reserved again, and releasing twice frees only one', (t) => {
  const limiter = new SessionLimiter(2);
  const a = limiter.tryReserve('alice');
  limiter.tryReserve('alice');
  a?.release();
  a?.release();
  t.is(limiter.count('alice'), 1);
  t.truthy(limiter.tryReserve('alice'));
  t.is(limiter.tryReserve('alice'), undefined);
});

test('user names that are Object.prototype members are counted like any other', (t) => {
  const limiter = new SessionLimiter(1);
  t.truthy(limiter.tryReserve('__proto__'));
  t.truthy(limiter.tryReserve('constructor'));
  t.is(limiter.tryReserve('__proto__'), undefined);
  t.is(limiter.count('toString'), 0);
});
