// Finds a pod's network namespace from its UID, the way a node agent can
// without asking the container runtime: every process of the pod sits in a
// cgroup whose path names the pod UID, for the cgroupfs driver
// (`.../pod<uid>/...`) and the systemd driver (`...-pod<uid_with_underscores>.slice`),
// with containerd and CRI-O alike. Any process of the pod shares its network
// namespace (the pause process holds it), so the first one found will do.
import { readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { RpfAgentError } from './errors.ts';

/** Where a pod's network namespace is. */
export interface PodNetns {
  /** `/proc/<pid>/ns/net` of one of the pod's processes. */
  path: string;
  pid: number;
  /** The namespace's identity, e.g. `net:[4026532297]`. */
  id: string;
}

/** Resolves pod UIDs to network namespaces by reading /proc (a host /proc: the agent runs with hostPID). */
export class NetnsResolver {
  readonly #procRoot: string;

  constructor(options: { procRoot?: string } = {}) {
    this.#procRoot = options.procRoot ?? '/proc';
  }

  /** The pod's network namespace; RPF_ERR_AGENT_POD_NOT_FOUND if no process of it runs here. */
  async resolve(podUID: string): Promise<PodNetns> {
    if (!/^[0-9a-f-]{36}$/i.test(podUID)) {
      throw new RpfAgentError('RPF_ERR_AGENT_BAD_REQUEST', `invalid pod UID "${podUID}"`);
    }
    const needles = [`pod${podUID}`, `pod${podUID.replaceAll('-', '_')}`];
    for (const entry of await readdir(this.#procRoot)) {
      if (!/^\d+$/.test(entry)) continue;
      let cgroups: string;
      try {
        cgroups = await readFile(path.join(this.#procRoot, entry, 'cgroup'), 'utf8');
      } catch {
        continue; // the process exited while we looked
      }
      if (!needles.some((needle) => cgroups.includes(needle))) continue;
      const nsPath = path.join(this.#procRoot, entry, 'ns', 'net');
      try {
        return { path: nsPath, pid: Number(entry), id: await readlink(nsPath) };
      } catch {
        continue;
      }
    }
    throw new RpfAgentError(
      'RPF_ERR_AGENT_POD_NOT_FOUND',
      `cannot find the network namespace of pod UID ${podUID} on this node: no process of the pod runs here (pod gone, not started yet, or a VM-sandboxed runtime class)`,
    );
  }

  /**
   * The network namespace of the node itself, to refuse hostNetwork pods. The
   * agent's parent is its container's shim, which runs in the node's network
   * namespace (PID 1 may be unreadable, and may not even be in it).
   */
  async hostNetnsId(): Promise<string> {
    const status = await readFile(path.join(this.#procRoot, 'self', 'status'), 'utf8');
    const ppid = /^PPid:\s*(\d+)/m.exec(status)?.[1] ?? '1';
    return readlink(path.join(this.#procRoot, ppid, 'ns', 'net'));
  }
}
