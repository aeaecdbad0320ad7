// Options of a Session: what a caller may pass, and the complete, validated
// form the session runs on (options -> complete -> validate, as elsewhere).

import {
  DEFAULT_INITIAL_WINDOW,
  DEFAULT_KEEPALIVE_INTERVAL_MS,
  DEFAULT_KEEPALIVE_TIMEOUT_MS,
  DEFAULT_MAX_CHANNELS,
  DEFAULT_MAX_CONTROL_BACKLOG,
  DEFAULT_SEND_HIGH_WATER_MARK,
  FRAME_HEADER_SIZE,
  MAX_CONTROL_PAYLOAD,
  MAX_MESSAGE_SIZE,
  MAX_WINDOW,
} from './constants.ts';
import { RpfProtocolError } from './errors.ts';
import { systemTimers } from './keepalive.ts';
import type { Timers } from './keepalive.ts';

/** Which end of the tunnel a session is: the node agent opens channels, the client accepts them. */
export type SessionRole = 'agent' | 'client';

/**
 * Hands one message to the transport. If the function declares a second
 * parameter, call `done` once the message left (ws: `ws.send(m, done)`); the
 * session then holds DATA while more than `sendHighWaterMark` bytes are not
 * done, and reuses the message's memory after `done`: a transport must not
 * read the message after calling it (ws has written it by then; an in-memory
 * transport copies it). A one-parameter function opts out of both.
 */
export type SendFunction = (message: Buffer, done: (error?: Error | null) => void) => void;

/** Options of a Session. */
export interface SessionOptions {
  role: SessionRole;
  send: SendFunction;
  /** Most channels open at once (default 256); the agent's open() beyond it throws CONNECTION_LIMIT. */
  maxChannels?: number;
  /** Receive window per channel in bytes (default 1 MiB); bounds each channel's buffered input. */
  initialWindow?: number;
  /** Idle time before a PING (default 5 s); 0 disables keepalive. */
  keepaliveIntervalMs?: number;
  /** Silence after which the peer is dead (default 15 s). */
  keepaliveTimeoutMs?: number;
  /** Clock and timers (default: the real ones, unref'd). */
  timers?: Timers;
  /** Schedules the flush of a tick's frames (default setImmediate). */
  schedule?: (fn: () => void) => void;
  /** Bytes sent and not done above which DATA waits (default 4 MiB). */
  sendHighWaterMark?: number;
  /** Largest message sent or accepted (default MAX_MESSAGE_SIZE). */
  maxMessageSize?: number;
  /**
   * Control frame bytes (all but DATA) queued or sent and not done beyond which
   * the peer is cut off with RPF_ERR_PROTOCOL_CONTROL_BACKLOG (default 1 MiB;
   * at least one largest control frame, 65,545 bytes). Bounded only with a
   * two-parameter `send`: without `done` nothing counts as unwritten.
   */
  maxControlBacklog?: number;
  /**
   * The transport hands every received message over for good (ws does: it
   * keeps no reference after its 'message' event). The session then detaches
   * a message's memory once it was handled and nothing holds a view of it
   * (every DATA copied, or written at once by joinSocket's socket), so that it
   * is freed at once rather than by a garbage collection (issue 9). Default false.
   */
  releaseReceived?: boolean;
}

/** Session options with every default filled in and every value checked. */
export type CompleteSessionOptions = Required<SessionOptions> & {
  /** Whether `send` takes the `done` callback (declares two parameters). */
  sendUsesDone: boolean;
};

function fail(message: string): never {
  throw new RpfProtocolError('RPF_ERR_PROTOCOL_INVALID_ARGUMENT', message);
}

function integer(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    fail(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

/** Fills in defaults and validates; throws RPF_ERR_PROTOCOL_INVALID_ARGUMENT naming the bad option. */
export function completeSessionOptions(options: SessionOptions): CompleteSessionOptions {
  if (options.role !== 'agent' && options.role !== 'client') fail(`role must be 'agent' or 'client', got ${String(options.role)}`);
  if (typeof options.send !== 'function') fail('send must be a function');
  const keepaliveIntervalMs = integer('keepaliveIntervalMs', options.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_INTERVAL_MS, 0);
  return {
    role: options.role,
    send: options.send,
    sendUsesDone: options.send.length >= 2,
    maxChannels: integer('maxChannels', options.maxChannels ?? DEFAULT_MAX_CHANNELS, 1),
    initialWindow: integer('initialWindow', options.initialWindow ?? DEFAULT_INITIAL_WINDOW, 1, MAX_WINDOW),
    keepaliveIntervalMs,
    keepaliveTimeoutMs: integer('keepaliveTimeoutMs', options.keepaliveTimeoutMs ?? DEFAULT_KEEPALIVE_TIMEOUT_MS, 1),
    timers: options.timers ?? systemTimers,
    schedule: options.schedule ?? ((fn) => setImmediate(fn)),
    sendHighWaterMark: integer('sendHighWaterMark', options.sendHighWaterMark ?? DEFAULT_SEND_HIGH_WATER_MARK, 1),
    maxMessageSize: integer('maxMessageSize', options.maxMessageSize ?? MAX_MESSAGE_SIZE, 1),
    // Below one largest control frame, a single LISTENING could end the session.
    maxControlBacklog: integer('maxControlBacklog', options.maxControlBacklog ?? DEFAULT_MAX_CONTROL_BACKLOG, FRAME_HEADER_SIZE + MAX_CONTROL_PAYLOAD),
    releaseReceived: options.releaseReceived === true,
  };
}
