// ws hands a received message over as a Buffer, an ArrayBuffer or a Buffer[]
// (fragments, depending on its binaryType); the decoder takes one byte array.

/** One received WebSocket message as one byte array; copies only fragments. */
export function asBytes(data: Uint8Array | ArrayBuffer | readonly Uint8Array[]): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return Buffer.concat(data);
}
