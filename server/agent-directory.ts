/**
 * The rpf-agent pods by node, kept current by a watch on them (an informer:
 * one list, then changes), so a tunnel finds its node's agent without an API
 * call on the way. The directory only saves that round trip, it never
 * decides: a miss (not synced yet, a node whose agent just started, a watch
 * that broke and is being restarted) falls back to asking the API, as
 * pods.ts did before (findAgentOnNode).
 */
import type { Logger } from 'pino';
import type { PodInfo } from './kube-client.ts';

/** A watch on the agent pods: the whole current set after the first list and after every change. */
export interface AgentPodSource {
  /** Starts the watch; `onError` means it broke and stopped (start it again to resume). */
  start(onPods: (pods: readonly PodInfo[]) => void, onError: (err: unknown) => void): void;
  stop(): void;
}

/** How long a broken watch waits before it is started again. */
const RESTART_DELAY_MS = 5_000;

/** The agent pods by node name, from an {@link AgentPodSource}. */
export class AgentDirectory {
  readonly #source: AgentPodSource;
  readonly #logger: Pick<Logger, 'warn'> | undefined;
  readonly #restartDelayMs: number;
  #byNode = new Map<string, PodInfo[]>();
  #synced = false;
  #stopped = true;
  #restart: NodeJS.Timeout | undefined;

  constructor(source: AgentPodSource, options: { logger?: Pick<Logger, 'warn'>; restartDelayMs?: number } = {}) {
    this.#source = source;
    this.#logger = options.logger;
    this.#restartDelayMs = options.restartDelayMs ?? RESTART_DELAY_MS;
  }

  /** Whether the directory holds a complete list (else every lookup is a miss). */
  get synced(): boolean {
    return this.#synced;
  }

  start(): void {
    this.#stopped = false;
    this.#source.start(
      (pods) => this.#update(pods),
      (err) => this.#broken(err),
    );
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#restart);
    this.#forget();
    this.#source.stop();
  }

  /** The agent pods on a node as last seen, or undefined when the directory cannot say (not synced). */
  onNode(nodeName: string): readonly PodInfo[] | undefined {
    if (!this.#synced) return undefined;
    return this.#byNode.get(nodeName) ?? [];
  }

  #update(pods: readonly PodInfo[]): void {
    if (this.#stopped) return;
    const byNode = new Map<string, PodInfo[]>();
    for (const pod of pods) {
      const list = byNode.get(pod.nodeName);
      if (list === undefined) byNode.set(pod.nodeName, [pod]);
      else list.push(pod);
    }
    this.#byNode = byNode;
    this.#synced = true;
  }

  #broken(err: unknown): void {
    this.#forget();
    if (this.#stopped) return;
    this.#logger?.warn({ err }, `the watch on rpf-agent pods broke; agents are looked up through the API until it is restarted in ${this.#restartDelayMs / 1000}s`);
    this.#source.stop();
    clearTimeout(this.#restart);
    this.#restart = setTimeout(() => {
      if (!this.#stopped) this.start();
    }, this.#restartDelayMs);
    this.#restart.unref();
  }

  #forget(): void {
    this.#synced = false;
    this.#byNode = new Map();
  }
}
