import test from 'ava';
import { formatDuration, parseDuration } from '../../client/index.ts';

const parses: Array<{ name: string; text: string; ms: number | undefined }> = [
  { name: 'minutes', text: '1m', ms: 60_000 },
  { name: 'seconds', text: '30s', ms: 30_000 },
  { name: 'minutes and seconds, as kubectl prints its default', text: '1m0s', ms: 60_000 },
  { name: 'hours', text: '3h', ms: 10_800_000 },
  { name: 'milliseconds', text: '500ms', ms: 500 },
  { name: 'a fraction', text: '1.5s', ms: 1500 },
  { name: 'microseconds', text: '1500us', ms: 1.5 },
  { name: 'a bare zero', text: '0', ms: 0 },
  { name: 'a number without a unit is not a duration', text: '30', ms: undefined },
  { name: 'an unknown unit is not a duration', text: '5d', ms: undefined },
  { name: 'an empty string is not a duration', text: '', ms: undefined },
  { name: 'a negative duration is not accepted', text: '-1s', ms: undefined },
  { name: 'trailing garbage is not a duration', text: '1sx', ms: undefined },
];

for (const c of parses) {
  test(`parseDuration: ${c.name}`, (t) => {
    t.is(parseDuration(c.text), c.ms);
  });
}

test('formatDuration prints the way Go prints a duration', (t) => {
  t.is(formatDuration(60_000), '1m0s');
  t.is(formatDuration(30_000), '30s');
  t.is(formatDuration(3_723_000), '1h2m3s');
  t.is(formatDuration(500), '500ms');
  t.is(formatDuration(0), '0s');
});
