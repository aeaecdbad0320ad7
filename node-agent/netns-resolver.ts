// Finds a pod's network namespace from its UID, the way a node agent can
// without asking the container runtime: every process of the pod sits in a
// cgroup whose path names the pod UID, as kubelet names it (pod-cgroup.ts
// matches it exactly, for the cgroupfs and systemd drivers). Any process of
// the pod shares its network namespace; the sandbox's (pause) process holds it
// for the pod's whole life, so it is preferred: it is also the process whose
// end means the pod is gone (pod-watcher.ts).
import { open, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { RpfAgentError } from './errors.ts';
import { inPodCgroup } from './pod-cgroup.ts';

/** One process of a pod: its PID and start time (field 22 of /proc/PID/stat), which tell a reused PID apart. */
export interface PodProcess {
  pid: number;
  /** Clock ticks since boot when the process started. */
  startTime: string;
}

/**
 * A pod's network namespace, identified once: `fd` is the namespace opened
 * when it was found, `id` that descriptor's identity (its inode). The listener
 * helper enters this same descriptor, never the path again, so the namespace
 * checked (hostNetwork) is the namespace entered (finding 7). close() it once
 * the listeners are open; they keep the namespace alive themselves.
 */
export interface PodNetns extends PodProcess {
  /** `/proc/<pid>/ns/net` it was opened from, for messages. */
  path: string;
  /** The namespace's identity, `net:[<inode>]`, e.g. `net:[4026532297]`. */
  id: string;
  /** An open descriptor of the namespace. */
  fd: number;
  close(): Promise<void>;
}

/** How many pods' namespace processes {@link NetnsResolver} remembers. */
const MAX_REMEMBERED_PODS = 1024;

/** How many processes' cgroups one scan reads at once. */
const SCAN_BATCH = 32;

/** Resolves pod UIDs to network namespaces by reading /proc (a host /proc: the agent runs with hostPID). */
export class NetnsResolver {
  readonly #procRoot: string;
  /**
   * The process each recent pod's namespace was found in: the next session to
   * the same pod (a reconnect, a second forward) checks that one process (two
   * reads) instead of every process on the node. Checked like any find (same
   * PID, same start time, still in the pod's cgroup), so a stale entry only
   * costs the scan it would have cost anyway. Bounded: oldest entries go first.
   */
  readonly #recent = new Map<string, PodProcess & { sandbox: boolean }>();
  #hostNetnsId: string | undefined;

  constructor(options: { procRoot?: string } = {}) {
    this.#procRoot = options.procRoot ?? '/proc';
  }

  /** The pod's network namespace; RPF_ERR_AGENT_POD_NOT_FOUND if no process of it runs here. */
  async resolve(podUID: string): Promise<PodNetns> {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(podUID)) {
      throw new RpfAgentError('RPF_ERR_AGENT_BAD_REQUEST', `invalid pod UID "${podUID}"`);
    }
    const remembered = this.#recent.get(podUID);
    if (remembered !== undefined) {
      this.#recent.delete(podUID);
      const netns = await this.#openNetns(remembered, podUID).catch(() => undefined);
      if (netns !== undefined) return this.#remember(podUID, remembered, netns);
    }
    let chosen: { process: PodProcess & { sandbox: boolean }; path: string } | undefined;
    for await (const found of this.#podProcesses(podUID)) {
      const nsPath = path.join(this.#procRoot, String(found.pid), 'ns', 'net');
      if (found.sandbox) {
        chosen = { process: found, path: nsPath };
        break;
      }
      chosen ??= { process: found, path: nsPath };
    }
    if (chosen) return this.#remember(podUID, chosen.process, await this.#openNetns(chosen.process, podUID));
    throw notFound(podUID);
  }

  /** Keeps where a pod's namespace was found (a pause process only: it lives as long as the pod). */
  #remember(podUID: string, process: PodProcess & { sandbox: boolean }, netns: PodNetns): PodNetns {
    if (process.sandbox) {
      this.#recent.set(podUID, process);
      if (this.#recent.size > MAX_REMEMBERED_PODS) this.#recent.delete(this.#recent.keys().next().value as string);
    }
    return netns;
  }

  /** Opens a pod process's network namespace, then checks the process is still the pod's (a PID reused in between is caught). */
  async #openNetns(process: PodProcess, podUID: string): Promise<PodNetns> {
    const nsPath = path.join(this.#procRoot, String(process.pid), 'ns', 'net');
    let handle;
    try {
      handle = await open(nsPath, 'r');
    } catch {
      throw notFound(podUID); // it exited while we looked
    }
    try {
      const { ino } = await handle.stat();
      if (!(await this.#isPodProcess(process.pid, process.startTime, podUID))) throw notFound(podUID);
      return { pid: process.pid, startTime: process.startTime, path: nsPath, id: `net:[${ino}]`, fd: handle.fd, close: () => handle.close() };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /**
   * Whether the pod still holds its network namespace: the process found at
   * resolve() time (same PID, same start time, still in the pod's cgroup), or
   * another process of the pod in the same namespace (its container was
   * restarted). Returns the process to check next time, or undefined when the
   * pod is gone.
   */
  async recheck(podUID: string, netns: Pick<PodNetns, 'pid' | 'startTime' | 'id'>): Promise<PodProcess | undefined> {
    if (await this.#isPodProcess(netns.pid, netns.startTime, podUID)) return { pid: netns.pid, startTime: netns.startTime };
    for await (const found of this.#podProcesses(podUID)) {
      if ((await this.#netnsId(found.pid)) === netns.id) return { pid: found.pid, startTime: found.startTime };
    }
    return undefined;
  }

  /**
   * The network namespace of the node itself, to refuse hostNetwork pods. The
   * agent's parent is its container's shim, which runs in the node's network
   * namespace (PID 1 may be unreadable, and may not even be in it).
   */
  async hostNetnsId(): Promise<string> {
    // The agent's container never changes network namespace: read it once.
    if (this.#hostNetnsId !== undefined) return this.#hostNetnsId;
    this.#hostNetnsId = await this.#readHostNetnsId();
    return this.#hostNetnsId;
  }

  async #readHostNetnsId(): Promise<string> {
    const status = await readFile(path.join(this.#procRoot, 'self', 'status'), 'utf8');
    const ppid = /^PPid:\s*(\d+)/m.exec(status)?.[1] ?? '1';
    const id = await this.#netnsId(Number(ppid));
    if (id === undefined) throw new Error(`cannot read the network namespace of PID ${ppid}`);
    return id;
  }

  /** `net:[<inode>]` of a process's network namespace, or undefined if it is gone. */
  async #netnsId(pid: number): Promise<string | undefined> {
    try {
      return `net:[${(await stat(path.join(this.#procRoot, String(pid), 'ns', 'net'))).ino}]`;
    } catch {
      return undefined;
    }
  }

  async *#podProcesses(podUID: string): AsyncGenerator<PodProcess & { sandbox: boolean }> {
    const pids = (await readdir(this.#procRoot)).filter((entry) => /^\d+$/.test(entry));
    // Read in batches: one read at a time waits on the thread pool for every
    // process on the node (~0.1 ms each), a batch keeps its threads busy.
    for (let i = 0; i < pids.length; i += SCAN_BATCH) {
      const batch = await Promise.all(pids.slice(i, i + SCAN_BATCH).map((entry) => this.#podProcess(entry, podUID)));
      for (const found of batch) if (found !== undefined) yield found;
    }
  }

  /** The process if it is one of the pod's, else undefined (also when it exited while we looked). */
  async #podProcess(entry: string, podUID: string): Promise<(PodProcess & { sandbox: boolean }) | undefined> {
    const dir = path.join(this.#procRoot, entry);
    try {
      if (!inPodCgroup(await readFile(path.join(dir, 'cgroup'), 'utf8'), podUID)) return undefined;
      const stat = await readFile(path.join(dir, 'stat'), 'utf8');
      const startTime = startTimeOf(stat);
      if (startTime === undefined) return undefined;
      return { pid: Number(entry), startTime, sandbox: commOf(stat) === 'pause' };
    } catch {
      return undefined;
    }
  }

  async #isPodProcess(pid: number, startTime: string, podUID: string): Promise<boolean> {
    const dir = path.join(this.#procRoot, String(pid));
    try {
      const stat = await readFile(path.join(dir, 'stat'), 'utf8');
      if (startTimeOf(stat) !== startTime) return false; // gone, and the PID reused
      return inPodCgroup(await readFile(path.join(dir, 'cgroup'), 'utf8'), podUID);
    } catch {
      return false; // no such process
    }
  }
}

function notFound(podUID: string): RpfAgentError {
  return new RpfAgentError(
    'RPF_ERR_AGENT_POD_NOT_FOUND',
    `cannot find the network namespace of pod UID ${podUID} on this node: no process of the pod runs here (pod gone, not started yet, or a VM-sandboxed runtime class)`,
  );
}

/** Field 22 of /proc/PID/stat (starttime); fields are counted after the `(comm)`, which may hold spaces and parentheses. */
export function startTimeOf(stat: string): string | undefined {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state).
  const value = fields[22 - 3];
  return value !== undefined && /^\d+$/.test(value) ? value : undefined;
}

function commOf(stat: string): string {
  return stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
}
