// The delays between reconnect attempts.
import test from 'ava';
import { Backoff } from '../../client/index.ts';

test('delays start at 0.5 s and double up to a 10 s cap', (t) => {
  const backoff = new Backoff({ random: () => 0.5 });
  t.deepEqual(Array.from({ length: 8 }, () => backoff.next()), [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
});

test('jitter spreads each delay by up to 20 % either way, never past the cap', (t) => {
  const low = new Backoff({ random: () => 0 });
  const high = new Backoff({ random: () => 0.999_999 });
  t.deepEqual([low.next(), low.next(), low.next()], [400, 800, 1600]);
  t.deepEqual([high.next(), high.next(), high.next()], [600, 1200, 2400]);
  for (let i = 0; i < 10; i++) high.next();
  t.is(high.next(), 10_000);
});

test('reset() starts over at the first delay', (t) => {
  const backoff = new Backoff({ random: () => 0.5 });
  backoff.next();
  backoff.next();
  backoff.reset();
  t.is(backoff.next(), 500);
});
