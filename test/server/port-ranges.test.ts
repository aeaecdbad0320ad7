import test from 'ava';
import { coversAllPorts, formatPortRanges, inPortRanges, parsePortRanges } from '../../server/port-ranges.ts';

const cases: { name: string; text: string; ok: boolean; badIndexes?: number[] }[] = [
  { name: 'the full range', text: '1-65535', ok: true },
  { name: 'single ports and ranges mixed, with spaces', text: '80, 443,8000-8999', ok: true },
  { name: 'port 0 is not a port to allow', text: '0-100', ok: false, badIndexes: [0] },
  { name: 'a reversed range', text: '90-80', ok: false, badIndexes: [0] },
  { name: 'words and empty items', text: 'http,,1-2', ok: false, badIndexes: [0, 1] },
  { name: 'above 65535', text: '65536', ok: false, badIndexes: [0] },
];

for (const c of cases) {
  test(`port range lists parse or report the bad items: ${c.name}`, (t) => {
    const r = parsePortRanges(c.text);
    t.is(r.ok, c.ok);
    if (!r.ok) t.deepEqual(r.errors.map((e) => e.index), c.badIndexes);
  });
}

test('membership and formatting follow the ranges', (t) => {
  const r = parsePortRanges('80,8000-8999');
  if (!r.ok) return t.fail();
  t.true(inPortRanges(r.ranges, 80));
  t.true(inPortRanges(r.ranges, 8999));
  t.false(inPortRanges(r.ranges, 81));
  t.is(formatPortRanges(r.ranges), '80,8000-8999');
});

const coverage: { name: string; text: string; all: boolean }[] = [
  { name: 'the default range', text: '1-65535', all: true },
  { name: 'overlapping pieces in any order', text: '30000-65535,1-1023,1000-30000', all: true },
  { name: 'adjacent single ports closing the gap', text: '1-79,80,81-65535', all: true },
  { name: 'a gap of one port', text: '1-79,81-65535', all: false },
  { name: 'the top port missing', text: '1-65534', all: false },
  { name: 'port 1 missing', text: '2-65535', all: false },
];

for (const c of coverage) {
  test(`whether ranges allow every port: ${c.name}`, (t) => {
    const r = parsePortRanges(c.text);
    if (!r.ok) return t.fail();
    t.is(coversAllPorts(r.ranges), c.all);
  });
}
