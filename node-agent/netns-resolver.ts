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

/** Resolves pod UIDs to network namespaces by reading /proc (a host /proc: the agent runs with hostPID). */
export class NetnsResolver {
  readonly #procRoot: string;

  constructor(options: { procRoot?: string } = {}) {
    this.#procRoot = options.procRoot ?? '/proc';
  }

  /** The pod's network namespace; RPF_ERR_AGENT_POD_NOT_FOUND if no process of it runs here. */
  async resolve(podUID: string): Promise<PodNetns> {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(podUID)) {
      throw new RpfAgentError('RPF_ERR_AGENT_BAD_REQUEST', `invalid pod UID "${podUID}"`);
    }
    let chosen: { process: PodProcess; path: string } | undefined;
    for await (const found of this.#podProcesses(podUID)) {
      const nsPath = path.join(this.#procRoot, String(found.pid), 'ns', 'net');
      if (found.sandbox) {
        chosen = { process: found, path: nsPath };
        break;
      }
      chosen ??= { process: found, path: nsPath };
    }
    if (chosen) {
      const { process, path: nsPath } = chosen;
      let handle;
      try {
        handle = await open(nsPath, 'r');
      } catch {
        throw notFound(podUID); // it exited while we looked
      }
      try {
        const { ino } = await handle.stat();
        // Opened, then checked: a PID reused between the scan and the open is caught here.
        if (!(await this.#isPodProcess(process.pid, process.startTime, podUID))) throw notFound(podUID);
        return { pid: process.pid, startTime: process.startTime, path: nsPath, id: `net:[${ino}]`, fd: handle.fd, close: () => handle.close() };
      } catch (error) {
        await handle.close();
        throw error;
      }
    }
    throw notFound(podUID);
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
    for (const entry of await readdir(this.#procRoot)) {
      if (!/^\d+$/.test(entry)) continue;
      const dir = path.join(this.#procRoot, entry);
      try {
        if (!inPodCgroup(await readFile(path.join(dir, 'cgroup'), 'utf8'), podUID)) continue;
        const stat = await readFile(path.join(dir, 'stat'), 'utf8');
        const startTime = startTimeOf(stat);
        if (startTime === undefined) continue;
        yield { pid: Number(entry), startTime, sandbox: commOf(stat) === 'pause' };
      } catch {
        continue; // the process exited while we looked
      }
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
