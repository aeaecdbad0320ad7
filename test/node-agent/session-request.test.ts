import test from 'ava';
import { RpfAgentError } from '../../node-agent/errors.ts';
import { parseSessionRequest } from '../../node-agent/session-request.ts';

const UID = '4ad3d637-bc37-41de-99f1-ca91eed6acaa';
const url = (query: string) => new URL(`https://rpf-agent/v1/sessions?namespace=dev&pod=api&podUID=${UID}&${query}`);

test('default addresses are both loopbacks, with ::1 optional as kubectl port-forward treats it', (t) => {
  const request = parseSessionRequest(url('ports=8080'), { 'x-rpf-user': 'alice', 'audit-id': 'a1b2' });
  t.is(request.auditId, 'a1b2');
  t.deepEqual(request.listeners, [
    { address: '127.0.0.1', port: 8080, group: 0, optional: false },
    { address: '::1', port: 8080, group: 0, optional: true },
  ]);
  t.deepEqual(request.target, { namespace: 'dev', pod: 'api', podUID: UID, user: 'alice' });
  t.false(request.exposed);
});

test('explicit addresses are all required and a non-loopback one marks the session exposed', (t) => {
  const request = parseSessionRequest(url('ports=80&ports=0&address=0.0.0.0'), {});
  t.deepEqual(
    request.listeners.map((l) => [l.address, l.port, l.group, l.optional]),
    [
      ['0.0.0.0', 80, 0, false],
      ['0.0.0.0', 0, 1, false],
    ],
  );
  t.true(request.exposed);
});

const invalid = [
  { name: 'no ports', query: 'address=127.0.0.1' },
  { name: 'port out of range', query: 'ports=65536' },
  { name: 'port not a number', query: 'ports=http' },
  { name: 'address not an IP', query: 'ports=80&address=localhost.evil' },
];
for (const { name, query } of invalid) {
  test(`a request with ${name} is a bad request`, (t) => {
    const error = t.throws(() => parseSessionRequest(url(query), {}), { instanceOf: RpfAgentError });
    t.is(error?.code, 'RPF_ERR_AGENT_BAD_REQUEST');
    t.is(error?.status, 400);
  });
}

test('an invalid pod name is a bad request', (t) => {
  const error = t.throws(() => parseSessionRequest(new URL(`https://a/v1/sessions?namespace=dev&pod=Bad_Name&podUID=${UID}&ports=1`), {}), {
    instanceOf: RpfAgentError,
  });
  t.is(error?.code, 'RPF_ERR_AGENT_BAD_REQUEST');
});

test('a user name sent as UTF-8 bytes (read by Node as Latin-1) is the user rpf-server meant', (t) => {
  const onTheWire = Buffer.from('józef-山田', 'utf8').toString('latin1');
  const request = parseSessionRequest(url('ports=8080'), { 'x-rpf-user': onTheWire });
  t.is(request.target.user, 'józef-山田');
});
