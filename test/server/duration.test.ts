import test from 'ava';
import { formatDuration, parseDuration } from '../../server/duration.ts';

const good: [string, number][] = [
  ['0', 0],
  ['250ms', 250],
  ['10s', 10_000],
  ['1m30s', 90_000],
  ['1.5h', 5_400_000],
  ['.5s', 500],
  ['2h3m4s5ms', 7_384_005],
];
for (const [text, ms] of good) {
  test(`the duration ${text} is ${ms} ms`, (t) => {
    t.deepEqual(parseDuration(text), { ok: true, ms });
  });
}

const bad = ['', '10', 's', '10 s', '-1s', '1d', '1s garbage', '1e3ms', '5us'];
for (const text of bad) {
  test(`"${text}" is not a duration`, (t) => {
    t.false(parseDuration(text).ok);
  });
}

test('durations are formatted in the largest whole unit', (t) => {
  t.deepEqual([7_200_000, 120_000, 32_000, 1500, 0].map(formatDuration), ['2h', '2m', '32s', '1500ms', '0s']);
});
