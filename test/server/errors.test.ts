import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RpfServerError, SERVER_ERROR_CODES, toServerError } from '../../server/errors.ts';

const REASONS: Record<number, string[]> = {
  0: ['InternalError'],
  400: ['BadRequest'],
  401: ['Unauthorized'],
  403: ['Forbidden'],
  404: ['NotFound'],
  405: ['MethodNotAllowed'],
  408: ['Timeout'],
  429: ['TooManyRequests'],
  500: ['InternalError'],
  502: ['InternalError'],
  503: ['ServiceUnavailable'],
  504: ['Timeout'],
};

test('every error code is named RPF_ERR_SERVER_*, has a meaning and a fix, and a reason that fits its status', (t) => {
  for (const [code, info] of Object.entries(SERVER_ERROR_CODES)) {
    t.regex(code, /^RPF_ERR_SERVER_[A-Z_]+$/);
    t.true(info.meaning.length > 10, code);
    t.true(info.fix.length > 10, code);
    t.true(REASONS[info.status]?.includes(info.reason) === true, `${code}: ${info.status} ${info.reason}`);
  }
});

test('an error takes its status and reason from its code', (t) => {
  const err = new RpfServerError('RPF_ERR_SERVER_NO_AGENT', 'x');
  t.is(err.status, 503);
  t.is(err.reason, 'ServiceUnavailable');
  t.true(err instanceof Error);
});

test('unknown errors become internal errors, server errors pass through', (t) => {
  t.is(toServerError(new Error('boom')).code, 'RPF_ERR_SERVER_INTERNAL');
  t.is(toServerError('text').status, 500);
  // What an unknown error says (a TypeError quotes our source) stays in the log, never in the Status.
  const secret = new TypeError('out[(raw[i] ?? "").toLowerCase(...)].push is not a function');
  const wrapped = toServerError(secret);
  t.false(wrapped.message.includes('push'));
  t.is(wrapped.cause, secret);
  const known = new RpfServerError('RPF_ERR_SERVER_FORBIDDEN', 'no');
  t.is(toServerError(known), known);
});

test('every code used in the server source is in the table, and every code in the table is used', (t) => {
  const dir = join(import.meta.dirname, '../../server');
  const source = readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && f !== 'errors.ts')
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n');
  const used = new Set(source.match(/RPF_ERR_SERVER_[A-Z_]+/g) ?? []);
  for (const code of used) t.true(code in SERVER_ERROR_CODES, code);
  for (const code of Object.keys(SERVER_ERROR_CODES)) t.true(used.has(code), `${code} is never used`);
});
