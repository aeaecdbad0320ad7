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

/** The node a pod runs on (spec.nodeName). */
export async function nodeOf(namespace: string, pod: string): Promise<string> {
  const node = (await kubectlOk(['get', 'pod', pod, '-n', namespace, '-o', 'jsonpath={.spec.nodeName}'])).trim();
  if (node === '') throw new Error(`pod ${namespace}/${pod} is not on a node`);
  return node;
}

/**
 * A component's Running pod: name, UID and IP; on `nodeName` when given (the
 * agent that serves a pod is the one on the pod's node), else the first.
 */
export async function componentPod(component: keyof typeof COMPONENTS, nodeName?: string): Promise<{ name: string; uid: string; ip: string }> {
  const fields = ['status.phase=Running', ...(nodeName === undefined ? [] : [`spec.nodeName=${nodeName}`])].join(',');
  const out = await kubectlOk([
    'get', 'pods', '-n', 'kube-rpf', '-l', `app.kubernetes.io/name=${COMPONENTS[component].label}`,
    `--field-selector=${fields}`, '-o', 'jsonpath={.items[0].metadata.name} {.items[0].metadata.uid} {.items[0].status.podIP}',
  ]);
  const [name = '', uid = '', ip = ''] = out.trim().split(' ');
  if (name === '') throw new Error(`no running ${COMPONENTS[component].label} pod${nodeName === undefined ? '' : ` on node ${nodeName}`}`);
  return { name, uid, ip };
}

/** The rpf-agent pod that serves `namespace/pod`: the one on its node. */
export async function agentPodFor(namespace: string, pod: string): Promise<{ name: string; uid: string; ip: string }> {
  return componentPod('agent', await nodeOf(namespace, pod));
}

/** The host PID of the main process of a component's pod (on `nodeName` when given, see componentPod). */
export async function componentPid(component: keyof typeof COMPONENTS, nodeName?: string): Promise<number> {
  const { uid } = await componentPod(component, nodeName);
  return pidOfPod(component, uid);
}

/** The host PID of a component's main process in the pod with `uid`. */
export async function pidOfPod(component: keyof typeof COMPONENTS, uid: string): Promise<number> {
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
