import test from 'ava';
import { AGENT_ERROR_CODES, RpfAgentError, statusFor } from '../../node-agent/errors.ts';

test('an agent error becomes a Status with its HTTP code, reason and code as cause', (t) => {
  const status = statusFor(new RpfAgentError('RPF_ERR_AGENT_PORT_IN_USE', 'error creating reverse port-forward listener: port 8080 already in use'));
  t.like(status, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 409, reason: 'Conflict' });
  t.deepEqual((status.details as { causes: { reason: string }[] }).causes.map((c) => c.reason), ['RPF_ERR_AGENT_PORT_IN_USE']);
});

test('an unexpected error becomes a 500 InternalError Status', (t) => {
  t.like(statusFor(new Error('boom')), { code: 500, reason: 'InternalError' });
});

test('every code maps to an HTTP error status, or 0 for one never sent over HTTP (invalid options)', (t) => {
  for (const [code, info] of Object.entries(AGENT_ERROR_CODES)) {
    t.true((info.status >= 400 && info.status < 600) || (info.status === 0 && code === 'RPF_ERR_AGENT_INVALID_OPTIONS'), code);
    t.true(code.startsWith('RPF_ERR_AGENT_'), code);
  }
});
