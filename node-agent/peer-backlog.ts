// What one tunnel peer can make the agent hold in its WebSocket's send buffer
// (issue 8, finding 1b; STYLE habit 15). ws answers every WebSocket-level PING
// with a PONG by default, queued whether or not the peer reads: a peer that
// sends PINGs and never reads grows our buffer without limit. Here PINGs are
// answered only while little is buffered (ws's autoPong is off), and a
// session whose WebSocket holds more than a named bound unread is ended:
// that peer loses its own session, nobody else notices. The protocol's own
// PINGs and data are bounded in protocol/ (the control backlog and the send
// high-water mark); this bound sits well above all of those together, so an
// honest peer that reads never reaches it.
import type WebSocket from 'ws';
import { MAX_MESSAGE_SIZE } from '../protocol/index.ts';

/** Default of --max-peer-backlog-bytes: 16 times the protocol's 1 MiB message maximum. */
export const DEFAULT_MAX_PEER_BACKLOG_BYTES = 16 * MAX_MESSAGE_SIZE;

/** A WebSocket PING is answered only while less than this is buffered: a peer that reads gets its PONG. */
export const PONG_BACKLOG_LIMIT = MAX_MESSAGE_SIZE;

/** The WebSocket server option that stops ws answering PINGs itself. */
export const WS_SERVER_PING_OPTIONS = { autoPong: false } as const;

/**
 * Watches one tunnel's WebSocket: answers its PINGs while the buffer is low,
 * and calls onExceeded once (with the bytes buffered) when it holds more than
 * maxBytes. Returns the check, for the caller to run after it sends.
 */
export function guardPeerBacklog(ws: WebSocket, maxBytes: number, onExceeded: (bufferedBytes: number) => void): () => boolean {
  let exceeded = false;
  const check = (): boolean => {
    if (exceeded) return true;
    const buffered = ws.bufferedAmount;
    if (buffered <= maxBytes) return false;
    exceeded = true;
    onExceeded(buffered);
    return true;
  };
  ws.on('ping', (data: Buffer) => {
    if (check() || ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount < PONG_BACKLOG_LIMIT) ws.pong(data);
  });
  return check;
}
