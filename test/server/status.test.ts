import test from 'ava';
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { connect } from 'node:net';
import { RpfServerError } from '../../server/errors.ts';
import { failureStatus, successStatus, writeStatusToSocket } from '../../server/status.ts';

test('a failure Status carries kind, apiVersion, code, reason, message and details with causes', (t) => {
  const err = new RpfServerError('RPF_ERR_SERVER_INVALID_QUERY', 'bad', {
    name: 'web',
    kind: 'pods',
    causes: [{ reason: 'FieldValueInvalid', message: 'Invalid value', field: 'ports[1]' }],
  });
  t.deepEqual(failureStatus(err), {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'bad',
    reason: 'BadRequest',
    code: 400,
    details: { name: 'web', kind: 'pods', causes: [{ reason: 'FieldValueInvalid', message: 'Invalid value', field: 'ports[1]' }] },
  });
});

test('a failure Status without details has no details field', (t) => {
  const status = failureStatus(new RpfServerError('RPF_ERR_SERVER_UNAUTHENTICATED', 'no'));
  t.false('details' in status);
  t.is(status.code, 401);
  t.is(status.reason, 'Unauthorized');
});

test('a success Status has code 200 and status Success', (t) => {
  const s = successStatus({ name: 'x', group: 'rpf.kube-rpf.dev', kind: 'reverseportforwards' });
  t.is(s.status, 'Success');
  t.is(s.code, 200);
  t.deepEqual(s.details, { name: 'x', group: 'rpf.kube-rpf.dev', kind: 'reverseportforwards' });
});

test('an error written to a raw socket is a complete HTTP/1.1 response with a Status body, then the socket closes', async (t) => {
  const server = createServer((socket: Socket) => writeStatusToSocket(socket, new RpfServerError('RPF_ERR_SERVER_NO_AGENT', 'no agent')));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  const chunks: Buffer[] = [];
  client.on('data', (c: Buffer) => chunks.push(c));
  await new Promise((r) => client.on('close', r));
  const text = Buffer.concat(chunks).toString('utf8');
  const [head = '', body = ''] = text.split('\r\n\r\n');
  t.regex(head, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
  t.regex(head, /\r\nConnection: close/i);
  t.regex(head, /\r\nContent-Type: application\/json/i);
  t.regex(head, /\r\nx-rpf-error-code: RPF_ERR_SERVER_NO_AGENT/i);
  t.is(Number(/Content-Length: (\d+)/i.exec(head)?.[1]), Buffer.byteLength(body));
  const status = JSON.parse(body) as { kind: string; code: number; reason: string };
  t.is(status.kind, 'Status');
  t.is(status.code, 503);
  t.is(status.reason, 'ServiceUnavailable');
});
