// Pure encode and decode of tunnel frames (docs/protocol.md, "Frames"). No I/O,
// no state: a WebSocket message in, the frames it holds out, and back.
//
// Frame: u8 type | u32 BE channel | u32 BE payload length | payload.

import {
  FRAME_HEADER_SIZE,
  FRAME_TYPE,
  MAX_CHANNEL_ID,
  MAX_CONTROL_PAYLOAD,
  MAX_DATA_PAYLOAD,
  MAX_MESSAGE_SIZE,
  MAX_OPEN_STRING_BYTES,
  MAX_REASON_MESSAGE_BYTES,
  MAX_WINDOW,
  PING_PAYLOAD_SIZE,
  SESSION_CHANNEL_ID,
} from './constants.ts';
import type { FrameTypeName } from './constants.ts';
import { RpfProtocolError } from './errors.ts';
import { isListenerInfo, isPort } from './frames.ts';
import type { Frame } from './frames.ts';

/** Options of {@link decodeMessage}. */
export interface DecodeOptions {
  /** Largest accepted message in bytes; defaults to MAX_MESSAGE_SIZE. */
  maxMessageSize?: number;
}

const TYPE_NAMES: ReadonlyMap<number, FrameTypeName> = new Map(
  Object.entries(FRAME_TYPE).map(([name, code]) => [code, name as FrameTypeName]),
);

// fatal: invalid UTF-8 is a malformed frame, not a string with U+FFFD in it.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function invalid(what: string): never {
  throw new RpfProtocolError('RPF_ERR_PROTOCOL_INVALID_ARGUMENT', `cannot encode frame: ${what}`);
}

function malformed(type: FrameTypeName, what: string): never {
  throw new RpfProtocolError('RPF_ERR_PROTOCOL_MALFORMED_FRAME', `malformed ${type} frame: ${what}`);
}

function isU32(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff;
}

/**
 * UTF-8 bytes of `text`, cut to at most `maxBytes` on a character boundary
 * (a cut inside a character would make the frame malformed for the receiver).
 */
export function truncateUtf8(text: string, maxBytes: number): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return bytes;
  let end = maxBytes;
  // Step back over continuation bytes (10xxxxxx) to the start of the cut character.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/** The payload of one frame, validated, as the parts that will be written. */
function payloadOf(frame: Frame): { channel: number; parts: Uint8Array[]; length: number } {
  const channelFrame = 'channel' in frame;
  const channel = channelFrame ? frame.channel : SESSION_CHANNEL_ID;
  if (channelFrame && (!isU32(channel) || channel === SESSION_CHANNEL_ID || channel > MAX_CHANNEL_ID)) {
    invalid(`${frame.type} needs a channel id from 1 to 2^32-1, got ${channel}`);
  }
  const u32 = (value: number, what: string): Buffer => {
    if (!isU32(value)) invalid(`${frame.type} ${what} must be a u32, got ${value}`);
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(value, 0);
    return b;
  };
  const window = (value: number): number => {
    if (!isU32(value) || value > MAX_WINDOW) invalid(`${frame.type} window must be 0 to 2^31-1, got ${value}`);
    return value;
  };
  let parts: Uint8Array[];
  switch (frame.type) {
    case 'OPEN': {
      if (!isPort(frame.listenerPort)) invalid(`OPEN listenerPort must be 1-65535, got ${frame.listenerPort}`);
      const address = Buffer.from(frame.address, 'utf8');
      const peer = Buffer.from(frame.peer, 'utf8');
      if (address.length > MAX_OPEN_STRING_BYTES) invalid('OPEN address is longer than 255 bytes');
      if (peer.length > MAX_OPEN_STRING_BYTES) invalid('OPEN peer is longer than 255 bytes');
      const fixed = Buffer.allocUnsafe(7);
      fixed.writeUInt32BE(window(frame.window), 0);
      fixed.writeUInt16BE(frame.listenerPort, 4);
      fixed.writeUInt8(address.length, 6);
      parts = [fixed, address, Buffer.of(peer.length), peer];
      break;
    }
    case 'OPEN_OK':
      parts = [u32(window(frame.window), 'window')];
      break;
    case 'OPEN_FAIL':
    case 'RESET':
    case 'GOAWAY':
      parts = [u32(frame.reason, 'reason'), truncateUtf8(frame.message, MAX_REASON_MESSAGE_BYTES)];
      break;
    case 'DATA':
      if (frame.data.length > MAX_DATA_PAYLOAD) invalid(`DATA payload of ${frame.data.length} bytes exceeds ${MAX_DATA_PAYLOAD}`);
      parts = [frame.data];
      break;
    case 'WINDOW_ADJUST':
      if (!isU32(frame.increment) || frame.increment < 1 || frame.increment > MAX_WINDOW) {
        invalid(`WINDOW_ADJUST increment must be 1 to 2^31-1, got ${frame.increment}`);
      }
      parts = [u32(frame.increment, 'increment')];
      break;
    case 'EOF':
      parts = [];
      break;
    case 'PING':
    case 'PONG':
      if (frame.payload.length !== PING_PAYLOAD_SIZE) invalid(`${frame.type} payload must be ${PING_PAYLOAD_SIZE} bytes`);
      parts = [frame.payload];
      break;
    case 'LISTENING': {
      for (const l of frame.listeners) {
        if (!isListenerInfo(l)) invalid(`LISTENING entry ${JSON.stringify(l)} is not {address, port, requestedPort}`);
      }
      const json = Buffer.from(
        JSON.stringify(frame.listeners.map((l) => ({ address: l.address, port: l.port, requestedPort: l.requestedPort }))),
        'utf8',
      );
      if (json.length > MAX_CONTROL_PAYLOAD) invalid(`LISTENING payload exceeds ${MAX_CONTROL_PAYLOAD} bytes`);
      parts = [json];
      break;
    }
    default:
      return invalid(`unknown frame type ${(frame as { type: unknown }).type}`);
  }
  let length = 0;
  for (const p of parts) length += p.length;
  return { channel, parts, length };
}

