import test from 'ava';
import { parseStatus, statusError } from '../../client/index.ts';

const status = (code: number, message: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, code, ...extra });

test('a Status message becomes the error message verbatim', (t) => {
  const error = statusError(409, {}, status(409, 'error creating reverse port-forward listener: port 8080 already in use', {
    reason: 'Conflict',
    details: { causes: [{ reason: 'RPF_ERR_AGENT_PORT_IN_USE', message: '...' }] },
  }), 'error upgrading connection');
  t.is(error.code, 'RPF_ERR_CLIENT_UPSTREAM');
  // KEP-5695's message, relayed verbatim as the CLI's one `error:` line: a user contract.
  t.is(error.message, 'error creating reverse port-forward listener: port 8080 already in use');
  t.is(error.status, 409);
  t.is(error.upstreamCode, 'RPF_ERR_AGENT_PORT_IN_USE');
});

test('a 403 is FORBIDDEN, whoever sent it', (t) => {
  const error = statusError(403, {}, status(403, 'pods "x" is forbidden: User "bob" cannot get resource "pods/reverseportforward"'), 'ctx');
  t.is(error.code, 'RPF_ERR_CLIENT_FORBIDDEN');
  t.is(error.upstreamCode, undefined);
});

test('a 401 is UNAUTHORIZED, also without a body', (t) => {
  t.is(statusError(401, {}, '', 'ctx').code, 'RPF_ERR_CLIENT_UNAUTHORIZED');
});

test("rpf-server's error code header wins and maps pod errors to their own codes", (t) => {
  const error = statusError(404, { 'x-rpf-error-code': 'RPF_ERR_SERVER_POD_NOT_FOUND' }, status(404, 'pods "x" not found'), 'ctx');
  t.is(error.code, 'RPF_ERR_CLIENT_POD_NOT_FOUND');
  t.is(error.upstreamCode, 'RPF_ERR_SERVER_POD_NOT_FOUND');
  t.is(statusError(400, { 'x-rpf-error-code': 'RPF_ERR_SERVER_POD_NOT_RUNNING' }, status(400, 'not running'), 'ctx').code, 'RPF_ERR_CLIENT_POD_NOT_RUNNING');
});

test("the agent's version mismatch is VERSION_MISMATCH", (t) => {
  const body = status(400, 'kube-rpf protocol mismatch: client offers v1.rpf.kube-rpf.dev, agent speaks v2.rpf.kube-rpf.dev; upgrade kubectl-rpf', {
    details: { causes: [{ reason: 'RPF_ERR_AGENT_VERSION_MISMATCH', message: '' }] },
  });
  t.is(statusError(400, {}, body, 'ctx').code, 'RPF_ERR_CLIENT_VERSION_MISMATCH');
});

test('a plain-text body is quoted briefly after the context', (t) => {
  const error = statusError(502, {}, `bad gateway\nmore lines\n${'x'.repeat(500)}`, 'error upgrading connection');
  t.is(error.code, 'RPF_ERR_CLIENT_UPSTREAM');
  // The CLI's one `error:` line, in kubectl's words: a user contract.
  t.is(error.message, 'error upgrading connection: the server answered 502 Bad Gateway: bad gateway');
});

test('a Status without a message names the HTTP status and reason', (t) => {
  const body = JSON.stringify({ kind: 'Status', code: 503, reason: 'ServiceUnavailable' });
  // The CLI's one `error:` line: a user contract.
  t.is(statusError(503, {}, body, 'error upgrading connection').message, 'error upgrading connection: the server answered 503 Service Unavailable (ServiceUnavailable)');
});

test('parseStatus accepts only Status objects', (t) => {
  t.is(parseStatus('{"kind":"Pod"}'), undefined);
  t.is(parseStatus('not json'), undefined);
  t.is(parseStatus(status(500, 'boom'))?.message, 'boom');
});
