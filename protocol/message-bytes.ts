// ws hands a received message over as a Buffer, an ArrayBuffer or a Buffer[]
// (fragments, depending on its binaryType); the decoder takes one byte array.
// Once handled, received memory may be freed at once (detachReceived).

/** One received WebSocket message as one byte array; copies only fragments. */
export function asBytes(data: Uint8Array | ArrayBuffer | readonly Uint8Array[]): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return Buffer.concat(data);
}

/**
 * Frees `memory` now (detaches it: every view of it becomes empty) instead of
 * at a garbage collection; for received memory nothing holds a view of any
 * more (issue 9). Returns false, changing nothing, if it cannot be detached.
 */
export function detachReceived(memory: ArrayBuffer): boolean {
  try {
    (memory as ArrayBuffer & { transfer(length?: number): ArrayBuffer }).transfer(0);
    return true;
  } catch {
    return false;
  }
}
