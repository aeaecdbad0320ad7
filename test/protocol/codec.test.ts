import test from 'ava';
import {
  MAX_DATA_PAYLOAD,
  MAX_REASON_MESSAGE_BYTES,
  RpfProtocolError,
  decodeMessage,
  encodeFrame,
  encodeFrames,
  truncateUtf8,
} from '../../protocol/index.ts';
import type { Frame, ProtocolErrorCode } from '../../protocol/index.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// Byte fixtures, written by hand from docs/protocol.md: type | channel | length | payload.
const fixtures: Array<{ name: string; frame: Frame; bytes: string }> = [
  {
    name: 'OPEN carries window, listener port, address and pod-side peer',
    frame: { type: 'OPEN', channel: 1, window: 1_048_576, listenerPort: 8080, address: '127.0.0.1', peer: '10.0.0.5:40000' },
    bytes: '01 00000001 0000001f  00100000 1f90 09 3132372e302e302e31 0e 31302e302e302e353a3430303030',
  },
  { name: 'OPEN_OK carries the window', frame: { type: 'OPEN_OK', channel: 1, window: 65_536 }, bytes: '02 00000001 00000004 00010000' },
  {
    name: 'OPEN_FAIL carries reason and message',
    frame: { type: 'OPEN_FAIL', channel: 3, reason: 3, message: 'refused' },
    bytes: '03 00000003 0000000b 00000003 72656675736564',
  },
  { name: 'DATA carries the bytes as they are', frame: { type: 'DATA', channel: 1, data: Buffer.from('hi') }, bytes: '04 00000001 00000002 6869' },
  {
    name: 'WINDOW_ADJUST carries the increment',
    frame: { type: 'WINDOW_ADJUST', channel: 1, increment: 524_288 },
    bytes: '05 00000001 00000004 00080000',
  },
  { name: 'EOF is empty', frame: { type: 'EOF', channel: 5 }, bytes: '06 00000005 00000000' },
  {
    name: 'RESET with an empty message is just the reason',
    frame: { type: 'RESET', channel: 7, reason: 2, message: '' },
    bytes: '07 00000007 00000004 00000002',
  },
  {
    name: 'PING carries 8 opaque bytes on channel 0',
    frame: { type: 'PING', payload: hex('0102030405060708') },
    bytes: '08 00000000 00000008 0102030405060708',
  },
  {
    name: 'PONG echoes 8 bytes on channel 0',
    frame: { type: 'PONG', payload: hex('0102030405060708') },
    bytes: '09 00000000 00000008 0102030405060708',
  },
  {
    name: 'LISTENING carries a JSON array on channel 0',
    frame: { type: 'LISTENING', listeners: [{ address: '127.0.0.1', port: 41234, requestedPort: 0 }] },
    bytes:
      '0a 00000000 00000038 5b7b2261646472657373223a223132372e302e302e31222c22706f7274223a34313233342c22726571756573746564506f7274223a307d5d',
  },
  {
    name: 'GOAWAY carries reason and message on channel 0',
    frame: { type: 'GOAWAY', reason: 3, message: 'pod deleted' },
    bytes: '0b 00000000 0000000f 00000003 706f642064656c65746564',
  },
];

for (const { name, frame, bytes } of fixtures) {
  test(`encodes ${name}`, (t) => {
    t.is(encodeFrame(frame).toString('hex'), hex(bytes).toString('hex'));
  });
  test(`decodes ${name}`, (t) => {
    t.deepEqual(normalize(decodeMessage(hex(bytes))), normalize([frame]));
  });
}

// Compare byte payloads as hex so Buffer vs Uint8Array views do not matter.
function normalize(frames: Frame[]): unknown[] {
  return frames.map((f) => {
    if (f.type === 'DATA') return { ...f, data: Buffer.from(f.data).toString('hex') };
    if (f.type === 'PING' || f.type === 'PONG') return { ...f, payload: Buffer.from(f.payload).toString('hex') };
    return f;
  });
}

test('several frames in one message decode in order', (t) => {
  const frames = fixtures.map((f) => f.frame);
  const message = encodeFrames(frames);
  t.is(message.length, fixtures.reduce((n, f) => n + hex(f.bytes).length, 0));
  t.deepEqual(normalize(decodeMessage(message)), normalize(frames));
});

