import test from 'ava';
import { RpfServerError } from '../../server/errors.ts';
import type { ServerErrorCode } from '../../server/errors.ts';
import { isLoopback, normaliseAddress, parseTunnelQuery } from '../../server/query.ts';
import type { PortRange } from '../../server/port-ranges.ts';

const ALL: PortRange[] = [{ from: 1, to: 65535 }];

function q(text: string): URLSearchParams {
  return new URLSearchParams(text);
}

const valid: { name: string; query: string; allowed?: PortRange[]; ports: number[]; addresses: string[] }[] = [
  { name: 'one port, default loopback addresses', query: 'ports=8080', ports: [8080], addresses: ['127.0.0.1', '::1'] },
  { name: 'several ports keep their order', query: 'ports=9000&ports=80&ports=0', ports: [9000, 80, 0], addresses: ['127.0.0.1', '::1'] },
  { name: 'port 0 may repeat', query: 'ports=0&ports=0', ports: [0, 0], addresses: ['127.0.0.1', '::1'] },
  { name: 'port 0 is allowed when every port is', query: 'ports=0', ports: [0], addresses: ['127.0.0.1', '::1'] },
  {
    name: 'port 0 is allowed when ranges in pieces cover every port',
    query: 'ports=0&ports=80',
    allowed: [{ from: 1024, to: 65535 }, { from: 1, to: 1023 }],
    ports: [0, 80],
    addresses: ['127.0.0.1', '::1'],
  },
  { name: 'an explicit IPv4 address', query: 'ports=1&address=10.1.2.3', ports: [1], addresses: ['10.1.2.3'] },
  { name: 'localhost means both loopbacks', query: 'ports=1&address=localhost', ports: [1], addresses: ['127.0.0.1', '::1'] },
  { name: 'IPv6 is normalised and bracketed forms accepted', query: 'ports=1&address=[0:0:0:0:0:0:0:1]&address=FD00::0001', ports: [1], addresses: ['::1', 'fd00::1'] },
  { name: 'duplicate addresses collapse', query: 'ports=1&address=127.0.0.1&address=localhost', ports: [1], addresses: ['127.0.0.1', '::1'] },
  { name: 'the top port', query: 'ports=65535', ports: [65535], addresses: ['127.0.0.1', '::1'] },
];

for (const c of valid) {
  test(`a valid query is accepted: ${c.name}`, (t) => {
    const got = parseTunnelQuery(q(c.query), c.allowed ?? ALL);
    t.deepEqual(got.ports, c.ports);
    t.deepEqual(got.addresses, c.addresses);
  });
}

test('addresses count as named only when a literal is given; none or localhost leave the default to the agent', (t) => {
  t.false(parseTunnelQuery(q('ports=1'), ALL).explicitAddresses);
  t.false(parseTunnelQuery(q('ports=1&address=localhost'), ALL).explicitAddresses);
  t.true(parseTunnelQuery(q('ports=1&address=::1'), ALL).explicitAddresses);
  t.true(parseTunnelQuery(q('ports=1&address=localhost&address=10.0.0.1'), ALL).explicitAddresses);
});

