/**
 * Relays one socket's bytes into another without allocating per read: the
 * source socket reads into buffers from a small pool (Node's `onread` user
 * buffers), each read is written to the destination as a view of its
 * buffer, and the buffer returns to the pool when that write is done.
 *
 * Why not `pipe()`: every read of a piped socket is a fresh Buffer (16 KiB
 * per TLS record), 65,536 of them per GiB. Their memory lives outside V8's
 * heap, and rpf-server's heap is large (the informers, fastify), so the
 * buffers pile up until V8's external-memory pressure starts full
 * mark-compacts: measured in its pod, 40-90 of them per GiB and a relay
 * costing 3-6 CPU-s/GiB where a bare relay costs 1.5 (docs/dataplane-profile.md).
 *
 * Node lets a socket read into user buffers only when it creates the socket
 * (`net.connect`/`tls.connect` with `onread`); rpf-server's sockets are
 * accepted by the HTTPS server and made by the HTTPS client. So this module
 * switches an existing socket over the way Node's own constructor does: its
 * handle's `useUserBuffer` and the socket's `kBuffer`/`kBufferCb`/`kBufferGen`
 * slots (Node 24's net.js and stream_base_commons.js). {@link canRelayWithoutCopy}
 * says whether a socket has them; where it does not (another Node.js), the
 * caller pipes as before.
 *
 * Bounds: at most {@link MAX_IN_FLIGHT} buffers are written and not yet done
 * per direction before the source stops reading (the same 256 KiB pipe()'s
 * highWaterMark allowed). TLS may still hand over records it had already
 * decrypted after reading stopped; those get a fresh buffer (counted), so the
 * bound is soft by at most what TLS had read off the wire. Each direction
 * holds the one buffer its next read goes into (16 KiB, idle or not); done
 * buffers go back to one pool for the whole process, of at most
 * {@link SHARED_POOL_MAX} buffers, so an idle tunnel holds no more than that
 * one buffer per direction, however much it carried before.
 */
import type { Socket } from 'node:net';

/** One TLS record's plaintext at most: every read of a TLS socket fits one buffer. */
export const RELAY_BUFFER_SIZE = 16 * 1024;

/** Buffers written and not yet done before the source stops reading (16 x 16 KiB = 256 KiB). */
export const MAX_IN_FLIGHT = 16;

/** Done buffers kept for any relay to reuse (256 x 16 KiB = 4 MiB at most). */
export const SHARED_POOL_MAX = 256;

const sharedPool: Uint8Array[] = [];

/** Buffers in the process-wide pool now (tests). */
export function pooledBuffers(): number {
  return sharedPool.length;
}

interface UserBufferSlots {
  readonly kBuffer: symbol;
  readonly kBufferCb: symbol;
  readonly kBufferGen: symbol;
}

interface UserBufferHandle {
  useUserBuffer(buffer: Uint8Array): void;
}

function slotsOf(socket: Socket): UserBufferSlots | undefined {
  const found = new Map<string, symbol>();
  for (const symbol of Object.getOwnPropertySymbols(socket)) {
    if (symbol.description === 'kBuffer' || symbol.description === 'kBufferCb' || symbol.description === 'kBufferGen') found.set(symbol.description, symbol);
  }
  const kBuffer = found.get('kBuffer');
  const kBufferCb = found.get('kBufferCb');
  const kBufferGen = found.get('kBufferGen');
  if (kBuffer === undefined || kBufferCb === undefined || kBufferGen === undefined) return undefined;
  return { kBuffer, kBufferCb, kBufferGen };
}

function handleOf(socket: Socket): UserBufferHandle | undefined {
  const handle = (socket as unknown as { _handle?: Partial<UserBufferHandle> | null })._handle;
  return typeof handle?.useUserBuffer === 'function' ? (handle as UserBufferHandle) : undefined;
}

/** Whether `socket` can be read into user buffers here (Node's internals as this module expects them, nothing buffered yet). */
export function canRelayWithoutCopy(socket: Socket): boolean {
  if (socket.destroyed || socket.readableLength > 0) return false;
  const slots = slotsOf(socket);
  if (slots === undefined || handleOf(socket) === undefined) return false;
  const own = socket as unknown as Record<symbol, unknown>;
  // Already reading into user buffers (made with `onread`): not ours to take over.
  return own[slots.kBuffer] === null && own[slots.kBufferCb] === null;
}

/** What a relay did (for tests and metrics). */
export interface RelayStats {
  /** Bytes read from the source and written to the destination. */
  bytes: number;
  /** Buffers allocated: the pool's, plus any made while the pool was empty. */
  buffersAllocated: number;
  /** Times the source stopped reading because {@link MAX_IN_FLIGHT} writes were outstanding. */
  pauses: number;
}

/**
 * Starts relaying `from` into `to`; `onBytes` runs per read with its length.
 * The caller must have checked {@link canRelayWithoutCopy}. Ends and errors
 * are the caller's (as with `pipe({ end: false })`): this only moves bytes.
 */
export function relayWithoutCopy(from: Socket, to: Socket, onBytes: (length: number) => void): RelayStats {
  const slots = slotsOf(from);
  const handle = handleOf(from);
  if (slots === undefined || handle === undefined) throw new Error('relayWithoutCopy: the socket cannot read into user buffers (check canRelayWithoutCopy first)');
  const stats: RelayStats = { bytes: 0, buffersAllocated: 0, pauses: 0 };
  let inFlight = 0;
  let stopped = false;
  const take = (): Uint8Array => {
    const kept = sharedPool.pop();
    if (kept !== undefined) return kept;
    stats.buffersAllocated++;
    return new Uint8Array(RELAY_BUFFER_SIZE);
  };
  const release = (buffer: Uint8Array): void => {
    inFlight--;
    if (sharedPool.length < SHARED_POOL_MAX) sharedPool.push(buffer);
    if (stopped && inFlight < MAX_IN_FLIGHT / 2 && !from.destroyed) {
      stopped = false;
      from.resume();
    }
  };
  const first = take();
  const onRead = (length: number, buffer: Uint8Array): boolean => {
    stats.bytes += length;
    onBytes(length);
    inFlight++;
    // `to` may queue the view (a write in flight): the buffer is not reused until the write is done.
    to.write(buffer.subarray(0, length), () => release(buffer));
    if (inFlight >= MAX_IN_FLIGHT) {
      stopped = true;
      stats.pauses++;
      return false;
    }
    return true;
  };
  // The next read's buffer: Node asks right after each read, and tells the handle.
  const nextBuffer = (): Uint8Array => take();
  const own = from as unknown as Record<symbol, unknown>;
  own[slots.kBuffer] = first;
  own[slots.kBufferCb] = onRead;
  own[slots.kBufferGen] = nextBuffer;
  handle.useUserBuffer(first);
  // Flowing, so that the end of `from` is emitted ('end' needs a flowing or read stream).
  from.resume();
  return stats;
}
