// kube-rpf's own processes on the local cluster, as an operator would look at
// them: the host PID of a component's container process (found by its pod UID
// in /proc, as the agent finds pods), its resident memory, its restarts.
import { readdir, readFile } from 'node:fs/promises';
import { kubectlOk } from './cluster.ts';

/** The kube-rpf components, by their app.kubernetes.io/name label and entry point. */
export const COMPONENTS = {
  agent: { label: 'rpf-agent', entry: 'node-agent/main.js' },
  server: { label: 'rpf-server', entry: 'server/main.js' },
} as const;

/** A component's first pod: name, UID and IP. */
export async function componentPod(component: keyof typeof COMPONENTS): Promise<{ name: string; uid: string; ip: string }> {
  const out = await kubectlOk([
    'get', 'pods', '-n', 'kube-rpf', '-l', `app.kubernetes.io/name=${COMPONENTS[component].label}`,
    '--field-selector=status.phase=Running', '-o', 'jsonpath={.items[0].metadata.name} {.items[0].metadata.uid} {.items[0].status.podIP}',
  ]);
  const [name = '', uid = '', ip = ''] = out.trim().split(' ');
  return { name, uid, ip };
}

/** The host PID of a component's main process. */
export async function componentPid(component: keyof typeof COMPONENTS): Promise<number> {
  const { uid } = await componentPod(component);
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cgroup = await readFile(`/proc/${entry}/cgroup`, 'utf8');
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8');
      if (cgroup.includes(`pod${uid}`) && cmdline.includes(COMPONENTS[component].entry)) return Number(entry);
    } catch {
      // exited meanwhile
    }
  }
  throw new Error(`no ${COMPONENTS[component].label} process for pod UID ${uid}`);
}

/** Resident memory of a process in MiB (VmRSS). */
export async function residentMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  return kib / 1024;
}

/** Restarts of every kube-rpf container, by pod name: a crash or an OOM kill shows here. */
export async function restartCounts(): Promise<Record<string, number>> {
  const out = await kubectlOk(['get', 'pods', '-n', 'kube-rpf', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.containerStatuses[0].restartCount}{"\\n"}{end}']);
  const counts: Record<string, number> = {};
  for (const line of out.trim().split('\n').filter(Boolean)) {
    const [name = '', count = '0'] = line.split('=');
    counts[name] = Number(count);
  }
  return counts;
}
