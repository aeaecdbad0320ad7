// Reads a TCP socket into one reused buffer and hands every read straight to
// its channel, which copies the bytes into the message being built (issue 9).
// Node's default is a fresh 64 KiB Buffer per read: a GiB of ArrayBuffers per
// GiB sent, which lives until it is written (longer behind backpressure), is
// counted as external memory and cost the sending end V8 mark-compacts.
// With `onread` the socket reads into our buffer and calls us back; we take
// the bytes before returning, so the buffer is free for the next read.

import type { OnReadOpts } from 'node:net';
import type { Channel } from './channel.ts';

/**
 * Bytes per read into the reused buffer: Node's own read size, and a quarter
 * of a DATA frame (consecutive reads of one channel in one tick extend one frame).
 */
export const READ_BUFFER_SIZE = 64 * 1024;

/**
 * The `onread` option (net.connect, new net.Socket) of a socket whose bytes go
 * to `channel` (joined to it by joinSocket, which still carries its FIN and
 * errors). `buffer` may be shared by any number of sockets: every read is
 * taken, copied into a message or into a write of its own, before the
 * callback returns. When the channel cannot take more (no window, the
 * transport at its high-water mark, not open yet) the socket stops reading
 * until the channel calls `resume`, which must restart it (`socket.resume()`
 * restarts an `onread` socket). So one socket makes us hold at most one read
 * of its bytes beyond what the channel queues.
 */
export function readIntoChannel(channel: Channel, buffer: Uint8Array, resume: () => void): OnReadOpts {
  return {
    buffer,
    callback: (bytesRead, memory) => channel.writeBorrowed(memory.subarray(0, bytesRead), resume),
  };
}

/**
 * The memory sockets read into (readIntoChannel), made at the first use. Any
 * number of sockets may share it: every read is taken before its callback
 * returns, and JavaScript runs one callback at a time. The agent shares one
 * among all its sessions, the client one per session.
 */
export class SharedReadBuffer {
  #memory: Buffer | undefined;

  /** READ_BUFFER_SIZE bytes. */
  get memory(): Buffer {
    this.#memory ??= Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
    return this.#memory;
  }
}
