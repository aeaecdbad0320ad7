import test from 'ava';
import { CLIENT_ERROR_CODES, RpfClientError, isRpfClientError, toClientError } from '../../client/index.ts';
import type { ClientErrorCode } from '../../client/index.ts';

test('every client error code is RPF_ERR_CLIENT_<WHAT> with a summary, a fix and a non-zero exit code', (t) => {
  for (const [code, info] of Object.entries(CLIENT_ERROR_CODES)) {
    t.regex(code, /^RPF_ERR_CLIENT_[A-Z_]+$/);
    t.true(info.meaning.length > 0, code);
    t.true(info.fix.length > 0, code);
    t.true(Number.isInteger(info.exitCode) && info.exitCode > 0, code);
  }
});

test('the codes the brief names all exist', (t) => {
  const expected: ClientErrorCode[] = [
    'RPF_ERR_CLIENT_INVALID_PORT_SPEC',
    'RPF_ERR_CLIENT_INVALID_ARGS',
    'RPF_ERR_CLIENT_KUBECONFIG',
    'RPF_ERR_CLIENT_NOT_INSTALLED',
    'RPF_ERR_CLIENT_POD_NOT_FOUND',
    'RPF_ERR_CLIENT_POD_NOT_RUNNING',
    'RPF_ERR_CLIENT_FORBIDDEN',
    'RPF_ERR_CLIENT_UPSTREAM',
    'RPF_ERR_CLIENT_VERSION_MISMATCH',
    'RPF_ERR_CLIENT_CONNECTION_LOST',
    'RPF_ERR_CLIENT_KEEPALIVE_TIMEOUT',
    'RPF_ERR_CLIENT_SESSION_ENDED',
    'RPF_ERR_CLIENT_POD_GONE',
  ];
  for (const code of expected) t.true(code in CLIENT_ERROR_CODES, code);
});

test('an error takes its exit code from the table and keeps status and upstream code', (t) => {
  const error = new RpfClientError('RPF_ERR_CLIENT_UPSTREAM', 'port in use', { status: 409, upstreamCode: 'RPF_ERR_AGENT_PORT_IN_USE' });
  t.is(error.exitCode, CLIENT_ERROR_CODES.RPF_ERR_CLIENT_UPSTREAM.exitCode);
  t.is(error.status, 409);
  t.is(error.upstreamCode, 'RPF_ERR_AGENT_PORT_IN_USE');
  t.true(isRpfClientError(error, 'RPF_ERR_CLIENT_UPSTREAM'));
  t.false(isRpfClientError(error, 'RPF_ERR_CLIENT_FORBIDDEN'));
});

test('toClientError keeps client errors and wraps anything else as INTERNAL', (t) => {
  const error = new RpfClientError('RPF_ERR_CLIENT_FORBIDDEN', 'no');
  t.is(toClientError(error), error);
  const wrapped = toClientError(new TypeError('boom'));
  t.is(wrapped.code, 'RPF_ERR_CLIENT_INTERNAL');
  t.true(wrapped.cause instanceof TypeError);
});
