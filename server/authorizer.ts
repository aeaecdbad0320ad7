/**
 * Authorization of a tunnel: kube-apiserver checked only `get` on
 * pods/reverseportforward (a WebSocket upgrade is a GET), so rpf-server asks
 * a SubjectAccessReview for `create`, and for `expose` when the pod would
 * listen on a non-loopback address. Decisions are cached briefly.
 */
import type { Clock } from './clock.ts';
import { GROUP, SUBRESOURCE, VERSION } from './constants.ts';
import { RpfServerError } from './errors.ts';
import type { UserInfo } from './front-proxy-auth.ts';
import type { AccessReviewSpec, KubeClient } from './kube-client.ts';

/** The verbs rpf-server checks itself. */
export type TunnelVerb = 'create' | 'expose';

/** What a tunnel asks for. */
export interface TunnelTarget {
  readonly namespace: string;
  readonly pod: string;
}

/** Options of {@link Authorizer}. */
export interface AuthorizerDeps {
  readonly kube: KubeClient;
  readonly clock: Clock;
  /** How long a decision is reused (ms); 10 s by default. */
  readonly ttlMs?: number;
  /** Most decisions kept; the oldest go first. */
  readonly maxEntries?: number;
}

interface CacheEntry {
  readonly at: number;
  readonly allowed: boolean;
  readonly reason: string;
}

/** The SubjectAccessReview spec for one check. */
export function accessReviewSpec(user: UserInfo, target: TunnelTarget, verb: TunnelVerb): AccessReviewSpec {
  return {
    user: user.user,
    groups: user.groups,
    uid: user.uid,
    extra: user.extra,
    resourceAttributes: {
      namespace: target.namespace,
      name: target.pod,
      group: GROUP,
      version: VERSION,
      resource: 'pods',
      subresource: SUBRESOURCE,
      verb,
    },
  };
}

/** The 403 message, worded as kube-apiserver words its own. */
export function forbiddenMessage(user: UserInfo, target: TunnelTarget, verb: TunnelVerb, reason: string): string {
  const base = `pods "${target.pod}" is forbidden: User "${user.user}" cannot ${verb} resource "pods/${SUBRESOURCE}" in API group "${GROUP}" in the namespace "${target.namespace}"`;
  return reason === '' ? base : `${base}: ${reason}`;
}

/** Runs and caches SubjectAccessReviews. */
export class Authorizer {
  readonly #deps: AuthorizerDeps;
  readonly #cache = new Map<string, CacheEntry>();

  constructor(deps: AuthorizerDeps) {
    this.#deps = deps;
  }

  /** Throws a 403 RpfServerError unless `user` may `verb` the tunnel target. */
  async authorize(user: UserInfo, target: TunnelTarget, verb: TunnelVerb): Promise<void> {
    const spec = accessReviewSpec(user, target, verb);
    const decision = await this.#decide(spec);
    if (!decision.allowed) {
      throw new RpfServerError('RPF_ERR_SERVER_FORBIDDEN', forbiddenMessage(user, target, verb, decision.reason), {
        name: target.pod,
        group: GROUP,
        kind: 'pods',
      });
    }
  }

  async #decide(spec: AccessReviewSpec): Promise<CacheEntry> {
    const now = this.#deps.clock.now();
    const ttl = this.#deps.ttlMs ?? 10_000;
    // The key holds every attribute, so a change in groups or extra is a new decision.
    const key = JSON.stringify([
      spec.user,
      spec.uid,
      [...spec.groups].sort(),
      Object.entries(spec.extra).sort(([a], [b]) => (a < b ? -1 : 1)),
      spec.resourceAttributes,
    ]);
    const hit = this.#cache.get(key);
    if (hit !== undefined && now - hit.at < ttl) return hit;
    let entry: CacheEntry;
    try {
      const result = await this.#deps.kube.createSubjectAccessReview(spec);
      const reason = result.reason !== '' ? result.reason : result.evaluationError;
      entry = { at: now, allowed: result.allowed && !result.denied, reason };
    } catch (err) {
      // Errors are not cached: the next request tries again.
      throw new RpfServerError('RPF_ERR_SERVER_AUTHORIZATION_FAILED', `cannot check authorization: ${(err as Error).message}`, undefined, { cause: err });
    }
    this.#cache.delete(key);
    this.#cache.set(key, entry);
    this.#evict(now, ttl);
    return entry;
  }

  #evict(now: number, ttl: number): void {
    const max = this.#deps.maxEntries ?? 10_000;
    for (const [key, entry] of this.#cache) {
      if (this.#cache.size <= max && now - entry.at < ttl) break;
      this.#cache.delete(key);
    }
  }
}
