/**
 * Pods that run in a VM sandbox are refused. A RuntimeClass whose handler
 * starts each pod in a virtual machine (Kata Containers, Firecracker) or
 * behind a user-space kernel (gVisor's runsc) gives the pod's processes a
 * network stack of their own: the network namespace rpf-agent can enter on the
 * node only feeds the sandbox's virtual NIC, so a listener opened there is
 * reachable from nothing in the pod. Rather than open a listener nobody
 * reaches, rpf-server answers 400 naming the pod, the RuntimeClass and the
 * handler.
 *
 * Which handlers count as sandboxed is policy (--sandboxed-runtime-handlers,
 * chart value policy.sandboxedRuntimeHandlers): a comma-separated list of
 * names where `*` matches any run of characters. RuntimeClass handlers are
 * immutable, so a RuntimeClass's handler is cached by name for a minute.
 */
import type { Clock } from './clock.ts';
import { RpfServerError } from './errors.ts';
import type { PodInfo } from './kube-client.ts';

/** The handlers of the well-known VM and user-space-kernel runtimes. */
export const DEFAULT_SANDBOXED_HANDLERS = 'kata,kata-*,runsc,runsc-*,gvisor,gvisor-*,firecracker,firecracker-*,fc';

const PATTERN = /^[A-Za-z0-9*._-]{1,253}$/;

/** Parses the handler list; every bad entry is quoted. An empty list sandboxes nothing. */
export function parseHandlerPatterns(text: string): { ok: true; patterns: readonly string[] } | { ok: false; errors: readonly string[] } {
  const entries = text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  const errors = entries.filter((e) => !PATTERN.test(e)).map((e) => `"${e}" is not a handler name or pattern (letters, digits, ".", "_", "-", "*")`);
  return errors.length > 0 ? { ok: false, errors } : { ok: true, patterns: [...new Set(entries)] };
}

function globToRegExp(pattern: string): RegExp {
  const body = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`);
}

/** The first pattern that matches `handler`, or undefined. */
export function matchingPattern(patterns: readonly string[], handler: string): string | undefined {
  return patterns.find((p) => globToRegExp(p).test(handler));
}

/** Reads a RuntimeClass's handler; undefined when the RuntimeClass does not exist. Throws on API errors. */
export type RuntimeClassLookup = (name: string) => Promise<string | undefined>;

/** Options of {@link SandboxPolicy}. */
export interface SandboxPolicyDeps {
  readonly patterns: readonly string[];
  readonly lookup: RuntimeClassLookup;
  readonly clock: Clock;
  /** How long a handler is reused (ms, default 60 s). */
  readonly ttlMs?: number;
  /** Most RuntimeClasses remembered. */
  readonly maxEntries?: number;
}

/** The check rpf-server runs on every target pod before anything is opened. */
export class SandboxPolicy {
  readonly #deps: SandboxPolicyDeps;
  readonly #cache = new Map<string, { at: number; handler: string | undefined }>();

  constructor(deps: SandboxPolicyDeps) {
    this.#deps = deps;
  }

  /** Throws 400 RPF_ERR_SERVER_SANDBOXED_POD for a sandboxed pod, 500 RPF_ERR_SERVER_KUBE_API when the RuntimeClass cannot be read. */
  async check(pod: PodInfo): Promise<void> {
    const runtimeClass = pod.runtimeClassName ?? '';
    if (runtimeClass === '' || this.#deps.patterns.length === 0) return;
    const handler = await this.#handler(runtimeClass);
    const details = { name: pod.name, kind: 'pods' };
    if (handler === undefined) {
      throw new RpfServerError(
        'RPF_ERR_SERVER_SANDBOXED_POD',
        `pod ${pod.namespace}/${pod.name} uses RuntimeClass "${runtimeClass}", which does not exist: rpf-server cannot tell whether the pod runs in a VM sandbox, whose network a listener could not reach`,
        details,
      );
    }
    const pattern = matchingPattern(this.#deps.patterns, handler);
    if (pattern === undefined) return;
    throw new RpfServerError(
      'RPF_ERR_SERVER_SANDBOXED_POD',
      `pod ${pod.namespace}/${pod.name} runs in a VM sandbox (RuntimeClass "${runtimeClass}", handler "${handler}"): its processes use the sandbox's own network stack, which rpf-agent cannot enter, so a listener would be unreachable from the pod (the server policy treats handlers matching "${pattern}" as sandboxed)`,
      details,
    );
  }

  async #handler(name: string): Promise<string | undefined> {
    const now = this.#deps.clock.now();
    const ttl = this.#deps.ttlMs ?? 60_000;
    const hit = this.#cache.get(name);
    if (hit !== undefined && now - hit.at < ttl) return hit.handler;
    let handler: string | undefined;
    try {
      handler = await this.#deps.lookup(name);
    } catch (err) {
      throw new RpfServerError('RPF_ERR_SERVER_KUBE_API', `cannot read RuntimeClass ${name}: ${(err as Error).message}`, undefined, { cause: err });
    }
    this.#cache.delete(name);
    this.#cache.set(name, { at: now, handler });
    const max = this.#deps.maxEntries ?? 1000;
    for (const key of this.#cache.keys()) {
      if (this.#cache.size <= max) break;
      this.#cache.delete(key);
    }
    return handler;
  }
}
