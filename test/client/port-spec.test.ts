import test from 'ava';
import { RpfClientError, checkPortMapping, parsePortSpec, parsePortSpecs } from '../../client/index.ts';
import type { PortMapping } from '../../client/index.ts';

const valid: Array<{ name: string; spec: string; want: PortMapping }> = [
  { name: 'REMOTE:LOCAL maps a pod port to a different local port', spec: '8080:3000', want: { remote: 8080, local: 3000 } },
  { name: 'a lone port means the same port on both sides', spec: '5432', want: { remote: 5432, local: 5432 } },
  { name: '0:LOCAL asks the agent for any free port', spec: '0:3000', want: { remote: 0, local: 3000 } },
  { name: 'the highest ports are accepted', spec: '65535:65535', want: { remote: 65535, local: 65535 } },
  { name: 'port 1 is accepted on both sides', spec: '1:1', want: { remote: 1, local: 1 } },
  { name: 'leading zeros read as decimal, as kubectl reads them', spec: '0080:03000', want: { remote: 80, local: 3000 } },
];

for (const c of valid) {
  test(`parsePortSpec: ${c.name}`, (t) => {
    t.deepEqual(parsePortSpec(c.spec), c.want);
  });
}

const invalid: Array<{ name: string; spec: string; quoted: string }> = [
  { name: 'letters in the remote port', spec: '80a:3000', quoted: '"80a:3000"' },
  { name: 'letters in the local port', spec: '8080:abc', quoted: '"8080:abc"' },
  { name: 'a remote port above 65535', spec: '65536:3000', quoted: '"65536:3000"' },
  { name: 'a local port above 65535', spec: '8080:70000', quoted: '"8080:70000"' },
  { name: 'local port 0', spec: '8080:0', quoted: '"8080:0"' },
  { name: 'a lone 0, which would leave the local port unknown', spec: '0', quoted: '"0"' },
  { name: 'a missing remote port', spec: ':3000', quoted: '":3000"' },
  { name: 'a missing local port', spec: '8080:', quoted: '"8080:"' },
  { name: 'two colons', spec: '1:2:3', quoted: '"1:2:3"' },
  { name: 'an empty spec', spec: '', quoted: '""' },
  { name: 'a negative port', spec: '-1:3000', quoted: '"-1:3000"' },
  { name: 'a sign', spec: '+80', quoted: '"+80"' },
  { name: 'spaces', spec: ' 80', quoted: '" 80"' },
  { name: 'six digits', spec: '000080', quoted: '"000080"' },
  { name: 'a fraction', spec: '80.5', quoted: '"80.5"' },
];

for (const c of invalid) {
  test(`parsePortSpec rejects ${c.name}, quoting the spec`, (t) => {
    const error = t.throws(() => parsePortSpec(c.spec), { instanceOf: RpfClientError });
    t.is(error?.code, 'RPF_ERR_CLIENT_INVALID_PORT_SPEC');
    // KEP-5695's shape, `invalid port spec "TOKEN": ...`, is the CLI's one `error:` line: a user contract.
    t.true(error?.message.startsWith(`invalid port spec ${c.quoted}: `));
  });
}

test('parsePortSpecs keeps the order of the specs', (t) => {
  t.deepEqual(parsePortSpecs(['8080:3000', '9090', '0:4000']), [
    { remote: 8080, local: 3000 },
    { remote: 9090, local: 9090 },
    { remote: 0, local: 4000 },
  ]);
});

test('parsePortSpecs rejects a non-zero remote port named twice', (t) => {
  const error = t.throws(() => parsePortSpecs(['8080:3000', '8080:4000']), { instanceOf: RpfClientError });
  t.is(error?.code, 'RPF_ERR_CLIENT_INVALID_PORT_SPEC');
  // The CLI's one `error:` line quotes the second spec: a user contract.
  t.true(error?.message.startsWith('invalid port spec "8080:4000": '));
});

test('parsePortSpecs allows several 0:LOCAL specs and a shared local port', (t) => {
  t.deepEqual(parsePortSpecs(['0:3000', '0:4000', '8080:3000']), [
    { remote: 0, local: 3000 },
    { remote: 0, local: 4000 },
    { remote: 8080, local: 3000 },
  ]);
});

test('parsePortSpecs reports every bad spec in one error', (t) => {
  const error = t.throws(() => parsePortSpecs(['x', '8080', 'y:1']), { instanceOf: RpfClientError });
  t.is(error?.code, 'RPF_ERR_CLIENT_INVALID_PORT_SPEC');
  // Every bad spec quoted in the CLI's one `error:` line: a user contract.
  t.regex(error?.message ?? '', /"x".*; invalid port spec "y:1"/);
});

test('parsePortSpecs requires at least one spec', (t) => {
  const error = t.throws(() => parsePortSpecs([]), { instanceOf: RpfClientError });
  t.is(error?.code, 'RPF_ERR_CLIENT_INVALID_PORT_SPEC');
});

test('checkPortMapping accepts a mapping object in range and rejects one out of range', (t) => {
  t.deepEqual(checkPortMapping({ remote: 0, local: 1 }), { remote: 0, local: 1 });
  for (const bad of [{ remote: 1.5, local: 1 }, { remote: 80, local: 0 }, { remote: 70_000, local: 80 }]) {
    t.is(t.throws(() => checkPortMapping(bad), { instanceOf: RpfClientError })?.code, 'RPF_ERR_CLIENT_INVALID_PORT_SPEC');
  }
});