/** A frame made ready to write: header values plus payload parts. */
export interface EncodedFrame {
  /** Total bytes on the wire, header included. */
  readonly size: number;
  /** Writes the frame into `target` at `offset`; returns the offset after it. */
  writeInto(target: Buffer, offset: number): number;
}

/**
 * Validates `frame` and prepares it for writing; throws
 * RPF_ERR_PROTOCOL_INVALID_ARGUMENT when it cannot go on the wire. The frame's
 * buffers are referenced, not copied, until `writeInto`.
 */
export function prepareFrame(frame: Frame): EncodedFrame {
  const { channel, parts, length } = payloadOf(frame);
  const type = FRAME_TYPE[frame.type];
  return {
    size: FRAME_HEADER_SIZE + length,
    writeInto(target: Buffer, offset: number): number {
      target[offset] = type;
      target.writeUInt32BE(channel, offset + 1);
      target.writeUInt32BE(length, offset + 5);
      let at = offset + FRAME_HEADER_SIZE;
      for (const p of parts) {
        target.set(p, at);
        at += p.length;
      }
      return at;
    },
  };
}

/** Encodes frames, in order, into one Buffer (one WebSocket message). */
export function encodeFrames(frames: readonly Frame[]): Buffer {
  const prepared = frames.map(prepareFrame);
  let size = 0;
  for (const p of prepared) size += p.size;
  const out = Buffer.allocUnsafe(size);
  let offset = 0;
  for (const p of prepared) offset = p.writeInto(out, offset);
  return out;
}

/** Encodes one frame into its own Buffer. */
export function encodeFrame(frame: Frame): Buffer {
  return encodeFrames([frame]);
}

function text(type: FrameTypeName, bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return malformed(type, 'text is not valid UTF-8');
  }
}

