import test from 'ava';
import { PROTOCOL_ERROR_CODES, RpfProtocolError, isRpfProtocolError } from '../../protocol/index.ts';
import type { ProtocolErrorCode } from '../../protocol/index.ts';

const codes = Object.keys(PROTOCOL_ERROR_CODES) as ProtocolErrorCode[];

test('every code is named RPF_ERR_PROTOCOL_<WHAT>', (t) => {
  for (const code of codes) t.regex(code, /^RPF_ERR_PROTOCOL_[A-Z_]+$/);
});

test('every code maps to a close code a WebSocket may send', (t) => {
  // 1005, 1006 and 1015 must never appear in a close frame; 1000-1014 or 4000-4999 otherwise.
  for (const code of codes) {
    const { closeCode } = PROTOCOL_ERROR_CODES[code];
    t.true((closeCode >= 1000 && closeCode <= 1014 && ![1004, 1005, 1006].includes(closeCode)) || (closeCode >= 4000 && closeCode <= 4999), code);
  }
});

test('the codes the brief names exist', (t) => {
  for (const code of [
    'RPF_ERR_PROTOCOL_MALFORMED_FRAME',
    'RPF_ERR_PROTOCOL_UNKNOWN_FRAME_TYPE',
    'RPF_ERR_PROTOCOL_UNKNOWN_CHANNEL',
    'RPF_ERR_PROTOCOL_WINDOW_EXCEEDED',
    'RPF_ERR_PROTOCOL_KEEPALIVE_TIMEOUT',
    'RPF_ERR_PROTOCOL_VERSION_MISMATCH',
    'RPF_ERR_PROTOCOL_CONNECTION_LIMIT',
    'RPF_ERR_PROTOCOL_RESET',
  ]) {
    t.true(code in PROTOCOL_ERROR_CODES, code);
  }
});

test('an error takes its close code, scope and default message from the table', (t) => {
  for (const code of codes) {
    const error = new RpfProtocolError(code);
    t.is(error.code, code);
    t.is(error.closeCode, PROTOCOL_ERROR_CODES[code].closeCode);
    t.is(error.scope, PROTOCOL_ERROR_CODES[code].scope);
    // The table's default, whatever its wording: no prose is asserted here.
    t.is(error.message, PROTOCOL_ERROR_CODES[code].message);
    t.is(error.name, 'RpfProtocolError');
    t.true(error instanceof Error);
  }
});

test('an error keeps its cause and wire reason', (t) => {
  const cause = new Error('boom');
  const error = new RpfProtocolError('RPF_ERR_PROTOCOL_RESET', 'reset', { cause, reason: 2 });
  t.is(error.cause, cause);
  t.is(error.reason, 2);
  t.true(isRpfProtocolError(error, 'RPF_ERR_PROTOCOL_RESET'));
  t.false(isRpfProtocolError(error, 'RPF_ERR_PROTOCOL_OPEN_FAILED'));
  t.false(isRpfProtocolError(cause));
});
