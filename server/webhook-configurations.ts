/**
 * The cluster's ValidatingWebhookConfigurations, kept in memory by list and
 * watch (an informer, as kube-apiserver keeps them), so that a tunnel request
 * costs no API call to find its webhooks. When a watch ends or fails the
 * whole list is read again, after a pause that grows to 30 s while the API
 * keeps failing; until the first list succeeds, {@link WebhookConfigurations.waitReady}
 * holds requests for a bounded time.
 */
import type { Logger } from 'pino';
import { webhooksOf } from './webhook-rules.ts';
import type { ValidatingWebhook } from './webhook-rules.ts';

/** One watch event as the API sends it. */
export interface WatchEvent {
  readonly type: string;
  readonly object: unknown;
}

/** A running watch. */
export interface WatchHandle {
  /** Settles when the watch ends, for any reason. */
  readonly done: Promise<void>;
  abort(): void;
}

/** The list and watch calls behind the cache (admission-kube.ts over the API; fakes in tests). */
export interface ConfigurationFeed {
  list(): Promise<{ readonly items: readonly unknown[]; readonly resourceVersion: string }>;
  watch(resourceVersion: string, onEvent: (event: WatchEvent) => void): Promise<WatchHandle>;
}

/** Options of {@link WebhookConfigurations}. */
export interface WebhookConfigurationsDeps {
  readonly feed: ConfigurationFeed;
  readonly logger: Logger;
  /** First pause before a relist after a failure (ms, default 1 s); doubles up to 30 s. */
  readonly retryMs?: number;
}

function nameOf(object: unknown): string {
  const metadata = (object as { metadata?: { name?: unknown } } | null)?.metadata;
  return typeof metadata?.name === 'string' ? metadata.name : '';
}

/** The webhooks of every ValidatingWebhookConfiguration, kept current. */
export class WebhookConfigurations {
  readonly #deps: WebhookConfigurationsDeps;
  readonly #configurations = new Map<string, readonly ValidatingWebhook[]>();
  #webhooks: readonly ValidatingWebhook[] = [];
  #synced = false;
  #running = false;
  #watch: WatchHandle | undefined;
  #timer: NodeJS.Timeout | undefined;
  #readyWaiters = new Set<() => void>();

  constructor(deps: WebhookConfigurationsDeps) {
    this.#deps = deps;
  }

  /** True once the first list has been read. */
  get synced(): boolean {
    return this.#synced;
  }

  /** Every validating webhook of the cluster, in configuration-name order. */
  webhooks(): readonly ValidatingWebhook[] {
    return this.#webhooks;
  }

  /** Starts listing and watching. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#loop();
  }

  /** Stops watching; the last known webhooks stay readable. */
  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#watch?.abort();
    for (const wake of this.#readyWaiters) wake();
  }

  /** Resolves true once synced, or false after `timeoutMs` (or when stopped). */
  waitReady(timeoutMs: number): Promise<boolean> {
    if (this.#synced) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#readyWaiters.delete(wake);
        resolve(this.#synced);
      };
      const timer = setTimeout(wake, timeoutMs);
      this.#readyWaiters.add(wake);
    });
  }

  async #loop(): Promise<void> {
    const base = this.#deps.retryMs ?? 1000;
    let pause = base;
    while (this.#running) {
      try {
        const list = await this.#deps.feed.list();
        if (!this.#running) return;
        this.#configurations.clear();
        for (const item of list.items) this.#configurations.set(nameOf(item), webhooksOf(item));
        this.#rebuild();
        if (!this.#synced) {
          this.#synced = true;
          this.#deps.logger.info({ webhooks: this.#webhooks.length }, 'validating webhook configurations loaded');
          for (const wake of [...this.#readyWaiters]) wake();
        }
        const watchedAt = Date.now();
        const watch = await this.#deps.feed.watch(list.resourceVersion, (event) => this.#apply(event));
        this.#watch = watch;
        if (!this.#running) watch.abort();
        await watch.done;
        // A watch the API ends at once (an error it reports through the stream) must not
        // turn into a tight list-and-watch loop: pause as after a failure.
        if (Date.now() - watchedAt < base) {
          await this.#sleep(pause);
          pause = Math.min(pause * 2, 30_000);
        } else {
          pause = base;
        }
      } catch (err) {
        this.#deps.logger.warn({ err }, 'cannot list or watch ValidatingWebhookConfigurations; retrying');
        await this.#sleep(pause);
        pause = Math.min(pause * 2, 30_000);
        continue;
      }
      // A watch that ends after a while is normal (the API closes them every few minutes): relist at once.
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#timer = setTimeout(resolve, ms);
      this.#timer.unref();
    });
  }

  #apply(event: WatchEvent): void {
    const name = nameOf(event.object);
    if (event.type === 'ADDED' || event.type === 'MODIFIED') this.#configurations.set(name, webhooksOf(event.object));
    else if (event.type === 'DELETED') this.#configurations.delete(name);
    else if (event.type === 'ERROR') {
      // An expired resourceVersion (410 Gone) and the like: start again from a list.
      this.#watch?.abort();
      return;
    } else return;
    this.#rebuild();
  }

  #rebuild(): void {
    this.#webhooks = [...this.#configurations.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).flatMap(([, hooks]) => hooks);
  }
}
