// Channel ids of one session: the agent opens channels with odd ids that only
// grow (1, 3, 5 …) up to MAX_CHANNEL_ID; the client checks that every OPEN keeps
// to that. Because ids only grow, "was this id used before" needs no memory of
// closed channels.

import type { SessionRole } from './session-options.ts';
import { MAX_CHANNEL_ID } from './constants.ts';
import { RpfProtocolError } from './errors.ts';

/** The id rules of one session, seen from `role`. */
export class ChannelIds {
  readonly #role: SessionRole;
  #nextId = 1;
  #highestSeenId = 0;

  constructor(role: SessionRole) {
    this.#role = role;
  }

  /** Agent side: the id the next OPEN takes; throws RPF_ERR_PROTOCOL_CONNECTION_LIMIT once ids are used up. */
  next(): number {
    if (this.#nextId > MAX_CHANNEL_ID) {
      throw new RpfProtocolError('RPF_ERR_PROTOCOL_CONNECTION_LIMIT', 'channel ids of this session are used up; open a new session');
    }
    return this.#nextId;
  }

  /** Agent side: the id returned by next() is taken (its OPEN is about to leave). */
  take(): void {
    this.#nextId += 2;
  }

  /** Client side: checks the id of an incoming OPEN; throws RPF_ERR_PROTOCOL_INVALID_CHANNEL_ID unless odd and increasing. */
  received(id: number): void {
    if (id % 2 !== 1 || id <= this.#highestSeenId) {
      throw new RpfProtocolError(
        'RPF_ERR_PROTOCOL_INVALID_CHANNEL_ID',
        `OPEN for channel ${id}: ids must be odd and increasing (last was ${this.#highestSeenId})`,
      );
    }
    this.#highestSeenId = id;
  }

  /** Whether `id` belonged to a channel of this session, open now or not. */
  wasUsed(id: number): boolean {
    if (id % 2 !== 1) return false;
    return this.#role === 'agent' ? id < this.#nextId : id <= this.#highestSeenId;
  }
}
