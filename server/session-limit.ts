/**
 * The per-user session cap of one rpf-server replica (--max-sessions-per-user).
 * A session counts from the moment its upgrade is accepted for authorization
 * until its tunnel ends or its request fails, so requests still being
 * authorized count too. Checking and reserving are one synchronous step: no
 * number of concurrent upgrades can pass the cap between a check and its
 * reservation.
 */

/** One reserved slot; releasing it twice is harmless. */
export interface SessionSlot {
  release(): void;
}

/** Counts sessions per user name. */
export class SessionLimiter {
  readonly #max: number;
  readonly #counts = new Map<string, number>();

  /** `max`: most sessions one user may hold at once. */
  constructor(max: number) {
    this.#max = max;
  }

  /** The cap. */
  get max(): number {
    return this.#max;
  }

  /** Sessions `user` holds now (reserved or open). */
  count(user: string): number {
    return this.#counts.get(user) ?? 0;
  }

  /** Reserves a slot for `user`, or returns undefined when the user is at the cap. */
  tryReserve(user: string): SessionSlot | undefined {
    const held = this.count(user);
    if (held >= this.#max) return undefined;
    this.#counts.set(user, held + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        const left = this.count(user) - 1;
        // Users come and go: keep no entry for a user without sessions.
        if (left > 0) this.#counts.set(user, left);
        else this.#counts.delete(user);
      },
    };
  }
}
