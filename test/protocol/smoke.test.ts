import test from 'ava';

test('the test runner executes TypeScript on Node 24', (t) => {
  t.true(Number(process.versions.node.split('.')[0]) >= 24);
});
