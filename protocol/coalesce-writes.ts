// Joins runs of small queued writes into fewer DATA payloads. Pure: buffers in,
// buffers out; the channel calls it from _writev.

import { MAX_DATA_PAYLOAD } from './constants.ts';

// Writes queued while one was in flight arrive together; many small ones would
// each become a DATA frame (9 bytes of header, one push() at the reader). Join
// runs of small chunks; leave big ones alone, they are not worth a copy.
const SMALL_CHUNK = 16 * 1024;

/** Joins runs of chunks under SMALL_CHUNK into payloads of at most MAX_DATA_PAYLOAD; bigger chunks pass as they are. */
export function coalesce(chunks: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  let run: Buffer[] = [];
  let runBytes = 0;
  const endRun = (): void => {
    if (run.length === 1) out.push(run[0] as Buffer);
    else if (run.length > 1) out.push(Buffer.concat(run, runBytes));
    run = [];
    runBytes = 0;
  };
  for (const chunk of chunks) {
    if (chunk.length >= SMALL_CHUNK) {
      endRun();
      out.push(chunk);
      continue;
    }
    if (runBytes + chunk.length > MAX_DATA_PAYLOAD) endRun();
    run.push(chunk);
    runBytes += chunk.length;
  }
  endRun();
  return out;
}
