// The node's and each user's session seats (issue 8, finding 6). A session
// request takes its seat synchronously, before its first await (resolving the
// namespace, opening the listeners), so concurrent requests cannot all pass a
// check made before any of them is recorded. The seat is held while the
// session is being opened and while it lives, and given back exactly once:
// on any refusal, when the peer goes away mid-open, or when the session ends.
import { RpfAgentError } from './errors.ts';

/** One reserved seat; release() is idempotent. */
export interface SessionSeat {
  readonly user: string;
  release(): void;
}

/** Counts seats node-wide and per user against two limits. */
export class SessionSeats {
  readonly #maxSessions: number;
  readonly #maxPerUser: number;
  readonly #perUser = new Map<string, number>();
  #total = 0;

  constructor(limits: { maxSessions: number; maxSessionsPerUser: number }) {
    this.#maxSessions = limits.maxSessions;
    this.#maxPerUser = limits.maxSessionsPerUser;
  }

  /** Seats held, open sessions and those being opened. */
  get total(): number {
    return this.#total;
  }

  /** Seats held by one user. */
  heldBy(user: string): number {
    return this.#perUser.get(user) ?? 0;
  }

  /** Takes a seat or throws RPF_ERR_AGENT_SESSION_LIMIT / RPF_ERR_AGENT_USER_SESSION_LIMIT (429). Synchronous on purpose. */
  reserve(user: string): SessionSeat {
    if (this.#total >= this.#maxSessions) {
      throw new RpfAgentError('RPF_ERR_AGENT_SESSION_LIMIT', `this node already has ${this.#total} reverse port-forward sessions, the maximum`);
    }
    const held = this.heldBy(user);
    if (held >= this.#maxPerUser) {
      throw new RpfAgentError('RPF_ERR_AGENT_USER_SESSION_LIMIT', `user "${user}" already has ${held} reverse port-forward sessions on this node, the maximum`);
    }
    this.#total++;
    this.#perUser.set(user, held + 1);
    let released = false;
    return {
      user,
      release: () => {
        if (released) return;
        released = true;
        this.#total--;
        const left = this.heldBy(user) - 1;
        if (left > 0) this.#perUser.set(user, left);
        else this.#perUser.delete(user);
      },
    };
  }
}