test('decoded DATA payloads are views into the message, not copies', (t) => {
  const message = encodeFrames([
    { type: 'DATA', channel: 1, data: Buffer.from('abc') },
    { type: 'DATA', channel: 3, data: Buffer.from('defg') },
  ]);
  const [first, second] = decodeMessage(message);
  t.is(first?.type, 'DATA');
  t.is(second?.type, 'DATA');
  if (first?.type !== 'DATA' || second?.type !== 'DATA') return;
  t.is(first.data.buffer, message.buffer);
  t.is(first.data.byteOffset, message.byteOffset + 9);
  t.is(second.data.byteOffset, message.byteOffset + 9 + 3 + 9);
});

test('a maximal DATA frame round-trips', (t) => {
  const data = Buffer.alloc(MAX_DATA_PAYLOAD, 0xab);
  const [frame] = decodeMessage(encodeFrame({ type: 'DATA', channel: 0xffff_ffff, data }));
  t.true(frame?.type === 'DATA' && frame.channel === 0xffff_ffff && Buffer.from(frame.data).equals(data));
});

test('a decoder accepts a plain Uint8Array as well as a Buffer', (t) => {
  const bytes = new Uint8Array(hex('06 00000005 00000000'));
  t.deepEqual(decodeMessage(bytes), [{ type: 'EOF', channel: 5 }]);
});

const bad: Array<{ name: string; bytes: string; code: ProtocolErrorCode; maxMessageSize?: number }> = [
  { name: 'an empty message', bytes: '', code: 'RPF_ERR_PROTOCOL_MALFORMED_FRAME' },
  { name: 'a truncated header', bytes: '04 00000001 00', code: 'RPF_ERR_PROTOCOL_MALFORMED_FRAME' },
  { name: 'a truncated payload', bytes: '04 00000001 0000000a 6869', code: 'RPF_ERR_PROTOCOL_MALFORMED_FRAME' },
  { name: 'trailing bytes after the last frame', bytes: '06 00000005 00000000 06', code: 'RPF_ERR_PROTOCOL_MALFORMED_FRAME' },
  { name: 'reserved type 0x00', bytes: '00 00000001 00000000', code: 'RPF_ERR_PROTOCOL_UNKNOWN_FRAME_TYPE' },
  { name: 'type 0x0c', bytes: '0c 00000001 00000000', code: 'RPF_ERR_PROTOCOL_UNKNOWN_FRAME_TYPE' },
  { name: 'type 0xff', bytes: 'ff 00000001 00000000', code: 'RPF_ERR_PROTOCOL_UNKNOWN_FRAME_TYPE' },
  { name: 'DATA longer than 256 KiB', bytes: '04 00000001 00040001', code: 'RPF_ERR_PROTOCOL_FRAME_TOO_LARGE' },
  { name: 'a control frame longer than 64 KiB', bytes: '0a 00000000 00010001', code: 'RPF_ERR_PROTOCOL_FRAME_TOO_LARGE' },
  { name: 'a length of 4 GiB', bytes: '04 00000001 ffffffff', code: 'RPF_ERR_PROTOCOL_FRAME_TOO_LARGE' },
  { name: 'a message over the maximum size', bytes: '06 00000005 00000000 06 00000007 00000000', code: 'RPF_ERR_PROTOCOL_MESSAGE_TOO_LARGE', maxMessageSize: 10 },
  { name: 'DATA on channel 0', bytes: '04 00000000 00000001 00', code: 'RPF_ERR_PROTOCOL_MALFORMED_FRAME' },
  { name: 'PING on channel 3', bytes: '08 00000003 00000008 0102030405060708', code: 'RPF_ERR_PROTOCOL_MALFORMED_FRAME' },
  { name: 'PING with 7 bytes', bytes: '08 00000000 00000007 01020304050607', code: 'RPF_ERR_PROTOCOL_MALFORMED_FRAME' },
  { name: 'OPEN_OK with 3 bytes', bytes: '02 00000001 00000003 000100', code: 'RPF_ERR_PROTOCOL_MALFORMED_FRAME' },
  { name: 'OPEN_OK with a window over 2^31-1', bytes: '02 00000001 00000004 80000000', code: 'RPF_ERR_PROTOCOL_MALFORMED_FRAME' },
  { name: 'WINDOW_ADJUST of 0', bytes: '05 00000001 00000004 00000000', code: 'RPF_ERR_PROTOCOL_MALFORMED_FRAME' },
  { name: 'WINDOW_ADJUST over 2^31-1', bytes: '05 00000001 00000004 80000000', code: 'RPF_ERR_PROTOCOL_MALFORMED_FRAME' },
  { name: 'EOF with a payload', bytes: '06 00000001 00000001 00', code: 'RPF_ERR_PROTOCOL_MALFORMED_FRAME' },
  { name: 'RESET without a reason', bytes: '07 00000001 00000002 0000', code: 'RPF_ERR_PROTOCOL_MALFORMED_FRAME' },
  { name: 'RESET with invalid UTF-8', bytes: '07 00000001 00000006 00000002 c328', code: 'RPF_ERR_PROTOCOL_MALFORMED_FRAME' },
  { name: 'OPEN with listener port 0', bytes: '01 00000001 00000008 00100000 0000 00 00', code: 'RPF_ERR_PROTOCOL_MALFORMED_FRAME' },
  { name: 'OPEN whose address runs past the payload', bytes: '01 00000001 00000009 00100000 1f90 05 3132 00', code: 'RPF_ERR_PROTOCOL_MALFORMED_FRAME' },
  { name: 'OPEN whose peer length disagrees with the payload', bytes: '01 00000001 00000009 00100000 1f90 00 05 31', code: 'RPF_ERR_PROTOCOL_MALFORMED_FRAME' },
  { name: 'LISTENING that is not JSON', bytes: '0a 00000000 00000001 5b', code: 'RPF_ERR_PROTOCOL_MALFORMED_FRAME' },
  { name: 'LISTENING that is not an array of listeners', bytes: `0a 00000000 00000004 ${Buffer.from('[{}]').toString('hex')}`, code: 'RPF_ERR_PROTOCOL_MALFORMED_FRAME' },
  { name: 'GOAWAY on channel 1', bytes: '0b 00000001 00000004 00000000', code: 'RPF_ERR_PROTOCOL_MALFORMED_FRAME' },
  { name: 'a valid frame followed by an unknown one', bytes: '06 00000005 00000000 42 00000000 00000000', code: 'RPF_ERR_PROTOCOL_UNKNOWN_FRAME_TYPE' },
];