const invalid: { name: string; query: string; allowed?: PortRange[]; code: ServerErrorCode; fields: string[] }[] = [
  { name: 'no ports', query: '', code: 'RPF_ERR_SERVER_INVALID_QUERY', fields: ['ports'] },
  { name: 'a word for a port', query: 'ports=http', code: 'RPF_ERR_SERVER_INVALID_QUERY', fields: ['ports[0]'] },
  { name: 'a port above 65535', query: 'ports=80&ports=65536', code: 'RPF_ERR_SERVER_INVALID_QUERY', fields: ['ports[1]'] },
  { name: 'a negative port', query: 'ports=-1', code: 'RPF_ERR_SERVER_INVALID_QUERY', fields: ['ports[0]'] },
  { name: 'an empty port', query: 'ports=', code: 'RPF_ERR_SERVER_INVALID_QUERY', fields: ['ports[0]'] },
  { name: 'a fractional port', query: 'ports=80.5', code: 'RPF_ERR_SERVER_INVALID_QUERY', fields: ['ports[0]'] },
  { name: 'a duplicate port', query: 'ports=80&ports=81&ports=80', code: 'RPF_ERR_SERVER_INVALID_QUERY', fields: ['ports[2]'] },
  { name: 'a bad address', query: 'ports=80&address=example.com', code: 'RPF_ERR_SERVER_INVALID_QUERY', fields: ['address[0]'] },
  { name: 'an IPv6 zone', query: 'ports=80&address=fe80::1%25eth0', code: 'RPF_ERR_SERVER_INVALID_QUERY', fields: ['address[0]'] },
  { name: 'every error at once', query: 'ports=x&ports=70000&address=nope&address=1.2.3', code: 'RPF_ERR_SERVER_INVALID_QUERY', fields: ['ports[0]', 'ports[1]', 'address[0]', 'address[1]'] },
  { name: 'a port outside the allowed ranges', query: 'ports=22&ports=8080', allowed: [{ from: 1024, to: 65535 }], code: 'RPF_ERR_SERVER_PORT_NOT_ALLOWED', fields: ['ports[0]'] },
  { name: 'policy and syntax errors together', query: 'ports=22&ports=x', allowed: [{ from: 1024, to: 65535 }], code: 'RPF_ERR_SERVER_INVALID_QUERY', fields: ['ports[0]', 'ports[1]'] },
  // The kernel picks port 0's number: with limited ranges nothing keeps it inside them.
  { name: 'port 0 when the allowed ranges are limited', query: 'ports=8000&ports=0', allowed: [{ from: 8000, to: 8000 }], code: 'RPF_ERR_SERVER_PORT_NOT_ALLOWED', fields: ['ports[1]'] },
  { name: 'port 0 when one port of 1-65535 is left out', query: 'ports=0', allowed: [{ from: 1, to: 65534 }], code: 'RPF_ERR_SERVER_PORT_NOT_ALLOWED', fields: ['ports[0]'] },
];

for (const c of invalid) {
  test(`an invalid query is refused with every cause: ${c.name}`, (t) => {
    const err = t.throws(() => parseTunnelQuery(q(c.query), c.allowed ?? ALL), { instanceOf: RpfServerError });
    t.is(err?.code, c.code);
    t.is(err?.status, c.code === 'RPF_ERR_SERVER_PORT_NOT_ALLOWED' ? 403 : 400);
    t.deepEqual(err?.details?.causes?.map((cause) => cause.field), c.fields);
  });
}

test('a refused port 0 is a Forbidden cause on its field that asks for a port in the allowed ranges', (t) => {
  const err = t.throws(() => parseTunnelQuery(q('ports=0'), [{ from: 3000, to: 3999 }]), { instanceOf: RpfServerError });
  const cause = err?.details?.causes?.[0];
  t.is(cause?.reason, 'FieldValueForbidden');
  t.is(cause?.field, 'ports[0]');
  // The cause is what kubectl rpf shows: it must say what to do instead (the brief's contract, not wording).
  t.regex(cause?.message ?? '', /3000-3999.*name a port in the allowed ranges/);
});

test('too many ports are refused', (t) => {
  const text = Array.from({ length: 65 }, (_, i) => `ports=${i + 1}`).join('&');
  const err = t.throws(() => parseTunnelQuery(q(text), ALL), { instanceOf: RpfServerError });
  t.is(err?.code, 'RPF_ERR_SERVER_INVALID_QUERY');
});

const loopbacks: [string, boolean][] = [
  ['127.0.0.1', true],
  ['127.5.6.7', true],
  ['::1', true],
  ['::ffff:127.0.0.1', true],
  ['0.0.0.0', false],
  ['::', false],
  ['10.0.0.1', false],
  ['fd00::1', false],
];
for (const [address, expected] of loopbacks) {
  test(`${address} ${expected ? 'is' : 'is not'} a loopback address`, (t) => {
    t.is(isLoopback(normaliseAddress(address)?.[0] ?? address), expected);
  });
}
