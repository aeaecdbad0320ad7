// The maximum session lifetime: the flag (--max-session-lifetime, 0 for no
// limit), the message the client prints (Go's duration wording), and the
// timer that ends a tunnel (server/session-lifetime.ts).
import test from 'ava';
import { formatGoDuration } from '../../server/duration.ts';
import { OptionsError } from '../../server/options.ts';
import { lifetimeMessage, limitLifetime } from '../../server/session-lifetime.ts';
import { manualTimers } from './helpers/manual-timers.ts';
import { makeTestPki } from './helpers/pki.ts';
import type { TestPki } from './helpers/pki.ts';
import { testConfig } from './helpers/server.ts';

let pki: TestPki;
test.before(() => {
  pki = makeTestPki();
});
test.after.always(() => pki?.cleanup());

const goDurations: [number, string][] = [
  [0, '0s'],
  [250, '250ms'],
  [1000, '1s'],
  [1500, '1.5s'],
  [90_000, '1m30s'],
  [3_600_000, '1h0m0s'],
  [8 * 3_600_000, '8h0m0s'],
  [26 * 3_600_000 + 61_000, '26h1m1s'],
];
for (const [ms, text] of goDurations) {
  test(`formatGoDuration(${ms}) is ${text}, as Go's time.Duration prints it`, (t) => {
    t.is(formatGoDuration(ms), text);
  });
}

test('the message names the limit the way kube-apiserver quotes durations', (t) => {
  // The client prints it after "lost connection to the pod's reverse port-forward: ": user-facing text.
  t.is(lifetimeMessage(8 * 3_600_000), 'the session reached its maximum lifetime of 8h0m0s');
});

test('--max-session-lifetime defaults to 0 (no limit) and takes a duration', (t) => {
  t.is(testConfig(pki).maxSessionLifetimeMs, 0);
  t.is(testConfig(pki, ['--max-session-lifetime=8h']).maxSessionLifetimeMs, 8 * 3_600_000);
  t.is(testConfig(pki, ['--max-session-lifetime=1h30m']).maxSessionLifetimeMs, 90 * 60_000);
  t.is(testConfig(pki, ['--max-session-lifetime=0']).maxSessionLifetimeMs, 0);
});

const badLifetimes = [
  { name: 'a word', value: 'forever' },
  { name: 'less than a second', value: '500ms' },
  { name: 'more than 720h', value: '721h' },
  { name: 'a number without a unit', value: '3600' },
];
for (const bad of badLifetimes) {
  test(`--max-session-lifetime refuses ${bad.name} (${bad.value}) with its field`, (t) => {
    const error = t.throws(() => testConfig(pki, [`--max-session-lifetime=${bad.value}`]), { instanceOf: OptionsError });
    t.deepEqual(error?.errors.map((e) => e.field), ['maxSessionLifetime']);
    t.regex(error?.message ?? '', new RegExp(`--max-session-lifetime.*${bad.value}`));
  });
}

test('a tunnel is ended once its lifetime has passed, not a moment before', async (t) => {
  const timers = manualTimers();
  const expired: string[] = [];
  limitLifetime(timers, 60_000, (m) => expired.push(m));
  await timers.advance(59_999);
  t.deepEqual(expired, []);
  await timers.advance(1);
  t.deepEqual(expired, ['the session reached its maximum lifetime of 1m0s']);
  await timers.advance(600_000);
  t.is(expired.length, 1, 'once');
});

test('a tunnel that ends first is never told, and 0 sets no timer at all', async (t) => {
  const timers = manualTimers();
  const stop = limitLifetime(timers, 60_000, () => t.fail('the tunnel had ended'));
  await timers.advance(30_000);
  stop();
  await timers.advance(60_000);
  t.is(timers.pending, 0);
  limitLifetime(timers, 0, () => t.fail('no limit'));
  t.is(timers.pending, 0);
});

test('a lifetime longer than one Node timer can wait (24.8 days) is waited out in steps', async (t) => {
  const timers = manualTimers();
  const days30 = 30 * 24 * 3_600_000;
  const expired: string[] = [];
  limitLifetime(timers, days30, (m) => expired.push(m));
  t.true(timers.delays.every((d) => d <= 2 ** 31 - 1));
  await timers.advance(days30 - 1);
  t.deepEqual(expired, []);
  await timers.advance(1);
  t.deepEqual(expired, ['the session reached its maximum lifetime of 720h0m0s']);
});