function decodePayload(type: FrameTypeName, channel: number, p: Buffer): Frame {
  const sessionFrame = type === 'PING' || type === 'PONG' || type === 'LISTENING' || type === 'GOAWAY';
  if (sessionFrame && channel !== SESSION_CHANNEL_ID) malformed(type, `must travel on channel 0, not ${channel}`);
  if (!sessionFrame && channel === SESSION_CHANNEL_ID) malformed(type, 'must not travel on channel 0');
  const exactly = (n: number): void => {
    if (p.length !== n) malformed(type, `payload must be ${n} bytes, got ${p.length}`);
  };
  const atLeast = (n: number): void => {
    if (p.length < n) malformed(type, `payload must be at least ${n} bytes, got ${p.length}`);
  };
  const window = (value: number): number => {
    if (value > MAX_WINDOW) malformed(type, `window ${value} exceeds 2^31-1`);
    return value;
  };
  switch (type) {
    case 'OPEN': {
      atLeast(8);
      const listenerPort = p.readUInt16BE(4);
      if (listenerPort === 0) malformed(type, 'listener port must not be 0');
      const addressEnd = 7 + p.readUInt8(6);
      if (addressEnd + 1 > p.length) malformed(type, 'address length runs past the payload');
      const peerEnd = addressEnd + 1 + p.readUInt8(addressEnd);
      if (peerEnd !== p.length) malformed(type, 'peer length does not match the payload');
      return {
        type,
        channel,
        window: window(p.readUInt32BE(0)),
        listenerPort,
        address: text(type, p.subarray(7, addressEnd)),
        peer: text(type, p.subarray(addressEnd + 1, peerEnd)),
      };
    }
    case 'OPEN_OK':
      exactly(4);
      return { type, channel, window: window(p.readUInt32BE(0)) };
    case 'OPEN_FAIL':
    case 'RESET':
      atLeast(4);
      return { type, channel, reason: p.readUInt32BE(0), message: text(type, p.subarray(4)) };
    case 'DATA':
      return { type, channel, data: p };
    case 'WINDOW_ADJUST': {
      exactly(4);
      const increment = p.readUInt32BE(0);
      if (increment === 0 || increment > MAX_WINDOW) malformed(type, `increment must be 1 to 2^31-1, got ${increment}`);
      return { type, channel, increment };
    }
    case 'EOF':
      exactly(0);
      return { type, channel };
    case 'PING':
    case 'PONG':
      exactly(PING_PAYLOAD_SIZE);
      return { type, payload: p };
    case 'LISTENING': {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text(type, p));
      } catch (error) {
        if (error instanceof RpfProtocolError) throw error;
        return malformed(type, 'payload is not JSON');
      }
      if (!Array.isArray(parsed) || !parsed.every(isListenerInfo)) {
        malformed(type, 'payload is not an array of {address, port, requestedPort}');
      }
      return {
        type,
        listeners: parsed.map((l) => ({ address: l.address, port: l.port, requestedPort: l.requestedPort })),
      };
    }
    case 'GOAWAY':
      atLeast(4);
      return { type, reason: p.readUInt32BE(0), message: text(type, p.subarray(4)) };
  }
}

/**
 * Decodes one WebSocket message into the frames it holds, in order. Throws
 * RpfProtocolError (MALFORMED_FRAME, UNKNOWN_FRAME_TYPE, FRAME_TOO_LARGE,
 * MESSAGE_TOO_LARGE) if any part is invalid; then no frame of it is returned.
 * DATA payloads and PING/PONG bytes are views into `message`, not copies.
 */
export function decodeMessage(message: Uint8Array, options: DecodeOptions = {}): Frame[] {
  const buf = Buffer.isBuffer(message) ? message : Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  const maxMessageSize = options.maxMessageSize ?? MAX_MESSAGE_SIZE;
  if (buf.length > maxMessageSize) {
    throw new RpfProtocolError(
      'RPF_ERR_PROTOCOL_MESSAGE_TOO_LARGE',
      `tunnel message of ${buf.length} bytes exceeds the maximum of ${maxMessageSize}`,
    );
  }
  if (buf.length === 0) {
    throw new RpfProtocolError('RPF_ERR_PROTOCOL_MALFORMED_FRAME', 'empty tunnel message: a message holds at least one frame');
  }
  const frames: Frame[] = [];
  let offset = 0;
  while (offset < buf.length) {
    if (buf.length - offset < FRAME_HEADER_SIZE) {
      throw new RpfProtocolError(
        'RPF_ERR_PROTOCOL_MALFORMED_FRAME',
        `truncated frame header: ${buf.length - offset} bytes left at offset ${offset}, a header is ${FRAME_HEADER_SIZE}`,
      );
    }
    const code = buf[offset] ?? 0;
    const type = TYPE_NAMES.get(code);
    if (type === undefined) {
      throw new RpfProtocolError(
        'RPF_ERR_PROTOCOL_UNKNOWN_FRAME_TYPE',
        `unknown frame type 0x${code.toString(16).padStart(2, '0')} at offset ${offset}`,
      );
    }
    const channel = buf.readUInt32BE(offset + 1);
    const length = buf.readUInt32BE(offset + 5);
    const max = type === 'DATA' ? MAX_DATA_PAYLOAD : MAX_CONTROL_PAYLOAD;
    if (length > max) {
      throw new RpfProtocolError(
        'RPF_ERR_PROTOCOL_FRAME_TOO_LARGE',
        `${type} frame payload of ${length} bytes exceeds the maximum of ${max}`,
      );
    }
    const start = offset + FRAME_HEADER_SIZE;
    if (start + length > buf.length) {
      throw new RpfProtocolError(
        'RPF_ERR_PROTOCOL_MALFORMED_FRAME',
        `truncated ${type} frame: payload of ${length} bytes, ${buf.length - start} left in the message`,
      );
    }
    frames.push(decodePayload(type, channel, buf.subarray(start, start + length)));
    offset = start + length;
  }
  return frames;
}