for (const { name, bytes, code, maxMessageSize } of bad) {
  test(`decoding ${name} throws ${code}`, (t) => {
    const options = maxMessageSize === undefined ? {} : { maxMessageSize };
    const error = t.throws(() => decodeMessage(hex(bytes), options), { instanceOf: RpfProtocolError });
    t.is(error?.code, code);
    t.is(error?.scope, 'session');
  });
}

const unencodable: Array<{ name: string; frame: Frame }> = [
  { name: 'DATA over 256 KiB', frame: { type: 'DATA', channel: 1, data: Buffer.alloc(MAX_DATA_PAYLOAD + 1) } },
  { name: 'DATA on channel 0', frame: { type: 'DATA', channel: 0, data: Buffer.alloc(1) } },
  { name: 'a channel id over 2^32-1', frame: { type: 'EOF', channel: 2 ** 32 } },
  { name: 'a window over 2^31-1', frame: { type: 'OPEN_OK', channel: 1, window: 2 ** 31 } },
  { name: 'a WINDOW_ADJUST of 0', frame: { type: 'WINDOW_ADJUST', channel: 1, increment: 0 } },
  { name: 'an OPEN address over 255 bytes', frame: { type: 'OPEN', channel: 1, window: 1, listenerPort: 1, address: 'a'.repeat(256), peer: '' } },
  { name: 'an OPEN listener port of 0', frame: { type: 'OPEN', channel: 1, window: 1, listenerPort: 0, address: '::1', peer: '' } },
  { name: 'a PING of 4 bytes', frame: { type: 'PING', payload: Buffer.alloc(4) } },
  { name: 'a LISTENING port of 70000', frame: { type: 'LISTENING', listeners: [{ address: '::1', port: 70000, requestedPort: 0 }] } },
];

for (const { name, frame } of unencodable) {
  test(`encoding ${name} throws RPF_ERR_PROTOCOL_INVALID_ARGUMENT`, (t) => {
    const error = t.throws(() => encodeFrame(frame), { instanceOf: RpfProtocolError });
    t.is(error?.code, 'RPF_ERR_PROTOCOL_INVALID_ARGUMENT');
  });
}

test('long reason messages are cut on a character boundary and still decode', (t) => {
  const message = '€'.repeat(1000); // 3 bytes each
  const [frame] = decodeMessage(encodeFrame({ type: 'RESET', channel: 1, reason: 7, message }));
  t.true(frame?.type === 'RESET');
  if (frame?.type !== 'RESET') return;
  t.true(Buffer.byteLength(frame.message) <= MAX_REASON_MESSAGE_BYTES);
  t.is(frame.message, '€'.repeat(Math.floor(MAX_REASON_MESSAGE_BYTES / 3)));
});

test('truncateUtf8 leaves short text alone', (t) => {
  t.is(truncateUtf8('héllo', 100).toString(), 'héllo');
  t.is(truncateUtf8('héllo', 2).toString(), 'h');
});
