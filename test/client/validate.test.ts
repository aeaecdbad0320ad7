// The one validator of the CLI's flags and the library's options.
import test from 'ava';
import { RpfClientError, addressFlags, checkAddress, checkNotEmptyFlag, podRunningTimeoutFlag, validateInputs } from '../../client/index.ts';
import type { ClientErrorCode, Inputs } from '../../client/index.ts';

test('checkAddress accepts IP literals (IPv6 in brackets too) and localhost, and drops the brackets', (t) => {
  t.deepEqual(['127.0.0.1', '::1', '[::1]', '0.0.0.0', 'LOCALHOST'].map(checkAddress), ['127.0.0.1', '::1', '::1', '0.0.0.0', 'LOCALHOST']);
});

test('checkAddress refuses a host name with INVALID_ARGS', (t) => {
  t.is(t.throws(() => checkAddress('example.com'), { instanceOf: RpfClientError })?.code, 'RPF_ERR_CLIENT_INVALID_ARGS');
});

test('--address flags are split on commas and trimmed; an empty entry is refused', (t) => {
  t.deepEqual(addressFlags(['127.0.0.1, ::1', '10.0.0.1']), ['127.0.0.1', '::1', '10.0.0.1']);
  t.is(t.throws(() => addressFlags(['127.0.0.1,']), { instanceOf: RpfClientError })?.code, 'RPF_ERR_CLIENT_INVALID_ARGS');
});

test('--pod-running-timeout reads a Go duration above zero', (t) => {
  t.is(podRunningTimeoutFlag('1m30s'), 90_000);
  for (const bad of ['60', '0s', '-1s']) t.is(t.throws(() => podRunningTimeoutFlag(bad), { instanceOf: RpfClientError })?.code, 'RPF_ERR_CLIENT_INVALID_ARGS', bad);
});

test('an empty name flag is refused, an absent one is not', (t) => {
  t.notThrows(() => checkNotEmptyFlag('namespace', undefined));
  t.is(t.throws(() => checkNotEmptyFlag('namespace', ''), { instanceOf: RpfClientError })?.code, 'RPF_ERR_CLIENT_INVALID_ARGS');
});

test('validateInputs parses every input and fills the defaults', (t) => {
  t.deepEqual(validateInputs({ target: 'deploy/web', ports: ['8080:3000', { remote: 0, local: 4000 }], address: ['[::1]'] }), {
    target: { kind: 'deployment', name: 'web' },
    mappings: [{ remote: 8080, local: 3000 }, { remote: 0, local: 4000 }],
    addresses: ['::1'],
    podRunningTimeoutMs: 60_000,
    localHost: 'localhost',
  });
});

const refusals: Array<{ name: string; inputs: Inputs; code: ClientErrorCode }> = [
  { name: 'no port spec', inputs: { target: 'web', ports: [] }, code: 'RPF_ERR_CLIENT_INVALID_PORT_SPEC' },
  { name: 'a mapping out of range', inputs: { target: 'web', ports: [{ remote: 80, local: 0 }] }, code: 'RPF_ERR_CLIENT_INVALID_PORT_SPEC' },
  { name: 'a bad address', inputs: { target: 'web', ports: ['80'], address: ['nope'] }, code: 'RPF_ERR_CLIENT_INVALID_ARGS' },
  { name: 'no target', inputs: { target: '', ports: ['80'] }, code: 'RPF_ERR_CLIENT_INVALID_ARGS' },
  { name: 'a bad target', inputs: { target: 'cronjob/x', ports: ['80'] }, code: 'RPF_ERR_CLIENT_INVALID_TARGET' },
  { name: 'a zero timeout', inputs: { target: 'web', ports: ['80'], podRunningTimeoutMs: 0 }, code: 'RPF_ERR_CLIENT_INVALID_ARGS' },
  { name: 'an infinite timeout', inputs: { target: 'web', ports: ['80'], podRunningTimeoutMs: Number.POSITIVE_INFINITY }, code: 'RPF_ERR_CLIENT_INVALID_ARGS' },
  { name: 'an empty local host', inputs: { target: 'web', ports: ['80'], localHost: '' }, code: 'RPF_ERR_CLIENT_INVALID_ARGS' },
  // Port specs are checked first: their error wins over a bad address or target.
  { name: 'a bad port spec before a bad address and target', inputs: { target: 'cronjob/x', ports: ['80a'], address: ['nope'] }, code: 'RPF_ERR_CLIENT_INVALID_PORT_SPEC' },
];

for (const c of refusals) {
  test(`validateInputs refuses ${c.name}`, (t) => {
    t.is(t.throws(() => validateInputs(c.inputs), { instanceOf: RpfClientError })?.code, c.code);
  });
}
